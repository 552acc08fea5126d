//! Document model v2 through the real server: concurrent typing into one field from several
//! WebSocket clients (every word survives, every replica equals the server), concurrent votes
//! (none lost, the budget enforced by the server), and a version 1 document stored in SQLite
//! converted on load. The typing seed is printed and can be fixed with PLENARY_TEST_SEED.

use plenary_protocol::{CharId, ClientMsg, ErrorCode, OpKind, ServerMsg, Value};
use plenary_tests::{create, one_team, set, text, Client, Replica, TestServer};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn text_op(object: &str, after: Option<String>, insert: &str, delete: Vec<String>) -> OpKind {
    OpKind::Text {
        object: object.into(),
        field: "text".into(),
        after,
        insert: insert.into(),
        delete,
    }
}

/// One member types `words` into the note at random carets, without waiting for answers in
/// between (as a browser sends while typing), and reads until all are answered.
async fn type_words(
    mut client: Client,
    room: String,
    seed: u64,
    words: usize,
) -> anyhow::Result<(Client, Replica, Vec<(u64, String)>)> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut replica = Replica::new(&room);
    let (epoch, seq, doc) = client.join(&room).await?;
    client.clock = client.clock.max(doc.clock);
    replica.on_message(&ServerMsg::Snapshot {
        room: room.clone(),
        epoch,
        seq,
        doc,
    });
    let mut typed = Vec::new();
    for w in 0..words {
        let live = replica.doc.objects["note"].texts["text"].live_ids();
        let caret = rng.random_range(0..=live.len());
        let word = format!("<{}:{w}>", client.participant);
        let op = client.op(text_op(
            "note",
            caret.checked_sub(1).map(|i| live[i].to_string()),
            &word,
            vec![],
        ));
        typed.push((op.stamp.clock, word));
        replica.sent(&op);
        client
            .send(&ClientMsg::Op {
                room: room.clone(),
                op,
            })
            .await?;
        // Take in whatever arrived meanwhile, without waiting for this op's answer.
        while let Ok(Ok(msg)) = tokio::time::timeout(
            std::time::Duration::from_millis(rng.random_range(0..4)),
            client.recv(),
        )
        .await
        {
            if let ServerMsg::Op { op, .. } = &msg {
                client.observe(op);
            }
            replica.on_message(&msg);
        }
    }
    while !replica.pending.is_empty() {
        let msg = client.recv().await?;
        if let ServerMsg::Op { op, .. } = &msg {
            client.observe(op);
        }
        replica.on_message(&msg);
    }
    Ok((client, replica, typed))
}

#[tokio::test]
async fn members_typing_into_one_note_at_once_all_keep_their_words() -> anyhow::Result<()> {
    let seed = plenary_tests::test_seed();
    let server = TestServer::start().await;
    let (mut fac, members, room, _) = one_team(&server, 4).await?;
    fac.join(&room).await?;
    let seed_ops = [
        create(
            "sec",
            "vision_section",
            "root",
            "a0",
            &[("section", text("vision"))],
        ),
        create(
            "note",
            "vision_note",
            "sec",
            "a0",
            &[("text", text("Vision: "))],
        ),
    ];
    for kind in seed_ops {
        assert!(fac.apply(&room, kind).await?.is_ok());
    }
    let mut tasks = Vec::new();
    for (i, client) in members.into_iter().enumerate() {
        tasks.push(tokio::spawn(type_words(
            client,
            room.clone(),
            seed + i as u64,
            25,
        )));
    }
    let mut done = Vec::new();
    for t in tasks {
        done.push(t.await??);
    }
    let (_, server_seq, server_doc) = fac.join(&room).await?;
    let expected = server_doc.canonical_json();
    let text = &server_doc.objects["note"].texts["text"];
    let rendered = text.render();
    let mut typed_chars = "Vision: ".chars().count();
    for (mut client, mut replica, typed) in done {
        while replica.seq < server_seq {
            let msg = client.recv().await?;
            replica.on_message(&msg);
        }
        assert!(
            replica.rejected.is_empty(),
            "rejected: {:?}",
            replica.rejected
        );
        assert_eq!(replica.doc.canonical_json(), expected, "seed {seed}");
        // Every character typed is there (later words may land inside earlier ones: the
        // carets are random).
        for (clock, word) in &typed {
            for index in 0..word.chars().count() as u32 {
                let id = CharId {
                    clock: *clock,
                    client: client.participant.clone(),
                    index,
                };
                assert!(text.is_live(&id), "{id} of {word} lost (seed {seed})");
            }
            typed_chars += word.chars().count();
        }
    }
    assert_eq!(
        rendered.chars().count(),
        typed_chars,
        "nothing lost, nothing doubled"
    );
    assert_eq!(server_seq, 2 + 4 * 25, "every op ordered once");
    server.stop().await;
    Ok(())
}

#[tokio::test]
async fn concurrent_votes_all_count_and_the_budget_holds() -> anyhow::Result<()> {
    let server = TestServer::start().await;
    let (mut fac, mut members, room, _) = one_team(&server, 6).await?;
    fac.join(&room).await?;
    for t in ["t1", "t2"] {
        let kind = create(t, "lean_coffee_topic", "root", "a0", &[("title", text(t))]);
        assert!(fac.apply(&room, kind).await?.is_ok());
    }
    // Every member casts one dot at the same instant, each from the same state.
    let mut ops = Vec::new();
    for m in &mut members {
        let (_, _, doc) = m.join(&room).await?;
        m.clock = m.clock.max(doc.clock);
        ops.push(m.op(set("t1", &[("votes", Value::Int(1))])));
    }
    for (m, op) in members.iter_mut().zip(&ops) {
        m.send(&ClientMsg::Op {
            room: room.clone(),
            op: op.clone(),
        })
        .await?;
    }
    for (m, op) in members.iter_mut().zip(&ops) {
        let id = op.id.clone();
        let answer = m
            .recv_until(|msg| match msg {
                ServerMsg::Ack { op_id, .. } if *op_id == id => Some(true),
                ServerMsg::Reject { op_id, .. } if *op_id == id => Some(false),
                _ => None,
            })
            .await?;
        assert!(answer, "a vote was refused");
    }
    let (_, _, doc) = fac.join(&room).await?;
    assert_eq!(doc.objects["t1"].get("votes"), Some(&Value::Int(6)));
    assert_eq!(doc.objects["t1"].tallies["votes"].len(), 6);
    // Member 0 has 2 dots left: 3 on t2 is over budget, 2 is fine, taking back frees them.
    let m = &mut members[0];
    let over = m
        .apply(&room, set("t2", &[("votes", Value::Int(3))]))
        .await?;
    assert_eq!(over, Err(ErrorCode::OverBudget));
    assert!(m
        .apply(&room, set("t2", &[("votes", Value::Int(2))]))
        .await?
        .is_ok());
    assert!(m
        .apply(&room, set("t1", &[("votes", Value::Null)]))
        .await?
        .is_ok());
    assert!(m
        .apply(&room, set("t2", &[("votes", Value::Int(3))]))
        .await?
        .is_ok());
    let (_, _, doc) = fac.join(&room).await?;
    assert_eq!(doc.objects["t1"].get("votes"), Some(&Value::Int(5)));
    assert_eq!(doc.objects["t2"].get("votes"), Some(&Value::Int(3)));
    server.stop().await;
    Ok(())
}

#[tokio::test]
async fn a_version_1_document_in_sqlite_is_converted_on_load() -> anyhow::Result<()> {
    let server = TestServer::start().await;
    let (mut fac, _, room, fac_token) = one_team(&server, 1).await?;
    fac.join(&room).await?;
    assert!(fac
        .apply(
            &room,
            create("x", "backlog_item", "root", "a0", &[("title", text("x"))])
        )
        .await?
        .is_ok());
    let dir = server.halt().await;
    // Rewrite the room's snapshot as version 1 wrote it: no `model`, a plain string in a text
    // field, a plain integer in `votes`; and drop its log (the snapshot covers it).
    let v1 = r#"{"clock":40,"objects":{
        "sec":{"type":"vision_section","created":{"clock":1,"client":"p-a"},"parent":"root",
               "pos":"a0","placed":{"clock":1,"client":"p-a"},
               "fields":{"section":{"value":"vision","stamp":{"clock":1,"client":"p-a"}}}},
        "note":{"type":"vision_note","created":{"clock":2,"client":"p-a"},"parent":"sec",
                "pos":"a0","placed":{"clock":2,"client":"p-a"},
                "fields":{"text":{"value":"Trainers run live classes","stamp":{"clock":30,"client":"p-b"}}}},
        "topic":{"type":"lean_coffee_topic","created":{"clock":3,"client":"p-a"},"parent":"root",
                 "pos":"a1","placed":{"clock":3,"client":"p-a"},
                 "fields":{"votes":{"value":4,"stamp":{"clock":31,"client":"p-c"}}}}},
        "tombstones":[]}"#;
    {
        let db = rusqlite::Connection::open(dir.join("plenary.db"))?;
        let (key, seq): (i64, i64) = db.query_row(
            "SELECT key, (SELECT MAX(seq) FROM log WHERE log.room = rooms.key) FROM rooms
             WHERE room = ?1",
            [&room],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        db.execute(
            "UPDATE rooms SET snapshot = ?1, snapshot_seq = ?2 WHERE key = ?3",
            rusqlite::params![v1, seq, key],
        )?;
        db.execute("DELETE FROM log WHERE room = ?1", [key])?;
    }
    let server = TestServer::start_in(dir, |_| {}).await;
    let mut fac = server.connect(&fac_token).await?;
    let (_, _, doc) = fac.join(&room).await?;
    fac.clock = fac.clock.max(doc.clock);
    let note = &doc.objects["note"];
    assert_eq!(note.texts["text"].render(), "Trainers run live classes");
    assert_eq!(note.get("text"), Some(&text("Trainers run live classes")));
    assert_eq!(doc.objects["topic"].get("votes"), Some(&Value::Int(4)));
    // The converted text takes a mergeable edit; the old count keeps counting.
    let ids = note.texts["text"].live_ids();
    let edit = text_op("note", Some(ids[7].to_string()), " who", vec![]);
    assert!(fac.apply(&room, edit).await?.is_ok());
    let vote = set("topic", &[("votes", Value::Int(1))]);
    assert!(fac.apply(&room, vote).await?.is_ok());
    let (_, _, doc) = fac.join(&room).await?;
    assert_eq!(
        doc.objects["note"].get("text"),
        Some(&text("Trainers who run live classes"))
    );
    assert_eq!(doc.objects["topic"].get("votes"), Some(&Value::Int(5)));
    let mut members = vec![
        plenary_protocol::doc::LEGACY_MEMBER,
        fac.participant.as_str(),
    ];
    members.sort();
    let keys: Vec<&str> = doc.objects["topic"].tallies["votes"]
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, members);
    server.stop().await;
    Ok(())
}

/// Two nodes on one Redis: each member types through its own node, sending each chunk right
/// after the last (anchored on the chunk before, whose entry may not have come back from Redis
/// yet), as a browser does while typing. No chunk may be refused and both texts stay whole.
#[tokio::test]
async fn typing_through_two_nodes_keeps_every_chunk() -> anyhow::Result<()> {
    let redis = plenary_tests::RedisServer::start().await?;
    let (nodes, mut fac, members, _) = plenary_tests::two_node_class(&redis, "typing").await?;
    let room = "room-1";
    fac.join(room).await?;
    for kind in [
        create(
            "sec",
            "vision_section",
            "root",
            "a0",
            &[("section", text("vision"))],
        ),
        create("note", "vision_note", "sec", "a0", &[("text", text("|"))]),
    ] {
        assert!(fac.apply(room, kind).await?.is_ok());
    }
    let mut tasks = Vec::new();
    for (i, token) in members.iter().enumerate() {
        let mut c = Client::connect(&nodes[i].ws_url(), token).await?;
        let word = if i == 0 { "alpha" } else { "omega" };
        tasks.push(tokio::spawn(async move {
            let (_, _, doc) = c.join(room).await?;
            c.clock = c.clock.max(doc.clock);
            // Start after the "|" (member 0) or before it (member 1).
            let start = doc.objects["note"].texts["text"].live_ids()[0].to_string();
            let mut after = (i == 0).then_some(start);
            let mut ids = Vec::new();
            for _ in 0..30 {
                let op = c.op(text_op("note", after.clone(), word, vec![]));
                after = Some(format!("{}.4.{}", op.stamp.clock, c.participant));
                ids.push(op.id.clone());
                c.send(&plenary_protocol::ClientMsg::Op {
                    room: room.into(),
                    op,
                })
                .await?;
            }
            let mut refused = Vec::new();
            let mut answered = 0;
            while answered < ids.len() {
                match c.recv().await? {
                    ServerMsg::Ack { op_id, .. } if ids.contains(&op_id) => answered += 1,
                    ServerMsg::Reject { op_id, code, .. } if ids.contains(&op_id) => {
                        answered += 1;
                        refused.push(code);
                    }
                    _ => {}
                }
            }
            anyhow::Ok(refused)
        }));
    }
    for t in tasks {
        let refused = t.await??;
        assert!(refused.is_empty(), "chunks refused: {refused:?}");
    }
    let (_, _, doc) = fac.join(room).await?;
    let rendered = doc.objects["note"].texts["text"].render();
    assert_eq!(
        rendered,
        format!("{}|{}", "omega".repeat(30), "alpha".repeat(30)),
        "both texts whole, on either side of the bar"
    );
    Ok(())
}

//! The embedded durable store: restart without loss, reconnect catch-up, op-id deduplication
//! across reconnects and restarts, a replaced socket, and bad data dirs.

use plenary_protocol::workshop::{Command, Template, TimerState};
use plenary_protocol::{ClientMsg, ErrorCode, ResumePoint, ServerMsg, Value};
use plenary_tests::{create, set, text, Client, Replica, TeamClass, TestServer};

/// Rate limits out of the way for tests that send thousands of ops.
fn fast(c: &mut plenary_server::Config) {
    c.rate_per_sec = 1_000_000;
    c.rate_burst = 1_000_000;
}

#[tokio::test]
async fn a_whole_workshop_survives_a_restart() -> anyhow::Result<()> {
    let server = TestServer::start().await;
    let created = server.create_workshop("Day 2").await?;
    let mut fac = server.connect(&created.token).await?;
    let mut tokens = Vec::new();
    for i in 0..4 {
        tokens.push(server.join(&created.join_code, &format!("A{i}")).await?);
    }
    let names = vec!["Red".into(), "Blue".into()];
    assert_eq!(
        fac.command(Command::CreateBreakouts { names }).await?,
        Ok(())
    );
    assert_eq!(fac.command(Command::AssignAuto).await?, Ok(()));
    assert_eq!(fac.command(Command::OpenBreakouts).await?, Ok(()));
    let exercise = Command::BroadcastExercise {
        title: "Backlog".into(),
        instructions: "Write stories".into(),
        timebox_secs: 3_600,
        template: Some(Template::VisionBoard),
        rooms: None,
        auto_close: true,
        warning_secs: None,
    };
    assert_eq!(fac.command(exercise).await?, Ok(()));
    let view = fac.view_until(|v| v.timer.is_some()).await?;
    let room = view
        .participants
        .iter()
        .find(|p| p.id == tokens[0].0)
        .unwrap()
        .room
        .clone()
        .unwrap();
    let mut a = server.connect(&tokens[0].1).await?;
    a.join(&room).await?;
    let story = create(
        "s1",
        "backlog_item",
        "root",
        "a0",
        &[("title", text("Export the backlog"))],
    );
    assert!(a.apply(&room, story).await?.is_ok());
    let criterion = create(
        "c1",
        "acceptance_criterion",
        "s1",
        "a0",
        &[("given", text("a team"))],
    );
    assert!(a.apply(&room, criterion).await?.is_ok());
    let hand = Command::RaiseHand {
        note: "stuck".into(),
        object: Some("s1".into()),
    };
    assert_eq!(a.command(hand).await?, Ok(()));
    assert_eq!(
        fac.command(Command::SetStage {
            room: Some(room.clone())
        })
        .await?,
        Ok(())
    );
    let before = fac
        .view_until(|v| !v.help.is_empty() && v.stage.is_some())
        .await?;
    let (epoch, seq, doc) = fac.join(&room).await?;
    drop((a, fac));

    let dir = server.halt().await;
    let server = TestServer::start_in(dir, |_| {}).await;
    // The same tokens work (the secret is kept in the data dir) and everything is as it was.
    let mut fac = server.connect(&created.token).await?;
    assert_eq!(fac.view, before);
    assert_eq!(fac.view.timer.as_ref().unwrap().state, TimerState::Running);
    let (epoch2, seq2, doc2) = fac.join(&room).await?;
    assert_eq!(
        (epoch2, seq2),
        (epoch, seq),
        "same epoch and seq after a restart"
    );
    assert_eq!(doc2.canonical_json(), doc.canonical_json());
    assert_eq!(
        doc2.children("root")
            .iter()
            .filter(|(_, o)| o.ty == "vision_section")
            .count(),
        5
    );
    // Join codes still work, and the restored room keeps ordering ops after the old seq.
    let (_, token) = server.join(&created.join_code, "Late").await?;
    assert!(!token.is_empty());
    let mut a = server.connect(&tokens[0].1).await?;
    a.join(&room).await?;
    let edit = set("s1", &[("estimate", text("5"))]);
    assert_eq!(a.apply(&room, edit).await?, Ok(seq + 1));
    server.stop().await;
    Ok(())
}

/// A team of one writer and one reader in room-1; returns (facilitator, writer, writer token,
/// reader token).
async fn team(server: &TestServer) -> anyhow::Result<(Client, Client, String, String)> {
    let class = TeamClass::on(server, "Catch-up", 2).await?;
    let tokens = class.tokens();
    let (w, r) = (tokens[0].clone(), tokens[1].clone());
    let mut writer = server.connect(&w).await?;
    writer.join(&class.room).await?;
    let section = create(
        "sec",
        "vision_section",
        "root",
        "a0",
        &[("section", text("needs"))],
    );
    assert!(writer.apply(&class.room, section).await?.is_ok());
    let mut reader = server.connect(&r).await?;
    reader.join(&class.room).await?;
    Ok((class.fac, writer, w, r))
}

/// Sends `n` ops and waits for all their acks.
async fn write_notes(writer: &mut Client, n: usize, tag: &str) -> anyhow::Result<()> {
    for i in 0..n {
        let note = create(
            &format!("{tag}{i}"),
            "vision_note",
            "sec",
            "a0",
            &[("text", text(&format!("note {i}")))],
        );
        let op = writer.op(note);
        writer
            .send(&ClientMsg::Op {
                room: "room-1".into(),
                op,
            })
            .await?;
    }
    let mut acks = 0;
    while acks < n {
        if let ServerMsg::Ack { .. } = writer.recv().await? {
            acks += 1;
        }
    }
    Ok(())
}

#[tokio::test]
async fn reconnect_gets_exactly_the_missed_ops_or_a_snapshot() -> anyhow::Result<()> {
    let server = TestServer::start_with(fast).await;
    let (_fac, mut writer, _, reader_token) = team(&server).await?;
    for (missed, expect_snapshot) in [(10, false), (1_000, false), (5_000, true)] {
        // The reader has everything up to now, then goes away.
        let mut reader = server
            .connect(&reader_token)
            .await
            .map_err(|e| anyhow::anyhow!("reader connect {missed}: {e}"))?;
        let mut replica = Replica::new("room-1");
        let snapshot = reader
            .join("room-1")
            .await
            .map_err(|e| anyhow::anyhow!("reader join {missed}: {e}"))?;
        replica.on_message(&ServerMsg::Snapshot {
            room: "room-1".into(),
            epoch: snapshot.0,
            seq: snapshot.1,
            doc: snapshot.2,
        });
        drop(reader);
        write_notes(&mut writer, missed, &format!("m{missed}-"))
            .await
            .map_err(|e| anyhow::anyhow!("writer at {missed}: {e}"))?;
        // It comes back with its resume point.
        let resume = vec![ResumePoint {
            room: "room-1".into(),
            epoch: replica.epoch,
            seq: replica.seq,
        }];
        let mut reader = Client::connect_resume(&server.ws_url(), &reader_token, resume)
            .await
            .map_err(|e| anyhow::anyhow!("reader resume {missed}: {e}"))?;
        let target = replica.seq + missed as u64;
        let mut ops = 0;
        let mut snapshots = 0;
        while replica.seq < target {
            let msg = reader
                .recv()
                .await
                .map_err(|e| anyhow::anyhow!("reader after {missed}: {e}"))?;
            match &msg {
                ServerMsg::Op { .. } => ops += 1,
                ServerMsg::Snapshot { .. } => snapshots += 1,
                _ => {}
            }
            replica.on_message(&msg);
        }
        if expect_snapshot {
            assert_eq!(
                (ops, snapshots),
                (0, 1),
                "{missed} missed ops: one snapshot"
            );
        } else {
            assert_eq!(
                (ops, snapshots),
                (missed, 0),
                "{missed} missed ops: exactly those ops"
            );
        }
        let (_, seq, doc) = writer
            .join("room-1")
            .await
            .map_err(|e| anyhow::anyhow!("writer join after {missed}: {e}"))?;
        assert_eq!(replica.seq, seq);
        assert_eq!(
            replica.doc.canonical_json(),
            doc.canonical_json(),
            "converged after {missed}"
        );
    }
    server.stop().await;
    Ok(())
}

/// Resends `op` on `client` and returns the seq it is acknowledged with.
async fn ack_of(client: &mut Client, op: &plenary_protocol::Op) -> anyhow::Result<u64> {
    client
        .send(&ClientMsg::Op {
            room: "room-1".into(),
            op: op.clone(),
        })
        .await?;
    client
        .recv_until(|m| match m {
            ServerMsg::Ack { op_id, seq, .. } if *op_id == op.id => Some(Ok(*seq)),
            ServerMsg::Reject { op_id, code, .. } if *op_id == op.id => Some(Err(*code)),
            _ => None,
        })
        .await?
        .map_err(|code| anyhow::anyhow!("rejected: {code}"))
}

#[tokio::test]
async fn resent_ops_are_acknowledged_once_across_reconnects_and_restarts() -> anyhow::Result<()> {
    let server = TestServer::start_with(fast).await;
    let (_fac, mut writer, writer_token, _) = team(&server).await?;
    let op = writer.op(create(
        "dup",
        "backlog_item",
        "root",
        "a1",
        &[("title", text("once"))],
    ));
    let first = ack_of(&mut writer, &op).await?;

    // An op sent just before the connection dropped, its ack never read.
    let lost = writer.op(set("dup", &[("value", Value::Int(7))]));
    writer
        .send(&ClientMsg::Op {
            room: "room-1".into(),
            op: lost.clone(),
        })
        .await?;
    let clock = writer.clock;
    drop(writer);

    // Resent on a new connection: each is acknowledged once, at one seq.
    let mut again = server.connect(&writer_token).await?;
    again.clock = clock;
    again.join("room-1").await?;
    assert_eq!(ack_of(&mut again, &op).await?, first);
    let lost_seq = ack_of(&mut again, &lost).await?;
    assert_eq!(lost_seq, first + 1, "the dropped op took exactly one seq");
    assert_eq!(ack_of(&mut again, &lost).await?, lost_seq);
    let next = again.op(set("dup", &[("title", text("twice?"))]));
    assert_eq!(
        ack_of(&mut again, &next).await?,
        lost_seq + 1,
        "resends took no seq"
    );
    drop(again);

    // The op ids survive a restart.
    let dir = server.halt().await;
    let server = TestServer::start_in(dir, fast).await;
    let mut after = server.connect(&writer_token).await?;
    after.clock = clock + 10;
    let (_, seq, doc) = after.join("room-1").await?;
    assert_eq!(seq, lost_seq + 1);
    assert_eq!(ack_of(&mut after, &op).await?, first);
    assert_eq!(ack_of(&mut after, &lost).await?, lost_seq);
    assert_eq!(doc.objects["dup"].get("value"), Some(&Value::Int(7)));
    let fresh = after.op(set("dup", &[("status", text("done"))]));
    assert_eq!(ack_of(&mut after, &fresh).await?, seq + 1);
    server.stop().await;
    Ok(())
}

#[tokio::test]
async fn a_replaced_socket_closing_late_keeps_the_new_session() -> anyhow::Result<()> {
    let server = TestServer::start_with(fast).await;
    let (mut fac, mut old, writer_token, _) = team(&server).await?;
    fac.join("room-1").await?;
    // The same participant reconnects on a new socket while the old one is still open.
    let mut new = server.connect(&writer_token).await?;
    new.clock = old.clock;
    new.join("room-1").await?;
    let queued = new.op(create(
        "kept",
        "backlog_item",
        "root",
        "a2",
        &[("title", text("queued"))],
    ));
    new.send(&ClientMsg::Op {
        room: "room-1".into(),
        op: queued.clone(),
    })
    .await?;
    // Now the old socket closes.
    old.ws.close(None).await?;
    drop(old);
    assert!(ack_of(&mut new, &queued).await? > 0);
    let edit = new.op(set("kept", &[("title", text("still here"))]));
    assert!(ack_of(&mut new, &edit).await? > 0);
    // The facilitator saw the edits and never saw the participant leave.
    let id = new.participant.clone();
    let mut seen = 0;
    while seen < 2 {
        match fac.recv().await? {
            ServerMsg::Op { .. } => seen += 1,
            ServerMsg::Presence {
                left: Some(left), ..
            } => assert_ne!(left, id, "a late close dropped the new session"),
            _ => {}
        }
    }
    let report = fac.command(Command::CloseBreakouts).await?;
    assert_eq!(report, Ok(()));
    server.stop().await;
    Ok(())
}

#[tokio::test]
async fn bad_data_dirs_fail_clearly_at_start_up() -> anyhow::Result<()> {
    // A data dir that is a file.
    let file = plenary_tests::temp_dir("baddir").join("not-a-dir");
    std::fs::write(&file, b"x")?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let err = plenary_server::run(
        listener,
        plenary_server::Config::for_tests(&file),
        Default::default(),
    )
    .await
    .expect_err("a file as data dir must fail");
    assert!(err.to_string().contains("cannot create data dir"), "{err}");

    // A corrupted database file.
    let dir = plenary_tests::temp_dir("corrupt");
    std::fs::write(dir.join("plenary.db"), vec![0x42; 64 * 1024])?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let err = plenary_server::run(
        listener,
        plenary_server::Config::for_tests(&dir),
        Default::default(),
    )
    .await
    .expect_err("a corrupted store must fail");
    assert!(err.to_string().contains("not a database"), "{err}");
    Ok(())
}

/// `--max-db-mib` caps the database and its write-ahead log together, and `/readyz` says
/// `storage full` while edits cannot be stored, also after a small write (a REST join, a
/// command) still fitted (issue #18: the WAL was not counted, and readyz returned to 200).
#[tokio::test]
async fn the_size_cap_counts_the_wal_and_readyz_stays_full_while_edits_are_refused(
) -> anyhow::Result<()> {
    const CAP_MIB: u64 = 2;
    let server = TestServer::start_with(|c| {
        fast(c);
        c.max_db_mib = Some(CAP_MIB);
    })
    .await;
    let created = server.create_workshop("Cap").await?;
    let mut fac = server.connect(&created.token).await?;
    let teams = Command::CreateBreakouts {
        names: vec!["T".into()],
    };
    assert_eq!(fac.command(teams).await?, Ok(()));
    let (_, token) = server.join(&created.join_code, "Writer").await?;
    assert_eq!(fac.command(Command::AssignAuto).await?, Ok(()));
    let mut writer = server.connect(&token).await?;
    writer.join("room-1").await?;
    let http = reqwest::Client::new();
    let (h, url) = (&http, server.url("/readyz"));
    let url = &url;
    let ready = move || async move {
        let res = h.get(url).send().await?;
        Ok::<_, anyhow::Error>((res.status().as_u16(), res.text().await?))
    };
    assert_eq!(ready().await?, (200, "ready".to_owned()));

    let files = |dir: &std::path::Path| {
        ["plenary.db", "plenary.db-wal"]
            .iter()
            .map(|f| std::fs::metadata(dir.join(f)).map(|m| m.len()).unwrap_or(0))
            .sum::<u64>()
    };
    // Feedback cards: plain text (mergeable notes would reach the room's text history cap
    // before the store's).
    let big = "w".repeat(9_000);
    let card = |id: String| create(&id, "feedback", "root", "a0", &[("text", text(&big))]);
    let (mut acked, mut largest) = (0usize, 0u64);
    let mut refused = 0;
    for i in 0..2_000 {
        match writer.apply("room-1", card(format!("n{i}"))).await? {
            Ok(_) => acked += 1,
            Err(code) => {
                assert_eq!(code, ErrorCode::Unavailable, "note {i}");
                // Refused edits: the probe already says why.
                assert_eq!(ready().await?, (503, "storage full".to_owned()), "note {i}");
                refused += 1;
                if refused == 3 {
                    break;
                }
            }
        }
        largest = largest.max(files(&server.data_dir));
    }
    assert_eq!(refused, 3, "the {CAP_MIB} MiB cap must be reached");
    // Over the cap by about one batch at most (here one card and its index pages).
    let cap = CAP_MIB * 1024 * 1024;
    assert!(
        largest <= cap + 64 * 1024,
        "database + WAL reached {largest} bytes under a cap of {cap}"
    );
    assert!(acked > 50, "only {acked} cards fitted in {CAP_MIB} MiB");

    // A REST join and a command are small and may still fit; readyz stays 503 all the same,
    // because edits are still refused.
    let joined = server.join(&created.join_code, "Late").await.is_ok();
    let hand = Command::RaiseHand {
        note: "is the store full?".into(),
        object: None,
    };
    let _ = writer.command(hand).await?;
    assert_eq!(
        writer.apply("room-1", card("after".into())).await?,
        Err(ErrorCode::Unavailable)
    );
    // The refusal says why (the store's error is typed: full, not just "could not store").
    let op = writer.op(card("why".into()));
    let id = op.id.clone();
    writer
        .send(&ClientMsg::Op {
            room: "room-1".into(),
            op,
        })
        .await?;
    let answer = writer
        .recv_until(|m| match m {
            ServerMsg::Reject { op_id, message, .. } if *op_id == id => Some(message.clone()),
            ServerMsg::Ack { op_id, .. } if *op_id == id => Some("acknowledged".into()),
            _ => None,
        })
        .await?;
    assert_eq!(answer, "the server's storage is full; retry later");
    assert_eq!(
        ready().await?,
        (503, "storage full".to_owned()),
        "after a join (stored: {joined}) and a command"
    );

    // Reopened under a smaller cap, the store is full from the start: readyz says so before
    // any edit is tried.
    let dir = server.halt().await;
    let server = TestServer::start_in(dir, |c| {
        fast(c);
        c.max_db_mib = Some(CAP_MIB / 2);
    })
    .await;
    let res = http.get(server.url("/readyz")).send().await?;
    assert_eq!(
        (res.status().as_u16(), res.text().await?),
        (503, "storage full".to_owned()),
        "reopened under a smaller cap"
    );

    // Restarted with a larger cap, the store takes edits again and says so.
    let dir = server.halt().await;
    let server = TestServer::start_in(dir, |c| {
        fast(c);
        c.max_db_mib = Some(4 * CAP_MIB);
    })
    .await;
    let http = reqwest::Client::new();
    let res = http.get(server.url("/readyz")).send().await?;
    assert_eq!(res.status().as_u16(), 200);
    let mut w = server.connect(&token).await?;
    let (_, _, doc) = w.join("room-1").await?;
    let cards = doc.objects.values().filter(|o| o.ty == "feedback").count();
    assert_eq!(cards, acked, "every acknowledged card, and nothing refused");
    assert!(w.apply("room-1", card("later".into())).await?.is_ok());
    server.stop().await;
    Ok(())
}

#[tokio::test]
async fn a_full_disk_rejects_writes_and_loses_nothing_acknowledged() -> anyhow::Result<()> {
    let server = TestServer::start_with(|c| {
        fast(c);
        c.max_db_mib = Some(1);
    })
    .await;
    let (_fac, mut writer, writer_token, _) = team(&server).await?;
    let http = reqwest::Client::new();
    assert_eq!(http.get(server.url("/readyz")).send().await?.status(), 200);
    let big = "z".repeat(9_000);
    let mut acked = Vec::new();
    let mut unavailable = 0;
    for i in 0..400 {
        let note = create(
            &format!("big{i}"),
            "vision_note",
            "sec",
            "a0",
            &[("text", text(&big))],
        );
        let op = writer.op(note);
        match writer.apply_op("room-1", op.clone()).await? {
            Ok(_) => acked.push(op.id.clone()),
            Err(code) => {
                assert_eq!(code, ErrorCode::Unavailable);
                unavailable += 1;
                if unavailable == 3 {
                    break;
                }
            }
        }
    }
    assert_eq!(unavailable, 3, "the 1 MiB cap must be reached");
    assert!(!acked.is_empty());
    // An op and its resend in one burst while the store refuses writes: the resend must not be
    // acknowledged with the seq of the op that was rolled back. A first op keeps the room busy
    // with its store write while the pair arrives, so the pair is taken up as one batch.
    let mut refused_pairs = 0;
    for i in 0..20 {
        let note = |id: String| create(&id, "vision_note", "sec", "a0", &[("text", text(&big))]);
        let blocker = writer.op(note(format!("block{i}")));
        let op = writer.op(note(format!("pair{i}")));
        for sent in [&blocker, &op, &op] {
            let msg = ClientMsg::Op {
                room: "room-1".into(),
                op: sent.clone(),
            };
            writer.send(&msg).await?;
        }
        let mut answers = Vec::new();
        let mut blocked = None;
        while answers.len() < 2 || blocked.is_none() {
            let (id, answer) = match writer.recv().await? {
                ServerMsg::Ack { op_id, seq, .. } => (op_id, Ok(seq)),
                ServerMsg::Reject { op_id, code, .. } => (op_id, Err(code)),
                _ => continue,
            };
            if id == op.id {
                answers.push(answer);
            } else if id == blocker.id {
                blocked = Some(answer);
            }
        }
        match blocked {
            Some(Ok(_)) => acked.push(blocker.id.clone()),
            Some(Err(code)) => assert_eq!(code, ErrorCode::Unavailable),
            None => unreachable!(),
        }
        match answers.as_slice() {
            [Err(ErrorCode::Unavailable), Err(ErrorCode::Unavailable)] => refused_pairs += 1,
            [Ok(a), Ok(b)] if a == b => acked.push(op.id.clone()),
            other => panic!("op {i} and its resend were answered {other:?}"),
        }
    }
    assert!(refused_pairs > 0, "the store took every pair");
    assert_eq!(http.get(server.url("/readyz")).send().await?.status(), 503);
    // The server still answers, and the refused ops left no trace.
    let (_, _, doc) = writer.join("room-1").await?;
    let notes = doc
        .objects
        .values()
        .filter(|o| o.ty == "vision_note")
        .count();
    assert_eq!(notes, acked.len());
    // After a restart without the cap, every acknowledged op is there.
    let dir = server.halt().await;
    let server = TestServer::start_in(dir, fast).await;
    let mut w = server.connect(&writer_token).await?;
    let (_, _, doc) = w.join("room-1").await?;
    assert_eq!(
        doc.objects
            .values()
            .filter(|o| o.ty == "vision_note")
            .count(),
        acked.len()
    );
    assert_eq!(http.get(server.url("/readyz")).send().await?.status(), 200);
    server.stop().await;
    Ok(())
}

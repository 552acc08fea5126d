//! Sealed state through the real server: hidden votes never reach another member (no frame,
//! snapshot or catch-up), never reach the room log or a snapshot row of the store, are kept in
//! server-private storage, survive a restart (and, with Redis, the loss of the node they were
//! cast through) unrevealed, and are revealed to everyone at once in one ordered op.

use std::collections::BTreeMap;
use std::path::Path;

use plenary_protocol::{ErrorCode, Op, OpKind, SealedEntry, ServerMsg, Value};
use plenary_tests::{create, one_team, text, two_node_class, Client, RedisServer, TestServer};

/// Values no other frame could contain by chance (they appear only as sealed values).
const VOTES: [&str; 3] = ["coffee", "21", "?"];

fn seal(value: Option<&str>) -> OpKind {
    OpKind::Seal {
        object: "round".into(),
        field: "votes".into(),
        value: value.map(|v| Value::Text(v.into())),
        withdraw: value.is_none(),
    }
}

fn reveal() -> OpKind {
    OpKind::Reveal {
        object: "round".into(),
        values: BTreeMap::new(),
    }
}

/// Every message `client` has received so far, as JSON text, read until `quiet` passes.
async fn drain(client: &mut Client, into: &mut Vec<String>) {
    while let Ok(Ok(msg)) =
        tokio::time::timeout(std::time::Duration::from_millis(300), client.recv()).await
    {
        into.push(serde_json::to_string(&msg).unwrap());
    }
}

/// Asserts that none of `frames` carries any of `values` (quoted, as JSON strings).
fn assert_hidden(who: &str, frames: &[String], values: &[&str]) {
    for f in frames {
        for v in values {
            assert!(
                !f.contains(&format!("\"{v}\"")),
                "{who} received sealed value {v}: {f}"
            );
        }
    }
}

/// The sealed `sealed` message entries in `frames`, last one wins.
fn own_entries(frames: &[String]) -> Option<Vec<SealedEntry>> {
    frames
        .iter()
        .rev()
        .find_map(|f| match serde_json::from_str::<ServerMsg>(f).ok()? {
            ServerMsg::Sealed { entries, .. } => Some(entries),
            _ => None,
        })
}

/// Every text the store holds that other members' data flows through: log ops and snapshots.
fn public_rows(dir: &Path) -> Vec<String> {
    let db = rusqlite::Connection::open(dir.join("plenary.db")).unwrap();
    let mut out = Vec::new();
    let mut stmt = db.prepare("SELECT op FROM log").unwrap();
    out.extend(
        stmt.query_map([], |r| r.get::<_, String>(0))
            .unwrap()
            .map(Result::unwrap),
    );
    let mut stmt = db
        .prepare("SELECT coalesce(snapshot, '') FROM rooms")
        .unwrap();
    out.extend(
        stmt.query_map([], |r| r.get::<_, String>(0))
            .unwrap()
            .map(Result::unwrap),
    );
    out
}

fn private_rows(dir: &Path) -> Vec<(String, String, String)> {
    let db = rusqlite::Connection::open(dir.join("plenary.db")).unwrap();
    let mut stmt = db
        .prepare("SELECT member, field, value FROM sealed ORDER BY member")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// A backlog item with an estimation round under it, made by `by`.
async fn round(by: &mut Client, room: &str) -> anyhow::Result<()> {
    let item = create(
        "item",
        "backlog_item",
        "root",
        "a0",
        &[("title", text("Export"))],
    );
    assert!(by.apply(room, item).await?.is_ok());
    let round = create(
        "round",
        "estimation_round",
        "item",
        "a0",
        &[("scale", text("fibonacci"))],
    );
    assert!(by.apply(room, round).await?.is_ok());
    Ok(())
}

#[tokio::test]
async fn sealed_votes_stay_hidden_until_one_reveal_and_survive_a_restart() -> anyhow::Result<()> {
    let server = TestServer::start().await;
    let (mut fac, mut members, room, fac_token) = one_team(&server, 3).await?;
    fac.join(&room).await?;
    for m in &mut members {
        m.join(&room).await?;
    }
    round(&mut members[0], &room).await?;
    // Where a client that is away during the seals will resume from.
    let (epoch, before_seals, _) = fac.join(&room).await?;
    let mut frames: Vec<Vec<String>> = vec![Vec::new(); 4];
    for (i, m) in members.iter_mut().enumerate() {
        drain(m, &mut frames[i]).await;
        frames[i].clear();
    }
    // Each member seals a vote; each one gets an ack and its own value back, nobody else's.
    for (i, vote) in VOTES.iter().enumerate() {
        let m = &mut members[i];
        let answer = m.apply(&room, seal(Some(vote))).await?;
        assert!(answer.is_ok(), "{answer:?}");
    }
    for (i, m) in members.iter_mut().enumerate() {
        drain(m, &mut frames[i]).await;
    }
    drain(&mut fac, &mut frames[3]).await;
    for (i, f) in frames.iter().enumerate().take(3) {
        let others: Vec<&str> = VOTES
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, v)| *v)
            .collect();
        assert_hidden(&format!("member {i}"), f, &others);
        let own = own_entries(f).expect("a sealed message to its member");
        assert_eq!(own.len(), 1);
        assert_eq!(own[0].value, Value::Text(VOTES[i].into()));
    }
    assert_hidden("the facilitator", &frames[3], &VOTES);
    // Who has voted is public; what they voted is not, in a snapshot either.
    let (_, _, doc) = fac.join(&room).await?;
    let entries = &doc.objects["round"].sealed["votes"];
    assert_eq!(entries.len(), 3);
    assert!(entries.values().all(|f| f.value == Value::Bool(true)));
    assert_hidden("a snapshot", &[doc.canonical_json()], &VOTES);
    // Nor in catch-up: a connection resuming from before the seals gets the ops, valueless.
    let resume = vec![plenary_protocol::ResumePoint {
        room: room.clone(),
        epoch,
        seq: before_seals,
    }];
    let mut late = Client::connect_resume(&server.ws_url(), &fac_token, resume).await?;
    let mut caught = Vec::new();
    drain(&mut late, &mut caught).await;
    let seals = caught
        .iter()
        .filter(|f| f.contains("\"action\":\"seal\""))
        .count();
    assert_eq!(seals, 3, "catch-up brings the three seals: {caught:?}");
    assert_hidden("catch-up", &caught, &VOTES);
    // A member changes their mind (withdraw, then seal again) before the reveal.
    assert!(members[2].apply(&room, seal(None)).await?.is_ok());
    assert!(members[2].apply(&room, seal(Some("?"))).await?.is_ok());
    // A set of a sealed field is refused; so is a reveal that brings its own values.
    let set_votes = plenary_tests::set("round", &[("votes", Value::Text("1".into()))]);
    assert_eq!(
        members[1].apply(&room, set_votes).await?,
        Err(ErrorCode::InvalidOp)
    );
    let forged = OpKind::Reveal {
        object: "round".into(),
        values: BTreeMap::from([(
            "votes".into(),
            BTreeMap::from([("x".into(), Value::Text("1".into()))]),
        )]),
    };
    assert_eq!(
        members[1].apply(&room, forged).await?,
        Err(ErrorCode::InvalidOp)
    );

    // The store: no value in the log or a snapshot row; all three in the private table.
    let dir = server.halt().await;
    assert_hidden("the store's log and snapshots", &public_rows(&dir), &VOTES);
    let private = private_rows(&dir);
    assert_eq!(private.len(), 3, "{private:?}");
    let mut stored: Vec<String> = private.iter().map(|(_, _, v)| v.clone()).collect();
    stored.sort();
    let mut want: Vec<String> = VOTES.iter().map(|v| format!("\"{v}\"")).collect();
    want.sort();
    assert_eq!(stored, want);

    // A restart neither reveals nor loses them: each member gets its own value back on join.
    let server = TestServer::start_in(dir, |_| {}).await;
    let mut fac = server.connect(&fac_token).await?;
    let (_, _, doc) = fac.join(&room).await?;
    assert!(doc.objects["round"].revealed.is_none());
    assert_hidden(
        "a snapshot after the restart",
        &[doc.canonical_json()],
        &VOTES,
    );
    let tokens: Vec<String> = members.iter().map(|m| m.token.clone()).collect();
    let ids: Vec<String> = members.iter().map(|m| m.participant.clone()).collect();
    let mut members = Vec::new();
    let mut frames: Vec<Vec<String>> = vec![Vec::new(); 3];
    for (i, token) in tokens.iter().enumerate() {
        let mut m = server.connect(token).await?;
        m.join(&room).await?;
        drain(&mut m, &mut frames[i]).await;
        let own = own_entries(&frames[i]).expect("own values after the restart");
        assert_eq!(own[0].value, Value::Text(VOTES[i].into()));
        members.push(m);
    }

    // The reveal: one op, at one seq, carrying every value, to everyone (its sender too).
    let id = {
        let op: Op = members[1].op(reveal());
        let id = op.id.clone();
        members[1]
            .send(&plenary_protocol::ClientMsg::Op {
                room: room.clone(),
                op,
            })
            .await?;
        id
    };
    let mut revealed_at = Vec::new();
    for (i, m) in members.iter_mut().enumerate() {
        let (seq, values) = m
            .recv_until(|msg| match msg {
                ServerMsg::Op { seq, op, .. } => match &op.kind {
                    OpKind::Reveal { values, .. } => Some((*seq, values.clone())),
                    _ => None,
                },
                _ => None,
            })
            .await?;
        let votes = &values["votes"];
        assert_eq!(votes.len(), 3, "member {i}: {values:?}");
        for (j, v) in VOTES.iter().enumerate() {
            assert_eq!(votes[&ids[j]], Value::Text((*v).into()));
        }
        revealed_at.push(seq);
    }
    assert!(revealed_at.windows(2).all(|w| w[0] == w[1]));
    let acked = members[1]
        .recv_until(|msg| match msg {
            ServerMsg::Ack { op_id, seq, .. } if *op_id == id => Some(*seq),
            _ => None,
        })
        .await?;
    assert_eq!(acked, revealed_at[0]);
    // After the reveal: no more sealing, no second reveal; the values are in the document.
    assert_eq!(
        members[0].apply(&room, seal(Some("1"))).await?,
        Err(ErrorCode::Conflict)
    );
    assert_eq!(
        members[0].apply(&room, reveal()).await?,
        Err(ErrorCode::Conflict)
    );
    let (_, _, doc) = fac.join(&room).await?;
    assert!(doc.objects["round"].revealed.is_some());
    assert_eq!(doc.objects["round"].sealed["votes"].len(), 3);
    let dir = server.halt().await;
    assert!(
        private_rows(&dir).is_empty(),
        "revealed values leave the private table"
    );
    let _ = std::fs::remove_dir_all(dir);
    Ok(())
}

/// Two nodes on one Redis: a vote sealed through node A is in no frame of node B's clients and
/// in no stream entry; node A dies; its voter reconnects to node B, gets its own value back,
/// and the reveal through node B carries it.
#[tokio::test]
async fn sealed_votes_survive_the_loss_of_their_node_unrevealed() -> anyhow::Result<()> {
    let redis = RedisServer::start().await?;
    let (mut nodes, mut fac, tokens, workshop_id) = two_node_class(&redis, "sealed").await?;
    let room = "room-1";
    let mut voter = Client::connect(&nodes[0].ws_url(), &tokens[0]).await?;
    let mut watcher = Client::connect(&nodes[1].ws_url(), &tokens[1]).await?;
    voter.join(room).await?;
    watcher.join(room).await?;
    fac.join(room).await?;
    round(&mut watcher, room).await?;
    let (_, _, doc) = voter.join(room).await?;
    voter.clock = voter.clock.max(doc.clock);
    assert!(voter.apply(room, seal(Some("coffee"))).await?.is_ok());
    let mut seen = Vec::new();
    drain(&mut watcher, &mut seen).await;
    drain(&mut fac, &mut seen).await;
    assert!(
        seen.iter().any(|f| f.contains("\"seal\"")),
        "the seal is public: {seen:?}"
    );
    assert_hidden("node B's clients", &seen, &["coffee"]);
    let stream = redis_cli(
        &redis,
        &[
            "XRANGE",
            &format!("{{{}:{room}}}:log", workshop_id),
            "-",
            "+",
        ],
    );
    assert!(stream.contains("seal"), "{stream}");
    assert!(
        !stream.contains("coffee"),
        "the log stream holds no sealed value: {stream}"
    );

    // Node A dies; the voter comes back through node B and gets its vote back, still sealed.
    let node_a = nodes.remove(0);
    node_a.kill().await;
    let mut voter = Client::connect(&nodes[0].ws_url(), &tokens[0]).await?;
    voter.join(room).await?;
    let mut back = Vec::new();
    drain(&mut voter, &mut back).await;
    let own = own_entries(&back).expect("own values through node B");
    assert_eq!(own[0].value, Value::Text("coffee".into()));
    let (_, _, doc) = fac.join(room).await?;
    assert!(doc.objects["round"].revealed.is_none());
    assert_hidden("node B's snapshot", &[doc.canonical_json()], &["coffee"]);

    // The reveal through node B carries it, to everyone.
    assert!(watcher.apply(room, reveal()).await?.is_ok());
    let values = fac
        .recv_until(|msg| match msg {
            ServerMsg::Op { op, .. } => match &op.kind {
                OpKind::Reveal { values, .. } => Some(values.clone()),
                _ => None,
            },
            _ => None,
        })
        .await?;
    assert_eq!(
        values["votes"][&voter.participant],
        Value::Text("coffee".into())
    );
    let left = redis_cli(
        &redis,
        &["HLEN", &format!("{{{}:{room}}}:sealed", workshop_id)],
    );
    assert_eq!(left.trim(), "0", "revealed values leave the private hash");
    Ok(())
}

fn redis_cli(redis: &RedisServer, args: &[&str]) -> String {
    let out = std::process::Command::new("redis-cli")
        .args(["-p", &redis.port.to_string(), "--raw"])
        .args(args)
        .output()
        .expect("redis-cli (apt-get install redis-tools)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

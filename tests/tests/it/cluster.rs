//! Multi-node mode: a real redis-server on a free port and three real `plenary` processes.

use std::collections::HashSet;
use std::time::Duration;

use plenary_protocol::workshop::{Command, Template, TimerState};
use plenary_protocol::{
    close, ClientMsg, ErrorCode, OpKind, ServerMsg, TimerEvent, Value, PROTOCOL_VERSION,
};
use plenary_tests::{
    create, create_workshop_at, hello_text, join_at, refused_first_frame, set, temp_dir, text,
    Client, Ended, Process, RedisServer, Replica,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio_tungstenite::tungstenite::Message;

/// Three nodes on one Redis.
async fn cluster(redis: &RedisServer) -> anyhow::Result<Vec<Process>> {
    let mut nodes = Vec::new();
    for name in ["a", "b", "c"] {
        let args = [
            "--redis-url",
            &redis.url(),
            "--node-id",
            name,
            "--rate-per-sec",
            "10000",
            "--rate-burst",
            "10000",
        ];
        nodes.push(Process::start(&temp_dir(&format!("node-{name}")), &args).await?);
    }
    Ok(nodes)
}

/// A workshop with one breakout room ("room-1") and `n` attendees in it; returns the
/// facilitator (connected to node 0) and the attendees' tokens.
async fn class(nodes: &[Process], n: usize) -> anyhow::Result<(Client, Vec<String>)> {
    let base = nodes[0].url("");
    let created = create_workshop_at(&base, "Cluster").await?;
    let mut fac = Client::connect(&nodes[0].ws_url(), &created.token).await?;
    assert_eq!(
        fac.command(Command::CreateBreakouts {
            names: vec!["T".into()]
        })
        .await?,
        Ok(())
    );
    let mut tokens = Vec::new();
    for i in 0..n {
        // Join through different nodes: codes are shared.
        let node = &nodes[i % nodes.len()];
        tokens.push(
            join_at(&node.url(""), &created.join_code, &format!("A{i}"))
                .await?
                .1,
        );
    }
    assert_eq!(fac.command(Command::AssignAuto).await?, Ok(()));
    Ok((fac, tokens))
}

/// Connects attendee `i` to node `i % 3` and joins room-1.
async fn attendee(
    nodes: &[Process],
    token: &str,
    node: usize,
) -> anyhow::Result<(Client, Replica)> {
    let mut c = Client::connect(&nodes[node].ws_url(), token).await?;
    let mut replica = Replica::new("room-1");
    let (epoch, seq, doc) = c.join("room-1").await?;
    replica.on_message(&ServerMsg::Snapshot {
        room: "room-1".into(),
        epoch,
        seq,
        doc,
    });
    Ok((c, replica))
}

fn random_kind(rng: &mut StdRng, replica: &Replica, me: &str, n: usize) -> OpKind {
    let items = replica.doc.children("root");
    if items.is_empty() || rng.random_bool(0.4) {
        let after = items.last().map(|(_, o)| o.pos.as_str());
        let pos = plenary_protocol::fractional::between(after, None).unwrap();
        return create(
            &format!("{me}-{n}"),
            "backlog_item",
            "root",
            &pos,
            &[("title", text("story"))],
        );
    }
    let (id, _) = items[rng.random_range(0..items.len())];
    set(
        id,
        &[
            ("title", text(&format!("{me} {n}"))),
            ("value", Value::Int(n as i64)),
        ],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_on_three_nodes_converge() -> anyhow::Result<()> {
    let seed: u64 = rand::random();
    println!("seed {seed}");
    let redis = RedisServer::start().await?;
    let nodes = cluster(&redis).await?;
    let (_fac, tokens) = class(&nodes, 6).await?;
    let mut tasks = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        let (client, replica) = attendee(&nodes, token, i % 3).await?;
        tasks.push(tokio::spawn(async move {
            let (mut client, mut replica) = (client, replica);
            let mut rng = StdRng::seed_from_u64(seed + i as u64);
            for n in 0..40 {
                let kind = random_kind(&mut rng, &replica, &client.participant.clone(), n);
                let op = client.op(kind);
                replica.sent(&op);
                client
                    .send(&ClientMsg::Op {
                        room: "room-1".into(),
                        op: op.clone(),
                    })
                    .await?;
                while replica.pending.contains_key(&op.id) {
                    let msg = client.recv().await?;
                    if let ServerMsg::Op { op, .. } = &msg {
                        client.observe(op);
                    }
                    replica.on_message(&msg);
                }
            }
            anyhow::Ok((client, replica))
        }));
    }
    let mut done = Vec::new();
    for t in tasks {
        done.push(t.await??);
    }
    // Every node's view of the room, and every client, end byte-equal.
    let mut docs = Vec::new();
    for (i, token) in tokens.iter().take(3).enumerate() {
        let mut c = Client::connect(&nodes[i].ws_url(), token).await?;
        docs.push(c.join("room-1").await?);
    }
    let (_, seq, doc) = docs.pop().unwrap();
    for (_, s, d) in &docs {
        assert_eq!(
            (*s, d.canonical_json()),
            (seq, doc.canonical_json()),
            "nodes disagree (seed {seed})"
        );
    }
    for (mut client, mut replica) in done {
        while replica.seq < seq {
            let msg = client.recv().await?;
            replica.on_message(&msg);
        }
        assert_eq!(
            replica.doc.canonical_json(),
            doc.canonical_json(),
            "client diverged (seed {seed})"
        );
        assert!(replica.rejected.is_empty(), "{:?}", replica.rejected);
    }
    assert_eq!(seq, 6 * 40, "one seq per op");
    for n in nodes {
        n.kill().await;
    }
    Ok(())
}

/// Sends notes until `stop` ops are acknowledged or the connection dies; returns (sent, acked).
async fn write_notes(
    client: &mut Client,
    tag: &str,
    count: usize,
) -> (Vec<plenary_protocol::Op>, HashSet<String>) {
    let mut sent = Vec::new();
    let mut acked = HashSet::new();
    for n in 0..count {
        let op = client.op(create(
            &format!("{tag}-{n}"),
            "backlog_item",
            "root",
            "a0",
            &[("title", text("x"))],
        ));
        sent.push(op.clone());
        if client
            .send(&ClientMsg::Op {
                room: "room-1".into(),
                op,
            })
            .await
            .is_err()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
        while let Ok(Ok(msg)) = tokio::time::timeout(Duration::from_millis(1), client.recv()).await
        {
            if let ServerMsg::Ack { op_id, .. } = msg {
                acked.insert(op_id);
            }
        }
    }
    while let Ok(Ok(msg)) = tokio::time::timeout(Duration::from_millis(500), client.recv()).await {
        if let ServerMsg::Ack { op_id, .. } = msg {
            acked.insert(op_id);
        }
    }
    (sent, acked)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_node_loses_nothing_acknowledged() -> anyhow::Result<()> {
    let redis = RedisServer::start().await?;
    let mut nodes = cluster(&redis).await?;
    let (_fac, tokens) = class(&nodes, 2).await?;
    let (mut writer, _) = attendee(&nodes, &tokens[0], 2).await?;
    let (mut watcher, _) = attendee(&nodes, &tokens[1], 1).await?;
    // The writer's node dies mid-stream.
    let killer = {
        let node = nodes.pop().unwrap();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            node.kill().await;
        })
    };
    let (sent, acked) = write_notes(&mut writer, "k", 2_000).await;
    killer.await?;
    assert!(
        !acked.is_empty() && acked.len() < sent.len(),
        "the kill happened mid-stream"
    );
    // The writer reconnects to another node and resends everything not acknowledged.
    let clock = writer.clock;
    let (mut again, _) = attendee(&nodes, &tokens[0], 0).await?;
    again.clock = clock;
    for op in sent.iter().filter(|o| !acked.contains(&o.id)) {
        let r = again.apply_op("room-1", op.clone()).await?;
        assert!(r.is_ok(), "resend refused: {r:?}");
    }
    let (_, seq, doc) = watcher.join("room-1").await?;
    let items = doc
        .objects
        .values()
        .filter(|o| o.ty == "backlog_item")
        .count();
    assert_eq!(items, sent.len(), "every op exactly once");
    assert_eq!(seq, sent.len() as u64, "no op took two seqs");
    for n in nodes {
        n.kill().await;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restart_rejects_writes_then_resumes() -> anyhow::Result<()> {
    let mut redis = RedisServer::start().await?;
    let nodes = cluster(&redis).await?;
    let (_fac, tokens) = class(&nodes, 2).await?;
    let (mut a, _) = attendee(&nodes, &tokens[0], 1).await?;
    let (mut b, mut b_replica) = attendee(&nodes, &tokens[1], 2).await?;
    let first = a
        .apply(
            "room-1",
            create("before", "backlog_item", "root", "a0", &[]),
        )
        .await?;
    assert!(first.is_ok());
    redis.kill();
    let http = reqwest::Client::new();
    let during = a.op(create("during", "backlog_item", "root", "a1", &[]));
    let down = a.apply_op("room-1", during.clone()).await?;
    // Refused: `unavailable` if the node knew the script did not run, `outcome_unknown` if the
    // connection broke under the request (then only a resend with the same id can tell).
    assert!(
        matches!(
            down,
            Err(ErrorCode::Unavailable | ErrorCode::OutcomeUnknown)
        ),
        "writes are refused while Redis is down: {down:?}"
    );
    // readyz answers from what the node knows, without waiting on Redis: a probe with a 1 s
    // timeout sees the 503.
    let probe = http
        .get(nodes[1].url("/readyz"))
        .timeout(Duration::from_secs(1))
        .send()
        .await?;
    assert_eq!(probe.status(), 503);
    redis.restart().await?;
    // The nodes reconnect by themselves.
    let mut ok = false;
    for _ in 0..50 {
        if http.get(nodes[1].url("/readyz")).send().await?.status() == 200 {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ok, "node ready again after Redis came back");
    let mut after = Err(ErrorCode::Unavailable);
    // One op, resent with its id until it is acknowledged.
    let after_op = a.op(create("after", "backlog_item", "root", "a2", &[]));
    for _ in 0..50 {
        after = a.apply_op("room-1", after_op.clone()).await?;
        if after.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(after.is_ok(), "writes resume: {after:?}");
    if down == Err(ErrorCode::OutcomeUnknown) {
        // Resent with its id: applied once (Redis was down, so it had not been).
        assert!(a.apply_op("room-1", during.clone()).await?.is_ok());
    }
    // B saw exactly the accepted ops, in order, and agrees with a fresh read.
    let (_, seq, doc) = a.join("room-1").await?;
    while b_replica.seq < seq {
        let msg = b.recv().await?;
        b_replica.on_message(&msg);
    }
    assert_eq!(b_replica.doc.canonical_json(), doc.canonical_json());
    assert!(doc.objects.contains_key("before") && doc.objects.contains_key("after"));
    assert_eq!(
        doc.objects.contains_key("during"),
        down == Err(ErrorCode::OutcomeUnknown),
        "an op refused `unavailable` left no trace; one resent after `outcome_unknown` is there"
    );
    for n in nodes {
        n.kill().await;
    }
    Ok(())
}

/// The contract of `unavailable` (nothing was applied, ever) when Redis dies under a burst of
/// writes (SIGKILL, append-only file fsynced on every write): the script may have run and been
/// made durable while its answer was lost with the connection. Every op answered `unavailable`
/// must be absent once Redis is back, every acknowledged op present, and every op answered
/// `outcome_unknown` is resent with its id and ends up applied exactly once. Short outages
/// (Redis back within the node's wait) and long ones (not).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unavailable_means_not_applied_when_redis_dies_mid_write() -> anyhow::Result<()> {
    let seed = plenary_tests::test_seed();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut redis = RedisServer::start().await?;
    let nodes = cluster(&redis).await?;
    let (_fac, tokens) = class(&nodes, 1).await?;
    let (mut a, _) = attendee(&nodes, &tokens[0], 1).await?;
    let http = reqwest::Client::new();
    let (mut acked, mut unavailable, mut unknown) = (0, 0, 0);
    for outage in 0..4 {
        let down_for = if outage % 2 == 0 {
            Duration::from_millis(300)
        } else {
            Duration::from_secs(7)
        };
        let mut burst = Vec::new();
        for i in 0..40 {
            let op = a.op(create(
                &format!("o{outage}-{i}"),
                "backlog_item",
                "root",
                "a0",
                &[],
            ));
            a.send(&ClientMsg::Op {
                room: "room-1".into(),
                op: op.clone(),
            })
            .await?;
            burst.push(op);
        }
        tokio::time::sleep(Duration::from_micros(rng.random_range(0..3_000))).await;
        redis.kill();
        let restart = tokio::time::Instant::now() + down_for;
        if outage == 1 {
            // A hello on a node that has not loaded the workshop yet, while Redis is down: not a
            // verdict on the token (4002 would log the user out), but "reconnect later".
            let hello = Message::text(hello_text(PROTOCOL_VERSION, &tokens[0]));
            let (seen, ended) = refused_first_frame(&nodes[2].ws_url(), hello).await?;
            assert!(
                matches!(
                    seen.first(),
                    Some(ServerMsg::Error {
                        code: ErrorCode::Unavailable,
                        ..
                    })
                ),
                "{seen:?}"
            );
            assert!(
                matches!(ended, Ended::Closed(Some(close::RESTART))),
                "{ended:?}"
            );
        }
        // Every op gets one answer: some only once Redis is back (acks come through the log).
        let mut answers: std::collections::HashMap<String, Result<u64, ErrorCode>> =
            Default::default();
        let mut restarted = false;
        while answers.len() < burst.len() {
            if !restarted && tokio::time::Instant::now() >= restart {
                redis.restart().await?;
                restarted = true;
            }
            let wait = if restarted {
                Duration::from_secs(15)
            } else {
                restart.saturating_duration_since(tokio::time::Instant::now())
            };
            let Ok(msg) = tokio::time::timeout(wait, a.recv()).await else {
                anyhow::ensure!(!restarted, "ops left unanswered: {answers:?}");
                continue;
            };
            match msg? {
                ServerMsg::Ack { op_id, seq, .. } => {
                    answers.insert(op_id, Ok(seq));
                }
                ServerMsg::Reject { op_id, code, .. } => {
                    answers.insert(op_id, Err(code));
                }
                _ => {}
            }
        }
        if !restarted {
            tokio::time::sleep_until(restart).await;
            redis.restart().await?;
        }
        let mut ready = false;
        for _ in 0..100 {
            if http.get(nodes[1].url("/readyz")).send().await?.status() == 200 {
                ready = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(ready, "node ready again after Redis came back");
        // Ops whose outcome was unknown are resent with their ids until they are answered.
        let mut expect_present = HashSet::new();
        for op in &burst {
            match answers[&op.id] {
                Ok(_) => {
                    acked += 1;
                    expect_present.insert(op.kind.object().to_owned());
                }
                Err(ErrorCode::Unavailable) => unavailable += 1,
                Err(ErrorCode::OutcomeUnknown) => {
                    unknown += 1;
                    let mut resent = Err(ErrorCode::Unavailable);
                    for _ in 0..50 {
                        resent = a.apply_op("room-1", op.clone()).await?;
                        if resent.is_ok() {
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    assert!(resent.is_ok(), "resend of {}: {resent:?}", op.id);
                    expect_present.insert(op.kind.object().to_owned());
                }
                Err(code) => panic!("op {} refused {code}", op.id),
            }
        }
        let (_, _, doc) = a.join("room-1").await?;
        for op in &burst {
            let object = op.kind.object();
            assert_eq!(
                doc.objects.contains_key(object),
                expect_present.contains(object),
                "outage {outage}: {} answered {:?}",
                op.id,
                answers[&op.id]
            );
        }
    }
    println!("{acked} acknowledged, {unavailable} unavailable, {unknown} outcome unknown");
    assert!(acked > 0, "no op was acknowledged");
    for n in nodes {
        n.kill().await;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn breakouts_broadcast_and_timer_happen_once_across_nodes() -> anyhow::Result<()> {
    let redis = RedisServer::start().await?;
    let nodes = cluster(&redis).await?;
    let base = nodes[0].url("");
    let created = create_workshop_at(&base, "Across").await?;
    let mut fac = Client::connect(&nodes[0].ws_url(), &created.token).await?;
    let mut attendees = Vec::new();
    for i in 0..4 {
        let node = 1 + i % 2;
        let (_, token) =
            join_at(&nodes[node].url(""), &created.join_code, &format!("P{i}")).await?;
        attendees.push(Client::connect(&nodes[node].ws_url(), &token).await?);
    }
    assert_eq!(
        fac.command(Command::CreateBreakouts {
            names: vec!["X".into(), "Y".into()]
        })
        .await?,
        Ok(())
    );
    assert_eq!(fac.command(Command::AssignAuto).await?, Ok(()));
    assert_eq!(fac.command(Command::OpenBreakouts).await?, Ok(()));
    let exercise = Command::BroadcastExercise {
        title: "Vision".into(),
        instructions: String::new(),
        timebox_secs: 2,
        template: Some(Template::VisionBoard),
        rooms: None,
        auto_close: true,
        warning_secs: Some(1),
    };
    assert_eq!(fac.command(exercise).await?, Ok(()));
    for a in attendees.iter_mut() {
        let v = a
            .view_until(|v| v.exercise.is_some() && v.breakouts_open)
            .await?;
        let me = a.participant.clone();
        let room = v
            .participants
            .iter()
            .find(|p| p.id == me)
            .unwrap()
            .room
            .clone()
            .unwrap();
        let (_, _, doc) = a.join(&room).await?;
        // Seeded once, whichever nodes raced: five sections, not ten.
        let mut sections = doc
            .children("root")
            .iter()
            .filter(|(_, o)| o.ty == "vision_section")
            .count();
        while sections < 5 {
            if let ServerMsg::Op { op, .. } = a.recv().await? {
                if op.id.starts_with("seed.") {
                    sections += 1;
                }
            }
        }
        assert_eq!(sections, 5);
    }
    // Each attendee sees one warning and one expiry, then breakouts closed.
    tokio::time::sleep(Duration::from_secs(3)).await;
    for a in attendees.iter_mut() {
        // Read whatever is still queued, then look at every timer event received.
        while let Ok(Ok(_)) = tokio::time::timeout(Duration::from_millis(300), a.recv()).await {}
        assert_eq!(
            a.timer_events,
            vec![TimerEvent::Warning, TimerEvent::Expired],
            "exactly once each"
        );
        let v = a.view_until(|v| !v.breakouts_open).await?;
        assert_eq!(v.timer.unwrap().state, TimerState::Expired);
    }
    for n in nodes {
        n.kill().await;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_nodes_users_leave_presence_within_the_ttl() -> anyhow::Result<()> {
    let redis = RedisServer::start().await?;
    let mut nodes = cluster(&redis).await?;
    let (_fac, tokens) = class(&nodes, 2).await?;
    let (mut watcher, _) = attendee(&nodes, &tokens[0], 0).await?;
    let (doomed, _) = attendee(&nodes, &tokens[1], 2).await?;
    let doomed_id = doomed.participant.clone();
    // The watcher on node A sees the member on node C.
    let seen = watcher.recv_until(|m| match m {
        ServerMsg::Presence { members, .. }
            if members.iter().any(|p| p.participant == doomed_id) =>
        {
            Some(())
        }
        _ => None,
    });
    seen.await?;
    let killed_at = tokio::time::Instant::now();
    nodes.pop().unwrap().kill().await;
    // Presence messages come only on changes, so wait without a per-message timeout.
    let gone = async {
        loop {
            match tokio::time::timeout(Duration::from_millis(500), watcher.recv()).await {
                Ok(Ok(ServerMsg::Presence { members, .. }))
                    if !members.iter().any(|p| p.participant == doomed_id) =>
                {
                    return anyhow::Ok(());
                }
                Ok(Err(e)) => return Err(e),
                _ => {}
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), gone).await??;
    let took = killed_at.elapsed();
    assert!(
        took <= plenary_server::cluster::PRESENCE_TTL + Duration::from_secs(3),
        "took {took:?}"
    );
    drop(doomed);
    for n in nodes {
        n.kill().await;
    }
    Ok(())
}

/// Runs a raw Redis command through redis-cli.
fn redis_cli(redis: &RedisServer, args: &[&str]) -> anyhow::Result<String> {
    let out = std::process::Command::new("redis-cli")
        .arg("-p")
        .arg(redis.port.to_string())
        .args(args)
        .output()?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_room_stream_does_not_stall_the_others() -> anyhow::Result<()> {
    let redis = RedisServer::start().await?;
    let nodes = cluster(&redis).await?;
    let base = nodes[0].url("");
    let created = create_workshop_at(&base, "Broken").await?;
    let mut fac = Client::connect(&nodes[0].ws_url(), &created.token).await?;
    let names = vec!["Good".into(), "Bad".into()];
    assert_eq!(
        fac.command(Command::CreateBreakouts { names }).await?,
        Ok(())
    );
    // The facilitator on node B follows both rooms; a writer on node A edits the good one.
    let mut watcher = Client::connect(&nodes[1].ws_url(), &created.token).await?;
    watcher.join("room-1").await?;
    watcher.join("room-2").await?;
    fac.join("room-1").await?;
    fac.join("room-2").await?;
    assert!(fac
        .apply("room-2", create("x", "backlog_item", "root", "a0", &[]))
        .await?
        .is_ok());
    // A malformed entry in the good room's log, and the bad room's log replaced by a string.
    // (Written as Plenary would at the next seq, so the log stays appendable.)
    let good = format!("{{{}:room-1}}", created.workshop_id);
    let seq = redis_cli(&redis, &["INCR", &format!("{good}:seq")])?;
    let id = format!("{}-1", seq.trim());
    redis_cli(
        &redis,
        &[
            "XADD",
            &format!("{good}:log"),
            &id,
            "op",
            "{not json",
            "p",
            "nobody",
        ],
    )?;
    let bad = format!("{{{}:room-2}}:log", created.workshop_id);
    redis_cli(&redis, &["DEL", &bad])?;
    redis_cli(&redis, &["SET", &bad, "not a stream"])?;
    // Ops in the good room still reach the watcher on the other node.
    for i in 0..5 {
        let id = format!("ok{i}");
        assert!(fac
            .apply("room-1", create(&id, "backlog_item", "root", "a0", &[]))
            .await?
            .is_ok());
        let seen = watcher.recv_until(|m| match m {
            ServerMsg::Op { op, .. } if op.kind.object() == id => Some(()),
            _ => None,
        });
        seen.await?;
    }
    for n in nodes {
        n.kill().await;
    }
    Ok(())
}

/// The ordering script's dedup memory is a count per room, not a time: after more than
/// `DEDUP_OP_IDS` ops the oldest ids are forgotten (a resend of one is ordered anew), the newest
/// are still answered as duplicates with their seq and sender, and Redis holds exactly
/// `DEDUP_OP_IDS` ids for the room however long the room is busy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_dedup_memory_is_bounded_per_room() -> anyhow::Result<()> {
    use plenary_server::cluster::{Appended, Redis, RoomKeys, DEDUP_IDLE_SECS};
    use plenary_server::room::DEDUP_OP_IDS;

    let redis = RedisServer::start().await?;
    let shutdown = tokio_util::sync::CancellationToken::new();
    let node = Redis::connect(&redis.url(), "t".into(), shutdown.clone())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let keys = RoomKeys::new("w-dedup", "room-1");
    let op = |n: usize| plenary_protocol::Op {
        id: format!("op-{n}"),
        stamp: plenary_protocol::Stamp::new(n as u64 + 1, format!("p-{}", n % 3)),
        kind: set("note", &[("text", Value::Text(format!("v{n}")))]),
    };
    let total = DEDUP_OP_IDS + 25;
    let mut next = 0;
    while next < total {
        let batch: Vec<_> = (next..(next + 500).min(total))
            .map(|n| (op(n), format!("p-{}", n % 3), String::new()))
            .collect();
        let answers = node
            .append(&keys, &batch)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        for (i, a) in answers.iter().enumerate() {
            assert_eq!(*a, Appended::New((next + i + 1) as u64), "op {}", next + i);
        }
        next += batch.len();
    }
    let count =
        |args: &[&str]| -> anyhow::Result<usize> { Ok(redis_cli(&redis, args)?.trim().parse()?) };
    let ops_key = "{w-dedup:room-1}:ops";
    let order_key = "{w-dedup:room-1}:opq";
    assert_eq!(count(&["HLEN", ops_key])?, DEDUP_OP_IDS);
    assert_eq!(count(&["LLEN", order_key])?, DEDUP_OP_IDS);
    // A room without ops forgets them after a while (the bound holds for busy rooms; this one
    // for rooms that fall idle).
    for key in [ops_key, order_key] {
        let ttl = count(&["TTL", key])? as u64;
        assert!(
            ttl > DEDUP_IDLE_SECS - 60 && ttl <= DEDUP_IDLE_SECS,
            "{key} ttl {ttl}"
        );
    }
    // The 25 oldest are forgotten (ordered anew); the 26th and the newest are duplicates, with
    // the seq and sender they were ordered with. One batch, so the script trims once for both.
    let resend = vec![
        (op(0), "p-0".to_owned(), String::new()),
        (op(25), "p-1".to_owned(), String::new()),
        (op(total - 1), "p-0".to_owned(), String::new()),
    ];
    let answers = node
        .append(&keys, &resend)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    assert_eq!(
        answers,
        vec![
            Appended::New(total as u64 + 1),
            Appended::Duplicate(26, "p-1".into()),
            Appended::Duplicate(total as u64, format!("p-{}", (total - 1) % 3)),
        ]
    );
    // The re-ordered op is remembered again, as the newest; the bound still holds.
    assert_eq!(count(&["HLEN", ops_key])?, DEDUP_OP_IDS);
    assert_eq!(count(&["LLEN", order_key])?, DEDUP_OP_IDS);
    assert_eq!(
        redis_cli(&redis, &["LINDEX", order_key, "-1"])?.trim(),
        "op-0"
    );
    // An op id ordered by a node before the bounded dedup (a key of its own, with a TTL) is
    // still recognized after the upgrade.
    redis_cli(
        &redis,
        &["SET", "{w-dedup:room-1}:op:old-op", "7:p-old", "EX", "3600"],
    )?;
    let old = plenary_protocol::Op {
        id: "old-op".into(),
        ..op(1)
    };
    let answers = node
        .append(&keys, &[(old, "p-old".to_owned(), String::new())])
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    assert_eq!(answers, vec![Appended::Duplicate(7, "p-old".into())]);
    redis_cli(&redis, &["DEL", "{w-dedup:room-1}:op:old-op"])?;
    // No per-op key is left behind: the room's keys are its fixed set.
    let keys_now = redis_cli(&redis, &["KEYS", "{w-dedup:room-1}:*"])?;
    let mut names: Vec<&str> = keys_now.lines().collect();
    names.sort_unstable();
    assert_eq!(
        names,
        vec![
            "{w-dedup:room-1}:log",
            "{w-dedup:room-1}:opq",
            "{w-dedup:room-1}:ops",
            "{w-dedup:room-1}:seq"
        ]
    );
    shutdown.cancel();
    Ok(())
}

/// `PUBSUB NUMSUB` of a room's push channel: how many nodes are subscribed to it.
fn push_subscribers(redis: &RedisServer, workshop: &str, room: &str) -> anyhow::Result<u64> {
    let out = redis_cli(
        redis,
        &["PUBSUB", "NUMSUB", &format!("{{{workshop}:{room}}}:push")],
    )?;
    let count = out.lines().nth(1).unwrap_or("0").trim();
    Ok(count.parse()?)
}

/// Waits (up to 10 s) until `count` nodes are subscribed to the room's push channel.
async fn until_push_subscribers(
    redis: &RedisServer,
    workshop: &str,
    room: &str,
    count: u64,
) -> anyhow::Result<()> {
    for _ in 0..200 {
        if push_subscribers(redis, workshop, room)? == count {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let now = push_subscribers(redis, workshop, room)?;
    anyhow::bail!("{now} nodes subscribed to the push channel of {room}, expected {count}")
}

/// Entries reach the other nodes by Pub/Sub: each node that has members in a room subscribes to
/// its channel, and unsubscribes when its last member leaves. When Redis drops the nodes' push
/// connections (`CLIENT KILL TYPE pubsub`) while a writer keeps writing, every op still reaches
/// the member on the other node, once and in seq order: the node subscribes again and its sweep
/// reads from the log what no message brought.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fan_out_is_pushed_and_survives_a_lost_push_connection() -> anyhow::Result<()> {
    let redis = RedisServer::start().await?;
    let nodes = cluster(&redis).await?;
    let (mut fac, tokens) = class(&nodes, 1).await?;
    let workshop = {
        let view = &fac.view;
        view.id.clone()
    };
    let (mut watcher, _) = attendee(&nodes, &tokens[0], 1).await?;
    fac.join("room-1").await?;
    until_push_subscribers(&redis, &workshop, "room-1", 2).await?;
    let mut sent = Vec::new();
    let mut pos: Option<String> = None;
    for round in 0..3 {
        if round == 1 {
            let killed = redis_cli(&redis, &["CLIENT", "KILL", "TYPE", "pubsub"])?;
            assert!(killed.trim().parse::<u64>()? >= 2, "killed {killed}");
        }
        for i in 0..20 {
            let id = format!("r{round}-{i}");
            let next = plenary_protocol::fractional::between(pos.as_deref(), None)?;
            let result = fac
                .apply("room-1", create(&id, "backlog_item", "root", &next, &[]))
                .await?;
            pos = Some(next);
            assert!(result.is_ok(), "{id}: {result:?}");
            sent.push(id);
        }
        if round == 1 {
            until_push_subscribers(&redis, &workshop, "room-1", 2).await?;
        }
    }
    let mut seen = Vec::new();
    let mut last_seq = 0;
    while seen.len() < sent.len() {
        if let ServerMsg::Op { op, seq, .. } = watcher.recv().await? {
            assert!(seq > last_seq, "seq {seq} after {last_seq}");
            last_seq = seq;
            seen.push(op.kind.object().to_owned());
        }
    }
    assert_eq!(seen, sent, "every op once, in order");
    drop(watcher);
    until_push_subscribers(&redis, &workshop, "room-1", 1).await?;
    for n in nodes {
        n.kill().await;
    }
    Ok(())
}

//! The real binary, clients writing continuously, SIGKILL at random moments, restart on the same
//! data dir: every acknowledged op is there exactly once and nothing appears that was never
//! sent. Seeded: rerun a failure with PLENARY_TEST_SEED.

use std::collections::HashSet;
use std::time::Duration;

use plenary_protocol::workshop::Command;
use plenary_protocol::{ClientMsg, ServerMsg};
use plenary_tests::{create, create_workshop_at, join_at, set, temp_dir, text, Client, Process};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const ROUNDS: usize = 20;
const WRITERS: usize = 2;
const ARGS: &[&str] = &["--rate-per-sec", "100000", "--rate-burst", "100000"];

/// What one writer did before the server died: ids it sent and ids the server acknowledged.
#[derive(Default)]
struct Tally {
    sent: Vec<plenary_protocol::Op>,
    acked: HashSet<String>,
}

/// Most notes one writer sends in a round, so 20 rounds stay under the room's object limit.
const PER_ROUND: usize = 200;

/// Sends notes (a window of 20 in flight, about one per millisecond) until the connection dies.
async fn write_until_killed(mut client: Client, tag: String) -> Tally {
    let mut tally = Tally::default();
    let mut n = 0;
    loop {
        while tally.sent.len() < tally.acked.len() + 20 && tally.sent.len() < PER_ROUND {
            tokio::time::sleep(Duration::from_millis(1)).await;
            n += 1;
            let note = create(
                &format!("{tag}-{n}"),
                "vision_note",
                "sec",
                "a0",
                &[("text", text("crash me"))],
            );
            let op = client.op(note);
            tally.sent.push(op.clone());
            if client
                .send(&ClientMsg::Op {
                    room: "room-1".into(),
                    op,
                })
                .await
                .is_err()
            {
                return tally;
            }
        }
        match client.recv().await {
            Ok(ServerMsg::Ack { op_id, .. }) => {
                tally.acked.insert(op_id);
            }
            Ok(ServerMsg::Reject { code, message, .. }) => {
                panic!("unexpected reject {code}: {message}")
            }
            Ok(_) => {}
            Err(_) => return tally,
        }
    }
}

#[tokio::test]
async fn sigkill_loses_no_acknowledged_op() -> anyhow::Result<()> {
    let seed = plenary_tests::test_seed();
    let mut rng = StdRng::seed_from_u64(seed);
    let dir = temp_dir("crash");
    let mut server = Process::start(&dir, ARGS).await?;
    let base = server.url("");
    let created = create_workshop_at(&base, "Crash").await?;
    let mut fac = Client::connect(&server.ws_url(), &created.token).await?;
    assert_eq!(
        fac.command(Command::CreateBreakouts {
            names: vec!["T".into()]
        })
        .await?,
        Ok(())
    );
    let mut tokens = Vec::new();
    for i in 0..WRITERS {
        tokens.push(
            join_at(&base, &created.join_code, &format!("W{i}"))
                .await?
                .1,
        );
    }
    assert_eq!(fac.command(Command::AssignAuto).await?, Ok(()));
    fac.join("room-1").await?;
    let section = create(
        "sec",
        "vision_section",
        "root",
        "a0",
        &[("section", text("needs"))],
    );
    assert!(fac.apply("room-1", section).await?.is_ok());
    drop(fac);

    let mut sent_ids: HashSet<String> = HashSet::new();
    let mut acked_ids: HashSet<String> = HashSet::new();
    let mut clocks = [0u64; WRITERS];
    for round in 0..ROUNDS {
        let mut tasks = Vec::new();
        for (i, token) in tokens.iter().enumerate() {
            let mut client = Client::connect(&server.ws_url(), token).await?;
            client.clock = clocks[i] + 1_000;
            client.join("room-1").await?;
            tasks.push(tokio::spawn(write_until_killed(
                client,
                format!("r{round}w{i}"),
            )));
        }
        tokio::time::sleep(Duration::from_millis(rng.random_range(20..300))).await;
        server.kill().await;
        for (i, task) in tasks.into_iter().enumerate() {
            let tally = task.await?;
            clocks[i] = tally
                .sent
                .iter()
                .map(|o| o.stamp.clock)
                .max()
                .unwrap_or(clocks[i]);
            sent_ids.extend(tally.sent.iter().map(|o| o.kind.object().to_owned()));
            acked_ids.extend(
                tally
                    .sent
                    .iter()
                    .filter(|o| tally.acked.contains(&o.id))
                    .map(|o| o.kind.object().to_owned()),
            );
        }
        server = Process::start(&dir, ARGS).await?;
        let mut check = Client::connect(&server.ws_url(), &created.token).await?;
        let (_, seq, doc) = check.join("room-1").await?;
        let notes: HashSet<String> = doc
            .objects
            .iter()
            .filter(|(_, o)| o.ty == "vision_note")
            .map(|(id, _)| id.clone())
            .collect();
        let missing: Vec<_> = acked_ids.difference(&notes).collect();
        assert!(
            missing.is_empty(),
            "round {round} (seed {seed}): acknowledged but lost: {missing:?}"
        );
        let invented: Vec<_> = notes.difference(&sent_ids).collect();
        assert!(
            invented.is_empty(),
            "round {round} (seed {seed}): never sent: {invented:?}"
        );
        // One seq per note plus the section: nothing was applied twice.
        assert_eq!(
            seq,
            notes.len() as u64 + 1,
            "round {round} (seed {seed}): seq and notes disagree"
        );
    }
    assert!(
        acked_ids.len() > ROUNDS,
        "the writers made progress: {} acked",
        acked_ids.len()
    );
    println!(
        "{} ops acknowledged, {} sent, over {ROUNDS} kills",
        acked_ids.len(),
        sent_ids.len()
    );
    server.kill().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Section 12.4 of PROTOCOL.md: a resend of any of a room's last 1,000 ops is recognised after a
/// restart, and after another. Two restarts in a row broke it (issue #18): the first restart put
/// the room's snapshot ids in its dedup window and then the older ops the store still held (a
/// quiet room's unsnapshotted op kept the log from being trimmed), so the next snapshot kept
/// those old ids instead of the newest, and after the second restart a resend of an op some 700
/// seqs back was applied again.
#[tokio::test]
async fn resends_of_the_last_thousand_ops_are_recognised_after_two_restarts() -> anyhow::Result<()>
{
    let dir = temp_dir("dedup-restarts");
    let with = |extra: &[&'static str]| [ARGS, extra].concat();
    // No timed snapshots: room-2's one op keeps every op of room-1 in the store's log.
    let server = Process::start(&dir, &with(&["--snapshot-secs", "3600"])).await?;
    let base = server.url("");
    let created = create_workshop_at(&base, "Dedup").await?;
    let mut fac = Client::connect(&server.ws_url(), &created.token).await?;
    let breakouts = Command::CreateBreakouts {
        names: vec!["A".into(), "B".into()],
    };
    assert_eq!(fac.command(breakouts).await?, Ok(()));
    fac.join("room-1").await?;
    fac.join("room-2").await?;
    let pin = create(
        "pin",
        "backlog_item",
        "root",
        "a0",
        &[("title", text("pin"))],
    );
    assert!(fac.apply("room-2", pin).await?.is_ok());
    let item = create(
        "item",
        "backlog_item",
        "root",
        "a0",
        &[("title", text("0"))],
    );
    assert!(fac.apply("room-1", item).await?.is_ok());
    // 2,500 ops in room-1: snapshots at seq 1,000 and 2,000, the log kept whole.
    let mut sent = Vec::new();
    for n in 1..2_500 {
        let op = fac.op(set("item", &[("title", text(&n.to_string()))]));
        match fac.apply_op("room-1", op.clone()).await? {
            Ok(seq) => sent.push((op, seq)),
            Err(code) => anyhow::bail!("op {n} refused: {code}"),
        }
    }
    let clock = fac.clock;
    drop(fac);
    server.kill().await;

    // First restart: one op in each room; both rooms snapshot within a second, and the next
    // write after that lets the store drop the whole log.
    let server = Process::start(&dir, &with(&["--snapshot-secs", "1"])).await?;
    let mut fac = Client::connect(&server.ws_url(), &created.token).await?;
    fac.clock = clock + 10;
    fac.join("room-1").await?;
    fac.join("room-2").await?;
    let touch = |n: &str| set("item", &[("title", text(n))]);
    assert!(fac.apply("room-1", touch("a")).await?.is_ok());
    let pin = set("pin", &[("title", text("moved"))]);
    assert!(fac.apply("room-2", pin).await?.is_ok());
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert!(fac.apply("room-1", touch("b")).await?.is_ok());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let clock = fac.clock;
    drop(fac);
    server.kill().await;

    // Second restart: every op of the last 1,000 is answered with its own seq.
    let server = Process::start(&dir, ARGS).await?;
    let mut fac = Client::connect(&server.ws_url(), &created.token).await?;
    fac.clock = clock + 10;
    let (_, seq, _) = fac.join("room-1").await?;
    let mut resent = 0;
    for (op, acked) in sent.iter().filter(|(_, s)| *s + 1_000 > seq) {
        let answer = fac.apply_op("room-1", op.clone()).await?;
        assert_eq!(
            answer,
            Ok(*acked),
            "resend of {} (seq {acked}, room at {seq})",
            op.id
        );
        resent += 1;
    }
    assert!(resent >= 990, "only {resent} ops to resend");
    // The resends took no seq.
    assert_eq!(fac.apply("room-1", touch("c")).await?, Ok(seq + 1));
    server.kill().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

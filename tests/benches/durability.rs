//! Durability benchmarks (docs/BENCHMARKS.md):
//! 1. ops committed per second through the SQLite store with group commit against one
//!    transaction per op, for `--sync normal` and `--sync full`;
//! 2. catch-up time for 1,000 missed ops (reconnect with a resume point until the last op);
//! 3. start-up time (open the store, load, start every room actor) with 1,000 rooms.
//!
//! Run: `cargo bench -p plenary-tests --bench durability`. Each figure is the median of
//! several runs; ratios are against a baseline measured in the same run.

use std::sync::Arc;
use std::time::{Duration, Instant};

use plenary_protocol::workshop::Command;
use plenary_protocol::{ClientMsg, Op, OpKind, ResumePoint, ServerMsg, Stamp, Value};
use plenary_server::sqlite::{Options, SqliteStore, Sync};
use plenary_server::store::{EncodedOp, Store, Write};
use plenary_tests::{create, temp_dir, text, Client, TestServer};

const RUNS: usize = 5;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn note(i: u64) -> Op {
    Op {
        id: format!("op-{i}"),
        stamp: Stamp::new(i + 1, "bench"),
        kind: OpKind::Create {
            object: format!("n{i}"),
            ty: "vision_note".into(),
            parent: "root".into(),
            pos: "a0".into(),
            fields: [(
                "text".to_owned(),
                Value::Text("a note of ordinary length, like a sticky".into()),
            )]
            .into(),
        },
    }
}

/// Ops per second when `rooms` writers each commit `per_room` single-op writes, one after the
/// other (each waits for its commit, as a room actor does).
async fn commit_rate(sync: Sync, max_batch: usize, rooms: usize, per_room: u64) -> f64 {
    let dir = temp_dir("bench-store");
    let store = Arc::new(
        SqliteStore::open(
            &dir,
            Options {
                sync,
                max_batch,
                max_mib: None,
            },
        )
        .unwrap(),
    );
    let start = Instant::now();
    let mut tasks = Vec::new();
    for r in 0..rooms {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let room: Arc<str> = format!("room-{r}").into();
            for i in 0..per_room {
                let write = Write::Ops {
                    workshop: "w".into(),
                    room: room.clone(),
                    epoch: 1,
                    ops: vec![EncodedOp {
                        seq: i + 1,
                        op: serde_json::to_string(&note(i)).unwrap(),
                        participant: "p".into(),
                    }],
                    sealed: vec![],
                };
                store.write(write).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let rate = (rooms as u64 * per_room) as f64 / start.elapsed().as_secs_f64();
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
    rate
}

/// Milliseconds from a reconnect with a resume point to the last of 1,000 missed ops.
async fn catch_up_ms() -> f64 {
    let server = TestServer::start_with(|c| {
        c.rate_per_sec = 1_000_000;
        c.rate_burst = 1_000_000;
    })
    .await;
    let created = server.create_workshop("bench").await.unwrap();
    let mut fac = server.connect(&created.token).await.unwrap();
    fac.join("plenary").await.unwrap();
    let (_, r) = server.join(&created.join_code, "Reader").await.unwrap();
    let mut reader = server.connect(&r).await.unwrap();
    let (epoch, seq, _) = reader.join("plenary").await.unwrap();
    drop(reader);
    for i in 0..1_000 {
        let op = fac.op(create(
            &format!("n{i}"),
            "backlog_item",
            "root",
            "a0",
            &[("title", text("missed"))],
        ));
        fac.send(&ClientMsg::Op {
            room: "plenary".into(),
            op,
        })
        .await
        .unwrap();
    }
    let mut acks = 0;
    while acks < 1_000 {
        if let ServerMsg::Ack { .. } = fac.recv().await.unwrap() {
            acks += 1;
        }
    }
    let start = Instant::now();
    let resume = vec![ResumePoint {
        room: "plenary".into(),
        epoch,
        seq,
    }];
    let mut reader = Client::connect_resume(&server.ws_url(), &r, resume)
        .await
        .unwrap();
    let target = seq + 1_000;
    loop {
        if let ServerMsg::Op { seq, .. } = reader.recv().await.unwrap() {
            if seq == target {
                break;
            }
        }
    }
    let ms = start.elapsed().as_secs_f64() * 1e3;
    server.stop().await;
    ms
}

/// Builds a data dir with 100 workshops of 10 rooms (1,000 rooms with ~20 ops each, 10 of them
/// snapshotted), then returns it.
async fn thousand_rooms() -> std::path::PathBuf {
    let server = TestServer::start_with(|c| {
        c.rate_per_sec = 1_000_000;
        c.rate_burst = 1_000_000;
    })
    .await;
    for w in 0..100 {
        let created = server.create_workshop(&format!("w{w}")).await.unwrap();
        let mut fac = server.connect(&created.token).await.unwrap();
        let names = (0..9).map(|i| format!("Team {i}")).collect();
        fac.command(Command::CreateBreakouts { names })
            .await
            .unwrap()
            .unwrap();
        let rooms: Vec<String> = fac.view.rooms.iter().map(|r| r.id.clone()).collect();
        let rooms = if rooms.len() == 10 {
            rooms
        } else {
            fac.view_until(|v| v.rooms.len() == 10)
                .await
                .unwrap()
                .rooms
                .iter()
                .map(|r| r.id.clone())
                .collect()
        };
        for room in &rooms {
            fac.join(room).await.unwrap();
            for i in 0..20 {
                let kind = create(
                    &format!("{room}-{i}"),
                    "backlog_item",
                    "root",
                    "a0",
                    &[("title", text("story"))],
                );
                fac.apply(room, kind).await.unwrap().unwrap();
            }
        }
    }
    server.halt().await
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        println!("## commit throughput (50 rooms x 200 single-op writes, median of {RUNS})");
        for sync in [Sync::Normal, Sync::Full] {
            let mut grouped = Vec::new();
            let mut single = Vec::new();
            for _ in 0..RUNS {
                grouped.push(commit_rate(sync, 1_024, 50, 200).await);
                single.push(commit_rate(sync, 1, 50, 200).await);
            }
            let (g, s) = (median(grouped), median(single));
            println!("sync={sync:?}: group commit {g:.0} ops/s, one transaction per op {s:.0} ops/s, ratio {:.1}x", g / s);
        }

        println!("## catch-up of 1,000 missed ops (median of {RUNS})");
        let mut samples = Vec::new();
        for _ in 0..RUNS {
            samples.push(catch_up_ms().await);
        }
        println!("catch-up: {:.1} ms", median(samples));

        println!("## start-up with 1,000 rooms (median of {RUNS})");
        let dir = thousand_rooms().await;
        let mut samples = Vec::new();
        for _ in 0..RUNS {
            let start = Instant::now();
            let server = TestServer::start_in(dir.clone(), |_| {}).await;
            // Ready once it answers readyz, which needs every workshop restored first.
            let http = reqwest::Client::new();
            while http.get(server.url("/readyz")).send().await.map(|r| r.status() != 200).unwrap_or(true) {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            samples.push(start.elapsed().as_secs_f64() * 1e3);
            server.halt().await;
        }
        println!("start-up with 1,000 rooms: {:.1} ms", median(samples));
        let _ = std::fs::remove_dir_all(&dir);
    });
}

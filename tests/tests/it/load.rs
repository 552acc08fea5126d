//! A small smoke run of the load generator's workshop mode: it must see no loss, no duplicate
//! and no error. Latency is not checked here; it belongs to docs/BENCHMARKS.md.

use std::time::Duration;

use plenary_tests::load::{self, LoadConfig, Target};
use plenary_tests::TestServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workshop_smoke_run_loses_nothing() -> anyhow::Result<()> {
    let server = TestServer::start().await;
    let config = LoadConfig {
        target: Target::Plenary,
        url: server.url(""),
        rooms: 12,
        per_room: 4,
        rate: 4.0,
        duration: Duration::from_secs(10),
        server_pid: Some(std::process::id()),
    };
    let report = load::workshop(config).await?;
    report.print_text();
    assert!(
        report.sent > 1_000,
        "the run sent too little: {}",
        report.sent
    );
    assert_eq!(report.expected, report.sent * 3);
    assert_eq!(report.lost, 0, "lost deliveries");
    assert_eq!(report.duplicates, 0, "duplicate deliveries");
    assert_eq!(report.errors, 0, "errors");
    assert_eq!(report.delivered, report.expected);
    server.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_ceiling_relays_everything() -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let relay = tokio::spawn(load::relay::serve(listener));
    let config = LoadConfig {
        target: Target::Relay,
        url,
        rooms: 6,
        per_room: 4,
        rate: 4.0,
        duration: Duration::from_secs(3),
        server_pid: None,
    };
    let report = load::workshop(config).await?;
    assert!(report.sent > 200);
    assert_eq!((report.lost, report.duplicates, report.errors), (0, 0, 0));
    relay.abort();
    Ok(())
}

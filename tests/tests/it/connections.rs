//! Connection-level behaviour: a slow consumer, heartbeat expiry of presence, graceful shutdown.

use std::time::Duration;

use plenary_protocol::workshop::Command;
use plenary_protocol::{close, ClientMsg, ServerMsg, Value};
use plenary_tests::{create, Client, Ended, TestServer};

/// One facilitator and `n` attendees all in team room "room-1", each joined to it.
async fn team(server: &TestServer, n: usize) -> anyhow::Result<(Client, Vec<Client>)> {
    let created = server.create_workshop("Connections").await?;
    let mut fac = server.connect(&created.token).await?;
    assert_eq!(
        fac.command(Command::CreateBreakouts {
            names: vec!["Team".into()]
        })
        .await?,
        Ok(())
    );
    let mut tokens = Vec::new();
    for i in 0..n {
        tokens.push(server.join(&created.join_code, &format!("A{i}")).await?.1);
    }
    assert_eq!(fac.command(Command::AssignAuto).await?, Ok(()));
    let mut clients = Vec::new();
    for t in tokens {
        let mut c = server.connect(&t).await?;
        c.join("room-1").await?;
        clients.push(c);
    }
    Ok((fac, clients))
}

#[tokio::test]
async fn slow_consumer_is_closed_and_does_not_hold_up_its_room() -> anyhow::Result<()> {
    let server = TestServer::start_with(|c| {
        c.rate_per_sec = 100_000;
        c.rate_burst = 100_000;
    })
    .await;
    let (_fac, mut clients) = team(&server, 3).await?;
    let mut slow = clients.pop().unwrap();
    let mut fast = clients.pop().unwrap();
    let mut writer = clients.pop().unwrap();
    let slow_id = slow.participant.clone();
    // The slow client stops reading from here on. The writer sends 9 KB notes, at most
    // WINDOW ahead of what the fast client has read; the slow client's socket buffers fill,
    // then its 1 MiB outbox overflows.
    const WINDOW: u64 = 40;
    let big = "x".repeat(9_000);
    let total: u64 = 3_000;
    let kind = create(
        "sec",
        "vision_section",
        "root",
        "a0",
        &[("section", Value::Text("needs".into()))],
    );
    assert!(writer.apply("room-1", kind).await?.is_ok());
    let base = fast.recv_until(|m| match m {
        ServerMsg::Op { seq, .. } => Some(*seq),
        _ => None,
    });
    let base = base.await?;
    let (seen_tx, mut seen_rx) = tokio::sync::watch::channel(0u64);
    let send = async {
        let mut acked = 0;
        for i in 0..total {
            while i >= *seen_rx.borrow() + WINDOW {
                seen_rx.changed().await?;
            }
            // Feedback cards: plain text (a mergeable note would count toward the room's
            // text history cap long before 3,000 cards of 9 KB).
            let kind = create(
                &format!("n{i}"),
                "feedback",
                "root",
                "a0",
                &[("text", Value::Text(big.clone()))],
            );
            let op = writer.op(kind);
            writer
                .send(&ClientMsg::Op {
                    room: "room-1".into(),
                    op,
                })
                .await?;
            // Read acks as they come so the writer is not a slow consumer itself.
            while acked + WINDOW < i {
                if let ServerMsg::Ack { .. } = writer.recv().await? {
                    acked += 1;
                }
            }
        }
        while acked < total {
            if let ServerMsg::Ack { .. } = writer.recv().await? {
                acked += 1;
            }
        }
        anyhow::Ok(())
    };
    // The fast client receives every op, in order, while the slow one is stuck; it also sees
    // the slow one leave.
    let receive = async {
        let mut last_seq = base;
        let mut slow_left = false;
        while last_seq < base + total {
            match fast.recv().await? {
                ServerMsg::Op { seq, .. } => {
                    assert_eq!(seq, last_seq + 1, "in order, without gaps");
                    last_seq = seq;
                    seen_tx.send_replace(seq - base);
                }
                ServerMsg::Presence {
                    left: Some(who), ..
                } if who == slow_id => slow_left = true,
                _ => {}
            }
        }
        anyhow::Ok(slow_left)
    };
    let (a, b) = tokio::join!(send, receive);
    a?;
    let mut slow_left = b?;
    // It left the room's presence when its outbox overflowed, not once its close frame got
    // through a socket nobody reads (up to the 30 s write timeout).
    if !slow_left {
        let left = fast.recv_until(|m| {
            matches!(m, ServerMsg::Presence { left: Some(who), .. } if *who == slow_id)
                .then_some(())
        });
        slow_left = tokio::time::timeout(Duration::from_secs(3), left)
            .await
            .is_ok();
    }
    assert!(
        slow_left,
        "the slow consumer is still in the room's presence"
    );
    // Now the slow client reads: it finds the documented close code after what was buffered.
    assert_eq!(
        slow.recv_close().await,
        Ended::Closed(Some(close::SLOW_CONSUMER))
    );
    server.stop().await;
    Ok(())
}

#[tokio::test]
async fn silent_client_is_dropped_from_presence_after_heartbeat_timeout() -> anyhow::Result<()> {
    let server = TestServer::start_with(|c| c.heartbeat_timeout_ms = 600).await;
    let (_fac, mut clients) = team(&server, 2).await?;
    let mut silent = clients.pop().unwrap();
    let mut alive = clients.pop().unwrap();
    let silent_id = silent.participant.clone();
    // The live client keeps talking (pings) and watches presence; the silent one never reads,
    // so it never answers the server's pings.
    let watch = async {
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        loop {
            tokio::select! {
                _ = tick.tick() => alive.send(&ClientMsg::Ping { t: None }).await?,
                msg = alive.recv() => {
                    if let ServerMsg::Presence { left: Some(left), members, .. } = msg? {
                        if left == silent_id {
                            assert!(members.iter().all(|m| m.participant != silent_id));
                            return anyhow::Ok(());
                        }
                    }
                }
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), watch).await??;
    // The server sent close 4007 and dropped the socket. A client that never read cannot
    // always see that frame: its library answers the queued pings first and hits the closed
    // socket. Either way the connection is over.
    match silent.recv_close().await {
        Ended::Closed(code) => assert_eq!(code, Some(close::HEARTBEAT_TIMEOUT)),
        Ended::Error(e) => assert!(
            e.contains("Broken pipe") || e.contains("reset"),
            "unexpected end: {e}"
        ),
    }
    server.stop().await;
    Ok(())
}

#[tokio::test]
async fn graceful_shutdown_tells_clients_to_reconnect() -> anyhow::Result<()> {
    let server = TestServer::start().await;
    let (mut fac, mut clients) = team(&server, 2).await?;
    server.shutdown.cancel();
    for c in clients.iter_mut().chain(std::iter::once(&mut fac)) {
        let reconnect = c
            .recv_until(|m| matches!(m, ServerMsg::Reconnect { .. }).then_some(()))
            .await;
        assert!(reconnect.is_ok(), "reconnect notice: {reconnect:?}");
        assert_eq!(c.recv_close().await, Ended::Closed(Some(close::RESTART)));
    }
    let done = tokio::time::timeout(Duration::from_secs(10), server.task).await;
    assert!(
        matches!(done, Ok(Ok(Ok(())))),
        "server stops within the drain bound: {done:?}"
    );
    Ok(())
}

#[tokio::test]
async fn the_connection_cap_refuses_extra_connections_with_503() -> anyhow::Result<()> {
    let server = TestServer::start_with(|c| c.max_connections = 2).await;
    let created = server.create_workshop("Cap").await?;
    let first = server.connect(&created.token).await?;
    let _second = server.connect(&created.token).await?;
    match tokio_tungstenite::connect_async(server.ws_url()).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 503)
        }
        other => panic!(
            "a third connection must be refused with 503, got {:?}",
            other.map(|_| ())
        ),
    }
    // A freed slot is usable again.
    drop(first);
    let mut ok = false;
    for _ in 0..50 {
        if server.connect(&created.token).await.is_ok() {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ok, "a slot frees when a connection closes");
    server.stop().await;
    Ok(())
}

#[tokio::test]
async fn sigterm_drains_the_real_binary() -> anyhow::Result<()> {
    let dir = plenary_tests::temp_dir("sigterm");
    let mut process = plenary_tests::Process::start(&dir, &[]).await?;
    let created = plenary_tests::create_workshop_at(&process.url(""), "Term").await?;
    let mut client = Client::connect(&process.ws_url(), &created.token).await?;
    let pid = process.child.id().expect("running");
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()?;
    assert!(status.success());
    let notice = client.recv_until(|m| matches!(m, ServerMsg::Reconnect { .. }).then_some(()));
    notice.await?;
    assert_eq!(
        client.recv_close().await,
        Ended::Closed(Some(close::RESTART))
    );
    let exit = tokio::time::timeout(Duration::from_secs(10), process.child.wait()).await??;
    assert!(exit.success(), "clean exit after draining: {exit:?}");
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

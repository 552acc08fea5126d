//! Connection-level behaviour: a slow consumer, heartbeat expiry of presence, graceful shutdown.

use std::time::Duration;

use plenary_protocol::{close, ClientMsg, ServerMsg, Value};
use plenary_tests::{create, Client, Ended, TeamClass, TestServer};

/// Rate limits out of the way for tests that send bursts (the rate limit has its own tests).
fn unlimited(c: &mut plenary_tests::plenary_server::Config) {
    c.rate_per_sec = 100_000;
    c.rate_burst = 100_000;
}

/// One facilitator and `n` attendees all in team room "room-1", each joined to it.
async fn team(server: &TestServer, n: usize) -> anyhow::Result<(Client, Vec<Client>)> {
    let class = TeamClass::on(server, "Connections", n).await?;
    let clients = class.connect(server, true).await?;
    Ok((class.fac, clients))
}

#[tokio::test]
async fn slow_consumer_is_closed_and_does_not_hold_up_its_room() -> anyhow::Result<()> {
    let server = TestServer::start_with(unlimited).await;
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
    // The store was closed, not abandoned: its writer thread committed, completed a last
    // checkpoint and was joined, so the database file holds everything and the WAL is empty.
    let wal = std::fs::metadata(dir.join("plenary.db-wal")).map_or(0, |m| m.len());
    assert_eq!(wal, 0, "WAL bytes left after a clean stop");
    // And it is all there: the facilitator's token still opens the workshop.
    let process = plenary_tests::Process::start(&dir, &[]).await?;
    let again = Client::connect(&process.ws_url(), &created.token).await?;
    assert_eq!(again.view.title, "Term");
    process.kill().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Snapshots answering joins go outside the outbox's 1 MiB bound but within a budget of their
/// own (16 MiB): a client that sends joins without reading the answers is closed as a slow
/// consumer (issue #18: every join queued a full snapshot, without limit).
#[tokio::test]
async fn repeated_joins_stay_within_the_outbox_budget() -> anyhow::Result<()> {
    let server = TestServer::start_with(unlimited).await;
    let (_fac, mut clients) = team(&server, 2).await?;
    let mut spammer = clients.pop().unwrap();
    let mut writer = clients.pop().unwrap();
    // About 315 KB of document.
    let big = "x".repeat(9_000);
    for i in 0..35 {
        let card = create(
            &format!("c{i}"),
            "feedback",
            "root",
            "a0",
            &[("text", Value::Text(big.clone()))],
        );
        assert!(writer.apply("room-1", card).await?.is_ok());
    }
    // 200 joins (63 MB of snapshots, well beyond the budget and what the sockets buffer) sent
    // without reading a byte.
    for _ in 0..200 {
        let join = ClientMsg::Join {
            room: "room-1".into(),
            epoch: None,
            seq: None,
        };
        spammer.send(&join).await?;
    }
    assert_eq!(
        spammer.recv_close().await,
        Ended::Closed(Some(close::SLOW_CONSUMER))
    );
    // The room goes on for everyone else.
    let card = create(
        "after",
        "feedback",
        "root",
        "a0",
        &[("text", Value::Text("ok".into()))],
    );
    assert!(writer.apply("room-1", card).await?.is_ok());
    server.stop().await;
    Ok(())
}

/// A WebSocket opened by hand, so that the test can send frames that a client library refuses
/// to send: returns the socket right after the upgrade.
async fn raw_socket(ws_url: &str) -> anyhow::Result<tokio::net::TcpStream> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = ws_url.strip_prefix("ws://").expect("a ws:// url");
    let (host, path) = rest.split_once('/').expect("a path");
    let mut tcp = tokio::net::TcpStream::connect(host).await?;
    let request = format!(
        "GET /{path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    tcp.write_all(request.as_bytes()).await?;
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        anyhow::ensure!(tcp.read(&mut byte).await? == 1, "closed during the upgrade");
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    anyhow::ensure!(head.starts_with("HTTP/1.1 101"), "upgrade refused: {head}");
    Ok(tcp)
}

/// One frame from client to server: FIN set, `opcode`, masked with a fixed key unless `masked`
/// is false (which the protocol forbids).
fn client_frame(opcode: u8, payload: &[u8], masked: bool) -> Vec<u8> {
    let mut out = vec![0x80 | opcode];
    let mask_bit = if masked { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => out.push(mask_bit | n as u8),
        n if n <= u16::MAX as usize => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    if masked {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        out.extend_from_slice(&key);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    } else {
        out.extend_from_slice(payload);
    }
    out
}

/// Reads server frames until a close frame and returns its code (`None`: the connection ended
/// without one, or was reset).
async fn close_code(tcp: &mut tokio::net::tcp::OwnedReadHalf) -> Option<u16> {
    use tokio::io::AsyncReadExt;
    let mut buf = Vec::new();
    let read_all = async {
        let mut chunk = [0u8; 64 * 1024];
        loop {
            match tcp.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
            // Stop at the first complete close frame.
            if find_close(&buf).is_some() {
                return;
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(10), read_all).await;
    find_close(&buf)
}

/// The code of the first close frame in `buf` (server frames are not masked).
fn find_close(buf: &[u8]) -> Option<u16> {
    let mut at = 0;
    while at + 2 <= buf.len() {
        let opcode = buf[at] & 0x0f;
        let (len, head) = match buf[at + 1] & 0x7f {
            126 if at + 4 <= buf.len() => {
                (u16::from_be_bytes([buf[at + 2], buf[at + 3]]) as usize, 4)
            }
            127 if at + 10 <= buf.len() => {
                let mut n = [0u8; 8];
                n.copy_from_slice(&buf[at + 2..at + 10]);
                (u64::from_be_bytes(n) as usize, 10)
            }
            126 | 127 => return None,
            n => (n as usize, 2),
        };
        let body = at + head;
        if body + len > buf.len() {
            return None;
        }
        if opcode == 0x8 && len >= 2 {
            return Some(u16::from_be_bytes([buf[body], buf[body + 1]]));
        }
        at = body + len;
    }
    None
}

/// What breaks the WebSocket protocol is closed with its RFC 6455 code, and a message over the
/// cap with 1009 that the client actually receives (issue #18: protocol violations closed with
/// 1000, and after a large message the server reset the connection, so the 1009 was lost).
#[tokio::test]
async fn protocol_violations_close_with_their_code() -> anyhow::Result<()> {
    use tokio::io::AsyncWriteExt;
    let server = TestServer::start().await;
    let big = vec![b'x'; 1 << 20];
    let cases: [(&str, Vec<u8>, u16); 5] = [
        ("reserved opcode", client_frame(0x3, b"", true), 1002),
        (
            "text that is not UTF-8",
            client_frame(0x1, &[0x7b, 0xff, 0xfe, 0x7d], true),
            1007,
        ),
        (
            "unmasked frame",
            client_frame(0x1, br#"{"type":"ping"}"#, false),
            1002,
        ),
        (
            "control frame over 125 bytes",
            client_frame(0x9, &[0u8; 126], true),
            1002,
        ),
        (
            "a 1 MiB message",
            client_frame(0x1, &big, true),
            close::TOO_BIG,
        ),
    ];
    for (what, frame, want) in cases {
        let (mut read, mut write) = raw_socket(&server.ws_url()).await?.into_split();
        // Written from a task of its own: the server stops reading a message over the cap, so
        // the write may only finish once the connection is gone.
        let writing = tokio::spawn(async move {
            let _ = write.write_all(&frame).await;
            write
        });
        assert_eq!(close_code(&mut read).await, Some(want), "{what}");
        writing.abort();
    }
    // A message over the cap after the hello, from a client library.
    let created = server.create_workshop("Big").await?;
    let mut client = server.connect(&created.token).await?;
    client.send_text("x".repeat(256 * 1024)).await?;
    assert_eq!(
        client.recv_close().await,
        Ended::Closed(Some(close::TOO_BIG))
    );
    server.stop().await;
    Ok(())
}

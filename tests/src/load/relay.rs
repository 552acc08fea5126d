//! A MEASURING STICK, NOT PRODUCT CODE: the least a WebSocket broadcast server can do on this
//! machine. Every text frame a connection sends to `/ws?room=N` is forwarded to every connection
//! of room N, the sender included (its echo is its ack). No parsing, no validation, no storage,
//! no ordering guarantees beyond one lock per room. The load generator drives it with the same
//! frames as Plenary, so reports can state Plenary's throughput as a share of this ceiling.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::Message;

/// Frames queued per connection; when full the frame is dropped and counted.
const QUEUE: usize = 4_096;

type Rooms = Arc<Mutex<HashMap<String, Vec<(u64, mpsc::Sender<Message>)>>>>;

/// Serves the relay on `listener` until the task is dropped. Returns the count of dropped frames.
pub async fn serve(listener: TcpListener) -> anyhow::Result<()> {
    let rooms: Rooms = Arc::default();
    let dropped = Arc::new(AtomicU64::new(0));
    let next = AtomicU64::new(1);
    loop {
        let (tcp, _) = listener.accept().await?;
        let _ = tcp.set_nodelay(true);
        let id = next.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(connection(tcp, id, rooms.clone(), dropped.clone()));
    }
}

// The handshake callback's error type is tungstenite's; it is never returned here.
#[allow(clippy::result_large_err)]
async fn connection(tcp: TcpStream, id: u64, rooms: Rooms, dropped: Arc<AtomicU64>) {
    let mut room = String::new();
    let callback = |req: &Request, res: Response| {
        room = req
            .uri()
            .query()
            .and_then(|q| q.strip_prefix("room="))
            .unwrap_or("0")
            .to_owned();
        Ok(res)
    };
    // Small buffers, as Plenary's: tungstenite zero-fills its read buffer before every read.
    let config = crate::ws_config();
    let Ok(ws) = tokio_tungstenite::accept_hdr_async_with_config(tcp, callback, Some(config)).await
    else {
        return;
    };
    let (mut sink, mut stream) = ws.split();
    let (tx, mut rx) = mpsc::channel::<Message>(QUEUE);
    rooms
        .lock()
        .expect("rooms lock")
        .entry(room.clone())
        .or_default()
        .push((id, tx));
    let writer = tokio::spawn(async move {
        while let Some(m) = rx.recv().await {
            if sink.send(m).await.is_err() {
                break;
            }
        }
    });
    while let Some(Ok(message)) = stream.next().await {
        if let Message::Text(_) = message {
            let members = rooms
                .lock()
                .expect("rooms lock")
                .get(&room)
                .cloned()
                .unwrap_or_default();
            for (_, tx) in members {
                if tx.try_send(message.clone()).is_err() {
                    dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
    if let Some(list) = rooms.lock().expect("rooms lock").get_mut(&room) {
        list.retain(|(m, _)| *m != id);
    }
    writer.abort();
}

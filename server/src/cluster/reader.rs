//! The node's one stream reader (a blocking XREAD over every followed stream, entries handed to
//! room actors and workshops) and its Redis health check.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use redis::{RedisResult, Value};
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::{
    parse_entries, room_entry, text, Entry, Redis, Sub, Subscriber, WorkshopEvent, HEALTH_EVERY,
    HEALTH_TIMEOUT, QUARANTINE, READ_BLOCK_MS, READ_COUNT, RESPONSE_TIMEOUT,
};

/// Pings Redis every [`HEALTH_EVERY`] and records whether it answered within
/// [`HEALTH_TIMEOUT`]; every other command's outcome updates the same flag.
pub(super) async fn health_loop(node: Arc<Redis>, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(HEALTH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.cancelled() => return,
        }
        let mut conn = node.conn();
        let cmd = redis::cmd("PING");
        let ping = cmd.query_async::<String>(&mut conn);
        let answered = matches!(tokio::time::timeout(HEALTH_TIMEOUT, ping).await, Ok(Ok(_)));
        node.healthy.store(answered, Ordering::Relaxed);
    }
}

/// The node's one reader: a blocking XREAD over every followed stream, entries handed to the
/// subscribers without waiting. A subscriber whose queue is full keeps its position and is read
/// again later; a stream that makes XREAD fail is left out for a while. Neither holds up the
/// other streams.
pub(super) async fn read_loop(redis: Arc<Redis>, shutdown: CancellationToken) {
    let mut conn: Option<MultiplexedConnection> = None;
    loop {
        if shutdown.is_cancelled() {
            return;
        }
        let now = Instant::now();
        let streams: Vec<(String, String)> = {
            let subs = redis.subs.lock().expect("subs lock");
            subs.iter()
                .filter(|(_, s)| s.quarantined_until.is_none_or(|t| t <= now))
                .map(|(k, s)| (k.clone(), s.last.clone()))
                .collect()
        };
        if streams.is_empty() {
            tokio::select! {
                _ = redis.subs_changed.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(READ_BLOCK_MS)) => {}
                _ = shutdown.cancelled() => return,
            }
            continue;
        }
        if conn.is_none() {
            match redis.reader_connection().await {
                Ok(c) => conn = Some(c),
                Err(e) => {
                    debug!(error = %e, "redis reader cannot connect");
                    redis.healthy.store(false, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            }
        }
        let c = conn.as_mut().expect("connected above");
        let mut cmd = redis::cmd("XREAD");
        cmd.arg("COUNT")
            .arg(READ_COUNT)
            .arg("BLOCK")
            .arg(READ_BLOCK_MS)
            .arg("STREAMS");
        for (k, _) in &streams {
            cmd.arg(k);
        }
        for (_, id) in &streams {
            cmd.arg(id);
        }
        let read = tokio::select! {
            r = tokio::time::timeout(RESPONSE_TIMEOUT + Duration::from_millis(READ_BLOCK_MS), cmd.query_async::<Value>(c)) => r,
            _ = shutdown.cancelled() => return,
        };
        let reply = match read {
            Ok(Ok(v)) => v,
            Ok(Err(e))
                if e.kind() == redis::ErrorKind::TypeError
                    || e.code() == Some("WRONGTYPE")
                    || e.code() == Some("ERR") =>
            {
                // One stream is broken (wrong type, bad id): find it and leave it out.
                isolate(&redis, c, &streams).await;
                continue;
            }
            Ok(Err(e)) => {
                debug!(error = %e, "redis read failed");
                redis.healthy.store(false, Ordering::Relaxed);
                conn = None;
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            Err(_) => {
                conn = None;
                continue;
            }
        };
        deliver(&redis, &reply);
    }
}

/// Hands the entries of an XREAD reply to their subscribers.
fn deliver(redis: &Redis, reply: &Value) {
    deliver_to(&mut redis.subs.lock().expect("subs lock"), reply);
}

fn deliver_to(subs: &mut HashMap<String, Sub>, reply: &Value) {
    let Value::Array(streams) = reply else { return };
    for stream in streams {
        let Value::Array(pair) = stream else { continue };
        let Some(key) = pair.first().and_then(text) else {
            continue;
        };
        let Some(entries) = pair.get(1) else { continue };
        let Some(sub) = subs.get_mut(&key) else {
            continue;
        };
        let parsed = parse_entries(entries);
        match &sub.subscriber {
            Subscriber::Room(tx) => {
                let Some(last) = parsed.last().map(|(id, _)| id.clone()) else {
                    continue;
                };
                let batch: Vec<Entry> = parsed
                    .iter()
                    .filter_map(|(id, f)| room_entry(id, f))
                    .collect();
                // A full room queue keeps its position: the same entries are read again later.
                if tx.try_send(batch).is_ok() {
                    sub.last = last;
                }
            }
            Subscriber::Workshop(tx) => {
                // Each event moves the position once it is queued: a queue that fills part-way
                // gets the rest from a later read, and no event twice (a timer event delivered
                // twice would ring twice on every screen).
                for (id, f) in &parsed {
                    let version = f.get("v").and_then(|v| v.parse().ok()).unwrap_or(0);
                    let event = WorkshopEvent {
                        version,
                        fields: f.clone(),
                    };
                    if tx.try_send(event).is_err() {
                        break;
                    }
                    sub.last = id.clone();
                }
            }
        }
    }
}

/// Reads each stream alone to find those that make XREAD fail, and quarantines them.
async fn isolate(redis: &Redis, conn: &mut MultiplexedConnection, streams: &[(String, String)]) {
    for (key, id) in streams {
        let one: RedisResult<Value> = redis::cmd("XREAD")
            .arg("COUNT")
            .arg(1)
            .arg("STREAMS")
            .arg(key)
            .arg(id)
            .query_async(conn)
            .await;
        if let Err(e) = one {
            warn!(key, error = %e, "stream left out of fan-out for a while");
            if let Some(sub) = redis.subs.lock().expect("subs lock").get_mut(key) {
                sub.quarantined_until = Some(Instant::now() + QUARANTINE);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::sync::mpsc;

    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    /// An XREAD reply for stream `key` with workshop events `<n>-0` of version `n`.
    fn reply(key: &str, ids: std::ops::RangeInclusive<u64>) -> Value {
        let entries = ids
            .map(|n| {
                let fields = Value::Array(vec![bulk("v"), bulk(&n.to_string())]);
                Value::Array(vec![bulk(&format!("{n}-0")), fields])
            })
            .collect();
        Value::Array(vec![Value::Array(vec![bulk(key), Value::Array(entries)])])
    }

    /// Issue #18: a workshop's event queue that filled part-way kept its old position, so the
    /// events it had taken were read and delivered again.
    #[test]
    fn a_workshop_queue_that_fills_part_way_gets_each_event_once() {
        let (tx, mut rx) = mpsc::channel(3);
        let mut subs = HashMap::new();
        let sub = Sub {
            last: "0-0".into(),
            subscriber: Subscriber::Workshop(tx),
            quarantined_until: None,
        };
        subs.insert("w".to_owned(), sub);
        let mut seen = Vec::new();
        // Like the reader, read from the position each time; the queue takes three at a time.
        for _ in 0..10 {
            let from: u64 = subs["w"].last.split('-').next().unwrap().parse().unwrap();
            if from == 8 {
                break;
            }
            deliver_to(&mut subs, &reply("w", from + 1..=8));
            while let Ok(event) = rx.try_recv() {
                seen.push(event.version);
            }
        }
        assert_eq!(seen, (1..=8).collect::<Vec<u64>>());
        assert_eq!(subs["w"].last, "8-0");
    }
}

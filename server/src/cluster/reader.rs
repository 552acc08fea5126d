//! How a node gets what other nodes wrote: the push loop (room entries published by the append
//! script, on one Pub/Sub connection, plus a sweep of the followed logs for what no message
//! brought), the blocking reader of workshop event streams, and the Redis health check.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use redis::aio::MultiplexedConnection;
use redis::{RedisResult, Value};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::{
    keys::{log_of_push, push_channel},
    parse_entries, room_entry, text, Entry, Redis, Sub, Subscriber, WorkshopEvent, HEALTH_EVERY,
    HEALTH_TIMEOUT, QUARANTINE, READ_BLOCK_MS, READ_COUNT, RESPONSE_TIMEOUT, SWEEP_EVERY,
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

/// The node's reader of workshop event streams: a blocking XREAD over every followed one, events
/// handed to the workshops without waiting. A subscriber whose queue is full keeps its position
/// and is read again later; a stream that makes XREAD fail is left out for a while. Neither
/// holds up the other streams. (Room logs come through [`push_loop`].)
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
                .filter(|(_, s)| matches!(s.subscriber, Subscriber::Workshop(_)))
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
            Subscriber::Room(_) => deliver_room(sub, &parsed),
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

/// Hands a room's entries (from a pushed message or a sweep) to its actor: only those after
/// what it was given already, and the position moves only forward, so a sweep and a message
/// that carry the same entries deliver them once. A full room queue keeps its position: the
/// next sweep reads the same entries again. (The room ignores an entry it has and fills a gap
/// from the log itself.)
fn deliver_room(sub: &mut Sub, parsed: &[(String, HashMap<String, String>)]) {
    let Subscriber::Room(tx) = &sub.subscriber else {
        return;
    };
    let from = seq_of(&sub.last);
    let batch: Vec<Entry> = parsed
        .iter()
        .filter_map(|(id, f)| room_entry(id, f))
        .filter(|e| e.seq > from)
        .collect();
    let Some(last) = batch.last().map(|e| e.seq) else {
        return;
    };
    if tx.try_send(batch).is_ok() {
        sub.last = format!("{last}-1");
    }
}

/// The seq of a room stream id (`<seq>-1`); 0 for anything else.
fn seq_of(id: &str) -> u64 {
    id.split('-')
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// What the push loop is asked to do with a room's channel.
#[derive(Debug)]
pub(super) enum PushCmd {
    Subscribe(String),
    Unsubscribe(String),
}

/// The push loop: one Pub/Sub connection subscribed to the channel of every room log the node
/// follows, each message's entries handed to the room at once; and a sweep of those logs (one
/// XREAD, not blocking) right after every (re)subscription and every [`SWEEP_EVERY`], which
/// delivers what was appended before a subscription took effect or while the connection was
/// down. A lost connection is made again and every channel subscribed again.
pub(super) async fn push_loop(
    redis: Arc<Redis>,
    mut cmds: mpsc::UnboundedReceiver<PushCmd>,
    shutdown: CancellationToken,
) {
    let mut sweep_conn: Option<MultiplexedConnection> = None;
    let mut tick = tokio::time::interval(SWEEP_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    'connect: loop {
        let pubsub = tokio::select! {
            p = tokio::time::timeout(RESPONSE_TIMEOUT, redis.client.get_async_pubsub()) => p,
            _ = shutdown.cancelled() => return,
        };
        let (mut sink, mut messages) = match pubsub {
            Ok(Ok(p)) => p.split(),
            Ok(Err(e)) => {
                debug!(error = %e, "redis push connection failed");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            Err(_) => continue,
        };
        // Everything followed now; subscriptions asked for meanwhile are in `cmds` and are
        // made (again, harmlessly) below.
        let channels: Vec<String> = redis
            .subs
            .lock()
            .expect("subs lock")
            .iter()
            .filter(|(_, s)| matches!(s.subscriber, Subscriber::Room(_)))
            .map(|(k, _)| push_channel(k))
            .collect();
        if !channels.is_empty() && sink.subscribe(&channels).await.is_err() {
            continue;
        }
        let mut sweep_due = true;
        loop {
            if std::mem::take(&mut sweep_due) {
                sweep(&redis, &mut sweep_conn).await;
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                cmd = cmds.recv() => match cmd {
                    None => return,
                    Some(PushCmd::Subscribe(channel)) => {
                        if sink.subscribe(&channel).await.is_err() {
                            continue 'connect;
                        }
                        sweep_due = true;
                    }
                    Some(PushCmd::Unsubscribe(channel)) => {
                        if sink.unsubscribe(&channel).await.is_err() {
                            continue 'connect;
                        }
                    }
                },
                msg = messages.next() => match msg {
                    Some(msg) => on_push(&redis, msg.get_channel_name(), msg.get_payload_bytes()),
                    None => {
                        debug!("redis push connection lost");
                        continue 'connect;
                    }
                },
                _ = tick.tick() => sweep_due = true,
            }
        }
    }
}

/// Hands the entries of one pushed message to the room that follows `channel`.
fn on_push(redis: &Redis, channel: &str, payload: &[u8]) {
    let Some(key) = log_of_push(channel) else {
        return;
    };
    let Some(parsed) = parse_push(payload) else {
        warn!(channel, "a pushed message that does not parse was ignored");
        return;
    };
    if let Some(sub) = redis.subs.lock().expect("subs lock").get_mut(&key) {
        deliver_room(sub, &parsed);
    }
}

/// The entries of a pushed message: a JSON list of `[stream id, field, value, ...]`.
fn parse_push(payload: &[u8]) -> Option<Vec<(String, HashMap<String, String>)>> {
    let entries: Vec<Vec<String>> = serde_json::from_slice(payload).ok()?;
    let parsed = entries
        .into_iter()
        .filter_map(|mut e| {
            if e.is_empty() {
                return None;
            }
            let id = e.remove(0);
            let fields = e
                .chunks(2)
                .filter_map(|c| Some((c.first()?.clone(), c.get(1)?.clone())))
                .collect();
            Some((id, fields))
        })
        .collect();
    Some(parsed)
}

/// Reads every followed room log after its position, without blocking, and delivers what it
/// finds: entries that no pushed message brought.
async fn sweep(redis: &Redis, conn: &mut Option<MultiplexedConnection>) {
    let now = Instant::now();
    let streams: Vec<(String, String)> = redis
        .subs
        .lock()
        .expect("subs lock")
        .iter()
        .filter(|(_, s)| matches!(s.subscriber, Subscriber::Room(_)))
        .filter(|(_, s)| s.quarantined_until.is_none_or(|t| t <= now))
        .map(|(k, s)| (k.clone(), s.last.clone()))
        .collect();
    if streams.is_empty() {
        return;
    }
    if conn.is_none() {
        match tokio::time::timeout(RESPONSE_TIMEOUT, redis.reader_connection()).await {
            Ok(Ok(c)) => *conn = Some(c),
            _ => return,
        }
    }
    let c = conn.as_mut().expect("connected above");
    let mut cmd = redis::cmd("XREAD");
    cmd.arg("COUNT").arg(READ_COUNT).arg("STREAMS");
    for (k, _) in &streams {
        cmd.arg(k);
    }
    for (_, id) in &streams {
        cmd.arg(id);
    }
    match tokio::time::timeout(RESPONSE_TIMEOUT, cmd.query_async::<Value>(c)).await {
        Ok(Ok(reply)) => deliver(redis, &reply),
        Ok(Err(e))
            if e.kind() == redis::ErrorKind::TypeError
                || e.code() == Some("WRONGTYPE")
                || e.code() == Some("ERR") =>
        {
            isolate(redis, c, &streams).await;
        }
        Ok(Err(e)) => {
            debug!(error = %e, "redis sweep failed");
            *conn = None;
        }
        Err(_) => *conn = None,
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

    /// A pushed message as the append script encodes it (cjson escapes `/` as `\/`), for seqs
    /// `seqs`.
    fn pushed(seqs: std::ops::RangeInclusive<u64>) -> Vec<u8> {
        let entries: Vec<String> = seqs
            .map(|n| {
                format!(
                    r#"["{n}-1","op","{{\"id\":\"o{n}\",\"stamp\":{{\"clock\":{n},\"client\":\"p-1\"}},\"action\":\"delete\",\"object\":\"a\/b\"}}","p","p-1"]"#
                )
            })
            .collect();
        format!("[{}]", entries.join(",")).into_bytes()
    }

    /// A room is given each entry once and in order, whether it comes from a pushed message, a
    /// sweep that overlaps it, or both; a full queue keeps the position for the next sweep.
    #[test]
    fn pushed_and_swept_entries_reach_a_room_once() {
        let (tx, mut rx) = mpsc::channel(2);
        let mut sub = Sub {
            last: "2-1".into(),
            subscriber: Subscriber::Room(tx),
            quarantined_until: None,
        };
        let seqs = |rx: &mut mpsc::Receiver<Vec<Entry>>| -> Vec<u64> {
            let mut out = Vec::new();
            while let Ok(batch) = rx.try_recv() {
                out.extend(batch.iter().map(|e| e.seq));
            }
            out
        };
        // A message with entries 1-4 (the room had 1-2): only 3 and 4 are handed over.
        deliver_room(&mut sub, &parse_push(&pushed(1..=4)).expect("parses"));
        assert_eq!(seqs(&mut rx), [3, 4]);
        assert_eq!(sub.last, "4-1");
        let entries = parse_push(&pushed(5..=5)).expect("parses");
        let op = room_entry(&entries[0].0, &entries[0].1).and_then(|e| e.op);
        assert_eq!(
            op.map(|o| o.op.kind.object().to_owned()),
            Some("a/b".to_owned())
        );
        // A sweep that read 3-6 while the messages for 5-6 were on their way: 5 and 6 once.
        deliver_room(&mut sub, &parse_push(&pushed(3..=6)).expect("parses"));
        deliver_room(&mut sub, &parse_push(&pushed(5..=6)).expect("parses"));
        assert_eq!(seqs(&mut rx), [5, 6]);
        // The queue (2 batches) fills: the third batch is not taken and the position stays.
        deliver_room(&mut sub, &parse_push(&pushed(7..=7)).expect("parses"));
        deliver_room(&mut sub, &parse_push(&pushed(8..=8)).expect("parses"));
        deliver_room(&mut sub, &parse_push(&pushed(9..=9)).expect("parses"));
        assert_eq!(sub.last, "8-1");
        assert_eq!(seqs(&mut rx), [7, 8]);
        // The next sweep brings 9.
        deliver_room(&mut sub, &parse_push(&pushed(7..=9)).expect("parses"));
        assert_eq!(seqs(&mut rx), [9]);
        assert!(parse_push(b"{not json").is_none());
    }
}

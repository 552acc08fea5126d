//! Multi-node mode: several Plenary nodes share workshops and rooms through Redis.
//!
//! * Each room's order is assigned in Redis: a Lua script deduplicates op ids, takes the next
//!   seq with INCR and appends the op to the room's stream `{room}:log` with the entry id
//!   `<seq>-1`, all atomically. No node holds a room's only copy.
//! * The ordering script also publishes each append's entries on the room's Pub/Sub channel;
//!   every node subscribes to the channels of the rooms that have members on it and hands the
//!   entries to the local room actors, which apply, acknowledge and broadcast them in seq
//!   order. A room that sees a gap reads it from the log; a sweep (one XREAD over the followed
//!   logs, every [`SWEEP_EVERY`] and after each (re)subscription) delivers what a lost message
//!   or connection would otherwise hold back. Workshop event streams, a few events a minute,
//!   are read with one blocking XREAD loop.
//! * Workshop state is one JSON document per workshop, changed by compare-and-set on its
//!   version; every change appends an event to the workshop's stream so that all nodes reload it
//!   (and push timer events to their clients exactly once per change).
//! * Snapshots with the seq they reflect live in `{room}:snap`; the log is trimmed behind them.
//! * Presence: each node keeps its members of a room in `{room}:pres:{node}` with a TTL that its
//!   refreshes renew; a dead node's members disappear when the TTL runs out.
//!
//! Every key of a room or workshop carries a hash tag (`{w-…:room-1}`, `{w-…}`), so Redis
//! Cluster can shard them; each script touches one tag only.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use plenary_protocol::{Doc, Member, Op, OpKind, SealedEntry};
use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use redis::{RedisResult, Script, Value};
use tokio::sync::{mpsc, Notify};
use tokio_util::sync::CancellationToken;
use tracing::warn;

mod keys;
mod reader;
mod scripts;
mod workshop;

use keys::{code_key, push_channel};
pub use keys::{workshop_keys, RoomKeys};
use reader::{health_loop, push_loop, read_loop, PushCmd};
use scripts::{APPEND, CAS, SNAPSHOT};
pub use workshop::{follow_workshop, timer_fields};

use crate::room::DEDUP_OP_IDS;
use crate::store::{StoreError, StoredOp};

/// How long a room's op ids stay in Redis after its last op: the default token lifetime, so a
/// client that can still reconnect finds its pending ops recognized.
pub const DEDUP_IDLE_SECS: u64 = 72 * 3_600;
/// Presence entries of a node expire this long after its last refresh.
pub const PRESENCE_TTL: Duration = Duration::from_secs(5);
/// How often room actors refresh their presence entry and read the other nodes'.
pub const PRESENCE_REFRESH: Duration = Duration::from_secs(1);
/// Longest a blocking XREAD waits, so that new subscriptions are picked up.
const READ_BLOCK_MS: u64 = 100;
/// How often the push loop reads the followed room logs for entries that no message brought.
pub const SWEEP_EVERY: Duration = Duration::from_secs(1);
/// Entries read per stream per XREAD.
const READ_COUNT: usize = 512;
/// How long a stream that made XREAD fail is left out before it is tried again.
const QUARANTINE: Duration = Duration::from_secs(5);
/// Timeout of one Redis command.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a batch of ops whose append lost its answer is sent again (the append is idempotent
/// by op id) to find out whether it was applied, before its ops are answered `outcome_unknown`.
pub const OUTCOME_WAIT: Duration = Duration::from_secs(5);
/// The pause between those attempts.
const OUTCOME_RETRY: Duration = Duration::from_millis(200);
/// How often the node checks that Redis answers, for `/readyz` (which then answers at once from
/// what the node knows), and how long it waits for the answer.
const HEALTH_EVERY: Duration = Duration::from_millis(500);
const HEALTH_TIMEOUT: Duration = Duration::from_millis(400);

/// What appending one op gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Appended {
    /// Ordered at this seq.
    New(u64),
    /// The op id was seen before, at this seq, from this participant.
    Duplicate(u64, String),
    /// A seal or reveal of an object that was revealed already: nothing was written.
    Revealed,
}

/// Why an append has no answer.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// The script did not run: nothing was written.
    #[error("not applied: {0}")]
    NotApplied(StoreError),
    /// The script may have run, and Redis did not answer again within [`OUTCOME_WAIT`].
    #[error("outcome unknown: {0}")]
    Unknown(StoreError),
}

/// A room's state as read from Redis when a node starts serving it.
pub struct LoadedRoom {
    pub epoch: u64,
    pub snapshot_seq: u64,
    pub doc: Doc,
    /// Entries after the snapshot (and a little before it, for catch-up), ascending.
    pub entries: Vec<Entry>,
}

/// One entry of a room log. `op` is `None` for an entry that does not decode (it is skipped).
#[derive(Debug, Clone)]
pub struct Entry {
    pub seq: u64,
    pub op: Option<StoredOp>,
}

/// An event of a workshop stream: the state's new version and fields about timer events.
#[derive(Debug, Clone, Default)]
pub struct WorkshopEvent {
    pub version: u64,
    pub fields: HashMap<String, String>,
}

/// Where the reader delivers entries.
#[derive(Clone)]
pub enum Subscriber {
    Room(mpsc::Sender<Vec<Entry>>),
    Workshop(mpsc::Sender<WorkshopEvent>),
}

struct Sub {
    /// The last stream id delivered.
    last: String,
    subscriber: Subscriber,
    /// Set when the stream made XREAD fail; left out until then.
    quarantined_until: Option<Instant>,
}

/// The shared Redis backend of one node.
pub struct Redis {
    client: redis::Client,
    conn: ConnectionManager,
    pub node: String,
    append: Script,
    snapshot: Script,
    cas: Script,
    healthy: AtomicBool,
    /// Streams the reader follows, by key. A std mutex: only map operations under it.
    subs: Mutex<HashMap<String, Sub>>,
    subs_changed: Notify,
    /// (Un)subscriptions of room channels, for the push loop.
    push: mpsc::UnboundedSender<PushCmd>,
    /// The stream reader and the health check, which end on shutdown; see [`Redis::stopped`].
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

fn err(e: redis::RedisError) -> StoreError {
    StoreError::Unavailable(format!("redis: {e}"))
}

impl Redis {
    /// Connects to `url` and starts the stream reader.
    pub async fn connect(
        url: &str,
        node: String,
        shutdown: CancellationToken,
    ) -> Result<Arc<Self>, StoreError> {
        let client = redis::Client::open(url)
            .map_err(|e| StoreError::Unavailable(format!("bad redis url {url}: {e}")))?;
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(RESPONSE_TIMEOUT)
            .set_connection_timeout(RESPONSE_TIMEOUT)
            .set_number_of_retries(2)
            .set_max_delay(500);
        let conn = ConnectionManager::new_with_config(client.clone(), config)
            .await
            .map_err(|e| {
                StoreError::Unavailable(format!("cannot connect to redis at {url}: {e}"))
            })?;
        let (push, push_rx) = mpsc::unbounded_channel();
        let redis = Arc::new(Redis {
            client,
            conn,
            node,
            append: Script::new(APPEND),
            snapshot: Script::new(SNAPSHOT),
            cas: Script::new(CAS),
            healthy: AtomicBool::new(true),
            subs: Mutex::new(HashMap::new()),
            tasks: Mutex::new(Vec::new()),
            subs_changed: Notify::new(),
            push,
        });
        let tasks = vec![
            tokio::spawn(health_loop(redis.clone(), shutdown.clone())),
            tokio::spawn(read_loop(redis.clone(), shutdown.clone())),
            tokio::spawn(push_loop(redis.clone(), push_rx, shutdown)),
        ];
        *redis.tasks.lock().expect("tasks lock") = tasks;
        Ok(redis)
    }

    fn conn(&self) -> ConnectionManager {
        self.conn.clone()
    }

    fn mark<T>(&self, result: RedisResult<T>) -> Result<T, StoreError> {
        match result {
            Ok(v) => {
                self.healthy.store(true, Ordering::Relaxed);
                Ok(v)
            }
            Err(e) => {
                if e.is_io_error()
                    || e.is_timeout()
                    || e.is_connection_dropped()
                    || e.is_connection_refusal()
                {
                    self.healthy.store(false, Ordering::Relaxed);
                }
                Err(err(e))
            }
        }
    }

    /// Waits until the stream reader and the health check have ended (they do once the
    /// node's shutdown token is cancelled).
    pub async fn stopped(&self) {
        let tasks = std::mem::take(&mut *self.tasks.lock().expect("tasks lock"));
        for task in tasks {
            let _ = task.await;
        }
    }

    /// Whether Redis answered the last command or health check (for `/readyz`).
    pub fn healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    /// Follows `key` from after stream id `last`: a room log through its push channel (and
    /// the sweep), a workshop's events through the blocking reader.
    pub fn subscribe(&self, key: String, last: String, subscriber: Subscriber) {
        let room = matches!(subscriber, Subscriber::Room(_));
        let channel = push_channel(&key);
        self.subs.lock().expect("subs lock").insert(
            key,
            Sub {
                last,
                subscriber,
                quarantined_until: None,
            },
        );
        if room {
            // The loop ends only on shutdown, when nothing needs entries any more.
            let _ = self.push.send(PushCmd::Subscribe(channel));
        } else {
            self.subs_changed.notify_one();
        }
    }

    pub fn unsubscribe(&self, key: &str) {
        let removed = self.subs.lock().expect("subs lock").remove(key);
        if let Some(Sub {
            subscriber: Subscriber::Room(_),
            ..
        }) = removed
        {
            let _ = self.push.send(PushCmd::Unsubscribe(push_channel(key)));
        }
    }

    /// Orders `ops` (public form, with their senders and sealed actions, see [`sealed_action`])
    /// in the room's log; one answer per op, in order. When the answer is lost (the connection
    /// broke or timed out after the script may have run), the same batch is sent again until
    /// Redis answers, for at most [`OUTCOME_WAIT`]: the script answers an op id it has seen with
    /// its seq, so a batch that was applied is found out, and never applied twice.
    pub async fn append(
        &self,
        keys: &RoomKeys,
        ops: &[(Op, String, String)],
    ) -> Result<Vec<Appended>, AppendError> {
        let deadline = tokio::time::Instant::now() + OUTCOME_WAIT;
        let mut maybe_applied = false;
        loop {
            let attempt = tokio::time::timeout_at(deadline, self.append_once(keys, ops)).await;
            let (error, lost_answer) = match attempt {
                Ok(Ok(appended)) => return Ok(appended),
                Ok(Err((error, lost_answer))) => (error, lost_answer),
                Err(_) => (StoreError::Unavailable("no answer from redis".into()), true),
            };
            maybe_applied |= lost_answer;
            if !maybe_applied {
                return Err(AppendError::NotApplied(error));
            }
            if tokio::time::Instant::now() + OUTCOME_RETRY >= deadline {
                return Err(AppendError::Unknown(error));
            }
            tokio::time::sleep(OUTCOME_RETRY).await;
        }
    }

    /// One append; an error says whether the script may have run (the answer was lost).
    async fn append_once(
        &self,
        keys: &RoomKeys,
        ops: &[(Op, String, String)],
    ) -> Result<Vec<Appended>, (StoreError, bool)> {
        let mut invocation = self.append.prepare_invoke();
        invocation
            .key(&keys.seq)
            .key(&keys.log)
            .key(&keys.sealed)
            .key(&keys.revealed)
            .key(&keys.op_ids)
            .key(&keys.op_order)
            .arg(DEDUP_OP_IDS)
            .arg(DEDUP_IDLE_SECS);
        for (op, participant, action) in ops {
            invocation.key(keys.legacy_dedup(&op.id));
            invocation
                .arg(&op.id)
                .arg(
                    serde_json::to_string(op)
                        .map_err(|e| (StoreError::Unavailable(e.to_string()), false))?,
                )
                .arg(participant)
                .arg(action);
        }
        let mut conn = self.conn();
        let reply: RedisResult<Vec<String>> = invocation.invoke_async(&mut conn).await;
        // Redis answered with an error, or the connection was refused: the script did not
        // run. Any other failure may have come after it ran.
        let lost_answer = match &reply {
            Ok(_) => false,
            Err(e) => e.is_io_error() && !e.is_connection_refusal(),
        };
        let replies: Vec<String> = self.mark(reply).map_err(|e| (e, lost_answer))?;
        replies
            .into_iter()
            .map(|r| {
                // The script ran, but its answer cannot be read.
                let bad = || {
                    (
                        StoreError::Unavailable(format!("unexpected append reply {r}")),
                        true,
                    )
                };
                if let Some(seq) = r.strip_prefix("n:") {
                    return Ok(Appended::New(seq.parse().map_err(|_| bad())?));
                }
                if r == "x:revealed" {
                    return Ok(Appended::Revealed);
                }
                let rest = r.strip_prefix("d:").ok_or_else(bad)?;
                let (seq, by) = rest.split_once(':').ok_or_else(bad)?;
                Ok(Appended::Duplicate(
                    seq.parse().map_err(|_| bad())?,
                    by.to_owned(),
                ))
            })
            .collect()
    }

    /// `member`'s own sealed values in a room (for a `sealed` message to that member only).
    pub async fn sealed_of(
        &self,
        keys: &RoomKeys,
        member: &str,
    ) -> Result<Vec<SealedEntry>, StoreError> {
        let mut conn = self.conn();
        let all: HashMap<String, String> = self.mark(
            redis::cmd("HGETALL")
                .arg(&keys.sealed)
                .query_async(&mut conn)
                .await,
        )?;
        let mut out: Vec<SealedEntry> = all
            .into_iter()
            .filter_map(|(k, v)| {
                let mut parts = k.split(SEP);
                let (object, field, m) = (parts.next()?, parts.next()?, parts.next()?);
                (m == member).then(|| {
                    Some(SealedEntry {
                        object: object.to_owned(),
                        field: field.to_owned(),
                        value: serde_json::from_str(&v).ok()?,
                    })
                })?
            })
            .collect();
        out.sort_by(|a, b| (&a.object, &a.field).cmp(&(&b.object, &b.field)));
        Ok(out)
    }

    /// Reads a room: its epoch (created on first use), snapshot and the log after it.
    pub async fn load_room(&self, keys: &RoomKeys, keep: u64) -> Result<LoadedRoom, StoreError> {
        let mut conn = self.conn();
        let fresh = rand::random::<u64>() >> 11;
        let _: () = self.mark(
            redis::cmd("SET")
                .arg(&keys.epoch)
                .arg(fresh)
                .arg("NX")
                .query_async(&mut conn)
                .await,
        )?;
        let epoch: u64 = self.mark(
            redis::cmd("GET")
                .arg(&keys.epoch)
                .query_async(&mut conn)
                .await,
        )?;
        let snap: HashMap<String, String> = self.mark(
            redis::cmd("HGETALL")
                .arg(&keys.snap)
                .query_async(&mut conn)
                .await,
        )?;
        let snapshot_seq: u64 = snap.get("seq").and_then(|s| s.parse().ok()).unwrap_or(0);
        let doc = match snap.get("doc") {
            Some(json) => serde_json::from_str(json)
                .map_err(|e| StoreError::Corrupt(format!("bad snapshot: {e}")))?,
            None => Doc::new(),
        };
        let from = snapshot_seq.saturating_sub(keep) + 1;
        let entries = self.range(keys, from).await?;
        Ok(LoadedRoom {
            epoch,
            snapshot_seq,
            doc,
            entries,
        })
    }

    /// Log entries with seq >= `from`.
    pub async fn range(&self, keys: &RoomKeys, from: u64) -> Result<Vec<Entry>, StoreError> {
        let mut conn = self.conn();
        let reply: Value = self.mark(
            redis::cmd("XRANGE")
                .arg(&keys.log)
                .arg(format!("{from}-0"))
                .arg("+")
                .query_async(&mut conn)
                .await,
        )?;
        Ok(parse_entries(&reply)
            .into_iter()
            .filter_map(|(id, fields)| room_entry(&id, &fields))
            .collect())
    }

    /// Stores a snapshot if it is newer than the stored one, and trims the log below `trim_below`.
    pub async fn snapshot(
        &self,
        keys: &RoomKeys,
        seq: u64,
        doc: &str,
        trim_below: u64,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let mut invocation = self.snapshot.prepare_invoke();
        invocation
            .key(&keys.snap)
            .key(&keys.log)
            .arg(seq)
            .arg(doc)
            .arg(trim_below);
        let _: i64 = self.mark(invocation.invoke_async(&mut conn).await)?;
        Ok(())
    }

    /// Publishes this node's members of a room, and reads every node's.
    pub async fn presence(
        &self,
        keys: &RoomKeys,
        local: &[Member],
    ) -> Result<Vec<Member>, StoreError> {
        let mut conn = self.conn();
        let mine = keys.presence(&self.node);
        let mut pipe = redis::pipe();
        if local.is_empty() {
            pipe.cmd("DEL").arg(&mine).ignore();
            pipe.cmd("SREM")
                .arg(&keys.pres_nodes)
                .arg(&self.node)
                .ignore();
        } else {
            let json =
                serde_json::to_string(local).map_err(|e| StoreError::Unavailable(e.to_string()))?;
            pipe.cmd("SET")
                .arg(&mine)
                .arg(json)
                .arg("PX")
                .arg(PRESENCE_TTL.as_millis() as u64)
                .ignore();
            pipe.cmd("SADD")
                .arg(&keys.pres_nodes)
                .arg(&self.node)
                .ignore();
        }
        pipe.cmd("SMEMBERS").arg(&keys.pres_nodes);
        let (nodes,): (Vec<String>,) = self.mark(pipe.query_async(&mut conn).await)?;
        let mut members: Vec<Member> = local.to_vec();
        let others: Vec<String> = nodes.into_iter().filter(|n| *n != self.node).collect();
        if !others.is_empty() {
            let keys_of: Vec<String> = others.iter().map(|n| keys.presence(n)).collect();
            let values: Vec<Option<String>> = self.mark(
                redis::cmd("MGET")
                    .arg(&keys_of)
                    .query_async(&mut conn)
                    .await,
            )?;
            for (node, value) in others.iter().zip(values) {
                match value.and_then(|v| serde_json::from_str::<Vec<Member>>(&v).ok()) {
                    Some(list) => members.extend(list),
                    None => {
                        // Expired: that node stopped refreshing (it died or left the room).
                        let _: RedisResult<i64> = redis::cmd("SREM")
                            .arg(&keys.pres_nodes)
                            .arg(node)
                            .query_async(&mut conn)
                            .await;
                    }
                }
            }
        }
        members.sort_by(|a, b| a.participant.cmp(&b.participant));
        members.dedup_by(|a, b| a.participant == b.participant);
        Ok(members)
    }

    /// The workshop's stored state and version, if it exists.
    pub async fn workshop(&self, id: &str) -> Result<Option<(u64, String)>, StoreError> {
        let (data, _) = workshop_keys(id);
        let mut conn = self.conn();
        let got: HashMap<String, String> = self.mark(
            redis::cmd("HGETALL")
                .arg(&data)
                .query_async(&mut conn)
                .await,
        )?;
        match (got.get("v").and_then(|v| v.parse().ok()), got.get("data")) {
            (Some(v), Some(d)) => Ok(Some((v, d.clone()))),
            _ => Ok(None),
        }
    }

    /// Stores a workshop's state at `version` if the stored version is `version - 1` (or absent
    /// for version 0), and appends an event with `fields`. Returns false on a conflict.
    pub async fn put_workshop(
        &self,
        id: &str,
        version: u64,
        state: &str,
        fields: &[(String, String)],
    ) -> Result<bool, StoreError> {
        let (data, events) = workshop_keys(id);
        let expected = if version == 0 {
            "-1".to_owned()
        } else {
            (version - 1).to_string()
        };
        let mut invocation = self.cas.prepare_invoke();
        invocation
            .key(&data)
            .key(&events)
            .arg(expected)
            .arg(version)
            .arg(state);
        for (k, v) in fields {
            invocation.arg(k).arg(v);
        }
        let mut conn = self.conn();
        let done: i64 = self.mark(invocation.invoke_async(&mut conn).await)?;
        Ok(done == 1)
    }

    /// The id of the last event of a workshop stream ("0" if none), to follow it from there.
    pub async fn last_event_id(&self, id: &str) -> Result<String, StoreError> {
        let (_, events) = workshop_keys(id);
        let mut conn = self.conn();
        let reply: Value = self.mark(
            redis::cmd("XREVRANGE")
                .arg(&events)
                .arg("+")
                .arg("-")
                .arg("COUNT")
                .arg(1)
                .query_async(&mut conn)
                .await,
        )?;
        Ok(parse_entries(&reply)
            .into_iter()
            .next()
            .map(|(id, _)| id)
            .unwrap_or_else(|| "0".into()))
    }

    /// Registers a join code. Returns false if the code is taken.
    pub async fn claim_code(
        &self,
        code: &str,
        workshop: &str,
        role: &str,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn();
        let set: Option<String> = self.mark(
            redis::cmd("SET")
                .arg(code_key(code))
                .arg(format!("{workshop}|{role}"))
                .arg("NX")
                .query_async(&mut conn)
                .await,
        )?;
        Ok(set.is_some())
    }

    /// The workshop and role of a join code.
    pub async fn code(&self, code: &str) -> Result<Option<(String, String)>, StoreError> {
        let mut conn = self.conn();
        let v: Option<String> = self.mark(
            redis::cmd("GET")
                .arg(code_key(code))
                .query_async(&mut conn)
                .await,
        )?;
        Ok(v.and_then(|v| v.split_once('|').map(|(w, r)| (w.to_owned(), r.to_owned()))))
    }

    /// The shared token secret: the first node creates it.
    pub async fn secret(&self) -> Result<Vec<u8>, StoreError> {
        let mut conn = self.conn();
        let fresh: String = (0..64)
            .map(|_| char::from(b'a' + rand::random::<u8>() % 26))
            .collect();
        let _: () = self.mark(
            redis::cmd("SET")
                .arg("plenary:secret")
                .arg(fresh)
                .arg("NX")
                .query_async(&mut conn)
                .await,
        )?;
        let secret: String = self.mark(
            redis::cmd("GET")
                .arg("plenary:secret")
                .query_async(&mut conn)
                .await,
        )?;
        Ok(secret.into_bytes())
    }

    async fn reader_connection(&self) -> RedisResult<MultiplexedConnection> {
        self.client.get_multiplexed_async_connection().await
    }
}

/// Parses an XRANGE/XREVRANGE reply (or one stream of an XREAD reply) into (id, fields).
fn parse_entries(v: &Value) -> Vec<(String, HashMap<String, String>)> {
    let Value::Array(items) = v else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|item| {
            let Value::Array(pair) = item else {
                return None;
            };
            let id = text(pair.first()?)?;
            let Value::Array(kv) = pair.get(1)? else {
                return None;
            };
            let fields = kv
                .chunks(2)
                .filter_map(|c| Some((text(c.first()?)?, text(c.get(1)?)?)))
                .collect();
            Some((id, fields))
        })
        .collect()
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        Value::Int(i) => Some(i.to_string()),
        _ => None,
    }
}

/// The separator of the parts of a sealed-values hash field (ASCII unit separator, which ids
/// cannot contain).
const SEP: char = '\u{1f}';

/// The sealed action the append script carries out with `op` (the op as the client sent it,
/// already validated) for `member`: see [`APPEND`].
pub fn sealed_action(op: &Op, member: &str) -> String {
    match &op.kind {
        OpKind::Seal {
            object,
            field,
            value: Some(value),
            withdraw: false,
        } => format!(
            "p{SEP}{object}{SEP}{field}{SEP}{member}{SEP}{}",
            serde_json::to_string(value).expect("values always serialize")
        ),
        OpKind::Seal { object, field, .. } => format!("w{SEP}{object}{SEP}{field}{SEP}{member}"),
        OpKind::Reveal { object, .. } => format!("r{SEP}{object}"),
        _ => String::new(),
    }
}

/// A reveal entry's op with the values the append script moved into the entry's `sealed`
/// field (a flat JSON list of hash field, value JSON).
fn with_revealed(mut op: Op, sealed: &str) -> Option<Op> {
    let flat: Vec<String> = serde_json::from_str(sealed).ok()?;
    if let OpKind::Reveal { values, .. } = &mut op.kind {
        for pair in flat.chunks(2) {
            let [key, value] = pair else { return None };
            let mut parts = key.split(SEP);
            let (_, field, member) = (parts.next()?, parts.next()?, parts.next()?);
            let value: plenary_protocol::Value = serde_json::from_str(value).ok()?;
            values
                .entry(field.to_owned())
                .or_default()
                .insert(member.to_owned(), value);
        }
    }
    Some(op)
}

/// A room log entry from its stream id (`<seq>-1`) and fields; `None` if the id is not a seq.
fn room_entry(id: &str, fields: &HashMap<String, String>) -> Option<Entry> {
    let seq: u64 = id.split('-').next()?.parse().ok()?;
    let parsed = fields
        .get("op")
        .map(|j| serde_json::from_str::<Op>(j))
        .map(|r| match (r, fields.get("sealed")) {
            (Ok(op), Some(sealed)) => with_revealed(op, sealed).ok_or(()),
            (Ok(op), None) => Ok(op),
            (Err(_), _) => Err(()),
        });
    let op = match (parsed, fields.get("p")) {
        (Some(Ok(op)), Some(p)) => Some(StoredOp {
            seq,
            op,
            participant: p.clone(),
        }),
        _ => {
            warn!(id, "malformed room log entry skipped");
            None
        }
    };
    Some(Entry { seq, op })
}

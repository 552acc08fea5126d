//! Multi-node mode: several Plenary nodes share workshops and rooms through Redis.
//!
//! * Each room's order is assigned in Redis: a Lua script deduplicates op ids, takes the next
//!   seq with INCR and appends the op to the room's stream `{room}:log` with the entry id
//!   `<seq>-1`, all atomically. No node holds a room's only copy.
//! * Every node reads, with one blocking XREAD loop, only the streams of rooms that have members
//!   on it (and the event streams of workshops it hosts), and hands entries to the local room
//!   actors, which apply, acknowledge and broadcast them in seq order.
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
use tracing::{debug, warn};

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

/// Orders ops in a room's log: per op, dedup by op id, INCR the seq, XADD the entry. KEYS: seq,
/// log, the sealed-values hash, the set of revealed objects, the op-id hash (`op id ->
/// seq:sender`), the op-id queue (oldest first), then per op its legacy dedup key (read only);
/// ARGV: how many op ids to keep, how long (seconds) to keep them after the room's last op,
/// then per op its
/// id, its JSON, its sender and its sealed action: empty,
/// `p<US>object<US>name<US>member<US>value` (seal), `w<US>object<US>name<US>member` (withdraw)
/// or `r<US>object` (reveal: the object's sealed values move from the hash into the entry, in one
/// step with its ordering). A seal, withdraw or reveal of an object revealed already is refused
/// (`x:revealed`, nothing written): a node may validate against a replica that has not read the
/// reveal yet. The op ids beyond the newest `ARGV[1]` are forgotten, oldest first, in the same
/// step: a busy room's dedup memory is bounded by a count, as on one node, and a room without
/// ops for `ARGV[2]` seconds forgets them all.
///
/// Before the count, each op id had a key of its own (`{room}:op:<id>`, expiring after an hour);
/// the script still reads it, so that an op resent across the upgrade is not applied twice. That
/// read can go once no node older than this one has ordered an op for an hour. The other way
/// does not hold: an older node does not read the hash, so upgrade by stopping the older nodes
/// before the new ones order ops, not one node at a time.
const APPEND: &str = r#"
local out = {}
local us = string.char(31)
for n = 1, (#ARGV - 2) / 4 do
  local id, op, p, act = ARGV[4 * n - 1], ARGV[4 * n], ARGV[4 * n + 1], ARGV[4 * n + 2]
  local kind = string.sub(act, 1, 1)
  local object = string.match(string.sub(act, 3), '^([^' .. us .. ']*)')
  local existing = redis.call('HGET', KEYS[5], id) or redis.call('GET', KEYS[6 + n])
  if existing then
    out[n] = 'd:' .. existing
  elseif kind ~= '' and redis.call('SISMEMBER', KEYS[4], object) == 1 then
    out[n] = 'x:revealed'
  else
    local seq = redis.call('INCR', KEYS[1])
    if kind == 'p' then
      local field, value = string.match(string.sub(act, 3), '^(.*)' .. us .. '([^' .. us .. ']*)$')
      redis.call('HSET', KEYS[3], field, value)
      redis.call('XADD', KEYS[2], seq .. '-1', 'op', op, 'p', p)
    elseif kind == 'w' then
      redis.call('HDEL', KEYS[3], string.sub(act, 3))
      redis.call('XADD', KEYS[2], seq .. '-1', 'op', op, 'p', p)
    elseif kind == 'r' then
      local prefix = object .. us
      local all = redis.call('HGETALL', KEYS[3])
      local taken = {}
      for j = 1, #all, 2 do
        if string.sub(all[j], 1, #prefix) == prefix then
          taken[#taken + 1] = all[j]
          taken[#taken + 1] = all[j + 1]
          redis.call('HDEL', KEYS[3], all[j])
        end
      end
      redis.call('SADD', KEYS[4], object)
      local sealed = '[]'
      if #taken > 0 then sealed = cjson.encode(taken) end
      redis.call('XADD', KEYS[2], seq .. '-1', 'op', op, 'p', p, 'sealed', sealed)
    else
      redis.call('XADD', KEYS[2], seq .. '-1', 'op', op, 'p', p)
    end
    redis.call('HSET', KEYS[5], id, seq .. ':' .. p)
    redis.call('RPUSH', KEYS[6], id)
    out[n] = 'n:' .. seq
  end
end
local excess = redis.call('LLEN', KEYS[6]) - tonumber(ARGV[1])
while excess > 0 do
  local old = redis.call('LPOP', KEYS[6], math.min(excess, 1000))
  redis.call('HDEL', KEYS[5], unpack(old))
  excess = excess - #old
end
redis.call('EXPIRE', KEYS[5], ARGV[2])
redis.call('EXPIRE', KEYS[6], ARGV[2])
return out
"#;

const SNAPSHOT: &str = r#"
local cur = tonumber(redis.call('HGET', KEYS[1], 'seq') or '0')
if tonumber(ARGV[1]) > cur then
  redis.call('HSET', KEYS[1], 'seq', ARGV[1], 'doc', ARGV[2])
  if tonumber(ARGV[3]) > 0 then
    redis.call('XTRIM', KEYS[2], 'MINID', ARGV[3] .. '-0')
  end
  return 1
end
return 0
"#;

const CAS: &str = r#"
local cur = redis.call('HGET', KEYS[1], 'v') or '-1'
if cur ~= ARGV[1] then
  return 0
end
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'data', ARGV[3])
local event = {'v', ARGV[2]}
for i = 4, #ARGV do
  event[#event + 1] = ARGV[i]
end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', '1000', '*', unpack(event))
return 1
"#;

fn room_tag(workshop: &str, room: &str) -> String {
    format!("{{{workshop}:{room}}}")
}

/// Keys of one room.
pub struct RoomKeys {
    pub log: String,
    seq: String,
    snap: String,
    epoch: String,
    pres_nodes: String,
    /// The room's sealed values (server-private): field `object<US>name<US>member`, value JSON.
    sealed: String,
    /// The ids of the room's objects that were revealed (a set).
    revealed: String,
    /// The room's remembered op ids (a hash: op id -> `seq:sender`), for deduplication.
    op_ids: String,
    /// The same op ids, oldest first (a list), so that the oldest beyond the bound are dropped.
    op_order: String,
    tag: String,
}

impl RoomKeys {
    pub fn new(workshop: &str, room: &str) -> Self {
        let tag = room_tag(workshop, room);
        RoomKeys {
            log: format!("{tag}:log"),
            seq: format!("{tag}:seq"),
            snap: format!("{tag}:snap"),
            epoch: format!("{tag}:epoch"),
            pres_nodes: format!("{tag}:presnodes"),
            sealed: format!("{tag}:sealed"),
            revealed: format!("{tag}:revealed"),
            op_ids: format!("{tag}:ops"),
            op_order: format!("{tag}:opq"),
            tag,
        }
    }

    /// Where nodes before the bounded dedup kept an op id (see [`APPEND`]).
    fn legacy_dedup(&self, op_id: &str) -> String {
        format!("{}:op:{op_id}", self.tag)
    }

    fn presence(&self, node: &str) -> String {
        format!("{}:pres:{node}", self.tag)
    }
}

/// The key of a workshop's state and of its event stream.
pub fn workshop_keys(id: &str) -> (String, String) {
    (format!("{{{id}}}:data"), format!("{{{id}}}:events"))
}

fn code_key(code: &str) -> String {
    format!("plenary:code:{code}")
}

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
    /// The stream reader and the health check, which end on shutdown; see [`Redis::stopped`].
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

fn err(e: redis::RedisError) -> StoreError {
    StoreError(format!("redis: {e}"))
}

impl Redis {
    /// Connects to `url` and starts the stream reader.
    pub async fn connect(
        url: &str,
        node: String,
        shutdown: CancellationToken,
    ) -> Result<Arc<Self>, StoreError> {
        let client = redis::Client::open(url)
            .map_err(|e| StoreError(format!("bad redis url {url}: {e}")))?;
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(RESPONSE_TIMEOUT)
            .set_connection_timeout(RESPONSE_TIMEOUT)
            .set_number_of_retries(2)
            .set_max_delay(500);
        let conn = ConnectionManager::new_with_config(client.clone(), config)
            .await
            .map_err(|e| StoreError(format!("cannot connect to redis at {url}: {e}")))?;
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
        });
        let tasks = vec![
            tokio::spawn(health_loop(redis.clone(), shutdown.clone())),
            tokio::spawn(read_loop(redis.clone(), shutdown)),
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

    /// Follows `key` from after stream id `last`.
    pub fn subscribe(&self, key: String, last: String, subscriber: Subscriber) {
        self.subs.lock().expect("subs lock").insert(
            key,
            Sub {
                last,
                subscriber,
                quarantined_until: None,
            },
        );
        self.subs_changed.notify_one();
    }

    pub fn unsubscribe(&self, key: &str) {
        self.subs.lock().expect("subs lock").remove(key);
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
                Err(_) => (StoreError("no answer from redis".into()), true),
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
                .arg(serde_json::to_string(op).map_err(|e| (StoreError(e.to_string()), false))?)
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
                let bad = || (StoreError(format!("unexpected append reply {r}")), true);
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
            Some(json) => {
                serde_json::from_str(json).map_err(|e| StoreError(format!("bad snapshot: {e}")))?
            }
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
            let json = serde_json::to_string(local).map_err(|e| StoreError(e.to_string()))?;
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

/// Pings Redis every [`HEALTH_EVERY`] and records whether it answered within
/// [`HEALTH_TIMEOUT`]; every other command's outcome updates the same flag.
async fn health_loop(node: Arc<Redis>, shutdown: CancellationToken) {
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
async fn read_loop(redis: Arc<Redis>, shutdown: CancellationToken) {
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

//! The embedded durable store: SQLite in WAL mode, written by one thread that commits whatever
//! writes arrived together in one transaction (group commit).
//!
//! Durability follows `synchronous`: with `normal`, a committed write survives a crash of the
//! process (the WAL is in the OS page cache) but the last commits may be lost on power loss;
//! with `full`, every commit is fsynced and also survives power loss.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use plenary_protocol::{Doc, Op};
use rusqlite::{params, Connection, OpenFlags, TransactionBehavior};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, error, info, warn};

use crate::store::{
    Dedup, Loaded, RoomRecord, SealedValue, Store, StoreError, StoredOp, Write, WriteFuture,
};

/// Writes queued for the writer thread. Senders wait when it is full (backpressure).
const QUEUE: usize = 4_096;

/// How durable a commit is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Sync {
    /// Survives a process crash; the last commits may be lost on power loss.
    Normal,
    /// Survives power loss: every commit is fsynced.
    Full,
}

/// Options of the SQLite store.
#[derive(Debug, Clone)]
pub struct Options {
    pub sync: Sync,
    /// Most writes committed in one transaction; 1 disables group commit (for benchmarks).
    pub max_batch: usize,
    /// Size cap of the database and its write-ahead log together, in MiB (see [`Cap`]);
    /// writes beyond it fail with "database or disk is full".
    pub max_mib: Option<u64>,
}

const MIB: u64 = 1024 * 1024;

/// How a `--max-db-mib` cap is shared between the database file and its write-ahead log, which
/// both take disk: a quarter of the cap (at most 64 MiB) is the WAL's, the rest is the
/// database's (`max_page_count`). The writer truncates the WAL whenever a commit leaves it
/// larger than its share, so the two files stay within the cap but for about the pages of the
/// batch that went over (the `-shm` index, 32 KiB, is not counted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cap {
    /// Bytes the database file may reach.
    pub db_bytes: u64,
    /// Bytes the WAL may reach before the writer truncates it.
    pub wal_bytes: u64,
}

impl Cap {
    pub fn new(mib: u64) -> Cap {
        let total = mib.max(1) * MIB;
        let wal_bytes = (total / 4).min(64 * MIB);
        Cap {
            db_bytes: total - wal_bytes,
            wal_bytes,
        }
    }

    /// Free bytes below which edits can no longer be counted on (`/readyz` says "storage
    /// full"): four of the largest messages (64 KiB), or a quarter of a small database.
    pub fn headroom(&self) -> u64 {
        (self.db_bytes / 4).min(256 * 1024)
    }
}

/// What `/readyz` reads of the store, kept by the writer thread.
#[derive(Debug, Default)]
struct Health {
    /// The last commit failed (cleared by the next good one).
    failed: AtomicBool,
    /// Less than [`Cap::headroom`] of the cap is free (or the last commit found the cap).
    full: AtomicBool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            sync: Sync::Normal,
            max_batch: 1_024,
            max_mib: None,
        }
    }
}

/// A write for the writer thread, and where to answer once it is committed (or failed).
type Pending = (Write, oneshot::Sender<Result<(), StoreError>>);

/// What the writer thread takes.
enum Request {
    Write(Pending),
    /// Commit what came before, complete a last checkpoint (the WAL is emptied), then stop.
    Stop(oneshot::Sender<()>),
}

/// The SQLite-backed [`Store`].
pub struct SqliteStore {
    tx: mpsc::Sender<Request>,
    health: Arc<Health>,
    /// A read connection for start-up; a std mutex, only used outside async code.
    reader: Mutex<Connection>,
    path: PathBuf,
    /// The checkpoint thread runs while this is alive; [`Store::close`] drops it.
    alive: Mutex<Option<Arc<()>>>,
    /// The writer and checkpoint threads, joined by [`Store::close`].
    writer_thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    checkpoint_thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// Time after which the writer completes a checkpoint when no write is waiting...
const CHECKPOINT_IDLE_AFTER: Duration = Duration::from_secs(5);
/// ...and after which it does anyway, so the WAL cannot grow without bound.
const CHECKPOINT_FORCE_AFTER: Duration = Duration::from_secs(10);
/// How often the background thread copies the WAL into the database. Often, so that the
/// writer's completing checkpoint has little left to copy and sync.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

/// Background PASSIVE checkpoints until the store is dropped; a failed checkpoint is retried
/// at the next tick.
fn checkpoint_loop(conn: Connection, alive: std::sync::Weak<()>) {
    loop {
        std::thread::sleep(CHECKPOINT_EVERY);
        if alive.upgrade().is_none() {
            return;
        }
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            debug!(error = %e, "background checkpoint failed; will retry");
        }
    }
}

/// The schema version this code writes (`PRAGMA user_version`); 0 is the first layout, which
/// [`migrate_v1`] converts.
const SCHEMA_VERSION: i64 = 3;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS workshops (
    id TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    state TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS rooms (
    key INTEGER PRIMARY KEY,
    workshop TEXT NOT NULL,
    room TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    snapshot_seq INTEGER NOT NULL DEFAULT 0,
    snapshot TEXT,
    dedup TEXT,
    UNIQUE (workshop, room)
);
CREATE TABLE IF NOT EXISTS log (
    id INTEGER PRIMARY KEY,
    room INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    participant TEXT NOT NULL,
    op TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sealed (
    room INTEGER NOT NULL,
    object TEXT NOT NULL,
    field TEXT NOT NULL,
    member TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (room, object, field, member)
) WITHOUT ROWID;
";

fn open_connection(path: &Path, options: &Options) -> Result<Connection, StoreError> {
    let what = |e: rusqlite::Error| StoreError(format!("cannot open {}: {e}", path.display()));
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
    )
    .map_err(what)?;
    conn.busy_timeout(Duration::from_secs(5)).map_err(what)?;
    // Reading the journal mode is the first statement that reads the file: a corrupted or
    // foreign file fails here with "file is not a database".
    let mode: String = conn
        .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
        .map_err(what)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError(format!(
            "{} cannot use WAL mode (got {mode})",
            path.display()
        )));
    }
    let sync = match options.sync {
        Sync::Normal => "NORMAL",
        Sync::Full => "FULL",
    };
    conn.execute_batch(&format!("PRAGMA synchronous={sync};"))
        .map_err(what)?;
    if let Some(mib) = options.max_mib {
        let page: u64 = conn
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .map_err(what)?;
        let pages = (Cap::new(mib).db_bytes / page.max(1)).max(1);
        let _: i64 = conn
            .query_row(&format!("PRAGMA max_page_count={pages}"), [], |r| r.get(0))
            .map_err(what)?;
    }
    Ok(conn)
}

impl SqliteStore {
    /// Opens (or creates) `data_dir/plenary.db` and starts the writer thread.
    pub fn open(data_dir: &Path, options: Options) -> Result<Self, StoreError> {
        let path = data_dir.join("plenary.db");
        let mut writer = open_connection(&path, &options)?;
        prepare_schema(&mut writer).map_err(|e| {
            StoreError(format!(
                "cannot prepare the schema in {}: {}",
                path.display(),
                e.0
            ))
        })?;
        let tracker = Tracker::read(&writer)
            .map_err(|e| StoreError(format!("reading {}: {e}", path.display())))?;
        // No checkpoint inside a commit that clients wait for: a background thread copies the
        // WAL into the database (PASSIVE, never blocking the writer), and the writer, between
        // batches, finishes the little that is left so the WAL restarts and stays small.
        writer
            .execute_batch("PRAGMA wal_autocheckpoint=0;")
            .map_err(|e| StoreError(format!("cannot configure {}: {e}", path.display())))?;
        let checkpointer = open_connection(&path, &options)?;
        let alive = Arc::new(());
        let weak = Arc::downgrade(&alive);
        let checkpoint_thread = std::thread::Builder::new()
            .name("plenary-checkpoint".into())
            .spawn(move || checkpoint_loop(checkpointer, weak))
            .map_err(|e| StoreError(format!("cannot start the checkpoint thread: {e}")))?;
        let reader = open_connection(&path, &options)?;
        let (tx, rx) = mpsc::channel(QUEUE);
        let health = Arc::new(Health::default());
        let cap = options.max_mib.map(|mib| {
            let cap = Cap::new(mib);
            let mut wal = path.clone().into_os_string();
            wal.push("-wal");
            (cap, PathBuf::from(wal))
        });
        if let Some((cap, _)) = &cap {
            // A store reopened under a smaller cap may start out full.
            watch_cap(&writer, cap, &health, false);
        }
        let h = health.clone();
        let max_batch = options.max_batch.max(1);

        let writer_thread = std::thread::Builder::new()
            .name("plenary-store".into())
            .spawn(move || write_loop(writer, tracker, rx, h, max_batch, cap))
            .map_err(|e| StoreError(format!("cannot start the store thread: {e}")))?;
        info!(path = %path.display(), sync = ?options.sync, "store opened");
        Ok(SqliteStore {
            tx,
            health,
            reader: Mutex::new(reader),
            path,
            alive: Mutex::new(Some(alive)),
            writer_thread: Mutex::new(Some(writer_thread)),
            checkpoint_thread: Mutex::new(Some(checkpoint_thread)),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Creates the schema in a new database, converts a database of the first layout, and refuses
/// one written by a newer version.
fn prepare_schema(conn: &mut Connection) -> Result<(), StoreError> {
    let e = |e: rusqlite::Error| StoreError(e.to_string());
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(e)?;
    if version > SCHEMA_VERSION {
        return Err(StoreError(format!(
            "the database has schema version {version}, written by a newer Plenary \
             (this one reads up to {SCHEMA_VERSION})"
        )));
    }
    let v1: bool = conn
        .query_row(
            "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'ops'",
            [],
            |r| r.get(0),
        )
        .map_err(e)?;
    if version == 0 && v1 {
        info!("converting the database from schema version 1");
        return migrate_v1(conn).map_err(e);
    }
    // IMMEDIATE: take the write lock up front, waiting (busy timeout) for a previous owner of the
    // file that is still closing, instead of failing when a read would have to become a write.
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(e)?;
    tx.execute_batch(SCHEMA).map_err(e)?;
    if (1..3).contains(&version) {
        info!("converting room documents to document model v2");
        convert_docs_v2(&tx).map_err(e)?;
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)
        .map_err(e)?;
    tx.commit().map_err(e)
}

/// Converts the first layout (ops keyed by workshop, room and seq, with the op ids of the last
/// 10,000 ops of each room kept for deduplication) in one transaction: the ops after each
/// room's snapshot move to `log`, and the ids of the ones before it to the room's `dedup`.
fn migrate_v1(conn: &mut Connection) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute_batch(
        "ALTER TABLE rooms RENAME TO rooms_v1;
         ALTER TABLE ops RENAME TO ops_v1;",
    )?;
    tx.execute_batch(SCHEMA)?;
    tx.execute_batch(
        "INSERT INTO rooms (workshop, room, epoch, snapshot_seq, snapshot)
         SELECT workshop, room, epoch, snapshot_seq, snapshot FROM rooms_v1
         ORDER BY workshop, room;",
    )?;
    let rooms: Vec<(i64, String, String, i64)> = tx
        .prepare("SELECT key, workshop, room, snapshot_seq FROM rooms ORDER BY key")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<rusqlite::Result<_>>()?;
    {
        let mut old = tx.prepare(
            "SELECT seq, op_id, participant, op FROM ops_v1
             WHERE workshop = ?1 AND room = ?2 ORDER BY seq",
        )?;
        let mut insert =
            tx.prepare("INSERT INTO log (room, seq, participant, op) VALUES (?1, ?2, ?3, ?4)")?;
        let mut set_dedup = tx.prepare("UPDATE rooms SET dedup = ?1 WHERE key = ?2")?;
        for (key, workshop, room, snapshot_seq) in rooms {
            let mut dedup = Vec::new();
            let rows = old.query_map(params![workshop, room], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })?;
            for row in rows {
                let (seq, op_id, participant, op) = row?;
                if seq > snapshot_seq {
                    insert.execute(params![key, seq, participant, op])?;
                } else {
                    dedup.push(Dedup {
                        op_id,
                        seq: seq as u64,
                        participant,
                    });
                }
            }
            let skip = dedup.len().saturating_sub(crate::room::DEDUP_PERSISTED);
            let json = serde_json::to_string(&dedup[skip..])
                .map_err(|x| rusqlite::Error::ToSqlConversionFailure(Box::new(x)))?;
            set_dedup.execute(params![json, key])?;
        }
    }
    tx.execute_batch("DROP TABLE ops_v1; DROP TABLE rooms_v1;")?;
    convert_docs_v2(&tx)?;
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    tx.commit()
}

/// Brings the rooms of a database written before document model v2 (schema versions 1 and 2)
/// to it: every room's document (snapshot plus the ops after it, replayed as version 1 meant
/// them: a `votes` value was the total, not the sender's dots) becomes a version 2 snapshot at
/// the room's last seq. The ops stay, for deduplication and catch-up.
fn convert_docs_v2(tx: &rusqlite::Transaction) -> rusqlite::Result<()> {
    let bad = |x: serde_json::Error| rusqlite::Error::ToSqlConversionFailure(Box::new(x));
    let rooms: Vec<(i64, u64, Option<String>)> = tx
        .prepare("SELECT key, snapshot_seq, snapshot FROM rooms")?
        .query_map([], |r| {
            Ok((r.get(0)?, r.get::<_, i64>(1)? as u64, r.get(2)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut ops = tx.prepare("SELECT seq, op FROM log WHERE room = ?1 AND seq > ?2 ORDER BY id")?;
    let mut update =
        tx.prepare("UPDATE rooms SET snapshot = ?1, snapshot_seq = ?2 WHERE key = ?3")?;
    for (key, snapshot_seq, snapshot) in rooms {
        let mut doc: Doc = match snapshot {
            Some(json) => serde_json::from_str(&json).map_err(bad)?,
            None => Doc::new(),
        };
        let mut seq = snapshot_seq;
        let rows = ops.query_map(params![key, snapshot_seq as i64], |r| {
            Ok((r.get::<_, i64>(0)? as u64, r.get::<_, String>(1)?))
        })?;
        for row in rows {
            let (op_seq, json) = row?;
            let op: Op = serde_json::from_str(&json).map_err(bad)?;
            doc.apply_v1(&op);
            seq = op_seq;
        }
        update.execute(params![doc.canonical_json(), seq as i64, key])?;
    }
    Ok(())
}

/// What the writer knows of the log, to drop the ops that every room's snapshot covers.
///
/// The log holds the ops of every room in commit order, so that each commit appends to the last
/// pages of one b-tree instead of touching one page per room; it is read in full only at
/// start-up. Ops are dropped from its front: everything before the first op that some room's
/// latest snapshot does not cover.
#[derive(Debug, Default)]
struct Tracker {
    /// Room keys by workshop and room id.
    keys: HashMap<(Arc<str>, Arc<str>), i64>,
    /// Rooms with ops after their latest snapshot: the log id of the first such op, and the
    /// seq of the last op stored.
    pending: HashMap<i64, (i64, u64)>,
}

/// Something a transaction did, applied to the [`Tracker`] once it has committed.
enum Stored {
    Key((Arc<str>, Arc<str>), i64),
    Ops { key: i64, first: i64, last_seq: u64 },
    Snapshot { key: i64, seq: u64 },
}

impl Tracker {
    /// Reads the room keys and the ops after each room's snapshot.
    fn read(conn: &Connection) -> rusqlite::Result<Tracker> {
        let mut tracker = Tracker::default();
        let mut stmt = conn.prepare("SELECT key, workshop, room FROM rooms")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        for row in rows {
            let (key, workshop, room) = row?;
            tracker.keys.insert((workshop.into(), room.into()), key);
        }
        let mut stmt = conn.prepare(
            "SELECT l.room, min(l.id), max(l.seq) FROM log l JOIN rooms r ON r.key = l.room
             WHERE l.seq > r.snapshot_seq GROUP BY l.room",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })?;
        for row in rows {
            let (key, first, last) = row?;
            tracker.pending.insert(key, (first, last as u64));
        }
        Ok(tracker)
    }

    fn apply(&mut self, stored: Vec<Stored>) {
        for s in stored {
            match s {
                Stored::Key(k, key) => {
                    self.keys.insert(k, key);
                }
                Stored::Ops {
                    key,
                    first,
                    last_seq,
                } => {
                    let entry = self.pending.entry(key).or_insert((first, last_seq));
                    entry.1 = entry.1.max(last_seq);
                }
                Stored::Snapshot { key, seq } => {
                    if self.pending.get(&key).is_some_and(|p| p.1 <= seq) {
                        self.pending.remove(&key);
                    }
                }
            }
        }
    }

    /// Log ids below this are covered by snapshots.
    fn trim_below(&self) -> i64 {
        self.pending.values().map(|p| p.0).min().unwrap_or(i64::MAX)
    }
}

/// Commits slower than this are logged (at debug level).
const SLOW: Duration = Duration::from_millis(10);
/// How often the writer drops the ops that snapshots cover.
const TRIM_EVERY: Duration = Duration::from_secs(1);

fn write_loop(
    mut conn: Connection,
    mut tracker: Tracker,
    mut rx: mpsc::Receiver<Request>,
    health: Arc<Health>,
    max_batch: usize,
    cap: Option<(Cap, PathBuf)>,
) {
    let mut batch: Vec<Pending> = Vec::with_capacity(max_batch);
    let mut last_checkpoint = Instant::now();
    let mut last_trim = Instant::now();
    let mut stop = None;
    while stop.is_none() {
        match rx.blocking_recv() {
            Some(Request::Write(w)) => batch.push(w),
            Some(Request::Stop(done)) => stop = Some(done),
            None => break,
        }
        while stop.is_none() && batch.len() < max_batch {
            match rx.try_recv() {
                Ok(Request::Write(w)) => batch.push(w),
                Ok(Request::Stop(done)) => stop = Some(done),
                Err(_) => break,
            }
        }
        if batch.is_empty() {
            continue;
        }
        let started = Instant::now();
        let result = commit(&mut conn, &mut tracker, batch.iter().map(|(w, _)| w));
        let hit_cap = matches!(&result, Err(CommitError { full: true, .. }));
        let result = result.map_err(|e| e.error);
        let took = started.elapsed();
        if took > SLOW {
            debug!(?took, writes = batch.len(), "slow commit");
        }
        health.failed.store(result.is_err(), Ordering::Relaxed);
        if let Err(e) = &result {
            error!(error = %e, writes = batch.len(), "store commit failed");
        }
        for (_, reply) in batch.drain(..) {
            let _ = reply.send(result.clone());
        }
        if let Some((cap, wal)) = &cap {
            watch_cap(&conn, cap, &health, hit_cap);
            truncate_wal_over(&conn, cap, wal);
        }
        if last_trim.elapsed() >= TRIM_EVERY {
            let started = Instant::now();
            match conn
                .prepare_cached("DELETE FROM log WHERE id < ?1")
                .and_then(|mut s| s.execute([tracker.trim_below()]))
            {
                Ok(ops) => {
                    debug!(took = ?started.elapsed(), ops, "log trimmed");
                    if let Some((cap, _)) = &cap {
                        // Trimming frees pages: the store may take edits again.
                        watch_cap(&conn, cap, &health, false);
                    }
                }
                Err(e) => debug!(error = %e, "trimming the log failed; will retry"),
            }
            last_trim = Instant::now();
        }
        // Complete a checkpoint between batches, preferably while nothing waits: in the writer
        // thread it completes (no other writer), so the WAL restarts from its beginning and
        // stays bounded. It syncs the database file, which stalls every room for that long,
        // so it runs every few seconds, not per batch.
        let since = last_checkpoint.elapsed();
        if since >= CHECKPOINT_FORCE_AFTER || (since >= CHECKPOINT_IDLE_AFTER && rx.is_empty()) {
            let started = Instant::now();
            match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                Ok(()) => debug!(took = ?started.elapsed(), "checkpoint completed"),
                Err(e) => debug!(error = %e, "checkpoint failed; will retry"),
            }
            last_checkpoint = Instant::now();
        }
    }
    // Stopping (or every sender gone): whatever arrived after the stop order is refused, and a
    // last TRUNCATE checkpoint leaves the database file complete on its own.
    rx.close();
    while let Ok(request) = rx.try_recv() {
        if let Request::Write((_, reply)) = request {
            let _ = reply.send(Err(StoreError("the store is closing".into())));
        }
    }
    match checkpoint_truncate(&conn) {
        Ok(true) => debug!("last checkpoint completed"),
        Ok(false) => warn!("last checkpoint incomplete: the WAL is kept and read back at start"),
        Err(e) => {
            warn!(error = %e, "last checkpoint failed: the WAL is kept and read back at start")
        }
    }
    drop(conn);
    if let Some(done) = stop {
        let _ = done.send(());
    }
}

/// Marks the store full when the last commit found no room (`hit_cap`) or less than
/// [`Cap::headroom`] of the database's share is free (pages on the free list, left by
/// trimming, count as free), and not full again once trimming or a larger cap made room.
fn watch_cap(conn: &Connection, cap: &Cap, health: &Health, hit_cap: bool) {
    match free_bytes(conn) {
        Ok(free) => health
            .full
            .store(hit_cap || free < cap.headroom(), Ordering::Relaxed),
        Err(e) => debug!(error = %e, "cannot read the store's free space"),
    }
}

/// Bytes the database may still grow by: pages below `max_page_count`, plus free-list pages.
fn free_bytes(conn: &Connection) -> rusqlite::Result<u64> {
    let pragma = |name: &str| conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get::<_, i64>(0));
    let page = pragma("page_size")?;
    let unused = pragma("max_page_count")? - pragma("page_count")? + pragma("freelist_count")?;
    Ok((unused.max(0) * page) as u64)
}

/// A TRUNCATE checkpoint from the writer thread: copies the whole WAL into the database and
/// empties the WAL file. Nothing else writes; a checkpoint of the background thread makes it
/// busy at once (SQLite does not wait for the checkpoint lock, it answers busy = 1), so it tries
/// a few times. Whether it completed.
fn checkpoint_truncate(conn: &Connection) -> rusqlite::Result<bool> {
    for _ in 0..5 {
        let busy: i64 = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
        if busy == 0 {
            return Ok(true);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    Ok(false)
}

/// Truncates the WAL when a commit left it larger than its share of the cap.
fn truncate_wal_over(conn: &Connection, cap: &Cap, wal: &Path) {
    let size = std::fs::metadata(wal).map(|m| m.len()).unwrap_or(0);
    if size <= cap.wal_bytes {
        return;
    }
    let started = Instant::now();
    match checkpoint_truncate(conn) {
        Ok(true) => {
            debug!(took = ?started.elapsed(), size, "WAL over its share of the cap: truncated")
        }
        Ok(false) => debug!(
            size,
            "WAL over its share of the cap, checkpoint busy; will retry after the next commit"
        ),
        Err(e) => debug!(error = %e, "truncating the WAL failed; will retry after the next commit"),
    }
}

/// The key of a room, creating its row on its first write.
fn room_key(
    tx: &rusqlite::Transaction,
    tracker: &Tracker,
    stored: &mut Vec<Stored>,
    workshop: &Arc<str>,
    room: &Arc<str>,
    epoch: u64,
) -> rusqlite::Result<i64> {
    let k = (workshop.clone(), room.clone());
    if let Some(key) = tracker.keys.get(&k) {
        return Ok(*key);
    }
    for s in stored.iter() {
        if let Stored::Key(staged, key) = s {
            if *staged == k {
                return Ok(*key);
            }
        }
    }
    tx.prepare_cached(
        "INSERT INTO rooms (workshop, room, epoch) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
    )?
    .execute(params![workshop.as_ref(), room.as_ref(), epoch as i64])?;
    let key = tx
        .prepare_cached("SELECT key FROM rooms WHERE workshop = ?1 AND room = ?2")?
        .query_row(params![workshop.as_ref(), room.as_ref()], |r| r.get(0))?;
    stored.push(Stored::Key(k, key));
    Ok(key)
}

/// Applies a batch's changes to the private `sealed` table, in the batch's transaction.
fn write_sealed(
    tx: &rusqlite::Transaction,
    key: i64,
    writes: &[crate::store::SealedWrite],
) -> rusqlite::Result<()> {
    use crate::store::SealedWrite;
    for w in writes {
        match w {
            SealedWrite::Put(v) => {
                let value = serde_json::to_string(&v.value).expect("values always serialize");
                tx.prepare_cached(
                    "INSERT INTO sealed (room, object, field, member, value) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (room, object, field, member) DO UPDATE SET value = excluded.value",
                )?
                .execute(params![key, v.object, v.field, v.member, value])?;
            }
            SealedWrite::Remove {
                object,
                field,
                member,
            } => {
                tx.prepare_cached(
                    "DELETE FROM sealed WHERE room = ?1 AND object = ?2 AND field = ?3 AND member = ?4",
                )?
                .execute(params![key, object, field, member])?;
            }
            SealedWrite::Reveal { object } => {
                tx.prepare_cached("DELETE FROM sealed WHERE room = ?1 AND object = ?2")?
                    .execute(params![key, object])?;
            }
        }
    }
    Ok(())
}

/// A failed commit, and whether it failed for lack of room (the size cap, or a full disk).
struct CommitError {
    error: StoreError,
    full: bool,
}

fn commit<'a>(
    conn: &mut Connection,
    tracker: &mut Tracker,
    writes: impl Iterator<Item = &'a Write>,
) -> Result<(), CommitError> {
    let e = |e: rusqlite::Error| CommitError {
        full: e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull),
        error: StoreError(e.to_string()),
    };
    let json = |x: serde_json::Error| CommitError {
        full: false,
        error: StoreError(x.to_string()),
    };
    let tx = conn.transaction().map_err(e)?;
    let mut stored = Vec::new();
    for write in writes {
        match write {
            Write::Ops {
                workshop,
                room,
                epoch,
                ops,
                sealed,
            } => {
                let key = room_key(&tx, tracker, &mut stored, workshop, room, *epoch).map_err(e)?;
                write_sealed(&tx, key, sealed).map_err(e)?;
                let mut insert = tx
                    .prepare_cached(
                        "INSERT INTO log (room, seq, participant, op) VALUES (?1, ?2, ?3, ?4)",
                    )
                    .map_err(e)?;
                let mut first = None;
                for op in ops {
                    insert
                        .execute(params![key, op.seq as i64, op.participant, op.op])
                        .map_err(e)?;
                    first.get_or_insert(tx.last_insert_rowid());
                }
                if let (Some(first), Some(last)) = (first, ops.last()) {
                    stored.push(Stored::Ops {
                        key,
                        first,
                        last_seq: last.seq,
                    });
                }
            }
            Write::Snapshot {
                workshop,
                room,
                epoch,
                seq,
                doc,
                dedup,
            } => {
                let dedup = serde_json::to_string(dedup).map_err(json)?;
                let changed = tx
                    .prepare_cached(
                        "INSERT INTO rooms (workshop, room, epoch, snapshot_seq, snapshot, dedup)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT (workshop, room) DO UPDATE SET epoch = excluded.epoch,
                       snapshot_seq = excluded.snapshot_seq, snapshot = excluded.snapshot,
                       dedup = excluded.dedup
                     WHERE excluded.snapshot_seq >= rooms.snapshot_seq",
                    )
                    .and_then(|mut s| {
                        s.execute(params![
                            workshop.as_ref(),
                            room.as_ref(),
                            *epoch as i64,
                            *seq as i64,
                            doc,
                            dedup
                        ])
                    })
                    .map_err(e)?;
                let key = room_key(&tx, tracker, &mut stored, workshop, room, *epoch).map_err(e)?;
                // Only a snapshot that was stored (not one older than the stored one) lets the
                // ops it covers go.
                if changed == 1 {
                    stored.push(Stored::Snapshot { key, seq: *seq });
                }
            }
            Write::Workshop { id, version, state } => {
                tx.prepare_cached(
                    "INSERT INTO workshops (id, version, state) VALUES (?1, ?2, ?3)
                     ON CONFLICT (id) DO UPDATE SET version = excluded.version, state = excluded.state
                     WHERE excluded.version > workshops.version",
                )
                .and_then(|mut s| s.execute(params![id, *version as i64, state]))
                .map_err(e)?;
            }
        }
    }
    tx.commit().map_err(e)?;
    // Only what is durable changes what the writer may drop.
    tracker.apply(stored);
    Ok(())
}

impl Store for SqliteStore {
    fn write(&self, write: Write) -> WriteFuture {
        let tx = self.tx.clone();
        Box::pin(async move {
            let (reply, rx) = oneshot::channel();
            tx.send(Request::Write((write, reply)))
                .await
                .map_err(|_| StoreError("the store thread has stopped".into()))?;
            rx.await
                .map_err(|_| StoreError("the store thread has stopped".into()))?
        })
    }

    fn load(&self) -> Result<Loaded, StoreError> {
        let e = |e: rusqlite::Error| StoreError(format!("reading {}: {e}", self.path.display()));
        let conn = self.reader.lock().expect("store reader lock poisoned");
        let mut loaded = Loaded::default();
        let mut stmt = conn.prepare("SELECT id, state FROM workshops").map_err(e)?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map_err(e)?;
        for row in rows {
            let (id, state) = row.map_err(e)?;
            loaded.workshops.insert(id, (state, HashMap::new()));
        }
        let mut stmt = conn
            .prepare("SELECT key, workshop, room, epoch, snapshot_seq, snapshot, dedup FROM rooms")
            .map_err(e)?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)? as u64,
                    r.get::<_, i64>(4)? as u64,
                    r.get::<_, Option<String>>(5)?,
                    r.get::<_, Option<String>>(6)?,
                ))
            })
            .map_err(e)?;
        // Room key -> (workshop, room, record).
        let mut records: HashMap<i64, (String, String, RoomRecord)> = HashMap::new();
        for row in rows {
            let (key, workshop, room, epoch, snapshot_seq, snapshot, dedup) = row.map_err(e)?;
            if !loaded.workshops.contains_key(&workshop) {
                continue;
            }
            let bad = |what: &str, x: serde_json::Error| {
                StoreError(format!("room {workshop}/{room}: bad {what}: {x}"))
            };
            let doc: Doc = match snapshot {
                Some(json) => serde_json::from_str(&json).map_err(|x| bad("snapshot", x))?,
                None => Doc::new(),
            };
            let dedup: Vec<Dedup> = match dedup {
                Some(json) => serde_json::from_str(&json).map_err(|x| bad("dedup", x))?,
                None => Vec::new(),
            };
            let record = RoomRecord {
                epoch,
                seq: snapshot_seq,
                doc,
                dedup,
                recent: Vec::new(),
                sealed: Vec::new(),
            };
            records.insert(key, (workshop, room, record));
        }
        let mut stmt = conn
            .prepare("SELECT room, seq, participant, op FROM log ORDER BY id")
            .map_err(e)?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)? as u64,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })
            .map_err(e)?;
        for row in rows {
            let (key, op_seq, participant, json) = row.map_err(e)?;
            let Some((workshop, room, record)) = records.get_mut(&key) else {
                continue;
            };
            let op: Op = serde_json::from_str(&json).map_err(|x| {
                StoreError(format!("room {workshop}/{room} seq {op_seq}: bad op: {x}"))
            })?;
            // Ops the snapshot covers may still be here if the process stopped before they
            // were dropped: they only serve deduplication and catch-up.
            if op_seq > record.seq {
                record.doc.apply(&op);
                record.seq = op_seq;
            }
            record.recent.push(StoredOp {
                seq: op_seq,
                op,
                participant,
            });
        }
        let mut stmt = conn
            .prepare("SELECT room, object, field, member, value FROM sealed")
            .map_err(e)?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                ))
            })
            .map_err(e)?;
        for row in rows {
            let (key, object, field, member, value) = row.map_err(e)?;
            let Some((workshop, room, record)) = records.get_mut(&key) else {
                continue;
            };
            let value: plenary_protocol::Value = serde_json::from_str(&value).map_err(|x| {
                StoreError(format!("room {workshop}/{room}: bad sealed value: {x}"))
            })?;
            record.sealed.push(SealedValue {
                object,
                field,
                member,
                value,
            });
        }
        for (_, (workshop, room, record)) in records {
            if let Some((_, rooms)) = loaded.workshops.get_mut(&workshop) {
                rooms.insert(room, record);
            }
        }
        Ok(loaded)
    }

    fn close(&self) -> WriteFuture {
        let tx = self.tx.clone();
        let alive = self.alive.lock().expect("store lock poisoned").take();
        let take = |t: &Mutex<Option<std::thread::JoinHandle<()>>>| {
            t.lock().expect("store lock poisoned").take()
        };
        let (writer, checkpointer) = (take(&self.writer_thread), take(&self.checkpoint_thread));
        let join = |thread: Option<std::thread::JoinHandle<()>>| async move {
            if let Some(thread) = thread {
                tokio::task::spawn_blocking(move || thread.join())
                    .await
                    .map_err(|e| StoreError(format!("joining a store thread: {e}")))?
                    .map_err(|_| StoreError("a store thread panicked".into()))?;
            }
            Ok::<(), StoreError>(())
        };
        Box::pin(async move {
            // The background checkpoints stop first, so that the writer's last checkpoint does
            // not find one running (SQLite does not wait for the checkpoint lock).
            drop(alive);
            join(checkpointer).await?;
            let (done, stopped) = oneshot::channel();
            // A send that fails means the writer has stopped already.
            if tx.send(Request::Stop(done)).await.is_ok() {
                let _ = stopped.await;
            }
            join(writer).await
        })
    }

    fn ready(&self) -> Result<(), &'static str> {
        // Full first: a commit that found the cap also failed, and "full" says what to do.
        if self.tx.is_closed() {
            Err("storage unavailable")
        } else if self.health.full.load(Ordering::Relaxed) {
            Err("storage full")
        } else if self.health.failed.load(Ordering::Relaxed) {
            Err("storage unavailable")
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::EncodedOp;
    use plenary_protocol::{OpKind, Stamp, Value};

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "plenary-sqlite-{name}-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn note(i: u64) -> Op {
        Op {
            id: format!("op-{i}"),
            stamp: Stamp::new(i, "p1"),
            kind: OpKind::Create {
                object: format!("n{i}"),
                ty: "vision_note".into(),
                parent: "root".into(),
                pos: format!("a{i}"),
                fields: [("text".to_owned(), Value::Text(format!("note {i}")))].into(),
            },
        }
    }

    fn encoded(seq: u64) -> EncodedOp {
        EncodedOp {
            seq,
            participant: "p1".into(),
            op: serde_json::to_string(&note(seq)).unwrap(),
        }
    }

    fn ops(workshop: &str, room: &str, seqs: std::ops::RangeInclusive<u64>) -> Write {
        Write::Ops {
            workshop: workshop.into(),
            room: room.into(),
            epoch: 7,
            ops: seqs.map(encoded).collect(),
            sealed: vec![],
        }
    }

    fn log_rows(dir: &Path) -> Vec<(i64, i64)> {
        let conn = Connection::open(dir.join("plenary.db")).unwrap();
        let mut stmt = conn
            .prepare("SELECT room, seq FROM log ORDER BY id")
            .unwrap();
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<rusqlite::Result<Vec<_>>>()
            .unwrap();
        rows
    }

    #[tokio::test]
    async fn ops_covered_by_a_snapshot_are_dropped_and_the_room_reloads_from_it() {
        let dir = temp_dir("trim");
        let store = SqliteStore::open(&dir, Options::default()).unwrap();
        store
            .write(Write::Workshop {
                id: "w".into(),
                version: 1,
                state: "{}".into(),
            })
            .await
            .unwrap();
        store.write(ops("w", "a", 1..=3)).await.unwrap();
        store.write(ops("w", "b", 1..=2)).await.unwrap();
        let mut doc = Doc::new();
        for i in 1..=3 {
            doc.apply(&note(i));
        }
        let dedup: Vec<Dedup> = (1..=3)
            .map(|seq| Dedup {
                op_id: format!("op-{seq}"),
                seq,
                participant: "p1".into(),
            })
            .collect();
        store
            .write(Write::Snapshot {
                workshop: "w".into(),
                room: "a".into(),
                epoch: 7,
                seq: 3,
                doc: doc.canonical_json(),
                dedup: dedup.clone(),
            })
            .await
            .unwrap();
        store.write(ops("w", "a", 4..=4)).await.unwrap();
        assert_eq!(
            log_rows(&dir).len(),
            6,
            "nothing dropped before the next trim"
        );
        // The writer trims at most once per TRIM_EVERY, after a commit (and after answering
        // it): wait for the period, commit, then give the trim a moment.
        tokio::time::sleep(TRIM_EVERY + Duration::from_millis(100)).await;
        store.write(ops("w", "b", 3..=3)).await.unwrap();
        let seqs = |dir: &Path| -> Vec<i64> { log_rows(dir).iter().map(|(_, s)| *s).collect() };
        let deadline = Instant::now() + Duration::from_secs(5);
        while seqs(&dir).len() == 7 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(
            seqs(&dir),
            vec![1, 2, 4, 3],
            "room a's ops up to its snapshot are gone, room b's (never snapshotted) stay"
        );
        drop(store);

        let store = SqliteStore::open(&dir, Options::default()).unwrap();
        let loaded = store.load().unwrap();
        let rooms = &loaded.workshops["w"].1;
        let a = &rooms["a"];
        assert_eq!((a.epoch, a.seq), (7, 4));
        assert_eq!(a.dedup, dedup);
        assert_eq!(a.recent.iter().map(|o| o.seq).collect::<Vec<_>>(), vec![4]);
        let mut expected = doc.clone();
        expected.apply(&note(4));
        assert_eq!(a.doc.canonical_json(), expected.canonical_json());
        let b = &rooms["b"];
        assert_eq!(b.seq, 3);
        assert_eq!(b.recent.len(), 3);
        assert_eq!(b.doc.objects.len(), 3);
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn votes_stored_before_model_v2_are_not_counted_twice() {
        // A schema 2 database: a snapshot written by model v1 (votes: 4) and, after it, a v1 op
        // that set the total to 5. Model v2 reads `votes` as each member's own dots: replaying
        // that op as such would make 4 + 5.
        let dir = temp_dir("model-v2");
        let store = SqliteStore::open(&dir, Options::default()).unwrap();
        store
            .write(Write::Workshop {
                id: "w".into(),
                version: 1,
                state: "{}".into(),
            })
            .await
            .unwrap();
        let vote = |seq: u64, n: i64| Op {
            id: format!("v{seq}"),
            stamp: Stamp::new(10 + seq, "p-b"),
            kind: OpKind::Set {
                object: "t".into(),
                fields: [("votes".to_owned(), Value::Int(n))].into(),
            },
        };
        store
            .write(Write::Ops {
                workshop: "w".into(),
                room: "a".into(),
                epoch: 7,
                ops: [(1, vote(1, 4)), (2, vote(2, 5))]
                    .into_iter()
                    .map(|(seq, op)| EncodedOp {
                        seq,
                        participant: "p-b".into(),
                        op: serde_json::to_string(&op).unwrap(),
                    })
                    .collect(),
                sealed: vec![],
            })
            .await
            .unwrap();
        drop(store);
        {
            let conn = Connection::open(dir.join("plenary.db")).unwrap();
            let v1 = r#"{"clock":11,"objects":{"t":{"type":"lean_coffee_topic",
                "created":{"clock":1,"client":"p-a"},"parent":"root","pos":"a0",
                "placed":{"clock":1,"client":"p-a"},
                "fields":{"votes":{"value":4,"stamp":{"clock":11,"client":"p-b"}}}}},
                "tombstones":[]}"#;
            conn.execute("UPDATE rooms SET snapshot = ?1, snapshot_seq = 1", [v1])
                .unwrap();
            conn.pragma_update(None, "user_version", 2).unwrap();
        }
        let store = SqliteStore::open(&dir, Options::default()).unwrap();
        let loaded = store.load().unwrap();
        let room = &loaded.workshops["w"].1["a"];
        assert_eq!(room.seq, 2);
        let topic = &room.doc.objects["t"];
        assert_eq!(topic.get("votes"), Some(&Value::Int(5)));
        assert_eq!(
            topic.tallies["votes"].keys().collect::<Vec<_>>(),
            [plenary_protocol::doc::LEGACY_MEMBER]
        );
        // The conversion happened once: the schema is current, the snapshot is at seq 2.
        drop(store);
        let conn = Connection::open(dir.join("plenary.db")).unwrap();
        let (version, seq): (i64, i64) = (
            conn.query_row("PRAGMA user_version", [], |r| r.get(0))
                .unwrap(),
            conn.query_row("SELECT snapshot_seq FROM rooms", [], |r| r.get(0))
                .unwrap(),
        );
        assert_eq!((version, seq), (SCHEMA_VERSION, 2));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn a_database_of_the_first_layout_is_converted_without_loss() {
        let dir = temp_dir("migrate");
        {
            let conn = Connection::open(dir.join("plenary.db")).unwrap();
            conn.execute_batch(
                "CREATE TABLE workshops (id TEXT PRIMARY KEY, version INTEGER NOT NULL,
                    state TEXT NOT NULL);
                 CREATE TABLE rooms (workshop TEXT NOT NULL, room TEXT NOT NULL,
                    epoch INTEGER NOT NULL, snapshot_seq INTEGER NOT NULL DEFAULT 0,
                    snapshot TEXT, PRIMARY KEY (workshop, room));
                 CREATE TABLE ops (workshop TEXT NOT NULL, room TEXT NOT NULL,
                    seq INTEGER NOT NULL, op_id TEXT NOT NULL, participant TEXT NOT NULL,
                    op TEXT NOT NULL, PRIMARY KEY (workshop, room, seq)) WITHOUT ROWID;
                 INSERT INTO workshops VALUES ('w', 3, '{}');",
            )
            .unwrap();
            let mut snap = Doc::new();
            snap.apply(&note(1));
            snap.apply(&note(2));
            conn.execute(
                "INSERT INTO rooms VALUES ('w', 'a', 11, 2, ?1), ('w', 'b', 12, 0, NULL)",
                [snap.canonical_json()],
            )
            .unwrap();
            for (room, seq) in [("a", 1), ("a", 2), ("a", 3), ("b", 1)] {
                conn.execute(
                    "INSERT INTO ops VALUES ('w', ?1, ?2, ?3, 'p1', ?4)",
                    params![
                        room,
                        seq,
                        format!("op-{seq}"),
                        serde_json::to_string(&note(seq as u64)).unwrap()
                    ],
                )
                .unwrap();
            }
        }
        let store = SqliteStore::open(&dir, Options::default()).unwrap();
        let loaded = store.load().unwrap();
        let rooms = &loaded.workshops["w"].1;
        let a = &rooms["a"];
        assert_eq!((a.epoch, a.seq, a.doc.objects.len()), (11, 3, 3));
        assert_eq!(
            a.dedup.iter().map(|d| d.op_id.as_str()).collect::<Vec<_>>(),
            vec!["op-1", "op-2"],
            "the ids the first layout kept for deduplication move to the room"
        );
        assert_eq!(a.recent.iter().map(|o| o.seq).collect::<Vec<_>>(), vec![3]);
        let b = &rooms["b"];
        assert_eq!((b.epoch, b.seq, b.doc.objects.len()), (12, 1, 1));
        // New writes go on from there, and the old tables are gone.
        store.write(ops("w", "b", 2..=2)).await.unwrap();
        drop(store);
        let conn = Connection::open(dir.join("plenary.db")).unwrap();
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        let tables: Vec<String> = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(tables, vec!["log", "rooms", "sealed", "workshops"]);
        drop(conn);
        let store = SqliteStore::open(&dir, Options::default()).unwrap();
        assert_eq!(store.load().unwrap().workshops["w"].1["b"].seq, 2);
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_database_from_a_newer_version_is_refused() {
        let dir = temp_dir("newer");
        Connection::open(dir.join("plenary.db"))
            .unwrap()
            .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        let err = SqliteStore::open(&dir, Options::default())
            .err()
            .expect("refused");
        assert!(err.0.contains("newer Plenary"), "{}", err.0);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

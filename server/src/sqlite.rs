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

use plenary_protocol::{Doc, Op};
use rusqlite::{params, Connection, OpenFlags};
use tokio::sync::{mpsc, oneshot};
use tracing::{error, info};

use crate::store::{Loaded, RoomRecord, Store, StoreError, StoredOp, Write, WriteFuture};

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
    /// Size cap of the database in MiB; writes beyond it fail with "database or disk is full".
    pub max_mib: Option<u64>,
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

type Request = (Write, oneshot::Sender<Result<(), StoreError>>);

/// The SQLite-backed [`Store`].
pub struct SqliteStore {
    tx: mpsc::Sender<Request>,
    /// False after a failed commit, true again after a good one.
    healthy: Arc<AtomicBool>,
    /// A read connection for start-up; a std mutex, only used outside async code.
    reader: Mutex<Connection>,
    path: PathBuf,
    /// The checkpoint thread runs while this is alive.
    _alive: Arc<()>,
}

/// Commits after which the writer completes a checkpoint when no write is waiting...
const CHECKPOINT_IDLE_AFTER: usize = 1_024;
/// ...and after which it does anyway, so the WAL cannot grow without bound.
const CHECKPOINT_FORCE_AFTER: usize = 8_192;
/// How often the background thread copies the WAL into the database.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Background PASSIVE checkpoints until the store is dropped; a failed checkpoint is retried
/// at the next tick.
fn checkpoint_loop(conn: Connection, alive: std::sync::Weak<()>) {
    loop {
        std::thread::sleep(CHECKPOINT_EVERY);
        if alive.upgrade().is_none() {
            return;
        }
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::debug!(error = %e, "background checkpoint failed; will retry");
        }
    }
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS workshops (
    id TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    state TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS rooms (
    workshop TEXT NOT NULL,
    room TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    snapshot_seq INTEGER NOT NULL DEFAULT 0,
    snapshot TEXT,
    PRIMARY KEY (workshop, room)
);
CREATE TABLE IF NOT EXISTS ops (
    workshop TEXT NOT NULL,
    room TEXT NOT NULL,
    seq INTEGER NOT NULL,
    op_id TEXT NOT NULL,
    participant TEXT NOT NULL,
    op TEXT NOT NULL,
    PRIMARY KEY (workshop, room, seq)
) WITHOUT ROWID;
";

fn open_connection(path: &Path, options: &Options) -> Result<Connection, StoreError> {
    let what = |e: rusqlite::Error| StoreError(format!("cannot open {}: {e}", path.display()));
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
    )
    .map_err(what)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(what)?;
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
        let pages = (mib * 1024 * 1024 / page.max(1)).max(1);
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
        let writer = open_connection(&path, &options)?;
        writer.execute_batch(SCHEMA).map_err(|e| {
            StoreError(format!(
                "cannot create the schema in {}: {e}",
                path.display()
            ))
        })?;
        // No checkpoint inside a commit that clients wait for: a background thread copies the
        // WAL into the database (PASSIVE, never blocking the writer), and the writer, between
        // batches, finishes the little that is left so the WAL restarts and stays small.
        writer
            .execute_batch("PRAGMA wal_autocheckpoint=0;")
            .map_err(|e| StoreError(format!("cannot configure {}: {e}", path.display())))?;
        let checkpointer = open_connection(&path, &options)?;
        let alive = Arc::new(());
        let weak = Arc::downgrade(&alive);
        std::thread::Builder::new()
            .name("plenary-checkpoint".into())
            .spawn(move || checkpoint_loop(checkpointer, weak))
            .map_err(|e| StoreError(format!("cannot start the checkpoint thread: {e}")))?;
        let reader = open_connection(&path, &options)?;
        let (tx, rx) = mpsc::channel(QUEUE);
        let healthy = Arc::new(AtomicBool::new(true));
        let h = healthy.clone();
        let max_batch = options.max_batch.max(1);

        std::thread::Builder::new()
            .name("plenary-store".into())
            .spawn(move || write_loop(writer, rx, h, max_batch))
            .map_err(|e| StoreError(format!("cannot start the store thread: {e}")))?;
        info!(path = %path.display(), sync = ?options.sync, "store opened");
        Ok(SqliteStore {
            tx,
            healthy,
            reader: Mutex::new(reader),
            path,
            _alive: alive,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn write_loop(
    mut conn: Connection,
    mut rx: mpsc::Receiver<Request>,
    healthy: Arc<AtomicBool>,
    max_batch: usize,
) {
    let mut batch: Vec<Request> = Vec::with_capacity(max_batch);
    let mut commits = 0usize;
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        while batch.len() < max_batch {
            match rx.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        let result = commit(&mut conn, batch.iter().map(|(w, _)| w));
        match &result {
            Ok(()) => healthy.store(true, Ordering::Relaxed),
            Err(e) => {
                healthy.store(false, Ordering::Relaxed);
                error!(error = %e, writes = batch.len(), "store commit failed");
            }
        }
        for (_, reply) in batch.drain(..) {
            let _ = reply.send(result.clone());
        }
        // Checkpoint between batches, preferably while nothing waits: in the writer thread it
        // completes (no other writer), so the WAL restarts from its beginning and stays small.
        commits += 1;
        if commits >= CHECKPOINT_FORCE_AFTER || (commits >= CHECKPOINT_IDLE_AFTER && rx.is_empty())
        {
            if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                tracing::debug!(error = %e, "checkpoint failed; will retry");
            }
            commits = 0;
        }
    }
}

fn commit<'a>(
    conn: &mut Connection,
    writes: impl Iterator<Item = &'a Write>,
) -> Result<(), StoreError> {
    let e = |e: rusqlite::Error| StoreError(e.to_string());
    let tx = conn.transaction().map_err(e)?;
    for write in writes {
        match write {
            Write::Ops {
                workshop,
                room,
                epoch,
                ops,
            } => {
                tx.prepare_cached("INSERT INTO rooms (workshop, room, epoch) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING")
                    .and_then(|mut s| s.execute(params![workshop.as_ref(), room.as_ref(), *epoch as i64]))
                    .map_err(e)?;
                let mut insert = tx
                    .prepare_cached(
                        "INSERT INTO ops (workshop, room, seq, op_id, participant, op) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    )
                    .map_err(e)?;
                for op in ops {
                    let json =
                        serde_json::to_string(&op.op).map_err(|x| StoreError(x.to_string()))?;
                    insert
                        .execute(params![
                            workshop.as_ref(),
                            room.as_ref(),
                            op.seq as i64,
                            op.op.id,
                            op.participant,
                            json
                        ])
                        .map_err(e)?;
                }
            }
            Write::Snapshot {
                workshop,
                room,
                epoch,
                seq,
                doc,
                keep_from,
            } => {
                tx.prepare_cached(
                    "INSERT INTO rooms (workshop, room, epoch, snapshot_seq, snapshot) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (workshop, room) DO UPDATE SET epoch = excluded.epoch,
                       snapshot_seq = excluded.snapshot_seq, snapshot = excluded.snapshot
                     WHERE excluded.snapshot_seq >= rooms.snapshot_seq",
                )
                .and_then(|mut s| s.execute(params![workshop.as_ref(), room.as_ref(), *epoch as i64, *seq as i64, doc]))
                .map_err(e)?;
                tx.prepare_cached("DELETE FROM ops WHERE workshop = ?1 AND room = ?2 AND seq < ?3")
                    .and_then(|mut s| {
                        s.execute(params![workshop.as_ref(), room.as_ref(), *keep_from as i64])
                    })
                    .map_err(e)?;
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
    tx.commit().map_err(e)
}

impl Store for SqliteStore {
    fn write(&self, write: Write) -> WriteFuture {
        let tx = self.tx.clone();
        Box::pin(async move {
            let (reply, rx) = oneshot::channel();
            tx.send((write, reply))
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
            .prepare("SELECT workshop, room, epoch, snapshot_seq, snapshot FROM rooms")
            .map_err(e)?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)? as u64,
                    r.get::<_, i64>(3)? as u64,
                    r.get::<_, Option<String>>(4)?,
                ))
            })
            .map_err(e)?;
        let mut ops_stmt = conn
            .prepare("SELECT seq, participant, op FROM ops WHERE workshop = ?1 AND room = ?2 ORDER BY seq")
            .map_err(e)?;
        for row in rows {
            let (workshop, room, epoch, snapshot_seq, snapshot) = row.map_err(e)?;
            let Some((_, rooms)) = loaded.workshops.get_mut(&workshop) else {
                continue;
            };
            let mut doc: Doc = match snapshot {
                Some(json) => serde_json::from_str(&json).map_err(|x| {
                    StoreError(format!("room {workshop}/{room}: bad snapshot: {x}"))
                })?,
                None => Doc::new(),
            };
            let mut seq = snapshot_seq;
            let mut recent = Vec::new();
            let ops = ops_stmt
                .query_map(params![workshop, room], |r| {
                    Ok((
                        r.get::<_, i64>(0)? as u64,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                    ))
                })
                .map_err(e)?;
            for op in ops {
                let (op_seq, participant, json) = op.map_err(e)?;
                let op: Op = serde_json::from_str(&json).map_err(|x| {
                    StoreError(format!("room {workshop}/{room} seq {op_seq}: bad op: {x}"))
                })?;
                if op_seq > seq {
                    doc.apply(&op);
                    seq = op_seq;
                }
                recent.push(StoredOp {
                    seq: op_seq,
                    op,
                    participant,
                });
            }
            rooms.insert(
                room,
                RoomRecord {
                    epoch,
                    seq,
                    doc,
                    recent,
                },
            );
        }
        Ok(loaded)
    }

    fn ready(&self) -> bool {
        self.healthy.load(Ordering::Relaxed) && !self.tx.is_closed()
    }
}

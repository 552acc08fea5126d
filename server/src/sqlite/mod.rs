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
use std::time::Duration;

use plenary_protocol::{Doc, Op};
use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info};

use crate::store::{
    Dedup, Loaded, RoomRecord, SealedValue, Store, StoreError, StoredOp, Write, WriteFuture,
};

mod schema;
mod writer;

use schema::{open_connection, prepare_schema};
use writer::{watch_cap, write_loop, Tracker};

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
pub(super) type Pending = (Write, oneshot::Sender<Result<(), StoreError>>);

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

impl SqliteStore {
    /// Opens (or creates) `data_dir/plenary.db` and starts the writer thread.
    pub fn open(data_dir: &Path, options: Options) -> Result<Self, StoreError> {
        let path = data_dir.join("plenary.db");
        let mut writer = open_connection(&path, &options)?;
        prepare_schema(&mut writer).map_err(|e| match e {
            StoreError::Corrupt(why) => StoreError::Corrupt(format!(
                "cannot prepare the schema in {}: {why}",
                path.display()
            )),
            other => StoreError::Unavailable(format!(
                "cannot prepare the schema in {}: {other}",
                path.display()
            )),
        })?;
        let tracker = Tracker::read(&writer)
            .map_err(|e| StoreError::Unavailable(format!("reading {}: {e}", path.display())))?;
        // No checkpoint inside a commit that clients wait for: a background thread copies the
        // WAL into the database (PASSIVE, never blocking the writer), and the writer, between
        // batches, finishes the little that is left so the WAL restarts and stays small.
        writer
            .execute_batch("PRAGMA wal_autocheckpoint=0;")
            .map_err(|e| {
                StoreError::Unavailable(format!("cannot configure {}: {e}", path.display()))
            })?;
        let checkpointer = open_connection(&path, &options)?;
        let alive = Arc::new(());
        let weak = Arc::downgrade(&alive);
        let checkpoint_thread = std::thread::Builder::new()
            .name("plenary-checkpoint".into())
            .spawn(move || checkpoint_loop(checkpointer, weak))
            .map_err(|e| {
                StoreError::Unavailable(format!("cannot start the checkpoint thread: {e}"))
            })?;
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
            .map_err(|e| StoreError::Unavailable(format!("cannot start the store thread: {e}")))?;
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

impl Store for SqliteStore {
    fn write(&self, write: Write) -> WriteFuture {
        let tx = self.tx.clone();
        Box::pin(async move {
            let (reply, rx) = oneshot::channel();
            tx.send(Request::Write((write, reply)))
                .await
                .map_err(|_| StoreError::Stopped("the store thread has stopped".into()))?;
            rx.await
                .map_err(|_| StoreError::Stopped("the store thread has stopped".into()))?
        })
    }

    fn load(&self) -> Result<Loaded, StoreError> {
        let e = |e: rusqlite::Error| {
            StoreError::Unavailable(format!("reading {}: {e}", self.path.display()))
        };
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
                StoreError::Corrupt(format!("room {workshop}/{room}: bad {what}: {x}"))
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
                StoreError::Corrupt(format!("room {workshop}/{room} seq {op_seq}: bad op: {x}"))
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
                StoreError::Corrupt(format!("room {workshop}/{room}: bad sealed value: {x}"))
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
                    .map_err(|e| StoreError::Stopped(format!("joining a store thread: {e}")))?
                    .map_err(|_| StoreError::Stopped("a store thread panicked".into()))?;
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
    use super::schema::SCHEMA_VERSION;
    use super::writer::TRIM_EVERY;
    use super::*;
    use crate::store::EncodedOp;
    use plenary_protocol::{OpKind, Stamp, Value};
    use rusqlite::params;
    use std::time::Instant;

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
        assert!(
            matches!(&err, StoreError::Corrupt(m) if m.contains("newer Plenary")),
            "{err}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

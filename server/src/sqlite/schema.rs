//! The database's schema: creating it, converting older layouts (the first layout, documents
//! before model v2), refusing a newer one; and opening a connection with the store's settings.

use std::path::Path;
use std::time::Duration;

use plenary_protocol::{Doc, Op};
use rusqlite::{params, Connection, OpenFlags, TransactionBehavior};
use tracing::info;

use super::{Cap, Options, Sync};
use crate::store::{Dedup, StoreError};

/// The schema version this code writes (`PRAGMA user_version`); 0 is the first layout, which
/// [`migrate_v1`] converts.
pub(super) const SCHEMA_VERSION: i64 = 3;

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

pub(super) fn open_connection(path: &Path, options: &Options) -> Result<Connection, StoreError> {
    let what = |e: rusqlite::Error| {
        StoreError::Unavailable(format!("cannot open {}: {e}", path.display()))
    };
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
        return Err(StoreError::Unavailable(format!(
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

/// Creates the schema in a new database, converts a database of the first layout, and refuses
/// one written by a newer version.
pub(super) fn prepare_schema(conn: &mut Connection) -> Result<(), StoreError> {
    let e = |e: rusqlite::Error| StoreError::Unavailable(e.to_string());
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(e)?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::Corrupt(format!(
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

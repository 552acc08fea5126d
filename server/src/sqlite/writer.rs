//! The writer thread: group commit of every write that arrived together, the log's trimming
//! behind snapshots, checkpoints between batches, and the size cap (`--max-db-mib`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rusqlite::{params, Connection};
use tokio::sync::mpsc;
use tracing::{debug, error, warn};

use super::{Cap, Health, Pending, Request, CHECKPOINT_FORCE_AFTER, CHECKPOINT_IDLE_AFTER};
use crate::store::{StoreError, Write};

/// What the writer knows of the log, to drop the ops that every room's snapshot covers.
///
/// The log holds the ops of every room in commit order, so that each commit appends to the last
/// pages of one b-tree instead of touching one page per room; it is read in full only at
/// start-up. Ops are dropped from its front: everything before the first op that some room's
/// latest snapshot does not cover.
#[derive(Debug, Default)]
pub(super) struct Tracker {
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
    pub(super) fn read(conn: &Connection) -> rusqlite::Result<Tracker> {
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
pub(super) const TRIM_EVERY: Duration = Duration::from_secs(1);

pub(super) fn write_loop(
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
        let hit_cap = matches!(&result, Err(StoreError::Full(_)));
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
            let _ = reply.send(Err(StoreError::Stopped("the store is closing".into())));
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
pub(super) fn watch_cap(conn: &Connection, cap: &Cap, health: &Health, hit_cap: bool) {
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

fn commit<'a>(
    conn: &mut Connection,
    tracker: &mut Tracker,
    writes: impl Iterator<Item = &'a Write>,
) -> Result<(), StoreError> {
    // A commit that finds no room (the size cap, or a full disk) fails as `Full`.
    let e = |e: rusqlite::Error| {
        if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull) {
            StoreError::Full(e.to_string())
        } else {
            StoreError::Unavailable(e.to_string())
        }
    };
    let json = |x: serde_json::Error| StoreError::Corrupt(x.to_string());
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

//! One actor task per room: it owns the room's document, seq and member list. Nothing else
//! touches a room's document. This module is the core both sequencers share (admission,
//! membership, catch-up, dedup, sealed values, broadcast); the order comes from one of two:
//! * `local.rs`, on a node alone: the room orders each batch, commits it through the store, and
//!   only then acknowledges and fans out, each broadcast serialized once;
//! * `shared.rs`, with several nodes: Redis orders the ops and the room applies its log.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Weak};
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use plenary_protocol::templates::{
    self, Progress, SERVER_CLIENT, SERVER_OP_PREFIXES, TEMPLATE_OBJECT_PREFIX,
};
use plenary_protocol::workshop::Template;
use plenary_protocol::{
    validate, Doc, ErrorCode, Member, Op, OpKind, SealedEntry, ServerMsg, Value,
};
use tokio::sync::{mpsc, oneshot};
use tracing::warn;

mod dedup;
mod local;
mod shared;

use self::dedup::DedupWindow;
use crate::backend::Backend;
use crate::outbox::Outbox;
use crate::store::{RoomRecord, SealedValue, SealedWrite, StoredOp};
use crate::workshop::{RoomCtx, Workshop};

/// Ops kept in memory for catch-up. A client further behind gets a snapshot.
pub const CATCHUP_MAX_OPS: usize = 1_000;
/// Bytes of broadcast frames kept for catch-up.
pub const CATCHUP_MAX_BYTES: usize = 1024 * 1024;
/// Op ids remembered per room in memory, so that a resent op is acknowledged once, not
/// applied twice.
pub const DEDUP_OP_IDS: usize = 10_000;
/// Op ids stored with each snapshot, so that deduplication also holds across a restart: after
/// one, a room remembers these plus the ids of every op stored since that snapshot.
pub const DEDUP_PERSISTED: usize = 1_000;
/// A snapshot is written after this many ops, or `--snapshot-secs` after the last one if
/// anything changed.
pub const SNAPSHOT_EVERY_OPS: u64 = 1_000;
/// Commands queued for one room. Senders wait when it is full (backpressure on the readers
/// of the clients that send ops), they never drop.
pub const ROOM_QUEUE: usize = 1_024;
/// Most commands handled in one batch (one store transaction).
const BATCH: usize = 256;

/// Identifies one WebSocket connection.
pub type ConnId = u64;

pub enum RoomCmd {
    /// Subscribe a connection; with a resume point the room sends only what was missed.
    Join {
        conn: ConnId,
        member: Member,
        outbox: Outbox,
        resume: Option<(u64, u64)>,
    },
    /// Unsubscribe a connection. With a reason, tell the client it was removed from the room.
    Leave {
        conn: ConnId,
        reason: Option<String>,
    },
    /// An op from a connection.
    /// `outbox` answers a connection that is no longer a member (evicted after it sent).
    Op {
        conn: ConnId,
        op: Op,
        outbox: Outbox,
    },
    /// A presence update from a connection.
    Focus {
        conn: ConnId,
        focus: Option<String>,
        outbox: Outbox,
    },
    /// Seed an exercise template (server-authored ops).
    Seed(Template),
    /// Report the room's progress and size.
    Inspect(oneshot::Sender<RoomReport>),
}

/// What [`RoomCmd::Inspect`] answers.
#[derive(Debug, Clone)]
pub struct RoomReport {
    pub epoch: u64,
    pub seq: u64,
    pub members: Vec<Member>,
    pub progress: Progress,
    pub doc: Doc,
}

/// A cheap-to-clone handle to a room actor.
#[derive(Clone)]
pub struct RoomHandle {
    pub id: Arc<str>,
    tx: mpsc::Sender<RoomCmd>,
}

/// The room's actor has stopped (the node is shutting down): the command was not delivered, so
/// nothing of it happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the room has shut down")]
pub struct RoomGone;

impl RoomHandle {
    /// Sends a command, waiting for queue space. Fails only when the room has shut down; a
    /// caller acting for a client must tell it (an op was not applied).
    #[must_use = "a room that is gone did not get the command; answer the client"]
    pub async fn send(&self, cmd: RoomCmd) -> Result<(), RoomGone> {
        self.tx.send(cmd).await.map_err(|_| RoomGone)
    }

    /// Asks the room for its report.
    pub async fn inspect(&self) -> Option<RoomReport> {
        let (tx, rx) = oneshot::channel();
        self.send(RoomCmd::Inspect(tx)).await.ok()?;
        rx.await.ok()
    }
}

struct LogEntry {
    seq: u64,
    frame: Utf8Bytes,
}

/// What an applied-but-uncommitted op changed, to put back if the commit fails.
struct Undo {
    object: String,
    before: Option<plenary_protocol::Object>,
    was_tombstone: bool,
}

struct Room {
    workshop_id: Arc<str>,
    id: Arc<str>,
    /// Weak: the workshop owns its rooms, not the other way round.
    workshop: Weak<Workshop>,
    /// Changes only when the room's history is reset; clients then resync from a snapshot.
    epoch: u64,
    seq: u64,
    doc: Doc,
    /// Recent broadcast frames for catch-up, bounded by count and bytes.
    log: VecDeque<LogEntry>,
    log_bytes: usize,
    /// The last [`DEDUP_OP_IDS`] op ids with their seq and sender, for deduplication.
    dedup: DedupWindow,
    members: HashMap<ConnId, (Member, Outbox)>,
    /// Undo records of the batch being ordered, and the clock and seq before it.
    undo: Vec<Undo>,
    batch_start: (u64, u64),
    /// The seq of the last snapshot written.
    snapshot_seq: u64,
    /// Sealed values not revealed yet: (object, field) -> member -> value. Private to the
    /// server: only `sealed` messages to their own member carry them, and the store keeps them
    /// in a table of their own (never in the log or a snapshot). Empty in multi-node mode,
    /// where Redis holds them.
    sealed: HashMap<(String, String), HashMap<String, Value>>,
    /// What the batch being ordered changed in `sealed`: the writes to store with its ops,
    /// the previous values to put back if the commit fails, and the members to tell.
    sealed_writes: Vec<SealedWrite>,
    sealed_undo: Vec<((String, String), String, Option<Value>)>,
    sealed_told: Vec<String>,
    /// Members connected to other nodes (multi-node mode), refreshed from Redis.
    remote_members: Vec<Member>,
    /// Something happened that may complete an auto-reveal round (a seal, a flag turned on, a
    /// member leaving): look for due reveals after the batch.
    reveal_check: bool,
    /// How often a room that took ops writes a snapshot (`--snapshot-secs`).
    snapshot_every: Duration,
}

/// Starts a room actor on the context's tracker and returns its handle. `record` is the room as
/// loaded from the store, if it was there.
pub fn spawn(
    workshop: &Arc<Workshop>,
    id: &str,
    record: Option<RoomRecord>,
    ctx: &RoomCtx,
) -> RoomHandle {
    let (tx, rx) = mpsc::channel(ROOM_QUEUE);
    let id: Arc<str> = id.into();
    let record = record.unwrap_or_else(|| RoomRecord {
        epoch: rand::random::<u64>() >> 11,
        ..RoomRecord::default()
    });
    let mut room = Room {
        workshop_id: workshop.id.as_str().into(),
        id: id.clone(),
        workshop: Arc::downgrade(workshop),
        epoch: record.epoch,
        seq: record.seq,
        doc: record.doc,
        log: VecDeque::new(),
        log_bytes: 0,
        dedup: DedupWindow::new(DEDUP_OP_IDS),
        members: HashMap::new(),
        undo: Vec::new(),
        batch_start: (0, 0),
        snapshot_seq: record.seq,
        sealed: HashMap::new(),
        sealed_writes: Vec::new(),
        sealed_undo: Vec::new(),
        sealed_told: Vec::new(),
        remote_members: Vec::new(),
        reveal_check: false,
        snapshot_every: ctx.snapshot_every,
    };
    // The window is filled oldest first: the snapshot's op ids, and the ops after it still in the
    // store (which may include older ones the snapshot covers but the store has not dropped).
    let mut known: Vec<(u64, String, String)> = record
        .dedup
        .into_iter()
        .map(|d| (d.seq, d.op_id, d.participant))
        .chain(
            record
                .recent
                .iter()
                .map(|s| (s.seq, s.op.id.clone(), s.participant.clone())),
        )
        .collect();
    known.sort_by_key(|(seq, _, _)| *seq);
    for (seq, op_id, participant) in known {
        room.remember(op_id, seq, &participant);
    }
    for v in record.sealed {
        room.sealed
            .entry((v.object, v.field))
            .or_default()
            .insert(v.member, v.value);
    }
    for stored in record.recent {
        let frame = ServerMsg::Op {
            room: id.to_string(),
            seq: stored.seq,
            op: stored.op,
        }
        .to_json()
        .into();
        room.push_log(stored.seq, frame);
    }
    // The sequencer: the room itself with the embedded store, or Redis with several nodes.
    let shutdown = ctx.shutdown.clone();
    match &ctx.backend {
        Backend::Local(store) => {
            ctx.tracker.spawn(room.run(store.clone(), rx, shutdown));
        }
        Backend::Cluster(redis) => {
            let sequencer = shared::SharedRoom::new(redis.clone(), &workshop.id, &id);
            ctx.tracker.spawn(room.run_shared(sequencer, rx, shutdown));
        }
    }
    RoomHandle { id, tx }
}

/// What [`Room::screen`] decided about an op.
enum Screened {
    /// Passed every check; the sender's participant id.
    Accepted(String),
    /// The same participant sent this op id before; it was ordered at this seq.
    Duplicate(u64),
    Rejected(ErrorCode, String),
}

impl Room {
    /// Objects whose round the server must reveal now: `auto_reveal` is on, nothing is revealed
    /// yet, and every member of the team who is present (connected to the room, on any node)
    /// has sealed an entry. Someone who left does not hold the round up.
    fn due_reveals(&self) -> Vec<String> {
        // Open auto-reveal rounds first: most rooms have none, and then the check (which also
        // runs on a timer) costs neither the workshop lock nor a member list.
        let open: Vec<(&String, &plenary_protocol::Object)> = self
            .doc
            .objects
            .iter()
            .filter(|(id, o)| {
                o.revealed.is_none()
                    && !o.sealed.is_empty()
                    && o.fields
                        .get("auto_reveal")
                        .is_some_and(|f| f.value == Value::Bool(true))
                    && self.doc.is_visible(id)
            })
            .collect();
        if open.is_empty() {
            return Vec::new();
        }
        let Some(workshop) = self.workshop.upgrade() else {
            return Vec::new();
        };
        let team = workshop.voters(&self.id);
        let present: Vec<String> = self
            .member_list()
            .into_iter()
            .map(|m| m.participant)
            .filter(|p| team.contains(p))
            .collect();
        if present.is_empty() {
            return Vec::new();
        }
        open.into_iter()
            .filter(|(_, o)| {
                o.sealed.values().all(|entries| {
                    present
                        .iter()
                        .all(|p| entries.get(p).is_some_and(|f| f.value == Value::Bool(true)))
                })
            })
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// The reveal op the server sends for `object`, the `nth` of a batch, stamped after the
    /// document. The id names the object too: two nodes revealing different rounds at the same
    /// clock must not take each other's op id (the second would be dropped as a duplicate).
    fn server_reveal(&self, object: String, nth: u64) -> Op {
        let clock = self.doc.clock + 1 + nth;
        // FNV-1a: a short, stable fingerprint of the object id (ids may be 64 characters).
        let print = object.bytes().fold(0x811c_9dc5u32, |h, b| {
            (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
        });
        Op {
            id: format!("server-reveal-{clock}-{print:08x}"),
            stamp: plenary_protocol::Stamp::new(clock, SERVER_CLIENT),
            kind: OpKind::Reveal {
                object,
                values: Default::default(),
            },
        }
    }

    /// Answers an op from a connection that is not (or no longer) a member, through the op's own
    /// outbox: it is not ordered, but every op gets exactly one answer.
    fn reject_non_member(&self, op: &Op, outbox: &Outbox) {
        let reject = ServerMsg::Reject {
            room: self.id.to_string(),
            op_id: op.id.clone(),
            code: ErrorCode::NotInRoom,
            message: format!("not in room {}: join it before sending ops to it", self.id),
        };
        let _ = outbox.push(reject.to_json().into());
    }

    /// The checks every op passes before it is ordered, in both modes: membership, op-id
    /// deduplication, permission, stamp and validation against this room's document.
    fn screen(&self, conn: ConnId, op: &Op) -> Screened {
        let Some(participant) = self.members.get(&conn).map(|(m, _)| m.participant.clone()) else {
            return Screened::Rejected(
                ErrorCode::NotInRoom,
                format!("join room {} before sending ops to it", self.id),
            );
        };
        if SERVER_OP_PREFIXES.iter().any(|p| op.id.starts_with(p)) {
            return Screened::Rejected(
                ErrorCode::InvalidOp,
                format!(
                    "op ids starting with {} are the server's",
                    SERVER_OP_PREFIXES.join(" or ")
                ),
            );
        }
        if let OpKind::Create { object, .. } = &op.kind {
            if object.starts_with(TEMPLATE_OBJECT_PREFIX) {
                return Screened::Rejected(
                    ErrorCode::InvalidOp,
                    format!("object ids starting with {TEMPLATE_OBJECT_PREFIX} are the server's (exercise templates)"),
                );
            }
        }
        if let Some((seq, by)) = self.dedup.get(&op.id) {
            if by == participant {
                return Screened::Duplicate(seq);
            }
            return Screened::Rejected(
                ErrorCode::AlreadyExists,
                format!("op id {} is already taken", op.id),
            );
        }
        let Some(workshop) = self.workshop.upgrade() else {
            return Screened::Rejected(
                ErrorCode::Unavailable,
                "the workshop is shutting down".into(),
            );
        };
        if let Err(message) = workshop.may_write(&participant, &self.id, op) {
            return Screened::Rejected(ErrorCode::Forbidden, message);
        }
        if op.stamp.client != participant {
            return Screened::Rejected(
                ErrorCode::InvalidOp,
                "the stamp's client must be your participant id".into(),
            );
        }
        if let Err(e) = validate(&self.doc, op) {
            return Screened::Rejected(e.code, e.message);
        }
        Screened::Accepted(participant)
    }

    /// Takes the private part out of an op about to be ordered: a seal's value goes to the
    /// room's private sealed values (stored with the batch) and the op is ordered without it; a
    /// reveal gets the object's sealed values, which leave the private store. Other ops pass.
    fn seal_privately(&mut self, mut op: Op, member: &str) -> Op {
        match &mut op.kind {
            OpKind::Seal {
                object,
                field,
                value,
                withdraw,
            } => {
                let key = (object.clone(), field.clone());
                let before = match (value.take(), *withdraw) {
                    (Some(v), false) => {
                        self.sealed_writes.push(SealedWrite::Put(SealedValue {
                            object: object.clone(),
                            field: field.clone(),
                            member: member.to_owned(),
                            value: v.clone(),
                        }));
                        self.sealed
                            .entry(key.clone())
                            .or_default()
                            .insert(member.to_owned(), v)
                    }
                    _ => {
                        self.sealed_writes.push(SealedWrite::Remove {
                            object: object.clone(),
                            field: field.clone(),
                            member: member.to_owned(),
                        });
                        self.sealed.get_mut(&key).and_then(|m| m.remove(member))
                    }
                };
                self.sealed_undo.push((key, member.to_owned(), before));
                self.sealed_told.push(member.to_owned());
            }
            OpKind::Reveal { object, values } => {
                let keys: Vec<(String, String)> = self
                    .sealed
                    .keys()
                    .filter(|(o, _)| o == object)
                    .cloned()
                    .collect();
                for key in keys {
                    let members = self.sealed.remove(&key).unwrap_or_default();
                    for (member, value) in members {
                        self.sealed_told.push(member.clone());
                        values
                            .entry(key.1.clone())
                            .or_default()
                            .insert(member.clone(), value.clone());
                        self.sealed_undo.push((key.clone(), member, Some(value)));
                    }
                }
                self.sealed_writes.push(SealedWrite::Reveal {
                    object: object.clone(),
                });
            }
            _ => {}
        }
        op
    }

    /// A member's own sealed values in this room.
    fn own_sealed(&self, member: &str) -> Vec<SealedEntry> {
        let mut out: Vec<SealedEntry> = self
            .sealed
            .iter()
            .filter_map(|((object, field), members)| {
                members.get(member).map(|value| SealedEntry {
                    object: object.clone(),
                    field: field.clone(),
                    value: value.clone(),
                })
            })
            .collect();
        out.sort_by(|a, b| (&a.object, &a.field).cmp(&(&b.object, &b.field)));
        out
    }

    /// Tells every connection of `member` its own sealed values.
    fn tell_sealed(&self, member: &str) {
        self.send_sealed(member, self.own_sealed(member));
    }

    /// Sends `entries` (all of `member`'s sealed values) to every connection of `member` here.
    fn send_sealed(&self, member: &str, entries: Vec<SealedEntry>) {
        let frame: Utf8Bytes = ServerMsg::Sealed {
            room: self.id.to_string(),
            entries,
        }
        .to_json()
        .into();
        for (m, outbox) in self.members.values() {
            if m.participant == member {
                let _ = outbox.push(frame.clone());
            }
        }
    }

    /// Applies an op the room has decided to order, keeping what it takes to undo it.
    fn apply(&mut self, op: &Op) {
        let object = op.kind.object().to_owned();
        self.undo.push(Undo {
            before: self.doc.objects.get(&object).cloned(),
            was_tombstone: self.doc.tombstones.contains(&object),
            object,
        });
        self.doc.apply(op);
        self.seq += 1;
    }

    /// Puts the document back as it was before the ops of this batch were ordered.
    fn roll_back(&mut self, committed: &[StoredOp]) {
        for undo in self.undo.drain(..).rev() {
            match undo.before {
                Some(obj) => self.doc.objects.insert(undo.object.clone(), obj),
                None => self.doc.objects.remove(&undo.object),
            };
            if !undo.was_tombstone {
                self.doc.tombstones.remove(&undo.object);
            }
        }
        for (key, member, before) in self.sealed_undo.drain(..).rev() {
            let members = self.sealed.entry(key.clone()).or_default();
            match before {
                Some(v) => {
                    members.insert(member, v);
                }
                None => {
                    members.remove(&member);
                }
            }
            if members.is_empty() {
                self.sealed.remove(&key);
            }
        }
        self.sealed_writes.clear();
        self.sealed_told.clear();
        // The batch's ops are the newest in the window, in order (every `remember` between the
        // batch's start and its commit is of an op pushed to `committed`).
        for stored in committed.iter().rev() {
            let taken_back = self.dedup.pop_back_if(&stored.op.id);
            debug_assert!(taken_back, "op {} is not the newest", stored.op.id);
            if !taken_back {
                warn!(room = %self.id, op_id = %stored.op.id,
                    "a rolled-back op is not the newest in the dedup window; left in it");
            }
        }
        (self.doc.clock, self.seq) = self.batch_start;
    }

    fn handle_control(&mut self, cmd: RoomCmd) {
        match cmd {
            RoomCmd::Join {
                conn,
                member,
                outbox,
                resume,
            } => {
                self.catch_up(&outbox, resume);
                let own = self.own_sealed(&member.participant);
                if !own.is_empty() {
                    let own = ServerMsg::Sealed {
                        room: self.id.to_string(),
                        entries: own,
                    };
                    let _ = outbox.push(own.to_json().into());
                }
                let participant = member.participant.clone();
                let already = self
                    .members
                    .values()
                    .any(|(m, _)| m.participant == participant);
                self.members.insert(conn, (member, outbox));
                self.broadcast_presence((!already).then_some(participant), None);
            }
            RoomCmd::Leave { conn, reason } => {
                if let Some((member, outbox)) = self.members.remove(&conn) {
                    if let Some(reason) = reason {
                        let msg = ServerMsg::Left {
                            room: self.id.to_string(),
                            reason,
                        };
                        let _ = outbox.push(msg.to_json().into());
                    }
                    // Another connection of the same participant (a new tab, or the socket
                    // that replaced this one) keeps the participant present.
                    let still_here = self
                        .members
                        .values()
                        .any(|(m, _)| m.participant == member.participant);
                    self.broadcast_presence(None, (!still_here).then_some(member.participant));
                    self.reveal_check |= !still_here;
                }
            }
            RoomCmd::Focus {
                conn,
                focus,
                outbox,
            } => match self.members.get_mut(&conn) {
                Some((member, _)) => {
                    if member.focus != focus {
                        member.focus = focus;
                        self.broadcast_presence(None, None);
                    }
                }
                None => {
                    let error = ServerMsg::Error {
                        code: ErrorCode::NotInRoom,
                        message: format!("not in room {}", self.id),
                        req: None,
                        room: Some(self.id.to_string()),
                    };
                    let _ = outbox.push(error.to_json().into());
                }
            },
            RoomCmd::Inspect(reply) => {
                let _ = reply.send(RoomReport {
                    epoch: self.epoch,
                    seq: self.seq,
                    members: self.member_list(),
                    progress: templates::progress(&self.doc),
                    doc: self.doc.clone(),
                });
            }
            RoomCmd::Op { .. } | RoomCmd::Seed(_) => {
                unreachable!("ops are ordered in handle_batch")
            }
        }
    }

    /// Sends a joining connection what it misses: the ops after its resume point when the
    /// epoch matches and the log still holds them, otherwise a snapshot. The connection is added
    /// to the members right after, inside the same actor step, so no op falls in between.
    /// The catch-up goes outside the outbox's byte bound, within its own budget
    /// ([`Outbox::push_unbounded`]).
    fn catch_up(&self, outbox: &Outbox, resume: Option<(u64, u64)>) {
        if let Some((epoch, seq)) = resume {
            let oldest = self.log.front().map(|e| e.seq).unwrap_or(self.seq + 1);
            if epoch == self.epoch && seq <= self.seq && seq + 1 >= oldest {
                for entry in self.log.iter().filter(|e| e.seq > seq) {
                    // The catch-up log is itself bounded (CATCHUP_MAX_BYTES).
                    if outbox.push_unbounded(entry.frame.clone()).is_err() {
                        return;
                    }
                }
                return;
            }
        }
        let snapshot = ServerMsg::Snapshot {
            room: self.id.to_string(),
            epoch: self.epoch,
            seq: self.seq,
            doc: self.doc.clone(),
        };
        // A snapshot may be larger than the outbox bound: it is what the client asked for, and
        // the room limits bound its size, so it does not count toward the bound.
        let _ = outbox.push_unbounded(snapshot.to_json().into());
    }

    fn push_log(&mut self, seq: u64, frame: Utf8Bytes) {
        self.log_bytes += frame.len();
        self.log.push_back(LogEntry { seq, frame });
        while self.log.len() > CATCHUP_MAX_OPS || self.log_bytes > CATCHUP_MAX_BYTES {
            match self.log.pop_front() {
                Some(old) => self.log_bytes -= old.frame.len(),
                None => break,
            }
        }
    }

    /// Adds an op to the dedup window, unless its id is there already.
    fn remember(&mut self, op_id: String, seq: u64, participant: &str) {
        self.dedup.push(op_id, seq, participant);
    }

    fn send_to(&self, conn: ConnId, frame: Utf8Bytes) {
        if let Some((_, outbox)) = self.members.get(&conn) {
            // An overflow closes that connection as a slow consumer; it resyncs on reconnect.
            let _ = outbox.push(frame);
        }
    }

    fn broadcast_except(&self, except: Option<ConnId>, frame: &Utf8Bytes) {
        for (conn, (_, outbox)) in &self.members {
            if Some(*conn) != except {
                let _ = outbox.push(frame.clone());
            }
        }
    }

    /// Everyone in the room: local members and, in multi-node mode, the other nodes' members.
    fn member_list(&self) -> Vec<Member> {
        let mut members: Vec<Member> = self.members.values().map(|(m, _)| m.clone()).collect();
        members.extend(self.remote_members.iter().cloned());
        members.sort_by(|a, b| a.participant.cmp(&b.participant));
        members.dedup_by(|a, b| a.participant == b.participant);
        members
    }

    fn broadcast_presence(&self, joined: Option<String>, left: Option<String>) {
        let msg = ServerMsg::Presence {
            room: self.id.to_string(),
            members: self.member_list(),
            joined,
            left,
        };
        let frame: Utf8Bytes = msg.to_json().into();
        self.broadcast_except(None, &frame);
    }
}

/// Whether `op` may be the last thing an auto-reveal round waited for: a seal, or a set that
/// turns the flag on.
pub(super) fn may_complete_a_round(op: &Op) -> bool {
    match &op.kind {
        OpKind::Seal { .. } => true,
        OpKind::Set { fields, .. } => fields.contains_key("auto_reveal"),
        _ => false,
    }
}

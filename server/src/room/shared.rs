//! The room actor in multi-node mode: Redis orders the ops (see `crate::shared`), this node
//! applies the room's log as it reads it, acknowledging its own clients' ops when their entries
//! come back, so every node delivers the same ops in the same order.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::ws::Utf8Bytes;
use plenary_protocol::templates::{self, SERVER_CLIENT};
use plenary_protocol::{validate, ErrorCode, Member, Op, OpKind, ServerMsg};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::{ConnId, Room, RoomCmd, Screened, BATCH, CATCHUP_MAX_OPS, SNAPSHOT_EVERY_OPS};
use crate::cluster::{
    sealed_action, AppendError, Appended, Entry, Redis, RoomKeys, Subscriber, PRESENCE_REFRESH,
};
use crate::store::StoredOp;

/// Entries the reader may queue for one room before it holds back (and re-reads later).
const ENTRY_QUEUE: usize = 64;

/// The multi-node part of a room actor.
pub(crate) struct SharedRoom {
    redis: Arc<Redis>,
    keys: RoomKeys,
    /// Entries from the node's reader, while subscribed.
    entries_tx: mpsc::Sender<Vec<Entry>>,
    entries_rx: Option<mpsc::Receiver<Vec<Entry>>>,
    subscribed: bool,
    /// seq -> (connection, op id, echo) of this node's ops waiting for their entry to come
    /// back; `echo`: the entry completes the op (a reveal's values), so the sender gets it too.
    pending: HashMap<u64, (ConnId, String, bool)>,
    /// This node's ops that Redis ordered but the reader has not brought back yet, by seq. Later
    /// ops are validated with them applied (a text op names the characters its sender typed in
    /// the op before); they leave when their entries are applied.
    inflight: std::collections::BTreeMap<u64, Op>,
}

impl SharedRoom {
    pub(crate) fn new(redis: Arc<Redis>, workshop: &str, room: &str) -> Self {
        let (entries_tx, entries_rx) = mpsc::channel(ENTRY_QUEUE);
        SharedRoom {
            redis,
            keys: RoomKeys::new(workshop, room),
            entries_tx,
            entries_rx: Some(entries_rx),
            subscribed: false,
            pending: HashMap::new(),
            inflight: std::collections::BTreeMap::new(),
        }
    }
}

/// One op this node wants ordered: who sent it (None for the server's seeds), the op in its
/// public form (a seal without its value) and the sealed action the append script carries out.
struct Outgoing {
    conn: Option<ConnId>,
    participant: String,
    op: Op,
    sealed: String,
}

impl Room {
    /// The room's actor with several nodes: Redis orders the ops (`sh`), this node applies them
    /// in log order.
    pub(super) async fn run_shared(
        mut self,
        mut sh: SharedRoom,
        mut rx: mpsc::Receiver<RoomCmd>,
        shutdown: CancellationToken,
    ) {
        // Load the room (epoch, snapshot, tail) before serving anything; retry while Redis is away.
        loop {
            match sh.redis.load_room(&sh.keys, CATCHUP_MAX_OPS as u64).await {
                Ok(loaded) => {
                    self.epoch = loaded.epoch;
                    self.doc = loaded.doc;
                    self.seq = loaded.snapshot_seq;
                    self.snapshot_seq = loaded.snapshot_seq;
                    for entry in loaded.entries {
                        if entry.seq <= self.seq {
                            // Before the snapshot: history for catch-up and dedup only.
                            if let Some(stored) = entry.op {
                                self.record(stored);
                            }
                        } else {
                            self.apply_entry(&mut sh, entry);
                        }
                    }
                    break;
                }
                Err(e) => {
                    warn!(room = %self.id, error = %e, "cannot load room from redis; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(std::time::Duration::from_millis(500)) => {}
                        _ = shutdown.cancelled() => return,
                    }
                }
            }
        }
        let mut entries_rx = sh.entries_rx.take().expect("taken once");
        let mut batch = Vec::with_capacity(BATCH);
        // Spread the rooms' snapshots over the period instead of writing them all at once.
        let first =
            tokio::time::Instant::now() + self.snapshot_every.mul_f64(rand::random::<f64>());
        let mut snapshot_timer = tokio::time::interval_at(first, self.snapshot_every);
        let mut presence_timer = tokio::time::interval(PRESENCE_REFRESH);
        loop {
            tokio::select! {
                n = rx.recv_many(&mut batch, BATCH) => {
                    if n == 0 {
                        break;
                    }
                    self.shared_batch(&mut sh, &mut batch).await;
                }
                Some(entries) = entries_rx.recv() => self.apply_entries(&mut sh, entries).await,
                _ = presence_timer.tick() => {
                    if sh.subscribed {
                        self.refresh_presence(&sh).await;
                        // Every second, whatever happened: a team change without a leave, or a
                        // reveal Redis refused, is caught here.
                        self.reveal_check = true;
                        self.shared_auto_reveal(&mut sh).await;
                    }
                }
                _ = snapshot_timer.tick() => {
                    if self.seq > self.snapshot_seq && sh.subscribed {
                        self.shared_snapshot(&sh).await;
                    }
                }
                _ = shutdown.cancelled() => break,
            }
        }
        if sh.subscribed {
            sh.redis.unsubscribe(&sh.keys.log);
        }
        debug!(room = %self.id, seq = self.seq, "shared room actor stopped");
    }

    async fn shared_batch(&mut self, sh: &mut SharedRoom, batch: &mut Vec<RoomCmd>) {
        let mut outgoing: Vec<Outgoing> = Vec::new();
        for cmd in batch.drain(..) {
            match cmd {
                RoomCmd::Op { conn, op, outbox } if !self.members.contains_key(&conn) => {
                    self.reject_non_member(&op, &outbox);
                }
                RoomCmd::Op { conn, op, .. } => {
                    if let Some(o) = self.check(sh, conn, op) {
                        outgoing.push(o);
                    }
                }
                RoomCmd::Seed(template) => {
                    for op in templates::seed_ops(&self.doc, template) {
                        if validate(&self.doc, &op).is_ok() {
                            self.tentative(&op);
                            outgoing.push(Outgoing {
                                conn: None,
                                participant: SERVER_CLIENT.into(),
                                op,
                                sealed: String::new(),
                            });
                        }
                    }
                }
                other => {
                    self.append(sh, &mut outgoing).await;
                    let membership = matches!(other, RoomCmd::Join { .. } | RoomCmd::Leave { .. });
                    let joining = match &other {
                        RoomCmd::Join { member, .. } => Some(member.participant.clone()),
                        _ => None,
                    };
                    if joining.is_some() {
                        self.ensure_subscribed(sh).await;
                    }
                    self.handle_control(other);
                    if let Some(member) = joining {
                        self.tell_sealed_shared(sh, &member, true).await;
                    }
                    if membership {
                        self.after_membership_change(sh).await;
                        self.shared_auto_reveal(sh).await;
                    }
                }
            }
        }
        self.append(sh, &mut outgoing).await;
    }

    /// Permission, stamp and validation checks of one op against this node's replica. A passing
    /// op is applied tentatively, so later ops of the same batch validate against it.
    fn check(&mut self, sh: &mut SharedRoom, conn: ConnId, op: Op) -> Option<Outgoing> {
        // First op of the batch: apply what is in flight, tentatively, so that validation sees it.
        if self.undo.is_empty() && !sh.inflight.is_empty() {
            let seq = self.seq;
            sh.inflight.retain(|s, _| *s > seq);
            let inflight: Vec<Op> = sh.inflight.values().cloned().collect();
            for op in &inflight {
                self.tentative(op);
            }
        }
        let participant = match self.screen(conn, &op) {
            Screened::Accepted(participant) => participant,
            Screened::Duplicate(seq) => {
                let ack = ServerMsg::Ack {
                    room: self.id.to_string(),
                    op_id: op.id,
                    seq,
                };
                self.send_to(conn, ack.to_json().into());
                return None;
            }
            Screened::Rejected(code, message) => {
                let msg = ServerMsg::Reject {
                    room: self.id.to_string(),
                    op_id: op.id,
                    code,
                    message,
                };
                self.send_to(conn, msg.to_json().into());
                return None;
            }
        };
        let sealed = sealed_action(&op, &participant);
        let op = Op {
            kind: op.kind.public(),
            ..op
        };
        self.tentative(&op);
        Some(Outgoing {
            conn: Some(conn),
            participant,
            op,
            sealed,
        })
    }

    /// Sends `member`'s connections here their own sealed values, read from Redis (`quiet`:
    /// not when there are none, as after a join).
    async fn tell_sealed_shared(&mut self, sh: &SharedRoom, member: &str, quiet: bool) {
        let redis = sh.redis.clone();
        let entries = match redis.sealed_of(&sh.keys, member).await {
            Ok(entries) => entries,
            Err(e) => {
                warn!(room = %self.id, error = %e, "cannot read sealed values");
                return;
            }
        };
        if !(quiet && entries.is_empty()) {
            self.send_sealed(member, entries);
        }
    }

    /// Applies an op only until the batch is sent to Redis, so that later ops of the batch
    /// validate against it; the order and the real apply come from the log.
    fn tentative(&mut self, op: &Op) {
        if self.undo.is_empty() {
            self.batch_start = (self.doc.clock, self.seq);
        }
        self.apply(op);
    }

    /// Undoes the tentative applies and asks Redis to order the ops. Acks are sent when the
    /// entries come back through the reader, in seq order.
    async fn append(&mut self, sh: &mut SharedRoom, outgoing: &mut Vec<Outgoing>) {
        // Tentative applies (in-flight ops, and this batch's) are undone even when every op of
        // the batch was refused.
        if !self.undo.is_empty() {
            self.roll_back(&[]);
        }
        if outgoing.is_empty() {
            return;
        }
        let batch: Vec<Outgoing> = std::mem::take(outgoing);
        let ops: Vec<(Op, String, String)> = batch
            .iter()
            .map(|o| (o.op.clone(), o.participant.clone(), o.sealed.clone()))
            .collect();
        let redis = sh.redis.clone();
        let result = redis.append(&sh.keys, &ops).await;
        match result {
            Err(e) => {
                // `unavailable` promises that nothing was applied: only when the script did not
                // run. When it may have, and Redis did not answer again in time, say so.
                let (code, message) = match &e {
                    AppendError::NotApplied(e) => {
                        warn!(room = %self.id, error = %e, "redis refused ops");
                        (
                            ErrorCode::Unavailable,
                            "the shared store is unavailable; retry later",
                        )
                    }
                    AppendError::Unknown(e) => {
                        warn!(room = %self.id, error = %e, ops = batch.len(),
                            "redis lost the answer to an append; outcome unknown");
                        (
                            ErrorCode::OutcomeUnknown,
                            "the shared store did not answer; resend with the same op id",
                        )
                    }
                };
                for o in batch {
                    if let Some(conn) = o.conn {
                        let msg = ServerMsg::Reject {
                            room: self.id.to_string(),
                            op_id: o.op.id,
                            code,
                            message: message.into(),
                        };
                        self.send_to(conn, msg.to_json().into());
                    }
                }
            }
            Ok(results) => {
                let mut told: Vec<String> = Vec::new();
                for (o, appended) in batch.into_iter().zip(results) {
                    if let Appended::New(seq) = appended {
                        if seq > self.seq {
                            sh.inflight.insert(seq, o.op.clone());
                        }
                    }
                    let Some(conn) = o.conn else { continue };
                    match appended {
                        Appended::New(seq) => {
                            if matches!(o.op.kind, OpKind::Seal { .. }) {
                                told.push(o.participant.clone());
                            }
                            let echo = matches!(o.op.kind, OpKind::Reveal { .. });
                            sh.pending.insert(seq, (conn, o.op.id, echo));
                        }
                        Appended::Duplicate(seq, by) if by == o.participant => {
                            if seq <= self.seq {
                                let ack = ServerMsg::Ack {
                                    room: self.id.to_string(),
                                    op_id: o.op.id,
                                    seq,
                                };
                                self.send_to(conn, ack.to_json().into());
                            } else {
                                let echo = matches!(o.op.kind, OpKind::Reveal { .. });
                                sh.pending.insert(seq, (conn, o.op.id, echo));
                            }
                        }
                        Appended::Revealed => {
                            let msg = ServerMsg::Reject {
                                room: self.id.to_string(),
                                op_id: o.op.id,
                                code: ErrorCode::Conflict,
                                message: format!("{} was revealed already", o.op.kind.object()),
                            };
                            self.send_to(conn, msg.to_json().into());
                        }
                        Appended::Duplicate(..) => {
                            let msg = ServerMsg::Reject {
                                room: self.id.to_string(),
                                op_id: o.op.id,
                                code: ErrorCode::AlreadyExists,
                                message: "op id already taken".into(),
                            };
                            self.send_to(conn, msg.to_json().into());
                        }
                    }
                }
                told.sort();
                told.dedup();
                for member in told {
                    self.tell_sealed_shared(sh, &member, false).await;
                }
            }
        }
    }

    /// Applies entries read from the log, filling any gap from the log first.
    async fn apply_entries(&mut self, sh: &mut SharedRoom, entries: Vec<Entry>) {
        if let Some(first) = entries.first() {
            if first.seq > self.seq + 1 {
                self.catch_up_log(sh).await;
            }
        }
        for e in entries {
            self.apply_entry(sh, e);
        }
        if self.seq >= self.snapshot_seq + SNAPSHOT_EVERY_OPS {
            self.shared_snapshot(sh).await;
        }
        self.shared_auto_reveal(sh).await;
    }

    /// Asks Redis to order the reveals that are due. Every node following the room may ask
    /// at once; the script orders the first and answers the others "revealed already".
    async fn shared_auto_reveal(&mut self, sh: &mut SharedRoom) {
        if !std::mem::take(&mut self.reveal_check) {
            return;
        }
        let mut outgoing = Vec::new();
        for (nth, object) in self.due_reveals().into_iter().enumerate() {
            let op = self.server_reveal(object, nth as u64);
            if validate(&self.doc, &op).is_ok() {
                let sealed = sealed_action(&op, SERVER_CLIENT);
                outgoing.push(Outgoing {
                    conn: None,
                    participant: SERVER_CLIENT.into(),
                    op,
                    sealed,
                });
            }
        }
        self.append(sh, &mut outgoing).await;
    }

    /// Applies whatever the log holds after this node's seq (a gap, or what was ordered while the
    /// room was not followed).
    async fn catch_up_log(&mut self, sh: &mut SharedRoom) {
        let redis = sh.redis.clone();
        let from = self.seq + 1;
        match redis.range(&sh.keys, from).await {
            Ok(fill) => {
                for e in fill {
                    self.apply_entry(sh, e);
                }
            }
            Err(e) => warn!(room = %self.id, error = %e, "cannot read the room log"),
        }
    }

    /// Applies one entry in order: an ack for this node's sender, the op for everyone else.
    fn apply_entry(&mut self, sh: &mut SharedRoom, entry: Entry) {
        if entry.seq <= self.seq {
            return;
        }
        self.seq = entry.seq;
        sh.inflight.remove(&entry.seq);
        let Some(mut stored) = entry.op else {
            // A malformed entry (never written by Plenary) is skipped; clients see a seq gap.
            return;
        };
        stored.op = self.doc.public_reveal(stored.op);
        self.reveal_check |= super::may_complete_a_round(&stored.op);
        self.doc.apply(&stored.op);
        let seq = stored.seq;
        let op_id = stored.op.id.clone();
        let frame = self.record(stored);
        let sender = sh.pending.remove(&seq);
        let except = match &sender {
            Some((conn, _, false)) => Some(*conn),
            _ => None,
        };
        self.broadcast_except(except, &frame);
        if let Some((conn, id, _)) = &sender {
            debug_assert_eq!(*id, op_id);
            let ack = ServerMsg::Ack {
                room: self.id.to_string(),
                op_id,
                seq,
            };
            self.send_to(*conn, ack.to_json().into());
        }
    }

    /// Remembers an entry for dedup and catch-up; returns its broadcast frame.
    fn record(&mut self, stored: StoredOp) -> Utf8Bytes {
        self.remember(stored.op.id.clone(), stored.seq, &stored.participant);
        let frame: Utf8Bytes = ServerMsg::Op {
            room: self.id.to_string(),
            seq: stored.seq,
            op: stored.op,
        }
        .to_json()
        .into();
        self.push_log(stored.seq, frame.clone());
        frame
    }

    /// Starts following the room's log (when it gets its first local member), after catching up
    /// with what was ordered while it was not followed.
    async fn ensure_subscribed(&mut self, sh: &mut SharedRoom) {
        if sh.subscribed {
            return;
        }
        self.catch_up_log(sh).await;
        let redis = sh.redis.clone();
        let key = sh.keys.log.clone();
        let tx = sh.entries_tx.clone();
        redis.subscribe(key, format!("{}-1", self.seq), Subscriber::Room(tx));
        sh.subscribed = true;
    }

    /// After a local join or leave: publish presence, and stop following the log when no
    /// local member is left.
    async fn after_membership_change(&mut self, sh: &mut SharedRoom) {
        self.refresh_presence(sh).await;
        if self.members.is_empty() && sh.subscribed {
            let key = sh.keys.log.clone();
            sh.redis.unsubscribe(&key);
            sh.subscribed = false;
            sh.pending.clear();
            sh.inflight.clear();
        }
    }

    /// Publishes this node's members and reads the other nodes'; broadcasts a change.
    async fn refresh_presence(&mut self, sh: &SharedRoom) {
        let local: Vec<Member> = {
            let mut m: Vec<Member> = self.members.values().map(|(m, _)| m.clone()).collect();
            m.sort_by(|a, b| a.participant.cmp(&b.participant));
            m.dedup_by(|a, b| a.participant == b.participant);
            m
        };
        let redis = sh.redis.clone();
        let Ok(all) = redis.presence(&sh.keys, &local).await else {
            return;
        };
        let remote: Vec<Member> = all
            .into_iter()
            .filter(|m| !local.iter().any(|l| l.participant == m.participant))
            .collect();
        if remote != self.remote_members {
            let before: Vec<String> = self
                .member_list()
                .into_iter()
                .map(|m| m.participant)
                .collect();
            self.remote_members = remote;
            let after: Vec<String> = self
                .member_list()
                .into_iter()
                .map(|m| m.participant)
                .collect();
            let joined = after.iter().find(|p| !before.contains(p)).cloned();
            let left = before.iter().find(|p| !after.contains(p)).cloned();
            self.reveal_check |= left.is_some();
            self.broadcast_presence(joined, left);
        }
    }

    async fn shared_snapshot(&mut self, sh: &SharedRoom) {
        let doc = self.doc.canonical_json();
        let trim_below = self.seq.saturating_sub(CATCHUP_MAX_OPS as u64);
        let redis = sh.redis.clone();
        let seq = self.seq;
        let stored = redis.snapshot(&sh.keys, seq, &doc, trim_below).await;
        match stored {
            Ok(()) => self.snapshot_seq = self.seq,
            Err(e) => warn!(room = %self.id, error = %e, "snapshot to redis failed; will retry"),
        }
    }
}

//! The room's sequencer on a node alone: the room orders each batch of ops itself, commits it
//! to the embedded store, and only then acknowledges and broadcasts; a failed commit rolls the
//! batch back and refuses every op in it.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::ws::Utf8Bytes;
use plenary_protocol::templates::{self, SERVER_CLIENT};
use plenary_protocol::{validate, ErrorCode, Op, OpKind, ServerMsg};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::{
    may_complete_a_round, ConnId, Room, RoomCmd, Screened, BATCH, DEDUP_PERSISTED,
    SNAPSHOT_EVERY_OPS,
};
use crate::store::{Dedup, EncodedOp, Store, StoredOp, Write};

/// The result of ordering one op, delivered after the batch is committed.
enum Outcome {
    Applied {
        conn: ConnId,
        op_id: String,
        seq: u64,
        /// The server completed the op (a reveal's values): the sender gets the op too.
        echo: bool,
    },
    Duplicate {
        conn: ConnId,
        op_id: String,
        seq: u64,
    },
    Rejected {
        conn: ConnId,
        op_id: String,
        code: ErrorCode,
        message: String,
    },
}

impl Room {
    /// The room's actor on a node alone: it orders the ops and commits them to `store`.
    pub(super) async fn run(
        mut self,
        store: Arc<dyn Store>,
        mut rx: mpsc::Receiver<RoomCmd>,
        shutdown: CancellationToken,
    ) {
        let store = &*store;
        let mut batch = Vec::with_capacity(BATCH);
        // Spread the rooms' snapshots over the period instead of writing them all at once.
        let first =
            tokio::time::Instant::now() + self.snapshot_every.mul_f64(rand::random::<f64>());
        let mut snapshot_timer = tokio::time::interval_at(first, self.snapshot_every);
        loop {
            tokio::select! {
                n = rx.recv_many(&mut batch, BATCH) => {
                    if n == 0 {
                        break;
                    }
                    self.handle_batch(store, &mut batch).await;
                    if self.seq >= self.snapshot_seq + SNAPSHOT_EVERY_OPS {
                        self.snapshot(store).await;
                    }
                }
                _ = snapshot_timer.tick() => {
                    if self.seq > self.snapshot_seq {
                        self.snapshot(store).await;
                    }
                    // A change of teams reaches the room only as a leave; a team change of a
                    // member who stays (on stage), or a reveal the store refused, is caught here.
                    self.auto_reveal(store).await;
                }
                _ = shutdown.cancelled() => break,
            }
        }
        debug!(room = %self.id, seq = self.seq, "room actor stopped");
    }

    /// The most recent op ids (at most [`DEDUP_PERSISTED`]), oldest first, to store with a
    /// snapshot.
    fn dedup_window(&self) -> Vec<Dedup> {
        self.dedup
            .newest(DEDUP_PERSISTED)
            .map(|(op_id, seq, participant)| Dedup {
                op_id: op_id.to_owned(),
                seq,
                participant: participant.to_owned(),
            })
            .collect()
    }

    /// Writes the document at the current seq with the recent op ids; the store may then drop
    /// the ops it covers. A failed snapshot loses nothing: the ops are only dropped after one.
    async fn snapshot(&mut self, store: &dyn Store) {
        let write = Write::Snapshot {
            workshop: self.workshop_id.clone(),
            room: self.id.clone(),
            epoch: self.epoch,
            seq: self.seq,
            doc: self.doc.canonical_json(),
            dedup: self.dedup_window(),
        };
        match store.write(write).await {
            Ok(()) => self.snapshot_seq = self.seq,
            Err(e) => warn!(room = %self.id, error = %e, "snapshot failed; will retry"),
        }
    }

    async fn handle_batch(&mut self, store: &dyn Store, batch: &mut Vec<RoomCmd>) {
        self.batch_start = (self.doc.clock, self.seq);
        let mut outcomes = Vec::new();
        let mut committed: Vec<StoredOp> = Vec::new();
        for cmd in batch.drain(..) {
            match cmd {
                RoomCmd::Op { conn, op, outbox } if !self.members.contains_key(&conn) => {
                    self.reject_non_member(&op, &outbox);
                }
                RoomCmd::Op { conn, op, .. } => {
                    let outcome = self.order(conn, op, &mut committed);
                    outcomes.push(outcome);
                }
                RoomCmd::Seed(template) => {
                    for op in templates::seed_ops(&self.doc, template) {
                        if validate(&self.doc, &op).is_ok() {
                            self.apply(&op);
                            self.remember(op.id.clone(), self.seq, SERVER_CLIENT);
                            committed.push(StoredOp {
                                seq: self.seq,
                                op,
                                participant: SERVER_CLIENT.to_owned(),
                            });
                        }
                    }
                }
                other => {
                    // Membership changes see every op ordered before them: flush first.
                    self.commit(store, &mut committed, &mut outcomes).await;
                    self.handle_control(other);
                }
            }
        }
        self.commit(store, &mut committed, &mut outcomes).await;
        if std::mem::take(&mut self.reveal_check) {
            self.auto_reveal(store).await;
        }
    }

    /// Orders and commits the reveals that are due (single-node mode), like a member's reveal.
    async fn auto_reveal(&mut self, store: &dyn Store) {
        let due = self.due_reveals();
        if due.is_empty() {
            return;
        }
        self.batch_start = (self.doc.clock, self.seq);
        let mut committed = Vec::new();
        for object in due.iter().cloned() {
            let op = self.server_reveal(object, 0);
            if validate(&self.doc, &op).is_err() {
                continue;
            }
            let op = self.seal_privately(op, SERVER_CLIENT);
            let op = self.doc.public_reveal(op);
            self.apply(&op);
            self.remember(op.id.clone(), self.seq, SERVER_CLIENT);
            committed.push(StoredOp {
                seq: self.seq,
                op,
                participant: SERVER_CLIENT.to_owned(),
            });
        }
        self.commit(store, &mut committed, &mut Vec::new()).await;
        // The store refused the batch: try again after the next batch or snapshot tick.
        self.reveal_check = due.iter().any(|o| {
            self.doc
                .objects
                .get(o)
                .is_some_and(|x| x.revealed.is_none())
        });
    }

    /// Decides one op: duplicate, rejected, or applied at the next seq (not yet committed).
    fn order(&mut self, conn: ConnId, op: Op, committed: &mut Vec<StoredOp>) -> Outcome {
        let op_id = op.id.clone();
        let participant = match self.screen(conn, &op) {
            Screened::Accepted(participant) => participant,
            Screened::Duplicate(seq) => return Outcome::Duplicate { conn, op_id, seq },
            Screened::Rejected(code, message) => {
                return Outcome::Rejected {
                    conn,
                    op_id,
                    code,
                    message,
                }
            }
        };
        let echo = matches!(op.kind, OpKind::Reveal { .. });
        self.reveal_check |= may_complete_a_round(&op);
        let op = self.seal_privately(op, &participant);
        let op = self.doc.public_reveal(op);
        self.apply(&op);
        let seq = self.seq;
        self.remember(op.id.clone(), seq, &participant);
        committed.push(StoredOp {
            seq,
            op,
            participant,
        });
        Outcome::Applied {
            conn,
            op_id,
            seq,
            echo,
        }
    }

    /// Makes the ordered ops durable, then acknowledges and broadcasts them. If the store
    /// fails, nothing of the batch is acknowledged or kept: the room rolls back and every op in
    /// it is rejected with `unavailable`, so the client can resend it later.
    async fn commit(
        &mut self,
        store: &dyn Store,
        committed: &mut Vec<StoredOp>,
        outcomes: &mut Vec<Outcome>,
    ) {
        // Each op is encoded once: the stored text, and the broadcast frame built around it.
        let mut frames = Vec::with_capacity(committed.len());
        if !committed.is_empty() {
            let mut encoded = Vec::with_capacity(committed.len());
            for stored in committed.iter() {
                let op = serde_json::to_string(&stored.op).expect("ops always serialize");
                let frame: Utf8Bytes = ServerMsg::op_frame(&self.id, stored.seq, &op).into();
                frames.push((stored.seq, frame));
                encoded.push(EncodedOp {
                    seq: stored.seq,
                    participant: stored.participant.clone(),
                    op,
                });
            }
            let write = Write::Ops {
                workshop: self.workshop_id.clone(),
                room: self.id.clone(),
                epoch: self.epoch,
                ops: encoded,
                sealed: std::mem::take(&mut self.sealed_writes),
            };
            if let Err(e) = store.write(write).await {
                warn!(room = %self.id, error = %e, "storing ops failed; batch rolled back");
                let rolled_back_after = self.batch_start.1;
                self.roll_back(committed);
                committed.clear();
                frames.clear();
                for outcome in outcomes.iter_mut() {
                    // A resend of an op of this same batch was a duplicate of a seq that is
                    // gone now: it is refused like the op itself.
                    let (conn, op_id) = match outcome {
                        Outcome::Applied { conn, op_id, .. } => (*conn, op_id),
                        Outcome::Duplicate { conn, op_id, seq } if *seq > rolled_back_after => {
                            (*conn, op_id)
                        }
                        _ => continue,
                    };
                    *outcome = Outcome::Rejected {
                        conn,
                        op_id: std::mem::take(op_id),
                        code: ErrorCode::Unavailable,
                        message: e.client_message().into(),
                    };
                }
            }
        }
        committed.clear();
        self.undo.clear();
        self.sealed_undo.clear();
        self.batch_start = (self.doc.clock, self.seq);
        // Acks and broadcasts go out strictly in seq order, whoever sent the op (a client, or
        // the server seeding a template); then the rejects and duplicate acks.
        let mut senders: HashMap<u64, (ConnId, String, bool)> = HashMap::new();
        for outcome in outcomes.iter_mut() {
            if let Outcome::Applied {
                conn,
                seq,
                op_id,
                echo,
            } = outcome
            {
                senders.insert(*seq, (*conn, std::mem::take(op_id), *echo));
            }
        }
        for (seq, frame) in frames {
            self.push_log(seq, frame.clone());
            let sender = senders.remove(&seq);
            // The sender of an op the server completed gets it first, then its ack.
            let except = match &sender {
                Some((conn, _, false)) => Some(*conn),
                _ => None,
            };
            self.broadcast_except(except, &frame);
            if let Some((conn, op_id, _)) = &sender {
                let ack = ServerMsg::Ack {
                    room: self.id.to_string(),
                    op_id: op_id.clone(),
                    seq,
                };
                self.send_to(*conn, ack.to_json().into());
            }
        }
        let mut told = std::mem::take(&mut self.sealed_told);
        told.sort();
        told.dedup();
        for member in told {
            self.tell_sealed(&member);
        }
        for outcome in outcomes.drain(..) {
            match outcome {
                Outcome::Applied { .. } => {}
                Outcome::Duplicate { conn, op_id, seq } => {
                    let ack = ServerMsg::Ack {
                        room: self.id.to_string(),
                        op_id,
                        seq,
                    };
                    self.send_to(conn, ack.to_json().into());
                }
                Outcome::Rejected {
                    conn,
                    op_id,
                    code,
                    message,
                } => {
                    let msg = ServerMsg::Reject {
                        room: self.id.to_string(),
                        op_id,
                        code,
                        message,
                    };
                    self.send_to(conn, msg.to_json().into());
                }
            }
        }
    }
}

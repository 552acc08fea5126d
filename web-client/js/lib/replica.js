// The client-side replica of one room: the confirmed document in server order plus one's own
// pending ops. Pure logic, no I/O: the sync engine feeds it server messages and sends what it
// asks for. The rules follow docs/PROTOCOL.md section 12 (in the spirit of Figma and Liveblocks):
//
//   visible doc = confirmed doc + pending ops re-applied unconditionally, in send order,
//
// so a field with a pending local write shows the local value until the server answers, and a
// rejected op simply disappears from the view (rolled back) when it leaves `pending`.

import { applyOp, buildTree, docFromJson, emptyDoc, forkDoc, overlayOp } from './doc.js';

/**
 * Reject codes after which the same op (same id) is sent again later. After `outcome_unknown`
 * the op may have been applied: only a resend with the same id can tell (it is acknowledged
 * with its original seq if it was).
 */
export const RETRY_CODES = new Set(['rate_limited', 'unavailable', 'outcome_unknown']);

export class RoomReplica {
  constructor(room) {
    this.room = room;
    /** Room generation: ops of one epoch are never applied to a document of another. */
    this.epoch = null;
    /** Highest seq applied to `confirmed`; the resume point together with `epoch`. */
    this.seq = 0;
    /** Whether a snapshot arrived: before it, there is no resume point and no confirmed doc. */
    this.synced = false;
    this.confirmed = emptyDoc();
    /**
     * Own ops not yet answered, in send order: { op, sent, ackedSeq }. `sent` is false for ops
     * waiting to be (re)sent; `ackedSeq` is set when an ack arrived ahead of a gap.
     */
    this.pending = [];
    /** Lamport counter: max of every clock seen, plus one per own op. */
    this.clock = 0;
    /** Ops and acks that arrived ahead of a gap, by seq; applied once the gap fills. */
    this.ahead = new Map();
    /**
     * One's own sealed values ("object\u001ffield" -> value): the server keeps them from
     * everyone else until the reveal, so the document never has them; they come from one's own
     * acknowledged seals and from `sealed` messages (after a join, from another tab).
     */
    this.ownSealed = new Map();
    this.cached = null;
  }

  /** The resume point for hello/join, or null before the first snapshot. */
  resumePoint() {
    return this.synced ? { room: this.room, epoch: this.epoch, seq: this.seq } : null;
  }

  /** A stamp for a new own op. */
  nextStamp(client) {
    this.clock = Math.max(this.clock, this.confirmed.clock) + 1;
    return { clock: this.clock, client };
  }

  /** Records a local edit; it shows in the view at once. */
  addLocal(op) {
    this.pending.push({ op, sent: false, ackedSeq: null });
    this.invalidate();
  }

  /** Ops to send now (marked as sent). After a reconnect call `markAllUnsent` first. */
  takeUnsent() {
    const out = [];
    for (const p of this.pending) {
      if (!p.sent) {
        p.sent = true;
        out.push(p.op);
      }
    }
    return out;
  }

  /** After a disconnect every pending op is resent, unchanged and in order. */
  markAllUnsent() {
    for (const p of this.pending) p.sent = false;
  }

  hasPending() {
    return this.pending.length > 0;
  }

  /** A `snapshot`: replaces the confirmed document; pending ops stay and are overlaid again. */
  onSnapshot({ epoch, seq, doc }) {
    this.confirmed = docFromJson(doc);
    this.epoch = epoch;
    this.seq = seq;
    this.synced = true;
    this.clock = Math.max(this.clock, this.confirmed.clock);
    for (const s of [...this.ahead.keys()]) if (s <= seq) this.ahead.delete(s);
    this.drain();
    this.invalidate();
  }

  /**
   * An `op` of the room at `seq`. Returns { gap } : true when it arrived ahead of a missing seq
   * (it is kept and applied when the gap fills; the caller resyncs if the gap stays open).
   */
  onOp(seq, op) {
    this.clock = Math.max(this.clock, op.stamp.clock);
    if (!this.synced || seq <= this.seq) return { gap: false };
    if (seq > this.seq + 1) {
      this.ahead.set(seq, op);
      return { gap: true };
    }
    this.applyConfirmed(seq, op);
    this.drain();
    this.invalidate();
    return { gap: this.ahead.size > 0 };
  }

  /** An `ack` for an own op. Returns the op, or null for an ack of an op no longer pending. */
  onAck(opId, seq) {
    const entry = this.pending.find((p) => p.op.id === opId);
    if (entry === undefined) return null;
    if (!this.synced || seq <= this.seq) {
      // Already in the confirmed doc (via a snapshot or catch-up): do not apply it twice.
      this.removePending(opId);
    } else if (seq === this.seq + 1 && !this.ahead.has(seq)) {
      this.applyConfirmed(seq, entry.op);
      this.drain();
    } else if (!this.ahead.has(seq)) {
      // The op itself may be waiting ahead already (a reveal the server completed and sent
      // before the ack): never replace it with the local copy.
      entry.ackedSeq = seq;
      this.ahead.set(seq, entry.op);
    }
    this.invalidate();
    return entry.op;
  }

  /**
   * A `reject` for an own op. Returns { op, retry } or null: with `retry` the op stays pending
   * (unsent) and must be sent again later with the same id; otherwise it was rolled back.
   */
  onReject(opId, code) {
    const entry = this.pending.find((p) => p.op.id === opId);
    if (entry === undefined) return null;
    if (RETRY_CODES.has(code)) {
      entry.sent = false;
      return { op: entry.op, retry: true };
    }
    this.removePending(opId);
    this.invalidate();
    return { op: entry.op, retry: false };
  }

  /** A `sealed` message: all of one's own sealed values in this room. */
  onSealed(entries) {
    this.ownSealed = new Map(entries.map((e) => [`${e.object}\u001f${e.field}`, e.value]));
    this.invalidate();
  }

  /**
   * One's own sealed value in `field` of `object` (a pending seal first), or undefined when
   * there is none, it was withdrawn, or the object was revealed (then the document has it).
   */
  ownSealedValue(object, field) {
    const obj = this.view().doc.objects.get(object);
    if (obj === undefined || obj.revealed) return undefined;
    for (let i = this.pending.length - 1; i >= 0; i -= 1) {
      const op = this.pending[i].op;
      if (op.action === 'seal' && op.object === object && op.field === field) return op.withdraw ? undefined : op.value;
    }
    return this.ownSealed.get(`${object}\u001f${field}`);
  }

  /** Whether the confirmed doc already has `id` (an `already_exists` reject of a resent create). */
  exists(id) {
    return this.confirmed.objects.has(id) || this.confirmed.tombstones.has(id);
  }

  /** The lowest missing seq when ops are waiting ahead of a gap, else null. */
  gap() {
    return this.ahead.size > 0 ? this.seq + 1 : null;
  }

  /** The visible document: confirmed plus pending, with its ordered visible tree. Cached. */
  view() {
    if (this.cached === null) {
      const doc = forkDoc(this.confirmed);
      for (const p of this.pending) overlayOp(doc, p.op);
      this.cached = { doc, tree: buildTree(doc), pendingIds: this.pendingObjectIds() };
    }
    return this.cached;
  }

  /** Object ids with an unanswered own op, for a "saving" marker. */
  pendingObjectIds() {
    return new Set(this.pending.map((p) => p.op.object));
  }

  /** What survives a reload: the pending ops and the clock (the doc comes back by snapshot). */
  persistable() {
    return { clock: this.clock, pending: this.pending.map((p) => p.op) };
  }

  /** Restores pending ops saved by `persistable`, before the first snapshot. */
  restore(saved) {
    this.clock = Math.max(this.clock, saved?.clock ?? 0);
    for (const op of saved?.pending ?? []) {
      if (!this.pending.some((p) => p.op.id === op.id)) this.pending.push({ op, sent: false, ackedSeq: null });
    }
    this.invalidate();
  }

  applyConfirmed(seq, op) {
    applyOp(this.confirmed, op);
    // One's own seal, acknowledged: the document has only "sealed"; keep the value here.
    if (op.action === 'seal' && this.pending.some((p) => p.op.id === op.id && p.op.stamp.client === op.stamp.client)) {
      const key = `${op.object}\u001f${op.field}`;
      if (op.withdraw) this.ownSealed.delete(key);
      else this.ownSealed.set(key, op.value);
    }
    this.seq = seq;
    this.clock = Math.max(this.clock, this.confirmed.clock);
    // One's own op delivered as `op` (catch-up after a reconnect) or by an ack: no longer pending.
    this.removePending(op.id, op.stamp.client);
  }

  drain() {
    while (this.ahead.has(this.seq + 1)) {
      const seq = this.seq + 1;
      const op = this.ahead.get(seq);
      this.ahead.delete(seq);
      this.applyConfirmed(seq, op);
    }
  }

  removePending(opId, client) {
    const i = this.pending.findIndex((p) => p.op.id === opId && (client === undefined || p.op.stamp.client === client));
    if (i >= 0) this.pending.splice(i, 1);
  }

  invalidate() {
    this.cached = null;
  }
}

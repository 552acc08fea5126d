// The sync engine: one connection, one replica per room, the workshop view and presence.
// It turns server messages into state and local edits into ops; it never touches the DOM.
// Listeners: `change` (state changed: re-render), `notice` ({ level, text }), `timer` (event).

import { RoomReplica } from '../lib/replica.js';
import { UndoHistory } from '../lib/undo.js';
import { createIdSource } from '../lib/ids.js';
import { charCount, checkFields, SCHEMAS } from '../lib/schema.js';
import { describeError } from '../lib/messages.js';
import { applyWorkshopPatch } from '../lib/workshop.js';
import { Connection } from './connection.js';
import { loadPending, savePending } from './storage.js';

/** How long ops may wait ahead of a missing seq before the room is resynced with a join. */
const GAP_RESYNC_MS = 1_500;
/** First delay before resending an op refused with `rate_limited` or `unavailable`. */
const RETRY_OP_MS = 1_000;

const OP_VERBS = { create: 'Adding', set: 'Editing', delete: 'Deleting', move: 'Moving', text: 'Typing in', seal: 'Voting on', reveal: 'Revealing' };
const TYPE_NOUNS = {
  vision_section: 'a vision board section',
  vision_note: 'a note',
  backlog_item: 'a story',
  acceptance_criterion: 'an acceptance criterion',
  experiment: 'an experiment',
  lean_coffee_topic: 'a topic',
  feedback: 'a feedback card',
  estimation_round: 'an estimation round',
};

export class Sync {
  constructor(session, { url, WebSocketImpl, timers = globalThis } = {}) {
    this.session = session;
    this.timers = timers;
    this.ids = createIdSource(session.participantId);
    /** Undo and redo of this member's own edits, per room. */
    this.history = new UndoHistory();
    /** The welcome's member record; null until the first welcome. */
    this.me = null;
    this.workshop = null;
    /** Replicas by room id; kept after leaving a room so a later join can resume. */
    this.replicas = new Map();
    /** Rooms the UI wants to be in (joined again on every reconnect). */
    this.wanted = new Set();
    /** Rooms a join was sent for on the current socket (ops may follow it). */
    this.subscribed = new Set();
    /** Rooms to leave once their pending ops are answered. */
    this.leaving = new Set();
    this.presence = new Map();
    this.commands = new Map();
    this.reqCounter = 0;
    this.gapTimers = new Map();
    this.listeners = { change: [], notice: [], timer: [] };
    this.status = { status: 'connecting', detail: {} };
    this.restorePending();
    this.connection = new Connection({
      url: url ?? `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/ws`,
      WebSocketImpl,
      timers,
      hello: () => this.hello(),
      onopen: () => this.opened(),
      onmessage: (msg) => this.receive(msg),
      onstatus: (status, detail) => this.statusChanged(status, detail),
    });
  }

  on(event, fn) {
    this.listeners[event].push(fn);
  }

  emit(event, payload) {
    for (const fn of this.listeners[event]) fn(payload);
  }

  start() {
    this.connection.start();
  }

  stop() {
    this.connection.stop();
    for (const t of this.gapTimers.values()) this.timers.clearTimeout(t);
  }

  get clock() {
    return this.connection.clock;
  }

  replica(room) {
    if (!this.replicas.has(room)) this.replicas.set(room, new RoomReplica(room));
    return this.replicas.get(room);
  }

  // --- rooms -------------------------------------------------------------------------------

  /** Subscribe to `room` (now, and after every reconnect). */
  join(room) {
    this.leaving.delete(room);
    if (this.wanted.has(room) && this.subscribed.has(room)) return;
    this.wanted.add(room);
    this.replica(room);
    // Once the socket is open (even before the welcome) a join may follow the hello.
    if (this.connection.socket?.readyState === 1) this.subscribe(room);
    this.emit('change');
  }

  /** Unsubscribe from `room`, once its pending ops are answered. */
  leave(room) {
    if (!this.wanted.has(room)) return;
    if (this.replica(room).hasPending()) {
      this.leaving.add(room);
      return;
    }
    this.wanted.delete(room);
    this.leaving.delete(room);
    if (this.subscribed.delete(room)) this.connection.send({ type: 'leave', room });
    this.presence.delete(room);
    this.persist();
  }

  subscribe(room) {
    const point = this.replica(room).resumePoint();
    this.connection.send(point ? { type: 'join', ...point } : { type: 'join', room });
    this.subscribed.add(room);
    this.flush(room);
  }

  hello() {
    // Rooms with a resume point are rejoined by the hello itself; the others in `opened`.
    const resume = [...this.wanted].map((r) => this.replica(r).resumePoint()).filter(Boolean);
    return { token: this.session.token, resume };
  }

  opened() {
    this.subscribed = new Set();
    for (const room of this.wanted) {
      const replica = this.replica(room);
      if (!replica.resumePoint()) this.connection.send({ type: 'join', room });
      this.subscribed.add(room);
      // Everything not answered is resent unchanged, in order, with the same op ids.
      replica.markAllUnsent();
      this.flush(room);
    }
  }

  flush(room) {
    if (!this.subscribed.has(room)) return;
    for (const op of this.replica(room).takeUnsent()) {
      if (!this.connection.send({ type: 'op', room, op })) {
        this.replica(room).markAllUnsent();
        return;
      }
    }
  }

  // --- edits -------------------------------------------------------------------------------

  /** Records and sends one local op; `fields` are checked first. Returns the op, or null if
   * refused locally. */
  edit(room, action, object, extra = {}, { origin = 'user' } = {}) {
    const replica = this.replica(room);
    const type = action === 'create' ? extra.type : replica.view().doc.objects.get(object)?.type;
    if (extra.fields && type) {
      const problem = checkFields(type, extra.fields);
      if (problem) {
        this.notice('error', describeError(problem.code, problem.message));
        return null;
      }
    }
    const op = { id: this.ids.opId(), stamp: replica.nextStamp(this.session.participantId), action, object, ...extra };
    const before = replica.view().doc;
    const context = action === 'seal' ? { previousSealed: replica.ownSealedValue(object, extra.field) } : undefined;
    if (origin === 'user') this.history.record(room, op, before, context);
    else this.history.recordInverse(room, op, before, origin, context);
    replica.addLocal(op);
    this.persist();
    this.flush(room);
    this.emit('change');
    return op;
  }

  /** Creates an object; returns its new id (or null if refused locally). */
  create(room, type, parent, pos, fields = {}) {
    if (!SCHEMAS[type]) return null;
    const id = this.ids.objectId();
    return this.edit(room, 'create', id, { type, parent, pos, fields }) ? id : null;
  }

  set(room, object, fields) {
    return this.edit(room, 'set', object, { fields }) !== null;
  }

  move(room, object, parent, pos) {
    return this.edit(room, 'move', object, { parent, pos }) !== null;
  }

  remove(room, object) {
    return this.edit(room, 'delete', object) !== null;
  }

  /**
   * Edits mergeable text `field` of `object`: deletes the characters `del` and inserts `insert`
   * after character `after` (null: at the start). Returns the op's stamp (the inserted
   * characters' ids derive from it), or null if refused locally (too long).
   */
  text(room, object, field, { after = null, insert = '', delete: del = [] }) {
    const replica = this.replica(room);
    const obj = replica.view().doc.objects.get(object);
    const max = SCHEMAS[obj?.type]?.fields[field]?.max;
    if (max !== undefined && insert !== '') {
      const length = charCount(obj.fields[field]?.value ?? '') - del.length + charCount(insert);
      if (length > max) {
        this.notice('error', describeError('too_long', `${field} would be ${length} characters; at most ${max} allowed`));
        return null;
      }
    }
    const extra = { field };
    if (after !== null) extra.after = after;
    if (insert !== '') extra.insert = insert;
    if (del.length > 0) extra.delete = del;
    return this.edit(room, 'text', object, extra)?.stamp ?? null;
  }

  /**
   * Undoes (`direction` 'undo') or redoes ('redo') this member's last change in `room` that is
   * still theirs to undo. Returns false when there is nothing to undo.
   */
  undo(room, direction = 'undo') {
    const replica = this.replica(room);
    return this.history.step(room, direction, replica.view().doc, this.session.participantId, ({ action, object, ...extra }) => {
      this.edit(room, action, object, extra, { origin: direction });
    });
  }

  /** Seals one's own `value` in sealed `field` of `object` (null withdraws it). */
  seal(room, object, field, value) {
    return this.edit(room, 'seal', object, value === null ? { field, withdraw: true } : { field, value }) !== null;
  }

  /** Reveals every sealed field of `object`; the values arrive with the ordered op. */
  reveal(room, object) {
    return this.edit(room, 'reveal', object) !== null;
  }

  /** Sends a workshop command; resolves to { ok: true } or { ok: false, code, message }. */
  command(command) {
    this.reqCounter += 1;
    const req = `c-${this.ids.session}-${this.reqCounter}`;
    if (!this.connection.send({ type: 'command', req, command })) {
      const failure = { ok: false, code: 'offline', message: 'You are not connected. Try again once the connection is back.' };
      this.notice('error', failure.message);
      return Promise.resolve(failure);
    }
    return new Promise((resolve) => this.commands.set(req, resolve));
  }

  // --- server messages ---------------------------------------------------------------------

  receive(msg) {
    const handler = this.handlers[msg.type];
    if (handler) handler.call(this, msg);
    this.emit('change');
  }

  handlers = {
    welcome(msg) {
      this.me = msg.participant;
      this.workshop = msg.workshop;
    },
    workshop_patch(msg) {
      if (this.workshop) this.workshop = applyWorkshopPatch(this.workshop, msg.patch);
    },
    snapshot(msg) {
      this.replica(msg.room).onSnapshot(msg);
      this.persist();
    },
    op(msg) {
      const replica = this.replica(msg.room);
      const { gap } = replica.onOp(msg.seq, msg.op);
      if (gap) this.watchGap(msg.room);
      this.persist();
    },
    ack(msg) {
      const replica = this.replica(msg.room);
      replica.onAck(msg.op_id, msg.seq);
      if (replica.gap() !== null) this.watchGap(msg.room);
      this.persist();
      if (this.leaving.has(msg.room) && !replica.hasPending()) this.leave(msg.room);
    },
    reject(msg) {
      const replica = this.replica(msg.room);
      const result = replica.onReject(msg.op_id, msg.code);
      if (!result) return;
      if (result.retry) {
        this.timers.setTimeout(() => this.flush(msg.room), RETRY_OP_MS + Math.random() * RETRY_OP_MS);
      } else if (!(msg.code === 'already_exists' && result.op.action === 'create' && replica.exists(result.op.object))) {
        // A resent create that the server already has (after an epoch change) counts as done.
        const what = `${OP_VERBS[result.op.action] ?? 'Changing'} ${TYPE_NOUNS[result.op.type ?? replica.view().doc.objects.get(result.op.object)?.type] ?? 'a card'}`;
        this.notice('error', `${what} was undone: ${describeError(msg.code, msg.message)}`);
      }
      this.persist();
      if (this.leaving.has(msg.room) && !replica.hasPending()) this.leave(msg.room);
    },
    presence(msg) {
      this.presence.set(msg.room, msg.members);
    },
    sealed(msg) {
      this.replica(msg.room).onSealed(msg.entries);
    },
    left(msg) {
      const replica = this.replica(msg.room);
      const dropped = replica.pending.length;
      replica.pending = [];
      replica.invalidate();
      this.wanted.delete(msg.room);
      this.subscribed.delete(msg.room);
      this.presence.delete(msg.room);
      this.persist();
      const name = this.roomName(msg.room);
      const lost = dropped > 0 ? ` ${dropped} unsaved change(s) there could not be saved.` : '';
      this.notice('info', `You left ${name}: ${msg.reason}.${lost}`);
    },
    timer(msg) {
      if (msg.timer === this.workshop?.timer?.id) this.emit('timer', msg);
    },
    done(msg) {
      this.settle(msg.req, { ok: true });
    },
    error(msg) {
      if (msg.req && this.commands.has(msg.req)) {
        const failure = { ok: false, code: msg.code, message: describeError(msg.code, msg.message) };
        this.notice('error', failure.message);
        this.settle(msg.req, failure);
        return;
      }
      if (msg.room) {
        // A refused join (or resume point), leave or presence: stop asking for that room.
        this.wanted.delete(msg.room);
        this.subscribed.delete(msg.room);
        this.leaving.delete(msg.room);
        this.persist();
        this.notice('error', `${this.roomName(msg.room)}: ${describeError(msg.code, msg.message)}`);
        return;
      }
      this.notice('error', describeError(msg.code, msg.message));
    },
  };

  settle(req, result) {
    const resolve = this.commands.get(req);
    if (resolve) {
      this.commands.delete(req);
      resolve(result);
    }
  }

  /** Ops wait ahead of a missing seq: if the gap is still open after a moment, resync. */
  watchGap(room) {
    if (this.gapTimers.has(room)) return;
    const missing = this.replica(room).gap();
    this.gapTimers.set(
      room,
      this.timers.setTimeout(() => {
        this.gapTimers.delete(room);
        const replica = this.replica(room);
        if (replica.gap() !== null && replica.gap() === missing && this.subscribed.has(room)) {
          this.connection.send({ type: 'join', ...replica.resumePoint() });
        }
      }, GAP_RESYNC_MS),
    );
  }

  statusChanged(status, detail) {
    if (status !== 'connected') {
      this.subscribed = new Set();
      for (const [req, resolve] of this.commands) {
        resolve({ ok: false, code: 'offline', message: 'The connection dropped before the server answered.' });
        this.commands.delete(req);
      }
    }
    this.status = { status, detail };
    this.emit('change');
  }

  notice(level, text) {
    this.emit('notice', { level, text });
  }

  roomName(room) {
    return this.workshop?.rooms.find((r) => r.id === room)?.name ?? room;
  }

  // --- persistence -------------------------------------------------------------------------

  persist() {
    const rooms = {};
    for (const [room, replica] of this.replicas) if (replica.hasPending()) rooms[room] = replica.persistable();
    savePending(this.session, { rooms, wanted: [...this.wanted] });
  }

  restorePending() {
    const saved = loadPending(this.session);
    for (const [room, state] of Object.entries(saved.rooms ?? {})) {
      this.replica(room).restore(state);
      this.wanted.add(room);
    }
    for (const room of saved.wanted ?? []) this.wanted.add(room);
  }

  /** Total unanswered own ops, for the status indicator. */
  pendingCount() {
    let n = 0;
    for (const r of this.replicas.values()) n += r.pending.length;
    return n;
  }
}

// The sync engine over a fake WebSocket and fake timers: hello with resume points, joins, edits,
// a dropped connection with an edit pending, the resend with the same op id, catch-up, commands.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Sync } from '../js/net/sync.js';
import { PROTOCOL_VERSION } from '../js/lib/protocol.gen.js';

class FakeSocket {
  static all = [];
  constructor(url) {
    this.url = url;
    this.readyState = 0;
    this.sent = [];
    FakeSocket.all.push(this);
  }
  send(text) {
    this.sent.push(JSON.parse(text));
  }
  close() {
    this.readyState = 3;
  }
  // Test controls.
  open() {
    this.readyState = 1;
    this.onopen?.();
  }
  receive(msg) {
    this.onmessage?.({ data: JSON.stringify(msg) });
  }
  drop(code = 1006) {
    this.readyState = 3;
    this.onclose?.({ code, reason: '' });
  }
}

function fakeTimers() {
  let next = 1;
  const pending = new Map();
  return {
    setTimeout(fn, ms) {
      pending.set(next, { fn, ms, repeat: false });
      return next++;
    },
    setInterval(fn, ms) {
      pending.set(next, { fn, ms, repeat: true });
      return next++;
    },
    clearTimeout(id) {
      pending.delete(id);
    },
    clearInterval(id) {
      pending.delete(id);
    },
    /** Runs every one-shot timer due (all of them: the tests do not model time). */
    runOnce() {
      for (const [id, t] of [...pending]) {
        if (!t.repeat) {
          pending.delete(id);
          t.fn();
        }
      }
    },
  };
}

const session = { workshopId: 'w-1', participantId: 'p-a', token: 'tok', role: 'attendee', name: 'Ada' };
const workshopView = {
  id: 'w-1',
  title: 'T',
  rooms: [{ id: 'plenary', name: 'Plenary', kind: 'plenary' }, { id: 'room-1', name: 'Team A', kind: 'breakout' }],
  participants: [{ id: 'p-a', name: 'Ada', role: 'attendee', room: 'room-1' }],
  breakouts_open: true,
  allow_choice: false,
  exercise: null,
  timer: null,
  stage: null,
  help: [],
  team_sizes: { 'room-1': 1 },
};
const welcome = { type: 'welcome', protocol: PROTOCOL_VERSION, session: 's-1', participant: { participant: 'p-a', name: 'Ada', role: 'attendee' }, server_time: Date.now(), heartbeat_ms: 15000, workshop: workshopView };
const emptyDoc = { clock: 0, objects: {}, tombstones: [] };

function setup() {
  FakeSocket.all = [];
  const timers = fakeTimers();
  const sync = new Sync(session, { url: 'ws://test/ws', WebSocketImpl: FakeSocket, timers });
  const notices = [];
  sync.on('notice', (n) => notices.push(n));
  sync.start();
  const socket = () => FakeSocket.all.at(-1);
  return { sync, timers, socket, notices };
}

test('an edit pending across a dropped connection is resent once, with its op id, after the resume', () => {
  const { sync, timers, socket } = setup();
  sync.join('room-1');
  socket().open();
  assert.deepEqual(socket().sent[0], { type: 'hello', protocol: PROTOCOL_VERSION, token: 'tok', resume: [] });
  assert.deepEqual(socket().sent[1], { type: 'join', room: 'room-1' });
  socket().receive(welcome);
  assert.equal(sync.status.status, 'connected');
  socket().receive({ type: 'snapshot', room: 'room-1', epoch: 42, seq: 3, doc: emptyDoc });

  const id = sync.create('room-1', 'backlog_item', 'root', 'a0', { title: 'Pending story' });
  const sentOp = socket().sent.at(-1);
  assert.equal(sentOp.type, 'op');
  assert.equal(sentOp.op.object, id);
  assert.equal(sentOp.op.stamp.client, 'p-a');

  // The server applied it at seq 4, but the connection died before the ack arrived.
  socket().drop(1006);
  assert.equal(sync.status.status, 'reconnecting');
  assert.equal(sync.pendingCount(), 1);
  timers.runOnce();
  const second = socket();
  assert.notEqual(second, FakeSocket.all[0]);
  second.open();
  assert.deepEqual(second.sent[0].resume, [{ room: 'room-1', epoch: 42, seq: 3 }]);
  const resent = second.sent.filter((m) => m.type === 'op');
  assert.deepEqual(resent, [sentOp], 'same op, same id, same stamp');
  assert.equal(second.sent.filter((m) => m.type === 'join').length, 0, 'the hello resumes the room');

  second.receive(welcome);
  second.receive({ type: 'op', room: 'room-1', seq: 4, op: sentOp.op });
  second.receive({ type: 'ack', room: 'room-1', op_id: sentOp.op.id, seq: 4 });
  const replica = sync.replica('room-1');
  assert.equal(replica.pending.length, 0);
  assert.equal(replica.seq, 4);
  assert.equal([...replica.view().doc.objects.keys()].filter((k) => k === id).length, 1);

  sync.set('room-1', id, { title: 'Renamed' });
  const next = second.sent.at(-1).op;
  assert.notEqual(next.id, sentOp.op.id, 'new ops get new ids');
  assert.ok(next.stamp.clock > sentOp.op.stamp.clock);
});

test('a reject rolls the edit back and tells the user; commands resolve with done or error', async () => {
  const { sync, socket, notices } = setup();
  sync.join('room-1');
  socket().open();
  socket().receive(welcome);
  socket().receive({ type: 'snapshot', room: 'room-1', epoch: 1, seq: 0, doc: emptyDoc });
  const id = sync.create('room-1', 'backlog_item', 'root', 'a0', { title: 'x' });
  const op = socket().sent.at(-1).op;
  socket().receive({ type: 'reject', room: 'room-1', op_id: op.id, code: 'forbidden', message: 'an attendee may not edit room room-1' });
  assert.equal(sync.replica('room-1').view().doc.objects.has(id), false);
  assert.match(notices.at(-1).text, /Adding a story was undone: You are not allowed/);

  const done = sync.command({ kind: 'raise_hand', note: 'help' });
  const req = socket().sent.at(-1).req;
  socket().receive({ type: 'done', req });
  assert.deepEqual(await done, { ok: true });
  const refused = sync.command({ kind: 'lower_hand' });
  socket().receive({ type: 'error', code: 'conflict', message: 'no hand raised', req: socket().sent.at(-1).req });
  assert.equal((await refused).code, 'conflict');
});

test('too long text is refused before sending; fatal close codes stop reconnecting', () => {
  const { sync, socket, timers, notices } = setup();
  sync.join('room-1');
  socket().open();
  socket().receive(welcome);
  socket().receive({ type: 'snapshot', room: 'room-1', epoch: 1, seq: 0, doc: emptyDoc });
  const before = socket().sent.length;
  assert.equal(sync.create('room-1', 'backlog_item', 'root', 'a0', { title: 'x'.repeat(301) }), null);
  assert.equal(socket().sent.length, before);
  assert.match(notices.at(-1).text, /too long/);
  socket().drop(4003);
  assert.equal(sync.status.status, 'stopped');
  assert.match(sync.status.detail.message, /removed you/);
  const sockets = FakeSocket.all.length;
  timers.runOnce();
  assert.equal(FakeSocket.all.length, sockets, 'no reconnect after 4003');
});

test('a server restart (reconnect + 1012) reconnects after retry_ms and resumes', () => {
  const { sync, socket, timers } = setup();
  sync.join('room-1');
  socket().open();
  socket().receive(welcome);
  socket().receive({ type: 'snapshot', room: 'room-1', epoch: 9, seq: 12, doc: emptyDoc });
  socket().receive({ type: 'reconnect', reason: 'server restarting', retry_ms: 1000 });
  socket().drop(1012);
  assert.equal(sync.status.status, 'reconnecting');
  assert.ok(sync.status.detail.retryAt - Date.now() >= 900);
  timers.runOnce();
  socket().open();
  assert.deepEqual(socket().sent[0].resume, [{ room: 'room-1', epoch: 9, seq: 12 }]);
});

test('a reload keeps pending edits (sessionStorage) and resends them with the same ids', () => {
  const store = new Map();
  globalThis.sessionStorage = {
    getItem: (k) => (store.has(k) ? store.get(k) : null),
    setItem: (k, v) => store.set(k, String(v)),
    removeItem: (k) => store.delete(k),
  };
  try {
    const { sync, socket } = setup();
    sync.join('room-1');
    socket().open();
    socket().receive(welcome);
    socket().receive({ type: 'snapshot', room: 'room-1', epoch: 5, seq: 2, doc: emptyDoc });
    socket().drop(1006);
    // Offline: the edit waits, saved in the tab's storage.
    sync.create('room-1', 'backlog_item', 'root', 'a0', { title: 'Typed while offline' });
    assert.equal(socket().sent.filter((m) => m.type === 'op').length, 0);
    const saved = JSON.parse(store.get('plenary.pending.w-1.p-a'));
    assert.equal(saved.rooms['room-1'].pending.length, 1);
    const op = saved.rooms['room-1'].pending[0];
    sync.stop();

    // The page reloads: a new engine restores the op and sends it after joining the room.
    const again = setup();
    assert.equal(again.sync.pendingCount(), 1);
    again.socket().open();
    const sent = again.socket().sent;
    assert.deepEqual(sent[0].resume, [], 'no resume point without a snapshot');
    assert.deepEqual(sent[1], { type: 'join', room: 'room-1' });
    assert.deepEqual(sent[2], { type: 'op', room: 'room-1', op });
    again.socket().receive(welcome);
    again.socket().receive({ type: 'snapshot', room: 'room-1', epoch: 5, seq: 2, doc: emptyDoc });
    again.socket().receive({ type: 'ack', room: 'room-1', op_id: op.id, seq: 3 });
    assert.equal(again.sync.pendingCount(), 0);
    assert.equal(JSON.parse(store.get('plenary.pending.w-1.p-a')).rooms['room-1'], undefined, 'nothing left to restore');
    assert.ok(again.sync.ids.opId() !== op.id);
  } finally {
    delete globalThis.sessionStorage;
  }
});

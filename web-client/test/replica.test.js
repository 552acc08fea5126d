// The document merge rules (a port of protocol/src/doc.rs) and the replica's pending-edit rule:
// visible doc = confirmed (server order) + pending ops re-applied; local values win until
// answered; rejected ops roll back; acks and catch-up ops are applied exactly once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyOp, buildTree, docFromJson, docToJson, emptyDoc, cmpValue } from '../js/lib/doc.js';
import { RoomReplica } from '../js/lib/replica.js';

const stamp = (clock, client = 'p-a') => ({ clock, client });
const create = (id, object, clock, fields = {}, extra = {}) => ({ id, stamp: stamp(clock, extra.client), action: 'create', object, type: extra.type ?? 'backlog_item', parent: extra.parent ?? 'root', pos: extra.pos ?? 'a0', fields });
const set = (id, object, clock, fields, client) => ({ id, stamp: stamp(clock, client), action: 'set', object, fields });
const move = (id, object, clock, pos, client) => ({ id, stamp: stamp(clock, client), action: 'move', object, parent: 'root', pos });
const del = (id, object, clock, client) => ({ id, stamp: stamp(clock, client), action: 'delete', object });
const titles = (replica) => (replica.view().tree.get('root') ?? []).map((c) => c.obj.fields.title?.value);
const snapshot = (seq, doc = emptyDoc(), epoch = 7) => ({ epoch, seq, doc: docToJson(doc) });

test('last writer wins per field, by stamp then client id, whatever the arrival order', () => {
  const ops = [create('o1', 'x', 1, { title: 'A' }), set('o2', 'x', 5, { title: 'B' }, 'p-a'), set('o3', 'x', 5, { title: 'C' }, 'p-b'), set('o4', 'x', 3, { title: 'D' }, 'p-z')];
  // The create comes first (a set of an unknown object is a no-op); the sets in any order.
  const orders = [[0, 1, 2, 3], [0, 3, 2, 1], [0, 2, 3, 1], [0, 3, 1, 2]];
  const results = orders.map((order) => {
    const doc = emptyDoc();
    for (const i of order) applyOp(doc, ops[i]);
    return JSON.stringify(docToJson(doc));
  });
  assert.equal(new Set(results).size, 1, 'every order converges');
  const doc = docFromJson(JSON.parse(results[0]));
  assert.equal(doc.objects.get('x').fields.title.value, 'C', 'clock 5 from p-b beats clock 5 from p-a');
  assert.equal(doc.clock, 5);
});

test('equal stamps fall back to the value order null < bool < int < string', () => {
  assert.ok(cmpValue(null, false) < 0 && cmpValue(false, true) < 0 && cmpValue(true, 0) < 0 && cmpValue(5, 'a') < 0 && cmpValue('a', 'b') < 0);
  const doc = emptyDoc();
  applyOp(doc, create('o1', 'x', 1, {}));
  applyOp(doc, set('o2', 'x', 2, { title: 'b' }, 'p-a'));
  applyOp(doc, set('o3', 'x', 2, { title: 'a' }, 'p-a'));
  assert.equal(doc.objects.get('x').fields.title.value, 'b');
});

test('deletes are permanent and hide children; a late create of a tombstone is a no-op', () => {
  const doc = emptyDoc();
  applyOp(doc, create('o1', 'story', 1, { title: 'S' }));
  applyOp(doc, create('o2', 'ac', 2, { given: 'g' }, { type: 'acceptance_criterion', parent: 'story' }));
  applyOp(doc, del('o3', 'story', 3));
  assert.equal(applyOp(doc, create('o4', 'story', 9, { title: 'again' })), false);
  assert.equal(applyOp(doc, set('o5', 'story', 9, { title: 'x' })), false);
  assert.ok(doc.tombstones.has('story'));
  assert.ok(doc.objects.has('ac'), 'children stay stored');
  const tree = buildTree(doc);
  assert.equal(tree.get('root'), undefined, 'nothing visible at the top');
  assert.equal(tree.get('story'), undefined, 'children of a deleted object are not visible');
});

test('siblings order by position key, ties by object id; moves are registers', () => {
  const doc = emptyDoc();
  applyOp(doc, create('o1', 'b', 1, { title: 'B' }, { pos: 'a1' }));
  applyOp(doc, create('o2', 'a', 2, { title: 'A' }, { pos: 'a1' }));
  applyOp(doc, create('o3', 'c', 3, { title: 'C' }, { pos: 'a0' }));
  const order = () => buildTree(doc).get('root').map((c) => c.id);
  assert.deepEqual(order(), ['c', 'a', 'b']);
  applyOp(doc, move('o4', 'c', 5, 'a2'));
  applyOp(doc, move('o5', 'c', 4, 'Zz'));
  assert.deepEqual(order(), ['a', 'b', 'c'], 'the move with the greater stamp wins');
});

test('a pending local write is shown over a newer remote value until it is answered', () => {
  const r = new RoomReplica('room-1');
  const base = emptyDoc();
  applyOp(base, create('s1', 'x', 1, { title: 'Original' }, { client: 'p-b' }));
  r.onSnapshot(snapshot(1, base));
  const mine = set('me:1', 'x', r.nextStamp('p-a').clock, { title: 'Mine' }, 'p-a');
  r.addLocal(mine);
  assert.deepEqual(titles(r), ['Mine']);
  assert.ok(r.view().pendingIds.has('x'));
  // A remote write with a greater stamp arrives first: stored in confirmed, not shown yet.
  r.onOp(2, set('b:1', 'x', 50, { title: 'Theirs' }, 'p-b'));
  assert.deepEqual(titles(r), ['Mine']);
  assert.equal(r.confirmed.objects.get('x').fields.title.value, 'Theirs');
  // The ack: the server ordered ours after theirs, but theirs has the greater stamp.
  r.onAck('me:1', 3);
  assert.deepEqual(titles(r), ['Theirs']);
  assert.equal(r.pending.length, 0);
  assert.equal(r.seq, 3);
});

test('a rejected op is rolled back; rate_limited, unavailable and outcome_unknown are kept for a resend', () => {
  const r = new RoomReplica('room-1');
  r.onSnapshot(snapshot(0));
  r.addLocal(create('me:1', 'x', r.nextStamp('p-a').clock, { title: 'New' }));
  r.addLocal(create('me:2', 'y', r.nextStamp('p-a').clock, { title: 'Other' }, { pos: 'a1' }));
  assert.deepEqual(r.takeUnsent().map((o) => o.id), ['me:1', 'me:2']);
  assert.deepEqual(r.onReject('me:2', 'rate_limited'), { op: r.pending[1].op, retry: true });
  assert.deepEqual(r.takeUnsent().map((o) => o.id), ['me:2'], 'resent with the same id');
  // The server lost the answer of its shared store: the op may be in; only a resend can tell.
  assert.deepEqual(r.onReject('me:2', 'outcome_unknown'), { op: r.pending[1].op, retry: true });
  assert.deepEqual(titles(r), ['New', 'Other'], 'its effect stays while it is resent');
  assert.deepEqual(r.takeUnsent().map((o) => o.id), ['me:2'], 'resent with the same id');
  const result = r.onReject('me:1', 'too_long');
  assert.equal(result.retry, false);
  assert.deepEqual(titles(r), ['Other']);
  assert.equal(r.onReject('me:1', 'too_long'), null, 'a second answer changes nothing');
});

test('the Lamport clock is max(seen) + 1', () => {
  const r = new RoomReplica('room-1');
  const doc = emptyDoc();
  doc.clock = 40;
  r.onSnapshot(snapshot(3, doc));
  assert.equal(r.nextStamp('p-a').clock, 41);
  r.onOp(4, create('b:1', 'z', 90, {}, { client: 'p-b' }));
  assert.deepEqual(r.nextStamp('p-a'), { clock: 91, client: 'p-a' });
});

test('after a reconnect: own op delivered by catch-up, then the duplicate ack, applied once', () => {
  const r = new RoomReplica('room-1');
  r.onSnapshot(snapshot(5));
  const op = create('me:1', 'x', r.nextStamp('p-a').clock, { title: 'Once' });
  r.addLocal(op);
  r.takeUnsent();
  // The connection dropped after the server applied the op at seq 6 but before the ack arrived.
  r.markAllUnsent();
  assert.deepEqual(r.resumePoint(), { room: 'room-1', epoch: 7, seq: 5 });
  r.onOp(6, op);
  assert.equal(r.pending.length, 0, 'catch-up delivered our own op: no longer pending');
  assert.equal(r.onAck('me:1', 6), null, 'the duplicate ack of the resent op is ignored');
  assert.deepEqual(titles(r), ['Once']);
  assert.equal(r.seq, 6);
});

test('a resent op already inside a snapshot is acked with its original seq and not applied twice', () => {
  const r = new RoomReplica('room-1');
  r.restore({ clock: 3, pending: [set('me:1', 'x', 3, { votes: 1 })] });
  const doc = emptyDoc();
  applyOp(doc, create('c', 'x', 1, { title: 'T' }));
  applyOp(doc, set('me:1', 'x', 3, { title: 'T2' }));
  r.onSnapshot(snapshot(9, doc));
  assert.equal(r.pending.length, 1);
  r.onAck('me:1', 8);
  assert.equal(r.pending.length, 0);
  assert.equal(r.seq, 9);
});

test('ops and acks ahead of a gap wait until the gap fills, then apply in seq order', () => {
  const r = new RoomReplica('room-1');
  r.onSnapshot(snapshot(10));
  r.addLocal(create('me:1', 'mine', r.nextStamp('p-a').clock, { title: 'Mine' }, { pos: 'a2' }));
  assert.equal(r.onAck('me:1', 13) !== null, true);
  assert.equal(r.onOp(12, create('b:2', 'b2', 5, { title: 'B2' }, { client: 'p-b', pos: 'a1' })).gap, true);
  assert.equal(r.gap(), 11);
  assert.deepEqual(titles(r), ['Mine'], 'ops ahead of the gap are not shown yet; own pending op is');
  r.onOp(11, create('b:1', 'b1', 4, { title: 'B1' }, { client: 'p-b', pos: 'a0' }));
  assert.equal(r.gap(), null);
  assert.equal(r.seq, 13);
  assert.deepEqual(titles(r), ['B1', 'B2', 'Mine']);
  assert.equal(r.pending.length, 0);
});

test('a snapshot of a new epoch replaces the document and keeps pending ops', () => {
  const r = new RoomReplica('room-1');
  const old = emptyDoc();
  applyOp(old, create('c1', 'gone', 1, { title: 'Old epoch' }));
  r.onSnapshot(snapshot(4, old, 1));
  r.addLocal(create('me:1', 'x', r.nextStamp('p-a').clock, { title: 'Pending' }, { pos: 'a5' }));
  r.onSnapshot(snapshot(0, emptyDoc(), 2));
  assert.deepEqual(titles(r), ['Pending']);
  assert.deepEqual(r.resumePoint(), { room: 'room-1', epoch: 2, seq: 0 });
});

test('pending ops survive a reload through persistable/restore, with the same ids', () => {
  const r = new RoomReplica('room-1');
  r.onSnapshot(snapshot(2));
  const op = create('me:1', 'x', r.nextStamp('p-a').clock, { title: 'Kept' });
  r.addLocal(op);
  const saved = JSON.parse(JSON.stringify(r.persistable()));
  const again = new RoomReplica('room-1');
  again.restore(saved);
  assert.equal(again.resumePoint(), null, 'no resume point without a snapshot');
  assert.deepEqual(again.takeUnsent(), [op]);
  assert.ok(again.nextStamp('p-a').clock > op.stamp.clock);
});

test('one\'s own sealed value is kept beside the document, which only says who sealed', () => {
  const r = new RoomReplica('room-1');
  const base = emptyDoc();
  applyOp(base, create('c1', 'item', 1, { title: 'Export' }));
  applyOp(base, create('c2', 'round', 2, { scale: 'fibonacci' }, { type: 'estimation_round', parent: 'item' }));
  r.onSnapshot(snapshot(2, base));
  const seal = { id: 's1', stamp: stamp(3), action: 'seal', object: 'round', field: 'votes', value: '8' };
  r.addLocal(seal);
  assert.equal(r.ownSealedValue('round', 'votes'), '8', 'a pending seal shows at once');
  assert.deepEqual(r.view().doc.objects.get('round').sealed.votes['p-a'].value, true);
  r.onAck('s1', 3);
  assert.equal(r.ownSealedValue('round', 'votes'), '8', 'kept after the ack');
  assert.equal(JSON.stringify(docToJson(r.confirmed)).includes('"8"'), false, 'never in the document');
  // Another tab withdrew it: the server's `sealed` message is the whole truth.
  r.onSealed([]);
  assert.equal(r.ownSealedValue('round', 'votes'), undefined);
  r.onSealed([{ object: 'round', field: 'votes', value: '13' }]);
  assert.equal(r.ownSealedValue('round', 'votes'), '13');
  // The reveal (as ordered, values filled in) makes the values public and the own copy moot.
  r.onOp(4, { id: 'sb', stamp: stamp(4, 'p-b'), action: 'seal', object: 'round', field: 'votes' });
  r.onOp(5, { id: 'rv', stamp: stamp(5, 'p-b'), action: 'reveal', object: 'round', values: { votes: { 'p-a': '13', 'p-b': '5' } } });
  assert.equal(r.ownSealedValue('round', 'votes'), undefined);
  assert.equal(r.view().doc.objects.get('round').sealed.votes['p-b'].value, '5');
});

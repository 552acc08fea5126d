// Permissions mirror the server (docs/PROTOCOL.md 13) and auto-navigation follows transitions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CONSOLE, PLENARY, autoPlace, defaultPlace, permissions, places } from '../js/lib/navigation.js';

const workshop = (over = {}) => ({
  rooms: [{ id: 'plenary', name: 'Plenary', kind: 'plenary' }, { id: 'room-1', name: 'Team A', kind: 'breakout' }, { id: 'room-2', name: 'Team B', kind: 'breakout' }],
  participants: [
    { id: 'p-f', name: 'Fran', role: 'facilitator', room: null },
    { id: 'p-a', name: 'Ada', role: 'attendee', room: 'room-1' },
    { id: 'p-o', name: 'Olga', role: 'observer', room: null },
  ],
  breakouts_open: false,
  stage: null,
  help: [],
  ...over,
});
const fac = { participant: 'p-f', role: 'facilitator' };
const ada = { participant: 'p-a', role: 'attendee' };
const obs = { participant: 'p-o', role: 'observer' };

test('permissions per role and room', () => {
  const w = workshop({ stage: 'room-2' });
  assert.deepEqual(permissions(fac, w, 'room-2'), { read: true, edit: true, feedback: true });
  assert.deepEqual(permissions(ada, w, 'room-1'), { read: true, edit: true, feedback: true });
  assert.deepEqual(permissions(ada, w, 'room-2'), { read: true, edit: false, feedback: true }, 'stage: feedback only');
  assert.deepEqual(permissions(ada, w, 'plenary'), { read: true, edit: false, feedback: false });
  assert.deepEqual(permissions(obs, w, 'room-1'), { read: false, edit: false, feedback: false });
  assert.deepEqual(permissions(obs, w, 'room-2'), { read: true, edit: false, feedback: true });
  assert.equal(permissions(fac, w, 'room-9').read, false, 'unknown room');
});

test('places and defaults', () => {
  assert.deepEqual(places(ada, workshop()).map((p) => p.id), ['plenary', 'room-1']);
  assert.deepEqual(places(obs, workshop({ stage: 'room-1' })).map((p) => p.id), ['plenary', 'room-1']);
  assert.equal(places(fac, workshop())[0].id, CONSOLE);
  assert.equal(defaultPlace(fac, workshop()), CONSOLE);
  assert.equal(defaultPlace(ada, workshop()), PLENARY);
  assert.equal(defaultPlace(ada, workshop({ breakouts_open: true })), 'room-1');
  assert.equal(defaultPlace(obs, workshop({ stage: 'room-2' })), 'room-2');
});

test('transitions move people; unrelated updates do not', () => {
  const closed = workshop();
  const open = workshop({ breakouts_open: true });
  assert.equal(autoPlace(closed, open, ada, PLENARY), 'room-1', 'breakouts open: to the team');
  assert.equal(autoPlace(open, { ...open, help: [1] }, ada, PLENARY), null, 'browsing by hand is kept');
  assert.equal(autoPlace(open, closed, ada, 'room-1'), PLENARY, 'recall: back to the plenary');
  const staged = workshop({ stage: 'room-2' });
  assert.equal(autoPlace(closed, staged, ada, PLENARY), 'room-2', 'review: to the stage');
  assert.equal(autoPlace(closed, staged, obs, PLENARY), 'room-2');
  assert.equal(autoPlace(staged, closed, obs, 'room-2'), PLENARY, 'stage cleared: back');
  assert.equal(autoPlace(closed, workshop({ stage: 'room-1' }), ada, PLENARY), null, 'own team on stage: stay');
  assert.equal(autoPlace(closed, staged, fac, CONSOLE), null, 'facilitators are never moved');
  const moved = workshop({ breakouts_open: true, participants: closed.participants.map((p) => (p.id === 'p-a' ? { ...p, room: 'room-2' } : p)) });
  assert.equal(autoPlace(open, moved, ada, 'room-1'), 'room-2', 'moved to another team');
  assert.equal(autoPlace(null, open, ada, 'room-2'), 'room-1', 'first view: an unreadable room is replaced');
});

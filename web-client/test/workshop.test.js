// The client applies workshop patches as the server's WorkshopView::apply does: every vector
// of protocol/tests/vectors/workshop_patch.json (written from the Rust scenarios) turns `old`
// into `new`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { applyWorkshopPatch } from '../js/lib/workshop.js';

const { patches } = JSON.parse(readFileSync(new URL('../../protocol/tests/vectors/workshop_patch.json', import.meta.url), 'utf8'));
const byId = (view) => ({ ...view, participants: [...view.participants].sort((a, b) => a.id.localeCompare(b.id)) });

test('every shared vector patches old into new', () => {
  assert.ok(patches.length >= 10);
  for (const { name, old, new: want, patch } of patches) {
    const before = structuredClone(old);
    assert.deepEqual(byId(applyWorkshopPatch(old, patch)), byId(want), name);
    assert.deepEqual(old, before, `${name}: the old view is left as it was`);
  }
});

test('a null clears a field and an absent one keeps it', () => {
  const view = { id: 'w', stage: 'room-1', timer: null, participants: [] };
  assert.equal(applyWorkshopPatch(view, { stage: null }).stage, null);
  assert.equal(applyWorkshopPatch(view, { title: 'x' }).stage, 'room-1');
});

test('participants are upserted by id and dropped when gone', () => {
  const view = { participants: [{ id: 'a', room: null }, { id: 'b', room: null }] };
  const next = applyWorkshopPatch(view, { participants: [{ id: 'b', room: 'r' }, { id: 'c', room: null }], gone: ['a'] });
  assert.deepEqual(next.participants, [{ id: 'b', room: 'r' }, { id: 'c', room: null }]);
});

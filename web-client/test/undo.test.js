// Undo and redo of one's own changes (undo.js): inverse edits that merge like any op, guarded so
// that they never undo a teammate's work.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyOp, cloneDoc, emptyDoc } from '../js/lib/doc.js';
import { liveIds } from '../js/lib/text.js';
import { UndoHistory } from '../js/lib/undo.js';

const ME = 'p-me';
const OTHER = 'p-bo';

/** A tiny member: makes ops on a shared doc, recording them like the sync engine does. */
function member(doc, history, who = ME) {
  let clock = 100;
  let n = 0;
  const make = (action, object, extra, origin = 'user') => {
    clock = Math.max(clock, doc.clock) + 1;
    n += 1;
    const op = { id: `${who}-${n}`, stamp: { clock, client: who }, action, object, ...extra };
    const before = cloneDoc(doc);
    if (history) {
      if (origin === 'user') history.record('r', op, before);
      else history.recordInverse('r', op, before, origin);
    }
    applyOp(doc, op);
    // Each call is one gesture here (the sync engine groups by task).
    if (origin === 'user') history?.endGroup();
    return op;
  };
  return {
    make,
    undo(direction = 'undo') {
      return history.step('r', direction, doc, who, ({ action, object, ...extra }) => make(action, object, extra, direction));
    },
  };
}

const title = (doc, id) => doc.objects.get(id)?.fields.title?.value;
const text = (doc, id) => doc.objects.get(id)?.fields.goal?.value ?? '';

test('undo and redo of a field edit; a teammate’s later edit is never undone', () => {
  const doc = emptyDoc();
  const h = new UndoHistory();
  const me = member(doc, h);
  const bo = member(doc, null, OTHER);
  me.make('create', 's', { type: 'backlog_item', parent: 'root', pos: 'a0', fields: { title: 'One' } });
  me.make('set', 's', { fields: { title: 'Two' } });
  assert.ok(me.undo());
  assert.equal(title(doc, 's'), 'One');
  assert.ok(me.undo('redo'));
  assert.equal(title(doc, 's'), 'Two');
  // Bo renames it: my undo of the rename must not clobber Bo's title.
  bo.make('set', 's', { fields: { title: 'Bo’s' } });
  assert.equal(me.undo(), false, 'nothing left that is still mine to undo');
  assert.equal(title(doc, 's'), 'Bo’s');
});

test('one gesture is one step; a delete that would hide a teammate’s writing is refused', () => {
  const doc = emptyDoc();
  const h = new UndoHistory();
  const me = member(doc, h);
  // Adding the first note creates the section too: one step.
  for (const [id, type, parent, fields] of [['sec', 'vision_section', 'root', { section: 'vision' }], ['n', 'vision_note', 'sec', { text: 'Plan' }]]) {
    const before = cloneDoc(doc);
    const op = { id, stamp: { clock: doc.clock + 1, client: ME }, action: 'create', object: id, type, parent, pos: 'a0', fields };
    h.record('r', op, before);
    applyOp(doc, op);
  }
  h.endGroup();
  const bo = member(doc, null, OTHER);
  bo.make('text', 'n', { field: 'text', after: liveIds(doc.objects.get('n').texts.text)[3], insert: '!' });
  // My own typing after Bo's makes the field's newest stamp mine: the characters still say who.
  member(doc, null, ME).make('text', 'n', { field: 'text', after: null, insert: '> ' });
  assert.equal(me.undo(), false, 'neither the note (Bo wrote in it) nor its section (it holds the note) goes');
  assert.equal(doc.objects.get('n').fields.text.value, '> Plan!');
});

test('undo of a create deletes it, unless a teammate built on it', () => {
  const doc = emptyDoc();
  const h = new UndoHistory();
  const me = member(doc, h);
  const bo = member(doc, null, OTHER);
  me.make('create', 'a', { type: 'backlog_item', parent: 'root', pos: 'a0', fields: { title: 'A' } });
  me.make('create', 'b', { type: 'backlog_item', parent: 'root', pos: 'a1', fields: { title: 'B' } });
  bo.make('create', 'c', { type: 'acceptance_criterion', parent: 'b', pos: 'a0', fields: { met: false } });
  // The last change (create b) has Bo's criterion under it: skipped; create a is undone.
  assert.ok(me.undo());
  assert.ok(doc.objects.has('b'));
  assert.ok(!doc.objects.has('a'));
});

test('undo of typing removes only my characters, and redo types them again', () => {
  const doc = emptyDoc();
  const h = new UndoHistory();
  const me = member(doc, h);
  const bo = member(doc, null, OTHER);
  me.make('create', 's', { type: 'backlog_item', parent: 'root', pos: 'a0', fields: { goal: 'to plan' } });
  const ids = () => liveIds(doc.objects.get('s').texts.goal);
  me.make('text', 's', { field: 'goal', after: ids()[6], insert: ' well' });
  // Bo types inside my word meanwhile.
  bo.make('text', 's', { field: 'goal', after: ids()[8], insert: '[bo]' });
  assert.equal(text(doc, 's'), 'to plan w[bo]ell');
  assert.ok(me.undo());
  assert.equal(text(doc, 's'), 'to plan[bo]');
  // Redo types the word again after "plan" (new characters; Bo's stay where they are).
  assert.ok(me.undo('redo'));
  assert.equal(text(doc, 's'), 'to plan well[bo]');
  // A delete of mine is undone by typing the text again where it was.
  me.make('text', 's', { field: 'goal', delete: ids().slice(0, 3) });
  assert.equal(text(doc, 's'), 'plan well[bo]');
  assert.ok(me.undo());
  assert.equal(text(doc, 's'), 'to plan well[bo]');
});

test('undo of a move puts it back while the placement is mine; a vote goes back to my previous entry', () => {
  const doc = emptyDoc();
  const h = new UndoHistory();
  const me = member(doc, h);
  me.make('create', 't', { type: 'lean_coffee_topic', parent: 'root', pos: 'a0', fields: { title: 'T' } });
  me.make('move', 't', { parent: 'root', pos: 'a5' });
  me.make('set', 't', { fields: { votes: 2 } });
  member(doc, null, OTHER).make('set', 't', { fields: { votes: 1 } });
  assert.ok(me.undo());
  assert.equal(doc.objects.get('t').fields.votes.value, 1, 'my 2 dots taken back, Bo’s stays');
  assert.ok(me.undo());
  assert.equal(doc.objects.get('t').pos, 'a0');
});

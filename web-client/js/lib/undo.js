// Undo and redo of one's own changes, per room. Pure logic: the sync engine records every local
// op with the document as it was before it, and asks for the edits that undo (or redo) the last
// one. Undoing is never rewinding: it makes new ops (inverse edits) that merge like any other,
// so a teammate's work done meanwhile stays. Each inverse carries a guard, checked when it is
// used, so that it never undoes someone else's work:
//
//   set      -> set the previous values, only for fields whose winning write is still ours
//   tally    -> put our previous entry back (our own entry only, by construction)
//   move     -> move back, only if the placement is still ours
//   create   -> delete, only if nobody else wrote to the object or under it
//   text     -> delete the characters we typed (ours by id) and type again what we deleted
//   seal     -> seal our previous value again, or withdraw
//   delete, reveal -> not undoable (tombstones and reveals are permanent)

import { fieldKind } from './doc.js';
import { liveIds, render, parseCharId, position } from './text.js';

/** Most entries kept per room and direction. */
export const UNDO_LIMIT = 200;

const sameStamp = (a, b) => a !== undefined && b !== undefined && a.clock === b.clock && a.client === b.client;

/**
 * The inverse of `op` against `before` (the visible document just before it was applied), as an
 * intent: { action, object, ...fields of the op to make, guard }. Null when not undoable.
 */
export function inverseOf(op, before, { previousSealed } = {}) {
  const obj = before.objects.get(op.object);
  switch (op.action) {
    case 'create':
      return { action: 'delete', object: op.object, guard: { created: op.stamp } };
    case 'set': {
      if (!obj) return null;
      const fields = {};
      for (const name of Object.keys(op.fields ?? {})) {
        const kind = fieldKind(obj.type, name);
        if (kind === 'tally') fields[name] = obj.tallies?.[name]?.[op.stamp.client]?.value ?? null;
        else fields[name] = obj.fields[name]?.value ?? null;
      }
      return { action: 'set', object: op.object, fields, guard: { stamp: op.stamp } };
    }
    case 'move':
      if (!obj) return null;
      return { action: 'move', object: op.object, parent: obj.parent, pos: obj.pos, guard: { placed: op.stamp } };
    case 'text': {
      if (!obj) return null;
      const text = obj.texts?.[op.field];
      const inserted = Array.from(op.insert ?? '', (_, i) => `${op.stamp.clock}.${i}.${op.stamp.client}`);
      let restore = '';
      let after = null;
      if ((op.delete ?? []).length > 0 && text) {
        const gone = new Set(op.delete);
        const live = liveIds(text);
        const chars = Array.from(render(text));
        const first = live.findIndex((id) => gone.has(id));
        restore = chars.filter((_, i) => gone.has(live[i])).join('');
        after = first > 0 ? live[first - 1] : null;
      }
      return { action: 'text', object: op.object, field: op.field, delete: inserted, insert: restore, after };
    }
    case 'seal': {
      if (!obj) return null;
      return { action: 'seal', object: op.object, field: op.field, previous: previousSealed, guard: {} };
    }
    default:
      return null;
  }
}

/**
 * The op fields that carry out `intent` on `view` (the current visible document) for `me`, or
 * null when its guard says the change is no longer ours to undo.
 */
export function realize(intent, view, me) {
  const obj = view.objects.get(intent.object);
  if (!obj) return null;
  switch (intent.action) {
    case 'delete': {
      // Only an object nobody else has written to, or created or written to anything under.
      if (!sameStamp(obj.created, intent.guard.created)) return null;
      return onlyMine(view, intent.object, me) ? { action: 'delete', object: intent.object } : null;
    }
    case 'set': {
      const fields = {};
      for (const [name, value] of Object.entries(intent.fields)) {
        const kind = fieldKind(obj.type, name);
        const current = kind === 'tally' ? obj.tallies?.[name]?.[me] : obj.fields[name];
        if (kind === 'tally' || sameStamp(current?.stamp, intent.guard.stamp)) fields[name] = value;
      }
      return Object.keys(fields).length > 0 ? { action: 'set', object: intent.object, fields } : null;
    }
    case 'move':
      return sameStamp(obj.placed, intent.guard.placed) ? { action: 'move', object: intent.object, parent: intent.parent, pos: intent.pos } : null;
    case 'text': {
      const text = obj.texts?.[intent.field];
      const live = new Set(text ? liveIds(text) : []);
      const del = intent.delete.filter((id) => live.has(id));
      const after = intent.after !== null && text && position(text, parseCharId(intent.after)) < 0 ? null : intent.after;
      if (del.length === 0 && !intent.insert) return null;
      return { action: 'text', object: intent.object, field: intent.field, after, insert: intent.insert, delete: del };
    }
    case 'seal':
      if (obj.revealed) return null;
      return intent.previous === undefined ? { action: 'seal', object: intent.object, field: intent.field, withdraw: true } : { action: 'seal', object: intent.object, field: intent.field, value: intent.previous };
    default:
      return null;
  }
}

/** Whether `id` and everything under it was created and written by `me` alone. */
function onlyMine(view, id, me) {
  const mine = (s) => s === undefined || s.client === me;
  // A text field's stamp is the newest that touched it: look at who wrote each character.
  const written = (o) =>
    mine(o.created) &&
    Object.entries(o.fields).every(([name, f]) => (o.texts?.[name] ? true : mine(f.stamp))) &&
    Object.values(o.texts ?? {}).every((t) => t.elems.every((e) => e.client === me)) &&
    [...Object.values(o.tallies ?? {}), ...Object.values(o.sealed ?? {})].every((entries) => Object.keys(entries).every((m) => m === me));
  const children = new Map();
  for (const [cid, o] of view.objects) {
    if (!children.has(o.parent)) children.set(o.parent, []);
    children.get(o.parent).push(cid);
  }
  const stack = [id];
  const seen = new Set();
  while (stack.length > 0) {
    const next = stack.pop();
    if (seen.has(next)) continue;
    seen.add(next);
    if (!written(view.objects.get(next))) return false;
    stack.push(...(children.get(next) ?? []));
  }
  return true;
}

/**
 * The undo and redo stacks of one member, per room. An entry is a group: the ops one gesture
 * made together (adding the first note also creates the board's sections) are undone together.
 * A group stays open until the current task ends (or `endGroup`).
 */
export class UndoHistory {
  constructor() {
    this.rooms = new Map();
    this.open = null;
  }

  /** Closes the open group: the next record starts a new undo step. */
  endGroup() {
    this.open = null;
  }

  /** Adds `intent` to `stack`, in the open group if it belongs to the same stack and task. */
  add(stack, intent) {
    if (this.open !== null && this.open.stack === stack) {
      this.open.group.push(intent);
      return;
    }
    const group = [intent];
    push(stack, group);
    this.open = { stack, group };
    queueMicrotask(() => {
      if (this.open?.group === group) this.open = null;
    });
  }

  stacks(room) {
    if (!this.rooms.has(room)) this.rooms.set(room, { undo: [], redo: [] });
    return this.rooms.get(room);
  }

  /**
   * Records a new local edit (made by the user): its inverse goes on the undo stack. `context`:
   * { previousSealed } for a seal (one's own value before it, which the document lacks).
   */
  record(room, op, before, context) {
    const inverse = inverseOf(op, before, context);
    const s = this.stacks(room);
    s.redo = [];
    if (inverse !== null) this.add(s.undo, inverse);
  }

  /** Records an op made by undo (its inverse goes on the redo stack) or redo (on undo). */
  recordInverse(room, op, before, direction, context) {
    const inverse = inverseOf(op, before, context);
    if (inverse === null) return;
    const s = this.stacks(room);
    this.add(direction === 'undo' ? s.redo : s.undo, inverse);
  }

  /**
   * The next undo (or redo) step, all or nothing: its intents (last made first) realized
   * against `view`; if any of them is someone else's work now, the whole step is dropped and
   * the one before it tried. `apply(op)` makes each op. Returns whether a step was done.
   */
  step(room, direction, view, me, apply) {
    const stack = this.stacks(room)[direction];
    while (stack.length > 0) {
      const group = stack.pop();
      const ops = [...group].reverse().map((intent) => realize(intent, view, me));
      if (ops.some((op) => op === null)) continue;
      this.endGroup();
      for (const op of ops) apply(op);
      this.endGroup();
      return true;
    }
    return false;
  }

  canUndo(room) {
    return this.stacks(room).undo.length > 0;
  }

  canRedo(room) {
    return this.stacks(room).redo.length > 0;
  }
}

function push(stack, entry) {
  stack.push(entry);
  if (stack.length > UNDO_LIMIT) stack.shift();
}

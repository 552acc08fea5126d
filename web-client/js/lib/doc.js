// The room document and its merge rules: a port of protocol/src/doc.rs.
//
// A document is { clock, objects: Map<id, object>, tombstones: Set<id> }; an object is
// { type, created, parent, pos, placed, fields: { name: { value, stamp } } }. Last writer wins
// per field by Lamport stamp, with the value as tie-break; type and placement are registers
// with the same rule; deletes leave permanent tombstones. `applyOp` is total, like Doc::apply.
//
// Model version 2: mergeable text fields (kind 'prose') keep their sequence in
// `obj.texts[name]` (see text.js) and tally fields (kind 'tally') one entry per member in
// `obj.tallies[name][member]`; for both, `obj.fields[name]` holds the derived value (the live
// text, the total) with the greatest stamp that touched it, so readers of values read `fields`.

import { MODEL_VERSION, ROOT } from './protocol.gen.js';
import { SCHEMAS } from './schema.js';
import { cloneText, emptyText, insert, parseCharId, remove, render, replace, textFromJson, textToJson } from './text.js';

/** The root's id and the document model version written in every document (generated). */
export { MODEL_VERSION, ROOT };

/** The kind of field `name` of type `type` ('text', 'prose', 'tally', ...), or undefined. */
export const fieldKind = (type, name) => SCHEMAS[type]?.fields[name]?.kind;

/** An empty document. */
export function emptyDoc() {
  return { clock: 0, objects: new Map(), tombstones: new Set() };
}

/** The document of a `snapshot` message (JSON form: objects as a map, tombstones as a list). */
export function docFromJson(json) {
  const doc = emptyDoc();
  doc.clock = json?.clock ?? 0;
  for (const [id, o] of Object.entries(json?.objects ?? {})) {
    const fields = {};
    for (const [name, f] of Object.entries(o.fields ?? {})) fields[name] = { value: f.value, stamp: f.stamp };
    const texts = {};
    for (const [name, t] of Object.entries(o.texts ?? {})) texts[name] = textFromJson(t);
    const tallies = {};
    for (const [name, entries] of Object.entries(o.tallies ?? {})) tallies[name] = { ...entries };
    const sealed = {};
    for (const [name, entries] of Object.entries(o.sealed ?? {})) sealed[name] = { ...entries };
    const obj = { type: o.type, created: o.created, parent: o.parent, pos: o.pos, placed: o.placed, fields, texts, tallies, sealed };
    if (o.revealed) obj.revealed = o.revealed;
    doc.objects.set(id, obj);
  }
  for (const id of json?.tombstones ?? []) doc.tombstones.add(id);
  return doc;
}

/** The JSON form of a document, with sorted keys as the server's canonical form. */
export function docToJson(doc) {
  const objects = {};
  for (const id of [...doc.objects.keys()].sort(cmpStr)) {
    const o = doc.objects.get(id);
    const fields = {};
    for (const name of Object.keys(o.fields).sort(cmpStr)) fields[name] = o.fields[name];
    const out = { created: o.created, fields, parent: o.parent, placed: o.placed, pos: o.pos, type: o.type };
    const textNames = Object.keys(o.texts ?? {}).sort(cmpStr);
    if (textNames.length > 0) out.texts = Object.fromEntries(textNames.map((n) => [n, textToJson(o.texts[n])]));
    // Per-member maps (tallies, sealed entries), sorted like every map of the canonical form.
    for (const key of ['tallies', 'sealed']) {
      const map = o[key] ?? {};
      const names = Object.keys(map).sort(cmpStr);
      if (names.length > 0) {
        out[key] = Object.fromEntries(names.map((n) => [n, Object.fromEntries(Object.keys(map[n]).sort(cmpStr).map((m) => [m, map[n][m]]))]));
      }
    }
    if (o.revealed) out.revealed = o.revealed;
    objects[id] = out;
  }
  return { clock: doc.clock, model: MODEL_VERSION, objects, tombstones: [...doc.tombstones].sort(cmpStr) };
}

/** Byte-wise order for the ASCII strings of the protocol (ids, keys, client ids). */
export function cmpStr(a, b) {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Stamps order by clock, then by client id. */
export function cmpStamp(a, b) {
  return a.clock - b.clock || cmpStr(a.client, b.client);
}

const rank = (v) => (v === null || v === undefined ? 0 : typeof v === 'boolean' ? 1 : typeof v === 'number' ? 2 : 3);

/** Value order for tie-breaks: null < booleans < integers < strings (value.rs). */
export function cmpValue(a, b) {
  const r = rank(a) - rank(b);
  if (r !== 0) return r;
  if (rank(a) === 0) return 0;
  if (typeof a === 'boolean') return Number(a) - Number(b);
  if (typeof a === 'number') return a - b;
  return cmpUtf8(a, b);
}

// Rust compares strings byte-wise in UTF-8; UTF-16 code unit order differs only above U+FFFF
// against U+E000-U+FFFF, so compare code points, which matches UTF-8 byte order.
function cmpUtf8(a, b) {
  const ia = a[Symbol.iterator]();
  const ib = b[Symbol.iterator]();
  for (;;) {
    const x = ia.next();
    const y = ib.next();
    if (x.done || y.done) return (x.done ? 0 : 1) - (y.done ? 0 : 1);
    const d = x.value.codePointAt(0) - y.value.codePointAt(0);
    if (d !== 0) return d;
  }
}

const cmpPlacement = (a, b) => cmpStr(a[0], b[0]) || cmpStr(a[1], b[1]);

/** Does (stamp, value) beat (oldStamp, oldValue)? */
function wins(stamp, value, oldStamp, oldValue, cmp) {
  const s = cmpStamp(stamp, oldStamp);
  return s > 0 || (s === 0 && cmp(value, oldValue) > 0);
}

/** Sets register `map[name]` if (stamp, value) wins; reports a change. */
function setRegister(map, name, stamp, value) {
  const f = map[name];
  if (f === undefined || wins(stamp, value, f.stamp, f.value, cmpValue)) {
    map[name] = { value, stamp };
    return true;
  }
  return false;
}

/** Puts a derived value in `fields[name]` with the greatest stamp that touched the field. */
function putDerived(obj, name, stamp, value) {
  const f = obj.fields[name];
  if (f === undefined) {
    obj.fields[name] = { value, stamp };
    return true;
  }
  const newer = cmpStamp(stamp, f.stamp) > 0;
  const changed = f.value !== value || newer;
  obj.fields[name] = { value, stamp: newer ? stamp : f.stamp };
  return changed;
}

function refreshText(obj, name, stamp) {
  const live = obj.texts[name] ? render(obj.texts[name]) : '';
  return putDerived(obj, name, stamp, live === '' ? null : live);
}

/** The total of a tally's member entries. */
export function tallyTotal(entries) {
  let n = 0;
  for (const e of Object.values(entries ?? {})) if (Number.isInteger(e.value)) n += e.value;
  return n;
}

function refreshTally(obj, name, stamp) {
  return putDerived(obj, name, stamp, tallyTotal(obj.tallies[name]));
}

/** The text of field `name`, copied first if it is shared with another document (`own`). */
function ownText(obj, name) {
  obj.texts[name] = obj.texts[name] ? cloneText(obj.texts[name]) : emptyText();
  return obj.texts[name];
}

function setFields(obj, stamp, fields) {
  let changed = false;
  for (const [name, value] of Object.entries(fields ?? {})) {
    const kind = fieldKind(obj.type, name);
    if (kind === 'prose') {
      changed = replace(ownText(obj, name), stamp, typeof value === 'string' ? value : null) || changed;
      changed = refreshText(obj, name, stamp) || changed;
    } else if (kind === 'tally') {
      obj.tallies[name] = { ...(obj.tallies[name] ?? {}) };
      changed = setRegister(obj.tallies[name], stamp.client, stamp, value) || changed;
      changed = refreshTally(obj, name, stamp) || changed;
    } else {
      changed = setRegister(obj.fields, name, stamp, value) || changed;
    }
  }
  return changed;
}

/** Applies a text op to `obj` (whose `texts` may be shared: the field's text is copied). */
function applyText(obj, op) {
  if (fieldKind(obj.type, op.field) !== 'prose') return false;
  let after = null;
  if (op.after !== undefined && op.after !== null) {
    after = parseCharId(op.after);
    if (after === null) return false;
  }
  const text = ownText(obj, op.field);
  let changed = remove(text, (op.delete ?? []).map(parseCharId).filter(Boolean));
  changed = insert(text, op.stamp, after, op.insert ?? '') || changed;
  return refreshText(obj, op.field, op.stamp) || changed;
}

/** A copy of `obj` whose field, text, tally and sealed maps may change without touching the original. */
const ownObject = (obj) => ({ ...obj, fields: { ...obj.fields }, texts: { ...obj.texts }, tallies: { ...obj.tallies }, sealed: { ...obj.sealed } });

/** A seal: the sender's public entry (`true`, or `null` when withdrawn); never the value. */
function applySeal(obj, op) {
  if (obj.revealed || fieldKind(obj.type, op.field) !== 'sealed') return false;
  obj.sealed[op.field] = { ...(obj.sealed[op.field] ?? {}) };
  return setRegister(obj.sealed[op.field], op.stamp.client, op.stamp, op.withdraw ? null : true);
}

/** A reveal: the values the server filled in, once. */
function applyReveal(obj, op) {
  if (obj.revealed) return false;
  obj.revealed = op.stamp;
  for (const [field, members] of Object.entries(op.values ?? {})) {
    if (fieldKind(obj.type, field) !== 'sealed' || !obj.sealed[field]) continue;
    obj.sealed[field] = { ...obj.sealed[field] };
    // Only members whose entry says "sealed" have a value to show (doc.rs).
    for (const [member, value] of Object.entries(members)) {
      if (obj.sealed[field][member]?.value === true) obj.sealed[field][member] = { value, stamp: op.stamp };
    }
  }
  return true;
}

/** Applies `op` by the merge rules and reports whether the document changed. Total, idempotent. */
export function applyOp(doc, op) {
  doc.clock = Math.max(doc.clock, op.stamp.clock);
  const { stamp } = op;
  const obj = doc.objects.get(op.object);
  switch (op.action) {
    case 'create': {
      if (doc.tombstones.has(op.object)) return false;
      if (obj === undefined) {
        const created = { type: op.type, created: stamp, parent: op.parent, pos: op.pos, placed: stamp, fields: {}, texts: {}, tallies: {}, sealed: {} };
        doc.objects.set(op.object, created);
        setFields(created, stamp, op.fields);
        return true;
      }
      let changed = false;
      if (wins(stamp, op.type, obj.created, obj.type, cmpStr)) {
        Object.assign(obj, { type: op.type, created: stamp });
        changed = true;
      }
      if (wins(stamp, [op.parent, op.pos], obj.placed, [obj.parent, obj.pos], cmpPlacement)) {
        Object.assign(obj, { parent: op.parent, pos: op.pos, placed: stamp });
        changed = true;
      }
      return setFields(obj, stamp, op.fields) || changed;
    }
    case 'set':
      return obj !== undefined && setFields(obj, stamp, op.fields);
    case 'delete':
      if (obj === undefined) return false;
      doc.objects.delete(op.object);
      doc.tombstones.add(op.object);
      return true;
    case 'move':
      if (obj === undefined || !wins(stamp, [op.parent, op.pos], obj.placed, [obj.parent, obj.pos], cmpPlacement)) {
        return false;
      }
      Object.assign(obj, { parent: op.parent, pos: op.pos, placed: stamp });
      return true;
    case 'text':
      return obj !== undefined && applyText(obj, op);
    case 'seal':
      return obj !== undefined && applySeal(obj, op);
    case 'reveal':
      return obj !== undefined && applyReveal(obj, op);
    default:
      return false;
  }
}

/**
 * Applies one's own unacknowledged op unconditionally, whatever the stamps: the view shows the
 * local value, placement or delete until the server answers (see the pending-edit rule).
 * Copy-on-write: objects shared with the confirmed document are cloned before they change.
 */
export function overlayOp(view, op) {
  const current = view.objects.get(op.object);
  const own = current === undefined ? undefined : ownObject(current);
  // Text and tally writes merge like any op (their result is the same in any order), so they
  // are applied by the merge rules; plain fields show the local value unconditionally.
  const force = (o) => {
    const merged = {};
    for (const [name, value] of Object.entries(op.fields ?? {})) {
      const kind = fieldKind(o.type, name);
      if (kind === 'prose' || kind === 'tally') merged[name] = value;
      else o.fields[name] = { value, stamp: op.stamp };
    }
    if (Object.keys(merged).length > 0) setFields(o, op.stamp, merged);
  };
  switch (op.action) {
    case 'create':
      if (view.tombstones.has(op.object)) return;
      if (own === undefined) {
        const o = { type: op.type, created: op.stamp, parent: op.parent, pos: op.pos, placed: op.stamp, fields: {}, texts: {}, tallies: {}, sealed: {} };
        force(o);
        view.objects.set(op.object, o);
      } else {
        Object.assign(own, { type: op.type, parent: op.parent, pos: op.pos });
        force(own);
        view.objects.set(op.object, own);
      }
      return;
    case 'set':
      if (own !== undefined) {
        force(own);
        view.objects.set(op.object, own);
      }
      return;
    case 'delete':
      view.objects.delete(op.object);
      view.tombstones.add(op.object);
      return;
    case 'move':
      if (own !== undefined) {
        Object.assign(own, { parent: op.parent, pos: op.pos });
        view.objects.set(op.object, own);
      }
      return;
    case 'text':
    case 'seal':
    case 'reveal':
      // Merged like any op; a pending reveal shows as revealed (values arrive with the op).
      if (own !== undefined) {
        if (op.action === 'text') applyText(own, op);
        else if (op.action === 'seal') applySeal(own, op);
        else applyReveal(own, op);
        view.objects.set(op.object, own);
      }
      return;
    default:
  }
}

/** A shallow copy that `overlayOp` may change without touching `doc`. */
export function forkDoc(doc) {
  return { clock: doc.clock, objects: new Map(doc.objects), tombstones: new Set(doc.tombstones) };
}

/** A deep copy. */
export function cloneDoc(doc) {
  return docFromJson(docToJson(doc));
}

/**
 * The visible tree: for every visible object (and ROOT), its visible children in order (by
 * position key, ties broken by object id). Objects under a deleted ancestor are left out.
 */
export function buildTree(doc) {
  const byParent = new Map();
  for (const [id, o] of doc.objects) {
    if (!byParent.has(o.parent)) byParent.set(o.parent, []);
    byParent.get(o.parent).push({ id, obj: o });
  }
  const tree = new Map();
  const stack = [ROOT];
  while (stack.length > 0) {
    const parent = stack.pop();
    const children = byParent.get(parent);
    if (children === undefined || tree.has(parent)) continue;
    children.sort((a, b) => cmpStr(a.obj.pos, b.obj.pos) || cmpStr(a.id, b.id));
    tree.set(parent, children);
    for (const c of children) stack.push(c.id);
  }
  return tree;
}

/** The value of a field, treating a cleared field as absent (undefined). */
export function fieldValue(obj, name) {
  const v = obj?.fields?.[name]?.value;
  return v === null ? undefined : v;
}

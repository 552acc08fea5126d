// The room document and its merge rules: a port of protocol/src/doc.rs.
//
// A document is { clock, objects: Map<id, object>, tombstones: Set<id> }; an object is
// { type, created, parent, pos, placed, fields: { name: { value, stamp } } }. Last writer wins
// per field by Lamport stamp, with the value as tie-break; type and placement are registers
// with the same rule; deletes leave permanent tombstones. `applyOp` is total, like Doc::apply.

export const ROOT = 'root';

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
    doc.objects.set(id, { ...o, fields });
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
    objects[id] = { created: o.created, fields, parent: o.parent, placed: o.placed, pos: o.pos, type: o.type };
  }
  return { clock: doc.clock, objects, tombstones: [...doc.tombstones].sort(cmpStr) };
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

function setFields(obj, stamp, fields) {
  let changed = false;
  for (const [name, value] of Object.entries(fields ?? {})) {
    const f = obj.fields[name];
    if (f === undefined || wins(stamp, value, f.stamp, f.value, cmpValue)) {
      obj.fields[name] = { value, stamp };
      changed = true;
    }
  }
  return changed;
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
        const created = { type: op.type, created: stamp, parent: op.parent, pos: op.pos, placed: stamp, fields: {} };
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
  const own = current === undefined ? undefined : { ...current, fields: { ...current.fields } };
  const force = (o) => {
    for (const [name, value] of Object.entries(op.fields ?? {})) o.fields[name] = { value, stamp: op.stamp };
  };
  switch (op.action) {
    case 'create':
      if (view.tombstones.has(op.object)) return;
      if (own === undefined) {
        const o = { type: op.type, created: op.stamp, parent: op.parent, pos: op.pos, placed: op.stamp, fields: {} };
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

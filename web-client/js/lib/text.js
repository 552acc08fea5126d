// Mergeable text: a port of protocol/src/text.rs (an RGA sequence CRDT per text field).
//
// A text is { elems: [{ clock, client, index, ch, deleted }], cleared: stamp | null }, every
// character ever inserted in document order. A character's id is the stamp of the op that
// inserted it plus its offset in that op's run, written "<clock>.<index>.<client>". Concurrent
// inserts after the same character are ordered by id, greatest first; a run typed in one op
// stays together. Deletes leave tombstones (ids stay as anchors, content is dropped). A
// whole-value write replaces the text: characters stamped below it are deleted, whenever they
// arrive. Characters are Unicode scalar values (code points), as in Rust, not UTF-16 units.

/** Byte-wise order of the ASCII client ids (doc.js has the same; no import cycle). */
const cmpStr = (a, b) => (a < b ? -1 : a > b ? 1 : 0);

/** An empty text. */
export const emptyText = () => ({ elems: [], cleared: null });

/** The wire form of a character id. */
export const charId = (clock, index, client) => `${clock}.${index}.${client}`;

/** Parses a character id; null if malformed. */
export function parseCharId(s) {
  const m = /^(\d{1,20})\.(\d{1,20})\.(.+)$/s.exec(s ?? '');
  return m ? { clock: Number(m[1]), index: Number(m[2]), client: m[3] } : null;
}

/** Orders ids as (clock, client, index), as the Rust `CharId`. */
function cmpId(a, b) {
  return a.clock - b.clock || cmpStr(a.client, b.client) || a.index - b.index;
}

const sameId = (e, id) => e.clock === id.clock && e.index === id.index && e.client === id.client;

/** Position of the character `id` (deleted or not), or -1. */
export function position(text, id) {
  return text.elems.findIndex((e) => sameId(e, id));
}

/** Whether the op stamped `stamp` already inserted characters here. */
export function hasRun(text, stamp) {
  return text.elems.some((e) => e.clock === stamp.clock && e.client === stamp.client);
}

function clearedBelow(text, clock, client) {
  const c = text.cleared;
  return c !== null && (clock < c.clock || (clock === c.clock && cmpStr(client, c.client) < 0));
}

/** Inserts `str` after character `after` (null: at the start). Idempotent; reports a change. */
export function insert(text, stamp, after, str) {
  if (!str || hasRun(text, stamp)) return false;
  let pos = 0;
  if (after !== null && after !== undefined) {
    const p = position(text, after);
    if (p < 0) return false;
    pos = p + 1;
  }
  // Skip the subtrees of concurrent inserts at the same origin with greater ids.
  const first = { clock: stamp.clock, client: stamp.client, index: 0 };
  while (pos < text.elems.length && cmpId(text.elems[pos], first) > 0) pos += 1;
  const deleted = clearedBelow(text, stamp.clock, stamp.client);
  const run = Array.from(str, (ch, index) => ({ clock: stamp.clock, client: stamp.client, index, ch: deleted ? '' : ch, deleted }));
  text.elems.splice(pos, 0, ...run);
  return !deleted;
}

/** Deletes the characters `ids` (unknown ones are ignored); reports a change. */
export function remove(text, ids) {
  let changed = false;
  // One pass over the text for a long selection, not one per character.
  let index = null;
  if (ids.length > 4) {
    index = new Map(text.elems.map((e, i) => [charId(e.clock, e.index, e.client), i]));
  }
  for (const id of ids) {
    const p = index === null ? position(text, id) : (index.get(charId(id.clock, id.index, id.client)) ?? -1);
    if (p >= 0 && !text.elems[p].deleted) {
      text.elems[p] = { ...text.elems[p], ch: '', deleted: true };
      changed = true;
    }
  }
  return changed;
}

/** A whole-value write at `stamp` (null clears). */
export function replace(text, stamp, str) {
  let changed = false;
  const c = text.cleared;
  if (c === null || stamp.clock > c.clock || (stamp.clock === c.clock && cmpStr(stamp.client, c.client) > 0)) {
    text.cleared = { clock: stamp.clock, client: stamp.client };
    text.elems = text.elems.map((e) => {
      if (!e.deleted && clearedBelow(text, e.clock, e.client)) {
        changed = true;
        return { ...e, ch: '', deleted: true };
      }
      return e;
    });
  }
  if (typeof str === 'string') changed = insert(text, stamp, null, str) || changed;
  return changed;
}

/** The live text. */
export const render = (text) => text.elems.map((e) => e.ch).join('');

/** Ids of the live characters in order, as wire strings. */
export const liveIds = (text) => text.elems.filter((e) => !e.deleted).map((e) => charId(e.clock, e.index, e.client));

/** How many live characters come before character `id` plus one if it is live: the caret
 * offset (in code points) just after it; 0 for null or an unknown id. */
export function offsetAfter(text, id) {
  if (id === null) return 0;
  const parsed = typeof id === 'string' ? parseCharId(id) : id;
  let n = 0;
  for (const e of text.elems) {
    if (!e.deleted) n += 1;
    if (sameId(e, parsed)) return n;
  }
  return 0;
}

/** A copy that can change without touching `text`. */
export const cloneText = (text) => ({ elems: text.elems.slice(), cleared: text.cleared });

/** The canonical JSON form (protocol/src/text.rs): runs of one op's consecutive characters. */
export function textToJson(text) {
  const runs = [];
  let last = null;
  for (const e of text.elems) {
    if (last && last.client === e.client && last.clock === e.clock && last.index + last.len === e.index && last.deleted === e.deleted) {
      last.len += 1;
      last.text += e.ch;
      continue;
    }
    last = { client: e.client, clock: e.clock, index: e.index, len: 1, deleted: e.deleted, text: e.ch };
    runs.push(last);
  }
  const out = {};
  if (text.cleared !== null) out.cleared = text.cleared;
  out.runs = runs.map((r) => [r.client, r.clock, r.index, r.deleted ? r.len : r.text]);
  return out;
}

/** Reads the canonical JSON form. */
export function textFromJson(json) {
  const text = { elems: [], cleared: json?.cleared ?? null };
  for (const [client, clock, index, body] of json?.runs ?? []) {
    if (typeof body === 'number') {
      for (let i = 0; i < body; i += 1) text.elems.push({ clock, client, index: index + i, ch: '', deleted: true });
    } else {
      Array.from(body, (ch, i) => text.elems.push({ clock, client, index: index + i, ch, deleted: false }));
    }
  }
  return text;
}

/**
 * The text op that turns `before` (the live characters `ids`, as shown) into `after`: the
 * characters between the common prefix and suffix are deleted and the new ones inserted there.
 * Returns null when nothing changed, else { after, insert, delete, keptBefore, keptAfter } where
 * the kept counts say which of `ids` survive on either side of the insert.
 */
export function diffText(before, ids, after) {
  const a = Array.from(before);
  const b = Array.from(after);
  let p = 0;
  while (p < a.length && p < b.length && a[p] === b[p]) p += 1;
  let s = 0;
  while (s < a.length - p && s < b.length - p && a[a.length - 1 - s] === b[b.length - 1 - s]) s += 1;
  const del = ids.slice(p, a.length - s);
  const ins = b.slice(p, b.length - s).join('');
  if (del.length === 0 && ins === '') return null;
  return { after: p > 0 ? ids[p - 1] : null, insert: ins, delete: del, keptBefore: p, keptAfter: s };
}

// Binding a textarea or input to a mergeable text field (text.js): what the user types becomes
// text ops every TEXT_FLUSH_MS while typing (teammates see it as it is typed), and what others
// type is merged into the element without moving the caret: the caret is anchored to the id of
// the character before it, not to an offset.
//
// The element's content is always "the text as last shown" (`base`: value and character ids)
// plus the user's unsent typing. A flush diffs the element against `base`, never against the
// current document, so that text others added since is not mistaken for a local delete.

import { diffText, emptyText, liveIds, offsetAfter, render } from '../lib/text.js';

/** How often typing is sent while it goes on (ms): every keystroke would be an op. */
export const TEXT_FLUSH_MS = 80;

/** The flush of every bound element, so that Undo can send pending typing first. */
const flushes = new Map();

/** Whether `el` is bound to a mergeable text field (its undo is the room's, not the browser's). */
export const isProseBound = (el) => flushes.has(el);

/** Sends whatever is typed and not yet sent, in every bound element (forgetting removed ones). */
export function flushAllTyping() {
  for (const [el, f] of flushes) {
    if (el.isConnected) f();
    else flushes.delete(el);
  }
}

/** UTF-16 offset -> code point offset in `s`. */
const toPoints = (s, units) => Array.from(s.slice(0, units)).length;
/** Code point offset -> UTF-16 offset in `s`. */
const toUnits = (s, points) => Array.from(s).slice(0, points).join('').length;

/**
 * Binds `el`. `read()` returns the field's text state (text.js form) in the visible document,
 * or null; `edit({ after, insert, delete })` sends a text op and returns its stamp (or null
 * when refused locally). Returns { sync, flush }: call `sync()` on every render.
 */
export function bindProse(el, { read, edit, interval = TEXT_FLUSH_MS }) {
  let base = { value: '', ids: [] };
  let timer = null;
  // While an input method composes (accents, CJK), the element's text is not final: neither
  // send it nor overwrite it.
  let composing = false;

  function flush() {
    clearTimeout(timer);
    timer = null;
    if (composing || el.dataset.dirty !== '1') return;
    delete el.dataset.dirty;
    const value = el.value;
    const d = diffText(base.value, base.ids, value);
    if (d === null) return;
    const stamp = edit({ after: d.after, insert: d.insert, delete: d.delete });
    // Refused locally: the next render puts the document's text back.
    if (stamp === null) return;
    // The element now shows base + this edit: its characters' ids are known. The next render
    // (scheduled by the edit) merges in whatever others typed meanwhile.
    const inserted = Array.from(d.insert, (_, i) => `${stamp.clock}.${i}.${stamp.client}`);
    const ids = [...base.ids.slice(0, d.keptBefore), ...inserted, ...base.ids.slice(base.ids.length - d.keptAfter)];
    base = { value, ids };
  }

  /** Brings the element in line with the document, keeping the caret on its characters. */
  function sync() {
    if (composing || el.dataset.dirty === '1') return;
    const text = read() ?? emptyText();
    const value = render(text);
    if (value === el.value) {
      base = { value, ids: liveIds(text) };
      return;
    }
    const focused = document.activeElement === el;
    let start = 0;
    let end = 0;
    if (focused) {
      // Anchor both ends of the selection to the characters before them.
      const anchor = (units) => {
        const points = toPoints(el.value, units);
        return points === 0 ? null : base.ids[points - 1] ?? null;
      };
      const a = anchor(el.selectionStart ?? 0);
      const b = anchor(el.selectionEnd ?? 0);
      start = offsetAfter(text, a);
      end = offsetAfter(text, b);
    }
    el.value = value;
    base = { value, ids: liveIds(text) };
    if (focused) el.setSelectionRange(toUnits(value, start), toUnits(value, end));
  }

  el.addEventListener('input', () => {
    el.dataset.dirty = '1';
    if (timer === null) timer = setTimeout(flush, interval);
  });
  el.addEventListener('compositionstart', () => {
    composing = true;
  });
  el.addEventListener('compositionend', () => {
    composing = false;
    el.dataset.dirty = '1';
    if (timer === null) timer = setTimeout(flush, interval);
  });
  el.addEventListener('blur', flush);
  flushes.set(el, flush);
  return { sync, flush };
}

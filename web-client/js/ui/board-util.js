// Reading the visible tree for the boards, and small shared pieces of board UI.

import { newKey } from '../lib/fractional.js';
import { ROOT, fieldValue } from '../lib/doc.js';
import { h, setText, setValue, bindText, uid } from './dom.js';
import { bindProse } from './prose.js';

/** Visible children of `parent` (optionally of one type), in order: [{ id, obj }]. */
export function childrenOf(tree, parent = ROOT, type) {
  const list = tree.get(parent) ?? [];
  return type ? list.filter((c) => c.obj.type === type) : list;
}

/** A key after the last visible child of `parent` (of any type). */
export function appendPos(tree, parent = ROOT) {
  const last = (tree.get(parent) ?? []).at(-1);
  return newKey(last ? last.obj.pos : null, null);
}

/** A field's value for display (empty string when absent). */
export const val = (obj, name) => {
  const v = fieldValue(obj, name);
  return v === undefined ? '' : String(v);
};

/** Text input values: empty means cleared (null), so a field can be emptied. */
export const textOrNull = (s) => (s.trim() === '' ? null : s);

/**
 * An editable text field bound to one object field: returns { wrap, input, update(obj) }.
 * `save(name, value)` is called with the debounced value.
 */
export function textField(labelText, name, save, { multiline = false, placeholder = '', maxLength, className = 'field', rows = 2 } = {}) {
  const input = multiline ? h('textarea', { rows, placeholder, maxLength }) : h('input', { type: 'text', placeholder, maxLength });
  input.id = uid('t');
  input.name = name;
  bindText(input, (v) => save(name, textOrNull(v)));
  const wrap = h('div', { class: className }, [h('label', { htmlFor: input.id, text: labelText }), input]);
  return { wrap, input, update: (obj) => setValue(input, val(obj, name)) };
}

/**
 * An editable mergeable text field (schema kind 'prose'): what is typed is sent as text ops
 * while typing and merges with teammates' typing. Returns { wrap, input, update(obj) }.
 * `objectId()` names the object edited; `actions.text(id, name, edit)` sends the op.
 */
export function proseField(labelText, name, actions, objectId, { multiline = false, placeholder = '', maxLength, className = 'field', rows = 2 } = {}) {
  const input = multiline ? h('textarea', { rows, placeholder, maxLength }) : h('input', { type: 'text', placeholder, maxLength });
  input.id = uid('t');
  input.name = name;
  let current = null;
  const binding = bindProse(input, { read: () => current?.texts?.[name] ?? null, edit: (e) => actions.text(objectId(), name, e) });
  const wrap = h('div', { class: className }, [h('label', { htmlFor: input.id, text: labelText }), input]);
  return {
    wrap,
    input,
    update: (obj) => {
      current = obj;
      binding.sync();
    },
  };
}

/** A read-only labelled value: returns { wrap, update(obj) }. */
export function textView(labelText, name, { className = 'field-view', empty = '—' } = {}) {
  const value = h('p', { class: 'field-value' });
  const wrap = h('div', { class: className }, [h('span', { class: 'field-label', text: labelText }), value]);
  return {
    wrap,
    update(obj) {
      const v = val(obj, name);
      setText(value, v || empty);
      value.classList.toggle('is-empty', !v);
    },
  };
}

/** The "saving…" marker of an object with unanswered own ops. */
export function pendingMarker() {
  return h('span', { class: 'pending-marker', text: 'Saving…', hidden: true });
}

// Small DOM helpers. User text only ever goes in as text (textContent, value, attributes set
// through the DOM API): nothing in the client assigns innerHTML.

/**
 * Creates an element. `props`: `class`, `text`, `dataset`, `on` ({ event: handler }),
 * `attrs` (set with setAttribute), anything else is assigned as a property (id, type, value…).
 */
export function h(tag, props = {}, children = []) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null) continue;
    if (key === 'class') el.className = value;
    else if (key === 'text') el.textContent = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key === 'on') for (const [event, fn] of Object.entries(value)) el.addEventListener(event, fn);
    else if (key === 'attrs') for (const [name, v] of Object.entries(value)) el.setAttribute(name, v);
    else el[key] = value;
  }
  for (const child of [].concat(children)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Sets textContent only when it differs (keeps selection and avoids layout work). */
export function setText(el, text) {
  const t = text ?? '';
  if (el.textContent !== t) el.textContent = t;
}

/** Shows or hides an element with the `hidden` attribute. */
export function show(el, visible) {
  if (el.hidden === visible) el.hidden = !visible;
}

/** Toggles a class only when needed. */
export function toggle(el, name, on) {
  if (el.classList.contains(name) !== Boolean(on)) el.classList.toggle(name, Boolean(on));
}

/**
 * Keeps `container`'s children in the order of `items`, one node per key: creates missing nodes
 * with `create(item)`, calls `update(node, item)` on every node, removes nodes whose key is gone,
 * and moves only the nodes that are out of place. The focused element keeps its focus when its
 * node has to move (a DOM move blurs it).
 */
export function reconcile(container, items, key, create, update) {
  const existing = new Map();
  for (const node of [...container.children]) {
    if (node.dataset.key !== undefined) existing.set(node.dataset.key, node);
  }
  const active = document.activeElement;
  const hadFocus = active && container.contains(active) ? active : null;
  const keep = new Set();
  let index = 0;
  for (const item of items) {
    const k = String(key(item));
    keep.add(k);
    let node = existing.get(k);
    if (!node) {
      node = create(item);
      node.dataset.key = k;
    }
    update(node, item);
    const at = container.children[index];
    if (at !== node) container.insertBefore(node, at ?? null);
    index += 1;
  }
  for (const [k, node] of existing) if (!keep.has(k)) node.remove();
  if (hadFocus && hadFocus.isConnected && document.activeElement !== hadFocus) hadFocus.focus({ preventScroll: true });
}

/**
 * Updates a text input or textarea from shared state without clobbering what the user is typing:
 * a field with local, unsent changes (`el.dataset.dirty`) keeps its value.
 */
export function setValue(el, value) {
  const v = value ?? '';
  if (el.dataset.dirty === '1') return;
  if (el.value !== v) el.value = v;
}

/** A unique id for label/aria wiring. */
let counter = 0;
export const uid = (prefix = 'id') => `${prefix}-${(counter += 1)}`;

/**
 * Wires an input or textarea to a debounced save: `save(value)` runs 400 ms after the last
 * keystroke, on blur and on Enter (inputs only). The dirty flag protects the typed text from
 * incoming updates until it is handed to `save`.
 */
export function bindText(el, save, { delay = 400, multiline = el.tagName === 'TEXTAREA' } = {}) {
  let timer = null;
  const flush = () => {
    clearTimeout(timer);
    timer = null;
    if (el.dataset.dirty !== '1') return;
    delete el.dataset.dirty;
    save(el.value);
  };
  el.addEventListener('input', () => {
    el.dataset.dirty = '1';
    clearTimeout(timer);
    timer = setTimeout(flush, delay);
  });
  el.addEventListener('blur', flush);
  if (!multiline) {
    el.addEventListener('keydown', (e) => {
      if (e.key === 'Enter') flush();
    });
  }
  return flush;
}

/** A labelled form field: returns { wrap, input }. */
export function field(labelText, input, { hint, className = 'field' } = {}) {
  const id = input.id || uid('f');
  input.id = id;
  const label = h('label', { htmlFor: id, text: labelText });
  const children = [label, input];
  if (hint) {
    const hintEl = h('span', { class: 'hint', id: `${id}-hint`, text: hint });
    input.setAttribute('aria-describedby', hintEl.id);
    children.push(hintEl);
  }
  return { wrap: h('div', { class: className }, children), input, label };
}

/** A <select> with [value, label] options. */
export function select(options, props = {}) {
  return h(
    'select',
    props,
    options.map(([value, text]) => h('option', { value, text })),
  );
}

// The Product Vision Board (after Roman Pichler): five sections, each holding notes.
// Sections are found by their `section` field, so a board seeded by the server's template and
// sections created by a client (when someone adds the first note) render the same way.

import { h, reconcile, setText, show, toggle, uid } from './dom.js';
import { bindProse } from './prose.js';
import { appendPos, childrenOf, val } from './board-util.js';
import { newKey } from '../lib/fractional.js';
import { MAX_TEXT_CHARS, VISION_SECTIONS } from '../lib/schema.js';
import { label } from '../lib/messages.js';

const HINTS = {
  vision: 'Why does the product exist? The positive change it brings.',
  target_group: 'Market segments, users and customers.',
  needs: 'Problems it solves, benefits it gives. Not features.',
  product: '3-5 key features; what sets it apart.',
  business_goals: 'Revenue, retention, market position.',
};

/** Section value → its section objects, and their notes merged in order. */
function sectionsOf(tree) {
  const out = new Map(VISION_SECTIONS.map((s) => [s, { objects: [], notes: [] }]));
  for (const c of childrenOf(tree, undefined, 'vision_section')) {
    const s = out.get(val(c.obj, 'section'));
    if (s) s.objects.push(c);
  }
  for (const s of out.values()) {
    s.notes = s.objects.flatMap((o) => childrenOf(tree, o.id, 'vision_note'));
  }
  return out;
}

function noteNode(actions) {
  const text = h('textarea', { rows: 3, class: 'note-text', attrs: { 'aria-label': 'Note' } });
  const readText = h('p', { class: 'note-text' });
  const del = h('button', { type: 'button', class: 'icon-btn', text: '×', attrs: { 'aria-label': 'Delete note' } });
  const node = h('li', { class: 'note' }, [text, readText, del]);
  node.prose = bindProse(text, { read: () => node.obj?.texts?.text ?? null, edit: (e) => actions.text(node.dataset.key, 'text', e) });
  text.addEventListener('focus', () => actions.focus(node.dataset.key));
  del.addEventListener('click', () => actions.remove(node.dataset.key));
  return node;
}

export function mountVision(parent, { actions }) {
  const columns = new Map();
  const grid = h('div', { class: 'vision-grid' });
  for (const section of VISION_SECTIONS) {
    const headingId = uid('vs');
    const notes = h('ul', { class: 'notes', attrs: { 'aria-labelledby': headingId } });
    const input = h('textarea', { rows: 2, placeholder: 'Add a note…', maxLength: MAX_TEXT_CHARS, attrs: { 'aria-label': `New note in ${label(section)}` } });
    const add = h('button', { type: 'submit', class: 'btn btn-secondary btn-small', text: 'Add note' });
    const form = h('form', { class: 'add-note' }, [input, add]);
    const count = h('span', { class: 'count' });
    const col = h('section', { class: `vision-col vision-${section}`, dataset: { section } }, [
      h('header', { class: 'vision-head' }, [h('h3', { id: headingId, text: label(section) }), count]),
      h('p', { class: 'hint', text: HINTS[section] }),
      notes,
      form,
    ]);
    const submit = (e) => {
      e?.preventDefault();
      const text = input.value.trim();
      if (!text) return;
      if (addNote(section, text)) input.value = '';
    };
    form.addEventListener('submit', submit);
    input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey) submit(e);
    });
    columns.set(section, { col, notes, form, count });
    grid.append(col);
  }
  const el = h('div', { class: 'vision-board' }, [grid]);
  parent.append(el);

  let current = null;

  // Adding the first note creates the sections that are missing, so the board (and the
  // facilitator's "vision n/5" progress) is complete from the first note on.
  function addNote(section, text) {
    const { tree, me } = current;
    let target = sectionsOf(tree).get(section).objects[0]?.id;
    if (!target) {
      let pos = appendPos(tree);
      for (const s of VISION_SECTIONS) {
        if (sectionsOf(current.tree).get(s).objects.length > 0) continue;
        const id = actions.create('vision_section', 'root', pos, { section: s, title: label(s) });
        if (s === section) target = id;
        pos = newKey(pos, null);
      }
    }
    if (!target) return false;
    const notes = childrenOf(current.tree, target);
    const pos = newKey(notes.at(-1)?.obj.pos ?? null, null);
    return actions.create('vision_note', target, pos, { text, author: me.name }) !== null;
  }

  return {
    el,
    update(props) {
      current = props;
      const { tree, canEdit, pendingIds } = props;
      const sections = sectionsOf(tree);
      for (const [section, { notes, form, count }] of columns) {
        const list = sections.get(section).notes;
        setText(count, String(list.length));
        show(form, canEdit);
        reconcile(
          notes,
          list,
          (n) => n.id,
          () => noteNode(actions),
          (node, n) => {
            const [text, readText, del] = node.children;
            show(text, canEdit);
            show(del, canEdit);
            show(readText, !canEdit);
            node.obj = n.obj;
            if (canEdit) node.prose.sync();
            else setText(readText, val(n.obj, 'text'));
            node.title = val(n.obj, 'author') ? `by ${val(n.obj, 'author')}` : '';
            toggle(node, 'is-pending', pendingIds.has(n.id));
          },
        );
      }
    },
  };
}

// The Product Backlog: an ordered list (the backlog IS its order) reordered by drag and drop and
// by keyboard (Alt+ArrowUp/Down, Alt+Home/End on a focused story), with the story editor beside
// it. New positions are fractional keys between the neighbours, so a move is a single op.

import { h, reconcile, setText, show, toggle } from './dom.js';
import { appendPos, childrenOf, val } from './board-util.js';
import { placeAt } from '../lib/fractional.js';
import { label } from '../lib/messages.js';
import { MAX_TITLE_CHARS } from '../lib/schema.js';
import { mountStory } from './story.js';

function storyRow() {
  const rank = h('span', { class: 'story-rank', attrs: { 'aria-hidden': 'true' } });
  const handle = h('span', { class: 'drag-handle', text: '⠿', attrs: { 'aria-hidden': 'true' } });
  const title = h('span', { class: 'story-title' });
  const chips = h('span', { class: 'story-chips' });
  const saving = h('span', { class: 'pending-marker', text: 'Saving…' });
  return h('li', { class: 'story-row', tabIndex: 0, attrs: { role: 'option', 'aria-selected': 'false' } }, [handle, rank, h('span', { class: 'story-main' }, [title, chips]), saving]);
}

function chip(text, kind) {
  return h('span', { class: `chip chip-${kind}`, text });
}

export function mountBacklog(parent, { actions }) {
  const input = h('input', { type: 'text', maxLength: MAX_TITLE_CHARS, placeholder: 'New story title', attrs: { 'aria-label': 'New story title' } });
  const addForm = h('form', { class: 'add-story' }, [input, h('button', { type: 'submit', class: 'btn btn-primary', text: 'Add story' })]);
  const list = h('ol', { class: 'story-list', attrs: { role: 'listbox', 'aria-label': 'Product backlog, in order. Alt+Arrow keys move the focused story.' } });
  const empty = h('p', { class: 'empty', text: 'No stories yet.' });
  const live = h('p', { class: 'visually-hidden', attrs: { 'aria-live': 'assertive' } });
  const help = h('p', { class: 'hint', text: 'Drag a story, or focus it and press Alt+↑ / Alt+↓, to change the order.' });
  const listCol = h('section', { class: 'backlog-list card', attrs: { 'aria-label': 'Backlog' } }, [
    h('header', { class: 'panel-head' }, [h('h3', { text: 'Product Backlog' }), h('span', { class: 'count backlog-count' })]),
    addForm,
    help,
    list,
    empty,
    live,
  ]);
  const editorCol = h('section', { class: 'backlog-editor', attrs: { 'aria-label': 'Story details' } });
  const el = h('div', { class: 'backlog' }, [listCol, editorCol]);
  parent.append(el);

  let props = null;
  let items = [];
  let selected = null;
  let dragging = null;
  const story = mountStory(editorCol, {
    actions,
    onDeleted: () => {
      selected = null;
    },
  });

  addForm.addEventListener('submit', (e) => {
    e.preventDefault();
    const title = input.value.trim();
    if (!title || !props) return;
    const id = actions.create('backlog_item', 'root', appendPos(props.tree), { title, status: 'new' });
    if (id) {
      input.value = '';
      selected = id;
    }
  });

  /** Moves story `id` to `index` of the list without it. */
  function moveTo(id, index) {
    const others = items.filter((c) => c.id !== id);
    const target = Math.max(0, Math.min(index, others.length));
    if (target === items.findIndex((c) => c.id === id)) return;
    // Stories that share a key (created at once by an older client) move apart with it.
    const { key, rekey } = placeAt(others.map((c) => c.obj.pos), target);
    for (const [j, k] of rekey) actions.move(others[j].id, 'root', k);
    if (actions.move(id, 'root', key)) {
      const title = val(items.find((c) => c.id === id).obj, 'title');
      setText(live, `Moved “${title}” to position ${target + 1} of ${items.length}.`);
    }
  }

  function select(id) {
    selected = id;
    actions.focus(id);
    if (props) render();
  }

  list.addEventListener('keydown', (e) => {
    const row = e.target.closest('.story-row');
    if (!row || !props?.canEdit) {
      if (row && (e.key === 'Enter' || e.key === ' ')) select(row.dataset.key);
      return;
    }
    const id = row.dataset.key;
    const i = items.findIndex((c) => c.id === id);
    if (e.altKey && e.key === 'ArrowUp') moveTo(id, i - 1);
    else if (e.altKey && e.key === 'ArrowDown') moveTo(id, i + 1);
    else if (e.altKey && e.key === 'Home') moveTo(id, 0);
    else if (e.altKey && e.key === 'End') moveTo(id, items.length);
    else if (e.key === 'ArrowUp' && i > 0) list.children[i - 1].focus();
    else if (e.key === 'ArrowDown' && i < items.length - 1) list.children[i + 1].focus();
    else if (e.key === 'Enter' || e.key === ' ') select(id);
    else return;
    e.preventDefault();
  });
  list.addEventListener('click', (e) => {
    const row = e.target.closest('.story-row');
    if (row) select(row.dataset.key);
  });

  // Drag and drop: the drop index is where the pointer is relative to the middle of a row.
  list.addEventListener('dragstart', (e) => {
    const row = e.target.closest('.story-row');
    if (!row || !props?.canEdit) return;
    dragging = row.dataset.key;
    e.dataTransfer.effectAllowed = 'move';
    e.dataTransfer.setData('text/plain', dragging);
    row.classList.add('is-dragging');
  });
  const dropIndex = (e) => {
    const rows = [...list.children];
    const i = rows.findIndex((r) => {
      const box = r.getBoundingClientRect();
      return e.clientY < box.top + box.height / 2;
    });
    return i < 0 ? rows.length : i;
  };
  const clearMarks = () => {
    for (const r of list.children) r.classList.remove('drop-before', 'drop-after', 'is-dragging');
  };
  list.addEventListener('dragover', (e) => {
    if (dragging === null) return;
    e.preventDefault();
    const i = dropIndex(e);
    clearMarks();
    const rows = list.children;
    if (i < rows.length) rows[i].classList.add('drop-before');
    else rows[rows.length - 1]?.classList.add('drop-after');
  });
  list.addEventListener('drop', (e) => {
    if (dragging === null) return;
    e.preventDefault();
    const from = items.findIndex((c) => c.id === dragging);
    let to = dropIndex(e);
    if (to > from) to -= 1;
    clearMarks();
    if (to !== from) moveTo(dragging, to);
    dragging = null;
  });
  list.addEventListener('dragend', () => {
    clearMarks();
    dragging = null;
  });

  function render() {
    const { tree, canEdit, pendingIds } = props;
    items = childrenOf(tree, undefined, 'backlog_item');
    if (selected && !items.some((c) => c.id === selected)) selected = null;
    setText(listCol.querySelector('.backlog-count'), String(items.length));
    show(addForm, canEdit);
    show(help, canEdit && items.length > 1);
    show(empty, items.length === 0);
    reconcile(list, items, (c) => c.id, storyRow, (node, c) => {
      const index = items.indexOf(c);
      const [, rank, main] = node.children;
      setText(rank, String(index + 1));
      setText(main.firstChild, val(c.obj, 'title') || 'Untitled story');
      const chips = main.lastChild;
      const criteria = childrenOf(tree, c.id, 'acceptance_criterion');
      const met = criteria.filter((a) => a.obj.fields.met?.value === true).length;
      chips.replaceChildren(
        ...[
          val(c.obj, 'status') && chip(label(val(c.obj, 'status')), `status-${val(c.obj, 'status')}`),
          val(c.obj, 'estimate') && chip(`${val(c.obj, 'estimate')} pts`, 'estimate'),
          criteria.length > 0 ? chip(`AC ${met}/${criteria.length}`, 'criteria') : null,
        ].filter(Boolean),
      );
      node.draggable = canEdit;
      node.setAttribute('aria-selected', String(c.id === selected));
      node.setAttribute('aria-label', `${index + 1}. ${val(c.obj, 'title') || 'Untitled story'}`);
      toggle(node, 'is-selected', c.id === selected);
      toggle(node, 'is-pending', pendingIds.has(c.id));
    });
    story.update({ ...props, id: selected ?? items[0]?.id ?? null, index: items.findIndex((c) => c.id === (selected ?? items[0]?.id)), total: items.length, moveTo });
  }

  return {
    el,
    update(next) {
      props = next;
      render();
    },
  };
}

// Feedback cards: the review audience's comments on a team's board, in general or on one
// story (then they land under that backlog item). Cards are never edited after posting.

import { h, reconcile, setText, show, toggle, uid } from './dom.js';
import { appendPos, childrenOf, val } from './board-util.js';
import { newKey } from '../lib/fractional.js';
import { MAX_TEXT_CHARS } from '../lib/schema.js';

export function mountFeedback(parent, { actions }) {
  const text = h('textarea', { rows: 3, maxLength: MAX_TEXT_CHARS, id: uid('fb'), placeholder: 'What works well? What would you change?' });
  const about = h('select', { id: uid('about') });
  const form = h('form', { class: 'feedback-form card' }, [
    h('h3', { text: 'Leave feedback' }),
    h('div', { class: 'field' }, [h('label', { htmlFor: text.id, text: 'Your feedback' }), text]),
    h('div', { class: 'field' }, [h('label', { htmlFor: about.id, text: 'About' }), about]),
    h('button', { type: 'submit', class: 'btn btn-primary', text: 'Post feedback' }),
  ]);
  const list = h('ul', { class: 'feedback-list' });
  const empty = h('p', { class: 'empty', text: 'No feedback yet.' });
  const el = h('div', { class: 'feedback' }, [form, h('section', { class: 'feedback-wall', attrs: { 'aria-label': 'Feedback cards' } }, [h('h3', { text: 'Feedback' }), empty, list])]);
  parent.append(el);

  let props = null;
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const body = text.value.trim();
    if (!body || !props) return;
    const parentId = about.value || 'root';
    const pos = parentId === 'root' ? appendPos(props.tree) : newKey(childrenOf(props.tree, parentId).at(-1)?.obj.pos ?? null, null);
    if (actions.create('feedback', parentId, pos, { text: body, author: props.me.name })) text.value = '';
  });

  return {
    el,
    update(next) {
      props = next;
      const { tree, canFeedback, pendingIds } = next;
      const stories = childrenOf(tree, undefined, 'backlog_item');
      // The "about" choices follow the backlog; keep the user's choice if it still exists.
      const chosen = about.value;
      reconcile(
        about,
        [{ id: '', title: 'The whole board' }, ...stories.map((s) => ({ id: s.id, title: `Story: ${val(s.obj, 'title') || 'Untitled'}` }))],
        (o) => o.id || 'root',
        () => h('option'),
        (node, o) => {
          node.value = o.id;
          setText(node, o.title);
        },
      );
      about.value = [...about.options].some((o) => o.value === chosen) ? chosen : '';
      show(form, canFeedback);
      const cards = [
        ...childrenOf(tree, undefined, 'feedback').map((c) => ({ ...c, on: null })),
        ...stories.flatMap((s) => childrenOf(tree, s.id, 'feedback').map((c) => ({ ...c, on: val(s.obj, 'title') || 'Untitled story' }))),
      ];
      show(empty, cards.length === 0);
      reconcile(
        list,
        cards,
        (c) => c.id,
        () => h('li', { class: 'feedback-card' }, [h('p', { class: 'feedback-text' }), h('p', { class: 'feedback-meta' })]),
        (node, c) => {
          setText(node.firstChild, val(c.obj, 'text'));
          const meta = [val(c.obj, 'author') && `— ${val(c.obj, 'author')}`, c.on && `on “${c.on}”`].filter(Boolean).join(' ');
          setText(node.lastChild, meta);
          toggle(node, 'is-pending', pendingIds.has(c.id));
        },
      );
    },
  };
}

// Who is in the room right now (the room's presence list), with what each one is looking at.

import { h, reconcile, setText, show } from './dom.js';
import { label } from '../lib/messages.js';

const initials = (name) =>
  [...name.trim()]
    .filter((c, i, all) => i === 0 || all[i - 1] === ' ')
    .slice(0, 2)
    .join('')
    .toUpperCase() || '?';

export function mountPresence(parent) {
  const heading = h('h2', { class: 'side-heading', id: 'presence-h' });
  const list = h('ul', { class: 'presence-list', attrs: { 'aria-labelledby': 'presence-h' } });
  const empty = h('p', { class: 'muted small', text: 'Nobody is here yet.' });
  const el = h('aside', { class: 'presence card', attrs: { 'aria-label': 'People in this room' } }, [heading, list, empty]);
  parent.append(el);
  return {
    el,
    /** `members`: the room's presence; `focusLabel(id)`: a name for what a member focuses. */
    update({ members, meId, focusLabel }) {
      setText(heading, `In this room (${members.length})`);
      show(empty, members.length === 0);
      reconcile(
        list,
        members,
        (m) => m.participant,
        () => h('li', { class: 'member' }, [h('span', { class: 'avatar', attrs: { 'aria-hidden': 'true' } }), h('span', { class: 'member-name' }), h('span', { class: 'member-role' }), h('span', { class: 'member-focus' })]),
        (node, m) => {
          const [avatar, name, role, focus] = node.children;
          setText(avatar, initials(m.name));
          avatar.dataset.role = m.role;
          setText(name, m.participant === meId ? `${m.name} (you)` : m.name);
          setText(role, label(m.role));
          const f = m.focus ? focusLabel(m.focus) : '';
          setText(focus, f ? `on ${f}` : '');
          show(focus, Boolean(f));
        },
      );
    },
  };
}

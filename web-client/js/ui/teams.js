// Team assignment: attendees as cards in columns (unassigned, then each breakout room).
// Drag a person to another column, or use the card's "Move to" menu from the keyboard; both
// send `move_participant`.

import { h, reconcile, setText, show, uid } from './dom.js';

const UNASSIGNED = '';

function personCard(onMove) {
  const name = h('span', { class: 'person-name' });
  const move = h('select', { class: 'person-move', id: uid('mv') });
  const node = h('li', { class: 'person', draggable: true }, [name, move]);
  move.addEventListener('change', () => onMove(node.dataset.key, move.value || null));
  node.addEventListener('dragstart', (e) => {
    e.dataTransfer.effectAllowed = 'move';
    e.dataTransfer.setData('application/x-plenary-participant', node.dataset.key);
    e.dataTransfer.setData('text/plain', node.dataset.key);
    node.classList.add('is-dragging');
  });
  node.addEventListener('dragend', () => node.classList.remove('is-dragging'));
  return node;
}

export function mountTeams(parent, { onMove }) {
  const columns = h('div', { class: 'team-columns' });
  const empty = h('p', { class: 'empty', text: 'No attendees have joined yet. Share the attendee link.' });
  const el = h('div', { class: 'teams' }, [empty, columns]);
  parent.append(el);

  function column() {
    const heading = h('h4');
    const list = h('ul', { class: 'people' });
    const col = h('section', { class: 'team-col' }, [heading, list]);
    col.addEventListener('dragover', (e) => {
      if (![...e.dataTransfer.types].includes('application/x-plenary-participant')) return;
      e.preventDefault();
      col.classList.add('drop-target');
    });
    col.addEventListener('dragleave', (e) => {
      if (!col.contains(e.relatedTarget)) col.classList.remove('drop-target');
    });
    col.addEventListener('drop', (e) => {
      e.preventDefault();
      col.classList.remove('drop-target');
      const id = e.dataTransfer.getData('application/x-plenary-participant');
      const room = col.dataset.key || null;
      if (id) onMove(id, room);
    });
    return col;
  }

  return {
    el,
    update({ workshop }) {
      const attendees = workshop.participants.filter((p) => p.role === 'attendee');
      const breakouts = workshop.rooms.filter((r) => r.kind === 'breakout');
      show(empty, attendees.length === 0);
      const cols = [{ id: UNASSIGNED, name: 'Not assigned' }, ...breakouts];
      const options = cols.map((r) => [r.id, r.id === UNASSIGNED ? 'Not assigned' : r.name]);
      reconcile(columns, cols, (r) => r.id, column, (col, r) => {
        const people = attendees.filter((p) => (p.room ?? UNASSIGNED) === r.id);
        setText(col.firstChild, `${r.name} (${people.length})`);
        col.setAttribute('aria-label', r.name);
        reconcile(col.lastChild, people, (p) => p.id, () => personCard(onMove), (node, p) => {
          const [name, move] = node.children;
          setText(name, p.name);
          move.setAttribute('aria-label', `Move ${p.name} to`);
          reconcile(move, options, ([id]) => id || 'none', () => h('option'), (opt, [id, text]) => {
            opt.value = id;
            setText(opt, text);
          });
          move.value = p.room ?? UNASSIGNED;
        });
      });
    },
  };
}

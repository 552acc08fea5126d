// The facilitator's live overview of every room (who is there, how far each artefact is) and
// the help queue. Progress comes from the REST summary, polled by the controller.

import { h, reconcile, setText, show, toggle } from './dom.js';
import { progressText } from '../lib/progress.js';

function ago(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s ago`;
  return `${Math.round(s / 60)} min ago`;
}

export function mountOverview(parent, { onGoTo, onStage, onResolve }) {
  const rooms = h('div', { class: 'overview-grid' });
  const helpList = h('ol', { class: 'help-list' });
  const helpEmpty = h('p', { class: 'empty', text: 'Nobody needs help right now.' });
  const helpCount = h('span', { class: 'count' });
  const clearStage = h('button', { type: 'button', class: 'btn btn-secondary btn-small', text: 'End review (clear stage)', on: { click: () => onStage(null) } });
  const el = h('div', { class: 'overview' }, [
    h('section', { class: 'card help-queue', attrs: { 'aria-labelledby': 'help-h' } }, [h('header', { class: 'panel-head' }, [h('h3', { id: 'help-h', text: 'Help queue' }), helpCount]), helpEmpty, helpList]),
    h('section', { class: 'rooms-overview', attrs: { 'aria-labelledby': 'rooms-h' } }, [h('header', { class: 'panel-head' }, [h('h3', { id: 'rooms-h', text: 'Rooms' }), clearStage]), rooms]),
  ]);
  parent.append(el);

  const roomCard = () => {
    const name = h('h4', { class: 'room-card-name' });
    const badge = h('span', { class: 'badge badge-stage', text: 'On stage' });
    const members = h('p', { class: 'room-card-members' });
    const people = h('p', { class: 'room-card-people muted small' });
    const progress = h('p', { class: 'room-card-progress' });
    const go = h('button', { type: 'button', class: 'btn btn-secondary btn-small', text: 'Go to room' });
    const stage = h('button', { type: 'button', class: 'btn btn-secondary btn-small', text: 'Put on stage' });
    const node = h('article', { class: 'room-card card' }, [h('header', { class: 'room-card-head' }, [name, badge]), members, people, progress, h('div', { class: 'room-card-actions' }, [go, stage])]);
    go.addEventListener('click', () => onGoTo(node.dataset.key));
    stage.addEventListener('click', () => onStage(node.dataset.key));
    node.parts = { name, badge, members, people, progress, stage, go };
    return node;
  };

  return {
    el,
    update({ workshop, summary, now }) {
      const byId = new Map((summary?.rooms ?? []).map((r) => [r.id, r]));
      show(clearStage, Boolean(workshop.stage));
      reconcile(rooms, workshop.rooms, (r) => r.id, roomCard, (node, r) => {
        const s = byId.get(r.id);
        const { name, badge, members, people, progress, stage, go } = node.parts;
        setText(name, r.name);
        const assigned = workshop.participants.filter((p) => p.room === r.id);
        setText(members, s ? `${s.members} here now` : '…');
        setText(people, r.kind === 'breakout' ? (assigned.length ? `Team: ${assigned.map((p) => p.name).join(', ')}` : 'No one assigned') : `${workshop.participants.length} participants in the workshop`);
        setText(progress, progressText(s?.progress));
        const onStage = workshop.stage === r.id;
        show(badge, onStage);
        show(stage, r.kind === 'breakout' && !onStage);
        toggle(node, 'is-staged', onStage);
        const help = workshop.help.filter((x) => x.room === r.id).length;
        toggle(node, 'has-help', help > 0);
        go.setAttribute('aria-label', `Go to ${r.name}`);
        stage.setAttribute('aria-label', `Put ${r.name} on stage`);
      });
      setText(helpCount, String(workshop.help.length));
      show(helpEmpty, workshop.help.length === 0);
      const roomName = (id) => workshop.rooms.find((r) => r.id === id)?.name ?? id;
      reconcile(
        helpList,
        workshop.help,
        (x) => x.id,
        () => {
          const node = h('li', { class: 'help-item' }, [h('p', { class: 'help-who' }), h('p', { class: 'help-note' }), h('div', { class: 'help-actions' })]);
          const go = h('button', { type: 'button', class: 'btn btn-primary btn-small', text: 'Go to room' });
          const done = h('button', { type: 'button', class: 'btn btn-secondary btn-small', text: 'Resolved' });
          go.addEventListener('click', () => onGoTo(node.dataset.room, node.dataset.object || null));
          done.addEventListener('click', () => onResolve(Number(node.dataset.key)));
          node.lastChild.append(go, done);
          return node;
        },
        (node, x) => {
          node.dataset.room = x.room;
          node.dataset.object = x.object ?? '';
          setText(node.children[0], `${x.name} · ${roomName(x.room)} · ${ago(now - x.raised_ms)}`);
          setText(node.children[1], x.note || 'No note');
        },
      );
    },
  };
}

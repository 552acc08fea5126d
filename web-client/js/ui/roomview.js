// A room: its header (name, stage and read-only badges, raise hand), the team's artefacts as
// tabs, and who is here. Data down: the replica's view and the permissions; events up: edits
// through `actions`, `onRaiseHand(note)`, `onLowerHand()`.

import { h, reconcile, setText, show, toggle, uid } from './dom.js';
import { mountVision } from './vision.js';
import { mountBacklog } from './backlog.js';
import { mountExperiments } from './experiments.js';
import { mountFeedback } from './feedback.js';
import { mountValue } from './value.js';
import { mountForecast } from './forecast.js';
import { mountPresence } from './presence.js';
import { childrenOf, val } from './board-util.js';

export const TABS = [
  ['vision', 'Vision Board'],
  ['backlog', 'Backlog'],
  ['experiments', 'Experiments'],
  ['value', 'Value'],
  ['forecast', 'Forecast'],
  ['feedback', 'Feedback'],
];
/** The tab an exercise template opens. */
export const TAB_OF_TEMPLATE = { vision_board: 'vision', backlog: 'backlog', experiment: 'experiments' };

function tabBar(onSelect) {
  const bar = h('div', { class: 'tabs', attrs: { role: 'tablist', 'aria-label': 'Artefacts' } });
  const buttons = new Map();
  for (const [id, text] of TABS) {
    const b = h('button', { type: 'button', class: 'tab', id: uid('tab'), dataset: { tab: id }, attrs: { role: 'tab', 'aria-selected': 'false' } }, [h('span', { text }), h('span', { class: 'tab-count' })]);
    b.addEventListener('click', () => onSelect(id));
    buttons.set(id, b);
    bar.append(b);
  }
  // Arrow keys move between tabs (the ARIA tabs pattern).
  bar.addEventListener('keydown', (e) => {
    const ids = TABS.map(([id]) => id);
    const i = ids.indexOf(e.target.dataset.tab);
    if (i < 0) return;
    let next = null;
    if (e.key === 'ArrowRight') next = ids[(i + 1) % ids.length];
    if (e.key === 'ArrowLeft') next = ids[(i + ids.length - 1) % ids.length];
    if (e.key === 'Home') next = ids[0];
    if (e.key === 'End') next = ids.at(-1);
    if (next) {
      e.preventDefault();
      onSelect(next);
      buttons.get(next).focus();
    }
  });
  return { bar, buttons };
}

export function mountRoomView(parent, { actions, onRaiseHand, onLowerHand, onTab, onChooseTeam, onUndo }) {
  const title = h('h1', { class: 'room-title' });
  // Undo and redo of one's own changes (Ctrl+Z, Ctrl+Shift+Z): never a teammate's.
  const undo = h('button', { type: 'button', class: 'btn btn-ghost btn-small', text: 'Undo', attrs: { 'aria-keyshortcuts': 'Control+Z', title: 'Undo your last change (Ctrl+Z)' }, on: { click: () => onUndo?.('undo') } });
  const redo = h('button', { type: 'button', class: 'btn btn-ghost btn-small', text: 'Redo', attrs: { 'aria-keyshortcuts': 'Control+Shift+Z', title: 'Redo (Ctrl+Shift+Z)' }, on: { click: () => onUndo?.('redo') } });
  const history = h('div', { class: 'history-tools', attrs: { role: 'group', 'aria-label': 'Undo and redo' } }, [undo, redo]);
  const badges = h('div', { class: 'badges' });
  const note = h('input', { type: 'text', maxLength: 500, placeholder: 'What do you need help with?', attrs: { 'aria-label': 'Help request note' } });
  const raise = h('button', { type: 'submit', class: 'btn btn-secondary', text: 'Raise hand' });
  const handForm = h('form', { class: 'hand-form' }, [note, raise]);
  const lower = h('button', { type: 'button', class: 'btn btn-warning', text: 'Lower hand', on: { click: () => onLowerHand() } });
  const handWaiting = h('div', { class: 'hand-waiting' }, [h('span', { text: 'Your hand is raised; the facilitator will come by.' }), lower]);
  handForm.addEventListener('submit', (e) => {
    e.preventDefault();
    onRaiseHand(note.value.trim());
    note.value = '';
  });
  const notice = h('p', { class: 'room-notice' });
  // While the facilitator lets attendees choose, the plenary offers the teams to pick from.
  const pickList = h('div', { class: 'button-row' });
  const picker = h('section', { class: 'team-picker card', hidden: true, attrs: { 'aria-label': 'Choose your team' } }, [h('h2', { text: 'Choose your team' }), pickList]);
  const panels = h('div', { class: 'tab-panels' });
  const { bar, buttons } = tabBar((id) => {
    selectTab(id);
    onTab?.(id);
  });
  const side = h('div', { class: 'room-side' });
  const el = h('main', { class: 'room', id: 'main' }, [
    h('header', { class: 'room-head' }, [h('div', { class: 'room-titles' }, [title, badges]), history, handForm, handWaiting]),
    notice,
    picker,
    h('div', { class: 'room-body' }, [h('div', { class: 'room-main' }, [bar, panels]), side]),
  ]);
  parent.append(el);

  const boards = {};
  const panelEls = {};
  const mounts = { vision: mountVision, backlog: mountBacklog, experiments: mountExperiments, value: mountValue, forecast: mountForecast, feedback: mountFeedback };
  for (const [id] of TABS) {
    const panel = h('section', { class: 'tab-panel', hidden: true, attrs: { role: 'tabpanel', 'aria-labelledby': buttons.get(id).id }, dataset: { panel: id } });
    panels.append(panel);
    panelEls[id] = panel;
    boards[id] = mounts[id](panel, { actions });
  }
  const presence = mountPresence(side);
  let tab = 'backlog';

  function selectTab(id) {
    tab = id;
    for (const [t, b] of buttons) {
      b.setAttribute('aria-selected', String(t === id));
      b.tabIndex = t === id ? 0 : -1;
      show(panelEls[t], t === id);
    }
  }
  selectTab(tab);

  return {
    el,
    selectTab,
    get tab() {
      return tab;
    },
    /**
     * `room`: { id, name }; `view`: { doc, tree, pendingIds }; `canEdit` / `canFeedback`;
     * `badges`: [text]; `hand`: null | { raised }; `members`, `me`.
     */
    update(props) {
      const { room, view, canEdit, canFeedback, me, members, hand, synced } = props;
      setText(title, room.name);
      badges.replaceChildren(...props.badges.map(([text, kind]) => h('span', { class: `badge badge-${kind}`, text })));
      el.dataset.room = room.id;
      toggle(el, 'is-readonly', !canEdit);
      show(history, canEdit);
      undo.disabled = !props.history?.canUndo;
      redo.disabled = !props.history?.canRedo;
      show(handForm, Boolean(hand) && !hand.raised);
      show(handWaiting, Boolean(hand?.raised));
      setText(notice, synced ? props.notice ?? '' : 'Loading the board…');
      show(notice, !synced || Boolean(props.notice));
      const choices = props.teamChoices ?? [];
      show(picker, choices.length > 0);
      reconcile(pickList, choices, (c) => c.id, (c) => h('button', { type: 'button', class: 'btn btn-secondary', on: { click: () => onChooseTeam(c.id) } }), (node, c) => {
        setText(node, c.current ? `${c.name} (your team)` : `Join ${c.name} (${c.size} ${c.size === 1 ? 'member' : 'members'})`);
        node.disabled = c.current;
      });
      // `team`: who votes here (the room's attendees, by id -> name); `present`: who is here now.
      const team = new Map((props.people ?? []).filter((p) => p.role === 'attendee' && p.room === room.id).map((p) => [p.id, p.name]));
      const names = new Map((props.people ?? []).map((p) => [p.id, p.name]));
      const present = new Set(members.map((m) => m.participant));
      const boardProps = { doc: view.doc, tree: view.tree, pendingIds: view.pendingIds, canEdit, canFeedback: canFeedback || canEdit, me, team, names, present };
      for (const b of Object.values(boards)) b.update(boardProps);
      const counts = {
        vision: childrenOf(view.tree, undefined, 'vision_section').reduce((n, s) => n + childrenOf(view.tree, s.id, 'vision_note').length, 0),
        backlog: childrenOf(view.tree, undefined, 'backlog_item').length,
        experiments: childrenOf(view.tree, undefined, 'experiment').length,
        feedback:
          childrenOf(view.tree, undefined, 'feedback').length +
          childrenOf(view.tree, undefined, 'backlog_item').reduce((n, s) => n + childrenOf(view.tree, s.id, 'feedback').length, 0),
      };
      for (const [t, b] of buttons) setText(b.lastChild, counts[t] ? String(counts[t]) : '');
      const focusLabel = (id) => {
        const obj = view.doc.objects.get(id);
        if (!obj) return '';
        return val(obj, 'title') || { vision_note: 'a note', experiment: 'an experiment', acceptance_criterion: 'a criterion' }[obj.type] || '';
      };
      presence.update({ members, meId: me.participant, focusLabel });
    },
  };
}

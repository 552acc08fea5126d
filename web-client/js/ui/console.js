// The facilitator console: invite links, breakouts (create, assign, open/close), the exercise
// broadcast with timebox and template, timer controls, and the live overview with the help
// queue and the review stage. Events up: onCommand(command) → Promise<{ ok }>, onGoTo(room).

import { h, field, setText, show, select, uid, reconcile } from './dom.js';
import { mountTeams } from './teams.js';
import { mountOverview } from './overview.js';
import { formatCountdown, remainingMs, timerPhase } from '../lib/clock.js';
import { label } from '../lib/messages.js';

const TEMPLATES = [
  ['vision_board', 'Product Vision Board'],
  ['backlog', 'Product Backlog (one example story)'],
  ['experiment', 'Experiment (test card)'],
  ['', 'No template'],
];

function card(titleText, children, className = '') {
  const id = uid('card');
  return h('section', { class: `card console-card ${className}`, attrs: { 'aria-labelledby': id } }, [h('h2', { id, text: titleText }), ...children]);
}

function inviteRow(text) {
  const input = h('input', { type: 'text', readOnly: true, class: 'link-input' });
  const copy = h('button', { type: 'button', class: 'btn btn-secondary btn-small', text: 'Copy' });
  copy.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(input.value);
      copy.textContent = 'Copied';
    } catch {
      input.select();
    }
    setTimeout(() => (copy.textContent = 'Copy'), 1500);
  });
  const f = field(text, input);
  return { el: h('div', { class: 'link-row' }, [f.wrap, copy]), input };
}

export function mountConsole(parent, { onCommand, onGoTo, serverNow }) {
  const run = async (command, button) => {
    if (button) button.disabled = true;
    const result = await onCommand(command);
    if (button) button.disabled = false;
    return result;
  };

  // Invite links.
  const attendeeLink = inviteRow('Attendee link');
  const observerLink = inviteRow('Observer link');

  // Breakouts.
  const names = h('input', { type: 'text', value: 'Team A, Team B, Team C', maxLength: 2000 });
  const createBtn = h('button', { type: 'submit', class: 'btn btn-primary', text: 'Create breakouts' });
  const createForm = h('form', { class: 'inline-form' }, [field('New breakout rooms (comma-separated names)', names).wrap, createBtn]);
  createForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    const list = names.value.split(',').map((s) => s.trim()).filter(Boolean);
    if (list.length > 0) await run({ kind: 'create_breakouts', names: list }, createBtn);
  });
  const assignBtn = h('button', { type: 'button', class: 'btn btn-secondary', text: 'Assign everyone automatically' });
  assignBtn.addEventListener('click', () => run({ kind: 'assign_auto' }, assignBtn));
  const choice = h('input', { type: 'checkbox', id: uid('choice') });
  choice.addEventListener('change', () => run({ kind: 'allow_choice', allow: choice.checked }));
  const openBtn = h('button', { type: 'button', class: 'btn btn-primary', text: 'Open breakouts' });
  const closeBtn = h('button', { type: 'button', class: 'btn btn-warning', text: 'Close breakouts (recall everyone)' });
  openBtn.addEventListener('click', () => run({ kind: 'open_breakouts' }, openBtn));
  closeBtn.addEventListener('click', () => run({ kind: 'close_breakouts' }, closeBtn));
  const breakoutState = h('p', { class: 'state-line' });
  const teamsBox = h('div');
  const teams = mountTeams(teamsBox, { onMove: (participant, room) => run({ kind: 'move_participant', participant, room }) });

  // Exercise broadcast.
  const exTitle = h('input', { type: 'text', required: true, maxLength: 300, value: 'Product Vision Board' });
  const exText = h('textarea', { rows: 3, maxLength: 10000, value: 'Fill in all five sections of the vision board as a team.' });
  const exMinutes = h('input', { type: 'number', min: 0.05, max: 1440, step: 'any', value: 15, required: true, inputMode: 'decimal' });
  const exWarn = h('input', { type: 'number', min: 0, max: 86400, step: 1, placeholder: 'default', inputMode: 'numeric' });
  const exTemplate = select(TEMPLATES);
  const exAutoClose = h('input', { type: 'checkbox', id: uid('ac') });
  const exRoomList = h('div', { class: 'room-check-list' });
  const exRooms = h('fieldset', { class: 'room-checks' }, [h('legend', { text: 'Rooms' }), exRoomList]);
  const exBtn = h('button', { type: 'submit', class: 'btn btn-primary', text: 'Broadcast exercise' });
  const exForm = h('form', { class: 'exercise-form' }, [
    field('Title', exTitle).wrap,
    field('Instructions', exText).wrap,
    h('div', { class: 'form-row' }, [field('Timebox (minutes)', exMinutes).wrap, field('Warning (seconds before the end)', exWarn).wrap, field('Template', exTemplate).wrap]),
    exRooms,
    h('div', { class: 'check' }, [exAutoClose, h('label', { htmlFor: exAutoClose.id, text: 'Close breakouts when the time is up' })]),
    exBtn,
  ]);
  exTemplate.addEventListener('change', () => {
    if (exTemplate.value) exTitle.value = label(exTemplate.value);
  });
  exForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    const minutes = Number.parseFloat(exMinutes.value);
    const rooms = [...exRooms.querySelectorAll('input:checked')].map((c) => c.value);
    const command = {
      kind: 'broadcast_exercise',
      title: exTitle.value.trim(),
      instructions: exText.value,
      timebox_secs: Math.max(1, Math.round(minutes * 60)),
      template: exTemplate.value || null,
      auto_close: exAutoClose.checked,
    };
    if (rooms.length > 0) command.rooms = rooms;
    if (exWarn.value !== '') command.warning_secs = Math.min(Number.parseInt(exWarn.value, 10), command.timebox_secs);
    await run(command, exBtn);
  });

  // Timer controls.
  const timerText = h('p', { class: 'timer-line' });
  const timerBtns = h('div', { class: 'button-row' }, [
    h('button', { type: 'button', class: 'btn btn-secondary btn-small', text: '+1 min', on: { click: () => run({ kind: 'extend_timer', secs: 60 }) } }),
    h('button', { type: 'button', class: 'btn btn-secondary btn-small', text: '+5 min', on: { click: () => run({ kind: 'extend_timer', secs: 300 }) } }),
    h('button', { type: 'button', class: 'btn btn-danger btn-small', text: 'Stop timer', on: { click: () => run({ kind: 'stop_timer' }) } }),
  ]);

  const overviewBox = h('div');
  const overview = mountOverview(overviewBox, {
    onGoTo,
    onStage: (room) => run({ kind: 'set_stage', room }),
    onResolve: (id) => run({ kind: 'resolve_help', id }),
  });

  const el = h('main', { class: 'console', id: 'main' }, [
    h('header', { class: 'console-head' }, [h('h1', { text: 'Facilitator console' }), h('p', { class: 'muted', text: 'Run the class from here: teams, exercises, progress, help and review.' })]),
    h('div', { class: 'console-grid' }, [
      h('div', { class: 'console-col' }, [
        card('Live overview', [overviewBox], 'overview-card'),
        card('Breakouts and teams', [
          createForm,
          h('div', { class: 'button-row' }, [assignBtn, openBtn, closeBtn]),
          h('div', { class: 'check' }, [choice, h('label', { htmlFor: choice.id, text: 'Let attendees choose their team' })]),
          breakoutState,
          teamsBox,
        ]),
      ]),
      h('div', { class: 'console-col console-col-narrow' }, [card('Exercise', [exForm, timerText, timerBtns]), card('Invite', [attendeeLink.el, observerLink.el])]),
    ]),
  ]);
  parent.append(el);

  let timer = null;
  const tick = () => {
    if (!timer) return;
    const now = serverNow();
    const phase = timerPhase(timer, now);
    setText(timerText, phase === 'running' || phase === 'warned' ? `Timer: ${formatCountdown(remainingMs(timer, now))} left${phase === 'warned' ? ' (warning sent)' : ''}` : `Timer: ${phase === 'expired' ? "time's up" : 'stopped'}`);
    show(timerBtns, phase === 'running' || phase === 'warned');
  };
  setInterval(tick, 500);

  return {
    el,
    update({ workshop, summary, links }) {
      attendeeLink.input.value = links.join ?? '';
      observerLink.input.value = links.observer ?? '';
      const breakouts = workshop.rooms.filter((r) => r.kind === 'breakout');
      show(assignBtn, breakouts.length > 0);
      show(openBtn, breakouts.length > 0 && !workshop.breakouts_open);
      show(closeBtn, workshop.breakouts_open);
      choice.checked = workshop.allow_choice;
      setText(breakoutState, breakouts.length === 0 ? 'No breakout rooms yet.' : `${breakouts.length} breakout room${breakouts.length === 1 ? '' : 's'}; breakouts are ${workshop.breakouts_open ? 'open' : 'closed'}.`);
      teams.update({ workshop });
      reconcile(
        exRoomList,
        workshop.rooms,
        (r) => r.id,
        (r) => {
          const box = h('input', { type: 'checkbox', value: r.id, id: uid('room'), checked: r.kind === 'breakout' });
          return h('div', { class: 'check' }, [box, h('label', { htmlFor: box.id })]);
        },
        (node, r) => setText(node.lastChild, r.name),
      );
      timer = workshop.timer;
      show(timerText, Boolean(timer));
      show(timerBtns, Boolean(timer));
      tick();
      overview.update({ workshop, summary, now: serverNow() });
    },
  };
}

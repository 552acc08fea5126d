// The live workspace controller: owns the sync engine, mounts the components once, routes
// between the console and rooms, and re-renders (idempotent updates) when state changes.
// Components get data down and send events up; all edits go through `sync`.

import { Sync } from './net/sync.js';
import { workshopSummary, inviteLink } from './net/api.js';
import { saveSession } from './net/storage.js';
import { mountTopbar } from './ui/topbar.js';
import { mountBanner } from './ui/banner.js';
import { mountToasts } from './ui/toast.js';
import { mountRoomView, TAB_OF_TEMPLATE } from './ui/roomview.js';
import { mountConsole } from './ui/console.js';
import { h, show } from './ui/dom.js';
import { CONSOLE, PLENARY, autoPlace, canGo, defaultPlace, permissions, places, teamOf } from './lib/navigation.js';
import { formatCountdown } from './lib/clock.js';
import { emptyDoc, buildTree } from './lib/doc.js';
import { useKeySuffix } from './lib/fractional.js';
import { flushAllTyping, isProseBound } from './ui/prose.js';

/** How often the console refreshes the rooms' progress from the REST summary. */
const SUMMARY_POLL_MS = 3_000;

const placeFromHash = () => {
  const m = /^#\/(console|room\/([A-Za-z0-9_.:-]+))$/.exec(location.hash);
  if (!m) return null;
  return m[1] === 'console' ? CONSOLE : m[2];
};

export function startWorkspace(root, session, { onLeave }) {
  const sync = new Sync(session);
  // Keys this page makes end with the participant's suffix: never equal to a teammate's.
  useKeySuffix(session.participantId);
  let place = placeFromHash();
  let prevWorkshop = null;
  let summary = null;
  let renderQueued = false;
  const focusSent = new Map();

  const serverNow = () => sync.clock.serverNow(Date.now());
  const currentRoom = () => (place && place !== CONSOLE ? place : null);

  const actions = {
    create: (type, parent, pos, fields) => sync.create(currentRoom(), type, parent, pos, fields),
    set: (id, fields) => sync.set(currentRoom(), id, fields),
    move: (id, parent, pos) => sync.move(currentRoom(), id, parent, pos),
    remove: (id) => sync.remove(currentRoom(), id),
    text: (id, field, edit) => sync.text(currentRoom(), id, field, edit),
    seal: (id, field, value) => sync.seal(currentRoom(), id, field, value),
    reveal: (id) => sync.reveal(currentRoom(), id),
    /** One's own sealed value in `field` of `id` (pending first), or undefined. */
    ownSealed: (id, field) => (currentRoom() ? sync.replica(currentRoom()).ownSealedValue(id, field) : undefined),
    focus: (id) => {
      const room = currentRoom();
      if (!room || focusSent.get(room) === id || !sync.subscribed.has(room)) return;
      focusSent.set(room, id);
      sync.connection.send({ type: 'presence', room, focus: id });
    },
  };

  root.replaceChildren();
  const skip = h('a', { class: 'skip-link', href: '#main', text: 'Skip to content' });
  root.append(skip);
  const topbar = mountTopbar(root, {
    onNavigate: (id) => go(id),
    onLeave: () => {
      sync.stop();
      onLeave({ forget: false });
    },
    onRejoin: () => {
      sync.stop();
      onLeave({ forget: true });
    },
  });
  const banner = mountBanner(root, { serverNow });
  const content = h('div', { class: 'content' });
  const loading = h('main', { class: 'loading', id: 'main' }, [h('div', { class: 'spinner', attrs: { 'aria-hidden': 'true' } }), h('p', { text: 'Connecting to the workshop…' })]);
  content.append(loading);
  root.append(content);
  const toasts = mountToasts(root);
  const roomView = mountRoomView(content, {
    actions,
    onRaiseHand: (note) => sync.command({ kind: 'raise_hand', note }),
    onLowerHand: () => sync.command({ kind: 'lower_hand' }),
    onChooseTeam: (room) => sync.command({ kind: 'choose_room', room }),
    onUndo: (direction) => undoOrRedo(direction),
  });

  /** Undoes or redoes one's own last change in the room shown (typing not yet sent first). */
  function undoOrRedo(direction) {
    const room = currentRoom();
    if (!room || !sync.me || !sync.workshop || !permissions(sync.me, sync.workshop, room).edit) return false;
    flushAllTyping();
    if (!sync.undo(room, direction)) {
      toasts.push({ level: 'info', text: direction === 'undo' ? 'Nothing of yours to undo here.' : 'Nothing to redo.' });
    }
    scheduleRender();
    return true;
  }

  // Ctrl+Z / Ctrl+Shift+Z (and Ctrl+Y) undo and redo one's own changes, in text fields too: the
  // browser's own undo of a field would not know about teammates' typing merged into it.
  document.addEventListener(
    'keydown',
    (e) => {
      if (!(e.ctrlKey || e.metaKey) || e.altKey) return;
      // A plain text box (a title, a new card being written) keeps the browser's own undo.
      const a = document.activeElement;
      if (a && (a.tagName === 'INPUT' || a.tagName === 'TEXTAREA') && !isProseBound(a)) return;
      const key = e.key.toLowerCase();
      const direction = key === 'z' ? (e.shiftKey ? 'redo' : 'undo') : key === 'y' ? 'redo' : null;
      if (direction && undoOrRedo(direction)) e.preventDefault();
    },
    true,
  );
  const consoleView = session.role === 'facilitator' ? mountConsole(content, { onCommand: runCommand, onGoTo: (room) => go(room), serverNow }) : null;

  /** Runs a console command; the big ones confirm what happened (failures toast by themselves). */
  async function runCommand(command) {
    const result = await sync.command(command);
    if (!result.ok) return result;
    const rooms = () => sync.workshop?.exercise?.rooms.map((id) => sync.roomName(id)).join(', ');
    const confirmations = {
      broadcast_exercise: () => `Exercise sent to ${rooms()}.`,
      create_breakouts: () => `${command.names.length} breakout room${command.names.length === 1 ? '' : 's'} created.`,
      open_breakouts: () => 'Breakouts are open: everyone goes to their team.',
      close_breakouts: () => 'Breakouts closed: everyone is back in the plenary.',
      set_stage: () => (command.room ? `${sync.roomName(command.room)} is on stage.` : 'The stage is clear.'),
    };
    const text = confirmations[command.kind]?.();
    if (text) toasts.push({ level: 'info', text });
    return result;
  }

  /** Shows `next` (CONSOLE or a room id): leaves the old room, joins the new one. */
  function go(next) {
    if (next === place && (next === CONSOLE || sync.wanted.has(next))) return;
    const old = currentRoom();
    place = next;
    if (old && old !== next) sync.leave(old);
    if (next !== CONSOLE) sync.join(next);
    const hash = next === CONSOLE ? '#/console' : `#/room/${next}`;
    if (location.hash !== hash) history.replaceState(null, '', hash);
    if (next === CONSOLE) refreshSummary();
    scheduleRender();
    window.scrollTo(0, 0);
  }

  function onWorkshop() {
    const w = sync.workshop;
    const me = sync.me;
    if (!w || !me || w === prevWorkshop) return;
    const target = autoPlace(prevWorkshop, w, me, place);
    // A new exercise opens the artefact its template is about.
    if (w.timer && w.timer.id !== prevWorkshop?.timer?.id && w.exercise?.template && prevWorkshop !== null) {
      const tab = TAB_OF_TEMPLATE[w.exercise.template];
      if (tab) roomView.selectTab(tab);
    }
    prevWorkshop = w;
    if (target !== null && target !== place) go(target);
    else if (place === null) go(defaultPlace(me, w));
    else if (place !== CONSOLE && !sync.wanted.has(place)) sync.join(place);
    document.title = `${w.title} · Plenary`;
    // Remember the title and name for the landing's "continue where you left off".
    if (session.title !== w.title || session.name !== me.name) {
      Object.assign(session, { title: w.title, name: me.name });
      saveSession(session);
    }
  }

  function render() {
    renderQueued = false;
    const w = sync.workshop;
    const me = sync.me;
    topbar.update({
      workshopTitle: w?.title ?? session.title ?? '',
      me: me ?? { name: session.name, role: session.role },
      status: sync.status,
      pendingCount: sync.pendingCount(),
      places: w && me ? places(me, w) : [],
      current: place,
    });
    const ready = Boolean(w && me && place);
    show(loading, !ready);
    show(roomView.el, ready && place !== CONSOLE);
    if (consoleView) show(consoleView.el, ready && place === CONSOLE);
    if (!ready) return;
    banner.update({ exercise: w.exercise, timer: w.timer });
    if (place === CONSOLE) {
      const links = {
        join: summary?.join_code ? inviteLink(summary.join_code) : session.links?.join,
        observer: summary?.observer_code ? inviteLink(summary.observer_code) : session.links?.observer,
      };
      consoleView.update({ workshop: w, summary, links });
      return;
    }
    const room = w.rooms.find((r) => r.id === place) ?? { id: place, name: place };
    const replica = sync.replica(place);
    const view = replica.synced || replica.hasPending() ? replica.view() : { doc: emptyDoc(), tree: buildTree(emptyDoc()), pendingIds: new Set() };
    const perm = permissions(me, w, place);
    const team = teamOf(me, w);
    const badges = [];
    if (w.stage === place) badges.push(['On stage', 'stage']);
    if (team === place) badges.push(['Your team', 'team']);
    if (!perm.edit) badges.push([perm.feedback ? 'Read only · feedback welcome' : 'Read only', 'readonly']);
    roomView.update({
      room,
      view,
      synced: replica.synced,
      canEdit: perm.edit,
      canFeedback: perm.feedback,
      me,
      members: sync.presence.get(place) ?? [],
      people: w.participants,
      badges,
      hand: me.role === 'attendee' ? { raised: w.help.some((x) => x.participant === me.participant) } : null,
      history: { canUndo: sync.history.canUndo(place), canRedo: sync.history.canRedo(place) },
      notice: roomNotice(me, w, place, team),
      teamChoices:
        me.role === 'attendee' && w.allow_choice && place === PLENARY
          ? w.rooms.filter((r) => r.kind === 'breakout').map((r) => ({ id: r.id, name: r.name, size: w.team_sizes?.[r.id] ?? 0, current: r.id === team }))
          : [],
    });
  }

  function roomNotice(me, w, room, team) {
    if (room === PLENARY && me.role === 'attendee') {
      if (team && !w.breakouts_open) return `You are in the plenary. Your team is ${w.rooms.find((r) => r.id === team)?.name ?? team}; its board stays available.`;
      if (!team) return 'You are in the plenary. The facilitator will assign you to a team.';
    }
    if (room === PLENARY && me.role === 'observer') return 'You are watching the plenary. When a team presents, its board opens here and you can leave feedback.';
    if (room === w.stage && room !== team && me.role !== 'facilitator') return 'This team is presenting. Their board is read-only for you; add your feedback in the Feedback tab.';
    return '';
  }

  function scheduleRender() {
    if (renderQueued) return;
    renderQueued = true;
    setTimeout(render, 0);
  }

  async function refreshSummary() {
    if (session.role !== 'facilitator' || place !== CONSOLE) return;
    try {
      summary = await workshopSummary(session.workshopId, session.token);
      scheduleRender();
    } catch {
      // The overview keeps its last numbers; the connection indicator tells about outages.
    }
  }
  setInterval(refreshSummary, SUMMARY_POLL_MS);

  sync.on('change', () => {
    onWorkshop();
    // The server took us out of the room shown (moved, stage over, join refused): go on.
    if (place && place !== CONSOLE && !sync.wanted.has(place) && sync.me && sync.workshop) {
      const fallback = defaultPlace(sync.me, sync.workshop);
      if (fallback !== place) go(fallback);
    }
    scheduleRender();
  });
  sync.on('notice', (n) => toasts.push(n));
  sync.on('timer', (t) => {
    if (t.event === 'warning') {
      banner.flash();
      toasts.push({ level: 'warning', text: `${formatCountdown(t.remaining_ms)} left for this exercise.` });
    } else {
      toasts.push({ level: 'info', text: "Time's up for this exercise." });
    }
  });
  window.addEventListener('offline', () => sync.connection.setOffline(true));
  window.addEventListener('online', () => sync.connection.setOffline(false));
  window.addEventListener('hashchange', () => {
    const p = placeFromHash();
    if (p && sync.me && sync.workshop && canGo(sync.me, sync.workshop, p)) go(p);
  });
  // Rooms restored with pending ops but not shown are left once their ops are answered.
  for (const room of [...sync.wanted]) if (room !== place) sync.leave(room);
  if (place && place !== CONSOLE) sync.join(place);
  sync.start();
  render();
  // For tests and debugging in the console: the engine, read-only by convention.
  window.plenary = { sync };
  return { sync };
}

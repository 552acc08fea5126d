// Who may do what where, which places a participant can go, and where the workshop's state
// sends them. Pure functions of the workshop view, mirroring the server's rules
// (docs/PROTOCOL.md section 13): the server enforces them; the client only avoids offering
// what would be refused.

export const PLENARY = 'plenary';
export const CONSOLE = 'console';

/** The attendee's team room, or null. */
export function teamOf(me, workshop) {
  return workshop.participants.find((p) => p.id === me.participant)?.room ?? null;
}

/** { read, edit, feedback } for `room`. */
export function permissions(me, workshop, room) {
  if (!workshop.rooms.some((r) => r.id === room)) return { read: false, edit: false, feedback: false };
  if (me.role === 'facilitator') return { read: true, edit: true, feedback: true };
  if (me.role === 'attendee' && room === teamOf(me, workshop)) return { read: true, edit: true, feedback: true };
  if (room === workshop.stage) return { read: true, edit: false, feedback: true };
  if (room === PLENARY) return { read: true, edit: false, feedback: false };
  return { read: false, edit: false, feedback: false };
}

/** The navigation entries: [{ id, label, badge }], where id is CONSOLE or a room id. */
export function places(me, workshop) {
  const name = (id) => workshop.rooms.find((r) => r.id === id)?.name ?? id;
  const stage = workshop.stage;
  if (me.role === 'facilitator') {
    const help = (id) => workshop.help.filter((x) => x.room === id).length;
    return [
      { id: CONSOLE, label: 'Console', badge: workshop.help.length ? `${workshop.help.length} help` : '' },
      ...workshop.rooms.map((r) => ({ id: r.id, label: r.name, badge: r.id === stage ? 'stage' : help(r.id) ? `${help(r.id)} help` : '' })),
    ];
  }
  const out = [{ id: PLENARY, label: 'Plenary' }];
  const team = me.role === 'attendee' ? teamOf(me, workshop) : null;
  if (team) out.push({ id: team, label: `My team: ${name(team)}`, badge: team === stage ? 'on stage' : '' });
  if (stage && stage !== team) out.push({ id: stage, label: `Review: ${name(stage)}`, badge: 'stage' });
  return out;
}

/** Where someone arriving now belongs. */
export function defaultPlace(me, workshop) {
  if (me.role === 'facilitator') return CONSOLE;
  const team = me.role === 'attendee' ? teamOf(me, workshop) : null;
  if (workshop.stage && workshop.stage !== team) return workshop.stage;
  if (team && (workshop.breakouts_open || workshop.stage === team)) return team;
  return PLENARY;
}

/** Whether `place` can be shown to `me` now. */
export function canGo(me, workshop, place) {
  if (place === CONSOLE) return me.role === 'facilitator';
  return permissions(me, workshop, place).read;
}

/**
 * Where a change of the workshop view sends the participant, or null to stay. Only transitions
 * move people (breakouts opening or closing, a new team, the stage changing), so browsing by
 * hand is never undone by an unrelated update. Facilitators are never moved.
 */
export function autoPlace(prev, next, me, current) {
  if (me.role === 'facilitator') return canGo(me, next, current) ? null : CONSOLE;
  const team = teamOf(me, next);
  const prevTeam = prev ? teamOf(me, prev) : null;
  if (prev === null) return canGo(me, next, current) ? null : defaultPlace(me, next);
  if (next.stage && next.stage !== prev.stage && next.stage !== team) return next.stage;
  if (!next.stage && prev.stage && current === prev.stage && current !== team) return defaultPlace(me, next);
  if (next.breakouts_open && team && (!prev.breakouts_open || team !== prevTeam)) return team;
  if (!next.breakouts_open && prev.breakouts_open && current === team && !next.stage) return PLENARY;
  if (!canGo(me, next, current)) return defaultPlace(me, next);
  return null;
}

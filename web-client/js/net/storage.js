// What the client keeps in the browser: the current session (per tab, so a reload reconnects),
// recent sessions (per browser, to get back in after closing the tab), and pending ops (per tab,
// so a reload does not lose unsaved edits). Storage may be missing or full: nothing here throws.

const SESSION_KEY = 'plenary.session';
const RECENT_KEY = 'plenary.recent';
const MAX_RECENT = 5;

function read(storage, key) {
  try {
    const raw = storage?.getItem(key);
    return raw ? JSON.parse(raw) : null;
  } catch {
    return null;
  }
}

function write(storage, key, value) {
  try {
    if (value === null) storage?.removeItem(key);
    else storage?.setItem(key, JSON.stringify(value));
    return true;
  } catch {
    return false;
  }
}

const local = () => globalThis.localStorage;
const tab = () => globalThis.sessionStorage;

/** Whether a stored session has what a hello needs. */
const isSession = (s) => s && typeof s.token === 'string' && typeof s.workshopId === 'string' && typeof s.participantId === 'string';

/** The session of this tab: { workshopId, participantId, token, role, name, title?, links? }. */
export function loadSession() {
  const s = read(tab(), SESSION_KEY);
  return isSession(s) ? s : null;
}

export function saveSession(session) {
  write(tab(), SESSION_KEY, session);
  const recent = loadRecent().filter((r) => r.participantId !== session.participantId);
  recent.unshift({ ...session, savedAt: Date.now() });
  write(local(), RECENT_KEY, recent.slice(0, MAX_RECENT));
}

/** Forgets this tab's session (the recent list keeps it unless `forget`). */
export function clearSession({ forget = false } = {}) {
  const s = loadSession();
  write(tab(), SESSION_KEY, null);
  if (forget && s) write(local(), RECENT_KEY, loadRecent().filter((r) => r.participantId !== s.participantId));
}

export function loadRecent() {
  const r = read(local(), RECENT_KEY);
  return Array.isArray(r) ? r.filter(isSession) : [];
}

export function forgetRecent(participantId) {
  write(local(), RECENT_KEY, loadRecent().filter((r) => r.participantId !== participantId));
}

const pendingKey = (session) => `plenary.pending.${session.workshopId}.${session.participantId}`;

/** Pending ops saved by `savePending`: { rooms: { [room]: { clock, pending } }, wanted: [room] }. */
export function loadPending(session) {
  return read(tab(), pendingKey(session)) ?? { rooms: {}, wanted: [] };
}

export function savePending(session, state) {
  return write(tab(), pendingKey(session), state);
}

// Entry point: the landing screen until there is a session, then the live workspace.

import { createWorkshop, joinWorkshop } from './net/api.js';
import { clearSession, forgetRecent, loadRecent, loadSession, saveSession } from './net/storage.js';
import { mountLanding } from './ui/landing.js';
import { startWorkspace } from './workspace.js';

const root = document.getElementById('app');

/** The join code of an invite link: `/#join=CODE` (the fragment never reaches a server or a proxy log), or `/?join=CODE` from older links. */
function joinCodeFromUrl() {
  const fromHash = /^#join=([A-Za-z0-9]{1,16})$/.exec(location.hash)?.[1];
  const code = fromHash ?? new URLSearchParams(location.search).get('join');
  return code ? code.trim().slice(0, 16) : null;
}

function enter(session) {
  saveSession(session);
  // The join code has done its job; a reload should reconnect, not join again.
  const hash = location.hash.startsWith('#join=') ? '' : location.hash;
  if (location.search || hash !== location.hash) history.replaceState(null, '', `/${hash}`);
  startWorkspace(root, session, {
    onLeave: ({ forget }) => {
      clearSession({ forget });
      history.replaceState(null, '', '/');
      showLanding(null);
    },
  });
}

function showLanding(joinCode) {
  document.title = 'Plenary';
  let created = null;
  const landing = mountLanding(root, {
    joinCode,
    async onJoin({ code, name }) {
      if (!code || !name) return 'Enter the workshop code and your name.';
      try {
        const r = await joinWorkshop(code, name);
        enter({ workshopId: r.workshop_id, participantId: r.participant_id, token: r.token, role: r.role, name });
        return null;
      } catch (e) {
        return e.message;
      }
    },
    async onCreate({ title, name }) {
      if (!title || !name) return 'Enter a title and your name.';
      try {
        const r = await createWorkshop(title, name);
        created = {
          workshopId: r.workshop_id,
          participantId: r.participant_id,
          token: r.facilitator_token,
          role: 'facilitator',
          name,
          title,
          links: { join: r.join_link, observer: r.observer_link },
        };
        saveSession(created);
        landing.showCreated({ title, joinLink: r.join_link, joinCode: r.join_code, observerLink: r.observer_link, observerCode: r.observer_code });
        return null;
      } catch (e) {
        return e.message;
      }
    },
    onEnter: () => enter(created),
    onResume: (session) => enter(session),
    onForget: (session) => {
      forgetRecent(session.participantId);
      landing.showRecent(loadRecent());
    },
  });
  if (!joinCode) landing.showRecent(loadRecent());
}

// An invite link opened in a tab that already shows Plenary changes only the fragment: start over
// with it, as a fresh page load would.
window.addEventListener('hashchange', () => {
  if (location.hash.startsWith('#join=')) location.reload();
});

const session = loadSession();
const joinCode = joinCodeFromUrl();
if (session && !joinCode) enter(session);
else showLanding(joinCode);

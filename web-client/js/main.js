// Entry point: the landing screen until there is a session, then the live workspace.

import { createWorkshop, joinWorkshop } from './net/api.js';
import { clearSession, forgetRecent, loadRecent, loadSession, saveSession } from './net/storage.js';
import { mountLanding } from './ui/landing.js';
import { startWorkspace } from './workspace.js';

const root = document.getElementById('app');

function joinCodeFromUrl() {
  const code = new URLSearchParams(location.search).get('join');
  return code ? code.trim().slice(0, 16) : null;
}

function enter(session) {
  saveSession(session);
  // The join code has done its job; a reload should reconnect, not join again.
  if (location.search) history.replaceState(null, '', `/${location.hash}`);
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

const session = loadSession();
const joinCode = joinCodeFromUrl();
if (session && !joinCode) enter(session);
else showLanding(joinCode);

// The landing screen: join a workshop by link or code, or create one as a facilitator and get
// the attendee and observer links. Events up: onJoin, onCreate, onEnter, onResume, onForget.

import { h, field, show, setText } from './dom.js';
import { label } from '../lib/messages.js';

function linkRow(title, description, url, code) {
  const input = h('input', { type: 'text', readOnly: true, value: url, class: 'link-input' });
  const copy = h('button', {
    type: 'button',
    class: 'btn btn-secondary',
    text: 'Copy link',
    on: {
      click: async () => {
        try {
          await navigator.clipboard.writeText(url);
          copy.textContent = 'Copied';
        } catch {
          input.select();
          copy.textContent = 'Press Ctrl+C';
        }
        setTimeout(() => (copy.textContent = 'Copy link'), 2000);
      },
    },
  });
  const f = field(title, input, { hint: `${description} Code: ${code}` });
  return h('div', { class: 'link-row' }, [f.wrap, copy]);
}

export function mountLanding(parent, { joinCode, onJoin, onCreate, onEnter, onResume, onForget }) {
  const joinErr = h('p', { class: 'form-error', attrs: { role: 'alert' } });
  const codeInput = h('input', { type: 'text', name: 'code', required: true, autocomplete: 'off', maxLength: 16, value: joinCode ?? '', attrs: { autocapitalize: 'characters', spellcheck: 'false' } });
  const nameInput = h('input', { type: 'text', name: 'name', required: true, maxLength: 60, autocomplete: 'nickname' });
  const joinBtn = h('button', { type: 'submit', class: 'btn btn-primary', text: 'Join workshop' });
  const joinForm = h('form', { class: 'card landing-card', attrs: { 'aria-labelledby': 'join-h' } }, [
    h('h2', { id: 'join-h', text: joinCode ? 'You are invited' : 'Join a workshop' }),
    h('p', { class: 'muted', text: joinCode ? 'Enter the name the others will see.' : 'Use the code or link your facilitator shared.' }),
    field('Workshop code', codeInput).wrap,
    field('Your name', nameInput, { hint: 'Shown to everyone in the workshop.' }).wrap,
    joinErr,
    joinBtn,
  ]);
  joinForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    setText(joinErr, '');
    joinBtn.disabled = true;
    const error = await onJoin({ code: codeInput.value.trim(), name: nameInput.value.trim() });
    joinBtn.disabled = false;
    if (error) setText(joinErr, error);
  });

  const createErr = h('p', { class: 'form-error', attrs: { role: 'alert' } });
  const titleInput = h('input', { type: 'text', name: 'title', required: true, maxLength: 200, placeholder: 'e.g. CSPO, 12-13 March' });
  const facInput = h('input', { type: 'text', name: 'facilitator', required: true, maxLength: 60, autocomplete: 'nickname' });
  const createBtn = h('button', { type: 'submit', class: 'btn btn-primary', text: 'Create workshop' });
  const createForm = h('form', { class: 'card landing-card', attrs: { 'aria-labelledby': 'create-h' } }, [
    h('h2', { id: 'create-h', text: 'Run a workshop' }),
    h('p', { class: 'muted', text: 'Create a workshop and invite attendees and observers with a link.' }),
    field('Workshop title', titleInput).wrap,
    field('Your name', facInput).wrap,
    createErr,
    createBtn,
  ]);
  createForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    setText(createErr, '');
    createBtn.disabled = true;
    const error = await onCreate({ title: titleInput.value.trim(), name: facInput.value.trim() });
    createBtn.disabled = false;
    if (error) setText(createErr, error);
  });

  const created = h('section', { class: 'card created', hidden: true, attrs: { 'aria-labelledby': 'created-h', 'aria-live': 'polite' } });
  const recent = h('section', { class: 'recent', hidden: true, attrs: { 'aria-labelledby': 'recent-h' } });

  const forms = h('div', { class: 'landing-grid' }, [joinForm, createForm]);
  const el = h('main', { class: 'landing', id: 'main' }, [
    h('header', { class: 'landing-hero' }, [
      h('div', { class: 'brand brand-large', attrs: { 'aria-hidden': 'true' }, text: 'P' }),
      h('h1', { text: 'Plenary' }),
      h('p', { class: 'lead', text: 'Live, hands-on workshops: breakout teams, shared boards, one control room.' }),
    ]),
    created,
    forms,
    recent,
  ]);
  parent.replaceChildren(el);
  (joinCode ? nameInput : codeInput).focus();

  return {
    el,
    /** After creating: show the invite links and the way into the console. */
    showCreated({ title, joinLink, joinCode: code, observerLink, observerCode }) {
      created.replaceChildren(
        h('h2', { id: 'created-h', text: 'Your workshop is ready' }),
        h('p', { class: 'created-title', text: title }),
        linkRow('Attendee link', 'Attendees join with this link.', joinLink, code),
        linkRow('Observer link', 'Observers watch and give feedback.', observerLink, observerCode),
        h('button', { type: 'button', class: 'btn btn-primary', text: 'Open the facilitator console', on: { click: onEnter } }),
      );
      show(created, true);
      show(forms, false);
      created.querySelector('button.btn-primary').focus();
    },
    /** Sessions this browser had before, to get back in. */
    showRecent(sessions) {
      show(recent, sessions.length > 0);
      recent.replaceChildren(
        h('h2', { id: 'recent-h', text: 'Continue where you left off' }),
        h(
          'ul',
          { class: 'recent-list' },
          sessions.map((s) =>
            h('li', { class: 'recent-item' }, [
              h('span', { class: 'recent-title', text: s.title || s.workshopId }),
              h('span', { class: 'muted', text: `as ${s.name ?? 'you'} (${label(s.role)})` }),
              h('button', { type: 'button', class: 'btn btn-secondary', text: 'Continue', on: { click: () => onResume(s) } }),
              h('button', { type: 'button', class: 'btn btn-ghost', text: 'Forget', attrs: { 'aria-label': `Forget ${s.title || s.workshopId}` }, on: { click: () => onForget(s) } }),
            ]),
          ),
        ),
      );
    },
  };
}

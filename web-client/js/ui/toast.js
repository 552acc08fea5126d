// Notices: rolled-back edits, refused commands, timer events. Announced to screen readers;
// errors stay until dismissed or replaced, information fades after a few seconds.

import { h } from './dom.js';

const MAX_TOASTS = 4;

export function mountToasts(parent) {
  const el = h('div', { class: 'toasts', attrs: { role: 'log', 'aria-live': 'polite', 'aria-label': 'Notifications' } });
  parent.append(el);
  return {
    el,
    push({ level = 'info', text }) {
      // The same message twice in a row is shown once.
      if (el.lastElementChild?.dataset.text === text) return;
      const close = h('button', { type: 'button', class: 'toast-close', text: '×', attrs: { 'aria-label': 'Dismiss' } });
      const toast = h('div', { class: `toast toast-${level}`, dataset: { text } }, [h('span', { class: 'toast-text', text }), close]);
      close.addEventListener('click', () => toast.remove());
      el.append(toast);
      while (el.children.length > MAX_TOASTS) el.firstElementChild.remove();
      setTimeout(() => toast.remove(), level === 'error' ? 12_000 : 5_000);
    },
  };
}

// The top bar: brand, workshop title, the connection indicator, who you are, and the room
// navigation. Events up: onNavigate(placeId), onLeave(), onRejoin().

import { h, setText, show, toggle, reconcile } from './dom.js';
import { label } from '../lib/messages.js';

const STATUS_TEXT = {
  connecting: 'Connecting…',
  connected: 'Connected',
  reconnecting: 'Reconnecting…',
  offline: 'Offline',
  stopped: 'Disconnected',
};

export function mountTopbar(parent, { onNavigate, onLeave, onRejoin }) {
  const title = h('span', { class: 'topbar-title' });
  const dot = h('span', { class: 'conn-dot', attrs: { 'aria-hidden': 'true' } });
  const connText = h('span', { class: 'conn-text' });
  const pending = h('span', { class: 'conn-pending' });
  const conn = h('div', { class: 'conn', id: 'connection', attrs: { role: 'status', 'aria-live': 'polite' } }, [dot, connText, pending]);
  const who = h('span', { class: 'who' });
  const leave = h('button', { type: 'button', class: 'btn btn-ghost btn-small', text: 'Leave', on: { click: onLeave } });
  const tabs = h('div', { class: 'nav-tabs' });
  const nav = h('nav', { class: 'topnav', attrs: { 'aria-label': 'Rooms' } }, [tabs]);
  const alertText = h('span');
  const rejoin = h('button', { type: 'button', class: 'btn btn-primary btn-small', text: 'Join again', on: { click: onRejoin } });
  const stoppedBar = h('div', { class: 'stopped-bar', hidden: true, attrs: { role: 'alert' } }, [alertText, rejoin]);

  const el = h('header', { class: 'topbar' }, [
    h('div', { class: 'topbar-row' }, [
      h('div', { class: 'brand', attrs: { 'aria-hidden': 'true' }, text: 'P' }),
      h('div', { class: 'topbar-titles' }, [h('span', { class: 'topbar-app', text: 'Plenary' }), title]),
      conn,
      who,
      leave,
    ]),
    nav,
    stoppedBar,
  ]);
  parent.append(el);

  let retryTimer = null;
  let lastStatus = null;

  function renderStatus({ status, detail }) {
    clearInterval(retryTimer);
    const draw = () => {
      let text = STATUS_TEXT[status] ?? status;
      if (status === 'reconnecting' && detail.retryAt) {
        const secs = Math.ceil((detail.retryAt - Date.now()) / 1000);
        text = secs > 0 ? `Reconnecting in ${secs} s…` : 'Reconnecting…';
      }
      setText(connText, text);
    };
    draw();
    if (status === 'reconnecting') retryTimer = setInterval(draw, 500);
    conn.dataset.status = status;
    conn.title = detail.message ?? STATUS_TEXT[status] ?? '';
    for (const s of Object.keys(STATUS_TEXT)) toggle(conn, `conn-${s}`, s === status);
  }

  return {
    el,
    update({ workshopTitle, me, status, pendingCount, places, current }) {
      setText(title, workshopTitle ?? '');
      setText(who, me ? `${me.name} · ${label(me.role)}` : '');
      if (lastStatus === null || lastStatus.status !== status.status || lastStatus.detail !== status.detail) {
        renderStatus(status);
        lastStatus = status;
      }
      setText(pending, pendingCount > 0 ? `${pendingCount} unsaved` : '');
      show(pending, pendingCount > 0);
      show(stoppedBar, status.status === 'stopped');
      setText(alertText, status.detail?.message ?? 'Disconnected.');
      show(nav, places.length > 0);
      reconcile(
        tabs,
        places,
        (p) => p.id,
        (p) => h('button', { type: 'button', class: 'nav-tab', on: { click: () => onNavigate(p.id) } }, [h('span', { class: 'nav-label' }), h('span', { class: 'nav-badge' })]),
        (node, p) => {
          setText(node.firstChild, p.label);
          setText(node.lastChild, p.badge ?? '');
          show(node.lastChild, Boolean(p.badge));
          if (p.id === current) node.setAttribute('aria-current', 'page');
          else node.removeAttribute('aria-current');
          node.dataset.place = p.id;
        },
      );
    },
  };
}

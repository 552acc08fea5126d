// The exercise banner: the exercise's title and instructions with a countdown synchronized to
// the server clock (deadline_ms against Date.now() + offset), the end warning, and time's up.

import { h, setText, show, toggle } from './dom.js';
import { formatCountdown, remainingMs, timerPhase } from '../lib/clock.js';

/** How long the banner stays in its "time's up" colour after the deadline. */
const OVER_AFTER_MS = 60_000;

const PHASE_TEXT = {
  running: 'Time left',
  warned: 'Almost done',
  expired: "Time's up",
  stopped: 'Timer stopped',
};

/** `serverNow()` returns the estimated server clock in ms. */
export function mountBanner(parent, { serverNow }) {
  const title = h('h2', { class: 'banner-title' });
  const instructions = h('p', { class: 'banner-instructions' });
  const phase = h('span', { class: 'countdown-label' });
  const time = h('span', { class: 'countdown-time', attrs: { 'aria-hidden': 'true' } });
  // Screen readers get a calm text that changes once a minute, not every second.
  const srTime = h('span', { class: 'visually-hidden', attrs: { 'aria-live': 'polite' } });
  const countdown = h('div', { class: 'countdown', id: 'countdown' }, [phase, time, srTime]);
  const el = h('section', { class: 'banner', hidden: true, attrs: { 'aria-label': 'Current exercise' } }, [
    h('div', { class: 'banner-text' }, [h('span', { class: 'banner-kicker', text: 'Exercise' }), title, instructions]),
    countdown,
  ]);
  parent.append(el);

  let timer = null;
  let lastMinute = null;

  function tick() {
    if (!timer) return;
    const now = serverNow();
    const left = remainingMs(timer, now);
    const p = timerPhase(timer, now);
    setText(time, p === 'expired' ? '0:00' : formatCountdown(left));
    setText(phase, PHASE_TEXT[p] ?? '');
    countdown.dataset.remainingMs = String(Math.round(left));
    countdown.dataset.phase = p;
    for (const name of Object.keys(PHASE_TEXT)) toggle(el, `banner-${name}`, name === p);
    // A minute after the end the alarm colour gives way to a calm one: the exercise is over.
    toggle(el, 'banner-over', (p === 'expired' && now - timer.deadline_ms > OVER_AFTER_MS) || p === 'stopped');
    const minute = p === 'running' || p === 'warned' ? Math.ceil(left / 60_000) : p;
    if (minute !== lastMinute) {
      lastMinute = minute;
      setText(srTime, typeof minute === 'number' ? `${minute} minute${minute === 1 ? '' : 's'} left` : PHASE_TEXT[p]);
    }
  }
  setInterval(tick, 250);

  return {
    el,
    update({ exercise, timer: t }) {
      show(el, Boolean(exercise));
      if (!exercise) {
        timer = null;
        return;
      }
      setText(title, exercise.title);
      setText(instructions, exercise.instructions);
      show(instructions, Boolean(exercise.instructions));
      timer = t;
      show(countdown, Boolean(t));
      tick();
    },
    /** The server's warning event: draw attention once. */
    flash() {
      el.classList.remove('banner-flash');
      void el.offsetWidth;
      el.classList.add('banner-flash');
    },
  };
}

// Server clock offset and countdown math (docs/PROTOCOL.md 14.2). Pure functions and a small
// estimator; the caller passes Date.now() values in, so tests control time.

/** How many recent samples the estimator keeps; the one with the smallest round trip wins. */
export const CLOCK_SAMPLES = 8;

/**
 * Estimates offset = server clock - local clock. Each sample is corrected by half its round trip
 * (the reply was stamped about halfway through); the sample with the smallest round trip is the
 * most precise, so it is the one used.
 */
export class ClockSync {
  constructor() {
    this.samples = [];
  }

  /** A reply stamped `serverTime`, to a request sent at local `sentAt`, received at `receivedAt`. */
  addSample(serverTime, sentAt, receivedAt) {
    const rtt = Math.max(0, receivedAt - sentAt);
    this.samples.push({ rtt, offset: serverTime + rtt / 2 - receivedAt });
    if (this.samples.length > CLOCK_SAMPLES) this.samples.shift();
  }

  /** The best current estimate in ms (0 before any sample). */
  get offset() {
    if (this.samples.length === 0) return 0;
    return this.samples.reduce((best, s) => (s.rtt < best.rtt ? s : best)).offset;
  }

  /** The round trip of the best sample, or null. */
  get rtt() {
    if (this.samples.length === 0) return null;
    return Math.min(...this.samples.map((s) => s.rtt));
  }

  /** The server's clock now. */
  serverNow(localNow) {
    return localNow + this.offset;
  }
}

/** Milliseconds left on `timer` at server time `serverNow` (0 once past the deadline). */
export function remainingMs(timer, serverNow) {
  if (!timer) return 0;
  return Math.max(0, timer.deadline_ms - serverNow);
}

/**
 * What the banner shows: `running`, `warned`, `expired` or `stopped`. The server's state wins;
 * a running timer whose local countdown crossed the warning point shows as warned at once, and
 * one that reached zero waits for the server's `expired` but shows 0:00.
 */
export function timerPhase(timer, serverNow) {
  if (!timer) return 'none';
  if (timer.state === 'stopped' || timer.state === 'expired') return timer.state;
  const left = remainingMs(timer, serverNow);
  if (timer.state === 'warned' || (timer.warning_ms > 0 && left <= timer.warning_ms)) return 'warned';
  return 'running';
}

/** `m:ss` (or `h:mm:ss`), rounding up so that 0:00 shows only when the time is really up. */
export function formatCountdown(ms) {
  const total = Math.ceil(Math.max(0, ms) / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}

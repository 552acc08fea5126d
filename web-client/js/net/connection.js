// One logical connection to /ws that survives network drops and server restarts: hello first,
// application pings for liveness and the clock offset, and reconnects with exponential backoff.
// It knows nothing about rooms; the sync engine builds the hello's resume points and resends
// pending ops from `onopen`.

import { BACKOFF_RESET_AFTER_MS, backoffDelay } from '../lib/backoff.js';
import { ClockSync } from '../lib/clock.js';
import { describeClose } from '../lib/messages.js';
import { PROTOCOL_VERSION } from '../lib/protocol.gen.js';

export { PROTOCOL_VERSION };
/** Consecutive "at once" reconnects (4001, 4004) before they back off like any other. */
const MAX_QUICK_RETRIES = 3;
/** Pings right after the welcome, for a good clock offset before the first heartbeat. */
const EARLY_PINGS_MS = [300, 1200, 3000];

export class Connection {
  /**
   * `url`: the ws:// URL; `hello()`: the hello fields besides protocol and type ({ token, resume });
   * handlers: `onopen(send)` right after the hello went out, `onmessage(msg)`, `onstatus(status, detail)`.
   */
  constructor({ url, hello, onopen, onmessage, onstatus, WebSocketImpl = globalThis.WebSocket, timers = globalThis, random = Math.random }) {
    Object.assign(this, { url, hello, onopen, onmessage, onstatus, WebSocketImpl, timers, random });
    this.clock = new ClockSync();
    this.socket = null;
    /** connecting | connected | reconnecting | offline | stopped */
    this.status = 'connecting';
    this.attempt = 0;
    this.quickRetries = 0;
    this.retryTimer = null;
    this.heartbeatTimer = null;
    this.earlyTimers = [];
    this.connectedAt = 0;
    this.lastReceived = 0;
    this.heartbeatMs = 15_000;
    /** The server's `retry_ms` hint from a `reconnect` message, used for the 1012 close. */
    this.retryHint = null;
    this.stopped = false;
  }

  start() {
    this.stopped = false;
    this.open();
  }

  /** Closes for good (leaving the workshop). */
  stop() {
    this.stopped = true;
    this.clearTimers();
    if (this.socket) {
      const s = this.socket;
      this.detach();
      s.close(1000, 'bye');
    }
    this.setStatus('stopped', { message: 'Disconnected.' });
  }

  /** Sends a message if the socket is open; false otherwise (the caller keeps it pending). */
  send(msg) {
    if (!this.socket || this.socket.readyState !== 1) return false;
    this.socket.send(JSON.stringify(msg));
    return true;
  }

  /** Reconnect now instead of waiting for the backoff (the browser came back online). */
  retryNow() {
    if (this.stopped || this.socket) return;
    this.timers.clearTimeout(this.retryTimer);
    this.open();
  }

  /** The browser says it lost the network: show it, and retry as soon as it is back. */
  setOffline(offline) {
    if (offline && this.status !== 'connected' && this.status !== 'stopped') this.setStatus('offline', { message: 'You are offline.' });
    if (!offline) this.retryNow();
  }

  open() {
    this.clearTimers();
    if (this.status !== 'connected' && this.status !== 'reconnecting') this.setStatus('connecting', {});
    let socket;
    try {
      socket = new this.WebSocketImpl(this.url);
    } catch {
      this.scheduleReconnect('backoff', 'Cannot reach the server. Retrying…');
      return;
    }
    this.socket = socket;
    socket.onopen = () => {
      this.helloSentAt = Date.now();
      socket.send(JSON.stringify({ type: 'hello', protocol: PROTOCOL_VERSION, ...this.hello() }));
      this.lastReceived = Date.now();
      // The server reads the next messages only after the hello and its resume points, so the
      // caller may pipeline joins and pending ops right away.
      this.onopen?.((msg) => this.send(msg));
    };
    socket.onmessage = (event) => this.receive(event.data);
    socket.onclose = (event) => this.closed(event.code, event.reason);
    socket.onerror = () => {};
  }

  receive(data) {
    this.lastReceived = Date.now();
    let msg;
    try {
      msg = JSON.parse(data);
    } catch {
      return;
    }
    if (msg.type === 'welcome') this.welcomed(msg);
    if (msg.type === 'pong' && typeof msg.t === 'number') this.clock.addSample(msg.server_time, msg.t, Date.now());
    if (msg.type === 'reconnect') this.retryHint = msg.retry_ms;
    this.onmessage?.(msg);
  }

  welcomed(msg) {
    this.clock.addSample(msg.server_time, this.helloSentAt, Date.now());
    this.heartbeatMs = msg.heartbeat_ms || 15_000;
    this.connectedAt = Date.now();
    this.setStatus('connected', {});
    const ping = () => this.send({ type: 'ping', t: Date.now() });
    this.earlyTimers = EARLY_PINGS_MS.map((ms) => this.timers.setTimeout(ping, ms));
    this.heartbeatTimer = this.timers.setInterval(() => {
      // A browser cannot see WebSocket pings: silence means the connection is dead.
      if (Date.now() - this.lastReceived > 2 * this.heartbeatMs + 5_000) {
        this.dropSocket(4007, 'no answer from the server');
        return;
      }
      ping();
    }, this.heartbeatMs);
  }

  /** Abandons the current socket at once (it may take minutes to report a dead TCP link). */
  dropSocket(code, reason) {
    const s = this.socket;
    if (!s) return;
    this.detach();
    try {
      s.close();
    } catch {
      // Already closing.
    }
    this.closed(code, reason);
  }

  closed(code) {
    this.detach();
    this.clearTimers();
    if (this.stopped) return;
    if (this.connectedAt && Date.now() - this.connectedAt > BACKOFF_RESET_AFTER_MS) {
      this.attempt = 0;
      this.quickRetries = 0;
    }
    this.connectedAt = 0;
    const what = describeClose(code);
    if (what.reconnect === false) {
      this.stopped = true;
      this.setStatus('stopped', { message: what.message, code });
      return;
    }
    this.scheduleReconnect(what.reconnect, what.message, code);
  }

  scheduleReconnect(kind, message, code) {
    let delay;
    if (kind === 'retry_ms' && this.retryHint !== null) {
      delay = this.retryHint + this.random() * this.retryHint;
      this.retryHint = null;
    } else if (kind === 'soon' && this.quickRetries < MAX_QUICK_RETRIES) {
      this.quickRetries += 1;
      delay = 100 + this.random() * 400;
    } else {
      delay = backoffDelay(this.attempt, this.random);
      this.attempt += 1;
    }
    const offline = globalThis.navigator?.onLine === false;
    this.setStatus(offline ? 'offline' : 'reconnecting', { message, code, retryAt: Date.now() + delay });
    this.retryTimer = this.timers.setTimeout(() => this.open(), delay);
  }

  detach() {
    if (!this.socket) return;
    this.socket.onopen = this.socket.onmessage = this.socket.onclose = this.socket.onerror = null;
    this.socket = null;
  }

  clearTimers() {
    this.timers.clearTimeout(this.retryTimer);
    this.timers.clearInterval(this.heartbeatTimer);
    for (const t of this.earlyTimers) this.timers.clearTimeout(t);
    this.earlyTimers = [];
    this.heartbeatTimer = null;
  }

  setStatus(status, detail) {
    this.status = status;
    this.onstatus?.(status, detail);
  }
}

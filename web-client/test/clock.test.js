// Countdown math: the server clock offset with RTT/2 correction, remaining time, phases, format.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClockSync, formatCountdown, remainingMs, timerPhase } from '../js/lib/clock.js';

test('offset = server_time + rtt/2 - receive time, from the sample with the smallest round trip', () => {
  const c = new ClockSync();
  assert.equal(c.offset, 0, 'no sample yet');
  // Local clock 10 s behind the server. A 400 ms round trip, stamped halfway through.
  c.addSample(1_000_000 + 10_000 + 200, 1_000_000, 1_000_400);
  assert.equal(c.offset, 10_000);
  // A noisier sample (1 s round trip, reply stamped late) does not replace the better one.
  c.addSample(2_000_000 + 10_000 + 900, 2_000_000, 2_001_000);
  assert.equal(c.offset, 10_000);
  assert.equal(c.rtt, 400);
  // A tighter sample wins.
  c.addSample(3_000_000 + 10_000 + 5 + 20, 3_000_000, 3_000_040);
  assert.equal(c.offset, 10_005);
  assert.equal(c.serverNow(5), 10_010);
});

test('old samples age out after eight newer ones', () => {
  const c = new ClockSync();
  c.addSample(1000, 0, 0);
  for (let i = 1; i <= 8; i += 1) c.addSample(i * 1000 + 50 + 500, i * 1000, i * 1000 + 100);
  assert.equal(c.offset, 500);
});

test('two clients with different local clocks compute the same remaining time', () => {
  const timer = { id: 1, deadline_ms: 1_767_000_900_000, duration_ms: 900_000, warning_ms: 120_000, state: 'running' };
  const serverNow = 1_767_000_300_000;
  const a = new ClockSync();
  a.addSample(serverNow, serverNow - 5_000 - 30, serverNow - 5_000 + 30); // 5 s slow, 60 ms RTT
  const b = new ClockSync();
  b.addSample(serverNow, serverNow + 42_000 - 150, serverNow + 42_000 + 150); // 42 s fast, 300 ms RTT
  const ra = remainingMs(timer, a.serverNow(serverNow - 5_000 + 30));
  const rb = remainingMs(timer, b.serverNow(serverNow + 42_000 + 150));
  assert.equal(ra, 600_000 - 30);
  assert.equal(rb, 600_000 - 150);
  assert.ok(Math.abs(ra - rb) < 1000);
});

test('phases: running, warned at the warning point or by the server, expired and stopped from the server', () => {
  const t = { deadline_ms: 100_000, warning_ms: 20_000, state: 'running' };
  assert.equal(timerPhase(t, 10_000), 'running');
  assert.equal(timerPhase(t, 80_000), 'warned');
  assert.equal(timerPhase({ ...t, state: 'warned' }, 10_000), 'warned');
  assert.equal(timerPhase({ ...t, warning_ms: 0 }, 99_000), 'running', 'no warning configured');
  assert.equal(timerPhase({ ...t, state: 'expired' }, 10_000), 'expired');
  assert.equal(timerPhase({ ...t, state: 'stopped' }, 10_000), 'stopped');
  assert.equal(timerPhase(null, 0), 'none');
  assert.equal(remainingMs(t, 200_000), 0, 'never negative');
});

test('countdown format rounds up and grows hours when needed', () => {
  assert.equal(formatCountdown(0), '0:00');
  assert.equal(formatCountdown(1), '0:01');
  assert.equal(formatCountdown(59_001), '1:00');
  assert.equal(formatCountdown(900_000), '15:00');
  assert.equal(formatCountdown(3_600_000 + 61_000), '1:01:01');
  assert.equal(formatCountdown(-5), '0:00');
});

// The JS port of protocol/src/forecast.rs must give exactly the server's forecasts: the vectors
// come from protocol/tests/forecast.rs (PLENARY_UPDATE_VECTORS=1 rewrites them).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { CONFIDENCES, MAX_SPRINTS, mulberry32, parseSamples, runForecast } from '../js/lib/forecast.js';

const vectors = JSON.parse(readFileSync(new URL('../../protocol/tests/vectors/forecast.json', import.meta.url), 'utf8'));

const message = (fn) => {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof Error, `${e}`);
    return e.message;
  }
  return 'ok';
};

test('mulberry32 gives the Rust values', () => {
  assert.ok(vectors.prng.length >= 4);
  for (const { seed, values } of vectors.prng) {
    const next = mulberry32(seed);
    assert.deepEqual(values.map(() => next()), values, `seed ${seed}`);
  }
});

test('every forecast equals the Rust one', () => {
  assert.ok(vectors.forecasts.length >= 8);
  for (const { name, input, output } of vectors.forecasts) assert.deepEqual(runForecast(input), output, name);
});

test('bad inputs fail with the Rust messages', () => {
  assert.ok(vectors.errors.length >= 10);
  for (const { input, error } of vectors.errors) assert.equal(message(() => runForecast(input)), error, JSON.stringify(input));
});

test('typed samples parse as in Rust', () => {
  for (const { text, samples, error } of vectors.parse) {
    if (error === undefined) assert.deepEqual(parseSamples(text), samples, JSON.stringify(text));
    else assert.equal(message(() => parseSamples(text)), error, JSON.stringify(text));
  }
  assert.deepEqual(parseSamples('3, 5 4,6'), [3, 5, 4, 6]);
  assert.match(message(() => parseSamples('3,x')), /"x"/);
});

test('inputs Rust could not even deserialize are refused', () => {
  const ok = { throughput: { samples: [3, 4] }, items: 10, sprints: 5, trials: 100, seed: 1 };
  assert.equal(message(() => runForecast(ok)), 'ok');
  assert.match(message(() => runForecast({ ...ok, throughput: {} })), /throughput must be/);
  assert.match(message(() => runForecast({ ...ok, throughput: { samples: [3, 1.5] } })), /whole number/);
  assert.match(message(() => runForecast({ ...ok, items: '10' })), /items must be a whole number/);
  assert.match(message(() => runForecast({ ...ok, seed: -1 })), /seed must be a whole number/);
});

test('a single sample gives an exact forecast', () => {
  const f = runForecast({ throughput: { samples: [5] }, items: 20, sprints: 3, trials: 500, seed: 9 });
  assert.deepEqual(f.when, CONFIDENCES.map((confidence) => ({ confidence, value: 4 })));
  assert.deepEqual(f.how_many, CONFIDENCES.map((confidence) => ({ confidence, value: 15 })));
  assert.deepEqual(f.histogram, [{ sprints: 4, trials: 500 }]);
  const capped = runForecast({ throughput: { samples: [0, 1] }, items: 10_000, sprints: 10, trials: 50, seed: 3 });
  assert.equal(capped.capped, 50);
  assert.deepEqual(capped.histogram, [{ sprints: MAX_SPRINTS, trials: 50 }]);
});

test('more throughput never forecasts later, for the same seed', () => {
  const bases = [{ samples: [0, 2, 7, 3] }, { samples: [1] }, { range: { low: 0, high: 5 } }, { range: { low: 3, high: 3 } }];
  for (const seed of [0, 1, 42, 0xdeadbeef]) {
    for (const base of bases) {
      for (const d of [1, 2, 4]) {
        const faster = base.samples ? { samples: base.samples.map((s) => s + d) } : { range: { low: base.range.low + d, high: base.range.high + d } };
        const input = { throughput: base, items: 60, sprints: 7, trials: 300, seed };
        const slow = runForecast(input);
        const fast = runForecast({ ...input, throughput: faster });
        const label = `${JSON.stringify(base)} +${d} seed ${seed}`;
        slow.when.forEach((l, i) => assert.ok(fast.when[i].value <= l.value, label));
        slow.how_many.forEach((l, i) => assert.ok(fast.how_many[i].value >= l.value, label));
      }
    }
  }
});

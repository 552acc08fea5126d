// The JS port of protocol/src/fractional.rs must produce exactly the server's keys: known keys
// and malformed ones come from protocol/tests/vectors/fractional.json (which the Rust tests read
// too), the rest from the measurements pinned in protocol/tests/fractional.rs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { between, betweenWith, clientSuffix, validate, isValidKey, place, KeyError, MAX_POS_CHARS, SMALLEST_INTEGER } from '../js/lib/fractional.js';

const code = (fn) => {
  try {
    fn();
    return 'ok';
  } catch (e) {
    assert.ok(e instanceof KeyError, `${e}`);
    return e.code;
  }
};

const vectors = JSON.parse(readFileSync(new URL('../../protocol/tests/vectors/fractional.json', import.meta.url), 'utf8'));

test('known keys (protocol/tests/vectors/fractional.json, read by the Rust tests too)', () => {
  assert.ok(vectors.between.length >= 10);
  for (const [a, b, want] of vectors.between) assert.equal(between(a, b), want, `between(${a}, ${b})`);
});

test('rejects bad keys (the same vectors)', () => {
  for (const [key, want] of vectors.invalid) assert.equal(code(() => validate(key)), want, `validate(${JSON.stringify(key)})`);
  for (const [a, b] of vectors.not_ordered) assert.equal(code(() => between(a, b)), 'NotOrdered', `between(${a}, ${b})`);
  assert.equal(isValidKey('a0'), true);
  assert.equal(isValidKey('a0V0'), false);
  assert.equal(isValidKey(`a0${'0'.repeat(MAX_POS_CHARS)}1`), false, 'longer than MAX_POS_CHARS');
});

test('appending 100 items gives a0..az, b00..b0b', () => {
  const keys = [];
  for (let i = 0; i < 100; i += 1) keys.push(between(keys.at(-1) ?? null, null));
  assert.equal(keys[0], 'a0');
  assert.equal(keys[61], 'az');
  assert.equal(keys[62], 'b00');
  assert.equal(keys[99], 'b0b');
});

test('ten thousand appends and prepends stay short (measured last keys c1aH and XyPj)', () => {
  const appended = [];
  for (let i = 0; i < 10_000; i += 1) appended.push(between(appended.at(-1) ?? null, null));
  assert.equal(appended.at(-1), 'c1aH');
  assert.ok(appended.every((k) => k.length <= 4));
  const prepended = [];
  for (let i = 0; i < 10_000; i += 1) prepended.push(between(null, prepended.at(-1) ?? null));
  assert.equal(prepended.at(-1), 'XyPj');
  for (let i = 1; i < prepended.length; i += 1) assert.ok(prepended[i] < prepended[i - 1]);
});

// protocol/tests/fractional.rs crowd_one_gap: the worst case, every insert halves one gap.
function crowd(lo, hi, n, afterLo) {
  const inserted = [];
  for (let i = 0; i < n; i += 1) {
    const moving = inserted.at(-1) ?? null;
    const k = afterLo ? between(lo, moving ?? hi) : between(moving ?? lo, hi);
    if (afterLo) assert.ok(lo < k && k < (moving ?? hi));
    else assert.ok((moving ?? lo) < k && k < hi);
    inserted.push(k);
  }
  return inserted;
}

test('a thousand inserts right after one key (passes 128 chars at insert 750-760)', () => {
  const keys = crowd('a0', 'a1', 1000, true);
  assert.ok(Math.max(...keys.map((k) => k.length)) <= 170);
  const nth = keys.findIndex((k) => k.length > 128) + 1;
  assert.ok(nth >= 750 && nth <= 760, `over the limit at insert ${nth}`);
});

test('a thousand inserts right before one key (passes 128 chars at insert 625-635)', () => {
  const keys = crowd('a0', 'a1', 1000, false);
  assert.ok(Math.max(...keys.map((k) => k.length)) <= 203);
  const nth = keys.findIndex((k) => k.length > 128) + 1;
  assert.ok(nth >= 625 && nth <= 635, `over the limit at insert ${nth}`);
});

test("a thousand inserts into one gap stay within the server's MAX_POS_CHARS", () => {
  const rs = readFileSync(new URL('../../protocol/src/schema.rs', import.meta.url), 'utf8');
  const server = Number(rs.match(/pub const MAX_POS_CHARS: usize = ([\d_]+);/)[1].replaceAll('_', ''));
  assert.equal(MAX_POS_CHARS, server, "the client's limit is the server's");
  for (const afterLo of [true, false]) {
    const keys = crowd('a0', 'a1', 1000, afterLo);
    assert.ok(keys.every((k) => isValidKey(k)), `afterLo ${afterLo}`);
  }
  assert.equal(isValidKey(`a0${'V'.repeat(MAX_POS_CHARS - 2)}`), true);
  assert.equal(isValidKey(`a0${'V'.repeat(MAX_POS_CHARS - 1)}`), false);
});

test('edges of the key space', () => {
  const largest = 'z' + 'z'.repeat(26);
  assert.equal(between(largest, null), `${largest}V`);
  const smallestWithFraction = `A${'0'.repeat(26)}V`;
  const k = between(null, smallestWithFraction);
  assert.ok(k < smallestWithFraction);
  validate(k);
  for (const [a, b] of [['Zz', 'a0'], ['a0zzz', 'a1'], ['Zzzz', 'a0V']]) {
    const m = between(a, b);
    assert.ok(a < m && m < b, `${a} < ${m} < ${b}`);
  }
});

test('random inserts keep a list strictly ordered (seeded)', (t) => {
  const seed = Number(process.env.SEED ?? Date.now() % 1_000_000);
  t.diagnostic(`seed ${seed} (rerun with SEED=${seed})`);
  const random = seededRandom(seed);
  for (let round = 0; round < 50; round += 1) {
    const keys = [];
    for (let i = 0; i < 200; i += 1) {
      const at = Math.floor(random() * (keys.length + 1));
      const { key: k, rekey } = place(keys, at, 'me1');
      assert.deepEqual(rekey, []);
      validate(k);
      keys.splice(at, 0, k);
    }
    for (let i = 1; i < keys.length; i += 1) assert.ok(keys[i - 1] < keys[i], `seed ${seed}: ${keys[i - 1]} !< ${keys[i]}`);
  }
});

test('place moves a run of equal keys so the item lands between them', () => {
  const keys = ['a0', 'a1', 'a1', 'a1', 'a2'];
  const { key, rekey } = place(keys, 2, 'me1');
  assert.ok(key > 'a1' && key < 'a2', key);
  assert.deepEqual(rekey.map(([i]) => i), [2, 3]);
  let prev = key;
  for (const [, k] of rekey) {
    assert.ok(prev < k && k < 'a2', `${prev} < ${k}`);
    prev = k;
  }
  assert.equal(place([], 0, '').key, 'a0');
  assert.equal(place(['a0'], 1, '').key, 'a1');
  assert.equal(place(['a0'], 0, '').key, 'Zz');
});

test('keys of different members at one place never tie', () => {
  const keys = new Set(['p-aaaaaaaaaa', 'p-aaaaaaaaab', 'p-zz00000000'].map((p) => betweenWith('a5', 'a6', clientSuffix(p))));
  assert.equal(keys.size, 3);
  for (const k of keys) assert.ok('a5' < k && k < 'a6' && isValidKey(k), k);
  assert.equal(clientSuffix('p-abc123xyz0'), 'abc123xyz01');
});

/** A small deterministic PRNG (mulberry32) so the randomized test can be rerun with its seed. */
function seededRandom(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test('the key before the second-smallest integer is valid (matches fractional.rs)', () => {
  const second = 'A' + '0'.repeat(25) + '1';
  const key = between(null, second);
  assert.equal(key, 'A' + '0'.repeat(26) + 'V');
  assert.ok(key < second);
});

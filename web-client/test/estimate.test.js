// The JS port of protocol/src/estimate.rs must give the figures the Rust side writes into
// protocol/tests/vectors/estimate.json.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { allocationTotals, formatAllocation, parseAllocation, scaleCards, stats, valuePerPointOrder } from '../js/lib/estimate.js';

const vectors = JSON.parse(readFileSync(new URL('../../protocol/tests/vectors/estimate.json', import.meta.url), 'utf8'));

test('round statistics match the Rust vectors', () => {
  assert.ok(vectors.stats.length >= 8);
  for (const { scale, cast, stats: want } of vectors.stats) assert.deepEqual(stats(scale, cast), want, `${scale} ${cast}`);
});

test('allocation totals and the value-per-point order match the Rust vectors', () => {
  assert.deepEqual(allocationTotals(vectors.allocations), vectors.totals);
  assert.deepEqual(valuePerPointOrder(vectors.candidates), vectors.order);
});

test('allocations parse (or fail, with the same kind of error) like the Rust vectors', () => {
  assert.ok(vectors.parse.length >= 15);
  for (const { text, pairs, error } of vectors.parse) {
    if (error === undefined) assert.deepEqual(parseAllocation(text), pairs, text);
    else assert.throws(() => parseAllocation(text), (e) => e.kind === error, `${text}: ${error}`);
  }
});

test('allocations parse like the server parses them', () => {
  assert.deepEqual(parseAllocation(''), []);
  assert.deepEqual(parseAllocation('b=2,a=98'), [['b', 2], ['a', 98]]);
  for (const bad of ['s1', 's1=0', 's1=-5', 's1=+5', '=5', 's1=5,s1=5', 's1=5,', 's1=1.5']) {
    assert.throws(() => parseAllocation(bad), Error, bad);
  }
  assert.equal(formatAllocation([['a', 10], ['b', 0], ['c', 5]]), 'a=10,c=5');
});

test('each scale has its own cards', () => {
  assert.ok(scaleCards('tshirt').includes('XL'));
  assert.ok(!scaleCards('tshirt').includes('5'));
  assert.ok(scaleCards(undefined).includes('21'));
});

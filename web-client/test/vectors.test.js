// The test vectors that protocol/tests/vectors.rs checks on the Rust side: the same ops must give
// the same document here, in both causal orders, and the same position keys.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { applyOp, docFromJson, docToJson, emptyDoc } from '../js/lib/doc.js';
import { betweenWith, place } from '../js/lib/fractional.js';

const vectors = JSON.parse(readFileSync(new URL('../../protocol/tests/vectors/model_v2.json', import.meta.url), 'utf8'));

test('the ops give the Rust document in both orders', () => {
  for (const order of [vectors.ops.map((_, i) => i), vectors.order]) {
    const doc = emptyDoc();
    for (const i of order) applyOp(doc, vectors.ops[i]);
    assert.deepEqual(docToJson(doc), vectors.doc);
    // Applying everything again changes nothing.
    for (const op of vectors.ops) assert.equal(applyOp(doc, op), false, op.id);
    assert.deepEqual(docToJson(doc), vectors.doc);
  }
});

test('the Rust document reads and writes back unchanged', () => {
  assert.deepEqual(docToJson(docFromJson(vectors.doc)), vectors.doc);
});

test('suffixed keys and placements equal the Rust ones', () => {
  for (const [lo, hi, suffix, want] of vectors.keys) assert.equal(betweenWith(lo, hi, suffix), want, `${lo} ${hi} ${suffix}`);
  for (const [keys, index, suffix, key, rekey] of vectors.place) assert.deepEqual(place(keys, index, suffix), { key, rekey }, `${keys} @${index}`);
});

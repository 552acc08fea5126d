// Client-side checks before sending: ids, text lengths in code points, values, backoff.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { SCHEMAS, checkField, charCount } from '../js/lib/schema.js';
import { createIdSource, isId } from '../js/lib/ids.js';
import { backoffDelay } from '../js/lib/backoff.js';
import { progressText } from '../js/lib/progress.js';

test('the schema port has every type and field of protocol/src/schema.rs', () => {
  const rs = readFileSync(new URL('../../protocol/src/schema.rs', import.meta.url), 'utf8');
  const types = [...rs.matchAll(/name: "(\w+)",\s*parents: [^\n]+\n\s*fields: &\[([\s\S]*?)\],\n\s*\}/g)];
  assert.equal(types.length, Object.keys(SCHEMAS).length, 'as many types in schema.rs as in the port');
  for (const [, type, body] of types) {
    assert.ok(SCHEMAS[type], `missing type ${type}`);
    const fields = [...body.matchAll(/\("(\w+)"/g)].map((m) => m[1]);
    assert.deepEqual(Object.keys(SCHEMAS[type].fields).sort(), fields.sort(), type);
  }
});

test('text limits count Unicode scalar values like the server', () => {
  const emoji = '😀'.repeat(300);
  assert.equal(emoji.length, 600);
  assert.equal(charCount(emoji), 300);
  assert.equal(checkField('backlog_item', 'title', emoji), null);
  assert.equal(checkField('backlog_item', 'title', `${emoji}x`).code, 'too_long');
  assert.equal(checkField('backlog_item', 'estimate', '4').code, 'invalid_value');
  assert.equal(checkField('backlog_item', 'value', 1.5).code, 'invalid_value');
  assert.equal(checkField('backlog_item', 'value', 1_000_001).code, 'invalid_value');
  assert.equal(checkField('backlog_item', 'nope', 'x').code, 'unknown_field');
  assert.equal(checkField('acceptance_criterion', 'met', true), null);
  assert.equal(checkField('backlog_item', 'title', null), null, 'null clears any field');
});

test('op ids are unique, valid and carry a per-page-load session; object ids are valid', () => {
  const a = createIdSource('p-abcdefghij');
  const b = createIdSource('p-abcdefghij');
  assert.notEqual(a.session, b.session, 'a reload draws a new session nonce');
  const ids = new Set();
  for (let i = 0; i < 1000; i += 1) ids.add(a.opId());
  for (let i = 0; i < 1000; i += 1) ids.add(b.opId());
  assert.equal(ids.size, 2000);
  for (const id of [...ids].slice(0, 10)) assert.ok(isId(id) && id.length <= 64, id);
  const obj = a.objectId();
  assert.match(obj, /^[0-9a-f]{32}$/);
  assert.equal(isId('root'), false);
});

test('backoff doubles up to 30 s with jitter in [ceiling/2, ceiling]', () => {
  assert.equal(backoffDelay(0, () => 0), 250);
  assert.equal(backoffDelay(0, () => 1), 500);
  assert.equal(backoffDelay(3, () => 1), 4000);
  assert.equal(backoffDelay(50, () => 1), 30_000);
  assert.equal(backoffDelay(50, () => 0), 15_000);
});

test('progress reads like the trainer would say it', () => {
  assert.equal(
    progressText({ vision_sections_filled: 4, vision_sections: 5, stories: 9, stories_with_criteria: 3, experiments: 0, feedback: 0 }),
    'vision 4/5 sections, 9 stories, 3 with acceptance criteria',
  );
  assert.equal(progressText({ vision_sections_filled: 0, vision_sections: 0, stories: 1, stories_with_criteria: 0, experiments: 1, feedback: 2 }), '1 story, 0 with acceptance criteria, 1 experiment, 2 feedback');
});

// Every error code the server can send has a human message, and every close code a policy.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { CLOSE_CODES, ERROR_MESSAGES, describeClose, describeError } from '../js/lib/messages.js';

const errorRs = readFileSync(new URL('../../protocol/src/error.rs', import.meta.url), 'utf8');

test('every ErrorCode of protocol/src/error.rs has a message', () => {
  const codes = [...errorRs.matchAll(/ErrorCode::\w+ => "([a-z_]+)"/g)].map((m) => m[1]);
  assert.ok(codes.length >= 25, `found ${codes.length} codes in error.rs`);
  for (const code of codes) assert.ok(ERROR_MESSAGES[code], `no message for ${code}`);
  for (const code of Object.keys(ERROR_MESSAGES)) assert.ok(codes.includes(code), `${code} is not a server code any more`);
});

test('every close code of error.rs has a policy; the fatal ones do not reconnect', () => {
  const codes = [...errorRs.matchAll(/pub const \w+: u16 = (\d+);/g)].map((m) => Number(m[1]));
  for (const code of codes) assert.ok(CLOSE_CODES[code], `no policy for close ${code}`);
  for (const code of [4001, 4002, 4003, 4004, 4005, 4006, 4007, 4008, 1009, 1012]) assert.ok(CLOSE_CODES[code], `${code}`);
  for (const fatal of [4002, 4003, 4006]) assert.equal(describeClose(fatal).reconnect, false, `${fatal} must not reconnect`);
  assert.equal(describeClose(1012).reconnect, 'retry_ms');
  assert.equal(describeClose(4004).reconnect, 'soon');
  assert.equal(describeClose(1006).reconnect, 'backoff');
  assert.equal(describeClose(4999).reconnect, 'backoff', 'unknown codes retry with backoff');
});

test('server detail is appended only where it helps the user', () => {
  assert.match(describeError('too_long', 'title is 312 characters; at most 300 allowed'), /312 characters/);
  assert.doesNotMatch(describeError('malformed', 'expected value at line 1 column 1'), /line 1/);
  assert.match(describeError('no_such_code'), /no_such_code/);
});

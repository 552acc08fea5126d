// Identifiers the client chooses: op ids and object ids (1 to MAX_ID_CHARS of A-Z a-z 0-9 - _ : .).

import { MAX_ID_CHARS, ROOT } from './protocol.gen.js';

const ID_RE = new RegExp(`^[A-Za-z0-9_:.-]{1,${MAX_ID_CHARS}}$`);

/** Whether `s` is a valid op or object id. */
export const isId = (s) => typeof s === 'string' && ID_RE.test(s) && s !== ROOT;

/** Random lowercase base-36 characters from the platform's CSPRNG. */
export function randomToken(length, random = globalThis.crypto) {
  const bytes = random.getRandomValues(new Uint8Array(length));
  return Array.from(bytes, (b) => (b % 36).toString(36)).join('');
}

/**
 * Op ids are `<participant>:<page session>:<counter>`: unique per op, and never reused across
 * reconnects or reloads because every page load draws a new session nonce (ops kept pending
 * across a reload keep their original ids, which the server deduplicates).
 */
export function createIdSource(participantId, random = globalThis.crypto) {
  const session = randomToken(8, random);
  let counter = 0;
  return {
    session,
    opId() {
      counter += 1;
      return `${participantId}:${session}:${counter}`;
    },
    /** A random object id (a UUID without dashes: 32 hex characters). */
    objectId() {
      return random.randomUUID().replaceAll('-', '');
    },
  };
}

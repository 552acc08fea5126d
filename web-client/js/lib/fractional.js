// Fractional position keys: a port of protocol/src/fractional.rs.
//
// A key is an integer part followed by a fraction part, both in base 62 (0-9A-Za-z, ordered as
// ASCII). The head character encodes the integer part's length: a..z are 2..27 characters long,
// A..Z are 27..2 characters long. Keys compare as plain strings (all ASCII, so JavaScript's
// UTF-16 comparison equals the server's byte-wise comparison). The port must produce exactly the
// server's keys, so it follows the Rust code branch for branch.

import { MAX_POS_CHARS } from './protocol.gen.js';

const DIGITS = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const ZERO = '0';
const LAST = 'z';
/** The smallest integer, reserved so that a key below every other key can always be made. */
export const SMALLEST_INTEGER = 'A' + '0'.repeat(26);
/** Longest key the server accepts (schema.rs MAX_POS_CHARS, generated). */
export { MAX_POS_CHARS };

/** Why a key is not a valid fractional index; `code` mirrors the Rust KeyError variants. */
export class KeyError extends Error {
  constructor(code) {
    super(`invalid position key: ${code}`);
    this.code = code;
  }
}

const digitIndex = (c) => DIGITS.indexOf(c);

function integerLength(head) {
  if (head >= 'a' && head <= 'z') return head.charCodeAt(0) - 97 + 2;
  if (head >= 'A' && head <= 'Z') return 90 - head.charCodeAt(0) + 2;
  throw new KeyError('BadHead');
}

function split(key) {
  if (key.length === 0) throw new KeyError('BadHead');
  const len = integerLength(key[0]);
  if (len > key.length) throw new KeyError('TooShort');
  return [key.slice(0, len), key.slice(len)];
}

/** Throws a KeyError unless `key` is a well-formed position key. */
export function validate(key) {
  for (const c of key) if (digitIndex(c) < 0) throw new KeyError('BadDigit');
  if (key === SMALLEST_INTEGER) throw new KeyError('Reserved');
  const [, fraction] = split(key);
  if (fraction.endsWith(ZERO)) throw new KeyError('TrailingZero');
}

/** Whether `key` is valid and short enough for the server. */
export function isValidKey(key) {
  if (typeof key !== 'string' || key.length > MAX_POS_CHARS) return false;
  try {
    validate(key);
    return true;
  } catch {
    return false;
  }
}

// A fraction strictly between `a` and `b` (null meaning "no upper bound"); both are digit strings
// without trailing zeros and a < b.
function midpoint(a, b) {
  if (b !== null) {
    let n = 0;
    while (n < b.length && (a[n] ?? ZERO) === b[n]) n += 1;
    if (n > 0) return b.slice(0, n) + midpoint(n < a.length ? a.slice(n) : '', b.slice(n));
  }
  const da = a.length > 0 ? digitIndex(a[0]) : 0;
  const db = b !== null && b.length > 0 ? digitIndex(b[0]) : DIGITS.length;
  if (db - da > 1) return DIGITS[Math.ceil((da + db) / 2)];
  if (b !== null && b.length > 1) return b[0];
  return DIGITS[da] + midpoint(a.length > 1 ? a.slice(1) : '', null);
}

function incrementInteger(x) {
  const head = x[0];
  const digits = x.slice(1).split('');
  let carry = true;
  for (let i = digits.length - 1; i >= 0; i -= 1) {
    const next = digitIndex(digits[i]) + 1;
    if (next === DIGITS.length) {
      digits[i] = ZERO;
    } else {
      digits[i] = DIGITS[next];
      carry = false;
      break;
    }
  }
  if (!carry) return head + digits.join('');
  if (head === 'Z') return 'a0';
  if (head === 'z') return null;
  const h = String.fromCharCode(head.charCodeAt(0) + 1);
  if (h > 'a') digits.push(ZERO);
  else digits.pop();
  return h + digits.join('');
}

function decrementInteger(x) {
  const head = x[0];
  const digits = x.slice(1).split('');
  let borrow = true;
  for (let i = digits.length - 1; i >= 0; i -= 1) {
    const d = digitIndex(digits[i]);
    if (d === 0) {
      digits[i] = LAST;
    } else {
      digits[i] = DIGITS[d - 1];
      borrow = false;
      break;
    }
  }
  if (!borrow) return head + digits.join('');
  if (head === 'a') return 'Zz';
  if (head === 'A') return null;
  const h = String.fromCharCode(head.charCodeAt(0) - 1);
  if (h < 'Z') digits.push(LAST);
  else digits.pop();
  return h + digits.join('');
}

/**
 * A key strictly between `a` and `b`. `null` for `a` means "before everything", `null` for `b`
 * "after everything"; between(null, null) is the first key of an empty list. Throws KeyError.
 */
export function between(a, b) {
  if (a !== null) validate(a);
  if (b !== null) validate(b);
  if (a === null && b === null) return 'a0';
  if (a === null) {
    const [ib, fb] = split(b);
    if (ib === SMALLEST_INTEGER) return ib + midpoint('', fb);
    if (ib.length < b.length) return ib;
    const d = decrementInteger(ib);
    if (d === null) throw new KeyError('Exhausted');
    // The smallest integer is reserved: extend it with a fraction instead (as fractional.rs).
    if (d === SMALLEST_INTEGER) return d + midpoint('', null);
    return d;
  }
  if (b === null) {
    const [ia, fa] = split(a);
    const i = incrementInteger(ia);
    return i !== null ? i : ia + midpoint(fa, null);
  }
  if (!(a < b)) throw new KeyError('NotOrdered');
  const [ia, fa] = split(a);
  const [ib, fb] = split(b);
  if (ia === ib) return ia + midpoint(fa, fb);
  const i = incrementInteger(ia);
  if (i === null) throw new KeyError('Exhausted');
  return i < b ? i : ia + midpoint(fa, null);
}

/**
 * The key suffix of a writer (fractional.rs `client_suffix`): appended to every key it makes, so
 * that keys made by different members at the same place never tie. For the server's participant
 * ids (`p-` and 10 characters) it is those 10 characters and a closing `1`.
 */
export function clientSuffix(client) {
  const body = client.startsWith('p-') ? client.slice(2) : client;
  return `${[...body].filter((c) => /[0-9A-Za-z]/.test(c)).slice(0, 16).join('')}1`;
}

/** A key strictly between `a` and `b` ending in `suffix` (fractional.rs `between_with`). */
export function betweenWith(a, b, suffix) {
  if (!suffix) return between(a, b);
  if (![...suffix].every((c) => digitIndex(c) >= 0) || suffix.endsWith('0')) throw new KeyError('BadDigit');
  let key = between(a, b);
  for (;;) {
    const candidate = key + suffix;
    if (b !== null && !(candidate < b)) key = between(key, b);
    else return candidate;
  }
}

/**
 * Where an item goes when placed at `index` among `keys` (its future siblings' keys in order,
 * without it), as fractional.rs `place`: { key, rekey: [[index into keys, new key]] }. Equal
 * neighbouring keys (a tie stored by an older client) leave no key between them; then the tied
 * siblings from `index` on move up, after the item.
 */
export function place(keys, index, suffix) {
  const i = Math.max(0, Math.min(index, keys.length));
  const lo = i > 0 ? keys[i - 1] : null;
  const hi = i < keys.length ? keys[i] : null;
  if (lo !== null && hi !== null && !(lo < hi)) {
    let end = i;
    while (end < keys.length && keys[end] <= lo) end += 1;
    const next = end < keys.length ? keys[end] : null;
    const key = betweenWith(lo, next, suffix);
    const rekey = [];
    let prev = key;
    for (let j = i; j < end; j += 1) {
      prev = betweenWith(prev, next, suffix);
      rekey.push([j, prev]);
    }
    return { key, rekey };
  }
  return { key: betweenWith(lo, hi, suffix), rekey: [] };
}

/** The suffix this page's keys end with; set once the participant is known. */
let ownSuffix = '';

/** Makes every key from `newKey` and `placeAt` end with `participantId`'s suffix. */
export function useKeySuffix(participantId) {
  ownSuffix = participantId ? clientSuffix(participantId) : '';
}

/** A new key between `a` and `b` for this writer. */
export const newKey = (a, b) => betweenWith(a, b, ownSuffix);

/** `place` for this writer. */
export const placeAt = (keys, index) => place(keys, index, ownSuffix);

// Checks of an edit against the object types of protocol/src/schema.rs (generated into
// protocol.gen.js) before it is sent: the server rejects it anyway, but a user should learn at
// once and lose nothing.

import { parseSamples } from './forecast.js';
import { SCHEMAS } from './protocol.gen.js';

// The limits, lists and the table of object types are generated from the protocol crate
// (protocol/tests/client_constants.rs), so the client checks exactly what the server checks. A
// field is { kind, ... }: text and prose { max }, tally { max, budget }, sealed { inner },
// int { min, max }, enum { values }, bool, allocation, samples.
export {
  CARDS,
  DECISIONS,
  ESTIMATES,
  ITEM_STATUSES,
  LEAN_COFFEE_COLUMNS,
  LEAN_COFFEE_DOTS,
  MAX_BUDGET,
  MAX_LABEL_CHARS,
  MAX_TEXT_CHARS,
  MAX_TITLE_CHARS,
  SCALES,
  SCHEMAS,
  VISION_SECTIONS,
} from './protocol.gen.js';

/** Text length as the server counts it: in Unicode scalar values, not UTF-16 code units. */
export const charCount = (s) => [...s].length;

/**
 * Checks one field value of `type`. Returns null when it is fine, else { code, message } with
 * the error code the server would answer.
 */
export function checkField(type, name, value) {
  const field = SCHEMAS[type]?.fields[name];
  if (field === undefined) return { code: 'unknown_field', message: `a ${type} has no field ${name}` };
  if (value === null) return null;
  switch (field.kind) {
    case 'sealed':
      return { code: 'invalid_op', message: `${name} is sealed: send a seal op, not a set` };
    case 'tally':
      if (!Number.isInteger(value) || value < 0 || value > field.max) {
        return { code: 'invalid_value', message: `${name}: your entry must be between 0 and ${field.max}` };
      }
      return null;
    case 'text':
    case 'prose':
      if (typeof value !== 'string') return { code: 'invalid_value', message: `${name} expects text` };
      if (charCount(value) > field.max) {
        return { code: 'too_long', message: `${name} is ${charCount(value)} characters; at most ${field.max} allowed` };
      }
      return null;
    case 'int':
      if (!Number.isInteger(value) || value < field.min || value > field.max) {
        return { code: 'invalid_value', message: `${name} must be a whole number between ${field.min} and ${field.max}` };
      }
      return null;
    case 'samples':
      if (typeof value !== 'string') return { code: 'invalid_value', message: `${name} expects text` };
      try {
        parseSamples(value);
      } catch (e) {
        return { code: 'invalid_value', message: `${name}: ${e.message}` };
      }
      return null;
    case 'bool':
      return typeof value === 'boolean' ? null : { code: 'invalid_value', message: `${name} expects true or false` };
    default:
      return field.values.includes(value) ? null : { code: 'invalid_value', message: `${name} must be one of ${field.values.join(', ')}` };
  }
}

/** Checks every field of an op's `fields`; the first problem, or null. */
export function checkFields(type, fields) {
  for (const [name, value] of Object.entries(fields ?? {})) {
    const problem = checkField(type, name, value);
    if (problem !== null) return problem;
  }
  return null;
}

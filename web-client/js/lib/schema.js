// Object types as data: a port of protocol/src/schema.rs, used to check an edit before it is
// sent (the server rejects it anyway, but a user should learn at once and lose nothing).

import { MAX_ITEMS, MAX_SAMPLE, MAX_SPRINTS, parseSamples } from './forecast.js';

export const MAX_TITLE_CHARS = 300;
export const MAX_TEXT_CHARS = 10_000;
export const MAX_LABEL_CHARS = 100;
/** Estimation cards (schema.rs CARDS) and scales. */
export const CARDS = ['1', '2', '3', '5', '8', '13', '21', '?', 'coffee', 'XS', 'S', 'M', 'L', 'XL'];
export const SCALES = ['fibonacci', 'tshirt'];
/** Dots each member may spread over a room's Lean Coffee topics (schema.rs LEAN_COFFEE_DOTS). */
export const LEAN_COFFEE_DOTS = 3;
/** Largest value-scoring budget (schema.rs MAX_BUDGET). */
export const MAX_BUDGET = 10_000;

export const VISION_SECTIONS = ['vision', 'target_group', 'needs', 'product', 'business_goals'];
export const ESTIMATES = ['1', '2', '3', '5', '8', '13', '21', '?', 'XS', 'S', 'M', 'L', 'XL'];
export const ITEM_STATUSES = ['new', 'ready', 'in_progress', 'done'];
export const DECISIONS = ['persevere', 'pivot', 'retire', 'keep_testing'];

const text = (max) => ({ kind: 'text', max });
/** Mergeable text (schema.rs FieldKind::Prose): edited with `text` ops, merges concurrent typing. */
const prose = (max) => ({ kind: 'prose', max });
/** Per-member entries with a derived total (schema.rs FieldKind::Tally). */
const tally = (max, budget) => ({ kind: 'tally', max, budget });
/** Hidden per-member values until a reveal (schema.rs FieldKind::Sealed): `seal` ops only. */
const sealed = (inner) => ({ kind: 'sealed', inner });
const int = (min, max) => ({ kind: 'int', min, max });
/** A value-scoring allocation `item=points,...` (schema.rs FieldKind::Allocation), only sealed. */
const allocation = { kind: 'allocation' };
/** Throughput samples typed as whole numbers (schema.rs FieldKind::Samples). */
const samples = { kind: 'samples' };
const oneOf = (values) => ({ kind: 'enum', values });
const flag = { kind: 'bool' };

export const SCHEMAS = {
  vision_section: { parents: ['root'], fields: { section: oneOf(VISION_SECTIONS), title: text(MAX_TITLE_CHARS) } },
  vision_note: { parents: ['vision_section'], fields: { text: prose(MAX_TEXT_CHARS), author: text(MAX_LABEL_CHARS) } },
  backlog_item: {
    parents: ['root'],
    fields: {
      title: text(MAX_TITLE_CHARS),
      role: text(MAX_TITLE_CHARS),
      goal: prose(MAX_TEXT_CHARS),
      benefit: prose(MAX_TEXT_CHARS),
      estimate: oneOf(ESTIMATES),
      value: int(0, 1_000_000),
      status: oneOf(ITEM_STATUSES),
      tag: text(MAX_LABEL_CHARS),
      link: text(MAX_TITLE_CHARS),
    },
  },
  acceptance_criterion: {
    parents: ['backlog_item'],
    fields: { given: prose(MAX_TEXT_CHARS), when: prose(MAX_TEXT_CHARS), then: prose(MAX_TEXT_CHARS), and: prose(MAX_TEXT_CHARS), met: flag },
  },
  experiment: {
    parents: ['root'],
    fields: {
      hypothesis: prose(MAX_TEXT_CHARS),
      test: prose(MAX_TEXT_CHARS),
      metric: prose(MAX_TEXT_CHARS),
      criterion: prose(MAX_TEXT_CHARS),
      deadline: text(MAX_LABEL_CHARS),
      owner: text(MAX_LABEL_CHARS),
      observation: prose(MAX_TEXT_CHARS),
      learning: prose(MAX_TEXT_CHARS),
      decision: oneOf(DECISIONS),
    },
  },
  lean_coffee_topic: {
    parents: ['root'],
    fields: { title: text(MAX_TITLE_CHARS), author: text(MAX_LABEL_CHARS), votes: tally(LEAN_COFFEE_DOTS, LEAN_COFFEE_DOTS), column: oneOf(['to_discuss', 'discussing', 'discussed']), notes: prose(MAX_TEXT_CHARS) },
  },
  estimation_round: {
    parents: ['backlog_item'],
    fields: { scale: oneOf(SCALES), votes: sealed(oneOf(CARDS)), auto_reveal: flag, accepted: oneOf(ESTIMATES) },
  },
  value_round: {
    parents: ['root'],
    fields: { title: text(MAX_TITLE_CHARS), budget: int(1, MAX_BUDGET), points: sealed(allocation), auto_reveal: flag },
  },
  forecast: {
    parents: ['root'],
    fields: {
      throughput: samples,
      low: int(0, MAX_SAMPLE),
      high: int(0, MAX_SAMPLE),
      items: int(1, MAX_ITEMS),
      sprints: int(1, MAX_SPRINTS),
      seed: int(0, 4_294_967_295),
      done_seen: int(0, 10_000),
    },
  },
  feedback: { parents: ['root', 'backlog_item'], fields: { text: text(MAX_TEXT_CHARS), author: text(MAX_LABEL_CHARS) } },
};

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

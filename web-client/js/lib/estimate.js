// Estimation exercises: a port of protocol/src/estimate.rs (cards per scale, the statistics of a
// revealed poker round, value-scoring allocations, the value-per-point order). The Rust tests
// write protocol/tests/vectors/estimate.json and web-client/test/estimate.test.js holds this port
// to it, so a team sees the same figures the server would compute.

// The scales, the default budget and the limits are generated from the protocol crate.
import { FIBONACCI, MAX_ALLOCATION_ITEMS, MAX_BUDGET, NOT_A_SIZE, TSHIRT } from './protocol.gen.js';

export { DEFAULT_BUDGET, FIBONACCI, MAX_ALLOCATION_ITEMS, MAX_BUDGET, NOT_A_SIZE, TSHIRT } from './protocol.gen.js';

/** The cards of `scale` ('fibonacci', the default, or 'tshirt'). */
export const scaleCards = (scale) => (scale === 'tshirt' ? TSHIRT : FIBONACCI);

/**
 * The statistics of the cards `cast` in a round on `scale` (same keys as the Rust `Stats`):
 * votes, sized, min, max, median (the higher middle size), mode (sizes cast most, in scale
 * order), average (Fibonacci, one decimal), consensus (every card the same size), suggestion.
 */
export function stats(scale, cast) {
  const cards = scaleCards(scale);
  const counts = cards.map(() => 0);
  for (const card of cast) {
    const i = cards.indexOf(card);
    if (i >= 0) counts[i] += 1;
  }
  const votes = counts.reduce((a, b) => a + b, 0);
  const sizes = [];
  cards.forEach((card, i) => {
    if (!NOT_A_SIZE.includes(card)) for (let k = 0; k < counts[i]; k += 1) sizes.push(i);
  });
  const top = sizes.reduce((m, i) => Math.max(m, counts[i]), 0);
  const mode = [];
  for (const i of sizes) if (counts[i] === top && mode[mode.length - 1] !== cards[i]) mode.push(cards[i]);
  let average = null;
  if (sizes.length > 0 && cards === FIBONACCI) {
    const sum = sizes.reduce((a, i) => a + Number(cards[i]), 0);
    average = roundHalfAway((sum * 10) / sizes.length) / 10;
  }
  const median = sizes.length > 0 ? cards[sizes[Math.floor(sizes.length / 2)]] : null;
  const consensus = votes > 0 && sizes.length === votes && mode.length === 1 && top === votes;
  return {
    votes,
    sized: sizes.length,
    min: sizes.length > 0 ? cards[sizes[0]] : null,
    max: sizes.length > 0 ? cards[sizes[sizes.length - 1]] : null,
    median,
    mode,
    average,
    consensus,
    suggestion: consensus ? mode[0] : median,
  };
}

/** Rust's f64::round: halves away from zero (Math.round rounds them up). */
const roundHalfAway = (x) => Math.sign(x) * Math.round(Math.abs(x));

/**
 * Parses an allocation `item-1=40,item-2=60` into [[id, points], ...] in the order written;
 * throws an Error naming the problem (the server answers invalid_value for the same text).
 */
export function parseAllocation(text) {
  const fail = (kind, message) => {
    const e = new Error(message);
    e.kind = kind;
    throw e;
  };
  const out = [];
  if (text === '') return out;
  for (const pair of text.split(',')) {
    const eq = pair.indexOf('=');
    const id = eq < 0 ? '' : pair.slice(0, eq);
    const digits = eq < 0 ? '' : pair.slice(eq + 1);
    const malformed = () => fail('malformed', `write an allocation as item=points pairs separated by commas, not "${pair}"`);
    if (id === '' || !/^[0-9]+$/.test(digits)) malformed();
    const points = Number(digits);
    if (points === 0) malformed();
    if (points > MAX_BUDGET) fail('too_many_points', `${id}: at most ${MAX_BUDGET} points per item`);
    if (out.some(([seen]) => seen === id)) fail('repeated', `${id} is named twice`);
    if (out.length === MAX_ALLOCATION_ITEMS) fail('too_many', `at most ${MAX_ALLOCATION_ITEMS} items per allocation`);
    out.push([id, points]);
  }
  return out;
}

/** Writes [[id, points], ...] (points > 0 only) as an allocation string. */
export const formatAllocation = (pairs) => pairs.filter(([, p]) => p > 0).map(([id, p]) => `${id}=${p}`).join(',');

/** Points per item over revealed allocations (strings); unparsable ones are skipped. */
export function allocationTotals(values) {
  const totals = {};
  for (const value of values) {
    if (typeof value !== 'string') continue;
    let pairs;
    try {
      pairs = parseAllocation(value);
    } catch {
      continue;
    }
    for (const [id, points] of pairs) totals[id] = (totals[id] ?? 0) + points;
  }
  return totals;
}

/** The points an estimate stands for when ordering by value per point; null for "?". */
export function points(estimate) {
  const shirts = { XS: 1, S: 2, M: 3, L: 5, XL: 8 };
  if (Object.hasOwn(shirts, estimate)) return shirts[estimate];
  const n = Number(estimate);
  return /^[0-9]+$/.test(estimate ?? '') && n > 0 ? n : null;
}

/**
 * A suggested order (ids), highest value per point first; items without a value or a sized
 * estimate keep their order after the others; ties keep the current order.
 * @param {{id: string, value: number|null, estimate: string|null}[]} items
 */
export function valuePerPointOrder(items) {
  const scored = [];
  const rest = [];
  items.forEach((c, i) => {
    const p = c.estimate == null ? null : points(c.estimate);
    if (c.value == null || p === null) rest.push(i);
    else scored.push([i, c.value, p]);
  });
  // Cross-multiplied like the Rust side; values and points are small enough to stay exact.
  scored.sort((a, b) => b[1] * a[2] - a[1] * b[2] || a[0] - b[0]);
  return [...scored.map(([i]) => i), ...rest].map((i) => items[i].id);
}

// Monte Carlo forecast: a port of protocol/src/forecast.rs.
//
// A team gives its throughput (items finished per sprint) as past samples or as a range. Each
// trial replays the future by drawing one sprint's throughput at random: once until `items` are
// done ("when"), and once for `sprints` sprints ("how many"). The port must give exactly the
// server's numbers (protocol/tests/vectors/forecast.json holds shared results), so it follows the
// Rust code step for step: mulberry32 on 32-bit integers via Math.imul, a multiply-shift index,
// and two generators per trial seeded from the seed and the trial's number. Inputs and results
// use the Rust JSON shapes: { throughput: { samples: [..] } | { range: { low, high } }, items,
// sprints, trials, seed } and { seed, trials, items, sprints, when, how_many, histogram, capped }.

// The confidence levels, trial counts and limits are generated from the protocol crate.
import { CONFIDENCES, MAX_ITEMS, MAX_SAMPLE, MAX_SAMPLES, MAX_SPRINTS, MAX_TRIALS } from './protocol.gen.js';

export { CONFIDENCES, DEFAULT_TRIALS, MAX_ITEMS, MAX_SAMPLE, MAX_SAMPLES, MAX_SPRINTS, MAX_TRIALS } from './protocol.gen.js';

const STEP = 0x6d2b79f5;
// Separators: the comma, JavaScript's \s and U+0085, the same set as Rust's
// `c == ',' || c == '\u{FEFF}' || c.is_whitespace()`.
const SEPARATORS = /[,\s\u0085]+/;

// Mulberry32's output function on a state already advanced by STEP; returns an unsigned 32-bit
// integer.
function scramble(a) {
  let t = a;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return (t ^ (t >>> 14)) >>> 0;
}

/**
 * The mulberry32 generator seeded with `seed`: a function returning the next 32 random bits as
 * an unsigned integer, the same sequence as Rust's `Mulberry32`.
 * @param {number} seed
 * @returns {() => number}
 */
export function mulberry32(seed) {
  let a = seed | 0;
  return () => {
    a = (a + STEP) | 0;
    return scramble(a);
  };
}

// The first mulberry32 output from `x`: spreads a trial's generator number over 32 bits.
const mix = (x) => scramble((x + STEP) | 0);

// An index below `n` from 32 random bits, by multiply-shift; the product stays below 2^53 (and
// so exact) for n below 2^21.
const index = (x, n) => Math.floor((x * n) / 4294967296);

/**
 * Reads throughput samples as a person types them: whole numbers separated by commas and/or
 * whitespace, such as "3, 5 4,6". Empty text gives no samples.
 * @param {string} text
 * @returns {number[]}
 * @throws {Error} naming the first bad token, or when there are more than MAX_SAMPLES samples
 */
export function parseSamples(text) {
  const samples = [];
  for (const token of text.split(SEPARATORS)) {
    if (token === '') continue;
    const value = /^[0-9]+$/.test(token) ? Number(token) : NaN;
    if (!(value <= MAX_SAMPLE)) throw new Error(`"${token}" is not a whole number from 0 to ${MAX_SAMPLE}`);
    samples.push(value);
  }
  if (samples.length > MAX_SAMPLES) throw new Error(`${samples.length} throughput samples: at most ${MAX_SAMPLES} are allowed`);
  return samples;
}

// Rust's u32 fields cannot hold anything else; here a caller could pass any value.
function checkU32(name, v) {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new Error(`${name} must be a whole number, not ${v}`);
}

// Checks the input in the order of forecast.rs `check` (so a bad input reports the same error)
// and returns the draw: one sprint's throughput from 32 random bits.
function check(input) {
  const { throughput, items, sprints, trials, seed } = input;
  let draw;
  if (Array.isArray(throughput?.samples)) {
    const samples = throughput.samples;
    samples.forEach((s) => checkU32('throughput', s));
    if (samples.length === 0) throw new Error('no throughput samples: enter the items finished in a few past sprints');
    if (samples.length > MAX_SAMPLES) throw new Error(`${samples.length} throughput samples: at most ${MAX_SAMPLES} are allowed`);
    const large = samples.find((s) => s > MAX_SAMPLE);
    if (large !== undefined) throw new Error(`throughput ${large} is above the limit of ${MAX_SAMPLE} items per sprint`);
    if (samples.every((s) => s === 0)) throw new Error('every throughput is 0, so nothing would ever be done');
    const list = Uint32Array.from(samples);
    const n = list.length;
    draw = (x) => list[index(x, n)];
  } else if (throughput?.range && typeof throughput.range === 'object') {
    const { low, high } = throughput.range;
    checkU32('throughput', low);
    checkU32('throughput', high);
    if (low > high) throw new Error(`throughput range ${low}..${high} is empty: low is above high`);
    if (high > MAX_SAMPLE) throw new Error(`throughput ${high} is above the limit of ${MAX_SAMPLE} items per sprint`);
    if (high === 0) throw new Error('every throughput is 0, so nothing would ever be done');
    const span = high - low + 1;
    draw = (x) => low + index(x, span);
  } else {
    throw new Error('throughput must be { samples: [...] } or { range: { low, high } }');
  }
  for (const [name, v] of [['items', items], ['sprints', sprints], ['trials', trials], ['seed', seed]]) checkU32(name, v);
  if (items < 1 || items > MAX_ITEMS) throw new Error(`items must be from 1 to ${MAX_ITEMS}, not ${items}`);
  if (sprints < 1 || sprints > MAX_SPRINTS) throw new Error(`sprints must be from 1 to ${MAX_SPRINTS}, not ${sprints}`);
  if (trials < 1 || trials > MAX_TRIALS) throw new Error(`trials must be from 1 to ${MAX_TRIALS}, not ${trials}`);
  return draw;
}

// The position, in results sorted from best to worst, of the value reached with `confidence`
// percent: ceil(confidence * n / 100) - 1 (exact: the product is below 2^24).
const rank = (confidence, n) => Math.max(Math.floor((confidence * n + 99) / 100) - 1, 0);

/**
 * Runs the forecast; the result deep-equals Rust's `forecast::run` for the same input.
 * @param {{throughput: ({samples: number[]} | {range: {low: number, high: number}}), items: number, sprints: number, trials: number, seed: number}} input
 * @returns {{seed: number, trials: number, items: number, sprints: number, when: {confidence: number, value: number}[], how_many: {confidence: number, value: number}[], histogram: {sprints: number, trials: number}[], capped: number}}
 * @throws {Error} with the Rust error's message when the input is out of bounds
 */
export function runForecast(input) {
  const draw = check(input);
  const { items, sprints, trials, seed } = input;
  // Trials per number of sprints taken (a counting sort: "when" needs no other sort).
  const counts = new Uint32Array(MAX_SPRINTS + 1);
  const reached = new Uint32Array(trials);
  let capped = 0;
  for (let t = 0; t < trials; t += 1) {
    // The two generators' states, advanced inline: a closure per trial would allocate.
    let a = (seed ^ mix(2 * t)) | 0;
    let b = (seed ^ mix(2 * t + 1)) | 0;
    let done = 0;
    let taken = 0;
    while (done < items && taken < MAX_SPRINTS) {
      a = (a + STEP) | 0;
      done += draw(scramble(a));
      taken += 1;
    }
    if (done < items) capped += 1;
    counts[taken] += 1;
    let sum = 0;
    for (let s = 0; s < sprints; s += 1) {
      b = (b + STEP) | 0;
      sum += draw(scramble(b));
    }
    reached[t] = sum;
  }
  // Typed arrays sort numerically, ascending; the best is last.
  reached.sort();

  const when = CONFIDENCES.map((confidence) => {
    const want = rank(confidence, trials);
    let seen = 0;
    let value = MAX_SPRINTS;
    for (let s = 0; s <= MAX_SPRINTS; s += 1) {
      seen += counts[s];
      if (seen > want) {
        value = s;
        break;
      }
    }
    return { confidence, value };
  });
  const howMany = CONFIDENCES.map((confidence) => ({ confidence, value: reached[trials - 1 - rank(confidence, trials)] }));
  const first = counts.findIndex((c) => c > 0);
  const last = counts.findLastIndex((c) => c > 0);
  const histogram = [];
  for (let s = first; s <= last; s += 1) histogram.push({ sprints: s, trials: counts[s] });
  return { seed, trials, items, sprints, when, how_many: howMany, histogram, capped };
}

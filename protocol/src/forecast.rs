//! Monte Carlo forecast: when will a backlog be done, and how much will be done by a date.
//!
//! A team gives its throughput (items finished per sprint) as past samples or as a range. Each
//! trial replays the future by drawing one sprint's throughput at random, again and again: once
//! until `items` are done ("when"), and once for `sprints` sprints ("how many"). The results of
//! all trials, read at a few confidence levels, are the forecast.
//!
//! The forecast is deterministic given its seed, and the web client's port
//! (`web-client/js/lib/forecast.js`) computes exactly the same numbers:
//! `tests/vectors/forecast.json` holds results that both sides check. The generator is mulberry32
//! on u32 with wrapping arithmetic, which JavaScript reproduces with `Math.imul`.
//!
//! Each trial has its own two generators, seeded from the forecast's seed and the trial's number,
//! so a trial draws the same sample *indices* whatever the samples' values, the items or the
//! sprints are. That makes forecasts pathwise monotone: more throughput never forecasts later and
//! more items never earlier, even for one seed.

use serde::{Deserialize, Serialize};

/// The confidence levels (in percent) at which a forecast is read.
pub const CONFIDENCES: [u32; 4] = [50, 70, 85, 95];
/// Trials a caller should run when it has no reason to choose: stable to about one sprint.
pub const DEFAULT_TRIALS: u32 = 10_000;
/// Most trials one forecast may run, which bounds its cost to a few tens of milliseconds.
pub const MAX_TRIALS: u32 = 100_000;
/// Sprints after which a trial that has not finished its items stops and counts as capped.
pub const MAX_SPRINTS: u32 = 200;
/// Most throughput samples a forecast accepts.
pub const MAX_SAMPLES: usize = 50;
/// Largest throughput of one sprint, in items.
pub const MAX_SAMPLE: u32 = 1_000;
/// Largest backlog a forecast accepts, in items.
pub const MAX_ITEMS: u32 = 10_000;

/// The mulberry32 increment (a Weyl sequence step).
const STEP: u32 = 0x6D2B_79F5;

/// How many items a team finishes per sprint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Throughput {
    /// Throughputs of past sprints; each simulated sprint repeats one of them at random.
    Samples(Vec<u32>),
    /// Each simulated sprint finishes a uniformly random number of items from `low` to `high`.
    Range {
        /// Fewest items finished in a sprint.
        low: u32,
        /// Most items finished in a sprint (inclusive).
        high: u32,
    },
}

/// What to forecast.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Input {
    /// The team's throughput.
    pub throughput: Throughput,
    /// Items in the backlog, for the "when" forecast.
    pub items: u32,
    /// Sprints until the date, for the "how many" forecast.
    pub sprints: u32,
    /// Trials to run; see [`DEFAULT_TRIALS`].
    pub trials: u32,
    /// Seed of the random draws: the same input gives the same forecast.
    pub seed: u32,
}

/// One reading of a forecast at a confidence level.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Level {
    /// Confidence in percent, one of [`CONFIDENCES`].
    pub confidence: u32,
    /// Sprints (in `when`) or items (in `how_many`).
    pub value: u32,
}

/// How many trials finished the items in a given number of sprints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bucket {
    /// Sprints taken; [`MAX_SPRINTS`] also holds the capped trials.
    pub sprints: u32,
    /// Trials that took exactly that many sprints.
    pub trials: u32,
}

/// The result of [`run`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Forecast {
    /// The input's seed.
    pub seed: u32,
    /// The input's trials.
    pub trials: u32,
    /// The input's items.
    pub items: u32,
    /// The input's sprints.
    pub sprints: u32,
    /// Per confidence level, the sprints by which the items are done in that share of trials
    /// ([`MAX_SPRINTS`] meaning "not within that many"). Non-decreasing.
    pub when: Vec<Level>,
    /// Per confidence level, the items done by sprint `sprints` in at least that share of
    /// trials. Non-increasing.
    pub how_many: Vec<Level>,
    /// Trials per number of sprints taken, every count from the smallest to the largest seen
    /// (zero-count buckets included); the counts sum to `trials`.
    pub histogram: Vec<Bucket>,
    /// Trials that had not finished the items after [`MAX_SPRINTS`] sprints.
    pub capped: u32,
}

/// Why a forecast cannot be made. Each is the caller's input to fix, so each message says what
/// is wrong in words a person can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ForecastError {
    /// No throughput samples were given.
    #[error("no throughput samples: enter the items finished in a few past sprints")]
    NoSamples,
    /// More than [`MAX_SAMPLES`] samples were given.
    #[error("{count} throughput samples: at most {max} are allowed", max = MAX_SAMPLES)]
    TooManySamples {
        /// Samples given.
        count: usize,
    },
    /// A throughput above [`MAX_SAMPLE`].
    #[error("throughput {value} is above the limit of {max} items per sprint", max = MAX_SAMPLE)]
    SampleTooLarge {
        /// The first such throughput.
        value: u32,
    },
    /// Typed text that is not a whole number from 0 to [`MAX_SAMPLE`].
    #[error("\"{token}\" is not a whole number from 0 to {max}", max = MAX_SAMPLE)]
    BadSample {
        /// The text between separators.
        token: String,
    },
    /// Every sample is 0, or the range is 0..0.
    #[error("every throughput is 0, so nothing would ever be done")]
    NothingDone,
    /// A range whose low end is above its high end.
    #[error("throughput range {low}..{high} is empty: low is above high")]
    BadRange {
        /// The range's low end.
        low: u32,
        /// The range's high end.
        high: u32,
    },
    /// Items outside 1..=[`MAX_ITEMS`].
    #[error("items must be from 1 to {max}, not {items}", max = MAX_ITEMS)]
    Items {
        /// The items given.
        items: u32,
    },
    /// Sprints outside 1..=[`MAX_SPRINTS`].
    #[error("sprints must be from 1 to {max}, not {sprints}", max = MAX_SPRINTS)]
    Sprints {
        /// The sprints given.
        sprints: u32,
    },
    /// Trials outside 1..=[`MAX_TRIALS`].
    #[error("trials must be from 1 to {max}, not {trials}", max = MAX_TRIALS)]
    Trials {
        /// The trials given.
        trials: u32,
    },
}

/// Reads throughput samples as a person types them: whole numbers separated by commas and/or
/// whitespace, such as `"3, 5 4,6"`. Empty text gives no samples.
///
/// Separators are the comma, Unicode white space and U+FEFF, the union of what Rust's
/// `char::is_whitespace` and JavaScript's `\s` accept, so the web client splits identically.
pub fn parse_samples(text: &str) -> Result<Vec<u32>, ForecastError> {
    let tokens = text
        .split(|c: char| c == ',' || c == '\u{FEFF}' || c.is_whitespace())
        .filter(|t| !t.is_empty());
    let mut samples = Vec::new();
    for token in tokens {
        // `u32::from_str` also takes a leading `+`, which JavaScript's port would not.
        let value = Some(token)
            .filter(|t| t.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|t| t.parse::<u32>().ok())
            .filter(|v| *v <= MAX_SAMPLE)
            .ok_or_else(|| ForecastError::BadSample {
                token: token.to_owned(),
            })?;
        samples.push(value);
    }
    if samples.len() > MAX_SAMPLES {
        return Err(ForecastError::TooManySamples {
            count: samples.len(),
        });
    }
    Ok(samples)
}

/// The mulberry32 generator: 32 bits of state, a Weyl step and an output scrambler. Small, fast,
/// and exactly reproducible in JavaScript.
#[derive(Debug, Clone)]
pub struct Mulberry32 {
    /// The Weyl sequence; each output is a scrambled copy of it.
    state: u32,
}

impl Mulberry32 {
    /// A generator seeded with `seed`.
    pub fn new(seed: u32) -> Self {
        Self { state: seed }
    }

    /// The next 32 random bits.
    pub fn next_u32(&mut self) -> u32 {
        self.state = self.state.wrapping_add(STEP);
        scramble(self.state)
    }
}

/// Mulberry32's output function.
fn scramble(mut t: u32) -> u32 {
    t = (t ^ (t >> 15)).wrapping_mul(t | 1);
    t ^= t.wrapping_add((t ^ (t >> 7)).wrapping_mul(t | 61));
    t ^ (t >> 14)
}

/// Spreads a trial's generator number over 32 bits, so that neighbouring trials' seeds differ
/// in many bits: the first mulberry32 output from `x`.
fn mix(x: u32) -> u32 {
    Mulberry32::new(x).next_u32()
}

/// An index below `n` from 32 random bits, by multiply-shift (Lemire): no division, and exact in
/// JavaScript's doubles for `n` below 2^21.
fn index(x: u32, n: u32) -> u32 {
    // The product is below n * 2^32, so the shift leaves a value below n.
    ((u64::from(x) * u64::from(n)) >> 32) as u32
}

/// One sprint's throughput from 32 random bits.
#[derive(Debug, Clone, Copy)]
enum Draw<'a> {
    /// Repeat one of the samples (never empty).
    Samples(&'a [u32]),
    /// `low` plus an index below `span`.
    Range { low: u32, span: u32 },
}

impl Draw<'_> {
    fn items(self, x: u32) -> u32 {
        match self {
            // `index` is below the length, so the fallback is never taken.
            Draw::Samples(s) => s
                .get(index(x, s.len() as u32) as usize)
                .copied()
                .unwrap_or(0),
            Draw::Range { low, span } => low + index(x, span),
        }
    }
}

/// Checks the input; the order of the checks decides which error a bad input reports, and the
/// web client checks in the same order.
fn check(input: &Input) -> Result<Draw<'_>, ForecastError> {
    let draw = match &input.throughput {
        Throughput::Samples(samples) => {
            if samples.is_empty() {
                return Err(ForecastError::NoSamples);
            }
            if samples.len() > MAX_SAMPLES {
                return Err(ForecastError::TooManySamples {
                    count: samples.len(),
                });
            }
            if let Some(&value) = samples.iter().find(|s| **s > MAX_SAMPLE) {
                return Err(ForecastError::SampleTooLarge { value });
            }
            if samples.iter().all(|s| *s == 0) {
                return Err(ForecastError::NothingDone);
            }
            Draw::Samples(samples)
        }
        &Throughput::Range { low, high } => {
            if low > high {
                return Err(ForecastError::BadRange { low, high });
            }
            if high > MAX_SAMPLE {
                return Err(ForecastError::SampleTooLarge { value: high });
            }
            if high == 0 {
                return Err(ForecastError::NothingDone);
            }
            Draw::Range {
                low,
                span: high - low + 1,
            }
        }
    };
    if !(1..=MAX_ITEMS).contains(&input.items) {
        return Err(ForecastError::Items { items: input.items });
    }
    if !(1..=MAX_SPRINTS).contains(&input.sprints) {
        return Err(ForecastError::Sprints {
            sprints: input.sprints,
        });
    }
    if !(1..=MAX_TRIALS).contains(&input.trials) {
        return Err(ForecastError::Trials {
            trials: input.trials,
        });
    }
    Ok(draw)
}

/// The position, in results sorted from best to worst, of the value reached with `confidence`
/// percent: `ceil(confidence * n / 100) - 1`.
fn rank(confidence: u32, n: u32) -> usize {
    let above = (u64::from(confidence) * u64::from(n)).div_ceil(100);
    above.saturating_sub(1) as usize
}

/// Runs the forecast. Costs about `trials * (items / mean throughput + sprints)` draws; no
/// allocation happens per trial.
pub fn run(input: &Input) -> Result<Forecast, ForecastError> {
    let draw = check(input)?;
    let Input {
        items,
        sprints,
        trials,
        seed,
        ..
    } = *input;
    // Trials per number of sprints taken (a counting sort: "when" needs no other sort).
    let mut counts = [0u32; MAX_SPRINTS as usize + 1];
    let mut reached = Vec::with_capacity(trials as usize);
    let mut capped = 0;
    for t in 0..trials {
        // Trials are at most MAX_TRIALS, so 2t + 1 cannot overflow.
        let mut a = Mulberry32::new(seed ^ mix(2 * t));
        let mut b = Mulberry32::new(seed ^ mix(2 * t + 1));
        let (mut done, mut taken) = (0u32, 0u32);
        while done < items && taken < MAX_SPRINTS {
            // At most MAX_ITEMS - 1 + MAX_SAMPLE: no overflow.
            done += draw.items(a.next_u32());
            taken += 1;
        }
        if done < items {
            capped += 1;
        }
        counts[taken as usize] += 1;
        // At most MAX_SPRINTS * MAX_SAMPLE: no overflow.
        reached.push((0..sprints).map(|_| draw.items(b.next_u32())).sum::<u32>());
    }
    // Best first: the most items reached.
    reached.sort_unstable_by(|x, y| y.cmp(x));

    let when = CONFIDENCES
        .iter()
        .map(|&confidence| {
            let want = rank(confidence, trials);
            let mut seen = 0usize;
            let value = (0..=MAX_SPRINTS)
                .find(|&s| {
                    seen += counts[s as usize] as usize;
                    seen > want
                })
                .unwrap_or(MAX_SPRINTS);
            Level { confidence, value }
        })
        .collect();
    let how_many = CONFIDENCES
        .iter()
        .map(|&confidence| Level {
            confidence,
            value: reached.get(rank(confidence, trials)).copied().unwrap_or(0),
        })
        .collect();
    let first = counts.iter().position(|&c| c > 0).unwrap_or(0);
    let last = counts.iter().rposition(|&c| c > 0).unwrap_or(0);
    let histogram = (first..=last)
        .map(|s| Bucket {
            sprints: s as u32,
            trials: counts[s],
        })
        .collect();
    Ok(Forecast {
        seed,
        trials,
        items,
        sprints,
        when,
        how_many,
        histogram,
        capped,
    })
}

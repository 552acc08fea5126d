//! The Monte Carlo forecast: known answers, every error, pathwise monotonicity, and the vectors
//! shared with the web client.
//!
//! * Unit tests: forecasts whose answer is known exactly, rough statistics, every error.
//! * Properties: the same input gives the same forecast; levels are ordered by confidence; the
//!   histogram is contiguous and sums to the trials; more throughput never forecasts later and
//!   more items never earlier, for the same seed.
//! * Vectors: `tests/vectors/forecast.json` holds generator outputs, forecasts, errors and parsed
//!   samples that `web-client/test/forecast.test.js` checks against the JavaScript port. The test
//!   fails if the file differs from what this crate computes;
//!   `PLENARY_UPDATE_VECTORS=1 cargo test -p plenary-protocol --test forecast` rewrites it.
//!
//! Failing seeds are saved in `protocol/proptest-regressions/forecast.txt`; commit that file.

use plenary_protocol::forecast::{
    parse_samples, run, Bucket, Forecast, ForecastError, Input, Level, Mulberry32, Throughput,
    CONFIDENCES, MAX_ITEMS, MAX_SAMPLE, MAX_SAMPLES, MAX_SPRINTS, MAX_TRIALS,
};
use proptest::collection::vec;
use proptest::prelude::*;
use serde_json::{json, Value as Json};

mod common;

const FILE: &str = "tests/vectors/forecast.json";

fn config(cases: u32) -> ProptestConfig {
    common::config(cases, "proptest-regressions/forecast.txt")
}

fn samples(s: &[u32], items: u32, sprints: u32, trials: u32, seed: u32) -> Input {
    Input {
        throughput: Throughput::Samples(s.to_vec()),
        items,
        sprints,
        trials,
        seed,
    }
}

fn range(low: u32, high: u32, items: u32, sprints: u32, trials: u32, seed: u32) -> Input {
    Input {
        throughput: Throughput::Range { low, high },
        items,
        sprints,
        trials,
        seed,
    }
}

fn levels(value: u32) -> Vec<Level> {
    CONFIDENCES
        .iter()
        .map(|&confidence| Level { confidence, value })
        .collect()
}

fn values(levels: &[Level]) -> Vec<u32> {
    levels.iter().map(|l| l.value).collect()
}

#[test]
fn a_single_sample_gives_an_exact_forecast() {
    let f = run(&samples(&[5], 20, 3, 500, 9)).unwrap();
    assert_eq!(
        f,
        Forecast {
            seed: 9,
            trials: 500,
            items: 20,
            sprints: 3,
            when: levels(4),
            how_many: levels(15),
            histogram: vec![Bucket {
                sprints: 4,
                trials: 500
            }],
            capped: 0,
        }
    );
    // A partial last sprint still counts as a sprint.
    let f = run(&samples(&[5], 21, 1, 10, 0)).unwrap();
    assert_eq!(values(&f.when), [5; 4]);
    assert_eq!(values(&f.how_many), [5; 4]);
}

#[test]
fn a_one_value_range_is_exact_too() {
    let f = run(&range(3, 3, 10, 4, 100, 1)).unwrap();
    assert_eq!(f.when, levels(4));
    assert_eq!(f.how_many, levels(12));
}

#[test]
fn trials_that_never_finish_are_capped() {
    let f = run(&samples(&[0, 1], MAX_ITEMS, 10, 300, 3)).unwrap();
    assert_eq!(f.capped, 300);
    assert_eq!(f.when, levels(MAX_SPRINTS));
    assert_eq!(
        f.histogram,
        vec![Bucket {
            sprints: MAX_SPRINTS,
            trials: 300
        }]
    );
    // Throughput 0 or 1 with mean 0.2: 35 items take 175 sprints on average, so some trials
    // finish and some are capped.
    let f = run(&samples(&[0, 0, 0, 0, 1], 35, 10, 1_000, 3)).unwrap();
    assert!(f.capped > 50 && f.capped < 400, "capped {}", f.capped);
    assert_eq!(f.histogram.last().unwrap().sprints, MAX_SPRINTS);
}

#[test]
fn forecasts_are_near_the_mean() {
    // Mean throughput 25 / 6: 50 items take about 12 sprints; 10 sprints finish about 42 items.
    let f = run(&samples(&[3, 5, 4, 6, 2, 5], 50, 10, 10_000, 42)).unwrap();
    assert!((11..=13).contains(&f.when[0].value), "{:?}", f.when);
    assert!((40..=43).contains(&f.how_many[0].value), "{:?}", f.how_many);
    assert!(f.when[3].value > f.when[0].value);
    assert!(f.how_many[3].value < f.how_many[0].value);
    // Uniform 0..=4 has mean 2: 200 sprints finish about 400 items.
    let f = run(&range(0, 4, 100, 200, 10_000, 42)).unwrap();
    assert!(
        (395..=405).contains(&f.how_many[0].value),
        "{:?}",
        f.how_many
    );
    assert!((49..=51).contains(&f.when[0].value), "{:?}", f.when);
}

#[test]
fn percentiles_use_the_ceiling_rank() {
    // One trial: every level is that trial's result.
    let f = run(&samples(&[1, 2, 3], 7, 2, 1, 11)).unwrap();
    assert_eq!(f.histogram.len(), 1);
    let when = f.histogram[0].sprints;
    assert_eq!(f.when, levels(when));
    assert_eq!(f.how_many[0].value, f.how_many[3].value);
}

#[test]
fn every_error_is_reported() {
    use ForecastError as E;
    let ok = samples(&[3, 4], 10, 5, 100, 1);
    let with_throughput = |throughput| Input {
        throughput,
        ..ok.clone()
    };
    let cases = [
        (E::NoSamples, samples(&[], 10, 5, 100, 1)),
        (
            E::TooManySamples { count: 51 },
            samples(&[1; 51], 10, 5, 100, 1),
        ),
        (
            E::SampleTooLarge { value: 1_001 },
            samples(&[0, 1_001, 2_000], 10, 5, 100, 1),
        ),
        (E::NothingDone, samples(&[0, 0, 0], 10, 5, 100, 1)),
        (E::BadRange { low: 5, high: 4 }, range(5, 4, 10, 5, 100, 1)),
        (
            E::SampleTooLarge { value: 1_001 },
            range(0, 1_001, 10, 5, 100, 1),
        ),
        (E::NothingDone, range(0, 0, 10, 5, 100, 1)),
        (
            E::Items { items: 0 },
            Input {
                items: 0,
                ..ok.clone()
            },
        ),
        (
            E::Items { items: 10_001 },
            Input {
                items: MAX_ITEMS + 1,
                ..ok.clone()
            },
        ),
        (
            E::Sprints { sprints: 0 },
            Input {
                sprints: 0,
                ..ok.clone()
            },
        ),
        (
            E::Sprints { sprints: 201 },
            Input {
                sprints: MAX_SPRINTS + 1,
                ..ok.clone()
            },
        ),
        (
            E::Trials { trials: 0 },
            Input {
                trials: 0,
                ..ok.clone()
            },
        ),
        (
            E::Trials { trials: 100_001 },
            Input {
                trials: MAX_TRIALS + 1,
                ..ok.clone()
            },
        ),
        // Throughput is checked first, then items, sprints and trials.
        (
            E::NothingDone,
            Input {
                items: 0,
                ..with_throughput(Throughput::Samples(vec![0]))
            },
        ),
        (
            E::Sprints { sprints: 0 },
            Input {
                sprints: 0,
                trials: 0,
                ..ok.clone()
            },
        ),
    ];
    for (want, input) in cases {
        assert_eq!(run(&input), Err(want), "{input:?}");
    }
    // The limits themselves are accepted.
    let mut edge = samples(&[MAX_SAMPLE; MAX_SAMPLES], MAX_ITEMS, MAX_SPRINTS, 10, 0);
    run(&edge).unwrap();
    edge.throughput = Throughput::Range {
        low: MAX_SAMPLE,
        high: MAX_SAMPLE,
    };
    assert_eq!(
        run(&edge).unwrap().how_many,
        levels(MAX_SPRINTS * MAX_SAMPLE)
    );
    run(&samples(&[0, 1], 1, 1, MAX_TRIALS, 0)).unwrap();
    // Messages say what to fix.
    assert_eq!(
        ForecastError::Items { items: 0 }.to_string(),
        "items must be from 1 to 10000, not 0"
    );
    assert_eq!(
        ForecastError::NothingDone.to_string(),
        "every throughput is 0, so nothing would ever be done"
    );
}

#[test]
fn parse_samples_reads_what_people_type() {
    assert_eq!(parse_samples("3, 5 4,6"), Ok(vec![3, 5, 4, 6]));
    assert_eq!(parse_samples(""), Ok(vec![]));
    assert_eq!(parse_samples(" ,\n "), Ok(vec![]));
    assert_eq!(parse_samples("0,,1000\t007"), Ok(vec![0, 1_000, 7]));
    assert_eq!(
        parse_samples("2\u{a0}3\u{feff}4\u{85}5"),
        Ok(vec![2, 3, 4, 5])
    );
    let bad = |text: &str, token: &str| {
        assert_eq!(
            parse_samples(text),
            Err(ForecastError::BadSample {
                token: token.into()
            }),
            "{text:?}"
        );
    };
    bad("3,x", "x");
    bad("-1", "-1");
    bad("1001", "1001");
    bad("+3", "+3");
    bad("3.5", "3.5");
    bad("99999999999", "99999999999");
    bad("4;5", "4;5");
    assert_eq!(
        parse_samples("3,x").unwrap_err().to_string(),
        "\"x\" is not a whole number from 0 to 1000"
    );
    let many = vec!["1"; MAX_SAMPLES + 1].join(" ");
    assert_eq!(
        parse_samples(&many),
        Err(ForecastError::TooManySamples { count: 51 })
    );
    assert_eq!(parse_samples(&many[2..]).map(|s| s.len()), Ok(MAX_SAMPLES));
}

#[test]
fn mulberry32_matches_the_reference() {
    // The reference JavaScript implementation's first outputs for seed 0 (also in the vectors).
    let mut g = Mulberry32::new(0);
    let first: Vec<u32> = (0..3).map(|_| g.next_u32()).collect();
    assert_eq!(first, [1_144_304_738, 1_416_247, 958_946_056]);
}

fn throughput() -> impl Strategy<Value = Throughput> {
    prop_oneof![
        vec(0u32..=20, 1..8)
            .prop_filter("something is done", |s| s.iter().any(|x| *x > 0))
            .prop_map(Throughput::Samples),
        (0u32..=10, 0u32..=10).prop_filter_map("something is done", |(low, width)| {
            (low + width > 0).then_some(Throughput::Range {
                low,
                high: low + width,
            })
        }),
    ]
}

fn input() -> impl Strategy<Value = Input> {
    (
        throughput(),
        1u32..=300,
        1u32..=30,
        1u32..=300,
        any::<u32>(),
    )
        .prop_map(|(throughput, items, sprints, trials, seed)| Input {
            throughput,
            items,
            sprints,
            trials,
            seed,
        })
}

fn faster(throughput: &Throughput, d: u32) -> Throughput {
    match throughput {
        Throughput::Samples(s) => Throughput::Samples(s.iter().map(|x| x + d).collect()),
        Throughput::Range { low, high } => Throughput::Range {
            low: low + d,
            high: high + d,
        },
    }
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn forecasts_are_deterministic_and_well_formed(input in input()) {
        let f = run(&input).unwrap();
        prop_assert_eq!(&f, &run(&input).unwrap());
        let when = values(&f.when);
        let how_many = values(&f.how_many);
        prop_assert!(when.windows(2).all(|w| w[0] <= w[1]), "{:?}", when);
        prop_assert!(how_many.windows(2).all(|w| w[0] >= w[1]), "{:?}", how_many);
        let confidences: Vec<u32> = f.when.iter().map(|l| l.confidence).collect();
        prop_assert_eq!(confidences, CONFIDENCES);
        prop_assert_eq!(f.histogram.iter().map(|b| b.trials).sum::<u32>(), input.trials);
        prop_assert!(f.histogram.windows(2).all(|w| w[1].sprints == w[0].sprints + 1));
        let first = f.histogram.first().unwrap();
        let last = f.histogram.last().unwrap();
        prop_assert!(first.trials > 0 && last.trials > 0);
        prop_assert!(when.iter().all(|w| (first.sprints..=last.sprints).contains(w)));
        prop_assert!(last.sprints <= MAX_SPRINTS);
        let at_cap = if last.sprints == MAX_SPRINTS { last.trials } else { 0 };
        prop_assert!(f.capped <= at_cap);
    }

    #[test]
    fn more_throughput_never_forecasts_later(input in input(), d in 0u32..5) {
        let base = run(&input).unwrap();
        let more = run(&Input { throughput: faster(&input.throughput, d), ..input.clone() }).unwrap();
        for (b, m) in base.when.iter().zip(&more.when) {
            prop_assert!(m.value <= b.value, "when {:?} -> {:?}", base.when, more.when);
        }
        for (b, m) in base.how_many.iter().zip(&more.how_many) {
            prop_assert!(m.value >= b.value, "how many {:?} -> {:?}", base.how_many, more.how_many);
        }
        prop_assert!(more.capped <= base.capped);
    }

    #[test]
    fn more_items_never_forecast_earlier(input in input(), extra in 0u32..100) {
        let base = run(&input).unwrap();
        let more = run(&Input { items: input.items + extra, ..input.clone() }).unwrap();
        for (b, m) in base.when.iter().zip(&more.when) {
            prop_assert!(m.value >= b.value, "when {:?} -> {:?}", base.when, more.when);
        }
        prop_assert_eq!(more.how_many, base.how_many);
        prop_assert!(more.capped >= base.capped);
    }

    #[test]
    fn more_sprints_never_finish_fewer_items(input in input(), extra in 0u32..10) {
        let base = run(&input).unwrap();
        let more = run(&Input { sprints: input.sprints + extra, ..input.clone() }).unwrap();
        for (b, m) in base.how_many.iter().zip(&more.how_many) {
            prop_assert!(m.value >= b.value, "how many {:?} -> {:?}", base.how_many, more.how_many);
        }
        prop_assert_eq!(more.when, base.when);
    }

    #[test]
    fn parse_samples_reads_back_what_it_is_given(
        s in vec(0u32..=MAX_SAMPLE, 0..=MAX_SAMPLES),
        seps in vec(prop_oneof![Just(","), Just(" "), Just(", "), Just("\n"), Just(" ,\t")], MAX_SAMPLES),
    ) {
        let text: String = s.iter().zip(&seps).map(|(x, sep)| format!("{x}{sep}")).collect();
        prop_assert_eq!(parse_samples(&text), Ok(s));
    }
}

/// Forecasts in the vectors: samples and ranges, zeros among the samples, partly and fully
/// capped trials, large throughputs, extreme seeds and the benchmark's input.
fn forecast_cases() -> Vec<(&'static str, Input)> {
    vec![
        ("one_sample", samples(&[5], 20, 3, 10, 9)),
        ("samples", samples(&[3, 5, 4, 6, 2, 5], 20, 5, 100, 1)),
        (
            "samples_10k_trials_50_items",
            samples(&[3, 5, 4, 6, 2, 5], 50, 10, 10_000, 42),
        ),
        (
            "zeros_among_samples",
            samples(&[0, 0, 1, 9, 2], 40, 8, 2_000, 123),
        ),
        ("range", range(2, 8, 30, 6, 1_000, 7)),
        ("range_from_zero", range(0, 3, 25, 12, 500, 0xDEAD_BEEF)),
        ("range_wide", range(0, 1_000, 5_000, 3, 300, u32::MAX)),
        ("partly_capped", samples(&[0, 0, 0, 0, 1], 35, 10, 1_000, 3)),
        ("capped", samples(&[0, 1], 10_000, 200, 50, 5)),
        (
            "large_throughput",
            samples(&[1_000, 0, 999], 10_000, 200, 300, 77),
        ),
    ]
}

/// Inputs that fail, one per check and in the checks' order.
fn error_cases() -> Vec<Input> {
    vec![
        samples(&[], 10, 5, 100, 1),
        samples(&[1; 51], 10, 5, 100, 1),
        samples(&[0, 1_001, 2_000], 10, 5, 100, 1),
        samples(&[0, 0], 10, 5, 100, 1),
        range(5, 4, 10, 5, 100, 1),
        range(0, 1_001, 10, 5, 100, 1),
        range(0, 0, 10, 5, 100, 1),
        samples(&[0, 0], 0, 0, 0, 1),
        samples(&[3], 0, 5, 100, 1),
        samples(&[3], 10_001, 5, 100, 1),
        range(1, 2, 10, 0, 100, 1),
        range(1, 2, 10, 201, 100, 1),
        samples(&[3], 10, 201, 0, 1),
        samples(&[3], 10, 5, 0, 1),
        samples(&[3], 10, 5, 100_001, 1),
    ]
}

/// Typed samples: separators, leading zeros, Unicode spaces, and each kind of bad token.
fn parse_cases() -> Vec<String> {
    let mut texts: Vec<String> = [
        "",
        "  , \n",
        "3, 5 4,6",
        "3,,4",
        " 7\t8\r\n9 ",
        "0,007,1000",
        "2\u{a0}3\u{feff}4\u{85}5\u{2028}6\u{3000}7",
        "3,x",
        "-1",
        "1001",
        "+3",
        "3.5",
        "1e2",
        "99999999999",
        "\u{ff11}",
        "4;5",
        "5 x 1001",
    ]
    .map(str::to_owned)
    .into();
    texts.push(vec!["1"; 50].join(","));
    texts.push(vec!["2"; 51].join(" "));
    texts
}

fn compute() -> Json {
    let prng: Vec<Json> = [0u32, 1, 42, 0xDEAD_BEEF]
        .iter()
        .map(|&seed| {
            let mut g = Mulberry32::new(seed);
            let values: Vec<u32> = (0..5).map(|_| g.next_u32()).collect();
            json!({ "seed": seed, "values": values })
        })
        .collect();
    let forecasts: Vec<Json> = forecast_cases()
        .into_iter()
        .map(|(name, input)| {
            let output = run(&input).unwrap_or_else(|e| panic!("{name}: {e}"));
            json!({ "name": name, "input": input, "output": output })
        })
        .collect();
    let errors: Vec<Json> = error_cases()
        .into_iter()
        .map(|input| {
            let error = run(&input).expect_err("a bad input").to_string();
            json!({ "input": input, "error": error })
        })
        .collect();
    let parse: Vec<Json> = parse_cases()
        .into_iter()
        .map(|text| match parse_samples(&text) {
            Ok(samples) => json!({ "text": text, "samples": samples }),
            Err(e) => json!({ "text": text, "error": e.to_string() }),
        })
        .collect();
    json!({
        "prng": prng,
        "forecasts": forecasts,
        "errors": errors,
        "parse": parse,
    })
}

#[test]
fn vectors_match_the_committed_file() {
    common::check_vectors(FILE, &compute());
}

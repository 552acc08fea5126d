//! The cost of one Monte Carlo forecast as the workshop runs it when someone edits the inputs.
//!
//! Run: `cargo bench -p plenary-protocol --bench forecast -- --quick`

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput as Elements};
use plenary_protocol::forecast::{run, Input, Throughput, DEFAULT_TRIALS};

/// A typical backlog: 50 items, six past sprints, a release 10 sprints away.
fn input(throughput: Throughput) -> Input {
    Input {
        throughput,
        items: 50,
        sprints: 10,
        trials: DEFAULT_TRIALS,
        seed: 42,
    }
}

fn bench_forecast(c: &mut Criterion) {
    let mut group = c.benchmark_group("forecast");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Elements::Elements(u64::from(DEFAULT_TRIALS)));
    let cases = [
        (
            "forecast_10k_trials_50_items",
            input(Throughput::Samples(vec![3, 5, 4, 6, 2, 5])),
        ),
        (
            "forecast_10k_trials_50_items_range",
            input(Throughput::Range { low: 2, high: 6 }),
        ),
    ];
    for (name, input) in &cases {
        group.bench_function(*name, |b| b.iter(|| run(black_box(input)).unwrap()));
    }
    group.finish();
}

criterion_group!(benches, bench_forecast);
criterion_main!(benches);

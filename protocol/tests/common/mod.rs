//! Helpers shared by the property tests.

use proptest::test_runner::{Config as ProptestConfig, FileFailurePersistence};

/// A proptest configuration with `cases` cases (or `PROPTEST_CASES`), persisting failing seeds
/// in `proptest-regressions/<file>`. Proptest's default, `SourceParallel("proptest-regressions")`,
/// looks for a `lib.rs` above the test file and, finding none for `tests/*.rs`, falls back to a
/// file beside the test. Cargo runs tests from the package root.
pub fn config(cases: u32, file: &'static str) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(cases);
    ProptestConfig {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(file))),
        ..ProptestConfig::default()
    }
}

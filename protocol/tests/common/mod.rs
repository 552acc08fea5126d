//! Helpers shared by the property tests.

use proptest::test_runner::{Config as ProptestConfig, FileFailurePersistence};

/// A proptest configuration with `cases` cases (or `PROPTEST_CASES`), persisting failing seeds
/// in `proptest-regressions/<file>`. Proptest's default, `SourceParallel("proptest-regressions")`,
/// looks for a `lib.rs` above the test file and, finding none for `tests/*.rs`, falls back to a
/// file beside the test. Cargo runs tests from the package root.
#[allow(dead_code)]
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

/// Checks test vectors shared with the web client: `computed` must equal the JSON in `file`
/// (relative to the crate); with `PLENARY_UPDATE_VECTORS=1` the file is rewritten first, after an
/// intended change. (Each test binary uses part of this module, hence the `allow`s.)
#[allow(dead_code)]
pub fn check_vectors(file: &str, computed: &serde_json::Value) {
    let text = serde_json::to_string_pretty(computed).expect("vectors serialize") + "\n";
    if std::env::var_os("PLENARY_UPDATE_VECTORS").is_some() {
        std::fs::create_dir_all("tests/vectors").expect("tests/vectors");
        std::fs::write(file, &text).expect("vectors written");
    }
    let committed = std::fs::read_to_string(file).expect("run with PLENARY_UPDATE_VECTORS=1 once");
    let committed: serde_json::Value = serde_json::from_str(&committed).expect("vectors are JSON");
    assert_eq!(
        &committed, computed,
        "{file} is stale: rerun with PLENARY_UPDATE_VECTORS=1 if the change is intended"
    );
}

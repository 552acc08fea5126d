#!/usr/bin/env bash
# Runs every fuzz target for SECS seconds (default 20) from its committed seeds, so that the test
# command catches a regression the fuzzers already know how to reach. Any crash fails the run and
# leaves the input in fuzz/artifacts/<target>/ (turn it into a regression test: fuzz/README.md).
#
# Usage: fuzz/smoke.sh [SECS] [TARGET...]
# Needs cargo-fuzz (cargo install cargo-fuzz --locked). Uses the nightly toolchain when there is
# one, else the stable one with RUSTC_BOOTSTRAP=1 (cargo-fuzz passes -Z flags).
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-20}
shift || true
if rustup run nightly rustc --version >/dev/null 2>&1; then
  toolchain=(+nightly)
else
  toolchain=()
  export RUSTC_BOOTSTRAP=1
fi
# No sanitizer: the protocol crate has no unsafe code, so what there is to find is a panic, an
# overflow (debug assertions are on) or an abort, and the search runs several times faster.
cargo "${toolchain[@]}" fuzz build -s none
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo "${toolchain[@]}" fuzz list)
  if [ ${#targets[@]} -eq 0 ]; then
    echo "cargo fuzz list found no target" >&2
    exit 1
  fi
fi
for target in "${targets[@]}"; do
  work=$(mktemp -d)
  mkdir -p "seeds/$target"
  if ! cargo "${toolchain[@]}" fuzz run -s none "$target" "$work" "seeds/$target" -- \
      -max_total_time="$secs" -print_final_stats=1 >"$work.log" 2>&1; then
    grep -E "panicked|SUMMARY|Test unit written" "$work.log" >&2 || tail -40 "$work.log" >&2
    echo "fuzz target $target failed: see fuzz/artifacts/$target/" >&2
    exit 1
  fi
  runs=$(grep -E "^stat::number_of_executed_units" "$work.log" | awk '{print $2}' || true)
  echo "$target: ${runs:-?} inputs in ${secs} s, no failure"
  rm -rf "$work" "$work.log"
done

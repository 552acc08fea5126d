#!/usr/bin/env bash
# Runs every check and test of Plenary: formatting, lints, dependency checks (cargo-deny), unit,
# property, integration, multi-node (real redis-server), a bounded run of every fuzz target
# (cargo-fuzz), the web client's unit tests and the end-to-end tests in a real browser
# (Debian's Chromium driven by playwright-core). Installs what a fresh Debian machine lacks
# first (as root via apt-get, npm, pip and cargo install; otherwise it names what to install).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v cargo >/dev/null || { echo "cargo is required: install Rust from rustup.rs" >&2; exit 1; }
command -v cc >/dev/null || need+=(gcc)
command -v c++ >/dev/null || need+=(g++)
command -v redis-server >/dev/null || need+=(redis-server)
command -v redis-cli >/dev/null || need+=(redis-tools)
command -v node >/dev/null || need+=(nodejs)
command -v npm >/dev/null || need+=(npm)
[ -x /usr/bin/chromium ] || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "==> installing ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "missing: ${need[*]}; install them (Debian: sudo apt-get install ${need[*]}) and rerun" >&2
    exit 1
  fi
fi
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "Node.js 20 or newer is needed for the browser tests (found $(node --version))" >&2
  exit 1
fi
rustup component list --installed 2>/dev/null | grep -q rustfmt || rustup component add rustfmt clippy >/dev/null 2>&1 || true
echo "==> npm ci (tests/e2e: playwright-core, no browser download)"
(cd tests/e2e && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --silent)

echo "==> cargo fmt --check"
cargo fmt --all -- --check
cargo fmt --manifest-path fuzz/Cargo.toml -- --check
echo "==> cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
cargo clippy --manifest-path fuzz/Cargo.toml --all-targets -- -D warnings
echo "==> dependency checks (tests/deps.sh: cargo-deny with deny.toml, advisories, npm audit)"
bash tests/deps.sh
echo "==> cargo test"
cargo test --workspace
echo "==> fuzzing: every target for 20 s from its seeds (fuzz/README.md)"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --quiet
bash fuzz/smoke.sh 20
echo "==> web client unit tests"
node --test web-client/test/
echo "==> end-to-end tests in Chromium"
cargo build -q -p plenary-server --bin plenary
PLENARY_BIN="$PWD/target/debug/plenary" node --test tests/e2e/

#!/usr/bin/env bash
# Dependency checks (docs/SECURITY.md, "Dependencies"):
# - cargo-deny against deny.toml: licenses, duplicate versions, wildcard requirements, sources.
#   These need nothing but the crates cargo already fetched, and fail the run on any finding.
# - RustSec advisories (cargo-deny) and npm audit of the test dependencies: both need a database
#   on the network (github.com for RustSec, the npm registry's audit endpoint). Where it answers,
#   a finding fails the run; where it cannot be reached, this says so plainly and goes on, since
#   the other checks are no less true for it.
# Installs cargo-deny if it is missing, from source with its own lockfile (cargo install --locked).
set -euo pipefail
cd "$(dirname "$0")/.."
DENY_VERSION=0.20.2

if ! cargo deny --version 2>/dev/null | grep -q " $DENY_VERSION"; then
  echo "installing cargo-deny $DENY_VERSION (cargo install --locked)"
  cargo install cargo-deny --version "$DENY_VERSION" --locked --quiet
fi

echo "cargo deny: licenses, bans (duplicate versions, wildcards), sources"
cargo deny --log-level error check licenses bans sources

echo "cargo deny: advisories (RustSec)"
status=0
out=$(timeout 180 cargo deny --log-level error check advisories 2>&1) || status=$?
if [ $status -eq 0 ]; then
  echo "advisories: no known vulnerability, unsound or yanked crate"
elif grep -qiE "fetch|resolve|network|connect|timed out|advisory database" <<< "$out" \
  && ! grep -q "error\[vulnerability\]\|error\[unsound\]\|error\[yanked\]\|error\[unmaintained\]" <<< "$out"; then
  echo "advisories: NOT CHECKED: the RustSec database could not be fetched from this machine"
  echo "$out" | head -3 | sed 's/^/  /'
else
  echo "$out"
  exit 1
fi

echo "npm audit: tests/e2e (the web client itself has no npm dependency)"
status=0
out=$(cd tests/e2e && timeout 120 npm audit --audit-level=low 2>&1) || status=$?
if [ $status -eq 0 ]; then
  echo "npm audit: $(tail -1 <<< "$out")"
elif ! grep -qiE "severity:|found [1-9][0-9]* vulnerabilit" <<< "$out" \
  && grep -qE "audit endpoint returned an error|E405|ENOTFOUND|ECONNREFUSED|ETIMEDOUT|EAI_AGAIN" <<< "$out"; then
  echo "npm audit: NOT CHECKED: the registry's audit endpoint did not answer"
  grep -iE "^npm (warn|error)" <<< "$out" | head -2 | sed 's/^/  /'
else
  echo "$out"
  exit 1
fi

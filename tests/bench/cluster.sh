#!/usr/bin/env bash
# The workshop load (200 rooms x 5 attendees, 2 ops/s each) on two nodes sharing one Redis
# (appendonly yes, appendfsync everysec), once per Plenary build given, alternating, so that
# builds are compared in one run on the same machine. Prints loadgen's JSON and the CPU seconds
# that both nodes and Redis used during the load.
# Usage: tests/bench/cluster.sh DURATION_S ROUNDS BIN_DIR [BIN_DIR...]
# (a BIN_DIR holds `plenary`; loadgen comes from this checkout's release build).
set -euo pipefail
cd "$(dirname "$0")/../.."
duration=${1:-60}
rounds=${2:-1}
shift 2
cargo build --release -q -p plenary-tests --bin loadgen
loadgen=target/release/loadgen
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
source tests/bench/common.sh

# cpu PID...: the user + system CPU seconds the processes used so far.
cpu() {
  local hz total=0 t
  hz=$(getconf CLK_TCK)
  for p in "$@"; do
    t=$(awk '{print $14 + $15}' "/proc/$p/stat")
    total=$((total + t))
  done
  python3 -c "print(round($total / $hz, 2))"
}

echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cores, $(uname -r)"
for round in $(seq 1 "$rounds"); do
  i=0
  for bin in "$@"; do
    i=$((i + 1))
    tag=b$i-$round
    rport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    mkdir -p "$work/redis-$tag"
    redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly yes --appendfsync everysec \
      --dir "$work/redis-$tag" > "$work/redis-$tag.log" 2>&1 &
    RPID=$!
    sleep 0.5
    start "n1-$tag" plenary "n1-$tag" --redis-url "redis://127.0.0.1:$rport" --node-id n1
    N1=$PID; U1=$URL
    start "n2-$tag" plenary "n2-$tag" --redis-url "redis://127.0.0.1:$rport" --node-id n2
    N2=$PID; U2=$URL
    before=$(cpu "$N1" "$N2" "$RPID")
    echo "## $bin (round $round)"
    "$loadgen" workshop --url "$U1,$U2" --rooms 200 --per-room 5 --rate 2 --duration "$duration" \
      --server-pid "$N1" --json
    after=$(cpu "$N1" "$N2" "$RPID")
    # (includes connecting the 1,000 clients, the same for every build)
    python3 -c "print('cpu of both nodes and redis: %.1f %% of one core' % (($after - $before) * 100 / $duration))"
    kill "$N1" "$N2" "$RPID"; wait "$N1" "$N2" "$RPID" 2>/dev/null || true
  done
done

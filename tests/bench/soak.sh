#!/usr/bin/env bash
# The soak run of docs/BENCHMARKS.md: the workshop load (200 rooms x 5 attendees at 2 ops/s)
# without pause for MINUTES against a release build, on one node (embedded SQLite store) and on
# two nodes sharing a Redis (appendonly, everysec). Every minute it samples each node's RSS, open
# file descriptors and threads, its data directory (plenary.db, -wal), and Redis's memory and key
# count; the load generator reports each minute's op-to-peer p99, losses, duplicates and errors.
# Then tests/bench/soak_plot.py draws the plot and prints the table.
#
# Usage: tests/bench/soak.sh [MINUTES] [CONFIGS]   (defaults: 60 "one two")
# SOAK_ROOMS (200) and SOAK_RATE (2 ops/s per attendee) change the load; SOAK_WRAP prefixes the
# server command, e.g. SOAK_WRAP="env _RJEM_MALLOC_CONF=stats_print:true" for jemalloc's
# statistics at exit. A heap profile needs Debian's libjemalloc2 (which has profiling) in place
# of the built-in allocator: SOAK_BUILD_ARGS=--no-default-features builds the server without it,
# and SOAK_WRAP="env LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2
# MALLOC_CONF=prof:true,lg_prof_interval:31,prof_prefix:/tmp/jeprof/node"; read with `jeprof`.
# Output: target/soak/<config>-{load,samples}.jsonl, target/soak/soak.svg (SOAK_OUT to move it).
# Run it with nothing else on the machine: the load generator shares the cores with the server.
set -euo pipefail
cd "$(dirname "$0")/../.."
minutes=${1:-60}
configs=${2:-one two}
out=${SOAK_OUT:-target/soak}
rooms=${SOAK_ROOMS:-200}
rate=${SOAK_RATE:-2}
cargo build --release -q -p plenary-server -p plenary-tests --bins ${SOAK_BUILD_ARGS:-}
bin=target/release
mkdir -p "$out"
work=$(mktemp -d)
# On the way out, keep the servers' and Redis's logs beside the results: a soak is run to find
# what breaks after a while.
trap 'kill $(jobs -p) 2>/dev/null || true; cp "$work"/*.log "$out"/ 2>/dev/null || true; rm -rf "$work"' EXIT

source tests/bench/common.sh
size() { stat -c %s "$1" 2>/dev/null || echo 0; }

# sample T NAME:PID:DIR... : one JSON line of what every node and Redis hold now.
sample() {
  local t=$1; shift
  local nodes=() spec name pid dir rss fds threads
  for spec in "$@"; do
    IFS=: read -r name pid dir <<< "$spec"
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
    threads=$(awk '/^Threads:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
    fds=$(ls "/proc/$pid/fd" 2>/dev/null | wc -l)
    nodes+=("{\"node\":\"$name\",\"rss_kib\":${rss:-0},\"fds\":$fds,\"threads\":${threads:-0},\"db_bytes\":$(size "$dir/plenary.db"),\"wal_bytes\":$(size "$dir/plenary.db-wal")}")
  done
  local redis=null
  if [ -n "${RPORT:-}" ]; then
    local info used keys
    info=$(redis-cli -p "$RPORT" info memory 2>/dev/null || true)
    used=$(echo "$info" | awk -F: '/^used_memory:/ {print $2}' | tr -d '\r')
    keys=$(redis-cli -p "$RPORT" dbsize 2>/dev/null | tr -d '\r' || true)
    redis="{\"used_memory\":${used:-null},\"keys\":${keys:-null},\"aof_bytes\":$(du -sb "$work/redis" | cut -f1)}"
  fi
  local joined
  joined=$(IFS=,; echo "${nodes[*]}")
  echo "{\"t\":$t,\"nodes\":[$joined],\"redis\":$redis}"
}

# soak CONFIG URLS NAME:PID:DIR...: the load for $minutes with a sample every minute.
soak() {
  local config=$1 urls=$2; shift 2
  local first_pid
  first_pid=$(echo "$1" | cut -d: -f2)
  : > "$out/$config-samples.jsonl"
  local began=$SECONDS
  sample 0 "$@" >> "$out/$config-samples.jsonl"
  $bin/loadgen soak --url "$urls" --rooms "$rooms" --per-room 5 --rate "$rate" \
    --duration $((minutes * 60)) --window 60 --server-pid "$first_pid" --json \
    > "$out/$config-load.jsonl" &
  local lg=$!
  while kill -0 $lg 2>/dev/null; do
    # Sample on the minute, without drifting by the time a sample takes.
    local next=$(( (SECONDS - began) / 60 * 60 + 60 ))
    while [ $((SECONDS - began)) -lt $next ] && kill -0 $lg 2>/dev/null; do sleep 1; done
    kill -0 $lg 2>/dev/null && sample $((SECONDS - began)) "$@" >> "$out/$config-samples.jsonl"
  done
  local rc=0
  wait $lg || rc=$?
  sample $((SECONDS - began)) "$@" >> "$out/$config-samples.jsonl"
  tail -1 "$out/$config-load.jsonl"
  return $rc
}

echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cores, $(uname -r); $minutes min, $rooms rooms x 5 at $rate ops/s"
status=0
for config in $configs; do
  case $config in
    one)
      echo "## one node, embedded SQLite store"
      start n1 plenary one
      soak one "$URL" "n1:$PID:$work/data-one" || status=1
      kill $PID 2>/dev/null || echo "node n1 had stopped by itself (see $out/n1.log)"
      wait $PID 2>/dev/null || true
      ;;
    two)
      echo "## two nodes sharing one Redis (appendonly yes, appendfsync everysec)"
      RPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
      mkdir -p "$work/redis"
      redis-server --port "$RPORT" --bind 127.0.0.1 --save "" --appendonly yes \
        --appendfsync everysec --dir "$work/redis" > "$work/redis.log" 2>&1 &
      rpid=$!
      for _ in $(seq 1 50); do redis-cli -p "$RPORT" ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
      start a plenary two-a --redis-url "redis://127.0.0.1:$RPORT" --node-id a
      pa=$PID; ua=$URL
      start b plenary two-b --redis-url "redis://127.0.0.1:$RPORT" --node-id b
      pb=$PID; ub=$URL
      soak two "$ua,$ub" "a:$pa:$work/data-two-a" "b:$pb:$work/data-two-b" || status=1
      kill $pa $pb 2>/dev/null || echo "a node had stopped by itself (see $out/a.log, $out/b.log)"
      wait $pa $pb 2>/dev/null || true
      kill $rpid 2>/dev/null || echo "redis had stopped by itself (see $out/redis.log)"
      wait $rpid 2>/dev/null || true
      unset RPORT
      ;;
    *) echo "unknown config $config (one, two)"; exit 2 ;;
  esac
done
python3 tests/bench/soak_plot.py "$out" $configs
exit $status

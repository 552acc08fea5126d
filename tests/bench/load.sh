#!/usr/bin/env bash
# Reproduces the load figures of docs/BENCHMARKS.md: the workshop load, stepup and idle modes
# against a release build of Plenary (embedded store on, as a user runs it), each beside the
# measuring-stick relay. Usage: tests/bench/load.sh [DURATION_S] [STEP_S] [IDLE_CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/../.."
duration=${1:-60}
step=${2:-10}
idle=${3:-10000}
cargo build --release -q -p plenary-server -p plenary-tests --bins
bin=target/release
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

source tests/bench/common.sh

echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cores, $(uname -r)"
echo "## workshop: 200 rooms x 5 attendees at 2 ops/s for ${duration}s"
start plenary1 plenary w1
$bin/loadgen workshop --url "$URL" --rooms 200 --per-room 5 --rate 2 --duration "$duration" --server-pid "$PID" --json | tee "$work/w1.json"
kill $PID; wait $PID 2>/dev/null || true
start relay1 $bin/relay
$bin/loadgen workshop --target relay --url "$URL" --rooms 200 --per-room 5 --rate 2 --duration "$duration" --server-pid "$PID" --json
kill $PID; wait $PID 2>/dev/null || true

echo "## workshop on two nodes sharing one Redis (appendonly yes, appendfsync everysec)"
rport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly yes --appendfsync everysec --dir "$work" > "$work/redis.log" 2>&1 &
RPID=$!
sleep 0.5
start node1 plenary n1 --redis-url "redis://127.0.0.1:$rport" --node-id n1
N1=$PID; U1=$URL
start node2 plenary n2 --redis-url "redis://127.0.0.1:$rport" --node-id n2
N2=$PID; U2=$URL
$bin/loadgen workshop --url "$U1,$U2" --rooms 200 --per-room 5 --rate 2 --duration "$duration" --server-pid "$N1" --json
kill $N1 $N2 $RPID; wait $N1 $N2 $RPID 2>/dev/null || true

echo "## stepup: 200 rooms x 5, from 2 ops/s per attendee, ${step}s per step"
start plenary2 plenary s1
$bin/loadgen stepup --url "$URL" --rooms 200 --per-room 5 --rate 2 --duration "$step" --server-pid "$PID" --json
kill $PID; wait $PID 2>/dev/null || true
start relay2 $bin/relay
$bin/loadgen stepup --target relay --url "$URL" --rooms 200 --per-room 5 --rate 2 --duration "$step" --server-pid "$PID" --json
kill $PID; wait $PID 2>/dev/null || true

echo "## idle: $idle connections, WebSocket buffers at the library default (128 KiB)"
start plenary3 plenary i1 --ws-read-buffer 131072 --ws-write-buffer 131072
$bin/loadgen idle --url "$URL" --connections "$idle" --server-pid "$PID" --json
kill $PID; wait $PID 2>/dev/null || true
echo "## idle: $idle connections, Plenary's defaults (1 KiB buffers)"
start plenary4 plenary i2
$bin/loadgen idle --url "$URL" --connections "$idle" --server-pid "$PID" --json
kill $PID; wait $PID 2>/dev/null || true

# Shared by tests/bench/load.sh and tests/bench/soak.sh (sourced, not run). Both set $work (a
# scratch dir for logs and data dirs) and $bin (the release build's directory) before calling.

# start NAME CMD...: runs CMD in the background with its output in $work/NAME.log, waits for
# its "addr=" line, and sets URL and PID; stops the script if it never listens.
start() {
  local name=$1; shift
  "$@" > "$work/$name.log" 2>&1 &
  PID=$!
  local addr=
  for _ in $(seq 1 100); do
    addr=$(grep -o 'addr=[0-9.:]*' "$work/$name.log" | head -1 | cut -d= -f2 || true)
    [ -n "$addr" ] && break
    sleep 0.1
  done
  [ -n "$addr" ] || { echo "$name did not start:"; cat "$work/$name.log"; exit 1; }
  URL="http://$addr"
}

# plenary NAME ARGS...: the server on a free port with its data in $work/data-NAME, run under
# $SOAK_WRAP when set (a command prefix such as `env LD_PRELOAD=...`).
plenary() {
  NO_COLOR=1 RUST_LOG=warn,plenary_server=info \
    exec ${SOAK_WRAP:-} "$bin/plenary" --bind 127.0.0.1:0 --data-dir "$work/data-$1" "${@:2}"
}

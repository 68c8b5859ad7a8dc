# Shell functions shared by hack/cluster.sh and hack/real-node.sh: processes
# started in their own session, logged to $dir/logs/NAME.log, their pid kept in
# $dir/pids/NAME.pid, and stopped by that pid only. The sourcing script sets
# $dir and defines log().

# start NAME CMD... -> runs CMD in its own session
start() {
  local name=$1; shift
  setsid "$@" >"$dir/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$dir/pids/$name.pid"
}

alive() { [ -f "$dir/pids/$1.pid" ] && kill -0 "$(cat "$dir/pids/$1.pid")" 2>/dev/null; }

# stop_pids PID... -> TERM, then KILL after 10 s
stop_pids() {
  local p deadline=$((SECONDS + 10))
  for p in "$@"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "$@"; do
    while kill -0 "$p" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
  done
}

# stop_named NAME... -> stops the recorded processes and forgets them
stop_named() {
  local name pids=()
  for name in "$@"; do alive "$name" && pids+=("$(cat "$dir/pids/$name.pid")"); done
  [ ${#pids[@]} -eq 0 ] || stop_pids "${pids[@]}"
  for name in "$@"; do rm -f "$dir/pids/$name.pid"; done
}

# wait_for DESCRIPTION SECONDS CMD... -> polls CMD until it succeeds; on time-out
# prints the last lines of the logs named in $wait_logs (default: all)
wait_for() {
  local what=$1 secs=$2; shift 2
  local deadline=$((SECONDS + secs)) f
  until "$@" >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ]; then
      log "timed out waiting for $what; last log lines:"
      for f in ${wait_logs:-$(cd "$dir/logs" && ls)}; do
        f=${f%.log}
        [ -f "$dir/logs/$f.log" ] && { echo "--- $f" >&2; tail -n 15 "$dir/logs/$f.log" >&2; }
      done
      return 1
    fi
    sleep 0.2
  done
}

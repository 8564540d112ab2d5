# Shared by bench/cpu.sh and bench/latency.sh (sourced, not run): pinning, starting and stopping
# one server at a time, and reading LoadGen's JSON lines. The caller sets port, health_port,
# server_cpu, loadgen_cpu, java, jar (the samples server, target/callout-server.jar) and bench_jar
# (FloorServer and LoadGen, target/callout-bench.jar); server_pid holds the running server's
# process id.
# shellcheck shell=bash disable=SC2154  # port, health_port, java, jar, bench_jar: set by the caller

script_name=$(basename "$0")

# Pinning needs taskset and two cores; without them the run still works, unpinned.
pin_server=() pin_loadgen=()
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
  pin_server=(taskset -c "$server_cpu")
  pin_loadgen=(taskset -c "$loadgen_cpu")
else
  echo "$script_name: no taskset or fewer than 2 cores: running unpinned" >&2
fi

server_pid=""
stop_server() {
  [ -n "$server_pid" ] || return 0
  kill -TERM "$server_pid" 2>/dev/null || true
  for _ in $(seq 100); do
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
}
trap stop_server EXIT
trap 'exit 130' INT TERM

# Waits up to 60 s for the TCP port (and, when given, HTTP 200 from the health URL).
await_server() {
  local log=$1 health=${2:-}
  for _ in $(seq 600); do
    kill -0 "$server_pid" 2>/dev/null || { echo "$script_name: the server exited:" >&2; cat "$log" >&2; exit 1; }
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      if [ -z "$health" ] || curl -sf -o /dev/null "$health"; then
        return 0
      fi
    fi
    sleep 0.1
  done
  echo "$script_name: the server did not come up within 60 s:" >&2
  cat "$log" >&2
  exit 1
}

# Starts the floor server, pinned, logging to LOG, and waits for it.
start_floor() {
  local log=$1
  # shellcheck disable=SC2086  # SERVER_JAVA_OPTS holds several words
  "${pin_server[@]}" "$java" ${SERVER_JAVA_OPTS:-} -cp "$bench_jar" dev.extproc.callout.bench.FloorServer \
    --address "127.0.0.1:$port" >"$log" 2>&1 &
  server_pid=$!
  await_server "$log"
}

# Starts a sample of the framework, pinned, logging to LOG, with more flags, and waits for it.
start_framework() {
  local log=$1 sample=$2
  shift 2
  # shellcheck disable=SC2086
  "${pin_server[@]}" "$java" ${SERVER_JAVA_OPTS:-} -jar "$jar" --sample "$sample" --disable-tls \
    --plaintext-address "127.0.0.1:$port" --health-check-address "127.0.0.1:$health_port" \
    --shutdown-drain-delay 0s --shutdown-grace-period 1s "$@" >"$log" 2>&1 &
  server_pid=$!
  await_server "$log" "http://127.0.0.1:$health_port/"
}

# Runs the load generator, pinned, against the server now running; flags follow.
loadgen() {
  # shellcheck disable=SC2086  # LOADGEN_JAVA_OPTS holds several words
  "${pin_loadgen[@]}" "$java" ${LOADGEN_JAVA_OPTS:-} -cp "$bench_jar" dev.extproc.callout.bench.LoadGen \
    --target "127.0.0.1:$port" "$@"
}

# One field of the last LoadGen JSON line of FILE, rounded to DECIMALS places ("-" when missing
# or null).
field() {
  local value
  value=$(tail -1 "$1" 2>/dev/null | sed -nE "s/.*\"$2\":\"?([^\",}]*).*/\1/p")
  if [ -z "$value" ] || [ "$value" = null ]; then
    echo -
  else
    awk -v v="$value" -v d="${3:-0}" 'BEGIN { printf "%.*f\n", d, v }'
  fi
}

# The machine and JDK, for a result's heading.
machine() {
  echo "$(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -1)," \
    "$("$java" -version 2>&1 | head -1); load average $(cut -d' ' -f1-3 /proc/loadavg)"
}

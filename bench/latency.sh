#!/usr/bin/env bash
# Latency at half saturation: for each server (the floor, and the framework with each hook
# executor), pinned to one core (SERVER_CPU) with the load generator on another (LOADGEN_CPU);
# the framework's sample runs from target/callout-server.jar, FloorServer and the load generator
# from target/callout-bench.jar:
#   1. a warm-up of SERVER_WARMUP per scenario (closed loop, not measured: the server's JIT);
#   2. saturation: closed loops at each of CONCURRENCIES; the best streams/s is the saturation
#      rate (check the load generator's own CPU per stream against the server's: when it is
#      higher, the load generator's core was the limit, not the server);
#   3. an open loop at half that rate: OPEN_WARMUP, then REPEAT windows of WINDOW each, whose
#      median p50/p99/p99.9 the table shows (latency from each stream's intended start).
# Each server's section takes the exclusive lock LOCK when set (flock; shared machines). Logs and
# every run's JSON lines stay in OUT.
#
# Usage: bench/latency.sh [framework server flags...]      e.g. SERVERS="floor inline" bench/latency.sh
# Environment (default): SERVERS ("floor inline pool": floor, or a --hook-executor value),
#   SCENARIOS (headers), SAMPLE (add-header), SERVER_WARMUP (60s), CONCURRENCIES ("8 32 64"),
#   SAT_WARMUP (5s), SAT_DURATION (10s), OPEN_WARMUP (15s), WINDOW (5s), REPEAT (3),
#   CONNECTIONS (1), PORT (19080), HEALTH_PORT (19000), SERVER_CPU (0), LOADGEN_CPU (1),
#   SERVER_JAVA_OPTS, LOADGEN_JAVA_OPTS, LOCK, OUT (a new temporary directory); JAVA_HOME picks
#   the JDK. Build first: mvn -B -q package -DskipTests
set -euo pipefail
cd "$(dirname "$0")/.."

servers=${SERVERS:-"floor inline pool"}
scenarios=${SCENARIOS:-headers}
sample=${SAMPLE:-add-header}
server_warmup=${SERVER_WARMUP:-60s}
concurrencies=${CONCURRENCIES:-"8 32 64"}
sat_warmup=${SAT_WARMUP:-5s}
sat_duration=${SAT_DURATION:-10s}
open_warmup=${OPEN_WARMUP:-15s}
window=${WINDOW:-5s}
repeat=${REPEAT:-3}
connections=${CONNECTIONS:-1}
port=${PORT:-19080}
health_port=${HEALTH_PORT:-19000}
server_cpu=${SERVER_CPU:-0}
loadgen_cpu=${LOADGEN_CPU:-1}
out=${OUT:-$(mktemp -d -t callout-latency.XXXXXX)}
java=${JAVA_HOME:+$JAVA_HOME/bin/}java
jar=target/callout-server.jar
bench_jar=target/callout-bench.jar

for f in "$jar" "$bench_jar"; do
  [ -f "$f" ] || { echo "latency.sh: $f is missing: mvn -B -q package -DskipTests" >&2; exit 1; }
done
mkdir -p "$out"

# shellcheck source=bench/lib.sh
. bench/lib.sh

# Saturation, then the open loop at half of it, for one scenario against the server now running.
measure() {
  local name=$1 scenario=$2 c best=0 best_c=- rate status
  for c in $concurrencies; do
    echo "== $name, $scenario: closed loop, $c in flight" >&2
    loadgen --scenario "$scenario" --connections "$connections" --concurrency "$c" \
      --warmup "$sat_warmup" --duration "$sat_duration" --server-pid "$server_pid" \
      >"$out/$name-$scenario-closed-$c.json" || true
    if awk -v a="$(field "$out/$name-$scenario-closed-$c.json" streams_per_s 1)" -v b="$best" \
      'BEGIN { exit !(a != "-" && a > b) }'; then
      best=$(field "$out/$name-$scenario-closed-$c.json" streams_per_s 1)
      best_c=$c
    fi
  done
  [ "$best_c" != - ] || { echo "latency.sh: $name $scenario: no closed loop ran" >&2; return 0; }
  cp "$out/$name-$scenario-closed-$best_c.json" "$out/$name-$scenario-saturation.json"
  rate=$(awk -v s="$best" 'BEGIN { printf "%.0f", s / 2 }')
  echo "== $name, $scenario: open loop at $rate/s (half of $best/s)" >&2
  status=0
  loadgen --scenario "$scenario" --connections "$connections" --rate "$rate" \
    --warmup "$open_warmup" --duration "$window" --repeat "$repeat" --server-pid "$server_pid" \
    >"$out/$name-$scenario-open.json" || status=$?
  [ "$status" -eq 0 ] || echo "latency.sh: $name $scenario: open loop exit $status (errors)" >&2
}

for server in $servers; do
  if [ -n "${LOCK:-}" ]; then
    exec 9>"$LOCK"
    flock -x 9
  fi
  echo "== $server: start, load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
  if [ "$server" = floor ]; then
    start_floor "$out/$server.log"
  else
    start_framework "$out/$server.log" "$sample" --hook-executor "$server" "$@"
  fi
  for scenario in $scenarios; do
    echo "== $server, $scenario: server warm-up ($server_warmup)" >&2
    loadgen --scenario "$scenario" --connections "$connections" \
      --concurrency "${concurrencies##* }" --warmup 0s --duration "$server_warmup" >/dev/null 2>&1 || true
  done
  for scenario in $scenarios; do
    measure "$server" "$scenario"
  done
  stop_server
  if [ -n "${LOCK:-}" ]; then
    flock -u 9
  fi
done

echo
echo "Latency at half saturation; $sample ${*:-(default flags)}; $(machine)"
echo "server warm-up $server_warmup per scenario; saturation: best of closed loops at" \
  "$concurrencies in flight over $connections connection(s), $sat_warmup + $sat_duration;" \
  "open loop: $open_warmup + $repeat x $window, median of the windows; JSON in $out"
echo "(sat: streams/s at saturation, with c in flight; CPU: µs per stream at saturation, server" \
  "and load generator; p50..p99.9: open-loop latency in µs; lag: open-loop start lag p99 in µs)"
echo
row='%-7s %-17s %9s %4s %8s %8s %7s %8s %8s %9s %8s %7s\n'
# shellcheck disable=SC2059  # the format is the row above
printf "$row" server scenario "sat str/s" c "srv CPU" "own CPU" rate p50 p99 p99.9 lag errors
for server in $servers; do
  for scenario in $scenarios; do
    s="$out/$server-$scenario-saturation.json" o="$out/$server-$scenario-open.json"
    # shellcheck disable=SC2059
    printf "$row" "$server" "$scenario" "$(field "$s" streams_per_s)" "$(field "$s" concurrency)" \
      "$(field "$s" server_cpu_us_per_stream 1)" "$(field "$s" client_cpu_us_per_stream 1)" \
      "$(field "$o" rate)" "$(field "$o" p50_us)" "$(field "$o" p99_us)" "$(field "$o" p999_us)" \
      "$(field "$o" start_lag_p99_us)" "$(field "$o" errors)"
  done
done

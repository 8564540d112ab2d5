#!/usr/bin/env bash
# Server CPU time per stream: the framework (a bundled sample from the runnable jar) against the
# floor (FloorServer, a bare grpc-java ext_proc server), every scenario against both in one run.
# Each server is pinned to one core (SERVER_CPU), the load generator to another (LOADGEN_CPU), so
# the server's CPU per stream is measured under the same closed-loop load; prints a table with the
# ratio to the floor. Each server first gets a warm-up pass through every scenario (PREWARM each,
# not measured), so its JIT has compiled every path before the measured pass. Logs and each run's
# JSON line stay in OUT.
#
# Usage: bench/cpu.sh [framework server flags...]      e.g. bench/cpu.sh --hook-executor inline
# Environment (default): SCENARIOS ("headers req-resp-headers streamed full-duplex"),
#   SAMPLE (add-header), PREWARM (10s), WARMUP (10s), DURATION (10s), CONCURRENCY (32),
#   CONNECTIONS (1),
#   BODY_SIZE (64KiB), CHUNKS (4), PORT (19080), HEALTH_PORT (19000), SERVER_CPU (0),
#   LOADGEN_CPU (1), SERVER_JAVA_OPTS, LOADGEN_JAVA_OPTS, OUT (a new temporary directory);
#   JAVA_HOME picks the JDK. Build first: mvn -B -q package -DskipTests
set -euo pipefail
cd "$(dirname "$0")/.."

scenarios=${SCENARIOS:-"headers req-resp-headers streamed full-duplex"}
sample=${SAMPLE:-add-header}
prewarm=${PREWARM:-10s}
warmup=${WARMUP:-10s}
duration=${DURATION:-10s}
concurrency=${CONCURRENCY:-32}
connections=${CONNECTIONS:-1}
body_size=${BODY_SIZE:-64KiB}
chunks=${CHUNKS:-4}
port=${PORT:-19080}
health_port=${HEALTH_PORT:-19000}
server_cpu=${SERVER_CPU:-0}
loadgen_cpu=${LOADGEN_CPU:-1}
out=${OUT:-$(mktemp -d -t callout-cpu.XXXXXX)}
java=${JAVA_HOME:+$JAVA_HOME/bin/}java
jar=target/callout-server.jar

[ -f "$jar" ] || { echo "cpu.sh: $jar is missing: mvn -B -q package -DskipTests" >&2; exit 1; }
mkdir -p "$out"

# shellcheck source=bench/lib.sh
. bench/lib.sh

# One load generator run against the server now running; extra flags follow the scenario.
load() {
  local scenario=$1
  shift
  loadgen --scenario "$scenario" --concurrency "$concurrency" \
    --connections "$connections" --body-size "$body_size" --chunks "$chunks" "$@"
}

# Warms the server up on every scenario, then measures each; name labels the JSON files.
load_all() {
  local name=$1 scenario status
  for scenario in $scenarios; do
    echo "== $name, $scenario: warm-up pass ($prewarm)" >&2
    load "$scenario" --warmup 0s --duration "$prewarm" >/dev/null 2>&1 || true
  done
  for scenario in $scenarios; do
    echo "== $name, $scenario" >&2
    status=0
    load "$scenario" --warmup "$warmup" --duration "$duration" --server-pid "$server_pid" \
      >"$out/$name-$scenario.json" || status=$?
    [ "$status" -eq 0 ] || echo "cpu.sh: $name $scenario: load generator exit $status (errors)" >&2
  done
}

start_floor "$out/floor.log"
load_all floor
stop_server

start_framework "$out/framework.log" "$sample" "$@"
load_all framework
stop_server

echo
echo "Server CPU per stream, $sample ${*:-(default flags)} vs the floor; $(machine)"
echo "closed loop, $concurrency streams in flight over $connections connection(s), $prewarm" \
  "warm-up pass, then $warmup + $duration measured; bodies $body_size in $chunks chunks;" \
  "JSON in $out"
echo "(CPU: server CPU time per stream in µs; str/s: streams per second; p50/p99: latency in µs)"
echo
row='%-17s %10s %10s %7s %11s %11s %9s %9s %7s\n'
# shellcheck disable=SC2059  # the format is the row above
printf "$row" scenario "floor CPU" "our CPU" ratio "floor str/s" "our str/s" "our p50" "our p99" errors
for scenario in $scenarios; do
  f="$out/floor-$scenario.json" o="$out/framework-$scenario.json"
  fc=$(field "$f" server_cpu_us_per_stream 1) oc=$(field "$o" server_cpu_us_per_stream 1)
  ratio=$(awk -v f="$fc" -v o="$oc" 'BEGIN { if (f > 0 && o != "-") printf "%.2fx", o / f; else print "-" }')
  errors=$(awk -v a="$(field "$f" errors)" -v b="$(field "$o" errors)" 'BEGIN { print a + b }')
  # shellcheck disable=SC2059
  printf "$row" "$scenario" "$fc" "$oc" "$ratio" "$(field "$f" streams_per_s)" \
    "$(field "$o" streams_per_s)" "$(field "$o" p50_us)" "$(field "$o" p99_us)" "$errors"
done

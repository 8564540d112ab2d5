#!/usr/bin/env bash
# Server CPU time per stream: the framework (a bundled sample from target/callout-server.jar)
# against the floor (FloorServer, a bare grpc-java ext_proc server), every scenario against both in
# one run; FloorServer and the load generator run from target/callout-bench.jar.
# Each server is pinned to one core (SERVER_CPU), the load generator to another (LOADGEN_CPU), so
# the server's CPU per stream is measured under the same closed-loop load; prints a table with the
# ratio to the floor. Each server first gets a warm-up pass through every scenario (PREWARM each,
# not measured), so its JIT has compiled every path before the measured pass: pinned to one core,
# the JIT needs about a minute in all before CPU per stream settles. Each scenario is then measured
# REPEAT times (one load generator, one warm-up) and the median window counts. EXECUTORS measures
# the framework once per hook executor, each against the same floor. Logs and each run's JSON
# lines stay in OUT.
#
# Usage: bench/cpu.sh [framework server flags...]      e.g. bench/cpu.sh --hook-executor inline
#        EXECUTORS="inline pool" bench/cpu.sh          both executors against one floor
# Environment (default): SCENARIOS ("headers req-resp-headers streamed full-duplex"),
#   SAMPLE (add-header), PREWARM (20s), WARMUP (10s), DURATION (10s), REPEAT (3), EXECUTORS,
#   CONCURRENCY (32), CONNECTIONS (1),
#   BODY_SIZE (64KiB), CHUNKS (4), PORT (19080), HEALTH_PORT (19000), SERVER_CPU (0),
#   LOADGEN_CPU (1), SERVER_JAVA_OPTS, LOADGEN_JAVA_OPTS, OUT (a new temporary directory);
#   JAVA_HOME picks the JDK. Build first: mvn -B -q package -DskipTests
set -euo pipefail
cd "$(dirname "$0")/.."

scenarios=${SCENARIOS:-"headers req-resp-headers streamed full-duplex"}
sample=${SAMPLE:-add-header}
prewarm=${PREWARM:-20s}
repeat=${REPEAT:-3}
executors=${EXECUTORS:-}
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
bench_jar=target/callout-bench.jar

for f in "$jar" "$bench_jar"; do
  [ -f "$f" ] || { echo "cpu.sh: $f is missing: mvn -B -q package -DskipTests" >&2; exit 1; }
done
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
    load "$scenario" --warmup "$warmup" --duration "$duration" --repeat "$repeat" \
      --server-pid "$server_pid" >"$out/$name-$scenario.json" || status=$?
    [ "$status" -eq 0 ] || echo "cpu.sh: $name $scenario: load generator exit $status (errors)" >&2
  done
}

start_floor "$out/floor.log"
load_all floor
stop_server

# Each variant: a label and the framework's extra flags.
variants=()
if [ -n "$executors" ]; then
  for executor in $executors; do
    variants+=("$executor")
  done
else
  variants+=(framework)
fi
for variant in "${variants[@]}"; do
  flags=("$@")
  [ "$variant" = framework ] || flags+=(--hook-executor "$variant")
  start_framework "$out/$variant.log" "$sample" "${flags[@]}"
  load_all "$variant"
  stop_server
done

echo
echo "Server CPU per stream, $sample ${*:-(default flags)}${executors:+, executors: $executors}" \
  "vs the floor; $(machine)"
echo "closed loop, $concurrency streams in flight over $connections connection(s), $prewarm" \
  "warm-up pass per scenario, then $warmup + the median of $repeat x $duration measured;" \
  "bodies $body_size in $chunks chunks; JSON in $out"
echo "(CPU: server CPU time per stream in µs; str/s: streams per second; p50/p99: latency in µs)"
echo
row='%-10s %-17s %10s %10s %7s %11s %11s %9s %9s %7s\n'
# shellcheck disable=SC2059  # the format is the row above
printf "$row" variant scenario "floor CPU" "our CPU" ratio "floor str/s" "our str/s" "our p50" \
  "our p99" errors
for variant in "${variants[@]}"; do
  for scenario in $scenarios; do
    f="$out/floor-$scenario.json" o="$out/$variant-$scenario.json"
    fc=$(field "$f" server_cpu_us_per_stream 1) oc=$(field "$o" server_cpu_us_per_stream 1)
    ratio=$(awk -v f="$fc" -v o="$oc" 'BEGIN { if (f > 0 && o != "-") printf "%.2fx", o / f; else print "-" }')
    errors=$(awk -v a="$(field "$f" errors)" -v b="$(field "$o" errors)" 'BEGIN { print a + b }')
    # shellcheck disable=SC2059
    printf "$row" "$variant" "$scenario" "$fc" "$oc" "$ratio" "$(field "$f" streams_per_s)" \
      "$(field "$o" streams_per_s)" "$(field "$o" p50_us)" "$(field "$o" p99_us)" "$errors"
  done
done

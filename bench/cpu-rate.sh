#!/usr/bin/env bash
# Server CPU time per stream at a FIXED RATE (open loop), the framework against the floor, so that
# the load generator's own saturation does not decide the figure (issue 12, item 5). In a closed
# loop the rate is whatever the load generator's core manages, and a server's CPU per stream
# falls as its rate rises (more messages per wake-up); at one fixed rate that both servers
# sustain, the two servers do the same work at the same pace and only their own cost differs.
#
# One run, each server pinned to one core (SERVER_CPU), the load generator to the other
# (LOADGEN_CPU): the floor (FloorServer, from target/callout-bench.jar), then the framework's
# sample (target/callout-server.jar) once per hook executor in EXECUTORS, then the floor again.
# Each server first gets an unmeasured closed-loop pass through every scenario (PREWARM each:
# pinned to one core the JIT needs about a minute in all). On the first floor only, a short
# closed-loop saturation probe per scenario (PROBE_WARMUP + PROBE_DURATION, CONCURRENCY in flight)
# sets that scenario's rate: FRACTION of the floor's streams/s, printed, the same for every server
# of the run. Then each scenario at its rate: WARMUP (the load generator's JIT; with 5 s its first
# windows still started streams 0.1-2 s late, in bursts that flatter the server), then REPEAT
# windows of DURATION in one load generator, whose median counts. The table gives each scenario's
# CPU per stream for the floor before and after and for ours, ours against the mean of the two
# floors, and the open loop's p99 latency; for body scenarios also server body bytes per CPU
# second. Logs and every run's JSON lines stay in OUT.
#
# Usage: bench/cpu-rate.sh [framework server flags...]
# Environment (default): SCENARIOS ("headers req-resp-headers streamed full-duplex"),
#   EXECUTORS ("pool inline"), SAMPLE (add-header), FRACTION (0.5), RATES (unset: probe; or
#   "scenario=rate ..." to skip the probe), PREWARM (15s), PROBE_WARMUP (3s), PROBE_DURATION (5s),
#   WARMUP (20s), DURATION (5s), REPEAT (3), CONCURRENCY (32), CONNECTIONS (1),
#   BODY_SIZE (64KiB), CHUNKS (4) for streamed, FD_BODY_SIZE (1MiB), FD_CHUNKS (16) for
#   full-duplex, PORT (19080), HEALTH_PORT (19000), SERVER_CPU (0), LOADGEN_CPU (1),
#   SERVER_JAVA_OPTS, LOADGEN_JAVA_OPTS, OUT (a new temporary directory); JAVA_HOME picks the JDK.
# Build first: mvn -B -q package -DskipTests
set -euo pipefail
cd "$(dirname "$0")/.."

scenarios=${SCENARIOS:-"headers req-resp-headers streamed full-duplex"}
executors=${EXECUTORS:-"pool inline"}
sample=${SAMPLE:-add-header}
fraction=${FRACTION:-0.5}
prewarm=${PREWARM:-15s}
probe_warmup=${PROBE_WARMUP:-3s}
probe_duration=${PROBE_DURATION:-5s}
warmup=${WARMUP:-20s}
duration=${DURATION:-5s}
repeat=${REPEAT:-3}
concurrency=${CONCURRENCY:-32}
connections=${CONNECTIONS:-1}
body_size=${BODY_SIZE:-64KiB}
chunks=${CHUNKS:-4}
fd_body_size=${FD_BODY_SIZE:-1MiB}
fd_chunks=${FD_CHUNKS:-16}
port=${PORT:-19080}
health_port=${HEALTH_PORT:-19000}
server_cpu=${SERVER_CPU:-0}
loadgen_cpu=${LOADGEN_CPU:-1}
out=${OUT:-$(mktemp -d -t callout-cpu-rate.XXXXXX)}
java=${JAVA_HOME:+$JAVA_HOME/bin/}java
jar=target/callout-server.jar
bench_jar=target/callout-bench.jar

for f in "$jar" "$bench_jar"; do
  [ -f "$f" ] || { echo "cpu-rate.sh: $f is missing: mvn -B -q package -DskipTests" >&2; exit 1; }
done
mkdir -p "$out"

# shellcheck source=bench/lib.sh
. bench/lib.sh

declare -A rate=()
for pair in ${RATES:-}; do
  rate[${pair%%=*}]=${pair#*=}
done

# One load generator run against the server now running; extra flags follow the scenario.
load() {
  local scenario=$1 size=$body_size n=$chunks
  shift
  if [ "$scenario" = full-duplex ]; then
    size=$fd_body_size n=$fd_chunks
  fi
  loadgen --scenario "$scenario" --connections "$connections" --body-size "$size" --chunks "$n" "$@"
}

# Pre-warms the server now running, probes the floor's saturation when no rate is set yet, then
# measures every scenario at its fixed rate; name labels the JSON files.
run_server() {
  local name=$1 scenario status
  for scenario in $scenarios; do
    echo "== $name, $scenario: warm-up pass ($prewarm, closed loop)" >&2
    load "$scenario" --concurrency "$concurrency" --warmup 0s --duration "$prewarm" \
      >/dev/null 2>&1 || true
  done
  for scenario in $scenarios; do
    [ -z "${rate[$scenario]:-}" ] || continue
    echo "== $name, $scenario: saturation probe ($probe_warmup + $probe_duration, closed loop)" >&2
    load "$scenario" --concurrency "$concurrency" --warmup "$probe_warmup" \
      --duration "$probe_duration" --server-pid "$server_pid" \
      >"$out/$name-$scenario-probe.json" 2>/dev/null || true
    rate[$scenario]=$(awk -v s="$(field "$out/$name-$scenario-probe.json" streams_per_s 1)" \
      -v f="$fraction" 'BEGIN { if (s == "-") exit 1; r = s * f; printf "%.0f", r < 1 ? 1 : r }') ||
      { echo "cpu-rate.sh: $scenario: the saturation probe failed" >&2; exit 1; }
    echo "== $scenario: floor saturation $(field "$out/$name-$scenario-probe.json" streams_per_s)" \
      "streams/s; fixed rate ${rate[$scenario]}/s ($fraction of it)" >&2
  done
  for scenario in $scenarios; do
    echo "== $name, $scenario: open loop at ${rate[$scenario]}/s" >&2
    status=0
    load "$scenario" --rate "${rate[$scenario]}" --warmup "$warmup" --duration "$duration" \
      --repeat "$repeat" --server-pid "$server_pid" >"$out/$name-$scenario.json" || status=$?
    [ "$status" -eq 0 ] || echo "cpu-rate.sh: $name $scenario: load generator exit $status (errors)" >&2
  done
}

echo "== start $(date -u +%H:%M:%S), $(machine)" >&2
start_floor "$out/floor-before.log"
run_server floor-before
stop_server
for executor in $executors; do
  start_framework "$out/$executor.log" "$sample" --hook-executor "$executor" "$@"
  run_server "$executor"
  stop_server
done
start_floor "$out/floor-after.log"
run_server floor-after
stop_server
echo "== end $(date -u +%H:%M:%S), load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2

echo
echo "Server CPU per stream at a fixed rate, $sample ${*:-(default flags)}, executors: $executors;" \
  "$(machine)"
echo "open loop at $fraction of the floor's closed-loop saturation ($concurrency in flight," \
  "$probe_warmup + $probe_duration probe after the warm-up pass); $prewarm closed-loop warm-up" \
  "pass per scenario and server, then $warmup + the median of $repeat x $duration;" \
  "$connections connection(s); streamed $body_size in $chunks chunks each way, full-duplex" \
  "$fd_body_size in $fd_chunks chunks; JSON in $out"
echo "(CPU: server µs per stream, floor before / ours / floor after; ratio: ours / mean floor;" \
  "GB/s: body bytes per server CPU second; p99: open-loop latency in µs; lag: start lag p99 µs;" \
  "LG core: the load generator's CPU share of its core at the rate, above 0.8 it is saturated itself)"
echo
# The share of its one core the load generator used at the rate (its CPU per stream x rate): near
# 1 it is saturated itself, starts streams late in bursts, and the latency and timeouts of that
# row are its own, whichever server it drives.
lg_core() {
  awk -v c="$(field "$1" client_cpu_us_per_stream 1)" -v r="$2" \
    'BEGIN { if (c == "-") print "-"; else printf "%.2f", c * r / 1e6 }'
}
row='%-17s %-7s %7s %8s %8s %8s %7s %23s %7s %8s %8s %8s %7s %6s %14s\n'
# shellcheck disable=SC2059  # the format is the row above
printf "$row" scenario server rate "floor 1" ours "floor 2" ratio "GB/s floor1/ours/floor2" \
  "GB/s r" "floor p99" "our p99" "our str/s" lag errors "LG core f/o/f"
for scenario in $scenarios; do
  b="$out/floor-before-$scenario.json" a="$out/floor-after-$scenario.json"
  for executor in $executors; do
    o="$out/$executor-$scenario.json"
    fb=$(field "$b" server_cpu_us_per_stream 1) oc=$(field "$o" server_cpu_us_per_stream 1)
    fa=$(field "$a" server_cpu_us_per_stream 1)
    ratio=$(awk -v b="$fb" -v a="$fa" -v o="$oc" \
      'BEGIN { if (b != "-" && a != "-" && o != "-") printf "%.2fx", 2 * o / (a + b); else print "-" }')
    gb=$(field "$b" server_gb_per_cpu_s 3) go=$(field "$o" server_gb_per_cpu_s 3)
    ga=$(field "$a" server_gb_per_cpu_s 3)
    gratio=$(awk -v b="$gb" -v a="$ga" -v o="$go" \
      'BEGIN { if (b != "-" && a != "-" && o != "-") printf "%.2fx", 2 * o / (a + b); else print "-" }')
    lg=$(lg_core "$b" "${rate[$scenario]}")/$(lg_core "$o" "${rate[$scenario]}")/$(lg_core "$a" "${rate[$scenario]}")
    errors=$(awk -v a="$(field "$b" errors)" -v b="$(field "$o" errors)" -v c="$(field "$a" errors)" \
      'BEGIN { print a + b + c }')
    # shellcheck disable=SC2059
    printf "$row" "$scenario" "$executor" "${rate[$scenario]:--}" "$fb" "$oc" "$fa" "$ratio" \
      "$gb/$go/$ga" "$gratio" "$(field "$b" p99_us)/$(field "$a" p99_us)" "$(field "$o" p99_us)" \
      "$(field "$o" streams_per_s)" "$(field "$o" start_lag_p99_us)" "$errors" "$lg"
  done
done

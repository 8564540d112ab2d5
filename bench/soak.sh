#!/usr/bin/env bash
# Soak: the runnable jar with the container image's JVM flags under a steady open-loop load for
# DURATION, sampling the server's RSS, thread count and open file descriptors every INTERVAL
# seconds. Prints the samples, then the first sample after warm-up against the last, and the load
# generator's JSON line (errors must be 0).
#
# Usage: bench/soak.sh [server flags...]          e.g. bench/soak.sh --sample add-header
# Environment (default): DURATION (10m), WARMUP (60s), RATE (500 streams/s), SCENARIO
#   (req-resp-headers), INTERVAL (10), PORT (19180), HEALTH_PORT (19100), OUT (a new temporary
#   directory), JAR (the server, target/callout-server.jar), BENCH_JAR (the load generator,
#   target/callout-bench.jar; copies of both jars with target/lib keep a rebuild from pulling them
#   away from under the run); JAVA_HOME picks the JDK. Build first: mvn -B -q package -DskipTests
set -euo pipefail
cd "$(dirname "$0")/.."

duration=${DURATION:-10m}
warmup=${WARMUP:-60s}
rate=${RATE:-500}
scenario=${SCENARIO:-req-resp-headers}
interval=${INTERVAL:-10}
port=${PORT:-19180}
health_port=${HEALTH_PORT:-19100}
out=${OUT:-$(mktemp -d -t callout-soak.XXXXXX)}
java=${JAVA_HOME:+$JAVA_HOME/bin/}java
jar=${JAR:-target/callout-server.jar}
bench_jar=${BENCH_JAR:-target/callout-bench.jar}

for f in "$jar" "$bench_jar"; do
  [ -f "$f" ] || { echo "soak.sh: $f is missing: mvn -B -q package -DskipTests" >&2; exit 1; }
done
mkdir -p "$out"

# The Dockerfile's ENTRYPOINT flags (without its AOT cache, which only the image has).
"$java" -XX:MaxRAMPercentage=70.0 -XX:+UseSerialGC -XX:+ExitOnOutOfMemoryError -jar "$jar" \
  --plaintext-address "127.0.0.1:$port" --health-check-address "127.0.0.1:$health_port" \
  --disable-tls --shutdown-drain-delay 0s "$@" >"$out/server.log" 2>&1 &
server_pid=$!
trap 'kill -TERM "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true' EXIT

for _ in $(seq 200); do
  curl -fsS "http://127.0.0.1:$health_port/" >/dev/null 2>&1 && break
  kill -0 "$server_pid" 2>/dev/null || { echo "soak.sh: the server exited" >&2; cat "$out/server.log" >&2; exit 1; }
  sleep 0.1
done

sample() {
  local rss threads fds
  rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$server_pid/status")
  threads=$(awk '/^Threads:/ {print $2}' "/proc/$server_pid/status")
  fds=$(find "/proc/$server_pid/fd" -mindepth 1 -maxdepth 1 | wc -l)
  printf '%s\t%d\t%d\t%d\n' "$(date +%H:%M:%S)" $((rss / 1024)) "$threads" "$fds"
}

"$java" -cp "$bench_jar" dev.extproc.callout.bench.LoadGen \
  --target "127.0.0.1:$port" --scenario "$scenario" --rate "$rate" \
  --warmup "$warmup" --duration "$duration" --server-pid "$server_pid" \
  >"$out/loadgen.json" 2>"$out/loadgen.txt" &
loadgen_pid=$!

printf 'time\trss_mib\tthreads\tfds\n' | tee "$out/samples.tsv"
while kill -0 "$loadgen_pid" 2>/dev/null; do
  sample | tee -a "$out/samples.tsv"
  sleep "$interval"
done
status=0
wait "$loadgen_pid" || status=$?

warmup_samples=$(( $(echo "$warmup" | tr -dc '0-9') / interval + 1 ))
echo
echo "after warm-up (sample $((warmup_samples + 1))) vs last:"
awk -v skip="$warmup_samples" 'NR > 1 + skip' "$out/samples.tsv" | sed -n '1p;$p'
echo
cat "$out/loadgen.txt" >&2
cat "$out/loadgen.json"
echo "soak.sh: samples, logs and JSON in $out; load generator exit code $status"
exit "$status"

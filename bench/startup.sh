#!/usr/bin/env bash
# Measures `java -jar target/callout-server.jar` from launch to the first HTTP 200 on the health
# port, RUNS times, and prints each time, the median, and the server's RSS once healthy.
# Usage: [JAVA_HOME=...] [JAVA_OPTS="JVM flags"] bench/startup.sh [RUNS] [extra server flags...]
# (JAVA_OPTS was documented but ignored before 2026-12-02: earlier "archive" rows ran without it.)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-7}
shift || true
java=${JAVA_HOME:+$JAVA_HOME/bin/}java
port=18000
# shellcheck source=bench/health-poll.sh
source bench/health-poll.sh
times=()
cpus=()
for _ in $(seq "$runs"); do
  start=$(date +%s%N)
  # shellcheck disable=SC2086 # JAVA_OPTS is a list of flags
  "$java" ${JAVA_OPTS:-} -jar target/callout-server.jar --health-check-address 127.0.0.1:$port \
    --plaintext-address 127.0.0.1:18080 --secure-address 127.0.0.1:18443 --shutdown-drain-delay 0s \
    "$@" >/tmp/callout-startup.log 2>&1 &
  pid=$!
  until healthy; do
    kill -0 "$pid" 2>/dev/null || { cat /tmp/callout-startup.log; exit 1; }
    pause
  done
  end=$(date +%s%N)
  times+=($(( (end - start) / 1000000 )))
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
  # user + system CPU time so far, in clock ticks (fields 14 and 15; the name in field 2 has no
  # spaces here)
  cpus+=($(awk -v hz="$(getconf CLK_TCK)" '{print int(($14 + $15) * 1000 / hz)}' "/proc/$pid/stat"))
  kill -TERM "$pid"
  wait "$pid" || true
done
sorted=$(printf '%s\n' "${times[@]}" | sort -n)
median=$(printf '%s\n' "$sorted" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
cpu=$(printf '%s\n' "${cpus[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
echo "runs (ms): ${times[*]}"
echo "median to healthy: ${median} ms; RSS when healthy (last run): $((rss / 1024)) MiB;" \
  "CPU time when healthy (median): ${cpu} ms"

#!/usr/bin/env bash
# Measures `java -jar target/callout-server.jar` from launch to the first HTTP 200 on the health
# port, RUNS times, and prints each time, the median, and the server's RSS once healthy.
# Usage: bench/startup.sh [RUNS] [extra server flags...]   (JAVA_HOME picks the JDK)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-7}
shift || true
java=${JAVA_HOME:+$JAVA_HOME/bin/}java
port=18000
times=()
for _ in $(seq "$runs"); do
  start=$(date +%s%N)
  "$java" -jar target/callout-server.jar --health-check-address 127.0.0.1:$port \
    --plaintext-address 127.0.0.1:18080 --secure-address 127.0.0.1:18443 "$@" \
    >/tmp/callout-startup.log 2>&1 &
  pid=$!
  until curl -sf -o /dev/null "http://127.0.0.1:$port/"; do
    kill -0 "$pid" 2>/dev/null || { cat /tmp/callout-startup.log; exit 1; }
    sleep 0.005
  done
  end=$(date +%s%N)
  times+=($(( (end - start) / 1000000 )))
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
  kill -TERM "$pid"
  wait "$pid" || true
done
sorted=$(printf '%s\n' "${times[@]}" | sort -n)
median=$(printf '%s\n' "$sorted" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
echo "runs (ms): ${times[*]}"
echo "median to healthy: ${median} ms; RSS when healthy (last run): $((rss / 1024)) MiB"

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
# Polls without starting a process per attempt (curl and sleep every 5 ms would take a good
# share of a core from the JVM being measured): bash's /dev/tcp for the HTTP request, and a read
# with a timeout on an idle FIFO for the pause.
fifo=$(mktemp -u)
mkfifo "$fifo"
exec 4<>"$fifo"
rm "$fifo"
healthy() {
  local status
  { exec 3<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null || return 1
  printf 'GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
  read -rt 5 -u 3 status || status=
  exec 3<&-
  [[ $status == *" 200 "* ]]
}
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
    read -rt 0.005 -u 4 || true # sleeps 5 ms without starting a process
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

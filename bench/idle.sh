#!/usr/bin/env bash
# Idle memory: starts `java -jar target/callout-server.jar` (all three listeners, ephemeral TLS
# certificate), waits for the first HTTP 200 on the health port, then IDLE seconds (default 30),
# and prints the server's RSS. With -XX:NativeMemoryTracking=summary in JAVA_OPTS it also prints
# the JVM's own account (jcmd VM.native_memory summary).
# Usage: [JAVA_HOME=...] [JAVA_OPTS="..."] [IDLE=30] bench/idle.sh [extra server flags...]
set -euo pipefail
cd "$(dirname "$0")/.."
java=${JAVA_HOME:+$JAVA_HOME/bin/}java
jcmd=${JAVA_HOME:+$JAVA_HOME/bin/}jcmd
port=18000
# shellcheck disable=SC2086 # JAVA_OPTS is a list of flags
"$java" ${JAVA_OPTS:-} -jar target/callout-server.jar --health-check-address 127.0.0.1:$port \
  --plaintext-address 127.0.0.1:18080 --secure-address 127.0.0.1:18443 --shutdown-drain-delay 0s \
  "$@" \
  >/tmp/callout-idle.log 2>&1 &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid || true' EXIT
until { exec 3<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null; do
  kill -0 "$pid" 2>/dev/null || { cat /tmp/callout-idle.log; exit 1; }
  sleep 0.05
done
exec 3<&-
sleep "${IDLE:-30}"
echo "RSS after ${IDLE:-30} s idle: $(awk '/VmRSS/ {printf "%.1f MiB", $2 / 1024}' "/proc/$pid/status")"
if [[ ${JAVA_OPTS:-} == *NativeMemoryTracking* ]]; then
  "$jcmd" "$pid" VM.native_memory summary | grep -E '^(Total|-)|committed=' | grep -E '^(Total|-)'
fi

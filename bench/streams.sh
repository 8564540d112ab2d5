#!/usr/bin/env bash
# Memory with many open streams: starts `java -jar target/callout-server.jar` (default sample
# add-header, all three listeners), opens STREAMS ext_proc streams (default 10000) over
# CONNECTIONS plaintext connections (default 2, as an Envoy with two worker threads), each having
# sent a GET's request headers and received the reply, holds them open, and prints the server's
# RSS before and with the streams, its JVM heap after a full GC, and (with
# -XX:NativeMemoryTracking=summary in JAVA_OPTS) the JVM's native memory summary. OpenStreams runs
# from target/callout-bench.jar (STREAMS_CP overrides its class path).
# Usage: [JAVA_HOME=...] [JAVA_OPTS="..."] [STREAMS=10000] [CONNECTIONS=2] bench/streams.sh \
#          [extra server flags...]
# Build first: mvn -B -q package -DskipTests
set -euo pipefail
cd "$(dirname "$0")/.."
java=${JAVA_HOME:+$JAVA_HOME/bin/}java
jcmd=${JAVA_HOME:+$JAVA_HOME/bin/}jcmd
streams=${STREAMS:-10000}
connections=${CONNECTIONS:-2}
port=18000
streams_cp=${STREAMS_CP:-target/callout-bench.jar}
for f in target/callout-server.jar "$streams_cp"; do
  [ -f "$f" ] || { echo "streams.sh: $f is missing: mvn -B -q package -DskipTests" >&2; exit 1; }
done
rss() { awk '/VmRSS/ {printf "%.1f MiB", $2 / 1024}' "/proc/$1/status"; }
# shellcheck disable=SC2086 # JAVA_OPTS is a list of flags
"$java" ${JAVA_OPTS:-} -jar target/callout-server.jar --health-check-address 127.0.0.1:$port \
  --plaintext-address 127.0.0.1:18080 --secure-address 127.0.0.1:18443 --shutdown-drain-delay 0s \
  "$@" \
  >/tmp/callout-streams-server.log 2>&1 &
server=$!
client=
cleanup() {
  [[ -n $client ]] && kill "$client" 2>/dev/null
  kill -TERM "$server" 2>/dev/null
  wait || true
}
trap cleanup EXIT
until { exec 3<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null; do
  kill -0 "$server" 2>/dev/null || { cat /tmp/callout-streams-server.log; exit 1; }
  sleep 0.05
done
exec 3<&-
sleep 5
echo "server RSS before the streams: $(rss "$server")"
"$java" -cp "$streams_cp" dev.extproc.callout.bench.OpenStreams "$streams" 600 \
  --target 127.0.0.1:18080 --connections "$connections" >/tmp/callout-streams-client.log 2>&1 &
client=$!
until grep -q '^open: \|^timed out' /tmp/callout-streams-client.log; do
  kill -0 "$client" 2>/dev/null || { cat /tmp/callout-streams-client.log; exit 1; }
  sleep 0.2
done
cat /tmp/callout-streams-client.log
sleep 5
echo "server RSS with the streams open: $(rss "$server")"
"$jcmd" "$server" GC.run >/dev/null
echo "server RSS after a full GC: $(rss "$server")"
"$jcmd" "$server" GC.heap_info | grep -Ei 'heap|used' | head -3
echo "largest classes on the heap:"
"$jcmd" "$server" GC.class_histogram | sed -n 4,15p
if [[ ${JAVA_OPTS:-} == *NativeMemoryTracking* ]]; then
  "$jcmd" "$server" VM.native_memory summary | grep -E '^(Total|-)'
fi

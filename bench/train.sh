#!/usr/bin/env bash
# A class-data training run, as the Dockerfile's does: starts `JAVA FLAGS -jar
# target/callout-server.jar` on the ports of bench/startup-variants.sh, waits for the first HTTP
# 200 on the health port (every listener serving), sends SIGTERM; the server exits 0 and the JVM
# writes the archive named in FLAGS.
# Usage: bench/train.sh JAVA 'FLAGS'
#   AppCDS:    bench/train.sh java '-XX:ArchiveClassesAtExit=target/callout.jsa ...'
#   AOT cache: bench/train.sh .../temurin-25.../bin/java '-XX:AOTCacheOutput=target/callout.aot ...'
set -euo pipefail
cd "$(dirname "$0")/.."
java=$1
flags=$2
port=18000
# shellcheck disable=SC2086 # flags is a list
"$java" $flags -jar target/callout-server.jar --health-check-address 127.0.0.1:$port \
  --plaintext-address 127.0.0.1:18080 --secure-address 127.0.0.1:18443 \
  --shutdown-drain-delay 0s >/tmp/callout-train.log 2>&1 &
pid=$!
status=
for _ in $(seq 600); do
  if { exec 3<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null; then
    printf 'GET / HTTP/1.0\r\n\r\n' >&3
    read -rt 5 -u 3 status || status=
    exec 3<&-
    [[ $status == *" 200 "* ]] && break
  fi
  sleep 0.1
done
[[ $status == *" 200 "* ]] || { cat /tmp/callout-train.log; exit 1; }
start=$(date +%s%N)
kill -TERM "$pid"
wait "$pid"
echo "trained in $((($(date +%s%N) - start) / 1000000)) ms after SIGTERM; $(grep -ci warn /tmp/callout-train.log) warning lines"

#!/usr/bin/env bash
# Start-up to healthy for several JVM command lines, interleaved (A B C, A B C, ...) so that a
# shared, noisy machine slows every variant alike: each run launches `JAVA FLAGS -jar
# target/callout-server.jar` (default sample, all three listeners, ephemeral TLS certificate),
# times it to the first HTTP 200 on the health port, reads its RSS and CPU time then, and stops
# it. Prints every run and, per variant, the medians.
#
# Usage: [RUNS=5] [IDLE=0] bench/startup-variants.sh 'NAME|JAVA|JVM FLAGS[|SERVER FLAGS]' ...
#   e.g. 'jdk25|/usr/lib/jvm/temurin-25-jdk-amd64/bin/java|-XX:AOTCache=target/callout.aot'
# With IDLE=N each run also waits N s once healthy and reports the RSS then (idle RSS).
# Train archives first with bench/train.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-5}
idle=${IDLE:-0}
port=18000
# shellcheck source=bench/health-poll.sh
source bench/health-poll.sh
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
declare -A times rss cpu idle_rss
for round in $(seq "$runs"); do
  for variant in "$@"; do
    IFS='|' read -r name java flags server_flags <<<"$variant"
    start=$(date +%s%N)
    # shellcheck disable=SC2086 # flags and server_flags are lists
    "$java" $flags -jar target/callout-server.jar --health-check-address 127.0.0.1:$port \
      --plaintext-address 127.0.0.1:18080 --secure-address 127.0.0.1:18443 \
      --shutdown-drain-delay 0s ${server_flags:-} >/tmp/callout-variants.log 2>&1 &
    pid=$!
    until healthy; do
      kill -0 "$pid" 2>/dev/null || { cat /tmp/callout-variants.log; exit 1; }
      pause
    done
    end=$(date +%s%N)
    ms=$(((end - start) / 1000000))
    r=$(awk '/VmRSS/ {print int($2 / 1024)}' "/proc/$pid/status")
    c=$(awk -v hz="$(getconf CLK_TCK)" '{print int(($14 + $15) * 1000 / hz)}' "/proc/$pid/stat")
    times[$name]+="$ms "
    rss[$name]+="$r "
    cpu[$name]+="$c "
    line="round $round $name: ${ms} ms, RSS ${r} MiB, CPU ${c} ms"
    if ((idle > 0)); then
      sleep "$idle"
      i=$(awk '/VmRSS/ {print int($2 / 1024)}' "/proc/$pid/status")
      idle_rss[$name]+="$i "
      line+=", RSS after ${idle} s idle ${i} MiB"
    fi
    echo "$line"
    kill -TERM "$pid"
    wait "$pid" || true
  done
done
for variant in "$@"; do
  IFS='|' read -r name _ _ <<<"$variant"
  line="$name: median to healthy $(tr ' ' '\n' <<<"${times[$name]}" | grep . | median) ms"
  line+=" (runs: ${times[$name]% }), RSS when healthy $(tr ' ' '\n' <<<"${rss[$name]}" | grep . | median) MiB"
  line+=", CPU $(tr ' ' '\n' <<<"${cpu[$name]}" | grep . | median) ms"
  if ((idle > 0)); then
    line+=", idle RSS $(tr ' ' '\n' <<<"${idle_rss[$name]}" | grep . | median) MiB"
  fi
  echo "$line"
done

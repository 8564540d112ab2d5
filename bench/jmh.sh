#!/usr/bin/env bash
# Builds the bench module and runs the JMH benchmarks of bench/src/jmh/java (main sources of the
# bench module, so target/callout-bench.jar holds them and JMH's META-INF/BenchmarkList; its
# manifest's Class-Path covers target/lib/). All arguments go to JMH's org.openjdk.jmh.Main:
# benchmark regexes, -prof gc, -f/-wi/-i/-w/-r, -l to list, -h for help.
# Usage: bench/jmh.sh [JMH options] [benchmark regex...]   (JAVA_HOME picks the JDK)
# Example: bench/jmh.sh -prof gc EngineBenchmark
set -euo pipefail
cd "$(dirname "$0")/.."
mvn -B -q package -DskipTests -pl bench -am
java=${JAVA_HOME:+$JAVA_HOME/bin/}java
exec "$java" -cp target/callout-bench.jar org.openjdk.jmh.Main "$@"

#!/usr/bin/env bash
# Compiles the JMH benchmarks of bench/src/jmh/java (a test source root, so every build compiles them)
# and runs them; all arguments go to JMH's org.openjdk.jmh.Main: benchmark regexes, -prof gc,
# -f/-wi/-i/-w/-r, -l to list, -h for help.
# Usage: bench/jmh.sh [JMH options] [benchmark regex...]   (JAVA_HOME picks the JDK)
# Example: bench/jmh.sh -prof gc EngineBenchmark
set -euo pipefail
cd "$(dirname "$0")/.."
classpath=target/jmh.classpath
mvn -B -q test-compile dependency:build-classpath \
  -Dmdep.includeScope=test -Dmdep.outputFile="$classpath"
java=${JAVA_HOME:+$JAVA_HOME/bin/}java
exec "$java" -cp "target/test-classes:target/classes:$(cat "$classpath")" org.openjdk.jmh.Main "$@"

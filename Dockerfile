# syntax=docker/dockerfile:1
# Container image of the runnable callout server (the bundled samples, add-header by default).
#
#   docker build -t extproc-java .
#   docker run -p 8000:8000 -p 8080:8080 -p 8443:8443 extproc-java
#   docker run -p 8000:8000 -p 8080:8080 -p 8443:8443 extproc-java --sample add-header --disable-tls
#
# Arguments after the image name are appended to the ENTRYPOINT below, so every flag of
# `java -jar callout-server.jar` works (`--help` lists them); CALLOUT_* environment variables work
# as well (`-e CALLOUT_SAMPLE=...`, `-e CALLOUT_LOG_LEVEL=DEBUG`).
#
# ContainerCommandIT (samples/src/test/java/dev/extproc/callout/samples) parses this file and runs
# the final stage's ENTRYPOINT with its WORKDIR, ENV and COPY layout against the built jar, so the
# image's command line is tested without a Docker engine. GitHub Actions
# (.github/workflows/image.yml) builds the image on every push and publishes it for tags v*.

# ---------------------------------------------------------------------------------------------
# Build stage: Maven on JDK 21. The code compiles with --release 17; on JDK 21+ the build skips
# Error Prone and the format check (those run in CI on JDK 17). Tests run in CI, not here.
# ---------------------------------------------------------------------------------------------
FROM maven:3.9.11-eclipse-temurin-21 AS build
WORKDIR /build

# Only the samples server and what it needs (-pl samples -am: the framework and, for the samples'
# test classpath, the testing kit). Maven's repository is a BuildKit cache mount, kept between
# builds, instead of a dependency:go-offline layer: go-offline cannot resolve this build (it
# fails on an optional dependency of the Prometheus client that Maven Central does not have).
COPY pom.xml ./
COPY .mvn/ .mvn/
COPY callout/pom.xml callout/
COPY testing/ testing/
COPY bench/pom.xml bench/
COPY bom/pom.xml bom/
COPY src/ src/
COPY samples/ samples/
COPY proto/ proto/
RUN --mount=type=cache,target=/root/.m2 \
    mvn -B -q -pl samples -am package -DskipTests -Dmaven.javadoc.skip -Dmaven.source.skip

# ---------------------------------------------------------------------------------------------
# Run stage: the current LTS JRE (25) and the thin jar with its dependencies next to it in lib/
# (the jar's manifest Class-Path points at lib/*.jar). 25.0.3+9 is the build measured in
# BENCHMARKS.md ("Start-up and memory (issue 12)").
# ---------------------------------------------------------------------------------------------
FROM eclipse-temurin:25.0.3_9-jre

LABEL org.opencontainers.image.source="https://github.com/extproc-java/extproc-java" \
      org.opencontainers.image.description="Envoy ext_proc callout server (extproc-java bundled samples)" \
      org.opencontainers.image.licenses="Apache-2.0"

# A fixed, numeric, unprivileged user, so Kubernetes `runAsNonRoot` can verify it and mounted
# files can be made readable to uid/gid 10001. The application files below stay owned by root:
# the server reads them and writes nothing to disk.
RUN groupadd --gid 10001 callout \
    && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin callout

WORKDIR /app

# Dependencies before the jar: they change less often, so their layer is usually reused.
COPY --from=build /build/target/lib/ /app/lib/
COPY --from=build /build/target/callout-server.jar /app/

# 8000: HTTP health check (200 while serving, 503 while draining)
# 8080: plaintext gRPC (h2c), ext_proc
# 8443: TLS gRPC, ext_proc
EXPOSE 8000 8080 8443

# The sample to run; `-e CALLOUT_SAMPLE=NAME` or `--sample NAME` picks another.
ENV CALLOUT_SAMPLE=add-header
# On SIGTERM: health 503 at once, new streams still served for this long while load balancers'
# health checks notice (the server's default, spelled out: 5 s x 2 for Google Cloud's defaults
# plus one interval; README, "Shutdown"), then GOAWAY and up to 30 s for in-flight streams. So
# `docker stop` needs `--stop-timeout` above 46 s (Kubernetes: terminationGracePeriodSeconds 60).
# `-e CALLOUT_SHUTDOWN_DRAIN_DELAY=0s` for a quick stop on a laptop.
ENV CALLOUT_SHUTDOWN_DRAIN_DELAY=15s

# Ahead-of-time cache (JEP 483/514/515). A training run at image build time starts the server
# with the ENTRYPOINT's flags, waits for the health check's first 200 (all three listeners
# serving), then sends SIGTERM: the server exits 0 and the JVM writes the classes it loaded and
# linked, and method profiles, to /app/callout.aot (about 40 MB), which the ENTRYPOINT maps. Why
# this and not the AppCDS archive the image had (BENCHMARKS.md, "Start-up and memory (issue
# 12)", Temurin 25.0.3, 7 interleaved runs on a shared 2-core machine): start-up to healthy
# 1685 ms with the AOT cache, 2213 ms with an AppCDS archive, 3490 ms with neither (same run;
# CPU time to healthy 970 / 1160 / 1770 ms). The cache holds class metadata and profiles only
# (no key, no configuration; the training run's ephemeral certificate is discarded) and fits
# exactly this JRE build, these JVM flags and these jars: a JVM that finds a mismatch says so in a
# warning, ignores the cache and starts the slow way. The training gives up waiting after 60 s
# and then fails the build; it stops with no drain delay.
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN java -XX:AOTCacheOutput=/app/callout.aot -XX:MaxRAMPercentage=70.0 -XX:+UseSerialGC \
         -XX:+ExitOnOutOfMemoryError -jar /app/callout-server.jar --shutdown-drain-delay 0s & \
    pid=$!; \
    for _ in $(seq 600); do \
      if { exec 3<>/dev/tcp/127.0.0.1/8000; } 2>/dev/null; then \
        printf 'GET / HTTP/1.0\r\n\r\n' >&3; read -rt 5 -u 3 status || status=; exec 3<&-; \
        if [[ $status == *" 200 "* ]]; then break; fi; \
      fi; \
      sleep 0.1; \
    done; \
    [[ $status == *" 200 "* ]] && kill -TERM "$pid" && wait "$pid" && test -s /app/callout.aot

# TLS certificate: without one the 8443 listener uses an ephemeral self-signed certificate made at
# start. To serve your own, mount the PEM certificate chain and PEM PKCS#8 private key as
#   /etc/callout/tls/tls.crt and /etc/callout/tls/tls.key
# (a Kubernetes TLS secret mounted at /etc/callout/tls has exactly these names) and set
#   CALLOUT_CERT_CHAIN_PATH=/etc/callout/tls/tls.crt
#   CALLOUT_PRIVATE_KEY_PATH=/etc/callout/tls/tls.key
# They are not set here: without the files the server would refuse to start. The key file must be
# readable by uid 10001.

# No HEALTHCHECK: the JRE image has no curl or wget, and orchestrators (Kubernetes probes, Cloud
# load balancer health checks) probe GET http://HOST:8000/ themselves.

USER 10001:10001

# Exec form, so java is PID 1 and receives SIGTERM directly (the server then drains and exits 0).
# JVM flags, deliberately few (the training run above uses the same, or the cache is ignored):
#   -XX:AOTCache=/app/callout.aot
#                                the ahead-of-time cache of the training run above.
#   -XX:MaxRAMPercentage=70.0    heap limit as a share of the container's memory limit (the JVM
#                                reads the cgroup limit); the remaining 30% holds metaspace, code
#                                cache, thread stacks and gRPC's (Netty's) direct buffers.
#   -XX:+UseSerialGC             a callout container has 1-2 CPUs and a small heap, where the
#                                serial collector's pauses are short and it needs less memory than
#                                G1: idle RSS 95 vs 111 MiB emulating the Kubernetes Deployment's
#                                limits (1 CPU, 512 MiB), 105 vs 115 MiB on the 2-core host, with
#                                no start-up difference beyond noise (BENCHMARKS.md). The JVM picks
#                                it by itself below 2 CPUs or 1792 MB; the flag makes 2-CPU
#                                containers behave the same.
#   -XX:+ExitOnOutOfMemoryError  exit at the first OutOfMemoryError instead of limping on, so the
#                                orchestrator restarts the container.
# More JVM flags without rebuilding: `-e JAVA_TOOL_OPTIONS="..."` (the JVM reads it at start; a
# GC flag there makes the cache unusable, which the JVM reports, and start-up slower).
ENTRYPOINT ["java", "-XX:AOTCache=/app/callout.aot", "-XX:MaxRAMPercentage=70.0", "-XX:+UseSerialGC", "-XX:+ExitOnOutOfMemoryError", "-jar", "/app/callout-server.jar"]
CMD []

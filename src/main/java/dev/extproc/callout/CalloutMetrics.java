package dev.extproc.callout;

import io.grpc.Status;
import io.prometheus.metrics.core.datapoints.CounterDataPoint;
import io.prometheus.metrics.core.datapoints.DistributionDataPoint;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.instrumentation.jvm.JvmBufferPoolMetrics;
import io.prometheus.metrics.instrumentation.jvm.JvmClassLoadingMetrics;
import io.prometheus.metrics.instrumentation.jvm.JvmCompilationMetrics;
import io.prometheus.metrics.instrumentation.jvm.JvmGarbageCollectorMetrics;
import io.prometheus.metrics.instrumentation.jvm.JvmMemoryMetrics;
import io.prometheus.metrics.instrumentation.jvm.JvmRuntimeInfoMetric;
import io.prometheus.metrics.instrumentation.jvm.JvmThreadsMetrics;
import io.prometheus.metrics.instrumentation.jvm.ProcessMetrics;
import io.prometheus.metrics.model.registry.MultiCollector;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.MetricSnapshots;
import io.prometheus.metrics.model.snapshots.Unit;
import java.util.Locale;
import java.util.function.IntSupplier;
import org.jspecify.annotations.Nullable;

/**
 * The Prometheus instrumentation of one {@link CalloutServer}'s streams, in a registry of its own.
 *
 * <p>Every labelled series is resolved once, here, so a message costs a few uncontended adds and
 * two {@link System#nanoTime()} calls; with metrics off, {@link #OFF} costs nothing.
 */
abstract class CalloutMetrics {

  /**
   * Hook latency buckets, in seconds: from 100 µs (a header rewrite) to 10 s (the longest message
   * timeout Service Extensions allows), with a bound at Envoy's default 200 ms message timeout so
   * that the share of replies that came too late can be read off.
   */
  static final double[] HOOK_SECONDS_BUCKETS = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2.5, 5, 10
  };

  /** Records nothing; for servers with metrics off or without an HTTP listener to serve them. */
  static final CalloutMetrics OFF = new Off();

  /** Returns recording metrics when {@code config} serves them, else {@link #OFF}. */
  static CalloutMetrics create(CalloutServerConfig config, IntSupplier openStreams) {
    return config.isMetricsEnabled() && config.healthCheckAddress().isPresent()
        ? new Recording(openStreams)
        : OFF;
  }

  /** The registry to scrape; null when off. */
  abstract @Nullable PrometheusRegistry registry();

  /** A stream opened. */
  abstract void streamStarted();

  /** A message of {@code phase} arrived. */
  abstract void message(Phase phase);

  /**
   * The hook of {@code phase}, started at {@code started} ({@link System#nanoTime()}), returned.
   */
  abstract void hookEnded(Phase phase, long started);

  /** An immediate response went out in reply to {@code phase}. */
  abstract void immediateResponse(Phase phase);

  /** A stream ended with {@code code}. */
  abstract void streamEnded(Status.Code code);

  /** How an ext_authz check ended. */
  enum Decision {
    ALLOWED,
    DENIED,
    FAILED
  }

  /** An ext_authz check that arrived at {@code started} ({@link System#nanoTime()}) ended. */
  abstract void checkEnded(Decision decision, long started);

  /** A network ext_proc connection's stream opened. */
  abstract void connectionStarted();

  /** A network ext_proc message carried {@code bytes} read from ({@code read}) or to the client. */
  abstract void networkData(boolean read, int bytes);

  private static final class Off extends CalloutMetrics {
    @Override
    @Nullable PrometheusRegistry registry() {
      return null;
    }

    @Override
    void streamStarted() {}

    @Override
    void message(Phase phase) {}

    @Override
    void hookEnded(Phase phase, long started) {}

    @Override
    void immediateResponse(Phase phase) {}

    @Override
    void streamEnded(Status.Code code) {}

    @Override
    void checkEnded(Decision decision, long started) {}

    @Override
    void connectionStarted() {}

    @Override
    void networkData(boolean read, int bytes) {}
  }

  // Series live in arrays indexed by ordinal, as in an EnumMap, minus its lookup and null checks.
  @SuppressWarnings("EnumOrdinal")
  private static final class Recording extends CalloutMetrics {
    private static final double NANOS_PER_SECOND = 1e9;

    private final PrometheusRegistry registry = new PrometheusRegistry();
    private final CounterDataPoint streams;
    private final CounterDataPoint[] ended;
    private final CounterDataPoint[] messages;
    private final DistributionDataPoint[] hookSeconds;
    private final CounterDataPoint[] immediateResponses;
    private final CounterDataPoint[] checks;
    private final DistributionDataPoint checkSeconds;
    private final CounterDataPoint connections;
    private final CounterDataPoint readBytes;
    private final CounterDataPoint writtenBytes;

    Recording(IntSupplier openStreams) {
      GaugeWithCallback.builder()
          .name("callout_streams_active")
          .help("Streams open now: ext_proc streams, ext_authz checks and network connections.")
          .callback(callback -> callback.call(openStreams.getAsInt()))
          .register(registry);
      streams =
          Counter.builder()
              .name("callout_streams_total")
              .help("ext_proc streams opened.")
              .withoutExemplars()
              .register(registry);
      Counter endedByCode =
          Counter.builder()
              .name("callout_streams_ended_total")
              .help("ext_proc streams ended, by the gRPC status they ended with.")
              .labelNames("grpc_code")
              .withoutExemplars()
              .register(registry);
      Counter messagesByPhase =
          Counter.builder()
              .name("callout_messages_total")
              .help("ext_proc messages received, by phase.")
              .labelNames("phase")
              .withoutExemplars()
              .register(registry);
      Histogram hookSecondsByPhase =
          Histogram.builder()
              .name("callout_hook_duration_seconds")
              .help(
                  "Time from a message to its reply: the hook and the checks of its reply, by phase.")
              .unit(Unit.SECONDS)
              .labelNames("phase")
              .classicOnly()
              .classicUpperBounds(HOOK_SECONDS_BUCKETS)
              .withoutExemplars()
              .register(registry);
      Counter immediateByPhase =
          Counter.builder()
              .name("callout_immediate_responses_total")
              .help("Immediate responses sent, by the phase they answered.")
              .labelNames("phase")
              .withoutExemplars()
              .register(registry);

      Status.Code[] codes = Status.Code.values();
      ended = new CounterDataPoint[codes.length];
      for (Status.Code code : codes) {
        ended[code.ordinal()] = endedByCode.labelValues(code.name());
      }
      Phase[] phases = Phase.values();
      messages = new CounterDataPoint[phases.length];
      hookSeconds = new DistributionDataPoint[phases.length];
      immediateResponses = new CounterDataPoint[phases.length];
      for (Phase phase : phases) {
        messages[phase.ordinal()] = messagesByPhase.labelValues(phase.wireName());
        hookSeconds[phase.ordinal()] = hookSecondsByPhase.labelValues(phase.wireName());
        immediateResponses[phase.ordinal()] = immediateByPhase.labelValues(phase.wireName());
      }

      Counter checksByDecision =
          Counter.builder()
              .name("callout_checks_total")
              .help("ext_authz checks ended, by decision: allowed, denied or failed.")
              .labelNames("decision")
              .withoutExemplars()
              .register(registry);
      checks = new CounterDataPoint[Decision.values().length];
      for (Decision decision : Decision.values()) {
        checks[decision.ordinal()] =
            checksByDecision.labelValues(decision.name().toLowerCase(Locale.ROOT));
      }
      checkSeconds =
          Histogram.builder()
              .name("callout_check_duration_seconds")
              .help("Time from an ext_authz check to its decision: onCheck and its checks.")
              .unit(Unit.SECONDS)
              .classicOnly()
              .classicUpperBounds(HOOK_SECONDS_BUCKETS)
              .withoutExemplars()
              .register(registry);
      connections =
          Counter.builder()
              .name("callout_network_connections_total")
              .help("Network ext_proc streams (one per connection) opened.")
              .withoutExemplars()
              .register(registry);
      Counter bytesByDirection =
          Counter.builder()
              .name("callout_network_bytes_total")
              .help("Network ext_proc bytes received, by direction: read (from the client), write.")
              .labelNames("direction")
              .withoutExemplars()
              .register(registry);
      readBytes = bytesByDirection.labelValues("read");
      writtenBytes = bytesByDirection.labelValues("write");

      registry.register(new JvmBasics());
    }

    @Override
    PrometheusRegistry registry() {
      return registry;
    }

    @Override
    void streamStarted() {
      streams.inc();
    }

    @Override
    void message(Phase phase) {
      messages[phase.ordinal()].inc();
    }

    @Override
    void hookEnded(Phase phase, long started) {
      hookSeconds[phase.ordinal()].observe((System.nanoTime() - started) / NANOS_PER_SECOND);
    }

    @Override
    void immediateResponse(Phase phase) {
      immediateResponses[phase.ordinal()].inc();
    }

    @Override
    void streamEnded(Status.Code code) {
      ended[code.ordinal()].inc();
    }

    @Override
    void checkEnded(Decision decision, long started) {
      checks[decision.ordinal()].inc();
      checkSeconds.observe((System.nanoTime() - started) / NANOS_PER_SECOND);
    }

    @Override
    void connectionStarted() {
      connections.inc();
    }

    @Override
    void networkData(boolean read, int bytes) {
      (read ? readBytes : writtenBytes).inc(bytes);
    }
  }

  /**
   * The JVM and process basics, set up at the first scrape rather than with the server: the JMX
   * beans behind them take a noticeable share of start-up to load.
   *
   * <p>Not {@code JvmMetrics.register()}, which keeps every registry in a static set, nor the
   * allocation metrics, which add GC listeners that are never removed: both would leak a registry
   * per server in a JVM that starts several.
   */
  private static final class JvmBasics implements MultiCollector {
    private @Nullable PrometheusRegistry jvm;

    @Override
    public synchronized MetricSnapshots collect() {
      PrometheusRegistry registry = jvm;
      if (registry == null) {
        registry = new PrometheusRegistry();
        JvmThreadsMetrics.builder().register(registry);
        JvmMemoryMetrics.builder().register(registry);
        JvmBufferPoolMetrics.builder().register(registry);
        JvmGarbageCollectorMetrics.builder().register(registry);
        JvmClassLoadingMetrics.builder().register(registry);
        JvmCompilationMetrics.builder().register(registry);
        JvmRuntimeInfoMetric.builder().register(registry);
        ProcessMetrics.builder().register(registry);
        jvm = registry;
      }
      return registry.scrape();
    }
  }
}

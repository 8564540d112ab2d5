package dev.extproc.callout;

import dev.extproc.callout.internal.Clock;
import dev.extproc.callout.internal.HookExecutors;
import io.grpc.ServerServiceDefinition;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.jspecify.annotations.Nullable;
import org.slf4j.LoggerFactory;

/**
 * The start and stop of a {@link CalloutServer}: its listeners while running, the hook executor,
 * created on first use, and the clock their periodic work runs on. Thread-safe.
 */
final class ServerLifecycle {
  private final CalloutServerConfig config;
  private final StreamRegistry streams;
  private final Clock clock;
  private final Object lock = new Object();
  private @Nullable Listeners listeners;
  private boolean closed;
  private boolean hookExecutorCreated;
  private @Nullable ExecutorService hookExecutor;

  ServerLifecycle(CalloutServerConfig config, StreamRegistry streams, Clock clock) {
    this.config = config;
    this.streams = streams;
    this.clock = clock;
  }

  /**
   * The executor hooks run on, created on first use as the configuration says; {@code null} when
   * hooks run inline on the thread that delivers the message.
   *
   * @throws IllegalStateException for virtual threads on a JDK without them
   */
  @Nullable Executor hookExecutor() {
    synchronized (lock) {
      if (!hookExecutorCreated) {
        hookExecutor = HookExecutors.create(config, clock);
        hookExecutorCreated = true;
      }
      return hookExecutor;
    }
  }

  /** See {@link CalloutServer#start()}; {@code services} are built once the checks pass. */
  void start(Supplier<List<ServerServiceDefinition>> services, @Nullable PrometheusRegistry metrics)
      throws IOException {
    synchronized (lock) {
      if (closed || listeners != null) {
        throw new IllegalStateException(closed ? "server is closed" : "server already started");
      }
      listeners = Listeners.start(config, services.get(), metrics, clock);
    }
  }

  /** See {@link CalloutServer#close()}. */
  void close() {
    Listeners running;
    synchronized (lock) {
      closed = true;
      running = listeners;
    }
    if (running != null) {
      running.close(config.shutdownDrainDelay(), config.shutdownGracePeriod(), this::stopHooks);
    } else {
      stopHooks();
    }
  }

  /**
   * Once every stream has ended: lets hooks still running (their streams were cancelled at the end
   * of the grace period) return, and the {@code onStreamEnd} calls queued behind them run, for up
   * to {@link CalloutServer#HOOKS_RETURN_TIMEOUT}; then interrupts what still runs, and stops the
   * clock (whose stall check the hook pool needs until then).
   */
  private void stopHooks() {
    streams.close();
    try {
      stopHookExecutor();
    } finally {
      clock.close();
    }
  }

  private void stopHookExecutor() {
    ExecutorService executor;
    synchronized (lock) {
      executor = hookExecutor;
    }
    if (executor == null) {
      return;
    }
    executor.shutdown();
    Duration timeout = CalloutServer.HOOKS_RETURN_TIMEOUT;
    try {
      if (!executor.awaitTermination(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
        // Looked up here, not held in a static field: see CalloutServer.
        LoggerFactory.getLogger(CalloutServer.class)
            .warn("hooks still running {} after their streams ended: interrupting them", timeout);
        executor.shutdownNow();
      }
    } catch (InterruptedException e) {
      executor.shutdownNow();
      Thread.currentThread().interrupt();
    }
  }

  /** See {@link CalloutServer#awaitTermination()}. */
  void awaitTermination() throws InterruptedException {
    Optional<Listeners> running = running();
    if (running.isPresent()) {
      running.get().awaitTermination();
    }
  }

  /** See {@link CalloutServer#awaitTermination(Duration)}. */
  boolean awaitTermination(Duration timeout) throws InterruptedException {
    Optional<Listeners> running = running();
    return running.isEmpty() || running.get().awaitTermination(timeout);
  }

  /** The listeners while running. */
  Optional<Listeners> running() {
    synchronized (lock) {
      return Optional.ofNullable(listeners);
    }
  }
}

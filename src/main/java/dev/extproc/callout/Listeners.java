package dev.extproc.callout;

import dev.extproc.callout.internal.CertificateReloader;
import dev.extproc.callout.internal.Clock;
import dev.extproc.callout.internal.HealthHttpServer;
import dev.extproc.callout.internal.TlsMaterial;
import io.grpc.InsecureServerCredentials;
import io.grpc.Server;
import io.grpc.ServerInterceptors;
import io.grpc.ServerServiceDefinition;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.protobuf.services.HealthStatusManager;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.FutureTask;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.KeyManager;
import javax.net.ssl.SSLContext;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The running listeners of a {@link CalloutServer}: the gRPC listeners (plaintext and TLS, each
 * serving ext_proc, {@code grpc.health.v1} and reflection) and the HTTP health listener, with the
 * health state they share.
 */
final class Listeners {
  private static final Logger logger = LoggerFactory.getLogger(Listeners.class);

  private final @Nullable Server plaintext;
  private final @Nullable Server secure;
  private final @Nullable HealthHttpServer health;
  private final HealthStatusManager grpcHealth;
  private final HealthWatches healthWatches;
  private final @Nullable CertificateReloader reloader;
  private final CountDownLatch terminated = new CountDownLatch(1);
  private volatile boolean serving = true;
  private boolean closing;

  private Listeners(
      @Nullable Server plaintext,
      @Nullable Server secure,
      @Nullable HealthHttpServer health,
      HealthStatusManager grpcHealth,
      HealthWatches healthWatches,
      @Nullable CertificateReloader reloader) {
    this.plaintext = plaintext;
    this.secure = secure;
    this.health = health;
    this.grpcHealth = grpcHealth;
    this.healthWatches = healthWatches;
    this.reloader = reloader;
  }

  /**
   * Binds every enabled listener or none; see {@link CalloutServer#start()}. The health listener
   * serves {@code metrics} at {@code /metrics} when given; periodic work (certificate polling,
   * health request time limits) runs on {@code clock}.
   */
  static Listeners start(
      CalloutServerConfig config,
      List<ServerServiceDefinition> services,
      @Nullable PrometheusRegistry metrics,
      Clock clock)
      throws IOException {
    NettyLeakDetection.offUnlessConfigured();
    HealthStatusManager grpcHealth = new HealthStatusManager();
    for (ServerServiceDefinition service : services) {
      grpcHealth.setStatus(service.getServiceDescriptor().getName(), ServingStatus.SERVING);
    }
    HealthWatches healthWatches = new HealthWatches();
    ServerServiceDefinition healthService =
        ServerInterceptors.intercept(grpcHealth.getHealthService(), healthWatches);

    // TLS set-up (key material, SSL engine) is the slowest part of start-up: it runs on its own
    // thread while the plaintext listener binds.
    FutureTask<@Nullable SecureListener> secureStart =
        new FutureTask<>(
            () ->
                SecureListener.isNeeded(config)
                    ? SecureListener.start(config, services, healthService, clock)
                    : null);
    new Thread(secureStart, "callout-tls-start").start();

    Server plaintext = null;
    SecureListener secure = null;
    HealthHttpServer health = null;
    Listeners[] self = new Listeners[1];
    try {
      if (config.plaintextAddress().isPresent()) {
        plaintext =
            GrpcListener.bind(
                "plaintext gRPC",
                config.plaintextAddress().get(),
                InsecureServerCredentials.create(),
                config,
                services,
                healthService);
      }
      secure = SecureListener.await(secureStart);
      if (config.healthCheckAddress().isPresent()) {
        InetSocketAddress address =
            GrpcListener.resolve("health check", config.healthCheckAddress().get());
        SSLContext ssl =
            config.isSecureHealthCheck() && secure != null
                ? TlsMaterial.sslContext(secure.keyManagers().toArray(new KeyManager[0]))
                : null;
        try {
          health =
              HealthHttpServer.start(
                  address, ssl, () -> self[0] != null && self[0].serving, metrics, clock);
        } catch (IOException e) {
          throw GrpcListener.bindFailure("health check", address, e);
        }
      }
    } catch (IOException | RuntimeException e) {
      if (plaintext != null) {
        plaintext.shutdownNow();
      }
      SecureListener late = secure != null ? secure : SecureListener.awaitQuietly(secureStart);
      if (late != null) {
        late.release();
      }
      throw e;
    }
    self[0] =
        new Listeners(
            plaintext,
            secure == null ? null : secure.server(),
            health,
            grpcHealth,
            healthWatches,
            secure == null ? null : secure.reloader());
    logger.info(
        "serving {}",
        services.stream().map(service -> service.getServiceDescriptor().getName()).toList());
    logBound("plaintext gRPC (h2c)", config.plaintextAddress(), self[0].plaintextAddress());
    logBound("TLS gRPC", config.secureAddress(), self[0].secureAddress());
    if (health != null) {
      logBound(
          config.isSecureHealthCheck() ? "HTTPS health check" : "HTTP health check",
          config.healthCheckAddress(),
          self[0].healthCheckAddress());
    } else {
      logger.info("combined health check: grpc.health.v1 on the gRPC listeners only");
    }
    return self[0];
  }

  private static void logBound(
      String name, Optional<InetSocketAddress> configured, Optional<InetSocketAddress> bound) {
    if (configured.isPresent() && bound.isPresent()) {
      logger.info(
          "{} listening on {}:{}", name, configured.get().getHostString(), bound.get().getPort());
    }
  }

  Optional<InetSocketAddress> plaintextAddress() {
    return GrpcListener.boundAddress(plaintext);
  }

  Optional<InetSocketAddress> secureAddress() {
    return GrpcListener.boundAddress(secure);
  }

  Optional<InetSocketAddress> healthCheckAddress() {
    return health == null ? Optional.empty() : Optional.of(health.address());
  }

  /**
   * Drains: health first, then (after {@code delay}, while streams are still accepted) the gRPC
   * listeners, then in-flight streams for up to {@code grace}, then {@code streamsEnded} (before
   * {@link #awaitTermination()} returns), then the rest.
   */
  void close(Duration delay, Duration grace, Runnable streamsEnded) {
    synchronized (this) {
      if (closing) {
        awaitQuietly();
        return;
      }
      closing = true;
    }
    serving = false;
    grpcHealth.enterTerminalState();
    boolean interrupted = false;
    if (delay.isZero()) {
      logger.info(
          "draining: health now NOT_SERVING; waiting up to {} for in-flight streams", grace);
    } else {
      logger.info(
          "draining: health now NOT_SERVING; still accepting streams for {} (drain delay)", delay);
      try {
        Thread.sleep(delay.toMillis());
      } catch (InterruptedException e) {
        interrupted = true;
      }
      logger.info(
          "drain delay over: no new streams; waiting up to {} for in-flight streams", grace);
    }
    List<Server> servers = new ArrayList<>();
    if (plaintext != null) {
      servers.add(plaintext);
    }
    if (secure != null) {
      servers.add(secure);
    }
    servers.forEach(Server::shutdown);
    healthWatches.endAll();
    long deadline = System.nanoTime() + grace.toNanos();
    for (Server server : servers) {
      try {
        if (!server.awaitTermination(
            Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS)) {
          logger.warn("grace period over: cancelling the remaining streams");
          server.shutdownNow();
        }
      } catch (InterruptedException e) {
        interrupted = true;
        server.shutdownNow();
      }
    }
    for (Server server : servers) {
      try {
        server.awaitTermination(5, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        interrupted = true;
      }
    }
    streamsEnded.run();
    if (health != null) {
      health.stop();
    }
    if (reloader != null) {
      reloader.close();
    }
    logger.info("stopped");
    terminated.countDown();
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
  }

  private void awaitQuietly() {
    try {
      terminated.await();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  void awaitTermination() throws InterruptedException {
    terminated.await();
  }

  boolean awaitTermination(Duration timeout) throws InterruptedException {
    return terminated.await(timeout.toNanos(), TimeUnit.NANOSECONDS);
  }
}

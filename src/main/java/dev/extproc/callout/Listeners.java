package dev.extproc.callout;

import dev.extproc.callout.internal.CertificateReloader;
import dev.extproc.callout.internal.Clock;
import dev.extproc.callout.internal.HealthHttpServer;
import dev.extproc.callout.internal.TlsMaterial;
import io.envoyproxy.envoy.service.ext_proc.v3.ExternalProcessorGrpc;
import io.grpc.InsecureServerCredentials;
import io.grpc.Server;
import io.grpc.ServerCredentials;
import io.grpc.ServerInterceptors;
import io.grpc.ServerServiceDefinition;
import io.grpc.TlsServerCredentials;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.protobuf.services.HealthStatusManager;
import io.grpc.protobuf.services.ProtoReflectionServiceV1;
import io.grpc.util.AdvancedTlsX509KeyManager;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
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

  /**
   * Time a new connection gets to finish its TLS handshake and send the HTTP/2 preface before it is
   * closed: 10 s, Netty's TLS handshake timeout, applied to plaintext connections too (grpc-java's
   * own default is 120 s). A proxy does both within milliseconds of connecting.
   */
  static final Duration HANDSHAKE_TIMEOUT = Duration.ofSeconds(10);

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

  /** The TLS key managers, their reloader and the TLS gRPC listener, when enabled. */
  private record Secure(
      List<KeyManager> keyManagers,
      @Nullable CertificateReloader reloader,
      @Nullable Server server) {}

  /**
   * Binds every enabled listener or none; see {@link CalloutServer#start()}. The health listener
   * serves {@code metrics} at {@code /metrics} when given; periodic work (certificate polling,
   * health request time limits) runs on {@code clock}.
   */
  static Listeners start(
      CalloutServerConfig config,
      ServerServiceDefinition service,
      @Nullable PrometheusRegistry metrics,
      Clock clock)
      throws IOException {
    NettyLeakDetection.offUnlessConfigured();
    HealthStatusManager grpcHealth = new HealthStatusManager();
    grpcHealth.setStatus(ExternalProcessorGrpc.SERVICE_NAME, ServingStatus.SERVING);
    HealthWatches healthWatches = new HealthWatches();
    ServerServiceDefinition healthService =
        ServerInterceptors.intercept(grpcHealth.getHealthService(), healthWatches);

    // TLS set-up (key material, SSL engine) is the slowest part of start-up: it runs on its own
    // thread while the plaintext listener binds.
    FutureTask<@Nullable Secure> secureStart =
        new FutureTask<>(
            () -> needsTls(config) ? startSecure(config, service, healthService, clock) : null);
    new Thread(secureStart, "callout-tls-start").start();

    Server plaintext = null;
    Secure secure = null;
    HealthHttpServer health = null;
    Listeners[] self = new Listeners[1];
    try {
      if (config.plaintextAddress().isPresent()) {
        plaintext =
            bindGrpc(
                "plaintext gRPC",
                config.plaintextAddress().get(),
                InsecureServerCredentials.create(),
                config,
                service,
                healthService);
      }
      secure = await(secureStart);
      if (config.healthCheckAddress().isPresent()) {
        InetSocketAddress address = resolve("health check", config.healthCheckAddress().get());
        SSLContext ssl =
            config.isSecureHealthCheck() && secure != null
                ? TlsMaterial.sslContext(secure.keyManagers().toArray(new KeyManager[0]))
                : null;
        try {
          health =
              HealthHttpServer.start(
                  address, ssl, () -> self[0] != null && self[0].serving, metrics, clock);
        } catch (IOException e) {
          throw bindFailure("health check", address, e);
        }
      }
    } catch (IOException | RuntimeException e) {
      if (plaintext != null) {
        plaintext.shutdownNow();
      }
      Secure late = secure != null ? secure : awaitQuietly(secureStart);
      if (late != null) {
        if (late.server() != null) {
          late.server().shutdownNow();
        }
        if (late.reloader() != null) {
          late.reloader().close();
        }
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

  private static Secure startSecure(
      CalloutServerConfig config,
      ServerServiceDefinition service,
      ServerServiceDefinition healthService,
      Clock clock)
      throws IOException {
    TlsMaterial tls = loadTls(config);
    AdvancedTlsX509KeyManager keyManager = tls.keyManager();
    KeyManager[] keyManagers = {keyManager};
    CertificateReloader reloader = null;
    Duration refresh = config.certificateRefreshInterval();
    if (config.certChainPath().isPresent()
        && config.privateKeyPath().isPresent()
        && !refresh.isZero()) {
      reloader =
          CertificateReloader.watch(
              config.certChainPath().get(),
              config.privateKeyPath().get(),
              keyManager,
              refresh,
              clock);
    }
    if (config.secureAddress().isEmpty()) {
      return new Secure(List.of(keyManagers), reloader, null);
    }
    TlsServerCredentials.Builder credentials =
        TlsServerCredentials.newBuilder().keyManager(keyManagers);
    if (config.clientCaPath().isPresent()) {
      credentials
          .trustManager(TlsMaterial.clientTrust(config.clientCaPath().get()))
          .clientAuth(TlsServerCredentials.ClientAuth.REQUIRE);
    }
    Server server =
        bindGrpc(
            "TLS gRPC",
            config.secureAddress().get(),
            credentials.build(),
            config,
            service,
            healthService);
    return new Secure(List.of(keyManagers), reloader, server);
  }

  private static @Nullable Secure await(FutureTask<@Nullable Secure> task) throws IOException {
    try {
      return task.get();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted while starting the TLS listener", e);
    } catch (ExecutionException e) {
      Throwable cause = e.getCause();
      if (cause instanceof IOException io) {
        throw io;
      }
      if (cause instanceof RuntimeException runtime) {
        throw runtime;
      }
      throw new IOException("cannot start the TLS listener: " + cause, cause);
    }
  }

  private static @Nullable Secure awaitQuietly(FutureTask<@Nullable Secure> task) {
    try {
      return await(task);
    } catch (IOException | RuntimeException e) {
      return null;
    }
  }

  private static void logBound(
      String name, Optional<InetSocketAddress> configured, Optional<InetSocketAddress> bound) {
    if (configured.isPresent() && bound.isPresent()) {
      logger.info(
          "{} listening on {}:{}", name, configured.get().getHostString(), bound.get().getPort());
    }
  }

  private static boolean needsTls(CalloutServerConfig config) {
    return config.secureAddress().isPresent() || config.isSecureHealthCheck();
  }

  private static TlsMaterial loadTls(CalloutServerConfig config) throws IOException {
    byte[] chainPem = config.certChainPem();
    byte[] keyPem = config.privateKeyPem();
    if (config.certChainPath().isPresent() && config.privateKeyPath().isPresent()) {
      return TlsMaterial.fromFiles(config.certChainPath().get(), config.privateKeyPath().get());
    }
    if (chainPem != null && keyPem != null) {
      return TlsMaterial.fromPem(chainPem, keyPem, "the configured PEM bytes");
    }
    TlsMaterial ephemeral = TlsMaterial.ephemeral();
    logger.warn(
        "no certificate configured: using an ephemeral self-signed certificate for localhost,"
            + " SHA-256 fingerprint {}; give --cert-chain-path and --private-key-path for a real"
            + " one",
        ephemeral.fingerprint());
    return ephemeral;
  }

  private static Server bindGrpc(
      String name,
      InetSocketAddress configured,
      ServerCredentials credentials,
      CalloutServerConfig config,
      ServerServiceDefinition service,
      ServerServiceDefinition healthService)
      throws IOException {
    InetSocketAddress address = resolve(name, configured);
    NettyServerBuilder builder =
        NettyServerBuilder.forAddress(address, credentials)
            .maxInboundMessageSize(transportMessageLimit(config.maxInboundMessageSize()))
            .permitKeepAliveTime(config.permitKeepAliveTime().toNanos(), TimeUnit.NANOSECONDS)
            .permitKeepAliveWithoutCalls(true)
            .keepAliveTime(keepAliveNanos(config.keepAliveTime()), TimeUnit.NANOSECONDS)
            .keepAliveTimeout(config.keepAliveTimeout().toNanos(), TimeUnit.NANOSECONDS)
            .handshakeTimeout(HANDSHAKE_TIMEOUT.toNanos(), TimeUnit.NANOSECONDS)
            .addService(service)
            .addService(healthService)
            .addService(ProtoReflectionServiceV1.newInstance());
    // The network thread delivers every callback; CalloutStream hands only the hooks to the hook
    // executor, which saves a thread switch for each callback that runs no user code.
    builder.directExecutor();
    try {
      return builder.build().start();
    } catch (IOException e) {
      throw bindFailure(name, address, e);
    }
  }

  /** Server ping interval for grpc-java, where an unreasonably large value turns pings off. */
  private static long keepAliveNanos(Duration time) {
    return time.isZero() ? Long.MAX_VALUE : time.toNanos();
  }

  /**
   * The transport's message limit: above the configured one (which each stream enforces itself,
   * with a RESOURCE_EXHAUSTED that names it), yet bounded, so no message can grow without limit.
   */
  static int transportMessageLimit(int configured) {
    return (int) Math.min(Integer.MAX_VALUE, (long) configured + Math.max(configured, 1 << 20));
  }

  private static InetSocketAddress resolve(String name, InetSocketAddress configured)
      throws IOException {
    InetSocketAddress resolved =
        new InetSocketAddress(configured.getHostString(), configured.getPort());
    if (resolved.isUnresolved()) {
      throw new IOException(
          "cannot bind the " + name + " listener: unknown host " + configured.getHostString());
    }
    return resolved;
  }

  private static IOException bindFailure(String name, InetSocketAddress address, IOException e) {
    Throwable cause = e;
    while (cause.getCause() != null) {
      cause = cause.getCause();
    }
    return new IOException(
        "cannot bind the "
            + name
            + " listener to "
            + address.getHostString()
            + ":"
            + address.getPort()
            + ": "
            + cause.getMessage(),
        e);
  }

  Optional<InetSocketAddress> plaintextAddress() {
    return boundAddress(plaintext);
  }

  Optional<InetSocketAddress> secureAddress() {
    return boundAddress(secure);
  }

  Optional<InetSocketAddress> healthCheckAddress() {
    return health == null ? Optional.empty() : Optional.of(health.address());
  }

  private static Optional<InetSocketAddress> boundAddress(@Nullable Server server) {
    if (server == null || server.getListenSockets().isEmpty()) {
      return Optional.empty();
    }
    SocketAddress address = server.getListenSockets().get(0);
    return address instanceof InetSocketAddress inet ? Optional.of(inet) : Optional.empty();
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

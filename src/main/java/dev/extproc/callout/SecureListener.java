package dev.extproc.callout;

import dev.extproc.callout.internal.CertificateReloader;
import dev.extproc.callout.internal.Clock;
import dev.extproc.callout.internal.TlsMaterial;
import io.grpc.Server;
import io.grpc.ServerServiceDefinition;
import io.grpc.TlsServerCredentials;
import io.grpc.util.AdvancedTlsX509KeyManager;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.FutureTask;
import javax.net.ssl.KeyManager;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The TLS side of a {@link CalloutServer}'s listeners: the key managers (shared with an HTTPS
 * health listener), the certificate reloader and the TLS gRPC listener, each when enabled.
 */
record SecureListener(
    List<KeyManager> keyManagers, @Nullable CertificateReloader reloader, @Nullable Server server) {
  // The category the listeners have always logged under, which log filters may name.
  private static final Logger logger = LoggerFactory.getLogger(Listeners.class);

  /** Whether any listener needs TLS material. */
  static boolean isNeeded(CalloutServerConfig config) {
    return config.secureAddress().isPresent() || config.isSecureHealthCheck();
  }

  /**
   * Loads (or generates) the TLS material, watches its files when configured, and binds the TLS
   * gRPC listener when enabled.
   */
  static SecureListener start(
      CalloutServerConfig config,
      List<ServerServiceDefinition> services,
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
      return new SecureListener(List.of(keyManagers), reloader, null);
    }
    TlsServerCredentials.Builder credentials =
        TlsServerCredentials.newBuilder().keyManager(keyManagers);
    if (config.clientCaPath().isPresent()) {
      credentials
          .trustManager(TlsMaterial.clientTrust(config.clientCaPath().get()))
          .clientAuth(TlsServerCredentials.ClientAuth.REQUIRE);
    }
    Server server =
        GrpcListener.bind(
            "TLS gRPC",
            config.secureAddress().get(),
            credentials.build(),
            config,
            services,
            healthService);
    return new SecureListener(List.of(keyManagers), reloader, server);
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

  /** Waits for a start running on another thread, rethrowing what it threw. */
  static @Nullable SecureListener await(FutureTask<@Nullable SecureListener> task)
      throws IOException {
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

  /** Like {@link #await}, but {@code null} for a start that failed. */
  static @Nullable SecureListener awaitQuietly(FutureTask<@Nullable SecureListener> task) {
    try {
      return await(task);
    } catch (IOException | RuntimeException e) {
      return null;
    }
  }

  /** Releases what a start bound, after another listener failed to bind. */
  void release() {
    if (server != null) {
      server.shutdownNow();
    }
    if (reloader != null) {
      reloader.close();
    }
  }
}

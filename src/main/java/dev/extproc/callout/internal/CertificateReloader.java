package dev.extproc.callout.internal;

import io.grpc.util.AdvancedTlsX509KeyManager;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ScheduledFuture;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Rotates certificates without a restart: polls the certificate chain and key files on the server's
 * {@link Clock} and, when either has changed and the new pair loads, swaps it into grpc-util's
 * {@link AdvancedTlsX509KeyManager}. Connections made after a change use the new pair, connections
 * already open keep theirs. A pair that does not load (half written, mismatched) is logged and
 * retried, and the old pair stays in use meanwhile.
 *
 * <p>The key manager serves the pairs: it names each in the alias it chooses, so a handshake under
 * way during a swap still gets the chain and the key of one pair. Its own {@code
 * updateIdentityCredentials(keyFile, certFile, period, unit, executor)} would poll the files too,
 * but it polls at most once a minute ({@code --certificate-refresh-interval} may be shorter),
 * reloads only when both files' modification times changed (a renewal that rewrites the chain over
 * the same key would be missed), installs a pair without checking that the key matches the
 * certificate (a bad pair would fail every handshake instead of being refused), reads RSA and EC
 * keys only (not EdDSA, which {@link TlsMaterial} reads), and logs through JUL. So this class keeps
 * that part only: when to reload, and whether the files are fit to.
 */
public final class CertificateReloader implements AutoCloseable {
  private static final Logger logger = LoggerFactory.getLogger(CertificateReloader.class);

  private final Path chain;
  private final Path key;
  private final AdvancedTlsX509KeyManager keys;
  private List<Object> stamp; // the clock's thread only, once polling
  private @Nullable ScheduledFuture<?> poller;

  private CertificateReloader(Path chain, Path key, AdvancedTlsX509KeyManager keys)
      throws IOException {
    this.chain = chain;
    this.key = key;
    this.keys = keys;
    this.stamp = stamp();
  }

  /**
   * Starts watching {@code chain} and {@code key}, checking every {@code interval} on {@code
   * clock}, and swapping each new pair into {@code keys} (which presents the pair loaded at start).
   */
  public static CertificateReloader watch(
      Path chain, Path key, AdvancedTlsX509KeyManager keys, Duration interval, Clock clock)
      throws IOException {
    CertificateReloader reloader = new CertificateReloader(chain, key, keys);
    reloader.poller = clock.every(interval, reloader::check);
    return reloader;
  }

  private List<Object> stamp() throws IOException {
    return List.of(
        Files.getLastModifiedTime(chain), Files.size(chain),
        Files.getLastModifiedTime(key), Files.size(key));
  }

  private void check() {
    try {
      List<Object> now = stamp();
      if (now.equals(stamp)) {
        return;
      }
      TlsMaterial loaded = TlsMaterial.fromFiles(chain, key);
      loaded.presentWith(keys);
      stamp = now;
      logger.info(
          "TLS certificate reloaded from {}: SHA-256 fingerprint {}", chain, loaded.fingerprint());
    } catch (IOException | RuntimeException e) {
      logger.warn(
          "TLS certificate files changed but do not load; keeping the current pair: {}",
          e.getMessage());
    }
  }

  /** Stops polling; the key manager keeps presenting the last pair. */
  @Override
  public void close() {
    ScheduledFuture<?> job = poller;
    if (job != null) {
      job.cancel(false);
    }
  }
}

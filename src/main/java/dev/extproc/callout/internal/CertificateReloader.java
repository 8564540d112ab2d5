package dev.extproc.callout.internal;

import java.io.IOException;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.Principal;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ScheduledFuture;
import javax.net.ssl.KeyManager;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.X509ExtendedKeyManager;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Serves the certificate chain and key from two files and picks up new ones when the files change,
 * so certificates rotate without a restart: connections made after a change use the new pair,
 * connections already open keep theirs. Files are polled on the server's {@link Clock}; a pair that does not load (half written,
 * mismatched) is logged and retried, and the old pair stays in use meanwhile.
 */
public final class CertificateReloader implements AutoCloseable {
  private static final Logger logger = LoggerFactory.getLogger(CertificateReloader.class);
  private static final String ALIAS_PREFIX = "callout-";

  /**
   * One loaded pair; its number makes the alias the TLS stack sees, so a swap between the calls of
   * one handshake never mixes the chain of one pair with the key of another.
   */
  private record Generation(int number, X509ExtendedKeyManager keys) {}

  private final Path chain;
  private final Path key;
  private @Nullable ScheduledFuture<?> poller;
  private volatile Generation current;
  private volatile @Nullable Generation previous;
  private List<Object> stamp;

  private CertificateReloader(Path chain, Path key, TlsMaterial initial) throws IOException {
    this.chain = chain;
    this.key = key;
    this.current = new Generation(0, (X509ExtendedKeyManager) initial.keyManagers()[0]);
    this.stamp = stamp();
  }

  /** Starts watching {@code chain} and {@code key}, checking every {@code interval} on {@code clock}. */
  public static CertificateReloader watch(
      Path chain, Path key, TlsMaterial initial, Duration interval, Clock clock)
      throws IOException {
    CertificateReloader reloader = new CertificateReloader(chain, key, initial);
    reloader.poller = clock.every(interval, reloader::check);
    return reloader;
  }

  /** Key managers that always present the latest pair that loaded. */
  public KeyManager[] keyManagers() {
    return new KeyManager[] {new Reloading()};
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
      Generation next =
          new Generation(current.number() + 1, (X509ExtendedKeyManager) loaded.keyManagers()[0]);
      previous = current;
      current = next;
      stamp = now;
      logger.info(
          "TLS certificate reloaded from {}: SHA-256 fingerprint {}", chain, loaded.fingerprint());
    } catch (IOException | RuntimeException e) {
      logger.warn(
          "TLS certificate files changed but do not load; keeping the current pair: {}",
          e.getMessage());
    }
  }

  @Override
  public void close() {
    ScheduledFuture<?> job = poller;
    if (job != null) {
      job.cancel(false);
    }
  }

  /** Delegates to the generation named by the alias, so one handshake sees one pair. */
  private final class Reloading extends X509ExtendedKeyManager {

    private @Nullable String alias(@Nullable String delegateAlias, Generation generation) {
      return delegateAlias == null ? null : ALIAS_PREFIX + generation.number();
    }

    private @Nullable Generation generation(@Nullable String alias) {
      if (alias == null || !alias.startsWith(ALIAS_PREFIX)) {
        return null;
      }
      Generation now = current;
      Generation before = previous;
      String number = alias.substring(ALIAS_PREFIX.length());
      if (number.equals(String.valueOf(now.number()))) {
        return now;
      }
      return before != null && number.equals(String.valueOf(before.number())) ? before : null;
    }

    @Override
    public String @Nullable [] getServerAliases(
        @Nullable String keyType, Principal @Nullable [] issuers) {
      Generation now = current;
      String alias = alias(now.keys().chooseServerAlias(keyType, issuers, null), now);
      return alias == null ? null : new String[] {alias};
    }

    @Override
    public @Nullable String chooseServerAlias(
        @Nullable String keyType, Principal @Nullable [] issuers, @Nullable Socket socket) {
      Generation now = current;
      return alias(now.keys().chooseServerAlias(keyType, issuers, socket), now);
    }

    @Override
    public @Nullable String chooseEngineServerAlias(
        @Nullable String keyType, Principal @Nullable [] issuers, @Nullable SSLEngine engine) {
      Generation now = current;
      return alias(now.keys().chooseEngineServerAlias(keyType, issuers, engine), now);
    }

    @Override
    public X509Certificate @Nullable [] getCertificateChain(@Nullable String alias) {
      Generation generation = generation(alias);
      return generation == null
          ? null
          : generation.keys().getCertificateChain(FixedKeyManager.ALIAS);
    }

    @Override
    public @Nullable PrivateKey getPrivateKey(@Nullable String alias) {
      Generation generation = generation(alias);
      return generation == null ? null : generation.keys().getPrivateKey(FixedKeyManager.ALIAS);
    }

    @Override
    public String @Nullable [] getClientAliases(
        @Nullable String keyType, Principal @Nullable [] issuers) {
      return null;
    }

    @Override
    public @Nullable String chooseClientAlias(
        String @Nullable [] keyType, Principal @Nullable [] issuers, @Nullable Socket socket) {
      return null;
    }
  }
}

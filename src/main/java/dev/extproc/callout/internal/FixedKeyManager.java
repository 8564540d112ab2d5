package dev.extproc.callout.internal;

import java.net.Socket;
import java.security.Principal;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.util.Locale;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.X509ExtendedKeyManager;
import org.jspecify.annotations.Nullable;

/** A server key manager that always presents one private key and its certificate chain. */
final class FixedKeyManager extends X509ExtendedKeyManager {
  /** The one alias it serves. */
  static final String ALIAS = "callout";

  private final PrivateKey privateKey;
  private final X509Certificate[] chain;

  FixedKeyManager(PrivateKey privateKey, X509Certificate[] chain) {
    this.privateKey = privateKey;
    this.chain = chain.clone();
  }

  /**
   * Whether the key can serve {@code keyType}: TLS stacks ask for {@code RSA}, {@code RSASSA-PSS},
   * {@code EC}, {@code EdDSA} and the like in turn, and take the first alias given.
   */
  private boolean serves(@Nullable String keyType) {
    if (keyType == null) {
      return false;
    }
    String wanted = keyType.toUpperCase(Locale.ROOT);
    String algorithm = privateKey.getAlgorithm().toUpperCase(Locale.ROOT);
    return switch (algorithm) {
      case "RSA" -> wanted.equals("RSA") || wanted.equals("RSASSA-PSS") || wanted.equals("DH_RSA");
      case "EC" -> wanted.startsWith("EC");
      default -> wanted.equals(algorithm) || wanted.equals("EDDSA");
    };
  }

  private @Nullable String alias(@Nullable String keyType) {
    return serves(keyType) ? ALIAS : null;
  }

  @Override
  public String @Nullable [] getServerAliases(
      @Nullable String keyType, Principal @Nullable [] issuers) {
    return serves(keyType) ? new String[] {ALIAS} : null;
  }

  @Override
  public @Nullable String chooseServerAlias(
      @Nullable String keyType, Principal @Nullable [] issuers, @Nullable Socket socket) {
    return alias(keyType);
  }

  @Override
  public @Nullable String chooseEngineServerAlias(
      @Nullable String keyType, Principal @Nullable [] issuers, @Nullable SSLEngine engine) {
    return alias(keyType);
  }

  @Override
  public X509Certificate @Nullable [] getCertificateChain(@Nullable String alias) {
    return ALIAS.equals(alias) ? chain.clone() : null;
  }

  @Override
  public @Nullable PrivateKey getPrivateKey(@Nullable String alias) {
    return ALIAS.equals(alias) ? privateKey : null;
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

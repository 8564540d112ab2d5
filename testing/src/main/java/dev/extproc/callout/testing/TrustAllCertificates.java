package dev.extproc.callout.testing;

import java.net.Socket;
import java.security.cert.X509Certificate;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.X509ExtendedTrustManager;

/**
 * A client trust manager that accepts any server certificate, as Google Cloud load balancers do by
 * default with a callout's: for tests and load tests against a TLS listener with an ephemeral
 * self-signed certificate, never for production clients. Extended, because grpc-java's Netty
 * refuses a plain {@code X509TrustManager} on newer JDKs.
 *
 * <pre>{@code
 * ChannelCredentials trustAll =
 *     TlsChannelCredentials.newBuilder().trustManager(new TrustAllCertificates()).build();
 * }</pre>
 */
public final class TrustAllCertificates extends X509ExtendedTrustManager {

  @Override
  public void checkClientTrusted(X509Certificate[] chain, String authType) {}

  @Override
  public void checkServerTrusted(X509Certificate[] chain, String authType) {}

  @Override
  public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket) {}

  @Override
  public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket) {}

  @Override
  public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine) {}

  @Override
  public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine) {}

  @Override
  public X509Certificate[] getAcceptedIssuers() {
    return new X509Certificate[0];
  }
}

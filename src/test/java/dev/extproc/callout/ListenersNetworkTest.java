package dev.extproc.callout;

import static com.google.common.truth.Truth.assertThat;
import static com.google.common.truth.extensions.proto.ProtoTruth.assertThat;
import static dev.extproc.callout.testing.CalloutTester.headers;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.extproc.callout.testing.CalloutTester;
import io.envoyproxy.envoy.service.ext_proc.v3.BodyResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.ExternalProcessorGrpc;
import io.envoyproxy.envoy.service.ext_proc.v3.HeadersResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpBody;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpHeaders;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.grpc.ChannelCredentials;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.TlsChannelCredentials;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.testing.TlsTesting;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManager;
import javax.net.ssl.X509TrustManager;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Runs real servers on loopback ports and talks to them over real sockets. */
class ListenersNetworkTest {

  private static final String LOOPBACK_ANY_PORT = "127.0.0.1:0";

  @TempDir Path tempDir;

  private final List<AutoCloseable> cleanup = new ArrayList<>();

  @AfterEach
  void cleanUp() throws Exception {
    for (int i = cleanup.size() - 1; i >= 0; i--) {
      cleanup.get(i).close();
    }
  }

  /** Adds a header on request headers, like the add-header sample; blocks on "x-block". */
  private static final class HeaderCallout extends CalloutServer {
    private final CountDownLatch blocked = new CountDownLatch(1);
    private final CountDownLatch release = new CountDownLatch(1);

    HeaderCallout(CalloutServerConfig config) {
      super(config);
    }

    @Override
    protected HeadersResponse onRequestHeaders(HttpHeaders headers, CalloutContext ctx) {
      if (CalloutTools.headersContain(headers, "x-block")) {
        blocked.countDown();
        try {
          release.await(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      }
      return CalloutTools.clearRouteCache(
          CalloutTools.addHeaderMutation(List.of(Map.entry("header-request", "request"))));
    }

    @Override
    protected @Nullable BodyResponse onRequestBody(HttpBody body, CalloutContext ctx) {
      return null;
    }
  }

  private static CalloutServerConfig.Builder loopback() {
    return CalloutServerConfig.newBuilder()
        .plaintextAddress(LOOPBACK_ANY_PORT)
        .secureAddress(LOOPBACK_ANY_PORT)
        .healthCheckAddress(LOOPBACK_ANY_PORT)
        .shutdownDrainDelay(Duration.ZERO)
        .shutdownGracePeriod(Duration.ofSeconds(10));
  }

  private HeaderCallout started(CalloutServerConfig config) throws IOException {
    HeaderCallout callout = new HeaderCallout(config);
    callout.start();
    cleanup.add(callout);
    return callout;
  }

  private ManagedChannel channel(
      InetSocketAddress address, ChannelCredentials credentials, @Nullable String authority) {
    var builder =
        Grpc.newChannelBuilderForAddress(address.getHostString(), address.getPort(), credentials);
    if (authority != null) {
      builder.overrideAuthority(authority);
    }
    ManagedChannel channel = builder.build();
    cleanup.add(channel::shutdownNow);
    return channel;
  }

  private ManagedChannel plaintextChannel(CalloutServer server) {
    return channel(
        server.plaintextAddress().orElseThrow(), InsecureChannelCredentials.create(), null);
  }

  private static ProcessingResponse expectedHeaderReply() {
    return ProcessingResponse.newBuilder()
        .setRequestHeaders(
            CalloutTools.clearRouteCache(
                CalloutTools.addHeaderMutation(List.of(Map.entry("header-request", "request")))))
        .build();
  }

  private static void assertAnswers(ManagedChannel channel) {
    CalloutTester.Stream stream = CalloutTester.forChannel(channel).newStream();
    assertThat(stream.requestHeaders(headers(":path", "/", ":authority", "example.com")))
        .isEqualTo(expectedHeaderReply());
    assertThat(stream.halfClose().getCode()).isEqualTo(Status.Code.OK);
  }

  private Path writeTestCert(String name) throws IOException {
    Path path = tempDir.resolve(name);
    try (InputStream in = TlsTesting.loadCert(name)) {
      Files.write(path, in.readAllBytes());
    }
    return path;
  }

  private static HttpResponse<String> get(URI uri, @Nullable SSLContext ssl) throws Exception {
    HttpClient.Builder client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5));
    if (ssl != null) {
      client.sslContext(ssl);
    }
    return client
        .build()
        .send(
            HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(5)).build(),
            HttpResponse.BodyHandlers.ofString());
  }

  private static URI healthUri(CalloutServer server, String scheme, String path) {
    InetSocketAddress address = server.healthCheckAddress().orElseThrow();
    return URI.create(scheme + "://127.0.0.1:" + address.getPort() + path);
  }

  /** Trusts any server certificate and records the one presented. */
  private static final class RecordingTrustManager implements X509TrustManager {
    volatile X509Certificate @Nullable [] presented;

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType) {}

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType) {
      presented = chain;
    }

    @Override
    public X509Certificate[] getAcceptedIssuers() {
      return new X509Certificate[0];
    }
  }

  private static SSLContext trustingContext(TrustManager trustManager) throws Exception {
    SSLContext context = SSLContext.getInstance("TLS");
    context.init(null, new TrustManager[] {trustManager}, new SecureRandom());
    return context;
  }

  @Test
  void plaintext_requestHeaders_answeredWithTheExactProtobuf() throws Exception {
    HeaderCallout server = started(loopback().disableTls().build());

    assertAnswers(plaintextChannel(server));
  }

  @Test
  void grpcHealthAndReflection_answerOnTheGrpcListener() throws Exception {
    HeaderCallout server = started(loopback().disableTls().build());
    ManagedChannel channel = plaintextChannel(server);
    HealthGrpc.HealthBlockingStub health = HealthGrpc.newBlockingStub(channel);

    assertThat(health.check(HealthCheckRequest.getDefaultInstance()).getStatus())
        .isEqualTo(ServingStatus.SERVING);
    assertThat(
            health
                .check(
                    HealthCheckRequest.newBuilder()
                        .setService(ExternalProcessorGrpc.SERVICE_NAME)
                        .build())
                .getStatus())
        .isEqualTo(ServingStatus.SERVING);

    assertThat(ReflectionProbe.listServices(channel))
        .containsAtLeast(
            "envoy.service.ext_proc.v3.ExternalProcessor",
            "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection");
  }

  @Test
  void tls_certificateFromFiles_handshakesAndAnswers() throws Exception {
    Path chain = writeTestCert("server1.pem");
    Path key = writeTestCert("server1.key");
    HeaderCallout server = started(loopback().disablePlaintext().certificate(chain, key).build());
    ChannelCredentials credentials =
        TlsChannelCredentials.newBuilder().trustManager(TlsTesting.loadCert("ca.pem")).build();

    assertAnswers(channel(server.secureAddress().orElseThrow(), credentials, "foo.test.google.fr"));
  }

  @Test
  void tls_certificateFromBytes_handshakesAndAnswers() throws Exception {
    byte[] chain;
    byte[] key;
    try (InputStream c = TlsTesting.loadCert("server1.pem");
        InputStream k = TlsTesting.loadCert("server1.key")) {
      chain = c.readAllBytes();
      key = k.readAllBytes();
    }
    HeaderCallout server = started(loopback().disablePlaintext().certificate(chain, key).build());
    ChannelCredentials credentials =
        TlsChannelCredentials.newBuilder().trustManager(TlsTesting.loadCert("ca.pem")).build();

    assertAnswers(channel(server.secureAddress().orElseThrow(), credentials, "foo.test.google.fr"));
  }

  /** Starts a TLS-only server with grpc-testing's server1 certificate requiring client certs. */
  private HeaderCallout mutualTlsServer() throws Exception {
    return started(
        loopback()
            .disablePlaintext()
            .certificate(writeTestCert("server1.pem"), writeTestCert("server1.key"))
            .clientCaPath(writeTestCert("ca.pem"))
            .build());
  }

  private ManagedChannel mutualTlsChannel(CalloutServer server, @Nullable String clientCert)
      throws Exception {
    TlsChannelCredentials.Builder credentials =
        TlsChannelCredentials.newBuilder().trustManager(TlsTesting.loadCert("ca.pem"));
    if (clientCert != null) {
      credentials.keyManager(
          writeTestCert(clientCert + ".pem").toFile(), writeTestCert(clientCert + ".key").toFile());
    }
    return channel(server.secureAddress().orElseThrow(), credentials.build(), "foo.test.google.fr");
  }

  private static Status refusedStatus(ManagedChannel channel) {
    CalloutTester.Stream stream = CalloutTester.forChannel(channel).newStream();
    stream.send(ProcessingRequest.newBuilder().setRequestHeaders(headers(":path", "/")).build());
    Status status = stream.awaitClose();
    assertThat(stream.received()).isEmpty();
    return status;
  }

  @Test
  void mutualTls_clientCertificateFromTheCa_answered() throws Exception {
    HeaderCallout server = mutualTlsServer();

    assertAnswers(mutualTlsChannel(server, "client"));
  }

  @Test
  void mutualTls_clientWithoutCertificate_refusedAtTheHandshake() throws Exception {
    HeaderCallout server = mutualTlsServer();

    assertThat(refusedStatus(mutualTlsChannel(server, null)).getCode())
        .isEqualTo(Status.Code.UNAVAILABLE);
  }

  @Test
  void mutualTls_clientCertificateFromAnotherCa_refusedAtTheHandshake() throws Exception {
    HeaderCallout server = mutualTlsServer();

    assertThat(refusedStatus(mutualTlsChannel(server, "badclient")).getCode())
        .isEqualTo(Status.Code.UNAVAILABLE);
  }

  @Test
  void mutualTls_unreadableCa_failsToStartNamingIt() throws Exception {
    Path missing = tempDir.resolve("no-ca.pem");
    CalloutServer server = new HeaderCallout(loopback().clientCaPath(missing).build());

    IOException e = assertThrows(IOException.class, server::start);

    assertThat(e)
        .hasMessageThat()
        .isEqualTo("cannot read the client CA certificates " + missing + ": NoSuchFileException");
  }

  /** Handshakes with the TLS listener and returns the subject of the certificate it presents. */
  private static String presentedSubject(CalloutServer server) throws Exception {
    RecordingTrustManager recorder = new RecordingTrustManager();
    try (SSLSocket socket =
        (SSLSocket)
            trustingContext(recorder)
                .getSocketFactory()
                .createSocket("127.0.0.1", server.secureAddress().orElseThrow().getPort())) {
      socket.startHandshake();
    }
    return java.util.Objects.requireNonNull(recorder.presented)[0]
        .getSubjectX500Principal()
        .getName();
  }

  @Test
  void tls_certificateFilesReplaced_newConnectionsGetTheNewPairWithoutRestart() throws Exception {
    Path chain = writeTestCert("server1.pem");
    Path key = writeTestCert("server1.key");
    HeaderCallout server =
        started(
            loopback()
                .disablePlaintext()
                .certificate(chain, key)
                .certificateRefreshInterval(Duration.ofMillis(50))
                .build());
    assertThat(presentedSubject(server)).startsWith("CN=*.test.google.com,");

    // Key first, then chain: a reload between the two sees a mismatch and waits for the chain.
    try (InputStream newKey = TlsTesting.loadCert("server0.key");
        InputStream newChain = TlsTesting.loadCert("server0.pem")) {
      Files.write(key, newKey.readAllBytes());
      Files.write(chain, newChain.readAllBytes());
    }
    String subject = presentedSubject(server);
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (!subject.startsWith("CN=*.test.google.com.au,") && System.nanoTime() < deadline) {
      subject = presentedSubject(server);
    }

    assertThat(subject).startsWith("CN=*.test.google.com.au,");
    ChannelCredentials credentials =
        TlsChannelCredentials.newBuilder().trustManager(TlsTesting.loadCert("ca.pem")).build();
    assertAnswers(
        channel(server.secureAddress().orElseThrow(), credentials, "foo.test.google.com.au"));
  }

  @Test
  void tls_noCertificate_servesEphemeralSelfSignedForLocalhostOverH2() throws Exception {
    HeaderCallout server = started(loopback().disablePlaintext().build());
    InetSocketAddress address = server.secureAddress().orElseThrow();
    RecordingTrustManager recorder = new RecordingTrustManager();

    String protocol;
    try (SSLSocket socket =
        (SSLSocket)
            trustingContext(recorder)
                .getSocketFactory()
                .createSocket("127.0.0.1", address.getPort())) {
      SSLParameters parameters = socket.getSSLParameters();
      parameters.setApplicationProtocols(new String[] {"h2"});
      socket.setSSLParameters(parameters);
      socket.startHandshake();
      protocol = socket.getApplicationProtocol();
    }

    assertThat(protocol).isEqualTo("h2");
    X509Certificate cert = java.util.Objects.requireNonNull(recorder.presented)[0];
    assertThat(cert.getSubjectX500Principal().getName()).isEqualTo("CN=extproc-callout ephemeral");
    cert.verify(cert.getPublicKey()); // self-signed
    assertThat(cert.getSubjectAlternativeNames().toString()).contains("localhost");
    // A client that trusts exactly this certificate verifies it for "localhost".
    Path pem = tempDir.resolve("ephemeral.pem");
    Files.writeString(
        pem,
        "-----BEGIN CERTIFICATE-----\n"
            + java.util.Base64.getMimeEncoder().encodeToString(cert.getEncoded())
            + "\n-----END CERTIFICATE-----\n");
    ChannelCredentials credentials =
        TlsChannelCredentials.newBuilder().trustManager(pem.toFile()).build();
    assertAnswers(channel(address, credentials, "localhost"));
  }

  @Test
  void health_answers200ThenDuringDrain503_andInFlightStreamFinishes() throws Exception {
    HeaderCallout server = started(loopback().disableTls().build());
    URI health = healthUri(server, "http", "/any/path");
    HttpResponse<String> serving = get(health, null);
    assertThat(serving.statusCode()).isEqualTo(200);
    assertThat(serving.body()).isEqualTo("SERVING\n");

    CalloutTester.Stream inFlight = CalloutTester.forChannel(plaintextChannel(server)).newStream();
    inFlight.send(
        ProcessingRequest.newBuilder().setRequestHeaders(headers("x-block", "1")).build());
    assertThat(server.blocked.await(10, TimeUnit.SECONDS)).isTrue();
    CompletableFuture<Void> closing = CompletableFuture.runAsync(server::close);

    int status = 0;
    for (int i = 0; i < 500 && status != 503; i++) {
      status = get(health, null).statusCode();
    }
    assertThat(status).isEqualTo(503);
    assertThat(closing.isDone()).isFalse();

    server.release.countDown();
    assertThat(inFlight.nextResponse()).isEqualTo(expectedHeaderReply());
    assertThat(inFlight.halfClose().getCode()).isEqualTo(Status.Code.OK);
    closing.get(10, TimeUnit.SECONDS);
    assertThat(server.awaitTermination(Duration.ofSeconds(1))).isTrue();
    assertThrows(IOException.class, () -> get(health, null));
  }

  @Test
  void health_headAndOtherMethods() throws Exception {
    HeaderCallout server = started(loopback().disableTls().build());
    HttpClient client = HttpClient.newHttpClient();
    URI uri = healthUri(server, "http", "/");

    HttpResponse<String> head =
        client.send(
            HttpRequest.newBuilder(uri).method("HEAD", HttpRequest.BodyPublishers.noBody()).build(),
            HttpResponse.BodyHandlers.ofString());
    HttpResponse<String> post =
        client.send(
            HttpRequest.newBuilder(uri).POST(HttpRequest.BodyPublishers.ofString("x")).build(),
            HttpResponse.BodyHandlers.ofString());

    assertThat(head.statusCode()).isEqualTo(200);
    assertThat(post.statusCode()).isEqualTo(405);
    assertThat(post.headers().firstValue("Allow")).hasValue("GET, HEAD");
  }

  @Test
  void secureHealthCheck_answersOverHttps() throws Exception {
    HeaderCallout server = started(loopback().disablePlaintext().secureHealthCheck(true).build());

    HttpResponse<String> response =
        get(healthUri(server, "https", "/"), trustingContext(new RecordingTrustManager()));

    assertThat(response.statusCode()).isEqualTo(200);
  }

  @Test
  void combinedHealthCheck_noHttpListenerButGrpcHealthServes() throws Exception {
    HeaderCallout server = started(loopback().disableTls().combinedHealthCheck().build());

    assertThat(server.healthCheckAddress()).isEmpty();
    assertThat(
            HealthGrpc.newBlockingStub(plaintextChannel(server))
                .check(HealthCheckRequest.getDefaultInstance())
                .getStatus())
        .isEqualTo(ServingStatus.SERVING);
  }

  private static int freePort() throws IOException {
    try (ServerSocket socket = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
      return socket.getLocalPort();
    }
  }

  private static void assertPortFree(int port) throws IOException {
    try (ServerSocket socket =
        new ServerSocket(port, 1, java.net.InetAddress.getLoopbackAddress())) {
      assertThat(socket.getLocalPort()).isEqualTo(port);
    }
  }

  @Test
  void start_healthPortInUse_failsNamingItAndReleasesEveryPort() throws Exception {
    int plaintext = freePort();
    int secure = freePort();
    try (ServerSocket busy = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
      int healthPort = busy.getLocalPort();
      CalloutServer server =
          new HeaderCallout(
              CalloutServerConfig.newBuilder()
                  .plaintextAddress("127.0.0.1:" + plaintext)
                  .secureAddress("127.0.0.1:" + secure)
                  .healthCheckAddress("127.0.0.1:" + healthPort)
                  .build());

      IOException e = assertThrows(IOException.class, server::start);

      assertThat(e)
          .hasMessageThat()
          .startsWith(
              "cannot bind the health check listener to 127.0.0.1:" + healthPort + ": Address");
      assertPortFree(plaintext);
      assertPortFree(secure);
      assertThat(server.plaintextAddress()).isEmpty();
    }
  }

  @Test
  void start_plaintextPortInUse_failsNamingIt() throws Exception {
    try (ServerSocket busy = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
      CalloutServer server =
          new HeaderCallout(
              loopback().disableTls().plaintextAddress("127.0.0.1:" + busy.getLocalPort()).build());

      IOException e = assertThrows(IOException.class, server::start);

      assertThat(e)
          .hasMessageThat()
          .startsWith(
              "cannot bind the plaintext gRPC listener to 127.0.0.1:" + busy.getLocalPort());
    }
  }

  @Test
  void start_mismatchedKey_failsBeforeBindingAnything() throws Exception {
    int plaintext = freePort();
    Path chain = writeTestCert("server1.pem");
    Path key = writeTestCert("badserver.key");
    CalloutServer server =
        new HeaderCallout(
            loopback().plaintextAddress("127.0.0.1:" + plaintext).certificate(chain, key).build());

    IOException e = assertThrows(IOException.class, server::start);

    assertThat(e)
        .hasMessageThat()
        .isEqualTo(
            chain
                + " and "
                + key
                + ": the private key does not match the certificate's public key (subject"
                + " CN=*.test.google.com,O=Example\\, Co.,L=Chicago,ST=Illinois,C=US)");
    assertPortFree(plaintext);
  }

  @Test
  void start_missingCertificateFile_failsNamingIt() throws Exception {
    Path missing = tempDir.resolve("missing.pem");
    CalloutServer server =
        new HeaderCallout(loopback().certificate(missing, writeTestCert("server1.key")).build());

    IOException e = assertThrows(IOException.class, server::start);

    assertThat(e)
        .hasMessageThat()
        .isEqualTo("cannot read the certificate chain " + missing + ": NoSuchFileException");
  }

  @Test
  void start_twiceOrAfterClose_throwsIllegalState() throws Exception {
    HeaderCallout server = started(loopback().disableTls().build());

    assertThat(assertThrows(IllegalStateException.class, server::start))
        .hasMessageThat()
        .isEqualTo("server already started");
    server.close();
    server.close(); // idempotent
    assertThat(assertThrows(IllegalStateException.class, server::start))
        .hasMessageThat()
        .isEqualTo("server is closed");
  }

  @Test
  void hookExecutors_inlineAndVirtual_serveOrFailClearly() throws Exception {
    HeaderCallout inline =
        started(
            loopback().disableTls().hookExecutor(CalloutServerConfig.HookExecutor.INLINE).build());
    assertAnswers(plaintextChannel(inline));

    CalloutServerConfig virtual =
        loopback().disableTls().hookExecutor(CalloutServerConfig.HookExecutor.VIRTUAL).build();
    if (Runtime.version().feature() >= 21) {
      assertAnswers(plaintextChannel(started(virtual)));
    } else {
      HeaderCallout server = new HeaderCallout(virtual);
      assertThat(assertThrows(IllegalStateException.class, server::start))
          .hasMessageThat()
          .isEqualTo(
              "hook executor 'virtual' needs JDK 21 or newer (running "
                  + Runtime.version().feature()
                  + ")");
    }
  }
}

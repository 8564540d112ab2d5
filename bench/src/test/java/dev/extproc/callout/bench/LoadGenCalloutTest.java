package dev.extproc.callout.bench;

import static com.google.common.truth.Truth.assertThat;

import dev.extproc.callout.CalloutContext;
import dev.extproc.callout.CalloutServer;
import dev.extproc.callout.CalloutServerConfig;
import dev.extproc.callout.CalloutTools;
import dev.extproc.callout.samples.addheader.AddHeader;
import io.envoyproxy.envoy.service.ext_proc.v3.HeadersResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpHeaders;
import io.grpc.testing.TlsTesting;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The load generator against the framework (the {@code add-header} sample, default settings): every
 * scenario in closed and open loop, then TLS and custom request headers.
 */
class LoadGenCalloutTest extends CleanRunTests {

  private static CalloutServer addHeader;

  @TempDir Path certificates;

  @BeforeAll
  static void startSample() throws IOException {
    addHeader = new AddHeader(plaintextOnly()).start();
  }

  @AfterAll
  static void stopSample() {
    addHeader.close();
  }

  private static CalloutServerConfig plaintextOnly() {
    return CalloutServerConfig.newBuilder()
        .plaintextAddress("127.0.0.1:0")
        .disableTls()
        .combinedHealthCheck()
        .shutdownDrainDelay(Duration.ZERO)
        .build();
  }

  private static CalloutServerConfig.Builder tlsOnly() {
    return CalloutServerConfig.newBuilder()
        .secureAddress("127.0.0.1:0")
        .disablePlaintext()
        .combinedHealthCheck()
        .shutdownDrainDelay(Duration.ZERO);
  }

  @Override
  String target() {
    return "127.0.0.1:" + addHeader.plaintextAddress().orElseThrow().getPort();
  }

  @Test
  void tls_insecure_trustsTheEphemeralCertificate() throws IOException {
    try (CalloutServer server = new AddHeader(tlsOnly().build()).start()) {
      LoadGenCommand run =
          LoadGenCommand.run(
              "--target",
              "127.0.0.1:" + server.secureAddress().orElseThrow().getPort(),
              "--tls",
              "--insecure",
              "--scenario",
              "req-resp-headers",
              "--warmup",
              "0s",
              "--duration",
              "300ms");

      assertThat(run.exitCode()).isEqualTo(0);
      assertThat(run.json().getFieldsOrThrow("tls").getBoolValue()).isTrue();
      assertThat(run.count("streams")).isGreaterThan(0);
      assertThat(run.count("errors")).isEqualTo(0);
    }
  }

  @Test
  void tls_caAndAuthority_verifiesTheServerCertificate() throws IOException {
    Path chain = testCert("server1.pem");
    Path key = testCert("server1.key");
    try (CalloutServer server = new AddHeader(tlsOnly().certificate(chain, key).build()).start()) {
      String target = "127.0.0.1:" + server.secureAddress().orElseThrow().getPort();
      String ca = testCert("ca.pem").toString();

      LoadGenCommand verified =
          LoadGenCommand.run(
              "--target",
              target,
              "--tls",
              "--ca",
              ca,
              "--authority",
              "foo.test.google.fr",
              "--warmup",
              "0s",
              "--duration",
              "300ms");
      LoadGenCommand wrongName =
          LoadGenCommand.run(
              "--target", target, "--tls", "--ca", ca, "--timeout", "1s", "--duration", "1s");

      assertThat(verified.exitCode()).isEqualTo(0);
      assertThat(verified.count("ok")).isGreaterThan(0);
      // 127.0.0.1 is not a name in server1's certificate: no connection, a clear message.
      assertThat(wrongName.exitCode()).isEqualTo(LoadGen.EXIT_ERRORS);
      assertThat(wrongName.stderr()).contains("loadgen: cannot connect to " + target);
      assertThat(wrongName.stdout()).isEmpty();
    }
  }

  @Test
  void header_reachesTheServer_asARequestHeader() throws IOException {
    try (CalloutServer gate = new TokenGate(plaintextOnly()).start()) {
      String target = "127.0.0.1:" + gate.plaintextAddress().orElseThrow().getPort();

      LoadGenCommand withToken =
          LoadGenCommand.run(
              "--target",
              target,
              "--header",
              "x-token: secret",
              "--warmup",
              "0s",
              "--duration",
              "300ms");
      LoadGenCommand without =
          LoadGenCommand.run("--target", target, "--warmup", "0s", "--duration", "300ms");

      assertThat(withToken.count("immediate_responses")).isEqualTo(0);
      assertThat(withToken.count("ok")).isEqualTo(withToken.count("streams"));
      // An immediate response ends a stream as Envoy would: counted, not an error.
      assertThat(without.exitCode()).isEqualTo(0);
      assertThat(without.count("immediate_responses")).isEqualTo(without.count("streams"));
      assertThat(without.count("errors")).isEqualTo(0);
    }
  }

  @Test
  void fullDuplex_immediateResponseToTheHeaders_bodyLeftUnsentAndNoError() throws IOException {
    try (CalloutServer gate = new TokenGate(plaintextOnly()).start()) {
      // The chunks follow the headers without waiting: the 401 can come before they all went out.
      LoadGenCommand run =
          LoadGenCommand.run(
              "--target", "127.0.0.1:" + gate.plaintextAddress().orElseThrow().getPort(),
              "--scenario", "full-duplex",
              "--body-size", "1MiB",
              "--chunks", "64",
              "--warmup", "0s",
              "--duration", "300ms");

      assertThat(run.exitCode()).isEqualTo(0);
      assertThat(run.count("immediate_responses")).isEqualTo(run.count("streams"));
      assertThat(run.count("streams")).isGreaterThan(0);
      assertThat(run.count("messages")).isAtMost(run.count("streams") * 65);
    }
  }

  /** Answers 401 unless the request has {@code x-token: secret}. */
  private static final class TokenGate extends CalloutServer {
    TokenGate(CalloutServerConfig config) {
      super(config);
    }

    @Override
    protected @Nullable HeadersResponse onRequestHeaders(HttpHeaders headers, CalloutContext ctx) {
      if (!CalloutTools.headersContain(headers, "x-token", "secret")) {
        ctx.respondImmediately(CalloutTools.headerImmediateResponse(401, List.of()));
      }
      return null;
    }
  }

  private Path testCert(String name) throws IOException {
    Path path = certificates.resolve(name);
    try (InputStream in = TlsTesting.loadCert(name)) {
      Files.copy(in, path);
    }
    return path;
  }
}

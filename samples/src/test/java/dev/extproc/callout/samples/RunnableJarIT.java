package dev.extproc.callout.samples;

import static com.google.common.truth.Truth.assertThat;

import dev.extproc.callout.samples.jwtauth.TestTokens;
import dev.extproc.callout.testing.CalloutTester;
import dev.extproc.callout.testing.NetworkStream;
import dev.extproc.callout.testing.TrustAllCertificates;
import io.envoyproxy.envoy.service.auth.v3.CheckResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.TlsChannelCredentials;
import java.nio.file.Path;
import java.util.List;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/**
 * Runs {@code java -jar target/callout-server.jar} with no flags, as the quick start does, and
 * talks to it on the default ports 8000, 8080 and 8443.
 */
class RunnableJarIT {

  private static final String JAR = System.getProperty("callout.jar", "target/callout-server.jar");
  private static final String JAVA =
      Path.of(System.getProperty("java.home"), "bin", "java").toString();

  private static Path log() {
    return Path.of("target", "runnable-jar-it-" + System.nanoTime() + ".log");
  }

  @Test
  void javaJar_noFlags_servesAddHeaderOnDefaultPortsAndExitsZeroOnSigterm() throws Exception {
    ServerProcess.assertDefaultPortsFree();
    long started = System.nanoTime();
    try (ServerProcess server = ServerProcess.start(new ProcessBuilder(JAVA, "-jar", JAR), log())) {
      System.out.println("java -jar to healthy: " + server.awaitHealthy(started) + " ms");

      ServerProcess.assertAddHeaderReply(
          Grpc.newChannelBuilderForAddress(
                  "127.0.0.1", ServerProcess.PLAINTEXT, InsecureChannelCredentials.create())
              .build());
      ServerProcess.assertAddHeaderReply(
          Grpc.newChannelBuilderForAddress(
                  "127.0.0.1",
                  ServerProcess.SECURE,
                  TlsChannelCredentials.newBuilder()
                      .trustManager(new TrustAllCertificates())
                      .build())
              .overrideAuthority("localhost")
              .build());
      server.sigtermAndAssertExitZero();

      String output = server.output();
      assertThat(output).contains("AddHeader started");
      assertThat(output).contains("ephemeral self-signed certificate");
      assertThat(output).contains("received SIGTERM: draining");
      assertThat(output).contains("still accepting streams for PT15S (drain delay)");
      assertThat(output).contains("stopped");
    }
  }

  @Test
  void javaJar_logFormatJson_everyLineIsOneJsonObject() throws Exception {
    ServerProcess.assertDefaultPortsFree();
    // Standard output only: newer JVMs print their own warnings on standard error.
    try (ServerProcess server =
        ServerProcess.startWithStderrApart(
            new ProcessBuilder(
                JAVA,
                "-jar",
                JAR,
                "--log-format",
                "json",
                "--disable-tls",
                "--shutdown-drain-delay",
                "0s"),
            log())) {
      server.awaitHealthy(System.nanoTime());
      server.sigtermAndAssertExitZero();

      String[] lines = server.output().split("\n", -1);
      int checked = 0;
      for (String line : lines) {
        if (line.isEmpty()) {
          continue;
        }
        com.google.protobuf.Struct.Builder json = com.google.protobuf.Struct.newBuilder();
        com.google.protobuf.util.JsonFormat.parser().merge(line, json);
        assertThat(json.getFieldsMap()).containsKey("severity");
        assertThat(json.getFieldsMap()).containsKey("time");
        checked++;
      }
      assertThat(checked).isAtLeast(3);
      assertThat(server.output()).contains("\"message\":\"received SIGTERM: draining\"");
    }
  }

  @Test
  void javaJar_jwtAuthWithoutPublicKey_refusesToStartWithOneLine() throws Exception {
    // No default key: the jar carries none, and without one the sample must not serve.
    try (ServerProcess launcher =
        ServerProcess.start(new ProcessBuilder(JAVA, "-jar", JAR, "--sample", "jwt-auth"), log())) {
      assertThat(launcher.awaitExit()).isEqualTo(2);
      assertThat(launcher.output().strip())
          .isEqualTo(
              "callout-server: jwt-auth needs --jwt-public-key PATH (or CALLOUT_JWT_PUBLIC_KEY):"
                  + " the PEM RSA public key that verifies tokens");
    }
    try (JarFile jar = new JarFile(JAR)) {
      assertThat(
              jar.stream()
                  .map(JarEntry::getName)
                  .filter(name -> name.endsWith(".pem"))
                  .collect(Collectors.toList()))
          .isEmpty();
    }
  }

  @Test
  void javaJar_authorizationTcpAndStreamingSamples_startAndServeTheirService() throws Exception {
    for (String sample : List.of("block-ip", "jwt-authz", "network-basic", "sse-guard")) {
      ServerProcess.assertDefaultPortsFree();
      ProcessBuilder command =
          new ProcessBuilder(
              JAVA,
              "-jar",
              JAR,
              "--sample",
              sample,
              "--shutdown-drain-delay",
              "0s",
              "--disable-tls");
      if (sample.equals("jwt-authz")) {
        command
            .command()
            .addAll(List.of("--jwt-public-key", TestTokens.publicKeyFile().toString()));
      }
      try (ServerProcess server = ServerProcess.start(command, log())) {
        server.awaitHealthy(System.nanoTime());
        ManagedChannel channel =
            Grpc.newChannelBuilderForAddress(
                    "127.0.0.1", ServerProcess.PLAINTEXT, InsecureChannelCredentials.create())
                .build();
        try {
          CalloutTester tester = CalloutTester.forChannel(channel);
          if (sample.equals("network-basic")) {
            NetworkStream stream = tester.newNetworkStream();
            assertThat(stream.read("hello", false).getReadData().getData().toStringUtf8())
                .isEqualTo("hello");
            assertThat(stream.halfClose().getCode()).isEqualTo(Status.Code.OK);
          } else if (sample.equals("sse-guard")) {
            // An abusive request: a streamed local reply (field 11), then the stream ends OK.
            CalloutTester.Stream stream = tester.newStream();
            ProcessingResponse first =
                stream.requestHeaders(CalloutTester.headers(":path", "/", "x-abuse-score", "99"));
            assertThat(first.getUnknownFields().hasField(11)).isTrue();
            assertThat(stream.awaitClose().getCode()).isEqualTo(Status.Code.OK);
          } else {
            // No x-forwarded-for for block-ip, no token for jwt-authz: both deny.
            CheckResponse decision =
                tester.check(CalloutTester.checkRequest("GET", "/", "x-test", "1"));
            assertThat(decision.getStatus().getCode()).isNotEqualTo(Status.Code.OK.value());
            assertThat(decision.hasDeniedResponse()).isTrue();
          }
        } finally {
          channel.shutdownNow();
        }
        server.sigtermAndAssertExitZero();
        assertThat(server.output()).contains("serving [");
      }
    }
  }

  @Test
  void javaJar_badFlag_exitsTwoWithOneLine() throws Exception {
    try (ServerProcess launcher =
        ServerProcess.start(new ProcessBuilder(JAVA, "-jar", JAR, "--sample", "nope"), log())) {
      assertThat(launcher.awaitExit()).isEqualTo(2);
      assertThat(launcher.output()).startsWith("callout-server: --sample=nope: unknown sample");
    }
  }
}

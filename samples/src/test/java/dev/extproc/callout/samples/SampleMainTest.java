package dev.extproc.callout.samples;

import static com.google.common.truth.Truth.assertThat;
import static com.google.common.truth.Truth.assertWithMessage;

import dev.extproc.callout.samples.jwtauth.TestTokens;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class SampleMainTest {

  private final ByteArrayOutputStream out = new ByteArrayOutputStream();
  private final ByteArrayOutputStream err = new ByteArrayOutputStream();

  private int run(Map<String, String> env, String... args) {
    return SampleMain.run(
        args,
        env,
        new PrintStream(out, true, StandardCharsets.UTF_8),
        new PrintStream(err, true, StandardCharsets.UTF_8));
  }

  @Test
  void unknownSample_exitsTwoListingTheValidNames() {
    assertThat(run(Map.of(), "--sample", "nope")).isEqualTo(2);
    assertThat(err.toString(StandardCharsets.UTF_8))
        .isEqualTo(
            "callout-server: --sample=nope: unknown sample (expected one of: "
                + String.join(", ", SampleMain.SAMPLES.keySet())
                + ")"
                + System.lineSeparator());
  }

  @Test
  void unknownSampleFromEnv_namesTheVariable() {
    assertThat(run(Map.of("CALLOUT_SAMPLE", "nope"))).isEqualTo(2);
    assertThat(err.toString(StandardCharsets.UTF_8))
        .startsWith("callout-server: CALLOUT_SAMPLE=nope");
  }

  @Test
  void sampleFlagWithoutValue_exitsTwo() {
    assertThat(run(Map.of(), "--sample")).isEqualTo(2);
    assertThat(err.toString(StandardCharsets.UTF_8))
        .contains("--sample: missing value (expected: --sample NAME)");
  }

  @Test
  void help_listsSamplesAndFrameworkFlags() {
    assertThat(run(Map.of(), "--help")).isEqualTo(0);
    String help = out.toString(StandardCharsets.UTF_8);
    assertThat(help).contains("--sample NAME");
    assertThat(help).contains("Samples: basic, add-header, add-body");
    assertThat(help).contains("--jwt-public-key PATH");
    assertThat(help).contains("--jwt-audience NAME");
    assertThat(help).contains("(env CALLOUT_SAMPLE; default add-header)");
    assertThat(help).contains("--secure-address HOST:PORT");
  }

  @Test
  void jwtAuth_withoutPublicKey_refusesToStartWithOneLine() {
    assertThat(run(Map.of(), "--sample", "jwt-auth")).isEqualTo(2);
    assertThat(err.toString(StandardCharsets.UTF_8))
        .isEqualTo(
            "callout-server: jwt-auth needs --jwt-public-key PATH (or CALLOUT_JWT_PUBLIC_KEY):"
                + " the PEM RSA public key that verifies tokens"
                + System.lineSeparator());
    assertThat(out.toString(StandardCharsets.UTF_8)).isEmpty();
  }

  @Test
  void jwtAuthz_withoutPublicKey_refusesToStartWithOneLine() {
    assertThat(run(Map.of(), "--sample", "jwt-authz")).isEqualTo(2);
    assertThat(err.toString(StandardCharsets.UTF_8))
        .isEqualTo(
            "callout-server: jwt-authz needs --jwt-public-key PATH (or CALLOUT_JWT_PUBLIC_KEY):"
                + " the PEM RSA public key that verifies tokens"
                + System.lineSeparator());
  }

  @Test
  void networkForbidden_empty_exitsTwoNamingTheFlag() {
    assertThat(run(Map.of(), "--sample", "network-basic", "--network-forbidden", "")).isEqualTo(2);
    assertThat(err.toString(StandardCharsets.UTF_8))
        .contains("--network-forbidden=: empty (expected: at least one character)");
  }

  @Test
  void jwtAudience_blank_exitsTwoNamingTheVariable() {
    assertThat(
            run(
                Map.of(
                    "CALLOUT_SAMPLE",
                    "jwt-auth",
                    "CALLOUT_JWT_PUBLIC_KEY",
                    TestTokens.publicKeyFile().toString(),
                    "CALLOUT_JWT_AUDIENCE",
                    " ")))
        .isEqualTo(2);
    assertThat(err.toString(StandardCharsets.UTF_8))
        .contains("CALLOUT_JWT_AUDIENCE= : blank audience (expected: a name such as my-api)");
  }

  @Test
  void jwtPublicKey_unreadableOrNotAKey_exitsTwoNamingTheFlag() throws Exception {
    assertThat(run(Map.of(), "--sample", "jwt-auth", "--jwt-public-key", "/no/such/key.pem"))
        .isEqualTo(2);
    assertThat(err.toString(StandardCharsets.UTF_8))
        .contains(
            "callout-server: --jwt-public-key=/no/such/key.pem: cannot read it"
                + " (NoSuchFileException)");

    Path notAKey = Files.createTempFile("not-a-key", ".pem");
    try {
      err.reset();
      assertThat(
              run(
                  Map.of(
                      "CALLOUT_SAMPLE", "jwt-auth", "CALLOUT_JWT_PUBLIC_KEY", notAKey.toString())))
          .isEqualTo(2);
      assertThat(err.toString(StandardCharsets.UTF_8))
          .contains(
              "CALLOUT_JWT_PUBLIC_KEY="
                  + notAKey
                  + ": no '-----BEGIN PUBLIC KEY-----' block found");
    } finally {
      Files.delete(notAKey);
    }
  }

  @Test
  void everySampleOfTheSpec_isRegistered() {
    assertThat(SampleMain.SAMPLES.keySet())
        .containsExactly(
            "basic",
            "add-header",
            "add-body",
            "update-header",
            "normalize-header",
            "redirect",
            "set-cookie",
            "jwt-auth",
            "add-custom-response",
            "dynamic-forwarding",
            "stateful",
            "redact-body",
            "sse-guard",
            "observe",
            "block-ip",
            "network-basic",
            "jwt-authz");
  }

  @Test
  void everySample_hasItsClassReadmeAndTestAndIsInTheTopLevelTable() throws Exception {
    String readme = Files.readString(Path.of("README.md"));
    for (String name : SampleMain.SAMPLES.keySet()) {
      String pkg = name.replace("-", "");
      String type = upperCamel(name);
      Path main = Path.of("samples/src/main/java/dev/extproc/callout/samples", pkg);
      Path test = Path.of("samples/src/test/java/dev/extproc/callout/samples", pkg);
      for (Path file :
          List.of(
              main.resolve(type + ".java"),
              main.resolve("README.md"),
              test.resolve(type + "Test.java"))) {
        assertWithMessage("%s of sample %s", file, name).that(Files.exists(file)).isTrue();
      }
      assertThat(readme).contains("| [`" + name + "`](samples/src/main/java/");
      assertThat(readme).contains("`--sample " + name);
    }
  }

  private static String upperCamel(String dashed) {
    StringBuilder out = new StringBuilder();
    for (String word : dashed.split("-", -1)) {
      out.append(Character.toUpperCase(word.charAt(0))).append(word.substring(1));
    }
    return out.toString();
  }

  @Test
  void unknownLogFormat_exitsTwoNamingIt() {
    assertThat(run(Map.of(), "--log-format", "xml")).isEqualTo(2);
    assertThat(err.toString(StandardCharsets.UTF_8))
        .contains("callout-server: --log-format=xml: unknown log format (expected: text, json)");
  }

  @Test
  void badFrameworkFlag_afterAValidSample_exitsTwo() {
    assertThat(run(Map.of(), "--sample=add-header", "--hook-threads", "x")).isEqualTo(2);
    assertThat(err.toString(StandardCharsets.UTF_8)).contains("--hook-threads=x: not an integer");
  }
}

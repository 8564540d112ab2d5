package dev.extproc.callout;

import static com.google.common.truth.Truth.assertThat;
import static java.util.Objects.requireNonNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.extproc.callout.CalloutServer.Launcher;
import dev.extproc.callout.CalloutServer.Launcher.Flags;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

class LauncherTest {

  private static final String NL = System.lineSeparator();

  private final ByteArrayOutputStream out = new ByteArrayOutputStream();
  private final ByteArrayOutputStream err = new ByteArrayOutputStream();
  private final AtomicReference<Flags> seen = new AtomicReference<>();

  private static Launcher launcher() {
    return CalloutServer.launcher("my-callout")
        .flag("--greeting", "MY_GREETING", "TEXT", "value of the x-greeting header", "hello")
        .optionalFlag("--keys-file", "MY_KEYS_FILE", "PATH", "accepted API keys", "any key")
        .flag("--max-keys", "MY_MAX_KEYS", "N", "most keys read", "100");
  }

  /** Runs {@link #launcher()} with a factory that reads {@code --max-keys} as a number. */
  private int run(Map<String, String> env, String... args) {
    return launcher()
        .run(
            args,
            env,
            new PrintStream(out, true, StandardCharsets.UTF_8),
            new PrintStream(err, true, StandardCharsets.UTF_8),
            (config, flags) -> {
              flags.value("--max-keys", LauncherTest::number);
              seen.set(flags);
              return new CalloutServer(config) {};
            });
  }

  private static int number(String value) {
    try {
      return Integer.parseInt(value);
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("not a number", e);
    }
  }

  private String err() {
    return err.toString(StandardCharsets.UTF_8);
  }

  @Test
  void parse_appFlagInArgs_isItsValue() {
    assertThat(launcher().parse(new String[] {"--greeting", "hi"}, Map.of()).value("--greeting"))
        .hasValue("hi");
    assertThat(launcher().parse(new String[] {"--greeting=a=b"}, Map.of()).value("--greeting"))
        .hasValue("a=b");
  }

  @Test
  void parse_appFlagInEnv_isItsValue() {
    Flags flags = launcher().parse(new String[0], Map.of("MY_KEYS_FILE", "/etc/keys"));

    assertThat(flags.value("--keys-file")).hasValue("/etc/keys");
  }

  @Test
  void parse_flagAndVariable_flagWins() {
    Flags flags = launcher().parse(new String[] {"--greeting", "hi"}, Map.of("MY_GREETING", "hey"));

    assertThat(flags.value("--greeting")).hasValue("hi");
  }

  @Test
  void parse_neitherFlagNorVariable_defaultOrEmpty() {
    Flags flags = launcher().parse(new String[0], Map.of());

    assertThat(flags.value("--greeting")).hasValue("hello");
    assertThat(flags.value("--keys-file")).isEmpty();
    assertThat(flags.value("--max-keys", LauncherTest::number)).hasValue(100);
    assertThat(flags.remaining()).isEmpty();
  }

  @Test
  void parse_frameworkAndOtherArgs_returnsTheConfigAndTheRestInOrder() {
    Flags flags =
        launcher()
            .parse(
                new String[] {
                  "rules.yaml",
                  "--disable-tls",
                  "--verbose",
                  "--plaintext-address",
                  "127.0.0.1:9",
                  "--greeting=hi",
                  "--x",
                  "1",
                  "--help"
                },
                Map.of("CALLOUT_HOOK_THREADS", "3"));

    assertThat(flags.remaining()).containsExactly("rules.yaml", "--verbose", "--x", "1", "--help");
    assertThat(flags.value("--greeting")).hasValue("hi");
    assertThat(flags.config().secureAddress()).isEmpty();
    assertThat(flags.config().plaintextAddress().orElseThrow().getPort()).isEqualTo(9);
    assertThat(flags.config().hookThreads()).isEqualTo(3);
  }

  @Test
  void parse_badFrameworkValue_throwsNamingTheFlag() {
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () -> launcher().parse(new String[] {"rest", "--hook-threads", "x"}, Map.of()));

    assertThat(e).hasMessageThat().isEqualTo("--hook-threads=x: not an integer");
  }

  @Test
  void value_parserRejectsTheVariable_throwsNamingTheVariable() {
    Flags flags = launcher().parse(new String[0], Map.of("MY_MAX_KEYS", "many"));

    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class, () -> flags.value("--max-keys", LauncherTest::number));
    assertThat(e).hasMessageThat().isEqualTo("MY_MAX_KEYS=many: not a number");
  }

  @Test
  void value_undeclaredFlag_throws() {
    Flags flags = launcher().parse(new String[0], Map.of());

    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> flags.value("--nope"));
    assertThat(e).hasMessageThat().isEqualTo("flag --nope was not declared");
  }

  @Test
  void run_help_printsProgramNameAppFlagsNoteThenFrameworkFlagsAndExitsZero() {
    int code =
        launcher()
            .helpNote("Keys: one a line.")
            .run(
                new String[] {"--greeting", "hi", "--help"},
                Map.of(),
                new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8),
                (config, flags) -> {
                  throw new AssertionError("factory called");
                });

    assertThat(code).isEqualTo(0);
    String help = out.toString(StandardCharsets.UTF_8);
    assertThat(help)
        .startsWith(
            """
            Usage: my-callout [flags]
            Flags win over environment variables, which win over the defaults.

              --greeting TEXT""");
    assertThat(help).contains("(env MY_GREETING; default hello)");
    assertThat(help).contains("--keys-file PATH");
    assertThat(help).contains("(env MY_KEYS_FILE; default any key)");
    assertThat(help).contains("(env MY_MAX_KEYS; default 100)" + NL + NL + "Keys: one a line.");
    assertThat(help.indexOf("Keys: one a line.")).isLessThan(help.indexOf("--secure-address"));
    assertThat(help).contains("--secure-address HOST:PORT");
    assertThat(help).contains("--help");
    assertThat(err()).isEmpty();
  }

  @Test
  void run_badAppValue_exitsTwoWithOneLineNamingTheFlag() {
    assertThat(run(Map.of(), "--max-keys", "many")).isEqualTo(2);

    assertThat(err()).isEqualTo("my-callout: --max-keys=many: not a number" + NL);
    assertThat(seen.get()).isNull();
  }

  @Test
  void run_badAppValueInEnv_exitsTwoNamingTheVariable() {
    assertThat(run(Map.of("MY_MAX_KEYS", "many"))).isEqualTo(2);

    assertThat(err()).isEqualTo("my-callout: MY_MAX_KEYS=many: not a number" + NL);
  }

  @Test
  void run_unknownFlag_exitsTwoNamingIt() {
    assertThat(run(Map.of(), "--greeting", "hi", "--x", "1")).isEqualTo(2);

    assertThat(err()).isEqualTo("my-callout: unknown flag: --x (see --help)" + NL);
    assertThat(seen.get()).isNull();
  }

  @Test
  void run_appFlagWithoutValue_exitsTwo() {
    assertThat(run(Map.of(), "--greeting")).isEqualTo(2);

    assertThat(err())
        .isEqualTo("my-callout: --greeting: missing value (expected: --greeting TEXT)" + NL);
  }

  @Test
  void run_badFrameworkValue_exitsTwoNamingIt() {
    assertThat(run(Map.of(), "--greeting", "hi", "--hook-threads", "x")).isEqualTo(2);

    assertThat(err()).isEqualTo("my-callout: --hook-threads=x: not an integer" + NL);
  }

  @Test
  void run_jarProgramName_errorLinesStartWithTheJarsName() {
    int code =
        CalloutServer.launcher("java -jar target/callout-server.jar")
            .run(
                new String[] {"--x"},
                Map.of(),
                new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8),
                (config, flags) -> new CalloutServer(config) {});

    assertThat(code).isEqualTo(2);
    assertThat(err()).isEqualTo("callout-server: unknown flag: --x (see --help)" + NL);
  }

  @Test
  void run_startFailure_exitsOneAfterTheFactorySawTheFlags() throws Exception {
    try (ServerSocket busy = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      int port = busy.getLocalPort();

      int code =
          run(
              Map.of("MY_GREETING", "hey", "CALLOUT_DISABLE_TLS", "true"),
              "--greeting=hi",
              "--keys-file",
              "/etc/keys",
              "--combined-health-check",
              "--plaintext-address",
              "127.0.0.1:" + port);

      assertThat(code).isEqualTo(1);
      assertThat(err()).startsWith("my-callout: cannot start: ");
      Flags flags = requireNonNull(seen.get());
      assertThat(flags.value("--greeting")).hasValue("hi");
      assertThat(flags.value("--keys-file")).hasValue("/etc/keys");
      assertThat(flags.config().secureAddress()).isEmpty();
    }
  }

  @Test
  void flag_frameworksFlagOrVariable_isRefused() {
    Launcher launcher = CalloutServer.launcher("my-callout");

    assertThat(
            assertThrows(
                IllegalArgumentException.class,
                () -> launcher.flag("--disable-tls", "MY_TLS", "X", "help", "x")))
        .hasMessageThat()
        .isEqualTo("flag --disable-tls is already taken");
    assertThat(
            assertThrows(
                IllegalArgumentException.class,
                () -> launcher.flag("--threads", "CALLOUT_HOOK_THREADS", "N", "help", "1")))
        .hasMessageThat()
        .isEqualTo("environment variable CALLOUT_HOOK_THREADS is already taken");
    assertThat(
            assertThrows(
                IllegalArgumentException.class,
                () -> launcher.flag("-v", "MY_V", "X", "help", "x")))
        .hasMessageThat()
        .isEqualTo("flag: -v (expected: --lower-case-name)");
  }

  @Test
  void duration_frameworkSyntax_parses() {
    assertThat(Launcher.duration("500ms")).isEqualTo(Duration.ofMillis(500));
    assertThat(Launcher.duration(" 10S ")).isEqualTo(Duration.ofSeconds(10));
    assertThat(Launcher.duration("2m")).isEqualTo(Duration.ofMinutes(2));
    assertThat(Launcher.duration("1h")).isEqualTo(Duration.ofHours(1));
    assertThat(Launcher.duration("PT1.5S")).isEqualTo(Duration.ofMillis(1500));
    assertThat(Launcher.duration("0")).isEqualTo(Duration.ZERO);
  }

  @Test
  void duration_badOrNegative_throws() {
    assertThat(assertThrows(IllegalArgumentException.class, () -> Launcher.duration("10")))
        .hasMessageThat()
        .isEqualTo("not a duration (expected: e.g. 500ms, 30s, 2m)");
    assertThat(assertThrows(IllegalArgumentException.class, () -> Launcher.duration("soon")))
        .hasMessageThat()
        .isEqualTo("not a duration (expected: e.g. 500ms, 30s, 2m)");
    assertThat(assertThrows(IllegalArgumentException.class, () -> Launcher.duration("-5s")))
        .hasMessageThat()
        .isEqualTo("negative duration (expected: >= 0)");
  }

  @Test
  void size_frameworkSyntax_parses() {
    assertThat(Launcher.size("65536")).isEqualTo(65536);
    assertThat(Launcher.size("64KiB")).isEqualTo(64 * 1024);
    assertThat(Launcher.size(" 4 MiB ")).isEqualTo(4 * 1024 * 1024);
    assertThat(Launcher.size("0")).isEqualTo(0);
  }

  @Test
  void size_badNegativeOrTooLarge_throws() {
    assertThat(assertThrows(IllegalArgumentException.class, () -> Launcher.size("64kb")))
        .hasMessageThat()
        .isEqualTo("not a size (expected: BYTES, NKiB or NMiB)");
    assertThat(assertThrows(IllegalArgumentException.class, () -> Launcher.size("-1KiB")))
        .hasMessageThat()
        .isEqualTo("negative size (expected: >= 0)");
    assertThat(assertThrows(IllegalArgumentException.class, () -> Launcher.size("2048MiB")))
        .hasMessageThat()
        .isEqualTo("too large (expected: < 2GiB)");
  }

  @Test
  void value_withLauncherParsers_convertsAndNamesTheFlagOnError() {
    Launcher launcher =
        CalloutServer.launcher("my-callout")
            .flag("--timeout", "MY_TIMEOUT", "DURATION", "upstream timeout", "5s")
            .flag("--max-body", "MY_MAX_BODY", "SIZE", "largest body read", "64KiB");

    Flags flags = launcher.parse(new String[] {"--timeout", "250ms"}, Map.of());
    assertThat(flags.value("--timeout", Launcher::duration)).hasValue(Duration.ofMillis(250));
    assertThat(flags.value("--max-body", Launcher::size)).hasValue(65536);

    Flags bad = launcher.parse(new String[] {"--max-body=lots"}, Map.of());
    assertThat(
            assertThrows(
                IllegalArgumentException.class, () -> bad.value("--max-body", Launcher::size)))
        .hasMessageThat()
        .isEqualTo("--max-body=lots: not a size (expected: BYTES, NKiB or NMiB)");
  }
}

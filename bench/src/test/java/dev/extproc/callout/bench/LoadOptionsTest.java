package dev.extproc.callout.bench;

import static com.google.common.truth.Truth.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.google.common.net.HostAndPort;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** The load generator's flags. */
class LoadOptionsTest {

  @Test
  void noFlags_defaults() {
    LoadOptions options = LoadOptions.parse();

    assertThat(options.target()).isEqualTo(HostAndPort.fromParts("127.0.0.1", 8080));
    assertThat(options.scenario()).isEqualTo(Scenario.HEADERS);
    assertThat(options.isOpenLoop()).isFalse();
    assertThat(options.concurrency()).isEqualTo(32);
    assertThat(options.connections()).isEqualTo(1);
    assertThat(options.warmup()).isEqualTo(Duration.ofSeconds(5));
    assertThat(options.duration()).isEqualTo(Duration.ofSeconds(10));
    assertThat(options.repeat()).isEqualTo(1);
    assertThat(options.timeout()).isEqualTo(Duration.ofSeconds(5));
    assertThat(options.bodySize()).isEqualTo(65536);
    assertThat(options.chunks()).isEqualTo(4);
    assertThat(options.headers()).isEmpty();
    assertThat(options.tls()).isFalse();
    assertThat(options.serverPid()).isEqualTo(0);
  }

  @Test
  void everyFlag_parsed() {
    LoadOptions options =
        LoadOptions.parse(
            "--target=[::1]:9443",
            "--scenario",
            "full-duplex",
            "--rate",
            "1500.5",
            "--connections",
            "4",
            "--warmup",
            "0s",
            "--duration",
            "2m",
            "--repeat",
            "5",
            "--timeout",
            "250ms",
            "--body-size",
            "1MiB",
            "--chunks",
            "16",
            "--header",
            "authorization:Bearer a.b.c",
            "--header=:path:/api?q=1",
            "--tls",
            "--insecure",
            "--authority",
            "callout.internal",
            "--server-pid",
            "4242");

    assertThat(options.target()).isEqualTo(HostAndPort.fromParts("::1", 9443));
    assertThat(options.scenario()).isEqualTo(Scenario.FULL_DUPLEX);
    assertThat(options.isOpenLoop()).isTrue();
    assertThat(options.rate()).isEqualTo(1500.5);
    assertThat(options.connections()).isEqualTo(4);
    assertThat(options.warmup()).isEqualTo(Duration.ZERO);
    assertThat(options.duration()).isEqualTo(Duration.ofMinutes(2));
    assertThat(options.repeat()).isEqualTo(5);
    assertThat(options.timeout()).isEqualTo(Duration.ofMillis(250));
    assertThat(options.bodySize()).isEqualTo(1024 * 1024);
    assertThat(options.chunks()).isEqualTo(16);
    assertThat(options.headers())
        .containsExactly(Map.entry("authorization", "Bearer a.b.c"), Map.entry(":path", "/api?q=1"))
        .inOrder();
    assertThat(options.tls()).isTrue();
    assertThat(options.insecure()).isTrue();
    assertThat(options.authority()).isEqualTo("callout.internal");
    assertThat(options.serverPid()).isEqualTo(4242);
  }

  @Test
  void badFlags_messageNamesTheFlag() {
    assertThat(message("--bogus", "1")).isEqualTo("--bogus=1: unknown flag (see --help)");
    assertThat(message("--concurrency")).isEqualTo("--concurrency: missing value");
    assertThat(message("--concurrency", "0")).isEqualTo("--concurrency=0: expected: > 0");
    assertThat(message("--rate", "fast")).isEqualTo("--rate=fast: not a number");
    assertThat(message("--repeat", "0")).isEqualTo("--repeat=0: expected: > 0");
    assertThat(message("--scenario", "bodies"))
        .isEqualTo(
            "--scenario=bodies: unknown scenario (expected one of: headers, req-resp-headers,"
                + " streamed, full-duplex)");
    assertThat(message("--header", "novalue")).isEqualTo("--header=novalue: expected NAME:VALUE");
    assertThat(message("--duration", "0s")).isEqualTo("--duration=0s: expected: > 0");
    assertThat(message("--tls=false")).isEqualTo("--tls: takes no value");
    assertThat(message("--insecure")).isEqualTo("--insecure and --ca need --tls");
    assertThat(message("--target", "localhost"))
        .isEqualTo("--target=localhost: no port (expected HOST:PORT)");
    assertThat(message("--body-size", "3", "--chunks", "4"))
        .isEqualTo("--body-size=3: smaller than --chunks=4");
  }

  @Test
  void help_printsUsageAndExitsZero() {
    LoadGenCommand help = LoadGenCommand.run("--help");

    assertThat(help.exitCode()).isEqualTo(0);
    assertThat(help.stdout()).isEqualTo(LoadOptions.USAGE);
    for (String flag : List.of("--target", "--scenario", "--rate", "--header", "--server-pid")) {
      assertThat(LoadOptions.USAGE).contains("  " + flag + " ");
    }
  }

  @Test
  void readme_loadTestingTable_listsEveryFlag() throws IOException {
    String readme = Files.readString(Path.of("README.md"), StandardCharsets.UTF_8);
    Matcher flag = Pattern.compile("^  (--[a-z-]+)", Pattern.MULTILINE).matcher(LoadOptions.USAGE);
    int flags = 0;
    while (flag.find()) {
      if (!flag.group(1).equals("--help")) {
        flags++;
        assertThat(readme).containsMatch("`" + flag.group(1) + "[ `]");
      }
    }
    assertThat(flags).isEqualTo(17);
  }

  @Test
  void badFlag_exitCode2() {
    LoadGenCommand bad = LoadGenCommand.run("--chunks", "-1");

    assertThat(bad.exitCode()).isEqualTo(LoadGen.EXIT_USAGE);
    assertThat(bad.stderr())
        .isEqualTo("loadgen: --chunks=-1: expected: > 0" + System.lineSeparator());
  }

  private static String message(String... args) {
    return String.valueOf(
        assertThrows(IllegalArgumentException.class, () -> LoadOptions.parse(args)).getMessage());
  }
}

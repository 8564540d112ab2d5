package dev.extproc.callout.bench;

import static com.google.common.truth.Truth.assertThat;
import static com.google.common.truth.Truth.assertWithMessage;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every scenario in a closed and an open loop for half a second against a well-behaved server (the
 * subclass's): no error, and counts that agree with each other and with the JSON line.
 */
abstract class CleanRunTests {

  /** HOST:PORT of the server under load. */
  abstract String target();

  /** Each scenario with the messages and body bytes one stream sends (4 chunks per 64 KiB body). */
  static Stream<Arguments> scenarios() {
    return Stream.of(
        Arguments.of("headers", 1, 0),
        Arguments.of("req-resp-headers", 2, 0),
        Arguments.of("streamed", 2 + 4 + 4, 2 * 65536),
        Arguments.of("full-duplex", 1 + 4, 65536));
  }

  @ParameterizedTest
  @MethodSource("scenarios")
  void closedLoop_wellBehavedServer_noErrorAndConsistentCounts(
      String scenario, int perStream, int bodyBytes) {
    LoadGenCommand run =
        load(
            scenario,
            "--concurrency",
            "8",
            "--server-pid",
            Long.toString(ProcessHandle.current().pid()));

    assertClean(run, scenario, "closed", perStream, bodyBytes);
    assertThat(run.count("concurrency")).isEqualTo(8);
    assertThat(run.json().getFieldsOrThrow("start_lag_p99_us").hasNullValue()).isTrue();
    // The server runs in this JVM, so its CPU time includes the load generator's.
    assertThat(run.number("server_cpu_us_per_stream")).isGreaterThan(0.0);
    assertThat(run.json().getFieldsOrThrow("server_cpu_source").getStringValue())
        .isAnyOf("schedstat", "stat");
    if (bodyBytes > 0) {
      // Body bytes per second of server CPU, in GB.
      assertThat(run.number("server_gb_per_cpu_s"))
          .isWithin(0.0015)
          .of(
              run.count("body_bytes")
                  / (run.number("server_cpu_us_per_stream") * 1000 * run.count("streams")));
      assertThat(run.stderr()).contains("server GB/s  ");
    } else {
      assertThat(run.json().getFieldsOrThrow("server_gb_per_cpu_s").hasNullValue()).isTrue();
    }
  }

  @ParameterizedTest
  @MethodSource("scenarios")
  void openLoop_wellBehavedServer_startsEveryScheduledStream(
      String scenario, int perStream, int bodyBytes) {
    LoadGenCommand run = load(scenario, "--rate", "200");

    assertClean(run, scenario, "open", perStream, bodyBytes);
    // How late the event loops started the streams against their schedule.
    assertThat(run.number("start_lag_p99_us")).isAtLeast(0.0);
    assertThat(run.number("start_lag_max_us")).isAtLeast(run.number("start_lag_p99_us"));
    assertThat(run.stderr()).contains("schedule     streams started p99 ");
    // 200 streams/s for 0.5 s, whatever the server's speed: the schedule does not wait.
    assertThat(run.count("streams")).isIn(com.google.common.collect.Range.closed(99L, 101L));
    assertThat(run.number("rate")).isEqualTo(200.0);
    assertThat(run.json().getFieldsOrThrow("server_cpu_us_per_stream").hasNullValue()).isTrue();
  }

  /** Half a second of {@code scenario} on two connections after 0.1 s of warm-up. */
  private LoadGenCommand load(String scenario, String... more) {
    List<String> args = new ArrayList<>();
    Collections.addAll(args, "--target", target(), "--scenario", scenario, "--connections", "2");
    // A generous timeout: a loaded build machine must not turn slowness into errors.
    Collections.addAll(args, "--warmup", "100ms", "--duration", "500ms", "--timeout", "30s");
    Collections.addAll(args, more);
    return LoadGenCommand.run(args.toArray(new String[0]));
  }

  private static void assertClean(
      LoadGenCommand run, String scenario, String mode, int perStream, int bodyBytes) {
    assertWithMessage("exit code; %s", run.stderr()).that(run.exitCode()).isEqualTo(0);
    assertThat(run.json().getFieldsOrThrow("scenario").getStringValue()).isEqualTo(scenario);
    assertThat(run.json().getFieldsOrThrow("mode").getStringValue()).isEqualTo(mode);
    long streams = run.count("streams");
    assertThat(streams).isGreaterThan(0);
    assertThat(run.count("errors")).isEqualTo(0);
    assertThat(run.count("type_mismatches")).isEqualTo(0);
    assertThat(run.count("failed_streams")).isEqualTo(0);
    assertThat(run.count("timeouts")).isEqualTo(0);
    assertThat(run.count("immediate_responses")).isEqualTo(0);
    assertThat(run.count("ok")).isEqualTo(streams);
    assertThat(run.count("messages")).isEqualTo(streams * perStream);
    assertThat(run.number("streams_per_s")).isWithin(0.01).of(streams / 0.5);
    assertThat(run.number("messages_per_s")).isWithin(0.01).of(streams * perStream / 0.5);
    if (bodyBytes > 0) {
      assertThat(run.count("body_bytes")).isEqualTo(streams * bodyBytes);
      assertThat(run.number("body_bytes_per_s")).isWithin(0.01).of(streams * bodyBytes / 0.5);
      assertThat(run.stderr()).contains("bodies       " + streams * bodyBytes + " ");
    } else {
      assertThat(run.json().getFieldsOrThrow("body_bytes").hasNullValue()).isTrue();
      assertThat(run.json().getFieldsOrThrow("body_bytes_per_s").hasNullValue()).isTrue();
      assertThat(run.stderr()).doesNotContain("bodies ");
    }
    assertThat(run.number("p50_us")).isGreaterThan(0.0);
    assertThat(run.number("p50_us")).isAtMost(run.number("p90_us"));
    assertThat(run.number("p90_us")).isAtMost(run.number("p99_us"));
    assertThat(run.number("p99_us")).isAtMost(run.number("p999_us"));
    assertThat(run.number("p999_us")).isAtMost(run.number("max_us"));
    assertThat(run.json().getFieldsOrThrow("latency_unit").getStringValue()).isEqualTo("us");
    assertThat(run.stderr()).contains("errors       0 ");
  }
}

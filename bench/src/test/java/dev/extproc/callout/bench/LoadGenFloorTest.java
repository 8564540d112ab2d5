package dev.extproc.callout.bench;

import static com.google.common.truth.Truth.assertThat;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Struct;
import com.google.protobuf.util.JsonFormat;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The load generator against the floor server: every scenario, closed and open loop, and several
 * windows after one warm-up.
 */
class LoadGenFloorTest extends CleanRunTests {

  private static FloorServer floor;

  @BeforeAll
  static void startFloor() throws IOException {
    floor = FloorServer.start(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
  }

  @AfterAll
  static void stopFloor() {
    floor.close();
  }

  @Override
  String target() {
    return "127.0.0.1:" + floor.port();
  }

  @Test
  void repeat_printsEachWindowThenTheMedian() throws InvalidProtocolBufferException {
    LoadGenCommand run =
        LoadGenCommand.run(
            "--target",
            target(),
            "--scenario",
            "full-duplex",
            "--rate",
            "300",
            "--warmup",
            "100ms",
            "--duration",
            "200ms",
            "--repeat",
            "3",
            "--timeout",
            "30s");

    assertThat(run.exitCode()).isEqualTo(0);
    List<Struct> lines = new ArrayList<>();
    for (String line : run.stdout().lines().toList()) {
      Struct.Builder json = Struct.newBuilder();
      JsonFormat.parser().merge(line, json);
      lines.add(json.build());
    }
    assertThat(lines).hasSize(4);
    List<Double> p99s = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      Struct window = lines.get(i);
      assertThat(window.getFieldsOrThrow("window").getNumberValue()).isEqualTo(i + 1.0);
      // 300 streams/s for 0.2 s each, by the schedule.
      assertThat(window.getFieldsOrThrow("streams").getNumberValue()).isEqualTo(60.0);
      assertThat(window.getFieldsOrThrow("body_bytes").getNumberValue()).isEqualTo(60.0 * 65536);
      assertThat(window.getFieldsOrThrow("duration_s").getNumberValue()).isEqualTo(0.2);
      p99s.add(window.getFieldsOrThrow("p99_us").getNumberValue());
    }
    Struct median = run.json();
    assertThat(median.getFieldsOrThrow("window").getStringValue()).isEqualTo("median");
    assertThat(median.getFieldsOrThrow("windows").getNumberValue()).isEqualTo(3.0);
    p99s.sort(null);
    assertThat(run.number("p99_us")).isEqualTo(p99s.get(1));
    assertThat(run.count("streams")).isEqualTo(60);
    assertThat(run.count("errors")).isEqualTo(0);
    // Outcome counts are summed over the windows, not their median.
    assertThat(run.count("ok")).isEqualTo(180);
    assertThat(run.stderr()).contains("-- window 3 of 3");
    assertThat(run.stderr()).containsMatch("\nmedian +300\\.0 ");
  }
}

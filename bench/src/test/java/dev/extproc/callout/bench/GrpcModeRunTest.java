package dev.extproc.callout.bench;

import static com.google.common.truth.Truth.assertThat;

import org.junit.jupiter.api.Test;

/**
 * The bounded-memory run of BENCHMARKS.md at a CI size: 8 MiB per direction in GRPC mode through
 * the samples server in a child JVM with a 64 MiB heap. {@link GrpcModeCall} checks every byte came
 * back in order; this checks the flow control held the call within its windows.
 */
class GrpcModeRunTest {

  @Test
  void eightMibPerDirection_underSixtyFourMibOfHeap_flowsWithinTheWindows() throws Exception {
    GrpcModeRun.Result result = GrpcModeRun.run(8L * 1024 * 1024, "64m");
    System.out.println(result);

    GrpcModeCall.Outcome call = result.call();
    assertThat(call.bytesPerDirection()).isEqualTo(8L * 1024 * 1024);
    // Without server_window_updates the client would have stopped after one window (64 KiB).
    assertThat(call.serverWindowUpdates()).isAtLeast(8 * 1024 / 64 / 2);
    // The client never had more out than its window plus one message.
    assertThat(call.maxInFlight()).isAtMost((long) GrpcModeCall.WINDOW + GrpcModeCall.MESSAGE_SIZE);
  }
}

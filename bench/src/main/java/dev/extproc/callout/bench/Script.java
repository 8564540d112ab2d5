package dev.extproc.callout.bench;

import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse.ResponseCase;
import java.util.List;
import org.jspecify.annotations.Nullable;

/**
 * What one stream (one HTTP request) sends and expects back, as a list of steps: each step's
 * messages go out without waiting for replies (as Envoy pipelines them), and the next step starts
 * once every reply of this one came back.
 */
record Script(List<Step> steps) {

  /**
   * One step.
   *
   * @param requests the messages to send, in order
   * @param replies the reply expected for each message, in order
   * @param streamedUntilEnd if not null, after {@code replies}: any number of replies of this case
   *     carrying a {@code streamed_response}, the last one marked {@code end_of_stream}
   *     (FULL_DUPLEX_STREAMED)
   */
  record Step(
      List<ProcessingRequest> requests,
      List<ResponseCase> replies,
      @Nullable ResponseCase streamedUntilEnd) {
    Step {
      requests = List.copyOf(requests);
      replies = List.copyOf(replies);
    }
  }

  Script {
    steps = List.copyOf(steps);
  }

  /** How many messages a stream sends when it runs to its end. */
  int messageCount() {
    int count = 0;
    for (Step step : steps) {
      count += step.requests().size();
    }
    return count;
  }
}

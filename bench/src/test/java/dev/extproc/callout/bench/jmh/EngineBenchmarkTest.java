package dev.extproc.callout.bench.jmh;

import static com.google.common.truth.Truth.assertThat;
import static com.google.common.truth.extensions.proto.ProtoTruth.assertThat;

import com.google.protobuf.TextFormat;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.grpc.Status;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;

/**
 * Checks that each engine benchmark measures the path it names: every message answered with the
 * exact reply the callout gives, no stream ended early. The benchmarks themselves run only under
 * JMH ({@code bench/jmh.sh}).
 */
class EngineBenchmarkTest {

  private final EngineBenchmark benchmark = new EngineBenchmark();

  /** Runs {@code operation} twice, then the state's own check, and returns what was sent. */
  private static <S extends EngineBenchmark.Server> CountingServerCall twice(
      S state, Consumer<S> operation) {
    try {
      operation.accept(state);
      operation.accept(state);
      state.check();
      return state.call;
    } finally {
      state.close();
    }
  }

  private static ProcessingResponse reply(String text) throws TextFormat.ParseException {
    return TextFormat.parse(text, ProcessingResponse.class);
  }

  @Test
  void requestHeadersNoop_eachMessage_answersContinue() throws Exception {
    CountingServerCall call =
        twice(new EngineBenchmark.NoopStream(), benchmark::requestHeadersNoop);

    assertThat(call.messagesSent).isEqualTo(2);
    assertThat(call.closes).isEqualTo(0);
    assertThat(call.lastMessage).isEqualTo(reply("request_headers {}"));
  }

  @Test
  void requestHeadersAddHeader_eachMessage_answersWithTheSamplesMutation() throws Exception {
    CountingServerCall call =
        twice(new EngineBenchmark.AddHeaderStream(), benchmark::requestHeadersAddHeader);

    assertThat(call.messagesSent).isEqualTo(2);
    assertThat(call.lastMessage)
        .isEqualTo(
            reply(
                "request_headers { response {"
                    + " header_mutation { set_headers {"
                    + " header { key: 'header-request' raw_value: 'request' }"
                    + " append { value: false } append_action: OVERWRITE_IF_EXISTS_OR_ADD } }"
                    + " clear_route_cache: true } }"));
  }

  @Test
  void wholeStreamNoop_eachStream_answersBothPhasesWithContinueAndClosesOk() throws Exception {
    CountingServerCall call = twice(new EngineBenchmark.NoopServer(), benchmark::wholeStreamNoop);

    assertThat(call.messagesSent).isEqualTo(4);
    assertThat(call.closes).isEqualTo(2);
    assertThat(call.lastStatus).isEqualTo(Status.OK);
    assertThat(call.lastMessage).isEqualTo(reply("response_headers {}"));
  }

  @Test
  void wholeStreamAddHeader_eachStream_answersBothPhasesAndClosesOk() throws Exception {
    CountingServerCall call =
        twice(new EngineBenchmark.AddHeaderServer(), benchmark::wholeStreamAddHeader);

    assertThat(call.messagesSent).isEqualTo(4);
    assertThat(call.headersSent).isEqualTo(2);
    assertThat(call.closes).isEqualTo(2);
    assertThat(call.lastStatus).isEqualTo(Status.OK);
    assertThat(call.lastMessage)
        .isEqualTo(
            reply(
                "response_headers { response { header_mutation {"
                    + " set_headers { header { key: 'header-response' raw_value: 'response' }"
                    + " append { value: false } append_action: OVERWRITE_IF_EXISTS_OR_ADD }"
                    + " remove_headers: 'foo' } } }"));
  }

  @Test
  void streamedBodyChunk64KiB_eachChunk_answersContinue() throws Exception {
    EngineBenchmark.StreamedBody state = new EngineBenchmark.StreamedBody();
    CountingServerCall call = twice(state, benchmark::streamedBodyChunk64KiB);

    assertThat(state.chunk.getRequestBody().getBody().size()).isEqualTo(64 * 1024);
    assertThat(call.messagesSent).isEqualTo(3);
    assertThat(call.lastMessage).isEqualTo(reply("request_body {}"));
  }
}

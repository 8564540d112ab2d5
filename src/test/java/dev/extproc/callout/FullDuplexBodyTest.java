package dev.extproc.callout;

import static com.google.common.truth.Truth.assertThat;
import static com.google.common.truth.extensions.proto.ProtoTruth.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.google.protobuf.ByteString;
import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import io.envoyproxy.envoy.service.ext_proc.v3.BodyMutation;
import io.envoyproxy.envoy.service.ext_proc.v3.BodyResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.CommonResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.StreamedBodyResponse;
import java.util.List;
import org.junit.jupiter.api.Test;

/** A full-duplex body's re-chunking, end marking and metadata, on their own. */
final class FullDuplexBodyTest {
  private static final CalloutServerConfig CONFIG =
      CalloutServerConfig.newBuilder().streamedChunkSize(4).maxBufferedBodySize(1024).build();

  private static ByteString bytes(String text) {
    return ByteString.copyFromUtf8(text);
  }

  /** The streamed reply carrying {@code body}. */
  static ProcessingResponse streamed(Direction direction, String body, boolean end) {
    BodyResponse response =
        BodyResponse.newBuilder()
            .setResponse(
                CommonResponse.newBuilder()
                    .setBodyMutation(
                        BodyMutation.newBuilder()
                            .setStreamedResponse(
                                StreamedBodyResponse.newBuilder()
                                    .setBody(bytes(body))
                                    .setEndOfStream(end))))
            .build();
    return direction.set(ProcessingResponse.newBuilder(), response).build();
  }

  @Test
  void drain_nothingWritten_noReplyUntilTheEnd() {
    FullDuplexBody body = new FullDuplexBody(Direction.REQUEST, CONFIG);

    assertThat(body.drain(false)).isEmpty();
    assertThat(body.drain(true)).containsExactly(streamed(Direction.REQUEST, "", true));
    assertThat(body.isEnded()).isTrue();
  }

  @Test
  void drain_writesJoinedThenSplitAtChunkSize_lastMarked() {
    FullDuplexBody body = new FullDuplexBody(Direction.RESPONSE, CONFIG);
    body.write(bytes("ab"));
    body.write(bytes("cdefg"));
    body.write(ByteString.EMPTY);

    assertThat(body.drain(false))
        .containsExactly(
            streamed(Direction.RESPONSE, "abcd", false), streamed(Direction.RESPONSE, "efg", false))
        .inOrder();
    body.write(bytes("wxyz"));
    assertThat(body.drain(true)).containsExactly(streamed(Direction.RESPONSE, "wxyz", true));
  }

  @Test
  void drainBeforeTrailers_endsUnmarked_thenRefusesWrites() {
    FullDuplexBody body = new FullDuplexBody(Direction.REQUEST, CONFIG);
    body.write(bytes("tail"));

    assertThat(body.drainBeforeTrailers())
        .containsExactly(streamed(Direction.REQUEST, "tail", false));
    assertThat(body.isEnded()).isTrue();
    IllegalStateException e =
        assertThrows(IllegalStateException.class, () -> body.write(bytes("more")));
    assertThat(e).hasMessageThat().isEqualTo("the body already ended: nothing more can be written");
  }

  @Test
  void withMetadata_keptUntilAReplyCarriesIt_merged() {
    FullDuplexBody body = new FullDuplexBody(Direction.REQUEST, CONFIG);
    Struct first = namespace("a");
    Struct second = namespace("b");

    assertThat(body.withMetadata(first, List.of())).isEmpty();
    List<ProcessingResponse> replies =
        body.withMetadata(
            second,
            List.of(
                streamed(Direction.REQUEST, "x", false), streamed(Direction.REQUEST, "y", true)));

    assertThat(replies.get(0).getDynamicMetadata().getFieldsMap()).containsKey("a");
    assertThat(replies.get(0).getDynamicMetadata().getFieldsMap()).containsKey("b");
    assertThat(replies.get(1).hasDynamicMetadata()).isFalse();
    assertThat(
            body.withMetadata(null, List.of(streamed(Direction.REQUEST, "z", false)))
                .get(0)
                .hasDynamicMetadata())
        .isFalse();
  }

  @Test
  void bufferLimit_fromConfig() {
    assertThat(new FullDuplexBody(Direction.REQUEST, CONFIG).bufferLimit()).isEqualTo(1024);
  }

  private static Struct namespace(String name) {
    return Struct.newBuilder()
        .putFields(
            name,
            Value.newBuilder()
                .setStructValue(
                    Struct.newBuilder()
                        .putFields("k", Value.newBuilder().setStringValue("v").build()))
                .build())
        .build();
  }
}

package dev.extproc.callout;

import static com.google.common.truth.Truth.assertThat;
import static com.google.common.truth.extensions.proto.ProtoTruth.assertThat;

import com.google.protobuf.Any;
import com.google.protobuf.ByteString;
import com.google.protobuf.StringValue;
import com.google.protobuf.UnknownFieldSet;
import io.envoyproxy.envoy.service.ext_proc.v3.HeadersResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Which reply typed metadata rides on, on its own: the wire encoding and the engine paths are in
 * {@code BodyLengthAndMetadataConformanceTest} (cases 67 and 68).
 */
final class TypedMetadataTest {
  private static final Map<String, Any> ATTACHED = Map.of("ns", Any.pack(StringValue.of("v")));

  /** A bare {@code server_window_update} (field 14 {1: 100}), built by number. */
  private static final ProcessingResponse WINDOW_UPDATE =
      ProcessingResponse.newBuilder()
          .setUnknownFields(
              UnknownFieldSet.newBuilder()
                  .addField(
                      14,
                      UnknownFieldSet.Field.newBuilder()
                          .addLengthDelimited(
                              UnknownFieldSet.newBuilder()
                                  .addField(
                                      1, UnknownFieldSet.Field.newBuilder().addVarint(100).build())
                                  .build()
                                  .toByteString())
                          .build())
                  .build())
          .build();

  private static final ProcessingResponse HEADERS =
      ProcessingResponse.newBuilder()
          .setRequestHeaders(HeadersResponse.getDefaultInstance())
          .build();

  /** The namespaces of field 13 of {@code reply}, read by number. */
  private static List<String> namespaces(ProcessingResponse reply) throws Exception {
    return reply.getUnknownFields().getField(13).getLengthDelimitedList().stream()
        .map(TypedMetadataTest::key)
        .toList();
  }

  private static String key(ByteString entry) {
    try {
      return UnknownFieldSet.parseFrom(entry)
          .getField(1)
          .getLengthDelimitedList()
          .get(0)
          .toStringUtf8();
    } catch (Exception e) {
      throw new AssertionError(e);
    }
  }

  @Test
  void attach_skipsBareFlowControl_keepsPendingWithoutAReply() throws Exception {
    TypedMetadata metadata = new TypedMetadata();

    // Only flow control: nothing carries it, it waits for the direction's next reply.
    assertThat(metadata.attach(Direction.REQUEST, ATTACHED, List.of(WINDOW_UPDATE)))
        .containsExactly(WINDOW_UPDATE);
    // Not on another direction's reply.
    assertThat(metadata.attach(Direction.RESPONSE, Map.of(), List.of(HEADERS)))
        .containsExactly(HEADERS);

    List<ProcessingResponse> sent =
        metadata.attach(Direction.REQUEST, Map.of(), List.of(WINDOW_UPDATE, HEADERS));
    assertThat(sent.get(0)).isEqualTo(WINDOW_UPDATE);
    assertThat(namespaces(sent.get(1))).containsExactly("ns");
    assertThat(
            sent.get(1).toBuilder().setUnknownFields(UnknownFieldSet.getDefaultInstance()).build())
        .isEqualTo(HEADERS);

    // Sent once: the next reply goes out as it is.
    assertThat(metadata.attach(Direction.REQUEST, Map.of(), List.of(HEADERS)))
        .containsExactly(HEADERS);
  }
}

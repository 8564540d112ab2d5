package dev.extproc.callout.internal.wire;

import static com.google.common.truth.Truth.assertThat;

import com.google.protobuf.Any;
import com.google.protobuf.ByteString;
import com.google.protobuf.StringValue;
import com.google.protobuf.UnknownFieldSet;
import io.envoyproxy.envoy.service.ext_proc.v3.BodyResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpBody;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.StreamedBodyResponse;
import java.io.IOException;
import org.junit.jupiter.api.Test;

/**
 * The overlay against the wire: every field is written here by number with protobuf's own {@link
 * UnknownFieldSet}, never with the overlay, and what the overlay writes is read back the same way.
 */
class NewerFieldsTest {

  private static UnknownFieldSet.Field varint(long value) {
    return UnknownFieldSet.Field.newBuilder().addVarint(value).build();
  }

  private static UnknownFieldSet.Field bytes(ByteString value) {
    return UnknownFieldSet.Field.newBuilder().addLengthDelimited(value).build();
  }

  @Test
  void readsFlowControlFieldsOfARequestByNumber() throws IOException {
    ByteString init =
        UnknownFieldSet.newBuilder()
            .addField(1, varint(65_536))
            .addField(2, varint(1))
            .addField(3, varint(2))
            .addField(4, varint(3))
            .build()
            .toByteString();
    ByteString update = UnknownFieldSet.newBuilder().addField(2, varint(-5)).build().toByteString();
    ProcessingRequest request =
        ProcessingRequest.parseFrom(
            UnknownFieldSet.newBuilder()
                .addField(12, bytes(init))
                .addField(13, bytes(update))
                .build()
                .toByteString());

    ProcessingRequestFields fields = NewerFields.of(request);

    assertThat(fields.getFlowControlInit().getInitialWindowDownstreamToSidestream())
        .isEqualTo(65_536);
    assertThat(fields.getFlowControlInit().getInitialWindowSidestreamToUpstream()).isEqualTo(1);
    assertThat(fields.getFlowControlInit().getInitialWindowUpstreamToSidestream()).isEqualTo(2);
    assertThat(fields.getFlowControlInit().getInitialWindowSidestreamToDownstream()).isEqualTo(3);
    assertThat(fields.getClientWindowUpdate().getWindowIncrementSidestreamToDownstream())
        .isEqualTo(-5);
    assertThat(request.getRequestCase()).isEqualTo(ProcessingRequest.RequestCase.REQUEST_NOT_SET);
  }

  @Test
  void readsGrpcFlagsOfABodyByNumber_andNothingFromAPlainOne() throws IOException {
    HttpBody body =
        HttpBody.newBuilder()
            .setEndOfStream(true)
            .setUnknownFields(
                UnknownFieldSet.newBuilder().addField(3, varint(1)).addField(4, varint(1)).build())
            .build();

    assertThat(NewerFields.of(body).getEndOfStreamWithoutMessage()).isTrue();
    assertThat(NewerFields.of(body).getGrpcMessageCompressed()).isTrue();
    assertThat(NewerFields.of(HttpBody.getDefaultInstance()))
        .isSameInstanceAs(HttpBodyFields.getDefaultInstance());
  }

  @Test
  void writesResponseFieldsWithEnvoysNumbers() throws IOException {
    ProcessingResponse.Builder builder = ProcessingResponse.newBuilder();
    NewerFields.merge(
        builder,
        ProcessingResponseFields.newBuilder()
            .setRequestDrain(true)
            .setServerWindowUpdate(
                ServerWindowUpdate.newBuilder()
                    .setWindowIncrementDownstreamToSidestream(100)
                    .setWindowIncrementUpstreamToSidestream(200))
            .putTypedDynamicMetadata("ns", Any.pack(StringValue.of("v")))
            .build());
    UnknownFieldSet wire = UnknownFieldSet.parseFrom(builder.build().toByteString());

    assertThat(wire.getField(12).getVarintList()).containsExactly(1L);
    UnknownFieldSet window =
        UnknownFieldSet.parseFrom(wire.getField(14).getLengthDelimitedList().get(0));
    assertThat(window.getField(1).getVarintList()).containsExactly(100L);
    assertThat(window.getField(2).getVarintList()).containsExactly(200L);
    // map<string, Any> entry: key = 1, value = 2
    UnknownFieldSet entry =
        UnknownFieldSet.parseFrom(wire.getField(13).getLengthDelimitedList().get(0));
    assertThat(entry.getField(1).getLengthDelimitedList().get(0).toStringUtf8()).isEqualTo("ns");
    assertThat(Any.parseFrom(entry.getField(2).getLengthDelimitedList().get(0)))
        .isEqualTo(Any.pack(StringValue.of("v")));
  }

  @Test
  void writesTheEchoFlagsInsideAStreamedResponse_besideItsKnownFields() throws IOException {
    StreamedBodyResponse.Builder echo = StreamedBodyResponse.newBuilder().setEndOfStream(true);
    NewerFields.merge(
        echo, StreamedBodyResponseFields.newBuilder().setEndOfStreamWithoutMessage(true).build());
    BodyResponse.Builder body = BodyResponse.newBuilder();
    body.getResponseBuilder().getBodyMutationBuilder().setStreamedResponse(echo);
    ByteString wire = ProcessingResponse.newBuilder().setRequestBody(body).build().toByteString();

    StreamedBodyResponse read =
        ProcessingResponse.parseFrom(wire)
            .getRequestBody()
            .getResponse()
            .getBodyMutation()
            .getStreamedResponse();
    assertThat(read.getEndOfStream()).isTrue();
    assertThat(read.getUnknownFields().getField(3).getVarintList()).containsExactly(1L);
    assertThat(NewerFields.of(read).getEndOfStreamWithoutMessage()).isTrue();
  }
}

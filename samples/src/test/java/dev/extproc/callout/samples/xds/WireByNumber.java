package dev.extproc.callout.samples.xds;

import com.google.protobuf.ByteString;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import com.google.protobuf.UnknownFieldSet;
import io.envoyproxy.envoy.service.ext_proc.v3.BodyMutation;
import io.envoyproxy.envoy.service.ext_proc.v3.BodyResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.CommonResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.StreamedBodyResponse;
import java.util.List;

/**
 * Builds and reads the ext_proc fields newer than API 1.0.49 by field number, as unknown fields, so
 * that a test trusts no encoding of the code under test: {@code client_window_update} (13 of {@code
 * ProcessingRequest}), {@code server_window_update} (14 of {@code ProcessingResponse}), the body
 * flags (3 and 4 of {@code HttpBody} and {@code StreamedBodyResponse}).
 */
final class WireByNumber {

  private WireByNumber() {}

  /**
   * The sum of the window field {@code window} over each message's field {@code number}, read by
   * number.
   */
  static long windowSum(List<? extends Message> messages, int number, int window) {
    long sum = 0;
    for (Message message : messages) {
      UnknownFieldSet.Field field = message.getUnknownFields().getField(number);
      for (ByteString update : field.getLengthDelimitedList()) {
        try {
          for (long value : UnknownFieldSet.parseFrom(update).getField(window).getVarintList()) {
            sum += value;
          }
        } catch (InvalidProtocolBufferException e) {
          throw new AssertionError("field " + number + " is not a message", e);
        }
      }
    }
    return sum;
  }

  /** {@code requests} without field 13, and without the messages that carried only it. */
  static List<ProcessingRequest> withoutClientWindowUpdates(List<ProcessingRequest> requests) {
    return requests.stream()
        .map(
            r ->
                r.toBuilder()
                    .setUnknownFields(
                        UnknownFieldSet.newBuilder(r.getUnknownFields()).clearField(13).build())
                    .build())
        .filter(r -> !r.equals(ProcessingRequest.getDefaultInstance()))
        .toList();
  }

  static BodyResponse streamed(StreamedBodyResponse.Builder response) {
    return BodyResponse.newBuilder()
        .setResponse(
            CommonResponse.newBuilder()
                .setBodyMutation(BodyMutation.newBuilder().setStreamedResponse(response)))
        .build();
  }

  /**
   * {@code server_window_update} (field 14) granting {@code bytes} in window field {@code window}.
   */
  static UnknownFieldSet windowUpdate(int window, long bytes) {
    return field(14, UnknownFieldSet.newBuilder().addField(window, varint(bytes)).build());
  }

  /** A bool field {@code number} set to true. */
  static UnknownFieldSet flag(int number) {
    return UnknownFieldSet.newBuilder().addField(number, varint(1)).build();
  }

  static UnknownFieldSet field(int number, UnknownFieldSet message) {
    return UnknownFieldSet.newBuilder()
        .addField(
            number,
            UnknownFieldSet.Field.newBuilder().addLengthDelimited(message.toByteString()).build())
        .build();
  }

  static UnknownFieldSet.Field varint(long value) {
    return UnknownFieldSet.Field.newBuilder().addVarint(value).build();
  }
}

package dev.extproc.callout.internal.wire;

import com.google.protobuf.Descriptors.Descriptor;
import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import com.google.protobuf.UnknownFieldSet;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpBody;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.StreamedBodyResponse;
import io.grpc.Status;

/**
 * Reads and writes the ext_proc fields newer than the Envoy API jar through the overlay messages of
 * {@code proto/dev/extproc/callout/wire/newer_fields.proto}: {@code of(...)} reads an Envoy
 * message's newer fields, {@code merge(...)} writes them into an Envoy builder.
 *
 * <p>With API 1.0.49 the newer fields are unknown fields of Envoy's classes, and that is where
 * {@code of} reads them. Once a newer API jar declares them, {@code of} reads them from the
 * re-encoded message instead (decided once per class, from its descriptor), so bumping the jar's
 * version changes nothing here; call sites can then move to the generated getters one by one.
 */
public final class NewerFields {

  /**
   * {@code ProcessingMode.BodySendMode.GRPC}: API 1.0.49's enum has no constant for it, so a mode
   * of 5 reads as {@code UNRECOGNIZED}; compare {@code get...BodyModeValue()} with this.
   */
  public static final int GRPC_BODY_MODE = 5;

  private static final boolean REQUEST_KNOWN =
      declares(ProcessingRequest.getDescriptor(), ProcessingRequestFields.getDescriptor());
  private static final boolean RESPONSE_KNOWN =
      declares(ProcessingResponse.getDescriptor(), ProcessingResponseFields.getDescriptor());
  private static final boolean BODY_KNOWN =
      declares(HttpBody.getDescriptor(), HttpBodyFields.getDescriptor());
  private static final boolean STREAMED_BODY_KNOWN =
      declares(StreamedBodyResponse.getDescriptor(), StreamedBodyResponseFields.getDescriptor());

  private NewerFields() {}

  /**
   * The newer fields of {@code request}: flow control.
   *
   * <p>Each {@code of} throws a {@code StatusRuntimeException} (INVALID_ARGUMENT) when a field of
   * the overlay's numbers does not parse as its type.
   */
  public static ProcessingRequestFields of(ProcessingRequest request) {
    return read(request, REQUEST_KNOWN, ProcessingRequestFields.getDefaultInstance());
  }

  /** The newer fields of {@code body}: GRPC mode's half-close and compression flags. */
  public static HttpBodyFields of(HttpBody body) {
    return read(body, BODY_KNOWN, HttpBodyFields.getDefaultInstance());
  }

  /** The newer fields of {@code response}. */
  public static ProcessingResponseFields of(ProcessingResponse response) {
    return read(response, RESPONSE_KNOWN, ProcessingResponseFields.getDefaultInstance());
  }

  /** The newer fields of {@code response}: GRPC mode's half-close and compression flags. */
  public static StreamedBodyResponseFields of(StreamedBodyResponse response) {
    return read(response, STREAMED_BODY_KNOWN, StreamedBodyResponseFields.getDefaultInstance());
  }

  /**
   * Writes {@code fields} into {@code builder}; fields unset in {@code fields} stay as they are.
   */
  public static ProcessingResponse.Builder merge(
      ProcessingResponse.Builder builder, ProcessingResponseFields fields) {
    return write(builder, fields);
  }

  /**
   * Writes {@code fields} into {@code builder}; fields unset in {@code fields} stay as they are.
   */
  public static StreamedBodyResponse.Builder merge(
      StreamedBodyResponse.Builder builder, StreamedBodyResponseFields fields) {
    return write(builder, fields);
  }

  /** Whether {@code envoy} declares any of the field numbers that {@code overlay} declares. */
  private static boolean declares(Descriptor envoy, Descriptor overlay) {
    for (FieldDescriptor field : overlay.getFields()) {
      if (envoy.findFieldByNumber(field.getNumber()) != null) {
        return true;
      }
    }
    return false;
  }

  @SuppressWarnings("unchecked") // a message's parser yields its own type
  private static <T extends Message> T read(Message envoy, boolean known, T defaults) {
    UnknownFieldSet unknown = envoy.getUnknownFields();
    if (!known && unknown.asMap().isEmpty()) {
      return defaults; // the common case: no allocation
    }
    try {
      return (T)
          defaults
              .getParserForType()
              .parseFrom(known ? envoy.toByteString() : unknown.toByteString());
    } catch (InvalidProtocolBufferException e) {
      // An unknown field parses as any bytes; the overlay's message type need not (a peer's bug,
      // or a fuzzer): that is the peer's bad input.
      throw Status.INVALID_ARGUMENT
          .withDescription(
              "malformed "
                  + envoy.getDescriptorForType().getName()
                  + ": a field newer than the compiled Envoy API does not parse ("
                  + e.getMessage()
                  + ")")
          .withCause(e)
          .asRuntimeException();
    }
  }

  private static <B extends Message.Builder> B write(B builder, Message fields) {
    try {
      builder.mergeFrom(fields.toByteString());
    } catch (InvalidProtocolBufferException e) {
      throw new IllegalStateException("overlay " + fields.getDescriptorForType().getName(), e);
    }
    return builder;
  }
}

package dev.extproc.callout;

import static java.util.Objects.requireNonNull;

import com.google.protobuf.Any;
import com.google.protobuf.Message;
import com.google.protobuf.Struct;
import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ProcessingMode;
import io.envoyproxy.envoy.service.ext_proc.v3.ImmediateResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.ProtocolConfiguration;
import io.envoyproxy.envoy.service.network_ext_proc.v3.ProcessingResponse.ConnectionStatus;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Consumer;
import org.jspecify.annotations.Nullable;

/**
 * What the hook of a stream's current phase attaches to its reply through the {@link
 * CalloutContext}, besides its return value: an immediate response, dynamic metadata (untyped and
 * typed), a mode override; and whether it already extended the message timeout. For network
 * ext_proc, the connection status the current message's reply carries. Confined to the stream, as
 * the context is.
 */
final class PhaseAdditions {
  private @Nullable Phase phase;
  private @Nullable ImmediateResponse immediateResponse;
  private Struct.@Nullable Builder dynamicMetadata;
  private @Nullable Map<String, Any> typedMetadata;
  private ProcessingMode.@Nullable Builder modeOverride;
  private boolean timeoutExtended;
  private ConnectionStatus connectionClose = ConnectionStatus.CONTINUE;

  /** Starts {@code phase} with nothing attached. */
  void begin(Phase phase) {
    this.phase = phase;
    immediateResponse = null;
    dynamicMetadata = null;
    typedMetadata = null;
    modeOverride = null;
    timeoutExtended = false;
  }

  /** Ends the current phase. */
  void end() {
    phase = null;
    immediateResponse = null;
    dynamicMetadata = null;
    typedMetadata = null;
    modeOverride = null;
  }

  /**
   * The phase whose hook runs now.
   *
   * @throws IllegalStateException outside a hook
   */
  Phase current() {
    if (phase == null) {
      throw new IllegalStateException("only a hook may call this, while its message is processed");
    }
    return phase;
  }

  /** See {@link CalloutContext#respondImmediately}. */
  void respondImmediately(ImmediateResponse response) {
    requireNonNull(response, "response");
    Phase current = current();
    if (!current.allowsImmediateResponse()) {
      throw new IllegalStateException(
          "immediate_response is not allowed in reply to " + current.wireName());
    }
    int code = response.getStatus().getCodeValue();
    if (code < 200 || code > 599) {
      throw new IllegalArgumentException("httpStatus: " + code + " (expected: 200..599)");
    }
    immediateResponse = response;
  }

  /** See {@link CalloutContext#attachDynamicMetadata}. */
  void attachDynamicMetadata(Struct metadata) {
    requireNonNull(metadata, "metadata");
    current();
    PhaseReply.checkNamespaces(metadata);
    if (dynamicMetadata == null) {
      dynamicMetadata = Struct.newBuilder();
    }
    dynamicMetadata.putAllFields(metadata.getFieldsMap());
  }

  /** See {@link CalloutContext#attachTypedMetadata}. */
  void attachTypedMetadata(String namespace, Message value) {
    requireNonNull(namespace, "namespace");
    requireNonNull(value, "value");
    current();
    if (typedMetadata == null) {
      typedMetadata = new LinkedHashMap<>();
    }
    typedMetadata.put(namespace, value instanceof Any any ? any : Any.pack(value));
  }

  /**
   * See {@link CalloutContext#overrideMode}; {@code announced} is the stream's {@code
   * protocol_config}, if Envoy sent one.
   */
  void overrideMode(
      Consumer<ProcessingMode.Builder> change, @Nullable ProtocolConfiguration announced) {
    requireNonNull(change, "change");
    Phase current = current();
    if (current != Phase.REQUEST_HEADERS && current != Phase.RESPONSE_HEADERS) {
      throw new IllegalStateException(
          "mode_override is read by Envoy only in reply to headers, not " + current.wireName());
    }
    if (modeOverride == null) {
      // By number: a mode newer than our protos (GRPC) is UNRECOGNIZED, which the setter refuses.
      ProtocolConfiguration modes =
          announced == null ? ProtocolConfiguration.getDefaultInstance() : announced;
      modeOverride =
          ProcessingMode.newBuilder()
              .setRequestBodyModeValue(modes.getRequestBodyModeValue())
              .setResponseBodyModeValue(modes.getResponseBodyModeValue());
    }
    change.accept(modeOverride);
  }

  /**
   * Records that the current phase extended its message timeout.
   *
   * @throws IllegalStateException when it already did
   */
  void markTimeoutExtended(Phase current) {
    if (timeoutExtended) {
      throw new IllegalStateException(
          "override_message_timeout already sent for " + current.wireName() + " (at most once)");
    }
    timeoutExtended = true;
  }

  @Nullable ImmediateResponse immediateResponse() {
    return immediateResponse;
  }

  @Nullable Struct dynamicMetadata() {
    return dynamicMetadata == null ? null : dynamicMetadata.build();
  }

  /** The typed metadata attached in this phase, by namespace; empty when none. */
  Map<String, Any> typedMetadata() {
    return typedMetadata == null ? Map.of() : typedMetadata;
  }

  @Nullable ProcessingMode pendingModeOverride() {
    return modeOverride == null ? null : modeOverride.build();
  }

  /** Network ext_proc: the reply to the current message closes the connection so. */
  void closeConnection(ConnectionStatus close) {
    connectionClose = close;
  }

  /** The connection status the hook asked for, cleared for the next message. */
  ConnectionStatus takeConnectionClose() {
    ConnectionStatus close = connectionClose;
    connectionClose = ConnectionStatus.CONTINUE;
    return close;
  }
}

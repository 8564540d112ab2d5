package dev.extproc.callout;

import static java.util.Objects.requireNonNull;

import com.google.protobuf.Any;
import com.google.protobuf.ByteString;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import dev.extproc.callout.internal.wire.NewerFields;
import io.envoyproxy.envoy.config.core.v3.Metadata;
import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ProcessingMode;
import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ProcessingMode.BodySendMode;
import io.envoyproxy.envoy.service.ext_proc.v3.HeaderMutation;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpHeaders;
import io.envoyproxy.envoy.service.ext_proc.v3.ImmediateResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.ProtocolConfiguration;
import io.envoyproxy.envoy.service.network_ext_proc.v3.ProcessingResponse.ConnectionStatus;
import io.grpc.Context;
import java.net.SocketAddress;
import java.time.Duration;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Flow;
import java.util.function.Consumer;
import org.jspecify.annotations.Nullable;

/**
 * The state of one ext_proc stream, which is one HTTP request: what Envoy has sent so far, typed
 * values the hooks share across phases, and what the current phase adds to its response.
 *
 * <p>A context is confined to its stream: the framework runs the hooks of one stream one at a time,
 * in message order, so it needs no locking. Do not keep it beyond {@link
 * CalloutServer#onStreamEnd}.
 */
public final class CalloutContext {

  /**
   * A typed key for per-stream state. Keys compare by identity: keep them in {@code static final}
   * fields.
   *
   * @param <T> the type of the value
   */
  @SuppressWarnings("UnusedTypeParameter") // T types get() and put() at compile time
  public static final class Key<T> {
    private final String name;

    private Key(String name) {
      this.name = requireNonNull(name, "name");
    }

    /** Returns a new key; {@code name} is only for debugging. */
    public static <T> Key<T> of(String name) {
      return new Key<>(name);
    }

    @Override
    public String toString() {
      return name;
    }
  }

  /**
   * A local reply that streams, started by {@link #respondStreaming}: its body is written chunk by
   * chunk, then it ends, with or without trailers. Thread-safe: usable from the hook and, after the
   * hook returned, from any thread; the stream stays open until {@link #end}, or until Envoy ends
   * or cancels it (then writes are dropped: {@link CalloutContext#isCancelled} tells).
   */
  public sealed interface StreamedResponse permits StreamedReply {
    /** Sends {@code chunk} as the next part of the body (a {@code body_response}). */
    void write(ByteString chunk);

    /** Ends the reply (the last {@code body_response} carries {@code end_of_stream}). */
    void end();

    /** Ends the reply with {@code trailers} (a {@code trailers_response}). */
    void end(List<Map.Entry<String, String>> trailers);
  }

  /** The key under which Envoy sends the ext_proc filter's attributes. */
  static final String ATTRIBUTES_KEY = "envoy.filters.http.ext_proc";

  private final long streamId;
  private final @Nullable SocketAddress peerAddress;
  private final Context grpcContext;
  // Created on first use: most streams store nothing and get no attributes.
  private @Nullable Map<Key<?>, Object> values;
  private Map<String, Struct> requestAttributes = Map.of();
  private Map<String, Struct> responseAttributes = Map.of();
  private @Nullable HttpHeaders requestHeaders;
  private @Nullable HttpHeaders responseHeaders;
  private @Nullable BodyTransformer requestBodyTransformer;
  private @Nullable BodyTransformer responseBodyTransformer;
  private @Nullable StreamSink<ProcessingResponse> standaloneSender;
  private Metadata metadataContext = Metadata.getDefaultInstance();
  private @Nullable ProtocolConfiguration protocolConfig;
  private @Nullable DeferredHeaders deferredHeaders;
  private boolean observabilityMode;
  private @Nullable ProcessingMode sentModeOverride;
  private @Nullable StreamedReply streamedReply;
  private boolean drainRequested;

  private final PhaseAdditions additions = new PhaseAdditions();

  CalloutContext(long streamId, @Nullable SocketAddress peerAddress, Context grpcContext) {
    this.streamId = streamId;
    this.peerAddress = peerAddress;
    this.grpcContext = grpcContext;
  }

  /** A number that identifies this stream in the server's logs. */
  public long streamId() {
    return streamId;
  }

  /** The address of the load balancer's connection, when the transport knows it. */
  public Optional<SocketAddress> peerAddress() {
    return Optional.ofNullable(peerAddress);
  }

  /** Whether Envoy has cancelled the stream (for example, the HTTP request went away). */
  public boolean isCancelled() {
    return grpcContext.isCancelled();
  }

  /**
   * The request headers of this HTTP request, once the request-headers message has arrived; for
   * response hooks that decide on what the request carried.
   */
  public Optional<HttpHeaders> requestHeaders() {
    return Optional.ofNullable(requestHeaders);
  }

  /** The response headers of this HTTP request, once the response-headers message has arrived. */
  public Optional<HttpHeaders> responseHeaders() {
    return Optional.ofNullable(responseHeaders);
  }

  /**
   * The request body mode Envoy announced in {@code protocol_config} ({@code NONE} when it sent
   * none): how request bodies reach {@link CalloutServer#onRequestBody}.
   */
  public BodySendMode requestBodyMode() {
    return protocolConfig == null ? BodySendMode.NONE : protocolConfig.getRequestBodyMode();
  }

  /** The response body mode Envoy announced in {@code protocol_config}. */
  public BodySendMode responseBodyMode() {
    return protocolConfig == null ? BodySendMode.NONE : protocolConfig.getResponseBodyMode();
  }

  /**
   * Whether the request body arrives in gRPC's GRPC body mode (value 5, which API 1.0.49's {@link
   * BodySendMode} reads as {@code UNRECOGNIZED}): announced in {@code protocol_config}, or switched
   * to by a {@code mode_override} this callout sent (or is about to send from this phase). Each
   * body message is then one de-framed gRPC message.
   */
  public boolean isGrpcRequestBody() {
    return bodyModeValue(Direction.REQUEST) == NewerFields.GRPC_BODY_MODE;
  }

  /** Like {@link #isGrpcRequestBody}, for the response body. */
  public boolean isGrpcResponseBody() {
    return bodyModeValue(Direction.RESPONSE) == NewerFields.GRPC_BODY_MODE;
  }

  /** The body mode of {@code direction} by number: overridden (pending or sent), or announced. */
  private int bodyModeValue(Direction direction) {
    ProcessingMode pending = additions.pendingModeOverride();
    ProcessingMode mode = pending != null ? pending : sentModeOverride;
    boolean request = direction == Direction.REQUEST;
    if (mode != null) {
      return request ? mode.getRequestBodyModeValue() : mode.getResponseBodyModeValue();
    }
    // The field itself, not Direction.announcedBodyModeValue's Optional: this runs per body
    // message.
    if (protocolConfig == null) {
      return BodySendMode.NONE_VALUE;
    }
    return request
        ? protocolConfig.getRequestBodyModeValue()
        : protocolConfig.getResponseBodyModeValue();
  }

  /** Records a {@code mode_override} that went out: it sets the modes of the rest of the stream. */
  void modeOverrideSent(ProcessingMode mode) {
    sentModeOverride = mode;
  }

  /**
   * Streams the request body through {@code transformer} (FULL_DUPLEX_STREAMED or GRPC mode): from
   * then on request body chunks (or gRPC messages) go to it instead of {@link
   * CalloutServer#onRequestBody}. Call it from a headers hook, before the first chunk.
   *
   * @throws IllegalStateException when the request body mode is neither FULL_DUPLEX_STREAMED nor
   *     GRPC
   */
  public void transformRequestBody(BodyTransformer transformer) {
    requestBodyTransformer =
        checkStreamed("request", requestBodyMode(), isGrpcRequestBody(), transformer);
  }

  /** Like {@link #transformRequestBody}, for the response body. */
  public void transformResponseBody(BodyTransformer transformer) {
    responseBodyTransformer =
        checkStreamed("response", responseBodyMode(), isGrpcResponseBody(), transformer);
  }

  private static BodyTransformer checkStreamed(
      String direction, BodySendMode mode, boolean grpc, BodyTransformer transformer) {
    requireNonNull(transformer, "transformer");
    if (mode != BodySendMode.FULL_DUPLEX_STREAMED && !grpc) {
      throw new IllegalStateException(
          "a "
              + direction
              + " body transformer needs body mode FULL_DUPLEX_STREAMED or GRPC (Envoy announced "
              + mode
              + ")");
    }
    return transformer;
  }

  /**
   * Answers this headers phase after its body (FULL_DUPLEX_STREAMED mode only): the reply the hook
   * returns is held while the body's output (from a {@link BodyTransformer} or the body hook) is
   * collected, not sent, up to {@link CalloutServerConfig#maxBufferedBodySize()} (past it the
   * stream ends with {@code RESOURCE_EXHAUSTED}). When the body ends (its last chunk, or trailers)
   * the framework sends the headers reply first, with the mutations body phases added through
   * {@link #mutateDeferredHeaders} and {@code content-length} set to the length of the body sent on
   * (if the headers declared another one and the reply does not set or remove it), then the body,
   * then the trailers reply. Headers that end the stream (no body follows) and immediate responses
   * are answered at once.
   *
   * @throws IllegalStateException outside a headers hook, or when the direction's body mode is not
   *     FULL_DUPLEX_STREAMED
   */
  public void deferHeadersReply() {
    Phase current = additions.current();
    if (deferredHeaders == null) {
      deferredHeaders = new DeferredHeaders();
    }
    deferredHeaders.ask(current, this);
  }

  /**
   * Adds {@code mutation} (headers to set and to remove) to the held reply of this direction's
   * headers ({@link #deferHeadersReply}): for a body hook, or a {@link BodyTransformer} (its calls
   * run in the body's phases), that decides headers from the body. Calls add up.
   *
   * @throws IllegalStateException outside a hook, or when this direction's headers reply is not
   *     held (never deferred, or already sent because the body ended)
   */
  public void mutateDeferredHeaders(HeaderMutation mutation) {
    DeferredHeaders.mutate(deferredHeaders, additions.current(), mutation);
  }

  @Nullable DeferredHeaders deferredHeaders() {
    return deferredHeaders;
  }

  @Nullable BodyTransformer bodyTransformer(Direction direction) {
    return direction == Direction.REQUEST ? requestBodyTransformer : responseBodyTransformer;
  }

  /**
   * Attaches a {@code mode_override} to this phase's reply: Envoy uses that processing mode for the
   * rest of this HTTP request (if its {@code allow_mode_override} is set). {@code change} edits a
   * mode that starts with both body modes as Envoy announced them, because Envoy reads an unset
   * body mode as NONE, and with header and trailer modes at DEFAULT (unchanged); a second call in
   * the same phase edits the same mode again. For example, {@code ctx.overrideMode(m ->
   * m.setResponseBodyMode(BodySendMode.NONE))} skips the response body.
   *
   * @throws IllegalStateException outside the request or response headers hooks, the only phases
   *     whose override Envoy reads
   */
  public void overrideMode(Consumer<ProcessingMode.Builder> change) {
    additions.overrideMode(change, protocolConfig);
  }

  /**
   * Asks Envoy, now, to wait up to {@code timeout} for this phase's reply instead of its {@code
   * message_timeout}: a standalone {@code override_message_timeout} message, for a hook that knows
   * it will be slow. Envoy honours it only when its {@code max_message_timeout} allows {@code
   * timeout}; at most once per phase. Nothing is sent in observability mode.
   *
   * @throws IllegalStateException outside a hook, or when already asked in this phase
   * @throws IllegalArgumentException when {@code timeout} is under 1 ms
   */
  public void extendMessageTimeout(Duration timeout) {
    requireNonNull(timeout, "timeout");
    Phase current = additions.current();
    if (timeout.compareTo(Duration.ofMillis(1)) < 0) {
      throw new IllegalArgumentException("timeout: " + timeout + " (expected: >= 1ms)");
    }
    additions.markTimeoutExtended(current);
    if (standaloneSender != null && !observabilityMode) {
      standaloneSender.sendStandalone(
          ProcessingResponse.newBuilder()
              .setOverrideMessageTimeout(
                  com.google.protobuf.Duration.newBuilder()
                      .setSeconds(timeout.getSeconds())
                      .setNanos(timeout.getNano()))
              .build());
    }
  }

  void standaloneSender(StreamSink<ProcessingResponse> sender) {
    standaloneSender = sender;
  }

  /**
   * The attributes Envoy sent with the request direction, keyed by {@code
   * "envoy.filters.http.ext_proc"}; hooks read them one by one with {@link #requestAttribute}.
   */
  Map<String, Struct> requestAttributes() {
    return Collections.unmodifiableMap(requestAttributes);
  }

  /** The attributes Envoy sent with the response direction; see {@link #responseAttribute}. */
  Map<String, Struct> responseAttributes() {
    return Collections.unmodifiableMap(responseAttributes);
  }

  /**
   * Returns the request attribute {@code name} (a CEL attribute such as {@code request.path} listed
   * in the client's {@code request_attributes}), if the client sent it. Reads Envoy's layout (one
   * struct of all attributes under {@code "envoy.filters.http.ext_proc"}) and that of grpc-java's
   * proxyless clients (one struct per attribute, the value under the key {@code ""}; a map
   * attribute such as {@code request.headers} as a struct value) alike.
   */
  public Optional<Value> requestAttribute(String name) {
    return attribute(requestAttributes, name);
  }

  /** Returns the response attribute {@code name} (from {@code response_attributes}), if sent. */
  public Optional<Value> responseAttribute(String name) {
    return attribute(responseAttributes, name);
  }

  /**
   * Envoy's layout first: one struct under {@code "envoy.filters.http.ext_proc"} with a field per
   * attribute. Else grpc-java's (gRFC A93): one struct per attribute name, holding the value under
   * the key {@code ""}, or, for a map such as {@code request.headers}, holding the map's entries.
   */
  private static Optional<Value> attribute(Map<String, Struct> attributes, String name) {
    requireNonNull(name, "name");
    Struct envoy = attributes.get(ATTRIBUTES_KEY);
    if (envoy != null && envoy.containsFields(name)) {
      return Optional.of(envoy.getFieldsOrThrow(name));
    }
    Struct grpc = attributes.get(name);
    if (grpc == null) {
      return Optional.empty();
    }
    Value single = grpc.getFieldsMap().get("");
    return Optional.of(
        single != null && grpc.getFieldsCount() == 1
            ? single
            : Value.newBuilder().setStructValue(grpc).build());
  }

  /**
   * Returns the untyped dynamic metadata Envoy forwarded under {@code namespace} ({@code
   * metadata_options.forwarding_namespaces}; Google Cloud puts an extension's {@code metadata}
   * under {@code com.google.<extension_type>.<resource>.<chain>.<extension>}).
   */
  public Optional<Struct> forwardedMetadata(String namespace) {
    requireNonNull(namespace, "namespace");
    return Optional.ofNullable(metadataContext.getFilterMetadataMap().get(namespace));
  }

  /**
   * Returns the typed dynamic metadata Envoy forwarded under {@code namespace} ({@code
   * metadata_context.typed_filter_metadata}, from {@code metadata_options.forwarding_namespaces.
   * typed}).
   */
  public Optional<Any> forwardedTypedMetadata(String namespace) {
    requireNonNull(namespace, "namespace");
    return Optional.ofNullable(metadataContext.getTypedFilterMetadataMap().get(namespace));
  }

  /**
   * Returns the typed dynamic metadata Envoy forwarded under {@code namespace}, unpacked as {@code
   * type}.
   *
   * @throws IllegalArgumentException when the namespace holds another type, or bytes that do not
   *     parse as {@code type}
   */
  public <T extends Message> Optional<T> forwardedTypedMetadata(String namespace, Class<T> type) {
    requireNonNull(type, "type");
    Any any = forwardedTypedMetadata(namespace).orElse(null);
    if (any == null) {
      return Optional.empty();
    }
    try {
      return Optional.of(any.unpack(type));
    } catch (InvalidProtocolBufferException e) {
      throw new IllegalArgumentException(
          "typed metadata namespace "
              + namespace
              + ": "
              + any.getTypeUrl()
              + " is not a "
              + type.getName(),
          e);
    }
  }

  /**
   * The dynamic metadata Envoy forwarded with the latest message ({@code metadata_context}), typed
   * namespaces included; {@link #forwardedMetadata} reads one untyped namespace.
   */
  public Metadata metadataContext() {
    return metadataContext;
  }

  /**
   * The body modes Envoy announced on the stream's first message; empty when it sent none (older
   * Envoy, or observability mode).
   */
  public Optional<ProtocolConfiguration> protocolConfig() {
    return Optional.ofNullable(protocolConfig);
  }

  /**
   * Whether Envoy runs this stream in observability mode: hooks still run, but nothing they return
   * is sent.
   */
  public boolean isObservabilityMode() {
    return observabilityMode;
  }

  /** Returns the value stored under {@code key} for this stream. */
  public <T> Optional<T> get(Key<T> key) {
    requireNonNull(key, "key");
    @SuppressWarnings("unchecked") // put() only stores a T under a Key<T>
    T value = values == null ? null : (T) values.get(key);
    return Optional.ofNullable(value);
  }

  /** Stores {@code value} under {@code key} for the later phases of this stream. */
  public <T> void put(Key<T> key, T value) {
    if (values == null) {
      values = new HashMap<>();
    }
    values.put(requireNonNull(key, "key"), requireNonNull(value, "value"));
  }

  /** Removes the value stored under {@code key}, if any. */
  public void remove(Key<?> key) {
    requireNonNull(key, "key");
    if (values != null) {
      values.remove(key);
    }
  }

  /**
   * Answers the current message with {@code response} instead of the hook's return value: Envoy
   * sends it to the client as a local reply and stops processing the request. The framework sends
   * nothing more on this stream and ignores Envoy's later messages.
   *
   * @throws IllegalStateException outside a hook, or in a trailers phase, where Envoy does not
   *     accept it
   * @throws IllegalArgumentException when the HTTP status is outside 200..599 (Envoy would send
   *     200)
   */
  public void respondImmediately(ImmediateResponse response) {
    if (streamedReply != null) {
      throw new IllegalStateException("this phase already answers with a streamed response");
    }
    additions.respondImmediately(response);
  }

  /**
   * Answers {@code request_headers} with a local reply that streams ({@code
   * streamed_immediate_response}, Envoy 1.37+): headers now, then a body written through the
   * returned {@link StreamedResponse} from this hook or later from any thread, then its end. The
   * reply replaces what the hook returns (its dynamic metadata is kept); nothing else is sent on
   * the stream, Envoy's later messages are ignored, and the stream ends OK with the reply. Counted
   * as an immediate response.
   *
   * @param headers response headers besides {@code :status}, in order; no pseudo-headers
   * @throws IllegalStateException outside the request-headers hook, when the request body mode is
   *     not NONE or FULL_DUPLEX_STREAMED (Envoy answers 500), when this phase already answers with
   *     an immediate or streamed response, or after {@link #drainRequest}
   * @throws IllegalArgumentException when {@code httpStatus} is outside 200..599
   */
  public StreamedResponse respondStreaming(
      int httpStatus, List<Map.Entry<String, String>> headers) {
    StreamedReply reply = StreamedReply.of(httpStatus, headers);
    StreamedReply.check(
        additions.current(), Direction.REQUEST.announcedBodyModeValue(this), hasLocalReply());
    if (drainRequested) {
      throw new IllegalStateException("a streamed response after request_drain: the drain ends it");
    }
    streamedReply = reply;
    return reply;
  }

  /**
   * Like {@link #respondStreaming(int, List)}, with the body produced elsewhere: {@code body} is
   * subscribed to once the headers went out, one item requested at a time, each item written as it
   * arrives; its completion ends the reply, its failure ends the stream with {@code INTERNAL}. A
   * {@link Flow.Publisher} rather than an iterator: an asynchronous source (an HTTP client's body,
   * a model's token stream) pushes from its own threads, so no hook thread is held while it waits.
   */
  public void respondStreaming(
      int httpStatus, List<Map.Entry<String, String>> headers, Flow.Publisher<ByteString> body) {
    requireNonNull(body, "body");
    ((StreamedReply) respondStreaming(httpStatus, headers)).bodyFrom(body);
  }

  private boolean hasLocalReply() {
    return streamedReply != null || additions.immediateResponse() != null;
  }

  @Nullable StreamedReply streamedReply() {
    return streamedReply;
  }

  /**
   * Asks the client to stop sending the request body ({@code request_drain}): the framework sends
   * it with this phase's replies, after writing out what the request body's transformer still holds
   * (its {@link BodyTransformer#onEnd} runs now); request body chunks that were already on their
   * way are then echoed unchanged, and the stream ends OK once the request body ended (or at once
   * if it already had), or when the client half-closes. From any hook; a second call does nothing.
   *
   * @throws IllegalStateException outside a hook, when the request body mode is not
   *     FULL_DUPLEX_STREAMED or GRPC, while the request headers reply is deferred, or after {@link
   *     #respondStreaming}
   */
  public void drainRequest() {
    additions.current();
    RequestDrain.check(Direction.REQUEST.announcedBodyModeValue(this), this);
    if (streamedReply != null) {
      throw new IllegalStateException(
          "request_drain after a streamed response: nothing follows it");
    }
    drainRequested = true;
  }

  /** Whether a hook asked for a request drain that was not taken yet; clears it. */
  boolean takeDrainRequest() {
    boolean requested = drainRequested;
    drainRequested = false;
    return requested;
  }

  /**
   * Adds {@code metadata} to the {@code dynamic_metadata} of this phase's response; top-level
   * fields are namespaces whose values are structs. Envoy keeps only the namespaces listed in its
   * {@code metadata_options.receiving_namespaces}.
   *
   * @throws IllegalStateException outside a hook
   * @throws IllegalArgumentException when a top-level value is not a struct
   */
  public void attachDynamicMetadata(Struct metadata) {
    additions.attachDynamicMetadata(metadata);
  }

  /**
   * Adds {@code value} under {@code namespace} to the {@code typed_dynamic_metadata} of this
   * phase's reply (packed into an {@link Any}, unless it is one), on the same replies as {@link
   * #attachDynamicMetadata} (in FULL_DUPLEX_STREAMED bodies, the direction's next reply; an
   * immediate response included). Calls add up; a namespace given twice keeps the last value. Envoy
   * 1.40+ applies it for the namespaces in {@code metadata_options.receiving_namespaces.typed};
   * older Envoy ignores the field.
   *
   * @throws IllegalStateException outside a hook
   */
  public void attachTypedMetadata(String namespace, Message value) {
    additions.attachTypedMetadata(namespace, value);
  }

  /** Records what {@code request} tells about the stream, before its hook runs. */
  void enter(ProcessingRequest request, Phase phase) {
    additions.begin(phase);
    if (request.getObservabilityMode()) {
      observabilityMode = true;
    }
    if (request.hasProtocolConfig()) {
      protocolConfig = request.getProtocolConfig();
    }
    if (request.hasMetadataContext()) {
      metadataContext = request.getMetadataContext();
    }
    if (request.getAttributesCount() > 0) {
      if (phase.direction() == Direction.REQUEST) {
        requestAttributes = merged(requestAttributes, request.getAttributesMap());
      } else {
        responseAttributes = merged(responseAttributes, request.getAttributesMap());
      }
    }
    if (request.hasRequestHeaders()) {
      requestHeaders = request.getRequestHeaders();
    }
    if (request.hasResponseHeaders()) {
      responseHeaders = request.getResponseHeaders();
    }
  }

  private static Map<String, Struct> merged(
      Map<String, Struct> attributes, Map<String, Struct> more) {
    Map<String, Struct> all =
        attributes instanceof LinkedHashMap ? attributes : new LinkedHashMap<>(attributes);
    all.putAll(more);
    return all;
  }

  /** Ends the current phase. */
  void exit() {
    additions.end();
  }

  @Nullable ImmediateResponse immediateResponse() {
    return additions.immediateResponse();
  }

  @Nullable Struct dynamicMetadata() {
    return additions.dynamicMetadata();
  }

  Map<String, Any> typedMetadata() {
    return additions.typedMetadata();
  }

  @Nullable ProcessingMode pendingModeOverride() {
    return additions.pendingModeOverride();
  }

  // ---- Network ext_proc ----

  /**
   * Network callouts: closes the connection (a FIN both ways) with this reply; Envoy ignores the
   * connection's later messages.
   */
  public void closeConnection() {
    additions.closeConnection(ConnectionStatus.CLOSE);
  }

  /**
   * Network callouts: resets the connection (a TCP RST) with this reply, discarding what Envoy
   * still buffers for it.
   */
  public void resetConnection() {
    additions.closeConnection(ConnectionStatus.CLOSE_RST);
  }

  ConnectionStatus takeConnectionClose() {
    return additions.takeConnectionClose();
  }
}

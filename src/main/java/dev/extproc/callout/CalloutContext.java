package dev.extproc.callout;

import static java.util.Objects.requireNonNull;

import com.google.protobuf.Struct;
import io.envoyproxy.envoy.config.core.v3.Metadata;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpHeaders;
import io.envoyproxy.envoy.service.ext_proc.v3.ImmediateResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProtocolConfiguration;
import io.grpc.Context;
import java.net.SocketAddress;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
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

  private final long streamId;
  private final @Nullable SocketAddress peerAddress;
  private final Context grpcContext;
  private final Map<Key<?>, Object> values = new HashMap<>();
  private final Map<String, Struct> requestAttributes = new LinkedHashMap<>();
  private final Map<String, Struct> responseAttributes = new LinkedHashMap<>();
  private @Nullable HttpHeaders requestHeaders;
  private Metadata metadataContext = Metadata.getDefaultInstance();
  private @Nullable ProtocolConfiguration protocolConfig;
  private boolean observabilityMode;

  private @Nullable Phase phase;
  private @Nullable ImmediateResponse immediateResponse;
  private Struct.@Nullable Builder dynamicMetadata;

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

  /**
   * The attributes Envoy sent with the request direction (its {@code request_attributes}), keyed by
   * {@code "envoy.filters.http.ext_proc"}; empty until they arrive.
   */
  public Map<String, Struct> requestAttributes() {
    return Collections.unmodifiableMap(requestAttributes);
  }

  /** The attributes Envoy sent with the response direction (its {@code response_attributes}). */
  public Map<String, Struct> responseAttributes() {
    return Collections.unmodifiableMap(responseAttributes);
  }

  /** The dynamic metadata Envoy forwarded with the latest message ({@code metadata_context}). */
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
    @SuppressWarnings("unchecked") // put() only stores a T under a Key<T>
    T value = (T) values.get(requireNonNull(key, "key"));
    return Optional.ofNullable(value);
  }

  /** Stores {@code value} under {@code key} for the later phases of this stream. */
  public <T> void put(Key<T> key, T value) {
    values.put(requireNonNull(key, "key"), requireNonNull(value, "value"));
  }

  /** Removes the value stored under {@code key}, if any. */
  public void remove(Key<?> key) {
    values.remove(requireNonNull(key, "key"));
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
    requireNonNull(response, "response");
    Phase current = currentPhase();
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

  /**
   * Adds {@code metadata} to the {@code dynamic_metadata} of this phase's response; top-level
   * fields are namespaces whose values are structs. Envoy keeps only the namespaces listed in its
   * {@code metadata_options.receiving_namespaces}.
   *
   * @throws IllegalStateException outside a hook
   */
  public void attachDynamicMetadata(Struct metadata) {
    requireNonNull(metadata, "metadata");
    currentPhase();
    if (dynamicMetadata == null) {
      dynamicMetadata = Struct.newBuilder();
    }
    dynamicMetadata.putAllFields(metadata.getFieldsMap());
  }

  private Phase currentPhase() {
    if (phase == null) {
      throw new IllegalStateException("only a hook may call this, while its message is processed");
    }
    return phase;
  }

  /** Records what {@code request} tells about the stream, before its hook runs. */
  void enter(ProcessingRequest request, Phase phase) {
    this.phase = phase;
    immediateResponse = null;
    dynamicMetadata = null;
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
      (phase.isRequestDirection() ? requestAttributes : responseAttributes)
          .putAll(request.getAttributesMap());
    }
    if (request.hasRequestHeaders()) {
      requestHeaders = request.getRequestHeaders();
    }
  }

  /** Ends the current phase. */
  void exit() {
    phase = null;
    immediateResponse = null;
    dynamicMetadata = null;
  }

  @Nullable ImmediateResponse immediateResponse() {
    return immediateResponse;
  }

  @Nullable Struct dynamicMetadata() {
    return dynamicMetadata == null ? null : dynamicMetadata.build();
  }
}

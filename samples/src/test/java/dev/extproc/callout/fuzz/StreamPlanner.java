package dev.extproc.callout.fuzz;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.google.protobuf.ByteString;
import com.google.protobuf.ListValue;
import com.google.protobuf.NullValue;
import com.google.protobuf.Struct;
import com.google.protobuf.UnknownFieldSet;
import com.google.protobuf.Value;
import io.envoyproxy.envoy.config.core.v3.HeaderMap;
import io.envoyproxy.envoy.config.core.v3.HeaderValue;
import io.envoyproxy.envoy.config.core.v3.Metadata;
import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ProcessingMode.BodySendMode;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpBody;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpHeaders;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpTrailers;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProtocolConfiguration;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

/**
 * Turns fuzzer bytes into a {@link StreamPlan}: any sequence of {@code ProcessingRequest} messages,
 * either in the order Envoy sends them or in any order at all, with odd headers ({@code raw_value},
 * legacy {@code value}, both, neither; upper-case, empty and invalid keys; NUL, CR and LF in
 * values; long values), empty and large bodies, {@code end_of_stream} anywhere, every body mode
 * (unknown values included) on the first message or a later one, observability mode on some
 * messages, attributes, forwarded metadata, messages without a request case, unknown fields, and
 * messages after the end of the stream or after an immediate response.
 *
 * <p>Values come from a vocabulary that makes the samples take their branches, from sources the
 * caller adds (a signed token), and from the raw bytes.
 */
public final class StreamPlanner {

  /** Most messages in one stream. */
  public static final int MAX_MESSAGES = 14;

  private static final String[] KEYS = {
    ":path",
    ":method",
    ":authority",
    ":scheme",
    ":status",
    "host",
    "content-length",
    "content-type",
    "authorization",
    "Authorization",
    "cookie",
    "cookie-check",
    "ip-to-return",
    "mock",
    "bad-header",
    "foo",
    "x-forwarded-for",
    "x-envoy-original-path",
    "te",
    "grpc-status",
    "X-Upper-Case",
    "",
    "bad key",
    "\u0000",
    "caf\u00e9"
  };

  private static final String[] VALUES = {
    "",
    "/",
    "/a/b?c=d",
    "GET",
    "POST",
    "https",
    "200",
    "204",
    "404",
    "500",
    "1",
    "0",
    "-1",
    " 12 ",
    "18446744073709551616",
    "m.example.com",
    "t.example.com",
    "www.example.com",
    "10.1.10.2",
    "10.1.10.3",
    "::1",
    "Bearer",
    "Bearer ",
    "Bearer a.b.c",
    "Bearer eyJhbGciOiJub25lIn0.e30.",
    "mock",
    "bad-header",
    "a\r\nb",
    "nul\u0000",
    "\u00ff\u00fe",
    "user@example.com"
  };

  private static final String[] BODIES = {
    "",
    "mock",
    "bad-body",
    "user@example.com",
    "mail a.b+c@sub.example.org, then x@y.z.",
    "@@@.",
    "no-at.example.com",
    "{\"k\": \"v\"}"
  };

  private static final int[] BODY_MODES = {
    BodySendMode.NONE_VALUE,
    BodySendMode.STREAMED_VALUE,
    BodySendMode.BUFFERED_VALUE,
    BodySendMode.BUFFERED_PARTIAL_VALUE,
    BodySendMode.FULL_DUPLEX_STREAMED_VALUE,
    BodySendMode.FULL_DUPLEX_STREAMED_VALUE,
    5, // GRPC, newer than the protos we compile against
    99,
    -1
  };

  private final int chunkSize;
  private final List<Function<FuzzedDataProvider, ByteString>> extraValues;

  /**
   * A planner whose large bodies straddle {@code chunkSize} (the server's streamed chunk size), and
   * whose header values also come from {@code extraValues}.
   */
  public StreamPlanner(int chunkSize, List<Function<FuzzedDataProvider, ByteString>> extraValues) {
    this.chunkSize = chunkSize;
    this.extraValues = List.copyOf(extraValues);
  }

  /** The next stream from {@code data}. */
  public StreamPlan plan(FuzzedDataProvider data) {
    boolean observability = data.consumeInt(0, 9) == 0;
    boolean envoyOrder = data.consumeBoolean();
    int count = data.consumeInt(0, MAX_MESSAGES);
    List<ProcessingRequest> messages = new ArrayList<>();
    int step = 0;
    for (int i = 0; i < count; i++) {
      ProcessingRequest.Builder message = ProcessingRequest.newBuilder();
      int kind;
      if (envoyOrder) {
        // Forward through the phases (request headers, body, trailers, then the response's),
        // staying on a body phase for several chunks and now and then stepping back.
        if (i > 0) {
          step += data.consumeInt(0, 7) == 0 ? -1 : data.consumeInt(0, 2);
          step = Math.max(0, Math.min(step, 6));
        }
        kind = step;
      } else {
        kind = data.consumeInt(0, 7);
      }
      switch (kind) {
        case 0 -> message.setRequestHeaders(headers(data));
        case 1 -> message.setRequestBody(body(data));
        case 2 -> message.setRequestTrailers(trailers(data));
        case 3 -> message.setResponseHeaders(headers(data));
        case 4 -> message.setResponseBody(body(data));
        case 5 -> message.setResponseTrailers(trailers(data));
        case 6 -> {} // no request case: a future message type, or a broken one
        default ->
            // A request case this build does not know (field 12 onwards).
            message.setUnknownFields(
                UnknownFieldSet.newBuilder()
                    .addField(
                        data.consumeInt(12, 40),
                        UnknownFieldSet.Field.newBuilder()
                            .addLengthDelimited(ByteString.copyFrom(data.consumeBytes(8)))
                            .build())
                    .build());
      }
      if (i == 0 && !observability) {
        // What Envoy sends on the first message; CalloutTester would add the default otherwise.
        message.setProtocolConfig(
            data.consumeInt(0, 15) == 0
                ? ProtocolConfiguration.getDefaultInstance()
                : protocolConfig(data));
      } else if (data.consumeInt(0, 15) == 0) {
        message.setProtocolConfig(protocolConfig(data));
      }
      if (observability || data.consumeInt(0, 31) == 0) {
        message.setObservabilityMode(true);
      }
      if (data.consumeInt(0, 3) == 0) {
        message.putAttributes(
            data.consumeBoolean() ? "envoy.filters.http.ext_proc" : string(data), struct(data, 1));
      }
      if (data.consumeInt(0, 3) == 0) {
        message.setMetadataContext(
            Metadata.newBuilder()
                .putFilterMetadata(
                    data.consumeBoolean() ? "com.google.lb_traffic_extension.e" : string(data),
                    struct(data, 1)));
      }
      messages.add(message.build());
    }
    return new StreamPlan(observability, messages, data.consumeInt(0, 5) == 0);
  }

  private static ProtocolConfiguration protocolConfig(FuzzedDataProvider data) {
    return ProtocolConfiguration.newBuilder()
        .setRequestBodyModeValue(data.pickValue(BODY_MODES))
        .setResponseBodyModeValue(data.pickValue(BODY_MODES))
        .setSendBodyWithoutWaitingForHeaderResponse(data.consumeBoolean())
        .build();
  }

  private HttpHeaders headers(FuzzedDataProvider data) {
    return HttpHeaders.newBuilder()
        .setHeaders(headerMap(data))
        .setEndOfStream(data.consumeBoolean())
        .build();
  }

  private HttpTrailers trailers(FuzzedDataProvider data) {
    return HttpTrailers.newBuilder().setTrailers(headerMap(data)).build();
  }

  private HeaderMap headerMap(FuzzedDataProvider data) {
    HeaderMap.Builder map = HeaderMap.newBuilder();
    int count = data.consumeInt(0, 8);
    for (int i = 0; i < count; i++) {
      String key = data.consumeInt(0, 4) == 0 ? string(data) : data.pickValue(KEYS);
      ByteString value = value(data);
      HeaderValue.Builder header = HeaderValue.newBuilder().setKey(key);
      // Envoy sends raw_value; old proxies sent value; both or neither are odd but possible.
      switch (data.consumeInt(0, 5)) {
        case 0 -> header.setValue(value.toString(StandardCharsets.UTF_8));
        case 1 -> header.setValue(value.toString(StandardCharsets.UTF_8)).setRawValue(value);
        case 2 -> {}
        default -> header.setRawValue(value);
      }
      map.addHeaders(header);
    }
    return map.build();
  }

  private ByteString value(FuzzedDataProvider data) {
    int source = data.consumeInt(0, 15);
    if (source < extraValues.size()) {
      return extraValues.get(source).apply(data);
    }
    return switch (source % 8) {
      case 0 -> ByteString.copyFrom(data.consumeBytes(24));
      case 1 -> ByteString.copyFromUtf8(string(data));
      case 2 -> repeated(data, data.pickValue(new int[] {100, 16384, 16385, 40_000}));
      default -> ByteString.copyFromUtf8(data.pickValue(VALUES));
    };
  }

  private HttpBody body(FuzzedDataProvider data) {
    ByteString body =
        switch (data.consumeInt(0, 7)) {
          case 0 -> ByteString.EMPTY;
          case 1, 2 -> ByteString.copyFrom(data.consumeBytes(64));
          case 3 ->
              repeated(
                  data,
                  data.pickValue(
                      new int[] {chunkSize - 1, chunkSize, chunkSize + 1, 3 * chunkSize + 7}));
          case 4 -> repeated(data, data.pickValue(new int[] {255, 256, 257, 300, 70_000}));
          default -> ByteString.copyFromUtf8(data.pickValue(BODIES));
        };
    return HttpBody.newBuilder().setBody(body).setEndOfStream(data.consumeBoolean()).build();
  }

  /** {@code size} bytes of a short fuzzed pattern, repeated. */
  private static ByteString repeated(FuzzedDataProvider data, int size) {
    byte[] pattern = data.consumeBytes(12);
    if (pattern.length == 0) {
      pattern = new byte[] {'a'};
    }
    byte[] out = new byte[Math.max(size, 0)];
    for (int i = 0; i < out.length; i++) {
      out[i] = pattern[i % pattern.length];
    }
    return ByteString.copyFrom(out);
  }

  private static String string(FuzzedDataProvider data) {
    return data.consumeString(16);
  }

  private static Struct struct(FuzzedDataProvider data, int depth) {
    Struct.Builder struct = Struct.newBuilder();
    int fields = data.consumeInt(0, 3);
    for (int i = 0; i < fields; i++) {
      String key = data.consumeBoolean() ? data.pickValue(new String[] {"request.path", "a"}) : "";
      struct.putFields(key.isEmpty() ? string(data) : key, value(data, depth));
    }
    return struct.build();
  }

  private static Value value(FuzzedDataProvider data, int depth) {
    Value.Builder value = Value.newBuilder();
    switch (data.consumeInt(0, depth > 0 ? 5 : 3)) {
      case 0 -> value.setNullValue(NullValue.NULL_VALUE);
      case 1 -> value.setNumberValue(data.consumeRegularDouble());
      case 2 -> value.setBoolValue(data.consumeBoolean());
      case 3 -> value.setStringValue(string(data));
      case 4 -> value.setStructValue(struct(data, depth - 1));
      default ->
          value.setListValue(
              ListValue.newBuilder()
                  .addValues(value(data, depth - 1))
                  .addValues(value(data, depth - 1)));
    }
    return value.build();
  }
}

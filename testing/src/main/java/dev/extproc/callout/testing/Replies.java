package dev.extproc.callout.testing;

import static java.util.Objects.requireNonNull;

import com.google.protobuf.BoolValue;
import com.google.protobuf.ByteString;
import com.google.protobuf.Message;
import com.google.protobuf.Struct;
import com.google.protobuf.TextFormat;
import com.google.protobuf.Value;
import io.envoyproxy.envoy.config.core.v3.HeaderValue;
import io.envoyproxy.envoy.config.core.v3.HeaderValueOption;
import io.envoyproxy.envoy.config.core.v3.HeaderValueOption.HeaderAppendAction;
import io.envoyproxy.envoy.service.ext_proc.v3.BodyMutation;
import io.envoyproxy.envoy.service.ext_proc.v3.BodyResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.CommonResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.HeaderMutation;
import io.envoyproxy.envoy.service.ext_proc.v3.HeadersResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.ImmediateResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse.ResponseCase;
import io.envoyproxy.envoy.service.ext_proc.v3.StreamedBodyResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.TrailersResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Reads ext_proc replies for assertions, and builds the exact replies a test expects.
 *
 * <p>Readers take a reply as {@link CalloutTester.Stream} returns it. One asked for something the
 * reply does not carry (the body mutation of a headers reply, the status of a reply that is not an
 * immediate response) throws an {@link AssertionError} that shows the reply; a bad argument throws
 * {@link IllegalArgumentException}. Header values are read from {@code raw_value}, or from {@code
 * value} when {@code raw_value} is empty, and bodies as UTF-8 by the {@code ...String} readers.
 *
 * <pre>{@code
 * ProcessingResponse reply = stream.requestHeaders(CalloutTester.headers(":path", "/"));
 * assertThat(Replies.setHeaders(reply)).containsExactly("x-hello", "world");
 * assertThat(Replies.clearsRouteCache(reply)).isTrue();
 * }</pre>
 *
 * <p>The builders ({@link #set}, {@link #mutation}, {@link #requestHeaders(HeaderMutation,
 * boolean)} and the rest) write every field by hand, never through the framework's helpers, so that
 * comparing a reply with one checks the helpers too.
 */
public final class Replies {

  /**
   * One header a reply sets.
   *
   * @param name the header's key
   * @param value its {@code raw_value} as UTF-8, or its {@code value} when {@code raw_value} is
   *     empty
   * @param appendAction its {@code append_action} (the deprecated {@code append} flag is on the
   *     proto)
   */
  public record SetHeader(String name, String value, HeaderAppendAction appendAction) {}

  private Replies() {}

  // ---- Readers ----

  /**
   * Returns which message {@code reply} answers: its response case, such as {@code REQUEST_HEADERS}
   * or {@code IMMEDIATE_RESPONSE}; {@code RESPONSE_NOT_SET} for a standalone {@code
   * override_message_timeout}.
   */
  public static ResponseCase phase(ProcessingResponse reply) {
    return reply.getResponseCase();
  }

  /**
   * Returns {@code reply} when it answers {@code phase}.
   *
   * @throws AssertionError showing the reply otherwise
   */
  public static ProcessingResponse requirePhase(ProcessingResponse reply, ResponseCase phase) {
    if (reply.getResponseCase() != requireNonNull(phase, "phase")) {
      throw new AssertionError("expected " + kind(phase) + ", got " + describe(reply));
    }
    return reply;
  }

  /**
   * Returns the header mutation of a headers, body or trailers reply (empty when it has none).
   *
   * @throws AssertionError for an immediate response (see {@link #immediateHeaders}) or a reply
   *     with no response case
   */
  public static HeaderMutation headerMutation(ProcessingResponse reply) {
    return switch (reply.getResponseCase()) {
      case REQUEST_HEADERS, RESPONSE_HEADERS, REQUEST_BODY, RESPONSE_BODY ->
          common(reply).getHeaderMutation();
      case REQUEST_TRAILERS -> reply.getRequestTrailers().getHeaderMutation();
      case RESPONSE_TRAILERS -> reply.getResponseTrailers().getHeaderMutation();
      case IMMEDIATE_RESPONSE ->
          throw notA("a header mutation (read an immediate response with immediateHeaders)", reply);
      default -> throw notA("a header mutation", reply);
    };
  }

  /**
   * Returns the headers a headers, body or trailers reply sets, name to value, in order.
   *
   * @throws AssertionError as {@link #headerMutation} does, or when it sets a name twice (see
   *     {@link #setHeadersWithActions})
   */
  public static Map<String, String> setHeaders(ProcessingResponse reply) {
    return headerMap(headerMutation(reply), reply);
  }

  /** Returns the headers a headers, body or trailers reply sets, with their append actions. */
  public static List<SetHeader> setHeadersWithActions(ProcessingResponse reply) {
    List<SetHeader> sets = new ArrayList<>();
    for (HeaderValueOption set : headerMutation(reply).getSetHeadersList()) {
      sets.add(
          new SetHeader(set.getHeader().getKey(), value(set.getHeader()), set.getAppendAction()));
    }
    return Collections.unmodifiableList(sets);
  }

  /** Returns the names of the headers a headers, body or trailers reply removes, in order. */
  public static List<String> removedHeaders(ProcessingResponse reply) {
    return List.copyOf(headerMutation(reply).getRemoveHeadersList());
  }

  /**
   * Returns whether a headers or body reply asks Envoy to clear its route cache.
   *
   * @throws AssertionError for any other reply
   */
  public static boolean clearsRouteCache(ProcessingResponse reply) {
    return common(reply).getClearRouteCache();
  }

  /**
   * Returns the body mutation of a headers or body reply; {@code MUTATION_NOT_SET} when it leaves
   * the body alone.
   *
   * @throws AssertionError for any other reply
   */
  public static BodyMutation bodyMutation(ProcessingResponse reply) {
    return common(reply).getBodyMutation();
  }

  /**
   * Returns the body a headers or body reply replaces the body (or this chunk) with.
   *
   * @throws AssertionError when it clears the body, streams it, leaves it alone, or is another kind
   *     of reply
   */
  public static ByteString replacedBody(ProcessingResponse reply) {
    BodyMutation mutation = bodyMutation(reply);
    if (mutation.getMutationCase() != BodyMutation.MutationCase.BODY) {
      throw notA("a replaced body", reply);
    }
    return mutation.getBody();
  }

  /** Like {@link #replacedBody}, as UTF-8. */
  public static String replacedBodyString(ProcessingResponse reply) {
    return replacedBody(reply).toString(StandardCharsets.UTF_8);
  }

  /**
   * Returns whether a headers or body reply clears the body (or this chunk).
   *
   * @throws AssertionError for any other reply
   */
  public static boolean clearsBody(ProcessingResponse reply) {
    BodyMutation mutation = bodyMutation(reply);
    return mutation.getMutationCase() == BodyMutation.MutationCase.CLEAR_BODY
        && mutation.getClearBody();
  }

  /** Returns whether {@code reply} is an {@code immediate_response}. */
  public static boolean isImmediateResponse(ProcessingResponse reply) {
    return reply.hasImmediateResponse();
  }

  /**
   * Returns the HTTP status code of an immediate response, such as 403.
   *
   * @throws AssertionError for any other reply
   */
  public static int immediateStatus(ProcessingResponse reply) {
    return immediate(reply).getStatus().getCodeValue();
  }

  /** Returns the body of an immediate response; throws as {@link #immediateStatus} does. */
  public static ByteString immediateBody(ProcessingResponse reply) {
    return immediate(reply).getBody();
  }

  /** Like {@link #immediateBody}, as UTF-8. */
  public static String immediateBodyString(ProcessingResponse reply) {
    return immediateBody(reply).toString(StandardCharsets.UTF_8);
  }

  /**
   * Returns the headers an immediate response sends, name to value, in order; throws as {@link
   * #immediateStatus} does, or when it sets a name twice.
   */
  public static Map<String, String> immediateHeaders(ProcessingResponse reply) {
    return headerMap(immediate(reply).getHeaders(), reply);
  }

  /**
   * Returns the FULL_DUPLEX_STREAMED body that {@code replies} carry: their {@code
   * streamed_response} chunks concatenated. Replies other than body replies (headers, trailers, a
   * standalone timeout extension) are skipped.
   *
   * @throws AssertionError when a body reply is not a {@code streamed_response}, when replies of
   *     both directions' bodies are mixed, or for an immediate response
   */
  public static ByteString streamedBody(List<ProcessingResponse> replies) {
    ByteString body = ByteString.EMPTY;
    for (StreamedBodyResponse chunk : streamedChunks(replies)) {
      body = body.concat(chunk.getBody());
    }
    return body;
  }

  /** Like {@link #streamedBody}, as UTF-8. */
  public static String streamedBodyString(List<ProcessingResponse> replies) {
    return streamedBody(replies).toString(StandardCharsets.UTF_8);
  }

  /**
   * Returns whether the streamed body of {@code replies} reached its end: its last chunk is marked
   * {@code end_of_stream}.
   *
   * @throws AssertionError as {@link #streamedBody} does, or when a chunk follows the end
   */
  public static boolean streamedEndOfStream(List<ProcessingResponse> replies) {
    List<StreamedBodyResponse> chunks = streamedChunks(replies);
    for (int i = 0; i < chunks.size() - 1; i++) {
      if (chunks.get(i).getEndOfStream()) {
        throw new AssertionError(
            "streamed chunk " + i + " of " + chunks.size() + " is marked end_of_stream");
      }
    }
    return !chunks.isEmpty() && chunks.get(chunks.size() - 1).getEndOfStream();
  }

  /** Returns the dynamic metadata of {@code reply}, empty when it has none. */
  public static Struct dynamicMetadata(ProcessingResponse reply) {
    return reply.getDynamicMetadata();
  }

  /**
   * Returns the value of {@code key} in the {@code namespace} struct of {@code reply}'s dynamic
   * metadata, such as {@code "primary"} in {@code
   * "com.google.envoy.dynamic_forwarding.selected_endpoints"}.
   *
   * @throws AssertionError naming the namespaces or keys there are when it is missing
   */
  public static Value dynamicMetadata(ProcessingResponse reply, String namespace, String key) {
    Value space = reply.getDynamicMetadata().getFieldsMap().get(namespace);
    if (space == null || !space.hasStructValue()) {
      throw new AssertionError(
          "no dynamic metadata namespace "
              + namespace
              + " (namespaces: "
              + reply.getDynamicMetadata().getFieldsMap().keySet()
              + ") in "
              + describe(reply));
    }
    Value value = space.getStructValue().getFieldsMap().get(key);
    if (value == null) {
      throw new AssertionError(
          "no key "
              + key
              + " in dynamic metadata namespace "
              + namespace
              + " (keys: "
              + space.getStructValue().getFieldsMap().keySet()
              + ")");
    }
    return value;
  }

  // ---- Expected replies ----

  /**
   * {@code set{key: value}}: {@code raw_value} set, {@code value} empty, written as the portable
   * overwrite ({@code append = false} and {@code append_action = OVERWRITE_IF_EXISTS_OR_ADD}), as
   * {@code CalloutTools.addHeaderMutation} writes it.
   */
  public static HeaderValueOption set(String key, String value) {
    return set(key, value, HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD);
  }

  /**
   * {@code set{key: value}} with {@code append_action}, and the {@code append} that Envoy reads
   * where one matches it ({@code false} for {@code OVERWRITE_IF_EXISTS_OR_ADD}, {@code true} for
   * {@code APPEND_IF_EXISTS_OR_ADD}).
   */
  @SuppressWarnings("deprecation") // `append` is deprecated, but it is all Envoy ext_proc reads
  public static HeaderValueOption set(String key, String value, HeaderAppendAction action) {
    HeaderValueOption.Builder set =
        HeaderValueOption.newBuilder()
            .setHeader(
                HeaderValue.newBuilder().setKey(key).setRawValue(ByteString.copyFromUtf8(value)))
            .setAppendAction(action);
    if (action == HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD) {
      set.setAppend(BoolValue.of(false));
    } else if (action == HeaderAppendAction.APPEND_IF_EXISTS_OR_ADD) {
      set.setAppend(BoolValue.of(true));
    }
    return set.build();
  }

  /** Returns its arguments: the sets of a {@link #mutation}. */
  public static HeaderValueOption[] sets(HeaderValueOption... sets) {
    return sets;
  }

  /** A header mutation of {@code sets}, then {@code removes}. */
  public static HeaderMutation mutation(HeaderValueOption[] sets, String... removes) {
    return HeaderMutation.newBuilder()
        .addAllSetHeaders(List.of(sets))
        .addAllRemoveHeaders(List.of(removes))
        .build();
  }

  /** A {@code request_headers} reply with {@code mutation}, clearing the route cache if asked. */
  public static ProcessingResponse requestHeaders(
      HeaderMutation mutation, boolean clearRouteCache) {
    return ProcessingResponse.newBuilder()
        .setRequestHeaders(headersResponse(mutation, clearRouteCache))
        .build();
  }

  /** A {@code response_headers} reply with {@code mutation}. */
  public static ProcessingResponse responseHeaders(HeaderMutation mutation) {
    return ProcessingResponse.newBuilder()
        .setResponseHeaders(headersResponse(mutation, false))
        .build();
  }

  /** A {@code request_body} reply replacing the body (or this chunk) with {@code body}. */
  public static ProcessingResponse requestBody(ByteString body) {
    return ProcessingResponse.newBuilder()
        .setRequestBody(bodyResponse(BodyMutation.newBuilder().setBody(body).build()))
        .build();
  }

  /** A {@code response_body} reply replacing the body (or this chunk) with {@code body}. */
  public static ProcessingResponse responseBody(ByteString body) {
    return ProcessingResponse.newBuilder()
        .setResponseBody(bodyResponse(BodyMutation.newBuilder().setBody(body).build()))
        .build();
  }

  /** A {@code request_body} reply with {@code clear_body}. */
  public static ProcessingResponse requestBodyCleared() {
    return ProcessingResponse.newBuilder()
        .setRequestBody(bodyResponse(BodyMutation.newBuilder().setClearBody(true).build()))
        .build();
  }

  /** A {@code response_body} reply with {@code clear_body}. */
  public static ProcessingResponse responseBodyCleared() {
    return ProcessingResponse.newBuilder()
        .setResponseBody(bodyResponse(BodyMutation.newBuilder().setClearBody(true).build()))
        .build();
  }

  /**
   * A FULL_DUPLEX_STREAMED body reply: {@code body} as one {@code streamed_response} chunk of the
   * request body (or the response body), marked {@code end_of_stream} when asked.
   */
  public static ProcessingResponse streamed(boolean request, ByteString body, boolean endOfStream) {
    BodyResponse reply =
        bodyResponse(
            BodyMutation.newBuilder()
                .setStreamedResponse(
                    StreamedBodyResponse.newBuilder().setBody(body).setEndOfStream(endOfStream))
                .build());
    ProcessingResponse.Builder response = ProcessingResponse.newBuilder();
    return (request ? response.setRequestBody(reply) : response.setResponseBody(reply)).build();
  }

  /** "Continue" for request headers: {@code request_headers {}}. */
  public static ProcessingResponse continueRequestHeaders() {
    return ProcessingResponse.newBuilder()
        .setRequestHeaders(HeadersResponse.getDefaultInstance())
        .build();
  }

  /** "Continue" for response headers: {@code response_headers {}}. */
  public static ProcessingResponse continueResponseHeaders() {
    return ProcessingResponse.newBuilder()
        .setResponseHeaders(HeadersResponse.getDefaultInstance())
        .build();
  }

  /** "Continue" for a request body: {@code request_body {}}. */
  public static ProcessingResponse continueRequestBody() {
    return ProcessingResponse.newBuilder()
        .setRequestBody(BodyResponse.getDefaultInstance())
        .build();
  }

  /** "Continue" for a response body: {@code response_body {}}. */
  public static ProcessingResponse continueResponseBody() {
    return ProcessingResponse.newBuilder()
        .setResponseBody(BodyResponse.getDefaultInstance())
        .build();
  }

  /** "Continue" for request trailers: {@code request_trailers {}}. */
  public static ProcessingResponse continueRequestTrailers() {
    return ProcessingResponse.newBuilder()
        .setRequestTrailers(TrailersResponse.getDefaultInstance())
        .build();
  }

  /** "Continue" for response trailers: {@code response_trailers {}}. */
  public static ProcessingResponse continueResponseTrailers() {
    return ProcessingResponse.newBuilder()
        .setResponseTrailers(TrailersResponse.getDefaultInstance())
        .build();
  }

  private static HeadersResponse headersResponse(HeaderMutation mutation, boolean clearRouteCache) {
    return HeadersResponse.newBuilder()
        .setResponse(
            CommonResponse.newBuilder()
                .setHeaderMutation(mutation)
                .setClearRouteCache(clearRouteCache))
        .build();
  }

  private static BodyResponse bodyResponse(BodyMutation mutation) {
    return BodyResponse.newBuilder()
        .setResponse(CommonResponse.newBuilder().setBodyMutation(mutation))
        .build();
  }

  /**
   * Describes {@code reply} on one line for failure messages: its kind, then its fields in text
   * format cut at 300 characters, as in {@code a request_body reply: request_body { response {
   * body_mutation { clear_body: true } } }}.
   */
  public static String describe(ProcessingResponse reply) {
    return kind(reply.getResponseCase()) + ": " + text(reply);
  }

  static String describeRequest(ProcessingRequest request) {
    return text(request);
  }

  /** {@code message} in text format on one line, cut at 300 characters. */
  static String text(Message message) {
    String text = TextFormat.shortDebugString(message);
    return text.length() <= 300 ? text : text.substring(0, 300) + "...";
  }

  private static String kind(ResponseCase phase) {
    if (phase == ResponseCase.RESPONSE_NOT_SET) {
      return "a reply with no response case";
    }
    String name = phase.name().toLowerCase(Locale.ROOT);
    return (phase == ResponseCase.IMMEDIATE_RESPONSE ? "an " : "a ") + name + " reply";
  }

  private static AssertionError notA(String what, ProcessingResponse reply) {
    return new AssertionError("expected " + what + ", got " + describe(reply));
  }

  private static CommonResponse common(ProcessingResponse reply) {
    return switch (reply.getResponseCase()) {
      case REQUEST_HEADERS -> reply.getRequestHeaders().getResponse();
      case RESPONSE_HEADERS -> reply.getResponseHeaders().getResponse();
      case REQUEST_BODY -> reply.getRequestBody().getResponse();
      case RESPONSE_BODY -> reply.getResponseBody().getResponse();
      default -> throw notA("a headers or body reply", reply);
    };
  }

  private static ImmediateResponse immediate(ProcessingResponse reply) {
    if (!reply.hasImmediateResponse()) {
      throw notA("an immediate_response", reply);
    }
    return reply.getImmediateResponse();
  }

  private static Map<String, String> headerMap(HeaderMutation mutation, ProcessingResponse reply) {
    Map<String, String> headers = new LinkedHashMap<>();
    for (HeaderValueOption set : mutation.getSetHeadersList()) {
      String name = set.getHeader().getKey();
      if (headers.put(name, value(set.getHeader())) != null) {
        throw new AssertionError(
            "sets "
                + name
                + " more than once (read it with setHeadersWithActions): "
                + describe(reply));
      }
    }
    return Collections.unmodifiableMap(headers);
  }

  private static String value(HeaderValue header) {
    return header.getRawValue().isEmpty()
        ? header.getValue()
        : header.getRawValue().toString(StandardCharsets.UTF_8);
  }

  private static List<StreamedBodyResponse> streamedChunks(List<ProcessingResponse> replies) {
    List<StreamedBodyResponse> chunks = new ArrayList<>();
    ResponseCase direction = null;
    for (ProcessingResponse reply : replies) {
      ResponseCase phase = reply.getResponseCase();
      if (phase == ResponseCase.IMMEDIATE_RESPONSE) {
        throw notA("streamed body replies", reply);
      }
      if (phase != ResponseCase.REQUEST_BODY && phase != ResponseCase.RESPONSE_BODY) {
        continue;
      }
      if (direction != null && direction != phase) {
        throw new AssertionError(
            "replies to both request_body and response_body (expected: one direction's)");
      }
      direction = phase;
      BodyMutation mutation = common(reply).getBodyMutation();
      if (!mutation.hasStreamedResponse()) {
        throw notA("a streamed_response (FULL_DUPLEX_STREAMED body)", reply);
      }
      chunks.add(mutation.getStreamedResponse());
    }
    return chunks;
  }
}

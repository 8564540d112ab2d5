package dev.extproc.callout.fuzz;

import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ProcessingMode;
import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ProcessingMode.BodySendMode;
import io.envoyproxy.envoy.service.ext_proc.v3.BodyMutation;
import io.envoyproxy.envoy.service.ext_proc.v3.BodyResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest.RequestCase;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse.ResponseCase;
import io.envoyproxy.envoy.service.ext_proc.v3.StreamedBodyResponse;
import java.util.List;
import org.jspecify.annotations.Nullable;

/**
 * What the framework promises about the replies to one stream, checked against the replies it sent:
 *
 * <ul>
 *   <li>one reply per message with a request case, in order, of the message's type (or an {@code
 *       immediate_response} to headers and bodies); none to a message without a request case;
 *   <li>in FULL_DUPLEX_STREAMED mode, any number of {@code streamed_response} body replies per
 *       chunk, at most the chunk size each, the last one marked {@code end_of_stream} exactly when
 *       the body ended; before trailers, what is left of an unfinished body, unmarked;
 *   <li>in GRPC mode (body mode 5) the same, except that messages are never re-chunked (no size
 *       limit) and trailers end the body even before any message; only there may a reply carry
 *       {@code end_of_stream_without_message} (field 3, read by number), and only as the half-close
 *       echo: marked {@code end_of_stream}, no body; GRPC mode is what the last {@code
 *       mode_override} sent says, else {@code protocol_config}; a direction's streamed body keeps
 *       the kind (GRPC or FULL_DUPLEX_STREAMED) of its first message;
 *   <li>at most one standalone {@code override_message_timeout} per message, before its reply;
 *   <li>nothing at all once a message in observability mode has arrived, and nothing after an
 *       immediate response (the messages after it are ignored);
 *   <li>a body chunk after its full-duplex or GRPC-mode body ended ends the stream with an error.
 * </ul>
 *
 * <p>A stream the client half-closed and the server closed with OK must have every reply; one that
 * ended otherwise may stop short after any message.
 */
public final class ReplyModel {

  /** Whether a body chunk came after the end of its full-duplex or GRPC-mode body. */
  public enum BodyAfterEnd {
    /** No: the stream may end OK. */
    NO,
    /**
     * Perhaps: in observability mode the model cannot tell whether the hook answered the last chunk
     * with an (unsent) immediate response, which leaves the body open.
     */
    MAYBE,
    /** Yes: the stream must end with an error at that chunk. */
    YES
  }

  /** {@code StreamedBodyResponse.end_of_stream_without_message}: newer than our protos. */
  private static final int END_OF_STREAM_WITHOUT_MESSAGE = 3;

  /** GRPC body mode: newer than our protos, read as its number. */
  private static final int GRPC_BODY_MODE = 5;

  private final StreamPlan plan;
  private final FuzzedCallout.Outcome outcome;
  private final List<ProcessingResponse> replies;
  private final boolean complete;
  private final int chunkSize;
  private int next;
  private boolean immediate;
  private boolean observability;
  private int requestBodyMode = BodySendMode.NONE_VALUE;
  private int responseBodyMode = BodySendMode.NONE_VALUE;
  // The body modes of the last mode_override sent: GRPC mode follows them, not protocol_config.
  private @Nullable ProcessingMode sentOverride;
  // Per direction, the kind of the first streamed body (0 none yet, else GRPC or not): it stays.
  private final int[] streamedKind = new int[2];
  private final boolean[] started = new boolean[2];
  private final boolean[] ended = new boolean[2];
  private final boolean[] maybeEnded = new boolean[2];
  private BodyAfterEnd bodyAfterEnd = BodyAfterEnd.NO;

  private ReplyModel(StreamPlan plan, FuzzedCallout.Outcome outcome, int chunkSize) {
    this.plan = plan;
    this.outcome = outcome;
    this.replies = outcome.replies();
    this.complete = outcome.status().isOk();
    this.chunkSize = chunkSize;
  }

  /**
   * Checks the replies of {@code outcome}, which the server sent for {@code plan} before the stream
   * ended; {@code chunkSize} is the server's streamed chunk size.
   *
   * @return whether a body chunk came after the end of its full-duplex body
   * @throws AssertionError saying which reply breaks which promise
   */
  public static BodyAfterEnd check(StreamPlan plan, FuzzedCallout.Outcome outcome, int chunkSize) {
    ReplyModel model = new ReplyModel(plan, outcome, chunkSize);
    model.run();
    return model.bodyAfterEnd;
  }

  /**
   * Whether the engine rightly ended the stream INVALID_ARGUMENT with {@code description}: a body
   * chunk (maybe) after the end of its body, or a newer field whose bytes do not parse.
   */
  public static boolean invalidArgument(
      StreamPlan plan, BodyAfterEnd bodyAfterEnd, String description) {
    return (bodyAfterEnd != BodyAfterEnd.NO && description.contains("after the end of the body"))
        || (plan.hasUnknownFields()
            && description.contains("a field newer than the compiled Envoy API does not parse"));
  }

  private void run() {
    List<ProcessingRequest> messages = plan.messages();
    for (int i = 0; i < messages.size() && bodyAfterEnd != BodyAfterEnd.YES; i++) {
      ProcessingRequest message = messages.get(i);
      RequestCase phase = message.getRequestCase();
      if (phase == RequestCase.REQUEST_NOT_SET || immediate) {
        continue;
      }
      if (message.getObservabilityMode()) {
        observability = true;
      }
      if (message.hasProtocolConfig()) {
        requestBodyMode = message.getProtocolConfig().getRequestBodyModeValue();
        responseBodyMode = message.getProtocolConfig().getResponseBodyModeValue();
      }
      if (next < replies.size() && replies.get(next).hasOverrideMessageTimeout()) {
        ProcessingResponse extension = replies.get(next);
        expect(!observability, i, "override_message_timeout in observability mode");
        expect(
            extension.getResponseCase() == ResponseCase.RESPONSE_NOT_SET
                && !extension.hasDynamicMetadata()
                && !extension.hasModeOverride(),
            i,
            "override_message_timeout not sent alone");
        next++;
      }
      int first = next;
      boolean answered = answered(i, message, phase);
      for (int r = first; r < next; r++) {
        if (replies.get(r).hasModeOverride()) {
          sentOverride = replies.get(r).getModeOverride();
        }
      }
      if (!answered) {
        expect(!complete, i, "no reply, yet the stream ended OK");
        break;
      }
    }
    if (next < replies.size()) {
      throw failure(
          "reply #" + next + " answers no message: " + Dump.of(replies.get(next), 400), -1);
    }
  }

  /**
   * Consumes the replies to message {@code i} (none in observability mode, where only the body
   * state moves on); false when they ran out first.
   */
  private boolean answered(int i, ProcessingRequest message, RequestCase phase) {
    boolean request =
        phase == RequestCase.REQUEST_BODY
            || phase == RequestCase.REQUEST_TRAILERS
            || phase == RequestCase.REQUEST_HEADERS;
    int direction = request ? 0 : 1;
    int mode = request ? requestBodyMode : responseBodyMode;
    int grpcMode =
        sentOverride == null
            ? mode
            : request
                ? sentOverride.getRequestBodyModeValue()
                : sentOverride.getResponseBodyModeValue();
    // GRPC mode streams bodies as FULL_DUPLEX_STREAMED does, one reply per whole message.
    boolean fullDuplex =
        mode == BodySendMode.FULL_DUPLEX_STREAMED_VALUE || grpcMode == GRPC_BODY_MODE;
    if (fullDuplex && !headersPhase(phase) && streamedKind[direction] == 0) {
      streamedKind[direction] = grpcMode == GRPC_BODY_MODE ? GRPC_BODY_MODE : mode;
    }
    boolean grpc = fullDuplex && streamedKind[direction] == GRPC_BODY_MODE;
    boolean body = phase == RequestCase.REQUEST_BODY || phase == RequestCase.RESPONSE_BODY;
    boolean trailers =
        phase == RequestCase.REQUEST_TRAILERS || phase == RequestCase.RESPONSE_TRAILERS;
    ResponseCase bodyCase = request ? ResponseCase.REQUEST_BODY : ResponseCase.RESPONSE_BODY;
    if (fullDuplex && body) {
      if (ended[direction]) {
        bodyAfterEnd = BodyAfterEnd.YES;
        return true;
      }
      if (maybeEnded[direction]) {
        bodyAfterEnd = BodyAfterEnd.MAYBE;
      }
      started[direction] = true;
      boolean endOfStream =
          request
              ? message.getRequestBody().getEndOfStream()
              : message.getResponseBody().getEndOfStream();
      if (observability) {
        maybeEnded[direction] |= endOfStream;
        return true;
      }
      if (next < replies.size() && replies.get(next).hasImmediateResponse()) {
        checkImmediate(i, replies.get(next++));
        return true;
      }
      if (!endOfStream) {
        skipStreamed(i, bodyCase, grpc);
        return true;
      }
      while (true) {
        if (next >= replies.size()) {
          return false;
        }
        if (streamed(i, replies.get(next++), bodyCase, grpc).getEndOfStream()) {
          ended[direction] = true;
          return true;
        }
      }
    }
    if (fullDuplex && trailers && (started[direction] || grpc) && !ended[direction]) {
      if (!observability) {
        skipStreamed(i, bodyCase, grpc);
      }
      ended[direction] = true;
    }
    if (observability) {
      return true;
    }
    if (next >= replies.size()) {
      return false;
    }
    ProcessingResponse reply = replies.get(next++);
    if (reply.hasImmediateResponse() && !trailers) {
      checkImmediate(i, reply);
      return true;
    }
    expect(
        reply.getResponseCase() == responseCase(phase),
        i,
        "reply " + Dump.of(reply, 300) + " to " + phase);
    return true;
  }

  private static boolean headersPhase(RequestCase phase) {
    return phase == RequestCase.REQUEST_HEADERS || phase == RequestCase.RESPONSE_HEADERS;
  }

  private static ResponseCase responseCase(RequestCase phase) {
    return switch (phase) {
      case REQUEST_HEADERS -> ResponseCase.REQUEST_HEADERS;
      case RESPONSE_HEADERS -> ResponseCase.RESPONSE_HEADERS;
      case REQUEST_BODY -> ResponseCase.REQUEST_BODY;
      case RESPONSE_BODY -> ResponseCase.RESPONSE_BODY;
      case REQUEST_TRAILERS -> ResponseCase.REQUEST_TRAILERS;
      case RESPONSE_TRAILERS -> ResponseCase.RESPONSE_TRAILERS;
      case REQUEST_NOT_SET -> ResponseCase.RESPONSE_NOT_SET;
    };
  }

  /**
   * Consumes the unmarked streamed replies of {@code bodyCase} that come next; what follows them
   * belongs to the next message.
   */
  private void skipStreamed(int i, ResponseCase bodyCase, boolean grpc) {
    while (next < replies.size()) {
      ProcessingResponse reply = replies.get(next);
      BodyResponse body =
          bodyCase == ResponseCase.REQUEST_BODY ? reply.getRequestBody() : reply.getResponseBody();
      if (reply.getResponseCase() != bodyCase
          || !body.getResponse().getBodyMutation().hasStreamedResponse()
          || streamed(i, reply, bodyCase, grpc).getEndOfStream()) {
        return;
      }
      next++;
    }
  }

  /**
   * The {@code streamed_response} of {@code reply}, checked: of {@code bodyCase}, at most the chunk
   * size outside GRPC mode, a half-close echo only in GRPC mode.
   */
  private StreamedBodyResponse streamed(
      int i, ProcessingResponse reply, ResponseCase bodyCase, boolean grpc) {
    expect(
        reply.getResponseCase() == bodyCase,
        i,
        "full-duplex reply " + Dump.of(reply, 300) + " (expected: " + bodyCase + ")");
    BodyResponse body =
        bodyCase == ResponseCase.REQUEST_BODY ? reply.getRequestBody() : reply.getResponseBody();
    BodyMutation mutation = body.getResponse().getBodyMutation();
    expect(
        mutation.hasStreamedResponse(),
        i,
        "full-duplex reply without streamed_response: " + Dump.of(reply, 300));
    StreamedBodyResponse streamed = mutation.getStreamedResponse();
    expect(
        grpc || streamed.getBody().size() <= chunkSize,
        i,
        "streamed chunk of " + streamed.getBody().size() + " bytes");
    if (streamed.getUnknownFields().hasField(END_OF_STREAM_WITHOUT_MESSAGE)) {
      expect(
          grpc && streamed.getEndOfStream() && streamed.getBody().isEmpty(),
          i,
          "end_of_stream_without_message outside GRPC mode's half-close echo: "
              + Dump.of(reply, 300));
    }
    return streamed;
  }

  private void checkImmediate(int i, ProcessingResponse reply) {
    int code = reply.getImmediateResponse().getStatus().getCodeValue();
    expect(code >= 200 && code <= 599, i, "immediate_response with HTTP status " + code);
    immediate = true;
  }

  private void expect(boolean condition, int message, String what) {
    if (!condition) {
      throw failure(what, message);
    }
  }

  private AssertionError failure(String what, int message) {
    return FuzzedCallout.failure(
        (message >= 0 ? "message #" + message + ": " : "") + what, plan, outcome);
  }
}

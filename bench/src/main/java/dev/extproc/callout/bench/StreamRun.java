package dev.extproc.callout.bench;

import io.envoyproxy.envoy.service.ext_proc.v3.BodyMutation;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse.ResponseCase;
import io.grpc.ClientCall;
import io.grpc.Metadata;
import io.grpc.Status;
import java.util.List;
import java.util.Locale;
import org.jspecify.annotations.Nullable;

/**
 * One stream (one HTTP request) of the load: sends its {@link Script}, step by step, checks each
 * reply's type against the message it answers, half-closes after the last reply and expects the
 * server's OK. It starts and its callbacks run on its connection's transport thread; its methods
 * are synchronized because a time-out cancels it from another thread.
 */
final class StreamRun extends ClientCall.Listener<ProcessingResponse> {

  /** How a stream ended. */
  enum Outcome {
    /** Every reply of the expected type, then OK after the half-close. */
    OK,
    /** Ended early by an {@code immediate_response} (as Envoy would), then OK. */
    IMMEDIATE,
    /** A reply of the wrong type, or one too many: the stream is cancelled. */
    MISMATCH,
    /** A non-OK status, or OK before every reply came. */
    FAILED,
    /** Not done within the timeout: the stream is cancelled. */
    TIMEOUT
  }

  /** Told once when a stream ends. */
  interface Listener {
    void ended(StreamRun run, Outcome outcome, @Nullable String detail);
  }

  private final ClientCall<ProcessingRequest, ProcessingResponse> call;
  private final List<Script.Step> steps;
  private final Listener listener;
  private final long intendedStartNanos;
  private final int window;

  private int step;
  private int sent;
  private int replied;
  private boolean halfClosed;
  private boolean immediate;
  private long lastReplyNanos;
  private @Nullable String mismatch;
  private boolean timedOut;

  StreamRun(
      ClientCall<ProcessingRequest, ProcessingResponse> call,
      Script script,
      Listener listener,
      long intendedStartNanos,
      int window) {
    this.call = call;
    this.steps = script.steps();
    this.listener = listener;
    this.intendedStartNanos = intendedStartNanos;
    this.window = window;
  }

  /** When the stream was meant to start ({@link System#nanoTime}); latency counts from here. */
  long intendedStartNanos() {
    return intendedStartNanos;
  }

  /** The measured window the stream began in (0 for the first), or -1 for none. */
  int window() {
    return window;
  }

  /** Nanoseconds from the intended start to the last reply; meaningful once it ended OK. */
  synchronized long latencyNanos() {
    return lastReplyNanos - intendedStartNanos;
  }

  /** How many messages went out. */
  synchronized int messagesSent() {
    int count = sent;
    for (int i = 0; i < step && i < steps.size(); i++) {
      count += steps.get(i).requests().size();
    }
    return count;
  }

  /** How many body bytes (request and response body chunks) went out. */
  synchronized long bodyBytesSent() {
    long bytes = 0;
    for (int i = 0; i <= step && i < steps.size(); i++) {
      List<ProcessingRequest> requests = steps.get(i).requests();
      for (int m = 0; m < (i < step ? requests.size() : sent); m++) {
        bytes += bodyBytes(requests.get(m));
      }
    }
    return bytes;
  }

  private static long bodyBytes(ProcessingRequest request) {
    return switch (request.getRequestCase()) {
      case REQUEST_BODY -> request.getRequestBody().getBody().size();
      case RESPONSE_BODY -> request.getResponseBody().getBody().size();
      default -> 0;
    };
  }

  synchronized void start() {
    call.start(this, new Metadata());
    call.request(Integer.MAX_VALUE);
    sendWhileReady();
  }

  /** Cancels the stream as timed out (any thread). */
  synchronized void timeOut() {
    timedOut = true;
    call.cancel("load generator: stream timed out", null);
  }

  @Override
  public synchronized void onReady() {
    sendWhileReady();
  }

  private void sendWhileReady() {
    // Nothing more once half-closed (an immediate response can come before the last chunk went
    // out) or cancelled.
    if (step >= steps.size() || halfClosed || mismatch != null || timedOut) {
      return;
    }
    List<ProcessingRequest> requests = steps.get(step).requests();
    while (sent < requests.size() && call.isReady()) {
      call.sendMessage(requests.get(sent++));
    }
  }

  @Override
  public synchronized void onMessage(ProcessingResponse reply) {
    if (mismatch != null) {
      return;
    }
    ResponseCase type = reply.getResponseCase();
    if (halfClosed) {
      mismatched("a " + type + " reply after the last expected one");
    } else if (type == ResponseCase.IMMEDIATE_RESPONSE) {
      // Envoy sends nothing more on the stream and closes it.
      immediate = true;
      finish();
    } else if (type == ResponseCase.RESPONSE_NOT_SET) {
      if (!reply.hasOverrideMessageTimeout()) {
        mismatched("a reply with no response case");
      } // else a standalone override_message_timeout: not the reply, the reply follows
    } else {
      expect(steps.get(step), type, reply);
    }
  }

  private void expect(Script.Step current, ResponseCase type, ProcessingResponse reply) {
    if (replied < current.replies().size()) {
      ResponseCase expected = current.replies().get(replied);
      if (type != expected) {
        mismatched(type + " reply to a " + expected.name().toLowerCase(Locale.ROOT));
        return;
      }
      replied++;
      if (replied < current.replies().size() || current.streamedUntilEnd() != null) {
        return;
      }
    } else if (current.streamedUntilEnd() != null) {
      BodyMutation mutation =
          (type == ResponseCase.REQUEST_BODY ? reply.getRequestBody() : reply.getResponseBody())
              .getResponse()
              .getBodyMutation();
      if (type != current.streamedUntilEnd() || !mutation.hasStreamedResponse()) {
        mismatched(type + " reply without streamed_response to a full-duplex body");
        return;
      }
      if (!mutation.getStreamedResponse().getEndOfStream()) {
        return;
      }
      if (sent < current.requests().size()) {
        mismatched("end_of_stream before the whole body was sent");
        return;
      }
    } else {
      mismatched("a " + type + " reply beyond one per message");
      return;
    }
    step++;
    sent = 0;
    replied = 0;
    if (step == steps.size()) {
      finish();
    } else {
      sendWhileReady();
    }
  }

  private void finish() {
    lastReplyNanos = System.nanoTime();
    halfClosed = true;
    call.halfClose();
  }

  private void mismatched(String detail) {
    mismatch = detail;
    call.cancel("load generator: unexpected reply: " + detail, null);
  }

  @Override
  public synchronized void onClose(Status status, Metadata trailers) {
    if (mismatch != null) {
      listener.ended(this, Outcome.MISMATCH, mismatch);
    } else if (timedOut) {
      listener.ended(this, Outcome.TIMEOUT, "no end within the timeout");
    } else if (!status.isOk()) {
      listener.ended(this, Outcome.FAILED, "stream ended " + describe(status));
    } else if (immediate) {
      listener.ended(this, Outcome.IMMEDIATE, null);
    } else if (!halfClosed) {
      listener.ended(this, Outcome.FAILED, "the server ended the stream OK before its last reply");
    } else {
      listener.ended(this, Outcome.OK, null);
    }
  }

  private static String describe(Status status) {
    return status.getDescription() == null
        ? status.getCode().toString()
        : status.getCode() + ": " + status.getDescription();
  }
}

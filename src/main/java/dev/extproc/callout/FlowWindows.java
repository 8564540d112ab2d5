package dev.extproc.callout;

import dev.extproc.callout.internal.wire.ClientWindowUpdate;
import dev.extproc.callout.internal.wire.FlowControlInit;
import dev.extproc.callout.internal.wire.NewerFields;
import dev.extproc.callout.internal.wire.ProcessingResponseFields;
import dev.extproc.callout.internal.wire.ServerWindowUpdate;
import io.envoyproxy.envoy.service.ext_proc.v3.BodyMutation;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;

/**
 * The body-byte windows of a stream whose client sent {@code flow_control_init} (gRPC's proxyless
 * clients in GRPC body mode; the same rules serve FULL_DUPLEX_STREAMED). Per direction, two windows
 * count body bytes (the bytes of {@code HttpBody.body} and of the {@code streamed_response} bodies
 * sent back): the client's, for what it sends us ({@code downstream_to_sidestream} for the request,
 * {@code upstream_to_sidestream} for the response), and ours, for what we send back ({@code
 * sidestream_to_upstream}, {@code sidestream_to_downstream}).
 *
 * <p>A client stops sending body once its window is used up (gRPC's sends while it is positive, so
 * it may overshoot by one message) until a {@code server_window_update} grants more: this class
 * grants a message's bytes once the message was processed and all its replies went out. Replies
 * carrying body bytes go out while our window is positive and are held otherwise, in order with
 * everything after them, until a {@code client_window_update} reopens it; held output withholds the
 * grants, so the client stops too. At most the client's window (plus one message) of input is thus
 * held, whatever the size of the call.
 *
 * <p>Not thread-safe: {@link StreamCore} calls it for one event at a time.
 */
final class FlowWindows {

  /** One direction: its windows, its held replies and the grants they withhold. */
  private static final class Lane {
    private final Direction direction;
    // The client's window for what it sends us, as far as we know it; for the logs.
    private long inputWindow;
    private long outputWindow;
    // Replies (ProcessingResponse) and grants (Long) in the order they were produced.
    private final ArrayDeque<Object> held = new ArrayDeque<>();
    private long grant;

    Lane(Direction direction, long inputWindow, long outputWindow) {
      this.direction = direction;
      this.inputWindow = inputWindow;
      this.outputWindow = outputWindow;
    }

    /** Moves to {@code out} what our window lets go, and counts the grants passed. */
    void flush(List<ProcessingResponse> out) {
      while (!held.isEmpty()) {
        Object next = held.peek();
        if (next instanceof Long bytes) {
          grant += bytes;
          inputWindow += bytes;
        } else {
          ProcessingResponse reply = (ProcessingResponse) next;
          long size = bodyBytes(reply);
          if (size > 0 && outputWindow <= 0) {
            return;
          }
          outputWindow -= size;
          out.add(reply);
        }
        held.poll();
      }
    }

    private long bodyBytes(ProcessingResponse reply) {
      Phase phase = Phase.answeredBy(reply);
      if (phase == null || phase.kind() != Phase.Kind.BODY) {
        return 0;
      }
      BodyMutation mutation = direction.bodyResponse(reply).getResponse().getBodyMutation();
      return (long) mutation.getStreamedResponse().getBody().size() + mutation.getBody().size();
    }
  }

  private final Lane request;
  private final Lane response;

  /** Windows that start as {@code init} sets them. */
  FlowWindows(FlowControlInit init) {
    request =
        new Lane(
            Direction.REQUEST,
            init.getInitialWindowDownstreamToSidestream(),
            init.getInitialWindowSidestreamToUpstream());
    response =
        new Lane(
            Direction.RESPONSE,
            init.getInitialWindowUpstreamToSidestream(),
            init.getInitialWindowSidestreamToDownstream());
  }

  /** Opens our windows by what the client granted; {@link #flush} sends what they let go. */
  void update(ClientWindowUpdate update) {
    request.outputWindow += update.getWindowIncrementSidestreamToUpstream();
    response.outputWindow += update.getWindowIncrementSidestreamToDownstream();
  }

  /**
   * Takes the replies to a message of {@code direction} that carried {@code consumed} body bytes,
   * and returns what may go out now. An immediate response goes out at once, dropping what is held:
   * nothing follows it.
   */
  List<ProcessingResponse> pass(
      Direction direction, List<ProcessingResponse> replies, long consumed) {
    for (ProcessingResponse reply : replies) {
      if (reply.hasImmediateResponse()) {
        request.held.clear();
        response.held.clear();
        return replies;
      }
    }
    Lane lane = lane(direction);
    lane.inputWindow -= consumed;
    lane.held.addAll(replies);
    if (consumed > 0) {
      lane.held.add(consumed);
    }
    return flush();
  }

  /**
   * Returns the held replies that the windows let go, in order, followed by one {@code
   * server_window_update} (a message with no response case) granting the bytes of the messages
   * whose replies all went out, if there are any.
   */
  List<ProcessingResponse> flush() {
    List<ProcessingResponse> out = new ArrayList<>();
    request.flush(out);
    response.flush(out);
    if (request.grant > 0 || response.grant > 0) {
      ServerWindowUpdate update =
          ServerWindowUpdate.newBuilder()
              .setWindowIncrementDownstreamToSidestream(request.grant)
              .setWindowIncrementUpstreamToSidestream(response.grant)
              .build();
      out.add(
          NewerFields.merge(
                  ProcessingResponse.newBuilder(),
                  ProcessingResponseFields.newBuilder().setServerWindowUpdate(update).build())
              .build());
      request.grant = 0;
      response.grant = 0;
    }
    return out;
  }

  /** How many replies are held for want of window, in both directions; for the logs. */
  int heldReplies() {
    return request.held.size() + response.held.size();
  }

  @Override
  public String toString() {
    return "windows{request in "
        + request.inputWindow
        + " out "
        + request.outputWindow
        + ", response in "
        + response.inputWindow
        + " out "
        + response.outputWindow
        + "}";
  }

  private Lane lane(Direction direction) {
    return direction == Direction.REQUEST ? request : response;
  }
}

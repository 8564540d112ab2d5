package dev.extproc.callout.fuzz;

import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import java.util.List;

/**
 * One ext_proc stream as the fuzzer wants it played: the messages exactly as sent (the first one
 * with its {@code protocol_config}, every one of an observability stream with {@code
 * observability_mode}), then how the client ends the stream.
 *
 * @param observability whether the stream is opened as Envoy opens one in observability mode
 * @param messages what the client sends, in order
 * @param cancel whether the client resets the stream at the end instead of half-closing it
 */
public record StreamPlan(boolean observability, List<ProcessingRequest> messages, boolean cancel) {

  public StreamPlan {
    messages = List.copyOf(messages);
  }

  /**
   * Whether a message carries unknown fields, on itself or on its body: where the fields newer than
   * our protos live (flow control, GRPC mode's body flags), well-formed or not.
   */
  public boolean hasUnknownFields() {
    for (ProcessingRequest message : messages) {
      if (!message.getUnknownFields().asMap().isEmpty()
          || !message.getRequestBody().getUnknownFields().asMap().isEmpty()
          || !message.getResponseBody().getUnknownFields().asMap().isEmpty()) {
        return true;
      }
    }
    return false;
  }

  /** A readable dump for failure messages, cut at {@code limit} characters. */
  public String describe(int limit) {
    StringBuilder out = new StringBuilder();
    out.append(observability ? "observability stream" : "stream")
        .append(", ")
        .append(messages.size())
        .append(" messages, then ")
        .append(cancel ? "cancel" : "half-close")
        .append('\n');
    for (int i = 0; i < messages.size() && out.length() < limit; i++) {
      out.append("#").append(i).append(' ').append(Dump.of(messages.get(i), 600)).append('\n');
    }
    return out.length() <= limit ? out.toString() : out.substring(0, limit) + "...";
  }
}

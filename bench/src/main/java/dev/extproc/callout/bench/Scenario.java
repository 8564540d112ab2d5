package dev.extproc.callout.bench;

import static io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse.ResponseCase.REQUEST_BODY;
import static io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse.ResponseCase.REQUEST_HEADERS;
import static io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse.ResponseCase.RESPONSE_BODY;
import static io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse.ResponseCase.RESPONSE_HEADERS;

import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ProcessingMode.BodySendMode;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse.ResponseCase;
import io.envoyproxy.envoy.service.ext_proc.v3.ProtocolConfiguration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;

/** What one HTTP request sends to the ext_proc server, one scenario per Envoy configuration. */
enum Scenario {
  /**
   * Request headers only ({@code request_header_mode: SEND}, the rest SKIP or NONE): one {@code
   * request_headers} with {@code end_of_stream}, one reply.
   */
  HEADERS("headers"),

  /** Request then response headers, each answered before the next (no bodies processed). */
  REQ_RESP_HEADERS("req-resp-headers"),

  /**
   * STREAMED bodies both ways. As Envoy does: request headers, wait for their reply (Envoy holds
   * the body until then); every request body chunk sent without waiting for the previous chunk's
   * reply; once every chunk's reply is back (the upstream then has the whole request), response
   * headers, wait; then the response chunks, again pipelined; one reply per chunk, in order.
   */
  STREAMED("streamed"),

  /**
   * FULL_DUPLEX_STREAMED request body (response headers and body not processed): request headers
   * and every body chunk sent without waiting, as Envoy sends them in that mode; the replies are
   * the headers reply, then any number of {@code streamed_response} chunks; done when one marked
   * {@code end_of_stream} comes back.
   */
  FULL_DUPLEX("full-duplex");

  private final String flagName;

  Scenario(String flagName) {
    this.flagName = flagName;
  }

  /** The name {@code --scenario} takes. */
  String flagName() {
    return flagName;
  }

  /** Whether a stream of this scenario sends bodies (given a non-zero {@code --body-size}). */
  boolean hasBodies() {
    return this == STREAMED || this == FULL_DUPLEX;
  }

  /** Returns the scenario named {@code name}; throws IllegalArgumentException for others. */
  static Scenario named(String name) {
    for (Scenario scenario : values()) {
      if (scenario.flagName.equals(name.trim().toLowerCase(Locale.ROOT))) {
        return scenario;
      }
    }
    List<String> names = new ArrayList<>();
    for (Scenario scenario : values()) {
      names.add(scenario.flagName);
    }
    throw new IllegalArgumentException(
        "unknown scenario (expected one of: " + String.join(", ", names) + ")");
  }

  /** The steps of one stream of this scenario, from messages built once. */
  Script script(EnvoyMessages messages) {
    boolean body = messages.hasBody();
    return switch (this) {
      case HEADERS ->
          new Script(List.of(step(messages.requestHeaders(false, modes(BodySendMode.NONE)))));
      case REQ_RESP_HEADERS ->
          new Script(
              List.of(
                  step(messages.requestHeaders(false, modes(BodySendMode.NONE))),
                  step(messages.responseHeaders(false))));
      case STREAMED -> {
        List<Script.Step> steps = new ArrayList<>();
        ProtocolConfiguration streamed = modes(BodySendMode.STREAMED, BodySendMode.STREAMED);
        steps.add(step(messages.requestHeaders(body, streamed)));
        if (body) {
          steps.add(pipelined(messages.requestBody(), REQUEST_BODY));
        }
        steps.add(step(messages.responseHeaders(body)));
        if (body) {
          steps.add(pipelined(messages.responseBody(), RESPONSE_BODY));
        }
        yield new Script(steps);
      }
      case FULL_DUPLEX -> {
        List<ProcessingRequest> requests = new ArrayList<>();
        requests.add(messages.requestHeaders(body, modes(BodySendMode.FULL_DUPLEX_STREAMED)));
        if (body) {
          requests.addAll(messages.requestBody());
        }
        yield new Script(
            List.of(
                new Script.Step(requests, List.of(REQUEST_HEADERS), body ? REQUEST_BODY : null)));
      }
    };
  }

  private static ProtocolConfiguration modes(BodySendMode request) {
    return modes(request, BodySendMode.NONE);
  }

  private static ProtocolConfiguration modes(BodySendMode request, BodySendMode response) {
    return ProtocolConfiguration.newBuilder()
        .setRequestBodyMode(request)
        .setResponseBodyMode(response)
        .build();
  }

  /** One message answered by one reply of the matching type. */
  private static Script.Step step(ProcessingRequest request) {
    ResponseCase reply =
        switch (request.getRequestCase()) {
          case REQUEST_HEADERS -> REQUEST_HEADERS;
          case RESPONSE_HEADERS -> RESPONSE_HEADERS;
          default -> throw new IllegalArgumentException("not a headers message");
        };
    return new Script.Step(List.of(request), List.of(reply), null);
  }

  private static Script.Step pipelined(List<ProcessingRequest> chunks, ResponseCase reply) {
    return new Script.Step(chunks, Collections.nCopies(chunks.size(), reply), null);
  }
}

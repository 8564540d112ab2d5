package dev.extproc.callout.bench;

import static com.google.common.truth.Truth.assertThat;
import static com.google.common.truth.extensions.proto.ProtoTruth.assertThat;
import static io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse.ResponseCase.REQUEST_BODY;
import static io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse.ResponseCase.REQUEST_HEADERS;
import static io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse.ResponseCase.RESPONSE_BODY;
import static io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse.ResponseCase.RESPONSE_HEADERS;

import com.google.protobuf.TextFormat;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** What each scenario sends, message by message, and the replies it expects. */
class ScenarioTest {

  private static final EnvoyMessages MESSAGES =
      new EnvoyMessages(
          List.of(Map.entry("authorization", "Bearer t"), Map.entry(":path", "/api")), 10, 3);

  @Test
  void headers_oneRequestHeadersMessageAsEnvoySendsIt() throws Exception {
    Script script = Scenario.HEADERS.script(MESSAGES);

    assertThat(script.steps()).hasSize(1);
    assertThat(script.steps().get(0).replies()).containsExactly(REQUEST_HEADERS);
    assertThat(script.steps().get(0).requests())
        .containsExactly(
            TextFormat.parse(
                """
                request_headers {
                  headers {
                    headers { key: ":authority" raw_value: "example.com" }
                    headers { key: ":path" raw_value: "/api" }
                    headers { key: ":method" raw_value: "GET" }
                    headers { key: ":scheme" raw_value: "http" }
                    headers { key: "user-agent" raw_value: "curl/8.5.0" }
                    headers { key: "accept" raw_value: "*/*" }
                    headers { key: "x-forwarded-proto" raw_value: "http" }
                    headers {
                      key: "x-request-id" raw_value: "7b2c1c9e-3f0a-4d55-9a51-2f1b6a4c8e10"
                    }
                    headers { key: "authorization" raw_value: "Bearer t" }
                  }
                  end_of_stream: true
                }
                metadata_context {}
                protocol_config {}
                """,
                ProcessingRequest.class));
    ProcessingRequest sent = script.steps().get(0).requests().get(0);
    // Present though empty, as Envoy always sets them on the first message.
    assertThat(sent.hasProtocolConfig()).isTrue();
    assertThat(sent.hasMetadataContext()).isTrue();
  }

  @Test
  void reqRespHeaders_responseHeadersAfterTheRequestHeadersReply() throws Exception {
    Script script = Scenario.REQ_RESP_HEADERS.script(MESSAGES);

    assertThat(script.steps()).hasSize(2);
    assertThat(script.steps().get(1).replies()).containsExactly(RESPONSE_HEADERS);
    assertThat(script.steps().get(1).requests())
        .containsExactly(
            TextFormat.parse(
                """
                response_headers {
                  headers {
                    headers { key: ":status" raw_value: "200" }
                    headers { key: "content-type" raw_value: "text/plain" }
                    headers { key: "content-length" raw_value: "13" }
                    headers { key: "date" raw_value: "Sun, 22 Nov 2026 12:00:00 GMT" }
                    headers { key: "x-envoy-upstream-service-time" raw_value: "1" }
                  }
                }
                metadata_context {}
                """,
                ProcessingRequest.class));
  }

  @Test
  void streamed_headersThenPipelinedChunksEachWay() throws Exception {
    Script script = Scenario.STREAMED.script(MESSAGES);

    assertThat(script.steps()).hasSize(4);
    ProcessingRequest headers = script.steps().get(0).requests().get(0);
    assertThat(headers.getProtocolConfig())
        .isEqualTo(
            TextFormat.parse(
                "request_body_mode: STREAMED response_body_mode: STREAMED",
                io.envoyproxy.envoy.service.ext_proc.v3.ProtocolConfiguration.class));
    assertThat(headers.getRequestHeaders().getEndOfStream()).isFalse();
    assertThat(headerValues(headers))
        .containsAtLeast(":method", "POST", "content-length", "10")
        .inOrder();
    assertThat(script.steps().get(1).requests())
        .containsExactly(
            TextFormat.parse(
                "request_body { body: 'xxx' } metadata_context {}", ProcessingRequest.class),
            TextFormat.parse(
                "request_body { body: 'xxx' } metadata_context {}", ProcessingRequest.class),
            TextFormat.parse(
                "request_body { body: 'xxxx' end_of_stream: true } metadata_context {}",
                ProcessingRequest.class))
        .inOrder();
    assertThat(script.steps().get(1).replies())
        .containsExactly(REQUEST_BODY, REQUEST_BODY, REQUEST_BODY);
    assertThat(script.steps().get(2).requests().get(0).hasResponseHeaders()).isTrue();
    assertThat(script.steps().get(3).replies())
        .containsExactly(RESPONSE_BODY, RESPONSE_BODY, RESPONSE_BODY);
    assertThat(script.messageCount()).isEqualTo(1 + 3 + 1 + 3);
  }

  @Test
  void fullDuplex_headersAndChunksAtOnce_repliesStreamedUntilTheEnd() throws Exception {
    Script script = Scenario.FULL_DUPLEX.script(MESSAGES);

    assertThat(script.steps()).hasSize(1);
    Script.Step step = script.steps().get(0);
    assertThat(step.requests()).hasSize(4);
    assertThat(step.requests().get(0).getProtocolConfig())
        .isEqualTo(
            TextFormat.parse(
                "request_body_mode: FULL_DUPLEX_STREAMED",
                io.envoyproxy.envoy.service.ext_proc.v3.ProtocolConfiguration.class));
    assertThat(step.requests().get(3).getRequestBody().getEndOfStream()).isTrue();
    assertThat(step.replies()).containsExactly(REQUEST_HEADERS);
    assertThat(step.streamedUntilEnd()).isEqualTo(REQUEST_BODY);
  }

  @Test
  void bodyScenarios_zeroBodySize_headersOnlyWithEndOfStream() {
    EnvoyMessages noBody = new EnvoyMessages(List.of(), 0, 4);

    Script streamed = Scenario.STREAMED.script(noBody);
    Script fullDuplex = Scenario.FULL_DUPLEX.script(noBody);

    assertThat(streamed.messageCount()).isEqualTo(2);
    assertThat(streamed.steps().get(0).requests().get(0).getRequestHeaders().getEndOfStream())
        .isTrue();
    assertThat(fullDuplex.messageCount()).isEqualTo(1);
    assertThat(fullDuplex.steps().get(0).streamedUntilEnd()).isNull();
  }

  private static List<String> headerValues(ProcessingRequest request) {
    List<String> flat = new ArrayList<>();
    request
        .getRequestHeaders()
        .getHeaders()
        .getHeadersList()
        .forEach(
            header -> {
              flat.add(header.getKey());
              flat.add(header.getRawValue().toStringUtf8());
            });
    return flat;
  }
}

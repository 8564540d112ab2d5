package dev.extproc.callout.samples.observe;

import static com.google.common.truth.Truth.assertThat;
import static com.google.common.truth.extensions.proto.ProtoTruth.assertThat;
import static dev.extproc.callout.testing.CalloutTester.headers;

import dev.extproc.callout.CalloutServerConfig;
import dev.extproc.callout.testing.CalloutTester;
import dev.extproc.callout.testing.Replies;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.grpc.Status;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Observability mode: facts recorded, nothing sent. */
class ObserveTest {

  @Test
  void observabilityMode_recordsButNeverAnswers() {
    Observe observe = new Observe(CalloutServerConfig.defaults());
    try (CalloutTester tester = CalloutTester.of(observe)) {
      for (String status : new String[] {"200", "404"}) {
        CalloutTester.Stream stream = tester.newObservabilityStream();
        stream.send(
            ProcessingRequest.newBuilder()
                .setRequestHeaders(headers(":method", "GET", ":path", "/x"))
                .build());
        stream.send(
            ProcessingRequest.newBuilder().setResponseHeaders(headers(":status", status)).build());

        assertThat(stream.halfClose().getCode()).isEqualTo(Status.Code.OK);
        assertThat(stream.received()).isEmpty();
      }
      assertThat(observe.counts())
          .containsExactly("method GET", 2L, "status 2xx", 1L, "status 4xx", 1L, "streams", 2L);
    }
  }

  @Test
  void outsideObservabilityMode_continuesUnchanged() {
    Observe observe = new Observe(CalloutServerConfig.defaults());
    try (CalloutTester tester = CalloutTester.of(observe)) {
      CalloutTester.Stream stream = tester.newStream();
      assertThat(stream.requestHeaders(headers(":method", "POST")))
          .isEqualTo(Replies.continueRequestHeaders());
      assertThat(stream.responseHeaders(headers(":status", "503")))
          .isEqualTo(Replies.continueResponseHeaders());
      assertThat(observe.counts()).containsAtLeastEntriesIn(Map.of("status 5xx", 1L));
    }
  }
}

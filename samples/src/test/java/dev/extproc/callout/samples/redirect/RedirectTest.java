package dev.extproc.callout.samples.redirect;

import static com.google.common.truth.Truth.assertThat;
import static com.google.common.truth.extensions.proto.ProtoTruth.assertThat;
import static dev.extproc.callout.samples.Replies.mutation;
import static dev.extproc.callout.samples.Replies.set;
import static dev.extproc.callout.samples.Replies.sets;
import static dev.extproc.callout.testing.CalloutTester.body;
import static dev.extproc.callout.testing.CalloutTester.headers;

import dev.extproc.callout.samples.SampleServer;
import dev.extproc.callout.testing.CalloutTester;
import io.envoyproxy.envoy.service.ext_proc.v3.ImmediateResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.envoyproxy.envoy.type.v3.HttpStatus;
import io.envoyproxy.envoy.type.v3.StatusCode;
import io.grpc.Status;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Every row of spec/samples.md for {@code redirect}, over a real plaintext socket. */
class RedirectTest {

  private final SampleServer sample = SampleServer.plaintext(Redirect::new);

  @AfterEach
  void close() {
    sample.close();
  }

  @Test
  void requestHeaders_immediate301WithLocationAndNoBody_thenNothingMore() {
    CalloutTester.Stream stream = sample.newStream();

    assertThat(stream.requestHeaders(headers(":path", "/old")))
        .isEqualTo(
            ProcessingResponse.newBuilder()
                .setImmediateResponse(
                    ImmediateResponse.newBuilder()
                        .setStatus(HttpStatus.newBuilder().setCode(StatusCode.MovedPermanently))
                        .setHeaders(
                            mutation(
                                sets(set("Location", "http://service-extensions.com/redirect")))))
                .build());
    stream.send(ProcessingRequest.newBuilder().setRequestBody(body("late", true)).build());
    assertThat(stream.halfClose().getCode()).isEqualTo(Status.Code.OK);
    assertThat(stream.received()).hasSize(1);
  }
}

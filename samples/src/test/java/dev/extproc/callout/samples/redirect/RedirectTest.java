package dev.extproc.callout.samples.redirect;

import static com.google.common.truth.Truth.assertThat;
import static com.google.common.truth.extensions.proto.ProtoTruth.assertThat;
import static dev.extproc.callout.testing.CalloutTester.body;
import static dev.extproc.callout.testing.CalloutTester.headers;
import static dev.extproc.callout.testing.Replies.mutation;
import static dev.extproc.callout.testing.Replies.set;
import static dev.extproc.callout.testing.Replies.sets;

import dev.extproc.callout.testing.CalloutExtension;
import dev.extproc.callout.testing.CalloutTester;
import io.envoyproxy.envoy.service.ext_proc.v3.ImmediateResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.envoyproxy.envoy.type.v3.HttpStatus;
import io.envoyproxy.envoy.type.v3.StatusCode;
import io.grpc.Status;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Every row of spec/samples.md for {@code redirect}, over a real plaintext socket. */
class RedirectTest {

  @RegisterExtension
  final CalloutExtension<Redirect> sample = CalloutExtension.plaintext(Redirect::new);

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

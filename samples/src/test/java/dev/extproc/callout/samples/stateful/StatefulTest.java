package dev.extproc.callout.samples.stateful;

import static com.google.common.truth.extensions.proto.ProtoTruth.assertThat;
import static dev.extproc.callout.testing.CalloutTester.headers;
import static dev.extproc.callout.testing.Replies.mutation;
import static dev.extproc.callout.testing.Replies.set;
import static dev.extproc.callout.testing.Replies.sets;

import dev.extproc.callout.testing.CalloutExtension;
import dev.extproc.callout.testing.CalloutTester;
import dev.extproc.callout.testing.Replies;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The response phase decides from the request phase's facts, one stream per request. */
class StatefulTest {

  @RegisterExtension
  final CalloutExtension<Stateful> sample = CalloutExtension.plaintext(Stateful::new);

  @Test
  void requestWithCredentials_responseMarkedPrivate() {
    CalloutTester.Stream stream = sample.newStream();

    assertThat(stream.requestHeaders(headers(":path", "/account", "authorization", "Bearer x")))
        .isEqualTo(Replies.continueRequestHeaders());
    assertThat(stream.responseHeaders(headers(":status", "200")))
        .isEqualTo(
            Replies.responseHeaders(
                mutation(
                    sets(
                        set("x-request-path", "/account"),
                        set("cache-control", "private, no-store")))));
  }

  @Test
  void anonymousRequest_onlyThePath_andStreamsDoNotShareState() {
    CalloutTester.Stream withCookie = sample.newStream();
    CalloutTester.Stream anonymous = sample.newStream();
    withCookie.requestHeaders(headers(":path", "/a", "cookie", "s=1"));
    anonymous.requestHeaders(headers(":path", "/b"));

    assertThat(anonymous.responseHeaders(headers(":status", "200")))
        .isEqualTo(Replies.responseHeaders(mutation(sets(set("x-request-path", "/b")))));
    assertThat(withCookie.responseHeaders(headers(":status", "200")))
        .isEqualTo(
            Replies.responseHeaders(
                mutation(
                    sets(set("x-request-path", "/a"), set("cache-control", "private, no-store")))));
  }

  @Test
  void pathLongerThanAHeaderValueMayBe_isNotEchoed() {
    // Envoy accepts request headers up to 60 KiB; a header value in a reply is limited to 16 KiB.
    CalloutTester.Stream stream = sample.newStream();
    stream.requestHeaders(headers(":path", "/" + "a".repeat(16384), "cookie", "s=1"));

    assertThat(stream.responseHeaders(headers(":status", "200")))
        .isEqualTo(
            Replies.responseHeaders(mutation(sets(set("cache-control", "private, no-store")))));
  }

  @Test
  void responseWithoutRequestHeaders_continues() {
    assertThat(sample.newStream().responseHeaders(headers(":status", "200")))
        .isEqualTo(Replies.continueResponseHeaders());
  }
}

package dev.extproc.callout.samples.setcookie;

import static com.google.common.truth.extensions.proto.ProtoTruth.assertThat;
import static dev.extproc.callout.samples.Replies.mutation;
import static dev.extproc.callout.samples.Replies.set;
import static dev.extproc.callout.samples.Replies.sets;
import static dev.extproc.callout.testing.CalloutTester.headers;

import dev.extproc.callout.samples.Replies;
import dev.extproc.callout.samples.SampleServer;
import dev.extproc.callout.testing.CalloutTester;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Every row of spec/samples.md for {@code set-cookie}, over a real plaintext socket. */
class SetCookieTest {

  private final SampleServer sample = SampleServer.plaintext(SetCookie::new);

  @AfterEach
  void close() {
    sample.close();
  }

  @Test
  void cookieCheckWithValue_setsTheCookie() {
    CalloutTester.Stream stream = sample.newStream();

    assertThat(stream.requestHeaders(headers(":path", "/")))
        .isEqualTo(Replies.continueRequestHeaders());
    assertThat(stream.responseHeaders(headers(":status", "200", "cookie-check", "yes")))
        .isEqualTo(
            Replies.responseHeaders(
                mutation(
                    sets(
                        set(
                            "Set-Cookie",
                            "your_cookie_name=cookie_value; Max-Age=3600; Path=/")))));
  }

  @Test
  void cookieCheckMissingOrEmpty_continues() {
    assertThat(sample.newStream().responseHeaders(headers(":status", "200")))
        .isEqualTo(Replies.continueResponseHeaders());
    assertThat(sample.newStream().responseHeaders(headers("cookie-check", "")))
        .isEqualTo(Replies.continueResponseHeaders());
    assertThat(sample.newStream().responseHeaders(headers("Cookie-Check", "yes")))
        .isEqualTo(Replies.continueResponseHeaders());
  }
}

package dev.extproc.callout.samples.setcookie;

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

/** Every row of spec/samples.md for {@code set-cookie}, over a real plaintext socket. */
class SetCookieTest {

  @RegisterExtension
  final CalloutExtension<SetCookie> sample = CalloutExtension.plaintext(SetCookie::new);

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

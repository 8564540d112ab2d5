package dev.extproc.callout.samples.normalizeheader;

import static com.google.common.truth.extensions.proto.ProtoTruth.assertThat;
import static dev.extproc.callout.samples.Replies.mutation;
import static dev.extproc.callout.samples.Replies.set;
import static dev.extproc.callout.samples.Replies.sets;
import static dev.extproc.callout.testing.CalloutTester.headers;

import com.google.protobuf.ByteString;
import dev.extproc.callout.samples.Replies;
import dev.extproc.callout.samples.SampleServer;
import io.envoyproxy.envoy.config.core.v3.HeaderMap;
import io.envoyproxy.envoy.config.core.v3.HeaderValue;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpHeaders;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Every row of spec/samples.md for {@code normalize-header}, over a real plaintext socket. */
class NormalizeHeaderTest {

  private final SampleServer sample = SampleServer.plaintext(NormalizeHeader::new);

  @AfterEach
  void close() {
    sample.close();
  }

  private ProcessingResponse replyFor(HttpHeaders headers) {
    return sample.newStream().requestHeaders(headers);
  }

  private static ProcessingResponse device(String type) {
    return Replies.requestHeaders(mutation(sets(set("client-device-type", type))), true);
  }

  @Test
  void authority_classifiesTheDevice() {
    assertThat(replyFor(headers(":authority", "m.example.com"))).isEqualTo(device("mobile"));
    assertThat(replyFor(headers(":authority", "shop.t.example.com:8443")))
        .isEqualTo(device("tablet"));
    assertThat(replyFor(headers(":authority", "www.example.com"))).isEqualTo(device("desktop"));
  }

  @Test
  void authorityOnlyInLegacyValue_isRead() {
    HttpHeaders legacy =
        HttpHeaders.newBuilder()
            .setHeaders(
                HeaderMap.newBuilder()
                    .addHeaders(
                        HeaderValue.newBuilder().setKey(":authority").setValue("m.example.com")))
            .build();

    assertThat(replyFor(legacy)).isEqualTo(device("mobile"));
  }

  @Test
  void authorityMissingOrEmpty_continues() {
    assertThat(replyFor(headers(":path", "/"))).isEqualTo(Replies.continueRequestHeaders());
    assertThat(replyFor(headers(":authority", ""))).isEqualTo(Replies.continueRequestHeaders());
    assertThat(
            replyFor(
                HttpHeaders.newBuilder()
                    .setHeaders(
                        HeaderMap.newBuilder()
                            .addHeaders(
                                HeaderValue.newBuilder()
                                    .setKey(":authority")
                                    .setRawValue(ByteString.EMPTY)))
                    .build()))
        .isEqualTo(Replies.continueRequestHeaders());
  }
}

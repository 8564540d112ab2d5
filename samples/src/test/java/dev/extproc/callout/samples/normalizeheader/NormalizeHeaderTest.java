package dev.extproc.callout.samples.normalizeheader;

import static com.google.common.truth.extensions.proto.ProtoTruth.assertThat;
import static dev.extproc.callout.testing.CalloutTester.headers;
import static dev.extproc.callout.testing.Replies.mutation;
import static dev.extproc.callout.testing.Replies.set;
import static dev.extproc.callout.testing.Replies.sets;

import com.google.protobuf.ByteString;
import dev.extproc.callout.testing.CalloutExtension;
import dev.extproc.callout.testing.Replies;
import io.envoyproxy.envoy.config.core.v3.HeaderMap;
import io.envoyproxy.envoy.config.core.v3.HeaderValue;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpHeaders;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Every row of spec/samples.md for {@code normalize-header}, over a real plaintext socket. */
class NormalizeHeaderTest {

  @RegisterExtension
  final CalloutExtension<NormalizeHeader> sample = CalloutExtension.plaintext(NormalizeHeader::new);

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

package dev.extproc.callout.samples.dynamicforwarding;

import static com.google.common.truth.extensions.proto.ProtoTruth.assertThat;
import static dev.extproc.callout.testing.CalloutTester.headers;

import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import dev.extproc.callout.testing.CalloutExtension;
import io.envoyproxy.envoy.service.ext_proc.v3.HeadersResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpHeaders;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Every row of spec/samples.md for {@code dynamic-forwarding}, over a real plaintext socket. */
class DynamicForwardingTest {

  @RegisterExtension
  final CalloutExtension<DynamicForwarding> sample =
      CalloutExtension.plaintext(DynamicForwarding::new);

  private ProcessingResponse replyFor(HttpHeaders headers) {
    return sample.newStream().requestHeaders(headers);
  }

  private static ProcessingResponse forwardedTo(String endpoint) {
    Struct selected =
        Struct.newBuilder()
            .putFields("primary", Value.newBuilder().setStringValue(endpoint).build())
            .build();
    return ProcessingResponse.newBuilder()
        .setRequestHeaders(HeadersResponse.getDefaultInstance())
        .setDynamicMetadata(
            Struct.newBuilder()
                .putFields(
                    "com.google.envoy.dynamic_forwarding.selected_endpoints",
                    Value.newBuilder().setStructValue(selected).build()))
        .build();
  }

  @Test
  void knownAddress_isSelected() {
    assertThat(replyFor(headers("ip-to-return", "10.1.10.2")))
        .isEqualTo(forwardedTo("10.1.10.2:80"));
    assertThat(replyFor(headers("ip-to-return", "10.1.10.3")))
        .isEqualTo(forwardedTo("10.1.10.3:80"));
  }

  @Test
  void unknownOrMissingAddress_fallsBack() {
    assertThat(replyFor(headers("ip-to-return", "10.9.9.9")))
        .isEqualTo(forwardedTo("10.1.10.4:80"));
    assertThat(replyFor(headers("ip-to-return", ""))).isEqualTo(forwardedTo("10.1.10.4:80"));
    assertThat(replyFor(headers(":path", "/"))).isEqualTo(forwardedTo("10.1.10.4:80"));
  }
}

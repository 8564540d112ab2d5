package dev.extproc.callout;

import static com.google.common.truth.Truth.assertThat;

import com.google.protobuf.ByteString;
import com.google.protobuf.UnknownFieldSet;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpBody;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import java.io.ByteArrayInputStream;
import java.io.InputStream;
import org.junit.jupiter.api.Test;

class SizeCheckedRequestsTest {

  private static final ProcessingRequest BODY =
      ProcessingRequest.newBuilder()
          .setRequestBody(HttpBody.newBuilder().setBody(ByteString.copyFromUtf8("x".repeat(100))))
          .build();

  private final SizeCheckedRequests requests = new SizeCheckedRequests(100);

  @Test
  void aMessageWithinTheLimitParses() {
    SizeCheckedRequests roomy = new SizeCheckedRequests(BODY.getSerializedSize());
    ProcessingRequest parsed = roomy.parse(roomy.stream(BODY)); // a KnownLength stream, as gRPC's
    assertThat(parsed).isEqualTo(BODY);
    assertThat(SizeCheckedRequests.oversizedBytes(parsed)).isEqualTo(-1);
  }

  @Test
  void aMessageOverTheLimitBecomesAMarkerWithItsSize() {
    ProcessingRequest marker = requests.parse(requests.stream(BODY));
    assertThat(SizeCheckedRequests.oversizedBytes(marker)).isEqualTo(BODY.getSerializedSize());
    assertThat(marker.hasRequestBody()).isFalse(); // not parsed
  }

  @Test
  void aStreamOfUnknownLengthIsMeasuredAfterParsing() {
    InputStream plain = new ByteArrayInputStream(BODY.toByteArray());
    ProcessingRequest marker = requests.parse(plain);
    assertThat(SizeCheckedRequests.oversizedBytes(marker)).isEqualTo(BODY.getSerializedSize());
  }

  @Test
  void unknownFieldsFromANewerEnvoyAreNotAMarker() {
    ProcessingRequest newer =
        ProcessingRequest.newBuilder()
            .setUnknownFields(
                UnknownFieldSet.newBuilder()
                    .addField(99, UnknownFieldSet.Field.newBuilder().addVarint(7).build())
                    .build())
            .build();
    assertThat(SizeCheckedRequests.oversizedBytes(requests.parse(requests.stream(newer))))
        .isEqualTo(-1);
  }
}

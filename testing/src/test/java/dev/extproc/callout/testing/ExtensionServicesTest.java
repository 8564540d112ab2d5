package dev.extproc.callout.testing;

import static com.google.common.truth.Truth.assertThat;
import static dev.extproc.callout.testing.CalloutTester.checkRequest;
import static dev.extproc.callout.testing.CalloutTester.headers;
import static java.util.concurrent.TimeUnit.SECONDS;

import com.google.protobuf.ByteString;
import dev.extproc.callout.AuthzTools;
import dev.extproc.callout.CalloutContext;
import dev.extproc.callout.CalloutServer;
import dev.extproc.callout.CalloutServerConfig;
import io.envoyproxy.envoy.service.auth.v3.CheckRequest;
import io.envoyproxy.envoy.service.auth.v3.CheckResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.HeadersResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpHeaders;
import io.grpc.Status;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * One real server on a loopback socket, driven through ext_proc, ext_authz and network ext_proc.
 */
@Timeout(value = 8, unit = SECONDS)
class ExtensionServicesTest {

  /** Denies {@code /admin}; echoes network bytes reversed; continues ext_proc headers. */
  static final class Everything extends CalloutServer {
    Everything(CalloutServerConfig config) {
      super(config);
    }

    @Override
    protected @Nullable CheckResponse onCheck(CheckRequest request, CalloutContext ctx) {
      return AuthzTools.path(request).equals("/admin") ? AuthzTools.deny(403).build() : null;
    }

    @Override
    protected @Nullable ByteString onReadData(
        ByteString data, boolean endOfStream, CalloutContext ctx) {
      return ByteString.copyFromUtf8(new StringBuilder(data.toStringUtf8()).reverse().toString());
    }

    @Override
    protected HeadersResponse onRequestHeaders(HttpHeaders headers, CalloutContext ctx) {
      return HeadersResponse.getDefaultInstance();
    }
  }

  @RegisterExtension
  static final CalloutExtension<Everything> callout = CalloutExtension.plaintext(Everything::new);

  @Test
  void check_overTheSocket_returnsTheDecisions() {
    assertThat(callout.check(checkRequest("GET", "/admin")).hasDeniedResponse()).isTrue();
    assertThat(callout.check(checkRequest("GET", "/")).getStatus().getCode()).isEqualTo(0);
  }

  @Test
  void newNetworkStream_overTheSocket_repliesInTheSameDirection() {
    NetworkStream connection = callout.newNetworkStream();

    assertThat(connection.read("abc", false).getReadData().getData().toStringUtf8())
        .isEqualTo("cba");
    assertThat(connection.write("xyz", true).getWriteData().getData().toStringUtf8())
        .isEqualTo("xyz");
    assertThat(connection.halfClose().getCode()).isEqualTo(Status.Code.OK);
  }

  @Test
  void newStream_overTheSocket_stillServesExtProc() {
    CalloutTester.Stream stream = callout.newStream();

    assertThat(stream.requestHeaders(headers(":path", "/")).hasRequestHeaders()).isTrue();
    assertThat(stream.halfClose().getCode()).isEqualTo(Status.Code.OK);
  }
}

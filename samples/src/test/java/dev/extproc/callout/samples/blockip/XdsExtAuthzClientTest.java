package dev.extproc.callout.samples.blockip;

import static com.google.common.truth.Truth.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.google.protobuf.Any;
import com.google.protobuf.util.Durations;
import dev.extproc.callout.CalloutServerConfig;
import dev.extproc.callout.samples.xds.XdsManagementServer;
import io.envoyproxy.envoy.extensions.filters.http.ext_authz.v3.ExtAuthz;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.InsecureServerCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.protobuf.services.HealthStatusManager;
import io.grpc.stub.MetadataUtils;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * {@code block-ip} behind a client we did not write: grpc-java's xDS ext_authz client filter (gRFC
 * A92, experimental in grpc-xds 1.85), configured by a management server in this test. The channel
 * to {@code xds:///block-ip.test} learns from LDS an HttpConnectionManager whose filters are {@code
 * envoy.filters.http.ext_authz} (its {@code grpc_service} is the sample's plaintext listener) and
 * the router, and from CDS and EDS the backend, a health service that records the calls it gets.
 *
 * <p>The client's CheckRequest carries only {@code request.time} and {@code request.http}: method
 * POST, the gRPC path, size -1, protocol HTTP/2, and the call's own metadata in {@code header_map}
 * with {@code raw_value} (here only {@code x-forwarded-for}: no pseudo-headers); no {@code headers}
 * map and no peer addresses. The sample reads {@code x-forwarded-for} from there.
 */
class XdsExtAuthzClientTest {

  private static final String AUTHORITY = "block-ip.test";
  private static final String CLUSTER = "backend";
  private static final Metadata.Key<String> FORWARDED_FOR =
      Metadata.Key.of(BlockIp.FORWARDED_FOR, Metadata.ASCII_STRING_MARSHALLER);

  // grpc-java reads the flag from the environment, else from the system property of that name.
  private static final String EXT_AUTHZ_FLAG = "GRPC_EXPERIMENTAL_XDS_EXT_AUTHZ_ON_CLIENT";

  private static final Metadata.Key<String> ALLOWED_KEY =
      Metadata.Key.of(BlockIp.ALLOWED, Metadata.ASCII_STRING_MARSHALLER);
  private static final String NO_HEADER = "(none)";

  /** Per call that reached the backend, the {@code x-client-ip-allowed} value it carried. */
  private static final Queue<String> backendCalls = new ConcurrentLinkedQueue<>();

  private static BlockIp callout;
  private static Server backend;
  private static XdsManagementServer xds;
  private static ManagedChannel channel;

  // grpc-xds keeps the first bootstrap it reads for the life of the JVM (a second channel with a
  // new one still dialled the first management server), so everything starts once per class.
  @BeforeAll
  static void start() throws IOException {
    callout =
        new BlockIp(
            CalloutServerConfig.newBuilder()
                .plaintextAddress("127.0.0.1:0")
                .disableTls()
                .combinedHealthCheck()
                .shutdownDrainDelay(Duration.ZERO)
                .build());
    callout.start();
    HealthStatusManager health = new HealthStatusManager();
    backend =
        NettyServerBuilder.forAddress(
                new InetSocketAddress(XdsManagementServer.LOOPBACK, 0),
                InsecureServerCredentials.create())
            .addService(
                ServerInterceptors.intercept(health.getHealthService(), new RecordingInterceptor()))
            .build()
            .start();
    xds = new XdsManagementServer();
    serveConfiguration(backend.getPort());

    System.setProperty(EXT_AUTHZ_FLAG, "true");
    System.setProperty(
        XdsManagementServer.BOOTSTRAP_CONFIG,
        xds.bootstrap("block-ip-test", List.of(calloutTarget())));
    channel =
        Grpc.newChannelBuilder("xds:///" + AUTHORITY, InsecureChannelCredentials.create()).build();
  }

  @AfterAll
  static void stop() throws InterruptedException {
    try {
      if (channel != null) {
        channel.shutdownNow();
        channel.awaitTermination(10, TimeUnit.SECONDS);
      }
      if (backend != null) {
        backend.shutdownNow();
        backend.awaitTermination(10, TimeUnit.SECONDS);
      }
      if (xds != null) {
        xds.close();
      }
    } finally {
      if (callout != null) {
        callout.close();
      }
      System.clearProperty(EXT_AUTHZ_FLAG);
      System.clearProperty(XdsManagementServer.BOOTSTRAP_CONFIG);
    }
  }

  private static String calloutTarget() {
    return XdsManagementServer.loopbackTarget(callout.plaintextAddress().orElseThrow().getPort());
  }

  private static void serveConfiguration(int backendPort) {
    ExtAuthz extAuthz =
        ExtAuthz.newBuilder()
            .setGrpcService(
                XdsManagementServer.googleGrpc(calloutTarget())
                    .setTimeout(Durations.fromSeconds(5)))
            .build();
    xds.serveListener(
        AUTHORITY,
        HttpFilter.newBuilder()
            .setName("envoy.filters.http.ext_authz")
            .setTypedConfig(Any.pack(extAuthz))
            .build(),
        CLUSTER);
    xds.serveCluster(CLUSTER, backendPort);
  }

  @BeforeEach
  void forgetBackendCalls() {
    backendCalls.clear();
  }

  private static HealthCheckResponse call(Metadata headers) {
    return HealthGrpc.newBlockingStub(channel)
        .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers))
        .withDeadlineAfter(10, TimeUnit.SECONDS)
        .check(HealthCheckRequest.getDefaultInstance());
  }

  private static Metadata forwardedFor(String value) {
    Metadata headers = new Metadata();
    headers.put(FORWARDED_FOR, value);
    return headers;
  }

  @Test
  void deniedAddress_failsPermissionDeniedWithTheDenialsHeader_neverReachesTheBackend() {
    StatusRuntimeException denied =
        assertThrows(StatusRuntimeException.class, () -> call(forwardedFor("10.0.0.5")));

    assertThat(xds.nacks()).isEmpty();
    assertThat(denied.getStatus().getCode()).isEqualTo(Status.Code.PERMISSION_DENIED);
    // The denied_response's headers come back as the failed call's trailers.
    assertThat(denied.getTrailers()).isNotNull();
    assertThat(denied.getTrailers().getAll(ALLOWED_KEY)).containsExactly("false");
    assertThat(backendCalls).isEmpty();
  }

  @Test
  void noForwardedFor_failsPermissionDenied_neverReachesTheBackend() {
    StatusRuntimeException denied =
        assertThrows(StatusRuntimeException.class, () -> call(new Metadata()));

    assertThat(denied.getStatus().getCode()).isEqualTo(Status.Code.PERMISSION_DENIED);
    assertThat(backendCalls).isEmpty();
  }

  /**
   * An allowed call is never denied, and whatever reaches the backend carries the decision's header
   * ({@code ok_response} header values are read from {@code value}). But grpc-xds 1.85.1 cancels
   * the calls it allows: it creates the allowed call inside the Check call's {@link
   * io.grpc.Context}, which is cancelled when the Check call completes, so the call usually fails
   * {@code CANCELLED} ("io.grpc.Context was cancelled without error"), with or without reaching the
   * backend, and only now and then (when the backend answers first) succeeds. On this project's
   * build machine, 146 of 150 allowed calls ended CANCELLED and 4 OK. A bug in the client, not in
   * the callout: when grpc-java fixes it, every call here succeeds.
   */
  @Test
  void allowedAddress_isNeverDenied_butGrpcXds185CancelsItMostly() {
    for (int i = 0; i < 10; i++) {
      try {
        assertThat(call(forwardedFor("203.0.113.7")).getStatus())
            .isEqualTo(HealthCheckResponse.ServingStatus.SERVING);
      } catch (StatusRuntimeException e) {
        assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.CANCELLED);
        assertThat(e.getStatus().getDescription())
            .isEqualTo("io.grpc.Context was cancelled without error");
      }
    }

    assertThat(xds.nacks()).isEmpty();
    assertThat(backendCalls.stream().filter(allowed -> !allowed.equals("true")).toList()).isEmpty();
  }

  /** Records each call that reaches the backend. */
  private static final class RecordingInterceptor implements ServerInterceptor {
    @Override
    public <ReqT, RespT> ServerCall.Listener<ReqT> interceptCall(
        ServerCall<ReqT, RespT> call, Metadata headers, ServerCallHandler<ReqT, RespT> next) {
      String allowed = headers.get(ALLOWED_KEY);
      backendCalls.add(allowed == null ? NO_HEADER : allowed);
      return next.startCall(call, headers);
    }
  }
}

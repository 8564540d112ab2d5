package dev.extproc.callout;

import static com.google.common.truth.Truth.assertThat;
import static dev.extproc.callout.testing.CalloutTester.headers;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.google.protobuf.BoolValue;
import com.google.protobuf.ByteString;
import dev.extproc.callout.testing.CalloutTester;
import dev.extproc.callout.testing.TrustAllCertificates;
import io.envoyproxy.envoy.config.core.v3.HeaderValue;
import io.envoyproxy.envoy.config.core.v3.HeaderValueOption;
import io.envoyproxy.envoy.config.core.v3.HeaderValueOption.HeaderAppendAction;
import io.envoyproxy.envoy.service.auth.v3.AttributeContext;
import io.envoyproxy.envoy.service.auth.v3.AuthorizationGrpc;
import io.envoyproxy.envoy.service.auth.v3.CheckRequest;
import io.envoyproxy.envoy.service.auth.v3.CheckResponse;
import io.envoyproxy.envoy.service.auth.v3.DeniedHttpResponse;
import io.envoyproxy.envoy.service.auth.v3.OkHttpResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.HeadersResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpHeaders;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.envoyproxy.envoy.service.network_ext_proc.v3.Data;
import io.envoyproxy.envoy.service.network_ext_proc.v3.NetworkExternalProcessorGrpc;
import io.envoyproxy.envoy.service.network_ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.network_ext_proc.v3.ProcessingResponse.ConnectionStatus;
import io.envoyproxy.envoy.service.network_ext_proc.v3.ProcessingResponse.DataProcessedStatus;
import io.envoyproxy.envoy.type.v3.HttpStatus;
import io.grpc.ChannelCredentials;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.TlsChannelCredentials;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.stub.StreamObserver;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * ext_authz and network ext_proc served by the same engine, over real sockets: exact decisions and
 * replies, failures, deadlines, drain, and one process serving ext_proc and ext_authz together.
 */
class ServicesNetworkTest {
  private static final String LOOPBACK_ANY_PORT = "127.0.0.1:0";
  private static final String AUTHZ = "envoy.service.auth.v3.Authorization";
  private static final String EXT_PROC = "envoy.service.ext_proc.v3.ExternalProcessor";
  private static final String NETWORK =
      "envoy.service.network_ext_proc.v3.NetworkExternalProcessor";

  private final List<AutoCloseable> cleanup = new ArrayList<>();

  @AfterEach
  void cleanUp() throws Exception {
    for (int i = cleanup.size() - 1; i >= 0; i--) {
      cleanup.get(i).close();
    }
  }

  /** An ext_proc hook and an ext_authz decision in one callout, as one deployment serves both. */
  private static final class RouteAndAuthz extends CalloutServer {
    final CountDownLatch checking = new CountDownLatch(1);
    final CountDownLatch release = new CountDownLatch(1);

    RouteAndAuthz(CalloutServerConfig config) {
      super(config);
    }

    @Override
    protected HeadersResponse onRequestHeaders(HttpHeaders headers, CalloutContext ctx) {
      return CalloutTools.addHeaderMutation(List.of(java.util.Map.entry("x-route", "yes")));
    }

    @Override
    protected @Nullable CheckResponse onCheck(CheckRequest request, CalloutContext ctx) {
      String user = AuthzTools.header(request, "x-user").orElse("");
      switch (user) {
        case "" -> {
          return AuthzTools.deny(401)
              .grpcStatus(Status.Code.UNAUTHENTICATED, "no user")
              .header("www-authenticate", "Bearer")
              .body("who are you?")
              .build();
        }
        case "throw" -> throw new IllegalStateException("boom");
        case "status" -> throw Status.UNAVAILABLE.withDescription("try later").asRuntimeException();
        case "contradiction" -> {
          return CheckResponse.newBuilder()
              .setDeniedResponse(DeniedHttpResponse.getDefaultInstance())
              .build();
        }
        case "slow" -> {
          checking.countDown();
          try {
            release.await(10, TimeUnit.SECONDS);
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
          }
          return null;
        }
        default -> {
          return AuthzTools.allow().setHeader("x-user-id", user).removeHeader("cookie").build();
        }
      }
    }
  }

  private static CalloutServerConfig.Builder loopback() {
    return CalloutServerConfig.newBuilder()
        .plaintextAddress(LOOPBACK_ANY_PORT)
        .secureAddress(LOOPBACK_ANY_PORT)
        .healthCheckAddress(LOOPBACK_ANY_PORT)
        .shutdownDrainDelay(Duration.ZERO)
        .shutdownGracePeriod(Duration.ofSeconds(10));
  }

  private <T extends CalloutServer> T started(T callout) throws Exception {
    callout.start();
    cleanup.add(callout);
    return callout;
  }

  private ManagedChannel channel(InetSocketAddress address, ChannelCredentials credentials) {
    ManagedChannel channel =
        Grpc.newChannelBuilderForAddress(address.getHostString(), address.getPort(), credentials)
            .build();
    cleanup.add(channel::shutdownNow);
    return channel;
  }

  private ManagedChannel plaintext(CalloutServer server) {
    return channel(server.plaintextAddress().orElseThrow(), InsecureChannelCredentials.create());
  }

  private ManagedChannel secure(CalloutServer server) {
    return channel(
        server.secureAddress().orElseThrow(),
        TlsChannelCredentials.newBuilder().trustManager(new TrustAllCertificates()).build());
  }

  private static CheckRequest check(String... keysAndValues) {
    AttributeContext.HttpRequest.Builder http =
        AttributeContext.HttpRequest.newBuilder().setMethod("GET").setPath("/orders?id=1");
    for (int i = 0; i < keysAndValues.length; i += 2) {
      http.putHeaders(keysAndValues[i], keysAndValues[i + 1]);
    }
    return CheckRequest.newBuilder()
        .setAttributes(
            AttributeContext.newBuilder()
                .setRequest(AttributeContext.Request.newBuilder().setHttp(http)))
        .build();
  }

  private static HeaderValueOption option(String key, String value, boolean append) {
    @SuppressWarnings("deprecation") // append: Envoy's ext_authz client reads it
    HeaderValueOption option =
        HeaderValueOption.newBuilder()
            .setHeader(HeaderValue.newBuilder().setKey(key).setValue(value))
            .setAppend(BoolValue.of(append))
            .setAppendAction(
                append
                    ? HeaderAppendAction.APPEND_IF_EXISTS_OR_ADD
                    : HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD)
            .build();
    return option;
  }

  @Test
  void authz_allowAndDeny_exactDecisions_onBothListeners() throws Exception {
    RouteAndAuthz server = started(new RouteAndAuthz(loopback().build()));
    CheckResponse allowed =
        CheckResponse.newBuilder()
            .setStatus(com.google.rpc.Status.newBuilder().setCode(0))
            .setOkResponse(
                OkHttpResponse.newBuilder()
                    .addHeaders(option("x-user-id", "alice", false))
                    .addHeadersToRemove("cookie"))
            .build();
    CheckResponse denied =
        CheckResponse.newBuilder()
            .setStatus(
                com.google.rpc.Status.newBuilder()
                    .setCode(Status.Code.UNAUTHENTICATED.value())
                    .setMessage("no user"))
            .setDeniedResponse(
                DeniedHttpResponse.newBuilder()
                    .setStatus(HttpStatus.newBuilder().setCodeValue(401))
                    .addHeaders(option("www-authenticate", "Bearer", false))
                    .setBody("who are you?"))
            .build();

    for (ManagedChannel channel : List.of(plaintext(server), secure(server))) {
      AuthorizationGrpc.AuthorizationBlockingStub authz =
          AuthorizationGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS);
      assertThat(authz.check(check("x-user", "alice"))).isEqualTo(allowed);
      assertThat(authz.check(check())).isEqualTo(denied);
    }
  }

  @Test
  void authz_failures_getTheHooksStatusOrInternal() throws Exception {
    RouteAndAuthz server = started(new RouteAndAuthz(loopback().disableTls().build()));
    AuthorizationGrpc.AuthorizationBlockingStub authz =
        AuthorizationGrpc.newBlockingStub(plaintext(server))
            .withDeadlineAfter(10, TimeUnit.SECONDS);

    Status thrown =
        assertThrows(StatusRuntimeException.class, () -> authz.check(check("x-user", "throw")))
            .getStatus();
    Status status =
        assertThrows(StatusRuntimeException.class, () -> authz.check(check("x-user", "status")))
            .getStatus();
    Status contradiction =
        assertThrows(
                StatusRuntimeException.class, () -> authz.check(check("x-user", "contradiction")))
            .getStatus();

    assertThat(thrown.getCode()).isEqualTo(Status.Code.INTERNAL);
    assertThat(thrown.getDescription())
        .isEqualTo("onCheck failed: java.lang.IllegalStateException: boom");
    assertThat(status.getCode()).isEqualTo(Status.Code.UNAVAILABLE);
    assertThat(status.getDescription()).isEqualTo("try later");
    assertThat(contradiction.getCode()).isEqualTo(Status.Code.INTERNAL);
    assertThat(contradiction.getDescription())
        .isEqualTo(
            "onCheck returned a denied_response with status OK, which Envoy reads as an allow");
  }

  @Test
  void authz_hookPastItsDeadline_endsWithDeadlineExceeded() throws Exception {
    RouteAndAuthz server =
        started(
            new RouteAndAuthz(
                loopback().disableTls().hookDeadline(Duration.ofMillis(200)).build()));
    AuthorizationGrpc.AuthorizationBlockingStub authz =
        AuthorizationGrpc.newBlockingStub(plaintext(server))
            .withDeadlineAfter(10, TimeUnit.SECONDS);

    Status status =
        assertThrows(StatusRuntimeException.class, () -> authz.check(check("x-user", "slow")))
            .getStatus();
    server.release.countDown();

    assertThat(status.getCode()).isEqualTo(Status.Code.DEADLINE_EXCEEDED);
    assertThat(status.getDescription())
        .isEqualTo("onCheck did not return within PT0.2S (--hook-deadline)");
  }

  @Test
  void authz_checkInFlightDuringDrain_isAnswered() throws Exception {
    RouteAndAuthz server = started(new RouteAndAuthz(loopback().disableTls().build()));
    AuthorizationGrpc.AuthorizationBlockingStub authz =
        AuthorizationGrpc.newBlockingStub(plaintext(server))
            .withDeadlineAfter(10, TimeUnit.SECONDS);
    AtomicReference<Object> result = new AtomicReference<>();
    Thread caller =
        new Thread(
            () -> {
              try {
                result.set(authz.check(check("x-user", "slow")));
              } catch (StatusRuntimeException e) {
                result.set(e.getStatus());
              }
            });
    caller.start();
    assertThat(server.checking.await(10, TimeUnit.SECONDS)).isTrue();

    Thread closer = new Thread(server::close);
    closer.start();
    Thread.sleep(200); // the drain has begun: listeners refuse new connections
    server.release.countDown();
    caller.join(10_000);
    closer.join(10_000);

    assertThat(result.get()).isEqualTo(AuthzCheck.ALLOW);
  }

  @Test
  void oneProcess_servesExtProcAndAuthz_withHealthAndReflection_onBothListeners() throws Exception {
    RouteAndAuthz server = started(new RouteAndAuthz(loopback().build()));

    for (ManagedChannel channel : List.of(plaintext(server), secure(server))) {
      assertThat(ReflectionProbe.listServices(channel))
          .containsExactly(
              AUTHZ, EXT_PROC, "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection");
      HealthGrpc.HealthBlockingStub health = HealthGrpc.newBlockingStub(channel);
      for (String service : List.of(AUTHZ, EXT_PROC)) {
        assertThat(
                health
                    .check(HealthCheckRequest.newBuilder().setService(service).build())
                    .getStatus())
            .isEqualTo(ServingStatus.SERVING);
      }
      CalloutTester.Stream stream = CalloutTester.forChannel(channel).newStream();
      assertThat(stream.requestHeaders(headers(":path", "/")))
          .isEqualTo(
              ProcessingResponse.newBuilder()
                  .setRequestHeaders(
                      CalloutTools.addHeaderMutation(
                          List.of(java.util.Map.entry("x-route", "yes"))))
                  .build());
      assertThat(stream.halfClose().getCode()).isEqualTo(Status.Code.OK);
    }
  }

  /** Upper-cases what the client writes, closes on "quit", counts what it saw at the end. */
  private static final class Shouting extends CalloutServer {
    static final CalloutContext.Key<Integer> READ = CalloutContext.Key.of("read");
    final LinkedBlockingQueue<String> ended = new LinkedBlockingQueue<>();

    Shouting(CalloutServerConfig config) {
      super(config);
    }

    @Override
    protected @Nullable ByteString onReadData(
        ByteString data, boolean endOfStream, CalloutContext ctx) {
      ctx.put(READ, ctx.get(READ).orElse(0) + data.size());
      String text = data.toStringUtf8();
      if (text.equals("quit")) {
        ctx.closeConnection();
        return null;
      }
      return text.equals("keep")
          ? null
          : ByteString.copyFromUtf8(text.toUpperCase(java.util.Locale.ROOT));
    }

    @Override
    protected void onStreamEnd(CalloutContext ctx, Status status) {
      ended.add(status.getCode() + " read=" + ctx.get(READ).orElse(0));
    }
  }

  private static ProcessingRequest read(String text, boolean endOfStream) {
    return ProcessingRequest.newBuilder()
        .setReadData(
            Data.newBuilder().setData(ByteString.copyFromUtf8(text)).setEndOfStream(endOfStream))
        .build();
  }

  private static ProcessingRequest write(String text, boolean endOfStream) {
    return ProcessingRequest.newBuilder()
        .setWriteData(
            Data.newBuilder().setData(ByteString.copyFromUtf8(text)).setEndOfStream(endOfStream))
        .build();
  }

  private static io.envoyproxy.envoy.service.network_ext_proc.v3.ProcessingResponse reply(
      boolean read,
      String text,
      boolean endOfStream,
      DataProcessedStatus processed,
      ConnectionStatus connection) {
    Data data =
        Data.newBuilder()
            .setData(ByteString.copyFromUtf8(text))
            .setEndOfStream(endOfStream)
            .build();
    var builder =
        io.envoyproxy.envoy.service.network_ext_proc.v3.ProcessingResponse.newBuilder()
            .setDataProcessingStatus(processed)
            .setConnectionStatus(connection);
    return (read ? builder.setReadData(data) : builder.setWriteData(data)).build();
  }

  @Test
  void network_repliesInOrder_inTheMessagesDirection_passThroughReplaceAndClose() throws Exception {
    Shouting server = started(new Shouting(loopback().disableTls().build()));
    ManagedChannel channel = plaintext(server);
    assertThat(ReflectionProbe.listServices(channel))
        .containsExactly("grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection", NETWORK);

    LinkedBlockingQueue<Object> replies = new LinkedBlockingQueue<>();
    StreamObserver<ProcessingRequest> requests =
        NetworkExternalProcessorGrpc.newStub(channel)
            .process(
                new StreamObserver<>() {
                  @Override
                  public void onNext(
                      io.envoyproxy.envoy.service.network_ext_proc.v3.ProcessingResponse value) {
                    replies.add(value);
                  }

                  @Override
                  public void onError(Throwable t) {
                    replies.add(Status.fromThrowable(t));
                  }

                  @Override
                  public void onCompleted() {
                    replies.add(Status.OK);
                  }
                });
    requests.onNext(read("hello", false));
    requests.onNext(write("from upstream", false));
    requests.onNext(read("keep", false));
    requests.onNext(write("", true));
    requests.onNext(read("quit", false));
    requests.onNext(read("ignored after the close", true));

    assertThat(replies.poll(10, TimeUnit.SECONDS))
        .isEqualTo(
            reply(true, "HELLO", false, DataProcessedStatus.MODIFIED, ConnectionStatus.CONTINUE));
    assertThat(replies.poll(10, TimeUnit.SECONDS))
        .isEqualTo(
            reply(
                false,
                "from upstream",
                false,
                DataProcessedStatus.UNMODIFIED,
                ConnectionStatus.CONTINUE));
    assertThat(replies.poll(10, TimeUnit.SECONDS))
        .isEqualTo(
            reply(true, "keep", false, DataProcessedStatus.UNMODIFIED, ConnectionStatus.CONTINUE));
    assertThat(replies.poll(10, TimeUnit.SECONDS))
        .isEqualTo(
            reply(false, "", true, DataProcessedStatus.UNMODIFIED, ConnectionStatus.CONTINUE));
    assertThat(replies.poll(10, TimeUnit.SECONDS))
        .isEqualTo(
            reply(true, "quit", false, DataProcessedStatus.UNMODIFIED, ConnectionStatus.CLOSE));
    assertThat(replies.poll(300, TimeUnit.MILLISECONDS)).isNull();

    requests.onCompleted();
    assertThat(replies.poll(10, TimeUnit.SECONDS)).isEqualTo(Status.OK);
    assertThat(server.ended.poll(10, TimeUnit.SECONDS)).isEqualTo("OK read=13");
  }
}

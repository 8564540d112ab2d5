package dev.extproc.callout.samples.xds;

import com.google.protobuf.StringValue;
import io.grpc.ForwardingServerCallListener;
import io.grpc.InsecureServerCredentials;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Server;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.ServerServiceDefinition;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.protobuf.ProtoUtils;
import io.grpc.stub.ServerCalls;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * A real grpc-java backend for the xDS tests: service {@code test.Echo} with a unary and a
 * bidirectional-streaming method over {@link StringValue}, answering each message with {@code
 * "echo:"} and its value. It records, per call (named by the {@code x-call-id} header the test
 * gives every call), the {@code x-env} values and the messages that reached it.
 */
final class EchoBackend {

  /** The header that names a call, so that a retried call's attempts stay apart. */
  static final Metadata.Key<String> CALL_ID =
      Metadata.Key.of("x-call-id", Metadata.ASCII_STRING_MARSHALLER);

  /** A header whose values the backend records. */
  static final Metadata.Key<String> ENV =
      Metadata.Key.of("x-env", Metadata.ASCII_STRING_MARSHALLER);

  /** {@code test.Echo/Unary}. */
  static final MethodDescriptor<StringValue, StringValue> UNARY =
      method(MethodDescriptor.MethodType.UNARY, "Unary");

  /**
   * {@code test.Echo/Unary} as a client may call it with a descriptor of type BIDI_STREAMING: the
   * same messages on the wire, but grpc-java reports {@code onReady} to the client's interceptors.
   */
  static final MethodDescriptor<StringValue, StringValue> UNARY_AS_STREAMING =
      UNARY.toBuilder().setType(MethodDescriptor.MethodType.BIDI_STREAMING).build();

  /** {@code test.Echo/Bidi}: one answer per message, as it arrives. */
  static final MethodDescriptor<StringValue, StringValue> BIDI =
      method(MethodDescriptor.MethodType.BIDI_STREAMING, "Bidi");

  /** What reached the backend in one call: its {@code x-env} values and messages, in order. */
  record Call(List<String> env, List<String> messages) {}

  private final Map<String, Call> calls = new ConcurrentHashMap<>();
  private final Server server;

  EchoBackend() throws IOException {
    server =
        NettyServerBuilder.forAddress(
                new InetSocketAddress(XdsManagementServer.LOOPBACK, 0),
                InsecureServerCredentials.create())
            .addService(ServerInterceptors.intercept(service(), new Recorder()))
            .build()
            .start();
  }

  int port() {
    return server.getPort();
  }

  /** What reached the backend in the call {@code callId}, or an empty call if none did. */
  Call call(String callId) {
    Call call = calls.get(callId);
    if (call == null) {
      return new Call(List.of(), List.of());
    }
    synchronized (call.messages()) {
      return new Call(call.env(), List.copyOf(call.messages()));
    }
  }

  void close() throws InterruptedException {
    server.shutdownNow();
    server.awaitTermination(10, TimeUnit.SECONDS);
  }

  /** The answer to {@code request}. */
  static String echo(String request) {
    return "echo:" + request;
  }

  private static MethodDescriptor<StringValue, StringValue> method(
      MethodDescriptor.MethodType type, String name) {
    return MethodDescriptor.<StringValue, StringValue>newBuilder()
        .setType(type)
        .setFullMethodName(MethodDescriptor.generateFullMethodName("test.Echo", name))
        .setRequestMarshaller(ProtoUtils.marshaller(StringValue.getDefaultInstance()))
        .setResponseMarshaller(ProtoUtils.marshaller(StringValue.getDefaultInstance()))
        .build();
  }

  private static ServerServiceDefinition service() {
    return ServerServiceDefinition.builder("test.Echo")
        .addMethod(
            UNARY,
            ServerCalls.asyncUnaryCall(
                (request, responses) -> {
                  responses.onNext(StringValue.of(echo(request.getValue())));
                  responses.onCompleted();
                }))
        .addMethod(
            BIDI,
            ServerCalls.asyncBidiStreamingCall(
                (StreamObserver<StringValue> responses) ->
                    new StreamObserver<StringValue>() {
                      @Override
                      public void onNext(StringValue request) {
                        responses.onNext(StringValue.of(echo(request.getValue())));
                      }

                      @Override
                      public void onError(Throwable t) {
                        // The client cancelled: nothing to answer.
                      }

                      @Override
                      public void onCompleted() {
                        responses.onCompleted();
                      }
                    }))
        .build();
  }

  /** Records each call's headers and messages under its call id. */
  private final class Recorder implements ServerInterceptor {
    @Override
    public <ReqT, RespT> ServerCall.Listener<ReqT> interceptCall(
        ServerCall<ReqT, RespT> call, Metadata headers, ServerCallHandler<ReqT, RespT> next) {
      Iterable<String> env = headers.getAll(ENV);
      Call recorded = new Call(env == null ? List.of() : copy(env), new ArrayList<>());
      String callId = headers.get(CALL_ID);
      if (callId != null) {
        calls.put(callId, recorded);
      }
      return new ForwardingServerCallListener.SimpleForwardingServerCallListener<>(
          next.startCall(call, headers)) {
        @Override
        public void onMessage(ReqT message) {
          synchronized (recorded.messages()) {
            recorded.messages().add(((StringValue) message).getValue());
          }
          super.onMessage(message);
        }
      };
    }

    private List<String> copy(Iterable<String> values) {
      List<String> list = new ArrayList<>();
      values.forEach(list::add);
      return List.copyOf(list);
    }
  }
}

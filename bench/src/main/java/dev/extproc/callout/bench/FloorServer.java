package dev.extproc.callout.bench;

import com.google.common.net.HostAndPort;
import com.google.protobuf.Descriptors.FieldDescriptor;
import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ProcessingMode.BodySendMode;
import io.envoyproxy.envoy.service.ext_proc.v3.BodyResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.ExternalProcessorGrpc;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpBody;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest.RequestCase;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.grpc.Server;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.util.EnumMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The floor every result is compared with: a bare grpc-java ext_proc server, no framework code,
 * that answers each message with the empty reply of its type ({@code request_headers} gets {@code
 * request_headers: {}}, and so on), and echoes FULL_DUPLEX_STREAMED body chunks back as {@code
 * streamed_response} so a pass-through body arrives whole. Messages are handled on the transport
 * thread ({@code directExecutor}); observability-mode messages get no reply.
 *
 * <pre>
 * java -cp target/callout-bench.jar dev.extproc.callout.bench.FloorServer --address 127.0.0.1:9080
 * </pre>
 */
public final class FloorServer implements AutoCloseable {

  /** Where {@link #main} listens without {@code --address}: the framework's plaintext default. */
  public static final String DEFAULT_ADDRESS = "0.0.0.0:8080";

  /** The empty reply to each kind of message (the reply's oneof field has the same name). */
  private static final Map<RequestCase, ProcessingResponse> EMPTY_REPLIES = emptyReplies();

  private final Server server;

  private FloorServer(Server server) {
    this.server = server;
  }

  /**
   * Starts the floor on {@code address} (port 0: any free port).
   *
   * @throws IOException if it cannot bind
   */
  public static FloorServer start(InetSocketAddress address) throws IOException {
    return new FloorServer(
        NettyServerBuilder.forAddress(address)
            .directExecutor()
            // Envoy sends whole BUFFERED bodies as one message; the framework's default limit.
            .maxInboundMessageSize(16 * 1024 * 1024)
            .addService(new Service())
            .build()
            .start());
  }

  /** The port it listens on. */
  public int port() {
    return server.getPort();
  }

  /** Stops it, cancelling the streams still open. */
  @Override
  public void close() {
    server.shutdownNow();
    try {
      server.awaitTermination(5, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /** Runs the floor until SIGTERM: {@code [--address HOST:PORT]}. */
  public static void main(String[] args) throws Exception {
    System.exit(run(args, System.out, System.err));
  }

  static int run(String[] args, PrintStream out, PrintStream err) throws InterruptedException {
    String address = DEFAULT_ADDRESS;
    if (args.length == 2 && args[0].equals("--address")) {
      address = args[1];
    } else if (args.length == 1 && args[0].startsWith("--address=")) {
      address = args[0].substring("--address=".length());
    } else if (args.length != 0) {
      err.println("Usage: FloorServer [--address HOST:PORT]   (default " + DEFAULT_ADDRESS + ")");
      return LoadGen.EXIT_USAGE;
    }
    FloorServer floor;
    try {
      HostAndPort hostPort = HostAndPort.fromString(address).requireBracketsForIPv6();
      floor = start(new InetSocketAddress(hostPort.getHost(), hostPort.getPort()));
    } catch (IllegalArgumentException | IllegalStateException | IOException e) {
      err.println("floor server: " + address + ": " + e.getMessage());
      return LoadGen.EXIT_ERRORS;
    }
    Runtime.getRuntime().addShutdownHook(new Thread(floor::close, "floor-shutdown"));
    out.println("floor server listening on port " + floor.port());
    out.flush();
    floor.server.awaitTermination();
    return 0;
  }

  private static Map<RequestCase, ProcessingResponse> emptyReplies() {
    Map<RequestCase, ProcessingResponse> replies = new EnumMap<>(RequestCase.class);
    for (RequestCase kind : RequestCase.values()) {
      if (kind != RequestCase.REQUEST_NOT_SET) {
        String name =
            ProcessingRequest.getDescriptor().findFieldByNumber(kind.getNumber()).getName();
        FieldDescriptor field = ProcessingResponse.getDescriptor().findFieldByName(name);
        ProcessingResponse.Builder reply = ProcessingResponse.newBuilder();
        replies.put(kind, reply.setField(field, reply.newBuilderForField(field).build()).build());
      }
    }
    return replies;
  }

  private static final class Service extends ExternalProcessorGrpc.ExternalProcessorImplBase {
    @Override
    public StreamObserver<ProcessingRequest> process(StreamObserver<ProcessingResponse> replies) {
      // Without a cancel handler, a reply written after Envoy's reset would throw.
      ((ServerCallStreamObserver<ProcessingResponse>) replies).setOnCancelHandler(() -> {});
      return new FloorStream(replies);
    }
  }

  /** One stream: remembers which directions are full-duplex, answers every message at once. */
  private static final class FloorStream implements StreamObserver<ProcessingRequest> {
    private final StreamObserver<ProcessingResponse> replies;
    private boolean requestFullDuplex;
    private boolean responseFullDuplex;

    FloorStream(StreamObserver<ProcessingResponse> replies) {
      this.replies = replies;
    }

    @Override
    public void onNext(ProcessingRequest request) {
      if (request.getObservabilityMode()) {
        return;
      }
      if (request.hasProtocolConfig()) {
        requestFullDuplex =
            request.getProtocolConfig().getRequestBodyMode() == BodySendMode.FULL_DUPLEX_STREAMED;
        responseFullDuplex =
            request.getProtocolConfig().getResponseBodyMode() == BodySendMode.FULL_DUPLEX_STREAMED;
      }
      RequestCase kind = request.getRequestCase();
      if (kind == RequestCase.REQUEST_BODY && requestFullDuplex) {
        replies.onNext(
            ProcessingResponse.newBuilder().setRequestBody(echo(request.getRequestBody())).build());
      } else if (kind == RequestCase.RESPONSE_BODY && responseFullDuplex) {
        replies.onNext(
            ProcessingResponse.newBuilder()
                .setResponseBody(echo(request.getResponseBody()))
                .build());
      } else if (kind != RequestCase.REQUEST_NOT_SET) {
        replies.onNext(EMPTY_REPLIES.get(kind));
      }
    }

    private static BodyResponse echo(HttpBody chunk) {
      BodyResponse.Builder echo = BodyResponse.newBuilder();
      echo.getResponseBuilder()
          .getBodyMutationBuilder()
          .getStreamedResponseBuilder()
          .setBody(chunk.getBody())
          .setEndOfStream(chunk.getEndOfStream());
      return echo.build();
    }

    @Override
    public void onError(Throwable t) {}

    @Override
    public void onCompleted() {
      replies.onCompleted();
    }
  }
}

package dev.extproc.callout.samples.xds;

import dev.extproc.callout.CalloutTools;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.grpc.ForwardingServerCall;
import io.grpc.ForwardingServerCallListener;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Queue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;

/**
 * Records every ext_proc stream of the callout it intercepts, exactly as parsed from and written to
 * the wire: the {@link ProcessingRequest}s received and the {@link ProcessingResponse}s sent, in
 * order (newer fields stay unknown fields, to be read by number), and how the stream closed.
 */
final class ExtProcRecorder implements ServerInterceptor {

  /** One recorded stream. */
  static final class Stream {
    private final List<ProcessingRequest> requests = new ArrayList<>();
    private final List<ProcessingResponse> responses = new ArrayList<>();
    private final CompletableFuture<Status> closed = new CompletableFuture<>();

    /** Every message the client sent so far. */
    synchronized List<ProcessingRequest> requests() {
      return List.copyOf(requests);
    }

    /** Every message the callout sent so far. */
    synchronized List<ProcessingResponse> responses() {
      return List.copyOf(responses);
    }

    /** Completes with the status the callout closed the stream with. */
    CompletableFuture<Status> closed() {
      return closed;
    }

    synchronized Optional<String> header(String key) {
      if (requests.isEmpty() || !requests.get(0).hasRequestHeaders()) {
        return Optional.empty();
      }
      return requests.get(0).getRequestHeaders().getHeaders().getHeadersList().stream()
          .filter(header -> header.getKey().equals(key))
          .map(CalloutTools::headerValue)
          .findFirst();
    }

    private synchronized void received(ProcessingRequest request) {
      requests.add(request);
    }

    private synchronized void sent(ProcessingResponse response) {
      responses.add(response);
    }
  }

  private final Queue<Stream> streams = new ConcurrentLinkedQueue<>();

  /**
   * The stream whose {@code request_headers} carry {@code x-call-id: callId}. Complete once the
   * data-plane call has ended: the client waits for the callout's last reply before it ends the
   * call, and a reply is recorded before it is written.
   */
  Stream stream(String callId) {
    return streams.stream()
        .filter(stream -> stream.header(EchoBackend.CALL_ID.name()).equals(Optional.of(callId)))
        .findFirst()
        .orElseThrow(() -> new AssertionError("no ext_proc stream for call " + callId));
  }

  @Override
  public <ReqT, RespT> ServerCall.Listener<ReqT> interceptCall(
      ServerCall<ReqT, RespT> call, Metadata headers, ServerCallHandler<ReqT, RespT> next) {
    Stream stream = new Stream();
    streams.add(stream);
    ServerCall<ReqT, RespT> recording =
        new ForwardingServerCall.SimpleForwardingServerCall<>(call) {
          @Override
          public void sendMessage(RespT message) {
            stream.sent((ProcessingResponse) message);
            super.sendMessage(message);
          }

          @Override
          public void close(Status status, Metadata trailers) {
            stream.closed.complete(status);
            super.close(status, trailers);
          }
        };
    return new ForwardingServerCallListener.SimpleForwardingServerCallListener<>(
        next.startCall(recording, headers)) {
      @Override
      public void onMessage(ReqT message) {
        stream.received((ProcessingRequest) message);
        super.onMessage(message);
      }
    };
  }
}

package dev.extproc.callout.bench.jmh;

import io.envoyproxy.envoy.service.ext_proc.v3.ExternalProcessorGrpc;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.grpc.Attributes;
import io.grpc.Grpc;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.ServerCall;
import io.grpc.Status;
import java.net.InetSocketAddress;
import org.jspecify.annotations.Nullable;

/**
 * The benchmarks' stand-in for grpc-java's server call: it counts what the engine sends and keeps
 * the last reply and the closing status, so a run can be checked for having measured the intended
 * path. Its attributes carry a remote address, as a transport's do. Confined to the benchmark
 * thread.
 */
final class CountingServerCall extends ServerCall<ProcessingRequest, ProcessingResponse> {
  private static final Attributes ATTRIBUTES =
      Attributes.newBuilder()
          .set(Grpc.TRANSPORT_ATTR_REMOTE_ADDR, new InetSocketAddress("10.1.2.3", 41234))
          .build();

  long requested;
  long headersSent;
  long messagesSent;
  long closes;
  @Nullable ProcessingResponse lastMessage;
  @Nullable Status lastStatus;

  @Override
  public void request(int numMessages) {
    requested += numMessages;
  }

  @Override
  public void sendHeaders(Metadata headers) {
    headersSent++;
  }

  @Override
  public void sendMessage(ProcessingResponse message) {
    messagesSent++;
    lastMessage = message;
  }

  @Override
  public void close(Status status, Metadata trailers) {
    closes++;
    lastStatus = status;
  }

  @Override
  public boolean isCancelled() {
    return false;
  }

  @Override
  public Attributes getAttributes() {
    return ATTRIBUTES;
  }

  @Override
  public MethodDescriptor<ProcessingRequest, ProcessingResponse> getMethodDescriptor() {
    return ExternalProcessorGrpc.getProcessMethod();
  }
}

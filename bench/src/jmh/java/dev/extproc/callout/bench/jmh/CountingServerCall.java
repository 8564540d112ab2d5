package dev.extproc.callout;

import io.envoyproxy.envoy.service.ext_proc.v3.ExternalProcessorGrpc;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.ServerCall;
import io.grpc.Status;
import org.jspecify.annotations.Nullable;

/**
 * The benchmarks' stand-in for grpc-java's server call: it counts what the engine sends and keeps
 * the last reply and the closing status, so a run can be checked for having measured the intended
 * path. Confined to the benchmark thread.
 */
final class CountingServerCall extends ServerCall<ProcessingRequest, ProcessingResponse> {
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
  public MethodDescriptor<ProcessingRequest, ProcessingResponse> getMethodDescriptor() {
    return ExternalProcessorGrpc.getProcessMethod();
  }
}

package dev.extproc.callout;

import com.google.protobuf.ByteString;
import io.envoyproxy.envoy.service.network_ext_proc.v3.Data;
import io.envoyproxy.envoy.service.network_ext_proc.v3.NetworkExternalProcessorGrpc;
import io.envoyproxy.envoy.service.network_ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.network_ext_proc.v3.ProcessingResponse;
import io.envoyproxy.envoy.service.network_ext_proc.v3.ProcessingResponse.ConnectionStatus;
import io.envoyproxy.envoy.service.network_ext_proc.v3.ProcessingResponse.DataProcessedStatus;
import io.grpc.Metadata;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The network ext_proc protocol of one connection's stream: each {@code read_data} or {@code
 * write_data} message goes to {@link CalloutServer#onReadData} or {@link CalloutServer#onWriteData}
 * and gets exactly one reply, in order, in the message's direction.
 *
 * <p>Envoy's network filter drains the original bytes when it sends them and injects the reply's
 * bytes whatever {@code data_processing_status} says, so a pass-through echoes the bytes (with
 * {@code UNMODIFIED}), never an empty reply; the reply keeps the message's {@code end_of_stream}.
 * After a reply with {@code connection_status} {@code CLOSE} (a FIN) or {@code CLOSE_RST} (a
 * reset), Envoy ignores the connection's later messages, and so does this.
 */
final class NetworkCore implements StreamProtocol<ProcessingRequest> {
  private static final Logger logger = LoggerFactory.getLogger(NetworkCore.class);

  private final CalloutServer callout;
  private final CalloutMetrics metrics;
  private final CalloutContext ctx;
  private final StreamSink<ProcessingResponse> sink;
  private boolean connectionClosed;

  private NetworkCore(
      CalloutServer callout,
      CalloutMetrics metrics,
      CalloutContext ctx,
      StreamSink<ProcessingResponse> sink) {
    this.callout = callout;
    this.metrics = metrics;
    this.ctx = ctx;
    this.sink = sink;
  }

  /** The {@code NetworkExternalProcessor} service backed by {@code callout}. */
  static ServerServiceDefinition service(
      CalloutServer callout, CalloutMetrics metrics, CalloutStream.Transport transport) {
    return CalloutStream.service(
        NetworkExternalProcessorGrpc.getServiceDescriptor(),
        NetworkExternalProcessorGrpc.getProcessMethod(),
        transport,
        (ctx, sink) -> new NetworkCore(callout, metrics, ctx, sink));
  }

  @Override
  public void start() {
    metrics.connectionStarted();
    StreamCore.startHook(callout, ctx, sink);
  }

  @Override
  @SuppressWarnings("ReferenceEquality") // the hook returning the bytes it got means unchanged
  public void onMessage(ProcessingRequest request) {
    if (SupervisedHook.refuseOversized(sink, request, callout.config())) {
      return;
    }
    boolean read = request.hasReadData();
    if (!read && !request.hasWriteData()) {
      sink.close(
          Status.INVALID_ARGUMENT.withDescription(
              "a network ProcessingRequest with neither read_data nor write_data"),
          new Metadata());
      return;
    }
    if (connectionClosed) {
      logger.debug("[{}] data after the connection was closed: ignored", ctx.streamId());
      return;
    }
    Data data = read ? request.getReadData() : request.getWriteData();
    metrics.networkData(read, data.getData().size());
    String hook = read ? "onReadData" : "onWriteData";
    ByteString in = data.getData();
    ByteString out =
        SupervisedHook.run(
            sink,
            ctx,
            hook,
            () ->
                read
                    ? callout.onReadData(in, data.getEndOfStream(), ctx)
                    : callout.onWriteData(in, data.getEndOfStream(), ctx),
            in);
    ConnectionStatus close = ctx.takeConnectionClose();
    if (out == null) {
      return;
    }
    Data reply = data.getData() == out ? data : data.toBuilder().setData(out).build();
    ProcessingResponse.Builder response =
        ProcessingResponse.newBuilder()
            .setDataProcessingStatus(
                reply == data ? DataProcessedStatus.UNMODIFIED : DataProcessedStatus.MODIFIED)
            .setConnectionStatus(close);
    if (read) {
      response.setReadData(reply);
    } else {
      response.setWriteData(reply);
    }
    if (close != ConnectionStatus.CONTINUE) {
      connectionClosed = true;
      logger.debug("[{}] {} closes the connection: {}", ctx.streamId(), hook, close);
    }
    sink.send(response.build());
  }

  @Override
  public void end(Status status) {
    StreamCore.endHook(callout, ctx, status);
  }
}

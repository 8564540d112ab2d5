package dev.extproc.callout;

import com.google.protobuf.UnknownFieldSet;
import io.envoyproxy.envoy.service.ext_proc.v3.ExternalProcessorGrpc;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.grpc.KnownLength;
import io.grpc.MethodDescriptor;
import io.grpc.ServiceDescriptor;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.List;

/**
 * Parses ext_proc requests, except one over {@link CalloutServerConfig#maxInboundMessageSize()}:
 * that becomes a marker carrying its size, which {@link StreamCore} answers with a {@code
 * RESOURCE_EXHAUSTED} that names the limit. gRPC's transport knows each message's length, so the
 * check costs nothing, and an oversized message is never parsed.
 */
final class SizeCheckedRequests implements MethodDescriptor.Marshaller<ProcessingRequest> {

  /** The marker's field: the highest field number protobuf allows, which no Envoy proto uses. */
  static final int SIZE_FIELD = (1 << 29) - 1;

  private final MethodDescriptor.Marshaller<ProcessingRequest> protobuf =
      ExternalProcessorGrpc.getProcessMethod().getRequestMarshaller();
  private final int limit;

  SizeCheckedRequests(int limit) {
    this.limit = limit;
  }

  /** The ext_proc method, its requests parsed by a {@code SizeCheckedRequests}. */
  static MethodDescriptor<ProcessingRequest, ProcessingResponse> processMethod(int limit) {
    MethodDescriptor<ProcessingRequest, ProcessingResponse> method =
        ExternalProcessorGrpc.getProcessMethod();
    return method.toBuilder(new SizeCheckedRequests(limit), method.getResponseMarshaller()).build();
  }

  /**
   * The ext_proc service with {@code method} (from {@link #processMethod}), keeping the generated
   * descriptor's schema for the reflection service.
   */
  static ServiceDescriptor service(MethodDescriptor<?, ?> method) {
    ServiceDescriptor generated = ExternalProcessorGrpc.getServiceDescriptor();
    return ServiceDescriptor.newBuilder(generated.getName())
        .setSchemaDescriptor(generated.getSchemaDescriptor())
        .addMethod(method)
        .build();
  }

  @Override
  public InputStream stream(ProcessingRequest value) {
    return protobuf.stream(value);
  }

  @Override
  public ProcessingRequest parse(InputStream stream) {
    if (stream instanceof KnownLength) {
      int size;
      try {
        size = stream.available();
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
      if (size > limit) {
        return marker(size);
      }
      return protobuf.parse(stream);
    }
    ProcessingRequest request = protobuf.parse(stream);
    int size = request.getSerializedSize();
    return size > limit ? marker(size) : request;
  }

  /** The size of the oversized message {@code request} stands for, or -1 for a real request. */
  static long oversizedBytes(ProcessingRequest request) {
    UnknownFieldSet unknown = request.getUnknownFields();
    if (!unknown.hasField(SIZE_FIELD)) { // a map lookup; asMap() would copy the map
      return -1;
    }
    List<Long> size = unknown.getField(SIZE_FIELD).getVarintList();
    return size.isEmpty() ? -1 : size.get(0);
  }

  private static ProcessingRequest marker(int size) {
    return ProcessingRequest.newBuilder()
        .setUnknownFields(
            UnknownFieldSet.newBuilder()
                .addField(SIZE_FIELD, UnknownFieldSet.Field.newBuilder().addVarint(size).build())
                .build())
        .build();
  }
}

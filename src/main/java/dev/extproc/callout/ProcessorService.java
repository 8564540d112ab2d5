package dev.extproc.callout;

import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.grpc.MethodDescriptor;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;
import java.util.concurrent.Executor;
import org.jspecify.annotations.Nullable;

/**
 * The {@code ExternalProcessor} service of one {@link CalloutServer}: its hooks behind the stream
 * engine, with the server's mutation guard and which optional hooks its subclass overrides.
 */
final class ProcessorService {
  private final CalloutServer server;
  private final CalloutServerConfig config;
  private final MutationGuard guard;
  private final boolean overridesProcess;
  private final boolean overridesStreamStart;
  private final boolean overridesStreamEnd;

  ProcessorService(CalloutServer server, CalloutServerConfig config) {
    this.server = server;
    this.config = config;
    Class<?> type = server.getClass();
    this.overridesProcess =
        declares(type, "process", ProcessingRequest.class, CalloutContext.class);
    this.overridesStreamStart = declares(type, "onStreamStart", CalloutContext.class);
    this.overridesStreamEnd = declares(type, "onStreamEnd", CalloutContext.class, Status.class);
    this.guard =
        new MutationGuard(
            config.mutationPolicy(), config.mutationProfile(), config.allowedMutationHeaders());
  }

  /** See {@link CalloutServer#service()}. */
  ServerServiceDefinition definition(
      CalloutMetrics metrics, StreamRegistry streams, @Nullable Executor hookExecutor) {
    StreamCore.Shared shared =
        new StreamCore.Shared(
            server,
            guard,
            metrics,
            streams,
            hookExecutor,
            overridesProcess,
            overridesStreamStart,
            overridesStreamEnd);
    MethodDescriptor<ProcessingRequest, ProcessingResponse> process =
        SizeCheckedRequests.processMethod(config.maxInboundMessageSize());
    return ServerServiceDefinition.builder(SizeCheckedRequests.service(process))
        .addMethod(process, (call, headers) -> CalloutStream.open(shared, call))
        .build();
  }

  /** Whether a subclass between {@code type} and CalloutServer declares the given method. */
  private static boolean declares(Class<?> type, String name, Class<?>... parameterTypes) {
    for (Class<?> c = type; c != null && c != CalloutServer.class; c = c.getSuperclass()) {
      for (java.lang.reflect.Method method : c.getDeclaredMethods()) {
        if (method.getName().equals(name)
            && java.util.Arrays.equals(method.getParameterTypes(), parameterTypes)) {
          return true;
        }
      }
    }
    return false;
  }
}

package dev.extproc.callout;

import com.google.protobuf.ByteString;
import io.envoyproxy.envoy.service.auth.v3.CheckRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.grpc.MethodDescriptor;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executor;
import org.jspecify.annotations.Nullable;

/**
 * The gRPC services of one {@link CalloutServer}: which of ext_proc, ext_authz and network ext_proc
 * its subclass implements (by the hooks it overrides), and each one's definition behind the stream
 * engine, ext_proc's with the server's mutation guard.
 */
final class CalloutServices {
  private final CalloutServer server;
  private final CalloutServerConfig config;
  private final MutationGuard guard;
  private final boolean overridesProcess;
  private final boolean overridesStreamStart;
  private final boolean overridesStreamEnd;
  private final boolean servesAuthz;
  private final boolean servesNetwork;
  private final boolean servesExtProc;

  CalloutServices(CalloutServer server, CalloutServerConfig config) {
    this.server = server;
    this.config = config;
    Class<?> type = server.getClass();
    this.overridesProcess =
        declares(type, "process", ProcessingRequest.class, CalloutContext.class);
    this.overridesStreamStart = declares(type, "onStreamStart", CalloutContext.class);
    this.overridesStreamEnd = declares(type, "onStreamEnd", CalloutContext.class, Status.class);
    this.servesAuthz = declares(type, "onCheck", CheckRequest.class, CalloutContext.class);
    this.servesNetwork =
        declares(type, "onReadData", ByteString.class, boolean.class, CalloutContext.class)
            || declares(type, "onWriteData", ByteString.class, boolean.class, CalloutContext.class);
    this.servesExtProc = overridesProcess || declaresHook(type) || !(servesAuthz || servesNetwork);
    this.guard =
        new MutationGuard(
            config.mutationPolicy(), config.mutationProfile(), config.allowedMutationHeaders());
  }

  /** See {@link CalloutServer#services()}. */
  List<ServerServiceDefinition> list(
      CalloutMetrics metrics, StreamRegistry streams, @Nullable Executor hookExecutor) {
    List<ServerServiceDefinition> services = new ArrayList<>(3);
    if (servesExtProc) {
      services.add(processor(metrics, streams, hookExecutor));
    }
    if (servesAuthz) {
      services.add(
          AuthzCheck.service(
              server, metrics, new CalloutStream.Transport(streams, hookExecutor, false, false)));
    }
    if (servesNetwork) {
      services.add(
          NetworkCore.service(
              server,
              metrics,
              new CalloutStream.Transport(
                  streams, hookExecutor, overridesStreamStart, overridesStreamEnd)));
    }
    return services;
  }

  /** See {@link CalloutServer#service()}. */
  ServerServiceDefinition processor(
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
    CalloutStream.Transport transport =
        new CalloutStream.Transport(
            streams, hookExecutor, overridesStreamStart, overridesStreamEnd);
    return CalloutStream.service(
        SizeCheckedRequests.service(process),
        process,
        transport,
        (ctx, sink) -> {
          ctx.standaloneSender(sink);
          return new StreamCore(shared, ctx, sink);
        });
  }

  /** Whether a subclass between {@code type} and CalloutServer declares one of the six hooks. */
  private static boolean declaresHook(Class<?> type) {
    for (Class<?> c = type; c != null && c != CalloutServer.class; c = c.getSuperclass()) {
      for (java.lang.reflect.Method method : c.getDeclaredMethods()) {
        for (Phase phase : Phase.values()) {
          if (method.getName().equals(phase.hookName())) {
            return true;
          }
        }
      }
    }
    return false;
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

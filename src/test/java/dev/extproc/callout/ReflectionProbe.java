package dev.extproc.callout;

import static com.google.common.truth.Truth.assertThat;

import io.grpc.Channel;
import io.grpc.reflection.v1.ServerReflectionGrpc;
import io.grpc.reflection.v1.ServerReflectionRequest;
import io.grpc.reflection.v1.ServerReflectionResponse;
import io.grpc.reflection.v1.ServiceResponse;
import io.grpc.stub.StreamObserver;
import java.util.List;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/** Asks a server's reflection service, over a real channel, which services it serves. */
final class ReflectionProbe {
  private ReflectionProbe() {}

  /** The names of the services behind {@code channel}, sorted. */
  static List<String> listServices(Channel channel) throws InterruptedException {
    LinkedBlockingQueue<ServerReflectionResponse> replies = new LinkedBlockingQueue<>();
    StreamObserver<ServerReflectionRequest> requests =
        ServerReflectionGrpc.newStub(channel)
            .serverReflectionInfo(
                new StreamObserver<>() {
                  @Override
                  public void onNext(ServerReflectionResponse value) {
                    replies.add(value);
                  }

                  @Override
                  public void onError(Throwable t) {}

                  @Override
                  public void onCompleted() {}
                });
    requests.onNext(ServerReflectionRequest.newBuilder().setListServices("").build());
    ServerReflectionResponse reply = replies.poll(10, TimeUnit.SECONDS);
    requests.onCompleted();
    assertThat(reply).isNotNull();
    return reply.getListServicesResponse().getServiceList().stream()
        .map(ServiceResponse::getName)
        .sorted()
        .toList();
  }
}

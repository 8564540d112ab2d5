package dev.extproc.callout.samples.blockip;

import com.google.common.net.InetAddresses;
import com.google.protobuf.Any;
import com.google.protobuf.Message;
import io.envoyproxy.envoy.service.discovery.v3.AggregatedDiscoveryServiceGrpc;
import io.envoyproxy.envoy.service.discovery.v3.DiscoveryRequest;
import io.envoyproxy.envoy.service.discovery.v3.DiscoveryResponse;
import io.grpc.InsecureServerCredentials;
import io.grpc.Server;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

/**
 * A minimal xDS management server for a test: state-of-the-world ADS over one gRPC stream, on
 * {@code 127.0.0.1} port 0, serving one fixed version of a fixed set of resources. Each request for
 * a type gets every resource of that type it names (or all of them); ACKs get nothing, and so would
 * a later change of the names asked for, which a fixed configuration never causes. NACKs are kept,
 * so that a test can say why grpc-java refused a resource.
 */
final class XdsManagementServer {

  private static final String VERSION = "1";

  /** {@code 127.0.0.1}, parsed, never looked up. */
  static final InetAddress LOOPBACK = InetAddresses.forString("127.0.0.1");

  private final Map<String, Map<String, Any>> resources = new ConcurrentHashMap<>();
  private final List<String> nacks = new CopyOnWriteArrayList<>();
  private final Server server;

  XdsManagementServer() throws IOException {
    server =
        NettyServerBuilder.forAddress(
                new InetSocketAddress(LOOPBACK, 0), InsecureServerCredentials.create())
            .addService(new Ads())
            .build()
            .start();
  }

  /** The address grpc-java's xDS client connects to (the bootstrap's {@code server_uri}). */
  String target() {
    return "127.0.0.1:" + server.getPort();
  }

  /** Serves {@code resource} under {@code name}; its type URL is the one {@link Any} gives it. */
  void put(String name, Message resource) {
    Any any = Any.pack(resource);
    resources.computeIfAbsent(any.getTypeUrl(), type -> new ConcurrentHashMap<>()).put(name, any);
  }

  /** Every NACK grpc-java sent: its type URL and error message. */
  List<String> nacks() {
    return List.copyOf(nacks);
  }

  /** Stops the server at once, ending the ADS stream. */
  void close() throws InterruptedException {
    server.shutdownNow();
    server.awaitTermination(10, TimeUnit.SECONDS);
  }

  private final class Ads
      extends AggregatedDiscoveryServiceGrpc.AggregatedDiscoveryServiceImplBase {
    @Override
    public StreamObserver<DiscoveryRequest> streamAggregatedResources(
        StreamObserver<DiscoveryResponse> responses) {
      // gRPC delivers one stream's requests serially, so this needs no lock.
      Map<String, String> sentNonces = new HashMap<>();
      return new StreamObserver<>() {
        private int sent;

        @Override
        public void onNext(DiscoveryRequest request) {
          String type = request.getTypeUrl();
          if (request.hasErrorDetail()) {
            nacks.add(type + ": " + request.getErrorDetail().getMessage());
            return;
          }
          boolean ack =
              !request.getResponseNonce().isEmpty()
                  && request.getResponseNonce().equals(sentNonces.get(type))
                  && request.getVersionInfo().equals(VERSION);
          if (ack) {
            return;
          }
          Map<String, Any> ofType = resources.getOrDefault(type, Map.of());
          DiscoveryResponse.Builder response =
              DiscoveryResponse.newBuilder().setVersionInfo(VERSION).setTypeUrl(type);
          for (Map.Entry<String, Any> resource : ofType.entrySet()) {
            if (request.getResourceNamesCount() == 0
                || request.getResourceNamesList().contains(resource.getKey())) {
              response.addResources(resource.getValue());
            }
          }
          String nonce = String.valueOf(++sent);
          sentNonces.put(type, nonce);
          responses.onNext(response.setNonce(nonce).build());
        }

        @Override
        public void onError(Throwable t) {
          // The client went away (its channel shut down): nothing to answer.
        }

        @Override
        public void onCompleted() {
          responses.onCompleted();
        }
      };
    }
  }
}

package dev.extproc.callout.samples.xds;

import com.google.common.net.InetAddresses;
import com.google.protobuf.Any;
import com.google.protobuf.Message;
import com.google.protobuf.UInt32Value;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.core.v3.Address;
import io.envoyproxy.envoy.config.core.v3.AggregatedConfigSource;
import io.envoyproxy.envoy.config.core.v3.ConfigSource;
import io.envoyproxy.envoy.config.core.v3.GrpcService;
import io.envoyproxy.envoy.config.core.v3.Locality;
import io.envoyproxy.envoy.config.core.v3.SocketAddress;
import io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment;
import io.envoyproxy.envoy.config.endpoint.v3.Endpoint;
import io.envoyproxy.envoy.config.endpoint.v3.LbEndpoint;
import io.envoyproxy.envoy.config.endpoint.v3.LocalityLbEndpoints;
import io.envoyproxy.envoy.config.listener.v3.ApiListener;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.config.route.v3.Route;
import io.envoyproxy.envoy.config.route.v3.RouteAction;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import io.envoyproxy.envoy.config.route.v3.RouteMatch;
import io.envoyproxy.envoy.config.route.v3.VirtualHost;
import io.envoyproxy.envoy.extensions.filters.http.router.v3.Router;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter;
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
import java.util.stream.Collectors;

/**
 * A minimal xDS management server for a test: state-of-the-world ADS over one gRPC stream, on
 * {@code 127.0.0.1} port 0, serving one fixed version of a fixed set of resources. Each request for
 * a type gets every resource of that type it names (or all of them); ACKs get nothing, and so would
 * a later change of the names asked for, which a fixed configuration never causes. NACKs are kept,
 * so that a test can say why grpc-java refused a resource.
 *
 * <p>grpc-xds keeps the first bootstrap it reads for the life of the JVM (a second channel with a
 * new one still dials the first management server), so a test class that uses one starts it once,
 * and two such classes need JVMs of their own unless they share it.
 */
public final class XdsManagementServer {

  private static final String VERSION = "1";

  /** {@code 127.0.0.1}, parsed, never looked up. */
  public static final InetAddress LOOPBACK = InetAddresses.forString("127.0.0.1");

  /**
   * The system property grpc-xds reads the bootstrap's JSON from when the environment has no {@code
   * GRPC_XDS_BOOTSTRAP_CONFIG}.
   */
  public static final String BOOTSTRAP_CONFIG = "io.grpc.xds.bootstrapConfig";

  private final Map<String, Map<String, Any>> resources = new ConcurrentHashMap<>();
  private final List<String> nacks = new CopyOnWriteArrayList<>();
  private final Server server;

  /** Starts the server on {@code 127.0.0.1}, port 0. */
  public XdsManagementServer() throws IOException {
    server =
        NettyServerBuilder.forAddress(
                new InetSocketAddress(LOOPBACK, 0), InsecureServerCredentials.create())
            .addService(new Ads())
            .build()
            .start();
  }

  /** The address grpc-java's xDS client connects to (the bootstrap's {@code server_uri}). */
  public String target() {
    return "127.0.0.1:" + server.getPort();
  }

  /** Serves {@code resource} under {@code name}; its type URL is the one {@link Any} gives it. */
  public void put(String name, Message resource) {
    Any any = Any.pack(resource);
    resources.computeIfAbsent(any.getTypeUrl(), type -> new ConcurrentHashMap<>()).put(name, any);
  }

  /** Every NACK grpc-java sent: its type URL and error message. */
  public List<String> nacks() {
    return List.copyOf(nacks);
  }

  /** Stops the server at once, ending the ADS stream. */
  public void close() throws InterruptedException {
    server.shutdownNow();
    server.awaitTermination(10, TimeUnit.SECONDS);
  }

  /**
   * The bootstrap's JSON for a client of this server, with node {@code nodeId}, and each of {@code
   * calloutTargets} (a filter's {@code GoogleGrpc} target URI) among {@code allowed_grpc_services}
   * with insecure credentials: an untrusted control plane may only name targets listed there, and
   * Envoy's API of our proto jar predates the {@code GoogleGrpc} credential plugins a trusted one
   * would send instead.
   */
  public String bootstrap(String nodeId, List<String> calloutTargets) {
    String allowed =
        calloutTargets.stream()
            .map(
                target ->
                    "\"%s\": {\"channel_creds\": [{\"type\": \"insecure\"}]}".formatted(target))
            .collect(Collectors.joining(",\n    "));
    return """
    {
      "xds_servers": [{
        "server_uri": "%s",
        "channel_creds": [{"type": "insecure"}],
        "server_features": ["xds_v3"]
      }],
      "node": {"id": "%s"},
      "allowed_grpc_services": {
        %s
      }
    }
    """
        .formatted(target(), nodeId, allowed);
  }

  /**
   * A filter's {@code grpc_service}: {@code GoogleGrpc} to {@code dns:///127.0.0.1:port}, the form
   * grpc-xds accepts (it refuses {@code envoy_grpc}) and that {@link #bootstrap} allows.
   */
  public static GrpcService.Builder googleGrpc(String targetUri) {
    return GrpcService.newBuilder()
        .setGoogleGrpc(GrpcService.GoogleGrpc.newBuilder().setTargetUri(targetUri));
  }

  /** The target URI of a callout listening on {@code 127.0.0.1:port}. */
  public static String loopbackTarget(int port) {
    return "dns:///127.0.0.1:" + port;
  }

  /**
   * Serves the API listener {@code authority} (what a channel to {@code xds:///authority} asks
   * for): an HttpConnectionManager whose HTTP filters are {@code filter} and the router, with one
   * route sending every call to {@code cluster}.
   */
  public void serveListener(String authority, HttpFilter filter, String cluster) {
    HttpConnectionManager manager =
        HttpConnectionManager.newBuilder()
            .setRouteConfig(
                RouteConfiguration.newBuilder()
                    .setName("routes")
                    .addVirtualHosts(
                        VirtualHost.newBuilder()
                            .setName(authority)
                            .addDomains("*")
                            .addRoutes(
                                Route.newBuilder()
                                    .setMatch(RouteMatch.newBuilder().setPrefix(""))
                                    .setRoute(RouteAction.newBuilder().setCluster(cluster)))))
            .addHttpFilters(filter)
            .addHttpFilters(
                HttpFilter.newBuilder()
                    .setName("envoy.filters.http.router")
                    .setTypedConfig(Any.pack(Router.getDefaultInstance())))
            .build();
    put(
        authority,
        Listener.newBuilder()
            .setName(authority)
            .setApiListener(ApiListener.newBuilder().setApiListener(Any.pack(manager)))
            .build());
  }

  /** Serves {@code cluster} (EDS over ADS, round robin) with one endpoint, 127.0.0.1:port. */
  public void serveCluster(String cluster, int port) {
    put(
        cluster,
        Cluster.newBuilder()
            .setName(cluster)
            .setType(Cluster.DiscoveryType.EDS)
            .setEdsClusterConfig(
                Cluster.EdsClusterConfig.newBuilder()
                    .setEdsConfig(
                        ConfigSource.newBuilder()
                            .setAds(AggregatedConfigSource.getDefaultInstance())))
            .setLbPolicy(Cluster.LbPolicy.ROUND_ROBIN)
            .build());
    put(
        cluster,
        ClusterLoadAssignment.newBuilder()
            .setClusterName(cluster)
            .addEndpoints(
                LocalityLbEndpoints.newBuilder()
                    .setLocality(Locality.newBuilder().setRegion("test"))
                    .setLoadBalancingWeight(UInt32Value.of(1))
                    .addLbEndpoints(
                        LbEndpoint.newBuilder()
                            .setEndpoint(
                                Endpoint.newBuilder()
                                    .setAddress(
                                        Address.newBuilder()
                                            .setSocketAddress(
                                                SocketAddress.newBuilder()
                                                    .setAddress("127.0.0.1")
                                                    .setPortValue(port))))))
            .build());
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

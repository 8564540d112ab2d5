package dev.extproc.callout.samples;

import static com.google.common.truth.Truth.assertThat;
import static com.google.common.truth.Truth.assertWithMessage;
import static java.util.Objects.requireNonNull;
import static org.junit.jupiter.api.Assertions.fail;

import com.google.common.net.HostAndPort;
import com.google.protobuf.TypeRegistry;
import com.google.protobuf.util.JsonFormat;
import dev.extproc.callout.CalloutServer;
import dev.extproc.callout.CalloutServerConfig;
import io.envoyproxy.envoy.config.bootstrap.v3.Bootstrap;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.core.v3.ApiVersion;
import io.envoyproxy.envoy.config.core.v3.HealthCheck;
import io.envoyproxy.envoy.config.core.v3.SocketAddress;
import io.envoyproxy.envoy.config.endpoint.v3.Endpoint;
import io.envoyproxy.envoy.config.listener.v3.Filter;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.extensions.access_loggers.stream.v3.StdoutAccessLog;
import io.envoyproxy.envoy.extensions.filters.http.ext_authz.v3.ExtAuthz;
import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor;
import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ProcessingMode;
import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ProcessingMode.BodySendMode;
import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ProcessingMode.HeaderSendMode;
import io.envoyproxy.envoy.extensions.filters.http.router.v3.Router;
import io.envoyproxy.envoy.extensions.filters.network.ext_proc.v3.NetworkExternalProcessor;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter;
import io.envoyproxy.envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy;
import io.envoyproxy.envoy.extensions.upstreams.http.v3.HttpProtocolOptions;
import java.io.IOException;
import java.io.Reader;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.yaml.snakeyaml.Yaml;

/**
 * Checks the deployment files in {@code deploy/} against the server they deploy: every YAML file
 * parses, and the ports, paths, health checks, environment variables and sample names they use are
 * the server's real ones. The defaults come from {@link CalloutServerConfig}, so changing a default
 * without updating {@code deploy/} fails here. Runs with the project root as the working directory.
 */
class DeployFilesTest {

  private static final Path DEPLOY = Path.of("deploy");
  private static final Path ENVOY = DEPLOY.resolve("envoy");
  private static final Path KUBERNETES = DEPLOY.resolve("kubernetes");
  private static final Path GCP = DEPLOY.resolve("gcp");
  private static final Path DOCKERFILE = Path.of("Dockerfile");

  private static final int HEALTH_PORT = port(CalloutServerConfig.DEFAULT_HEALTH_CHECK_ADDRESS);
  private static final int PLAINTEXT_PORT = port(CalloutServerConfig.DEFAULT_PLAINTEXT_ADDRESS);
  private static final int SECURE_PORT = port(CalloutServerConfig.DEFAULT_SECURE_ADDRESS);

  /** The health listener answers any path; every file uses the root. */
  private static final String HEALTH_PATH = "/";

  /** The bundled samples' {@code --sample} names. */
  private static final Set<String> SAMPLES = SampleMain.sampleNames();

  /** Variables the runnable jar reads besides those of {@link CalloutServerConfig#usage()}. */
  private static final Set<String> LAUNCHER_ENV =
      Set.of(
          "CALLOUT_SAMPLE", "CALLOUT_LOG_LEVEL", "CALLOUT_JWT_PUBLIC_KEY", "CALLOUT_JWT_AUDIENCE");

  private static final String IMAGE = "ghcr.io/extproc-java/extproc-java:latest";
  private static final String TLS_DIR = "/etc/callout/tls";
  private static final String DYNAMIC_FORWARDING_NAMESPACE =
      "com.google.envoy.dynamic_forwarding.selected_endpoints";

  /** The ext_proc (HTTP) bootstraps. */
  private static final List<String> ENVOY_CONFIGS =
      List.of("envoy.yaml", "envoy-streamed-bodies.yaml", "envoy-full-duplex.yaml");

  private static final String ENVOY_EXT_AUTHZ = "envoy-ext-authz.yaml";
  private static final String ENVOY_NETWORK_EXT_PROC = "envoy-network-ext-proc.yaml";

  /** Every Envoy bootstrap in deploy/envoy. */
  private static final List<String> ENVOY_BOOTSTRAPS =
      List.of(
          "envoy.yaml",
          "envoy-streamed-bodies.yaml",
          "envoy-full-duplex.yaml",
          ENVOY_EXT_AUTHZ,
          ENVOY_NETWORK_EXT_PROC);

  private static final String NETWORK_EXT_PROC_FILTER = "envoy.filters.network.ext_proc";

  /**
   * The fields of the network ext_proc filter's config in Envoy's current documentation. The Envoy
   * API artifact we build with (io.envoyproxy.controlplane:api 1.0.49) has the message, but from
   * before {@link #NEWER_NETWORK_EXT_PROC_FIELDS} were added.
   */
  private static final Set<String> NETWORK_EXT_PROC_FIELDS =
      Set.of(
          "grpc_service",
          "failure_mode_allow",
          "processing_mode",
          "message_timeout",
          "stat_prefix",
          "metadata_options");

  /** Documented fields that {@link NetworkExternalProcessor} of api 1.0.49 does not know yet. */
  private static final Set<String> NEWER_NETWORK_EXT_PROC_FIELDS =
      Set.of("stat_prefix", "metadata_options");

  private static final TypeRegistry ENVOY_TYPES =
      TypeRegistry.newBuilder()
          .add(HttpConnectionManager.getDescriptor())
          .add(ExternalProcessor.getDescriptor())
          .add(ExtAuthz.getDescriptor())
          .add(NetworkExternalProcessor.getDescriptor())
          .add(TcpProxy.getDescriptor())
          .add(Router.getDescriptor())
          .add(HttpProtocolOptions.getDescriptor())
          .add(StdoutAccessLog.getDescriptor())
          .build();

  // ---------------------------------------------------------------------------------------------
  // Every file

  @Test
  void everyYamlFile_parses() throws IOException {
    List<Path> files = yamlFiles(DEPLOY);

    for (Path file : files) {
      try {
        assertWithMessage("%s has no document", file).that(loadAll(file)).isNotEmpty();
      } catch (RuntimeException e) {
        fail(file + " does not parse: " + e.getMessage(), e);
      }
    }
    assertThat(files.stream().map(f -> DEPLOY.relativize(f).toString().replace('\\', '/')).toList())
        .containsAtLeast(
            "envoy/envoy.yaml",
            "envoy/envoy-streamed-bodies.yaml",
            "envoy/envoy-full-duplex.yaml",
            "envoy/envoy-ext-authz.yaml",
            "envoy/envoy-network-ext-proc.yaml",
            "envoy/docker-compose.yaml",
            "envoy/docker-compose.jwt.yaml",
            "kubernetes/deployment.yaml",
            "kubernetes/service.yaml",
            "kubernetes/pdb.yaml",
            "kubernetes/hpa.yaml",
            "kubernetes/kustomization.yaml",
            "gcp/traffic-extension.yaml",
            "gcp/route-extension.yaml",
            "gcp/authz-extension.yaml",
            "gcp/authz-policy.yaml",
            "gcp/gke/kustomization.yaml",
            "gcp/gke/service-neg.yaml");
  }

  @Test
  void deployFiles_environmentVariables_areRealOnes() throws IOException {
    Set<String> known = new TreeSet<>(LAUNCHER_ENV);
    Matcher usage =
        Pattern.compile("\\(env (CALLOUT_[A-Z0-9_]+);").matcher(CalloutServerConfig.usage());
    while (usage.find()) {
      known.add(usage.group(1));
    }
    assertThat(known).contains("CALLOUT_CERT_CHAIN_PATH");

    Pattern variable = Pattern.compile("(?<![A-Z0-9_])CALLOUT_[A-Z0-9_]*[A-Z0-9]");
    Set<String> used = new TreeSet<>();
    for (Path file : allFiles(DEPLOY)) {
      Matcher m = variable.matcher(Files.readString(file));
      while (m.find()) {
        assertWithMessage("%s uses an unknown variable", file).that(known).contains(m.group());
        used.add(m.group());
      }
    }
    assertThat(used)
        .containsAtLeast("CALLOUT_SAMPLE", "CALLOUT_CERT_CHAIN_PATH", "CALLOUT_PRIVATE_KEY_PATH");
  }

  @Test
  void deployFiles_sampleNames_areRealSamples() throws IOException {
    List<Pattern> patterns =
        List.of(
            Pattern.compile("CALLOUT_SAMPLE\\s*[=:]\\s*[\"']?([a-z][a-z-]*)"),
            Pattern.compile("\\$\\{CALLOUT_SAMPLE:-([a-z][a-z-]*)}"),
            Pattern.compile("--sample[ =]([a-z][a-z-]*)"),
            Pattern.compile("(?m)^SAMPLE=\"([a-z][a-z-]*)\""));
    Set<String> used = new TreeSet<>();
    for (Path file : allFiles(DEPLOY)) {
      String text = Files.readString(file);
      for (Pattern pattern : patterns) {
        Matcher m = pattern.matcher(text);
        while (m.find()) {
          assertWithMessage("%s names an unknown sample", file).that(SAMPLES).contains(m.group(1));
          used.add(m.group(1));
        }
      }
    }
    assertWithMessage("the Kubernetes Deployment's CALLOUT_SAMPLE")
        .that(SAMPLES)
        .contains(containerEnv().get("CALLOUT_SAMPLE"));
    assertThat(used).containsAtLeast("add-header", "redirect", "add-body", "jwt-auth");
  }

  // ---------------------------------------------------------------------------------------------
  // Envoy

  @Test
  void envoyConfigs_parseAsEnvoyBootstraps() throws IOException {
    for (String file : ENVOY_BOOTSTRAPS) {
      Bootstrap bootstrap = envoyBootstrap(file);

      assertWithMessage(file).that(listener(bootstrap).getName()).isEqualTo("ingress");
      assertWithMessage(file)
          .that(listener(bootstrap).getAddress().getSocketAddress().getPortValue())
          .isEqualTo(10000);
      assertWithMessage(file)
          .that(bootstrap.getAdmin().getAddress().getSocketAddress().getPortValue())
          .isEqualTo(9901);
    }
  }

  @Test
  void envoyConfigs_calloutCluster_isHttp2ToThePlaintextPortAndChecksTheHealthPort()
      throws IOException {
    for (String file : ENVOY_BOOTSTRAPS) {
      Cluster callout = cluster(envoyBootstrap(file), "callout");
      Endpoint endpoint =
          callout.getLoadAssignment().getEndpoints(0).getLbEndpoints(0).getEndpoint();
      HttpProtocolOptions options =
          callout
              .getTypedExtensionProtocolOptionsOrThrow(
                  "envoy.extensions.upstreams.http.v3.HttpProtocolOptions")
              .unpack(HttpProtocolOptions.class);
      HealthCheck healthCheck = callout.getHealthChecks(0);

      SocketAddress address = endpoint.getAddress().getSocketAddress();
      assertWithMessage(file).that(address.getAddress()).isEqualTo("callout");
      assertWithMessage(file).that(address.getPortValue()).isEqualTo(PLAINTEXT_PORT);
      assertWithMessage(file)
          .that(options.getExplicitHttpConfig().hasHttp2ProtocolOptions())
          .isTrue();
      assertWithMessage(file).that(callout.getHealthChecksCount()).isEqualTo(1);
      assertWithMessage(file)
          .that(endpoint.getHealthCheckConfig().getPortValue())
          .isEqualTo(HEALTH_PORT);
      assertWithMessage(file)
          .that(healthCheck.getHttpHealthCheck().getPath())
          .isEqualTo(HEALTH_PATH);
      // The image's drain delay outlasts Envoy's checks even for failures that need the whole
      // threshold (a 503 alone marks the host down at once).
      assertDrainDelayCovers(
          file,
          Duration.ofSeconds(healthCheck.getInterval().getSeconds()),
          healthCheck.getUnhealthyThreshold().getValue(),
          imageConfig());
    }
  }

  @Test
  void envoyConfigs_extProcFilter_runsBeforeTheRouterAndFailsClosed() throws IOException {
    for (String file : ENVOY_CONFIGS) {
      List<HttpFilter> filters = httpConnectionManager(envoyBootstrap(file)).getHttpFiltersList();
      ExternalProcessor extProc = extProc(filters);

      assertWithMessage(file)
          .that(filters.stream().map(HttpFilter::getName).toList())
          .containsExactly("envoy.filters.http.ext_proc", "envoy.filters.http.router")
          .inOrder();
      assertWithMessage(file)
          .that(extProc.getGrpcService().getEnvoyGrpc().getClusterName())
          .isEqualTo("callout");
      assertWithMessage(file).that(extProc.getFailureModeAllow()).isFalse();
      assertWithMessage(file)
          .that(com.google.protobuf.util.Durations.toMillis(extProc.getMessageTimeout()))
          .isEqualTo(200);
      assertWithMessage(file)
          .that(extProc.getMutationRules().getAllowAllRouting().getValue())
          .isTrue();
      assertWithMessage(file)
          .that(extProc.getMetadataOptions().getReceivingNamespaces().getUntypedList())
          .contains(DYNAMIC_FORWARDING_NAMESPACE);
    }
  }

  @Test
  void envoyConfig_processingMode_isHeadersOnly() throws IOException {
    ProcessingMode mode =
        extProc(httpConnectionManager(envoyBootstrap("envoy.yaml")).getHttpFiltersList())
            .getProcessingMode();

    assertThat(mode.getRequestHeaderMode()).isEqualTo(HeaderSendMode.SEND);
    assertThat(mode.getResponseHeaderMode()).isEqualTo(HeaderSendMode.SEND);
    assertThat(mode.getRequestBodyMode()).isEqualTo(BodySendMode.NONE);
    assertThat(mode.getResponseBodyMode()).isEqualTo(BodySendMode.NONE);
    assertThat(mode.getRequestTrailerMode()).isEqualTo(HeaderSendMode.SKIP);
    assertThat(mode.getResponseTrailerMode()).isEqualTo(HeaderSendMode.SKIP);
  }

  @Test
  void envoyStreamedBodiesConfig_differsOnlyInStreamingBothBodies() throws IOException {
    ProcessingMode mode =
        extProc(
                httpConnectionManager(envoyBootstrap("envoy-streamed-bodies.yaml"))
                    .getHttpFiltersList())
            .getProcessingMode();
    Map<?, ?> headersOnly = single(ENVOY.resolve("envoy.yaml"));
    Map<?, ?> streamed = single(ENVOY.resolve("envoy-streamed-bodies.yaml"));

    assertThat(mode.getRequestHeaderMode()).isEqualTo(HeaderSendMode.SEND);
    assertThat(mode.getResponseHeaderMode()).isEqualTo(HeaderSendMode.SEND);
    assertThat(mode.getRequestBodyMode()).isEqualTo(BodySendMode.STREAMED);
    assertThat(mode.getResponseBodyMode()).isEqualTo(BodySendMode.STREAMED);
    assertThat(mode.getRequestTrailerMode()).isEqualTo(HeaderSendMode.SKIP);
    assertThat(mode.getResponseTrailerMode()).isEqualTo(HeaderSendMode.SKIP);
    assertThat(extProcYaml(headersOnly).remove("processing_mode")).isNotNull();
    assertThat(extProcYaml(streamed).remove("processing_mode")).isNotNull();
    assertThat(streamed).isEqualTo(headersOnly);
  }

  @Test
  void envoyFullDuplexConfig_streamsOnlyResponseBodiesWithTrailers() throws IOException {
    ProcessingMode mode =
        extProc(
                httpConnectionManager(envoyBootstrap("envoy-full-duplex.yaml"))
                    .getHttpFiltersList())
            .getProcessingMode();
    Map<?, ?> headersOnly = single(ENVOY.resolve("envoy.yaml"));
    Map<?, ?> fullDuplex = single(ENVOY.resolve("envoy-full-duplex.yaml"));

    assertThat(mode.getRequestBodyMode()).isEqualTo(BodySendMode.NONE);
    assertThat(mode.getResponseBodyMode()).isEqualTo(BodySendMode.FULL_DUPLEX_STREAMED);
    // Envoy requires trailer mode SEND for a FULL_DUPLEX_STREAMED direction.
    assertThat(mode.getResponseTrailerMode()).isEqualTo(HeaderSendMode.SEND);
    assertThat(extProcYaml(headersOnly).remove("processing_mode")).isNotNull();
    assertThat(extProcYaml(fullDuplex).remove("processing_mode")).isNotNull();
    assertThat(fullDuplex).isEqualTo(headersOnly);
  }

  @Test
  void envoyExtAuthzConfig_checksEveryRequestOverGrpcV3BeforeTheRouterAndFailsClosed()
      throws IOException {
    Bootstrap bootstrap = envoyBootstrap(ENVOY_EXT_AUTHZ);
    List<HttpFilter> filters = httpConnectionManager(bootstrap).getHttpFiltersList();
    ExtAuthz extAuthz = filters.get(0).getTypedConfig().unpack(ExtAuthz.class);

    assertThat(filters.stream().map(HttpFilter::getName).toList())
        .containsExactly("envoy.filters.http.ext_authz", "envoy.filters.http.router")
        .inOrder();
    assertThat(extAuthz.getGrpcService().getEnvoyGrpc().getClusterName()).isEqualTo("callout");
    assertThat(com.google.protobuf.util.Durations.toMillis(extAuthz.getGrpcService().getTimeout()))
        .isEqualTo(200);
    assertThat(extAuthz.getTransportApiVersion()).isEqualTo(ApiVersion.V3);
    assertThat(extAuthz.getFailureModeAllow()).isFalse();
    assertThat(extAuthz.getStatusOnError().getCodeValue()).isEqualTo(503);
    assertThat(extAuthz.hasHttpService()).isFalse();
    assertThat(cluster(bootstrap, "upstream"))
        .isEqualTo(cluster(envoyBootstrap("envoy.yaml"), "upstream"));
    // The comments explain both failure settings.
    String text = Files.readString(ENVOY.resolve(ENVOY_EXT_AUTHZ));
    assertThat(text).contains("# Fail closed.");
    assertThat(text).contains("# The HTTP status Envoy answers with when the call fails.");
  }

  @Test
  void envoyNetworkExtProcConfig_processesBothDirectionsThenProxiesTcpAndFailsClosed()
      throws IOException {
    Bootstrap bootstrap = envoyBootstrap(ENVOY_NETWORK_EXT_PROC);
    List<Filter> filters = listener(bootstrap).getFilterChains(0).getFiltersList();
    NetworkExternalProcessor extProc =
        filters.get(0).getTypedConfig().unpack(NetworkExternalProcessor.class);
    TcpProxy tcpProxy = filters.get(1).getTypedConfig().unpack(TcpProxy.class);

    assertThat(filters.stream().map(Filter::getName).toList())
        .containsExactly(NETWORK_EXT_PROC_FILTER, "envoy.filters.network.tcp_proxy")
        .inOrder();
    assertThat(extProc.getGrpcService().getEnvoyGrpc().getClusterName()).isEqualTo("callout");
    assertThat(extProc.getFailureModeAllow()).isFalse();
    assertThat(com.google.protobuf.util.Durations.toMillis(extProc.getMessageTimeout()))
        .isEqualTo(200);
    assertThat(extProc.getProcessingMode().getProcessRead())
        .isEqualTo(
            io.envoyproxy.envoy.extensions.filters.network.ext_proc.v3.ProcessingMode.DataSendMode
                .STREAMED);
    assertThat(extProc.getProcessingMode().getProcessWrite())
        .isEqualTo(
            io.envoyproxy.envoy.extensions.filters.network.ext_proc.v3.ProcessingMode.DataSendMode
                .STREAMED);
    // Set explicitly, not left at the enum's zero value by a misspelt key.
    assertThat(
            map(
                get(
                    networkExtProcYaml(single(ENVOY.resolve(ENVOY_NETWORK_EXT_PROC))),
                    "processing_mode")))
        .containsExactly("process_read", "STREAMED", "process_write", "STREAMED");
    assertThat(tcpProxy.getCluster()).isEqualTo("upstream");
    assertThat(tcpProxy.getStatPrefix()).isNotEmpty();
    assertThat(cluster(bootstrap, "upstream"))
        .isEqualTo(cluster(envoyBootstrap("envoy.yaml"), "upstream"));
  }

  @Test
  void envoyNetworkExtProcConfig_fieldsTheApiArtifactPredates_areDocumentedOnesCheckedByName()
      throws IOException {
    Map<?, ?> typedConfig = networkExtProcYaml(single(ENVOY.resolve(ENVOY_NETWORK_EXT_PROC)));
    Set<String> known = new TreeSet<>();
    for (com.google.protobuf.Descriptors.FieldDescriptor field :
        NetworkExternalProcessor.getDescriptor().getFields()) {
      known.add(field.getName());
    }

    // The artifact's message is the documented one minus the newer fields, so that every other
    // field is parsed (strictly, by envoyBootstrap) into the real message.
    assertThat(known).containsNoneIn(NEWER_NETWORK_EXT_PROC_FIELDS);
    Set<String> documented = new TreeSet<>(known);
    documented.addAll(NEWER_NETWORK_EXT_PROC_FIELDS);
    assertThat(documented).containsExactlyElementsIn(NETWORK_EXT_PROC_FIELDS);
    for (Object key : typedConfig.keySet()) {
      if (!key.equals("@type")) {
        assertWithMessage("%s field", NETWORK_EXT_PROC_FILTER)
            .that(NETWORK_EXT_PROC_FIELDS)
            .contains(key);
      }
    }
    assertThat(string(get(typedConfig, "stat_prefix"))).matches("[a-z_]+");
    assertThat(typedConfig.containsKey("metadata_options")).isFalse();
  }

  @Test
  void composeFile_calloutService_exposesTheDefaultsAndOutlastsTheDrain() throws IOException {
    Map<?, ?> callout = composeService("docker-compose.yaml", "callout");
    Map<?, ?> build = map(get(callout, "build"));
    Map<?, ?> environment = map(get(callout, "environment"));

    assertThat(get(callout, "image")).isEqualTo(IMAGE);
    assertThat(get(build, "dockerfile")).isEqualTo("Dockerfile");
    assertWithMessage("build context %s is the project root", get(build, "context"))
        .that(Files.exists(ENVOY.resolve(string(get(build, "context"))).resolve("pom.xml")))
        .isTrue();
    assertThat(list(get(callout, "expose")).stream().map(p -> Integer.parseInt(string(p))).toList())
        .containsExactly(HEALTH_PORT, PLAINTEXT_PORT, SECURE_PORT);
    for (Object published : list(get(callout, "ports"))) {
      String spec = string(published).replaceAll("/(tcp|udp)$", "");
      assertThat(Integer.parseInt(spec.substring(spec.lastIndexOf(':') + 1)))
          .isAnyOf(HEALTH_PORT, PLAINTEXT_PORT, SECURE_PORT);
    }
    Map<String, String> env = imageEnv();
    environment.forEach((k, v) -> env.put(string(k), string(v)));
    assertThat(composeSeconds(string(get(callout, "stop_grace_period"))))
        .isGreaterThan(longestDrain(CalloutServerConfig.fromArgs(new String[0], env)));
    assertThat(get(environment, "CALLOUT_SAMPLE")).isEqualTo("${CALLOUT_SAMPLE:-add-header}");
  }

  @Test
  void composeFile_envoyAndUpstream_arePinnedAndMatchTheEnvoyClusters() throws IOException {
    Map<?, ?> envoy = composeService("docker-compose.yaml", "envoy");
    Map<?, ?> upstream = composeService("docker-compose.yaml", "upstream");
    Cluster upstreamCluster = cluster(envoyBootstrap("envoy.yaml"), "upstream");
    SocketAddress upstreamAddress =
        upstreamCluster
            .getLoadAssignment()
            .getEndpoints(0)
            .getLbEndpoints(0)
            .getEndpoint()
            .getAddress()
            .getSocketAddress();

    assertThat(string(get(envoy, "image"))).matches("envoyproxy/envoy:v\\d+\\.\\d+\\.\\d+");
    assertThat(list(get(envoy, "volumes")))
        .containsExactly("./${ENVOY_CONFIG:-envoy.yaml}:/etc/envoy/envoy.yaml:ro");
    assertThat(list(get(envoy, "command"))).contains("/etc/envoy/envoy.yaml");
    assertThat(string(get(upstream, "image"))).matches("mendhak/http-https-echo:\\d+");
    assertThat(upstreamAddress.getAddress()).isEqualTo("upstream");
    assertThat(get(map(get(upstream, "environment")), "HTTP_PORT"))
        .isEqualTo(String.valueOf(upstreamAddress.getPortValue()));
    Matcher envoyConfig =
        Pattern.compile("ENVOY_CONFIG=([\\w.-]+)").matcher(readAll(allFiles(ENVOY)));
    while (envoyConfig.find()) {
      assertWithMessage("ENVOY_CONFIG names a file in deploy/envoy")
          .that(ENVOY_BOOTSTRAPS)
          .contains(envoyConfig.group(1));
    }
  }

  @Test
  void composeJwtOverride_mountsTheKeyItNames() throws IOException {
    Map<?, ?> callout = composeService("docker-compose.jwt.yaml", "callout");
    Map<?, ?> environment = map(get(callout, "environment"));
    String key = string(get(environment, "CALLOUT_JWT_PUBLIC_KEY"));

    assertThat(get(environment, "CALLOUT_SAMPLE")).isEqualTo("jwt-auth");
    assertThat(
            list(get(callout, "volumes")).stream()
                .map(v -> string(v).split(":", -1)[1])
                .anyMatch(target -> key.startsWith(target + "/")))
        .isTrue();
  }

  @Test
  void envoyReadme_showsEverySample() throws IOException {
    String readme = Files.readString(ENVOY.resolve("README.md"));
    Set<String> headings = new TreeSet<>();
    Matcher m = Pattern.compile("(?m)^### `([a-z-]+)`").matcher(readme);
    while (m.find()) {
      headings.add(m.group(1));
    }

    assertThat(headings).containsExactlyElementsIn(SAMPLES);
    assertThat(readme).contains("localhost:10000");
  }

  // ---------------------------------------------------------------------------------------------
  // Kubernetes

  @Test
  void kubernetesDeployment_containerPorts_areTheDefaults() throws IOException {
    assertThat(containerPorts().values()).containsExactly(HEALTH_PORT, PLAINTEXT_PORT, SECURE_PORT);
    assertThat(get(container(), "image")).isEqualTo(IMAGE);
    assertThat(get(map(get(kubernetes("deployment.yaml", "Deployment"), "spec")), "replicas"))
        .isEqualTo(2);
  }

  @Test
  void kubernetesDeployment_probes_useTheHealthPort() throws IOException {
    for (String probe : List.of("startupProbe", "readinessProbe", "livenessProbe")) {
      Map<?, ?> httpGet = map(get(map(get(container(), probe)), "httpGet"));

      assertWithMessage(probe).that(containerPort(get(httpGet, "port"))).isEqualTo(HEALTH_PORT);
      assertWithMessage(probe).that(get(httpGet, "path")).isEqualTo(HEALTH_PATH);
    }
  }

  @Test
  void kubernetesDeployment_drain_coversTheProbesAndFitsTheTerminationGracePeriod()
      throws IOException {
    Map<?, ?> podSpec = podSpec();
    Map<?, ?> readiness = map(get(container(), "readinessProbe"));
    Map<?, ?> liveness = map(get(container(), "livenessProbe"));
    Map<?, ?> lifecycle = (Map<?, ?>) container().get("lifecycle");
    // A preStop sleep delays SIGTERM, and with it the first 503, so the drain delay replaces it.
    assertWithMessage("lifecycle (the drain delay replaces a preStop sleep)")
        .that(lifecycle == null || !lifecycle.containsKey("preStop"))
        .isTrue();
    CalloutServerConfig config = effectiveConfig();
    long terminationGrace = integer(get(podSpec, "terminationGracePeriodSeconds"));

    assertThat(config.shutdownDrainDelay()).isEqualTo(imageConfig().shutdownDrainDelay());
    assertThat(config.shutdownDrainDelay())
        .isAtLeast(CalloutServerConfig.DEFAULT_SHUTDOWN_DRAIN_DELAY);
    assertThat(config.shutdownGracePeriod())
        .isAtLeast(CalloutServerConfig.DEFAULT_SHUTDOWN_GRACE_PERIOD);
    assertDrainDelayCovers(
        "readinessProbe",
        Duration.ofSeconds(integer(get(readiness, "periodSeconds"))),
        integer(get(readiness, "failureThreshold")),
        config);
    assertWithMessage("terminationGracePeriodSeconds outlasts the drain, %s", longestDrain(config))
        .that(Duration.ofSeconds(terminationGrace))
        .isGreaterThan(longestDrain(config));
    assertWithMessage("liveness tolerates a whole drain of 503s")
        .that(integer(get(liveness, "periodSeconds")) * integer(get(liveness, "failureThreshold")))
        .isGreaterThan(terminationGrace);
  }

  @Test
  void image_drainDelay_isTheServersDefault() throws IOException {
    assertThat(imageEnv()).containsKey("CALLOUT_SHUTDOWN_DRAIN_DELAY");
    assertThat(imageConfig().shutdownDrainDelay())
        .isEqualTo(CalloutServerConfig.DEFAULT_SHUTDOWN_DRAIN_DELAY);
    assertThat(imageConfig().shutdownGracePeriod())
        .isEqualTo(CalloutServerConfig.DEFAULT_SHUTDOWN_GRACE_PERIOD);
  }

  @Test
  void kubernetesDeployment_tlsSecret_isMountedWhereTheVariablesPoint() throws IOException {
    CalloutServerConfig config = effectiveConfig();
    Map<String, Map<?, ?>> volumes = new LinkedHashMap<>();
    for (Object volume : list(get(podSpec(), "volumes"))) {
      volumes.put(string(get(map(volume), "name")), map(volume));
    }
    Map<String, String> mounts = new LinkedHashMap<>();
    for (Object mount : list(get(container(), "volumeMounts"))) {
      mounts.put(string(get(map(mount), "mountPath")), string(get(map(mount), "name")));
    }
    Map<?, ?> tls = requireNonNull(volumes.get(requireNonNull(mounts.get(TLS_DIR))));

    assertThat(config.certChainPath()).hasValue(Path.of(TLS_DIR, "tls.crt"));
    assertThat(config.privateKeyPath()).hasValue(Path.of(TLS_DIR, "tls.key"));
    assertThat(get(map(get(tls, "secret")), "secretName")).isEqualTo("callout-tls");
    assertThat(config.healthCheckAddress())
        .hasValue(hostAndPort(CalloutServerConfig.DEFAULT_HEALTH_CHECK_ADDRESS));
    assertThat(config.plaintextAddress())
        .hasValue(hostAndPort(CalloutServerConfig.DEFAULT_PLAINTEXT_ADDRESS));
    assertThat(config.secureAddress())
        .hasValue(hostAndPort(CalloutServerConfig.DEFAULT_SECURE_ADDRESS));
  }

  @Test
  void kubernetesDeployment_runsNonRootOnAReadOnlyRootWithAWritableTmp() throws IOException {
    Map<?, ?> podSecurity = map(get(podSpec(), "securityContext"));
    Map<?, ?> containerSecurity = map(get(container(), "securityContext"));
    String tmpVolume = null;
    for (Object mount : list(get(container(), "volumeMounts"))) {
      if (get(map(mount), "mountPath").equals("/tmp")) {
        tmpVolume = string(get(map(mount), "name"));
      }
    }
    String tmp = requireNonNull(tmpVolume, "no volume mounted at /tmp");

    assertThat(get(podSecurity, "runAsNonRoot")).isEqualTo(true);
    assertThat(get(containerSecurity, "readOnlyRootFilesystem")).isEqualTo(true);
    assertThat(get(containerSecurity, "allowPrivilegeEscalation")).isEqualTo(false);
    assertThat(
            list(get(podSpec(), "volumes")).stream()
                .map(DeployFilesTest::map)
                .anyMatch(v -> tmp.equals(v.get("name")) && v.containsKey("emptyDir")))
        .isTrue();
  }

  @Test
  void kubernetesService_targetsTheDefaultPortsWithAppProtocols() throws IOException {
    Map<?, ?> service = kubernetes("service.yaml", "Service");
    Map<?, ?> spec = map(get(service, "spec"));
    Map<Integer, String> appProtocols = new LinkedHashMap<>();
    for (Object entry : list(get(spec, "ports"))) {
      Map<?, ?> port = map(entry);
      int target = containerPort(get(port, "targetPort"));
      assertWithMessage("service port %s", get(port, "name"))
          .that(get(port, "port"))
          .isEqualTo(target);
      appProtocols.put(target, string(get(port, "appProtocol")));
    }

    assertThat(get(spec, "type")).isEqualTo("ClusterIP");
    assertThat(get(spec, "selector")).isEqualTo(podLabels());
    assertThat(appProtocols)
        .containsExactly(
            PLAINTEXT_PORT, "kubernetes.io/h2c",
            SECURE_PORT, "HTTP2",
            HEALTH_PORT, "http");
  }

  @Test
  void kubernetesPdbAndHpa_selectTheDeploymentAndLeaveRoomToDrain() throws IOException {
    Map<?, ?> pdb = map(get(kubernetes("pdb.yaml", "PodDisruptionBudget"), "spec"));
    Map<?, ?> hpa = kubernetes("hpa.yaml", "HorizontalPodAutoscaler");
    Map<?, ?> hpaSpec = map(get(hpa, "spec"));
    Map<?, ?> target = map(get(hpaSpec, "scaleTargetRef"));
    Map<?, ?> deployment = kubernetes("deployment.yaml", "Deployment");
    Map<?, ?> cpu = map(get(map(list(get(hpaSpec, "metrics")).get(0)), "resource"));

    assertThat(get(map(get(pdb, "selector")), "matchLabels")).isEqualTo(podLabels());
    assertThat(integer(get(pdb, "minAvailable"))).isLessThan(integer(get(hpaSpec, "minReplicas")));
    assertThat(get(hpa, "apiVersion")).isEqualTo("autoscaling/v2");
    assertThat(get(target, "kind")).isEqualTo("Deployment");
    assertThat(get(target, "name")).isEqualTo(get(map(get(deployment, "metadata")), "name"));
    assertThat(get(cpu, "name")).isEqualTo("cpu");
    assertThat(map(get(map(get(container(), "resources")), "requests")).containsKey("cpu"))
        .isTrue();
  }

  @Test
  void kubernetesKustomization_listsEveryManifest() throws IOException {
    Set<String> manifests;
    try (Stream<Path> files = Files.list(KUBERNETES)) {
      manifests =
          files
              .map(f -> f.getFileName().toString())
              .filter(n -> n.endsWith(".yaml") && !n.equals("kustomization.yaml"))
              .collect(Collectors.toCollection(TreeSet::new));
    }

    assertThat(list(get(single(KUBERNETES.resolve("kustomization.yaml")), "resources")))
        .containsExactlyElementsIn(manifests);
  }

  // ---------------------------------------------------------------------------------------------
  // Google Cloud

  @Test
  void gcpTrafficExtension_callsTheBackendServiceOnHeaderEvents() throws IOException {
    Map<String, String> script = shellVariables(GCP.resolve("setup.sh"));
    Map<?, ?> resource = single(GCP.resolve("traffic-extension.yaml"));
    Map<?, ?> extension = checkExtensionResource(resource, script);

    assertThat(get(resource, "name")).isEqualTo(script.get("EXTENSION"));
    assertThat(list(get(extension, "supportedEvents")))
        .containsExactly("REQUEST_HEADERS", "RESPONSE_HEADERS");
    assertThat(Files.readString(GCP.resolve("README.md")))
        .containsMatch(
            "lb-traffic-extensions import "
                + Pattern.quote(string(get(resource, "name")))
                + "\\s*\\\\?\\s*--source=traffic-extension\\.yaml");
  }

  @Test
  void gcpRouteExtension_callsTheBackendService() throws IOException {
    Map<String, String> script = shellVariables(GCP.resolve("setup.sh"));
    Map<?, ?> resource = single(GCP.resolve("route-extension.yaml"));
    Map<?, ?> extension = checkExtensionResource(resource, script);

    assertThat(extension.containsKey("supportedEvents")).isFalse();
    assertThat(Files.readString(GCP.resolve("README.md")))
        .containsMatch(
            "lb-route-extensions import "
                + Pattern.quote(string(get(resource, "name")))
                + "\\s*\\\\?\\s*--source=route-extension\\.yaml");
  }

  @Test
  void gcpAuthzExtension_callsTheBackendServiceOverExtAuthz() throws IOException {
    Map<String, String> script = shellVariables(GCP.resolve("setup.sh"));
    Map<?, ?> extension = single(GCP.resolve("authz-extension.yaml"));
    Duration timeout =
        Duration.parse("PT" + string(get(extension, "timeout")).toUpperCase(Locale.ROOT));

    // Fields of the AuthzExtension resource (Service Extensions REST reference) only.
    assertThat(
            Set.of(
                "name",
                "description",
                "labels",
                "loadBalancingScheme",
                "authority",
                "service",
                "timeout",
                "failOpen",
                "metadata",
                "forwardHeaders",
                "wireFormat"))
        .containsAtLeastElementsIn(extension.keySet());
    assertThat(get(extension, "wireFormat")).isEqualTo("EXT_AUTHZ_GRPC");
    assertThat(get(extension, "loadBalancingScheme"))
        .isAnyOf("INTERNAL_MANAGED", "EXTERNAL_MANAGED");
    assertThat(string(get(extension, "authority"))).isNotEmpty();
    assertThat(get(extension, "service"))
        .isEqualTo(
            "https://www.googleapis.com/compute/v1/projects/PROJECT_ID/regions/REGION/"
                + "backendServices/"
                + script.get("BACKEND_SERVICE"));
    assertThat(timeout).isAtLeast(Duration.ofMillis(10));
    assertThat(timeout).isAtMost(Duration.ofSeconds(10));
    assertThat(get(extension, "failOpen")).isEqualTo(false);
    assertThat(Files.readString(GCP.resolve("README.md")))
        .containsMatch(
            "service-extensions authz-extensions import "
                + Pattern.quote(string(get(extension, "name")))
                + "\\s*\\\\?\\s*--source=authz-extension\\.yaml");
  }

  @Test
  void gcpAuthzPolicy_delegatesToTheAuthzExtension() throws IOException {
    Map<?, ?> extension = single(GCP.resolve("authz-extension.yaml"));
    Map<?, ?> policy = single(GCP.resolve("authz-policy.yaml"));
    Map<?, ?> target = map(get(policy, "target"));
    Map<?, ?> provider = map(get(map(get(policy, "customProvider")), "authzExtension"));

    assertThat(get(policy, "action")).isEqualTo("CUSTOM");
    assertThat(get(target, "loadBalancingScheme")).isEqualTo(get(extension, "loadBalancingScheme"));
    assertThat(list(get(target, "resources")))
        .containsExactly(
            "https://www.googleapis.com/compute/v1/projects/PROJECT_ID/regions/REGION/"
                + "forwardingRules/FORWARDING_RULE");
    assertThat(list(get(provider, "resources")))
        .containsExactly(
            "projects/PROJECT_ID/locations/REGION/authzExtensions/" + get(extension, "name"));
    assertThat(Files.readString(GCP.resolve("README.md")))
        .containsMatch(
            "network-security authz-policies import "
                + Pattern.quote(string(get(policy, "name")))
                + "\\s*\\\\?\\s*--source=authz-policy\\.yaml");
  }

  @Test
  void gcpHealthCheck_usesTheHealthPortAndPath() throws IOException {
    for (Path file : List.of(GCP.resolve("README.md"), GCP.resolve("setup.sh"))) {
      List<String> commands = commands(file, "health-checks create http");

      assertWithMessage(file.toString()).that(commands).isNotEmpty();
      for (String command : commands) {
        assertWithMessage(command)
            .that(flags(command, "--port"))
            .containsExactly(String.valueOf(HEALTH_PORT));
        assertWithMessage(command)
            .that(flags(command, "--request-path"))
            .containsExactly(HEALTH_PATH);
        // GKE pods run the Deployment's settings, VMs the image's.
        for (CalloutServerConfig config : List.of(effectiveConfig(), imageConfig())) {
          assertDrainDelayCovers(
              command,
              Duration.parse(
                  "PT" + flags(command, "--check-interval").get(0).toUpperCase(Locale.ROOT)),
              Long.parseLong(flags(command, "--unhealthy-threshold").get(0)),
              config);
        }
      }
    }
    for (String command : commands(GCP.resolve("README.md"), "docker run")) {
      assertWithMessage(command)
          .that(Duration.ofSeconds(Long.parseLong(flags(command, "--stop-timeout").get(0))))
          .isGreaterThan(longestDrain(imageConfig()));
    }
  }

  @Test
  void gcpBackendServiceAndFirewall_useHttp2AndTheServerPorts() throws IOException {
    for (Path file : List.of(GCP.resolve("README.md"), GCP.resolve("setup.sh"))) {
      List<String> backends = commands(file, "backend-services create");
      List<String> firewalls = commands(file, "firewall-rules create");

      assertWithMessage(file.toString()).that(backends).isNotEmpty();
      for (String command : backends) {
        assertWithMessage(command).that(flags(command, "--protocol")).containsExactly("HTTP2");
      }
      assertWithMessage(file.toString()).that(firewalls).isNotEmpty();
      for (String command : firewalls) {
        assertWithMessage(command)
            .that(List.of(flags(command, "--rules").get(0).split(",", -1)))
            .containsExactly("tcp:" + HEALTH_PORT, "tcp:" + SECURE_PORT);
      }
    }
    for (String command : commands(GCP.resolve("README.md"), "set-named-ports")) {
      assertWithMessage(command)
          .that(flags(command, "--named-ports"))
          .containsExactly("grpc:" + SECURE_PORT);
    }
  }

  @Test
  void gcpGkeOverlay_exposesTheTlsPortAsTheScriptsNeg() throws IOException {
    Map<String, String> script = shellVariables(GCP.resolve("setup.sh"));
    Map<?, ?> kustomization = single(GCP.resolve("gke/kustomization.yaml"));
    Map<?, ?> patch = single(GCP.resolve("gke/service-neg.yaml"));
    Map<?, ?> metadata = map(get(patch, "metadata"));
    Map<?, ?> neg =
        map(
            new Yaml()
                .load(string(get(map(get(metadata, "annotations")), "cloud.google.com/neg"))));
    Map<?, ?> exposed = map(get(neg, "exposed_ports"));
    Map<?, ?> service = kubernetes("service.yaml", "Service");

    assertThat(list(get(kustomization, "resources"))).containsExactly("../../kubernetes");
    assertThat(get(map(list(get(kustomization, "patches")).get(0)), "path"))
        .isEqualTo("service-neg.yaml");
    assertThat(get(metadata, "name")).isEqualTo(get(map(get(service, "metadata")), "name"));
    assertThat(exposed.keySet()).containsExactly(String.valueOf(SECURE_PORT));
    assertThat(get(map(get(exposed, String.valueOf(SECURE_PORT))), "name"))
        .isEqualTo(script.get("NEG_NAME"));
  }

  // ---------------------------------------------------------------------------------------------
  // Helpers: files and YAML

  private static int port(String address) {
    return HostAndPort.fromString(address).getPort();
  }

  private static InetSocketAddress hostAndPort(String address) {
    HostAndPort hostAndPort = HostAndPort.fromString(address);
    return InetSocketAddress.createUnresolved(hostAndPort.getHost(), hostAndPort.getPort());
  }

  private static List<Path> allFiles(Path dir) throws IOException {
    try (Stream<Path> files = Files.walk(dir)) {
      return files.filter(Files::isRegularFile).sorted().toList();
    }
  }

  private static List<Path> yamlFiles(Path dir) throws IOException {
    return allFiles(dir).stream()
        .filter(
            f -> {
              String name = f.getFileName().toString().toLowerCase(Locale.ROOT);
              return name.endsWith(".yaml") || name.endsWith(".yml");
            })
        .toList();
  }

  private static String readAll(List<Path> files) throws IOException {
    StringBuilder text = new StringBuilder();
    for (Path file : files) {
      text.append(Files.readString(file)).append('\n');
    }
    return text.toString();
  }

  /** Every non-empty document of a (possibly multi-document) YAML file. */
  private static List<Object> loadAll(Path file) throws IOException {
    List<Object> documents = new ArrayList<>();
    try (Reader reader = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
      for (Object document : new Yaml().loadAll(reader)) {
        if (document != null) {
          documents.add(document);
        }
      }
    }
    return documents;
  }

  private static Map<?, ?> single(Path file) throws IOException {
    List<Object> documents = loadAll(file);
    assertWithMessage("%s: documents", file).that(documents).hasSize(1);
    return map(documents.get(0));
  }

  private static Object get(Map<?, ?> map, String key) {
    return requireNonNull(map.get(key), () -> "no \"" + key + "\" in " + map.keySet());
  }

  private static Map<?, ?> map(Object value) {
    assertWithMessage("a mapping").that(value).isInstanceOf(Map.class);
    return (Map<?, ?>) value;
  }

  private static List<?> list(Object value) {
    assertWithMessage("a sequence").that(value).isInstanceOf(List.class);
    return (List<?>) value;
  }

  private static String string(Object value) {
    assertWithMessage("a string").that(value).isInstanceOf(String.class);
    return (String) value;
  }

  private static long integer(Object value) {
    assertWithMessage("an integer").that(value).isInstanceOf(Integer.class);
    return (Integer) value;
  }

  // Envoy

  /**
   * Parses a bootstrap strictly (unknown fields fail) into Envoy's {@link Bootstrap}. The network
   * ext_proc filter's {@link #NEWER_NETWORK_EXT_PROC_FIELDS}, which the API artifact predates, are
   * left out of the parse; {@code
   * envoyNetworkExtProcConfig_fieldsTheApiArtifactPredates_areDocumentedOnesCheckedByName} checks
   * them by name instead.
   */
  private static Bootstrap envoyBootstrap(String file) throws IOException {
    Map<?, ?> yaml = single(ENVOY.resolve(file));
    for (Object listener : list(get(map(get(yaml, "static_resources")), "listeners"))) {
      for (Object chain : list(get(map(listener), "filter_chains"))) {
        for (Object filter : list(get(map(chain), "filters"))) {
          if (get(map(filter), "name").equals(NETWORK_EXT_PROC_FILTER)) {
            map(get(map(filter), "typed_config")).keySet().removeAll(NEWER_NETWORK_EXT_PROC_FIELDS);
          }
        }
      }
    }
    Bootstrap.Builder bootstrap = Bootstrap.newBuilder();
    JsonFormat.parser().usingTypeRegistry(ENVOY_TYPES).merge(json(yaml), bootstrap);
    return bootstrap.build();
  }

  /** The network ext_proc filter's typed_config in a parsed Envoy YAML, every field kept. */
  private static Map<?, ?> networkExtProcYaml(Map<?, ?> bootstrap) {
    Map<?, ?> listener =
        map(list(get(map(get(bootstrap, "static_resources")), "listeners")).get(0));
    Map<?, ?> chain = map(list(get(listener, "filter_chains")).get(0));
    for (Object filter : list(get(chain, "filters"))) {
      if (get(map(filter), "name").equals(NETWORK_EXT_PROC_FILTER)) {
        return map(get(map(filter), "typed_config"));
      }
    }
    throw new AssertionError("no " + NETWORK_EXT_PROC_FILTER + " filter");
  }

  private static Listener listener(Bootstrap bootstrap) {
    assertThat(bootstrap.getStaticResources().getListenersCount()).isEqualTo(1);
    return bootstrap.getStaticResources().getListeners(0);
  }

  private static HttpConnectionManager httpConnectionManager(Bootstrap bootstrap)
      throws IOException {
    return listener(bootstrap)
        .getFilterChains(0)
        .getFilters(0)
        .getTypedConfig()
        .unpack(HttpConnectionManager.class);
  }

  private static ExternalProcessor extProc(List<HttpFilter> filters) throws IOException {
    for (HttpFilter filter : filters) {
      if (filter.getName().equals("envoy.filters.http.ext_proc")) {
        return filter.getTypedConfig().unpack(ExternalProcessor.class);
      }
    }
    throw new AssertionError("no ext_proc filter in " + filters);
  }

  private static Cluster cluster(Bootstrap bootstrap, String name) {
    return bootstrap.getStaticResources().getClustersList().stream()
        .filter(c -> c.getName().equals(name))
        .findFirst()
        .orElseThrow(() -> new AssertionError("no cluster " + name));
  }

  /** The ext_proc filter's typed_config in a parsed Envoy YAML, for comparing two files. */
  private static Map<?, ?> extProcYaml(Map<?, ?> bootstrap) {
    Map<?, ?> listener =
        map(list(get(map(get(bootstrap, "static_resources")), "listeners")).get(0));
    Map<?, ?> chain = map(list(get(listener, "filter_chains")).get(0));
    Map<?, ?> manager = map(get(map(list(get(chain, "filters")).get(0)), "typed_config"));
    for (Object filter : list(get(manager, "http_filters"))) {
      if (get(map(filter), "name").equals("envoy.filters.http.ext_proc")) {
        return map(get(map(filter), "typed_config"));
      }
    }
    throw new AssertionError("no ext_proc filter");
  }

  /** Writes parsed YAML as JSON, for protobuf's JSON parser. */
  private static String json(Object value) {
    StringBuilder out = new StringBuilder();
    appendJson(value, out);
    return out.toString();
  }

  private static void appendJson(Object value, StringBuilder out) {
    if (value instanceof Map<?, ?> map) {
      out.append('{');
      String separator = "";
      for (Map.Entry<?, ?> entry : map.entrySet()) {
        out.append(separator);
        appendJson(String.valueOf(entry.getKey()), out);
        out.append(':');
        appendJson(requireNonNull(entry.getValue(), () -> "null at " + entry.getKey()), out);
        separator = ",";
      }
      out.append('}');
    } else if (value instanceof List<?> list) {
      out.append('[');
      String separator = "";
      for (Object element : list) {
        out.append(separator);
        appendJson(requireNonNull(element, "null list element"), out);
        separator = ",";
      }
      out.append(']');
    } else if (value instanceof String string) {
      out.append('"');
      for (int i = 0; i < string.length(); i++) {
        char c = string.charAt(i);
        if (c == '"' || c == '\\') {
          out.append('\\').append(c);
        } else if (c < 0x20) {
          out.append(String.format(Locale.ROOT, "\\u%04x", (int) c));
        } else {
          out.append(c);
        }
      }
      out.append('"');
    } else if (value instanceof Number || value instanceof Boolean) {
      out.append(value);
    } else {
      throw new AssertionError("unexpected YAML value " + value + " (" + value.getClass() + ")");
    }
  }

  // Docker Compose

  private static Map<?, ?> composeService(String file, String name) throws IOException {
    return map(get(map(get(single(ENVOY.resolve(file)), "services")), name));
  }

  // Kubernetes

  private static Map<?, ?> kubernetes(String file, String kind) throws IOException {
    Map<?, ?> manifest = single(KUBERNETES.resolve(file));
    assertWithMessage(file).that(get(manifest, "kind")).isEqualTo(kind);
    return manifest;
  }

  private static Map<?, ?> podSpec() throws IOException {
    Map<?, ?> template =
        map(get(map(get(kubernetes("deployment.yaml", "Deployment"), "spec")), "template"));
    return map(get(template, "spec"));
  }

  private static Object podLabels() throws IOException {
    Map<?, ?> spec = map(get(kubernetes("deployment.yaml", "Deployment"), "spec"));
    Object labels = get(map(get(map(get(spec, "template")), "metadata")), "labels");
    assertThat(get(map(get(spec, "selector")), "matchLabels")).isEqualTo(labels);
    return labels;
  }

  private static Map<?, ?> container() throws IOException {
    List<?> containers = list(get(podSpec(), "containers"));
    assertThat(containers).hasSize(1);
    return map(containers.get(0));
  }

  /** The container's ports by name. */
  private static Map<String, Integer> containerPorts() throws IOException {
    Map<String, Integer> ports = new LinkedHashMap<>();
    for (Object entry : list(get(container(), "ports"))) {
      Map<?, ?> port = map(entry);
      ports.put(string(get(port, "name")), (int) integer(get(port, "containerPort")));
    }
    return ports;
  }

  /** A port given by number or by the name of a container port. */
  private static int containerPort(Object port) throws IOException {
    if (port instanceof Integer number) {
      return number;
    }
    return requireNonNull(containerPorts().get(string(port)), () -> "no container port " + port);
  }

  private static Map<String, String> containerEnv() throws IOException {
    Map<String, String> env = new LinkedHashMap<>();
    for (Object entry : list(get(container(), "env"))) {
      env.put(string(get(map(entry), "name")), string(get(map(entry), "value")));
    }
    return env;
  }

  /** The settings the server runs with, given the image's and the Deployment's variables. */
  private static CalloutServerConfig effectiveConfig() throws IOException {
    Map<String, String> env = imageEnv();
    env.putAll(containerEnv());
    return CalloutServerConfig.fromArgs(new String[0], env);
  }

  /** The settings the image runs with and no variables of its own. */
  private static CalloutServerConfig imageConfig() throws IOException {
    return CalloutServerConfig.fromArgs(new String[0], imageEnv());
  }

  /** The Dockerfile's {@code ENV KEY=VALUE} lines (ContainerCommandIT reads it in full). */
  private static Map<String, String> imageEnv() throws IOException {
    Map<String, String> env = new LinkedHashMap<>();
    Matcher m =
        Pattern.compile("(?m)^ENV ([A-Z0-9_]+)=(\\S+)$").matcher(Files.readString(DOCKERFILE));
    while (m.find()) {
      env.put(m.group(1), m.group(2));
    }
    return env;
  }

  /**
   * How long the server may take to stop after SIGTERM with {@code config}: drain delay, grace
   * period, and the time hooks get to return.
   */
  private static Duration longestDrain(CalloutServerConfig config) {
    return config
        .shutdownDrainDelay()
        .plus(config.shutdownGracePeriod())
        .plus(CalloutServer.HOOKS_RETURN_TIMEOUT);
  }

  /**
   * Checks that a load balancer whose health checks run every {@code interval} and mark a backend
   * down after {@code threshold} failures has done so, with one interval to spare, before {@code
   * config}'s drain delay ends and the server refuses new streams.
   */
  private static void assertDrainDelayCovers(
      String checker, Duration interval, long threshold, CalloutServerConfig config) {
    assertWithMessage(
            "%s: interval %s x unhealthy threshold %s + one interval, within the drain delay",
            checker, interval, threshold)
        .that(interval.multipliedBy(threshold).plus(interval))
        .isAtMost(config.shutdownDrainDelay());
  }

  // Google Cloud

  /** Checks one extension resource (traffic or route) and returns its only extension. */
  private static Map<?, ?> checkExtensionResource(Map<?, ?> resource, Map<String, String> script) {
    List<?> chains = list(get(resource, "extensionChains"));
    assertThat(chains).hasSize(1);
    List<?> extensions = list(get(map(chains.get(0)), "extensions"));
    assertThat(extensions).hasSize(1);
    Map<?, ?> extension = map(extensions.get(0));
    Duration timeout =
        Duration.parse("PT" + string(get(extension, "timeout")).toUpperCase(Locale.ROOT));

    assertThat(get(resource, "loadBalancingScheme"))
        .isAnyOf("INTERNAL_MANAGED", "EXTERNAL_MANAGED");
    assertThat(list(get(resource, "forwardingRules"))).hasSize(1);
    assertThat(string(list(get(resource, "forwardingRules")).get(0)))
        .matches(
            "https://www\\.googleapis\\.com/compute/v1/projects/PROJECT_ID/regions/REGION/"
                + "forwardingRules/FORWARDING_RULE");
    assertThat(string(get(extension, "authority"))).isNotEmpty();
    assertThat(get(extension, "service"))
        .isEqualTo(
            "https://www.googleapis.com/compute/v1/projects/PROJECT_ID/regions/REGION/"
                + "backendServices/"
                + script.get("BACKEND_SERVICE"));
    assertThat(timeout).isAtLeast(Duration.ofMillis(10));
    assertThat(timeout).isAtMost(Duration.ofSeconds(10));
    assertThat(get(extension, "failOpen")).isEqualTo(false);
    return extension;
  }

  /** The {@code NAME="value"} assignments of a shell script. */
  private static Map<String, String> shellVariables(Path script) throws IOException {
    Map<String, String> variables = new LinkedHashMap<>();
    Matcher m = Pattern.compile("(?m)^([A-Z_]+)=\"([^\"$]*)\"").matcher(Files.readString(script));
    while (m.find()) {
      variables.put(m.group(1), m.group(2));
    }
    assertThat(variables).containsKey("BACKEND_SERVICE");
    return variables;
  }

  /** Every command of a shell script or Markdown file that contains {@code text}, one line each. */
  private static List<String> commands(Path file, String text) throws IOException {
    return Files.readString(file)
        .replaceAll("\\\\\\n\\s*", " ")
        .lines()
        .filter(line -> line.contains(text))
        .toList();
  }

  /** The values of {@code --flag=value} in a command, quotes removed. */
  private static List<String> flags(String command, String flag) {
    List<String> values = new ArrayList<>();
    Matcher m = Pattern.compile(Pattern.quote(flag) + "=(\\S+)").matcher(command);
    while (m.find()) {
      values.add(m.group(1).replace("\"", ""));
    }
    return values;
  }

  /** A compose duration in whole seconds ("40s"), the only form our compose files use. */
  private static Duration composeSeconds(String value) {
    assertWithMessage("compose duration %s (expected: whole seconds, like 40s)", value)
        .that(value)
        .matches("[0-9]+s");
    return Duration.ofSeconds(Long.parseLong(value.substring(0, value.length() - 1)));
  }
}

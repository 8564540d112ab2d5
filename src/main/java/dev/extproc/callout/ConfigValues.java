package dev.extproc.callout;

import static dev.extproc.callout.CalloutServerConfig.DEFAULT_CERTIFICATE_REFRESH_INTERVAL;
import static dev.extproc.callout.CalloutServerConfig.DEFAULT_HEALTH_CHECK_ADDRESS;
import static dev.extproc.callout.CalloutServerConfig.DEFAULT_HOOK_DEADLINE;
import static dev.extproc.callout.CalloutServerConfig.DEFAULT_HOOK_THREADS;
import static dev.extproc.callout.CalloutServerConfig.DEFAULT_KEEPALIVE_TIME;
import static dev.extproc.callout.CalloutServerConfig.DEFAULT_KEEPALIVE_TIMEOUT;
import static dev.extproc.callout.CalloutServerConfig.DEFAULT_MAX_BUFFERED_BODY_SIZE;
import static dev.extproc.callout.CalloutServerConfig.DEFAULT_MAX_CONCURRENT_STREAMS;
import static dev.extproc.callout.CalloutServerConfig.DEFAULT_MAX_INBOUND_MESSAGE_SIZE;
import static dev.extproc.callout.CalloutServerConfig.DEFAULT_PERMIT_KEEPALIVE_TIME;
import static dev.extproc.callout.CalloutServerConfig.DEFAULT_PLAINTEXT_ADDRESS;
import static dev.extproc.callout.CalloutServerConfig.DEFAULT_SECURE_ADDRESS;
import static dev.extproc.callout.CalloutServerConfig.DEFAULT_SHUTDOWN_DRAIN_DELAY;
import static dev.extproc.callout.CalloutServerConfig.DEFAULT_SHUTDOWN_GRACE_PERIOD;
import static dev.extproc.callout.CalloutServerConfig.DEFAULT_STREAMED_CHUNK_SIZE;

import dev.extproc.callout.CalloutServerConfig.HookExecutor;
import dev.extproc.callout.CalloutServerConfig.MutationPolicy;
import dev.extproc.callout.CalloutServerConfig.MutationProfile;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashSet;
import java.util.Set;
import org.jspecify.annotations.Nullable;

/**
 * The settings of a {@link CalloutServerConfig}, starting at the defaults: written by its builder,
 * then copied into the configuration, which never changes its copy. The one list of the settings,
 * so that the builder and the configuration cannot disagree on it. Not thread-safe.
 */
final class ConfigValues {
  @Nullable InetSocketAddress secureAddress = ListenerAddresses.parse(DEFAULT_SECURE_ADDRESS);
  @Nullable InetSocketAddress plaintextAddress = ListenerAddresses.parse(DEFAULT_PLAINTEXT_ADDRESS);
  @Nullable InetSocketAddress healthCheckAddress =
      ListenerAddresses.parse(DEFAULT_HEALTH_CHECK_ADDRESS);
  boolean secureHealthCheck;
  boolean metricsEnabled = true;
  @Nullable Path certChainPath;
  @Nullable Path privateKeyPath;
  byte @Nullable [] certChainPem;
  byte @Nullable [] privateKeyPem;
  @Nullable Path clientCaPath;
  Duration certificateRefreshInterval = DEFAULT_CERTIFICATE_REFRESH_INTERVAL;
  int maxInboundMessageSize = DEFAULT_MAX_INBOUND_MESSAGE_SIZE;
  int maxConcurrentStreams = DEFAULT_MAX_CONCURRENT_STREAMS;
  int maxBufferedBodySize = DEFAULT_MAX_BUFFERED_BODY_SIZE;
  int streamedChunkSize = DEFAULT_STREAMED_CHUNK_SIZE;
  Duration permitKeepAliveTime = DEFAULT_PERMIT_KEEPALIVE_TIME;
  Duration keepAliveTime = DEFAULT_KEEPALIVE_TIME;
  Duration keepAliveTimeout = DEFAULT_KEEPALIVE_TIMEOUT;
  MutationPolicy mutationPolicy = MutationPolicy.REJECT;
  MutationProfile mutationProfile = MutationProfile.ENVOY;
  Set<String> allowedMutationHeaders = new LinkedHashSet<>();
  HookExecutor hookExecutor = HookExecutor.POOL;
  int hookThreads = DEFAULT_HOOK_THREADS;
  Duration hookDeadline = DEFAULT_HOOK_DEADLINE;
  Duration shutdownGracePeriod = DEFAULT_SHUTDOWN_GRACE_PERIOD;
  Duration shutdownDrainDelay = DEFAULT_SHUTDOWN_DRAIN_DELAY;

  /** Returns a copy, with a set of allowed headers of its own that it may add to. */
  ConfigValues copy() {
    ConfigValues copy = new ConfigValues();
    copy.secureAddress = secureAddress;
    copy.plaintextAddress = plaintextAddress;
    copy.healthCheckAddress = healthCheckAddress;
    copy.secureHealthCheck = secureHealthCheck;
    copy.metricsEnabled = metricsEnabled;
    copy.certChainPath = certChainPath;
    copy.privateKeyPath = privateKeyPath;
    copy.certChainPem = certChainPem;
    copy.privateKeyPem = privateKeyPem;
    copy.clientCaPath = clientCaPath;
    copy.certificateRefreshInterval = certificateRefreshInterval;
    copy.maxInboundMessageSize = maxInboundMessageSize;
    copy.maxConcurrentStreams = maxConcurrentStreams;
    copy.maxBufferedBodySize = maxBufferedBodySize;
    copy.streamedChunkSize = streamedChunkSize;
    copy.permitKeepAliveTime = permitKeepAliveTime;
    copy.keepAliveTime = keepAliveTime;
    copy.keepAliveTimeout = keepAliveTimeout;
    copy.mutationPolicy = mutationPolicy;
    copy.mutationProfile = mutationProfile;
    copy.allowedMutationHeaders.addAll(allowedMutationHeaders);
    copy.hookExecutor = hookExecutor;
    copy.hookThreads = hookThreads;
    copy.hookDeadline = hookDeadline;
    copy.shutdownGracePeriod = shutdownGracePeriod;
    copy.shutdownDrainDelay = shutdownDrainDelay;
    return copy;
  }
}

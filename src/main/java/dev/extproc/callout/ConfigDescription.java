package dev.extproc.callout;

import com.google.common.net.HostAndPort;
import java.net.InetSocketAddress;
import java.util.Optional;
import java.util.TreeSet;

/**
 * The text of {@link CalloutServerConfig#toString()}: every effective setting, never key material.
 */
final class ConfigDescription {

  private ConfigDescription() {}

  static String of(CalloutServerConfig config) {
    return "CalloutServerConfig{secureAddress="
        + show(config.secureAddress())
        + ", plaintextAddress="
        + show(config.plaintextAddress())
        + ", healthCheckAddress="
        + (config.healthCheckAddress().isEmpty() ? "combined" : show(config.healthCheckAddress()))
        + ", secureHealthCheck="
        + config.isSecureHealthCheck()
        + ", metrics="
        + config.isMetricsEnabled()
        + ", certificate="
        + (config.certChainPath().isPresent()
            ? config.certChainPath().get() + " + " + config.privateKeyPath().orElse(null)
            : config.hasCertificate() ? "PEM bytes" : "ephemeral self-signed")
        + ", certificateRefreshInterval="
        + config.certificateRefreshInterval()
        + ", clientCa="
        + config.clientCaPath().map(Object::toString).orElse("none")
        + ", maxInboundMessageSize="
        + config.maxInboundMessageSize()
        + ", maxConcurrentStreams="
        + config.maxConcurrentStreams()
        + ", maxBufferedBodySize="
        + config.maxBufferedBodySize()
        + ", streamedChunkSize="
        + config.streamedChunkSize()
        + ", permitKeepAliveTime="
        + config.permitKeepAliveTime()
        + ", keepAliveTime="
        + config.keepAliveTime()
        + ", keepAliveTimeout="
        + config.keepAliveTimeout()
        + ", mutationPolicy="
        + config.mutationPolicy()
        + ", mutationProfile="
        + config.mutationProfile()
        + ", allowedMutationHeaders="
        + new TreeSet<>(config.allowedMutationHeaders())
        + ", hookExecutor="
        + config.hookExecutor()
        + ", hookThreads="
        + config.hookThreads()
        + ", hookDeadline="
        + config.hookDeadline()
        + ", shutdownDrainDelay="
        + config.shutdownDrainDelay()
        + ", shutdownGracePeriod="
        + config.shutdownGracePeriod()
        + "}";
  }

  private static String show(Optional<InetSocketAddress> address) {
    return address
        .map(a -> HostAndPort.fromParts(a.getHostString(), a.getPort()).toString())
        .orElse("disabled");
  }
}

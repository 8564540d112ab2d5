package dev.extproc.callout.internal;

import dev.extproc.callout.CalloutServerConfig;
import dev.extproc.callout.CalloutServerConfig.HookExecutor;
import dev.extproc.callout.CalloutServerConfig.MutationPolicy;
import dev.extproc.callout.CalloutServerConfig.MutationProfile;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.BiConsumer;
import org.jspecify.annotations.Nullable;

/**
 * Maps command line flags and {@code CALLOUT_*} environment variables onto a {@link
 * CalloutServerConfig.Builder}, from one table that also generates the usage text.
 */
public final class ConfigParser {

  /** One setting: its flag, its environment variable and how it changes the builder. */
  private record Option(
      String flag,
      @Nullable String valueName,
      String help,
      String defaultValue,
      BiConsumer<CalloutServerConfig.Builder, String> apply) {

    String env() {
      return "CALLOUT_" + flag.substring(2).replace('-', '_').toUpperCase(Locale.ROOT);
    }

    boolean isSwitch() {
      return valueName == null;
    }
  }

  private static final String CERT_CHAIN = "--cert-chain-path";
  private static final String PRIVATE_KEY = "--private-key-path";

  // Addresses come before the switches that disable them, so a disable always wins.
  private static final List<Option> OPTIONS =
      List.of(
          new Option(
              "--secure-address",
              "HOST:PORT",
              "TLS gRPC listener",
              CalloutServerConfig.DEFAULT_SECURE_ADDRESS,
              CalloutServerConfig.Builder::secureAddress),
          new Option(
              "--plaintext-address",
              "HOST:PORT",
              "plaintext (h2c) gRPC listener",
              CalloutServerConfig.DEFAULT_PLAINTEXT_ADDRESS,
              CalloutServerConfig.Builder::plaintextAddress),
          new Option(
              "--health-check-address",
              "HOST:PORT",
              "HTTP health check listener",
              CalloutServerConfig.DEFAULT_HEALTH_CHECK_ADDRESS,
              CalloutServerConfig.Builder::healthCheckAddress),
          new Option(
              "--disable-tls",
              null,
              "no TLS gRPC listener",
              "off",
              (b, v) -> {
                if (Boolean.parseBoolean(v)) {
                  b.disableTls();
                }
              }),
          new Option(
              "--disable-plaintext",
              null,
              "no plaintext gRPC listener",
              "off",
              (b, v) -> {
                if (Boolean.parseBoolean(v)) {
                  b.disablePlaintext();
                }
              }),
          new Option(
              "--combined-health-check",
              null,
              "no HTTP health listener; health via grpc.health.v1 only",
              "off",
              (b, v) -> {
                if (Boolean.parseBoolean(v)) {
                  b.combinedHealthCheck();
                }
              }),
          new Option(
              "--secure-health-check",
              null,
              "serve the health check over HTTPS",
              "off",
              (b, v) -> b.secureHealthCheck(Boolean.parseBoolean(v))),
          new Option(
              "--disable-metrics",
              null,
              "no Prometheus metrics at /metrics on the health listener",
              "off",
              (b, v) -> {
                if (Boolean.parseBoolean(v)) {
                  b.disableMetrics();
                }
              }),
          new Option(
              CERT_CHAIN,
              "PATH",
              "PEM certificate chain for TLS",
              "ephemeral self-signed",
              (b, v) -> {}),
          new Option(
              PRIVATE_KEY,
              "PATH",
              "PEM PKCS#8 private key for TLS",
              "ephemeral self-signed",
              (b, v) -> {}),
          new Option(
              "--certificate-refresh-interval",
              "DURATION",
              "how often the certificate files are checked for a new pair (0: never)",
              "60s",
              (b, v) -> b.certificateRefreshInterval(Durations.parse(v))),
          new Option(
              "--client-ca-path",
              "PATH",
              "PEM CA certificates client certificates must chain to (mutual TLS)",
              "none: any client",
              (b, v) -> b.clientCaPath(Path.of(v))),
          new Option(
              "--max-inbound-message-size",
              "BYTES",
              "largest inbound gRPC message (suffix KiB or MiB allowed)",
              "16MiB",
              (b, v) -> b.maxInboundMessageSize(Sizes.parse(v))),
          new Option(
              "--max-concurrent-streams",
              "N",
              "most ext_proc streams open at once, server-wide; more are refused (0: no limit)",
              "0 (no limit)",
              (b, v) -> b.maxConcurrentStreams(parseInt(v))),
          new Option(
              "--max-buffered-body-size",
              "BYTES",
              "most a body transformer, or a deferred headers reply, may hold back (suffix KiB or"
                  + " MiB allowed)",
              "8MiB",
              (b, v) -> b.maxBufferedBodySize(Sizes.parse(v))),
          new Option(
              "--streamed-chunk-size",
              "BYTES",
              "largest streamed_response chunk in FULL_DUPLEX_STREAMED mode",
              "64KiB",
              (b, v) -> b.streamedChunkSize(Sizes.parse(v))),
          new Option(
              "--permit-keepalive-time",
              "DURATION",
              "shortest client keepalive ping interval tolerated",
              "5s",
              (b, v) -> b.permitKeepAliveTime(Durations.parse(v))),
          new Option(
              "--keepalive-time",
              "DURATION",
              "silence from a client after which the server pings it (0: never)",
              "30s",
              (b, v) -> b.keepAliveTime(Durations.parse(v))),
          new Option(
              "--keepalive-timeout",
              "DURATION",
              "time a server ping may go unanswered before the connection closes",
              "10s",
              (b, v) -> b.keepAliveTimeout(Durations.parse(v))),
          new Option(
              "--header-mutation-policy",
              "reject|drop|off",
              "what happens to a header mutation the proxy would reject or ignore",
              "reject",
              (b, v) -> b.mutationPolicy(parseEnum(MutationPolicy.class, v, "reject, drop, off"))),
          new Option(
              "--header-mutation-profile",
              "envoy|service-extensions|service-extensions-traffic",
              "whose rules header mutations are checked against",
              "envoy",
              (b, v) ->
                  b.mutationProfile(
                      parseEnum(
                          MutationProfile.class,
                          v,
                          "envoy, service-extensions, service-extensions-traffic"))),
          new Option(
              "--allow-header-mutation",
              "NAME[,NAME...]",
              "routing or x-envoy* headers the proxy's mutation_rules allow",
              "none",
              (b, v) -> b.allowMutationOf(v.split(",", -1))),
          new Option(
              "--hook-executor",
              "pool|virtual|inline",
              "where hooks run",
              "pool",
              (b, v) -> b.hookExecutor(parseEnum(HookExecutor.class, v, "pool, virtual, inline"))),
          new Option(
              "--hook-threads",
              "N",
              "threads of the pool hook executor",
              String.valueOf(CalloutServerConfig.DEFAULT_HOOK_THREADS),
              (b, v) -> b.hookThreads(parseInt(v))),
          new Option(
              "--hook-deadline",
              "DURATION",
              "longest a hook may run for one message (0: no limit)",
              "10s",
              (b, v) -> b.hookDeadline(Durations.parse(v))),
          new Option(
              "--shutdown-drain-delay",
              "DURATION",
              "time health reports draining before new streams are refused",
              "15s",
              (b, v) -> b.shutdownDrainDelay(Durations.parse(v))),
          new Option(
              "--shutdown-grace-period",
              "DURATION",
              "time in-flight streams get to finish on shutdown",
              "30s",
              (b, v) -> b.shutdownGracePeriod(Durations.parse(v))));

  private ConfigParser() {}

  /**
   * Returns a builder with the defaults, then {@code env}, then {@code args} applied.
   *
   * @throws IllegalArgumentException naming the flag or variable, for an unknown flag, a missing
   *     value or a bad value
   */
  public static CalloutServerConfig.Builder parse(String[] args, Map<String, String> env) {
    // Option -> (source name, raw value); flags overwrite environment variables.
    Map<Option, String[]> values = new LinkedHashMap<>();
    for (Option option : OPTIONS) {
      String value = env.get(option.env());
      if (value != null) {
        values.put(option, new String[] {option.env(), envValue(option, value)});
      }
    }
    for (int i = 0; i < args.length; i++) {
      String arg = args[i];
      String name = arg;
      String inline = null;
      int eq = arg.indexOf('=');
      if (arg.startsWith("--") && eq > 0) {
        name = arg.substring(0, eq);
        inline = arg.substring(eq + 1);
      }
      Option option = find(name);
      String value;
      if (option.isSwitch()) {
        value = inline == null ? "true" : booleanValue(name, inline);
      } else if (inline != null) {
        value = inline;
      } else if (i + 1 < args.length) {
        value = args[++i];
      } else {
        throw new IllegalArgumentException(
            name + ": missing value (expected: " + name + " " + option.valueName() + ")");
      }
      values.put(option, new String[] {name, value});
    }

    CalloutServerConfig.Builder builder = CalloutServerConfig.newBuilder();
    for (Map.Entry<Option, String[]> e : values.entrySet()) {
      String source = e.getValue()[0];
      String value = e.getValue()[1];
      try {
        e.getKey().apply().accept(builder, value);
      } catch (IllegalArgumentException ex) {
        throw new IllegalArgumentException(source + "=" + value + ": " + ex.getMessage(), ex);
      }
    }
    applyCertificate(builder, values);
    return builder;
  }

  private static void applyCertificate(
      CalloutServerConfig.Builder builder, Map<Option, String[]> values) {
    String[] chain = valueOf(values, CERT_CHAIN);
    String[] key = valueOf(values, PRIVATE_KEY);
    if (chain != null && key != null) {
      builder.certificate(Path.of(chain[1]), Path.of(key[1]));
    } else if (chain != null) {
      throw new IllegalArgumentException(onlyOne(chain[0], PRIVATE_KEY));
    } else if (key != null) {
      throw new IllegalArgumentException(onlyOne(key[0], CERT_CHAIN));
    }
  }

  private static String onlyOne(String given, String missing) {
    return given + " is set but " + missing + " is not (expected: both or neither)";
  }

  private static String @Nullable [] valueOf(Map<Option, String[]> values, String flag) {
    return values.get(find(flag));
  }

  /** Returns one line per flag: flag, value, meaning, variable and default. */
  public static String usage() {
    StringBuilder out = new StringBuilder();
    for (Option o : OPTIONS) {
      String left = o.flag() + (o.isSwitch() ? "" : " " + o.valueName());
      out.append(usageEntry(left, o.help(), o.env(), o.defaultValue()));
    }
    out.append(String.format(Locale.ROOT, "  %-44s %s%n", "--help", "print this help and exit"));
    return out.toString();
  }

  /**
   * Returns the two usage lines of one flag: {@code left} (the flag and its value) with its
   * meaning, then its variable and default; the application's flags use it too.
   */
  public static String usageEntry(String left, String help, String env, String defaultValue) {
    return String.format(
        Locale.ROOT,
        "  %-44s %s%n  %-44s (env %s; default %s)%n",
        left,
        help,
        "",
        env,
        defaultValue);
  }

  /** Whether {@code flag} (such as {@code --hook-threads}) is one of the framework's flags. */
  public static boolean isFlag(String flag) {
    return lookUp(flag) != null;
  }

  /** Whether the framework's {@code flag} takes a value, as opposed to a switch. */
  public static boolean takesValue(String flag) {
    return !find(flag).isSwitch();
  }

  /** Whether {@code name} is the environment variable of one of the framework's flags. */
  public static boolean isVariable(String name) {
    for (Option o : OPTIONS) {
      if (o.env().equals(name)) {
        return true;
      }
    }
    return false;
  }

  private static Option find(String flag) {
    Option option = lookUp(flag);
    if (option == null) {
      throw new IllegalArgumentException("unknown flag: " + flag + " (see --help)");
    }
    return option;
  }

  private static @Nullable Option lookUp(String flag) {
    for (Option o : OPTIONS) {
      if (o.flag().equals(flag)) {
        return o;
      }
    }
    return null;
  }

  private static String envValue(Option option, String value) {
    return option.isSwitch() ? booleanValue(option.env(), value) : value;
  }

  private static String booleanValue(String source, String value) {
    return switch (value.trim().toLowerCase(Locale.ROOT)) {
      case "true", "1", "yes" -> "true";
      case "false", "0", "no", "" -> "false";
      default ->
          throw new IllegalArgumentException(
              source + "=" + value + ": not a boolean (expected: true or false)");
    };
  }

  private static int parseInt(String value) {
    try {
      return Integer.parseInt(value.trim());
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("not an integer", e);
    }
  }

  private static <E extends Enum<E>> E parseEnum(Class<E> type, String value, String expected) {
    try {
      return Enum.valueOf(type, value.trim().replace('-', '_').toUpperCase(Locale.ROOT));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("unknown value (expected: " + expected + ")", e);
    }
  }
}

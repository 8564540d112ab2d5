package dev.extproc.callout.samples;

import com.google.protobuf.ByteString;
import dev.extproc.callout.CalloutServer;
import dev.extproc.callout.CalloutServer.Launcher.Flags;
import dev.extproc.callout.CalloutServerConfig;
import dev.extproc.callout.samples.addbody.AddBody;
import dev.extproc.callout.samples.addcustomresponse.AddCustomResponse;
import dev.extproc.callout.samples.addheader.AddHeader;
import dev.extproc.callout.samples.basic.Basic;
import dev.extproc.callout.samples.blockip.BlockIp;
import dev.extproc.callout.samples.dynamicforwarding.DynamicForwarding;
import dev.extproc.callout.samples.jwt.JwtVerifier;
import dev.extproc.callout.samples.jwtauth.JwtAuth;
import dev.extproc.callout.samples.jwtauthz.JwtAuthz;
import dev.extproc.callout.samples.networkbasic.NetworkBasic;
import dev.extproc.callout.samples.normalizeheader.NormalizeHeader;
import dev.extproc.callout.samples.observe.Observe;
import dev.extproc.callout.samples.redactbody.RedactBody;
import dev.extproc.callout.samples.redirect.Redirect;
import dev.extproc.callout.samples.setcookie.SetCookie;
import dev.extproc.callout.samples.sseguard.SseGuard;
import dev.extproc.callout.samples.stateful.Stateful;
import dev.extproc.callout.samples.updateheader.UpdateHeader;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.interfaces.RSAPublicKey;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;

/**
 * The runnable jar's entry point: {@code java -jar callout-server.jar [--sample NAME] [flags]} runs
 * one bundled sample, {@value #DEFAULT_SAMPLE} by default. It declares its own four flags on a
 * {@link CalloutServer.Launcher}, next to the framework's.
 */
public final class SampleMain {

  /** The sample run when neither {@code --sample} nor {@code CALLOUT_SAMPLE} is given. */
  public static final String DEFAULT_SAMPLE = "add-header";

  private static final String SAMPLE = "--sample";
  private static final String JWT_PUBLIC_KEY = "--jwt-public-key";
  private static final String JWT_AUDIENCE = "--jwt-audience";
  private static final String LOG_FORMAT = "--log-format";
  private static final String NETWORK_FORBIDDEN = "--network-forbidden";

  /** The system property through which the log format reaches {@link ConsoleLogConfigurator}. */
  static final String LOG_FORMAT_PROPERTY = "callout.log.format";

  static final String JSON = "json";

  /** Builds a sample from the launcher's flags; throws IllegalArgumentException for bad ones. */
  private interface Sample {
    Function<CalloutServerConfig, CalloutServer> create(Flags flags);
  }

  /** Every bundled sample by its {@code --sample} name. */
  static final Map<String, Sample> SAMPLES = samples();

  private SampleMain() {}

  /** Returns the names {@code --sample} accepts, in the order {@code --help} lists them. */
  public static Set<String> sampleNames() {
    return Collections.unmodifiableSet(new LinkedHashSet<>(SAMPLES.keySet()));
  }

  /**
   * Returns what builds sample {@code name} given the launcher's flags {@code args} (jwt-auth needs
   * {@code --jwt-public-key PATH}).
   *
   * @throws IllegalArgumentException when there is no such sample, or for a bad or missing flag
   */
  static Function<CalloutServerConfig, CalloutServer> factory(String name, String... args) {
    Sample sample = SAMPLES.get(name);
    if (sample == null) {
      throw new IllegalArgumentException(
          "sample: " + name + " (expected one of: " + SAMPLES.keySet() + ")");
    }
    return sample.create(launcher().parse(args, Map.of()));
  }

  private static Map<String, Sample> samples() {
    Map<String, Sample> samples = new LinkedHashMap<>();
    samples.put("basic", flags -> Basic::new);
    samples.put("add-header", flags -> AddHeader::new);
    samples.put("add-body", flags -> AddBody::new);
    samples.put("update-header", flags -> UpdateHeader::new);
    samples.put("normalize-header", flags -> NormalizeHeader::new);
    samples.put("redirect", flags -> Redirect::new);
    samples.put("set-cookie", flags -> SetCookie::new);
    samples.put("jwt-auth", SampleMain::jwtAuth);
    samples.put("add-custom-response", flags -> AddCustomResponse::new);
    samples.put("dynamic-forwarding", flags -> DynamicForwarding::new);
    samples.put("stateful", flags -> Stateful::new);
    samples.put("redact-body", flags -> RedactBody::new);
    samples.put("sse-guard", flags -> SseGuard::new);
    samples.put("observe", flags -> Observe::new);
    samples.put("block-ip", flags -> BlockIp::new);
    samples.put("network-basic", SampleMain::networkBasic);
    samples.put("jwt-authz", SampleMain::jwtAuthz);
    return samples;
  }

  private static Function<CalloutServerConfig, CalloutServer> jwtAuth(Flags flags) {
    JwtVerifier verifier = jwtVerifier(flags, "jwt-auth");
    return config -> new JwtAuth(config, verifier);
  }

  private static Function<CalloutServerConfig, CalloutServer> jwtAuthz(Flags flags) {
    JwtVerifier verifier = jwtVerifier(flags, "jwt-authz");
    return config -> new JwtAuthz(config, verifier);
  }

  /**
   * The verifier of jwt-auth and jwt-authz. No default key: one a repository publishes would let
   * anyone sign tokens it accepts.
   */
  private static JwtVerifier jwtVerifier(Flags flags, String sample) {
    RSAPublicKey key =
        flags
            .value(JWT_PUBLIC_KEY, SampleMain::readPublicKey)
            .orElseThrow(
                () ->
                    new IllegalArgumentException(
                        sample
                            + " needs "
                            + JWT_PUBLIC_KEY
                            + " PATH (or CALLOUT_JWT_PUBLIC_KEY): the PEM RSA public key that"
                            + " verifies tokens"));
    JwtVerifier.Builder verifier = JwtVerifier.newBuilder(key);
    flags.value(JWT_AUDIENCE, SampleMain::audience).ifPresent(verifier::audience);
    return verifier.build();
  }

  private static String audience(String value) {
    if (value.isBlank()) {
      throw new IllegalArgumentException("blank audience (expected: a name such as my-api)");
    }
    return value;
  }

  private static Function<CalloutServerConfig, CalloutServer> networkBasic(Flags flags) {
    ByteString forbidden = flags.value(NETWORK_FORBIDDEN, SampleMain::forbidden).orElseThrow();
    return config -> new NetworkBasic(config, forbidden);
  }

  private static ByteString forbidden(String value) {
    if (value.isEmpty()) {
      throw new IllegalArgumentException("empty (expected: at least one character)");
    }
    return ByteString.copyFromUtf8(value);
  }

  private static RSAPublicKey readPublicKey(String path) {
    try {
      return JwtVerifier.readPublicKey(Files.readAllBytes(Path.of(path)));
    } catch (IOException e) {
      throw new IllegalArgumentException(
          "cannot read it (" + e.getClass().getSimpleName() + ")", e);
    }
  }

  /** Runs the chosen sample until SIGTERM; see {@link CalloutServer.Launcher#launch}. */
  public static void main(String[] args) {
    launcher().launch(args, SampleMain::create);
  }

  /** Runs the chosen sample and returns the process exit code. */
  static int run(String[] args, Map<String, String> env, PrintStream out, PrintStream err) {
    return launcher().run(args, env, out, err, SampleMain::create);
  }

  private static CalloutServer.Launcher launcher() {
    return CalloutServer.launcher("java -jar callout-server.jar")
        .flag(SAMPLE, "CALLOUT_SAMPLE", "NAME", "the sample to run (see below)", DEFAULT_SAMPLE)
        .optionalFlag(
            JWT_PUBLIC_KEY,
            "CALLOUT_JWT_PUBLIC_KEY",
            "PATH",
            "PEM RSA public key that jwt-auth and jwt-authz verify tokens with",
            "none: jwt-auth and jwt-authz refuse to start")
        .optionalFlag(
            JWT_AUDIENCE,
            "CALLOUT_JWT_AUDIENCE",
            "NAME",
            "the audience jwt-auth and jwt-authz accept in a token's aud claim",
            "none: tokens that carry aud are invalid")
        .flag(
            NETWORK_FORBIDDEN,
            "CALLOUT_NETWORK_FORBIDDEN",
            "TEXT",
            "network-basic closes a connection whose client sends these bytes (UTF-8)",
            NetworkBasic.DEFAULT_FORBIDDEN)
        .flag(
            LOG_FORMAT,
            "CALLOUT_LOG_FORMAT",
            "text|json",
            "log lines as text, or as JSON objects for Google Cloud Logging",
            "text")
        .helpNote("Samples: " + String.join(", ", SAMPLES.keySet()));
  }

  /** Builds the chosen sample; runs before anything is logged. */
  private static CalloutServer create(CalloutServerConfig config, Flags flags) {
    String logFormat = flags.value(LOG_FORMAT, SampleMain::logFormat).orElseThrow();
    // Read by ConsoleLogConfigurator when logging starts, which is after this.
    System.setProperty(LOG_FORMAT_PROPERTY, logFormat);
    Sample sample = flags.value(SAMPLE, SampleMain::sample).orElseThrow();
    return sample.create(flags).apply(config);
  }

  private static String logFormat(String value) {
    if (!value.equals(JSON) && !value.equals("text")) {
      throw new IllegalArgumentException("unknown log format (expected: text, json)");
    }
    return value;
  }

  private static Sample sample(String name) {
    Sample sample = SAMPLES.get(name);
    if (sample == null) {
      throw new IllegalArgumentException(
          "unknown sample (expected one of: " + String.join(", ", SAMPLES.keySet()) + ")");
    }
    return sample;
  }
}

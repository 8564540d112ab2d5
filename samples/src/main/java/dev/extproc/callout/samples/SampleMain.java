package dev.extproc.callout.samples;

import dev.extproc.callout.CalloutServer;
import dev.extproc.callout.CalloutServerConfig;
import dev.extproc.callout.internal.CommandLine;
import dev.extproc.callout.samples.addbody.AddBody;
import dev.extproc.callout.samples.addcustomresponse.AddCustomResponse;
import dev.extproc.callout.samples.addheader.AddHeader;
import dev.extproc.callout.samples.basic.Basic;
import dev.extproc.callout.samples.dynamicforwarding.DynamicForwarding;
import dev.extproc.callout.samples.jwtauth.JwtAuth;
import dev.extproc.callout.samples.normalizeheader.NormalizeHeader;
import dev.extproc.callout.samples.observe.Observe;
import dev.extproc.callout.samples.redactbody.RedactBody;
import dev.extproc.callout.samples.redirect.Redirect;
import dev.extproc.callout.samples.setcookie.SetCookie;
import dev.extproc.callout.samples.stateful.Stateful;
import dev.extproc.callout.samples.updateheader.UpdateHeader;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.interfaces.RSAPublicKey;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import org.jspecify.annotations.Nullable;
import org.slf4j.LoggerFactory;

/**
 * The runnable jar's entry point: {@code java -jar callout-server.jar [--sample NAME] [flags]} runs
 * one bundled sample, {@value #DEFAULT_SAMPLE} by default. It handles its own two flags and hands
 * the rest to the framework's command line.
 */
public final class SampleMain {

  /** The sample run when neither {@code --sample} nor {@code CALLOUT_SAMPLE} is given. */
  public static final String DEFAULT_SAMPLE = "add-header";

  private static final String SAMPLE = "--sample";
  private static final String JWT_PUBLIC_KEY = "--jwt-public-key";
  private static final String LOG_FORMAT = "--log-format";

  /** The system property through which the log format reaches {@link ConsoleLogConfigurator}. */
  static final String LOG_FORMAT_PROPERTY = "callout.log.format";

  static final String JSON = "json";

  /** A flag of the launcher's own, with its environment variable. */
  private record Flag(String name, String value, String help, String defaultValue) {
    String env() {
      return "CALLOUT_" + name.substring(2).replace('-', '_').toUpperCase(Locale.ROOT);
    }
  }

  private static final List<Flag> FLAGS =
      List.of(
          new Flag(SAMPLE, "NAME", "the sample to run (see below)", DEFAULT_SAMPLE),
          new Flag(
              JWT_PUBLIC_KEY,
              "PATH",
              "PEM RSA public key that jwt-auth verifies tokens with",
              "the bundled TEST key"),
          new Flag(
              LOG_FORMAT,
              "text|json",
              "log lines as text, or as JSON objects for Google Cloud Logging",
              "text"));

  /** Builds a sample from the launcher's flags; throws IllegalArgumentException for bad ones. */
  private interface Sample {
    Function<CalloutServerConfig, CalloutServer> create(Map<String, String[]> flags);
  }

  /** Every bundled sample by its {@code --sample} name. */
  static final Map<String, Sample> SAMPLES = samples();

  private SampleMain() {}

  /** Returns the names {@code --sample} accepts, in the order {@code --help} lists them. */
  public static Set<String> sampleNames() {
    return Collections.unmodifiableSet(new LinkedHashSet<>(SAMPLES.keySet()));
  }

  /**
   * Returns what builds sample {@code name} when the launcher gets no flags of its own (jwt-auth
   * then verifies with the bundled test key).
   *
   * @throws IllegalArgumentException when there is no such sample
   */
  static Function<CalloutServerConfig, CalloutServer> factory(String name) {
    Sample sample = SAMPLES.get(name);
    if (sample == null) {
      throw new IllegalArgumentException(
          "sample: " + name + " (expected one of: " + SAMPLES.keySet() + ")");
    }
    return sample.create(Map.of());
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
    samples.put("observe", flags -> Observe::new);
    return samples;
  }

  private static Function<CalloutServerConfig, CalloutServer> jwtAuth(Map<String, String[]> flags) {
    String[] path = flags.get(JWT_PUBLIC_KEY);
    RSAPublicKey key;
    if (path == null) {
      LoggerFactory.getLogger(SampleMain.class)
          .warn(
              "jwt-auth verifies tokens with the bundled TEST public key, whose private half is"
                  + " public: give {} PATH for real use",
              JWT_PUBLIC_KEY);
      key = JwtAuth.bundledTestKey();
    } else {
      try {
        key = JwtAuth.readPublicKey(Files.readAllBytes(Path.of(path[1])));
      } catch (IOException e) {
        throw new IllegalArgumentException(
            path[0] + "=" + path[1] + ": cannot read it (" + e.getClass().getSimpleName() + ")", e);
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException(path[0] + "=" + path[1] + ": " + e.getMessage(), e);
      }
    }
    return config -> new JwtAuth(config, key);
  }

  /** Runs the chosen sample until SIGTERM; see {@link CalloutServer#launch}. */
  public static void main(String[] args) {
    System.exit(run(args, System.getenv(), System.out, System.err));
  }

  /** Runs the chosen sample and returns the process exit code. */
  static int run(String[] args, Map<String, String> env, PrintStream out, PrintStream err) {
    // Flag -> {source, value}; flags win over environment variables.
    Map<String, String[]> flags = new HashMap<>();
    for (Flag flag : FLAGS) {
      String value = env.get(flag.env());
      if (value != null) {
        flags.put(flag.name(), new String[] {flag.env(), value});
      }
    }
    List<String> rest = new ArrayList<>();
    for (int i = 0; i < args.length; i++) {
      Flag flag = find(args[i]);
      if (flag == null) {
        rest.add(args[i]);
      } else if (args[i].startsWith(flag.name() + "=")) {
        flags.put(
            flag.name(), new String[] {flag.name(), args[i].substring(flag.name().length() + 1)});
      } else if (i + 1 < args.length) {
        flags.put(flag.name(), new String[] {flag.name(), args[++i]});
      } else {
        err.println(
            "callout-server: "
                + flag.name()
                + ": missing value (expected: "
                + flag.name()
                + " "
                + flag.value()
                + ")");
        return CommandLine.EXIT_USAGE;
      }
    }
    if (rest.contains("--help")) {
      out.print(CommandLine.usage(usage()));
      return 0;
    }
    String[] logFormat = flags.get(LOG_FORMAT);
    if (logFormat != null) {
      if (!logFormat[1].equals(JSON) && !logFormat[1].equals("text")) {
        err.println(
            "callout-server: "
                + logFormat[0]
                + "="
                + logFormat[1]
                + ": unknown log format (expected: text, json)");
        return CommandLine.EXIT_USAGE;
      }
      // Read by ConsoleLogConfigurator when logging starts, which is after this.
      System.setProperty(LOG_FORMAT_PROPERTY, logFormat[1]);
    }
    String[] sample = flags.getOrDefault(SAMPLE, new String[] {SAMPLE, DEFAULT_SAMPLE});
    Sample chosen = SAMPLES.get(sample[1]);
    if (chosen == null) {
      err.println(
          "callout-server: "
              + sample[0]
              + "="
              + sample[1]
              + ": unknown sample (expected one of: "
              + String.join(", ", SAMPLES.keySet())
              + ")");
      return CommandLine.EXIT_USAGE;
    }
    Function<CalloutServerConfig, CalloutServer> factory;
    try {
      factory = chosen.create(flags);
    } catch (IllegalArgumentException e) {
      err.println("callout-server: " + e.getMessage());
      return CommandLine.EXIT_USAGE;
    }
    return CommandLine.run(rest.toArray(new String[0]), env, factory, out, err);
  }

  private static @Nullable Flag find(String arg) {
    for (Flag flag : FLAGS) {
      if (arg.equals(flag.name()) || arg.startsWith(flag.name() + "=")) {
        return flag;
      }
    }
    return null;
  }

  private static String usage() {
    StringBuilder usage = new StringBuilder();
    for (Flag flag : FLAGS) {
      usage.append(
          String.format(
              Locale.ROOT,
              "  %-44s %s%n  %-44s (env %s; default %s)%n",
              flag.name() + " " + flag.value(),
              flag.help(),
              "",
              flag.env(),
              flag.defaultValue()));
    }
    usage.append(
        String.format(Locale.ROOT, "%nSamples: %s%n%n", String.join(", ", SAMPLES.keySet())));
    return usage.toString();
  }
}

package dev.extproc.callout.samples;

import dev.extproc.callout.CalloutServer;
import dev.extproc.callout.CalloutServerConfig;
import dev.extproc.callout.internal.CommandLine;
import dev.extproc.callout.samples.addheader.AddHeader;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * The runnable jar's entry point: {@code java -jar callout-server.jar [--sample NAME] [flags]} runs
 * one bundled sample, {@value #DEFAULT_SAMPLE} by default.
 */
public final class SampleMain {

  /** The sample run when neither {@code --sample} nor {@code CALLOUT_SAMPLE} is given. */
  public static final String DEFAULT_SAMPLE = "add-header";

  private static final String FLAG = "--sample";
  private static final String ENV = "CALLOUT_SAMPLE";

  /** Every bundled sample by its {@code --sample} name. */
  static final Map<String, Function<CalloutServerConfig, CalloutServer>> SAMPLES = samples();

  private SampleMain() {}

  private static Map<String, Function<CalloutServerConfig, CalloutServer>> samples() {
    Map<String, Function<CalloutServerConfig, CalloutServer>> samples = new LinkedHashMap<>();
    samples.put("add-header", AddHeader::new);
    return samples;
  }

  /** Runs the chosen sample until SIGTERM; see {@link CalloutServer#launch}. */
  public static void main(String[] args) {
    System.exit(run(args, System.getenv(), System.out, System.err));
  }

  /** Runs the chosen sample and returns the process exit code. */
  static int run(String[] args, Map<String, String> env, PrintStream out, PrintStream err) {
    String name = env.getOrDefault(ENV, DEFAULT_SAMPLE);
    String source = env.containsKey(ENV) ? ENV : FLAG;
    List<String> rest = new ArrayList<>();
    for (int i = 0; i < args.length; i++) {
      if (args[i].equals(FLAG)) {
        if (i + 1 >= args.length) {
          err.println("callout-server: " + FLAG + ": missing value (expected: " + FLAG + " NAME)");
          return CommandLine.EXIT_USAGE;
        }
        name = args[++i];
        source = FLAG;
      } else if (args[i].startsWith(FLAG + "=")) {
        name = args[i].substring(FLAG.length() + 1);
        source = FLAG;
      } else {
        rest.add(args[i]);
      }
    }
    if (rest.contains("--help")) {
      out.print(CommandLine.usage(usageLine()));
      return 0;
    }
    Function<CalloutServerConfig, CalloutServer> sample = SAMPLES.get(name);
    if (sample == null) {
      err.println(
          "callout-server: "
              + source
              + "="
              + name
              + ": unknown sample (expected one of: "
              + String.join(", ", SAMPLES.keySet())
              + ")");
      return CommandLine.EXIT_USAGE;
    }
    return CommandLine.run(rest.toArray(new String[0]), env, sample, out, err);
  }

  private static String usageLine() {
    return String.format(
        "  %-44s the sample to run: %s%n  %-44s (env %s; default %s)%n",
        FLAG + " NAME", String.join(", ", SAMPLES.keySet()), "", ENV, DEFAULT_SAMPLE);
  }
}

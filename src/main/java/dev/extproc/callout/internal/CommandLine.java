package dev.extproc.callout.internal;

import static com.google.common.base.Preconditions.checkArgument;

import dev.extproc.callout.CalloutServer;
import dev.extproc.callout.CalloutServerConfig;
import java.io.PrintStream;
import java.lang.reflect.Constructor;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Function;
import java.util.regex.Pattern;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The command line behind {@link CalloutServer.Launcher}: the application's flags next to the
 * framework's, the {@code --help} text, and the run loop. Not API: only {@code dev.extproc.callout}
 * uses it.
 */
public final class CommandLine {

  /** Exit code for a bad flag or value. */
  public static final int EXIT_USAGE = 2;

  /** Exit code for a server that could not start. */
  public static final int EXIT_START_FAILED = 1;

  private static final Pattern FLAG = Pattern.compile("--[a-z0-9][a-z0-9-]*");
  private static final Pattern VARIABLE = Pattern.compile("[A-Za-z_][A-Za-z0-9_]*");

  /** An application's flag; {@code defaultValue} is null for one without a default. */
  private record Flag(
      String name,
      String env,
      String valueName,
      String help,
      @Nullable String defaultValue,
      String shownDefault) {}

  /** The value of an application's flag and where it came from: the flag or its variable. */
  public record Value(String source, String value) {}

  /**
   * What {@link #parse} found: the framework's settings, the application's flags by name (those
   * without a default only when given), and the arguments nobody declared, in order.
   */
  public record Parsed(
      CalloutServerConfig config, Map<String, Value> values, List<String> remaining) {}

  /** The arguments sorted out, before the framework's are parsed. */
  private record Split(Map<String, Value> values, List<String> framework, List<String> remaining) {}

  private final String programName;
  private final Map<String, Flag> flags = new LinkedHashMap<>();
  private final List<String> notes = new ArrayList<>();

  /** Creates a command line whose {@code --help} shows {@code programName} in its usage line. */
  public CommandLine(String programName) {
    checkArgument(!programName.isBlank(), "program name is blank");
    this.programName = programName.strip();
  }

  /**
   * Declares an application's flag taking a value.
   *
   * @param defaultValue the value when neither the flag nor {@code env} is given; null for none
   * @param shownDefault what {@code --help} shows as the default
   * @throws IllegalArgumentException for a malformed name, or a flag or variable already taken
   */
  public void addFlag(
      String flag,
      String env,
      String valueName,
      String help,
      @Nullable String defaultValue,
      String shownDefault) {
    checkArgument(FLAG.matcher(flag).matches(), "flag: %s (expected: --lower-case-name)", flag);
    checkArgument(
        !flag.equals("--help") && !ConfigParser.isFlag(flag) && !flags.containsKey(flag),
        "flag %s is already taken",
        flag);
    checkArgument(
        VARIABLE.matcher(env).matches(),
        "environment variable of %s: %s (expected: letters, digits and _)",
        flag,
        env);
    checkArgument(
        !ConfigParser.isVariable(env)
            && flags.values().stream().noneMatch(f -> f.env().equals(env)),
        "environment variable %s is already taken",
        env);
    checkArgument(!valueName.isBlank(), "value name of %s is blank", flag);
    checkArgument(!help.isBlank(), "help of %s is blank", flag);
    checkArgument(!shownDefault.isBlank(), "default of %s is blank", flag);
    flags.put(flag, new Flag(flag, env, valueName, help, defaultValue, shownDefault));
  }

  /** Adds a paragraph to {@code --help}, after the application's flags. */
  public void addNote(String note) {
    checkArgument(!note.isBlank(), "note is blank");
    notes.add(note.strip());
  }

  /** Whether the application declared {@code flag}. */
  public boolean declares(String flag) {
    return flags.containsKey(flag);
  }

  /**
   * Returns the {@code --help} text: the usage line, the application's flags and notes, then the
   * framework's flags.
   */
  public String usage() {
    StringBuilder help =
        new StringBuilder()
            .append("Usage: ")
            .append(programName)
            .append(" [flags]\n")
            .append("Flags win over environment variables, which win over the defaults.\n\n");
    if (!flags.isEmpty()) {
      for (Flag f : flags.values()) {
        help.append(
            ConfigParser.usageEntry(
                f.name() + " " + f.valueName(), f.help(), f.env(), f.shownDefault()));
      }
      help.append('\n');
    }
    for (String note : notes) {
      help.append(note).append("\n\n");
    }
    return help.append(CalloutServerConfig.usage()).toString();
  }

  /**
   * Parses the application's and the framework's flags over their variables over the defaults;
   * leaves every other argument in {@link Parsed#remaining()}.
   *
   * @throws IllegalArgumentException naming the flag or variable, for a missing or bad value
   * @throws IllegalStateException when the framework's settings contradict each other
   */
  public Parsed parse(String[] args, Map<String, String> env) {
    Split split = split(args, env);
    return parsed(split, env);
  }

  private static Parsed parsed(Split split, Map<String, String> env) {
    return new Parsed(
        ConfigParser.parse(split.framework().toArray(new String[0]), env).build(),
        Collections.unmodifiableMap(split.values()),
        List.copyOf(split.remaining()));
  }

  private Split split(String[] args, Map<String, String> env) {
    Map<String, Value> values = new LinkedHashMap<>();
    for (Flag flag : flags.values()) {
      String fromEnv = env.get(flag.env());
      if (fromEnv != null) {
        values.put(flag.name(), new Value(flag.env(), fromEnv));
      } else if (flag.defaultValue() != null) {
        values.put(flag.name(), new Value(flag.name(), flag.defaultValue()));
      }
    }
    List<String> framework = new ArrayList<>();
    List<String> remaining = new ArrayList<>();
    for (int i = 0; i < args.length; i++) {
      String arg = args[i];
      int eq = arg.startsWith("--") ? arg.indexOf('=') : -1;
      String name = eq > 0 ? arg.substring(0, eq) : arg;
      Flag flag = flags.get(name);
      if (flag != null) {
        String value;
        if (eq > 0) {
          value = arg.substring(eq + 1);
        } else if (i + 1 < args.length) {
          value = args[++i];
        } else {
          throw new IllegalArgumentException(
              name + ": missing value (expected: " + name + " " + flag.valueName() + ")");
        }
        values.put(name, new Value(name, value));
      } else if (ConfigParser.isFlag(name)) {
        framework.add(arg);
        // A framework flag without its value is left for ConfigParser to report.
        if (eq < 0 && ConfigParser.takesValue(name) && i + 1 < args.length) {
          framework.add(args[++i]);
        }
      } else {
        remaining.add(arg);
      }
    }
    return new Split(values, framework, remaining);
  }

  /**
   * Returns a declared flag's value in {@code parsed}, converted by {@code parser}; empty when an
   * optional flag was given neither way. An {@link IllegalArgumentException} from {@code parser}
   * comes out prefixed by where the value came from ({@code --flag=x: ...} or {@code VAR=x: ...}).
   *
   * @throws IllegalArgumentException when {@code flag} was not declared, or {@code parser} rejects
   *     the value
   */
  public <T> Optional<T> value(Parsed parsed, String flag, Function<String, ? extends T> parser) {
    checkArgument(declares(flag), "flag %s was not declared", flag);
    Value value = parsed.values().get(flag);
    if (value == null) {
      return Optional.empty();
    }
    try {
      return Optional.of(parser.apply(value.value()));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(
          value.source() + "=" + value.value() + ": " + e.getMessage(), e);
    }
  }

  /**
   * Parses the flags, builds the server with {@code factory}, starts it, drains it on SIGTERM or
   * SIGINT, and returns the exit code: 0 after a drain or {@code --help}, {@value #EXIT_USAGE} for
   * an unknown flag, a bad value, or an {@link IllegalArgumentException} from {@code factory},
   * {@value #EXIT_START_FAILED} when the server could not start. Nothing is logged before {@code
   * factory} returns, so it may set up logging from a flag.
   */
  public int run(
      String[] args,
      Map<String, String> env,
      PrintStream out,
      PrintStream err,
      Function<Parsed, ? extends CalloutServer> factory) {
    if (Arrays.asList(args).contains("--help")) {
      out.print(usage());
      return 0;
    }
    Parsed parsed;
    CalloutServer server;
    try {
      Split split = split(args, env);
      if (!split.remaining().isEmpty()) {
        throw new IllegalArgumentException(
            "unknown flag: " + split.remaining().get(0) + " (see --help)");
      }
      parsed = parsed(split, env);
    } catch (IllegalArgumentException | IllegalStateException e) {
      err.println(errorPrefix() + e.getMessage());
      return EXIT_USAGE;
    }
    try {
      server = factory.apply(parsed);
    } catch (IllegalArgumentException e) {
      err.println(errorPrefix() + e.getMessage());
      return EXIT_USAGE;
    }
    installJulBridge();
    try {
      server.start();
    } catch (Exception e) {
      logger().error("cannot start: {}", e.getMessage(), e);
      err.println(errorPrefix() + "cannot start: " + e.getMessage());
      server.close();
      return EXIT_START_FAILED;
    }
    logger().info("{} started with {}", server.getClass().getSimpleName(), parsed.config());
    if (!onTermination(() -> new Thread(server::close, "callout-drain").start())) {
      server.closeOnJvmShutdown();
    }
    try {
      server.awaitTermination();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      server.close();
    }
    return 0;
  }

  /**
   * Returns what error lines start with: the program name's last word without its directory or
   * {@code .jar}, as in {@code callout-server: } for {@code java -jar callout-server.jar}.
   */
  private String errorPrefix() {
    String word = programName.substring(programName.lastIndexOf(' ') + 1);
    word = word.substring(word.lastIndexOf('/') + 1);
    if (word.endsWith(".jar")) {
      word = word.substring(0, word.length() - ".jar".length());
    }
    return (word.isEmpty() ? programName : word) + ": ";
  }

  /** Looked up on use, never at class initialisation: see {@link #run}. */
  private static Logger logger() {
    return LoggerFactory.getLogger(CommandLine.class);
  }

  /**
   * Runs {@code drain} on SIGTERM and SIGINT instead of the JVM's default exit, so the process
   * exits 0 once drained. Uses {@code sun.misc.Signal} (module jdk.unsupported) through reflection,
   * since the project compiles with {@code --release 17} and {@code -Werror}.
   *
   * @return false when signals cannot be handled this way
   */
  private static boolean onTermination(Runnable drain) {
    try {
      Class<?> signalClass = Class.forName("sun.misc.Signal");
      Class<?> handlerClass = Class.forName("sun.misc.SignalHandler");
      Constructor<?> newSignal = signalClass.getConstructor(String.class);
      Method handle = signalClass.getMethod("handle", signalClass, handlerClass);
      Object handler =
          Proxy.newProxyInstance(
              handlerClass.getClassLoader(),
              new Class<?>[] {handlerClass},
              (proxy, method, methodArgs) -> {
                if (method.getName().equals("handle")) {
                  logger().info("received {}: draining", methodArgs[0]);
                  drain.run();
                  return null;
                }
                return method.invoke(drain, methodArgs);
              });
      for (String name : new String[] {"TERM", "INT"}) {
        handle.invoke(null, newSignal.newInstance(name), handler);
      }
      return true;
    } catch (ReflectiveOperationException | RuntimeException e) {
      logger().debug("cannot handle signals directly; using a shutdown hook", e);
      return false;
    }
  }

  /** grpc-java logs through java.util.logging: route it to SLF4J when the bridge is present. */
  private static void installJulBridge() {
    try {
      Class<?> bridge = Class.forName("org.slf4j.bridge.SLF4JBridgeHandler");
      bridge.getMethod("removeHandlersForRootLogger").invoke(null);
      bridge.getMethod("install").invoke(null);
    } catch (ReflectiveOperationException e) {
      logger().debug("jul-to-slf4j is not on the class path; grpc-java logs through JUL");
    }
  }
}

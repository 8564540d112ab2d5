package dev.extproc.callout.internal;

import dev.extproc.callout.CalloutServer;
import dev.extproc.callout.CalloutServerConfig;
import java.io.PrintStream;
import java.lang.reflect.Constructor;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.util.Arrays;
import java.util.Map;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** The command line entry point behind {@link CalloutServer#launch}. */
public final class CommandLine {
  private static final Logger logger = LoggerFactory.getLogger(CommandLine.class);

  /** Exit code for a bad flag or value. */
  public static final int EXIT_USAGE = 2;

  /** Exit code for a server that could not start. */
  public static final int EXIT_START_FAILED = 1;

  private CommandLine() {}

  /** Runs the server until it is drained, then exits the JVM with the result of {@link #run}. */
  public static void launch(
      String[] args,
      Map<String, String> env,
      Function<CalloutServerConfig, ? extends CalloutServer> factory) {
    System.exit(run(args, env, factory, System.out, System.err));
  }

  /**
   * Parses the flags, starts the server, drains it on SIGTERM or SIGINT, and returns the exit code:
   * 0 after a drain or {@code --help}, {@value #EXIT_USAGE} for a bad flag or value, {@value
   * #EXIT_START_FAILED} when the server could not start.
   */
  public static int run(
      String[] args,
      Map<String, String> env,
      Function<CalloutServerConfig, ? extends CalloutServer> factory,
      PrintStream out,
      PrintStream err) {
    if (Arrays.asList(args).contains("--help")) {
      out.print(usage(""));
      return 0;
    }
    CalloutServerConfig config;
    try {
      config = CalloutServerConfig.fromArgs(args, env);
    } catch (IllegalArgumentException | IllegalStateException e) {
      err.println("callout-server: " + e.getMessage());
      return EXIT_USAGE;
    }
    installJulBridge();
    CalloutServer server = factory.apply(config);
    try {
      server.start();
    } catch (Exception e) {
      logger.error("cannot start: {}", e.getMessage(), e);
      err.println("callout-server: cannot start: " + e.getMessage());
      return EXIT_START_FAILED;
    }
    logger.info("{} started with {}", server.getClass().getSimpleName(), config);
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

  /** The {@code --help} text: a usage line, {@code extraFlags}, then the framework's flags. */
  public static String usage(String extraFlags) {
    return "Usage: java -jar callout-server.jar [flags]\n"
        + "Flags win over environment variables, which win over the defaults.\n\n"
        + extraFlags
        + CalloutServerConfig.usage();
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
                  logger.info("received {}: draining", methodArgs[0]);
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
      logger.debug("cannot handle signals directly; using a shutdown hook", e);
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
      logger.debug("jul-to-slf4j is not on the class path; grpc-java logs through JUL");
    }
  }
}

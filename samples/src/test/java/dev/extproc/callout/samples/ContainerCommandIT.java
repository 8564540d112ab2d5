package dev.extproc.callout.samples;

import static com.google.common.truth.Truth.assertThat;
import static com.google.common.truth.Truth.assertWithMessage;
import static com.google.common.truth.extensions.proto.ProtoTruth.assertThat;
import static java.util.Objects.requireNonNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.extproc.callout.CalloutServerConfig;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import java.io.IOException;
import java.net.ConnectException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.PathMatcher;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.yaml.snakeyaml.Yaml;

/**
 * Runs the container image's command line without a container engine: reads the repository's {@code
 * Dockerfile}, lays the built jar out the way the final stage's {@code COPY} instructions do under
 * a temporary directory standing for the image's root, and starts the final stage's exec-form
 * {@code ENTRYPOINT} (plus {@code CMD}) there, from its {@code WORKDIR}, with its {@code ENV}. Also
 * checks the Dockerfile's static promises: non-root user, exposed ports equal to the server's
 * defaults, pinned base images (JDK 21+ to build, JRE 25+ to run), and a {@code .dockerignore} that
 * keeps what the build stage copies.
 *
 * <p>Uses the default ports 8000, 8080 and 8443, as the image does; failsafe runs the IT classes
 * one after another.
 */
class ContainerCommandIT {

  private static final int SECURE = ServerProcess.SECURE;

  /** The first JDK with {@code -XX:AOTCache} (JEP 483 came in 24; the image runs the LTS, 25). */
  private static final int AOT_CACHE_JDK = 24;

  /** Variables the test JVM's environment must not pass on: the image does not set them. */
  private static final Set<String> HOST_ONLY_VARIABLES =
      Set.of("JAVA_TOOL_OPTIONS", "JDK_JAVA_OPTIONS", "_JAVA_OPTIONS", "CLASSPATH");

  /** Stands for the image's file system root {@code /}. */
  @TempDir Path root;

  private @Nullable ServerProcess process;
  private final Path log =
      Path.of("target", "container-command-it-" + System.nanoTime() + ".log").toAbsolutePath();

  @AfterEach
  void stop() {
    if (process != null) {
      process.close();
    }
  }

  // ---------------------------------------------------------------------------------------------
  // The Dockerfile, parsed into stages of instructions.
  // ---------------------------------------------------------------------------------------------

  /** One instruction: its keyword in upper case and its arguments, continuation lines joined. */
  record Instruction(String keyword, String arguments) {}

  /** One {@code FROM} stage. */
  record Stage(String image, @Nullable String name, List<Instruction> instructions) {

    List<String> all(String keyword) {
      return instructions.stream()
          .filter(instruction -> instruction.keyword().equals(keyword))
          .map(Instruction::arguments)
          .collect(Collectors.toList());
    }

    /** The last instruction with this keyword, the one that counts for WORKDIR, USER, CMD... */
    String last(String keyword) {
      List<String> all = all(keyword);
      assertWithMessage("%s in the stage FROM %s", keyword, image).that(all).isNotEmpty();
      return all.get(all.size() - 1);
    }

    /** The image reference without a digest ({@code @sha256:...}), if any. */
    private String reference() {
      return image.contains("@") ? image.substring(0, image.indexOf('@')) : image;
    }

    /** Where the tag starts: after the last ':' that follows the last '/'. */
    private int tagColon() {
      String reference = reference();
      int colon = reference.lastIndexOf(':');
      assertWithMessage("FROM %s names no tag", image)
          .that(colon)
          .isGreaterThan(reference.lastIndexOf('/'));
      return colon;
    }

    /** The image's tag, such as {@code 25.0.3_9-jre}. */
    String tag() {
      return reference().substring(tagColon() + 1);
    }

    /** The image's repository, such as {@code eclipse-temurin}. */
    String repository() {
      return reference().substring(0, tagColon());
    }
  }

  /** A COPY instruction: its source paths, its destination and its {@code --from} stage if any. */
  record Copy(@Nullable String from, List<String> sources, String destination) {}

  private static final Pattern COPY_FROM = Pattern.compile("--from=(\\S+)");
  private static final Pattern ENV_PAIR =
      Pattern.compile("([A-Za-z_][A-Za-z0-9_]*)=(\"(?:[^\"\\\\]|\\\\.)*\"|\\S*)");
  private static final Pattern WHITESPACE = Pattern.compile("\\s+");

  /** The whitespace-separated words of {@code text}, in a list the caller may change. */
  private static List<String> words(String text) {
    return WHITESPACE.splitAsStream(text).collect(Collectors.toCollection(ArrayList::new));
  }

  private static List<Stage> dockerfile() throws IOException {
    String text = Files.readString(Path.of("Dockerfile"), StandardCharsets.UTF_8);
    List<String> logical = new ArrayList<>();
    StringBuilder current = new StringBuilder();
    for (String line : text.lines().collect(Collectors.toList())) {
      String trimmed = line.strip();
      // Comment lines and empty lines are dropped, also between continuation lines.
      if (trimmed.isEmpty() || trimmed.startsWith("#")) {
        continue;
      }
      if (trimmed.endsWith("\\")) {
        current.append(trimmed, 0, trimmed.length() - 1).append(' ');
      } else {
        logical.add(current.append(trimmed).toString());
        current.setLength(0);
      }
    }
    assertWithMessage("Dockerfile ends inside a continuation").that(current.toString()).isEmpty();

    List<Stage> stages = new ArrayList<>();
    for (String instruction : logical) {
      String[] parts = WHITESPACE.split(instruction, 2);
      String keyword = parts[0].toUpperCase(Locale.ROOT);
      String arguments = parts.length > 1 ? parts[1].strip() : "";
      if (keyword.equals("FROM")) {
        List<String> words = words(arguments);
        words.removeIf(word -> word.startsWith("--"));
        String name =
            words.size() == 3 && words.get(1).equalsIgnoreCase("AS") ? words.get(2) : null;
        stages.add(new Stage(words.get(0), name, new ArrayList<>()));
      } else {
        assertWithMessage("%s before the first FROM", keyword).that(stages).isNotEmpty();
        stages.get(stages.size() - 1).instructions().add(new Instruction(keyword, arguments));
      }
    }
    assertWithMessage("a build stage and a run stage").that(stages.size()).isAtLeast(2);
    return stages;
  }

  private static Stage finalStage(List<Stage> stages) {
    return stages.get(stages.size() - 1);
  }

  /** The stage the final stage copies the application from. */
  private static Stage buildStage(List<Stage> stages) {
    Set<String> froms = new TreeSet<>();
    for (Copy copy : copies(finalStage(stages))) {
      froms.add(requireNonNull(copy.from(), "the final stage copies only from the build stage"));
    }
    assertWithMessage("stages the final stage copies from").that(froms).hasSize(1);
    String from = froms.iterator().next();
    for (Stage stage : stages) {
      if (from.equals(stage.name())) {
        return stage;
      }
    }
    throw new AssertionError("no stage named " + from);
  }

  /** Parses an exec-form (JSON array) argument list. */
  private static List<String> execForm(String keyword, String arguments) {
    assertWithMessage("%s must be in exec form (a JSON array): %s", keyword, arguments)
        .that(arguments)
        .startsWith("[");
    // YAML reads JSON arrays of strings the same way.
    Object parsed = new Yaml().load(arguments);
    assertWithMessage("%s %s", keyword, arguments).that(parsed).isInstanceOf(List.class);
    List<String> words = new ArrayList<>();
    for (Object word : (List<?>) parsed) {
      assertWithMessage("%s %s", keyword, arguments).that(word).isInstanceOf(String.class);
      words.add((String) word);
    }
    return words;
  }

  private static List<Copy> copies(Stage stage) {
    List<Copy> copies = new ArrayList<>();
    for (String arguments : stage.all("COPY")) {
      List<String> words = words(arguments);
      String from = null;
      for (String word : words) {
        Matcher matcher = COPY_FROM.matcher(word);
        if (matcher.matches()) {
          from = matcher.group(1);
        }
      }
      words.removeIf(word -> word.startsWith("--"));
      if (words.size() == 1 && words.get(0).startsWith("[")) {
        words = execForm("COPY", arguments.substring(arguments.indexOf('[')));
      }
      assertWithMessage("COPY %s", arguments).that(words.size()).isAtLeast(2);
      copies.add(
          new Copy(
              from, List.copyOf(words.subList(0, words.size() - 1)), words.get(words.size() - 1)));
    }
    return copies;
  }

  private static Map<String, String> env(Stage stage) {
    Map<String, String> env = new LinkedHashMap<>();
    for (String arguments : stage.all("ENV")) {
      Matcher pair = ENV_PAIR.matcher(arguments);
      if (!arguments.contains("=") || !pair.lookingAt()) {
        String[] legacy = WHITESPACE.split(arguments, 2); // ENV KEY VALUE
        env.put(legacy[0], legacy.length > 1 ? legacy[1] : "");
        continue;
      }
      pair.reset();
      while (pair.find()) {
        String value = requireNonNull(pair.group(2));
        if (value.startsWith("\"")) {
          value = value.substring(1, value.length() - 1).replaceAll("\\\\(.)", "$1");
        }
        env.put(requireNonNull(pair.group(1)), value);
      }
    }
    return env;
  }

  private static Set<Integer> exposedPorts(Stage stage) {
    Set<Integer> ports = new TreeSet<>();
    for (String arguments : stage.all("EXPOSE")) {
      for (String port : words(arguments)) {
        ports.add(Integer.parseInt(port.replaceFirst("/tcp$", "")));
      }
    }
    return ports;
  }

  // ---------------------------------------------------------------------------------------------
  // The image's layout and command line, reproduced under the temporary root.
  // ---------------------------------------------------------------------------------------------

  /** Where a path of the image's file system lies under {@link #root}. */
  private Path inImage(String absolute) {
    assertThat(absolute).startsWith("/");
    return root.resolve(absolute.substring(1));
  }

  /**
   * Copies the build output as the final stage's COPY instructions do: a build-stage path under its
   * WORKDIR is the same path under this project's directory (the build runs in the project root); a
   * directory's contents go into the destination, a file into a destination ending in '/' keeps its
   * name.
   */
  private void layOutImage(List<Stage> stages) throws IOException {
    Path targetDir =
        Path.of(System.getProperty("callout.jar", "target/callout-server.jar"))
            .toAbsolutePath()
            .getParent();
    Path project = requireNonNull(targetDir).getParent();
    String buildWorkdir = buildStage(stages).last("WORKDIR").replaceFirst("/*$", "/");
    for (Copy copy : copies(finalStage(stages))) {
      for (String source : copy.sources()) {
        assertWithMessage("COPY source %s lies under the build stage's WORKDIR", source)
            .that(source.startsWith("/") ? source : buildWorkdir + source)
            .startsWith(buildWorkdir);
        String relative = source.startsWith("/") ? source.substring(buildWorkdir.length()) : source;
        Path from = requireNonNull(project).resolve(relative);
        assertWithMessage("build output %s (run `mvn package` first)", from)
            .that(Files.exists(from))
            .isTrue();
        Path to = inImage(copy.destination());
        if (Files.isDirectory(from)) {
          try (Stream<Path> files = Files.walk(from)) {
            for (Path file : files.filter(Files::isRegularFile).collect(Collectors.toList())) {
              Path target = to.resolve(from.relativize(file).toString());
              Files.createDirectories(requireNonNull(target.getParent()));
              Files.copy(file, target, StandardCopyOption.REPLACE_EXISTING);
            }
          }
        } else {
          Path target =
              copy.destination().endsWith("/") ? to.resolve(from.getFileName().toString()) : to;
          Files.createDirectories(requireNonNull(target.getParent()));
          Files.copy(from, target, StandardCopyOption.REPLACE_EXISTING);
        }
      }
    }
  }

  /**
   * The final stage's ENTRYPOINT followed by {@code arguments} (what {@code docker run IMAGE
   * arguments...} runs; with no arguments, the CMD), with {@code java} taken from this JVM and
   * absolute paths moved under the temporary root.
   */
  private List<String> command(Stage image, List<String> arguments) {
    List<String> entrypoint = execForm("ENTRYPOINT", image.last("ENTRYPOINT"));
    assertWithMessage("the ENTRYPOINT runs java from the image's PATH")
        .that(entrypoint.get(0))
        .isEqualTo("java");
    List<String> command = new ArrayList<>();
    command.add(Path.of(requireNonNull(System.getProperty("java.home")), "bin", "java").toString());
    for (String word : entrypoint.subList(1, entrypoint.size())) {
      if (word.startsWith("-XX:AOTCache=") && Runtime.version().feature() < AOT_CACHE_JDK) {
        // The image's JRE reads the training run's cache; an older JDK running this test does not
        // know the flag, and would have no cache to read anyway (see start()).
        continue;
      }
      command.add(word.startsWith("/") ? inImage(word).toString() : word);
    }
    command.addAll(
        arguments.isEmpty() ? execForm("CMD", image.last("CMD")) : List.copyOf(arguments));
    return command;
  }

  /** Starts the image's command in its WORKDIR with its ENV (plus {@code extraEnv}). */
  private ServerProcess start(List<String> arguments, Map<String, String> extraEnv)
      throws IOException {
    List<Stage> stages = dockerfile();
    Stage image = finalStage(stages);
    layOutImage(stages);
    Path workdir = inImage(image.last("WORKDIR"));
    List<String> command = command(image, arguments);
    // The ahead-of-time cache comes from the image build's training run, which this test cannot
    // do: a JDK 25 reports the missing cache (error lines) and starts without it, as it would in an
    // image whose cache did not fit. Only that report is silenced.
    command.add(1, "-Xlog:cds=off");
    if (Runtime.version().feature() >= AOT_CACHE_JDK) {
      command.add(1, "-Xlog:aot=off");
    }
    ProcessBuilder builder = new ProcessBuilder(command).directory(workdir.toFile());
    Map<String, String> environment = builder.environment();
    environment.keySet().removeIf(key -> key.startsWith("CALLOUT_"));
    environment.keySet().removeAll(HOST_ONLY_VARIABLES);
    environment.putAll(env(image));
    environment.putAll(extraEnv);
    ServerProcess started = ServerProcess.start(builder, log);
    process = started;
    return started;
  }

  private static ManagedChannel plaintextChannel() {
    return Grpc.newChannelBuilderForAddress(
            "127.0.0.1", ServerProcess.PLAINTEXT, InsecureChannelCredentials.create())
        .build();
  }

  // ---------------------------------------------------------------------------------------------
  // The image's command line, run.
  // ---------------------------------------------------------------------------------------------

  @Test
  void entrypoint_noArguments_servesTheDefaultSampleAndExitsZeroOnSigterm() throws Exception {
    ServerProcess.assertDefaultPortsFree();
    ServerProcess server = start(List.of(), Map.of());

    server.awaitHealthy(System.nanoTime()); // so the JVM accepted every flag of the ENTRYPOINT
    ServerProcess.assertAddHeaderReply(plaintextChannel());
    server.sigtermAndAssertExitZero();

    String output = server.output();
    assertThat(output).contains("AddHeader started");
    assertThat(output).contains("TLS gRPC listening on 0.0.0.0:" + SECURE);
    assertThat(output).contains("ephemeral self-signed certificate");
    assertThat(output).contains("received SIGTERM: draining");
    // The image's drain delay (its ENV), not a quick stop.
    assertThat(output).contains("still accepting streams for PT15S (drain delay)");
  }

  @Test
  void entrypoint_jvmFlags_areTakenFromTheCommandLine() throws Exception {
    List<String> command = command(finalStage(dockerfile()), List.of());
    List<String> jvmFlags = command.subList(1, command.indexOf("-jar"));
    assertThat(jvmFlags).isNotEmpty();
    List<String> probe = new ArrayList<>(command.subList(0, 1));
    probe.addAll(jvmFlags);
    probe.add("-XX:+PrintFlagsFinal");
    probe.add("-version");
    Process java = new ProcessBuilder(probe).redirectErrorStream(true).start();
    String flags = new String(java.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(java.waitFor(30, TimeUnit.SECONDS)).isTrue();
    assertWithMessage("%s\n%s", probe, flags).that(java.exitValue()).isEqualTo(0);

    Pattern xx = Pattern.compile("-XX:[+-]?([A-Za-z0-9]+)(?:=.*)?");
    for (String flag : jvmFlags) {
      Matcher name = xx.matcher(flag);
      assertWithMessage("only -XX flags in the ENTRYPOINT").that(name.matches()).isTrue();
      Pattern line =
          Pattern.compile(
              "(?m)^\\s*\\S+\\s+" + Pattern.quote(requireNonNull(name.group(1))) + "\\s.*$");
      Matcher found = line.matcher(flags);
      assertWithMessage("%s in -XX:+PrintFlagsFinal", flag).that(found.find()).isTrue();
      assertWithMessage("origin of %s", flag).that(found.group()).contains("{command line}");
    }
  }

  @Test
  void entrypoint_unknownSampleInEnvironment_exitsTwoNamingCalloutSample() throws Exception {
    ServerProcess launcher = start(List.of("--disable-tls"), Map.of("CALLOUT_SAMPLE", "nope"));

    assertWithMessage("exit code; output:\n%s", launcher.output())
        .that(launcher.awaitExit())
        .isEqualTo(2);
    assertThat(launcher.output()).startsWith("callout-server: CALLOUT_SAMPLE=nope: unknown sample");
  }

  @Test
  void entrypoint_appendedArguments_winOverTheEnvironmentAndReachTheServer() throws Exception {
    ServerProcess.assertDefaultPortsFree();
    // `docker run -e CALLOUT_SAMPLE=nope IMAGE --sample add-header --disable-tls`
    ServerProcess server =
        start(
            List.of("--sample", SampleMain.DEFAULT_SAMPLE, "--disable-tls"),
            Map.of("CALLOUT_SAMPLE", "nope", "CALLOUT_SHUTDOWN_DRAIN_DELAY", "0s"));

    server.awaitHealthy(System.nanoTime());
    ServerProcess.assertAddHeaderReply(plaintextChannel());
    try (Socket socket = new Socket()) {
      // --disable-tls reached the server: nothing listens on the TLS port.
      assertThrows(
          ConnectException.class,
          () ->
              socket.connect(
                  new InetSocketAddress(InetAddress.getLoopbackAddress(), SECURE), 2000));
    }
    server.sigtermAndAssertExitZero();
    assertThat(server.output()).doesNotContain("TLS gRPC listening");
  }

  // ---------------------------------------------------------------------------------------------
  // What the Dockerfile promises, read.
  // ---------------------------------------------------------------------------------------------

  @Test
  void dockerfile_finalStage_runsAsAFixedNonRootUser() throws Exception {
    String user = finalStage(dockerfile()).last("USER");
    String uid = user.contains(":") ? user.substring(0, user.indexOf(':')) : user;
    // Numeric, so Kubernetes' runAsNonRoot can check it without reading /etc/passwd.
    assertWithMessage("USER %s", user).that(uid).matches("[0-9]+");
    assertWithMessage("USER %s", user).that(Integer.parseInt(uid)).isGreaterThan(0);
  }

  @Test
  void dockerfile_exposedPorts_areTheServerDefaults() throws Exception {
    Set<Integer> defaults =
        Set.of(
            ServerProcess.port(CalloutServerConfig.DEFAULT_HEALTH_CHECK_ADDRESS),
            ServerProcess.port(CalloutServerConfig.DEFAULT_PLAINTEXT_ADDRESS),
            ServerProcess.port(CalloutServerConfig.DEFAULT_SECURE_ADDRESS));
    assertThat(defaults).containsExactly(8000, 8080, 8443); // as the README and deploy/ say
    assertThat(exposedPorts(finalStage(dockerfile()))).containsExactlyElementsIn(defaults);
    // Reachable from outside the container: every listener binds all interfaces by default.
    assertThat(CalloutServerConfig.DEFAULT_HEALTH_CHECK_ADDRESS).startsWith("0.0.0.0:");
    assertThat(CalloutServerConfig.DEFAULT_PLAINTEXT_ADDRESS).startsWith("0.0.0.0:");
    assertThat(CalloutServerConfig.DEFAULT_SECURE_ADDRESS).startsWith("0.0.0.0:");
  }

  @Test
  void dockerfile_baseImages_arePinnedJdk21AndJre25OrNewer() throws Exception {
    List<Stage> stages = dockerfile();
    for (Stage stage : stages) {
      assertWithMessage("FROM %s", stage.image()).that(stage.image()).doesNotContain("latest");
      assertWithMessage("FROM %s: a full version (major.minor.patch)", stage.image())
          .that(stage.tag())
          .containsMatch("[0-9]+\\.[0-9]+\\.[0-9]+");
    }

    Stage build = buildStage(stages);
    assertThat(build.repository()).isEqualTo("maven");
    Matcher jdk = Pattern.compile("-eclipse-temurin-([0-9]+)(?:-|$)").matcher(build.tag());
    assertWithMessage("build stage FROM %s: Maven on Temurin", build.image())
        .that(jdk.find())
        .isTrue();
    assertWithMessage("build stage JDK")
        .that(Integer.parseInt(requireNonNull(jdk.group(1))))
        .isAtLeast(21);

    Stage run = finalStage(stages);
    assertThat(run.repository()).isEqualTo("eclipse-temurin");
    Matcher jre =
        Pattern.compile("^([0-9]+)\\.[0-9]+\\.[0-9]+(?:_[0-9]+)?-jre(?:-|$)").matcher(run.tag());
    assertWithMessage("run stage FROM %s: a JRE", run.image()).that(jre.find()).isTrue();
    // The current LTS, for its ahead-of-time cache (-XX:AOTCache in the ENTRYPOINT).
    assertWithMessage("run stage JRE")
        .that(Integer.parseInt(requireNonNull(jre.group(1))))
        .isAtLeast(25);
  }

  @Test
  void dockerfile_finalStage_copiesDependenciesBeforeTheJarAndRunsItFromWorkdir() throws Exception {
    List<Stage> stages = dockerfile();
    Stage image = finalStage(stages);
    String workdir = image.last("WORKDIR");
    assertThat(workdir).isEqualTo("/app");

    List<Copy> copies = copies(image);
    assertThat(copies).hasSize(2);
    assertThat(copies.get(0).sources()).hasSize(1);
    assertThat(copies.get(0).sources().get(0)).endsWith("/target/lib/");
    assertThat(copies.get(0).destination()).isEqualTo(workdir + "/lib/");
    assertThat(copies.get(1).sources()).hasSize(1);
    assertThat(copies.get(1).sources().get(0)).endsWith("/target/callout-server.jar");
    assertThat(copies.get(1).destination()).isEqualTo(workdir + "/");

    List<String> entrypoint = execForm("ENTRYPOINT", image.last("ENTRYPOINT"));
    assertThat(entrypoint).containsAtLeast("-jar", workdir + "/callout-server.jar").inOrder();
    assertThat(entrypoint.get(entrypoint.size() - 1)).isEqualTo(workdir + "/callout-server.jar");
    assertThat(entrypoint).contains("-XX:+ExitOnOutOfMemoryError");
    assertThat(entrypoint.stream().anyMatch(word -> word.startsWith("-XX:MaxRAMPercentage=")))
        .isTrue();
    assertThat(execForm("CMD", image.last("CMD"))).isEmpty();
    // The JVM uses the cache only with the flags it was trained with.
    String cache = workdir + "/callout.aot";
    List<String> jvmFlags = entrypoint.subList(1, entrypoint.indexOf("-jar"));
    assertThat(jvmFlags).contains("-XX:AOTCache=" + cache);
    List<String> training = new ArrayList<>();
    for (String run : image.all("RUN")) {
      Matcher java = Pattern.compile("\\bjava ((?:-\\S+\\s+)+)-jar ").matcher(run);
      if (run.contains("-XX:AOTCacheOutput=") && java.find()) {
        for (String flag : words(requireNonNull(java.group(1)))) {
          training.add(flag.replace("-XX:AOTCacheOutput=", "-XX:AOTCache="));
        }
      }
    }
    assertWithMessage("the training run's JVM flags").that(training).isEqualTo(jvmFlags);

    Map<String, String> env = env(image);
    assertThat(env).containsEntry("CALLOUT_SAMPLE", SampleMain.DEFAULT_SAMPLE);
    // Without the mounted files the server would not start, so these are documented, not set.
    assertThat(env).doesNotContainKey("CALLOUT_CERT_CHAIN_PATH");
    assertThat(env).doesNotContainKey("CALLOUT_PRIVATE_KEY_PATH");
    assertThat(image.all("HEALTHCHECK")).isEmpty();
  }

  @Test
  void dockerignore_keepsEverythingTheBuildStageCopies() throws Exception {
    Stage build = buildStage(dockerfile());
    List<String> copied = new ArrayList<>();
    for (Copy copy : copies(build)) {
      assertThat(copy.from()).isNull();
      copied.addAll(copy.sources());
    }
    assertThat(copied).containsAtLeast("pom.xml", ".mvn/", "src/", "samples/");

    List<PathMatcher> ignored = new ArrayList<>();
    for (String line : Files.readAllLines(Path.of(".dockerignore"), StandardCharsets.UTF_8)) {
      String pattern = line.strip().replaceFirst("/+$", "");
      if (pattern.isEmpty() || pattern.startsWith("#")) {
        continue;
      }
      assertWithMessage("no exceptions (!) in .dockerignore").that(pattern).doesNotMatch("!.*");
      ignored.add(FileSystems.getDefault().getPathMatcher("glob:" + pattern));
      // Docker's "**/" also matches no directory at all.
      if (pattern.startsWith("**/")) {
        ignored.add(FileSystems.getDefault().getPathMatcher("glob:" + pattern.substring(3)));
      }
    }

    int checked = 0;
    for (String source : copied) {
      Path top = Path.of(source);
      List<Path> files;
      try (Stream<Path> walk = Files.walk(top)) {
        files =
            walk.filter(Files::isRegularFile)
                .filter(file -> !file.toString().contains("target"))
                // A stand-alone project for users to copy, not a module of the reactor the
                // build stage runs: .dockerignore keeps it out on purpose.
                .filter(file -> !file.startsWith(Path.of("samples", "starter")))
                .collect(Collectors.toList());
      }
      for (Path file : files) {
        for (Path prefix = file; prefix != null; prefix = prefix.getParent()) {
          for (PathMatcher matcher : ignored) {
            assertWithMessage(".dockerignore excludes %s, which the build stage copies", file)
                .that(matcher.matches(prefix))
                .isFalse();
          }
        }
        checked++;
      }
    }
    assertThat(checked).isGreaterThan(10);

    // And what the image must not be built from: local build output and VCS data.
    for (String excluded : List.of("target/callout-server.jar", ".git")) {
      boolean matched = false;
      for (Path prefix = Path.of(excluded); prefix != null; prefix = prefix.getParent()) {
        for (PathMatcher matcher : ignored) {
          matched |= matcher.matches(prefix);
        }
      }
      assertWithMessage(".dockerignore excludes %s", excluded).that(matched).isTrue();
    }
  }
}

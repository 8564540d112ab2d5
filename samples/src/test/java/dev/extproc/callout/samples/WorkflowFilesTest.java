package dev.extproc.callout.samples;

import static com.google.common.truth.Truth.assertThat;
import static com.google.common.truth.Truth.assertWithMessage;
import static java.util.Objects.requireNonNull;

import java.io.IOException;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.Test;
import org.yaml.snakeyaml.Yaml;

/**
 * Reads the GitHub Actions workflows: CI runs the README's test command on JDK 17, 21 and 25, and
 * the image workflow builds the root Dockerfile and publishes only for tags.
 */
class WorkflowFilesTest {

  /** README's test commands: install every module, then build the starter against them. */
  private static final List<String> TEST_COMMANDS =
      List.of("mvn -B install", "mvn -B -f samples/starter/pom.xml verify");

  private static final String ON_TAG = "startsWith(github.ref, 'refs/tags/v')";

  private static Map<?, ?> load(String file) throws IOException {
    try (Reader reader =
        Files.newBufferedReader(Path.of(".github", "workflows", file), StandardCharsets.UTF_8)) {
      Object workflow = new Yaml().load(reader);
      assertWithMessage(file).that(workflow).isInstanceOf(Map.class);
      return (Map<?, ?>) workflow;
    }
  }

  private static Map<?, ?> map(@Nullable Object value, String what) {
    assertWithMessage(what).that(value).isInstanceOf(Map.class);
    return (Map<?, ?>) requireNonNull(value);
  }

  private static List<?> list(@Nullable Object value, String what) {
    assertWithMessage(what).that(value).isInstanceOf(List.class);
    return (List<?>) requireNonNull(value);
  }

  /** The triggers; YAML 1.1 (SnakeYAML) reads the bare key {@code on} as the boolean true. */
  private static @Nullable Object triggers(Map<?, ?> workflow) {
    return workflow.containsKey("on") ? workflow.get("on") : workflow.get(true);
  }

  private static List<Map<?, ?>> steps(Map<?, ?> workflow) {
    List<Map<?, ?>> steps = new ArrayList<>();
    for (Object job : map(workflow.get("jobs"), "jobs").values()) {
      for (Object step : list(map(job, "job").get("steps"), "steps")) {
        steps.add(map(step, "step"));
      }
    }
    return steps;
  }

  private static String uses(Map<?, ?> step) {
    return String.valueOf(step.get("uses"));
  }

  @Test
  void ci_runsTheReadmeTestCommandOnJdk17_21And25() throws IOException {
    Map<?, ?> ci = load("ci.yml");
    Object on = triggers(ci);
    assertThat(on instanceof Map ? ((Map<?, ?>) on).keySet() : list(on, "on"))
        .containsAtLeast("push", "pull_request");

    List<String> runs = new ArrayList<>();
    for (Map<?, ?> step : steps(ci)) {
      if (step.containsKey("run")) {
        runs.add(String.valueOf(step.get("run")).strip());
      }
    }
    assertThat(runs).hasSize(1);
    assertThat(runs.get(0).lines().map(String::strip).toList())
        .containsExactlyElementsIn(TEST_COMMANDS)
        .inOrder();

    Map<?, ?> jobs = map(ci.get("jobs"), "jobs");
    assertThat(jobs).hasSize(1);
    Map<?, ?> job = map(jobs.values().iterator().next(), "job");
    Map<?, ?> matrix = map(map(job.get("strategy"), "strategy").get("matrix"), "matrix");
    List<String> jdks = new ArrayList<>();
    for (Object jdk : list(matrix.get("java"), "matrix.java")) {
      jdks.add(String.valueOf(jdk));
    }
    assertThat(jdks).containsExactly("17", "21", "25");

    boolean setUp = false;
    for (Map<?, ?> step : steps(ci)) {
      if (uses(step).startsWith("actions/setup-java@")) {
        Map<?, ?> with = map(step.get("with"), "setup-java with");
        assertThat(with.get("distribution")).isEqualTo("temurin");
        assertThat(with.get("java-version")).isEqualTo("${{ matrix.java }}");
        assertThat(with.get("cache")).isEqualTo("maven");
        setUp = true;
      }
    }
    assertThat(setUp).isTrue();
  }

  @Test
  void readme_quickStart_givesTheCiTestCommand() throws IOException {
    String readme = Files.readString(Path.of("README.md"), StandardCharsets.UTF_8);
    int start = readme.indexOf("## Quick start");
    assertThat(start).isAtLeast(0);
    int end = readme.indexOf("\n## ", start + 1);
    String quickStart = readme.substring(start, end < 0 ? readme.length() : end);
    List<String> commands = new ArrayList<>();
    Matcher block = Pattern.compile("```sh\n(.*?)```", Pattern.DOTALL).matcher(quickStart);
    while (block.find()) {
      commands.addAll(String.valueOf(block.group(1)).strip().lines().toList());
    }
    assertThat(commands).containsAtLeastElementsIn(TEST_COMMANDS).inOrder();
  }

  @Test
  void release_onVersionTagsOnly_testsThenDeploysWithTheReleaseProfile() throws IOException {
    Map<?, ?> release = load("release.yml");
    Map<?, ?> on = map(triggers(release), "on");
    assertThat(on.keySet()).containsExactly("push");
    Map<?, ?> push = map(on.get("push"), "on.push");
    assertThat(push.keySet()).containsExactly("tags");
    assertThat(list(push.get("tags"), "on.push.tags")).containsExactly("v*");

    List<String> runs = new ArrayList<>();
    for (Map<?, ?> step : steps(release)) {
      if (step.containsKey("run")) {
        runs.add(String.valueOf(step.get("run")).strip());
      }
    }
    int test = -1;
    int publish = -1;
    for (int i = 0; i < runs.size(); i++) {
      if (runs.get(i).lines().map(String::strip).toList().equals(TEST_COMMANDS)) {
        test = i;
      }
      if (runs.get(i).equals("mvn -B -Prelease deploy -DskipTests")) {
        publish = i;
      }
    }
    assertWithMessage("the README's test commands run before the deploy").that(test).isAtLeast(0);
    assertThat(publish).isGreaterThan(test);
  }

  @Test
  void ciRun_runsTheReadmeTestCommands() throws IOException {
    List<String> lines =
        Files.readString(Path.of(".ci", "run"), StandardCharsets.UTF_8)
            .lines()
            .map(String::strip)
            .toList();
    assertThat(lines).containsAtLeastElementsIn(TEST_COMMANDS).inOrder();
  }

  @Test
  void image_buildsTheRootDockerfileAndPublishesOnlyForTags() throws IOException {
    Map<?, ?> image = load("image.yml");
    Map<?, ?> push = map(map(triggers(image), "on").get("push"), "on.push");
    assertThat(list(push.get("tags"), "on.push.tags")).containsExactly("v*");
    // With a tags filter alone, branch pushes would not run the workflow.
    assertThat(list(push.get("branches"), "on.push.branches")).containsExactly("**");

    int builds = 0;
    int publishes = 0;
    for (Map<?, ?> step : steps(image)) {
      String uses = uses(step);
      if (uses.startsWith("docker/build-push-action@")) {
        Map<?, ?> with = map(step.get("with"), "build-push-action with");
        assertThat(with.get("context")).isEqualTo(".");
        assertThat(with.get("file")).isEqualTo("Dockerfile");
        assertThat(String.valueOf(with.get("cache-from"))).isEqualTo("type=gha");
        builds++;
        if (Boolean.TRUE.equals(with.get("push"))) {
          assertWithMessage("a pushing step runs only for tags")
              .that(step.get("if"))
              .isEqualTo(ON_TAG);
          assertThat(String.valueOf(with.get("tags"))).isEqualTo("${{ steps.meta.outputs.tags }}");
          publishes++;
        } else {
          assertWithMessage("push of an untagged build").that(with.get("push")).isEqualTo(false);
        }
      }
      if (uses.startsWith("docker/login-action@")) {
        assertThat(step.get("if")).isEqualTo(ON_TAG);
      }
      if (uses.startsWith("docker/metadata-action@")) {
        assertThat(map(step.get("with"), "metadata-action with").get("images"))
            .isEqualTo("ghcr.io/${{ github.repository }}");
      }
    }
    assertThat(builds).isEqualTo(2);
    assertThat(publishes).isEqualTo(1);

    Map<?, ?> job = map(map(image.get("jobs"), "jobs").values().iterator().next(), "job");
    assertThat(map(job.get("permissions"), "permissions")).containsEntry("packages", "write");
  }

  @Test
  void workflows_pinEveryActionToAMajorVersion() throws IOException {
    for (String file : List.of("ci.yml", "image.yml")) {
      for (Map<?, ?> step : steps(load(file))) {
        if (step.containsKey("uses")) {
          assertWithMessage("%s: %s", file, uses(step))
              .that(uses(step))
              .matches("[a-z-]+/[a-z-]+@v[0-9]+");
        }
      }
    }
  }
}

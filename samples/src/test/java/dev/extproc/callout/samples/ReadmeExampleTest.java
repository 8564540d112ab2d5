package dev.extproc.callout.samples;

import static com.google.common.truth.Truth.assertThat;
import static com.google.common.truth.Truth.assertWithMessage;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.extproc.callout.CalloutServer;
import dev.extproc.callout.CalloutServerConfig;
import dev.extproc.callout.CalloutTools;
import dev.extproc.callout.testing.CalloutTester;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.tools.JavaCompiler;
import javax.tools.ToolProvider;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.platform.engine.discovery.DiscoverySelectors;
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder;
import org.junit.platform.launcher.core.LauncherFactory;
import org.junit.platform.launcher.listeners.SummaryGeneratingListener;

/**
 * Compiles the README's "Writing your own callout", "Your own flags" and "Testing your callout"
 * examples and runs them (the last one through the JUnit launcher), checks that its complete
 * callout and test are the starter's files, and checks its API table, so the README stays true.
 */
class ReadmeExampleTest {

  @TempDir Path dir;

  /** Returns the first Java block after {@code heading}. */
  private static String example(String heading) throws Exception {
    String readme = Files.readString(Path.of("README.md"), StandardCharsets.UTF_8);
    int section = readme.indexOf(heading);
    assertThat(section).isAtLeast(0);
    Matcher block = Pattern.compile("```java\n(.*?)```", Pattern.DOTALL).matcher(readme);
    assertThat(block.find(section)).isTrue();
    return block.group(1);
  }

  @Test
  void writingYourOwnCallout_compilesAndAddsItsHeader() throws Exception {
    Path source = dir.resolve("AddHeader.java");
    Files.writeString(source, example("## Writing your own callout"));

    assertThat(compile(source)).isEqualTo(0);
    try (URLClassLoader loader =
        new URLClassLoader(new URL[] {dir.toUri().toURL()}, getClass().getClassLoader())) {
      var constructor =
          loader.loadClass("AddHeader").getDeclaredConstructor(CalloutServerConfig.class);
      constructor.setAccessible(true);
      CalloutServer callout =
          (CalloutServer) constructor.newInstance(CalloutServerConfig.defaults());
      try (CalloutTester tester = CalloutTester.of(callout)) {
        assertThat(tester.newStream().requestHeaders(CalloutTester.headers(":path", "/")))
            .isEqualTo(
                ProcessingResponse.newBuilder()
                    .setRequestHeaders(
                        CalloutTools.clearRouteCache(
                            CalloutTools.addHeaderMutation(List.of(Map.entry("x-hello", "world")))))
                    .build());
      }
    }
  }

  @Test
  void yourOwnFlags_compilesAddsTheGreetingAndRefusesAnUnprintableOne() throws Exception {
    Path source = dir.resolve("Greeter.java");
    Files.writeString(source, example("### Your own flags"));

    assertThat(compile(source)).isEqualTo(0);
    try (URLClassLoader loader =
        new URLClassLoader(new URL[] {dir.toUri().toURL()}, getClass().getClassLoader())) {
      Class<?> greeter = loader.loadClass("Greeter");
      var constructor = greeter.getDeclaredConstructor(CalloutServerConfig.class, String.class);
      constructor.setAccessible(true);
      CalloutServer callout =
          (CalloutServer) constructor.newInstance(CalloutServerConfig.defaults(), "hi");
      try (CalloutTester tester = CalloutTester.of(callout)) {
        assertThat(tester.newStream().requestHeaders(CalloutTester.headers(":path", "/")))
            .isEqualTo(
                ProcessingResponse.newBuilder()
                    .setRequestHeaders(
                        CalloutTools.addHeaderMutation(List.of(Map.entry("x-greeting", "hi"))))
                    .build());
      }
      Method printable = greeter.getDeclaredMethod("printable", String.class);
      printable.setAccessible(true);
      InvocationTargetException refused =
          assertThrows(InvocationTargetException.class, () -> printable.invoke(null, ""));
      assertThat(refused).hasCauseThat().isInstanceOf(IllegalArgumentException.class);
      assertThat(refused).hasCauseThat().hasMessageThat().isEqualTo("not printable ASCII");
    }
  }

  @Test
  void testingYourCallout_compilesWithTheCalloutAndItsTestsPass() throws Exception {
    Path callout = dir.resolve("AddHeader.java");
    Files.writeString(callout, example("## Writing your own callout"));
    Path test = dir.resolve("AddHeaderTest.java");
    Files.writeString(test, example("## Testing your callout"));

    assertThat(compile(callout, test)).isEqualTo(0);
    try (URLClassLoader loader =
        new URLClassLoader(new URL[] {dir.toUri().toURL()}, getClass().getClassLoader())) {
      SummaryGeneratingListener listener = new SummaryGeneratingListener();
      LauncherFactory.create()
          .execute(
              LauncherDiscoveryRequestBuilder.request()
                  .selectors(DiscoverySelectors.selectClass(loader.loadClass("AddHeaderTest")))
                  .build(),
              listener);
      StringWriter failures = new StringWriter();
      listener.getSummary().printFailuresTo(new PrintWriter(failures), 20);
      assertThat(failures.toString()).isEmpty();
      assertThat(listener.getSummary().getTestsSucceededCount()).isEqualTo(2);
    }
  }

  /**
   * Compiles {@code sources} into {@link #dir} against the test class path; returns javac's code.
   */
  private int compile(Path... sources) {
    String classPath =
        System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
    JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
    List<String> args = new ArrayList<>(List.of("-cp", classPath, "-d", dir.toString()));
    for (Path source : sources) {
      args.add(source.toString());
    }
    return javac.run(null, null, null, args.toArray(new String[0]));
  }

  @Test
  void aCompleteCalloutAndItsTest_areTheStartersFiles() throws Exception {
    String readme = Files.readString(Path.of("README.md"), StandardCharsets.UTF_8);
    int section = readme.indexOf("### A complete callout and its test");
    assertThat(section).isAtLeast(0);
    Matcher block = Pattern.compile("```java\n(.*?)```", Pattern.DOTALL).matcher(readme);
    Path starter = Path.of("samples", "starter", "src");
    for (String file :
        List.of(
            "main/java/com/example/callout/GreetingCallout.java",
            "test/java/com/example/callout/GreetingCalloutTest.java")) {
      assertThat(block.find(section)).isTrue();
      assertWithMessage("README's copy of %s", file)
          .that(block.group(1))
          .isEqualTo(Files.readString(starter.resolve(file), StandardCharsets.UTF_8));
      section = block.end();
    }
  }

  @Test
  void apiTable_listsExactlyThePublicTopLevelTypes() throws Exception {
    Set<String> publicTypes = new TreeSet<>();
    try (var files = Files.list(Path.of("src/main/java/dev/extproc/callout"))) {
      for (Path file : (Iterable<Path>) files::iterator) {
        if (!file.toString().endsWith(".java")) {
          continue;
        }
        Matcher declaration =
            Pattern.compile(
                    "^public (?:final |abstract )*(?:class|interface|enum|record) (\\w+)",
                    Pattern.MULTILINE)
                .matcher(Files.readString(file, StandardCharsets.UTF_8));
        if (declaration.find()) {
          publicTypes.add(declaration.group(1));
        }
      }
    }
    String readme = Files.readString(Path.of("README.md"), StandardCharsets.UTF_8);
    String section = readme.substring(readme.indexOf("### API"), readme.indexOf("### Hooks"));
    Set<String> listed = new TreeSet<>();
    Matcher row = Pattern.compile("^\\| `(\\w+)` \\|", Pattern.MULTILINE).matcher(section);
    while (row.find()) {
      listed.add(row.group(1));
    }

    assertThat(listed).containsExactlyElementsIn(publicTypes);
  }
}

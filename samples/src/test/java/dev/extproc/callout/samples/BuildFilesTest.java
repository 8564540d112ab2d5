package dev.extproc.callout.samples;

import static com.google.common.truth.Truth.assertThat;
import static com.google.common.truth.Truth.assertWithMessage;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import javax.xml.parsers.DocumentBuilderFactory;
import org.junit.jupiter.api.Test;
import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.Node;

/**
 * Reads the build files: one version everywhere a user meets it (the parent, the BOM, the starter
 * and the README), and a BOM that manages every published module.
 */
class BuildFilesTest {

  private static Document pom(String path) throws Exception {
    DocumentBuilderFactory factory = DocumentBuilderFactory.newInstance();
    factory.setFeature("http://apache.org/xml/features/disallow-doctype-decl", true);
    return factory.newDocumentBuilder().parse(Path.of(path).toFile());
  }

  /** The text of the project's own child element {@code name} (not a parent's or plugin's). */
  private static String child(Document pom, String name) {
    for (Node node = pom.getDocumentElement().getFirstChild();
        node != null;
        node = node.getNextSibling()) {
      if (node instanceof Element && node.getNodeName().equals(name)) {
        return node.getTextContent().strip();
      }
    }
    throw new AssertionError("no <" + name + "> in the POM");
  }

  private static List<String> texts(Document pom, String tag) {
    List<String> texts = new ArrayList<>();
    var nodes = pom.getElementsByTagName(tag);
    for (int i = 0; i < nodes.getLength(); i++) {
      texts.add(nodes.item(i).getTextContent().strip());
    }
    return texts;
  }

  @Test
  void bom_hasTheParentsVersion_andManagesEveryPublishedModule() throws Exception {
    Document parent = pom("pom.xml");
    Document bom = pom("bom/pom.xml");
    String version = child(parent, "version");

    assertThat(child(bom, "version")).isEqualTo(version);
    List<String> modules = new ArrayList<>();
    for (String module : child(parent, "modules").split("\\s+", 0)) {
      modules.add(module);
    }
    assertThat(modules).containsExactly("callout", "testing", "samples", "bench", "bom");
    List<String> published = new ArrayList<>();
    for (String module : modules) {
      Document modulePom = pom(module + "/pom.xml");
      String artifact = child(modulePom, "artifactId");
      assertWithMessage("%s/pom.xml artifactId", module)
          .that(artifact)
          .startsWith("extproc-callout");
      if (!module.equals("bom")) {
        published.add(artifact);
        assertWithMessage("%s/pom.xml description", module)
            .that(child(modulePom, "description"))
            .isNotEmpty();
      }
    }
    assertThat(texts(bom, "artifactId"))
        .containsAtLeastElementsIn(published.toArray(new String[0]));
  }

  @Test
  void starterAndReadme_useTheParentsVersion() throws Exception {
    String version = child(pom("pom.xml"), "version");

    assertThat(texts(pom("samples/starter/pom.xml"), "extproc.version")).containsExactly(version);
    String readme = Files.readString(Path.of("README.md"), StandardCharsets.UTF_8);
    assertThat(readme).contains("The current version is **`" + version + "`**");
    assertThat(readme).contains("<version>" + version + "</version>");
  }

  @Test
  void parent_carriesWhatMavenCentralRequires() throws Exception {
    Document parent = pom("pom.xml");
    Document bom = pom("bom/pom.xml");
    for (Document pom : List.of(parent, bom)) {
      assertThat(child(pom, "url")).startsWith("https://");
      assertThat(texts(pom, "license")).isNotEmpty();
      assertThat(texts(pom, "developer")).isNotEmpty();
      assertThat(child(pom, "scm")).contains("scm:git:");
    }
  }
}

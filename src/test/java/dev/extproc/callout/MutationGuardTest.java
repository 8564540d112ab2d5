package dev.extproc.callout;

import static com.google.common.truth.Truth.assertThat;
import static com.google.common.truth.extensions.proto.ProtoTruth.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import com.google.protobuf.BoolValue;
import com.google.protobuf.ByteString;
import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import dev.extproc.callout.CalloutServerConfig.MutationPolicy;
import dev.extproc.callout.CalloutServerConfig.MutationProfile;
import io.envoyproxy.envoy.config.core.v3.HeaderValue;
import io.envoyproxy.envoy.config.core.v3.HeaderValueOption;
import io.envoyproxy.envoy.config.core.v3.HeaderValueOption.HeaderAppendAction;
import io.envoyproxy.envoy.service.ext_proc.v3.BodyMutation;
import io.envoyproxy.envoy.service.ext_proc.v3.BodyResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.CommonResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.CommonResponse.ResponseStatus;
import io.envoyproxy.envoy.service.ext_proc.v3.HeaderMutation;
import io.envoyproxy.envoy.service.ext_proc.v3.HeadersResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.ImmediateResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.TrailersResponse;
import io.envoyproxy.envoy.type.v3.HttpStatus;
import io.envoyproxy.envoy.type.v3.StatusCode;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.ValueSource;
import org.slf4j.LoggerFactory;

class MutationGuardTest {
  private static final long STREAM = 42;

  private static final String ROUTING =
      "Envoy ignores mutations of host, :authority, :method and :scheme"
          + " unless mutation_rules.allow_all_routing is set";
  private static final String ENVOY_HEADER =
      "Envoy ignores mutations of x-envoy* headers unless mutation_rules.allow_envoy is set";
  private static final String REMOVE_SYSTEM =
      "Envoy never removes host or a pseudo-header, whatever mutation_rules say";
  private static final String INVALID_SET_KEY =
      "invalid character in key; Envoy fails the request with 500"
          + " (\"Invalid character in set_headers mutation.\")";
  private static final String INVALID_VALUE =
      "NUL, CR or LF in raw_value; Envoy fails the request with 500"
          + " (\"Invalid character in set_headers mutation.\")";
  private static final String BAD_STATUS =
      "Envoy ignores a :status that is not a number of at least 200";

  private static final MutationGuard ENVOY_REJECT =
      new MutationGuard(MutationPolicy.REJECT, MutationProfile.ENVOY);
  private static final MutationGuard ENVOY_DROP =
      new MutationGuard(MutationPolicy.DROP, MutationProfile.ENVOY);
  private static final MutationGuard GCP_REJECT =
      new MutationGuard(MutationPolicy.REJECT, MutationProfile.SERVICE_EXTENSIONS);
  private static final MutationGuard TRAFFIC_REJECT =
      new MutationGuard(MutationPolicy.REJECT, MutationProfile.SERVICE_EXTENSIONS_TRAFFIC);

  // ---- Helpers ----

  private static HeaderValue header(String key, String value) {
    return HeaderValue.newBuilder().setKey(key).setRawValue(ByteString.copyFromUtf8(value)).build();
  }

  private static HeaderValueOption set(String key, String value) {
    return HeaderValueOption.newBuilder().setHeader(header(key, value)).build();
  }

  @SuppressWarnings("deprecation") // Envoy reads only the deprecated append flag.
  private static HeaderValueOption append(String key, String value) {
    return HeaderValueOption.newBuilder()
        .setHeader(header(key, value))
        .setAppend(BoolValue.of(true))
        .setAppendAction(HeaderAppendAction.APPEND_IF_EXISTS_OR_ADD)
        .build();
  }

  private static HeaderMutation sets(HeaderValueOption... options) {
    return HeaderMutation.newBuilder().addAllSetHeaders(List.of(options)).build();
  }

  private static HeaderMutation removes(String... keys) {
    return HeaderMutation.newBuilder().addAllRemoveHeaders(List.of(keys)).build();
  }

  private static ProcessingResponse requestHeaders(HeaderMutation mutation) {
    return ProcessingResponse.newBuilder()
        .setRequestHeaders(
            HeadersResponse.newBuilder()
                .setResponse(CommonResponse.newBuilder().setHeaderMutation(mutation)))
        .build();
  }

  private static ProcessingResponse responseHeaders(HeaderMutation mutation) {
    return ProcessingResponse.newBuilder()
        .setResponseHeaders(
            HeadersResponse.newBuilder()
                .setResponse(CommonResponse.newBuilder().setHeaderMutation(mutation)))
        .build();
  }

  private static String rejected(MutationGuard guard, ProcessingResponse response) {
    return String.valueOf(
        assertThrows(IllegalStateException.class, () -> guard.check(response, true, STREAM))
            .getMessage());
  }

  private static String rejected(MutationGuard guard, HeaderMutation mutation) {
    return rejected(guard, requestHeaders(mutation));
  }

  private static void assertPasses(MutationGuard guard, HeaderMutation mutation) {
    ProcessingResponse response = requestHeaders(mutation);
    assertThat(guard.check(response, true, STREAM)).isSameInstanceAs(response);
  }

  /** A mutation of set_headers only whose serialized size is exactly {@code size} bytes. */
  private static HeaderMutation mutationOfSize(int size) {
    List<HeaderValueOption> options = new ArrayList<>();
    while (sets(options.toArray(new HeaderValueOption[0])).getSerializedSize() + 17000 < size) {
      options.add(set("x-pad-" + options.size(), "a".repeat(16000)));
    }
    int base = sets(options.toArray(new HeaderValueOption[0])).getSerializedSize();
    int length = size - base - 16;
    for (int attempt = 0; attempt < 5; attempt++) {
      List<HeaderValueOption> all = new ArrayList<>(options);
      all.add(set("x-last", "a".repeat(length)));
      HeaderMutation mutation = sets(all.toArray(new HeaderValueOption[0]));
      int difference = size - mutation.getSerializedSize();
      if (difference == 0) {
        return mutation;
      }
      length += difference;
    }
    throw new AssertionError("no mutation of " + size + " bytes");
  }

  // ---- What passes, and costs nothing ----

  @ParameterizedTest
  @EnumSource(MutationPolicy.class)
  void check_replyWithoutHeaderMutation_returnsSameInstance(MutationPolicy policy) {
    for (MutationProfile profile : MutationProfile.values()) {
      MutationGuard guard = new MutationGuard(policy, profile);
      List<ProcessingResponse> replies = new ArrayList<>();
      for (Phase phase : Phase.values()) {
        replies.add(phase.continueResponse());
      }
      replies.add(ProcessingResponse.getDefaultInstance());
      replies.add(
          ProcessingResponse.newBuilder()
              .setRequestBody(
                  CalloutTools.clearRouteCache(
                      CalloutTools.addBodyMutation(ByteString.copyFromUtf8("new body"))))
              .build());
      replies.add(
          ProcessingResponse.newBuilder()
              .setImmediateResponse(
                  ImmediateResponse.newBuilder()
                      .setStatus(HttpStatus.newBuilder().setCode(StatusCode.Forbidden)))
              .build());
      replies.add(requestHeaders(HeaderMutation.getDefaultInstance()));
      replies.add(
          ProcessingResponse.newBuilder()
              .setResponseTrailers(
                  TrailersResponse.newBuilder()
                      .setHeaderMutation(HeaderMutation.getDefaultInstance()))
              .build());

      for (ProcessingResponse reply : replies) {
        assertThat(guard.check(reply, true, STREAM)).isSameInstanceAs(reply);
      }
    }
  }

  @ParameterizedTest
  @EnumSource(MutationProfile.class)
  void check_allowedMutations_returnSameInstance(MutationProfile profile) {
    HeaderMutation mutation =
        HeaderMutation.newBuilder()
            .addSetHeaders(set("x-foo", "1"))
            .addSetHeaders(set("X-Mixed-Case", "2"))
            .addSetHeaders(append("x-foo", "3"))
            .addSetHeaders(set(":path", "/new?q=1"))
            .addSetHeaders(set("x-empty", ""))
            .addSetHeaders(set("x-tab-and-obs-text", "a\tb\u00e9"))
            .addRemoveHeaders("x-bar")
            .addRemoveHeaders("X-Baz")
            .build();
    for (MutationPolicy policy : MutationPolicy.values()) {
      assertPasses(new MutationGuard(policy, profile), mutation);
      ProcessingResponse status = responseHeaders(sets(set(":status", "404")));
      assertThat(new MutationGuard(policy, profile).check(status, false, STREAM))
          .isSameInstanceAs(status);
    }
  }

  @Test
  void off_everyViolation_returnsSameInstance() {
    HeaderMutation.Builder mutation =
        HeaderMutation.newBuilder()
            .addSetHeaders(set(":authority", "evil.example"))
            .addSetHeaders(set("x-envoy-foo", "1"))
            .addSetHeaders(set("x bad", "1"))
            .addSetHeaders(set("x-forwarded-for", "1"))
            .addRemoveHeaders(":path");
    for (int i = 0; i < 150; i++) {
      mutation.addSetHeaders(set("x-" + i, "a".repeat(1000)));
    }
    ProcessingResponse response =
        ProcessingResponse.newBuilder()
            .setResponseHeaders(
                HeadersResponse.newBuilder()
                    .setResponse(
                        CommonResponse.newBuilder()
                            .setHeaderMutation(mutation)
                            .setClearRouteCache(true)))
            .build();
    for (MutationProfile profile : MutationProfile.values()) {
      MutationGuard guard = new MutationGuard(MutationPolicy.OFF, profile);
      assertThat(guard.check(response, false, STREAM)).isSameInstanceAs(response);
    }
  }

  // ---- Case 6: what Envoy ignores with mutation_rules unset ----

  @Test
  void reject_setAuthority_throwsNamingTheHeader() {
    String message = rejected(ENVOY_REJECT, sets(set("x-ok", "1"), set(":authority", "b.example")));

    assertThat(message)
        .isEqualTo(
            "header_mutation.set_headers[1] \":authority\": Envoy ignores mutations of host,"
                + " :authority, :method and :scheme unless mutation_rules.allow_all_routing is"
                + " set (policy REJECT)");
  }

  @ParameterizedTest
  @ValueSource(strings = {"host", "Host", ":method", ":scheme", ":authority"})
  void reject_setOrAppendRoutingHeader_anyCase(String key) {
    String expected =
        "header_mutation.set_headers[0] \"" + key + "\": " + ROUTING + " (policy REJECT)";

    assertThat(rejected(ENVOY_REJECT, sets(set(key, "http")))).isEqualTo(expected);
    assertThat(rejected(ENVOY_REJECT, sets(append(key, "http")))).isEqualTo(expected);
  }

  @ParameterizedTest
  @ValueSource(strings = {"x-envoy-foo", "X-Envoy-Original-Path", "x-envoyish"})
  void reject_setEnvoyHeader(String key) {
    assertThat(rejected(ENVOY_REJECT, sets(set(key, "1"))))
        .isEqualTo(
            "header_mutation.set_headers[0] \"" + key + "\": " + ENVOY_HEADER + " (policy REJECT)");
  }

  @Test
  void reject_removeEnvoyHeader() {
    assertThat(rejected(ENVOY_REJECT, removes("x-ok", "x-envoy-bar")))
        .isEqualTo(
            "header_mutation.remove_headers[1] \"x-envoy-bar\": Envoy ignores mutations of"
                + " x-envoy* headers unless mutation_rules.allow_envoy is set (policy REJECT)");
  }

  @ParameterizedTest
  @ValueSource(strings = {":path", "host", "HOST", ":authority", ":status"})
  void reject_removePseudoHeaderOrHost_evenWhenAllowed(String key) {
    MutationGuard allowing =
        new MutationGuard(
            MutationPolicy.REJECT,
            MutationProfile.ENVOY,
            Set.of(":path", "host", ":authority", ":status"));
    String expected =
        "header_mutation.remove_headers[0] \"" + key + "\": " + REMOVE_SYSTEM + " (policy REJECT)";

    assertThat(rejected(ENVOY_REJECT, removes(key))).isEqualTo(expected);
    assertThat(rejected(allowing, removes(key))).isEqualTo(expected);
  }

  @Test
  void reject_appendToPath() {
    assertThat(rejected(ENVOY_REJECT, sets(append(":path", "/x"))))
        .isEqualTo(
            "header_mutation.set_headers[0] \":path\": Envoy ignores appends to pseudo-headers,"
                + " which are single-valued (policy REJECT)");
  }

  @Test
  void appendActionWithoutAppendFlag_isASetForEnvoy_passes() {
    // APPEND_IF_EXISTS_OR_ADD is append_action's default value; Envoy reads only `append`.
    assertPasses(
        ENVOY_REJECT,
        sets(
            HeaderValueOption.newBuilder()
                .setHeader(header(":path", "/x"))
                .setAppendAction(HeaderAppendAction.APPEND_IF_EXISTS_OR_ADD)
                .build()));
  }

  @Test
  void allowedHeaders_exemptRoutingAndEnvoyHeaders() {
    MutationGuard guard =
        new MutationGuard(
            MutationPolicy.REJECT,
            MutationProfile.ENVOY,
            Set.of(":authority", "HOST", "x-envoy-*"));

    assertPasses(
        guard,
        sets(
            set(":authority", "b.example:8443"), set("Host", "[::1]:80"), set("x-envoy-foo", "1")));
    assertPasses(guard, removes("x-envoy-bar"));
    assertThat(rejected(guard, sets(set(":method", "POST"))))
        .isEqualTo("header_mutation.set_headers[0] \":method\": " + ROUTING + " (policy REJECT)");
  }

  @Test
  void allowedHeaders_appendToAuthority_stillRejected() {
    MutationGuard guard =
        new MutationGuard(MutationPolicy.REJECT, MutationProfile.ENVOY, Set.of(":authority"));

    assertThat(rejected(guard, sets(append(":authority", "b.example"))))
        .isEqualTo(
            "header_mutation.set_headers[0] \":authority\": Envoy ignores appends to"
                + " pseudo-headers, which are single-valued (policy REJECT)");
  }

  @Test
  void allowedHeaders_invalidAuthorityOrScheme_rejected() {
    MutationGuard guard =
        new MutationGuard(
            MutationPolicy.REJECT, MutationProfile.ENVOY, Set.of(":authority", ":scheme"));

    assertThat(rejected(guard, sets(set(":authority", "b.example/path"))))
        .isEqualTo(
            "header_mutation.set_headers[0] \":authority\": Envoy ignores a host or :authority"
                + " that is not a valid authority (policy REJECT)");
    assertThat(rejected(guard, sets(set(":scheme", "ftp"))))
        .isEqualTo(
            "header_mutation.set_headers[0] \":scheme\": Envoy ignores a :scheme other than http"
                + " or https (policy REJECT)");
    assertPasses(guard, sets(set(":scheme", "HTTPS"), set(":scheme", "http")));
  }

  @Test
  void allowedHeaders_emptyName_throws() {
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () -> new MutationGuard(MutationPolicy.REJECT, MutationProfile.ENVOY, Set.of("")));

    assertThat(e)
        .hasMessageThat()
        .isEqualTo("allowed header: \"\" (expected: a header name, or a prefix and *)");
  }

  @ParameterizedTest
  @ValueSource(strings = {"abc", "199", "", "2OO", "+200", " 200", "99999999999", "-200"})
  void reject_statusNotANumberOfAtLeast200(String status) {
    assertThat(rejected(ENVOY_REJECT, sets(set(":status", status))))
        .isEqualTo(
            "header_mutation.set_headers[0] \":status\": " + BAD_STATUS + " (policy REJECT)");
  }

  @ParameterizedTest
  @ValueSource(strings = {"200", "404", "599", "4294967295"})
  void statusNumberOfAtLeast200_passes(String status) {
    assertPasses(ENVOY_REJECT, sets(set(":status", status)));
  }

  @Test
  void continueAndReplace_allowsMethodInHeadersResponseOnly() {
    CommonResponse replace =
        CommonResponse.newBuilder()
            .setStatus(ResponseStatus.CONTINUE_AND_REPLACE)
            .setHeaderMutation(sets(set(":method", "POST")))
            .setBodyMutation(BodyMutation.newBuilder().setBody(ByteString.copyFromUtf8("{}")))
            .build();
    ProcessingResponse headers =
        ProcessingResponse.newBuilder()
            .setRequestHeaders(HeadersResponse.newBuilder().setResponse(replace))
            .build();
    ProcessingResponse body =
        ProcessingResponse.newBuilder()
            .setRequestBody(BodyResponse.newBuilder().setResponse(replace))
            .build();

    assertThat(ENVOY_REJECT.check(headers, true, STREAM)).isSameInstanceAs(headers);
    assertThat(rejected(ENVOY_REJECT, body))
        .isEqualTo("header_mutation.set_headers[0] \":method\": " + ROUTING + " (policy REJECT)");
    assertThat(rejected(TRAFFIC_REJECT, headers))
        .isEqualTo(
            "header_mutation.set_headers[0] \":method\": Service Extensions traffic extensions"
                + " never let a callout mutate :method (policy REJECT)");
  }

  @Test
  void drop_case6_removesForbiddenEntries_keepsTheRestInOrder() {
    Struct metadata =
        Struct.newBuilder()
            .putFields("ns", Value.newBuilder().setStringValue("kept").build())
            .build();
    HeaderMutation mutation =
        HeaderMutation.newBuilder()
            .addSetHeaders(set("x-keep-1", "1"))
            .addSetHeaders(set(":authority", "b.example"))
            .addSetHeaders(set("x-envoy-foo", "1"))
            .addSetHeaders(append(":path", "/x"))
            .addSetHeaders(set("x-keep-2", "2"))
            .addSetHeaders(set("host", "b.example"))
            .addSetHeaders(set(":method", "PUT"))
            .addRemoveHeaders("x-gone")
            .addRemoveHeaders(":path")
            .addRemoveHeaders("host")
            .addRemoveHeaders("x-envoy-bar")
            .addRemoveHeaders("x-gone-too")
            .build();
    ProcessingResponse response =
        ProcessingResponse.newBuilder()
            .setRequestHeaders(
                HeadersResponse.newBuilder()
                    .setResponse(
                        CommonResponse.newBuilder()
                            .setHeaderMutation(mutation)
                            .setClearRouteCache(true)))
            .setDynamicMetadata(metadata)
            .build();

    ProcessingResponse checked = ENVOY_DROP.check(response, true, STREAM);

    assertThat(checked)
        .isEqualTo(
            ProcessingResponse.newBuilder()
                .setRequestHeaders(
                    HeadersResponse.newBuilder()
                        .setResponse(
                            CommonResponse.newBuilder()
                                .setHeaderMutation(
                                    HeaderMutation.newBuilder()
                                        .addSetHeaders(set("x-keep-1", "1"))
                                        .addSetHeaders(set("x-keep-2", "2"))
                                        .addRemoveHeaders("x-gone")
                                        .addRemoveHeaders("x-gone-too"))
                                .setClearRouteCache(true)))
                .setDynamicMetadata(metadata)
                .build());
  }

  @Test
  void drop_everyEntry_keepsEmptyHeaderMutationForClearRouteCache() {
    // Case 34: Envoy honours clear_route_cache only when a header_mutation is present.
    ProcessingResponse response =
        ProcessingResponse.newBuilder()
            .setRequestHeaders(
                HeadersResponse.newBuilder()
                    .setResponse(
                        CommonResponse.newBuilder()
                            .setHeaderMutation(sets(set(":authority", "b.example")))
                            .setClearRouteCache(true)))
            .build();

    ProcessingResponse checked = ENVOY_DROP.check(response, true, STREAM);

    assertThat(checked.getRequestHeaders().getResponse().hasHeaderMutation()).isTrue();
    assertThat(checked)
        .isEqualTo(
            ProcessingResponse.newBuilder()
                .setRequestHeaders(
                    HeadersResponse.newBuilder()
                        .setResponse(
                            CommonResponse.newBuilder()
                                .setHeaderMutation(HeaderMutation.getDefaultInstance())
                                .setClearRouteCache(true)))
                .build());
  }

  @Test
  void drop_logsWarnOncePerHeaderAndRule_neverTheValue() {
    Logger logger = (Logger) LoggerFactory.getLogger(MutationGuard.class);
    ListAppender<ILoggingEvent> appender = new ListAppender<>();
    appender.start();
    Level level = logger.getLevel();
    logger.setLevel(Level.DEBUG);
    logger.addAppender(appender);
    try {
      MutationGuard guard = new MutationGuard(MutationPolicy.DROP, MutationProfile.ENVOY);
      ProcessingResponse response =
          requestHeaders(sets(set("X-Envoy-Foo", "secret-1"), set("x-bad", "secret\r\n")));

      guard.check(response, true, 7);
      guard.check(response, true, 8);
    } finally {
      logger.detachAppender(appender);
      logger.setLevel(level);
    }

    List<String> lines =
        appender.list.stream()
            .map(e -> e.getLevel() + " " + e.getFormattedMessage())
            .collect(Collectors.toList());
    assertThat(lines)
        .containsExactly(
            "WARN [7] dropped header_mutation.set_headers[0] \"X-Envoy-Foo\": "
                + ENVOY_HEADER
                + " (policy DROP)",
            "WARN [7] dropped header_mutation.set_headers[1] \"x-bad\": "
                + INVALID_VALUE
                + " (policy DROP)",
            "DEBUG [8] dropped header_mutation.set_headers[0] \"X-Envoy-Foo\": "
                + ENVOY_HEADER
                + " (policy DROP)",
            "DEBUG [8] dropped header_mutation.set_headers[1] \"x-bad\": "
                + INVALID_VALUE
                + " (policy DROP)")
        .inOrder();
    assertThat(String.join("\n", lines)).doesNotContain("secret");
  }

  // ---- Case 7: Google Cloud Service Extensions' never-mutable headers ----

  @ParameterizedTest
  @CsvSource({
    "x-forwarded-for, X-Forwarded-*",
    "X-Forwarded-Proto, X-Forwarded-*",
    "X-Google-foo, X-Google-*",
    "x-gfe-request-trace, X-GFE-*",
    "X-Amz-Date, X-Amz-*",
    "x-user-ip, X-user-IP",
    "CDN-Loop, CDN-Loop",
    "connection, connection",
    "Keep-Alive, keep-alive",
    "transfer-encoding, transfer-encoding",
    "te, te",
    "upgrade, upgrade",
    "proxy-connection, proxy-connection",
    "proxy-authenticate, proxy-authenticate",
    "Proxy-Authorization, proxy-authorization",
    "trailers, trailers"
  })
  void serviceExtensions_rejectSetAndRemoveOfListedHeaders(String key, String listed) {
    String reason = "Service Extensions never let a callout mutate " + listed + " (policy REJECT)";

    for (MutationGuard guard : List.of(GCP_REJECT, TRAFFIC_REJECT)) {
      assertThat(rejected(guard, sets(set(key, "1"))))
          .isEqualTo("header_mutation.set_headers[0] \"" + key + "\": " + reason);
      assertThat(rejected(guard, removes(key)))
          .isEqualTo("header_mutation.remove_headers[0] \"" + key + "\": " + reason);
    }
    assertPasses(ENVOY_REJECT, sets(set(key, "1")));
    assertPasses(ENVOY_REJECT, removes(key));
  }

  @Test
  void serviceExtensions_keepsEnvoyRules() {
    assertThat(rejected(GCP_REJECT, sets(set("x-envoy-foo", "1"))))
        .isEqualTo(
            "header_mutation.set_headers[0] \"x-envoy-foo\": " + ENVOY_HEADER + " (policy REJECT)");
    assertThat(rejected(GCP_REJECT, sets(set(":authority", "b.example"))))
        .isEqualTo(
            "header_mutation.set_headers[0] \":authority\": " + ROUTING + " (policy REJECT)");
    assertPasses(GCP_REJECT, sets(set("x-forwarded", "1"), set("x-googlebot", "1")));
  }

  @ParameterizedTest
  @ValueSource(strings = {":authority", ":method", ":scheme", "host", "Host"})
  void traffic_rejectsRoutingHeadersEvenWhenAllowed(String key) {
    Set<String> routing = Set.of(":authority", ":method", ":scheme", "host");
    MutationGuard route =
        new MutationGuard(MutationPolicy.REJECT, MutationProfile.SERVICE_EXTENSIONS, routing);
    MutationGuard traffic =
        new MutationGuard(
            MutationPolicy.REJECT, MutationProfile.SERVICE_EXTENSIONS_TRAFFIC, routing);
    String value = key.equals(":method") ? "POST" : key.equals(":scheme") ? "https" : "b.example";

    assertPasses(route, sets(set(key, value)));
    assertThat(rejected(traffic, sets(set(key, value))))
        .isEqualTo(
            "header_mutation.set_headers[0] \""
                + key
                + "\": Service Extensions traffic extensions never let a callout mutate "
                + key.toLowerCase(Locale.ROOT)
                + " (policy REJECT)");
  }

  @Test
  void drop_case7_removesListedHeaders_keepsTheRest() {
    MutationGuard guard =
        new MutationGuard(MutationPolicy.DROP, MutationProfile.SERVICE_EXTENSIONS_TRAFFIC);
    ProcessingResponse response =
        responseHeaders(
            HeaderMutation.newBuilder()
                .addSetHeaders(set("x-forwarded-for", "1.2.3.4"))
                .addSetHeaders(set("x-a", "1"))
                .addSetHeaders(set("TE", "trailers"))
                .addSetHeaders(set("x-b", "2"))
                .addRemoveHeaders("connection")
                .addRemoveHeaders("x-c")
                .build());

    assertThat(guard.check(response, false, STREAM))
        .isEqualTo(
            responseHeaders(
                HeaderMutation.newBuilder()
                    .addSetHeaders(set("x-a", "1"))
                    .addSetHeaders(set("x-b", "2"))
                    .addRemoveHeaders("x-c")
                    .build()));
  }

  // ---- Case 8: invalid characters and malformed entries ----

  @ParameterizedTest
  @ValueSource(strings = {"a\r\nx-injected: 1", "a\nb", "a\rb", "a\0b"})
  void reject_invalidValueCharacters_neverShowsTheValue(String value) {
    String message = rejected(ENVOY_REJECT, sets(set("x-ok", "1"), set("x-bad", value)));

    assertThat(message)
        .isEqualTo(
            "header_mutation.set_headers[1] \"x-bad\": " + INVALID_VALUE + " (policy REJECT)");
  }

  @ParameterizedTest
  @ValueSource(strings = {"x foo", "x:foo", "x(y)", "x\"y", ":Path", ":", "::path", "x\tfoo"})
  void reject_invalidKeyCharacters(String key) {
    String message = rejected(ENVOY_REJECT, sets(set(key, "1")));

    assertThat(message).startsWith("header_mutation.set_headers[0] ");
    assertThat(message).endsWith(": " + INVALID_SET_KEY + " (policy REJECT)");
  }

  @Test
  void reject_invalidKey_quotesItEscaped() {
    assertThat(rejected(ENVOY_REJECT, sets(set("x-caf\u00e9\r\n\"", "1"))))
        .isEqualTo(
            "header_mutation.set_headers[0] \"x-caf\\u00e9\\u000d\\u000a\\\"\": "
                + INVALID_SET_KEY
                + " (policy REJECT)");
  }

  @Test
  void reject_invalidRemoveKey() {
    assertThat(rejected(ENVOY_REJECT, removes("x-ok", "bad key")))
        .isEqualTo(
            "header_mutation.remove_headers[1] \"bad key\": invalid character in key; Envoy"
                + " fails the request with 500 (\"Invalid character in remove_headers"
                + " mutation.\") (policy REJECT)");
  }

  @Test
  void reject_emptyKey() {
    assertThat(rejected(ENVOY_REJECT, sets(set("", "1"))))
        .isEqualTo(
            "header_mutation.set_headers[0] \"\": empty key; the ext_proc API requires 1 to"
                + " 16384 bytes (policy REJECT)");
    assertThat(rejected(ENVOY_REJECT, removes("")))
        .isEqualTo(
            "header_mutation.remove_headers[0] \"\": empty key; there is nothing to remove"
                + " (policy REJECT)");
  }

  @Test
  void reject_entryWithoutHeader() {
    assertThat(
            rejected(ENVOY_REJECT, sets(set("x-a", "1"), HeaderValueOption.getDefaultInstance())))
        .isEqualTo(
            "header_mutation.set_headers[1]: no header; Envoy skips the entry (policy REJECT)");
  }

  @Test
  void reject_bothValueAndRawValue() {
    HeaderValueOption both =
        HeaderValueOption.newBuilder()
            .setHeader(header("x-a", "raw").toBuilder().setValue("plain"))
            .build();

    assertThat(rejected(ENVOY_REJECT, sets(both)))
        .isEqualTo(
            "header_mutation.set_headers[0] \"x-a\": both value and raw_value are set; Envoy"
                + " fails the request with 500 (policy REJECT)");
  }

  @Test
  void reject_valueWithoutRawValue() {
    HeaderValueOption legacy =
        HeaderValueOption.newBuilder()
            .setHeader(HeaderValue.newBuilder().setKey("x-a").setValue("plain"))
            .build();

    assertThat(rejected(ENVOY_REJECT, sets(legacy)))
        .isEqualTo(
            "header_mutation.set_headers[0] \"x-a\": value without raw_value; Envoy reads only"
                + " raw_value, so it would set an empty value (policy REJECT)");
  }

  // ---- Case 9: sizes and counts ----

  @Test
  void hundredSetAndHundredRemoveHeaders_pass() {
    HeaderMutation.Builder mutation = HeaderMutation.newBuilder();
    for (int i = 0; i < 100; i++) {
      mutation.addSetHeaders(set("x-set-" + i, "v")).addRemoveHeaders("x-remove-" + i);
    }

    for (MutationGuard guard : List.of(ENVOY_REJECT, GCP_REJECT, TRAFFIC_REJECT)) {
      assertPasses(guard, mutation.build());
    }
  }

  @Test
  void reject_101SetHeaders() {
    HeaderMutation.Builder mutation = HeaderMutation.newBuilder();
    IntStream.range(0, 101).forEach(i -> mutation.addSetHeaders(set("x-" + i, "v")));

    assertThat(rejected(ENVOY_REJECT, mutation.build()))
        .isEqualTo(
            "header_mutation.set_headers: 101 entries; Envoy fails the request with 500 above"
                + " max_headers_count, 100 by default (policy REJECT)");
  }

  @Test
  void reject_101RemoveHeaders() {
    HeaderMutation.Builder mutation = HeaderMutation.newBuilder();
    IntStream.range(0, 101).forEach(i -> mutation.addRemoveHeaders("x-" + i));

    assertThat(rejected(ENVOY_REJECT, mutation.build()))
        .isEqualTo(
            "header_mutation.remove_headers: 101 entries; Envoy fails the request with 500 above"
                + " max_headers_count, 100 by default (policy REJECT)");
  }

  @Test
  void drop_101SetHeaders_keepsTheFirst100() {
    HeaderMutation.Builder mutation = HeaderMutation.newBuilder();
    IntStream.range(0, 101).forEach(i -> mutation.addSetHeaders(set("x-" + i, "v")));
    HeaderMutation.Builder expected = HeaderMutation.newBuilder();
    IntStream.range(0, 100).forEach(i -> expected.addSetHeaders(set("x-" + i, "v")));

    assertThat(ENVOY_DROP.check(requestHeaders(mutation.build()), true, STREAM))
        .isEqualTo(requestHeaders(expected.build()));
  }

  @Test
  void drop_countAppliesToTheEntriesLeft() {
    HeaderMutation.Builder mutation = HeaderMutation.newBuilder().addRemoveHeaders(":path");
    IntStream.range(0, 100).forEach(i -> mutation.addRemoveHeaders("x-" + i));

    assertThat(ENVOY_DROP.check(requestHeaders(mutation.build()), true, STREAM))
        .isEqualTo(
            requestHeaders(
                HeaderMutation.newBuilder()
                    .addAllRemoveHeaders(mutation.getRemoveHeadersList().subList(1, 101))
                    .build()));
  }

  @Test
  void value16384Bytes_passes_16385Rejected() {
    assertPasses(ENVOY_REJECT, sets(set("x-big", "a".repeat(16384))));

    assertThat(rejected(ENVOY_REJECT, sets(set("x-big", "a".repeat(16385)))))
        .isEqualTo(
            "header_mutation.set_headers[0] \"x-big\": raw_value of 16385 bytes; the ext_proc"
                + " API allows at most 16384 (policy REJECT)");
  }

  @Test
  void key16384Bytes_passes_16385Rejected() {
    assertPasses(ENVOY_REJECT, sets(set("k".repeat(16384), "1")));

    assertThat(rejected(ENVOY_REJECT, sets(set("k".repeat(16385), "1"))))
        .isEqualTo(
            "header_mutation.set_headers[0] \""
                + "k".repeat(64)
                + "\"... (16385 characters): key longer than 16384 bytes, the ext_proc API's"
                + " limit (policy REJECT)");
  }

  @Test
  void serviceExtensions_exactly128KiB_passes() {
    HeaderMutation mutation = mutationOfSize(131072);

    assertPasses(GCP_REJECT, mutation);
    assertPasses(TRAFFIC_REJECT, mutation);
  }

  @Test
  void reject_serviceExtensionsOver128KiB() {
    HeaderMutation mutation = mutationOfSize(131073);

    assertThat(rejected(GCP_REJECT, mutation))
        .isEqualTo(
            "header_mutation: 131073 bytes; Service Extensions allow at most 131072 bytes"
                + " (128 KiB) of header mutations per reply (policy REJECT)");
    assertPasses(ENVOY_REJECT, mutation);
  }

  @Test
  void drop_serviceExtensionsOver128KiB_dropsTrailingSetHeaders() {
    HeaderMutation mutation =
        mutationOfSize(131073).toBuilder().addRemoveHeaders("authorization").build();
    MutationGuard guard =
        new MutationGuard(MutationPolicy.DROP, MutationProfile.SERVICE_EXTENSIONS);

    ProcessingResponse checked = guard.check(requestHeaders(mutation), true, STREAM);

    int last = mutation.getSetHeadersCount() - 1;
    assertThat(mutation.getSetHeaders(last).getHeader().getKey()).isEqualTo("x-last");
    assertThat(checked)
        .isEqualTo(requestHeaders(mutation.toBuilder().removeSetHeaders(last).build()));
  }

  // ---- Case 34: clear_route_cache on response-direction replies ----

  @ParameterizedTest
  @EnumSource(
      value = MutationPolicy.class,
      names = {"REJECT", "DROP"})
  void responseDirection_clearRouteCache_isRemoved(MutationPolicy policy) {
    MutationGuard guard = new MutationGuard(policy, MutationProfile.ENVOY);
    CommonResponse common =
        CommonResponse.newBuilder()
            .setHeaderMutation(sets(set("x-a", "1")))
            .setClearRouteCache(true)
            .build();
    ProcessingResponse headers =
        ProcessingResponse.newBuilder()
            .setResponseHeaders(HeadersResponse.newBuilder().setResponse(common))
            .build();
    ProcessingResponse body =
        ProcessingResponse.newBuilder()
            .setResponseBody(BodyResponse.newBuilder().setResponse(common))
            .build();

    assertThat(guard.check(headers, false, STREAM))
        .isEqualTo(responseHeaders(sets(set("x-a", "1"))));
    assertThat(guard.check(body, false, STREAM))
        .isEqualTo(
            ProcessingResponse.newBuilder()
                .setResponseBody(
                    BodyResponse.newBuilder()
                        .setResponse(
                            CommonResponse.newBuilder().setHeaderMutation(sets(set("x-a", "1")))))
                .build());
  }

  @Test
  void requestDirection_clearRouteCache_isKept() {
    ProcessingResponse response =
        ProcessingResponse.newBuilder()
            .setRequestHeaders(
                HeadersResponse.newBuilder()
                    .setResponse(
                        CommonResponse.newBuilder()
                            .setHeaderMutation(HeaderMutation.getDefaultInstance())
                            .setClearRouteCache(true)))
            .build();

    assertThat(ENVOY_REJECT.check(response, true, STREAM)).isSameInstanceAs(response);
  }

  // ---- Other places header mutations live ----

  @Test
  void immediateResponse_headersAreChecked() {
    ProcessingResponse response =
        ProcessingResponse.newBuilder()
            .setImmediateResponse(
                CalloutTools.headerImmediateResponse(
                    403,
                    List.of(
                        Map.entry("x-reason", "denied"),
                        Map.entry("x-envoy-upstream", "1"),
                        Map.entry("x-forwarded-for", "1.2.3.4"))))
            .build();

    assertThat(rejected(ENVOY_REJECT, response))
        .isEqualTo(
            "immediate_response.headers.set_headers[1] \"x-envoy-upstream\": "
                + ENVOY_HEADER
                + " (policy REJECT)");
    assertThat(
            new MutationGuard(MutationPolicy.DROP, MutationProfile.SERVICE_EXTENSIONS)
                .check(response, true, STREAM))
        .isEqualTo(
            ProcessingResponse.newBuilder()
                .setImmediateResponse(
                    CalloutTools.headerImmediateResponse(
                        403, List.of(Map.entry("x-reason", "denied"))))
                .build());
  }

  @Test
  void trailersResponse_headerMutationIsChecked() {
    ProcessingResponse request =
        ProcessingResponse.newBuilder()
            .setRequestTrailers(
                TrailersResponse.newBuilder()
                    .setHeaderMutation(sets(set("x-a", "1"), set("x-bad\n", "1"))))
            .build();
    ProcessingResponse response =
        ProcessingResponse.newBuilder()
            .setResponseTrailers(
                TrailersResponse.newBuilder().setHeaderMutation(removes("x-a", ":status")))
            .build();

    assertThat(rejected(ENVOY_REJECT, request))
        .isEqualTo(
            "header_mutation.set_headers[1] \"x-bad\\u000a\": "
                + INVALID_SET_KEY
                + " (policy REJECT)");
    assertThat(ENVOY_DROP.check(request, true, STREAM))
        .isEqualTo(
            ProcessingResponse.newBuilder()
                .setRequestTrailers(
                    TrailersResponse.newBuilder().setHeaderMutation(sets(set("x-a", "1"))))
                .build());
    assertThat(ENVOY_DROP.check(response, false, STREAM))
        .isEqualTo(
            ProcessingResponse.newBuilder()
                .setResponseTrailers(
                    TrailersResponse.newBuilder().setHeaderMutation(removes("x-a")))
                .build());
  }

  @Test
  void bodyResponse_headerMutationIsChecked() {
    ProcessingResponse response =
        ProcessingResponse.newBuilder()
            .setRequestBody(
                BodyResponse.newBuilder()
                    .setResponse(
                        CommonResponse.newBuilder()
                            .setHeaderMutation(sets(set("x-envoy-retry-on", "5xx")))))
            .build();

    assertThat(rejected(ENVOY_REJECT, response))
        .isEqualTo(
            "header_mutation.set_headers[0] \"x-envoy-retry-on\": "
                + ENVOY_HEADER
                + " (policy REJECT)");
  }
}

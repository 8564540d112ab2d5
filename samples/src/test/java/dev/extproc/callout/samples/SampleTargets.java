package dev.extproc.callout.samples;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.google.protobuf.ByteString;
import com.nimbusds.jose.util.JSONObjectUtils;
import dev.extproc.callout.CalloutServerConfig;
import dev.extproc.callout.CalloutTools;
import dev.extproc.callout.fuzz.FuzzedCallout;
import dev.extproc.callout.fuzz.ReplyModel;
import dev.extproc.callout.fuzz.StreamPlan;
import dev.extproc.callout.fuzz.StreamPlanner;
import dev.extproc.callout.samples.jwtauth.TestTokens;
import io.envoyproxy.envoy.config.core.v3.HeaderMap;
import io.envoyproxy.envoy.config.core.v3.HeaderValue;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.grpc.Status;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.jspecify.annotations.Nullable;

/**
 * The samples' fuzz targets, one per bundled sample, built as the runnable jar builds it with the
 * default configuration (jwt-auth with the test key and an audience): arbitrary message sequences
 * ({@link StreamPlanner}) through the real ext_proc service, and for {@code jwt-auth} also {@code
 * authorization} values carrying tokens signed with the test key pair over fuzzed claims (or fuzzed
 * bytes), so that the fuzzer gets past signature checking. Each stream must end within a bounded
 * wait and keep {@link ReplyModel}'s promises, and end with:
 *
 * <ul>
 *   <li>OK after the half-close, or CANCELLED after the client's reset;
 *   <li>a sample's own precise refusal ({@code add-custom-response}'s PERMISSION_DENIED);
 *   <li>RESOURCE_EXHAUSTED naming the limit, or INVALID_ARGUMENT after a body chunk that followed
 *       the end of its full-duplex or GRPC-mode body or for a newer field that does not parse
 *       (invalid input, answered precisely by the framework);
 *   <li>INTERNAL only as the mutation guard's refusal (which names the header and the rule) of a
 *       reply that echoes a header Envoy can never send: an empty or non-lower-case-token key, or
 *       NUL, CR or LF in a value.
 * </ul>
 *
 * <p>Any other INTERNAL (an exception in a sample's hook, or a reply the guard refuses for input
 * Envoy does send) is a finding.
 */
public final class SampleTargets {

  private static final List<String> NAMES = List.copyOf(SampleMain.sampleNames());
  private static final CalloutServerConfig CONFIG = CalloutServerConfig.defaults();
  private static final StreamPlanner PLANNER =
      new StreamPlanner(CONFIG.streamedChunkSize(), List.of(SampleTargets::bearerToken));
  private static final String[] CLAIMS = {"sub", "exp", "nbf", "iat", "aud", "name", "Role", ""};

  /** The audience jwt-auth accepts; fuzzed {@code aud} claims name it now and then. */
  private static final String AUDIENCE = "api";

  /** One in-process server per sample, started on first use. */
  private static final Map<String, FuzzedCallout> SERVERS = new ConcurrentHashMap<>();

  private SampleTargets() {}

  /** How many targets there are: one per sample. */
  public static int count() {
    return NAMES.size();
  }

  /** Plays one fuzzed stream on the sample with index {@code index} and checks how it went. */
  public static void run(int index, FuzzedDataProvider data) {
    String name = NAMES.get(index);
    FuzzedCallout server =
        SERVERS.computeIfAbsent(
            name,
            sample ->
                FuzzedCallout.of(
                    SampleMain.factory(
                            sample,
                            "--jwt-public-key",
                            TestTokens.publicKeyFile().toString(),
                            "--jwt-audience",
                            AUDIENCE)
                        .apply(CONFIG)));
    StreamPlan plan = PLANNER.plan(data);

    FuzzedCallout.Outcome outcome = server.play(plan);

    ReplyModel.BodyAfterEnd bodyAfterEnd =
        ReplyModel.check(plan, outcome, CONFIG.streamedChunkSize());
    Status end = outcome.end(plan);
    String description = String.valueOf(end.getDescription());
    boolean expected =
        switch (end.getCode()) {
          case OK -> bodyAfterEnd != ReplyModel.BodyAfterEnd.YES;
          case CANCELLED -> plan.cancel();
          case PERMISSION_DENIED ->
              name.equals("add-custom-response")
                  && description.equals(CalloutTools.DEFAULT_DENY_MESSAGE);
          case RESOURCE_EXHAUSTED -> description.contains("(--max-");
          case INVALID_ARGUMENT -> ReplyModel.invalidArgument(plan, bodyAfterEnd, description);
          case INTERNAL -> description.contains("(policy REJECT)") && envoyNeverSends(plan);
          default -> false;
        };
    if (!expected) {
      throw FuzzedCallout.failure(name + ": unexpected end " + end, plan, outcome);
    }
  }

  /** Whether a header in {@code plan} is one no Envoy sends (see the class comment). */
  private static boolean envoyNeverSends(StreamPlan plan) {
    for (ProcessingRequest message : plan.messages()) {
      for (HeaderMap map :
          List.of(
              message.getRequestHeaders().getHeaders(),
              message.getResponseHeaders().getHeaders(),
              message.getRequestTrailers().getTrailers(),
              message.getResponseTrailers().getTrailers())) {
        for (HeaderValue header : map.getHeadersList()) {
          if (!isLowerCaseToken(header.getKey())
              || hasControl(header.getRawValue())
              || hasControl(ByteString.copyFromUtf8(header.getValue()))) {
            return true;
          }
        }
      }
    }
    return false;
  }

  private static boolean isLowerCaseToken(String key) {
    String name = key.startsWith(":") ? key.substring(1) : key;
    if (name.isEmpty()) {
      return false;
    }
    for (int i = 0; i < name.length(); i++) {
      char c = name.charAt(i);
      boolean ok =
          (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || "!#$%&'*+-.^_`|~".indexOf(c) >= 0;
      if (!ok) {
        return false;
      }
    }
    return true;
  }

  private static boolean hasControl(ByteString value) {
    for (int i = 0; i < value.size(); i++) {
      byte b = value.byteAt(i);
      if (b == 0 || b == '\r' || b == '\n') {
        return true;
      }
    }
    return false;
  }

  /**
   * {@code Bearer} and a token signed with the test key, over fuzzed claims (serialized as JSON) or
   * over fuzzed bytes.
   */
  private static ByteString bearerToken(FuzzedDataProvider data) {
    String payload;
    if (data.consumeInt(0, 3) == 0) {
      payload = data.consumeString(64);
    } else {
      Map<String, Object> claims = new LinkedHashMap<>();
      int count = data.consumeInt(0, 4);
      for (int i = 0; i < count; i++) {
        String claim = data.consumeBoolean() ? data.pickValue(CLAIMS) : data.consumeString(8);
        claims.put(claim, claimValue(data, 1));
      }
      payload = JSONObjectUtils.toJSONString(claims);
    }
    return ByteString.copyFromUtf8("Bearer " + TestTokens.rs256(payload));
  }

  private static @Nullable Object claimValue(FuzzedDataProvider data, int depth) {
    long now = System.currentTimeMillis() / 1000;
    return switch (data.consumeInt(0, depth > 0 ? 8 : 6)) {
      case 0 -> null;
      case 1 -> data.consumeBoolean();
      case 2 -> now + data.consumeInt(-100, 100_000);
      case 3 -> data.consumeLong();
      case 4 -> data.consumeRegularDouble();
      case 5 -> data.consumeBoolean() ? AUDIENCE : data.consumeString(24);
      case 6 -> data.consumeString(24);
      case 7 -> {
        List<@Nullable Object> list = new ArrayList<>();
        list.add(claimValue(data, depth - 1));
        list.add(claimValue(data, depth - 1));
        yield list;
      }
      default -> {
        Map<String, @Nullable Object> nested = new LinkedHashMap<>();
        nested.put(data.consumeString(8), claimValue(data, depth - 1));
        yield nested;
      }
    };
  }
}

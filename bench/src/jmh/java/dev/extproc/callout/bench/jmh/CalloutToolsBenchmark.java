package dev.extproc.callout.bench.jmh;

import dev.extproc.callout.CalloutTools;
import io.envoyproxy.envoy.service.ext_proc.v3.BodyResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.HeadersResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpBody;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpHeaders;
import io.envoyproxy.envoy.service.ext_proc.v3.ImmediateResponse;
import io.grpc.StatusRuntimeException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The {@link CalloutTools} helpers hooks call on every message. Inputs sit in non-final fields so
 * the JIT cannot fold them. Run with {@code bench/jmh.sh CalloutToolsBenchmark -prof gc}.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Fork(1)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@State(Scope.Thread)
public class CalloutToolsBenchmark {

  private static final int HEADER_COUNT = 20;

  private List<Map.Entry<String, String>> oneHeader = List.of(Map.entry("x-callout", "added"));
  private List<Map.Entry<String, String>> tenHeaders = entries(10);
  private List<String> noRemovals = List.of();
  private HttpHeaders headers = BenchMessages.requestHeaders(HEADER_COUNT);
  private String lastKey = BenchMessages.lastRequestHeaderKey(HEADER_COUNT);
  private String lastValue = CalloutTools.headerValue(headers, lastKey).orElseThrow();
  private String missingKey = "authorization";
  private String replacementBody = "{\"status\":\"redacted\",\"reason\":\"policy\"}";
  private HttpBody body64KiB = BenchMessages.requestBodyMessage(64 * 1024).getRequestBody();
  private String absentText = "password=";
  private int forbidden = 403;
  private String denyMessage = "no valid token";

  private static List<Map.Entry<String, String>> entries(int count) {
    List<Map.Entry<String, String>> entries = new ArrayList<>();
    for (int i = 0; i < count; i++) {
      entries.add(Map.entry("x-callout-" + i, "value-" + i));
    }
    return List.copyOf(entries);
  }

  /** {@code addHeaderMutation} setting one header, clearing the route cache (the sample's call). */
  @Benchmark
  public HeadersResponse addHeaderMutation1() {
    return CalloutTools.clearRouteCache(CalloutTools.addHeaderMutation(oneHeader, noRemovals));
  }

  /** {@code addHeaderMutation} setting ten headers. */
  @Benchmark
  public HeadersResponse addHeaderMutation10() {
    return CalloutTools.clearRouteCache(CalloutTools.addHeaderMutation(tenHeaders, noRemovals));
  }

  /** {@code headerValue} of the last of 20 headers (raw_value decoded). */
  @Benchmark
  public Optional<String> headerValueLastOf20() {
    return CalloutTools.headerValue(headers, lastKey);
  }

  /** {@code headerValue} of a header that is not among the 20. */
  @Benchmark
  public Optional<String> headerValueMissing() {
    return CalloutTools.headerValue(headers, missingKey);
  }

  /** {@code headersContain(headers, key)} for the last of 20 headers. */
  @Benchmark
  public boolean headersContainKey() {
    return CalloutTools.headersContain(headers, lastKey);
  }

  /** {@code headersContain(headers, key, value)} for the last of 20 headers. */
  @Benchmark
  public boolean headersContainKeyValue() {
    return CalloutTools.headersContain(headers, lastKey, lastValue);
  }

  /** {@code addBodyMutation} replacing the body with a short UTF-8 string. */
  @Benchmark
  public BodyResponse addBodyMutation() {
    return CalloutTools.addBodyMutation(replacementBody);
  }

  /** {@code bodyContains} over a 64 KiB body that does not contain the text: a full scan. */
  @Benchmark
  public boolean bodyContains64KiB() {
    return CalloutTools.bodyContains(body64KiB, absentText);
  }

  /** {@code headerImmediateResponse}: a 403 with one header and a short body. */
  @Benchmark
  public ImmediateResponse headerImmediateResponse() {
    return CalloutTools.headerImmediateResponse(forbidden, oneHeader, replacementBody);
  }

  /** {@code denyCallout}: the exception a hook throws to refuse a request. */
  @Benchmark
  public StatusRuntimeException denyCallout() {
    return CalloutTools.denyCallout(denyMessage);
  }

  /** {@code addBodyMutation(ByteString)} with a 64 KiB body, which it should not copy. */
  @Benchmark
  public BodyResponse addBodyMutationBytes() {
    return CalloutTools.addBodyMutation(body64KiB.getBody());
  }
}

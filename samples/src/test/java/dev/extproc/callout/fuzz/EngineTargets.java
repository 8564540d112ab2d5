package dev.extproc.callout.fuzz;

import static java.util.concurrent.TimeUnit.MILLISECONDS;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import dev.extproc.callout.CalloutServerConfig;
import dev.extproc.callout.CalloutServerConfig.MutationPolicy;
import dev.extproc.callout.CalloutServerConfig.MutationProfile;
import dev.extproc.callout.fuzz.ScriptedCallout.Action;
import io.grpc.Status;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Function;

/**
 * The engine's fuzz targets: arbitrary message sequences ({@link StreamPlanner}) through the real
 * ext_proc service of a callout whose hooks follow a fuzzed script ({@link ScriptedCallout}), under
 * three configurations (tiny chunk and buffer limits; the defaults; the drop policy with Service
 * Extensions' traffic rules), with the phase hooks or an overridden {@code process}: six targets.
 * Each stream must end within a bounded wait, its replies must keep {@link ReplyModel}'s promises,
 * {@code onStreamEnd} must run once with the stream's status, and the status must be one of:
 *
 * <ul>
 *   <li>OK after the half-close, or CANCELLED after the client's reset;
 *   <li>the script's own {@link ScriptedCallout#DENIED};
 *   <li>RESOURCE_EXHAUSTED naming the limit (inbound message size, transformer buffer);
 *   <li>INVALID_ARGUMENT after a body chunk that followed the end of its full-duplex or GRPC-mode
 *       body, or for a newer field that does not parse ({@link ReplyModel#invalidArgument});
 *   <li>INTERNAL "&lt;hook&gt; failed: ..." only when that hook call did something the framework
 *       refuses, or a transformer that throws was registered.
 * </ul>
 *
 * <p>Anything else (above all INTERNAL from an exception inside the framework) is a finding.
 */
public final class EngineTargets {

  private static final int MAX_SCRIPT = 16;

  private static final List<CalloutServerConfig> CONFIGS =
      List.of(
          CalloutServerConfig.newBuilder()
              .streamedChunkSize(32)
              .maxBufferedBodySize(256)
              .maxInboundMessageSize(100_000)
              .build(),
          CalloutServerConfig.defaults(),
          CalloutServerConfig.newBuilder()
              .streamedChunkSize(1000)
              .mutationPolicy(MutationPolicy.DROP)
              .mutationProfile(MutationProfile.SERVICE_EXTENSIONS_TRAFFIC)
              .build());

  /** One in-process server per configuration and hook style, started on first use. */
  private static final Map<Integer, Target> TARGETS = new ConcurrentHashMap<>();

  private record Target(ScriptedCallout callout, FuzzedCallout server, StreamPlanner planner) {
    int chunkSize() {
      return callout.config().streamedChunkSize();
    }
  }

  private EngineTargets() {}

  /** How many targets there are. */
  public static int count() {
    return 2 * CONFIGS.size();
  }

  /** Plays one fuzzed stream on target {@code index} and checks how it went. */
  public static void run(int index, FuzzedDataProvider data) {
    Target target = TARGETS.computeIfAbsent(index, EngineTargets::start);
    List<Action> script = new ArrayList<>();
    int actions = data.consumeInt(0, MAX_SCRIPT);
    for (int i = 0; i < actions; i++) {
      script.add(data.pickValue(Action.values()));
    }
    StreamPlan plan = target.planner().plan(data);

    ScriptedCallout.HookLog record = target.callout().expect(script);
    FuzzedCallout.Outcome outcome = target.server().play(plan);

    ReplyModel.BodyAfterEnd bodyAfterEnd = ReplyModel.check(plan, outcome, target.chunkSize());
    Status end = outcome.end(plan);
    checkStatus(end, bodyAfterEnd, record, plan, outcome);
    checkStreamEnd(end, record, plan, outcome);
  }

  private static Target start(int index) {
    CalloutServerConfig config = CONFIGS.get(index / 2);
    Function<CalloutServerConfig, ScriptedCallout> style =
        index % 2 == 0 ? ScriptedCallout::new : ScriptedCallout.Raw::new;
    ScriptedCallout callout = style.apply(config);
    return new Target(
        callout,
        FuzzedCallout.of(callout),
        new StreamPlanner(config.streamedChunkSize(), List.of()));
  }

  private static void checkStatus(
      Status end,
      ReplyModel.BodyAfterEnd bodyAfterEnd,
      ScriptedCallout.HookLog record,
      StreamPlan plan,
      FuzzedCallout.Outcome outcome) {
    String description = String.valueOf(end.getDescription());
    boolean expected =
        switch (end.getCode()) {
          case OK -> bodyAfterEnd != ReplyModel.BodyAfterEnd.YES;
          case CANCELLED -> plan.cancel();
          case ABORTED -> description.equals(ScriptedCallout.DENIED.getDescription());
          case RESOURCE_EXHAUSTED -> description.contains("(--max-");
          case INVALID_ARGUMENT -> ReplyModel.invalidArgument(plan, bodyAfterEnd, description);
          case INTERNAL ->
              (record.lastRisky && description.startsWith(record.lastHook + " failed: "))
                  || record.throwingTransformer;
          default -> false;
        };
    if (!expected) {
      throw FuzzedCallout.failure(
          "unexpected end " + end + " (body chunk after the end of its body: " + bodyAfterEnd + ")",
          plan,
          outcome);
    }
  }

  /** onStreamEnd runs once, with the status the stream ended with. */
  private static void checkStreamEnd(
      Status end, ScriptedCallout.HookLog record, StreamPlan plan, FuzzedCallout.Outcome outcome) {
    long deadline = System.nanoTime() + MILLISECONDS.toNanos(5000);
    while (record.ends.get() == 0 && System.nanoTime() < deadline) {
      Thread.onSpinWait();
    }
    Status seen = record.endStatus;
    // A client reset races the server's own close (hooks run on the hook executor): then
    // onStreamEnd may carry either status, but still runs exactly once.
    boolean raced = plan.cancel() && seen != null && seen.getCode() != end.getCode();
    if (record.ends.get() != 1 || seen == null || (!raced && seen.getCode() != end.getCode())) {
      throw FuzzedCallout.failure(
          "onStreamEnd ran "
              + record.ends.get()
              + " times, with "
              + seen
              + "; the stream ended "
              + end,
          plan,
          outcome);
    }
  }
}

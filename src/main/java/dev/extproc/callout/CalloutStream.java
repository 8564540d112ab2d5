package dev.extproc.callout;

import io.grpc.Grpc;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.ServerCall;
import io.grpc.ServerServiceDefinition;
import io.grpc.ServiceDescriptor;
import io.grpc.Status;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.function.BiFunction;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The gRPC side of one stream of any of the server's services: owns the {@link ServerCall}, its
 * flow control, the hand-off of each event to the hook executor, the hook deadline and the single
 * close. What a message means is its {@link StreamProtocol}'s business ({@link StreamCore} for
 * ext_proc); this class only decides where and when it runs. A unary call (ext_authz's {@code
 * Check}) is a stream of one message whose protocol closes it after the reply.
 *
 * <p>gRPC delivers a call's callbacks one at a time, so most fields need no locking. The exception
 * is the {@link HookWatchdog}: it may end the stream while a hook runs (deadline) or interrupt a
 * cancelled stream's hook. The {@code hook} word (a generation counter and a state) decides, by
 * compare-and-set, whether the hook's return or the watchdog wins; the watchdog then acts holding
 * this object's monitor, which the hook thread takes before it goes on (nothing else locks it).
 */
final class CalloutStream<Q, R> extends ServerCall.Listener<Q>
    implements StreamSink<R>, StreamRegistry.Stream {
  private static final Logger logger = LoggerFactory.getLogger(CalloutStream.class);

  private static final long IDLE = 0;
  private static final long RUNNING = 1;
  private static final long TIMED_OUT = 2;
  private static final long INTERRUPTED = 3;
  private static final long STATE_MASK = 3;
  private static final VarHandle HOOK;

  static {
    try {
      HOOK = MethodHandles.lookup().findVarHandle(CalloutStream.class, "hook", long.class);
    } catch (ReflectiveOperationException e) {
      throw new ExceptionInInitializerError(e);
    }
  }

  /**
   * What the streams of one service share: their registry, the executor hooks run on ({@code null}:
   * inline), and whether the protocol's {@link StreamProtocol#start start} and {@link
   * StreamProtocol#end end} run user code (and so go to the executor too).
   */
  record Transport(
      StreamRegistry registry,
      @Nullable Executor hookExecutor,
      boolean startRunsHook,
      boolean endRunsHook) {}

  private final Transport transport;
  private final ServerCall<Q, R> call;
  private final CalloutContext ctx;
  private final StreamProtocol<Q> core;
  private final @Nullable Executor hookExecutor;
  private boolean headersSent;
  private boolean ended;
  private volatile boolean closed;

  /** Events that are not messages. */
  private enum Signal {
    START,
    HALF_CLOSE,
    CANCEL,
    CLOSED_BY_GRPC
  }

  private final Object queueLock = new Object();
  private @Nullable ArrayDeque<Object> pending; // guarded by queueLock
  private boolean draining; // guarded by queueLock: this stream has a task on the hook executor
  private int unfinished; // guarded by queueLock: messages delivered and not yet processed
  private boolean owed; // guarded by queueLock: a request(1) held back by flow control

  /** (generation << 2) | state of the hook for the current message. */
  private volatile long hook;

  private volatile long hookStartNanos;
  private volatile @Nullable Thread hookThread;
  private @Nullable String hookName; // published by the volatile write of hook

  private CalloutStream(
      Transport transport,
      ServerCall<Q, R> call,
      CalloutContext ctx,
      BiFunction<CalloutContext, StreamSink<R>, StreamProtocol<Q>> protocol) {
    this.transport = transport;
    this.call = call;
    this.ctx = ctx;
    this.hookExecutor = transport.hookExecutor();
    this.core = protocol.apply(ctx, this);
  }

  /**
   * Admits {@code call} into the registry and starts its stream; or, over the stream limit, refuses
   * it and returns a listener that ignores everything.
   */
  static <Q, R> ServerCall.Listener<Q> open(
      Transport transport,
      ServerCall<Q, R> call,
      BiFunction<CalloutContext, StreamSink<R>, StreamProtocol<Q>> protocol) {
    StreamRegistry registry = transport.registry();
    long id = registry.admit(call);
    if (id == 0) {
      return new ServerCall.Listener<>() {};
    }
    CalloutStream<Q, R> stream;
    try {
      CalloutContext ctx =
          new CalloutContext(
              id,
              call.getAttributes().get(Grpc.TRANSPORT_ATTR_REMOTE_ADDR),
              io.grpc.Context.current());
      stream = new CalloutStream<>(transport, call, ctx, protocol);
    } catch (RuntimeException | Error e) {
      registry.refund();
      throw e;
    }
    try {
      stream.start();
    } catch (RuntimeException | Error e) {
      registry.release(stream);
      throw e;
    }
    return stream;
  }

  /**
   * A service of one method, {@code method}, whose calls run {@code protocol} on {@code transport}.
   */
  static <Q, R> ServerServiceDefinition service(
      ServiceDescriptor descriptor,
      MethodDescriptor<Q, R> method,
      Transport transport,
      BiFunction<CalloutContext, StreamSink<R>, StreamProtocol<Q>> protocol) {
    return ServerServiceDefinition.builder(descriptor)
        .addMethod(method, (call, headers) -> open(transport, call, protocol))
        .build();
  }

  // ---- Event delivery ----
  //
  // gRPC calls the listener methods below on the network thread (the server uses a direct
  // executor). Work that runs user code (a hook; onStreamStart/onStreamEnd when overridden) goes to
  // the hook executor, one task at a time per stream, in arrival order; everything else runs on
  // the spot when nothing is queued. Handing a message to another thread and back is the main cost
  // of a callout, so this keeps it to the one hand-off per message that a blocking hook needs.

  /** Asks for the first message and starts the protocol. */
  private void start() {
    transport.registry().add(this);
    call.request(1);
    submit(Signal.START, transport.startRunsHook());
  }

  @Override
  public void onMessage(Q request) {
    if (closed) {
      return;
    }
    // One message may wait while another is processed; past that, flow control holds the client.
    boolean requestNow;
    synchronized (queueLock) {
      requestNow = ++unfinished < 2;
      owed |= !requestNow;
    }
    if (requestNow) {
      call.request(1);
    }
    submit(request, true);
  }

  @Override
  public void onHalfClose() {
    submit(Signal.HALF_CLOSE, transport.endRunsHook());
  }

  @Override
  public void onCancel() {
    // Set at once, so the reply of a hook running now is dropped.
    closed = true;
    submit(Signal.CANCEL, transport.endRunsHook());
  }

  @Override
  public void onComplete() {
    if (!closed) {
      // gRPC closed the call itself: a message that did not parse.
      closed = true;
      submit(Signal.CLOSED_BY_GRPC, transport.endRunsHook());
    }
  }

  /** Processes {@code event} here, or on the hook executor when {@code userCode} runs. */
  private void submit(Object event, boolean userCode) {
    Executor executor = userCode ? hookExecutor : null;
    synchronized (queueLock) {
      if (draining) {
        if (pending == null) {
          pending = new ArrayDeque<>(4);
        }
        pending.add(event);
        return;
      }
      // Inline events drain the queue too, so that a task from another thread (runInOrder)
      // never runs alongside them.
      draining = true;
    }
    if (executor == null) {
      drain(event);
      return;
    }
    try {
      executor.execute(() -> drain(event));
    } catch (RejectedExecutionException e) {
      synchronized (queueLock) {
        draining = false;
        pending = null;
      }
      Status status = Status.UNAVAILABLE.withDescription("the server is shutting down");
      close(status, null);
      end(status); // the call may be closed already (a cancel): the stream still ends
    }
  }

  /**
   * On the hook executor: processes {@code first}, then whatever arrived meanwhile. An exception
   * out of the engine ends the stream INTERNAL; the queue goes on, so the half-close or cancel
   * behind it still ends the stream (else it would wait there forever).
   */
  private void drain(Object first) {
    Object event = first;
    while (true) {
      try {
        process(event);
      } catch (RuntimeException | Error e) {
        logger.error("[{}] the engine failed; ending the stream with INTERNAL", ctx.streamId(), e);
        close(Status.INTERNAL.withDescription("the engine failed: " + e).withCause(e), null);
      }
      synchronized (queueLock) {
        event = pending == null ? null : pending.poll();
        if (event == null) {
          draining = false;
          return;
        }
      }
    }
  }

  @Override
  public void runInOrder(Runnable task) {
    submit(task, true);
  }

  @SuppressWarnings("unchecked") // the queue holds signals, tasks and this call's messages (Q)
  private void process(Object event) {
    if (event instanceof Runnable task) {
      task.run();
    } else if (!(event instanceof Signal)) {
      try {
        if (!closed) {
          core.onMessage((Q) event);
        }
      } finally {
        messageDone();
      }
    } else if (event == Signal.START) {
      core.start();
    } else if (event == Signal.HALF_CLOSE) {
      if (logger.isDebugEnabled()) {
        logger.debug("[{}] half-closed by the client", ctx.streamId());
      }
      close(Status.OK, null);
    } else if (event == Signal.CANCEL) {
      logger.debug("[{}] cancelled by the client", ctx.streamId());
      end(Status.CANCELLED);
    } else {
      logger.debug("[{}] closed by gRPC: a message did not parse", ctx.streamId());
      end(
          Status.UNKNOWN.withDescription(
              "gRPC closed the call: a message did not parse as "
                  + call.getMethodDescriptor().getFullMethodName()
                  + "'s request"));
    }
  }

  /** A message is done: asks for the one held back, if any. */
  private void messageDone() {
    boolean requestNow;
    synchronized (queueLock) {
      unfinished--;
      requestNow = owed;
      owed = false;
    }
    if (requestNow && !closed) {
      call.request(1);
    }
  }

  // ---- Hook supervision ----

  @Override
  public long hookStarted(String name) {
    hookName = name;
    hookThread = Thread.currentThread();
    long now = System.nanoTime();
    hookStartNanos = now;
    hook = (((hook >>> 2) + 1) << 2) | RUNNING;
    return now;
  }

  /** Clears an interrupt the watchdog sent when it got there first. */
  @Override
  public boolean hookReturned() {
    // Only this thread changes the generation; the watchdog only changes the state, from RUNNING.
    long generation = hook & ~STATE_MASK;
    if (HOOK.compareAndSet(this, generation | RUNNING, generation | IDLE)) {
      return true;
    }
    synchronized (this) {
      // The watchdog has finished with this stream: the interrupt was meant for the hook alone.
      boolean interrupted = Thread.interrupted();
      logger.debug("[{}] hook thread interrupted: {}", ctx.streamId(), interrupted);
    }
    return false;
  }

  /** On the {@link HookWatchdog}'s thread. */
  @Override
  public void checkHook(long now, long deadlineNanos) {
    long running = hook;
    if ((running & STATE_MASK) != RUNNING) {
      return;
    }
    boolean late = deadlineNanos != 0 && now - hookStartNanos > deadlineNanos;
    if (!late && !ctx.isCancelled()) {
      return;
    }
    synchronized (this) {
      if (!HOOK.compareAndSet(
          this, running, (running & ~STATE_MASK) | (late ? TIMED_OUT : INTERRUPTED))) {
        return;
      }
      Thread thread = hookThread;
      String name = hookName == null ? "hook" : hookName;
      if (late) {
        Duration deadline = Duration.ofNanos(deadlineNanos);
        Throwable where = new Throwable(name + " stack when its deadline passed");
        if (thread != null) {
          where.setStackTrace(thread.getStackTrace());
        }
        logger.warn(
            "[{}] {} did not return within {}; ending the stream with DEADLINE_EXCEEDED",
            ctx.streamId(),
            name,
            deadline,
            where);
        close(
            Status.DEADLINE_EXCEEDED.withDescription(
                name + " did not return within " + deadline + " (--hook-deadline)"),
            new Metadata());
      } else {
        logger.debug("[{}] cancelled while {} ran: interrupting it", ctx.streamId(), name);
      }
      if (thread != null) {
        thread.interrupt();
      }
    }
  }

  // ---- Output ----

  @Override
  public void sendStandalone(R message) {
    // The hook is running, so the watchdog may be closing the call at this moment.
    synchronized (this) {
      if (!closed && !ctx.isCancelled()) {
        send(message);
      }
    }
  }

  @Override
  public void send(R response) {
    if (!headersSent) {
      call.sendHeaders(new Metadata());
      headersSent = true;
    }
    call.sendMessage(response);
  }

  @Override
  public void close(Status status, @Nullable Metadata trailers) {
    if (closed) {
      return;
    }
    closed = true;
    // onStreamEnd runs before the close goes out, so Envoy never sees a stream end whose hook
    // is still running.
    end(status);
    synchronized (this) {
      // Not alongside a standalone message from another thread (a streamed reply's writer).
      call.close(status, trailers == null ? new Metadata() : trailers);
    }
  }

  /** The stream's one end: onStreamEnd, then its release from the registry. */
  private void end(Status status) {
    if (ended) {
      return;
    }
    ended = true;
    core.end(status);
    transport.registry().release(this);
  }
}

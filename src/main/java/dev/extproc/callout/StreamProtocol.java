package dev.extproc.callout;

import io.grpc.Status;

/**
 * The protocol side of one stream of any service the server runs (ext_proc, ext_authz, network
 * ext_proc): synchronous, one event at a time, answering through a {@link StreamSink}. The
 * transport ({@link CalloutStream}) decides on which thread and when each event runs.
 *
 * @param <Q> the messages the client sends
 */
interface StreamProtocol<Q> {
  /** The stream opened. */
  void start();

  /** One message arrived: runs its hook and answers it, or closes the stream. */
  void onMessage(Q message);

  /** The stream ended with {@code status}; called once, after the last hook returned. */
  void end(Status status);
}

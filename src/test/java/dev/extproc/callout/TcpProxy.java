package dev.extproc.callout;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.ArrayList;
import java.util.List;

/**
 * A TCP proxy on a loopback port that a test can break: {@link #blackHole()} stops forwarding in
 * both directions while keeping every socket open (a peer that vanished without closing), and
 * {@link #resetServerSide()} aborts the connections to the server with a TCP RST.
 */
final class TcpProxy implements AutoCloseable {

  private final ServerSocket listener;
  private final InetSocketAddress target;
  private final List<Socket> sockets = new ArrayList<>();
  private volatile boolean blackHole;

  TcpProxy(InetSocketAddress target) throws IOException {
    this.target = target;
    this.listener = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
    Thread acceptor = new Thread(this::acceptLoop, "tcp-proxy-accept");
    acceptor.setDaemon(true);
    acceptor.start();
  }

  /** Where clients connect. */
  InetSocketAddress address() {
    return new InetSocketAddress(InetAddress.getLoopbackAddress(), listener.getLocalPort());
  }

  /** From now on, bytes in either direction are read and dropped; nothing is closed. */
  void blackHole() {
    blackHole = true;
  }

  /** Aborts every connection: a TCP RST to the server, then the client side closed. */
  void resetServerSide() throws IOException {
    synchronized (sockets) {
      for (int i = 0; i < sockets.size(); i += 2) {
        Socket toServer = sockets.get(i + 1);
        toServer.setSoLinger(true, 0);
        toServer.close();
        sockets.get(i).close();
      }
    }
  }

  private void acceptLoop() {
    while (!listener.isClosed()) {
      try {
        Socket client = listener.accept();
        Socket server = new Socket(target.getAddress(), target.getPort());
        synchronized (sockets) {
          sockets.add(client);
          sockets.add(server);
        }
        pump(client, server, "tcp-proxy-up");
        pump(server, client, "tcp-proxy-down");
      } catch (IOException e) {
        return; // closed
      }
    }
  }

  private void pump(Socket from, Socket to, String name) {
    Thread thread =
        new Thread(
            () -> {
              byte[] buffer = new byte[16 * 1024];
              try {
                InputStream in = from.getInputStream();
                OutputStream out = to.getOutputStream();
                for (int n; (n = in.read(buffer)) >= 0; ) {
                  if (!blackHole) {
                    out.write(buffer, 0, n);
                  }
                }
              } catch (IOException e) {
                // this side was reset or closed
              }
              if (!blackHole) {
                closeQuietly(to); // pass the close on; a black hole never does
              }
            },
            name);
    thread.setDaemon(true);
    thread.start();
  }

  private static void closeQuietly(Socket socket) {
    try {
      socket.close();
    } catch (IOException e) {
      // already closed
    }
  }

  /** Closes the listener and every connection. */
  @Override
  public void close() throws IOException {
    listener.close();
    synchronized (sockets) {
      sockets.forEach(TcpProxy::closeQuietly);
    }
  }
}

package dev.extproc.callout.bench;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

/** The load generator against the floor server: every scenario, closed and open loop. */
class LoadGenFloorTest extends CleanRunTests {

  private static FloorServer floor;

  @BeforeAll
  static void startFloor() throws IOException {
    floor = FloorServer.start(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
  }

  @AfterAll
  static void stopFloor() {
    floor.close();
  }

  @Override
  String target() {
    return "127.0.0.1:" + floor.port();
  }
}

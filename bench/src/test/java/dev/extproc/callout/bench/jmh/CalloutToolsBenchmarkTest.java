package dev.extproc.callout.bench.jmh;

import static com.google.common.truth.Truth.assertThat;

import org.junit.jupiter.api.Test;

/** Checks that each {@link CalloutToolsBenchmark} input takes the path the benchmark names. */
class CalloutToolsBenchmarkTest {

  private final CalloutToolsBenchmark benchmark = new CalloutToolsBenchmark();

  @Test
  void headerLookups_findTheLastOfTwentyAndMissTheAbsentOne() {
    assertThat(benchmark.headerValueLastOf20()).hasValue("value-19");
    assertThat(benchmark.headerValueMissing()).isEmpty();
    assertThat(benchmark.headersContainKey()).isTrue();
    assertThat(benchmark.headersContainKeyValue()).isTrue();
  }

  @Test
  void builders_setOneAndTenHeaders() {
    assertThat(
            benchmark.addHeaderMutation1().getResponse().getHeaderMutation().getSetHeadersCount())
        .isEqualTo(1);
    assertThat(
            benchmark.addHeaderMutation10().getResponse().getHeaderMutation().getSetHeadersCount())
        .isEqualTo(10);
    assertThat(benchmark.headerImmediateResponse().getStatus().getCodeValue()).isEqualTo(403);
  }

  @Test
  void bodyContains64KiB_scansTheWholeBodyWithoutAMatch() {
    assertThat(benchmark.bodyContains64KiB()).isFalse();
    assertThat(benchmark.addBodyMutationBytes().getResponse().getBodyMutation().getBody().size())
        .isEqualTo(64 * 1024);
  }
}

package dev.extproc.callout;

import static com.google.common.truth.Truth.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.google.protobuf.BoolValue;
import com.google.protobuf.ByteString;
import dev.extproc.callout.CalloutServerConfig.MutationProfile;
import dev.extproc.callout.HeaderRules.Rule;
import io.envoyproxy.envoy.config.core.v3.HeaderValue;
import io.envoyproxy.envoy.config.core.v3.HeaderValueOption;
import java.util.Objects;
import java.util.Set;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.Test;

/** The per-entry header rules of each profile, on their own. */
final class HeaderRulesTest {
  private final HeaderRules envoy = new HeaderRules(MutationProfile.ENVOY, Set.of());
  private final HeaderRules serviceExtensions =
      new HeaderRules(MutationProfile.SERVICE_EXTENSIONS, Set.of());
  private final HeaderRules traffic =
      new HeaderRules(MutationProfile.SERVICE_EXTENSIONS_TRAFFIC, Set.of());

  private static HeaderValueOption set(String key, String value) {
    return HeaderValueOption.newBuilder()
        .setHeader(HeaderValue.newBuilder().setKey(key).setRawValue(ByteString.copyFromUtf8(value)))
        .build();
  }

  private static @Nullable Rule rule(HeaderRules.@Nullable Violation violation) {
    return violation == null ? null : violation.rule();
  }

  @Test
  void set_ordinaryHeader_allowedEverywhere() {
    for (HeaderRules rules : new HeaderRules[] {envoy, serviceExtensions, traffic}) {
      assertThat(rules.checkSet(set("x-hello", "world"), false)).isNull();
      assertThat(rules.checkRemove("x-hello")).isNull();
    }
  }

  @Test
  void set_routingHeader_refusedUnlessAllowed() {
    assertThat(rule(envoy.checkSet(set(":authority", "example.com"), false)))
        .isEqualTo(Rule.ROUTING);
    assertThat(rule(envoy.checkSet(set("Host", "example.com"), false))).isEqualTo(Rule.ROUTING);
    HeaderRules allowing = new HeaderRules(MutationProfile.ENVOY, Set.of(":authority"));
    assertThat(allowing.checkSet(set(":authority", "example.com"), false)).isNull();
    assertThat(rule(allowing.checkSet(set(":authority", "bad authority"), false)))
        .isEqualTo(Rule.BAD_VALUE);
  }

  @Test
  void set_methodOnReplace_exemptFromRouting() {
    assertThat(rule(envoy.checkSet(set(":method", "POST"), false))).isEqualTo(Rule.ROUTING);
    assertThat(envoy.checkSet(set(":method", "POST"), true)).isNull();
  }

  @Test
  void envoyPrefix_refusedUnlessAllowedByPrefix() {
    assertThat(rule(envoy.checkSet(set("x-envoy-retry", "1"), false))).isEqualTo(Rule.ENVOY_HEADER);
    assertThat(rule(envoy.checkRemove("x-envoy-retry"))).isEqualTo(Rule.ENVOY_HEADER);
    HeaderRules allowing = new HeaderRules(MutationProfile.ENVOY, Set.of("x-envoy-*"));
    assertThat(allowing.checkSet(set("x-envoy-retry", "1"), false)).isNull();
  }

  @Test
  void invalidCharactersAndSizes_refused() {
    assertThat(rule(envoy.checkSet(set("x-a", "line\r\nbreak"), false)))
        .isEqualTo(Rule.INVALID_CHARACTER);
    assertThat(rule(envoy.checkSet(set("bad key", "v"), false))).isEqualTo(Rule.INVALID_CHARACTER);
    assertThat(rule(envoy.checkSet(set("", "v"), false))).isEqualTo(Rule.KEY_SIZE);
    assertThat(rule(envoy.checkSet(set("x-a", "v".repeat(16385)), false)))
        .isEqualTo(Rule.VALUE_SIZE);
    assertThat(envoy.checkSet(set("x-a", "v".repeat(16384)), false)).isNull();
    assertThat(rule(envoy.checkRemove(""))).isEqualTo(Rule.KEY_SIZE);
  }

  @Test
  void valueFields_valueInsteadOfRawValue_refused() {
    HeaderValueOption both =
        HeaderValueOption.newBuilder()
            .setHeader(
                HeaderValue.newBuilder()
                    .setKey("x-a")
                    .setValue("v")
                    .setRawValue(ByteString.copyFromUtf8("v")))
            .build();
    HeaderValueOption valueOnly =
        HeaderValueOption.newBuilder()
            .setHeader(HeaderValue.newBuilder().setKey("x-a").setValue("v"))
            .build();
    assertThat(rule(envoy.checkSet(both, false))).isEqualTo(Rule.VALUE_FIELDS);
    assertThat(rule(envoy.checkSet(valueOnly, false))).isEqualTo(Rule.VALUE_FIELDS);
    assertThat(rule(envoy.checkSet(HeaderValueOption.getDefaultInstance(), false)))
        .isEqualTo(Rule.NO_HEADER);
  }

  @Test
  @SuppressWarnings("deprecation") // Envoy reads the deprecated append flag
  void pseudoHeaders_removeOrAppend_refused() {
    assertThat(rule(envoy.checkRemove(":path"))).isEqualTo(Rule.REMOVE_SYSTEM);
    assertThat(rule(envoy.checkRemove("host"))).isEqualTo(Rule.REMOVE_SYSTEM);
    HeaderValueOption append = set(":path", "/x").toBuilder().setAppend(BoolValue.of(true)).build();
    assertThat(rule(envoy.checkSet(append, false))).isEqualTo(Rule.APPEND_SYSTEM);
    assertThat(rule(envoy.checkSet(set(":status", "99"), false))).isEqualTo(Rule.BAD_VALUE);
    assertThat(envoy.checkSet(set(":status", "404"), false)).isNull();
  }

  @Test
  void serviceExtensions_fixedList_refusedOnlyInItsProfiles() {
    assertThat(envoy.checkSet(set("x-user-ip", "1.2.3.4"), false)).isNull();
    HeaderRules.Violation violation =
        Objects.requireNonNull(serviceExtensions.checkSet(set("X-User-IP", "1.2.3.4"), false));
    assertThat(violation.rule()).isEqualTo(Rule.SERVICE_EXTENSIONS);
    assertThat(violation.reason())
        .isEqualTo("Service Extensions never let a callout mutate X-user-IP");
    assertThat(serviceExtensions.checkSet(set("x-custom", "1"), false)).isNull();
  }

  @Test
  void trafficProfile_routingHeadersRefusedEvenWhenAllowed() {
    HeaderRules allowing =
        new HeaderRules(MutationProfile.SERVICE_EXTENSIONS_TRAFFIC, Set.of(":authority"));
    assertThat(rule(allowing.checkSet(set(":authority", "example.com"), false)))
        .isEqualTo(Rule.SERVICE_EXTENSIONS);
  }

  @Test
  void allowedHeaders_blankOrBareStar_refused() {
    assertThrows(
        IllegalArgumentException.class, () -> new HeaderRules(MutationProfile.ENVOY, Set.of("*")));
    assertThrows(
        IllegalArgumentException.class, () -> new HeaderRules(MutationProfile.ENVOY, Set.of("")));
  }
}

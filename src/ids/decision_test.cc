#include "ids/decision.h"

#include <gtest/gtest.h>

#include <functional>

namespace medmesh::ids {
namespace {

TEST(SourceScopeTest, Ipv4StaysAnAddress) {
  auto s = SourceScope("203.0.113.9");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->kind, ScopeKind::kIp);
  EXPECT_EQ(s->value, "203.0.113.9");
}

TEST(SourceScopeTest, Ipv4MappedIpv6IsItsIpv4Address) {
  auto s = SourceScope("::ffff:203.0.113.9");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->kind, ScopeKind::kIp);
  EXPECT_EQ(s->value, "203.0.113.9");
}

TEST(SourceScopeTest, Ipv6IsDecidedByItsSlash64) {
  auto a = SourceScope("2001:db8:1:2:aaaa::1");
  auto b = SourceScope("2001:0db8:0001:0002:ffff:1:2:3");
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->kind, ScopeKind::kRange);
  EXPECT_EQ(a->value, "2001:db8:1:2::/64");
  EXPECT_EQ(a->Key(), b->Key());
  auto other = SourceScope("2001:db8:1:3::1");
  ASSERT_TRUE(other);
  EXPECT_NE(other->Key(), a->Key());
}

TEST(SourceScopeTest, RefusesNames) {
  EXPECT_FALSE(SourceScope("example.org"));
  EXPECT_FALSE(SourceScope(""));
}

TEST(NormalizeScopeTest, NormalisesAndChecks) {
  auto ip = NormalizeScope(ScopeKind::kIp, "::ffff:10.0.0.1");
  ASSERT_TRUE(ip);
  EXPECT_EQ(ip->value, "10.0.0.1");
  auto range = NormalizeScope(ScopeKind::kRange, "2001:db8:0:1:5::7/64");
  ASSERT_TRUE(range);
  EXPECT_EQ(range->value, "2001:db8:0:1::/64");
  EXPECT_FALSE(NormalizeScope(ScopeKind::kRange, "2001:db8::/48"));
  EXPECT_FALSE(NormalizeScope(ScopeKind::kRange, "10.0.0.0/64"));
  EXPECT_FALSE(NormalizeScope(ScopeKind::kDevice, ""));
  EXPECT_FALSE(NormalizeScope(ScopeKind::kDevice, "a b"));
  EXPECT_FALSE(NormalizeScope(ScopeKind::kAccount, std::string(129, 'a')));
  EXPECT_TRUE(NormalizeScope(ScopeKind::kDevice, "watch-1"));
}

Decision Sample() {
  Decision d;
  d.id = "0123456789abcdef0123456789abcdef";
  d.origin = "cloudlet-1";
  d.detector = "credentials";
  d.detector_version = 1;
  d.scope = {ScopeKind::kRange, "2001:db8::/64"};
  d.action = Action::kThrottle;
  d.created_ms = 1'800'000'000'000;
  d.expires_ms = 1'800'000'600'000;
  d.offence = 2;
  d.reason = "at least 10 failed logins";
  return d;
}

TEST(DecisionEncodingTest, RoundTrips) {
  const Decision d = Sample();
  const Bytes encoded = EncodeDecision(d);
  auto decoded = DecodeDecision(encoded);
  ASSERT_TRUE(decoded);
  EXPECT_EQ(EncodeDecision(*decoded), encoded);
  EXPECT_EQ(decoded->scope, d.scope);
  EXPECT_EQ(decoded->action, d.action);
  EXPECT_EQ(decoded->expires_ms, d.expires_ms);
  EXPECT_EQ(decoded->reason, d.reason);
}

TEST(DecisionEncodingTest, RevocationIsNotPartOfTheSignedBytes) {
  Decision d = Sample();
  const Bytes before = EncodeDecision(d);
  d.revoked_ms = 5;
  EXPECT_EQ(EncodeDecision(d), before);
}

TEST(DecisionEncodingTest, EveryFieldChangesTheBytes) {
  const Bytes base = EncodeDecision(Sample());
  std::vector<std::function<void(Decision&)>> changes = {
      [](Decision& d) { d.id[0] = '1'; },
      [](Decision& d) { d.origin += "x"; },
      [](Decision& d) { d.detector_version++; },
      [](Decision& d) { d.scope.kind = ScopeKind::kIp; },
      [](Decision& d) { d.action = Action::kBlock; },
      [](Decision& d) { d.expires_ms++; },
      [](Decision& d) { d.offence++; },
      [](Decision& d) { d.reason += "."; }};
  for (const auto& change : changes) {
    Decision d = Sample();
    change(d);
    EXPECT_NE(EncodeDecision(d), base);
  }
}

TEST(DecisionEncodingTest, RefusesTruncatedTrailingAndBadEnums) {
  const Bytes encoded = EncodeDecision(Sample());
  for (std::size_t n = 0; n < encoded.size(); ++n) {
    EXPECT_FALSE(DecodeDecision(ByteView(encoded).first(n))) << "prefix of " << n;
  }
  Bytes longer = encoded;
  longer.push_back(0);
  EXPECT_FALSE(DecodeDecision(longer));
  Bytes bad_magic = encoded;
  bad_magic[0] ^= 1;
  EXPECT_FALSE(DecodeDecision(bad_magic));
  Bytes bad_version = encoded;
  bad_version[6] = 2;
  EXPECT_FALSE(DecodeDecision(bad_version));
}

}  // namespace
}  // namespace medmesh::ids

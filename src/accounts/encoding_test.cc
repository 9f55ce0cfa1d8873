#include "accounts/encoding.h"

#include <gtest/gtest.h>

#include "testing/fake_random.h"

namespace medmesh::accounts {
namespace {

TEST(Base64UrlTest, KnownAnswersOfRfc4648) {
  // RFC 4648 section 10 vectors, without padding.
  EXPECT_EQ(Base64UrlEncode(AsBytes("")), "");
  EXPECT_EQ(Base64UrlEncode(AsBytes("f")), "Zg");
  EXPECT_EQ(Base64UrlEncode(AsBytes("fo")), "Zm8");
  EXPECT_EQ(Base64UrlEncode(AsBytes("foo")), "Zm9v");
  EXPECT_EQ(Base64UrlEncode(AsBytes("foobar")), "Zm9vYmFy");
  const Bytes high = {0xfb, 0xff, 0xbf};
  EXPECT_EQ(Base64UrlEncode(high), "-_-_");
}

TEST(Base64UrlTest, RoundTripsEveryLength) {
  testing::DeterministicRandom random(3);
  for (std::size_t n = 0; n < 70; ++n) {
    const Bytes data = random.Generate(n);
    auto back = Base64UrlDecode(Base64UrlEncode(data));
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, data);
  }
}

TEST(Base64UrlTest, RefusesEverythingButTheCanonicalText) {
  for (const char* bad : {"Zg==", "Zm9v\n", "Zm+v", "Zm/v", "Z", "Zh", "Zm9 v", "Zm9=", "Zm9w="}) {
    SCOPED_TRACE(bad);
    EXPECT_FALSE(Base64UrlDecode(bad));
  }
  // "Zh" and "Zg" would both decode to "f" if the unused bits were ignored.
  EXPECT_TRUE(Base64UrlDecode("Zg"));
}

TEST(Base64Test, StandardAlphabetWithPadding) {
  EXPECT_EQ(Base64Decode("Zm9vYg==").value(),
            Bytes(AsBytes("foob").begin(), AsBytes("foob").end()));
  EXPECT_EQ(Base64Decode("+/+/").value(), (Bytes{0xfb, 0xff, 0xbf}));
  EXPECT_TRUE(Base64Decode("").value().empty());
  for (const char* bad : {"Zm9vYg", "Zm9vYg=", "Zm9vYh==", "-_-_", "Zm9v\n", "Zg=a"}) {
    SCOPED_TRACE(bad);
    EXPECT_FALSE(Base64Decode(bad));
  }
}

TEST(IdsTest, HaveThePrefixAnd26Base32Characters) {
  testing::DeterministicRandom random(9);
  const std::string a = NewId("acc_", random);
  const std::string b = NewId("acc_", random);
  EXPECT_EQ(a.size(), 30u);
  EXPECT_NE(a, b);
  EXPECT_TRUE(IsIdWithPrefix(a, "acc_"));
  EXPECT_FALSE(IsIdWithPrefix(a, "ses_"));
  EXPECT_FALSE(IsIdWithPrefix(a.substr(0, 29), "acc_"));
  EXPECT_FALSE(IsIdWithPrefix("acc_AAAAAAAAAAAAAAAAAAAAAAAAAA", "acc_"));
  EXPECT_FALSE(IsIdWithPrefix("acc_11111111111111111111111111", "acc_"));
}

TEST(NormaliseEmailTest, OneFormForLoginsAndRecordIndexes) {
  EXPECT_EQ(NormaliseEmail(" A.B@Ex.ORG\t").value(), "a.b@ex.org");
  // A record's address needs no '.' in its domain (a login does, below).
  EXPECT_EQ(NormaliseEmail("Ops@LocalHost").value(), "ops@localhost");
  for (const char* bad : {"", " ", "a@b@c", "a b@c", "@c", "c@", "a\x01@b.org"}) {
    SCOPED_TRACE(bad);
    EXPECT_FALSE(NormaliseEmail(bad));
  }
  EXPECT_FALSE(NormaliseEmail(std::string(250, 'a') + "@x.org"));
}

TEST(NormaliseLoginTest, TrimsAndLowerCases) {
  EXPECT_EQ(NormaliseLogin("  Alice@Example.ORG ").value(), "alice@example.org");
  EXPECT_EQ(NormaliseLogin("Alice@Example.ORG\r\n").value(), "alice@example.org");
  for (const char* bad : {"", "alice", "@example.org", "alice@", "a@@example.org",
                          "a b@example.org", "a@example", "a@.org", "a@example.", "a\t@x.org"}) {
    SCOPED_TRACE(bad);
    EXPECT_FALSE(NormaliseLogin(bad));
  }
  EXPECT_FALSE(NormaliseLogin(std::string(250, 'a') + "@x.org"));
}

}  // namespace
}  // namespace medmesh::accounts

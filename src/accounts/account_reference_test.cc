#include "accounts/account_reference.h"

#include <gtest/gtest.h>

namespace medmesh::accounts {
namespace {

SecretBytes Secret(std::uint8_t fill) { return SecretBytes(Bytes(32, fill)); }

TEST(AccountReferenceTest, IsStableOpaqueAndFollowsTheNormalisedLogin) {
  const crypto::HashKey key = DeriveAccountReferenceKey(Secret(1));
  const std::string ref = AccountReference(key, "Alice@Example.org");
  EXPECT_EQ(ref.size(), kAccountReferencePrefix.size() + 32);
  EXPECT_EQ(ref.rfind(kAccountReferencePrefix, 0), 0u);
  EXPECT_EQ(ref.find("alice"), std::string::npos);
  EXPECT_EQ(ref.find("example"), std::string::npos);
  // The same login however it is typed (case, surrounding spaces as NormaliseLogin takes them).
  EXPECT_EQ(AccountReference(key, "alice@example.org"), ref);
  EXPECT_EQ(AccountReference(key, " ALICE@example.ORG\t"), ref);
  EXPECT_NE(AccountReference(key, "bob@example.org"), ref);
}

TEST(AccountReferenceTest, EachNodeKeyGivesItsOwnReferences) {
  const crypto::HashKey a = DeriveAccountReferenceKey(Secret(1));
  const crypto::HashKey b = DeriveAccountReferenceKey(Secret(2));
  EXPECT_NE(AccountReference(a, "alice@example.org"), AccountReference(b, "alice@example.org"));
}

TEST(AccountReferenceTest, LoginsThatDoNotNormaliseStillGetAReference) {
  const crypto::HashKey key = DeriveAccountReferenceKey(Secret(1));
  const std::string junk = AccountReference(key, "not an e-mail");
  EXPECT_EQ(junk.size(), kAccountReferencePrefix.size() + 32);
  EXPECT_NE(junk, AccountReference(key, "also not one"));
  EXPECT_EQ(junk, AccountReference(key, "not an e-mail"));
}

}  // namespace
}  // namespace medmesh::accounts

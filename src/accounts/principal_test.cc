#include "accounts/principal.h"

#include <gtest/gtest.h>

namespace medmesh::accounts {
namespace {

TEST(RoleTest, NamesRoundTripAndUnknownNamesAreRefused) {
  for (Role role : {Role::kPatient, Role::kDoctor, Role::kOperator, Role::kAdmin}) {
    auto parsed = ParseRole(RoleName(role));
    ASSERT_TRUE(parsed.has_value());
    EXPECT_EQ(*parsed, role);
  }
  EXPECT_FALSE(ParseRole("Admin").has_value());
  EXPECT_FALSE(ParseRole("").has_value());
  EXPECT_FALSE(ParseRole("root").has_value());
}

}  // namespace
}  // namespace medmesh::accounts

#include "store/postgres/schema_prefix.h"

#include <gtest/gtest.h>

#include <string>

namespace medmesh::store {
namespace {

TEST(SchemaPrefixTest, AcceptsOnlyWhatCannotLeaveAQuotedIdentifier) {
  for (const std::string& ok :
       {std::string(), std::string("a"), std::string("t1_"), std::string(32, 'z')}) {
    EXPECT_TRUE(CheckSchemaPrefix(ok)) << ok;
  }
  for (const std::string& bad :
       {std::string(33, 'z'), std::string("1a"), std::string("_a"), std::string("A"),
        std::string("aB"), std::string("a-b"), std::string("a b"), std::string("a\""),
        std::string("a\0b", 3), std::string("x\"; DROP SCHEMA public; --")}) {
    const Status status = CheckSchemaPrefix(bad);
    ASSERT_FALSE(status) << bad;
    EXPECT_EQ(status.error().code(), ErrorCode::kInvalidArgument);
    // The rule, never the value.
    EXPECT_EQ(status.error().message(), "schema prefix must be empty or [a-z][a-z0-9_]{0,31}");
  }
}

}  // namespace
}  // namespace medmesh::store

#include "core/status.h"

#include <gtest/gtest.h>

#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/check.h"

namespace medmesh {
namespace {

TEST(ErrorCodeTest, EveryCodeHasItsStableName) {
  const std::pair<ErrorCode, std::string_view> expected[] = {
      {ErrorCode::kInvalidArgument, "invalid_argument"},
      {ErrorCode::kNotFound, "not_found"},
      {ErrorCode::kAlreadyExists, "already_exists"},
      {ErrorCode::kPermissionDenied, "permission_denied"},
      {ErrorCode::kUnauthenticated, "unauthenticated"},
      {ErrorCode::kFailedPrecondition, "failed_precondition"},
      {ErrorCode::kDataLoss, "data_loss"},
      {ErrorCode::kUnavailable, "unavailable"},
      {ErrorCode::kResourceExhausted, "resource_exhausted"},
      {ErrorCode::kPayloadTooLarge, "payload_too_large"},
      {ErrorCode::kInternal, "internal"},
  };
  // The list above must cover the whole enum: kInternal is the last enumerator.
  ASSERT_EQ(std::size(expected), static_cast<std::size_t>(ErrorCode::kInternal) + 1);
  std::set<std::string_view> seen;
  for (const auto& [code, name] : expected) {
    EXPECT_EQ(ErrorCodeName(code), name);
    EXPECT_TRUE(seen.insert(ErrorCodeName(code)).second) << "duplicate name " << name;
  }
}

TEST(ErrorCodeTest, FactoriesSetTheirCodeAndMessage) {
  const std::pair<Error, ErrorCode> cases[] = {
      {InvalidArgument("m"), ErrorCode::kInvalidArgument},
      {NotFound("m"), ErrorCode::kNotFound},
      {AlreadyExists("m"), ErrorCode::kAlreadyExists},
      {PermissionDenied("m"), ErrorCode::kPermissionDenied},
      {Unauthenticated("m"), ErrorCode::kUnauthenticated},
      {FailedPrecondition("m"), ErrorCode::kFailedPrecondition},
      {DataLoss("m"), ErrorCode::kDataLoss},
      {Unavailable("m"), ErrorCode::kUnavailable},
      {ResourceExhausted("m"), ErrorCode::kResourceExhausted},
      {PayloadTooLarge("m"), ErrorCode::kPayloadTooLarge},
      {Internal("m"), ErrorCode::kInternal},
  };
  for (const auto& [error, code] : cases) {
    EXPECT_EQ(error.code(), code) << ErrorCodeName(code);
    EXPECT_EQ(error.message(), "m");
  }
}

TEST(ErrorTest, ToStringIsCodeNameAndMessage) {
  EXPECT_EQ(NotFound("no such patient").ToString(), "not_found: no such patient");
  EXPECT_EQ(Error(ErrorCode::kDataLoss, "").ToString(), "data_loss: ");
}

TEST(ResultTest, HoldsAValue) {
  Result<int> r = 42;
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(static_cast<bool>(r));
  EXPECT_EQ(r.value(), 42);
  EXPECT_EQ(*r, 42);
  *r = 7;
  EXPECT_EQ(r.value(), 7);
}

TEST(ResultTest, HoldsAnError) {
  Result<int> r = InvalidArgument("bad length");
  ASSERT_FALSE(r.has_value());
  EXPECT_FALSE(static_cast<bool>(r));
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(r.error().message(), "bad length");
}

TEST(ResultTest, ConvertsFromConstructibleTypes) {
  Result<std::string> s = "text";
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(*s, "text");
  EXPECT_EQ(s->size(), 4U);
  const Result<std::string>& cs = s;
  EXPECT_EQ(cs->front(), 't');
}

TEST(ResultTest, MoveOnlyValuesMoveOut) {
  Result<std::unique_ptr<int>> r = std::make_unique<int>(5);
  ASSERT_TRUE(r.has_value());
  std::unique_ptr<int> p = std::move(r).value();
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(*p, 5);
}

TEST(StatusTest, OkAndError) {
  Status ok = OkStatus();
  EXPECT_TRUE(ok.has_value());
  EXPECT_TRUE(static_cast<bool>(ok));
  ok.value();  // no abort

  Status bad = Unavailable("store offline");
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code(), ErrorCode::kUnavailable);
  EXPECT_EQ(bad.error().message(), "store offline");
}

// --- Propagation macros -------------------------------------------------------------------

class Steps {
 public:
  Status Step(int id, bool fail) {
    ran_.push_back(id);
    if (fail) return DataLoss("step " + std::to_string(id) + " failed");
    return OkStatus();
  }
  Result<int> Value(int id, Result<int> out) {
    ran_.push_back(id);
    return out;
  }
  const std::vector<int>& ran() const { return ran_; }

 private:
  std::vector<int> ran_;
};

Status RunSteps(Steps& s, bool fail_first, bool fail_second) {
  MEDMESH_RETURN_IF_ERROR(s.Step(1, fail_first));
  MEDMESH_RETURN_IF_ERROR(s.Step(2, fail_second));
  MEDMESH_RETURN_IF_ERROR(s.Step(3, false));
  return OkStatus();
}

TEST(ReturnIfErrorTest, RunsAllStepsOnSuccess) {
  Steps s;
  EXPECT_TRUE(RunSteps(s, false, false).has_value());
  EXPECT_EQ(s.ran(), (std::vector<int>{1, 2, 3}));
}

TEST(ReturnIfErrorTest, StopsAtTheFirstErrorAndPropagatesIt) {
  Steps s;
  Status st = RunSteps(s, false, true);
  ASSERT_FALSE(st.has_value());
  EXPECT_EQ(st.error().code(), ErrorCode::kDataLoss);
  EXPECT_EQ(st.error().message(), "step 2 failed");
  EXPECT_EQ(s.ran(), (std::vector<int>{1, 2}));

  Steps t;
  ASSERT_FALSE(RunSteps(t, true, true).has_value());
  EXPECT_EQ(t.ran(), (std::vector<int>{1}));
}

// MEDMESH_RETURN_IF_ERROR also takes a Result<T> and works in a function returning Result<U>.
Result<std::string> CheckThenDescribe(Steps& s, Result<int> in) {
  MEDMESH_RETURN_IF_ERROR(s.Value(1, std::move(in)));
  return std::string("ok");
}

TEST(ReturnIfErrorTest, WorksWithResultsOnBothSides) {
  Steps s;
  Result<std::string> ok = CheckThenDescribe(s, 3);
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(*ok, "ok");
  Result<std::string> bad = CheckThenDescribe(s, PermissionDenied("not yours"));
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code(), ErrorCode::kPermissionDenied);
  EXPECT_EQ(bad.error().message(), "not yours");
}

Result<int> Sum(Steps& s, Result<int> a, Result<int> b) {
  MEDMESH_ASSIGN_OR_RETURN(int x, s.Value(1, std::move(a)));
  MEDMESH_ASSIGN_OR_RETURN(const int y, s.Value(2, std::move(b)));
  return x + y;
}

TEST(AssignOrReturnTest, AssignsValues) {
  Steps s;
  Result<int> r = Sum(s, 2, 40);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(*r, 42);
  EXPECT_EQ(s.ran(), (std::vector<int>{1, 2}));
}

TEST(AssignOrReturnTest, ReturnsTheFirstErrorAndEvaluatesEachExpressionOnce) {
  Steps s;
  Result<int> r = Sum(s, NotFound("no a"), 1);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(r.error().message(), "no a");
  EXPECT_EQ(s.ran(), (std::vector<int>{1}));

  Steps t;
  Result<int> r2 = Sum(t, 1, ResourceExhausted("quota"));
  ASSERT_FALSE(r2.has_value());
  EXPECT_EQ(r2.error().code(), ErrorCode::kResourceExhausted);
  EXPECT_EQ(t.ran(), (std::vector<int>{1, 2}));
}

Result<std::unique_ptr<int>> MakeBox(bool fail) {
  if (fail) return Internal("no box");
  return std::make_unique<int>(9);
}

Status OpenBox(bool fail, int& out) {
  MEDMESH_ASSIGN_OR_RETURN(std::unique_ptr<int> box, MakeBox(fail));
  out = *box;
  return OkStatus();
}

TEST(AssignOrReturnTest, MovesMoveOnlyValuesIntoAStatusFunction) {
  int out = 0;
  EXPECT_TRUE(OpenBox(false, out).has_value());
  EXPECT_EQ(out, 9);
  Status st = OpenBox(true, out);
  ASSERT_FALSE(st.has_value());
  EXPECT_EQ(st.error().code(), ErrorCode::kInternal);
}

// --- Broken invariants abort ----------------------------------------------------------------

TEST(StatusDeathTest, ValueOfAnErrorAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  Result<int> r = Internal("x");
  EXPECT_DEATH((void)r.value(), "Result::value\\(\\) on error");
  Status st = Internal("x");
  EXPECT_DEATH(st.value(), "Status::value\\(\\) on error");
}

TEST(StatusDeathTest, ErrorOfAValueAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  Result<int> r = 1;
  EXPECT_DEATH((void)r.error(), "Result::error\\(\\) on value");
  Status st = OkStatus();
  EXPECT_DEATH((void)st.error(), "Status::error\\(\\) on ok");
}

TEST(StatusDeathTest, CheckReportsFileConditionAndMessage) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  const int two = 2;
  EXPECT_DEATH(MEDMESH_CHECK(two == 3, "arithmetic broke"),
               "MEDMESH_CHECK failed at .*status_test.cc:[0-9]+: two == 3 \\(arithmetic broke\\)");
  MEDMESH_CHECK(two == 2, "never printed");  // a passing check does nothing
}

}  // namespace
}  // namespace medmesh

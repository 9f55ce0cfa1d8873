#include "net/internal/body_budget.h"

#include <gtest/gtest.h>

#include <variant>

#include "net/test_support.h"

namespace medmesh::net::internal {
namespace {

BodyBudgetOptions SmallBudget() {
  return {.large_body_bytes = 10,
          .total_bytes = 100,
          .reserved_bytes = 20,
          .per_source_bytes = 50,
          .max_large_bodies = 5,
          .reserved_large_bodies = 1,
          .max_large_bodies_per_source = 2};
}

bool Granted(const std::variant<BodyBudget::Reservation, BodyBudget::Refusal>& r) {
  return std::holds_alternative<BodyBudget::Reservation>(r);
}

std::optional<BodyBudget::Refusal> RefusalOf(
    const std::variant<BodyBudget::Reservation, BodyBudget::Refusal>& r) {
  if (const auto* refusal = std::get_if<BodyBudget::Refusal>(&r)) return *refusal;
  return std::nullopt;
}

TEST(BodyBudgetTest, SmallBodiesNeedNoReservation) {
  BodyBudget budget("test", SmallBudget(), nullptr);
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(Granted(budget.Reserve("10.0.0.1", 10, false)));
  EXPECT_EQ(budget.reserved_bytes(), 0u);
}

TEST(BodyBudgetTest, PerSourceBytesAndCountAreBounded) {
  BodyBudget budget("test", SmallBudget(), nullptr);
  auto a = budget.Reserve("10.0.0.1", 30, false);
  ASSERT_TRUE(Granted(a));
  EXPECT_EQ(RefusalOf(budget.Reserve("10.0.0.1", 21, false)), BodyBudget::Refusal::kSource);
  auto b = budget.Reserve("10.0.0.1", 20, false);
  ASSERT_TRUE(Granted(b));
  // Two large bodies in progress: the third is refused even though it is small enough.
  std::get<BodyBudget::Reservation>(b).Release();
  auto c = budget.Reserve("10.0.0.1", 11, false);
  ASSERT_TRUE(Granted(c));
  EXPECT_EQ(RefusalOf(budget.Reserve("10.0.0.1", 11, false)), BodyBudget::Refusal::kSource);
  EXPECT_EQ(budget.reserved_bytes(), 41u);
}

TEST(BodyBudgetTest, TheReservedPartIsForAuthenticatedSources) {
  MetricsRegistry metrics;
  BodyBudget budget("test", SmallBudget(), &metrics);
  auto a = budget.Reserve("10.0.0.1", 40, false);
  auto b = budget.Reserve("10.0.0.2", 40, false);
  ASSERT_TRUE(Granted(a) && Granted(b));
  // 80 of 100 used: the last 20 only for authenticated sources.
  EXPECT_EQ(RefusalOf(budget.Reserve("10.0.0.3", 11, false)), BodyBudget::Refusal::kNode);
  auto c = budget.Reserve("10.0.0.3", 20, true);
  ASSERT_TRUE(Granted(c));
  EXPECT_EQ(RefusalOf(budget.Reserve("10.0.0.4", 11, true)), BodyBudget::Refusal::kNode);
  const auto parsed = testing::ParseExposition(metrics.Render());
  EXPECT_EQ(testing::FindSample(parsed, "medmesh_http_body_bytes_reserved", {{"server", "test"}}),
            "100");
  EXPECT_EQ(testing::FindSample(parsed, "medmesh_http_body_refused_total",
                                {{"server", "test"}, {"reason", "node"}}),
            "2");
}

TEST(BodyBudgetTest, ReleasingGivesTheBudgetBackOnceAndMovesCarryIt) {
  BodyBudget budget("test", SmallBudget(), nullptr);
  {
    auto a = budget.Reserve("10.0.0.1", 50, false);
    ASSERT_TRUE(Granted(a));
    BodyBudget::Reservation moved = std::move(std::get<BodyBudget::Reservation>(a));
    EXPECT_EQ(budget.reserved_bytes(), 50u);
    moved.Release();
    moved.Release();
    EXPECT_EQ(budget.reserved_bytes(), 0u);
    auto b = budget.Reserve("10.0.0.1", 50, false);
    ASSERT_TRUE(Granted(b));
  }  // b released by its destructor
  EXPECT_EQ(budget.reserved_bytes(), 0u);
  EXPECT_TRUE(Granted(budget.Reserve("10.0.0.1", 50, false)));
}

}  // namespace
}  // namespace medmesh::net::internal

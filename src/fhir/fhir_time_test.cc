#include "fhir/fhir_time.h"

#include "gtest/gtest.h"
#include "wire/model.h"

namespace medmesh::fhir {
namespace {

TEST(FormatInstantTest, FormatsUtcWithMilliseconds) {
  EXPECT_EQ(*FormatInstant(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(*FormatInstant(1'709'622'489'010), "2024-03-05T07:08:09.010Z");
  EXPECT_EQ(*FormatInstant(951'782'400'000), "2000-02-29T00:00:00.000Z");  // leap day
  EXPECT_EQ(*FormatInstant(wire::kMaxTimeMs), "9999-12-31T23:59:59.999Z");
}

TEST(FormatInstantTest, RejectsTimesOutsideTheWireRange) {
  EXPECT_EQ(FormatInstant(-1).error().code(), ErrorCode::kInvalidArgument);
  EXPECT_FALSE(FormatInstant(wire::kMaxTimeMs + 1).has_value());
  EXPECT_FALSE(FormatDate(-1).has_value());
}

TEST(FormatDateTest, IsTheUtcDay) {
  EXPECT_EQ(*FormatDate(1'709'622'489'010), "2024-03-05");
  EXPECT_EQ(*FormatDate(86'400'000 - 1), "1970-01-01");
  EXPECT_EQ(*FormatDate(86'400'000), "1970-01-02");
}

constexpr std::int64_t kDay = 86'400'000;
constexpr std::int64_t kHour = 3'600'000;
constexpr std::int64_t k2024 = 1'704'067'200'000;  // 2024-01-01T00:00:00Z

TEST(ParseDateTimeRangeTest, EachPrecisionCoversItsRange) {
  EXPECT_EQ(*ParseDateTimeRange("2024"), (TimeRange{k2024, k2024 + 366 * kDay}));  // leap year
  EXPECT_EQ(*ParseDateTimeRange("2023"), (TimeRange{k2024 - 365 * kDay, k2024}));
  EXPECT_EQ(*ParseDateTimeRange("2024-02"), (TimeRange{k2024 + 31 * kDay, k2024 + 60 * kDay}));
  EXPECT_EQ(*ParseDateTimeRange("2024-12"),
            (TimeRange{k2024 + 335 * kDay, k2024 + 366 * kDay}));  // into the next year
  EXPECT_EQ(*ParseDateTimeRange("2024-01-02"), (TimeRange{k2024 + kDay, k2024 + 2 * kDay}));
  EXPECT_EQ(*ParseDateTimeRange("2024-01-01T10:30"),
            (TimeRange{k2024 + 37'800'000, k2024 + 37'860'000}));
  EXPECT_EQ(*ParseDateTimeRange("2024-01-01T10:30:15Z"),
            (TimeRange{k2024 + 37'815'000, k2024 + 37'816'000}));
  EXPECT_EQ(*ParseDateTimeRange("2024-01-01T00:00:00.5Z"), (TimeRange{k2024 + 500, k2024 + 600}));
  EXPECT_EQ(*ParseDateTimeRange("2024-01-01T00:00:00.25"), (TimeRange{k2024 + 250, k2024 + 260}));
  EXPECT_EQ(*ParseDateTimeRange("2024-01-01T00:00:00.123456"),
            (TimeRange{k2024 + 123, k2024 + 124}));
  EXPECT_EQ(*ParseDateTimeRange("1969-12-31"), (TimeRange{-kDay, 0}));
}

TEST(ParseDateTimeRangeTest, AppliesTheZoneOffset) {
  // 10:00 at +02:00 is 08:00 UTC; 10:00 at -05:30 is 15:30 UTC.
  EXPECT_EQ(ParseDateTimeRange("2024-01-01T10:00:00+02:00")->begin_ms, k2024 + 8 * kHour);
  EXPECT_EQ(ParseDateTimeRange("2024-01-01T10:00:00-05:30")->begin_ms,
            k2024 + 15 * kHour + kHour / 2);
  EXPECT_EQ(ParseDateTimeRange("2024-01-01T00:00+14:00")->begin_ms, k2024 - 14 * kHour);
}

TEST(ParseDateTimeRangeTest, RejectsMalformedAndImpossibleDates) {
  for (const char* bad : {"",
                          "24",
                          "20245",
                          "2024-",
                          "2024-1",
                          "2024-13",
                          "2024-00",
                          "2023-02-29",
                          "2024-04-31",
                          "2024-01-01T",
                          "2024-01-01T24:00",
                          "2024-01-01T10",
                          "2024-01-01T10:60",
                          "2024-01-01T10:00:60",
                          "2024-01-01T10:00:00.",
                          "2024-01-01T10:00:00.1234567890",
                          "2024-01-01T10:00:00+2",
                          "2024-01-01T10:00:00+15:00",
                          "2024-01-01T10:00:00z",
                          "2024-01-01 10:00",
                          "0000",
                          "2024-01-01T10:00:00Zjunk",
                          "+2024",
                          "2024/01/01",
                          "2024-01-01T10:00:00+02:60"}) {
    SCOPED_TRACE(bad);
    const auto r = ParseDateTimeRange(bad);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
  }
}

TEST(ParseDateTimeRangeTest, RoundTripsEveryFormattedInstant) {
  for (std::int64_t t :
       {std::int64_t{0}, std::int64_t{1}, std::int64_t{1'709'622'489'010}, wire::kMaxTimeMs}) {
    EXPECT_EQ(*ParseDateTimeRange(*FormatInstant(t)), (TimeRange{t, t + 1}));
    const TimeRange day = *ParseDateTimeRange(*FormatDate(t));
    EXPECT_TRUE(day.Contains(t));
    EXPECT_EQ(day.end_ms - day.begin_ms, kDay);
  }
}

}  // namespace
}  // namespace medmesh::fhir

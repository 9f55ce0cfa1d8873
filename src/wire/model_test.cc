#include "wire/model.h"

#include <gtest/gtest.h>

#include <set>

namespace medmesh::wire {
namespace {

TEST(VitalInfoTest, EveryKindHasAnEntryInIdOrder) {
  ASSERT_EQ(AllVitals().size(), static_cast<std::size_t>(kNumVitalKinds));
  std::set<std::string_view> names;
  for (int id = 1; id <= kNumVitalKinds; ++id) {
    const auto kind = VitalKindFromId(static_cast<std::uint8_t>(id));
    ASSERT_TRUE(kind.has_value()) << id;
    const VitalInfo& info = Info(*kind);
    EXPECT_EQ(info.kind, *kind);
    EXPECT_EQ(&info, &AllVitals()[static_cast<std::size_t>(id - 1)]);
    EXPECT_LT(info.min_milli, info.max_milli) << info.name;
    EXPECT_FALSE(info.unit.empty()) << info.name;
    EXPECT_TRUE(names.insert(info.name).second) << info.name;
    EXPECT_EQ(VitalKindFromName(info.name), *kind);
  }
}

TEST(VitalInfoTest, UnitsCodesAndRangesMatchTheSpecification) {
  const VitalInfo& hr = Info(VitalKind::kHeartRate);
  EXPECT_EQ(hr.name, "heart_rate");
  EXPECT_EQ(hr.unit, "/min");
  EXPECT_EQ(hr.loinc, "8867-4");
  EXPECT_EQ(hr.min_milli, 20'000);
  EXPECT_EQ(hr.max_milli, 300'000);
  EXPECT_EQ(Info(VitalKind::kSpO2).loinc, "59408-5");
  EXPECT_EQ(Info(VitalKind::kSpO2).min_milli, 50'000);
  EXPECT_EQ(Info(VitalKind::kBodyTemperature).unit, "Cel");
  EXPECT_EQ(Info(VitalKind::kBodyTemperature).max_milli, 45'000);
  EXPECT_EQ(Info(VitalKind::kSystolicBp).unit, "mm[Hg]");
  EXPECT_EQ(Info(VitalKind::kDiastolicBp).loinc, "8462-4");
  EXPECT_EQ(Info(VitalKind::kRespiratoryRate).min_milli, 4'000);
  EXPECT_EQ(Info(VitalKind::kGlucose).unit, "mg/dL");
  EXPECT_EQ(Info(VitalKind::kGlucose).max_milli, 800'000);
  EXPECT_EQ(Info(VitalKind::kSteps).max_milli, 50'000'000);
  EXPECT_EQ(Info(VitalKind::kEcgRhythm).max_milli, 4'000);
}

TEST(VitalInfoTest, UnknownIdsAndNamesAreRefused) {
  EXPECT_FALSE(VitalKindFromId(0).has_value());
  EXPECT_FALSE(VitalKindFromId(10).has_value());
  EXPECT_FALSE(VitalKindFromId(255).has_value());
  EXPECT_FALSE(VitalKindFromName("").has_value());
  EXPECT_FALSE(VitalKindFromName("Heart_Rate").has_value());
}

TEST(CheckPlausibleTest, AcceptsTheRangeInclusiveAndRefusesOutside) {
  EXPECT_TRUE(CheckPlausible({1000, VitalKind::kHeartRate, 20'000}));
  EXPECT_TRUE(CheckPlausible({1000, VitalKind::kHeartRate, 300'000}));
  const Status low = CheckPlausible({1000, VitalKind::kHeartRate, 19'999});
  ASSERT_FALSE(low);
  EXPECT_EQ(low.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(low.error().message().find("heart_rate"), std::string::npos);
  EXPECT_FALSE(CheckPlausible({1000, VitalKind::kSpO2, 100'001}));
  EXPECT_FALSE(CheckPlausible({1000, VitalKind::kBodyTemperature, 29'000}));
  EXPECT_TRUE(CheckPlausible({1000, VitalKind::kSteps, 0}));
  EXPECT_FALSE(CheckPlausible({1000, VitalKind::kSteps, -1}));
}

TEST(CheckPlausibleTest, EcgRhythmMustBeACodeTimesAThousand) {
  EXPECT_TRUE(CheckPlausible({0, VitalKind::kEcgRhythm, 3'000}));
  EXPECT_FALSE(CheckPlausible({0, VitalKind::kEcgRhythm, 3'500}));
  EXPECT_FALSE(CheckPlausible({0, VitalKind::kEcgRhythm, 5'000}));
}

TEST(CheckPlausibleTest, RefusesBadTimesAndKinds) {
  EXPECT_FALSE(CheckPlausible({-1, VitalKind::kHeartRate, 70'000}));
  EXPECT_FALSE(CheckPlausible({kMaxTimeMs + 1, VitalKind::kHeartRate, 70'000}));
  EXPECT_TRUE(CheckPlausible({kMaxTimeMs, VitalKind::kHeartRate, 70'000}));
  EXPECT_FALSE(CheckPlausible({0, static_cast<VitalKind>(42), 70'000}));
}

TEST(IsValidIdTest, AcceptsShortPrintableIds) {
  EXPECT_TRUE(IsValidId("a"));
  EXPECT_TRUE(IsValidId("dev-01.ward_3"));
  EXPECT_TRUE(IsValidId(std::string(64, 'x')));
  EXPECT_FALSE(IsValidId(""));
  EXPECT_FALSE(IsValidId(std::string(65, 'x')));
  EXPECT_FALSE(IsValidId("a b"));
  EXPECT_FALSE(IsValidId("a/b"));
  EXPECT_FALSE(IsValidId("caf\xc3\xa9"));
  EXPECT_FALSE(IsValidId(std::string_view("a\0b", 3)));
}

TEST(ToUnixMsTest, ConvertsAndFloors) {
  using std::chrono::system_clock;
  EXPECT_EQ(ToUnixMs(system_clock::time_point(std::chrono::seconds(1'800'000'000))),
            1'800'000'000'000);
  EXPECT_EQ(ToUnixMs(system_clock::time_point(std::chrono::microseconds(1'500))), 1);
  EXPECT_EQ(ToUnixMs(system_clock::time_point(std::chrono::microseconds(-1))), -1);
}

}  // namespace
}  // namespace medmesh::wire

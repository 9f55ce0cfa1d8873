#include "fhir/search.h"

#include <array>

#include "fhir/codes.h"
#include "gtest/gtest.h"

namespace medmesh::fhir {
namespace {

using wire::VitalKind;

constexpr std::int64_t kDay = 86'400'000;
constexpr std::int64_t k2024 = 1'704'067'200'000;  // 2024-01-01T00:00:00Z
const TimeRange kJan1{k2024, k2024 + kDay};

TEST(DateSearchTest, ParsesEachSupportedPrefix) {
  EXPECT_EQ(*ParseDateSearch("2024-01-01"), (DateSearch{DatePrefix::kEq, kJan1}));
  EXPECT_EQ(*ParseDateSearch("eq2024-01-01"), (DateSearch{DatePrefix::kEq, kJan1}));
  EXPECT_EQ(ParseDateSearch("ge2024-01-01")->prefix, DatePrefix::kGe);
  EXPECT_EQ(ParseDateSearch("le2024-01-01")->prefix, DatePrefix::kLe);
  EXPECT_EQ(ParseDateSearch("gt2024-01-01")->prefix, DatePrefix::kGt);
  EXPECT_EQ(ParseDateSearch("lt2024-01-01")->prefix, DatePrefix::kLt);
}

TEST(DateSearchTest, RejectsUnsupportedPrefixesAndBadDates) {
  for (const char* bad : {"ne2024", "sa2024", "eb2024", "ap2024", "xx2024", "ge", "", "GE2024",
                          "ge2024-13", "lt 2024"}) {
    SCOPED_TRACE(bad);
    const auto r = ParseDateSearch(bad);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
  }
}

TEST(DateSearchTest, PrefixesSelectTheRightInstants) {
  const auto matches = [](const char* value, std::int64_t t) {
    return MatchingInstants(*ParseDateSearch(value)).Contains(t);
  };
  const std::int64_t before = k2024 - 1;
  const std::int64_t first = k2024;
  const std::int64_t last = k2024 + kDay - 1;
  const std::int64_t after = k2024 + kDay;
  // eq: within the day.
  EXPECT_FALSE(matches("2024-01-01", before));
  EXPECT_TRUE(matches("2024-01-01", first));
  EXPECT_TRUE(matches("2024-01-01", last));
  EXPECT_FALSE(matches("2024-01-01", after));
  // ge: from the start of the day on; gt: after the day.
  EXPECT_FALSE(matches("ge2024-01-01", before));
  EXPECT_TRUE(matches("ge2024-01-01", first));
  EXPECT_FALSE(matches("gt2024-01-01", last));
  EXPECT_TRUE(matches("gt2024-01-01", after));
  // le: up to the end of the day; lt: before the day.
  EXPECT_TRUE(matches("le2024-01-01", last));
  EXPECT_FALSE(matches("le2024-01-01", after));
  EXPECT_TRUE(matches("lt2024-01-01", before));
  EXPECT_FALSE(matches("lt2024-01-01", first));
}

TEST(DateSearchTest, RepeatedValuesIntersect) {
  const std::array<std::string_view, 2> january{"ge2024-01", "lt2024-02"};
  EXPECT_EQ(*ParseDateSearches(january), (TimeRange{k2024, k2024 + 31 * kDay}));
  const std::array<std::string_view, 2> disjoint{"lt2024", "gt2024"};
  EXPECT_TRUE(ParseDateSearches(disjoint)->empty());
  EXPECT_EQ(*ParseDateSearches({}), TimeRange{});
  const std::array<std::string_view, 1> comma{"2024,2025"};
  EXPECT_FALSE(ParseDateSearches(comma).has_value());
  const std::array<std::string_view, 2> one_bad{"ge2024", "le20x"};
  EXPECT_FALSE(ParseDateSearches(one_bad).has_value());
}

TEST(TokenSearchTest, ParsesEveryForm) {
  EXPECT_EQ(*ParseTokenSearch("8867-4"), (std::vector<TokenSearch>{{std::nullopt, "8867-4"}}));
  EXPECT_EQ(*ParseTokenSearch("http://loinc.org|8867-4"),
            (std::vector<TokenSearch>{{"http://loinc.org", "8867-4"}}));
  EXPECT_EQ(*ParseTokenSearch("|x"), (std::vector<TokenSearch>{{"", "x"}}));
  EXPECT_EQ(*ParseTokenSearch("http://loinc.org|"),
            (std::vector<TokenSearch>{{"http://loinc.org", std::nullopt}}));
  EXPECT_EQ(*ParseTokenSearch("a,s|b"),
            (std::vector<TokenSearch>{{std::nullopt, "a"}, {"s", "b"}}));
  EXPECT_EQ(*ParseTokenSearch(R"(a\,b|c\|d\\)"), (std::vector<TokenSearch>{{"a,b", "c|d\\"}}));
}

TEST(TokenSearchTest, RejectsMalformedTokens) {
  for (const char* bad : {"", "|", "a||b", "a|b|c", ",a", "a,", "a,,b", "a\\", "a\\x"}) {
    SCOPED_TRACE(bad);
    const auto r = ParseTokenSearch(bad);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
  }
}

TEST(TokenSearchTest, MatchesCodings) {
  const auto any = *ParseTokenSearch("8867-4");
  EXPECT_TRUE(TokenMatches(any, kLoincSystem, "8867-4"));
  EXPECT_TRUE(TokenMatches(any, "http://other", "8867-4"));
  EXPECT_FALSE(TokenMatches(any, kLoincSystem, "8867-5"));
  const auto loinc = *ParseTokenSearch("http://loinc.org|8867-4");
  EXPECT_FALSE(TokenMatches(loinc, "http://other", "8867-4"));
  const auto no_system = *ParseTokenSearch("|8867-4");
  EXPECT_FALSE(TokenMatches(no_system, kLoincSystem, "8867-4"));
  EXPECT_TRUE(TokenMatches(no_system, "", "8867-4"));
  const auto whole_system = *ParseTokenSearch("http://loinc.org|");
  EXPECT_TRUE(TokenMatches(whole_system, kLoincSystem, "anything"));

  const nlohmann::json spo2_code = {{"coding",
                                     {{{"system", "http://loinc.org"}, {"code", "2708-6"}},
                                      {{"system", "http://loinc.org"}, {"code", "59408-5"}}}}};
  EXPECT_TRUE(CodeableConceptMatches(*ParseTokenSearch("59408-5"), spo2_code));
  EXPECT_FALSE(CodeableConceptMatches(*ParseTokenSearch("8867-4"), spo2_code));
  EXPECT_FALSE(CodeableConceptMatches(any, nlohmann::json{{"text", "8867-4"}}));
  EXPECT_FALSE(CodeableConceptMatches(any, nlohmann::json("8867-4")));
}

TEST(TokenSearchTest, MapsCodesToReadingKinds) {
  EXPECT_EQ(VitalKindsForCodes(*ParseTokenSearch("8867-4")),
            (std::vector<VitalKind>{VitalKind::kHeartRate}));
  EXPECT_EQ(VitalKindsForCodes(*ParseTokenSearch("http://loinc.org|85354-9")),
            (std::vector<VitalKind>{VitalKind::kSystolicBp, VitalKind::kDiastolicBp}));
  EXPECT_EQ(VitalKindsForCodes(*ParseTokenSearch("59408-5,9279-1")),
            (std::vector<VitalKind>{VitalKind::kSpO2, VitalKind::kRespiratoryRate}));
  EXPECT_EQ(VitalKindsForCodes(*ParseTokenSearch("http://loinc.org|")).size(),
            static_cast<std::size_t>(wire::kNumVitalKinds));
  EXPECT_TRUE(VitalKindsForCodes(*ParseTokenSearch("http://snomed.info/sct|8867-4")).empty());
  EXPECT_TRUE(VitalKindsForCodes(*ParseTokenSearch("1234-5")).empty());
}

TEST(PatientSearchTest, AcceptsReferenceOrId) {
  EXPECT_EQ(*ParsePatientSearch("Patient/pat.-k3"), "pat_k3");
  EXPECT_EQ(*ParsePatientSearch("patient-0007"), "patient-0007");
  EXPECT_EQ(ParsePatientSearch("Observation/x").error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(ParsePatientSearch("https://h/Patient/x").error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(ParsePatientSearch("Patient/pat_k3").error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(ParsePatientSearch("Patient/").error().code(), ErrorCode::kNotFound);
}

}  // namespace
}  // namespace medmesh::fhir

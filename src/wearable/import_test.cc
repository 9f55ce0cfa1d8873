#include "wearable/import.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace medmesh::wearable {
namespace {

using wire::Reading;
using wire::VitalKind;

constexpr std::int64_t k0800 = 1'800'000'000'000;  // 2027-01-15T08:00:00Z

std::string ReadTestFile(const std::string& name) {
  std::ifstream in(std::string(MEDMESH_WEARABLE_TESTDATA_DIR) + "/" + name, std::ios::binary);
  EXPECT_TRUE(in.good()) << name;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::size_t> RejectedNumbers(const ImportResult& r) {
  std::vector<std::size_t> out;
  for (const auto& rej : r.rejections) out.push_back(rej.number);
  return out;
}

std::string ReasonFor(const ImportResult& r, std::size_t number) {
  for (const auto& rej : r.rejections) {
    if (rej.number == number) return rej.reason;
  }
  return "(accepted)";
}

TEST(ParseIsoDateTimeTest, AcceptsZonedTimes) {
  EXPECT_EQ(ParseIsoDateTime("2027-01-15T08:00:00Z"), k0800);
  EXPECT_EQ(ParseIsoDateTime("2027-01-15t08:00:00z"), k0800);
  EXPECT_EQ(ParseIsoDateTime("2027-01-15 08:00Z"), k0800);
  EXPECT_EQ(ParseIsoDateTime("2027-01-15T09:30:00+01:30"), k0800);
  EXPECT_EQ(ParseIsoDateTime("2027-01-15T03:00:00-0500"), k0800);
  EXPECT_EQ(ParseIsoDateTime("2027-01-15T08:00:00.25Z"), k0800 + 250);
  EXPECT_EQ(ParseIsoDateTime("2027-01-15T08:00:00.123456789Z"), k0800 + 123);
  EXPECT_EQ(ParseIsoDateTime("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(ParseIsoDateTime("2024-02-29T00:00:00Z"), 1'709'164'800'000);
  EXPECT_EQ(ParseIsoDateTime("1969-12-31T23:59:59Z"), -1000);
}

TEST(ParseIsoDateTimeTest, RejectsAmbiguousOrInvalidTimes) {
  for (const char* bad :
       {"2027-01-15T08:00:00", "2027-01-15", "2027-01-15T08Z", "2027-13-01T00:00:00Z",
        "2023-02-29T00:00:00Z", "2027-01-15T24:00:00Z", "2027-01-15T08:60:00Z",
        "2027-01-15T08:00:61Z", "2027-01-15T08:00:00.Z", "2027-01-15T08:00:00+15:00",
        "2027-01-15T08:00:00Zjunk", "27-01-15T08:00:00Z", "", "2027-01-15T08:00:00.1234567890Z"}) {
    EXPECT_FALSE(ParseIsoDateTime(bad).has_value()) << bad;
  }
}

TEST(ToMilliUnitsTest, ConvertsCommonUnits) {
  EXPECT_EQ(*ToMilliUnits(VitalKind::kBodyTemperature, 98.6, "[degF]"), 37'000);
  EXPECT_EQ(*ToMilliUnits(VitalKind::kBodyTemperature, 212, "degF"), 100'000);
  EXPECT_EQ(*ToMilliUnits(VitalKind::kBodyTemperature, 310.15, "K"), 37'000);
  EXPECT_EQ(*ToMilliUnits(VitalKind::kBodyTemperature, 36.6, ""), 36'600);
  EXPECT_EQ(*ToMilliUnits(VitalKind::kGlucose, 5.5, "mmol/L"), 99'088);
  EXPECT_EQ(*ToMilliUnits(VitalKind::kGlucose, 99, "mg/dL"), 99'000);
  EXPECT_EQ(*ToMilliUnits(VitalKind::kSystolicBp, 16, "kPa"), 120'010);
  EXPECT_EQ(*ToMilliUnits(VitalKind::kHeartRate, 72, "bpm"), 72'000);
  EXPECT_EQ(*ToMilliUnits(VitalKind::kSpO2, 97.5, "%"), 97'500);
  auto bad = ToMilliUnits(VitalKind::kGlucose, 5.5, "g/L");
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(bad.error().message().find("mmol/L"), std::string::npos) << bad.error().message();
  EXPECT_FALSE(ToMilliUnits(VitalKind::kSpO2, 97, "degC").has_value());
  EXPECT_FALSE(ToMilliUnits(VitalKind::kSpO2, 1e300, "%").has_value());
}

TEST(ImportCsvTest, GoodFile) {
  auto r = ImportCsv(ReadTestFile("readings_good.csv"));
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_TRUE(r->AllAccepted()) << r->AllAccepted().error().ToString();
  EXPECT_EQ(r->skipped, 2u);  // the comment and the blank line
  const std::vector<Reading> want = {
      {k0800, VitalKind::kHeartRate, 72'000},
      {k0800 + 500, VitalKind::kSpO2, 97'000},
      {k0800 + 5000, VitalKind::kBodyTemperature, 37'000},
      {k0800, VitalKind::kSystolicBp, 128'000},
      {k0800, VitalKind::kDiastolicBp, 82'000},
      {k0800 + 600'000, VitalKind::kGlucose, 99'088},
      {k0800 + 900'000, VitalKind::kRespiratoryRate, 16'000},
      {k0800 + 1'200'000, VitalKind::kSteps, 85'000},
      {k0800 + 1'230'000, VitalKind::kEcgRhythm, 3000},
      {k0800 + 1'260'000, VitalKind::kHeartRate, 118'000},
      {k0800 + 1'320'000, VitalKind::kBodyTemperature, 37'200},
  };
  EXPECT_EQ(r->readings, want);
}

TEST(ImportCsvTest, CrlfAndHeaderCaseAndBom) {
  auto r = ImportCsv("\xEF\xBB\xBF" + ReadTestFile("readings_crlf.csv"));
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  ASSERT_EQ(r->readings.size(), 2u);
  EXPECT_EQ(r->readings[1], (Reading{k0800 + 1000, VitalKind::kHeartRate, 62'000}));
}

TEST(ImportCsvTest, BadRowsAreRejectedWithLineNumbers) {
  auto r = ImportCsv(ReadTestFile("readings_bad.csv"));
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  ASSERT_EQ(r->readings.size(), 2u);
  EXPECT_EQ(r->readings[0], (Reading{k0800, VitalKind::kHeartRate, 72'000}));
  EXPECT_EQ(r->readings[1], (Reading{k0800 + 9000, VitalKind::kBodyTemperature, 37'000}));
  EXPECT_EQ(r->rejected, 10u);
  EXPECT_EQ(RejectedNumbers(*r), (std::vector<std::size_t>{3, 4, 5, 6, 7, 8, 9, 10, 11, 12}));
  EXPECT_NE(ReasonFor(*r, 3).find("ISO-8601 with a zone"), std::string::npos) << ReasonFor(*r, 3);
  EXPECT_NE(ReasonFor(*r, 4).find("unknown kind 'heart_beat'"), std::string::npos);
  EXPECT_NE(ReasonFor(*r, 5).find("not a number"), std::string::npos);
  EXPECT_NE(ReasonFor(*r, 6).find("plausible range"), std::string::npos) << ReasonFor(*r, 6);
  EXPECT_NE(ReasonFor(*r, 7).find("unit 'mmol/mol' is not supported for glucose"),
            std::string::npos)
      << ReasonFor(*r, 7);
  EXPECT_NE(ReasonFor(*r, 9).find("epoch seconds"), std::string::npos);
  EXPECT_NE(ReasonFor(*r, 10).find("expected 4 columns, found 2"), std::string::npos)
      << ReasonFor(*r, 10);
  EXPECT_NE(ReasonFor(*r, 11).find("unknown ECG rhythm"), std::string::npos);
  EXPECT_EQ(r->rejections[0].location, "line 3");
  const Status all = r->AllAccepted();
  ASSERT_FALSE(all.has_value());
  EXPECT_EQ(all.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(all.error().message().rfind("10 rejected: line 3: ", 0), 0u) << all.error().message();
}

TEST(ImportCsvTest, QuotedFieldsMayHoldNewlinesAndLineNumbersStayRight) {
  const std::string csv =
      "time,kind,value,unit,note\n"
      "2027-01-15T08:00:00Z,hr,70,,\"two\nlines\"\n"
      "2027-01-15T08:00:01Z,hr,x,,\n";
  auto r = ImportCsv(csv);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->readings.size(), 1u);
  ASSERT_EQ(r->rejections.size(), 1u);
  EXPECT_EQ(r->rejections[0].number, 4u);
}

TEST(ImportCsvTest, UnusableInputIsAnError) {
  auto expect_error = [](std::string_view csv, ErrorCode code, std::string_view needle) {
    auto r = ImportCsv(csv);
    ASSERT_FALSE(r.has_value()) << csv;
    EXPECT_EQ(r.error().code(), code);
    EXPECT_NE(r.error().message().find(needle), std::string::npos) << r.error().message();
  };
  expect_error("", ErrorCode::kInvalidArgument, "no header");
  expect_error("# only a comment\n\n", ErrorCode::kInvalidArgument, "no header");
  expect_error("when,what,how much\n1,2,3\n", ErrorCode::kInvalidArgument, "time, kind and value");
  expect_error("time,kind,value\n2027-01-15T08:00:00Z,hr,\"72\n", ErrorCode::kInvalidArgument,
               "line 2: unterminated");
  ImportOptions small;
  small.max_input_bytes = 10;
  auto big = ImportCsv("time,kind,value\n", small);
  ASSERT_FALSE(big.has_value());
  EXPECT_EQ(big.error().code(), ErrorCode::kResourceExhausted);
  ImportOptions few;
  few.max_readings = 1;
  auto many = ImportCsv(ReadTestFile("readings_crlf.csv"), few);
  ASSERT_FALSE(many.has_value());
  EXPECT_EQ(many.error().code(), ErrorCode::kResourceExhausted);
}

TEST(ImportCsvTest, RejectionListIsCappedButCounted) {
  std::string csv = "time,kind,value\n";
  for (int i = 0; i < 500; ++i) csv += "bad,hr,1\n";
  ImportOptions options;
  options.max_listed_rejections = 5;
  auto r = ImportCsv(csv, options);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->rejected, 500u);
  EXPECT_EQ(r->rejections.size(), 5u);
}

TEST(ImportFhirTest, GoodBundle) {
  auto r = ImportFhir(ReadTestFile("observations_good.json"));
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_TRUE(r->AllAccepted()) << r->AllAccepted().error().ToString();
  EXPECT_EQ(r->skipped, 1u);  // the Patient
  const std::vector<Reading> want = {
      {k0800, VitalKind::kHeartRate, 72'000},
      {k0800, VitalKind::kSystolicBp, 142'000},
      {k0800, VitalKind::kDiastolicBp, 91'000},
      {k0800 + 300'000, VitalKind::kBodyTemperature, 38'000},
      {k0800 + 600'250, VitalKind::kGlucose, 109'898},
      {k0800 + 660'000, VitalKind::kSpO2, 95'000},
      {k0800 + 720'000, VitalKind::kRespiratoryRate, 18'000},
      {k0800 + 780'000, VitalKind::kSteps, 104'000},
      {k0800 + 840'000, VitalKind::kEcgRhythm, 3000},
  };
  EXPECT_EQ(r->readings, want);
}

TEST(ImportFhirTest, BadObservationsAreRejectedWithEntryNumbers) {
  auto r = ImportFhir(ReadTestFile("observations_bad.json"));
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  ASSERT_EQ(r->readings.size(), 1u);
  EXPECT_EQ(r->readings[0], (Reading{k0800, VitalKind::kHeartRate, 64'000}));
  EXPECT_EQ(r->skipped, 1u);  // the entry whose resource is not an object
  EXPECT_EQ(RejectedNumbers(*r), (std::vector<std::size_t>{2, 3, 4, 5, 6, 7, 8, 9, 10, 12}));
  EXPECT_EQ(r->rejections[0].location, "entry 2 (Observation/no-loinc)");
  EXPECT_NE(ReasonFor(*r, 2).find("no LOINC coding"), std::string::npos);
  EXPECT_NE(ReasonFor(*r, 3).find("unsupported LOINC code '29463-7'"), std::string::npos);
  EXPECT_NE(ReasonFor(*r, 4).find("no effectiveDateTime"), std::string::npos);
  EXPECT_NE(ReasonFor(*r, 5).find("hours, minutes and a zone"), std::string::npos);
  EXPECT_NE(ReasonFor(*r, 6).find("no numeric value"), std::string::npos);
  EXPECT_NE(ReasonFor(*r, 7).find("unit 'g/L'"), std::string::npos);
  EXPECT_NE(ReasonFor(*r, 8).find("plausible range"), std::string::npos);
  EXPECT_NE(ReasonFor(*r, 9).find("entered-in-error"), std::string::npos);
  EXPECT_NE(ReasonFor(*r, 10).find("no 8480-6 / 8462-4 component"), std::string::npos);
  EXPECT_NE(ReasonFor(*r, 12).find("no LOINC coding"), std::string::npos);
}

TEST(ImportFhirTest, SingleObservationAndSystolicOnlyPanel) {
  const std::string obs = R"({"resourceType": "Observation", "id": "x",
    "code": {"coding": [{"system": "http://loinc.org", "code": "55284-4"}]},
    "effectiveDateTime": "2027-01-15T08:00:00Z",
    "component": [{"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
                   "valueQuantity": {"value": 16, "unit": "kPa"}}]})";
  auto r = ImportFhir(obs);
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  ASSERT_EQ(r->readings.size(), 1u);
  EXPECT_EQ(r->readings[0], (Reading{k0800, VitalKind::kSystolicBp, 120'010}));
}

TEST(ImportFhirTest, UnusableInputIsAnError) {
  auto expect_error = [](const std::string& json, ErrorCode code, std::string_view needle) {
    auto r = ImportFhir(json);
    ASSERT_FALSE(r.has_value()) << json.substr(0, 60);
    EXPECT_EQ(r.error().code(), code);
    EXPECT_NE(r.error().message().find(needle), std::string::npos) << r.error().message();
  };
  expect_error("{not json", ErrorCode::kInvalidArgument, "not valid JSON");
  expect_error("[1, 2]", ErrorCode::kInvalidArgument, "no resourceType");
  expect_error(R"({"resourceType": "Patient"})", ErrorCode::kInvalidArgument,
               "neither Bundle nor Observation");
  expect_error(R"({"resourceType": "Bundle", "entry": {}})", ErrorCode::kInvalidArgument,
               "not an array");
  // Deep nesting is refused before the recursive parser sees it.
  expect_error(std::string(100'000, '[') + std::string(100'000, ']'), ErrorCode::kInvalidArgument,
               "nested deeper");
  // Brackets inside strings do not count.
  auto fine = ImportFhir(R"({"resourceType": "Bundle", "note": ")" + std::string(200, '[') +
                         R"(", "entry": []})");
  ASSERT_TRUE(fine.has_value()) << fine.error().ToString();
  EXPECT_TRUE(fine->readings.empty());
}

}  // namespace
}  // namespace medmesh::wearable

#include "fhir/ids.h"

#include "gtest/gtest.h"

namespace medmesh::fhir {
namespace {

TEST(FhirIdTest, EscapesUnderscoreAndDotReversibly) {
  EXPECT_EQ(*ToFhirId("patient-0007"), "patient-0007");
  EXPECT_EQ(*ToFhirId("pat_k3x"), "pat.-k3x");
  EXPECT_EQ(*ToFhirId("a.b"), "a..b");
  EXPECT_EQ(*ToFhirId("a._-b_."), "a...--b.-..");
  for (const char* id : {"patient-0007", "pat_k3x", "a.b", "a._-b_.", "_", ".", "-", "x",
                         "acc_abcdefghijklmnopqrstuvwxyz"}) {
    SCOPED_TRACE(id);
    const auto fhir = ToFhirId(id);
    ASSERT_TRUE(fhir.has_value());
    EXPECT_TRUE(IsValidFhirId(*fhir));
    EXPECT_EQ(*FromFhirId(*fhir), id);
  }
}

TEST(FhirIdTest, DistinctIdsNeverShareAFhirId) {
  // The pairs a naive '_' -> '-' mapping would merge.
  EXPECT_NE(*ToFhirId("a_b"), *ToFhirId("a-b"));
  EXPECT_NE(*ToFhirId("a_b"), *ToFhirId("a.b"));
  EXPECT_NE(*ToFhirId("a._b"), *ToFhirId("a_.b"));
}

TEST(FhirIdTest, RejectsInvalidOrTooLongIds) {
  EXPECT_FALSE(ToFhirId("").has_value());
  EXPECT_FALSE(ToFhirId("a b").has_value());
  EXPECT_FALSE(ToFhirId(std::string(65, 'a')).has_value());
  EXPECT_TRUE(ToFhirId(std::string(64, 'a')).has_value());
  // Valid MedMesh id, but its escaped form is over 64 characters.
  EXPECT_EQ(ToFhirId(std::string(40, '_')).error().code(), ErrorCode::kInvalidArgument);
}

TEST(FhirIdTest, FromFhirIdRefusesWhatToFhirIdCannotProduce) {
  for (const char* bad : {"", "a.", "a.b", ".x", "a/b", "a_b", "a b"}) {
    SCOPED_TRACE(bad);
    const auto r = FromFhirId(bad);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code(), ErrorCode::kNotFound);
  }
  EXPECT_FALSE(FromFhirId(std::string(65, 'a')).has_value());
}

TEST(ObservationIdTest, RoundTripsReadingAndPanelKeys) {
  const ObservationKey reading{"pat_k3", wire::VitalKind::kGlucose, 1'700'000'000'000};
  EXPECT_EQ(*ObservationId(reading), "r7-1700000000000-pat.-k3");
  EXPECT_EQ(*ParseObservationId("r7-1700000000000-pat.-k3"), reading);
  const ObservationKey panel{"patient-0007", std::nullopt, 0};
  EXPECT_EQ(*ObservationId(panel), "bp-0-patient-0007");
  EXPECT_EQ(*ParseObservationId("bp-0-patient-0007"), panel);
}

TEST(ObservationIdTest, RejectsOtherStrings) {
  for (const char* bad : {"", "bp", "bp-1", "r1-1", "x1-1-p", "r0-1-p", "r10-1-p", "r01-1-p",
                          "r1-01-p", "r1--1-p", "r1-1-", "r1-1-p.", "r-1-p", "r1-253402300800000-p",
                          "r256-1-p", "r1-99999999999999999999-p"}) {
    SCOPED_TRACE(bad);
    const auto r = ParseObservationId(bad);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code(), ErrorCode::kNotFound);
  }
  EXPECT_FALSE(ObservationId({"p", wire::VitalKind::kHeartRate, -1}).has_value());
  EXPECT_FALSE(ObservationId({"bad id", wire::VitalKind::kHeartRate, 1}).has_value());
  EXPECT_FALSE(ObservationId({std::string(60, 'a'), std::nullopt, 1}).has_value());
}

}  // namespace
}  // namespace medmesh::fhir

// The Observations medmesh_fhir emits, read back by MedMesh's own FHIR importer
// (wearable/import.h, written separately for data from other systems): every reading of every
// kind must come back unchanged, blood-pressure panels as their two readings.
#include <algorithm>

#include "fhir/resources.h"
#include "fhir/server.h"
#include "gtest/gtest.h"
#include "wearable/import.h"

namespace medmesh::fhir {
namespace {

using wire::Reading;
using wire::VitalKind;

bool ByTimeThenKind(const Reading& a, const Reading& b) {
  return std::tie(a.time_ms, a.kind, a.value_milli) < std::tie(b.time_ms, b.kind, b.value_milli);
}

TEST(RoundTripTest, EveryReadingSurvivesExportAndImport) {
  std::vector<Reading> readings;
  std::int64_t t = 1'733'400'000'000;
  for (const wire::VitalInfo& info : wire::AllVitals()) {
    if (info.kind == VitalKind::kEcgRhythm) {
      for (int code = 0; code <= 4; ++code)
        readings.push_back({t++, info.kind, std::int64_t{code} * 1000});
      continue;
    }
    for (const std::int64_t v :
         {info.min_milli, (info.min_milli + info.max_milli) / 2 + 7, info.max_milli}) {
      readings.push_back({t++, info.kind, v});
    }
  }
  // Systolic and diastolic at the same instant: exported as one panel.
  readings.push_back({t, VitalKind::kSystolicBp, 118'250});
  readings.push_back({t, VitalKind::kDiastolicBp, 76'500});

  const auto observations = ReadingObservations({"pat_k3", "watch-1"}, readings);
  ASSERT_TRUE(observations.has_value());
  EXPECT_EQ(observations->size(), readings.size() - 1);
  std::vector<BundleEntry> entries;
  for (const Json& o : *observations) entries.push_back({o, SearchMode::kMatch});
  const auto bundle =
      SearchSetBundle({"https://cloud.test/fhir/r4", "MedMesh", "1"},
                      "https://cloud.test/fhir/r4/Observation?patient=pat.-k3", entries, t);
  ASSERT_TRUE(bundle.has_value());

  const auto imported = wearable::ImportFhir(bundle->dump());
  ASSERT_TRUE(imported.has_value()) << imported.error().ToString();
  EXPECT_TRUE(imported->AllAccepted().has_value()) << imported->AllAccepted().error().ToString();
  std::vector<Reading> back = imported->readings;
  std::sort(back.begin(), back.end(), ByTimeThenKind);
  std::sort(readings.begin(), readings.end(), ByTimeThenKind);
  EXPECT_EQ(back, readings);
}

}  // namespace
}  // namespace medmesh::fhir

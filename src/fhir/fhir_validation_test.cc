// Every resource shape medmesh_fhir emits, validated by an independent validator: the test
// writes each one (realistic and edge-case inputs) as a JSON file, then runs
// tools/fhir-validate/validate.mjs (node + @medplum/core, installed by tools/setup.sh) over the
// folder. A second run over deliberately broken resources proves the validator rejects what it
// should, so a validator that accepted everything would fail this test.
#include <string>
#include <utility>
#include <vector>

#include "fhir/resources.h"
#include "fhir/server.h"
#include "fhir/validation_harness.h"
#include "gtest/gtest.h"
#include "testing/temp_dir.h"

namespace medmesh::fhir {
namespace {

using wire::Reading;
using wire::VitalKind;

constexpr std::int64_t kT0 = 1'733'400'000'123;  // 2024-12-05T12:00:00.123Z
const ServerInfo kServer{"https://cloud.medmesh.test:8443/fhir/r4", "MedMesh", "0.1.0"};

wire::PatientRecord FullPatient() {
  wire::PatientRecord r;
  r.record_id = "rec-0001";
  r.patient_id = "pat_k3xq7m2a9d4f6h8j1l5n0p2r4t";
  r.device_id = "watch-17";
  r.created_ms = kT0;
  r.name = "Zoë Ñúñez-Þórsdóttir 李小龍 O'Brien";
  r.phone = "+44 20 7946 0958";
  r.email = "zoe@example.org";
  r.address = "12 Rue de l'Église\n75004 Paris";
  r.national_id = "1 84 12 75 004 123 45";
  r.photo = {0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d};
  r.photo_type = "image/png";
  r.birth_date = "1984-02-29";
  r.sex = "female";
  r.postcode = "75004";
  return r;
}

Doctor FullDoctor() {
  return Doctor{
      "acc_7fj3k2m9q4w8e1r6t5y0u2i3o4", "Dr. Aoife Ní Bhriain",         "IMC-0451234", "Cardiology",
      "St. James's Hospital, Dublin",   "a.nibhriain@hospital.example", true};
}

Prescription FullPrescription() {
  Prescription rx;
  rx.id = "rx_3m5n7p9q2s4u6w8y0a1c3e5g7i";
  rx.patient_id = "pat_k3xq7m2a9d4f6h8j1l5n0p2r4t";
  rx.doctor_id = FullDoctor().id;
  rx.authored_ms = kT0 + 60'000;
  rx.drug = "Amoxicillin 500 mg capsules";
  rx.dose = Dose{500, "mg"};
  rx.frequency = Frequency{3, 1, TimeUnit::kDay};
  rx.duration = Duration{7, TimeUnit::kDay};
  rx.instructions = "Take with food; finish the course.";
  rx.reason = "Community-acquired pneumonia (J18.9)";
  return rx;
}

ConsentGrant FullConsent() {
  return ConsentGrant{"cns_a2b4c6d8e0f2g4h6i8j0k2l4m6",
                      "pat_k3xq7m2a9d4f6h8j1l5n0p2r4t",
                      FullDoctor().id,
                      {"rec-0001", "rec-0002", "rec_0003.v2"},
                      kT0,
                      std::nullopt,
                      std::nullopt};
}

// Every value edge of every kind: its plausible minimum, a typical value and its maximum.
std::vector<Reading> EveryKindReadings() {
  std::vector<Reading> out;
  std::int64_t t = kT0;
  for (const wire::VitalInfo& info : wire::AllVitals()) {
    if (info.kind == VitalKind::kEcgRhythm) {
      for (int code = 0; code <= 4; ++code)
        out.push_back({t++, info.kind, std::int64_t{code} * 1000});
      continue;
    }
    out.push_back({t++, info.kind, info.min_milli});
    out.push_back({t++, info.kind, (info.min_milli + info.max_milli) / 2 + 7});  // fractional
    out.push_back({t++, info.kind, info.max_milli});
  }
  return out;
}

void WriteEveryShape(ShapeWriter& w) {
  // Patient: full, minimal, escaped id characters, hostile text carried as data.
  const wire::PatientRecord full = FullPatient();
  w.Write("patient-full", PatientResource(full));
  wire::PatientRecord minimal;
  minimal.patient_id = "patient-0007";
  w.Write("patient-minimal", PatientResource(minimal));
  wire::PatientRecord odd = minimal;
  odd.patient_id = "a_b.c-d_";
  odd.name = "Robert'); DROP TABLE patients;-- <script>alert(1)</script>";
  odd.sex = "unknown";
  odd.postcode = "SW1A 1AA";
  odd.birth_date = "1900-01-01";
  w.Write("patient-odd-id-and-text", PatientResource(odd));
  for (const char* sex : {"male", "other"}) {
    wire::PatientRecord p = minimal;
    p.sex = sex;
    p.phone = "555-0100";
    w.Write(std::string("patient-") + sex, PatientResource(p));
  }

  // Observation: every kind at its edges, with and without a device.
  const ReadingSource with_device{full.patient_id, "watch-17"};
  const ReadingSource no_device{"patient-0007", ""};
  for (const Reading& r : EveryKindReadings()) {
    const std::string name =
        "observation-" + std::string(wire::Info(r.kind).name) + "-" + std::to_string(r.value_milli);
    w.Write(name, ReadingObservation(with_device, r));
  }
  w.Write("observation-no-device",
          ReadingObservation(no_device, {0, VitalKind::kHeartRate, 72'000}));
  w.Write("observation-bp-panel",
          BloodPressureObservation(with_device, {kT0, VitalKind::kSystolicBp, 121'500},
                                   {kT0, VitalKind::kDiastolicBp, 79'000}));
  w.Write("observation-bp-panel-edges",
          BloodPressureObservation(no_device, {wire::kMaxTimeMs, VitalKind::kSystolicBp, 260'000},
                                   {wire::kMaxTimeMs, VitalKind::kDiastolicBp, 30'000}));
  const std::vector<Reading> series{{kT0, VitalKind::kSystolicBp, 130'000},
                                    {kT0, VitalKind::kDiastolicBp, 85'000},
                                    {kT0, VitalKind::kHeartRate, 64'000},
                                    {kT0 + 1, VitalKind::kSystolicBp, 128'000}};
  const auto observations = ReadingObservations(with_device, series);
  ASSERT_TRUE(observations.has_value());
  for (std::size_t i = 0; i < observations->size(); ++i) {
    w.Write("observation-series-" + std::to_string(i), (*observations)[i]);
  }

  // MedicationRequest: full, drug only, every status and time unit, fractional amounts.
  const Prescription rx = FullPrescription();
  w.Write("medication-request-full", MedicationRequestResource(rx));
  Prescription bare;
  bare.id = "rx-2";
  bare.patient_id = "patient-0007";
  bare.doctor_id = "doctor-01";
  bare.authored_ms = 0;
  bare.drug = "Paracétamol";
  w.Write("medication-request-drug-only", MedicationRequestResource(bare));
  const PrescriptionStatus statuses[] = {
      PrescriptionStatus::kCompleted, PrescriptionStatus::kCancelled, PrescriptionStatus::kStopped};
  const TimeUnit units[] = {TimeUnit::kSecond, TimeUnit::kMinute, TimeUnit::kHour,
                            TimeUnit::kWeek,   TimeUnit::kMonth,  TimeUnit::kYear};
  for (int i = 0; i < 6; ++i) {
    Prescription p = rx;
    p.id = "rx-unit-" + std::to_string(i);
    p.status = statuses[i % 3];
    p.dose = Dose{0.5, "{tbl}"};
    p.frequency = Frequency{1, 2.5, units[i]};
    p.duration = Duration{1.5, units[i]};
    p.instructions.clear();
    w.Write("medication-request-unit-" + std::to_string(i), MedicationRequestResource(p));
  }

  Prescription hostile = rx;
  hostile.id = "rx-hostile";
  hostile.drug = std::string("Ibuprofène\x01 400\xff mg 💊");
  hostile.instructions = "'; DROP TABLE prescriptions;-- <img src=x onerror=alert(1)>";
  w.Write("medication-request-hostile-text", MedicationRequestResource(hostile));

  // Practitioner and PractitionerRole: full, minimal, inactive.
  const Doctor doctor = FullDoctor();
  w.Write("practitioner-full", PractitionerResource(doctor));
  w.Write("practitioner-role-full", PractitionerRoleResource(doctor));
  const Doctor plain{"doctor-01", "B. Smith", "GMC 7654321", "", "", "", false};
  w.Write("practitioner-minimal-inactive", PractitionerResource(plain));
  w.Write("practitioner-role-minimal", PractitionerRoleResource(plain));

  // Consent: active, revoked, expiring, revoked before it would have expired.
  const ConsentGrant consent = FullConsent();
  w.Write("consent-active", ConsentResource(consent));
  ConsentGrant revoked = consent;
  revoked.revoked_ms = kT0 + 86'400'000;
  w.Write("consent-revoked", ConsentResource(revoked));
  ConsentGrant expiring = consent;
  expiring.record_ids = {"rec-0001"};
  expiring.expires_ms = kT0 + 30LL * 86'400'000;
  w.Write("consent-expiring", ConsentResource(expiring));
  expiring.revoked_ms = kT0;
  w.Write("consent-revoked-at-grant", ConsentResource(expiring));

  // Bundles: a search with matches, an empty search, a search with included resources, and
  // $everything holding one of every resource type above.
  std::vector<BundleEntry> matches;
  for (const Json& o : *observations) matches.push_back({o, SearchMode::kMatch});
  w.Write("bundle-search",
          SearchSetBundle(kServer, kServer.base_url + "/Observation?patient=pat.-k3&code=8480-6",
                          matches, kT0));
  w.Write("bundle-search-empty",
          SearchSetBundle(kServer, kServer.base_url + "/Observation?date=ge2030", {}, kT0));
  w.Write("bundle-search-include",
          SearchSetBundle(kServer, kServer.base_url + "/MedicationRequest?patient=x",
                          {{*MedicationRequestResource(rx), SearchMode::kMatch},
                           {*PractitionerResource(doctor), SearchMode::kInclude}},
                          kT0, 7));
  std::vector<Json> everything = *observations;
  everything.push_back(*MedicationRequestResource(rx));
  everything.push_back(*ConsentResource(consent));
  everything.push_back(*PractitionerResource(doctor));
  everything.push_back(*PractitionerRoleResource(doctor));
  w.Write("bundle-everything",
          EverythingBundle(kServer, kServer.base_url + "/Patient/pat.-k3/$everything",
                           *PatientResource(full), everything, kT0));

  // The server's own resources.
  w.Write("capability-statement", CapabilityStatementResource(kServer, kT0));
  for (const Error& e :
       {InvalidArgument("date prefix ne is not supported"), NotFound("no such resource"),
        AlreadyExists("exists"), PermissionDenied("not allowed"), Unauthenticated("log in"),
        FailedPrecondition("revoked"), DataLoss("disk"), Unavailable("db down"),
        ResourceExhausted("slow down"), PayloadTooLarge("too big"), Internal("boom")}) {
    w.Write("operation-outcome-" + std::string(ErrorCodeName(e.code())),
            OperationOutcomeResource(e));
  }
}

TEST(FhirValidationTest, EveryEmittedShapeIsValidR4) {
  testing::TempDir dir;
  ShapeWriter writer(dir.path());
  WriteEveryShape(writer);
  if (HasFatalFailure()) return;
  EXPECT_GE(writer.count(), 70);  // a shape lost by mistake shows here
  EXPECT_EQ(RunFhirValidator(dir.path(), /*expect_invalid=*/false), 0)
      << "the validator rejected a resource (its output above names the file and the issue); "
         "-1 or 2 means it could not run: run tools/setup.sh (Node.js, npm ci), then reconfigure";
}

// Each file here breaks one rule that a check of the validator stands for; each must be
// rejected on its own (--expect-invalid fails if any file passes).
TEST(FhirValidationTest, ValidatorRejectsBrokenResources) {
  testing::TempDir dir;
  ShapeWriter w(dir.path());
  const Json patient = *PatientResource(FullPatient());
  const Json heart_rate =
      *ReadingObservation({"patient-0007", "watch-17"}, {kT0, VitalKind::kHeartRate, 72'000});
  const Json bp =
      *BloodPressureObservation({"patient-0007", ""}, {kT0, VitalKind::kSystolicBp, 120'000},
                                {kT0, VitalKind::kDiastolicBp, 80'000});
  const Json consent = *ConsentResource(FullConsent());

  Json j = patient;  // a code outside a required value set
  j["gender"] = "woman";
  w.Write("bad-gender", j);
  j = patient;  // an unknown property
  j["shoeSize"] = 42;
  w.Write("unknown-property", j);
  j = patient;  // a malformed primitive
  j["birthDate"] = "1984-02-30";
  w.Write("impossible-date", j);
  j = patient;  // an id with '_' (why ids.h escapes it)
  j["id"] = "pat_k3";
  w.Write("bad-id", j);
  j = patient;  // an empty string (ele-1)
  j["name"][0]["text"] = "";
  w.Write("empty-string", j);
  j = heart_rate;  // the heart-rate profile's unit
  j["valueQuantity"]["code"] = "mm[Hg]";
  w.Write("heart-rate-wrong-unit", j);
  j = heart_rate;  // the heart-rate profile's LOINC code
  j["code"]["coding"][0]["code"] = "8480-6";
  w.Write("heart-rate-wrong-code", j);
  j = heart_rate;  // the vital-signs profile needs a subject
  j.erase("subject");
  w.Write("vital-sign-without-subject", j);
  j = heart_rate;  // a reference that is not Type/id
  j["subject"]["reference"] = "Patient/pat_k3";
  w.Write("bad-reference", j);
  j = bp;  // the bp profile: a panel without its diastolic component
  j["component"].erase(1);
  w.Write("bp-without-diastolic", j);
  j = bp;  // ... or with a component in the wrong unit
  j["component"][1]["valueQuantity"]["code"] = "kPa";
  w.Write("bp-wrong-unit", j);
  j = consent;  // invariant ppc-1
  j.erase("policyRule");
  w.Write("consent-without-policy", j);
  j = heart_rate;  // a profile nobody can check
  j["meta"]["profile"].push_back("http://example.org/StructureDefinition/unknown");
  w.Write("unknown-profile", j);
  Json bundle = *SearchSetBundle(kServer, kServer.base_url + "/Patient", {{patient}}, kT0);
  bundle["entry"][0]["resource"]["birthDate"] = "84-02-29";  // an error inside a Bundle
  w.Write("bundle-with-bad-entry", bundle);
  j = *CapabilityStatementResource(kServer, kT0);  // invariant cpb-2 (nothing describes it)
  j.erase("software");
  j.erase("implementation");
  w.Write("capability-statement-undescribed", j);

  EXPECT_EQ(RunFhirValidator(dir.path(), /*expect_invalid=*/true), 0)
      << "a broken resource was not rejected (NOT REJECTED above), or the validator could not "
         "run";
}

}  // namespace
}  // namespace medmesh::fhir

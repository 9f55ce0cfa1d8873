#include "fhir/resources.h"

#include "fhir/codes.h"
#include "gtest/gtest.h"

namespace medmesh::fhir {
namespace {

using wire::Reading;
using wire::VitalKind;

constexpr std::int64_t kT0 = 1'709'622'489'010;  // 2024-03-05T07:08:09.010Z

wire::PatientRecord Record() {
  wire::PatientRecord r;
  r.record_id = "rec-1";
  r.patient_id = "pat_k3";
  r.device_id = "watch-1";
  r.name = "Zoë 李";
  r.phone = "+1 555 0100";
  r.email = "z@example.org";
  r.address = "1 Main St";
  r.national_id = "NI-123";
  r.photo = {0xff, 0xd8, 0xff, 0x00};
  r.photo_type = "image/jpeg";
  r.birth_date = "1990-06-15";
  r.sex = "female";
  r.postcode = "02139";
  r.symptoms = {"cough"};
  r.conditions = {"I10"};
  return r;
}

TEST(PatientResourceTest, CarriesIdentifiersAndQuasiIdentifiers) {
  const Json p = *PatientResource(Record());
  EXPECT_EQ(p["resourceType"], "Patient");
  EXPECT_EQ(p["id"], "pat.-k3");
  EXPECT_EQ(p["identifier"][0]["system"], kPatientIdSystem);
  EXPECT_EQ(p["identifier"][0]["value"], "pat_k3");
  EXPECT_EQ(p["identifier"][1]["type"]["coding"][0]["code"], "NI");
  EXPECT_EQ(p["identifier"][1]["value"], "NI-123");
  EXPECT_EQ(p["name"][0]["text"], "Zoë 李");
  EXPECT_EQ(p["telecom"][0], (Json{{"system", "phone"}, {"value", "+1 555 0100"}}));
  EXPECT_EQ(p["telecom"][1], (Json{{"system", "email"}, {"value", "z@example.org"}}));
  EXPECT_EQ(p["gender"], "female");
  EXPECT_EQ(p["birthDate"], "1990-06-15");
  EXPECT_EQ(p["address"][0]["postalCode"], "02139");
  EXPECT_EQ(p["address"][0]["text"], "1 Main St");
  EXPECT_EQ(p["photo"][0]["contentType"], "image/jpeg");
  EXPECT_EQ(p["photo"][0]["data"], "/9j/AA==");
  EXPECT_EQ(p["photo"][0]["size"], 4);
  // Medical information is not part of the Patient resource.
  EXPECT_EQ(p.dump().find("cough"), std::string::npos);
  EXPECT_EQ(p.dump().find("I10"), std::string::npos);
}

TEST(PatientResourceTest, LeavesOutEmptyOptionalFields) {
  wire::PatientRecord r;
  r.patient_id = "patient-0007";
  const Json p = *PatientResource(r);
  for (const char* absent : {"name", "telecom", "gender", "birthDate", "address", "photo"}) {
    EXPECT_FALSE(p.contains(absent)) << absent;
  }
  EXPECT_EQ(p["identifier"].size(), 1u);
}

TEST(PatientResourceTest, RejectsInvalidInput) {
  wire::PatientRecord r = Record();
  r.patient_id = "not valid";
  EXPECT_EQ(PatientResource(r).error().code(), ErrorCode::kInvalidArgument);
  r = Record();
  r.sex = "f";
  EXPECT_FALSE(PatientResource(r).has_value());
  r = Record();
  r.birth_date = "1990-02-30";
  EXPECT_FALSE(PatientResource(r).has_value());
  r = Record();
  r.birth_date = "1990";
  EXPECT_FALSE(PatientResource(r).has_value());
  r = Record();
  r.photo_type.clear();
  EXPECT_FALSE(PatientResource(r).has_value());
  r = Record();
  r.photo_type = "image/ jpeg";
  EXPECT_FALSE(PatientResource(r).has_value());
}

TEST(ObservationTest, CodesEveryKindWithLoincAndUcum) {
  for (const wire::VitalInfo& info : wire::AllVitals()) {
    SCOPED_TRACE(std::string(info.name));
    const VitalCoding& c = CodingFor(info.kind);
    const Json o = *ReadingObservation({"p1", "d1"}, {kT0, info.kind, info.max_milli});
    EXPECT_EQ(o["status"], "final");
    EXPECT_EQ(o["code"]["coding"][0]["system"], kLoincSystem);
    EXPECT_EQ(o["code"]["coding"][0]["code"], c.loinc);
    EXPECT_EQ(o["category"][0]["coding"][0]["code"], c.category);
    EXPECT_EQ(o["subject"]["reference"], "Patient/p1");
    EXPECT_EQ(o["device"]["identifier"]["value"], "d1");
    EXPECT_EQ(o["effectiveDateTime"], "2024-03-05T07:08:09.010Z");
    EXPECT_EQ(o["id"], "r" + std::to_string(static_cast<int>(info.kind)) + "-" +
                           std::to_string(kT0) + "-p1");
    if (info.kind == VitalKind::kEcgRhythm) {
      EXPECT_TRUE(o.contains("valueCodeableConcept"));
    } else {
      // The unit is the one the wire model stores values in, and the value its milli-units.
      EXPECT_EQ(o["valueQuantity"]["system"], kUcumSystem);
      EXPECT_EQ(o["valueQuantity"]["code"], info.unit);
      EXPECT_EQ(o["valueQuantity"]["value"].get<double>() * 1000,
                static_cast<double>(info.max_milli));
    }
    if (c.category == "vital-signs") {
      EXPECT_EQ(o["meta"]["profile"][0], kVitalSignsProfile);
    } else {
      EXPECT_FALSE(o.contains("meta"));
    }
  }
}

TEST(ObservationTest, TheVitalSignCodesAreTheR4ProfileCodes) {
  EXPECT_EQ(CodingFor(VitalKind::kHeartRate).loinc, "8867-4");
  EXPECT_EQ(CodingFor(VitalKind::kSpO2).loinc, "2708-6");
  EXPECT_EQ(CodingFor(VitalKind::kSpO2).extra_loinc, "59408-5");
  EXPECT_EQ(CodingFor(VitalKind::kBodyTemperature).loinc, "8310-5");
  EXPECT_EQ(CodingFor(VitalKind::kSystolicBp).loinc, "8480-6");
  EXPECT_EQ(CodingFor(VitalKind::kDiastolicBp).loinc, "8462-4");
  EXPECT_EQ(CodingFor(VitalKind::kRespiratoryRate).loinc, "9279-1");
  EXPECT_EQ(CodingFor(VitalKind::kGlucose).loinc, "2339-0");
  EXPECT_EQ(AllVitalCodings().size(), static_cast<std::size_t>(wire::kNumVitalKinds));
}

TEST(ObservationTest, WritesDecimalsExactly) {
  const Json temp = *ReadingObservation({"p", ""}, {kT0, VitalKind::kBodyTemperature, 36'600});
  EXPECT_EQ(temp["valueQuantity"]["value"].dump(), "36.6");
  EXPECT_FALSE(temp.contains("device"));
  const Json hr = *ReadingObservation({"p", ""}, {kT0, VitalKind::kHeartRate, 72'000});
  EXPECT_EQ(hr["valueQuantity"]["value"].dump(), "72");
  EXPECT_EQ(hr["valueQuantity"]["unit"], "beats/minute");
}

TEST(ObservationTest, CodesEcgRhythmsWithSnomed) {
  const Json af = *ReadingObservation({"p", ""}, {kT0, VitalKind::kEcgRhythm, 3'000});
  EXPECT_EQ(af["valueCodeableConcept"]["coding"][0]["system"], kSnomedSystem);
  EXPECT_EQ(af["valueCodeableConcept"]["coding"][0]["code"], "164889003");
  const Json other = *ReadingObservation({"p", ""}, {kT0, VitalKind::kEcgRhythm, 4'000});
  EXPECT_FALSE(other["valueCodeableConcept"].contains("coding"));
  EXPECT_EQ(other["valueCodeableConcept"]["text"], "Other");
}

TEST(ObservationTest, RejectsImplausibleReadingsAndBadSources) {
  EXPECT_FALSE(ReadingObservation({"p", ""}, {kT0, VitalKind::kHeartRate, 19'999}).has_value());
  EXPECT_FALSE(ReadingObservation({"p", ""}, {-1, VitalKind::kHeartRate, 70'000}).has_value());
  EXPECT_FALSE(ReadingObservation({"p", ""}, {kT0, VitalKind::kEcgRhythm, 1'500}).has_value());
  EXPECT_FALSE(ReadingObservation({"p q", ""}, {kT0, VitalKind::kHeartRate, 70'000}).has_value());
  EXPECT_FALSE(ReadingObservation({"p", "d/1"}, {kT0, VitalKind::kHeartRate, 70'000}).has_value());
}

TEST(BloodPressureTest, PairsSystolicAndDiastolicInOnePanel) {
  const Json bp = *BloodPressureObservation({"p", "d"}, {kT0, VitalKind::kSystolicBp, 120'000},
                                            {kT0, VitalKind::kDiastolicBp, 80'500});
  EXPECT_EQ(bp["id"], "bp-" + std::to_string(kT0) + "-p");
  EXPECT_EQ(bp["code"]["coding"][0]["code"], "85354-9");
  EXPECT_EQ(bp["meta"]["profile"][1], kBloodPressureProfile);
  ASSERT_EQ(bp["component"].size(), 2u);
  EXPECT_EQ(bp["component"][0]["code"]["coding"][0]["code"], "8480-6");
  EXPECT_EQ(bp["component"][0]["valueQuantity"]["value"], 120);
  EXPECT_EQ(bp["component"][0]["valueQuantity"]["code"], "mm[Hg]");
  EXPECT_EQ(bp["component"][1]["code"]["coding"][0]["code"], "8462-4");
  EXPECT_EQ(bp["component"][1]["valueQuantity"]["value"], 80.5);
  EXPECT_FALSE(bp.contains("valueQuantity"));
}

TEST(BloodPressureTest, RejectsMismatchedReadings) {
  const Reading sys{kT0, VitalKind::kSystolicBp, 120'000};
  const Reading dia{kT0, VitalKind::kDiastolicBp, 80'000};
  EXPECT_FALSE(
      BloodPressureObservation({"p", ""}, dia, sys).has_value());  // NOLINT: swapped on purpose
  EXPECT_FALSE(BloodPressureObservation({"p", ""}, sys, {kT0 + 1, dia.kind, 80'000}).has_value());
  EXPECT_FALSE(BloodPressureObservation({"p", ""}, sys, {kT0, dia.kind, 1'000}).has_value());
}

TEST(ReadingObservationsTest, PairsBloodPressureAtTheSameInstantOnly) {
  const std::vector<Reading> readings{
      {kT0 + 5, VitalKind::kHeartRate, 70'000},   {kT0, VitalKind::kDiastolicBp, 80'000},
      {kT0, VitalKind::kSystolicBp, 120'000},     {kT0 + 9, VitalKind::kSystolicBp, 125'000},
      {kT0 + 9, VitalKind::kSystolicBp, 126'000}, {kT0 + 9, VitalKind::kDiastolicBp, 81'000},
      {kT0 + 12, VitalKind::kDiastolicBp, 82'000}};
  const auto obs = *ReadingObservations({"p", "d"}, readings);
  std::vector<std::string> codes;
  for (const Json& o : obs) codes.push_back(o["code"]["coding"][0]["code"]);
  EXPECT_EQ(codes, (std::vector<std::string>{"85354-9", "8867-4", "85354-9", "8480-6", "8462-4"}));
  EXPECT_EQ(obs[2]["component"][0]["valueQuantity"]["value"], 125);
  EXPECT_EQ(obs[3]["valueQuantity"]["value"], 126);
  EXPECT_TRUE(ReadingObservations({"p", "d"}, {})->empty());
  const std::vector<Reading> bad{{kT0, VitalKind::kHeartRate, 1}};
  EXPECT_FALSE(ReadingObservations({"p", "d"}, bad).has_value());
}

Prescription Rx() {
  Prescription rx;
  rx.id = "rx_1";
  rx.patient_id = "pat_k3";
  rx.doctor_id = "acc_d1";
  rx.authored_ms = kT0;
  rx.drug = "Amoxicillin 500 mg";
  rx.dose = Dose{0.5, "g"};
  rx.frequency = Frequency{3, 1, TimeUnit::kDay};
  rx.duration = Duration{7, TimeUnit::kDay};
  rx.instructions = "with food";
  rx.reason = "pneumonia";
  return rx;
}

TEST(MedicationRequestTest, CarriesTheWholePrescription) {
  const Json m = *MedicationRequestResource(Rx());
  EXPECT_EQ(m["id"], "rx.-1");
  EXPECT_EQ(m["status"], "active");
  EXPECT_EQ(m["intent"], "order");
  EXPECT_EQ(m["medicationCodeableConcept"]["text"], "Amoxicillin 500 mg");
  EXPECT_EQ(m["subject"]["reference"], "Patient/pat.-k3");
  EXPECT_EQ(m["requester"]["reference"], "Practitioner/acc.-d1");
  EXPECT_EQ(m["authoredOn"], "2024-03-05T07:08:09.010Z");
  EXPECT_EQ(m["reasonCode"][0]["text"], "pneumonia");
  const Json& d = m["dosageInstruction"][0];
  EXPECT_EQ(d["doseAndRate"][0]["doseQuantity"],
            (Json{{"value", 0.5}, {"unit", "g"}, {"system", kUcumSystem}, {"code", "g"}}));
  EXPECT_EQ(d["timing"]["repeat"]["frequency"], 3);
  EXPECT_EQ(d["timing"]["repeat"]["period"], 1);
  EXPECT_EQ(d["timing"]["repeat"]["periodUnit"], "d");
  EXPECT_EQ(d["timing"]["repeat"]["boundsDuration"],
            (Json{{"value", 7}, {"unit", "days"}, {"system", kUcumSystem}, {"code", "d"}}));
  EXPECT_EQ(d["patientInstruction"], "with food");
  EXPECT_EQ(d["text"], "0.5 g, 3 times per day, for 7 days");
}

TEST(MedicationRequestTest, DrugOnlyHasNoDosage) {
  Prescription rx = Rx();
  rx.dose.reset();
  rx.frequency.reset();
  rx.duration.reset();
  rx.instructions.clear();
  rx.reason.clear();
  rx.status = PrescriptionStatus::kStopped;
  const Json m = *MedicationRequestResource(rx);
  EXPECT_FALSE(m.contains("dosageInstruction"));
  EXPECT_FALSE(m.contains("reasonCode"));
  EXPECT_EQ(m["status"], "stopped");
}

TEST(MedicationRequestTest, FreeTextDosageIsTheDosageText) {
  Prescription rx = Rx();
  rx.dose.reset();
  rx.frequency.reset();
  rx.duration.reset();
  rx.dosage_text = "5 mg, twice daily, for 3 months";
  const Json m = *MedicationRequestResource(rx);
  const Json& d = m["dosageInstruction"][0];
  EXPECT_EQ(d["text"], "5 mg, twice daily, for 3 months");
  EXPECT_FALSE(d.contains("timing"));
  EXPECT_FALSE(d.contains("doseAndRate"));
}

TEST(MedicationRequestTest, RejectsIncompletePrescriptions) {
  const auto rejects = [](auto mutate) {
    Prescription rx = Rx();
    mutate(rx);
    return !MedicationRequestResource(rx).has_value();
  };
  EXPECT_TRUE(rejects([](Prescription& rx) { rx.drug.clear(); }));
  EXPECT_TRUE(rejects([](Prescription& rx) { rx.doctor_id = "a b"; }));
  EXPECT_TRUE(rejects([](Prescription& rx) { rx.patient_id.clear(); }));
  EXPECT_TRUE(rejects([](Prescription& rx) { rx.authored_ms = -5; }));
  EXPECT_TRUE(rejects([](Prescription& rx) { rx.dose->value = 0; }));
  EXPECT_TRUE(rejects([](Prescription& rx) { rx.dose->unit.clear(); }));
  EXPECT_TRUE(rejects([](Prescription& rx) { rx.frequency->times = 0; }));
  EXPECT_TRUE(rejects([](Prescription& rx) { rx.frequency->period = -1; }));
  EXPECT_TRUE(rejects([](Prescription& rx) { rx.duration->value = 0; }));
}

TEST(MedicationRequestTest, ReplacesBytesThatCannotBeFhirText) {
  Prescription rx = Rx();
  rx.drug = std::string("Ibuprofène\x01 400\xff mg \xC0\xAF\xED\xA0\x80 💊\t");
  rx.reason = "Robert'); DROP TABLE rx;-- <script>";
  const Json m = *MedicationRequestResource(rx);
  // Valid text stays verbatim; a control character, a stray byte, an overlong '/' and a
  // surrogate each become U+FFFD.
  EXPECT_EQ(m["medicationCodeableConcept"]["text"],
            "Ibuprofène\uFFFD 400\uFFFD mg \uFFFD\uFFFD\uFFFD\uFFFD\uFFFD 💊\t");
  EXPECT_EQ(m["reasonCode"][0]["text"], "Robert'); DROP TABLE rx;-- <script>");
  EXPECT_NO_THROW((void)m.dump());
  rx.dose->unit = "mg tablets";
  EXPECT_FALSE(MedicationRequestResource(rx).has_value());
}

TEST(PractitionerTest, CarriesLicenceNameAndSpeciality) {
  const Doctor d{"acc_d1", "Dr. Ní Bhriain", "IMC-1", "Cardiology", "St. James's", "d@h.org", true};
  const Json p = *PractitionerResource(d);
  EXPECT_EQ(p["id"], "acc.-d1");
  EXPECT_EQ(p["identifier"][0]["system"], kLicenceSystem);
  EXPECT_EQ(p["identifier"][0]["value"], "IMC-1");
  EXPECT_EQ(p["identifier"][0]["type"]["coding"][0]["code"], "MD");
  EXPECT_EQ(p["name"][0]["text"], "Dr. Ní Bhriain");
  EXPECT_EQ(p["qualification"][0]["code"]["text"], "Cardiology");
  EXPECT_EQ(p["active"], true);
  const Json role = *PractitionerRoleResource(d);
  EXPECT_EQ(role["practitioner"]["reference"], "Practitioner/acc.-d1");
  EXPECT_EQ(role["organization"]["display"], "St. James's");
  EXPECT_EQ(role["specialty"][0]["text"], "Cardiology");

  EXPECT_FALSE(PractitionerResource({"acc_d1", "", "IMC-1", "", "", "", true}).has_value());
  EXPECT_FALSE(PractitionerResource({"acc_d1", "N", "", "", "", "", true}).has_value());
  EXPECT_FALSE(PractitionerRoleResource({"a b", "N", "L", "", "", "", true}).has_value());
  const Json bare = *PractitionerRoleResource({"d", "N", "L", "", "", "", false});
  EXPECT_FALSE(bare.contains("organization"));
  EXPECT_FALSE(bare.contains("specialty"));
  EXPECT_EQ(bare["active"], false);
}

ConsentGrant Grant() {
  return ConsentGrant{"cns_1", "pat_k3",     "acc_d1",    {"rec-1", "rec_2"},
                      kT0,     std::nullopt, std::nullopt};
}

TEST(ConsentTest, PermitsTheDoctorExactlyTheListedRecords) {
  const Json c = *ConsentResource(Grant());
  EXPECT_EQ(c["id"], "cns.-1");
  EXPECT_EQ(c["status"], "active");
  EXPECT_EQ(c["scope"]["coding"][0]["code"], "patient-privacy");
  EXPECT_EQ(c["patient"]["reference"], "Patient/pat.-k3");
  EXPECT_EQ(c["performer"][0]["reference"], "Patient/pat.-k3");
  const Json& p = c["provision"];
  EXPECT_EQ(p["type"], "permit");
  EXPECT_EQ(p["actor"][0]["reference"]["reference"], "Practitioner/acc.-d1");
  EXPECT_EQ(p["period"], (Json{{"start", "2024-03-05T07:08:09.010Z"}}));
  ASSERT_EQ(p["data"].size(), 2u);
  EXPECT_EQ(p["data"][1]["reference"]["identifier"]["value"], "rec_2");
  EXPECT_EQ(p["data"][1]["reference"]["identifier"]["system"], kRecordIdSystem);
}

TEST(ConsentTest, RevocationMakesItInactiveAndEndsThePeriod) {
  ConsentGrant g = Grant();
  g.expires_ms = kT0 + 2000;
  EXPECT_EQ((*ConsentResource(g))["provision"]["period"]["end"], "2024-03-05T07:08:11.010Z");
  EXPECT_EQ((*ConsentResource(g))["status"], "active");
  g.revoked_ms = kT0 + 1000;
  const Json c = *ConsentResource(g);
  EXPECT_EQ(c["status"], "inactive");
  EXPECT_EQ(c["provision"]["period"]["end"], "2024-03-05T07:08:10.010Z");
}

TEST(ConsentTest, RejectsGrantsWithoutRecordsOrWithBadTimes) {
  ConsentGrant g = Grant();
  g.record_ids.clear();
  EXPECT_EQ(ConsentResource(g).error().code(), ErrorCode::kInvalidArgument);
  g = Grant();
  g.record_ids.push_back("bad id");
  EXPECT_FALSE(ConsentResource(g).has_value());
  g = Grant();
  g.revoked_ms = kT0 - 1;
  EXPECT_FALSE(ConsentResource(g).has_value());
  g = Grant();
  g.doctor_id.clear();
  EXPECT_FALSE(ConsentResource(g).has_value());
}

}  // namespace
}  // namespace medmesh::fhir

// ClinicalService tests (workflows 1, 3, 4 and 7 of issue 8 at domain level): written once, run
// against both backends (instances .../Sqlite and .../Postgres; ctest runs the latter as
// clinical_postgres_test with the test cluster); the clinical and intake stores follow the record
// store's backend.
#include "cloud/clinical_service.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <memory>
#include <pqxx/pqxx>
#include <set>

#include "audit/recording_audit_sink.h"
#include "cloud/postgres_clinical_store.h"
#include "cloud/postgres_intake_store.h"
#include "cloud/sqlite_clinical_store.h"
#include "cloud/sqlite_intake_store.h"
#include "store/record_store_test_backend.h"
#include "testing/fake_clock.h"
#include "testing/fake_random.h"
#include "testing/temp_dir.h"

namespace medmesh::cloud {
namespace {

using accounts::Principal;
using accounts::Role;
using store::RecordPart;
using store::testing::BackendKind;

constexpr std::string_view kFrom = "192.0.2.7";
constexpr std::string_view kInjection = "'); DROP TABLE consents; -- <script>alert(1)</script> \"";
const Bytes kSignature = {0x5a, 0x17, 0x00, 0xff, 0x42};

// Records every entry; fails every Append while `fail` is set.
using audit::testing::RecordingAuditSink;

std::string Ok(std::string_view event) { return std::string(event) + "/0"; }
std::string Refused(std::string_view event) { return std::string(event) + "/4"; }

wire::PatientRecord MakeRecord(const std::string& patient, const std::string& record,
                               std::vector<std::string> symptoms = {"headache"}) {
  wire::PatientRecord r;
  r.record_id = record;
  r.patient_id = patient;
  r.device_id = "watch-" + patient;
  r.created_ms = 1'799'000'000'000;
  r.name = "Name of " + patient;
  r.email = patient + "@example.org";
  r.birth_date = "1980-04-02";
  r.sex = "female";
  r.postcode = "NW1 6XE";
  r.symptoms = std::move(symptoms);
  r.conditions = {"I10"};
  r.pulse_bpm = 72;
  r.ecg_summary = "sinus rhythm, 72/min";
  return r;
}

ThreePartKeys MakeKeys() {
  medmesh::testing::DeterministicRandom r(11);
  SecretBytes index(kThreePartSecretBytes);
  SecretBytes pseudonym(kThreePartSecretBytes);
  r.Fill(index.mutable_bytes());
  r.Fill(pseudonym.mutable_bytes());
  return ThreePartKeys{crypto::KeyEncryptionKey::Generate(r), crypto::KeyEncryptionKey::Generate(r),
                       crypto::KeyEncryptionKey::Generate(r), std::move(index),
                       std::move(pseudonym)};
}

Principal Patient(const std::string& patient_id) {
  return {"acc_" + patient_id, Role::kPatient, patient_id, "", "ses_1", 0, false};
}
Principal Doctor(const std::string& account_id) {
  return {account_id, Role::kDoctor, "", "", "ses_2", 0, false};
}
Principal Operator(const std::string& cloudlet_id) {
  return {"acc_op_" + cloudlet_id, Role::kOperator, "", cloudlet_id, "ses_3", 0, false};
}
Principal Admin() { return {"acc_admin", Role::kAdmin, "", "", "ses_4", 0, false}; }

AnswerContent Content(std::string diagnosis = "Essential hypertension") {
  return {std::move(diagnosis), "Take in the morning; check blood pressure weekly.",
          Prescription{"Amlodipine", "5 mg", "once daily", "30 days"}};
}

class ClinicalServiceTest : public ::testing::TestWithParam<BackendKind> {
 protected:
  void SetUp() override {
    auto backend = store::testing::MakeTestBackend(GetParam());
    ASSERT_TRUE(backend) << backend.error().ToString();
    backend_ = std::move(*backend);
    auto records_store = backend_->Open();
    ASSERT_TRUE(records_store) << records_store.error().ToString();
    record_store_ = std::move(*records_store);
    auto three = ThreePartStore::Create(*record_store_, MakeKeys(), random_, clock_);
    ASSERT_TRUE(three) << three.error().ToString();
    three_ = std::move(*three);
    OpenStores();
    ClinicalHooks hooks;
    hooks.is_approved_doctor = [this](std::string_view id) -> Result<bool> {
      return approved_doctors_.contains(std::string(id));
    };
    hooks.cloudlets_of_patient = [this](std::string_view patient) {
      return intake_->CloudletsOfPatient(patient);
    };
    hooks.readings = [this](std::string_view patient, std::int64_t from_ms,
                            std::int64_t to_ms) -> Result<std::vector<wire::Reading>> {
      readings_asked_.push_back({std::string(patient), from_ms, to_ms});
      return std::vector<wire::Reading>{{to_ms - 2000, wire::VitalKind::kHeartRate, 71000},
                                        {to_ms - 1000, wire::VitalKind::kHeartRate, 73000}};
    };
    // Without first_batch_ms_: "readings may start right at from_ms" (no stretch skipped).
    hooks.first_readings_ms = [this](std::string_view, std::int64_t from_ms,
                                     std::int64_t to_ms) -> Result<std::optional<std::int64_t>> {
      if (!first_batch_ms_) return std::optional<std::int64_t>(from_ms);
      if (*first_batch_ms_ >= to_ms) return std::optional<std::int64_t>();
      return std::optional<std::int64_t>(std::max(from_ms, *first_batch_ms_));
    };
    auto service =
        ClinicalService::Create(*clinical_, *three_, three_->envelope(RecordPart::kEi), audit_,
                                clock_, random_, std::move(hooks), {.statistics_k = 3});
    ASSERT_TRUE(service) << service.error().ToString();
    service_ = std::move(*service);
    approved_doctors_ = {"acc_dr_who", "acc_dr_no"};
  }

  void TearDown() override {
    service_.reset();
    clinical_.reset();
    intake_.reset();
    if (!pg_prefix_.empty()) {
      try {
        // NOLINTNEXTLINE(concurrency-mt-unsafe): tests read the environment, nobody writes it
        pqxx::connection c(std::getenv(store::testing::kTestPostgresEnv));
        pqxx::nontransaction n(c);
        n.exec("DROP SCHEMA IF EXISTS \"" + pg_prefix_ +
               "clinical\" CASCADE; DROP SCHEMA IF EXISTS \"" + pg_prefix_ + "intake\" CASCADE");
      } catch (const std::exception&) {
        // Best effort: the test cluster is thrown away after the run.
      }
    }
  }

  void OpenStores() {
    if (GetParam() == BackendKind::kSqlite) {
      auto clinical = SqliteClinicalStore::Open(dir_.File("clinical.db"));
      ASSERT_TRUE(clinical) << clinical.error().ToString();
      clinical_ = std::move(*clinical);
      auto intake = SqliteIntakeStore::Open(dir_.File("intake.db"));
      ASSERT_TRUE(intake) << intake.error().ToString();
      intake_ = std::move(*intake);
      return;
    }
    // NOLINTNEXTLINE(concurrency-mt-unsafe): tests read the environment, nobody writes it
    const char* pg = std::getenv(store::testing::kTestPostgresEnv);
    ASSERT_NE(pg, nullptr) << "MEDMESH_TEST_PG is not set: run through ctest";
    // A fresh prefix per test (not from the deterministic random_: tests run in parallel).
    SystemRandom fresh;
    pg_prefix_ = "c" + HexEncode(fresh.Generate(6)) + "_";
    auto clinical = PostgresClinicalStore::Open({.conninfo = pg, .schema_prefix = pg_prefix_});
    ASSERT_TRUE(clinical) << clinical.error().ToString();
    clinical_ = std::move(*clinical);
    auto intake = PostgresIntakeStore::Open({.conninfo = pg, .schema_prefix = pg_prefix_});
    ASSERT_TRUE(intake) << intake.error().ToString();
    intake_ = std::move(*intake);
  }

  // A patient with records, enrolled at `cloudlet`.
  void AddPatient(const std::string& patient, const std::string& cloudlet,
                  const std::vector<std::string>& records = {"r1", "r2"},
                  const std::vector<std::string>& symptoms = {"headache"}) {
    for (const std::string& r : records) {
      auto put = three_->PutRecord(MakeRecord(patient, r, symptoms), kSignature);
      ASSERT_TRUE(put) << put.error().ToString();
    }
    EnrolmentRow enrolment{"ref-" + patient, patient,      cloudlet,
                           Bytes(32, 1),     Bytes(40, 2), std::nullopt};
    ASSERT_TRUE(intake_->PutEnrolment(enrolment));
  }

  // Requests and approves the patient's portal at `cloudlet`.
  void Activate(const std::string& patient, const std::string& cloudlet) {
    auto requested = service_->RequestActivation(Patient(patient), cloudlet, kFrom);
    ASSERT_TRUE(requested) << requested.error().ToString();
    auto approved =
        service_->DecideActivation(Operator(cloudlet), requested->activation_id, true, "", kFrom);
    ASSERT_TRUE(approved) << approved.error().ToString();
  }

  ConsentRow Grant(const std::string& patient, const std::string& doctor,
                   std::vector<RecordKey> records) {
    auto grant = service_->GrantConsent(Patient(patient), doctor, std::move(records), kFrom);
    EXPECT_TRUE(grant) << grant.error().ToString();
    return grant ? *grant : ConsentRow{};
  }

  static RecordKey Key(const std::string& patient, const std::string& record) {
    return {"watch-" + patient, record};
  }

  template <typename T>
  static void ExpectError(const Result<T>& r, ErrorCode code, std::string_view message = {}) {
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), code) << r.error().ToString();
    if (!message.empty()) {
      EXPECT_EQ(r.error().message(), message);
    }
  }

  medmesh::testing::DeterministicRandom random_{3};
  medmesh::testing::FakeClock clock_;
  medmesh::testing::TempDir dir_;
  std::string pg_prefix_;
  std::unique_ptr<store::testing::TestBackend> backend_;
  std::unique_ptr<store::RecordStore> record_store_;
  std::unique_ptr<ThreePartStore> three_;
  std::unique_ptr<ClinicalStore> clinical_;
  std::unique_ptr<IntakeStore> intake_;
  RecordingAuditSink audit_;
  std::set<std::string> approved_doctors_;
  struct Asked {
    std::string patient;
    std::int64_t from_ms, to_ms;
  };
  std::vector<Asked> readings_asked_;
  std::optional<std::int64_t> first_batch_ms_;
  std::unique_ptr<ClinicalService> service_;
};

// --- 1. Portal activation ----------------------------------------------------------------------

TEST_P(ClinicalServiceTest, PortalActivationIsRequestedApprovedAndThenOpensMedicalData) {
  AddPatient("pat-a", "cloudlet-1");
  EXPECT_FALSE(service_->PortalActive("pat-a").value());
  // Until approved, no medical data: every patient read is refused.
  ExpectError(service_->ListMyConsents(Patient("pat-a"), kFrom), ErrorCode::kPermissionDenied,
              kPortalInactiveMessage);
  ExpectError(service_->ListMyAnswers(Patient("pat-a"), kFrom), ErrorCode::kPermissionDenied,
              kPortalInactiveMessage);
  ExpectError(service_->GrantConsent(Patient("pat-a"), "acc_dr_who", {Key("pat-a", "r1")}, kFrom),
              ErrorCode::kPermissionDenied, kPortalInactiveMessage);
  audit_.Take();

  auto requested = service_->RequestActivation(Patient("pat-a"), "cloudlet-1", kFrom);
  ASSERT_TRUE(requested) << requested.error().ToString();
  EXPECT_EQ(requested->status, ActivationStatus::kRequested);
  EXPECT_EQ(requested->activation_id.rfind("act_", 0), 0U);
  EXPECT_EQ(requested->activation_id.size(), 4U + 26U);
  // A second request while one is pending is a conflict.
  ExpectError(service_->RequestActivation(Patient("pat-a"), "cloudlet-1", kFrom),
              ErrorCode::kAlreadyExists);

  // The operator of another cloudlet neither sees nor decides it.
  EXPECT_TRUE(service_->ListActivationRequests(Operator("cloudlet-2"), std::nullopt, kFrom)
                  .value()
                  .empty());
  ExpectError(
      service_->DecideActivation(Operator("cloudlet-2"), requested->activation_id, true, "", kFrom),
      ErrorCode::kNotFound, kNotFoundMessage);
  // Nor does anyone but an operator.
  for (const Principal& who : {Patient("pat-a"), Doctor("acc_dr_who"), Admin()}) {
    ExpectError(service_->DecideActivation(who, requested->activation_id, true, "", kFrom),
                ErrorCode::kPermissionDenied, kRoleDeniedMessage);
  }
  EXPECT_FALSE(service_->PortalActive("pat-a").value());

  const auto pending =
      service_->ListActivationRequests(Operator("cloudlet-1"), ActivationStatus::kRequested, kFrom);
  ASSERT_EQ(pending.value().size(), 1U);
  EXPECT_EQ(pending.value()[0], *requested);
  clock_.Advance(std::chrono::minutes(5));
  auto approved = service_->DecideActivation(Operator("cloudlet-1"), requested->activation_id, true,
                                             "identity checked at the desk", kFrom);
  ASSERT_TRUE(approved) << approved.error().ToString();
  EXPECT_EQ(approved->status, ActivationStatus::kApproved);
  EXPECT_TRUE(service_->PortalActive("pat-a").value());
  // The patient sees the answer, as stored.
  const auto mine = service_->ListMyActivations(Patient("pat-a"), kFrom).value();
  ASSERT_EQ(mine.size(), 1U);
  EXPECT_EQ(mine[0], *approved);
  EXPECT_EQ(mine[0].decided_by, Operator("cloudlet-1").account_id);
  EXPECT_GT(mine[0].decided_ms, mine[0].requested_ms);
  // Decided once: a second decision is a conflict and changes nothing.
  ExpectError(service_->DecideActivation(Operator("cloudlet-1"), requested->activation_id, false,
                                         "changed my mind", kFrom),
              ErrorCode::kFailedPrecondition);
  EXPECT_TRUE(service_->ListMyConsents(Patient("pat-a"), kFrom));

  EXPECT_EQ(audit_.Take(),
            (std::vector<std::string>{Ok("activation.request"), Refused("activation.request"),
                                      Ok("activation.read"), Refused("activation.approve"),
                                      Refused("activation.approve"), Refused("activation.approve"),
                                      Refused("activation.approve"), Ok("activation.read"),
                                      Ok("activation.approve"), Ok("activation.read"),
                                      Refused("activation.deny"), Ok("consent.read")}));
}

TEST_P(ClinicalServiceTest, ADenialNeedsAReasonWhichThePatientSeesAndMayAskAgain) {
  AddPatient("pat-a", "cloudlet-1");
  const auto requested = service_->RequestActivation(Patient("pat-a"), "cloudlet-1", kFrom).value();
  ExpectError(service_->DecideActivation(Operator("cloudlet-1"), requested.activation_id, false,
                                         " \n ", kFrom),
              ErrorCode::kInvalidArgument);
  const std::string reason = std::string("Photo ID did not match. ") + std::string(kInjection);
  auto denied = service_->DecideActivation(Operator("cloudlet-1"), requested.activation_id, false,
                                           reason, kFrom);
  ASSERT_TRUE(denied) << denied.error().ToString();
  EXPECT_FALSE(service_->PortalActive("pat-a").value());
  const auto mine = service_->ListMyActivations(Patient("pat-a"), kFrom).value();
  ASSERT_EQ(mine.size(), 1U);
  EXPECT_EQ(mine[0].status, ActivationStatus::kDenied);
  EXPECT_TRUE(mine[0].reason == reason);  // verbatim, injection text and all
  ExpectError(service_->ListMyAnswers(Patient("pat-a"), kFrom), ErrorCode::kPermissionDenied,
              kPortalInactiveMessage);
  // After a denial the patient may ask again.
  clock_.Advance(std::chrono::seconds(1));
  auto again = service_->RequestActivation(Patient("pat-a"), "cloudlet-1", kFrom);
  ASSERT_TRUE(again) << again.error().ToString();
  const auto both = service_->ListMyActivations(Patient("pat-a"), kFrom).value();
  ASSERT_EQ(both.size(), 2U);
  EXPECT_EQ(both[0].status, ActivationStatus::kRequested);  // newest first
}

TEST_P(ClinicalServiceTest, APatientAsksOnlyACloudletHoldingTheirData) {
  AddPatient("pat-a", "cloudlet-1");
  AddPatient("pat-b", "cloudlet-2");
  EXPECT_EQ(intake_->CloudletsOfPatient("pat-a").value(), std::vector<std::string>{"cloudlet-1"});
  EXPECT_TRUE(intake_->CloudletsOfPatient("pat-nobody").value().empty());
  for (std::string_view cloudlet : {"cloudlet-2", "cloudlet-9", "../etc", ""}) {
    ExpectError(service_->RequestActivation(Patient("pat-a"), cloudlet, kFrom),
                ErrorCode::kNotFound, kNotFoundMessage);
  }
  for (const Principal& who : {Doctor("acc_dr_who"), Operator("cloudlet-1"), Admin()}) {
    ExpectError(service_->RequestActivation(who, "cloudlet-1", kFrom), ErrorCode::kPermissionDenied,
                kRoleDeniedMessage);
    ExpectError(service_->ListMyActivations(who, kFrom), ErrorCode::kPermissionDenied);
  }
  ExpectError(service_->ListActivationRequests(Patient("pat-a"), std::nullopt, kFrom),
              ErrorCode::kPermissionDenied);
}

// --- 3. Consent --------------------------------------------------------------------------------

TEST_P(ClinicalServiceTest, AGrantShowsADoctorExactlyTheChosenRecordsUntilRevoked) {
  AddPatient("pat-a", "cloudlet-1", {"r1", "r2", "r3"});
  AddPatient("pat-b", "cloudlet-1");
  Activate("pat-a", "cloudlet-1");
  Activate("pat-b", "cloudlet-1");
  audit_.Take();

  // No grant: the doctor sees nothing of the patient.
  ExpectError(service_->RecordsGrantedTo(Doctor("acc_dr_who"), "pat-a"), ErrorCode::kNotFound,
              kNotFoundMessage);
  const ConsentRow grant =
      Grant("pat-a", "acc_dr_who", {Key("pat-a", "r3"), Key("pat-a", "r1"), Key("pat-a", "r1")});
  EXPECT_EQ(grant.consent_id.rfind("cns_", 0), 0U);
  EXPECT_EQ(grant.records,
            (std::vector<RecordKey>{Key("pat-a", "r1"), Key("pat-a", "r3")}));  // sorted, merged
  EXPECT_EQ(service_->RecordsGrantedTo(Doctor("acc_dr_who"), "pat-a").value(), grant.records);
  // Another doctor, and the same doctor for another patient: nothing.
  ExpectError(service_->RecordsGrantedTo(Doctor("acc_dr_no"), "pat-a"), ErrorCode::kNotFound);
  ExpectError(service_->RecordsGrantedTo(Doctor("acc_dr_who"), "pat-b"), ErrorCode::kNotFound);
  ExpectError(service_->RecordsGrantedTo(Patient("pat-a"), "pat-a"), ErrorCode::kPermissionDenied);

  // Only own records, only approved doctors, and the same 404 for every unknown.
  ExpectError(service_->GrantConsent(Patient("pat-a"), "acc_dr_who", {Key("pat-b", "r1")}, kFrom),
              ErrorCode::kNotFound, kNotFoundMessage);
  ExpectError(service_->GrantConsent(Patient("pat-a"), "acc_dr_who", {Key("pat-a", "r9")}, kFrom),
              ErrorCode::kNotFound, kNotFoundMessage);
  ExpectError(
      service_->GrantConsent(Patient("pat-a"), "acc_pending_doctor", {Key("pat-a", "r1")}, kFrom),
      ErrorCode::kNotFound, kNotFoundMessage);
  ExpectError(service_->GrantConsent(Patient("pat-a"), "acc_dr_who", {}, kFrom),
              ErrorCode::kInvalidArgument);
  ExpectError(
      service_->GrantConsent(Doctor("acc_dr_who"), "acc_dr_no", {Key("pat-a", "r1")}, kFrom),
      ErrorCode::kPermissionDenied);

  // Patient B sees none of A's grants and cannot revoke them.
  EXPECT_TRUE(service_->ListMyConsents(Patient("pat-b"), kFrom).value().empty());
  ExpectError(service_->RevokeConsent(Patient("pat-b"), grant.consent_id, kFrom),
              ErrorCode::kNotFound, kNotFoundMessage);
  ExpectError(service_->RevokeConsent(Patient("pat-b"), "cns_unknown", kFrom), ErrorCode::kNotFound,
              kNotFoundMessage);
  const auto mine = service_->ListMyConsents(Patient("pat-a"), kFrom).value();
  ASSERT_EQ(mine.size(), 1U);
  EXPECT_EQ(mine[0], grant);

  // Revocation takes effect at once.
  clock_.Advance(std::chrono::seconds(10));
  const auto revoked = service_->RevokeConsent(Patient("pat-a"), grant.consent_id, kFrom);
  ASSERT_TRUE(revoked) << revoked.error().ToString();
  EXPECT_FALSE(revoked->active());
  ExpectError(service_->RecordsGrantedTo(Doctor("acc_dr_who"), "pat-a"), ErrorCode::kNotFound);
  EXPECT_TRUE(service_->Inbox(Doctor("acc_dr_who"), kFrom).value().empty());
  ExpectError(service_->AnswerConsent(Doctor("acc_dr_who"), grant.consent_id, Content(), kFrom),
              ErrorCode::kNotFound, kNotFoundMessage);
  // Revoking again is harmless; the grant stays listed, revoked.
  EXPECT_EQ(service_->RevokeConsent(Patient("pat-a"), grant.consent_id, kFrom).value(), *revoked);
  EXPECT_FALSE(service_->ListMyConsents(Patient("pat-a"), kFrom).value()[0].active());

  const auto events = audit_.Take();
  EXPECT_EQ(events.front(), Ok("consent.grant"));
  EXPECT_EQ(std::count(events.begin(), events.end(), Ok("consent.revoke")), 2);
  EXPECT_EQ(std::count(events.begin(), events.end(), Refused("consent.revoke")), 2);
  EXPECT_EQ(std::count(events.begin(), events.end(), Refused("consent.grant")), 5);
  EXPECT_EQ(std::count(events.begin(), events.end(), Refused("answer.create")), 1);
}

// --- 4. Doctor's answers -----------------------------------------------------------------------

TEST_P(ClinicalServiceTest, ADoctorAnswersFromTheInboxAndThePatientSeesTheAnswer) {
  AddPatient("pat-a", "cloudlet-1", {"r1", "r2"});
  AddPatient("pat-b", "cloudlet-2", {"r1"});
  Activate("pat-a", "cloudlet-1");
  Activate("pat-b", "cloudlet-2");
  const ConsentRow a1 = Grant("pat-a", "acc_dr_who", {Key("pat-a", "r1")});
  clock_.Advance(std::chrono::seconds(1));
  const ConsentRow a2 = Grant("pat-a", "acc_dr_who", {Key("pat-a", "r2")});
  const ConsentRow b1 = Grant("pat-b", "acc_dr_who", {Key("pat-b", "r1")});
  const ConsentRow other = Grant("pat-b", "acc_dr_no", {Key("pat-b", "r1")});
  audit_.Take();

  // The inbox: grouped by patient (newest grant first), granted records only, recent readings.
  const auto inbox = service_->Inbox(Doctor("acc_dr_who"), kFrom).value();
  ASSERT_EQ(inbox.size(), 2U);
  EXPECT_EQ(inbox[0].patient_id, "pat-b");
  EXPECT_EQ(inbox[1].patient_id, "pat-a");
  ASSERT_EQ(inbox[1].grants.size(), 2U);
  EXPECT_EQ(inbox[1].grants[0].consent, a2);
  ASSERT_EQ(inbox[1].grants[0].records.size(), 1U);
  EXPECT_EQ(inbox[1].grants[0].records[0].record, MakeRecord("pat-a", "r2"));
  EXPECT_EQ(inbox[1].grants[1].records[0].record.record_id, "r1");
  EXPECT_EQ(inbox[1].recent_readings.size(), 2U);
  ASSERT_EQ(readings_asked_.size(), 2U);
  EXPECT_EQ(readings_asked_[0].to_ms - readings_asked_[0].from_ms, 24 * 3600 * 1000);
  EXPECT_EQ(audit_.Take(), (std::vector<std::string>{Ok("inbox.read"), Ok("inbox.read")}));
  ExpectError(service_->Inbox(Patient("pat-a"), kFrom), ErrorCode::kPermissionDenied);

  // Validation: diagnosis required, a prescription complete, lengths, no control characters.
  AnswerContent bad = Content("");
  ExpectError(service_->AnswerConsent(Doctor("acc_dr_who"), a1.consent_id, bad, kFrom),
              ErrorCode::kInvalidArgument);
  bad = Content();
  bad.prescription->dose = "";
  ExpectError(service_->AnswerConsent(Doctor("acc_dr_who"), a1.consent_id, bad, kFrom),
              ErrorCode::kInvalidArgument);
  bad = Content();
  bad.prescription->drug = std::string(kMaxDrugBytes + 1, 'x');
  ExpectError(service_->AnswerConsent(Doctor("acc_dr_who"), a1.consent_id, bad, kFrom),
              ErrorCode::kInvalidArgument);
  bad = Content("fine\x01");
  ExpectError(service_->AnswerConsent(Doctor("acc_dr_who"), a1.consent_id, bad, kFrom),
              ErrorCode::kInvalidArgument);
  bad = Content("\xc3\x28");
  ExpectError(service_->AnswerConsent(Doctor("acc_dr_who"), a1.consent_id, bad, kFrom),
              ErrorCode::kInvalidArgument);
  // Another doctor's grant, a patient, an unknown id: refused alike.
  ExpectError(service_->AnswerConsent(Doctor("acc_dr_who"), other.consent_id, Content(), kFrom),
              ErrorCode::kNotFound, kNotFoundMessage);
  ExpectError(service_->AnswerConsent(Doctor("acc_dr_who"), "cns_nope", Content(), kFrom),
              ErrorCode::kNotFound, kNotFoundMessage);
  ExpectError(service_->AnswerConsent(Patient("pat-a"), a1.consent_id, Content(), kFrom),
              ErrorCode::kPermissionDenied);
  audit_.Take();

  // Answers, with injection text kept as data.
  AnswerContent first = Content(std::string("Hypertension ") + std::string(kInjection));
  first.medication = "Ämlodipine \"5mg\"\nwith water";
  auto answer = service_->AnswerConsent(Doctor("acc_dr_who"), a1.consent_id, first, kFrom);
  ASSERT_TRUE(answer) << answer.error().ToString();
  EXPECT_EQ(answer->answer_id.rfind("ans_", 0), 0U);
  AnswerContent no_prescription{"Tension headache", "", std::nullopt};
  clock_.Advance(std::chrono::seconds(1));
  auto second =
      service_->AnswerConsent(Doctor("acc_dr_who"), a2.consent_id, no_prescription, kFrom);
  ASSERT_TRUE(second) << second.error().ToString();
  auto for_b = service_->AnswerConsent(Doctor("acc_dr_who"), b1.consent_id, Content(), kFrom);
  ASSERT_TRUE(for_b) << for_b.error().ToString();
  EXPECT_EQ(audit_.Take(), (std::vector<std::string>{Ok("answer.create"), Ok("answer.create"),
                                                     Ok("answer.create")}));

  // The patient sees the answers on their records; nobody else's.
  const auto mine = service_->ListMyAnswers(Patient("pat-a"), kFrom).value();
  ASSERT_EQ(mine.size(), 2U);
  EXPECT_EQ(mine[0].answer_id, answer->answer_id);
  EXPECT_TRUE(mine[0].content == first);
  EXPECT_EQ(mine[0].records, std::vector<RecordKey>{Key("pat-a", "r1")});
  EXPECT_EQ(mine[0].doctor_id, "acc_dr_who");
  EXPECT_TRUE(mine[1].content == no_prescription);
  EXPECT_EQ(service_->ListMyAnswers(Patient("pat-b"), kFrom).value().size(), 1U);

  // The doctor's prescriptions: only those with one, only their own.
  const auto prescriptions = service_->ListMyPrescriptions(Doctor("acc_dr_who"), kFrom).value();
  ASSERT_EQ(prescriptions.size(), 2U);
  EXPECT_TRUE(prescriptions[0].content.prescription == first.prescription);
  EXPECT_EQ(prescriptions[1].patient_id, "pat-b");
  EXPECT_TRUE(service_->ListMyPrescriptions(Doctor("acc_dr_no"), kFrom).value().empty());
  ExpectError(service_->ListMyPrescriptions(Operator("cloudlet-1"), kFrom),
              ErrorCode::kPermissionDenied);
  // The inbox lists the answers given.
  const auto after = service_->Inbox(Doctor("acc_dr_who"), kFrom).value();
  EXPECT_EQ(after[1].grants[1].answer_ids, std::vector<std::string>{answer->answer_id});

  // Operators (their cloudlet's patients) and admins see counts only.
  EXPECT_EQ(service_->CountAnswers(Admin(), kFrom).value(), (AnswerCounts{3, 2}));
  EXPECT_EQ(service_->CountAnswers(Operator("cloudlet-1"), kFrom).value(), (AnswerCounts{2, 1}));
  EXPECT_EQ(service_->CountAnswers(Operator("cloudlet-2"), kFrom).value(), (AnswerCounts{1, 1}));
  ExpectError(service_->CountAnswers(Doctor("acc_dr_who"), kFrom), ErrorCode::kPermissionDenied);
  ExpectError(service_->CountAnswers(Patient("pat-a"), kFrom), ErrorCode::kPermissionDenied);

  // Stored encrypted: the stored bytes hold none of the content.
  const auto rows = clinical_->ListAnswersOfPatient("pat-a").value();
  ASSERT_EQ(rows.size(), 2U);
  const std::string stored(rows[0].ciphertext.begin(), rows[0].ciphertext.end());
  EXPECT_EQ(stored.find("Hypertension"), std::string::npos);
  EXPECT_EQ(stored.find("Amlodipine"), std::string::npos);
}

// --- Read-only views of one patient (the FHIR API) ------------------------------------------

TEST_P(ClinicalServiceTest, ReadPatientFollowsTheRulesOfTheJsonApiAndAuditsEachRead) {
  AddPatient("pat-a", "cloudlet-1", {"r1", "r2"});
  AddPatient("pat-b", "cloudlet-1", {"r1"});
  PatientReadRequest everything{.event = "fhir.patient.everything",
                                .entity_type = "Patient",
                                .entity_id = "pat-a",
                                .records = true,
                                .consents = true,
                                .answers = true,
                                .readings = std::pair<std::int64_t, std::int64_t>{0, 1LL << 50}};
  audit_.Take();

  // A patient: only with an active portal (checked first), and only themself.
  ExpectError(service_->ReadPatient(Patient("pat-a"), "pat-a", everything, kFrom),
              ErrorCode::kPermissionDenied, kPortalInactiveMessage);
  ExpectError(service_->ReadPatient(Patient("pat-a"), "pat-b", everything, kFrom),
              ErrorCode::kPermissionDenied, kPortalInactiveMessage);
  Activate("pat-a", "cloudlet-1");
  Activate("pat-b", "cloudlet-1");
  const ConsentRow grant = Grant("pat-a", "acc_dr_who", {Key("pat-a", "r1")});
  Grant("pat-a", "acc_dr_no", {Key("pat-a", "r2")});
  const Answer answer =
      service_->AnswerConsent(Doctor("acc_dr_who"), grant.consent_id, Content(), kFrom).value();
  audit_.Take();
  readings_asked_.clear();

  const PatientView own =
      service_->ReadPatient(Patient("pat-a"), "pat-a", everything, kFrom).value();
  EXPECT_TRUE(own.own);
  EXPECT_EQ(own.records.size(), 2U);
  EXPECT_EQ(own.consents.size(), 2U);
  ASSERT_EQ(own.answers.size(), 1U);
  EXPECT_EQ(own.answers[0].content, answer.content);
  EXPECT_FALSE(own.readings.empty());
  EXPECT_EQ(own.readings_end_ms, 1LL << 50);
  for (const char* other : {"pat-b", "pat-nobody", "not an id"}) {
    ExpectError(service_->ReadPatient(Patient("pat-a"), other, everything, kFrom),
                ErrorCode::kNotFound, kNotFoundMessage);
  }

  // A doctor: through an active grant only, the granted records, their own answers, the
  // inbox's readings (the last 24 hours).
  const PatientView seen =
      service_->ReadPatient(Doctor("acc_dr_who"), "pat-a", everything, kFrom).value();
  EXPECT_FALSE(seen.own);
  ASSERT_EQ(seen.records.size(), 1U);
  EXPECT_EQ(seen.records[0].record.record_id, "r1");
  ASSERT_EQ(seen.consents.size(), 1U);
  EXPECT_EQ(seen.consents[0], grant);
  EXPECT_EQ(seen.answers.size(), 1U);
  EXPECT_EQ(seen.readings.size(), 2U);
  ASSERT_FALSE(readings_asked_.empty());
  EXPECT_EQ(readings_asked_.back().to_ms - readings_asked_.back().from_ms, 24 * 3600 * 1000);
  PatientReadRequest old = everything;
  old.readings = std::pair<std::int64_t, std::int64_t>{0, readings_asked_.back().from_ms};
  EXPECT_TRUE(service_->ReadPatient(Doctor("acc_dr_who"), "pat-a", old, kFrom)->readings.empty());
  const PatientView other_doctor =
      service_->ReadPatient(Doctor("acc_dr_no"), "pat-a", everything, kFrom).value();
  EXPECT_TRUE(other_doctor.answers.empty());  // answers the other doctor wrote only
  EXPECT_EQ(other_doctor.records[0].record.record_id, "r2");
  ExpectError(service_->ReadPatient(Doctor("acc_dr_who"), "pat-b", everything, kFrom),
              ErrorCode::kNotFound, kNotFoundMessage);
  ExpectError(service_->ReadPatient(Doctor("acc_dr_nobody"), "pat-a", everything, kFrom),
              ErrorCode::kNotFound, kNotFoundMessage);

  // Operators and admins: no clinical content.
  for (const Principal& who : {Operator("cloudlet-1"), Admin()}) {
    ExpectError(service_->ReadPatient(who, "pat-a", everything, kFrom),
                ErrorCode::kPermissionDenied, kRoleDeniedMessage);
  }

  // Only what is asked for is loaded.
  PatientReadRequest consents_only{.event = "fhir.consent.search", .consents = true};
  const PatientView c =
      service_->ReadPatient(Patient("pat-a"), "pat-a", consents_only, kFrom).value();
  EXPECT_EQ(c.consents.size(), 2U);
  EXPECT_TRUE(c.records.empty() && c.answers.empty() && c.readings.empty());

  // Every read and refusal is audited, with the patient.
  std::vector<std::string> expected = {
      Ok("fhir.patient.everything"), "fhir.patient.everything/4",   "fhir.patient.everything/4",
      "fhir.patient.everything/4",   Ok("fhir.patient.everything"), Ok("fhir.patient.everything"),
      Ok("fhir.patient.everything"), "fhir.patient.everything/4",   "fhir.patient.everything/4",
      "fhir.patient.everything/4",   "fhir.patient.everything/4",   Ok("fhir.consent.search")};
  EXPECT_EQ(audit_.Take(), expected);

  // Revoking the grant ends the doctor's access at once.
  ASSERT_TRUE(service_->RevokeConsent(Patient("pat-a"), grant.consent_id, kFrom));
  ExpectError(service_->ReadPatient(Doctor("acc_dr_who"), "pat-a", everything, kFrom),
              ErrorCode::kNotFound, kNotFoundMessage);
  const auto revoked_entries = audit_.entries;
  ASSERT_FALSE(revoked_entries.empty());
  EXPECT_EQ(revoked_entries.back().patient_id, "pat-a");
  EXPECT_EQ(revoked_entries.back().entity_id, "pat-a");
}

TEST_P(ClinicalServiceTest, ReadPatientStopsItsReadingsAtTheLimitOnAMillisecondBoundary) {
  AddPatient("pat-a", "cloudlet-1");
  Activate("pat-a", "cloudlet-1");
  constexpr std::int64_t kDay = 86'400'000;
  PatientReadRequest request{.event = "fhir.observation.search",
                             .readings = std::pair<std::int64_t, std::int64_t>{0, 100 * kDay},
                             .readings_limit = 3};
  readings_asked_.clear();
  // The hook gives two readings at the end of every window it is asked for: a day, then four.
  const PatientView view = service_->ReadPatient(Patient("pat-a"), "pat-a", request, kFrom).value();
  ASSERT_EQ(readings_asked_.size(), 2U);
  EXPECT_EQ(readings_asked_[0].to_ms, kDay);
  EXPECT_EQ(readings_asked_[1].to_ms, 5 * kDay);
  ASSERT_EQ(view.readings.size(), 3U);
  EXPECT_EQ(view.readings.back().time_ms, 5 * kDay - 2000);
  EXPECT_EQ(view.readings_end_ms, 5 * kDay - 2000 + 1);
  // Stretches without batches are skipped, and the windows start small again after them.
  first_batch_ms_ = 40 * kDay;
  readings_asked_.clear();
  const PatientView later =
      service_->ReadPatient(Patient("pat-a"), "pat-a", request, kFrom).value();
  ASSERT_EQ(readings_asked_.size(), 2U);
  EXPECT_EQ(readings_asked_[0].from_ms, 40 * kDay);
  EXPECT_EQ(readings_asked_[0].to_ms, 41 * kDay);
  EXPECT_EQ(later.readings.size(), 3U);
  first_batch_ms_ = 200 * kDay;  // nothing in the range: nothing decrypted
  readings_asked_.clear();
  const PatientView nothing =
      service_->ReadPatient(Patient("pat-a"), "pat-a", request, kFrom).value();
  EXPECT_TRUE(readings_asked_.empty());
  EXPECT_TRUE(nothing.readings.empty());
  EXPECT_EQ(nothing.readings_end_ms, 100 * kDay);
  first_batch_ms_.reset();
  // Only the kinds asked for; none of them: every window read, nothing kept.
  request.reading_kinds = {wire::VitalKind::kGlucose};
  const PatientView none = service_->ReadPatient(Patient("pat-a"), "pat-a", request, kFrom).value();
  EXPECT_TRUE(none.readings.empty());
  EXPECT_EQ(none.readings_end_ms, 100 * kDay);
}

TEST_P(ClinicalServiceTest, AnAlteredAnswerRowFailsItsCheckAndDeletionShredsTheAnswers) {
  AddPatient("pat-a", "cloudlet-1", {"r1"});
  Activate("pat-a", "cloudlet-1");
  const ConsentRow grant = Grant("pat-a", "acc_dr_who", {Key("pat-a", "r1")});
  ASSERT_TRUE(service_->AnswerConsent(Doctor("acc_dr_who"), grant.consent_id, Content(), kFrom));
  const AnswerRow row = clinical_->ListAnswersOfPatient("pat-a").value().at(0);
  crypto::EnvelopeAead& envelope = three_->envelope(RecordPart::kEi);
  const crypto::DataKeyContext key{"pat-a", "answers"};

  // The ciphertext is bound to its row: moved to another row (another answer id), it fails.
  AnswerRow moved = row;
  moved.answer_id = "ans_other";
  moved.has_prescription = false;
  ASSERT_TRUE(clinical_->InsertAnswer(moved, nullptr));
  ExpectError(service_->ListMyAnswers(Patient("pat-a"), kFrom), ErrorCode::kDataLoss);

  // Deletion: rows gone, and the copy of the ciphertext taken before can no longer be read.
  ASSERT_TRUE(service_->DeletePatient("pat-a"));
  EXPECT_TRUE(clinical_->ListAnswersOfPatient("pat-a").value().empty());
  EXPECT_TRUE(clinical_->ListConsentsOfPatient("pat-a").value().empty());
  EXPECT_FALSE(service_->PortalActive("pat-a").value());
  const auto gone = envelope.Decrypt(key, row.ciphertext, Bytes{});
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code(), ErrorCode::kNotFound);
  ASSERT_TRUE(service_->DeletePatient("pat-a"));  // repeatable
}

// --- Audit -------------------------------------------------------------------------------------

TEST_P(ClinicalServiceTest, AFailingAuditLogFailsTheActionAndWritesNothing) {
  AddPatient("pat-a", "cloudlet-1", {"r1"});
  audit_.fail = true;
  ExpectError(service_->RequestActivation(Patient("pat-a"), "cloudlet-1", kFrom),
              ErrorCode::kUnavailable);
  audit_.fail = false;
  EXPECT_TRUE(service_->ListMyActivations(Patient("pat-a"), kFrom).value().empty());

  Activate("pat-a", "cloudlet-1");
  audit_.fail = true;
  ExpectError(service_->GrantConsent(Patient("pat-a"), "acc_dr_who", {Key("pat-a", "r1")}, kFrom),
              ErrorCode::kUnavailable);
  audit_.fail = false;
  EXPECT_TRUE(service_->ListMyConsents(Patient("pat-a"), kFrom).value().empty());

  const ConsentRow grant = Grant("pat-a", "acc_dr_who", {Key("pat-a", "r1")});
  audit_.fail = true;
  ExpectError(service_->AnswerConsent(Doctor("acc_dr_who"), grant.consent_id, Content(), kFrom),
              ErrorCode::kUnavailable);
  ExpectError(service_->RevokeConsent(Patient("pat-a"), grant.consent_id, kFrom),
              ErrorCode::kUnavailable);
  // Reads are not served when they cannot be audited.
  ExpectError(service_->Inbox(Doctor("acc_dr_who"), kFrom), ErrorCode::kUnavailable);
  ExpectError(service_->Statistics(Admin(), kFrom), ErrorCode::kUnavailable);
  // A refusal that cannot be audited fails too.
  ExpectError(service_->Inbox(Patient("pat-a"), kFrom), ErrorCode::kUnavailable);
  audit_.fail = false;
  EXPECT_TRUE(service_->ListMyAnswers(Patient("pat-a"), kFrom).value().empty());
  EXPECT_TRUE(service_->ListMyConsents(Patient("pat-a"), kFrom).value()[0].active());
}

TEST_P(ClinicalServiceTest, AuditEntriesSayWhoDidWhatToWhomFromWhere) {
  AddPatient("pat-a", "cloudlet-1", {"r1"});
  Activate("pat-a", "cloudlet-1");
  audit_.entries.clear();
  const ConsentRow grant = Grant("pat-a", "acc_dr_who", {Key("pat-a", "r1")});
  ASSERT_EQ(audit_.entries.size(), 1U);
  const audit::AuditEntry& e = audit_.entries[0];
  EXPECT_EQ(e.event, "consent.grant");
  EXPECT_EQ(e.action, audit::Action::kCreate);
  EXPECT_EQ(e.outcome, audit::Outcome::kSuccess);
  EXPECT_EQ(e.actor_account_id, "acc_pat-a");
  EXPECT_EQ(e.actor_role, "patient");
  EXPECT_EQ(e.source_address, kFrom);
  EXPECT_EQ(e.patient_id, "pat-a");
  EXPECT_EQ(e.entity_type, "Consent");
  EXPECT_EQ(e.entity_id, grant.consent_id);
  EXPECT_EQ(e.time_ms, wire::NowMs(clock_));
  // Nothing medical in the audit log.
  ASSERT_TRUE(service_->AnswerConsent(Doctor("acc_dr_who"), grant.consent_id, Content(), kFrom));
  for (const audit::AuditEntry& entry : audit_.entries) {
    EXPECT_EQ(entry.detail.find("Amlodipine"), std::string::npos);
    EXPECT_EQ(entry.detail.find("hypertension"), std::string::npos);
  }
}

// --- 7. Statistics -----------------------------------------------------------------------------

TEST_P(ClinicalServiceTest, ChartsCountDistinctPatientsAndSuppressSmallCounts) {
  // Five patients with "cough"; two of them also with "rash" (below the three-part store's k of
  // 5); four patients referred to dr_who, two to dr_no (below the service's k of 3).
  for (int i = 0; i < 5; ++i) {
    const std::string p = "pat-" + std::to_string(i);
    AddPatient(
        p, "cloudlet-1", {"r1", "r2"},
        i < 2 ? std::vector<std::string>{"cough", "rash"} : std::vector<std::string>{"cough"});
    Activate(p, "cloudlet-1");
    if (i < 4) {
      Grant(p, "acc_dr_who", {Key(p, "r1")});
      Grant(p, "acc_dr_who", {Key(p, "r2")});  // the same patient again: counted once
    }
    if (i >= 3) Grant(p, "acc_dr_no", {Key(p, "r1")});
  }
  for (const Principal& who : {Admin(), Operator("cloudlet-1"), Doctor("acc_dr_no")}) {
    auto stats = service_->Statistics(who, kFrom);
    ASSERT_TRUE(stats) << stats.error().ToString();
    EXPECT_EQ(stats->k, 3U);
    EXPECT_EQ(stats->symptoms, (std::vector<MedicalCount>{{"cough", 5}}));
    EXPECT_EQ(stats->suppressed_symptoms, 1U);
    EXPECT_EQ(stats->doctors, (std::vector<DoctorCount>{{"acc_dr_who", 4}}));
    EXPECT_EQ(stats->suppressed_doctors, 1U);
  }
  ExpectError(service_->Statistics(Patient("pat-0"), kFrom), ErrorCode::kPermissionDenied);
  // A revoked grant still counts as a referral: the chart is about who was consulted.
  const auto consents = service_->ListMyConsents(Patient("pat-3"), kFrom).value();
  for (const ConsentRow& c : consents) {
    ASSERT_TRUE(service_->RevokeConsent(Patient("pat-3"), c.consent_id, kFrom));
  }
  EXPECT_EQ(service_->Statistics(Admin(), kFrom).value().doctors,
            (std::vector<DoctorCount>{{"acc_dr_who", 4}}));
}

TEST_P(ClinicalServiceTest, KBelowTwoIsRefused) {
  ClinicalHooks hooks;
  hooks.is_approved_doctor = [](std::string_view) -> Result<bool> { return true; };
  hooks.cloudlets_of_patient = [](std::string_view) -> Result<std::vector<std::string>> {
    return std::vector<std::string>{};
  };
  EXPECT_FALSE(ClinicalService::Create(*clinical_, *three_, three_->envelope(RecordPart::kEi),
                                       audit_, clock_, random_, hooks, {.statistics_k = 1}));
  EXPECT_FALSE(ClinicalService::Create(*clinical_, *three_, three_->envelope(RecordPart::kEi),
                                       audit_, clock_, random_, {}, {}));
}

// --- The store on its own ----------------------------------------------------------------------

TEST_P(ClinicalServiceTest, StoreWritesAreAllOrNothingWhenTheGateRefuses) {
  ConsentRow consent{"cns_1", "pat-a", "acc_dr_who", {{"d", "r1"}, {"d", "r2"}}, 5, std::nullopt};
  const auto refuse = [] { return Unavailable("no"); };
  EXPECT_FALSE(clinical_->InsertConsent(consent, refuse));
  EXPECT_FALSE(clinical_->GetConsent("cns_1").value().has_value());
  ASSERT_TRUE(clinical_->InsertConsent(consent, nullptr));
  EXPECT_EQ(clinical_->GetConsent("cns_1").value(), consent);
  EXPECT_EQ(clinical_->InsertConsent(consent, nullptr).error().code(), ErrorCode::kAlreadyExists);
  EXPECT_FALSE(clinical_->RevokeConsent("cns_1", 9, refuse));
  EXPECT_TRUE(clinical_->GetConsent("cns_1").value()->active());
  EXPECT_TRUE(clinical_->RevokeConsent("cns_1", 9, nullptr).value());
  EXPECT_FALSE(clinical_->RevokeConsent("cns_1", 10, nullptr).value());
  EXPECT_EQ(clinical_->GetConsent("cns_1").value()->revoked_ms, 9);
  // No answer on a revoked grant, whatever the caller checked before.
  AnswerRow answer{"ans_1", "cns_1", "pat-a", "acc_dr_who", 11, false, Bytes(10, 1)};
  EXPECT_EQ(clinical_->InsertAnswer(answer, nullptr).error().code(),
            ErrorCode::kFailedPrecondition);

  ActivationRow activation{"act_1", "pat-a", "c1", ActivationStatus::kRequested, "", "", 1, 0};
  EXPECT_FALSE(clinical_->InsertActivation(activation, refuse));
  EXPECT_FALSE(clinical_->GetActivation("act_1").value().has_value());
  ASSERT_TRUE(clinical_->InsertActivation(activation, nullptr));
  EXPECT_FALSE(
      clinical_->DecideActivation("act_1", ActivationStatus::kApproved, "", "op", 2, refuse));
  EXPECT_EQ(clinical_->GetActivation("act_1").value()->status, ActivationStatus::kRequested);
  EXPECT_EQ(clinical_->DecideActivation("act_9", ActivationStatus::kApproved, "", "op", 2, nullptr)
                .error()
                .code(),
            ErrorCode::kNotFound);
}

std::string BackendParamName(const ::testing::TestParamInfo<BackendKind>& param) {
  return std::string(store::testing::BackendKindName(param.param));
}

INSTANTIATE_TEST_SUITE_P(, ClinicalServiceTest,
                         ::testing::Values(BackendKind::kSqlite, BackendKind::kPostgres),
                         BackendParamName);

}  // namespace
}  // namespace medmesh::cloud

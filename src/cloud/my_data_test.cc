// A patient's own data (my_data_service.h, my_data_api.h, my_data_rollups.h) on SQLite and on
// PostgreSQL (instances .../Sqlite and .../Postgres; ctest runs the latter as
// cloud_my_data_postgres_test with the test cluster): readings reach the cloud through the real
// ForwardIntake and through SeedReadings, downsampled answers are checked against the raw
// readings decrypted from the batches (CloudReadings), records are forwarded by a test
// cloudlet and altered straight in the database, and the routes run over loopback HTTP.
#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "accounts/encoding.h"
#include "audit/recording_audit_sink.h"
#include "cloud/my_data_api.h"
#include "cloud/my_data_seed.h"
#include "cloud/my_data_service.h"
#include "cloud/postgres_clinical_store.h"
#include "cloud/postgres_intake_store.h"
#include "cloud/sqlite_clinical_store.h"
#include "cloud/sqlite_intake_store.h"
#include "cloud/test_cloudlet.h"
#include "crypto/keyed_hash.h"
#include "net/http_client.h"
#include "net/http_server.h"
#include "net/metrics.h"
#include "node/test_support.h"
#include "store/ids_event_log.h"
#include "store/record_store_test_backend.h"
#include "testing/fake_random.h"
#include "testing/temp_dir.h"
#include "wire/readings_codec.h"
#include "wire/record_codec.h"

namespace medmesh::cloud {
namespace {

using accounts::Principal;
using accounts::Role;
using store::testing::BackendKind;
using testing::TestCloudlet;
using Json = nlohmann::json;

constexpr std::int64_t kMinute = 60'000;
constexpr std::int64_t kHour = 60 * kMinute;
constexpr std::int64_t kDay = 24 * kHour;
// 2026-11-01T00:00:00Z: the seeded readings start here.
constexpr std::int64_t kSeedStart = 1'793'491'200'000;

using audit::testing::RecordingAuditSink;

// No cloudlet holds copies here: these tests never restore.
class NoCopies final : public CloudletCopySource {
 public:
  Result<Bytes> FetchCopy(std::string_view, const ItemRef&) override {
    return NotFound("no copies in this test");
  }
};

Principal Patient(std::string patient_id) {
  return Principal{"acc_" + patient_id, Role::kPatient, std::move(patient_id), "", "ses", 0, false};
}
Principal Operator(std::string cloudlet_id) {
  return Principal{"acc_op", Role::kOperator, "", std::move(cloudlet_id), "ses", 0, false};
}
Principal OfRole(Role role) { return Principal{"acc_x", role, "", "", "ses", 0, false}; }

// The header "X-Test-As: patient:<id>" (or doctor, operator:<cloudlet>, admin) names the caller.
Result<Principal> TestAuthenticate(const net::Request& r) {
  const auto as = r.Header("X-Test-As");
  if (!as) return Unauthenticated("no session");
  const std::string value(*as);
  const std::size_t colon = value.find(':');
  const std::string role = value.substr(0, colon);
  const std::string id = colon == std::string::npos ? "" : value.substr(colon + 1);
  if (role == "patient") return Patient(id);
  if (role == "operator") return Operator(id);
  if (role == "doctor") return OfRole(Role::kDoctor);
  if (role == "admin") return OfRole(Role::kAdmin);
  return Unauthenticated("bad test session");
}

// The aggregate of `readings` of `kind` in [from, to).
ReadingAggregate Expected(const std::vector<wire::Reading>& readings, wire::VitalKind kind,
                          std::int64_t from, std::int64_t to) {
  ReadingAggregate a;
  for (const wire::Reading& r : readings) {
    if (r.kind == kind && r.time_ms >= from && r.time_ms < to) a.Add(r.value_milli);
  }
  return a;
}

class MyDataTest : public ::testing::TestWithParam<BackendKind> {
 protected:
  void SetUp() override {
    deployment_.emplace(dir_.path() / "pki");
    root_ = deployment_->Root();
    cloud_ = std::make_unique<node::NodeIdentity>(
        deployment_->Identity(wire::CertificateRole::kCloud, "cloud").value());
    cloud_certificate_.emplace(wire::VerifyCertificate(cloud_->certificate.encoded(), root_->key,
                                                       wire::CertificateRole::kCloud,
                                                       wire::NowMs(clock_))
                                   .value());
    for (int i = 1; i <= 2; ++i) {
      const std::string n = std::to_string(i);
      cloudlets_.push_back(std::make_unique<TestCloudlet>(
          deployment_->Identity(wire::CertificateRole::kCloudlet, "cloudlet-" + n).value(),
          "watch-" + n, "patient-" + n, random_, clock_));
    }
    backend_ = store::testing::MakeTestBackend(GetParam()).value();
    store_ = backend_->Open().value();
    medmesh::testing::DeterministicRandom key_random(11);
    SecretBytes index(kThreePartSecretBytes);
    SecretBytes pseudonym(kThreePartSecretBytes);
    key_random.Fill(index.mutable_bytes());
    key_random.Fill(pseudonym.mutable_bytes());
    three_ = ThreePartStore::Create(*store_,
                                    {crypto::KeyEncryptionKey::Generate(key_random),
                                     crypto::KeyEncryptionKey::Generate(key_random),
                                     crypto::KeyEncryptionKey::Generate(key_random),
                                     std::move(index), std::move(pseudonym)},
                                    random_, clock_)
                 .value();
    if (GetParam() == BackendKind::kSqlite) {
      intake_path_ = dir_.File("intake.db");
      intake_ = SqliteIntakeStore::Open(intake_path_).value();
      clinical_store_ = SqliteClinicalStore::Open(dir_.File("clinical.db")).value();
    } else {
      // NOLINTNEXTLINE(concurrency-mt-unsafe): read before the test starts any thread
      const char* pg = std::getenv(store::testing::kTestPostgresEnv);
      ASSERT_NE(pg, nullptr) << "MEDMESH_TEST_PG is not set: run through ctest";
      conninfo_ = pg;
      const std::string prefix = "m" + HexEncode(random_.Generate(6)) + "_";
      auto intake = PostgresIntakeStore::Open({.conninfo = conninfo_, .schema_prefix = prefix});
      ASSERT_TRUE(intake) << intake.error().ToString();
      pg_schema_ = (*intake)->schema();
      intake_ = std::move(*intake);
      clinical_store_ =
          PostgresClinicalStore::Open({.conninfo = conninfo_, .schema_prefix = prefix}).value();
    }
    ids_ = store::IdsEventLog::Open(dir_.File("ids.db")).value();
    opener_ = crypto::NewHybridOpener(cloud_->kem_key.Clone());
    SecretBytes refs_secret(32);
    random_.Fill(refs_secret.mutable_bytes());
    forward_ = std::make_unique<ForwardIntake>(
        ForwardIntakeContext{"cloud", *root_, *opener_, *three_, *intake_, *ids_, clock_, metrics_},
        crypto::HashKey::Derive(refs_secret, "test", "references").value());
    integrity_ = std::make_unique<IntegrityService>(IntegrityServiceContext{
        *three_, *intake_, *forward_, *root_, *opener_, copies_, audit_, clock_, random_});
    ClinicalHooks hooks;
    hooks.is_approved_doctor = [](std::string_view) -> Result<bool> { return false; };
    hooks.cloudlets_of_patient = [this](std::string_view patient_id) {
      return intake_->CloudletsOfPatient(patient_id);
    };
    clinical_ =
        ClinicalService::Create(*clinical_store_, *three_, three_->envelope(store::RecordPart::kEi),
                                audit_, clock_, random_, std::move(hooks))
            .value();
    service_ = std::make_unique<MyDataService>(
        MyDataContext{*three_, *intake_, *clinical_, *integrity_, audit_, clock_});
    for (auto& c : cloudlets_) {
      ExpectAck(forward_->RegisterCloudlet(c->certificate(), "10.0.0.1"));
      ExpectAck(forward_->AddEnrolment(c->EnrolmentRecord(), "10.0.0.1"));
    }
  }

  static void ExpectAck(const IntakeResult& result) {
    const auto* rejection = std::get_if<IntakeRejection>(&result);
    ASSERT_EQ(rejection, nullptr) << rejection->error.ToString();
  }

  TestCloudlet& Cloudlet(int i) { return *cloudlets_[static_cast<std::size_t>(i)]; }

  // Patient i+1's portal, approved by the operator of cloudlet i+1.
  void Activate(int i) {
    const std::string patient = "patient-" + std::to_string(i + 1);
    const std::string cloudlet = "cloudlet-" + std::to_string(i + 1);
    auto asked = clinical_->RequestActivation(Patient(patient), cloudlet, "192.0.2.1");
    ASSERT_TRUE(asked) << asked.error().ToString();
    auto decided = clinical_->DecideActivation(Operator(cloudlet), asked->activation_id, true, "",
                                               "192.0.2.1");
    ASSERT_TRUE(decided) << decided.error().ToString();
  }

  // Seeds patient i+1's device with `days` days of readings from kSeedStart.
  void Seed(int i, std::int64_t days) {
    TestCloudlet& c = Cloudlet(i);
    const SeedDevice device{c.enrolment().device_id, c.enrolment().patient_id, c.id(),
                            c.device_key()};
    auto stored =
        SeedReadings(*forward_, *three_, *intake_, device,
                     {.from_ms = kSeedStart, .to_ms = kSeedStart + days * kDay}, random_, clock_);
    ASSERT_TRUE(stored) << stored.error().ToString();
    EXPECT_EQ(*stored, static_cast<std::uint64_t>(days * 24));
  }

  // Forwards a record of patient i+1's device created at `created_ms`.
  void StoreRecord(int i, const std::string& record_id, std::int64_t created_ms) {
    TestCloudlet& c = Cloudlet(i);
    wire::PatientRecord record = c.Record(record_id);
    record.created_ms = created_ms;
    const Bytes payload = wire::EncodePatientRecord(record).value();
    const wire::OpenedUpload opened = c.Upload(wire::ContentType::kPatientRecord, payload);
    ExpectAck(forward_->AcceptForward(c.Forward(opened, *cloud_certificate_), "10.0.0.1"));
  }

  // The raw readings of patient i+1, decrypted from the batches.
  std::vector<wire::Reading> Raw(int i, std::int64_t from, std::int64_t to) {
    CloudReadings raw(*intake_, *three_, 100000);
    return raw.Read("patient-" + std::to_string(i + 1), from, to).value();
  }

  ReadingSeries Series(wire::VitalKind kind, std::int64_t from, std::int64_t to,
                       std::size_t points) {
    auto s = service_->Readings(Patient("patient-1"), {kind, from, to, points}, "192.0.2.1");
    EXPECT_TRUE(s) << s.error().ToString();
    return s ? *s : ReadingSeries{};
  }

  // Each bucket equals the raw readings of its time span; the buckets cover the range.
  void ExpectBucketsMatchRaw(const ReadingSeries& s, const std::vector<wire::Reading>& raw) {
    ASSERT_GT(s.bucket_ms, 0);
    EXPECT_EQ(s.from_ms % s.bucket_ms, 0);
    EXPECT_EQ(s.to_ms % s.bucket_ms, 0);
    std::uint64_t total = 0;
    std::size_t nonempty = 0;
    for (std::int64_t start = s.from_ms; start < s.to_ms; start += s.bucket_ms) {
      const ReadingAggregate want = Expected(raw, s.kind, start, start + s.bucket_ms);
      if (want.count == 0) continue;
      ASSERT_LT(nonempty, s.buckets.size());
      const RollupBucket& got = s.buckets[nonempty++];
      EXPECT_EQ(got.start_ms, start);
      EXPECT_EQ(got.aggregate, want);
      total += want.count;
    }
    EXPECT_EQ(nonempty, s.buckets.size());
    EXPECT_EQ(s.count, total);
  }

  // The rows of an intake table ("{t}" is the schema qualifier) matching `where`.
  std::int64_t CountRows(const std::string& table, const std::string& where) {
    const std::string q = pg_schema_.empty() ? "" : "\"" + pg_schema_ + "\".";
    const std::string sql = "SELECT COUNT(*) FROM " + q + table + " WHERE " + where;
    if (GetParam() == BackendKind::kSqlite) {
      SQLite::Database db(intake_path_, SQLite::OPEN_READONLY);
      return db.execAndGet(sql).getInt64();
    }
    pqxx::connection c(conninfo_);
    pqxx::work w(c);
    return w.exec(sql)[0][0].as<std::int64_t>();
  }
  void IntakeSql(const std::string& sql_with_t) {
    std::string sql;
    const std::string q = pg_schema_.empty() ? "" : "\"" + pg_schema_ + "\".";
    for (std::size_t i = 0; i < sql_with_t.size(); ++i) {
      if (sql_with_t.compare(i, 3, "{t}") == 0) {
        sql += q;
        i += 2;
      } else {
        sql += sql_with_t[i];
      }
    }
    if (GetParam() == BackendKind::kSqlite) {
      SQLite::Database db(intake_path_, SQLite::OPEN_READWRITE);
      db.exec(sql);
    } else {
      pqxx::connection c(conninfo_);
      pqxx::work w(c);
      w.exec(sql);
      w.commit();
    }
  }

  medmesh::testing::TempDir dir_;
  SystemClock clock_;
  SystemRandom random_;
  std::optional<node::testing::TestDeployment> deployment_;
  std::optional<node::RootOfTrust> root_;
  std::unique_ptr<node::NodeIdentity> cloud_;
  std::optional<wire::VerifiedCertificate> cloud_certificate_;
  std::vector<std::unique_ptr<TestCloudlet>> cloudlets_;
  std::unique_ptr<store::testing::TestBackend> backend_;
  std::unique_ptr<store::RecordStore> store_;
  std::unique_ptr<ThreePartStore> three_;
  std::string intake_path_;
  std::string conninfo_;
  std::string pg_schema_;
  std::unique_ptr<IntakeStore> intake_;
  std::unique_ptr<ClinicalStore> clinical_store_;
  std::unique_ptr<store::IdsEventLog> ids_;
  std::unique_ptr<crypto::HybridOpener> opener_;
  net::MetricsRegistry metrics_;
  std::unique_ptr<ForwardIntake> forward_;
  RecordingAuditSink audit_;
  NoCopies copies_;
  std::unique_ptr<IntegrityService> integrity_;
  std::unique_ptr<ClinicalService> clinical_;
  std::unique_ptr<MyDataService> service_;
};

TEST_P(MyDataTest, DownsampledReadingsMatchTheRawReadingsForEveryRangeAndKind) {
  Activate(0);
  Seed(0, 3);
  const std::vector<wire::Reading> raw = Raw(0, kSeedStart - kDay, kSeedStart + 4 * kDay);
  ASSERT_EQ(raw.size(), 3u * 3 * 24 * 60);

  // A day that starts off the grid: 5-minute buckets, widened to whole buckets.
  const std::int64_t from = kSeedStart + kDay + 7 * kMinute + 13'000;
  ReadingSeries day = Series(wire::VitalKind::kHeartRate, from, from + kDay, 300);
  EXPECT_EQ(day.bucket_ms, 5 * kMinute);
  EXPECT_LE(day.buckets.size(), 300u);
  EXPECT_LE(day.from_ms, from);
  EXPECT_GE(day.to_ms, from + kDay);
  ExpectBucketsMatchRaw(day, raw);
  EXPECT_TRUE(day.readings.empty());

  // Three days in 10 points: 8-hour buckets from hourly roll-ups; in 2 points: 2-day buckets.
  ReadingSeries coarse = Series(wire::VitalKind::kSpO2, kSeedStart, kSeedStart + 3 * kDay, 10);
  EXPECT_EQ(coarse.bucket_ms, 8 * kHour);
  EXPECT_EQ(coarse.buckets.size(), 9u);
  ExpectBucketsMatchRaw(coarse, raw);
  ReadingSeries two =
      Series(wire::VitalKind::kBodyTemperature, kSeedStart - kDay, kSeedStart + 3 * kDay, 2);
  EXPECT_EQ(two.bucket_ms, 3 * kDay);  // 2 days would need 3 buckets on the 2-day grid
  EXPECT_LE(two.buckets.size(), 2u);
  ExpectBucketsMatchRaw(two, raw);
  // A year asked of three days of data: daily roll-ups, the same totals.
  ReadingSeries year =
      Series(wire::VitalKind::kHeartRate, kSeedStart - 300 * kDay, kSeedStart + 65 * kDay, 365);
  EXPECT_EQ(year.bucket_ms, kDay);
  ExpectBucketsMatchRaw(year, raw);
  EXPECT_EQ(year.count, 3u * 24 * 60);

  // Few readings: the readings themselves, exactly those of the range and kind.
  const std::int64_t short_from = kSeedStart + 90 * kMinute + 1;
  ReadingSeries few = Series(wire::VitalKind::kSpO2, short_from, short_from + 30 * kMinute, 300);
  EXPECT_EQ(few.bucket_ms, 0);
  EXPECT_EQ(few.from_ms, short_from);
  std::vector<wire::Reading> want;
  for (const wire::Reading& r : raw) {
    if (r.kind == wire::VitalKind::kSpO2 && r.time_ms >= short_from &&
        r.time_ms < short_from + 30 * kMinute) {
      want.push_back(r);
    }
  }
  EXPECT_EQ(want.size(), 30u);
  EXPECT_EQ(few.readings, want);
  EXPECT_EQ(few.count, 30u);

  // A kind without readings, and a range without any: nothing, not an error.
  EXPECT_EQ(Series(wire::VitalKind::kGlucose, kSeedStart, kSeedStart + kDay, 300).count, 0u);
  EXPECT_EQ(Series(wire::VitalKind::kHeartRate, kSeedStart - 400 * kDay, kSeedStart, 300).count,
            0u);
  // Another patient's readings are not in patient-1's.
  Activate(1);
  auto other = service_->Readings(Patient("patient-2"),
                                  {wire::VitalKind::kHeartRate, kSeedStart, kSeedStart + kDay, 300},
                                  "192.0.2.1");
  ASSERT_TRUE(other) << other.error().ToString();
  EXPECT_EQ(other->count, 0u);
  EXPECT_GE(audit_.Count("readings.read", audit::Outcome::kSuccess), 8u);
}

TEST_P(MyDataTest, ForwardedBatchesGetTheirRollupsInTheSameTransaction) {
  Activate(0);
  TestCloudlet& c = Cloudlet(0);
  const std::int64_t end = wire::NowMs(clock_);
  const Bytes payload = wire::EncodeReadings(node::testing::HeartRate(end, 600)).value();
  const wire::OpenedUpload opened = c.Upload(wire::ContentType::kReadingsBatch, payload);
  ExpectAck(forward_->AcceptForward(c.Forward(opened, *cloud_certificate_), "10.0.0.1"));
  // The same forward again adds nothing to the roll-ups.
  ExpectAck(forward_->AcceptForward(c.Forward(opened, *cloud_certificate_), "10.0.0.1"));
  const std::string pseudonym = three_->Pseudonym("patient-1");
  EXPECT_TRUE(intake_->RollupsComplete(pseudonym).value());
  const std::vector<wire::Reading> raw = Raw(0, end - kDay, end + kDay);
  ASSERT_EQ(raw.size(), 600u);
  ReadingSeries s = Series(wire::VitalKind::kHeartRate, end - kDay, end + 1, 100);
  ExpectBucketsMatchRaw(s, raw);
  EXPECT_EQ(s.count, 600u);
  // No batch is decrypted by the roll-ups' reader: altering the batch leaves them readable.
  EXPECT_GT(CountRows("reading_rollups", "pseudonym = '" + pseudonym + "'"), 0);
}

TEST_P(MyDataTest, RollupsMissingOrMarkedIncompleteAreRebuiltFromTheBatches) {
  Activate(0);
  Seed(0, 2);
  const std::vector<wire::Reading> raw = Raw(0, kSeedStart, kSeedStart + 2 * kDay);
  const std::string pseudonym = three_->Pseudonym("patient-1");
  // As a database from before roll-ups: none, and not marked complete.
  IntakeSql("DELETE FROM {t}reading_rollups; DELETE FROM {t}rollup_complete");
  EXPECT_FALSE(intake_->RollupsComplete(pseudonym).value());
  ReadingSeries s = Series(wire::VitalKind::kHeartRate, kSeedStart, kSeedStart + 2 * kDay, 48);
  EXPECT_EQ(s.bucket_ms, kHour);
  ExpectBucketsMatchRaw(s, raw);
  EXPECT_TRUE(intake_->RollupsComplete(pseudonym).value());
  // A batch stored without roll-ups marks them incomplete; the next read counts it too.
  auto row = intake_->GetReadingBatch(intake_->ListBatchRefs(pseudonym).value().front()).value();
  ASSERT_TRUE(row.has_value());
  row->batch_ref = std::string(64, 'f');
  ASSERT_EQ(intake_->PutReadingBatch(*row).value(), IntakeOutcome::kInserted);
  EXPECT_FALSE(intake_->RollupsComplete(pseudonym).value());
  // (The copy is bound to its own reference, so it no longer decrypts: the rebuild says so.)
  auto refused = service_->Readings(
      Patient("patient-1"), {wire::VitalKind::kHeartRate, kSeedStart, kSeedStart + kDay, 48},
      "192.0.2.1");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), ErrorCode::kDataLoss);
  EXPECT_EQ(audit_.Count("readings.read", audit::Outcome::kSeriousFailure), 1u);
}

TEST_P(MyDataTest, AStoredBucketAlteredInTheDatabaseIsReportedNotShown) {
  Activate(0);
  Seed(0, 1);
  IntakeSql(GetParam() == BackendKind::kSqlite
                ? "UPDATE {t}reading_rollups SET ciphertext = substr(ciphertext, 1, 40) ||"
                  " CASE WHEN substr(ciphertext, 41, 1) = X'00' THEN X'01' ELSE X'00' END ||"
                  " substr(ciphertext, 42) WHERE width_ms = 300000"
                : "UPDATE {t}reading_rollups SET ciphertext = set_byte(ciphertext, 40,"
                  " get_byte(ciphertext, 40) # 1) WHERE width_ms = 300000");
  auto s = service_->Readings(Patient("patient-1"),
                              {wire::VitalKind::kHeartRate, kSeedStart, kSeedStart + kDay, 300},
                              "192.0.2.1");
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), ErrorCode::kDataLoss);
  // The hourly ones were not touched.
  EXPECT_GT(Series(wire::VitalKind::kHeartRate, kSeedStart, kSeedStart + kDay, 24).count, 0u);
}

TEST_P(MyDataTest, RecordsArePagedNewestFirstAndEachShowsItsStoredFormAndVerdict) {
  Activate(0);
  for (int i = 0; i < 5; ++i) StoreRecord(0, "rec-" + std::to_string(i), kSeedStart + i * kHour);
  StoreRecord(1, "rec-other", kSeedStart);
  std::vector<std::string> seen;
  std::string cursor;
  for (int page = 0; page < 3; ++page) {
    auto p = service_->Records(Patient("patient-1"), cursor, 2, "192.0.2.1");
    ASSERT_TRUE(p) << p.error().ToString();
    for (const auto& e : p->records) {
      ASSERT_TRUE(e.record.has_value());
      EXPECT_FALSE(e.failed.has_value());
      seen.push_back(e.record_id);
    }
    EXPECT_EQ(p->next_cursor.has_value(), page < 2);
    if (!p->next_cursor) break;
    cursor = *p->next_cursor;
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"rec-4", "rec-3", "rec-2", "rec-1", "rec-0"}));
  auto bad = service_->Records(Patient("patient-1"), "bm90LWEtY3Vyc29y", 2, "192.0.2.1");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(service_->Records(Patient("patient-1"), "", 0, "192.0.2.1").error().code(),
            ErrorCode::kInvalidArgument);

  auto view = service_->Record(Patient("patient-1"), "watch-1", "rec-2", "192.0.2.1");
  ASSERT_TRUE(view) << view.error().ToString();
  ASSERT_TRUE(view->record.has_value());
  EXPECT_EQ(view->record->record.created_ms, kSeedStart + 2 * kHour);
  EXPECT_TRUE(view->verification.ok());
  EXPECT_GT(view->verification.chain_seq, 0u);
  for (const Bytes* part : {&view->stored.link_ciphertext, &view->stored.ei_ciphertext,
                            &view->stored.qi_ciphertext, &view->stored.mi_ciphertext}) {
    EXPECT_GT(part->size(), 40u);
  }
  EXPECT_EQ(view->stored.digest, view->record->digest);
  // The stored form is ciphertext: the record's name is not in it.
  const std::string name = view->record->record.name;
  ASSERT_FALSE(name.empty());
  for (const Bytes* part : {&view->stored.ei_ciphertext, &view->stored.link_ciphertext}) {
    EXPECT_EQ(AsStringView(*part).find(name), std::string_view::npos);
  }
  EXPECT_GE(audit_.Count("record.read", audit::Outcome::kSuccess), 1u);
  EXPECT_GE(audit_.Count("record.verify", audit::Outcome::kSuccess), 1u);
  EXPECT_EQ(audit_.Count("record.list", audit::Outcome::kSuccess), 3u);
}

TEST_P(MyDataTest, ARecordAlteredInTheDatabaseShowsWhichCheckFailed) {
  Activate(0);
  StoreRecord(0, "rec-1", kSeedStart);
  ASSERT_TRUE(backend_->DropChainProtection());
  // The MI row of rec-1 gets a flipped byte; rec-2 comes after.
  const Status flipped =
      backend_->FlipByte("mi", "ciphertext", "pseudonym", three_->Pseudonym("patient-1"), 30);
  ASSERT_TRUE(flipped) << flipped.error().ToString();
  StoreRecord(0, "rec-2", kSeedStart + kHour);
  auto view = service_->Record(Patient("patient-1"), "watch-1", "rec-1", "192.0.2.1");
  ASSERT_TRUE(view) << view.error().ToString();
  EXPECT_FALSE(view->record.has_value());
  ASSERT_TRUE(view->verification.failed.has_value());
  EXPECT_EQ(IntegrityCheckName(*view->verification.failed), "decrypt");
  EXPECT_FALSE(view->stored.mi_ciphertext.empty());
  EXPECT_FALSE(view->stored.link_ciphertext.empty());
  EXPECT_EQ(audit_.Count("record.verify", audit::Outcome::kMajorFailure), 1u);
  // The list still names both: the intact one first, the damaged one with its check.
  auto page = service_->Records(Patient("patient-1"), "", 10, "192.0.2.1");
  ASSERT_TRUE(page) << page.error().ToString();
  ASSERT_EQ(page->records.size(), 2u);
  EXPECT_EQ(page->records[0].record_id, "rec-2");
  EXPECT_TRUE(page->records[0].record.has_value());
  EXPECT_EQ(page->records[1].record_id, "rec-1");
  EXPECT_FALSE(page->records[1].record.has_value());
  ASSERT_TRUE(page->records[1].failed.has_value());
  EXPECT_EQ(IntegrityCheckName(*page->records[1].failed), "decrypt");
  auto intact = service_->Record(Patient("patient-1"), "watch-1", "rec-2", "192.0.2.1");
  ASSERT_TRUE(intact) << intact.error().ToString();
  EXPECT_TRUE(intact->verification.ok());
}

TEST_P(MyDataTest, OnlyPatientsWithAnActivePortalSeeAnything) {
  StoreRecord(0, "rec-1", kSeedStart);
  const ReadingsQuery q{wire::VitalKind::kHeartRate, kSeedStart, kSeedStart + kDay, 300};
  // Not yet activated: the clinical routes' refusal.
  for (auto& call : std::vector<std::function<Error()>>{
           [&] { return service_->Readings(Patient("patient-1"), q, "a").error(); },
           [&] { return service_->Records(Patient("patient-1"), "", 10, "a").error(); },
           [&] {
             return service_->Record(Patient("patient-1"), "watch-1", "rec-1", "a").error();
           }}) {
    const Error e = call();
    EXPECT_EQ(e.code(), ErrorCode::kPermissionDenied);
    EXPECT_EQ(e.message(), kPortalInactiveMessage);
  }
  Activate(0);
  for (const Principal& who :
       {OfRole(Role::kDoctor), Operator("cloudlet-1"), OfRole(Role::kAdmin)}) {
    for (auto& call : std::vector<std::function<Error()>>{
             [&] { return service_->Readings(who, q, "a").error(); },
             [&] { return service_->Records(who, "", 10, "a").error(); },
             [&] { return service_->Record(who, "watch-1", "rec-1", "a").error(); }}) {
      const Error e = call();
      EXPECT_EQ(e.code(), ErrorCode::kPermissionDenied);
      EXPECT_EQ(e.message(), kRoleDeniedMessage);
    }
  }
  EXPECT_EQ(audit_.Count("readings.read", audit::Outcome::kMinorFailure), 4u);
  EXPECT_EQ(audit_.Count("record.list", audit::Outcome::kMinorFailure), 4u);
  EXPECT_EQ(audit_.Count("record.read", audit::Outcome::kMinorFailure), 4u);
  // Bad parameters, once allowed in.
  for (const ReadingsQuery& bad :
       {ReadingsQuery{wire::VitalKind::kHeartRate, 10, 10, 300},
        ReadingsQuery{wire::VitalKind::kHeartRate, -1, 10, 300},
        ReadingsQuery{wire::VitalKind::kHeartRate, 0, kMaxSeriesRangeMs + 1, 300},
        ReadingsQuery{wire::VitalKind::kHeartRate, 0, 10, 0},
        ReadingsQuery{wire::VitalKind::kHeartRate, 0, 10, kMaxSeriesPoints + 1}}) {
    auto s = service_->Readings(Patient("patient-1"), bad, "a");
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().code(), ErrorCode::kInvalidArgument);
  }
  // A failing audit log fails the read.
  audit_.fail = true;
  EXPECT_EQ(service_->Records(Patient("patient-1"), "", 10, "a").error().code(),
            ErrorCode::kUnavailable);
}

TEST_P(MyDataTest, ForeignUnknownAndImpossibleRecordsAreTheSameNotFound) {
  Activate(0);
  Activate(1);
  StoreRecord(0, "rec-1", kSeedStart);
  StoreRecord(1, "rec-2", kSeedStart);
  ASSERT_TRUE(service_->Record(Patient("patient-2"), "watch-2", "rec-2", "a"));
  for (const auto& [device, record] :
       std::vector<std::pair<std::string, std::string>>{{"watch-1", "rec-1"},
                                                        {"watch-2", "rec-1"},
                                                        {"watch-9", "rec-1"},
                                                        {"watch-1", "no such"},
                                                        {"../x", "rec-1"}}) {
    auto v = service_->Record(Patient("patient-2"), device, record, "a");
    ASSERT_FALSE(v);
    EXPECT_EQ(v.error().code(), ErrorCode::kNotFound);
    EXPECT_EQ(v.error().message(), kNotFoundMessage);
  }
  auto list = service_->Records(Patient("patient-2"), "", 10, "a");
  ASSERT_TRUE(list);
  ASSERT_EQ(list->records.size(), 1u);
  EXPECT_EQ(list->records[0].record_id, "rec-2");
}

TEST_P(MyDataTest, DeletingThePatientLeavesNoRollupThatDecrypts) {
  Activate(0);
  Seed(0, 1);
  const std::string pseudonym = three_->Pseudonym("patient-1");
  const auto before =
      intake_
          ->ListRollups(pseudonym, static_cast<std::uint8_t>(wire::VitalKind::kHeartRate), kHour, 0,
                        kSeedStart + kDay, 100)
          .value();
  ASSERT_EQ(before.size(), 1u);  // one row holds 32 days of hourly buckets
  auto& mi = three_->envelope(store::RecordPart::kMi);
  ASSERT_TRUE(mi.Decrypt({pseudonym, "mi"}, before[0].ciphertext, RollupAd(before[0].key)));
  ASSERT_TRUE(integrity_->DeletePatient(Patient("patient-1"), "a"));
  EXPECT_EQ(CountRows("reading_rollups", "pseudonym = '" + pseudonym + "'"), 0);
  EXPECT_EQ(CountRows("rollup_complete", "pseudonym = '" + pseudonym + "'"), 0);
  // A copy taken before (a backup) no longer decrypts: the MI data key is gone.
  auto after = mi.Decrypt({pseudonym, "mi"}, before[0].ciphertext, RollupAd(before[0].key));
  ASSERT_FALSE(after);
  EXPECT_EQ(after.error().code(), ErrorCode::kNotFound);
  // And the readings are gone for the (still activated) patient.
  EXPECT_EQ(Series(wire::VitalKind::kHeartRate, kSeedStart, kSeedStart + kDay, 300).count, 0u);
}

TEST_P(MyDataTest, RoutesParseStrictlyAndAnswerJson) {
  net::Router router;
  AddMyDataRoutes(router, {*three_, *intake_, *clinical_, *integrity_, audit_, clock_},
                  TestAuthenticate);
  auto server = net::HttpServer::Start({}, std::move(router)).value();
  auto client = net::HttpClient::Create({}).value();
  const std::string url = "http://127.0.0.1:" + std::to_string(server->port());
  const auto get = [&](const std::string& path, const std::string& as) {
    net::ClientRequest request;
    request.method = net::Method::kGet;
    request.url = url + path;
    if (!as.empty()) request.headers.emplace_back("X-Test-As", as);
    auto response = client->Send(request);
    EXPECT_TRUE(response) << response.error().ToString();
    return response ? *response : net::Response{};
  };
  Activate(0);
  Seed(0, 1);
  StoreRecord(0, "rec-1", kSeedStart);
  const std::string range =
      "&from=" + std::to_string(kSeedStart) + "&to=" + std::to_string(kSeedStart + kDay);

  auto ok = get("/api/v1/me/readings?kind=heart_rate&points=24" + range, "patient:patient-1");
  ASSERT_EQ(ok.status, 200) << ok.body;
  Json j = Json::parse(ok.body);
  EXPECT_EQ(j["kind"], "heart_rate");
  EXPECT_EQ(j["unit"], "/min");
  EXPECT_EQ(j["bucket_ms"], kHour);
  EXPECT_EQ(j["count"], 24 * 60);
  ASSERT_EQ(j["buckets"].size(), 24u);
  const Json& b = j["buckets"][0];
  EXPECT_LE(b["min"].get<double>(), b["mean"].get<double>());
  EXPECT_LE(b["mean"].get<double>(), b["max"].get<double>());
  EXPECT_EQ(b["count"], 60);

  for (const std::string& bad : std::vector<std::string>{
           "/api/v1/me/readings?points=10" + range, "/api/v1/me/readings?kind=mood" + range,
           "/api/v1/me/readings?kind=heart_rate&from=5&to=4",
           "/api/v1/me/readings?kind=heart_rate&points=0" + range,
           "/api/v1/me/readings?kind=heart_rate&points=2001" + range,
           "/api/v1/me/readings?kind=heart_rate&points=1e3" + range,
           "/api/v1/me/readings?kind=heart_rate&from=-5&to=10",
           "/api/v1/me/readings?kind=heart_rate&to=99999999999999999999",
           "/api/v1/me/readings?kind=heart_rate&kind=spo2",
           "/api/v1/me/readings?kind=heart_rate&colour=red",
           std::string("/api/v1/me/records?limit=0"), std::string("/api/v1/me/records?limit=x"),
           std::string("/api/v1/me/records?cursor="),
           std::string("/api/v1/me/records?cursor=%25%25"),
           std::string("/api/v1/me/records/watch-1/rec-1?x=1")}) {
    SCOPED_TRACE(bad);
    auto r = get(bad, "patient:patient-1");
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_EQ(Json::parse(r.body, nullptr, false)["error"], "invalid_argument");
  }
  // Another role is refused before its parameters are read: the same 403 (and a refused
  // audit entry) whether they are valid or not.
  const std::size_t refused_before = audit_.Count("readings.read", audit::Outcome::kMinorFailure);
  for (const std::string& path : std::vector<std::string>{
           "/api/v1/me/readings", "/api/v1/me/readings?kind=mood",
           "/api/v1/me/readings?kind=heart_rate&points=24" + range, "/api/v1/me/records?limit=0",
           "/api/v1/me/records/watch-1/rec-1?x=1"}) {
    SCOPED_TRACE(path);
    auto r = get(path, "doctor:acc_dr");
    EXPECT_EQ(r.status, 403) << r.body;
    EXPECT_EQ(Json::parse(r.body, nullptr, false)["error"], "permission_denied");
  }
  EXPECT_EQ(audit_.Count("readings.read", audit::Outcome::kMinorFailure), refused_before + 3);
  EXPECT_EQ(get("/api/v1/me/records", "").status, 401);
  EXPECT_EQ(get("/api/v1/me/records", "doctor:acc_dr").status, 403);
  EXPECT_EQ(get("/api/v1/me/records", "patient:patient-2").status, 403);  // portal not active
  EXPECT_EQ(get("/api/v1/me/records/watch-2/rec-1", "patient:patient-1").status, 404);

  auto list = get("/api/v1/me/records?limit=5", "patient:patient-1");
  ASSERT_EQ(list.status, 200) << list.body;
  j = Json::parse(list.body);
  ASSERT_EQ(j["records"].size(), 1u);
  EXPECT_EQ(j["records"][0]["record_id"], "rec-1");
  EXPECT_EQ(j["records"][0]["intact"], true);
  EXPECT_TRUE(j["next_cursor"].is_null());
  auto one = get("/api/v1/me/records/watch-1/rec-1", "patient:patient-1");
  ASSERT_EQ(one.status, 200) << one.body;
  j = Json::parse(one.body);
  EXPECT_EQ(j["verification"]["ok"], true);
  EXPECT_TRUE(j["verification"]["failed_check"].is_null());
  for (const char* part : {"link", "ei", "qi", "mi", "device_signature"}) {
    SCOPED_TRACE(part);
    ASSERT_TRUE(j["stored"][part].is_string());
    EXPECT_TRUE(accounts::Base64UrlDecode(j["stored"][part].get<std::string>()).has_value());
  }
  EXPECT_EQ(j["stored"]["digest"].get<std::string>().size(), 64u);
  EXPECT_EQ(j["record"]["created_ms"], kSeedStart);
  server->Stop(std::chrono::seconds(1));
}

std::string BackendParamName(const ::testing::TestParamInfo<BackendKind>& param) {
  return std::string(store::testing::BackendKindName(param.param));
}

INSTANTIATE_TEST_SUITE_P(, MyDataTest,
                         ::testing::Values(BackendKind::kSqlite, BackendKind::kPostgres),
                         BackendParamName);

}  // namespace
}  // namespace medmesh::cloud

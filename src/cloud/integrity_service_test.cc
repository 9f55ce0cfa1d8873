// Verify, restore and delete (integrity_service.h) on SQLite and on PostgreSQL (instances
// .../Sqlite and .../Postgres; ctest runs the latter as cloud_integrity_postgres_test): items reach
// the cloud through the real ForwardIntake from forwards a test cloudlet seals with the production
// wire code, rows are altered straight in the database as an attacker with database access would,
// and the copies restores use are re-forwards of the original signed uploads.
#include "cloud/integrity_service.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "audit/recording_audit_sink.h"
#include "cloud/integrity_api.h"
#include "cloud/postgres_intake_store.h"
#include "cloud/sqlite_intake_store.h"
#include "cloud/test_cloudlet.h"
#include "crypto/keyed_hash.h"
#include "ids/detection_engine.h"
#include "net/error_mapping.h"
#include "net/metrics.h"
#include "node/test_support.h"
#include "store/ids_event_log.h"
#include "store/record_store_test_backend.h"
#include "store/sqlite/sqlite_record_store.h"
#include "testing/fake_random.h"
#include "testing/faulty_sqlite_vfs.h"
#include "wire/deletion_feed.h"
#include "wire/enrolment.h"
#include "wire/readings_codec.h"
#include "wire/record_codec.h"

namespace medmesh::cloud {
namespace {

using accounts::Principal;
using accounts::Role;
using store::testing::BackendKind;

constexpr std::string_view kNotFoundMessage = "no such record or reading batch";

std::string BackendParamName(const ::testing::TestParamInfo<BackendKind>& info) {
  return std::string(store::testing::BackendKindName(info.param));
}

// Records every entry; fails every Append while `fail` is set.
using audit::testing::RecordingAuditSink;

// The cloudlets' copies, as re-forwards the test prepared; counts the requests.
class FakeCopies final : public CloudletCopySource {
 public:
  Result<Bytes> FetchCopy(std::string_view cloudlet_id, const ItemRef& item) override {
    ++requests;
    auto it = copies.find(Key(cloudlet_id, item.device_id, item.item_id));
    if (it == copies.end()) return NotFound("the cloudlet no longer holds the item");
    return it->second;
  }
  static std::string Key(std::string_view cloudlet, std::string_view device,
                         std::string_view item) {
    return std::string(cloudlet) + "|" + std::string(device) + "|" + std::string(item);
  }
  std::map<std::string, Bytes> copies;
  int requests = 0;
};

using testing::TestCloudlet;

ThreePartKeys MakeKeys(Random& r) {
  SecretBytes index(kThreePartSecretBytes);
  SecretBytes pseudonym(kThreePartSecretBytes);
  r.Fill(index.mutable_bytes());
  r.Fill(pseudonym.mutable_bytes());
  return ThreePartKeys{crypto::KeyEncryptionKey::Generate(r), crypto::KeyEncryptionKey::Generate(r),
                       crypto::KeyEncryptionKey::Generate(r), std::move(index),
                       std::move(pseudonym)};
}

Principal Patient(std::string patient_id) {
  Principal p;
  p.account_id = "acc_" + patient_id;
  p.role = Role::kPatient;
  p.patient_id = std::move(patient_id);
  return p;
}
Principal Operator(std::string cloudlet_id) {
  Principal p;
  p.account_id = "acc_op_" + cloudlet_id;
  p.role = Role::kOperator;
  p.cloudlet_id = std::move(cloudlet_id);
  return p;
}
Principal OfRole(Role role) {
  Principal p;
  p.account_id = "acc_other";
  p.role = role;
  return p;
}

class IntegrityTest : public ::testing::TestWithParam<BackendKind> {
 protected:
  void SetUp() override {
    deployment_.emplace(dir_.path() / "pki");
    root_ = deployment_->Root();
    auto cloud = deployment_->Identity(wire::CertificateRole::kCloud, "cloud");
    ASSERT_TRUE(cloud) << cloud.error().ToString();
    cloud_ = std::make_unique<node::NodeIdentity>(std::move(*cloud));
    cloud_certificate_.emplace(wire::VerifyCertificate(cloud_->certificate.encoded(), root_->key,
                                                       wire::CertificateRole::kCloud,
                                                       wire::NowMs(clock_))
                                   .value());
    for (const char* c : {"cloudlet-1", "cloudlet-2"}) {
      auto identity = deployment_->Identity(wire::CertificateRole::kCloudlet, c);
      ASSERT_TRUE(identity) << identity.error().ToString();
      const bool first = std::string_view(c) == "cloudlet-1";
      cloudlets_.push_back(
          std::make_unique<TestCloudlet>(std::move(*identity), first ? "watch-1" : "watch-2",
                                         first ? "patient-1" : "patient-2", random_, clock_));
    }
    OpenStores();
    for (auto& c : cloudlets_) {
      ExpectAck(forward_->RegisterCloudlet(c->certificate(), "10.0.0.1"));
      ExpectAck(forward_->AddEnrolment(c->EnrolmentRecord(), "10.0.0.1"));
    }
  }

  void OpenStores() {
    service_.reset();
    forward_.reset();
    ids_.reset();
    intake_.reset();
    three_.reset();
    store_.reset();
    backend_.reset();
    ++opened_;
    audit_.entries.clear();
    copies_.copies.clear();
    intake_path_ = (dir_.path() / ("intake-" + std::to_string(opened_) + ".db")).string();
    records_path_ = (dir_.path() / ("records-" + std::to_string(opened_) + ".db")).string();
    if (own_files_) {
      // SQLite files at known paths (for copies of them, and faults through vfs_).
      auto store = store::SqliteRecordStore::Open(records_path_, {.sqlite_vfs = vfs_name()});
      ASSERT_TRUE(store) << store.error().ToString();
      store_ = std::move(*store);
    } else {
      auto backend = store::testing::MakeTestBackend(GetParam());
      ASSERT_TRUE(backend) << backend.error().ToString();
      backend_ = std::move(*backend);
      auto store = backend_->Open();
      ASSERT_TRUE(store) << store.error().ToString();
      store_ = std::move(*store);
    }
    medmesh::testing::DeterministicRandom key_random(keys_seed_);
    auto three = ThreePartStore::Create(*store_, MakeKeys(key_random), random_, clock_);
    ASSERT_TRUE(three) << three.error().ToString();
    three_ = std::move(*three);
    if (GetParam() == BackendKind::kSqlite) {
      auto intake = SqliteIntakeStore::Open(intake_path_, {.vfs = vfs_name()});
      ASSERT_TRUE(intake) << intake.error().ToString();
      intake_ = std::move(*intake);
    } else {
      // NOLINTNEXTLINE(concurrency-mt-unsafe): read before the test starts any thread
      const char* pg = std::getenv(store::testing::kTestPostgresEnv);
      ASSERT_NE(pg, nullptr) << "MEDMESH_TEST_PG is not set: run through ctest";
      conninfo_ = pg;
      auto intake = PostgresIntakeStore::Open(
          {.conninfo = conninfo_, .schema_prefix = "i" + HexEncode(random_.Generate(6)) + "_"});
      ASSERT_TRUE(intake) << intake.error().ToString();
      pg_schema_ = (*intake)->schema();
      intake_ = std::move(*intake);
    }
    auto ids = store::IdsEventLog::Open(
        (dir_.path() / ("ids-" + std::to_string(opened_) + ".db")).string());
    ASSERT_TRUE(ids) << ids.error().ToString();
    ids_ = std::move(*ids);
    opener_ = crypto::NewHybridOpener(cloud_->kem_key.Clone());
    SecretBytes refs_secret(32);
    random_.Fill(refs_secret.mutable_bytes());
    forward_ = std::make_unique<ForwardIntake>(
        ForwardIntakeContext{"cloud", *root_, *opener_, *three_, *intake_, *ids_, clock_, metrics_},
        crypto::HashKey::Derive(refs_secret, "test", "references").value());
    service_ = std::make_unique<IntegrityService>(
        IntegrityServiceContext{*three_, *intake_, *forward_, *root_, *opener_, copies_, audit_,
                                clock_, random_, ids_.get(), "cloud"});
  }

  // `tampering` IDS events recorded for the device `device_id`.
  std::uint64_t TamperingEvents(const std::string& device_id) {
    store::IdsEventFilter filter;
    filter.kind = store::IdsEventKind::kTampering;
    filter.device_id = device_id;
    auto n = ids_->Count(filter);
    EXPECT_TRUE(n) << n.error().ToString();
    return n ? *n : 0;
  }

  static void ExpectAck(const IntakeResult& result) {
    const auto* rejection = std::get_if<IntakeRejection>(&result);
    ASSERT_EQ(rejection, nullptr) << rejection->error.ToString();
  }

  TestCloudlet& Cloudlet(int i = 0) { return *cloudlets_[static_cast<std::size_t>(i)]; }

  // Forwards a record of cloudlet i's device and keeps the cloudlet's copy (a re-forward).
  ItemRef StoreRecord(const std::string& record_id, int i = 0) {
    TestCloudlet& c = Cloudlet(i);
    const Bytes payload = wire::EncodePatientRecord(c.Record(record_id)).value();
    const wire::OpenedUpload opened = c.Upload(wire::ContentType::kPatientRecord, payload);
    ExpectAck(forward_->AcceptForward(c.Forward(opened, *cloud_certificate_), "10.0.0.1"));
    ItemRef item{ItemKind::kRecord, c.enrolment().device_id, record_id};
    copies_.copies[FakeCopies::Key(c.id(), item.device_id, item.item_id)] =
        c.Forward(opened, *cloud_certificate_);
    return item;
  }

  ItemRef StoreBatch(int i = 0) {
    TestCloudlet& c = Cloudlet(i);
    const Bytes payload =
        wire::EncodeReadings(node::testing::HeartRate(wire::NowMs(clock_), 30)).value();
    const wire::OpenedUpload opened = c.Upload(wire::ContentType::kReadingsBatch, payload);
    ExpectAck(forward_->AcceptForward(c.Forward(opened, *cloud_certificate_), "10.0.0.1"));
    ItemRef item{ItemKind::kReadings, c.enrolment().device_id, HexEncode(opened.header.batch_id)};
    copies_.copies[FakeCopies::Key(c.id(), item.device_id, item.item_id)] =
        c.Forward(opened, *cloud_certificate_);
    last_batch_ = opened;
    return item;
  }

  std::optional<IntegrityCheck> VerifyAs(const Principal& who, const ItemRef& item) {
    auto v = service_->Verify(who, item, "192.0.2.1");
    EXPECT_TRUE(v) << v.error().ToString();
    return v ? v->failed : std::optional<IntegrityCheck>(IntegrityCheck::kMissing);
  }

  // SQL on the intake tables: "{t}" becomes the schema qualifier.
  void IntakeSql(const std::string& sql) {
    std::string out;
    const std::string qualifier = pg_schema_.empty() ? "" : "\"" + pg_schema_ + "\".";
    for (std::size_t i = 0; i < sql.size(); ++i) {
      if (sql.compare(i, 3, "{t}") == 0) {
        out += qualifier;
        i += 2;
      } else {
        out += sql[i];
      }
    }
    if (GetParam() == BackendKind::kSqlite) {
      SQLite::Database db(intake_path_, SQLite::OPEN_READWRITE);
      db.exec(out);
    } else {
      pqxx::connection c(conninfo_);
      pqxx::work w(c);
      w.exec(out);
      w.commit();
    }
  }
  // XORs 1 into byte 40 of a blob column of every reading batch.
  void FlipBatchByte(const std::string& column) {
    IntakeSql(GetParam() == BackendKind::kSqlite
                  ? "UPDATE {t}reading_batches SET " + column + " = substr(" + column +
                        ", 1, 20) || CASE WHEN substr(" + column +
                        ", 21, 1) = X'00' THEN X'01'"
                        " ELSE X'00' END || substr(" +
                        column + ", 22)"
                  : "UPDATE {t}reading_batches SET " + column + " = set_byte(" + column +
                        ", 20, get_byte(" + column + ", 20) # 1)");
  }

  std::string vfs_name() const { return vfs_ ? vfs_->name() : std::string(); }

  medmesh::testing::TempDir dir_;
  // Before the stores: every database opened with it must close before it goes.
  std::unique_ptr<medmesh::testing::FaultySqliteVfs> vfs_;
  bool own_files_ = false;
  std::uint64_t keys_seed_ = 7;
  std::string records_path_;
  SystemClock clock_;
  SystemRandom random_;
  std::optional<node::testing::TestDeployment> deployment_;
  std::optional<node::RootOfTrust> root_;
  int opened_ = 0;
  std::string intake_path_;
  std::unique_ptr<node::NodeIdentity> cloud_;
  std::optional<wire::VerifiedCertificate> cloud_certificate_;
  std::vector<std::unique_ptr<TestCloudlet>> cloudlets_;
  std::unique_ptr<store::testing::TestBackend> backend_;
  std::unique_ptr<store::RecordStore> store_;
  std::unique_ptr<ThreePartStore> three_;
  std::unique_ptr<IntakeStore> intake_;
  std::string conninfo_;
  std::string pg_schema_;
  std::unique_ptr<store::IdsEventLog> ids_;
  std::unique_ptr<crypto::HybridOpener> opener_;
  net::MetricsRegistry metrics_;
  std::unique_ptr<ForwardIntake> forward_;
  RecordingAuditSink audit_;
  FakeCopies copies_;
  std::unique_ptr<IntegrityService> service_;
  std::optional<wire::OpenedUpload> last_batch_;
};

TEST_P(IntegrityTest, UntouchedItemsVerifyForTheirPatientAndOperator) {
  const ItemRef record = StoreRecord("rec-1");
  const ItemRef batch = StoreBatch();
  for (const Principal& who : {Patient("patient-1"), Operator("cloudlet-1")}) {
    EXPECT_FALSE(VerifyAs(who, record).has_value());
    EXPECT_FALSE(VerifyAs(who, batch).has_value());
  }
  EXPECT_EQ(audit_.Count("record.verify", audit::Outcome::kSuccess), 2u);
  EXPECT_EQ(audit_.Count("readings.verify", audit::Outcome::kSuccess), 2u);
  EXPECT_EQ(TamperingEvents(record.device_id), 0u);
  // The whole chain, with the batch's entry in it, still verifies.
  auto report = three_->Verify();
  ASSERT_TRUE(report) << report.error().ToString();
  EXPECT_TRUE(report->ok());
  EXPECT_EQ(report->entries_checked, 2u);
}

TEST_P(IntegrityTest, OthersGetOneNotFoundOrPermissionDenied) {
  const ItemRef record = StoreRecord("rec-1");
  const ItemRef batch = StoreBatch();
  const ItemRef unknown{ItemKind::kRecord, "watch-9", "rec-1"};
  for (const ItemRef& item : {record, batch, unknown}) {
    for (const Principal& who : {Patient("patient-2"), Operator("cloudlet-2")}) {
      auto v = service_->Verify(who, item, "192.0.2.1");
      ASSERT_FALSE(v);
      EXPECT_EQ(v.error().code(), ErrorCode::kNotFound);
      EXPECT_EQ(v.error().message(), kNotFoundMessage);
      auto r = service_->Restore(who, item, "192.0.2.1");
      ASSERT_FALSE(r);
      EXPECT_EQ(r.error().code(), ErrorCode::kNotFound);
      EXPECT_EQ(r.error().message(), kNotFoundMessage);
    }
    for (Role role : {Role::kDoctor, Role::kAdmin}) {
      auto v = service_->Verify(OfRole(role), item, "192.0.2.1");
      ASSERT_FALSE(v);
      EXPECT_EQ(v.error().code(), ErrorCode::kPermissionDenied);
    }
  }
  EXPECT_EQ(copies_.requests, 0);
  EXPECT_EQ(audit_.Count("record.verify", audit::Outcome::kMinorFailure), 8u);
  EXPECT_EQ(audit_.Count("record.restore", audit::Outcome::kMinorFailure), 4u);
  EXPECT_FALSE(service_->DeletePatient(Operator("cloudlet-1"), "192.0.2.1"));
  EXPECT_FALSE(service_->ListRestores(Patient("patient-1"), 10, "192.0.2.1"));
  EXPECT_FALSE(service_->ListRestores(OfRole(Role::kDoctor), 10, "192.0.2.1"));
}

TEST_P(IntegrityTest, AnActionItCannotAuditFails) {
  const ItemRef record = StoreRecord("rec-1");
  audit_.fail = true;
  auto v = service_->Verify(Patient("patient-1"), record, "192.0.2.1");
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().code(), ErrorCode::kUnavailable);
}

struct RecordTamper {
  const char* name;
  const char* sql;  // logical table names (store/record_store_test_backend.h); $P: patient-1
  IntegrityCheck expected;
  bool restorable;
};

TEST_P(IntegrityTest, EachTamperedRecordColumnNamesItsCheckAndRestores) {
  const RecordTamper tampers[] = {
      {"link ciphertext", "flip:ei_record_link:ciphertext", IntegrityCheck::kDecrypt, true},
      {"link digest", "flip:ei_record_link:digest", IntegrityCheck::kDigest, true},
      {"ei snapshot", "flip:ei:ciphertext", IntegrityCheck::kDecrypt, true},
      {"qi snapshot", "flip:qi:ciphertext", IntegrityCheck::kDecrypt, true},
      {"mi ciphertext", "flip:mi:ciphertext", IntegrityCheck::kDecrypt, true},
      {"mi pseudonym", "UPDATE {mi} SET pseudonym = 'ab' || pseudonym", IntegrityCheck::kDecrypt,
       true},
      {"link patient", "UPDATE {ei_record_link} SET patient_id = 'patient-2'",
       IntegrityCheck::kDecrypt, true},
      {"mi row gone", "DELETE FROM {mi}", IntegrityCheck::kMissing, true},
      {"link row gone", "DELETE FROM {ei_record_link}", IntegrityCheck::kMissing, true},
      {"chain entry", "UPDATE {chain_log} SET stored_ms = stored_ms + 1 WHERE seq = 1",
       IntegrityCheck::kChain, false},
  };
  for (const RecordTamper& t : tampers) {
    SCOPED_TRACE(t.name);
    OpenStores();  // a fresh database per case
    for (auto& c : cloudlets_) {
      ExpectAck(forward_->RegisterCloudlet(c->certificate(), "10.0.0.1"));
      ExpectAck(forward_->AddEnrolment(c->EnrolmentRecord(), "10.0.0.1"));
    }
    const ItemRef record = StoreRecord("rec-1");
    ASSERT_FALSE(VerifyAs(Patient("patient-1"), record).has_value());
    ASSERT_TRUE(backend_->DropChainProtection());
    const std::string sql = t.sql;
    if (sql.rfind("flip:", 0) == 0) {
      const auto a = sql.find(':', 5);
      const std::string table = sql.substr(5, a - 5);
      const std::string column = sql.substr(a + 1);
      const bool by_pseudonym = table == "mi";
      const Status flipped =
          backend_->FlipByte(table, column, by_pseudonym ? "pseudonym" : "patient_id",
                             by_pseudonym ? three_->Pseudonym("patient-1") : "patient-1", 20);
      ASSERT_TRUE(flipped) << flipped.error().ToString();
    } else {
      ASSERT_TRUE(backend_->Execute(sql));
    }
    const auto failed = VerifyAs(Operator("cloudlet-1"), record);
    ASSERT_TRUE(failed.has_value());
    EXPECT_EQ(IntegrityCheckName(*failed), IntegrityCheckName(t.expected));
    EXPECT_EQ(audit_.Count("record.verify", audit::Outcome::kMajorFailure), 1u);
    // Intrusion detection hears of it: one `tampering` event on the device, no address.
    EXPECT_EQ(TamperingEvents(record.device_id), 1u);

    auto restored = service_->Restore(Operator("cloudlet-1"), record, "192.0.2.1");
    if (!t.restorable) {
      ASSERT_FALSE(restored);
      EXPECT_TRUE(restored.error().code() == ErrorCode::kFailedPrecondition ||
                  restored.error().code() == ErrorCode::kNotFound)
          << restored.error().ToString();
      continue;
    }
    ASSERT_TRUE(restored) << restored.error().ToString();
    EXPECT_TRUE(restored->after.ok());
    EXPECT_EQ(restored->restore.failed_check, IntegrityCheckName(t.expected));
    EXPECT_FALSE(VerifyAs(Patient("patient-1"), record).has_value());
    auto records = three_->GetPatientRecords("patient-1");
    ASSERT_TRUE(records) << records.error().ToString();
    EXPECT_EQ(records->size(), 1u);
    auto report = three_->Verify();
    ASSERT_TRUE(report);
    EXPECT_TRUE(report->ok());
    auto listed = service_->ListRestores(OfRole(Role::kAdmin), 10, "192.0.2.1");
    ASSERT_TRUE(listed);
    ASSERT_EQ(listed->size(), 1u);
    EXPECT_EQ(listed->front(), restored->restore);
    auto theirs = service_->ListRestores(Operator("cloudlet-1"), 10, "192.0.2.1");
    ASSERT_TRUE(theirs);
    EXPECT_EQ(theirs->size(), 1u);
    auto others = service_->ListRestores(Operator("cloudlet-2"), 10, "192.0.2.1");
    ASSERT_TRUE(others);
    EXPECT_TRUE(others->empty());
    EXPECT_EQ(audit_.Count("record.restore", audit::Outcome::kSuccess), 1u);
  }
}

TEST_P(IntegrityTest, ATamperedRecordRaisesAnIntegrityAlert) {
  auto table =
      ids::DecisionTable::Open((dir_.path() / "decisions.db").string(), "cloud", clock_, random_);
  ASSERT_TRUE(table) << table.error().ToString();
  ids::DetectionEngine engine(**table, ids::DefaultDetectors());
  ids_->SetObserver(engine.EventObserver());
  const ItemRef record = StoreRecord("rec-1");
  ASSERT_FALSE(VerifyAs(Patient("patient-1"), record).has_value());
  EXPECT_TRUE(engine.Alerts(10).empty());
  ASSERT_TRUE(backend_->DropChainProtection());
  ASSERT_TRUE(
      backend_->FlipByte("mi", "ciphertext", "pseudonym", three_->Pseudonym("patient-1"), 20));
  ASSERT_TRUE(VerifyAs(Operator("cloudlet-1"), record).has_value());
  const auto alerts = engine.Alerts(10);
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].alert.detector, "integrity");
  EXPECT_EQ(alerts[0].alert.scope.value, record.device_id);
  ids_->SetObserver({});
}

TEST_P(IntegrityTest, ARecordWithAnotherDevicesSignatureFailsTheSignatureCheck) {
  // Stored with evidence the device never gave for it (as if the intake had been bypassed):
  // decrypt and digest pass, the device signature does not.
  TestCloudlet& c = Cloudlet();
  const wire::PatientRecord record = c.Record("rec-9");
  const wire::OpenedUpload other = c.Upload(wire::ContentType::kPatientRecord,
                                            wire::EncodePatientRecord(c.Record("rec-8")).value());
  ASSERT_TRUE(three_->PutRecord(record, wire::EncodeUploadEvidence(other.evidence)));
  const ItemRef item{ItemKind::kRecord, "watch-1", "rec-9"};
  const auto failed = VerifyAs(Patient("patient-1"), item);
  ASSERT_TRUE(failed.has_value());
  EXPECT_EQ(IntegrityCheckName(*failed), "signature");
}

TEST_P(IntegrityTest, EachTamperedBatchColumnNamesItsCheckAndRestores) {
  struct BatchTamper {
    const char* name;
    std::string sql;  // "flip:<column>" or SQL with {t}
    IntegrityCheck expected;
  };
  const BatchTamper tampers[] = {
      {"ciphertext", "flip:ciphertext", IntegrityCheck::kDecrypt},
      {"digest", "flip:digest", IntegrityCheck::kDigest},
      {"from_ms", "UPDATE {t}reading_batches SET from_ms = from_ms - 1000",
       IntegrityCheck::kDigest},
      {"readings", "UPDATE {t}reading_batches SET readings = readings + 1",
       IntegrityCheck::kDigest},
      {"stored_ms", "UPDATE {t}reading_batches SET stored_ms = stored_ms + 1",
       IntegrityCheck::kChain},
      {"pseudonym", "UPDATE {t}reading_batches SET pseudonym = 'x' || pseudonym",
       IntegrityCheck::kDecrypt},
      {"row gone", "DELETE FROM {t}reading_batches", IntegrityCheck::kMissing},
  };
  for (const BatchTamper& t : tampers) {
    SCOPED_TRACE(t.name);
    OpenStores();
    for (auto& c : cloudlets_) {
      ExpectAck(forward_->RegisterCloudlet(c->certificate(), "10.0.0.1"));
      ExpectAck(forward_->AddEnrolment(c->EnrolmentRecord(), "10.0.0.1"));
    }
    const ItemRef batch = StoreBatch();
    ASSERT_FALSE(VerifyAs(Patient("patient-1"), batch).has_value());
    if (t.sql.rfind("flip:", 0) == 0) {
      FlipBatchByte(t.sql.substr(5));
    } else {
      IntakeSql(t.sql);
    }
    const auto failed = VerifyAs(Patient("patient-1"), batch);
    ASSERT_TRUE(failed.has_value());
    EXPECT_EQ(IntegrityCheckName(*failed), IntegrityCheckName(t.expected));
    auto restored = service_->Restore(Patient("patient-1"), batch, "192.0.2.1");
    ASSERT_TRUE(restored) << restored.error().ToString();
    EXPECT_TRUE(restored->after.ok());
    EXPECT_FALSE(VerifyAs(Operator("cloudlet-1"), batch).has_value());
    auto report = three_->Verify();
    ASSERT_TRUE(report);
    EXPECT_TRUE(report->ok());
    EXPECT_EQ(audit_.Count("readings.restore", audit::Outcome::kSuccess), 1u);
  }
}

TEST_P(IntegrityTest, RestoreIsRefusedForACopyThatDoesNotVerifyOrHoldsOtherContent) {
  const ItemRef record = StoreRecord("rec-1");
  ASSERT_TRUE(
      backend_->FlipByte("mi", "ciphertext", "pseudonym", three_->Pseudonym("patient-1"), 20));
  const std::string key = FakeCopies::Key("cloudlet-1", "watch-1", "rec-1");
  const Bytes genuine = copies_.copies[key];
  // Every byte flipped in turn would take long; a spread of positions covers header, sealed
  // body and signature.
  for (std::size_t at : {std::size_t{5}, genuine.size() / 2, genuine.size() - 1}) {
    Bytes damaged = genuine;
    damaged[at] ^= 0x01;
    copies_.copies[key] = damaged;
    auto restored = service_->Restore(Patient("patient-1"), record, "192.0.2.1");
    ASSERT_FALSE(restored);
    EXPECT_EQ(restored.error().code(), ErrorCode::kFailedPrecondition);
  }
  // Authentic, signed by the device, but another record under the same id.
  TestCloudlet& c = Cloudlet();
  wire::PatientRecord other = c.Record("rec-1");
  other.name = "Someone Else";
  const wire::OpenedUpload upload =
      c.Upload(wire::ContentType::kPatientRecord, wire::EncodePatientRecord(other).value());
  copies_.copies[key] = c.Forward(upload, *cloud_certificate_);
  auto restored = service_->Restore(Patient("patient-1"), record, "192.0.2.1");
  ASSERT_FALSE(restored);
  EXPECT_EQ(restored.error().code(), ErrorCode::kFailedPrecondition);
  // The cloudlet no longer holds it.
  copies_.copies.erase(key);
  restored = service_->Restore(Patient("patient-1"), record, "192.0.2.1");
  ASSERT_FALSE(restored);
  EXPECT_EQ(restored.error().code(), ErrorCode::kNotFound);
  // Still tampered, nothing restored, nothing listed.
  EXPECT_TRUE(VerifyAs(Patient("patient-1"), record).has_value());
  auto listed = service_->ListRestores(OfRole(Role::kAdmin), 10, "192.0.2.1");
  ASSERT_TRUE(listed);
  EXPECT_TRUE(listed->empty());
  // And an item that verifies has nothing to restore.
  copies_.copies[key] = genuine;
  const ItemRef batch = StoreBatch();
  auto nothing = service_->Restore(Patient("patient-1"), batch, "192.0.2.1");
  ASSERT_FALSE(nothing);
  EXPECT_EQ(nothing.error().code(), ErrorCode::kFailedPrecondition);
}

TEST_P(IntegrityTest, BatchesStoredBeforeChainingAreMigratedIntoTheChain) {
  const ItemRef chained = StoreBatch();
  // A batch as the intake stored it before batches were chained: a row without an entry.
  TestCloudlet& c = Cloudlet();
  const wire::OpenedUpload opened =
      c.Upload(wire::ContentType::kReadingsBatch,
               wire::EncodeReadings(node::testing::HeartRate(wire::NowMs(clock_), 10)).value());
  auto row = forward_->BatchRowFor(opened, wire::NowMs(clock_));
  ASSERT_TRUE(row) << row.error().ToString();
  ASSERT_TRUE(intake_->PutReadingBatch(*row));
  const ItemRef old{ItemKind::kReadings, "watch-1", HexEncode(opened.header.batch_id)};
  const auto before = VerifyAs(Patient("patient-1"), old);
  ASSERT_TRUE(before.has_value());
  EXPECT_EQ(IntegrityCheckName(*before), "chain");

  auto migrated = service_->ChainUnchainedBatches();
  ASSERT_TRUE(migrated) << migrated.error().ToString();
  EXPECT_EQ(migrated->batches, 2u);
  EXPECT_EQ(migrated->chained, 1u);
  EXPECT_FALSE(VerifyAs(Patient("patient-1"), old).has_value());
  EXPECT_FALSE(VerifyAs(Patient("patient-1"), chained).has_value());
  auto again = service_->ChainUnchainedBatches();
  ASSERT_TRUE(again);
  EXPECT_EQ(again->chained, 0u);
}

TEST_P(IntegrityTest, DeleteShredsThePatientAndFeedsTheirCloudlet) {
  const ItemRef record = StoreRecord("rec-1");
  const ItemRef batch = StoreBatch();
  const ItemRef other = StoreRecord("rec-2", 1);  // patient-2, untouched
  ASSERT_TRUE(service_->DeletePatient(Patient("patient-1"), "192.0.2.1"));

  auto records = three_->GetPatientRecords("patient-1");
  ASSERT_FALSE(records);
  EXPECT_EQ(records.error().code(), ErrorCode::kNotFound);
  for (const ItemRef& item : {record, batch}) {
    auto v = service_->Verify(Patient("patient-1"), item, "192.0.2.1");
    ASSERT_FALSE(v);
    EXPECT_EQ(v.error().code(), ErrorCode::kNotFound);
  }
  auto refs = intake_->ListBatchRefs(three_->Pseudonym("patient-1"));
  ASSERT_TRUE(refs);
  EXPECT_TRUE(refs->empty());
  auto enrolments = intake_->ListEnrolments("patient-1");
  ASSERT_TRUE(enrolments);
  EXPECT_TRUE(enrolments->empty());
  for (auto [part, context] :
       {std::pair{store::RecordPart::kEi, crypto::DataKeyContext{"patient-1", "ei"}},
        std::pair{store::RecordPart::kQi, crypto::DataKeyContext{"patient-1", "qi"}},
        std::pair{store::RecordPart::kMi,
                  crypto::DataKeyContext{three_->Pseudonym("patient-1"), "mi"}}}) {
    auto key = store_->wrapped_keys(part).Get(context);
    ASSERT_FALSE(key);
    EXPECT_EQ(key.error().code(), ErrorCode::kNotFound);
  }
  // The other patient is untouched, and the chain (with the delete entries) verifies.
  EXPECT_FALSE(VerifyAs(Patient("patient-2"), other).has_value());
  auto report = three_->Verify();
  ASSERT_TRUE(report);
  EXPECT_TRUE(report->ok());
  // The tombstone, and a repeat that succeeds and changes nothing.
  EXPECT_EQ(audit_.Count("patient.delete", audit::Outcome::kSuccess), 1u);
  ASSERT_TRUE(service_->DeletePatient(Patient("patient-1"), "192.0.2.1"));
  EXPECT_EQ(audit_.Count("patient.delete", audit::Outcome::kSuccess), 2u);
  auto state = intake_->GetDeletion("patient-1");
  ASSERT_TRUE(state && *state);
  EXPECT_TRUE((*state)->done_ms.has_value());
  // The device cannot be enrolled for the deleted patient again.
  const IntakeResult again = forward_->AddEnrolment(Cloudlet().EnrolmentRecord(), "10.0.0.1");
  EXPECT_NE(std::get_if<IntakeRejection>(&again), nullptr);

  // cloudlet-1 (and only it) finds the patient in its signed feed.
  const auto signer = crypto::NewEd25519Signer(cloud_->signing_key.Clone());
  auto page = service_->SignedDeletionFeed("cloud", *signer, "cloudlet-1", 0, 100);
  ASSERT_TRUE(page) << page.error().ToString();
  auto feed = wire::VerifyDeletionFeed(*page, *cloud_certificate_, "cloudlet-1", 0);
  ASSERT_TRUE(feed) << feed.error().ToString();
  ASSERT_EQ(feed->notices.size(), 1u);
  EXPECT_TRUE(feed->notices[0].patient_id == "patient-1");
  auto none = service_->SignedDeletionFeed("cloud", *signer, "cloudlet-2", 0, 100);
  ASSERT_TRUE(none);
  auto empty = wire::VerifyDeletionFeed(*none, *cloud_certificate_, "cloudlet-2", 0);
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->notices.empty());
  // A page for cloudlet-1 is no use to cloudlet-2, and a forged one is refused.
  EXPECT_FALSE(wire::VerifyDeletionFeed(*page, *cloud_certificate_, "cloudlet-2", 0));
  Bytes forged = *page;
  forged[forged.size() / 2] ^= 1;
  EXPECT_FALSE(wire::VerifyDeletionFeed(forged, *cloud_certificate_, "cloudlet-1", 0));
}

// The routes (integrity_api.h), called through the router as the server does, with a test
// authenticator in place of the accounts slice's.
TEST_P(IntegrityTest, RoutesAuthenticateAndMapOutcomesToStatuses) {
  const ItemRef record = StoreRecord("rec-1");
  const ItemRef batch = StoreBatch();
  net::Router router;
  AddIntegrityRoutes(router, *service_, [](const net::Request& r) -> Result<Principal> {
    for (const auto& [name, value] : r.headers) {
      if (name != "X-Test-As") continue;
      if (value == "patient-1" || value == "patient-2") return Patient(std::string(value));
      if (value == "operator-1") return Operator("cloudlet-1");
      if (value == "admin") return OfRole(Role::kAdmin);
    }
    return Unauthenticated("no session");
  });
  auto call = [&](net::Method method, const std::string& path, const std::string& as,
                  std::vector<std::pair<std::string, std::string>> query = {}) {
    std::vector<std::string> segments;
    for (std::size_t at = 1; at <= path.size();) {
      const std::size_t next = std::min(path.find('/', at), path.size());
      segments.push_back(path.substr(at, next - at));
      at = next + 1;
    }
    const net::RouteMatch match = router.Find(method, segments);
    EXPECT_EQ(match.kind, net::RouteMatch::Kind::kFound) << path;
    net::Request request;
    request.method = method;
    request.path = path;
    request.route = match.route->pattern;
    request.path_params = match.params;
    request.query = std::move(query);
    request.peer_address = "192.0.2.7";
    if (!as.empty()) request.headers.emplace_back("X-Test-As", as);
    auto response = match.route->handler(request);
    return response ? *response : net::ErrorResponse(response.error());
  };
  const std::string rec = "/api/v1/integrity/records/watch-1/rec-1";
  const std::string bat = "/api/v1/integrity/readings/watch-1/" + batch.item_id;

  net::Response ok = call(net::Method::kPost, rec + "/verify", "patient-1");
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(nlohmann::json::parse(ok.body)["ok"], true);
  EXPECT_EQ(call(net::Method::kPost, bat + "/verify", "operator-1").status, 200);
  EXPECT_EQ(call(net::Method::kPost, rec + "/verify", "").status, 401);
  const net::Response foreign = call(net::Method::kPost, rec + "/verify", "patient-2");
  const net::Response unknown =
      call(net::Method::kPost, "/api/v1/integrity/records/watch-9/rec-1/verify", "patient-2");
  EXPECT_EQ(foreign.status, 404);
  EXPECT_EQ(foreign.body, unknown.body);
  EXPECT_EQ(call(net::Method::kPost, rec + "/verify", "admin").status, 403);
  EXPECT_EQ(
      call(net::Method::kPost, "/api/v1/integrity/readings/watch-1/nothex/verify", "patient-1")
          .status,
      400);
  // Nothing to restore: 409.
  EXPECT_EQ(call(net::Method::kPost, rec + "/restore", "patient-1").status, 409);
  // Tampered, then restored through the route.
  ASSERT_TRUE(
      backend_->FlipByte("mi", "ciphertext", "pseudonym", three_->Pseudonym("patient-1"), 20));
  const net::Response damaged = call(net::Method::kPost, rec + "/verify", "patient-1");
  EXPECT_EQ(nlohmann::json::parse(damaged.body)["failed_check"], "decrypt");
  const net::Response restored = call(net::Method::kPost, rec + "/restore", "operator-1");
  ASSERT_EQ(restored.status, 200) << restored.body;
  EXPECT_EQ(nlohmann::json::parse(restored.body)["after"]["ok"], true);
  const net::Response listed =
      call(net::Method::kGet, "/api/v1/integrity/restores", "admin", {{"limit", "5"}});
  ASSERT_EQ(listed.status, 200);
  EXPECT_EQ(nlohmann::json::parse(listed.body)["restores"].size(), 1u);
  EXPECT_EQ(call(net::Method::kGet, "/api/v1/integrity/restores", "patient-1").status, 403);
  EXPECT_EQ(call(net::Method::kGet, "/api/v1/integrity/restores", "admin", {{"limit", "0"}}).status,
            400);
  // Deletion: only for the patient themselves; afterwards their items are 404.
  EXPECT_EQ(call(net::Method::kPost, "/api/v1/integrity/deletion", "operator-1").status, 403);
  EXPECT_EQ(call(net::Method::kPost, "/api/v1/integrity/deletion", "patient-1").status, 200);
  EXPECT_EQ(call(net::Method::kPost, rec + "/verify", "patient-1").status, 404);
  EXPECT_EQ(call(net::Method::kPost, "/api/v1/integrity/deletion", "patient-1").status, 200);
}

INSTANTIATE_TEST_SUITE_P(, IntegrityTest,
                         ::testing::Values(BackendKind::kSqlite, BackendKind::kPostgres),
                         BackendParamName);

// --- SQLite files: backups and a failing disk ---------------------------------------------------

// Every byte of the files of one database (the main file, its WAL and shared memory).
std::string FileBytes(const std::filesystem::path& db) {
  std::string all;
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
    const std::filesystem::path f = db.string() + suffix;
    if (!std::filesystem::exists(f)) continue;
    std::ifstream in(f, std::ios::binary);
    all.append(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  return all;
}

void CopyDatabase(const std::filesystem::path& from, const std::filesystem::path& to) {
  for (const char* suffix : {"", "-wal", "-shm"}) {
    const std::filesystem::path f = from.string() + suffix;
    if (std::filesystem::exists(f)) {
      std::filesystem::copy_file(f, to.string() + suffix,
                                 std::filesystem::copy_options::overwrite_existing);
    }
  }
}

class IntegrityFileTest : public IntegrityTest {
 protected:
  void SetUp() override {
    own_files_ = true;
    IntegrityTest::SetUp();
  }
};

TEST_P(IntegrityFileTest, NothingOfADeletedPatientDecryptsFromTheFilesOrAnEarlierBackup) {
  const wire::PatientRecord plain = Cloudlet().Record("rec-1");
  StoreRecord("rec-1");
  StoreBatch();
  const std::string pseudonym = three_->Pseudonym("patient-1");
  StoreRecord("rec-2", 1);  // patient-2: the control that the method reads what it may
  StoreBatch(1);
  // The backup, taken before the deletion.
  const std::filesystem::path backup = dir_.path() / "backup";
  std::filesystem::create_directories(backup);
  CopyDatabase(records_path_, backup / "records.db");
  CopyDatabase(intake_path_, backup / "intake.db");

  ASSERT_TRUE(service_->DeletePatient(Patient("patient-1"), "192.0.2.1"));

  // 1. The raw bytes of the live files and of the backup: no name, e-mail or phone anywhere.
  for (const std::filesystem::path& db :
       {std::filesystem::path(records_path_), std::filesystem::path(intake_path_),
        backup / "records.db", backup / "intake.db"}) {
    const std::string bytes = FileBytes(db);
    ASSERT_FALSE(bytes.empty());
    EXPECT_EQ(bytes.find(plain.name), std::string::npos);
    EXPECT_EQ(bytes.find(plain.email), std::string::npos);
    EXPECT_EQ(bytes.find(plain.phone), std::string::npos);
  }

  // 2. The backup's rows with the keys the node still has (its live wrapped keys and KEKs):
  //    the deleted patient's records and batches do not decrypt; the other patient's do.
  const std::filesystem::path mixed = backup / "mixed.db";
  CopyDatabase(backup / "records.db", mixed);
  {
    SQLite::Database db(mixed.string(), SQLite::OPEN_READWRITE);
    db.exec("DELETE FROM wrapped_keys");
    db.exec("ATTACH DATABASE '" + records_path_ + "' AS live");
    db.exec("INSERT INTO wrapped_keys SELECT * FROM live.wrapped_keys");
    db.exec("DETACH DATABASE live");
  }
  {
    auto old_rows = store::SqliteRecordStore::Open(mixed);
    ASSERT_TRUE(old_rows) << old_rows.error().ToString();
    medmesh::testing::DeterministicRandom key_random(keys_seed_);
    auto reader = ThreePartStore::Create(**old_rows, MakeKeys(key_random), random_, clock_);
    ASSERT_TRUE(reader);
    auto theirs = (*reader)->GetPatientRecords("patient-1");
    ASSERT_FALSE(theirs);
    EXPECT_EQ(theirs.error().code(), ErrorCode::kNotFound);
    auto control = (*reader)->GetPatientRecords("patient-2");
    ASSERT_TRUE(control) << control.error().ToString();
    EXPECT_EQ(control->size(), 1u);
  }
  {
    auto old_intake = SqliteIntakeStore::Open((backup / "intake.db").string());
    ASSERT_TRUE(old_intake) << old_intake.error().ToString();
    auto refs = (*old_intake)->ListBatchRefs(pseudonym);
    ASSERT_TRUE(refs);
    ASSERT_EQ(refs->size(), 1u);
    auto row = (*old_intake)->GetReadingBatch(refs->front());
    ASSERT_TRUE(row && *row);
    auto decrypted = forward_->DecryptBatch(**row);
    ASSERT_FALSE(decrypted);
    EXPECT_EQ(decrypted.error().code(), ErrorCode::kNotFound);
    auto control_refs = (*old_intake)->ListBatchRefs(three_->Pseudonym("patient-2"));
    ASSERT_TRUE(control_refs && control_refs->size() == 1u);
    auto control_row = (*old_intake)->GetReadingBatch(control_refs->front());
    ASSERT_TRUE(control_row && *control_row);
    EXPECT_TRUE(forward_->DecryptBatch(**control_row));
  }

  // 3. The bound (ADR 0018): the backup's own wrapped keys still unwrap under the KEKs that
  //    wrapped them; once the node rotates and retires those KEKs, nothing in the backup does.
  {
    auto old_store = store::SqliteRecordStore::Open(backup / "records.db");
    ASSERT_TRUE(old_store);
    medmesh::testing::DeterministicRandom key_random(keys_seed_);
    auto reader = ThreePartStore::Create(**old_store, MakeKeys(key_random), random_, clock_);
    ASSERT_TRUE(reader);
    EXPECT_TRUE((*reader)->GetPatientRecords("patient-1"));  // the documented exposure
  }
  medmesh::testing::DeterministicRandom key_random(keys_seed_);
  ThreePartKeys old_keys = MakeKeys(key_random);
  ThreePartKeys new_keys = MakeKeys(random_);
  new_keys.index_key = old_keys.index_key.Clone();
  new_keys.pseudonym_key = old_keys.pseudonym_key.Clone();
  const std::pair<store::RecordPart, const crypto::KeyEncryptionKey*> parts[] = {
      {store::RecordPart::kEi, &new_keys.ei_kek},
      {store::RecordPart::kQi, &new_keys.qi_kek},
      {store::RecordPart::kMi, &new_keys.mi_kek}};
  const crypto::KeyId old_ids[] = {old_keys.ei_kek.key_id(), old_keys.qi_kek.key_id(),
                                   old_keys.mi_kek.key_id()};
  for (std::size_t i = 0; i < 3; ++i) {
    crypto::EnvelopeAead& envelope = three_->envelope(parts[i].first);
    ASSERT_TRUE(envelope.RotateKek(parts[i].second->Clone()));
    ASSERT_TRUE(envelope.RetireKek(old_ids[i]));
  }
  {
    auto old_store = store::SqliteRecordStore::Open(backup / "records.db");
    ASSERT_TRUE(old_store);
    auto reader = ThreePartStore::Create(**old_store, std::move(new_keys), random_, clock_);
    ASSERT_TRUE(reader);
    EXPECT_FALSE((*reader)->GetPatientRecords("patient-1"));
  }
  // The live node still reads the other patient under the new KEKs.
  auto live = three_->GetPatientRecords("patient-2");
  ASSERT_TRUE(live) << live.error().ToString();
}

TEST_P(IntegrityFileTest, ADeleteThatFailsPartWayIsPendingNeverHalfReadableAndARetryFinishes) {
  vfs_ = std::make_unique<medmesh::testing::FaultySqliteVfs>("integrity-faults");
  bool finished_without_fault = false;
  int failed_part_way = 0;
  for (std::uint64_t pass = 0; pass < 200 && !finished_without_fault; ++pass) {
    SCOPED_TRACE("writes before the fault: " + std::to_string(pass));
    OpenStores();
    for (auto& c : cloudlets_) {
      ExpectAck(forward_->RegisterCloudlet(c->certificate(), "10.0.0.1"));
      ExpectAck(forward_->AddEnrolment(c->EnrolmentRecord(), "10.0.0.1"));
    }
    const ItemRef record = StoreRecord("rec-1");
    const ItemRef batch = StoreBatch();
    const std::string pseudonym = three_->Pseudonym("patient-1");
    const std::uint64_t injected_before = vfs_->injected();
    vfs_->Inject({.op = medmesh::testing::FaultySqliteVfs::Op::kWrite,
                  .failure = medmesh::testing::FaultySqliteVfs::Failure::kIoError,
                  .pass_ops = pass});
    const Status first = service_->DeletePatient(Patient("patient-1"), "192.0.2.1");
    vfs_->Clear();
    if (first) {
      finished_without_fault = vfs_->injected() == injected_before;
    } else {
      ++failed_part_way;
      // Either nothing was begun, or the deletion is recorded as pending; in both cases every
      // item is whole or gone, never damaged.
      auto state = intake_->GetDeletion("patient-1");
      ASSERT_TRUE(state);
      if (*state) {
        EXPECT_FALSE((*state)->done_ms.has_value());
        auto pending = intake_->PendingDeletions();
        ASSERT_TRUE(pending);
        EXPECT_EQ(pending->size(), 1u);
        auto v = service_->Verify(Patient("patient-1"), record, "192.0.2.1");
        ASSERT_FALSE(v);
        EXPECT_EQ(v.error().code(), ErrorCode::kNotFound);
      }
      auto records = three_->GetPatientRecords("patient-1");
      if (records) {
        EXPECT_EQ(records->size(), 1u);
      } else {
        EXPECT_EQ(records.error().code(), ErrorCode::kNotFound) << records.error().ToString();
      }
      auto refs = intake_->ListBatchRefs(pseudonym);
      ASSERT_TRUE(refs);
      for (const std::string& ref : *refs) {
        auto row = intake_->GetReadingBatch(ref);
        ASSERT_TRUE(row && *row);
        auto plain = forward_->DecryptBatch(**row);
        EXPECT_TRUE(plain || plain.error().code() == ErrorCode::kNotFound);
      }
      // The retry (the patient's, or the start-up pass) finishes the job.
      if (*state) {
        auto resumed = service_->ResumePendingDeletions();
        ASSERT_TRUE(resumed) << resumed.error().ToString();
      } else {
        ASSERT_TRUE(service_->DeletePatient(Patient("patient-1"), "192.0.2.1"));
      }
    }
    auto records = three_->GetPatientRecords("patient-1");
    ASSERT_FALSE(records);
    EXPECT_EQ(records.error().code(), ErrorCode::kNotFound);
    auto refs = intake_->ListBatchRefs(pseudonym);
    ASSERT_TRUE(refs);
    EXPECT_TRUE(refs->empty());
    auto key = store_->wrapped_keys(store::RecordPart::kEi).Get({"patient-1", "ei"});
    EXPECT_FALSE(key);
    auto done = intake_->GetDeletion("patient-1");
    ASSERT_TRUE(done && *done);
    EXPECT_TRUE((*done)->done_ms.has_value());
    auto report = three_->Verify();
    ASSERT_TRUE(report);
    EXPECT_TRUE(report->ok());
  }
  EXPECT_GT(failed_part_way, 5);        // the deletion's writes, each made to fail in turn
  EXPECT_TRUE(finished_without_fault);  // every write of a deletion was made to fail once
  // Close every database before the VFS goes.
  service_.reset();
  forward_.reset();
  intake_.reset();
  three_.reset();
  store_.reset();
}

INSTANTIATE_TEST_SUITE_P(, IntegrityFileTest, ::testing::Values(BackendKind::kSqlite),
                         BackendParamName);

}  // namespace
}  // namespace medmesh::cloud

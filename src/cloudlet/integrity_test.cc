// The cloudlet's side of verify-and-restore and of deletion (integrity.h), on the cloudlet's
// real stores in a temp folder, with uploads, certificates and feed pages made by the
// production wire code.
#include "cloudlet/integrity.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "cloudlet/internal/forward_item.h"
#include "cloudlet/internal/record_at_rest.h"
#include "crypto/keyed_hash.h"
#include "crypto/session_seal.h"
#include "node/test_support.h"
#include "store/sqlite_wrapped_key_store.h"
#include "wire/deletion_feed.h"
#include "wire/enrolment.h"
#include "wire/envelope.h"
#include "wire/record_codec.h"

namespace medmesh::cloudlet {
namespace {

std::string FileBytes(const std::filesystem::path& db) {
  std::string all;
  for (const char* suffix : {"", "-wal", "-shm"}) {
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

class CloudletIntegrityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    deployment_.emplace(dir_.path() / "pki");
    auto cloudlet = deployment_->Identity(wire::CertificateRole::kCloudlet, "cloudlet-1");
    ASSERT_TRUE(cloudlet) << cloudlet.error().ToString();
    cloudlet_ = std::make_unique<node::NodeIdentity>(std::move(*cloudlet));
    auto cloud = deployment_->Identity(wire::CertificateRole::kCloud, "cloud");
    ASSERT_TRUE(cloud) << cloud.error().ToString();
    cloud_ = std::make_unique<node::NodeIdentity>(std::move(*cloud));
    root_ = deployment_->Root();
    cloud_certificate_.emplace(wire::VerifyCertificate(cloud_->certificate.encoded(), root_->key,
                                                       wire::CertificateRole::kCloud,
                                                       wire::NowMs(clock_))
                                   .value());
    cloudlet_certificate_.emplace(
        wire::VerifyCertificate(cloudlet_->certificate.encoded(), root_->key,
                                wire::CertificateRole::kCloudlet, wire::NowMs(clock_))
            .value());
    cloudlet_signer_ = crypto::NewEd25519Signer(cloudlet_->signing_key.Clone());
    cloud_signer_ = crypto::NewEd25519Signer(cloud_->signing_key.Clone());

    auto keys = store::SqliteWrappedKeyStore::Open(Path("keys.db"));
    ASSERT_TRUE(keys) << keys.error().ToString();
    keys_ = std::move(*keys);
    kek_ = crypto::KeyEncryptionKey::Generate(random_);
    envelope_.emplace(kek_->Clone(), *keys_, random_);
    SecretBytes digest_secret(32);
    random_.Fill(digest_secret.mutable_bytes());
    auto ledger = IngestLedger::Open(
        Path("cloudlet.db"), crypto::HashKey::Derive(digest_secret, "test", "ledger").value());
    ASSERT_TRUE(ledger) << ledger.error().ToString();
    ledger_ = std::move(*ledger);
    auto readings = store::ReadingStore::Open(Path("readings.db"), *envelope_, clock_);
    ASSERT_TRUE(readings) << readings.error().ToString();
    readings_ = std::move(*readings);
    auto devices = DeviceRegistry::Open(Path("devices.db"));
    ASSERT_TRUE(devices) << devices.error().ToString();
    devices_ = std::move(*devices);
    auto trust = TrustStore::Open(Path("trust.db"), *envelope_, clock_, random_);
    ASSERT_TRUE(trust) << trust.error().ToString();
    trust_ = std::move(*trust);
    auto forget = ShareForgetter::Open(Path("share_outbox.db"), *trust_, clock_, random_);
    ASSERT_TRUE(forget) << forget.error().ToString();
    forget_ = std::move(*forget);
    opener_.emplace(cloudlet_->kem_key.Clone(), clock_);
  }

  std::string Path(const std::string& name) const { return (dir_.path() / name).string(); }

  // Enrols a device of `patient`, and stores at the cloudlet what ingest stores for it: one
  // record (as the ledger keeps it), one readings batch and one queued-forward data key.
  wire::PatientRecord Keep(const std::string& device, const std::string& patient) {
    auto device_signer = crypto::NewEd25519Signer(crypto::SigningSecretKey::Generate(random_));
    const wire::Enrolment enrolment{device, patient, device_signer->public_key(), cloudlet_->id(),
                                    wire::NowMs(clock_)};
    EXPECT_TRUE(
        devices_->Enrol(enrolment, wire::IssueEnrolment(enrolment, *cloudlet_signer_).value()));
    node::testing::TestDevice shape(device, patient, random_, clock_);
    wire::PatientRecord record = shape.Record("rec-1");
    crypto::SessionSealer sealer(cloudlet_->kem_key.public_key(), random_, clock_);
    const wire::UploadHeader header{.content_type = wire::ContentType::kPatientRecord,
                                    .device_id = device,
                                    .patient_id = patient,
                                    .sequence = 1,
                                    .batch_id = wire::NewBatchId(random_),
                                    .created_ms = wire::NowMs(clock_)};
    const Bytes upload = wire::SealUpload(header, wire::EncodePatientRecord(record).value(), sealer,
                                          *device_signer, random_)
                             .value();
    const wire::OpenedUpload opened =
        wire::OpenUpload(wire::ParseUpload(upload).value(), enrolment, *opener_).value();
    const Bytes joined = wire::EncodeEvidenceAndPayload(opened.evidence, opened.payload);
    const Bytes at_rest = envelope_
                              ->Encrypt({patient, std::string(internal::kRecordsKeyPart)}, joined,
                                        internal::RecordAd(device, "rec-1"))
                              .value();
    const std::string batch_id = HexEncode(header.batch_id);
    EXPECT_TRUE(ledger_->AddRecord(
        LedgerBatch{device, batch_id, wire::ContentType::kPatientRecord, patient,
                    crypto::Blake2b256(upload), 0, wire::NowMs(clock_), std::nullopt},
        LedgerRecord{"rec-1", record.created_ms, at_rest}));
    EXPECT_TRUE(readings_->Put(
        {patient, device, "batch-1", node::testing::HeartRate(wire::NowMs(clock_), 20)}));
    EXPECT_TRUE(envelope_->Encrypt({patient, std::string(internal::kForwardKeyPart)},
                                   AsBytes("queued"), AsBytes("item")));
    SharingProfile profile;
    profile.patient_id = patient;
    profile.opted_in = true;
    profile.conditions = {"I10"};
    EXPECT_TRUE(trust_->SaveProfile(profile));
    return record;
  }

  RecordCopyContext CopyContext() {
    return RecordCopyContext{cloudlet_->id(), *ledger_,          *devices_,
                             *envelope_,      *cloudlet_signer_, random_};
  }

  DeletionFollower Follower() {
    return DeletionFollower({cloudlet_->id(), *ledger_, *readings_, *envelope_, *devices_,
                             trust_.get(), forget_.get()});
  }

  Bytes Page(std::uint64_t after, std::vector<wire::DeletionNotice> notices,
             std::string cloudlet = "cloudlet-1") {
    wire::DeletionFeed feed{"cloud", std::move(cloudlet), wire::NowMs(clock_), after,
                            std::move(notices)};
    return wire::SignDeletionFeed(feed, *cloud_signer_).value();
  }

  bool HasKey(const std::string& patient, std::string_view part) {
    return static_cast<bool>(keys_->Get({patient, std::string(part)}));
  }

  medmesh::testing::TempDir dir_;
  SystemClock clock_;
  SystemRandom random_;
  std::optional<node::testing::TestDeployment> deployment_;
  std::optional<node::RootOfTrust> root_;
  std::unique_ptr<node::NodeIdentity> cloudlet_;
  std::unique_ptr<node::NodeIdentity> cloud_;
  std::optional<wire::VerifiedCertificate> cloud_certificate_;
  std::optional<wire::VerifiedCertificate> cloudlet_certificate_;
  std::unique_ptr<crypto::Signer> cloudlet_signer_;
  std::unique_ptr<crypto::Signer> cloud_signer_;
  std::unique_ptr<store::SqliteWrappedKeyStore> keys_;
  std::optional<crypto::KeyEncryptionKey> kek_;
  std::optional<crypto::EnvelopeAead> envelope_;
  std::unique_ptr<IngestLedger> ledger_;
  std::unique_ptr<store::ReadingStore> readings_;
  std::unique_ptr<DeviceRegistry> devices_;
  std::unique_ptr<TrustStore> trust_;
  std::unique_ptr<ShareForgetter> forget_;
  std::optional<crypto::SessionOpener> opener_;
};

TEST_F(CloudletIntegrityTest, ARecordCopyIsTheOriginalSignedUploadReForwardedToTheCloud) {
  const wire::PatientRecord record = Keep("watch-1", "patient-1");
  auto sealer = crypto::NewHybridSealer(*cloud_certificate_->certificate().kem_key, random_);
  auto copy = SealRecordCopy(CopyContext(), "watch-1", "rec-1", *sealer);
  ASSERT_TRUE(copy) << copy.error().ToString();
  // The cloud opens it as any forward: the cloudlet's signature, the seal, the device's.
  auto opener = crypto::NewHybridOpener(cloud_->kem_key.Clone());
  const auto device = devices_->Find("watch-1");
  ASSERT_TRUE(device.has_value());
  auto opened = wire::OpenForward(
      wire::ParseForward(*copy).value(), *cloudlet_certificate_, *opener,
      [&](const wire::UploadHeader&) { return Result<wire::Enrolment>(device->enrolment); });
  ASSERT_TRUE(opened) << opened.error().ToString();
  auto decoded = wire::PatientRecordFromUpload(opened->header, opened->payload);
  ASSERT_TRUE(decoded);
  EXPECT_TRUE(*decoded == record);

  auto missing = SealRecordCopy(CopyContext(), "watch-1", "rec-2", *sealer);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
  // A kept copy altered on disk is not sent.
  {
    SQLite::Database db(Path("cloudlet.db"), SQLite::OPEN_READWRITE);
    db.exec(
        "UPDATE records SET ciphertext = substr(ciphertext, 1, 30) || CASE WHEN"
        " substr(ciphertext, 31, 1) = X'00' THEN X'01' ELSE X'00' END ||"
        " substr(ciphertext, 32)");
  }
  auto altered = SealRecordCopy(CopyContext(), "watch-1", "rec-1", *sealer);
  ASSERT_FALSE(altered);
  EXPECT_EQ(altered.error().code(), ErrorCode::kDataLoss);
}

TEST_F(CloudletIntegrityTest, TheDeletionFeedShredsThePatientHereAndInEveryEarlierCopy) {
  const wire::PatientRecord p1 = Keep("watch-1", "patient-1");
  Keep("watch-2", "patient-2");
  // Patient-1's handle went to two partner cloudlets: one received a message to a party of its
  // own, the other answered a question naming them (ADR 0048).
  ASSERT_TRUE(trust_->AddMessage("patient-1", "heron-0001@cloudlet-9", "hello"));
  const std::string shared_with[] = {"patient-1"};
  ASSERT_TRUE(trust_->NoteSharedWith(shared_with, "cloudlet-7"));
  const std::filesystem::path backup = dir_.path() / "backup";
  std::filesystem::create_directories(backup);
  for (const char* db : {"keys.db", "cloudlet.db", "readings.db"}) {
    CopyDatabase(dir_.path() / db, backup / db);
  }
  DeletionFollower follower = Follower();

  // Refused pages change nothing: forged, for another cloudlet, or not after the cursor.
  Bytes forged = Page(0, {{1, "patient-1", wire::NowMs(clock_)}});
  forged[forged.size() - 3] ^= 1;
  EXPECT_FALSE(follower.Apply(forged, *cloud_certificate_));
  EXPECT_FALSE(follower.Apply(Page(0, {{1, "patient-1", 1}}, "cloudlet-2"), *cloud_certificate_));
  EXPECT_FALSE(follower.Apply(Page(5, {{6, "patient-1", 1}}), *cloud_certificate_));
  // Signed by a cloudlet instead of the cloud.
  EXPECT_FALSE(follower.Apply(Page(0, {{1, "patient-1", 1}}), *cloudlet_certificate_));
  EXPECT_TRUE(HasKey("patient-1", store::kReadingsKeyPart));

  int fetches = 0;
  auto shredded = follower.PollOnce(
      [&](std::uint64_t after) -> Result<Bytes> {
        ++fetches;
        EXPECT_EQ(after, 0u);
        return Page(after, {{3, "patient-1", wire::NowMs(clock_)}});
      },
      *cloud_certificate_);
  ASSERT_TRUE(shredded) << shredded.error().ToString();
  EXPECT_EQ(*shredded, 1u);
  EXPECT_EQ(follower.Cursor().value(), 3u);

  // Here: no rows, no keys; the other patient untouched.
  for (std::string_view part :
       {store::kReadingsKeyPart, internal::kRecordsKeyPart, internal::kForwardKeyPart}) {
    EXPECT_FALSE(HasKey("patient-1", part));
    EXPECT_TRUE(HasKey("patient-2", part));
  }
  EXPECT_EQ(readings_->CountsFor("patient-1").value().batches, 0u);
  // Their sharing profile too (trust_store.h), and its key.
  EXPECT_FALSE(trust_->Profile("patient-1").value().has_value());
  EXPECT_TRUE(trust_->Profile("patient-2").value().has_value());
  EXPECT_FALSE(HasKey("patient-1", kTrustKeyPart));
  // Both partners are to be told to forget the handle, once however often the shredding runs.
  EXPECT_EQ(forget_->Stats().value().count, 2u);
  EXPECT_TRUE(trust_->Messages("patient-1", 10).value().empty());
  ASSERT_TRUE(follower.ShredPatient("patient-1"));
  EXPECT_EQ(forget_->Stats().value().count, 2u);
  EXPECT_TRUE(devices_->Find("watch-1")->withdrawn);
  EXPECT_FALSE(devices_->Find("watch-2")->withdrawn);
  EXPECT_TRUE(ledger_->ListRecords("patient-1", 10).value().empty());
  EXPECT_EQ(ledger_->ListRecords("patient-2", 10).value().size(), 1u);
  EXPECT_EQ(readings_->Query("patient-2", 0, wire::kMaxTimeMs).value().readings.size(), 20u);

  // The earlier copy, read with the keys this cloudlet still has: nothing of patient-1.
  {
    auto old_readings =
        store::ReadingStore::Open((backup / "readings.db").string(), *envelope_, clock_);
    ASSERT_TRUE(old_readings);
    auto theirs = (*old_readings)->Query("patient-1", 0, wire::kMaxTimeMs);
    ASSERT_FALSE(theirs);
    EXPECT_EQ(theirs.error().code(), ErrorCode::kNotFound);
    EXPECT_TRUE((*old_readings)->Query("patient-2", 0, wire::kMaxTimeMs));
    auto old_ledger =
        IngestLedger::Open((backup / "cloudlet.db").string(),
                           crypto::HashKey::Derive(SecretBytes(32), "test", "ledger").value());
    ASSERT_TRUE(old_ledger);
    auto row = (*old_ledger)->FindRecord("watch-1", "rec-1");
    ASSERT_TRUE(row && *row);
    auto plain = envelope_->Decrypt({"patient-1", std::string(internal::kRecordsKeyPart)},
                                    (*row)->ciphertext, internal::RecordAd("watch-1", "rec-1"));
    ASSERT_FALSE(plain);
    EXPECT_EQ(plain.error().code(), ErrorCode::kNotFound);
  }
  // No name, e-mail or phone in the clear in any file, live or copied.
  for (const std::filesystem::path& db :
       {dir_.path() / "keys.db", dir_.path() / "cloudlet.db", dir_.path() / "readings.db",
        backup / "keys.db", backup / "cloudlet.db", backup / "readings.db"}) {
    const std::string bytes = FileBytes(db);
    ASSERT_FALSE(bytes.empty());
    EXPECT_EQ(bytes.find(p1.name), std::string::npos);
    EXPECT_EQ(bytes.find(p1.email), std::string::npos);
  }
  // The copy of keys.db holds the old wrapped keys until the KEK that wrapped them is retired.
  auto old_keys = store::SqliteWrappedKeyStore::Open((backup / "keys.db").string());
  ASSERT_TRUE(old_keys);
  crypto::EnvelopeAead new_kek_envelope(crypto::KeyEncryptionKey::Generate(random_), **old_keys,
                                        random_);
  auto after_rotation = new_kek_envelope.OpenDataKey({"patient-1", "readings"});
  EXPECT_FALSE(after_rotation);

  // A repeat of the same page is refused (the cursor moved on); the next poll is empty.
  EXPECT_FALSE(follower.Apply(Page(0, {{3, "patient-1", 1}}), *cloud_certificate_));
  auto again =
      follower.PollOnce([&](std::uint64_t after) { return Page(after, {}); }, *cloud_certificate_);
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, 0u);
  // Shredding is idempotent.
  EXPECT_TRUE(follower.ShredPatient("patient-1"));
}

}  // namespace
}  // namespace medmesh::cloudlet

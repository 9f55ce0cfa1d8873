// Per-part KEKs and their live rotation, on every RecordStore backend (instances .../Sqlite and
// .../Postgres; ctest runs the latter as cloud_keks_postgres_test with the test cluster).
#include "cloud/part_keks.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <iterator>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "crypto/key_file.h"
#include "node/identity.h"
#include "store/record_store_test_backend.h"
#include "testing/fake_clock.h"
#include "testing/fault_injection_env.h"
#include "testing/temp_dir.h"
#include "testing/wait.h"

namespace medmesh::cloud {
namespace {

namespace fs = std::filesystem;
using store::RecordPart;
using store::testing::BackendKind;

constexpr RecordPart kParts[] = {RecordPart::kEi, RecordPart::kQi, RecordPart::kMi};
// The rows that hold record data (ciphertexts, blind indexes, links, the chain): a rotation
// must leave every one of them as it is.
constexpr std::string_view kDataTables[] = {"ei", "ei_record_link", "ei_blind_index", "qi",
                                            "mi", "chain_log"};
// One-row state that every new record updates (so it changes while writers run).
constexpr std::string_view kStateTables[] = {"qi_state", "chain_head"};
const Bytes kSignature = {0x5a, 0x17, 0x00, 0xff, 0x42};

wire::PatientRecord MakeRecord(const std::string& patient, const std::string& record) {
  wire::PatientRecord r;
  r.record_id = record;
  r.patient_id = patient;
  r.device_id = "watch-" + patient;
  r.created_ms = 1'799'000'000'000;
  r.name = "Name of " + patient;
  r.phone = "+44 20 7946 0958";
  r.email = patient + "@example.org";
  r.address = "1 Road";
  r.national_id = "QZ 12 34 56 C";
  r.photo = Bytes{0xff, 0xd8, 0xff};
  r.photo_type = "image/jpeg";
  r.birth_date = "1980-04-02";
  r.sex = "female";
  r.postcode = "NW1 6XE";
  r.symptoms = {"headache"};
  r.conditions = {"I10"};
  r.pulse_bpm = 72;
  r.ecg_summary = "sinus rhythm";
  r.symptoms_document = Bytes{'d', 'o', 'c'};
  r.symptoms_document_type = "text/plain";
  return r;
}

std::string FileName(RecordPart part) {
  return std::string(store::RecordPartName(part)) + "_kek.key";
}

// Every line of `before` is still a line of `after` (rows kept byte for byte; new rows may
// have been added).
bool RowsKept(const std::string& before, const std::string& after) {
  std::multiset<std::string> lines;
  std::size_t start = 0;
  for (std::size_t end; (end = after.find('\n', start)) != std::string::npos; start = end + 1) {
    lines.insert(after.substr(start, end - start));
  }
  start = 0;
  for (std::size_t end; (end = before.find('\n', start)) != std::string::npos; start = end + 1) {
    auto it = lines.find(before.substr(start, end - start));
    if (it == lines.end()) return false;
    lines.erase(it);
  }
  return true;
}

class PartKeksTest : public ::testing::TestWithParam<BackendKind> {
 protected:
  void SetUp() override {
    auto backend = store::testing::MakeTestBackend(GetParam());
    ASSERT_TRUE(backend) << backend.error().ToString();
    backend_ = std::move(*backend);
    index_key_ = SecretBytes(ByteView(random_.Generate(kThreePartSecretBytes)));
    pseudonym_key_ = SecretBytes(ByteView(random_.Generate(kThreePartSecretBytes)));
    Restart(/*create=*/true);
  }

  // Opens the store and the keys from the files, as a starting cloud does.
  void Restart(bool create = false) {
    rotator_.reset();
    three_.reset();
    store_.reset();
    auto store = backend_->Open();
    ASSERT_TRUE(store) << store.error().ToString();
    store_ = std::move(*store);
    auto ring = [&](RecordPart part) {
      auto loaded =
          node::LoadKekRing(dir_.path() / FileName(part), dir_.path() / "kek.key", random_, create);
      EXPECT_TRUE(loaded) << loaded.error().ToString();
      return std::move(*loaded);
    };
    CloudPartKeks keks(ring(RecordPart::kEi), ring(RecordPart::kQi), ring(RecordPart::kMi));
    auto three = ThreePartStore::Create(
        *store_,
        ThreePartKeys{keks.ei.current.Clone(), keks.qi.current.Clone(), keks.mi.current.Clone(),
                      index_key_.Clone(), pseudonym_key_.Clone()},
        random_, clock_);
    ASSERT_TRUE(three) << three.error().ToString();
    three_ = std::move(*three);
    rotator_ = std::make_unique<PartKekRotator>(*three_, keks, random_, Env::Default());
  }

  void Put(int patient) {
    const std::string id = "patient-" + std::to_string(patient);
    auto put = three_->PutRecord(MakeRecord(id, "rec-" + std::to_string(patient)), kSignature);
    ASSERT_TRUE(put) << put.error().ToString();
  }
  bool Readable(int patient) const {
    auto got = three_->GetPatientRecords("patient-" + std::to_string(patient));
    return got && got->size() == 1 &&
           (*got)[0].record ==
               MakeRecord("patient-" + std::to_string(patient), "rec-" + std::to_string(patient));
  }
  std::string DumpData(bool with_state = false) {
    std::string out;
    std::vector<std::string_view> tables(std::begin(kDataTables), std::end(kDataTables));
    if (with_state) tables.insert(tables.end(), std::begin(kStateTables), std::end(kStateTables));
    for (std::string_view table : tables) {
      auto dump = backend_->Dump(table);
      EXPECT_TRUE(dump) << dump.error().ToString();
      out += std::string(table) + ":\n" + (dump ? *dump : std::string()) + "\n";
    }
    return out;
  }
  std::string DumpKeys() {
    auto dump = backend_->Dump("wrapped_keys");
    EXPECT_TRUE(dump) << dump.error().ToString();
    return dump ? *dump : "";
  }
  crypto::KeyEncryptionKey FileKek(RecordPart part) {
    return node::LoadKekFile(dir_.path() / FileName(part), random_, false).value();
  }

  testing::TempDir dir_;
  SystemRandom random_;  // thread-safe: writers run beside the rotation
  testing::FakeClock clock_{
      std::chrono::system_clock::time_point(std::chrono::milliseconds(1'800'000'000'000))};
  SecretBytes index_key_;
  SecretBytes pseudonym_key_;
  std::unique_ptr<store::testing::TestBackend> backend_;
  std::unique_ptr<store::RecordStore> store_;
  std::unique_ptr<ThreePartStore> three_;
  std::unique_ptr<PartKekRotator> rotator_;
};

TEST_P(PartKeksTest, EachPartsDataKeysAreWrappedByItsOwnKekOnly) {
  for (int p = 0; p < 3; ++p) Put(p);
  const crypto::KeyEncryptionKey ei = FileKek(RecordPart::kEi);
  EXPECT_FALSE(ei.key_id() == FileKek(RecordPart::kQi).key_id());
  EXPECT_FALSE(ei.key_id() == FileKek(RecordPart::kMi).key_id());
  for (RecordPart part : kParts) {
    SCOPED_TRACE(std::string(store::RecordPartName(part)));
    // An envelope holding only the EI KEK, over this part's key ring.
    crypto::EnvelopeAead only_ei(ei.Clone(), store_->wrapped_keys(part), random_);
    auto contexts = store_->wrapped_keys(part).List();
    ASSERT_TRUE(contexts);
    ASSERT_FALSE(contexts->empty());
    for (const crypto::DataKeyContext& context : *contexts) {
      auto key = only_ei.OpenDataKey(context);
      const crypto::KeyId wrapped_by =
          crypto::WrappedKeyKekId(store_->wrapped_keys(part).Get(context).value()).value();
      EXPECT_TRUE(wrapped_by == FileKek(part).key_id());
      if (part == RecordPart::kEi) {
        EXPECT_TRUE(key.has_value());
      } else {
        ASSERT_FALSE(key.has_value());
        EXPECT_TRUE(crypto::IsAuthenticationFailure(key.error()));
      }
    }
  }
}

// Rotation of each part while readers and writers keep going: every record stays readable
// throughout, no data row changes (only wrapped keys do), and a restart with the files alone
// reads everything.
TEST_P(PartKeksTest, LiveRotationKeepsServingAndRewritesNoDataRow) {
  constexpr int kExisting = 24;
  for (int p = 0; p < kExisting; ++p) Put(p);
  const std::string data_before = DumpData();
  const std::string keys_before = DumpKeys();

  std::atomic<bool> stop{false};
  std::atomic<int> read_failures{0};
  std::atomic<int> write_failures{0};
  std::atomic<int> reads{0};
  std::atomic<int> written{kExisting};
  std::thread reader([&] {
    while (!stop.load()) {
      for (int p = 0; p < kExisting; ++p) {
        if (!Readable(p)) read_failures.fetch_add(1);
        reads.fetch_add(1);
      }
    }
  });
  std::thread writer([&] {
    while (!stop.load()) {
      const int p = written.load();
      const std::string id = "patient-" + std::to_string(p);
      if (!three_->PutRecord(MakeRecord(id, "rec-" + std::to_string(p)), kSignature)) {
        write_failures.fetch_add(1);
      }
      written.fetch_add(1);
    }
  });
  std::vector<crypto::KeyId> new_ids;
  for (RecordPart part : kParts) {
    const int reads_before = reads.load();
    auto rotation = rotator_->Rotate(part);
    ASSERT_TRUE(rotation) << rotation.error().ToString();
    EXPECT_GE(rotation->report.rewrapped, static_cast<std::size_t>(kExisting));
    new_ids.push_back(rotation->new_kek_id);
    // Reads go on between rotations, too.
    ASSERT_TRUE(testing::WaitUntil([&] { return reads.load() > reads_before + kExisting; }));
  }
  stop = true;
  reader.join();
  writer.join();
  EXPECT_EQ(read_failures.load(), 0);
  EXPECT_EQ(write_failures.load(), 0);
  EXPECT_GT(written.load(), kExisting);

  // The rows of the records stored before are all still there, unchanged; the wrapped keys
  // are not.
  EXPECT_TRUE(RowsKept(data_before, DumpData()));
  EXPECT_FALSE(RowsKept(keys_before, DumpKeys()));
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_TRUE(FileKek(kParts[i]).key_id() == new_ids[i]);
    EXPECT_FALSE(fs::exists(node::NextKekFile(dir_.path() / FileName(kParts[i]))));
  }

  // A quiet rotation changes no data row at all.
  const std::string quiet_before = DumpData(/*with_state=*/true);
  ASSERT_TRUE(rotator_->Rotate(RecordPart::kQi));
  EXPECT_EQ(DumpData(/*with_state=*/true), quiet_before);

  Restart();
  for (int p = 0; p < written.load(); ++p) EXPECT_TRUE(Readable(p)) << "patient " << p;
}

// The cloud "crashes" after every file step of a rotation (FaultInjectionEnv::CrashAfter) and
// restarts from its files: every record opens; the next rotation finishes the unfinished one.
TEST_P(PartKeksTest, CrashAtEveryStepOfARotationThenRestartOpensEverything) {
  for (int p = 0; p < 4; ++p) Put(p);
  bool finished_without_fault = false;
  for (std::uint64_t step = 0; !finished_without_fault && step < 32; ++step) {
    SCOPED_TRACE("crash after file operation " + std::to_string(step));
    testing::FaultInjectionEnv env;
    env.CrashAfter(step);
    auto rotation = node::RotateKekFile(dir_.path() / FileName(RecordPart::kMi),
                                        three_->envelope(RecordPart::kMi), random_, env);
    finished_without_fault = env.injected_faults() == 0;
    EXPECT_EQ(rotation.has_value(), finished_without_fault);
    for (int p = 0; p < 4; ++p) EXPECT_TRUE(Readable(p));  // the live node keeps reading
    Restart();
    for (int p = 0; p < 4; ++p) EXPECT_TRUE(Readable(p));  // and so does the restarted one
    Put(100 + static_cast<int>(step));                     // and it writes
    ASSERT_TRUE(rotator_->Rotate(RecordPart::kMi));        // resumes / finishes
    EXPECT_FALSE(fs::exists(node::NextKekFile(dir_.path() / FileName(RecordPart::kMi))));
  }
  EXPECT_TRUE(finished_without_fault);
  Restart();
  for (int p = 0; p < 4; ++p) EXPECT_TRUE(Readable(p));
}

TEST_P(PartKeksTest, OneRotationAtATimeAndClearPartErrors) {
  EXPECT_EQ(ParseRecordPart("xi").error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(ParseRecordPart("EI").error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(ParseRecordPart("qi").value(), RecordPart::kQi);
  EXPECT_EQ(rotator_->status(RecordPart::kEi).state, PartKekRotationStatus::State::kNeverRun);
  ASSERT_TRUE(rotator_->Start(RecordPart::kEi));
  // While it runs (or right after), a second start is refused or finds it done; never two.
  Status second = rotator_->Start(RecordPart::kQi);
  if (!second) {
    EXPECT_EQ(second.error().code(), ErrorCode::kAlreadyExists);
  }
  ASSERT_TRUE(testing::WaitUntil([&] {
    return rotator_->status(RecordPart::kEi).state == PartKekRotationStatus::State::kDone &&
           rotator_->status(RecordPart::kQi).state != PartKekRotationStatus::State::kRunning;
  }));
  // A bad permission on the KEK file fails the rotation with a clear error, nothing changed.
  const fs::path mi = dir_.path() / FileName(RecordPart::kMi);
  ASSERT_TRUE(Env::Default().FileExists(mi));
  {
    crypto::KeyFile stray = crypto::GenerateKeyFile(crypto::KeyFileType::kKek, random_);
    ASSERT_TRUE(crypto::WriteKeyFile(node::NextKekFile(mi), stray, false));
    fs::permissions(node::NextKekFile(mi), fs::perms::others_read, fs::perm_options::add);
  }
  auto refused = rotator_->Rotate(RecordPart::kMi);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), ErrorCode::kPermissionDenied);
  EXPECT_EQ(rotator_->status(RecordPart::kMi).state, PartKekRotationStatus::State::kFailed);
}

// A cloud of the previous version: one kek.key wrapped all three parts. It keeps working when
// the three part files are added (as `medmesh demo` does to an old folder), and after each part
// has been rotated once the old file can be deleted.
TEST_P(PartKeksTest, MigrationFromOneKekKeepsEveryRecordReadable) {
  for (RecordPart part : kParts) fs::remove(dir_.path() / FileName(part));
  const crypto::KeyFile legacy = crypto::GenerateKeyFile(crypto::KeyFileType::kKek, random_);
  ASSERT_TRUE(crypto::WriteKeyFile(dir_.path() / "kek.key", legacy, false));
  Restart();  // no part file: every part uses kek.key
  for (RecordPart part : kParts) EXPECT_FALSE(fs::exists(dir_.path() / FileName(part)));
  for (int p = 0; p < 3; ++p) Put(p);
  for (RecordPart part : kParts) {
    const auto contexts = store_->wrapped_keys(part).List();
    ASSERT_TRUE(contexts);
    for (const crypto::DataKeyContext& c : *contexts) {
      const auto wrapped = store_->wrapped_keys(part).Get(c);
      ASSERT_TRUE(wrapped);
      const auto kek_id = crypto::WrappedKeyKekId(*wrapped);
      ASSERT_TRUE(kek_id);
      EXPECT_TRUE(*kek_id == legacy.kek->key_id());
    }
  }

  // The part files appear beside the old data: both KEKs load, old and new records read.
  for (RecordPart part : kParts) {
    ASSERT_TRUE(crypto::WriteKeyFile(dir_.path() / FileName(part),
                                     crypto::GenerateKeyFile(crypto::KeyFileType::kKek, random_),
                                     false));
  }
  Restart();
  for (int p = 0; p < 3; ++p) EXPECT_TRUE(Readable(p));
  Put(3);
  EXPECT_TRUE(Readable(3));

  for (RecordPart part : kParts) {
    auto rotation = rotator_->Rotate(part);
    ASSERT_TRUE(rotation) << rotation.error().ToString();
    EXPECT_EQ(rotation->retired.size(), 2U);  // the part file's first KEK and kek.key
  }
  fs::remove(dir_.path() / "kek.key");
  Restart();
  for (int p = 0; p < 4; ++p) EXPECT_TRUE(Readable(p));
}

TEST_P(PartKeksTest, ASingleKekConvertsToThreePartsWithoutFiles) {
  CloudPartKeks keks(crypto::KeyEncryptionKey::Generate(random_));
  EXPECT_TRUE(keks.ei.file.empty());
  EXPECT_TRUE(keks.ei.current.key_id() == keks.mi.current.key_id());
  PartKekRotator rotator(*three_, keks, random_, Env::Default());
  EXPECT_EQ(rotator.Rotate(RecordPart::kEi).error().code(), ErrorCode::kFailedPrecondition);
}

std::string BackendParamName(const ::testing::TestParamInfo<BackendKind>& param) {
  return std::string(store::testing::BackendKindName(param.param));
}

INSTANTIATE_TEST_SUITE_P(, PartKeksTest,
                         ::testing::Values(BackendKind::kSqlite, BackendKind::kPostgres),
                         BackendParamName);

}  // namespace
}  // namespace medmesh::cloud

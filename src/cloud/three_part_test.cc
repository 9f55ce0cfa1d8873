// ThreePartStore tests: written once, instantiated for every RecordStore backend (.../Sqlite,
// .../Postgres; ctest runs the latter as cloud_postgres_test with the test cluster).
#include "cloud/three_part.h"

#include <gtest/gtest.h>

#include <random>

#include "store/record_store_test_backend.h"
#include "testing/fake_clock.h"
#include "testing/fake_random.h"

namespace medmesh::cloud {
namespace {

using store::RecordPart;
using store::testing::BackendKind;

constexpr std::string_view kIntegrityMessage = "stored record failed its integrity check";
const Bytes kSignature = {0x5a, 0x17, 0x00, 0xff, 0x42};

Bytes B(std::string_view s) { return {s.begin(), s.end()}; }

// A record whose identifying strings all contain the patient's tag, so that tests can look
// for them in the raw tables.
wire::PatientRecord MakeRecord(const std::string& patient, const std::string& record,
                               std::int64_t created_ms = 1'799'000'000'000) {
  wire::PatientRecord r;
  r.record_id = record;
  r.patient_id = patient;
  r.device_id = "watch-" + patient;
  r.created_ms = created_ms;
  r.name = "Zebedee Quux-" + patient;
  r.phone = "+44 20 7946 0958";
  r.email = "Zebedee." + patient + "@Example.org";
  r.address = "221B Baker Street, London, flat of " + patient;
  r.national_id = "QZ 12 34 56 C";
  r.photo = B("\xff\xd8\xff\xe0 photo bytes of " + patient);
  r.photo_type = "image/jpeg";
  r.birth_date = "1980-04-02";
  r.sex = "female";
  r.postcode = "NW1 6XE";
  r.symptoms = {"persistent headache", "dizziness"};
  r.conditions = {"I10"};
  r.pulse_bpm = 72;
  r.ecg_summary = "sinus rhythm, 72/min";
  r.symptoms_document = B("Headaches every morning since the spring.");
  r.symptoms_document_type = "text/plain";
  return r;
}

ThreePartKeys MakeKeys(std::uint64_t seed) {
  medmesh::testing::DeterministicRandom r(seed);
  SecretBytes index(kThreePartSecretBytes);
  SecretBytes pseudonym(kThreePartSecretBytes);
  r.Fill(index.mutable_bytes());
  r.Fill(pseudonym.mutable_bytes());
  return ThreePartKeys{crypto::KeyEncryptionKey::Generate(r), crypto::KeyEncryptionKey::Generate(r),
                       crypto::KeyEncryptionKey::Generate(r), std::move(index),
                       std::move(pseudonym)};
}

class ThreePartTest : public ::testing::TestWithParam<BackendKind> {
 protected:
  void SetUp() override {
    auto backend = store::testing::MakeTestBackend(GetParam());
    ASSERT_TRUE(backend) << backend.error().ToString();
    backend_ = std::move(*backend);
    auto store = backend_->Open();
    ASSERT_TRUE(store) << store.error().ToString();
    store_ = std::move(*store);
    auto three = ThreePartStore::Create(*store_, MakeKeys(1), random_, clock_);
    ASSERT_TRUE(three) << three.error().ToString();
    three_ = std::move(*three);
  }

  PutRecordResult Put(const wire::PatientRecord& r) {
    auto put = three_->PutRecord(r, kSignature);
    EXPECT_TRUE(put) << put.error().ToString();
    return put ? *put : PutRecordResult{};
  }

  std::vector<StoredRecord> Get(const std::string& patient) {
    auto got = three_->GetPatientRecords(patient);
    EXPECT_TRUE(got) << got.error().ToString();
    return got ? *got : std::vector<StoredRecord>{};
  }

  void ExpectIntegrityFailure(const std::string& patient) {
    auto got = three_->GetPatientRecords(patient);
    ASSERT_FALSE(got);
    EXPECT_EQ(got.error().code(), ErrorCode::kDataLoss);
    EXPECT_EQ(got.error().message(), kIntegrityMessage);
  }

  VerifyReport Verify() {
    auto report = three_->Verify();
    EXPECT_TRUE(report) << report.error().ToString();
    return report ? *report : VerifyReport{};
  }

  std::string Dump(std::string_view table) {
    auto dump = backend_->Dump(table);
    EXPECT_TRUE(dump) << dump.error().ToString();
    return dump ? *dump : "";
  }

  medmesh::testing::DeterministicRandom random_{7};
  medmesh::testing::FakeClock clock_;  // 2027-01-15
  std::unique_ptr<store::testing::TestBackend> backend_;
  std::unique_ptr<store::RecordStore> store_;
  std::unique_ptr<ThreePartStore> three_;
};

// --- Storing and reading back ----------------------------------------------------------------

TEST_P(ThreePartTest, ARecordComesBackExactlyFromItsThreeParts) {
  const wire::PatientRecord r = MakeRecord("p-1", "r-1");
  const PutRecordResult put = Put(r);
  EXPECT_EQ(put.outcome, store::PutOutcome::kInserted);
  EXPECT_EQ(put.chain_seq, 1U);
  const auto got = Get("p-1");
  ASSERT_EQ(got.size(), 1U);
  EXPECT_EQ(got[0].record, r);
  EXPECT_EQ(got[0].device_signature, kSignature);
  EXPECT_EQ(got[0].digest.size(), 32U);
}

TEST_P(ThreePartTest, EachRecordKeepsTheIdentifiersItCameWith) {
  wire::PatientRecord first = MakeRecord("p-1", "r-1", 1'799'000'000'000);
  wire::PatientRecord second = MakeRecord("p-1", "r-2", 1'799'000'100'000);
  second.phone = "020 7946 0000";
  second.postcode = "E1 6AN";
  second.photo = B("\xff\xd8 a new photo");
  wire::PatientRecord third = MakeRecord("p-1", "r-0", 1'798'000'000'000);  // older
  Put(second);
  Put(first);
  Put(third);
  const auto got = Get("p-1");
  ASSERT_EQ(got.size(), 3U);
  EXPECT_EQ(got[0].record, third);
  EXPECT_EQ(got[1].record, first);
  EXPECT_EQ(got[2].record, second);
  // Both phone numbers find the patient.
  EXPECT_EQ(three_->LookupByPhone("+44 20 7946 0958").value(), std::vector<std::string>{"p-1"});
  EXPECT_EQ(three_->LookupByPhone("02079460000").value(), std::vector<std::string>{"p-1"});
}

TEST_P(ThreePartTest, TheSameRecordTwiceIsStoredOnce) {
  const wire::PatientRecord r = MakeRecord("p-1", "r-1");
  Put(r);
  Put(MakeRecord("p-2", "r-9"));
  const PutRecordResult again = Put(r);
  EXPECT_EQ(again.outcome, store::PutOutcome::kDuplicate);
  EXPECT_EQ(again.chain_seq, 1U);
  EXPECT_EQ(Get("p-1").size(), 1U);
  EXPECT_EQ(Verify().entries_checked, 2U);
}

TEST_P(ThreePartTest, OtherContentUnderAStoredRecordIdIsRefused) {
  Put(MakeRecord("p-1", "r-1"));
  wire::PatientRecord changed = MakeRecord("p-1", "r-1");
  changed.pulse_bpm = 140;
  auto put = three_->PutRecord(changed, kSignature);
  ASSERT_FALSE(put);
  EXPECT_EQ(put.error().code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ(Get("p-1").at(0).record.pulse_bpm, 72);
  // Record ids are unique per device: another device may use the same id.
  wire::PatientRecord other_device = MakeRecord("p-1", "r-1");
  other_device.device_id = "ring-p-1";
  EXPECT_EQ(Put(other_device).outcome, store::PutOutcome::kInserted);
  EXPECT_EQ(Get("p-1").size(), 2U);
}

TEST_P(ThreePartTest, UnknownPatientsAreNotFoundAndBadIdsInvalid) {
  Put(MakeRecord("p-1", "r-1"));
  EXPECT_EQ(three_->GetPatientRecords("p-2").error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(three_->VerifyPatient("p-2").error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(three_->DeletePatient("p-2").error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(three_->GetPatientRecords("").error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(three_->GetPatientRecords("p 1; DROP TABLE mi").error().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(three_->DeletePatient(std::string(65, 'p')).error().code(),
            ErrorCode::kInvalidArgument);
}

TEST_P(ThreePartTest, BadRecordsAreRefusedWithoutQuotingThem) {
  const auto expect_invalid = [&](const wire::PatientRecord& r, std::string_view secret,
                                  ByteView signature = kSignature) {
    auto put = three_->PutRecord(r, signature);
    ASSERT_FALSE(put) << "accepted: " << secret;
    EXPECT_EQ(put.error().code(), ErrorCode::kInvalidArgument);
    if (!secret.empty()) {
      EXPECT_EQ(put.error().message().find(secret), std::string::npos) << put.error().message();
    }
  };
  wire::PatientRecord r = MakeRecord("p-1", "r-1");
  r.email = "zebedee-at-example.org";
  expect_invalid(r, "zebedee-at");
  r = MakeRecord("p-1", "r-1");
  r.phone = "call 0800 if found";
  expect_invalid(r, "0800");
  r = MakeRecord("p-1", "r-1");
  r.phone = "123";
  expect_invalid(r, "123");
  r = MakeRecord("p-1", "r-1");
  r.national_id = "QZ#12";
  expect_invalid(r, "QZ#12");
  r = MakeRecord("p-1", "r-1");
  r.postcode = "NW1 <6XE>";
  expect_invalid(r, "<6XE>");
  r = MakeRecord("p-1", "r-1");
  r.birth_date = "1980-02-30";
  expect_invalid(r, "1980-02-30");
  r = MakeRecord("p-1", "r-1");
  r.birth_date = "2030-01-01";  // after the fake clock's today
  expect_invalid(r, "2030");
  r = MakeRecord("p-1", "r-1");
  r.sex = "robot";
  expect_invalid(r, "robot");
  r = MakeRecord("p-1", "r-1");
  r.conditions = {"not a code"};
  expect_invalid(r, "not a code");
  r = MakeRecord("p-1", "r-1");
  r.patient_id = "p/1";
  expect_invalid(r, "");
  expect_invalid(MakeRecord("p-1", "r-1"), "", ByteView{});
  const Bytes huge(16 * 1024 + 1, 1);
  expect_invalid(MakeRecord("p-1", "r-1"), "", huge);
  EXPECT_EQ(three_->GetPatientRecords("p-1").error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(Verify().entries_checked, 0U);
}

// --- Blind indexes -----------------------------------------------------------------------------

TEST_P(ThreePartTest, IdentifiersAreFoundByExactNormalisedValue) {
  Put(MakeRecord("p-1", "r-1"));
  wire::PatientRecord sibling = MakeRecord("p-2", "r-2");  // shares the family phone
  sibling.national_id = "QZ654321D";
  Put(sibling);

  EXPECT_EQ(three_->LookupByEmail("  zebedee.P-1@EXAMPLE.org ").value(),
            std::vector<std::string>{"p-1"});
  EXPECT_EQ(three_->LookupByPhone("(44) 20-7946.0958").value(),
            (std::vector<std::string>{"p-1", "p-2"}));
  EXPECT_EQ(three_->LookupByNationalId("qz123456c").value(), std::vector<std::string>{"p-1"});
  EXPECT_EQ(three_->LookupByNationalId("QZ-654321-D").value(), std::vector<std::string>{"p-2"});
  // Exact lookup only: no prefixes, no near misses.
  EXPECT_TRUE(three_->LookupByEmail("zebedee.p-1@example.com").value().empty());
  EXPECT_TRUE(three_->LookupByPhone("+44 20 7946 095").value().empty());
  EXPECT_TRUE(three_->LookupByNationalId("QZ12345").value().empty());
  // Malformed queries are refused rather than silently finding nothing.
  EXPECT_EQ(three_->LookupByEmail("nobody").error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(three_->LookupByPhone("12").error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(three_->LookupByNationalId("").error().code(), ErrorCode::kInvalidArgument);
}

TEST_P(ThreePartTest, NormalisationRules) {
  // E-mail: accounts::NormaliseEmail (its rules are tested in accounts/encoding_test.cc).
  EXPECT_EQ(NormalisePhone("+44 (20) 7946-0958").value(), "442079460958");
  EXPECT_FALSE(NormalisePhone("1234567890123456"));
  EXPECT_EQ(NormaliseNationalId("ab 12.34/56-c").value(), "AB123456C");
  EXPECT_EQ(NormalisePostcode("sw1a 1aa").value(), "SW1A1AA");
  EXPECT_FALSE(NormalisePostcode("SW1A_1AA"));
}

// --- What the stores hold ----------------------------------------------------------------------

TEST_P(ThreePartTest, NoTableHoldsAnyPlaintext) {
  const wire::PatientRecord r = MakeRecord("p-1", "rec-4711");
  Put(r);
  ASSERT_TRUE(three_->RefreshGeneralisedQi());
  const std::vector<std::string> secrets = {
      r.name,           r.email,        "zebedee.p-1@example.org",
      r.address,        r.national_id,  "QZ123456C",
      "442079460958",   r.phone,        "1980-04-02",
      "NW1 6XE",        "NW16XE",       "persistent headache",
      "dizziness",      "sinus rhythm", "Headaches every morning",
      "photo bytes of", r.record_id,    r.device_id};
  for (std::string_view table : store::testing::kLogicalTables) {
    const std::string dump = Dump(table);
    for (const std::string& s : secrets) {
      EXPECT_EQ(dump.find(s), std::string::npos) << "'" << s << "' in " << table;
      EXPECT_EQ(dump.find(HexEncode(AsBytes(s))), std::string::npos) << s << " (hex) in " << table;
    }
  }
}

TEST_P(ThreePartTest, MedicalRowsNameNoPatientOnlyAKeyedPseudonym) {
  Put(MakeRecord("p-1", "r-1"));
  Put(MakeRecord("p-1", "r-2", 1'799'000'500'000));
  const std::string pseudonym = three_->Pseudonym("p-1");
  EXPECT_EQ(pseudonym.size(), 64U);
  const auto mi = store_->ListMi("", 10).value();
  ASSERT_EQ(mi.size(), 2U);
  for (const auto& row : mi) EXPECT_EQ(row.pseudonym, pseudonym);
  for (std::string_view table : {"mi", "chain_log", "qi_generalised"}) {
    const std::string dump = Dump(table);
    EXPECT_EQ(dump.find("p-1"), std::string::npos) << table;
    EXPECT_EQ(dump.find("watch-p-1"), std::string::npos) << table;
  }
  // The identity side never names the pseudonym either.
  for (std::string_view table : {"ei", "ei_record_link", "ei_blind_index", "qi", "chain_log"}) {
    EXPECT_EQ(Dump(table).find(pseudonym), std::string::npos) << table;
  }

  // Without the pseudonym key the link cannot be made: the same store opened with every key
  // but another pseudonym key finds no medical part for the patient.
  ThreePartKeys keys = MakeKeys(1);
  medmesh::testing::DeterministicRandom other(99);
  other.Fill(keys.pseudonym_key.mutable_bytes());
  auto stranger = ThreePartStore::Create(*store_, std::move(keys), random_, clock_);
  ASSERT_TRUE(stranger);
  EXPECT_NE((*stranger)->Pseudonym("p-1"), pseudonym);
  auto got = (*stranger)->GetPatientRecords("p-1");
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code(), ErrorCode::kDataLoss);
}

// --- Tampering ---------------------------------------------------------------------------------

TEST_P(ThreePartTest, ATamperedRowOfAnyPartGivesOneOpaqueError) {
  Put(MakeRecord("p-1", "r-1"));
  Put(MakeRecord("p-2", "r-2"));
  struct Row {
    std::string_view table, column, key_column;
    std::string key;
  };
  const Row rows[] = {
      {"mi", "ciphertext", "pseudonym", three_->Pseudonym("p-1")},
      {"ei", "ciphertext", "patient_id", "p-1"},
      {"qi", "ciphertext", "patient_id", "p-1"},
      {"ei_record_link", "ciphertext", "patient_id", "p-1"},
      {"ei_record_link", "digest", "patient_id", "p-1"},
  };
  for (const Row& row : rows) {
    for (std::size_t offset : {0U, 30U, 60U}) {
      SCOPED_TRACE(std::string(row.table) + "." + std::string(row.column) + " byte " +
                   std::to_string(offset));
      ASSERT_TRUE(backend_->FlipByte(row.table, row.column, row.key_column, row.key, offset % 32));
      ExpectIntegrityFailure("p-1");
      EXPECT_FALSE(Verify().ok());
      EXPECT_EQ(Get("p-2").size(), 1U);  // the other patient is unaffected
      ASSERT_TRUE(backend_->FlipByte(row.table, row.column, row.key_column, row.key, offset % 32));
      EXPECT_EQ(Get("p-1").size(), 1U);
    }
  }
  EXPECT_TRUE(Verify().ok());
}

TEST_P(ThreePartTest, RowsMovedBetweenRecordsFailAuthentication) {
  Put(MakeRecord("p-1", "r-1"));
  Put(MakeRecord("p-1", "r-2", 1'799'000'500'000));
  const auto mi = store_->ListMi("", 10).value();
  ASSERT_EQ(mi.size(), 2U);
  // Copy one record's MI ciphertext over the other's: both are valid ciphertexts under the same
  // data key, but each is bound to its own row.
  ASSERT_TRUE(
      backend_->Execute("UPDATE {mi} SET ciphertext = (SELECT ciphertext FROM {mi} WHERE"
                        " mi_ref = '" +
                        mi[0].mi_ref + "') WHERE mi_ref = '" + mi[1].mi_ref + "'"));
  ExpectIntegrityFailure("p-1");
}

TEST_P(ThreePartTest, VerifyPassesOnAnHonestStore) {
  for (int i = 0; i < 4; ++i) {
    Put(MakeRecord("p-" + std::to_string(i % 2), "r-" + std::to_string(i), 1'799'000'000'000 + i));
  }
  Put(MakeRecord("p-9", "r-9"));
  ASSERT_TRUE(three_->DeletePatient("p-9"));
  const VerifyReport report = Verify();
  EXPECT_TRUE(report.ok());
  EXPECT_EQ(report.entries_checked, 6U);  // 5 puts and 1 delete
  EXPECT_EQ(report.records_checked, 4U);
  EXPECT_EQ(report.head.seq, 6U);
  EXPECT_EQ(report.unchained_rows, 0U);
  EXPECT_EQ(report.head, store_->GetChainHead().value());
  EXPECT_TRUE(three_->VerifyPatient("p-1").value().ok());
  EXPECT_EQ(three_->VerifyPatient("p-1").value().records_checked, 2U);
}

TEST_P(ThreePartTest, VerifyNamesTheEntryOfATamperedMedicalRow) {
  for (int i = 1; i <= 3; ++i) Put(MakeRecord("p-" + std::to_string(i), "r-" + std::to_string(i)));
  // An attacker with write access to the database alters p-2's medical row directly.
  ASSERT_TRUE(backend_->FlipByte("mi", "ciphertext", "pseudonym", three_->Pseudonym("p-2"), 50));
  const VerifyReport report = Verify();
  ASSERT_TRUE(report.first_broken.has_value());
  EXPECT_EQ(report.first_broken->seq, 2U);
  EXPECT_EQ(report.first_broken->reason, "record failed authentication or its digest");
  EXPECT_FALSE(report.ok());
  EXPECT_FALSE(three_->VerifyPatient("p-2").value().ok());
  EXPECT_TRUE(three_->VerifyPatient("p-1").value().ok());
  EXPECT_TRUE(three_->VerifyPatient("p-3").value().ok());
}

TEST_P(ThreePartTest, VerifyFindsAnAlteredChainEntryEvenWithTheGuardDropped) {
  for (int i = 1; i <= 4; ++i) Put(MakeRecord("p-" + std::to_string(i), "r-" + std::to_string(i)));
  ASSERT_TRUE(backend_->DropChainProtection());
  ASSERT_TRUE(backend_->Execute("UPDATE {chain_log} SET stored_ms = stored_ms + 1 WHERE seq = 3"));
  const VerifyReport report = Verify();
  ASSERT_TRUE(report.first_broken.has_value());
  EXPECT_EQ(report.first_broken->seq, 3U);
  EXPECT_EQ(report.first_broken->reason, "chain entry altered");
  EXPECT_EQ(report.entries_checked, 2U);
}

TEST_P(ThreePartTest, VerifyFindsMissingAndTruncatedEntries) {
  for (int i = 1; i <= 4; ++i) Put(MakeRecord("p-" + std::to_string(i), "r-" + std::to_string(i)));
  ASSERT_TRUE(backend_->DropChainProtection());
  ASSERT_TRUE(backend_->Execute("DELETE FROM {chain_log} WHERE seq = 4"));
  VerifyReport report = Verify();
  ASSERT_TRUE(report.first_broken.has_value());
  EXPECT_EQ(report.first_broken->reason, "chain head does not match the log");
  ASSERT_TRUE(backend_->Execute("DELETE FROM {chain_log} WHERE seq = 2"));
  report = Verify();
  ASSERT_TRUE(report.first_broken.has_value());
  EXPECT_EQ(report.first_broken->seq, 2U);
  EXPECT_EQ(report.first_broken->reason, "chain entry missing");
}

TEST_P(ThreePartTest, VerifyFindsRecordsRemovedOrAddedBehindTheStoresBack) {
  for (int i = 1; i <= 3; ++i) Put(MakeRecord("p-" + std::to_string(i), "r-" + std::to_string(i)));
  ASSERT_TRUE(backend_->Execute("DELETE FROM {ei_record_link} WHERE patient_id = 'p-2'"));
  VerifyReport report = Verify();
  ASSERT_TRUE(report.first_broken.has_value());
  EXPECT_EQ(report.first_broken->seq, 2U);
  EXPECT_EQ(report.first_broken->reason, "record missing");

  // A medical row nobody logged.
  ASSERT_TRUE(backend_->Execute(
      "INSERT INTO {mi} (mi_ref, pseudonym, ciphertext) SELECT 'forged', pseudonym, ciphertext"
      " FROM {mi} WHERE pseudonym = '" +
      three_->Pseudonym("p-1") + "'"));
  report = Verify();
  EXPECT_EQ(report.unchained_rows, 1U);  // the forged MI row
  EXPECT_FALSE(report.ok());
}

// --- Deletion ----------------------------------------------------------------------------------

TEST_P(ThreePartTest, DeletingAPatientShredsTheirKeysAndRemovesTheirRows) {
  Put(MakeRecord("p-1", "r-1"));
  Put(MakeRecord("p-1", "r-2", 1'799'000'500'000));
  Put(MakeRecord("p-2", "r-3"));
  const std::string pseudonym = three_->Pseudonym("p-1");
  // What a backup taken now would hold.
  std::vector<Bytes> backup;
  const auto mi_rows = store_->ListMi("", 10).value();
  for (const auto& row : mi_rows) {
    if (row.pseudonym == pseudonym) backup.push_back(row.ciphertext);
  }
  ASSERT_EQ(backup.size(), 2U);
  crypto::EnvelopeAead& mi = three_->envelope(RecordPart::kMi);
  // A doctor's answer to the patient, sealed under their answers key in the EI ring.
  const Bytes answer =
      three_->envelope(RecordPart::kEi).Encrypt({"p-1", "answers"}, AsBytes("answer"), {}).value();
  // Before deletion the key exists (wrong associated data, so authentication fails).
  EXPECT_EQ(mi.Decrypt({pseudonym, "mi"}, backup[0], {}).error().code(),
            ErrorCode::kUnauthenticated);

  ASSERT_TRUE(three_->DeletePatient("p-1"));

  EXPECT_EQ(three_->GetPatientRecords("p-1").error().code(), ErrorCode::kNotFound);
  EXPECT_TRUE(three_->LookupByEmail("zebedee.p-1@example.org").value().empty());
  EXPECT_EQ(three_->LookupByPhone("+44 20 7946 0958").value(), std::vector<std::string>{"p-2"});
  for (RecordPart part : {RecordPart::kEi, RecordPart::kQi, RecordPart::kMi}) {
    const auto contexts = store_->wrapped_keys(part).List().value();
    for (const auto& ctx : contexts) {
      EXPECT_NE(ctx.patient_id, "p-1");
      EXPECT_NE(ctx.patient_id, pseudonym);
    }
  }
  // The backed-up medical rows can no longer be decrypted by anyone.
  for (const Bytes& ct : backup) {
    EXPECT_EQ(mi.Decrypt({pseudonym, "mi"}, ct, {}).error().code(), ErrorCode::kNotFound);
  }
  EXPECT_EQ(
      three_->envelope(RecordPart::kEi).Decrypt({"p-1", "answers"}, answer, {}).error().code(),
      ErrorCode::kNotFound);
  EXPECT_EQ(store_->CountRows().value().mi, 1U);
  EXPECT_EQ(Get("p-2").size(), 1U);
  EXPECT_TRUE(Verify().ok());
  EXPECT_EQ(three_->DeletePatient("p-1").error().code(), ErrorCode::kNotFound);

  // The patient may come back; their old data stays unreadable, the new data is fine.
  Put(MakeRecord("p-1", "r-1"));
  EXPECT_EQ(Get("p-1").size(), 1U);
  EXPECT_TRUE(Verify().ok());
}

TEST_P(ThreePartTest, ADeletionInterruptedAfterTheKeysIsFinishedByRepeatingIt) {
  Put(MakeRecord("p-1", "r-1"));
  // As if the keys had been destroyed and the process died before the rows went.
  ASSERT_TRUE(three_->envelope(RecordPart::kEi).DestroyDataKey({"p-1", "ei"}));
  EXPECT_EQ(three_->GetPatientRecords("p-1").error().code(), ErrorCode::kNotFound);
  ASSERT_TRUE(three_->DeletePatient("p-1"));
  EXPECT_EQ(store_->CountRows().value().mi, 0U);
  EXPECT_TRUE(store_->wrapped_keys(RecordPart::kMi).List().value().empty());
  EXPECT_TRUE(Verify().ok());
}

// --- Statistics --------------------------------------------------------------------------------

// A few hundred patients: ages, sexes and postcode districts drawn as in a real catchment.
std::vector<wire::PatientRecord> Population(std::size_t n) {
  std::mt19937 rng(4242);  // NOLINT(cert-msc32-c,cert-msc51-cpp): the same population every run
  const char* districts[] = {"NW1 6XE", "NW3 2QG",  "N1 9GU",  "E1 6AN",  "E14 5AB",
                             "SE1 7PB", "SW1A 1AA", "W1A 0AX", "KT1 1AA", "ZE2 9XE"};
  std::discrete_distribution<std::size_t> district({18, 9, 14, 15, 7, 12, 11, 6, 3, 0.5});
  std::normal_distribution<double> birth_year(1978, 18);
  const char* sexes[] = {"female", "male", "other"};
  std::discrete_distribution<int> sex({49, 49, 2});
  const char* conditions[] = {"I10", "E11.9", "J44.1", "I48.0"};
  std::vector<wire::PatientRecord> out;
  for (std::size_t i = 0; i < n; ++i) {
    const std::string id = "p-" + std::to_string(i);
    wire::PatientRecord r = MakeRecord(id, "r-" + std::to_string(i));
    const int year = std::clamp(static_cast<int>(birth_year(rng)), 1922, 2025);
    char date[11];
    std::snprintf(date, sizeof date, "%04d-%02d-%02d", year, 1 + static_cast<int>(rng() % 12),
                  1 + static_cast<int>(rng() % 28));
    r.birth_date = date;
    r.sex = sexes[sex(rng)];
    r.postcode = districts[district(rng)];
    r.conditions = {conditions[rng() % 4]};
    r.photo.clear();
    r.photo_type.clear();
    out.push_back(std::move(r));
  }
  return out;
}

TEST_P(ThreePartTest, TheGeneralisedTableOfAFewHundredPatientsIsKAnonymous) {
  const auto population = Population(200);
  for (const auto& r : population) Put(r);
  // A second record of a patient does not count them twice.
  Put(MakeRecord("p-0", "r-extra", 1'799'100'000'000));

  const CohortStatistics cohorts =
      three_->Cohorts({.by_age_band = true, .by_sex = true, .by_postcode_prefix = true}).value();
  const auto rows = store_->ListGeneralisedQi().value();
  std::vector<GeneralisedQi> table;
  table.reserve(rows.size());
  for (const auto& r : rows) table.push_back({r.age_band, r.sex, r.postcode_prefix});
  EXPECT_TRUE(IsKAnonymous(table, 5)) << "smallest class " << SmallestClassSize(table);
  EXPECT_GE(table.size(), 200U * 95 / 100);
  EXPECT_LE(table.size(), 200U);
  for (const auto& r : rows) EXPECT_EQ(r.reference_year, 2027);
  // Grouped by every attribute, the cells are the classes: all shown, none small.
  EXPECT_EQ(cohorts.suppressed_cells, 0U);
  EXPECT_EQ(cohorts.patients, table.size());
  for (const CohortCell& c : cohorts.cells) EXPECT_GE(c.patients, 5U);
  EXPECT_EQ(cohorts.reference_year, 2027);

  const CohortStatistics by_sex =
      three_->Cohorts({.by_age_band = false, .by_sex = true, .by_postcode_prefix = false}).value();
  std::uint64_t total = 0;
  for (const CohortCell& c : by_sex.cells) {
    EXPECT_EQ(c.age_band, "*");
    total += c.patients;
  }
  EXPECT_EQ(total + 0, by_sex.patients);
}

TEST_P(ThreePartTest, ThePartitionedViewGivesEachPatientTheTablesGeneralisation) {
  const auto population = Population(200);
  for (const auto& r : population) Put(r);
  Put(MakeRecord("p-0", "r-extra", 1'799'100'000'000));
  ASSERT_TRUE(three_->Cohorts({}));  // rebuilds the stored table
  const GeneralisedPatientTable view = three_->GeneralisedPatients().value();
  ASSERT_EQ(view.patients.size(), 200U);
  EXPECT_EQ(view.reference_year, 2027);
  // The released rows are exactly the stored k-anonymous table, as a multiset.
  std::vector<store::GeneralisedQiRow> released;
  for (std::size_t i = 0; i < view.patients.size(); ++i) {
    const GeneralisedPatient& p = view.patients[i];
    if (i > 0) {
      EXPECT_TRUE(view.patients[i - 1].pseudonym < p.pseudonym);
    }
    EXPECT_TRUE(p.pseudonym == three_->Pseudonym(p.patient_id));
    if (p.suppressed) {
      EXPECT_TRUE((p.qi == GeneralisedQi{"*", "*", "*"}));
      continue;
    }
    released.push_back({p.qi.age_band, p.qi.sex, p.qi.postcode_prefix, 2027});
  }
  std::sort(released.begin(), released.end());
  EXPECT_TRUE(released == store_->ListGeneralisedQi().value());

  EXPECT_TRUE(three_->PatientOfPseudonym(three_->Pseudonym("p-7")).value() == "p-7");
  EXPECT_FALSE(three_->PatientOfPseudonym(three_->Pseudonym("p-unknown")).value().has_value());
  const PatientRecordActivity activity = three_->RecordActivity("p-0").value();
  EXPECT_EQ(activity.records, 2U);
  EXPECT_GT(activity.last_stored_ms, 0);
  EXPECT_EQ(three_->RecordActivity("p-unknown").value().records, 0U);
  EXPECT_EQ(three_->RecordActivity("").error().code(), ErrorCode::kInvalidArgument);
}

TEST_P(ThreePartTest, APopulationSmallerThanKIsSuppressedInThePartitionedView) {
  for (int i = 0; i < 4; ++i) Put(MakeRecord("p-" + std::to_string(i), "r-" + std::to_string(i)));
  const GeneralisedPatientTable view = three_->GeneralisedPatients().value();
  ASSERT_EQ(view.patients.size(), 4U);
  for (const GeneralisedPatient& p : view.patients) {
    EXPECT_TRUE(p.suppressed);
    EXPECT_EQ(p.qi.age_band, "*");
  }
  // The kept result follows puts and deletes: a fifth patient makes a class of k.
  Put(MakeRecord("p-4", "r-4"));
  const GeneralisedPatientTable five = three_->GeneralisedPatients().value();
  ASSERT_EQ(five.patients.size(), 5U);
  for (const GeneralisedPatient& p : five.patients) EXPECT_FALSE(p.suppressed);
  ASSERT_TRUE(three_->DeletePatient("p-4"));
  const GeneralisedPatientTable four = three_->GeneralisedPatients().value();
  ASSERT_EQ(four.patients.size(), 4U);
  for (const GeneralisedPatient& p : four.patients) EXPECT_TRUE(p.suppressed);
}

TEST_P(ThreePartTest, SmallPopulationsAreSuppressedEntirely) {
  for (int i = 0; i < 4; ++i) Put(MakeRecord("p-" + std::to_string(i), "r-" + std::to_string(i)));
  const GeneralisationReport report = three_->RefreshGeneralisedQi().value();
  EXPECT_EQ(report.released, 0U);
  EXPECT_EQ(report.suppressed, 4U);
  const CohortStatistics cohorts = three_->Cohorts({}).value();
  EXPECT_TRUE(cohorts.cells.empty());
  EXPECT_EQ(cohorts.patients, 0U);
  EXPECT_TRUE(store_->ListGeneralisedQi().value().empty());
}

TEST_P(ThreePartTest, CohortsFollowArrivalsAndDeletions) {
  for (int i = 0; i < 5; ++i) Put(MakeRecord("p-" + std::to_string(i), "r-" + std::to_string(i)));
  EXPECT_EQ(three_->Cohorts({}).value().patients, 5U);
  Put(MakeRecord("p-5", "r-5"));
  EXPECT_EQ(three_->Cohorts({}).value().patients, 6U);
  ASSERT_TRUE(three_->DeletePatient("p-5"));
  ASSERT_TRUE(three_->DeletePatient("p-4"));
  const CohortStatistics after = three_->Cohorts({}).value();
  EXPECT_EQ(after.patients, 0U);  // 4 patients are fewer than k
}

TEST_P(ThreePartTest, MedicalCountsAreByPatientWithSmallCountsSuppressed) {
  for (int i = 0; i < 6; ++i) Put(MakeRecord("p-" + std::to_string(i), "r-" + std::to_string(i)));
  for (int i = 6; i < 8; ++i) {
    wire::PatientRecord r = MakeRecord("p-" + std::to_string(i), "r-" + std::to_string(i));
    r.conditions = {"E11.9"};
    r.symptoms = {"thirst"};
    Put(r);
  }
  Put(MakeRecord("p-0", "r-again", 1'799'100'000'000));  // p-0 again: still one patient
  const MedicalStatistics stats = three_->MedicalCounts().value();
  EXPECT_EQ(stats.conditions, (std::vector<MedicalCount>{{"I10", 6}}));
  EXPECT_EQ(stats.symptoms,
            (std::vector<MedicalCount>{{"dizziness", 6}, {"persistent headache", 6}}));
  EXPECT_EQ(stats.suppressed, 2U);  // E11.9 and thirst
  EXPECT_EQ(stats.suppressed_conditions, 1U);
  EXPECT_EQ(stats.suppressed_symptoms, 1U);
}

TEST_P(ThreePartTest, MedicalCountsFollowArrivalsAndDeletionsThroughTheirCache) {
  for (int i = 0; i < 5; ++i) Put(MakeRecord("p-" + std::to_string(i), "r-" + std::to_string(i)));
  const MedicalStatistics five = three_->MedicalCounts().value();
  EXPECT_EQ(five.conditions, (std::vector<MedicalCount>{{"I10", 5}}));
  // Asked again with nothing new: the same answer (from the cache).
  const MedicalStatistics again = three_->MedicalCounts().value();
  EXPECT_EQ(again.conditions, five.conditions);
  EXPECT_EQ(again.symptoms, five.symptoms);
  // A new patient's record is counted at once.
  Put(MakeRecord("p-5", "r-5"));
  EXPECT_EQ(three_->MedicalCounts().value().conditions, (std::vector<MedicalCount>{{"I10", 6}}));
  // A new record of a known patient that changes the MI: still one patient per value.
  wire::PatientRecord changed = MakeRecord("p-5", "r-5b", 1'799'100'000'000);
  changed.conditions = {"E11.9"};
  Put(changed);
  EXPECT_EQ(three_->MedicalCounts().value().suppressed_conditions, 1U);  // E11.9: one patient
  // Another process (a second ThreePartStore on the same store) sees the same, and its
  // deletions reach this one's cache through the store's generation.
  auto other = ThreePartStore::Create(*store_, MakeKeys(1), random_, clock_).value();
  ASSERT_TRUE(other->DeletePatient("p-5"));
  ASSERT_TRUE(other->DeletePatient("p-4"));
  const MedicalStatistics after = three_->MedicalCounts().value();
  EXPECT_TRUE(after.conditions.empty());  // 4 patients are fewer than k
  EXPECT_EQ(after.suppressed_conditions, 1U);
}

// --- Keys --------------------------------------------------------------------------------------

TEST_P(ThreePartTest, AReopenedStoreWithTheSameKeysReadsEverything) {
  Put(MakeRecord("p-1", "r-1"));
  three_.reset();
  store_.reset();
  auto reopened = backend_->Open();
  ASSERT_TRUE(reopened);
  store_ = std::move(*reopened);
  three_ = ThreePartStore::Create(*store_, MakeKeys(1), random_, clock_).value();
  EXPECT_EQ(Get("p-1").at(0).record, MakeRecord("p-1", "r-1"));
  EXPECT_EQ(three_->LookupByEmail("zebedee.p-1@example.org").value().size(), 1U);
  EXPECT_TRUE(Verify().ok());
}

TEST_P(ThreePartTest, WrongKeysReadNothing) {
  Put(MakeRecord("p-1", "r-1"));
  // Other KEKs: the data keys do not unwrap.
  {
    ThreePartKeys keys = MakeKeys(2);
    keys.index_key = MakeKeys(1).index_key.Clone();
    keys.pseudonym_key = MakeKeys(1).pseudonym_key.Clone();
    auto other = ThreePartStore::Create(*store_, std::move(keys), random_, clock_).value();
    auto got = other->GetPatientRecords("p-1");
    ASSERT_FALSE(got);
    EXPECT_EQ(got.error().code(), ErrorCode::kDataLoss);
    EXPECT_EQ(got.error().message(), kIntegrityMessage);
  }
  // Another index key: no lookup finds the patient, and the chain does not verify.
  {
    ThreePartKeys keys = MakeKeys(1);
    medmesh::testing::DeterministicRandom r(5);
    r.Fill(keys.index_key.mutable_bytes());
    auto other = ThreePartStore::Create(*store_, std::move(keys), random_, clock_).value();
    EXPECT_TRUE(other->LookupByEmail("zebedee.p-1@example.org").value().empty());
    EXPECT_FALSE(other->Verify().value().ok());
  }
}

// Pseudonyms are persisted (MI rows, the intake's reading batches): the derivation must never
// change. Independent value: Python, HMAC-SHA256(HKDF-SHA256(pseudonym key, "MedMesh three-part
// store v1", "pseudonym"), u32 LE length || "p-1").
TEST_P(ThreePartTest, PseudonymIsPinned) {
  ThreePartKeys keys = MakeKeys(1);
  keys.index_key = SecretBytes(Bytes(kThreePartSecretBytes, 0x11));
  keys.pseudonym_key = SecretBytes(Bytes(kThreePartSecretBytes, 0x22));
  auto pinned = ThreePartStore::Create(*store_, std::move(keys), random_, clock_).value();
  EXPECT_EQ(pinned->Pseudonym("p-1"),
            "79aa28014c1d772bc7a758d651d76746608dfa345a4d2f1e2780dbdb717dbd99");
}

TEST_P(ThreePartTest, KeysAndOptionsAreChecked) {
  ThreePartKeys keys = MakeKeys(1);
  keys.index_key = SecretBytes(31);
  EXPECT_EQ(ThreePartStore::Create(*store_, std::move(keys), random_, clock_).error().code(),
            ErrorCode::kInvalidArgument);
  keys = MakeKeys(1);
  keys.pseudonym_key = keys.index_key.Clone();
  EXPECT_EQ(ThreePartStore::Create(*store_, std::move(keys), random_, clock_).error().code(),
            ErrorCode::kInvalidArgument);
  ThreePartOptions options;
  options.k_anonymity.k = 1;
  EXPECT_EQ(ThreePartStore::Create(*store_, MakeKeys(1), random_, clock_, options).error().code(),
            ErrorCode::kInvalidArgument);
}

TEST_P(ThreePartTest, KekRotationKeepsEveryRecordReadable) {
  Put(MakeRecord("p-1", "r-1"));
  Put(MakeRecord("p-2", "r-2"));
  medmesh::testing::DeterministicRandom r(77);
  for (RecordPart part : {RecordPart::kEi, RecordPart::kQi, RecordPart::kMi}) {
    auto report = three_->envelope(part).RotateKek(crypto::KeyEncryptionKey::Generate(r));
    ASSERT_TRUE(report) << report.error().ToString();
    EXPECT_EQ(report->unreadable, 0U);
    EXPECT_EQ(report->rewrapped, 2U);
  }
  EXPECT_EQ(Get("p-1").size(), 1U);
  EXPECT_TRUE(Verify().ok());
}

std::string BackendParamName(const ::testing::TestParamInfo<BackendKind>& param) {
  return std::string(store::testing::BackendKindName(param.param));
}

INSTANTIATE_TEST_SUITE_P(, ThreePartTest,
                         ::testing::Values(BackendKind::kSqlite, BackendKind::kPostgres),
                         BackendParamName);

}  // namespace
}  // namespace medmesh::cloud

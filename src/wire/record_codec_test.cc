#include "wire/record_codec.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>

namespace medmesh::wire {
namespace {

PatientRecord FullRecord() {
  PatientRecord r;
  r.record_id = "rec-0001";
  r.patient_id = "pat-17";
  r.device_id = "dev-3";
  r.created_ms = 1'800'000'000'123;
  r.name = "Zoë Ångström";
  r.phone = "+44 20 7946 0958";
  r.email = "zoe@example.org";
  r.address = "1 High Street\nLondon";
  r.national_id = "QQ123456C";
  r.photo = {0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 'J', 'F', 'I', 'F', 0x00};
  r.photo_type = "image/jpeg";
  r.birth_date = "1958-02-28";
  r.sex = "female";
  r.postcode = "SW1A 1AA";
  r.symptoms = {"shortness of breath", "cough\tat night"};
  r.conditions = {"J44.1", "I10"};
  r.pulse_bpm = 88;
  r.ecg_summary = "sinus rhythm, 88/min";
  r.symptoms_document = {'W', 'o', 'r', 's', 'e', ' ', 'o', 'n', ' ', 's', 't', 'a', 'i', 'r', 's'};
  r.symptoms_document_type = "text/plain";
  return r;
}

PatientRecord MinimalRecord() {
  PatientRecord r;
  r.record_id = "r";
  r.patient_id = "p";
  r.device_id = "d";
  return r;
}

void ExpectInvalid(const PatientRecord& r, std::string_view field) {
  auto encoded = EncodePatientRecord(r);
  ASSERT_FALSE(encoded.has_value()) << field;
  EXPECT_EQ(encoded.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(encoded.error().message().find(field), std::string::npos) << encoded.error().message();
}

TEST(RecordCodecTest, FullAndMinimalRecordsRoundTripCanonically) {
  for (const PatientRecord& r : {FullRecord(), MinimalRecord()}) {
    const Bytes encoded = EncodePatientRecord(r).value();
    auto decoded = DecodePatientRecord(encoded);
    ASSERT_TRUE(decoded.has_value()) << decoded.error().ToString();
    EXPECT_EQ(*decoded, r);
    EXPECT_EQ(EncodePatientRecord(*decoded).value(), encoded);
  }
}

TEST(RecordCodecTest, StartsWithMagicAndVersion) {
  const Bytes encoded = EncodePatientRecord(MinimalRecord()).value();
  EXPECT_EQ(AsStringView(ByteView(encoded).first(4)), "MMPR");
  EXPECT_EQ(encoded[4], kRecordFormatVersion);
}

TEST(RecordCodecTest, MaximalMediaRoundTrip) {
  PatientRecord r = FullRecord();
  r.photo.assign(kMaxRecordPhotoBytes, 0xab);
  r.symptoms_document.assign(kMaxRecordDocumentBytes, 'x');
  r.symptoms.assign(kMaxRecordListItems, std::string(kMaxRecordStringBytes, 's'));
  r.conditions.assign(kMaxRecordListItems, "E11.9");
  const Bytes encoded = EncodePatientRecord(r).value();
  EXPECT_LE(encoded.size(), kMaxRecordBytes);
  EXPECT_EQ(DecodePatientRecord(encoded).value(), r);
}

TEST(RecordCodecTest, ValidationNamesTheField) {
  auto with = [](const std::function<void(PatientRecord&)>& change) {
    PatientRecord r = FullRecord();
    change(r);
    return r;
  };
  ExpectInvalid(with([](PatientRecord& r) { r.record_id = ""; }), "record_id");
  ExpectInvalid(with([](PatientRecord& r) { r.patient_id = "a b"; }), "patient_id");
  ExpectInvalid(with([](PatientRecord& r) { r.device_id = std::string(65, 'd'); }), "device_id");
  ExpectInvalid(with([](PatientRecord& r) { r.created_ms = -1; }), "created_ms");
  ExpectInvalid(
      with([](PatientRecord& r) { r.name = std::string(kMaxRecordStringBytes + 1, 'n'); }), "name");
  ExpectInvalid(with([](PatientRecord& r) { r.email = "bad\xff"; }), "email");
  ExpectInvalid(with([](PatientRecord& r) { r.address = "nul\x01"; }), "address");
  ExpectInvalid(with([](PatientRecord& r) { r.phone = "\xc0\xaf"; }), "phone");      // overlong
  ExpectInvalid(with([](PatientRecord& r) { r.phone = "\xed\xa0\x80"; }), "phone");  // surrogate
  ExpectInvalid(with([](PatientRecord& r) { r.phone = "\xc2\x85"; }), "phone");      // C1 control
  ExpectInvalid(with([](PatientRecord& r) { r.birth_date = "1958-02-30"; }), "birth_date");
  ExpectInvalid(with([](PatientRecord& r) { r.birth_date = "1900-02-29"; }), "birth_date");
  ExpectInvalid(with([](PatientRecord& r) { r.birth_date = "58-02-28"; }), "birth_date");
  ExpectInvalid(with([](PatientRecord& r) { r.sex = "F"; }), "sex");
  ExpectInvalid(with([](PatientRecord& r) { r.conditions = {"hypertension"}; }), "conditions");
  ExpectInvalid(with([](PatientRecord& r) { r.conditions = {"E11."}; }), "conditions");
  ExpectInvalid(with([](PatientRecord& r) { r.symptoms = {""}; }), "symptoms");
  ExpectInvalid(with([](PatientRecord& r) { r.symptoms.assign(kMaxRecordListItems + 1, "cough"); }),
                "symptoms");
  ExpectInvalid(with([](PatientRecord& r) { r.pulse_bpm = 19; }), "pulse_bpm");
  ExpectInvalid(with([](PatientRecord& r) { r.pulse_bpm = 301; }), "pulse_bpm");
  ExpectInvalid(with([](PatientRecord& r) { r.photo_type = "application/pdf"; }), "photo_type");
  ExpectInvalid(with([](PatientRecord& r) { r.photo.clear(); }), "photo_type");
  ExpectInvalid(with([](PatientRecord& r) { r.photo.assign(kMaxRecordPhotoBytes + 1, 0); }),
                "photo");
  ExpectInvalid(with([](PatientRecord& r) { r.symptoms_document_type = "text"; }),
                "symptoms_document_type");
  ExpectInvalid(
      with([](PatientRecord& r) { r.symptoms_document.assign(kMaxRecordDocumentBytes + 1, 0); }),
      "symptoms_document");
}

TEST(RecordCodecTest, AcceptedEdgeCases) {
  PatientRecord r = FullRecord();
  r.birth_date = "2000-02-29";
  r.pulse_bpm = 0;
  r.sex = "";
  r.conditions = {"C4A.0", "U07.1", "E11.65"};
  r.photo_type = "image/png";
  r.symptoms_document_type = "application/pdf";
  EXPECT_TRUE(EncodePatientRecord(r)) << EncodePatientRecord(r).error().ToString();
}

TEST(RecordCodecTest, EveryTruncationAndTrailingByteIsRefused) {
  const Bytes encoded = EncodePatientRecord(FullRecord()).value();
  for (std::size_t n = 0; n < encoded.size(); ++n) {
    auto r = DecodePatientRecord(ByteView(encoded).first(n));
    ASSERT_FALSE(r.has_value()) << "prefix " << n;
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
  }
  Bytes trailing = encoded;
  trailing.push_back(0);
  EXPECT_FALSE(DecodePatientRecord(trailing));
}

TEST(RecordCodecTest, BadMagicVersionAndFieldsAreRefused) {
  Bytes encoded = EncodePatientRecord(MinimalRecord()).value();
  Bytes magic = encoded;
  magic[0] = 'X';
  EXPECT_NE(DecodePatientRecord(magic).error().message().find("magic"), std::string::npos);
  Bytes version = encoded;
  version[4] = 2;
  EXPECT_NE(DecodePatientRecord(version).error().message().find("version"), std::string::npos);
  // The record id "r" at offset 9: make it invalid.
  Bytes id = encoded;
  id[9] = ' ';
  EXPECT_NE(DecodePatientRecord(id).error().message().find("record_id"), std::string::npos);
}

TEST(RecordCodecTest, SizeCapsAreResourceExhausted) {
  const Bytes encoded = EncodePatientRecord(FullRecord()).value();
  auto too_big = DecodePatientRecord(encoded, encoded.size() - 1);
  ASSERT_FALSE(too_big);
  EXPECT_EQ(too_big.error().code(), ErrorCode::kResourceExhausted);
  // A length prefix over the string cap (record_id's, at offset 5) is refused before reading.
  Bytes long_id = encoded;
  long_id[5] = 0xff;
  long_id[6] = 0xff;
  auto r = DecodePatientRecord(long_id);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kResourceExhausted);
}

// --- Seed corpus ------------------------------------------------------------------------------

std::filesystem::path CorpusDir() {
  return std::filesystem::path(MEDMESH_WIRE_FUZZ_CORPUS_DIR) / "record_decode";
}

void WriteFile(const std::filesystem::path& path, ByteView data) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
}

// Regenerates fuzz_corpus/record_decode. Run by hand after a format change:
//   wire_codec_test --gtest_also_run_disabled_tests --gtest_filter='*WriteSeedCorpus'
TEST(RecordCodecCorpus, DISABLED_WriteSeedCorpus) {
  std::filesystem::create_directories(CorpusDir());
  const Bytes full = EncodePatientRecord(FullRecord()).value();
  WriteFile(CorpusDir() / "valid_full", full);
  WriteFile(CorpusDir() / "valid_minimal", EncodePatientRecord(MinimalRecord()).value());
  WriteFile(CorpusDir() / "invalid_truncated", ByteView(full).first(full.size() - 3));
  Bytes bad = full;
  bad[4] = 7;
  WriteFile(CorpusDir() / "invalid_version", bad);
}

TEST(RecordCodecCorpus, ValidSeedsStillDecode) {
  int valid = 0;
  for (const auto& entry : std::filesystem::directory_iterator(CorpusDir())) {
    const std::string name = entry.path().filename().string();
    std::ifstream in(entry.path(), std::ios::binary);
    const Bytes input((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(DecodePatientRecord(input).has_value(), name.starts_with("valid_")) << name;
    if (name.starts_with("valid_")) ++valid;
  }
  EXPECT_GE(valid, 1);
}

}  // namespace
}  // namespace medmesh::wire

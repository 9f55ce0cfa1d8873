#include "wire/envelope.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "testing/fake_clock.h"
#include "testing/fake_random.h"
#include "wire/internal/fuzz_fixtures.h"
#include "wire/internal/sample_readings.h"

namespace medmesh::wire {
namespace {

constexpr std::int64_t kStart = fuzz::kNowMs;

void ExpectOpaque(const Error& e) {
  EXPECT_TRUE(crypto::IsAuthenticationFailure(e)) << e.ToString();
}

PatientRecord Record(std::string_view device, std::string_view patient) {
  PatientRecord r;
  r.record_id = "rec-1";
  r.device_id = std::string(device);
  r.patient_id = std::string(patient);
  r.created_ms = kStart;
  r.name = "Ada Lovelace";
  r.symptoms = {"palpitations"};
  r.conditions = {"I48.0"};
  r.pulse_bpm = 112;
  r.ecg_summary = "atrial fibrillation, 112/min";
  r.photo = {0x89, 'P', 'N', 'G'};
  r.photo_type = "image/png";
  return r;
}

// A device, its cloudlet and the cloud, all on the fixture keys of internal/fuzz_fixtures.h.
class EnvelopeTest : public ::testing::Test {
 protected:
  UploadHeader Header(ContentType type, std::uint64_t sequence) {
    return {.content_type = type,
            .device_id = "dev-1",
            .patient_id = "pat-1",
            .sequence = sequence,
            .batch_id = NewBatchId(random_),
            .created_ms = kStart + static_cast<std::int64_t>(sequence) * 60'000};
  }
  static Bytes ReadingsPayload(std::uint64_t sequence) {
    return EncodeReadings(sample::AllKinds(
                              60, kStart + static_cast<std::int64_t>(sequence) * 60'000, sequence))
        .value();
  }
  Bytes SealReadings(std::uint64_t sequence) {
    return SealUpload(Header(ContentType::kReadingsBatch, sequence), ReadingsPayload(sequence),
                      sealer_, *device_, random_)
        .value();
  }
  Result<OpenedUpload> Open(ByteView upload, const Enrolment& device) {
    MEDMESH_ASSIGN_OR_RETURN(ParsedUpload parsed, ParseUpload(upload));
    return OpenUpload(parsed, device, opener_);
  }
  EnrolmentLookup Lookup() const {
    return [this](const UploadHeader& h) -> Result<Enrolment> {
      if (h.device_id != enrolment_.device_id) return NotFound("unknown device");
      return enrolment_;
    };
  }

  testing::DeterministicRandom random_{77};
  testing::FakeClock clock_;
  crypto::HybridPrivateKey cloudlet_kem_ = fuzz::CloudletKemKey();
  crypto::SessionSealer sealer_{cloudlet_kem_.public_key(), random_, clock_};
  crypto::SessionOpener opener_{cloudlet_kem_.Clone(), clock_};
  std::unique_ptr<crypto::Signer> device_ = crypto::NewEd25519Signer(fuzz::DeviceKey());
  Enrolment enrolment_ = fuzz::DeviceEnrolment();
  std::unique_ptr<crypto::Signer> cloudlet_signer_ =
      crypto::NewEd25519Signer(fuzz::CloudletSigningKey());
  VerifiedCertificate cloudlet_cert_ = fuzz::VerifiedCloudletCertificate();
  std::unique_ptr<crypto::HybridSealer> to_cloud_ =
      crypto::NewHybridSealer(fuzz::CloudKemKey().public_key(), random_);
  std::unique_ptr<crypto::HybridOpener> cloud_ = crypto::NewHybridOpener(fuzz::CloudKemKey());
};

// --- Upload -----------------------------------------------------------------------------------

TEST_F(EnvelopeTest, ReadingsUploadRoundTrips) {
  const UploadHeader header = Header(ContentType::kReadingsBatch, 5);
  const Bytes payload = ReadingsPayload(5);
  const Bytes upload = SealUpload(header, payload, sealer_, *device_, random_).value();
  auto parsed = ParseUpload(upload);
  ASSERT_TRUE(parsed.has_value()) << parsed.error().ToString();
  EXPECT_EQ(parsed->header, header);
  EXPECT_TRUE(VerifyUpload(*parsed, enrolment_));
  auto opened = OpenUpload(*parsed, enrolment_, opener_);
  ASSERT_TRUE(opened.has_value()) << opened.error().ToString();
  EXPECT_EQ(opened->header, header);
  EXPECT_EQ(opened->payload, payload);

  auto batch = ReadingBatchFromUpload(opened->header, opened->payload);
  ASSERT_TRUE(batch.has_value()) << batch.error().ToString();
  EXPECT_EQ(batch->device_id, "dev-1");
  EXPECT_EQ(batch->patient_id, "pat-1");
  EXPECT_EQ(batch->sequence, 5u);
  EXPECT_EQ(batch->readings, DecodeReadings(payload).value());
  EXPECT_FALSE(PatientRecordFromUpload(opened->header, opened->payload));
}

TEST_F(EnvelopeTest, PerUploadOverheadIsHeaderSessionSaltAndSignature) {
  (void)SealReadings(0);  // batch 0 of the session carries the KEM
  const Bytes payload = ReadingsPayload(1);
  const Bytes upload =
      SealUpload(Header(ContentType::kReadingsBatch, 1), payload, sealer_, *device_, random_)
          .value();
  const ParsedUpload parsed = ParseUpload(upload).value();
  // magic 4, version 1, type 1, ids 1+5 and 1+5, sequence 8, batch id 16, time 8, commitment 32.
  EXPECT_EQ(parsed.header_bytes.size(), 82u);
  EXPECT_EQ(upload.size(), 82 + (30 + 16) + 16 + payload.size() + 64);
}

TEST_F(EnvelopeTest, RecordUploadRoundTrips) {
  const PatientRecord record = Record("dev-1", "pat-1");
  const Bytes payload = EncodePatientRecord(record).value();
  const UploadHeader header = Header(ContentType::kPatientRecord, 9);
  auto opened = Open(SealUpload(header, payload, sealer_, *device_, random_).value(), enrolment_);
  ASSERT_TRUE(opened.has_value()) << opened.error().ToString();
  EXPECT_EQ(PatientRecordFromUpload(opened->header, opened->payload).value(), record);
  EXPECT_FALSE(ReadingBatchFromUpload(opened->header, opened->payload));
}

TEST_F(EnvelopeTest, RecordOfAnotherDeviceOrPatientIsRefused) {
  for (const PatientRecord& record : {Record("dev-2", "pat-1"), Record("dev-1", "pat-2")}) {
    const UploadHeader header = Header(ContentType::kPatientRecord, 1);
    auto r = PatientRecordFromUpload(header, EncodePatientRecord(record).value());
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
  }
}

TEST_F(EnvelopeTest, UploadFromAnotherKeyIsOpaqueAndNeverReachesTheOpener) {
  testing::DeterministicRandom other(3);
  auto impostor = crypto::NewEd25519Signer(crypto::SigningSecretKey::Generate(other));
  const Bytes upload = SealUpload(Header(ContentType::kReadingsBatch, 0), ReadingsPayload(0),
                                  sealer_, *impostor, random_)
                           .value();
  auto r = Open(upload, enrolment_);
  ASSERT_FALSE(r);
  ExpectOpaque(r.error());
  // Verified before opened: the stranger's batch 0 did not start a session.
  EXPECT_EQ(opener_.session_count(), 0u);
}

TEST_F(EnvelopeTest, UploadForAnotherDeviceOrPatientIsPermissionDenied) {
  const Bytes upload = SealReadings(0);
  Enrolment other_patient = enrolment_;
  other_patient.patient_id = "pat-2";
  auto r = Open(upload, other_patient);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kPermissionDenied);
  Enrolment other_device = enrolment_;
  other_device.device_id = "dev-2";
  EXPECT_EQ(Open(upload, other_device).error().code(), ErrorCode::kPermissionDenied);
  EXPECT_TRUE(Open(upload, enrolment_));
}

TEST_F(EnvelopeTest, ReplayedUploadIsOpaqueFailure) {
  const Bytes b0 = SealReadings(0);
  const Bytes b1 = SealReadings(1);
  ASSERT_TRUE(Open(b0, enrolment_));
  ASSERT_TRUE(Open(b1, enrolment_));
  ExpectOpaque(Open(b1, enrolment_).error());
  ExpectOpaque(Open(b0, enrolment_).error());
}

TEST_F(EnvelopeTest, EveryFlippedByteOfAnUploadIsRejected) {
  const Bytes b0 = SealReadings(0);
  const Bytes b1 = SealReadings(1);
  for (const Bytes* upload : {&b0, &b1}) {
    for (std::size_t i = 0; i < upload->size(); ++i) {
      Bytes flipped = *upload;
      flipped[i] ^= 0x01;
      EXPECT_FALSE(Open(flipped, enrolment_)) << "byte " << i;
    }
    // The original still opens: failures left the opener unchanged.
    ASSERT_TRUE(Open(*upload, enrolment_));
  }
}

TEST_F(EnvelopeTest, EveryTruncationOfAnUploadIsRejected) {
  const Bytes b0 = SealReadings(0);
  for (std::size_t n = 0; n < b0.size(); ++n) {
    EXPECT_FALSE(Open(ByteView(b0).first(n), enrolment_)) << "prefix " << n;
  }
}

TEST_F(EnvelopeTest, ParseUploadGivesSpecificErrorsAndCapsTheSize) {
  const Bytes upload = SealReadings(0);
  auto message = [](const Bytes& b) { return ParseUpload(b).error().message(); };
  Bytes magic = upload;
  magic[0] = 'X';
  EXPECT_NE(message(magic).find("magic"), std::string::npos);
  Bytes version = upload;
  version[4] = 2;
  EXPECT_NE(message(version).find("version"), std::string::npos);
  Bytes type = upload;
  type[5] = 3;
  EXPECT_NE(message(type).find("content type"), std::string::npos);
  Bytes id = upload;
  id[7] = '/';
  EXPECT_NE(message(id).find("device id"), std::string::npos);
  EXPECT_NE(message(Bytes(upload.begin(), upload.begin() + 100)).find("too short"),
            std::string::npos);
  auto capped = ParseUpload(upload, upload.size() - 1);
  ASSERT_FALSE(capped);
  EXPECT_EQ(capped.error().code(), ErrorCode::kResourceExhausted);
}

TEST_F(EnvelopeTest, SealUploadRefusesBadHeadersAndHugePayloads) {
  UploadHeader header = Header(ContentType::kReadingsBatch, 0);
  header.device_id = "";
  EXPECT_EQ(SealUpload(header, AsBytes("x"), sealer_, *device_, random_).error().code(),
            ErrorCode::kInvalidArgument);
  header = Header(ContentType::kReadingsBatch, 0);
  header.created_ms = -1;
  EXPECT_FALSE(SealUpload(header, AsBytes("x"), sealer_, *device_, random_));
  header = Header(static_cast<ContentType>(0), 0);
  EXPECT_FALSE(SealUpload(header, AsBytes("x"), sealer_, *device_, random_));
  const Bytes huge(kMaxUploadPayloadBytes + 1, 0);
  EXPECT_FALSE(
      SealUpload(Header(ContentType::kPatientRecord, 0), huge, sealer_, *device_, random_));
}

// --- Evidence ---------------------------------------------------------------------------------

TEST_F(EnvelopeTest, EvidenceRoundTripsAndRechecksTheDeviceSignature) {
  const OpenedUpload opened = Open(SealReadings(0), enrolment_).value();
  const Bytes encoded = EncodeUploadEvidence(opened.evidence);
  EXPECT_EQ(AsStringView(ByteView(encoded).first(4)), "MMEV");
  const UploadEvidence decoded = DecodeUploadEvidence(encoded).value();
  EXPECT_EQ(decoded, opened.evidence);
  auto header = VerifyUploadEvidence(decoded, opened.payload, enrolment_);
  ASSERT_TRUE(header.has_value()) << header.error().ToString();
  EXPECT_EQ(*header, opened.header);

  Bytes tampered = opened.payload;
  tampered[tampered.size() / 2] ^= 1;
  ExpectOpaque(VerifyUploadEvidence(decoded, tampered, enrolment_).error());
  UploadEvidence other_salt = decoded;
  other_salt.salt[0] ^= 1;
  ExpectOpaque(VerifyUploadEvidence(other_salt, opened.payload, enrolment_).error());
  UploadEvidence other_digest = decoded;
  other_digest.sealed_digest[0] ^= 1;
  ExpectOpaque(VerifyUploadEvidence(other_digest, opened.payload, enrolment_).error());
  Enrolment other_patient = enrolment_;
  other_patient.patient_id = "pat-9";
  EXPECT_EQ(VerifyUploadEvidence(decoded, opened.payload, other_patient).error().code(),
            ErrorCode::kPermissionDenied);

  for (std::size_t n = 0; n < encoded.size(); ++n) {
    EXPECT_FALSE(DecodeUploadEvidence(ByteView(encoded).first(n))) << "prefix " << n;
  }
  Bytes trailing = encoded;
  trailing.push_back(0);
  EXPECT_FALSE(DecodeUploadEvidence(trailing));
}

// --- Forward ----------------------------------------------------------------------------------

TEST_F(EnvelopeTest, ForwardRoundTripsWithTheDeviceSignatureIntact) {
  const OpenedUpload upload = Open(SealReadings(0), enrolment_).value();
  const ForwardHeader header{.content_type = ContentType::kReadingsBatch,
                             .cloudlet_id = "cloudlet-1",
                             .forward_id = NewBatchId(random_)};
  const Bytes forward = SealForward(header, upload, *to_cloud_, *cloudlet_signer_).value();
  EXPECT_EQ(AsStringView(ByteView(forward).first(4)), "MMFW");
  auto parsed = ParseForward(forward);
  ASSERT_TRUE(parsed.has_value()) << parsed.error().ToString();
  EXPECT_EQ(parsed->header, header);
  auto opened = OpenForward(*parsed, cloudlet_cert_, *cloud_, Lookup());
  ASSERT_TRUE(opened.has_value()) << opened.error().ToString();
  EXPECT_EQ(opened->header, upload.header);
  EXPECT_EQ(opened->payload, upload.payload);
  EXPECT_EQ(opened->evidence, upload.evidence);
  // A forward is stateless: any cloud node can open it again (de-duplicate by batch id above).
  EXPECT_TRUE(OpenForward(*parsed, cloudlet_cert_, *cloud_, Lookup()));
}

TEST_F(EnvelopeTest, ForwardOfARecordRoundTrips) {
  const Bytes payload = EncodePatientRecord(Record("dev-1", "pat-1")).value();
  const OpenedUpload upload =
      Open(SealUpload(Header(ContentType::kPatientRecord, 0), payload, sealer_, *device_, random_)
               .value(),
           enrolment_)
          .value();
  const Bytes forward = SealForward({.content_type = ContentType::kPatientRecord,
                                     .cloudlet_id = "cloudlet-1",
                                     .forward_id = NewBatchId(random_)},
                                    upload, *to_cloud_, *cloudlet_signer_)
                            .value();
  auto opened = OpenForward(ParseForward(forward).value(), cloudlet_cert_, *cloud_, Lookup());
  ASSERT_TRUE(opened.has_value()) << opened.error().ToString();
  EXPECT_EQ(PatientRecordFromUpload(opened->header, opened->payload).value(),
            Record("dev-1", "pat-1"));
}

class ForwardTest : public EnvelopeTest {
 protected:
  void SetUp() override {
    upload_ = Open(SealReadings(0), enrolment_).value();
    forward_ = SealForward(header_, upload_, *to_cloud_, *cloudlet_signer_).value();
  }
  Result<OpenedUpload> OpenBytes(ByteView forward, const VerifiedCertificate& cert,
                                 const EnrolmentLookup& lookup) {
    MEDMESH_ASSIGN_OR_RETURN(ParsedForward parsed, ParseForward(forward));
    return OpenForward(parsed, cert, *cloud_, lookup);
  }

  ForwardHeader header_{.content_type = ContentType::kReadingsBatch,
                        .cloudlet_id = "cloudlet-1",
                        .forward_id = {1, 2, 3}};
  OpenedUpload upload_;
  Bytes forward_;
};

TEST_F(ForwardTest, EveryFlippedByteIsRejected) {
  for (std::size_t i = 0; i < forward_.size(); ++i) {
    Bytes flipped = forward_;
    flipped[i] ^= 0x01;
    EXPECT_FALSE(OpenBytes(flipped, cloudlet_cert_, Lookup())) << "byte " << i;
  }
  EXPECT_TRUE(OpenBytes(forward_, cloudlet_cert_, Lookup()));
}

TEST_F(ForwardTest, EveryTruncationIsRejected) {
  for (std::size_t n = 0; n < forward_.size(); ++n) {
    EXPECT_FALSE(OpenBytes(ByteView(forward_).first(n), cloudlet_cert_, Lookup())) << n;
  }
}

TEST_F(ForwardTest, CertificateOfAnotherCloudletIsPermissionDenied) {
  auto root = crypto::NewEd25519Signer(fuzz::RootKey());
  const Bytes other = IssueCertificate({.role = CertificateRole::kCloudlet,
                                        .subject_id = "cloudlet-2",
                                        .signing_key = fuzz::CloudletSigningKey().public_key(),
                                        .kem_key = fuzz::CloudletKemKey().public_key(),
                                        .not_before_ms = fuzz::kNotBeforeMs,
                                        .not_after_ms = fuzz::kNotAfterMs},
                                       *root)
                          .value();
  const VerifiedCertificate cert = VerifyCertificate(other, fuzz::RootKey().public_key(),
                                                     CertificateRole::kCloudlet, fuzz::kNowMs)
                                       .value();
  auto r = OpenBytes(forward_, cert, Lookup());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kPermissionDenied);
}

TEST_F(ForwardTest, ForwardSignedByAnotherKeyIsOpaque) {
  testing::DeterministicRandom other(12);
  auto impostor = crypto::NewEd25519Signer(crypto::SigningSecretKey::Generate(other));
  const Bytes forged = SealForward(header_, upload_, *to_cloud_, *impostor).value();
  ExpectOpaque(OpenBytes(forged, cloudlet_cert_, Lookup()).error());
}

TEST_F(ForwardTest, ForwardSealedToAnotherCloudIsOpaque) {
  testing::DeterministicRandom other(13);
  auto elsewhere =
      crypto::NewHybridSealer(crypto::HybridPrivateKey::Generate(other).public_key(), random_);
  const Bytes misaddressed = SealForward(header_, upload_, *elsewhere, *cloudlet_signer_).value();
  ExpectOpaque(OpenBytes(misaddressed, cloudlet_cert_, Lookup()).error());
}

TEST_F(ForwardTest, LookupErrorsPassThroughAndAWrongDeviceKeyIsOpaque) {
  const EnrolmentLookup unknown = [](const UploadHeader&) -> Result<Enrolment> {
    return NotFound("device dev-1 is not enrolled");
  };
  EXPECT_EQ(OpenBytes(forward_, cloudlet_cert_, unknown).error().code(), ErrorCode::kNotFound);
  const EnrolmentLookup wrong_key = [this](const UploadHeader&) -> Result<Enrolment> {
    Enrolment e = enrolment_;
    e.device_key = fuzz::CloudletSigningKey().public_key();
    return e;
  };
  ExpectOpaque(OpenBytes(forward_, cloudlet_cert_, wrong_key).error());
}

TEST_F(ForwardTest, SealForwardRefusesMismatchedContentTypeAndBadIds) {
  ForwardHeader header = header_;
  header.content_type = ContentType::kPatientRecord;
  EXPECT_EQ(SealForward(header, upload_, *to_cloud_, *cloudlet_signer_).error().code(),
            ErrorCode::kInvalidArgument);
  header = header_;
  header.cloudlet_id = "";
  EXPECT_FALSE(SealForward(header, upload_, *to_cloud_, *cloudlet_signer_));
}

TEST_F(ForwardTest, ParseForwardGivesSpecificErrorsAndCapsTheSize) {
  Bytes magic = forward_;
  magic[3] = 'X';
  EXPECT_NE(ParseForward(magic).error().message().find("magic"), std::string::npos);
  Bytes type = forward_;
  type[5] = 0;
  EXPECT_NE(ParseForward(type).error().message().find("content type"), std::string::npos);
  EXPECT_NE(ParseForward(ByteView(forward_).first(200)).error().message().find("too short"),
            std::string::npos);
  EXPECT_EQ(ParseForward(forward_, forward_.size() - 1).error().code(),
            ErrorCode::kResourceExhausted);
}

// --- Seed corpora -----------------------------------------------------------------------------

std::filesystem::path CorpusDir(std::string_view name) {
  return std::filesystem::path(MEDMESH_WIRE_FUZZ_CORPUS_DIR) / name;
}

void WriteFile(const std::filesystem::path& path, ByteView data) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
}

Bytes ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The upload fuzzer's input: a sequence of (u32 length, upload) records.
Bytes Records(const std::vector<ByteView>& uploads) {
  Bytes out;
  for (ByteView u : uploads) {
    AppendU32Le(out, static_cast<std::uint32_t>(u.size()));
    AppendBytes(out, u);
  }
  return out;
}

std::vector<Bytes> SplitRecords(ByteView input) {
  std::vector<Bytes> out;
  ByteReader in(input);
  while (in.remaining() > 0) {
    auto n = in.ReadU32Le();
    if (!n) break;
    auto b = in.ReadBytes(*n);
    if (!b) break;
    out.emplace_back(b->begin(), b->end());
  }
  return out;
}

// The blob the cloudlet and the cloud keep at rest (encrypted): u32 LE evidence length, the
// evidence, the payload.
TEST_F(EnvelopeTest, EvidenceAndPayloadRoundTrip) {
  const OpenedUpload opened = Open(SealReadings(0), enrolment_).value();
  const Bytes encoded = EncodeEvidenceAndPayload(opened.evidence, opened.payload);
  const Bytes evidence = EncodeUploadEvidence(opened.evidence);
  Bytes expected;
  AppendU32Le(expected, static_cast<std::uint32_t>(evidence.size()));
  AppendBytes(expected, evidence);
  AppendBytes(expected, opened.payload);
  EXPECT_EQ(encoded, expected);

  const auto decoded = DecodeEvidenceAndPayload(encoded);
  ASSERT_TRUE(decoded) << decoded.error().ToString();
  EXPECT_EQ(decoded->evidence, opened.evidence);
  EXPECT_EQ(Bytes(decoded->payload.begin(), decoded->payload.end()), opened.payload);
  EXPECT_EQ(VerifyUploadEvidence(decoded->evidence, decoded->payload, enrolment_).value(),
            opened.header);

  // Cut anywhere before the payload: refused. (A cut payload fails VerifyUploadEvidence.)
  for (std::size_t n = 0; n < 4 + evidence.size(); ++n) {
    EXPECT_EQ(DecodeEvidenceAndPayload(ByteView(encoded).first(n)).error().code(),
              ErrorCode::kInvalidArgument)
        << "prefix " << n;
  }
  // A length that overruns, or that cuts the evidence short.
  Bytes overrun = encoded;
  overrun[3] = 0x7f;
  EXPECT_FALSE(DecodeEvidenceAndPayload(overrun));
  Bytes shorter = encoded;
  shorter[0] = static_cast<std::uint8_t>(shorter[0] - 1);
  EXPECT_FALSE(DecodeEvidenceAndPayload(shorter));
  // An empty payload round-trips too.
  const auto empty = DecodeEvidenceAndPayload(EncodeEvidenceAndPayload(opened.evidence, {}));
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->payload.empty());

  // The layout is persisted: the stored seed still decodes and verifies.
  // (The decoded payload is a view into the file's bytes, which must outlive it.)
  const Bytes file = ReadFile(CorpusDir("forward") / "at_rest_evidence_and_payload");
  const auto stored = DecodeEvidenceAndPayload(file);
  ASSERT_TRUE(stored);
  EXPECT_TRUE(VerifyUploadEvidence(stored->evidence, stored->payload, enrolment_));
}

// Regenerates fuzz_corpus/upload and fuzz_corpus/forward from the fuzzers' fixtures. By hand:
//   wire_auth_test --gtest_also_run_disabled_tests --gtest_filter='*WriteSeedCorpus'
TEST_F(EnvelopeTest, DISABLED_WriteSeedCorpus) {
  std::filesystem::create_directories(CorpusDir("upload"));
  std::filesystem::create_directories(CorpusDir("forward"));
  const Bytes b0 = SealReadings(0);
  const Bytes b1 = SealReadings(1);
  const Bytes b2 =
      SealUpload(Header(ContentType::kPatientRecord, 2),
                 EncodePatientRecord(Record("dev-1", "pat-1")).value(), sealer_, *device_, random_)
          .value();
  WriteFile(CorpusDir("upload") / "valid_stream", Records({b0, b1, b2}));
  WriteFile(CorpusDir("upload") / "valid_reordered", Records({b0, b2, b1}));
  WriteFile(CorpusDir("upload") / "invalid_replay", Records({b0, b1, b1}));
  WriteFile(CorpusDir("upload") / "invalid_no_opening", Records({b1}));
  Bytes flipped = b1;
  flipped[flipped.size() - 70] ^= 0x10;
  WriteFile(CorpusDir("upload") / "invalid_flipped", Records({b0, flipped}));
  WriteFile(CorpusDir("upload") / "invalid_truncated", Records({ByteView(b0).first(90)}));

  const OpenedUpload readings = Open(b0, enrolment_).value();
  (void)Open(b1, enrolment_).value();
  const OpenedUpload record = Open(b2, enrolment_).value();
  const Bytes f0 = SealForward({.content_type = ContentType::kReadingsBatch,
                                .cloudlet_id = "cloudlet-1",
                                .forward_id = NewBatchId(random_)},
                               readings, *to_cloud_, *cloudlet_signer_)
                       .value();
  WriteFile(CorpusDir("forward") / "valid_readings", f0);
  WriteFile(CorpusDir("forward") / "valid_record",
            SealForward({.content_type = ContentType::kPatientRecord,
                         .cloudlet_id = "cloudlet-1",
                         .forward_id = NewBatchId(random_)},
                        record, *to_cloud_, *cloudlet_signer_)
                .value());
  Bytes f_flipped = f0;
  f_flipped[200] ^= 0x01;
  WriteFile(CorpusDir("forward") / "invalid_flipped", f_flipped);
  WriteFile(CorpusDir("forward") / "invalid_truncated", ByteView(f0).first(f0.size() - 1));
  WriteFile(CorpusDir("forward") / "invalid_evidence_only",
            EncodeUploadEvidence(readings.evidence));
  WriteFile(CorpusDir("forward") / "at_rest_evidence_and_payload",
            EncodeEvidenceAndPayload(readings.evidence, readings.payload));
}

TEST_F(EnvelopeTest, UploadSeedsStillOpen) {
  int valid = 0;
  for (const auto& entry : std::filesystem::directory_iterator(CorpusDir("upload"))) {
    const std::string name = entry.path().filename().string();
    crypto::SessionOpener opener(fuzz::CloudletKemKey(), clock_);
    bool all_opened = true;
    for (const Bytes& upload : SplitRecords(ReadFile(entry.path()))) {
      auto parsed = ParseUpload(upload);
      all_opened = all_opened && parsed && OpenUpload(*parsed, enrolment_, opener).has_value();
    }
    EXPECT_EQ(all_opened, name.starts_with("valid_")) << name;
    if (name.starts_with("valid_")) ++valid;
  }
  EXPECT_GE(valid, 1);
}

TEST_F(EnvelopeTest, ForwardSeedsStillOpen) {
  int valid = 0;
  for (const auto& entry : std::filesystem::directory_iterator(CorpusDir("forward"))) {
    const std::string name = entry.path().filename().string();
    const Bytes input = ReadFile(entry.path());
    auto parsed = ParseForward(input);
    const bool ok = parsed && OpenForward(*parsed, cloudlet_cert_, *cloud_, Lookup()).has_value();
    EXPECT_EQ(ok, name.starts_with("valid_")) << name;
    if (name.starts_with("valid_")) ++valid;
  }
  EXPECT_GE(valid, 1);
}

}  // namespace
}  // namespace medmesh::wire

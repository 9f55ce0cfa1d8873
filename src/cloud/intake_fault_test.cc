// The cloud's intake on a failing disk: a real service on loopback (SQLite backend) whose
// databases do their I/O through testing::FaultySqliteVfs. Every store failure is a 503 that
// the cloudlet retries (forward_intake.h); nothing is acknowledged that is not committed, and
// once the disk is healed the retried forward is stored exactly once (one batch, one record,
// one entry in the hash-chained log, which still verifies).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "cloud/cloud_service.h"
#include "crypto/session_seal.h"
#include "node/test_support.h"
#include "testing/faulty_sqlite_vfs.h"
#include "wire/enrolment.h"
#include "wire/readings_codec.h"
#include "wire/record_codec.h"

namespace medmesh::cloud {
namespace {

using nlohmann::json;
using node::testing::HeartRate;
using Vfs = ::medmesh::testing::FaultySqliteVfs;

std::int64_t NowMs() { return wire::ToUnixMs(std::chrono::system_clock::now()); }

// What a cloudlet sends, made with the production wire code: its certificate, a device's
// enrolment, and forwards of that device's uploads. (A trimmed copy of cloud_service_test.cc's
// TestCloudlet: uploads opened as the cloudlet opens them, then sealed to the cloud.)
class FaultTestCloudlet {
 public:
  FaultTestCloudlet(node::NodeIdentity identity, Random& random, const Clock& clock)
      : identity_(std::move(identity)),
        random_(random),
        clock_(clock),
        signer_(crypto::NewEd25519Signer(identity_.signing_key.Clone())),
        opener_(identity_.kem_key.Clone(), clock),
        device_signer_(crypto::NewEd25519Signer(crypto::SigningSecretKey::Generate(random))),
        device_sealer_(identity_.kem_key.public_key(), random, clock) {}

  ByteView certificate() const { return identity_.certificate.encoded(); }

  Bytes Enrol() {
    enrolment_ = wire::Enrolment{"watch-1", "patient-1", device_signer_->public_key(),
                                 identity_.id(), NowMs()};
    return wire::IssueEnrolment(*enrolment_, *signer_).value();
  }

  wire::OpenedUpload Upload(wire::ContentType type, const Bytes& payload) {
    const wire::UploadHeader header{.content_type = type,
                                    .device_id = enrolment_->device_id,
                                    .patient_id = enrolment_->patient_id,
                                    .sequence = ++sequence_,
                                    .batch_id = wire::NewBatchId(random_),
                                    .created_ms = NowMs()};
    const Bytes upload =
        wire::SealUpload(header, payload, device_sealer_, *device_signer_, random_).value();
    return wire::OpenUpload(wire::ParseUpload(upload).value(), *enrolment_, opener_).value();
  }

  wire::PatientRecord Record(std::string record_id) const {
    node::testing::TestDevice shape(enrolment_->device_id, enrolment_->patient_id, random_, clock_);
    return shape.Record(std::move(record_id));
  }

  // A new forward (new forward id, new sealed box) of the same upload, as the forwarder's retry.
  Bytes Forward(const wire::OpenedUpload& opened, const wire::VerifiedCertificate& cloud) {
    auto sealer = crypto::NewHybridSealer(*cloud.certificate().kem_key, random_);
    return wire::SealForward(
               {opened.header.content_type, identity_.id(), wire::NewBatchId(random_)}, opened,
               *sealer, *signer_)
        .value();
  }

 private:
  node::NodeIdentity identity_;
  Random& random_;
  const Clock& clock_;
  std::unique_ptr<crypto::Signer> signer_;
  crypto::SessionOpener opener_;
  std::unique_ptr<crypto::Signer> device_signer_;
  crypto::SessionSealer device_sealer_;
  std::optional<wire::Enrolment> enrolment_;
  std::uint64_t sequence_ = 0;
};

class IntakeFaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    random_.Fill(index_key_.mutable_bytes());
    random_.Fill(pseudonym_key_.mutable_bytes());
    StartService();
    auto cloudlet = deployment_.Identity(wire::CertificateRole::kCloudlet, "cloudlet-1");
    ASSERT_TRUE(cloudlet) << cloudlet.error().ToString();
    cloudlet_ = std::make_unique<FaultTestCloudlet>(std::move(*cloudlet), random_, clock_);
  }
  void TearDown() override { StopService(); }

  void StartService() {
    CloudOptions options;
    options.data_dir = dir_.path() / "cloud";
    options.access_log = false;
    options.sqlite_vfs = vfs_.name();
    auto identity = deployment_.Identity(wire::CertificateRole::kCloud, "cloud");
    ASSERT_TRUE(identity) << identity.error().ToString();
    cloud_certificate_.emplace(wire::VerifyCertificate(identity->certificate.encoded(),
                                                       identity->root.key,
                                                       wire::CertificateRole::kCloud, NowMs())
                                   .value());
    CloudSecrets secrets{std::move(*identity), kek_.Clone(), index_key_.Clone(),
                         pseudonym_key_.Clone(), operator_token_.Clone()};
    auto service = CloudService::Start(std::move(options), std::move(secrets), clock_, random_);
    ASSERT_TRUE(service) << service.error().ToString();
    service_ = std::move(*service);
    url_ = "http://127.0.0.1:" + std::to_string(service_->port());
  }

  void StopService() {
    if (!service_) return;
    service_->Stop(std::chrono::seconds(1));
    service_.reset();
  }

  net::Response Post(std::string_view path, ByteView body) {
    auto r = client_->Post(url_ + std::string(path), std::string(AsStringView(body)),
                           "application/octet-stream");
    EXPECT_TRUE(r) << r.error().ToString();
    return r ? *r : net::Response{};
  }

  static void ExpectUnavailable(const net::Response& r) {
    EXPECT_EQ(r.status, 503) << r.body;
    EXPECT_EQ(json::parse(r.body)["error"], "unavailable") << r.body;
  }

  // Each failure mode in turn on the database `file`: `post` must be refused with 503.
  template <typename Post>
  void ExpectRefusedOnAFailingDisk(const std::string& file, Post post) {
    vfs_.Inject({.op = Vfs::Op::kWrite, .failure = Vfs::Failure::kFull, .file = file});
    ExpectUnavailable(post());
    vfs_.Clear();
    vfs_.Inject({.op = Vfs::Op::kSync, .failure = Vfs::Failure::kIoError, .file = file});
    ExpectUnavailable(post());
    vfs_.Clear();
    EXPECT_GE(vfs_.injected(), 2u);
  }

  // As the operator: records and chain_length are not for anonymous callers.
  json Stats() {
    net::ClientRequest request;
    request.url = url_ + "/api/v1/stats";
    request.headers.emplace_back("Authorization",
                                 "Bearer " + node::testing::TokenText(operator_token_));
    auto r = client_->Send(request);
    EXPECT_TRUE(r && r->status == 200) << (r ? r->body : r.error().ToString());
    return json::parse(r->body);
  }

  json Integrity() {
    net::ClientRequest request;
    request.url = url_ + "/api/v1/integrity";
    request.headers.emplace_back("Authorization",
                                 "Bearer " + node::testing::TokenText(operator_token_));
    const net::Response r = client_->Send(request).value();
    EXPECT_EQ(r.status, 200) << r.body;
    return json::parse(r.body);
  }

  // Declared first: destroyed after the service, which must close its databases first.
  Vfs vfs_{"faulty-cloud"};
  node::testing::TempDir dir_;
  node::testing::TestDeployment deployment_{dir_.path() / "pki"};
  SystemClock clock_;
  SystemRandom random_;
  crypto::KeyEncryptionKey kek_ = crypto::KeyEncryptionKey::Generate(random_);
  SecretBytes index_key_{32};
  SecretBytes pseudonym_key_{32};
  SecretBytes operator_token_ = node::testing::RandomToken(random_);
  std::unique_ptr<net::HttpClient> client_ = net::HttpClient::Create({}).value();
  std::unique_ptr<CloudService> service_;
  std::optional<wire::VerifiedCertificate> cloud_certificate_;
  std::unique_ptr<FaultTestCloudlet> cloudlet_;
  std::string url_;
};

// Certificates and enrolments live in intake.db.
TEST_F(IntakeFaultTest, RegistrationAndEnrolmentAreRefusedUntilTheyAreDurable) {
  ExpectRefusedOnAFailingDisk("intake.db",
                              [&] { return Post("/api/v1/cloudlets", cloudlet_->certificate()); });
  ASSERT_EQ(Post("/api/v1/cloudlets", cloudlet_->certificate()).status, 200);
  const Bytes enrolment = cloudlet_->Enrol();
  ExpectRefusedOnAFailingDisk("intake.db", [&] { return Post("/api/v1/enrolments", enrolment); });
  ASSERT_EQ(Post("/api/v1/enrolments", enrolment).status, 200);
}

// A readings batch goes to intake.db, under a data key wrapped in records.db.
class IntakeFaultOnEachDatabaseTest : public IntakeFaultTest,
                                      public ::testing::WithParamInterface<std::string> {};

TEST_P(IntakeFaultOnEachDatabaseTest, AReadingsForwardIsAcknowledgedOnlyOnceStoredAndStoredOnce) {
  ASSERT_EQ(Post("/api/v1/cloudlets", cloudlet_->certificate()).status, 200);
  ASSERT_EQ(Post("/api/v1/enrolments", cloudlet_->Enrol()).status, 200);
  const wire::OpenedUpload upload = cloudlet_->Upload(
      wire::ContentType::kReadingsBatch, wire::EncodeReadings(HeartRate(NowMs(), 60)).value());

  // Each retry of the forwarder is a new forward of the same batch.
  ExpectRefusedOnAFailingDisk(GetParam(), [&] {
    return Post("/api/v1/forward", cloudlet_->Forward(upload, *cloud_certificate_));
  });
  EXPECT_EQ(Stats()["reading_batches"], 0);

  const net::Response stored =
      Post("/api/v1/forward", cloudlet_->Forward(upload, *cloud_certificate_));
  ASSERT_EQ(stored.status, 200) << stored.body;
  EXPECT_EQ(json::parse(stored.body)["status"], "stored");
  const net::Response again =
      Post("/api/v1/forward", cloudlet_->Forward(upload, *cloud_certificate_));
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(json::parse(again.body)["status"], "duplicate");

  StopService();
  StartService();
  const json stats = Stats();
  EXPECT_EQ(stats["reading_batches"], 1);
  EXPECT_EQ(stats["readings"], 60);
}

// Records and their hash chain live in records.db.
TEST_F(IntakeFaultTest, ARecordForwardIsAcknowledgedOnlyOnceStoredAndChainedOnce) {
  ASSERT_EQ(Post("/api/v1/cloudlets", cloudlet_->certificate()).status, 200);
  ASSERT_EQ(Post("/api/v1/enrolments", cloudlet_->Enrol()).status, 200);
  const wire::OpenedUpload upload =
      cloudlet_->Upload(wire::ContentType::kPatientRecord,
                        wire::EncodePatientRecord(cloudlet_->Record("record-1")).value());

  ExpectRefusedOnAFailingDisk("records.db", [&] {
    return Post("/api/v1/forward", cloudlet_->Forward(upload, *cloud_certificate_));
  });
  EXPECT_EQ(Stats()["records"], 0);
  EXPECT_EQ(Stats()["chain_length"], 0);

  const net::Response stored =
      Post("/api/v1/forward", cloudlet_->Forward(upload, *cloud_certificate_));
  ASSERT_EQ(stored.status, 200) << stored.body;
  EXPECT_EQ(json::parse(stored.body)["status"], "stored");
  EXPECT_EQ(
      json::parse(
          Post("/api/v1/forward", cloudlet_->Forward(upload, *cloud_certificate_)).body)["status"],
      "duplicate");

  StopService();
  StartService();
  const json stats = Stats();
  EXPECT_EQ(stats["records"], 1);
  EXPECT_EQ(stats["chain_length"], 1);  // the failed attempts left no entry behind
  EXPECT_EQ(Integrity()["ok"], true);
}

INSTANTIATE_TEST_SUITE_P(Databases, IntakeFaultOnEachDatabaseTest,
                         ::testing::Values("intake.db", "records.db"),
                         [](const ::testing::TestParamInfo<std::string>& p) {
                           return p.param.substr(0, p.param.find('.'));
                         });

}  // namespace
}  // namespace medmesh::cloud

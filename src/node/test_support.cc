#include "node/test_support.h"

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <utility>

#include "core/check.h"
#include "net/error_mapping.h"
#include "wire/enrolment.h"
#include "wire/model.h"
#include "wire/readings_codec.h"
#include "wire/record_codec.h"

namespace medmesh::node::testing {
namespace {

using wire::NowMs;

}  // namespace

TestDeployment::TestDeployment(std::filesystem::path dir) : dir_(std::move(dir)) {
  SystemClock clock;
  // Valid from an hour ago, so that certificates issued "a minute ago" fall inside it.
  auto root = EnsureRoot(dir_ / "root", "root", random_, wire::ToUnixMs(clock.Now()) - 3'600'000);
  MEDMESH_CHECK(root.has_value(), "EnsureRoot failed");
  root_ = *root;
}

Result<NodeIdentity> TestDeployment::Identity(wire::CertificateRole role,
                                              const std::string& node_id) {
  SystemClock clock;
  const std::int64_t now = wire::ToUnixMs(clock.Now());
  // Valid from a minute ago, so a test's clock and the certificate agree.
  MEDMESH_ASSIGN_OR_RETURN(NodeFiles files, IssueNodeCertificate({.role = role,
                                                                  .node_id = node_id,
                                                                  .out_dir = dir_ / node_id,
                                                                  .root = root_,
                                                                  .now_ms = now - 60'000},
                                                                 random_));
  return LoadNodeIdentity(files.key_file, files.certificate_file, files.root_certificate_file, role,
                          node_id, now);
}

RootOfTrust TestDeployment::Root() const {
  SystemClock clock;
  auto root = LoadRootCertificate(root_.certificate_file, wire::ToUnixMs(clock.Now()));
  MEDMESH_CHECK(root.has_value(), "root certificate does not load");
  return std::move(*root);
}

SecretBytes RandomToken(Random& random) {
  SecretBytes raw(32);
  random.Fill(raw.mutable_bytes());
  const std::string hex = HexEncode(raw.reveal());
  return SecretBytes(AsBytes(hex));
}

std::string TokenText(const SecretBytes& token) {
  return std::string(AsStringView(token.reveal()));
}

std::vector<wire::Reading> HeartRate(std::int64_t end_ms, int count, std::int64_t bpm_milli) {
  std::vector<wire::Reading> readings;
  readings.reserve(static_cast<std::size_t>(std::max(count, 0)));
  for (int i = 0; i < count; ++i) {
    readings.push_back({end_ms - std::int64_t{count - 1 - i} * 1000, wire::VitalKind::kHeartRate,
                        bpm_milli + std::int64_t{i % 3} * 1000});
  }
  return readings;
}

TestDevice::TestDevice(std::string device_id, std::string patient_id, Random& random,
                       const Clock& clock)
    : device_id_(std::move(device_id)),
      patient_id_(std::move(patient_id)),
      random_(random),
      clock_(clock),
      signer_(crypto::NewEd25519Signer(crypto::SigningSecretKey::Generate(random))) {}

Status TestDevice::UseCloudlet(net::HttpClient& client, const std::string& base_url,
                               const crypto::SigningPublicKey& root) {
  MEDMESH_ASSIGN_OR_RETURN(net::Response cert, client.Get(base_url + "/api/v1/certificate"));
  if (cert.status != 200) return net::ErrorFromResponse(cert);
  MEDMESH_ASSIGN_OR_RETURN(
      wire::VerifiedCertificate verified,
      wire::VerifyCertificate(cert.body_bytes(), root, wire::CertificateRole::kCloudlet,
                              NowMs(clock_)));
  sealer_ =
      std::make_unique<crypto::SessionSealer>(*verified.certificate().kem_key, random_, clock_);
  cloudlet_id_ = verified.certificate().subject_id;
  return OkStatus();
}

Result<Bytes> TestDevice::EnrolmentRequest(const std::string& cloudlet_id) const {
  return wire::SignEnrolmentRequest(
      {device_id_, patient_id_, signer_->public_key(), cloudlet_id, NowMs(clock_)}, *signer_);
}

void TestDevice::UseCloudlet(const crypto::HybridPublicKey& cloudlet_kem_key) {
  sealer_ = std::make_unique<crypto::SessionSealer>(cloudlet_kem_key, random_, clock_);
}

Status TestDevice::Enrol(net::HttpClient& client, const std::string& base_url,
                         const SecretBytes& token, const crypto::SigningPublicKey& root) {
  MEDMESH_RETURN_IF_ERROR(UseCloudlet(client, base_url, root));
  net::ClientRequest request;
  request.method = net::Method::kPost;
  request.url = base_url + "/api/v1/enrol";
  request.headers.emplace_back("Authorization", "Bearer " + TokenText(token));
  request.content_type = "application/json";
  MEDMESH_ASSIGN_OR_RETURN(Bytes signed_request, EnrolmentRequest(cloudlet_id_));
  request.body = nlohmann::json{{"request", HexEncode(signed_request)}}.dump();
  MEDMESH_ASSIGN_OR_RETURN(net::Response response, client.Send(request));
  if (response.status != 200) return net::ErrorFromResponse(response);
  MEDMESH_ASSIGN_OR_RETURN(wire::SignedEnrolment record,
                           wire::ParseEnrolment(response.body_bytes()));
  if (record.enrolment.device_id != device_id_ || record.enrolment.patient_id != patient_id_ ||
      !(record.enrolment.device_key == signer_->public_key())) {
    return Internal("the cloudlet returned an enrolment record for something else");
  }
  return OkStatus();
}

Result<Bytes> TestDevice::Seal(wire::ContentType type, ByteView payload,
                               std::optional<wire::BatchId> batch_id) {
  if (!sealer_) return FailedPrecondition("the device has no cloudlet yet");
  last_batch_id_ = batch_id ? *batch_id : wire::NewBatchId(random_);
  const wire::UploadHeader header{.content_type = type,
                                  .device_id = device_id_,
                                  .patient_id = patient_id_,
                                  .sequence = ++sequence_,
                                  .batch_id = last_batch_id_,
                                  .created_ms = NowMs(clock_)};
  return wire::SealUpload(header, payload, *sealer_, *signer_, random_);
}

Result<Bytes> TestDevice::SealReadings(std::span<const wire::Reading> readings,
                                       std::optional<wire::BatchId> batch_id) {
  MEDMESH_ASSIGN_OR_RETURN(Bytes payload, wire::EncodeReadings(readings));
  return Seal(wire::ContentType::kReadingsBatch, payload, batch_id);
}

wire::PatientRecord TestDevice::Record(std::string record_id) const {
  wire::PatientRecord r;
  r.record_id = std::move(record_id);
  r.patient_id = patient_id_;
  r.device_id = device_id_;
  r.created_ms = NowMs(clock_) - 1000;
  r.name = "Ada Lovelace";
  r.phone = "+44 20 7946 0958";
  r.email = "ada." + patient_id_ + "@example.org";
  r.address = "12 St James's Square, London";
  r.national_id = "QQ 12 34 56 C";
  r.photo = {0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a};
  r.photo_type = "image/png";
  r.birth_date = "1985-12-10";
  r.sex = "female";
  r.postcode = "SW1Y 4LE";
  r.symptoms = {"palpitations", "shortness of breath"};
  r.conditions = {"I48.0"};
  r.pulse_bpm = 112;
  r.ecg_summary = "atrial fibrillation, 112/min";
  r.symptoms_document = {'w', 'o', 'r', 's', 'e', ' ', 'a', 't', ' ', 'n', 'i', 'g', 'h', 't'};
  r.symptoms_document_type = "text/plain";
  return r;
}

void TestDevice::Rekey() {
  if (sealer_) sealer_->Rekey();
}

}  // namespace medmesh::node::testing

// Test helpers shared by the services' tests (library medmesh_node_test_support, linked into
// test binaries only): temporary folders, a provisioned deployment (root, cloud and cloudlet
// identities on disk), and a test-only device that enrols over HTTP and seals real uploads.
// Thread safety: not thread-safe; tests drive them from one thread.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/bytes.h"
#include "core/clock.h"
#include "core/random.h"
#include "core/secret_bytes.h"
#include "core/status.h"
#include "crypto/session_seal.h"
#include "crypto/signing.h"
#include "net/http_client.h"
#include "node/identity.h"
#include "node/provisioning.h"
#include "testing/temp_dir.h"
#include "wire/envelope.h"

namespace medmesh::node::testing {

// A fresh private folder, removed with its contents on destruction (src/testing/temp_dir.h).
using TempDir = ::medmesh::testing::TempDir;

// A root and node identities under one folder: <dir>/root, <dir>/<node id>.
class TestDeployment {
 public:
  explicit TestDeployment(std::filesystem::path dir);
  const RootFiles& root() const { return root_; }
  // Issues (idempotently) and loads the identity of a node, valid now.
  Result<NodeIdentity> Identity(wire::CertificateRole role, const std::string& node_id);
  // A root of trust loaded from root.cert.
  RootOfTrust Root() const;

 private:
  std::filesystem::path dir_;
  SystemRandom random_;
  RootFiles root_;
};

// A random 64-hex-character bearer token.
SecretBytes RandomToken(Random& random);
std::string TokenText(const SecretBytes& token);

// `count` heart-rate readings one second apart, the last at `end_ms`.
std::vector<wire::Reading> HeartRate(std::int64_t end_ms, int count,
                                     std::int64_t bpm_milli = 72000);

// A wearable for tests: an Ed25519 key, an enrolment at one cloudlet, a session to that
// cloudlet's certified KEM key, and uploads sealed with the production code (wire::SealUpload).
class TestDevice {
 public:
  TestDevice(std::string device_id, std::string patient_id, Random& random, const Clock& clock);

  // Fetches and verifies the cloudlet's certificate (root, role cloudlet, now), then enrols
  // with POST {base_url}/api/v1/enrol and verifies the returned record. Errors from the HTTP
  // answer as net::ErrorFromResponse gives them.
  Status Enrol(net::HttpClient& client, const std::string& base_url, const SecretBytes& token,
               const crypto::SigningPublicKey& root);
  // The enrolment request this device signs for `cloudlet_id`, dated now (wire/enrolment.h); the
  // body of POST /api/v1/enrol is {"request": hex of it}.
  Result<Bytes> EnrolmentRequest(const std::string& cloudlet_id) const;
  // The id of the cloudlet whose certificate UseCloudlet verified last ("" before).
  const std::string& cloudlet_id() const { return cloudlet_id_; }
  // Only the certificate and the session (for a device enrolled elsewhere, or never).
  Status UseCloudlet(net::HttpClient& client, const std::string& base_url,
                     const crypto::SigningPublicKey& root);
  // A session to a cloudlet's KEM key the test already holds (no HTTP, e.g. to feed an
  // IngestPipeline directly).
  void UseCloudlet(const crypto::HybridPublicKey& cloudlet_kem_key);

  // An upload of `payload`; a fresh batch id unless one is given.
  Result<Bytes> Seal(wire::ContentType type, ByteView payload,
                     std::optional<wire::BatchId> batch_id = std::nullopt);
  Result<Bytes> SealReadings(std::span<const wire::Reading> readings,
                             std::optional<wire::BatchId> batch_id = std::nullopt);
  // A record of this device and patient with every field filled.
  wire::PatientRecord Record(std::string record_id) const;

  // Starts a new session for the next upload (as after a cloudlet restart).
  void Rekey();

  const std::string& device_id() const { return device_id_; }
  const std::string& patient_id() const { return patient_id_; }
  const crypto::Signer& signer() const { return *signer_; }
  const wire::BatchId& last_batch_id() const { return last_batch_id_; }

 private:
  std::string device_id_;
  std::string patient_id_;
  Random& random_;
  const Clock& clock_;
  std::unique_ptr<crypto::Signer> signer_;
  std::unique_ptr<crypto::SessionSealer> sealer_;
  std::uint64_t sequence_ = 0;
  wire::BatchId last_batch_id_{};
  std::string cloudlet_id_;
};

}  // namespace medmesh::node::testing

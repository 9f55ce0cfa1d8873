// The deployment the browser tests (ui.test.mjs) run against: a real cloud and a real cloudlet in
// one process, on loopback ports chosen by the OS, SQLite in a temporary folder, and the first
// admin account, as `medmesh admin create` makes it.
//
// Protocol with the test (so nothing secret is on a command line or in output):
//   stdin, first line   the admin's password (the admin's e-mail is admin@hospital.test)
//   stdout, one line    {"cloud":"http://127.0.0.1:<port>","cloudlet":"http://127.0.0.1:<port>"}
//                       once both serve
//   stdin "enrol <patient_id>"  a new device of that patient at the cloudlet, with readings and a
//                       record forwarded to the cloud (patient_device.h); answers one line
//                       {"device_id":...,"record_id":...} or {"error":...}
//   stdin closed        both stop, the folder is removed, exit 0
// Any failure to start: a message on stderr, exit 1.
#include <chrono>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>

#include "cloud/cloud_service.h"
#include "cloudlet/cloudlet_service.h"
#include "core/clock.h"
#include "core/random.h"
#include "core/secret_bytes.h"
#include "node/test_support.h"
#include "patient_device.h"

namespace medmesh {
namespace {

constexpr char kAdminEmail[] = "admin@hospital.test";

int Fail(std::string_view what, const Error& error) {
  std::cerr << "browser test deployment: " << what << ": " << error.ToString() << "\n";
  return 1;
}

SecretBytes RandomKey(Random& random) { return SecretBytes(random.Generate(32)); }

// The answer to "enrol <patient_id>" (patient.test.mjs).
std::string EnrolCommand(const browser_test::CloudletAccess& cloudlet,
                         const std::string& patient_id, int serial, Random& random,
                         const Clock& clock) {
  auto data = browser_test::EnrolPatientDevice(
      cloudlet, patient_id, "browser-device-" + std::to_string(serial), random, clock);
  if (!data) return nlohmann::json{{"error", data.error().ToString()}}.dump();
  return nlohmann::json{{"device_id", data->device_id}, {"record_id", data->record_id}}.dump();
}

int Run() {
  std::string password;
  if (!std::getline(std::cin, password) || password.empty()) {
    std::cerr << "browser test deployment: the admin password is expected on stdin\n";
    return 1;
  }
  SystemClock clock;
  SystemRandom random;
  node::testing::TempDir dir;
  node::testing::TestDeployment deployment(dir.path() / "pki");

  cloud::CloudOptions options;
  options.data_dir = dir.path() / "cloud";
  options.access_log = false;
  auto identity = deployment.Identity(wire::CertificateRole::kCloud, "cloud");
  if (!identity) return Fail("cloud identity", identity.error());
  cloud::CloudSecrets secrets{std::move(*identity), crypto::KeyEncryptionKey::Generate(random),
                              RandomKey(random), RandomKey(random), SecretBytes()};
  auto cloud = cloud::CloudService::Start(std::move(options), std::move(secrets), clock, random);
  if (!cloud) return Fail("cloud", cloud.error());
  const std::string cloud_url = "http://127.0.0.1:" + std::to_string((*cloud)->port());

  cloudlet::CloudletOptions edge;
  edge.data_dir = dir.path() / "cloudlet";
  edge.access_log = false;
  edge.io_threads = 4;
  edge.forwarder.cloud_url = cloud_url;
  auto edge_identity = deployment.Identity(wire::CertificateRole::kCloudlet, "cloudlet-1");
  if (!edge_identity) return Fail("cloudlet identity", edge_identity.error());
  const SecretBytes enrol_token = node::testing::RandomToken(random);
  cloudlet::CloudletSecrets edge_secrets{std::move(*edge_identity),
                                         crypto::KeyEncryptionKey::Generate(random),
                                         enrol_token.Clone(), SecretBytes()};
  auto cloudlet =
      cloudlet::CloudletService::Start(std::move(edge), std::move(edge_secrets), clock, random);
  if (!cloudlet) return Fail("cloudlet", cloudlet.error());
  const std::string cloudlet_url = "http://127.0.0.1:" + std::to_string((*cloudlet)->port());
  (*cloud)->SetCloudletUrl((*cloudlet)->node_id(), cloudlet_url);

  if (auto admin = (*cloud)->accounts().service().CreateAdmin({kAdminEmail, password}, "Admin");
      !admin) {
    return Fail("admin account", admin.error());
  }
  std::cout << nlohmann::json{{"cloud", cloud_url}, {"cloudlet", cloudlet_url}}.dump() << std::endl;

  // Until the test closes stdin (or dies, which closes it too).
  auto client = net::HttpClient::Create({});
  if (!client) return Fail("http client", client.error());
  const crypto::SigningPublicKey root = deployment.Root().key;
  const browser_test::CloudletAccess access{**client, cloudlet_url, enrol_token, root,
                                            [&] { return (*cloudlet)->Stats().forwarded; }};
  int devices = 0;
  for (std::string line; std::getline(std::cin, line);) {
    if (line.rfind("enrol ", 0) == 0) {
      std::cout << EnrolCommand(access, line.substr(6), ++devices, random, clock) << std::endl;
    } else {
      std::cout << nlohmann::json{{"error", "unknown command"}}.dump() << std::endl;
    }
  }
  (*cloudlet)->Stop(std::chrono::seconds(5));
  (*cloud)->Stop(std::chrono::seconds(5));
  return 0;
}

}  // namespace
}  // namespace medmesh

int main() { return medmesh::Run(); }

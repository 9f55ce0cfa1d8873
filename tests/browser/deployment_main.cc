// The deployment the browser tests (ui.test.mjs) run against: a real cloud and a real cloudlet in
// one process, on loopback ports chosen by the OS, SQLite in a temporary folder, and the first
// admin account, as `medmesh admin create` makes it.
//
// Protocol with the test (so nothing secret is on a command line or in output):
//   argv                `--seed` (optional): seed the demo's people and workflows (below);
//                       `--partner` (optional): a second cloudlet, cloudlet-2, forwarding to the
//                       same cloud, each cloudlet the other's configured mesh peer (relaying,
//                       sharing across cloudlets: docs/trust_system.md);
//                       `--demo-attacks` (optional): the cloudlet is a demo's for the red team
//                       (docs/attack.md): it gets an operator token and a demo folder (the
//                       root certificate, its operator and enrolment tokens, mode 0600, as
//                       `medmesh demo` lays them out), and serves /api/v1/attack/runs
//   stdin, first line   the admin's password (the admin's e-mail is admin@hospital.test)
//   stdout, one line    {"cloud":"http://127.0.0.1:<port>","cloudlet":"http://127.0.0.1:<port>"}
//                       (with --partner also "cloudlet2")
//                       once both serve (and, with --seed, are seeded), plus with --seed
//                       "seed": the path of the seed file (apps/demo_seed.h, JSON, 0600)
//   stdin, then         commands, one per line, each answered by one stdout line:
//                       `tamper <patient_id>`: flips a byte of the stored MI part (ciphertext)
//                       of every record of that patient in the cloud's records.db, as an
//                       attacker with the file would; answers `ok` or `error <what>`
//                       `enrol <patient_id> <device_id>`: a new device of that patient enrols
//                       at the cloudlet and uploads readings and a record (rec-<device_id>);
//                       answers `ok` once the cloud knows the enrolment (so the patient may ask
//                       the cloudlet for portal access), or `error <what>`;
//                       `enrol <patient_id> <device_id> hostile`: the same, the record's
//                       symptoms being markup (kHostileSymptom) that pages must show as text;
//                       `enrol <patient_id> <device_id> cloudlet-2`: the same at cloudlet-2
//   stdin closed        both stop, the folder is removed, exit 0
// Any failure to start: a message on stderr, exit 1.
//
// --seed runs the demo's seeding (apps/demo_seed.h, the same code `make run` uses) for the one
// ward of cloudlet-1 against the real API: an operator, four linked patients whose devices
// (node::testing::TestDevice) enrol at the cloudlet and upload readings and their record,
// approved portal access, doctors, grants, answers and prescriptions, a pending patient and
// doctor; then 35 days of readings per linked patient (cloud::SeedReadings, in six-hour
// batches) for the charts.
// The seed plan's admin is the deployment's admin (admin@hospital.test, the stdin password).
// Passwords are hashed with light Argon2id parameters: this is a test deployment.
#include <SQLiteCpp/SQLiteCpp.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>

#include "apps/demo_seed.h"
#include "cloud/cloud_service.h"
#include "cloud/my_data_seed.h"
#include "cloudlet/cloudlet_service.h"
#include "core/clock.h"
#include "core/random.h"
#include "core/secret_bytes.h"
#include "node/identity.h"
#include "node/test_support.h"
#include "wire/record_codec.h"

namespace medmesh {
namespace {

constexpr char kAdminEmail[] = "admin@hospital.test";

int Fail(std::string_view what, const Error& error) {
  std::cerr << "browser test deployment: " << what << ": " << error.ToString() << "\n";
  return 1;
}

SecretBytes RandomKey(Random& random) { return SecretBytes(random.Generate(32)); }

std::string RecordIdOf(const std::string& device_id) { return "rec-" + device_id; }

// The seeded 35 days of readings (one of each of three kinds a minute) go to the cloud in
// six-hour batches: the same readings and roll-ups as hourly ones, in 140 batches per patient
// rather than 840. Each batch is two commits (the batch with its roll-ups, its chain entry) and
// re-merges its roll-up chunks, so the batch count is what the seeding's time is (ADR 0059).
constexpr std::int64_t kSeededBatchMs = 6 * 3'600'000;

struct Seeding {
  cloud::CloudService& cloud;
  cloudlet::CloudletService& cloudlet;
  const node::testing::TestDeployment& deployment;
  const SecretBytes& enrol_token;
  std::string cloud_url;
  std::string cloudlet_url;
  const Clock& clock;
  Random& random;
};

// The linked patients' devices: each enrols at the cloudlet for its account's patient id,
// uploads readings and its record, and gets 35 days of readings at the cloud; returns once
// everything the devices sent is at the cloud.
Status RunDevices(const Seeding& s, net::HttpClient& client, const demo::DemoSeed& seed) {
  const std::int64_t now = wire::ToUnixMs(std::chrono::system_clock::now());
  std::uint64_t uploads = 0;
  for (const demo::DemoAccount& a : seed.accounts) {
    if (a.device_id.empty()) continue;
    node::testing::TestDevice device(a.device_id, a.patient_id, s.random, s.clock);
    MEDMESH_RETURN_IF_ERROR(
        device.Enrol(client, s.cloudlet_url, s.enrol_token, s.deployment.Root().key));
    MEDMESH_ASSIGN_OR_RETURN(Bytes readings,
                             device.SealReadings(node::testing::HeartRate(now - 60'000, 20)));
    MEDMESH_ASSIGN_OR_RETURN(Bytes record,
                             wire::EncodePatientRecord(device.Record(RecordIdOf(a.device_id))));
    MEDMESH_ASSIGN_OR_RETURN(Bytes sealed, device.Seal(wire::ContentType::kPatientRecord, record));
    for (const Bytes* upload : {&readings, &sealed}) {
      MEDMESH_ASSIGN_OR_RETURN(net::Response r, client.Post(s.cloudlet_url + "/api/v1/ingest",
                                                            std::string(AsStringView(*upload)),
                                                            "application/octet-stream"));
      if (r.status != 200) {
        return Error(ErrorCode::kUnavailable, "the cloudlet refused a seeded upload");
      }
    }
    ++uploads;
    // Wait for the enrolment to reach the cloud before seeding there (the batches verify
    // only against an enrolled device).
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(2);
    for (;;) {
      auto stats = s.cloud.Stats();
      if (stats && stats->records >= uploads && stats->reading_batches >= uploads) break;
      if (std::chrono::steady_clock::now() > deadline) {
        return Error(ErrorCode::kUnavailable, "seeded uploads did not reach the cloud");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    MEDMESH_RETURN_IF_ERROR(cloud::SeedReadings(
        s.cloud.intake(), s.cloud.records(), s.cloud.intake_store(),
        {device.device_id(), device.patient_id(), s.cloudlet.node_id(), device.signer()},
        {.from_ms = now - 35LL * 86'400'000,
         .to_ms = now - 120'000,
         .batch_ms = kSeededBatchMs,
         .first_sequence = 1000},
        s.random, s.clock));
  }
  return OkStatus();
}

// Seeds the demo's people and workflows (see the top of the file); returns the seed file.
Result<std::filesystem::path> Seed(const Seeding& s, const std::filesystem::path& folder,
                                   const std::string& admin_password) {
  demo::DemoSeed seed = demo::NewDemoSeed(demo::DemoWards(1), s.random);
  seed.accounts.front().login = kAdminEmail;
  seed.accounts.front().password = admin_password;
  MEDMESH_ASSIGN_OR_RETURN(std::unique_ptr<net::HttpClient> client, net::HttpClient::Create({}));
  demo::SeedContext context{*client,
                            s.clock,
                            s.cloud_url,
                            [](const std::string& device_id) {
                              return std::optional<std::string>(RecordIdOf(device_id));
                            },
                            [](std::chrono::milliseconds d) {
                              std::this_thread::sleep_for(d);
                              return true;
                            },
                            std::chrono::minutes(2)};
  if (Status st = demo::SeedAccounts(context, seed); !st) {
    return Error(st.error().code(), "accounts: " + st.error().message());
  }
  if (Status st = RunDevices(s, *client, seed); !st) {
    return Error(st.error().code(), "devices: " + st.error().message());
  }
  if (Status st = demo::SeedWorkflows(context, seed); !st) {
    return Error(st.error().code(), "workflows: " + st.error().message());
  }
  seed.complete = true;
  const std::filesystem::path file = folder / "seed.json";
  MEDMESH_RETURN_IF_ERROR(demo::SaveDemoSeed(file, seed));
  return file;
}

// What `enrol ... hostile` puts among the record's symptoms (patient.test.mjs looks for it).
constexpr char kHostileSymptom[] = "<img src=x onerror=\"window.__pwned=3\">fever";

// `enrol <patient_id> <device_id> [hostile]` (see the top of the file).
std::string EnrolDevice(const Seeding& s, const std::string& patient_id,
                        const std::string& device_id, bool hostile = false) {
  auto client = net::HttpClient::Create({});
  if (!client) return "error " + client.error().ToString();
  node::testing::TestDevice device(device_id, patient_id, s.random, s.clock);
  if (Status st = device.Enrol(**client, s.cloudlet_url, s.enrol_token, s.deployment.Root().key);
      !st) {
    return "error enrol: " + st.error().ToString();
  }
  const std::int64_t now = wire::ToUnixMs(std::chrono::system_clock::now());
  auto readings = device.SealReadings(node::testing::HeartRate(now - 60'000, 20));
  wire::PatientRecord fields = device.Record(RecordIdOf(device_id));
  if (hostile) fields.symptoms = {kHostileSymptom, "cough"};
  auto record = wire::EncodePatientRecord(fields);
  if (!readings || !record) return "error sealing";
  auto sealed = device.Seal(wire::ContentType::kPatientRecord, *record);
  if (!sealed) return "error sealing";
  for (const Bytes* upload : {&*readings, &*sealed}) {
    auto r = (*client)->Post(s.cloudlet_url + "/api/v1/ingest", std::string(AsStringView(*upload)),
                             "application/octet-stream");
    if (!r || r->status != 200) return "error the cloudlet refused an upload";
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(2);
  for (;;) {
    auto cloudlets = s.cloud.intake_store().CloudletsOfPatient(patient_id);
    if (cloudlets &&
        std::find(cloudlets->begin(), cloudlets->end(), s.cloudlet.node_id()) != cloudlets->end()) {
      return "ok";
    }
    if (std::chrono::steady_clock::now() > deadline) return "error the cloud never learnt it";
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

// `tamper <patient_id>`: one flipped byte in each MI ciphertext of the patient's records.
std::string Tamper(cloud::CloudService& cloud, const std::filesystem::path& records_db,
                   const std::string& patient_id) {
  try {
    SQLite::Database db(records_db.string(), SQLite::OPEN_READWRITE);
    db.setBusyTimeout(5000);
    SQLite::Statement update(db,
                             "UPDATE mi SET ciphertext = substr(ciphertext, 1, 19) || "
                             "x'00' || substr(ciphertext, 21) WHERE pseudonym = ?");
    update.bind(1, cloud.records().Pseudonym(patient_id));
    const int rows = update.exec();
    return rows > 0 ? "ok" : "error no records";
  } catch (const std::exception& e) {
    return std::string("error ") + e.what();
  }
}

// A loopback port free now (bound, read, released), so that two cloudlets can be configured with
// each other's URL before either starts. Another process could take it in between; this is a
// test deployment.
Result<std::uint16_t> FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Error(ErrorCode::kUnavailable, "no socket");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  const bool ok = ::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0;
  ::close(fd);
  if (!ok) return Error(ErrorCode::kUnavailable, "no free port");
  return ntohs(address.sin_port);
}

// The demo folder the cloudlet's red-team runs read (attack::LoadDeployment): root/root.cert and
// cloudlet-1/{operator,enrol}.token. Fills the two tokens.
Status WriteDemoFolder(const std::filesystem::path& demo, const node::testing::TestDeployment& pki,
                       Random& random, SecretBytes& operator_token, SecretBytes& enrol_token) {
  std::error_code ec;
  std::filesystem::create_directories(demo / "root", ec);
  if (!ec) std::filesystem::create_directories(demo / "cloudlet-1", ec);
  if (!ec) {
    std::filesystem::copy_file(pki.root().certificate_file, demo / "root" / "root.cert", ec);
  }
  if (ec) return Unavailable("demo folder: " + ec.message());
  MEDMESH_RETURN_IF_ERROR(node::WriteTokenFile(demo / "cloudlet-1" / "operator.token", random));
  MEDMESH_RETURN_IF_ERROR(node::WriteTokenFile(demo / "cloudlet-1" / "enrol.token", random));
  MEDMESH_ASSIGN_OR_RETURN(operator_token,
                           node::ReadTokenFile(demo / "cloudlet-1" / "operator.token"));
  MEDMESH_ASSIGN_OR_RETURN(enrol_token, node::ReadTokenFile(demo / "cloudlet-1" / "enrol.token"));
  return OkStatus();
}

int Run(bool seed, bool partner, bool demo_attacks) {
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
  options.password_hasher = {.ops_limit = 1, .mem_limit_bytes = 1 << 20};
  // The seeded ward is small: the charts' k is the least allowed, so they have bars to test.
  options.statistics_k = 2;
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
  edge.forwarder.poll_interval = std::chrono::milliseconds(50);
  edge.forward_queue.initial_backoff = std::chrono::milliseconds(50);
  edge.forward_queue.max_backoff = std::chrono::milliseconds(200);
  SecretBytes enrol_token = node::testing::RandomToken(random);
  SecretBytes operator_token;
  if (demo_attacks) {
    edge.demo_attacks_deployment = dir.path() / "demo";
    if (Status written = WriteDemoFolder(edge.demo_attacks_deployment, deployment, random,
                                         operator_token, enrol_token);
        !written) {
      return Fail("demo folder", written.error());
    }
  }
  std::optional<cloudlet::CloudletOptions> edge2;
  if (partner) {
    auto port1 = FreePort();
    auto port2 = FreePort();
    if (!port1 || !port2) return Fail("ports", port1 ? port2.error() : port1.error());
    edge.port = *port1;
    edge2 = edge;
    edge2->data_dir = dir.path() / "cloudlet-2";
    edge2->port = *port2;
    edge2->demo_attacks_deployment.clear();
    edge.ids.mesh.peers = {{"cloudlet-2", "http://127.0.0.1:" + std::to_string(*port2), false}};
    edge2->ids.mesh.peers = {{"cloudlet-1", "http://127.0.0.1:" + std::to_string(*port1), false}};
  }
  auto edge_identity = deployment.Identity(wire::CertificateRole::kCloudlet, "cloudlet-1");
  if (!edge_identity) return Fail("cloudlet identity", edge_identity.error());
  cloudlet::CloudletSecrets edge_secrets{std::move(*edge_identity),
                                         crypto::KeyEncryptionKey::Generate(random),
                                         enrol_token.Clone(), std::move(operator_token)};
  auto cloudlet =
      cloudlet::CloudletService::Start(std::move(edge), std::move(edge_secrets), clock, random);
  if (!cloudlet) return Fail("cloudlet", cloudlet.error());
  const std::string cloudlet_url = "http://127.0.0.1:" + std::to_string((*cloudlet)->port());
  (*cloud)->SetCloudletUrl((*cloudlet)->node_id(), cloudlet_url);
  std::unique_ptr<cloudlet::CloudletService> cloudlet2;
  std::string cloudlet2_url;
  if (edge2) {
    auto identity2 = deployment.Identity(wire::CertificateRole::kCloudlet, "cloudlet-2");
    if (!identity2) return Fail("cloudlet-2 identity", identity2.error());
    cloudlet::CloudletSecrets secrets2{std::move(*identity2),
                                       crypto::KeyEncryptionKey::Generate(random),
                                       enrol_token.Clone(), SecretBytes()};
    auto started =
        cloudlet::CloudletService::Start(std::move(*edge2), std::move(secrets2), clock, random);
    if (!started) return Fail("cloudlet-2", started.error());
    cloudlet2 = std::move(*started);
    cloudlet2_url = "http://127.0.0.1:" + std::to_string(cloudlet2->port());
    (*cloud)->SetCloudletUrl(cloudlet2->node_id(), cloudlet2_url);
  }

  // The URLs go out once every cloudlet can check the cloud's session tokens: until its first
  // poll of the cloud a cloudlet answers signed-in requests 503 ("sessions cannot be checked
  // yet"), which a test that calls the cloudlet right after logging in at the cloud could meet.
  // The cloud runs in this process, so the poll (certificate and revocations) succeeds at once.
  if (Status polled = (*cloudlet)->PollSessionsNow(); !polled) {
    return Fail("cloudlet sessions", polled.error());
  }
  if (cloudlet2) {
    if (Status polled = cloudlet2->PollSessionsNow(); !polled) {
      return Fail("cloudlet-2 sessions", polled.error());
    }
  }

  if (auto admin = (*cloud)->accounts().service().CreateAdmin({kAdminEmail, password}, "Admin");
      !admin) {
    return Fail("admin account", admin.error());
  }
  nlohmann::json ready{{"cloud", cloud_url}, {"cloudlet", cloudlet_url}};
  if (cloudlet2) ready["cloudlet2"] = cloudlet2_url;
  const Seeding seeding{**cloud,   **cloudlet,   deployment, enrol_token,
                        cloud_url, cloudlet_url, clock,      random};
  if (seed) {
    auto file = Seed(seeding, dir.path(), password);
    if (!file) return Fail("seeding", file.error());
    ready["seed"] = file->string();
  }
  std::cout << ready.dump() << std::endl;

  // Commands until the test closes stdin (or dies, which closes it too).
  for (std::string line; std::getline(std::cin, line);) {
    std::istringstream words(line);
    std::string command;
    std::string argument;
    std::string second;
    std::string third;
    words >> command >> argument >> second >> third;
    if (command == "tamper" && !argument.empty()) {
      std::cout << Tamper(**cloud, dir.path() / "cloud" / "records.db", argument) << std::endl;
    } else if (command == "enrol" && !argument.empty() && !second.empty() &&
               third == "cloudlet-2") {
      if (!cloudlet2) {
        std::cout << "error no cloudlet-2 (start with --partner)" << std::endl;
        continue;
      }
      const Seeding at2{**cloud,   *cloudlet2,    deployment, enrol_token,
                        cloud_url, cloudlet2_url, clock,      random};
      std::cout << EnrolDevice(at2, argument, second) << std::endl;
    } else if (command == "enrol" && !argument.empty() && !second.empty()) {
      std::cout << EnrolDevice(seeding, argument, second, third == "hostile") << std::endl;
    } else {
      std::cout << "error unknown command" << std::endl;
    }
  }
  if (cloudlet2) cloudlet2->Stop(std::chrono::seconds(5));
  (*cloudlet)->Stop(std::chrono::seconds(5));
  (*cloud)->Stop(std::chrono::seconds(5));
  return 0;
}

}  // namespace
}  // namespace medmesh

int main(int argc, char** argv) {
  bool seed = false;
  bool partner = false;
  bool demo_attacks = false;
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--seed") {
      seed = true;
    } else if (std::string_view(argv[i]) == "--partner") {
      partner = true;
    } else if (std::string_view(argv[i]) == "--demo-attacks") {
      demo_attacks = true;
    } else {
      std::cerr << "usage: browser_test_deployment [--seed] [--partner] [--demo-attacks]\n";
      return 2;
    }
  }
  return medmesh::Run(seed, partner, demo_attacks);
}

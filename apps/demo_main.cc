// medmesh demo: a complete deployment on this machine, as child processes of this one.
//
//   medmesh demo [--data-dir DIR] [--port-base N] [--setup-only]
//
// The first run provisions DIR (default ./demo-data): the root key and certificate, a node key,
// certificate and root.cert for the cloud and each cloudlet, bearer tokens (0600), and the
// config files of every process. Later runs reuse all of it (certificates are re-issued only
// when they near expiry) and rewrite only the configs, so the ports can change. Then it starts
//   cloud        `medmesh cloud --config DIR/cloud/config.json`            port N
//   cloudlet-i   `medmesh cloudlet --config DIR/cloudlet-i/config.json --demo-attacks DIR`
//                                                                           ports N+1..N+3
//   ward-i       `medmesh wearable --config DIR/ward-i/config.json`        ports N+4..N+6
// waiting for each cloud and cloudlet to be ready before the next group. On a fresh folder it
// seeds people and workflows through the cloud's API (apps/demo_seed.h): the admin, operators,
// patients and doctors after the cloud and cloudlets are up (the wards' devices then use the
// patient ids the accounts carry), the workflows once the wards' data has reached the cloud;
// the logins and random passwords are kept in DIR/demo-logins.json (0600), so a restart prints
// the same ones and seeds nothing twice. Then it prints the URLs and the logins, and
// supervises: a child that dies is restarted (1 s, doubling to 30 s). On SIGINT/SIGTERM it stops
// the wards, then the cloudlets, then the cloud (SIGTERM, then SIGKILL after a deadline) and
// exits 0. Children write their logs to DIR/logs/<name>.log (rotated) and their other output to
// DIR/logs/<name>.out. Layout and usage: docs/demo.md.
#include "apps/demo_main.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "apps/demo_seed.h"
#include "cloud/account_api.h"
#include "core/clock.h"
#include "core/env.h"
#include "core/random.h"
#include "crypto/key_file.h"
#include "net/http_client.h"
#include "node/data_dir.h"
#include "node/identity.h"
#include "node/provisioning.h"
#include "node/shutdown.h"
#include "wearable/simulator.h"
#include "wire/model.h"

namespace {

namespace fs = std::filesystem;
namespace node = medmesh::node;
namespace net = medmesh::net;
using Json = nlohmann::json;
using medmesh::Result;
using medmesh::Status;
using std::chrono::steady_clock;

constexpr int kCloudletCount = 3;
constexpr int kWardCount = 3;  // one per cloudlet (demo::DemoWards)
constexpr int kDevicesPerWard = 4;
constexpr std::string_view kRootId = "medmesh-demo-root";
// The seeded logins and passwords (demo_seed.h), 0600.
constexpr std::string_view kSeedFileName = "demo-logins.json";

struct DemoFlags {
  std::string data_dir = "demo-data";
  int port_base = 8080;
  bool setup_only = false;
};

enum class Group { kCloud = 0, kCloudlets = 1, kWards = 2 };

struct ChildSpec {
  std::string name;
  Group group;
  std::vector<std::string> args;  // after the program name
  std::string base_url;
  std::string ready_path;  // polled until 200 before the next group starts
  fs::path log_file;
};

struct Child {
  ChildSpec spec;
  pid_t pid = -1;
  int restarts = 0;
  steady_clock::time_point started{};
  std::optional<steady_clock::time_point> restart_at;
};

std::string Url(int port) { return "http://127.0.0.1:" + std::to_string(port); }

// The cloud's "cloudlet_urls" member: where a restore reaches each cloudlet.
Json CloudletUrls(int port_base) {
  Json urls = Json::object();
  for (int i = 1; i <= kCloudletCount; ++i) {
    urls["cloudlet-" + std::to_string(i)] = Url(port_base + i);
  }
  return urls;
}

// The "mesh" member (docs/ids_mesh.md): the cloud's peers are all cloudlets, a cloudlet's the
// other cloudlets (its cloud is a member through cloud_url).
Json MeshPeers(int port_base, int except) {
  Json peers = Json::array();
  for (int i = 1; i <= kCloudletCount; ++i) {
    if (i == except) continue;
    peers.push_back({{"id", "cloudlet-" + std::to_string(i)}, {"url", Url(port_base + i)}});
  }
  return Json{{"peers", peers}};
}

// --- Provisioning ------------------------------------------------------------------------------

Status WriteJson(const fs::path& file, const Json& json) {
  const std::string text = json.dump(2) + "\n";
  return medmesh::WriteFileAtomically(file, medmesh::AsBytes(text), 0644);
}

Status EnsureToken(const fs::path& file, medmesh::Random& random) {
  if (fs::exists(file)) return medmesh::OkStatus();
  return node::WriteTokenFile(file, random);
}

Status EnsureKek(const fs::path& file, medmesh::Random& random) {
  if (fs::exists(file)) return medmesh::OkStatus();
  return medmesh::crypto::WriteKeyFile(
      file, medmesh::crypto::GenerateKeyFile(medmesh::crypto::KeyFileType::kKek, random), false);
}

// A child's log: DIR/logs/<name>.log (from its config folder DIR/<name>/), rotated at 16 MiB
// with 4 files kept, so a demo left running (or flooded) cannot fill the disk.
Json LogConfig(const std::string& name) {
  return {{"file", "../logs/" + name + ".log"}, {"max_file_mb", 16}, {"max_files", 4}};
}

// What a child writes outside its log (stdout, and stderr: a crash's last words).
fs::path OutputFile(const fs::path& log_file) {
  return fs::path(log_file).replace_extension(".out");
}

struct Provisioned {
  std::vector<ChildSpec> children;  // the cloud and the cloudlets
  fs::path root_certificate_file;
};

// Creates or refreshes everything under `dir` but the wards; returns the processes to run.
Result<Provisioned> Provision(const fs::path& dir, int port_base, medmesh::Random& random,
                              std::int64_t now_ms) {
  std::error_code ec;
  fs::create_directories(dir / "logs", ec);
  if (ec) return medmesh::Unavailable("cannot create " + dir.string() + ": " + ec.message());
  fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace, ec);

  MEDMESH_ASSIGN_OR_RETURN(node::RootFiles root,
                           node::EnsureRoot(dir / "root", kRootId, random, now_ms));
  std::vector<ChildSpec> children;

  // The cloud.
  {
    node::NodeCertificateRequest request;
    request.role = medmesh::wire::CertificateRole::kCloud;
    request.node_id = "cloud";
    request.out_dir = dir / "cloud";
    request.root = root;
    request.now_ms = now_ms;
    MEDMESH_ASSIGN_OR_RETURN(node::NodeFiles files, node::IssueNodeCertificate(request, random));
    (void)files;
    const fs::path folder = dir / "cloud";
    MEDMESH_RETURN_IF_ERROR(EnsureToken(folder / "operator.token", random));
    // One KEK per part (ADR 0016). A folder made by an earlier version also has kek.key, the
    // KEK of its existing data keys: the cloud keeps loading it (node/kek_ring.h).
    MEDMESH_RETURN_IF_ERROR(EnsureKek(folder / "ei_kek.key", random));
    MEDMESH_RETURN_IF_ERROR(EnsureKek(folder / "qi_kek.key", random));
    MEDMESH_RETURN_IF_ERROR(EnsureKek(folder / "mi_kek.key", random));
    MEDMESH_RETURN_IF_ERROR(EnsureKek(folder / "index.key", random));
    MEDMESH_RETURN_IF_ERROR(EnsureKek(folder / "pseudonym.key", random));
    MEDMESH_RETURN_IF_ERROR(
        WriteJson(folder / "config.json", {{"id", "cloud"},
                                           {"listen", "127.0.0.1:" + std::to_string(port_base)},
                                           {"data_dir", "data"},
                                           {"operator_token_file", "operator.token"},
                                           {"ei_kek_file", "ei_kek.key"},
                                           {"qi_kek_file", "qi_kek.key"},
                                           {"mi_kek_file", "mi_kek.key"},
                                           {"store", {{"backend", "sqlite"}}},
                                           {"cloudlet_urls", CloudletUrls(port_base)},
                                           // A demo of 12 patients: charts keep groups of 3.
                                           {"statistics_k", 3},
                                           {"mesh", MeshPeers(port_base, 0)},
                                           {"log", LogConfig("cloud")}}));
    children.push_back({"cloud",
                        Group::kCloud,
                        {"cloud", "--config", (folder / "config.json").string()},
                        Url(port_base),
                        "/readyz",
                        dir / "logs" / "cloud.log"});
  }

  // The cloudlets.
  for (int i = 1; i <= kCloudletCount; ++i) {
    const std::string id = "cloudlet-" + std::to_string(i);
    const fs::path folder = dir / id;
    node::NodeCertificateRequest request;
    request.role = medmesh::wire::CertificateRole::kCloudlet;
    request.node_id = id;
    request.out_dir = folder;
    request.root = root;
    request.now_ms = now_ms;
    MEDMESH_ASSIGN_OR_RETURN(node::NodeFiles files, node::IssueNodeCertificate(request, random));
    (void)files;
    MEDMESH_RETURN_IF_ERROR(EnsureToken(folder / "enrol.token", random));
    MEDMESH_RETURN_IF_ERROR(EnsureToken(folder / "operator.token", random));
    MEDMESH_RETURN_IF_ERROR(EnsureKek(folder / "kek.key", random));
    MEDMESH_RETURN_IF_ERROR(
        WriteJson(folder / "config.json", {{"id", id},
                                           {"listen", "127.0.0.1:" + std::to_string(port_base + i)},
                                           {"data_dir", "data"},
                                           {"cloud_url", Url(port_base)},
                                           {"enrol_token_file", "enrol.token"},
                                           {"operator_token_file", "operator.token"},
                                           {"mesh", MeshPeers(port_base, i)},
                                           {"log", LogConfig(id)}}));
    children.push_back({id,
                        Group::kCloudlets,
                        {"cloudlet", "--config", (folder / "config.json").string(),
                         "--demo-attacks", dir.string()},  // the console's red team
                        Url(port_base + i),
                        "/readyz",
                        dir / "logs" / (id + ".log")});
  }

  return Provisioned{std::move(children), root.certificate_file};
}

// The wards' configs: four simulated patients each (demo::DemoWards), nearest to "their"
// cloudlet. `patient_ids` maps a device to the patient id its account carries (the seeding);
// a device missing from it uses "patient-NN" (folders made before the demo seeded accounts,
// and --setup-only before the first seeding).
Result<std::vector<ChildSpec>> ProvisionWards(
    const fs::path& dir, int port_base, const fs::path& root_certificate_file,
    const std::map<std::string, std::string>& patient_ids) {
  std::error_code ec;
  std::vector<ChildSpec> children;
  MEDMESH_ASSIGN_OR_RETURN(medmesh::Bytes root_certificate,
                           medmesh::Env::Default().ReadSmallFile(root_certificate_file, 64 * 1024));
  const std::vector<medmesh::demo::DemoWard> wards = medmesh::demo::DemoWards(kWardCount);
  for (int w = 1; w <= kWardCount; ++w) {
    const std::string id = "ward-" + std::to_string(w);
    const fs::path folder = dir / id;
    fs::create_directories(folder, ec);
    fs::permissions(folder, fs::perms::owner_all, fs::perm_options::replace, ec);
    MEDMESH_RETURN_IF_ERROR(
        medmesh::WriteFileAtomically(folder / "root.cert", root_certificate, 0644));
    Json cloudlets = Json::array();
    for (int i = 1; i <= kCloudletCount; ++i) {
      const std::string cloudlet = "cloudlet-" + std::to_string(i);
      cloudlets.push_back({{"id", cloudlet},
                           {"url", Url(port_base + i)},
                           {"enrol_token_file", "../" + cloudlet + "/enrol.token"},
                           {"distance_m", i == w ? 8 : 30 + 15 * std::abs(i - w)},
                           {"trust", 0.9}});
    }
    Json devices = Json::array();
    for (const medmesh::demo::DemoDevice& d : wards[static_cast<std::size_t>(w - 1)].devices) {
      char number[8];
      std::snprintf(number, sizeof number, "%02d", static_cast<int>(d.seed));
      const auto linked = patient_ids.find(d.device_id);
      devices.push_back(
          {{"device_id", d.device_id},
           {"patient_id",
            linked != patient_ids.end() ? linked->second : std::string("patient-") + number},
           {"profile", medmesh::wearable::ProfileName(d.profile)},
           {"seed", d.seed}});
    }
    MEDMESH_RETURN_IF_ERROR(
        WriteJson(folder / "config.json",
                  {{"id", id},
                   {"listen", "127.0.0.1:" + std::to_string(port_base + kCloudletCount + w)},
                   {"data_dir", "data"},
                   {"root_certificate_file", "root.cert"},
                   {"log", LogConfig(id)},
                   {"cloudlets", cloudlets},
                   {"cloud_distance_m", 150},
                   {"devices", devices},
                   // Small, frequent batches so that counts visibly move; production defaults are
                   // 600 readings or 60 s.
                   {"batching", {{"max_readings", 600}, {"max_age_ms", 5000}}},
                   {"outbox", {{"initial_backoff_ms", 500}, {"max_backoff_ms", 10000}}},
                   {"backfill_s", 300},
                   {"tick_ms", 250},
                   {"threads", 2}}));
    children.push_back({id,
                        Group::kWards,
                        {"wearable", "--config", (folder / "config.json").string()},
                        Url(port_base + kCloudletCount + w),
                        "/healthz",
                        dir / "logs" / (id + ".log")});
  }
  return children;
}

// --- Children ----------------------------------------------------------------------------------

// fork + exec of this very binary with the child's subcommand. The child gets its own process
// group (a Ctrl-C reaches only the demo, which stops the children in order), dies with the demo
// (PR_SET_PDEATHSIG), starts with no signal blocked, and writes to its log file.
Status Spawn(Child& child) {
  // The structured log is the child's own rotated file (its config's "log"); only the little
  // it prints goes here (a line at start, a crash's last words), kept across restarts.
  const fs::path output = OutputFile(child.spec.log_file);
  const int fd = ::open(output.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return medmesh::Unavailable("cannot open " + output.string());
  std::vector<std::string> args = {"medmesh"};
  args.insert(args.end(), child.spec.args.begin(), child.spec.args.end());
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t parent = ::getpid();

  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fd);
    return medmesh::Unavailable("fork failed");
  }
  if (pid == 0) {
    // Only async-signal-safe calls from here to exec.
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(1);  // the demo is already gone
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::dup2(fd, STDOUT_FILENO);
    ::dup2(fd, STDERR_FILENO);
    ::execv("/proc/self/exe", argv.data());
    ::_exit(127);
  }
  ::close(fd);
  child.pid = pid;
  child.started = steady_clock::now();
  child.restart_at.reset();
  return medmesh::OkStatus();
}

// Reaps the child if it exited; returns a description of how, or nullopt if still running.
std::optional<std::string> Reap(Child& child) {
  if (child.pid <= 0) return std::nullopt;
  int status = 0;
  const pid_t r = ::waitpid(child.pid, &status, WNOHANG);
  if (r != child.pid) return std::nullopt;
  child.pid = -1;
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return "exited with code " + std::to_string(WEXITSTATUS(status));
}

std::string LogTail(const fs::path& file, std::size_t lines) {
  std::ifstream in(file);
  std::vector<std::string> all;
  std::string line;
  while (std::getline(in, line)) all.push_back(line);
  std::ostringstream out;
  for (std::size_t i = all.size() > lines ? all.size() - lines : 0; i < all.size(); ++i) {
    out << "    " << all[i] << "\n";
  }
  return out.str();
}

// SIGTERM to every running child of `group`, then SIGKILL to those still there at the deadline.
void StopGroup(std::vector<Child>& children, Group group, std::chrono::seconds grace) {
  for (Child& c : children) {
    if (c.spec.group == group && c.pid > 0) ::kill(c.pid, SIGTERM);
  }
  const auto deadline = steady_clock::now() + grace;
  while (true) {
    bool any = false;
    for (Child& c : children) {
      if (c.spec.group != group || c.pid <= 0) continue;
      if (Reap(c)) continue;
      any = true;
    }
    if (!any) return;
    if (steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  for (Child& c : children) {
    if (c.spec.group != group || c.pid <= 0) continue;
    std::cerr << "demo: " << c.spec.name << " did not stop in time; killing it\n";
    ::kill(c.pid, SIGKILL);
    int status = 0;
    ::waitpid(c.pid, &status, 0);
    c.pid = -1;
  }
}

void StopAll(std::vector<Child>& children) {
  // Wards first (they seal what they batched into their outboxes), the cloud last (cloudlets
  // forward until they stop).
  StopGroup(children, Group::kWards, std::chrono::seconds(15));
  StopGroup(children, Group::kCloudlets, std::chrono::seconds(15));
  StopGroup(children, Group::kCloud, std::chrono::seconds(15));
}

enum class WaitOutcome { kReady, kDied, kSignal, kTimeout };

WaitOutcome WaitReady(net::HttpClient& client, Child& child, std::chrono::seconds timeout) {
  const auto deadline = steady_clock::now() + timeout;
  while (steady_clock::now() < deadline) {
    if (auto how = Reap(child)) {
      std::cerr << "demo: " << child.spec.name << " " << *how << " while starting; the end of "
                << child.spec.log_file.string() << ":\n"
                << LogTail(child.spec.log_file, 15) << "and of "
                << OutputFile(child.spec.log_file).string() << ":\n"
                << LogTail(OutputFile(child.spec.log_file), 15);
      return WaitOutcome::kDied;
    }
    auto response = client.Get(child.spec.base_url + child.spec.ready_path);
    if (response && response->status == 200) return WaitOutcome::kReady;
    if (node::WaitForTerminationSignal(std::chrono::milliseconds(200))) return WaitOutcome::kSignal;
  }
  std::cerr << "demo: " << child.spec.name << " was not ready after " << timeout.count()
            << " s; the end of " << child.spec.log_file.string() << ":\n"
            << LogTail(child.spec.log_file, 15) << "and of "
            << OutputFile(child.spec.log_file).string() << ":\n"
            << LogTail(OutputFile(child.spec.log_file), 15);
  return WaitOutcome::kTimeout;
}

// --- What the user sees ------------------------------------------------------------------------

// What the seeding did, for the banner.
struct SeedOutcome {
  std::optional<medmesh::demo::DemoSeed> seed;  // nullopt: a folder from before the seeding
  std::string problem;                          // why the workflows are not all seeded yet
};

void PrintTable(const fs::path& dir, const std::vector<Child>& children,
                const SeedOutcome& seeding) {
  std::cout << "\nMedMesh demo is running. Data: " << dir.string()
            << "  Logs: " << (dir / "logs").string() << "\n\n";
  // The web UI first: it is what a newcomer opens (docs/ui.md).
  std::cout << "Open the web UI in a browser:\n";
  for (const Child& c : children) {
    if (c.spec.group == Group::kCloud) {
      std::cout << "  " << std::left << std::setw(12) << c.spec.name << std::setw(30)
                << (c.spec.base_url + "/") << "patients, doctors, the cloud admin; registration\n";
    } else if (c.spec.group == Group::kCloudlets) {
      std::cout << "  " << std::left << std::setw(12) << c.spec.name << std::setw(30)
                << (c.spec.base_url + "/") << "its operator; its patients' device console\n";
    }
  }
  std::cout
      << "  Log in at any of them with a login below (a cloudlet passes it to the cloud).\n\n";
  std::cout << std::left << std::setw(12) << "node" << std::setw(44) << "JSON stats"
            << std::setw(38) << "Prometheus metrics"
            << "health\n";
  for (const Child& c : children) {
    std::string name = c.spec.name;
    if (c.spec.group == Group::kWards) name += " *";
    std::cout << std::left << std::setw(12) << name << std::setw(44)
              << (c.spec.base_url + "/api/v1/stats") << std::setw(38)
              << (c.spec.base_url + "/metrics") << (c.spec.base_url + "/healthz") << "\n";
  }
  std::cout << "\n  * a ward: one `medmesh wearable` process with " << kDevicesPerWard
            << " simulated patients (hypertension, type 2 diabetes, COPD, atrial fibrillation),\n"
            << "    uploading to the cloudlet the energy model picks (its own ward's).\n\n"
            << "Readings flow wearable -> cloudlet -> cloud; the counts above grow every few "
               "seconds, e.g.\n"
            << "  curl -s " << children[1].spec.base_url << "/api/v1/stats\n"
            << "Operator endpoints (patient readings, IDS events) take the bearer token in "
            << (dir / "cloudlet-1" / "operator.token").string() << " (one per node).\n\n";
  if (seeding.seed) {
    medmesh::demo::PrintDemoLogins(std::cout, *seeding.seed, children[0].spec.base_url);
    std::cout << "Logins and passwords are kept in " << (dir / kSeedFileName).string()
              << " (0600). Every workflow is seeded: portal activations, consents, answers and\n"
              << "prescriptions, one revoked grant, a pending patient and doctor (docs/demo.md).\n"
              << "  curl -s -X POST " << children[0].spec.base_url
              << "/api/v1/session -H 'Content-Type: application/json' \\\n"
              << "       -d '{\"email\":\"<login>\",\"password\":\"<password>\"}'\n";
    if (!seeding.problem.empty()) {
      std::cout << "NOTE: the workflows are not all seeded yet (" << seeding.problem
                << "); the next start resumes.\n";
    }
  } else {
    std::cout << "This data folder was made before the demo seeded accounts: delete it for the\n"
              << "seeded demo, or create an admin with\n"
              << "  medmesh admin create --config " << (dir / "cloud" / "config.json").string()
              << " --email <e-mail>\n";
  }
  std::cout << "Ctrl-C stops everything; running the demo again on the same data dir resumes.\n\n"
            << std::flush;
}

// One line of counts from every node's /api/v1/stats.
void PrintFlow(net::HttpClient& client, const std::vector<Child>& children) {
  std::ostringstream line;
  line << "readings stored:";
  for (const Child& c : children) {
    if (c.spec.group == Group::kWards) continue;
    auto response = client.Get(c.spec.base_url + "/api/v1/stats");
    std::string value = "down";
    if (response && response->status == 200) {
      const Json body = Json::parse(response->body, nullptr, false);
      const char* key = c.spec.group == Group::kCloud ? "readings" : "readings_stored";
      if (body.is_object() && body.contains(key)) value = body[key].dump();
    }
    line << "  " << c.spec.name << " " << value;
  }
  std::cout << line.str() << "\n" << std::flush;
}

// --- The command -------------------------------------------------------------------------------

// Spawns every child of `group` and waits until each is ready. False if the demo must stop
// (`exit_code` says how).
bool StartGroup(std::vector<Child>& children, Group group, net::HttpClient& client,
                int& exit_code) {
  for (Child& c : children) {
    if (c.spec.group != group) continue;
    if (Status st = Spawn(c); !st) {
      std::cerr << "medmesh demo: starting " << c.spec.name << ": " << st.error().ToString()
                << "\n";
      exit_code = 1;
      return false;
    }
    std::cout << "demo: started " << c.spec.name << " (pid " << c.pid << ")\n" << std::flush;
  }
  for (Child& c : children) {
    if (c.spec.group != group) continue;
    const WaitOutcome outcome = WaitReady(client, c, std::chrono::seconds(60));
    if (outcome == WaitOutcome::kReady) continue;
    exit_code = outcome == WaitOutcome::kSignal ? 0 : 1;
    return false;
  }
  return true;
}

// The record id a ward's device sent, from the device's own note of it (the agent's
// "record.queued"): what the patient's device would tell them.
std::optional<std::string> RecordIdOf(const fs::path& dir, const std::string& device_id) {
  for (const medmesh::demo::DemoWard& ward : medmesh::demo::DemoWards(kWardCount)) {
    for (const medmesh::demo::DemoDevice& d : ward.devices) {
      if (d.device_id != device_id) continue;
      const std::string ward_name =
          "ward-" + ward.cloudlet_id.substr(ward.cloudlet_id.rfind('-') + 1);
      auto text = medmesh::Env::Default().ReadSmallFile(
          dir / ward_name / "data" / "devices" / device_id / "record.queued", 256);
      if (!text) return std::nullopt;
      std::string id(medmesh::AsStringView(*text));
      while (!id.empty() && (id.back() == '\n' || id.back() == '\r')) id.pop_back();
      if (id.empty()) return std::nullopt;
      return id;
    }
  }
  return std::nullopt;
}

// The seeded admin, made by `medmesh admin create --config DIR/cloud/config.json` itself (this
// binary as a child, the password on its stdin, never a flag), before the cloud starts: so the
// creation is in the cloud's signed audit log as for any admin. Nothing to do if the login has
// an account already. Its output goes to DIR/logs/admin-create.out.
Status CreateAdmin(const fs::path& dir, const medmesh::demo::DemoSeed& seed) {
  const auto admin = std::find_if(seed.accounts.begin(), seed.accounts.end(),
                                  [](const medmesh::demo::DemoAccount& a) {
                                    return a.role == medmesh::accounts::Role::kAdmin;
                                  });
  if (admin == seed.accounts.end()) return medmesh::DataLoss("the demo seed has no admin");
  const fs::path data = dir / "cloud" / "data";
  std::error_code ec;
  if (!fs::exists(data, ec)) {
    fs::create_directories(data, ec);
    fs::permissions(data, fs::perms::owner_all, fs::perm_options::replace, ec);
  }
  {
    MEDMESH_ASSIGN_OR_RETURN(auto store, medmesh::cloud::OpenAccountStore(data, {}));
    MEDMESH_ASSIGN_OR_RETURN(auto existing, store->FindByLogin(admin->login));
    if (existing) return medmesh::OkStatus();
  }
  const fs::path output = dir / "logs" / "admin-create.out";
  int in[2];
  if (::pipe2(in, O_CLOEXEC) != 0) return medmesh::Unavailable("pipe failed");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in[0], STDIN_FILENO);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, output.c_str(),
                                   O_WRONLY | O_CREAT | O_APPEND, 0600);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attributes, &none);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK);
  std::vector<std::string> args = {"medmesh",
                                   "admin",
                                   "create",
                                   "--config",
                                   (dir / "cloud" / "config.json").string(),
                                   "--email",
                                   admin->login,
                                   "--name",
                                   admin->display_name};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  const int spawned =
      ::posix_spawn(&pid, "/proc/self/exe", &actions, &attributes, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  ::close(in[0]);
  if (spawned != 0) {
    ::close(in[1]);
    return medmesh::Unavailable("cannot run medmesh admin create");
  }
  const std::string line = admin->password + "\n";
  const bool written =
      ::write(in[1], line.data(), line.size()) == static_cast<ssize_t>(line.size());
  ::close(in[1]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!written || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return medmesh::Unavailable("medmesh admin create failed (see " + output.string() + ")");
  }
  return medmesh::OkStatus();
}

int RunDemo(const DemoFlags& flags) {
  if (flags.port_base < 1024 || flags.port_base > 65535 - (kCloudletCount + kWardCount)) {
    std::cerr << "medmesh demo: --port-base must leave room for " << 1 + kCloudletCount + kWardCount
              << " ports in 1024..65535\n";
    return 2;
  }
  std::error_code ec;
  const fs::path dir = fs::absolute(flags.data_dir, ec);
  medmesh::SystemRandom random;
  medmesh::SystemClock clock;
  // One demo per data folder: a second one would find the first one's nodes ready on the same
  // ports and mistake them for its own.
  auto data_dir_lock = node::DataDirLock::Acquire(dir);
  if (!data_dir_lock) {
    std::cerr << "medmesh demo: " << data_dir_lock.error().ToString() << "\n";
    return 1;
  }
  const bool fresh = !fs::exists(dir / "root" / "root.key");
  auto provisioned = Provision(dir, flags.port_base, random, medmesh::wire::ToUnixMs(clock.Now()));
  if (!provisioned) {
    std::cerr << "medmesh demo: setting up " << dir.string() << ": "
              << provisioned.error().ToString() << "\n";
    return 1;
  }
  // The seeded people: planned (with fresh random passwords) when the folder is made; a folder
  // made before the demo seeded accounts has no seed file and stays unseeded (its devices
  // already carry other patient ids).
  const fs::path seed_file = dir / kSeedFileName;
  SeedOutcome seeding;
  {
    auto loaded = medmesh::demo::LoadDemoSeed(seed_file);
    if (!loaded) {
      std::cerr << "medmesh demo: " << seed_file.string() << ": " << loaded.error().ToString()
                << "\n";
      return 1;
    }
    seeding.seed = std::move(*loaded);
    if (!seeding.seed && fresh) {
      seeding.seed = medmesh::demo::NewDemoSeed(medmesh::demo::DemoWards(kWardCount), random);
      if (Status st = medmesh::demo::SaveDemoSeed(seed_file, *seeding.seed); !st) {
        std::cerr << "medmesh demo: " << st.error().ToString() << "\n";
        return 1;
      }
    }
  }
  auto patient_ids = [&] {
    std::map<std::string, std::string> ids;
    if (!seeding.seed) return ids;
    for (const medmesh::demo::DemoAccount& a : seeding.seed->accounts) {
      if (!a.device_id.empty() && !a.patient_id.empty()) ids[a.device_id] = a.patient_id;
    }
    return ids;
  };
  auto ward_specs =
      ProvisionWards(dir, flags.port_base, provisioned->root_certificate_file, patient_ids());
  if (!ward_specs) {
    std::cerr << "medmesh demo: setting up the wards: " << ward_specs.error().ToString() << "\n";
    return 1;
  }
  std::cout << (fresh ? "demo: created " : "demo: resuming ") << dir.string() << "\n";
  if (flags.setup_only) return 0;

  // Before any child or thread: SIGINT/SIGTERM are taken synchronously by this thread.
  node::BlockTerminationSignals();
  net::ClientOptions client_options;
  client_options.connect_timeout = std::chrono::seconds(1);
  client_options.request_timeout = std::chrono::seconds(3);
  auto client = net::HttpClient::Create(client_options);
  // The seeding's calls include Argon2id logins and inboxes: a longer timeout.
  client_options.request_timeout = std::chrono::seconds(30);
  auto seed_client = net::HttpClient::Create(client_options);
  if (!client || !seed_client) {
    std::cerr << "medmesh demo: cannot create an HTTP client\n";
    return 1;
  }

  std::vector<Child> children;
  for (ChildSpec& spec : provisioned->children) {
    Child child;
    child.spec = std::move(spec);
    children.push_back(std::move(child));
  }
  if (seeding.seed && !seeding.seed->complete) {
    std::cout << "demo: creating the admin (medmesh admin create)\n" << std::flush;
    if (Status st = CreateAdmin(dir, *seeding.seed); !st) {
      std::cerr << "medmesh demo: " << st.error().ToString() << "\n";
      return 1;
    }
  }
  int exit_code = 0;
  for (Group group : {Group::kCloud, Group::kCloudlets}) {
    if (!StartGroup(children, group, **client, exit_code)) {
      StopAll(children);
      return exit_code;
    }
  }

  // Seeding, part 1 (before the wards start: their devices use the patient ids it learns).
  const std::string cloud_url = children[0].spec.base_url;
  // A signal the seeding's pauses took (they may run on several of its threads at once: the
  // one that takes the signal sets it, the others see it when their wait ends).
  std::atomic<bool> stop_requested{false};
  medmesh::demo::SeedContext seed_context{
      **seed_client, clock, cloud_url,
      [&dir](const std::string& device_id) { return RecordIdOf(dir, device_id); },
      [&stop_requested](std::chrono::milliseconds d) {
        if (!stop_requested && node::WaitForTerminationSignal(d).has_value()) {
          stop_requested = true;
        }
        return !stop_requested;
      }};
  if (seeding.seed && !seeding.seed->complete) {
    std::cout << "demo: seeding the operators, patients and doctors\n" << std::flush;
    Status st = medmesh::demo::SeedAccounts(seed_context, *seeding.seed);
    if (Status saved = medmesh::demo::SaveDemoSeed(seed_file, *seeding.seed); st && !saved) {
      st = saved;
    }
    if (!st) {
      StopAll(children);
      if (stop_requested) return 0;
      std::cerr << "medmesh demo: seeding the accounts: " << st.error().ToString()
                << "\n(start the demo again to resume)\n";
      return 1;
    }
    ward_specs =
        ProvisionWards(dir, flags.port_base, provisioned->root_certificate_file, patient_ids());
    if (!ward_specs) {
      std::cerr << "medmesh demo: setting up the wards: " << ward_specs.error().ToString() << "\n";
      StopAll(children);
      return 1;
    }
  }
  for (ChildSpec& spec : *ward_specs) {
    Child child;
    child.spec = std::move(spec);
    children.push_back(std::move(child));
  }
  if (!StartGroup(children, Group::kWards, **client, exit_code)) {
    StopAll(children);
    return exit_code;
  }

  // Seeding, part 2: the workflows, once the devices' data has reached the cloud.
  if (seeding.seed && !seeding.seed->complete) {
    std::cout << "demo: seeding the workflows (waiting for the wards' first data to reach the "
                 "cloud)\n"
              << std::flush;
    if (Status st = medmesh::demo::SeedWorkflows(seed_context, *seeding.seed); st) {
      seeding.seed->complete = true;
      if (Status saved = medmesh::demo::SaveDemoSeed(seed_file, *seeding.seed); !saved) {
        seeding.problem = saved.error().ToString();
      }
    } else {
      seeding.problem = st.error().ToString();
    }
    if (stop_requested) {
      StopAll(children);
      std::cout << "demo: stopped; run it again to resume\n";
      return 0;
    }
  }
  PrintTable(dir, children, seeding);

  auto next_flow = steady_clock::now() + std::chrono::seconds(10);
  while (true) {
    if (auto signal = node::WaitForTerminationSignal(std::chrono::milliseconds(500))) {
      std::cout << "demo: " << strsignal(*signal) << "; stopping the wards, the cloudlets, "
                << "then the cloud\n"
                << std::flush;
      break;
    }
    const auto now = steady_clock::now();
    for (Child& c : children) {
      if (auto how = Reap(c)) {
        // Restart with a growing delay; a child that ran for a minute starts the count afresh.
        if (now - c.started > std::chrono::minutes(1)) c.restarts = 0;
        const auto delay = std::chrono::seconds(std::min(30, 1 << std::min(c.restarts, 5)));
        c.restart_at = now + delay;
        std::cerr << "demo: " << c.spec.name << " " << *how << "; restarting it in "
                  << delay.count() << " s (log: " << c.spec.log_file.string() << ")\n";
      } else if (c.pid <= 0 && c.restart_at && now >= *c.restart_at) {
        ++c.restarts;
        if (Status st = Spawn(c); !st) {
          c.restart_at = now + std::chrono::seconds(5);
          std::cerr << "demo: restarting " << c.spec.name << ": " << st.error().ToString() << "\n";
        } else {
          std::cerr << "demo: restarted " << c.spec.name << " (pid " << c.pid << ")\n";
        }
      }
    }
    if (now >= next_flow) {
      next_flow = now + std::chrono::seconds(10);
      PrintFlow(**client, children);
    }
  }
  StopAll(children);
  std::cout << "demo: stopped; run it again to resume\n";
  return 0;
}

}  // namespace

void RegisterDemoCommand(CLI::App& app) {
  auto flags = std::make_shared<DemoFlags>();
  CLI::App* cmd = app.add_subcommand(
      "demo",
      "Run a local deployment: one cloud, three cloudlets and a dozen simulated wearables "
      "(Ctrl-C stops it; the same --data-dir resumes)");
  cmd->add_option("--data-dir", flags->data_dir,
                  "Where keys, certificates, configs, databases "
                  "and logs live")
      ->capture_default_str();
  cmd->add_option("--port-base", flags->port_base,
                  "Cloud port; cloudlets use the next three, the wards the three after")
      ->capture_default_str();
  cmd->add_flag("--setup-only", flags->setup_only,
                "Create (or refresh) the data dir and configs, start nothing");
  cmd->callback([flags] {
    const int code = RunDemo(*flags);
    if (code != 0) throw CLI::RuntimeError(code);
  });
}

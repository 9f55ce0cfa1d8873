// IDS mesh propagation benchmark (issue 11, docs/ids_mesh.md): from a detection on one cloudlet
// to enforcement (the Enforcer answering 403) on every other node of a mesh of real `medmesh`
// processes on this machine, p50 and p99; and the lying-peer figure.
//
// Setup: a root, the cloud and `--cloudlets` cloudlets provisioned in a temporary folder, each a
// child process of the real binary on a port chosen free beforehand; every cloudlet's peers are
// the other cloudlets (and its cloud), the cloud's peers all cloudlets (docs/node_config.md
// "mesh"); mesh.confirm_window_s = 10 (the config's minimum) so the lying peer is judged fast.
//
// What is measured, per trial (attacker address 127.0.0.(10 + trial), loopback addresses other
// than 127.0.0.1 are enforced):
//   1. cloudlet-1 is sent malformed uploads until it blocks the attacker itself (its
//      device_batches detector); its reports are delivered (its outboxes empty); then every
//      other node is checked: none may enforce yet (one origin alone never blocks: "premature").
//   2. cloudlet-2 is sent malformed uploads until it blocks the attacker too. t0 = when the
//      request that made cloudlet-2 decide was sent (the last one it answered without 403).
//   3. every other node (cloudlets 3.. and the cloud) is polled from the attacker's address
//      (GET /healthz, a new connection each, every ~10 ms per node) until it answers 403; the
//      latency of that node is (first 403) - t0. Sampled: (nodes - 2) x trials latencies.
// So the figure is "second detection -> enforcement everywhere": a block needs 2 origins.
// It includes the detecting request's own handling, the outbox write (one SQLite commit per
// peer), the signed POST to each peer in turn, fusion and adoption (one SQLite commit) and up
// to one poll period.
//
// Lying peer: the last cloudlet's identity (its key file, as the red-team tool would use it)
// signs block reports of 5 innocent addresses (127.0.0.200..204) to every other node; each
// innocent then uses every node normally (GET /healthz). Printed: innocents blocked anywhere
// (goal 0), and the time from the first lie until every node's GET /api/v1/ids/peers shows the
// liar's weight 0 (its influence below the threshold). Then the liar and an honest cloudlet
// (cloudlet-1's key) both report one more innocent: blocked anywhere? (goal 0).
//
//   build/release/bench/ids_propagation_benchmark [--cloudlets 3] [--trials 5]
//       [--binary build/release/apps/medmesh]
#include <CLI/CLI.hpp>
#include <algorithm>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "../tests/child_process.h"
#include "core/log.h"
#include "crypto/key_file.h"
#include "ids/mesh_report.h"
#include "net/http_client.h"
#include "net/test_support.h"
#include "node/identity.h"
#include "node/provisioning.h"
#include "node/test_support.h"
#include "testing/temp_dir.h"
#include "testing/wait.h"
#include "wire/model.h"

namespace medmesh::bench {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;
using Steady = std::chrono::steady_clock;

template <typename T>
T Must(Result<T> r, const char* what) {
  if (!r) {
    std::fprintf(stderr, "%s: %s\n", what, r.error().ToString().c_str());
    std::exit(1);
  }
  return std::move(*r);
}
void Must(Status s, const char* what) {
  if (!s) {
    std::fprintf(stderr, "%s: %s\n", what, s.error().ToString().c_str());
    std::exit(1);
  }
}

struct Node {
  std::string id;
  bool cloud = false;
  std::uint16_t port = 0;
  fs::path folder;
  std::string token;  // operator token text
  std::unique_ptr<testing_process::Child> child;
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port); }
};

std::vector<std::uint16_t> FreePorts(std::size_t n) {
  boost::asio::io_context io;
  std::vector<std::unique_ptr<boost::asio::ip::tcp::acceptor>> held;
  std::vector<std::uint16_t> ports;
  for (std::size_t i = 0; i < n; ++i) {
    auto a = std::make_unique<boost::asio::ip::tcp::acceptor>(
        io, boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
    ports.push_back(a->local_endpoint().port());
    held.push_back(std::move(a));
  }
  return ports;
}

void WriteJson(const fs::path& file, const Json& json) {
  std::ofstream(file) << json.dump(2) << "\n";
}

void Kek(const fs::path& file, Random& random) {
  Must(
      crypto::WriteKeyFile(file, crypto::GenerateKeyFile(crypto::KeyFileType::kKek, random), false),
      "kek");
}

// The status of one request from `from` (a new connection); 0 if none came.
int StatusFrom(std::uint16_t port, const std::string& request, const std::string& from) {
  net::testing::RawConnection c(port, std::chrono::seconds(5), from);
  if (!c.connected() || !c.Send(request)) return 0;
  auto reply = c.Read();
  return reply ? reply->status : 0;
}

const std::string kHealth = "GET /healthz HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n";
const std::string kGarbage =
    "POST /api/v1/ingest HTTP/1.1\r\nHost: bench\r\nContent-Type: application/octet-stream\r\n"
    "Content-Length: 7\r\nConnection: close\r\n\r\ngarbage";

// Sends malformed uploads from `from` until `node` blocks it; returns when the request that made
// it decide was sent.
Steady::time_point AttackUntilBlocked(const Node& node, const std::string& from) {
  Steady::time_point last_unblocked = Steady::now();
  for (int i = 0; i < 50; ++i) {
    const Steady::time_point sent = Steady::now();
    const int status = StatusFrom(node.port, kGarbage, from);
    if (status == 403) return last_unblocked;
    last_unblocked = sent;
  }
  std::fprintf(stderr, "%s never blocked %s\n", node.id.c_str(), from.c_str());
  std::exit(1);
}

Json GetJson(net::HttpClient& client, const Node& node, const std::string& path) {
  net::ClientRequest r;
  r.url = node.url() + path;
  r.headers.push_back({"Authorization", "Bearer " + node.token});
  auto response = client.Send(r);
  if (!response || response->status != 200) return Json();
  return Json::parse(response->body, nullptr, false);
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t at =
      std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5));
  return v[at];
}

int Run(int cloudlets, int trials, const std::string& binary) {
  log::SetLevel(log::Level::kWarn);
  testing::TempDir dir;
  SystemRandom random;
  const std::int64_t now_ms = wire::ToUnixMs(std::chrono::system_clock::now());
  const node::RootFiles root =
      Must(node::EnsureRoot(dir.path() / "root", "bench-root", random, now_ms), "root");
  const std::vector<std::uint16_t> ports = FreePorts(static_cast<std::size_t>(cloudlets) + 1);
  std::vector<Node> nodes(static_cast<std::size_t>(cloudlets) + 1);
  nodes[0].id = "cloud";
  nodes[0].cloud = true;
  for (int i = 1; i <= cloudlets; ++i) nodes[i].id = "cloudlet-" + std::to_string(i);
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    Node& n = nodes[i];
    n.port = ports[i];
    n.folder = dir.path() / n.id;
    node::NodeCertificateRequest request;
    request.role = n.cloud ? wire::CertificateRole::kCloud : wire::CertificateRole::kCloudlet;
    request.node_id = n.id;
    request.out_dir = n.folder;
    request.root = root;
    request.now_ms = now_ms;
    Must(node::IssueNodeCertificate(request, random), "certificate");
    Must(node::WriteTokenFile(n.folder / "operator.token", random), "token");
    n.token =
        node::testing::TokenText(Must(node::ReadTokenFile(n.folder / "operator.token"), "token"));
    Json peers = Json::array();
    for (std::size_t j = 1; j < nodes.size(); ++j) {
      if (j == i) continue;
      peers.push_back({{"id", "cloudlet-" + std::to_string(j)},
                       {"url", "http://127.0.0.1:" + std::to_string(ports[j])}});
    }
    Json config = {{"id", n.id},
                   {"listen", "127.0.0.1:" + std::to_string(n.port)},
                   {"data_dir", "data"},
                   {"operator_token_file", "operator.token"},
                   {"mesh", {{"peers", peers}, {"confirm_window_s", 10}}},
                   {"log", {{"file", "../logs/" + n.id + ".log"}}}};
    if (n.cloud) {
      for (const char* k :
           {"ei_kek.key", "qi_kek.key", "mi_kek.key", "index.key", "pseudonym.key"}) {
        Kek(n.folder / k, random);
      }
    } else {
      Kek(n.folder / "kek.key", random);
      config["cloud_url"] = "http://127.0.0.1:" + std::to_string(ports[0]);
    }
    WriteJson(n.folder / "config.json", config);
  }
  fs::create_directories(dir.path() / "logs");
  for (Node& n : nodes) {
    n.child = std::make_unique<testing_process::Child>(
        std::vector<std::string>{binary, n.cloud ? "cloud" : "cloudlet", "--config",
                                 (n.folder / "config.json").string(), "--log-level", "warn"},
        dir.path() / "logs" / (n.id + ".stderr"));
    if (!n.child->started()) {
      std::fprintf(stderr, "cannot start %s\n", binary.c_str());
      return 1;
    }
  }
  auto client = Must(net::HttpClient::Create({}), "client");
  for (const Node& n : nodes) {
    const bool ready = medmesh::testing::WaitUntil(
        [&] {
          auto r = client->Get(n.url() + "/readyz");
          return r && r->status == 200;
        },
        std::chrono::seconds(120), std::chrono::milliseconds(50));
    if (!ready) {
      std::fprintf(stderr, "%s is not ready (logs in %s)\n", n.id.c_str(),
                   (dir.path() / "logs").c_str());
      return 1;
    }
  }
  std::printf("mesh: the cloud and %d cloudlets, each a `medmesh` process on this machine\n",
              cloudlets);

  std::vector<double> latencies_ms;
  int premature = 0, missed = 0;
  for (int t = 0; t < trials; ++t) {
    const std::string attacker = "127.0.0." + std::to_string(10 + t);
    (void)AttackUntilBlocked(nodes[1], attacker);
    const bool drained = medmesh::testing::WaitUntil(
        [&] {
          const Json peers = GetJson(*client, nodes[1], "/api/v1/ids/peers");
          if (!peers.contains("peers")) return false;
          for (const Json& p : peers["peers"]) {
            if (p["outbox_depth"].get<std::uint64_t>() != 0) return false;
          }
          return true;
        },
        std::chrono::seconds(30), std::chrono::milliseconds(20));
    if (!drained) std::fprintf(stderr, "trial %d: cloudlet-1's outboxes did not drain\n", t);
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      if (i == 1) continue;
      premature += StatusFrom(nodes[i].port, kHealth, attacker) == 403 ? 1 : 0;
    }
    const Steady::time_point t0 = AttackUntilBlocked(nodes[2], attacker);
    std::vector<std::size_t> pending;
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      if (i != 1 && i != 2) pending.push_back(i);
    }
    const Steady::time_point deadline = t0 + std::chrono::seconds(10);
    while (!pending.empty() && Steady::now() < deadline) {
      const Steady::time_point sweep = Steady::now();
      std::erase_if(pending, [&](std::size_t i) {
        if (StatusFrom(nodes[i].port, kHealth, attacker) != 403) return false;
        latencies_ms.push_back(
            std::chrono::duration<double, std::milli>(Steady::now() - t0).count());
        return true;
      });
      std::this_thread::sleep_until(sweep + std::chrono::milliseconds(10));
    }
    missed += static_cast<int>(pending.size());
  }
  std::printf(
      "propagation, second detection -> 403 at every other node (%zu samples, %d trials):"
      "\n  p50 %.0f ms   p99 %.0f ms   max %.0f ms   missed (none within 10 s) %d   "
      "premature blocks (one origin) %d\n",
      latencies_ms.size(), trials, Percentile(latencies_ms, 0.5), Percentile(latencies_ms, 0.99),
      latencies_ms.empty() ? 0.0 : *std::max_element(latencies_ms.begin(), latencies_ms.end()),
      missed, premature);

  // --- The lying peer ---------------------------------------------------------------------------
  Node& liar = nodes.back();
  const auto identity_of = [&](const Node& n) {
    return Must(node::LoadNodeIdentity(n.folder / "node.key", n.folder / "node.cert",
                                       n.folder / "root.cert", wire::CertificateRole::kCloudlet,
                                       n.id, wire::ToUnixMs(std::chrono::system_clock::now())),
                "identity");
  };
  const node::NodeIdentity liar_id = identity_of(liar);
  const node::NodeIdentity honest_id = identity_of(nodes[1]);
  auto liar_signer = crypto::NewEd25519Signer(liar_id.signing_key.Clone());
  auto honest_signer = crypto::NewEd25519Signer(honest_id.signing_key.Clone());
  std::uint64_t sequence = std::uint64_t{1} << 62;  // above any the running nodes used
  const auto report = [&](const node::NodeIdentity& who, const crypto::Signer& signer,
                          const std::string& innocent, const Node& to) {
    ids::MeshReport r;
    r.origin = who.id();
    r.sequence = ++sequence;
    r.sent_ms = wire::ToUnixMs(std::chrono::system_clock::now());
    r.decision.id = HexEncode(random.Generate(16));
    r.decision.origin = who.id();
    r.decision.detector = "credentials";
    r.decision.detector_version = 1;
    r.decision.scope = {ids::ScopeKind::kIp, innocent};
    r.decision.action = ids::Action::kBlock;
    r.decision.created_ms = r.sent_ms;
    r.decision.expires_ms = r.sent_ms + 600'000;
    r.decision.reason = "a lie";
    const Bytes body = Must(ids::SignMeshReport(r, signer, who.certificate.encoded()), "sign");
    auto sent = client->Post(to.url() + "/api/v1/ids/mesh/reports", std::string(AsStringView(body)),
                             "application/octet-stream");
    return sent ? sent->status : 0;
  };
  const Steady::time_point lies_start = Steady::now();
  std::vector<std::string> innocents;
  for (int k = 0; k < 5; ++k) innocents.push_back("127.0.0." + std::to_string(200 + k));
  int refused_lies = 0;
  for (const std::string& innocent : innocents) {
    for (const Node& n : nodes) {
      if (&n != &liar) refused_lies += report(liar_id, *liar_signer, innocent, n) == 202 ? 0 : 1;
    }
  }
  int innocent_blocked = 0;
  const auto check_innocents = [&] {
    for (const std::string& innocent : innocents) {
      for (const Node& n : nodes) innocent_blocked += StatusFrom(n.port, kHealth, innocent) == 403;
    }
  };
  check_innocents();  // also the benign traffic that refutes the lies
  const bool judged = medmesh::testing::WaitUntil(
      [&] {
        for (const Node& n : nodes) {
          if (&n == &liar) continue;
          const Json peers = GetJson(*client, n, "/api/v1/ids/peers");
          if (!peers.contains("peers")) return false;
          for (const Json& p : peers["peers"]) {
            if (p["id"] == liar.id && p["weight"].get<double>() > 0) return false;
          }
        }
        return true;
      },
      std::chrono::seconds(60), std::chrono::milliseconds(100));
  const double judged_s = std::chrono::duration<double>(Steady::now() - lies_start).count();
  check_innocents();
  // Collusion: the liar and an honest node both name one more innocent.
  innocents = {"127.0.0.210"};
  for (const Node& n : nodes) {
    if (&n != &liar) (void)report(liar_id, *liar_signer, innocents[0], n);
    if (&n != &nodes[1]) (void)report(honest_id, *honest_signer, innocents[0], n);
  }
  check_innocents();
  std::printf(
      "lying peer (%s, 5 innocents reported to %zu nodes, confirm window 10 s):\n"
      "  innocent blocks anywhere %d   influence below threshold at every node after "
      "%.1f s%s   lies refused at the door %d\n",
      liar.id.c_str(), nodes.size() - 1, innocent_blocked, judged_s,
      judged ? "" : " (NOT reached within 60 s)", refused_lies);
  return (missed == 0 && premature == 0 && innocent_blocked == 0 && judged) ? 0 : 2;
}

}  // namespace
}  // namespace medmesh::bench

int main(int argc, char** argv) {
  CLI::App app{"IDS mesh propagation and lying-peer benchmark (docs/ids_mesh.md)"};
  int cloudlets = 3;
  int trials = 5;
  std::string binary = MEDMESH_BINARY;
  app.add_option("--cloudlets", cloudlets, "cloudlet processes (besides the cloud)")
      ->check(CLI::Range(3, 60));
  app.add_option("--trials", trials, "attacker addresses, one after another")
      ->check(CLI::Range(1, 100));
  app.add_option("--binary", binary, "the medmesh binary");
  CLI11_PARSE(app, argc, argv);
  return medmesh::bench::Run(cloudlets, trials, binary);
}

// Blocked-flood benchmark (issue 11, docs/ids.md): legitimate ingest throughput of one cloudlet
// while a source its IDS blocked sends it about 10,000 requests per second, as a ratio to the
// undisturbed throughput. Goal: at least 0.8.
//
// Setup: a real CloudletService on loopback with its production defaults except the access log
// (off, as for high rates). `--devices` test devices are enrolled over HTTP and each seals
// `--uploads` x 3 uploads of 60 heart-rate readings up front (sealing is the device's cost).
// The attacker address 127.0.0.66 sends 6 forged uploads first, so the cloudlet's own detector
// (device_batches) blocks it: the benchmark checks that it then gets 403.
// Then three timed phases, each on its own third of the uploads: undisturbed, flooded,
// undisturbed again; the ratio is flooded / mean(undisturbed). Legitimate clients: `--clients`
// threads from 127.0.0.1, one keep-alive connection each. Flood: `--flood-threads` threads
// from 127.0.0.66, a new connection per request (a blocked answer closes it), paced to
// `--flood-rate` requests/s in total; the rate reached is printed.
//
// WARNING: client and server share this machine's cores, so the flood's own client cost is in
// the figure too (a real flood comes from elsewhere): the ratio is pessimistic.
//
//   build/release/bench/blocked_flood_benchmark [--devices 16] [--uploads 60] [--clients 8]
//                                               [--flood-rate 10000] [--flood-threads 2]
#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "cloudlet/cloudlet_service.h"
#include "core/log.h"
#include "net/http_client.h"
#include "net/test_support.h"
#include "node/test_support.h"
#include "testing/temp_dir.h"

namespace medmesh::bench {
namespace {

using Clock = std::chrono::steady_clock;
constexpr const char* kAttacker = "127.0.0.66";

template <typename T>
T Must(Result<T> r, const char* what) {
  if (!r) {
    std::fprintf(stderr, "%s: %s\n", what, r.error().ToString().c_str());
    std::exit(1);
  }
  return std::move(*r);
}

std::string IngestRequest(ByteView upload) {
  return "POST /api/v1/ingest HTTP/1.1\r\nHost: bench\r\nContent-Type: "
         "application/octet-stream\r\nContent-Length: " +
         std::to_string(upload.size()) + "\r\n\r\n" + std::string(AsStringView(upload));
}

int StatusOnce(std::uint16_t port, const std::string& request, const char* from) {
  net::testing::RawConnection c(port, std::chrono::seconds(10), from);
  if (!c.connected() || !c.Send(request)) return 0;
  auto reply = c.Read();
  return reply ? reply->status : 0;
}

// Sends every upload of `batches` over `clients` keep-alive connections; uploads per second.
double IngestPhase(std::uint16_t port, const std::vector<std::vector<std::string>>& batches,
                   std::size_t clients, std::atomic<int>& failures) {
  const auto start = Clock::now();
  std::vector<std::thread> threads;
  std::size_t total = 0;
  for (const auto& b : batches) total += b.size();
  for (std::size_t c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      auto conn = std::make_unique<net::testing::RawConnection>(port, std::chrono::seconds(30));
      for (std::size_t d = c; d < batches.size(); d += clients) {
        for (const std::string& request : batches[d]) {
          if (!conn->Send(request)) {
            conn = std::make_unique<net::testing::RawConnection>(port, std::chrono::seconds(30));
            conn->Send(request);
          }
          auto reply = conn->Read();
          if (!reply || reply->status != 200) failures.fetch_add(1);
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return static_cast<double>(total) / seconds;
}

int Main(int argc, char** argv) {
  CLI::App app{"Legitimate ingest under a flood of blocked requests"};
  std::size_t devices = 16, uploads = 60, clients = 8, flood_threads = 2;
  double flood_rate = 10'000;
  app.add_option("--devices", devices);
  app.add_option("--uploads", uploads, "uploads per device per phase");
  app.add_option("--clients", clients);
  app.add_option("--flood-rate", flood_rate, "blocked requests per second in total");
  app.add_option("--flood-threads", flood_threads);
  CLI11_PARSE(app, argc, argv);
  log::SetLevel(log::Level::kWarn);

  testing::TempDir dir;
  node::testing::TestDeployment deployment(dir.path() / "pki");
  SystemClock clock;
  SystemRandom random;
  const SecretBytes enrol_token = node::testing::RandomToken(random);
  cloudlet::CloudletOptions options;
  options.data_dir = dir.path() / "data";
  options.access_log = false;
  cloudlet::CloudletSecrets secrets{
      Must(deployment.Identity(wire::CertificateRole::kCloudlet, "cloudlet-1"), "identity"),
      crypto::KeyEncryptionKey::Generate(random),
      enrol_token.Clone(),
      {}};
  auto service =
      Must(cloudlet::CloudletService::Start(std::move(options), std::move(secrets), clock, random),
           "cloudlet");
  const std::uint16_t port = service->port();
  const std::string url = "http://127.0.0.1:" + std::to_string(port);
  auto client = Must(net::HttpClient::Create({}), "http client");

  // Devices and their uploads: three phases' worth, sealed before any timing.
  std::vector<std::vector<std::vector<std::string>>> phases(
      3, std::vector<std::vector<std::string>>(devices));
  std::vector<std::unique_ptr<node::testing::TestDevice>> fleet;
  const std::int64_t now_ms = wire::ToUnixMs(clock.Now());
  for (std::size_t d = 0; d < devices; ++d) {
    fleet.push_back(std::make_unique<node::testing::TestDevice>(
        "bench-" + std::to_string(d), "patient-" + std::to_string(d), random, clock));
    if (Status s = fleet.back()->Enrol(*client, url, enrol_token, deployment.Root().key); !s) {
      std::fprintf(stderr, "enrol: %s\n", s.error().ToString().c_str());
      return 1;
    }
    for (std::size_t p = 0; p < 3; ++p) {
      for (std::size_t u = 0; u < uploads; ++u) {
        const std::int64_t end =
            now_ms - 3'600'000 + static_cast<std::int64_t>((p * uploads + u) * 60'000);
        Bytes upload = Must(fleet.back()->SealReadings(node::testing::HeartRate(end, 60)), "seal");
        phases[p][d].push_back(IngestRequest(upload));
      }
    }
  }

  // The attacker gets itself blocked by the cloudlet's own detector.
  Bytes forged = Must(fleet[0]->SealReadings(node::testing::HeartRate(now_ms, 10)), "seal");
  forged.back() ^= 1;
  const std::string forged_request = IngestRequest(forged);
  for (int i = 0; i < 6; ++i) StatusOnce(port, forged_request, kAttacker);
  const std::string probe = "GET /api/v1/stats HTTP/1.1\r\nHost: bench\r\n\r\n";
  if (StatusOnce(port, probe, kAttacker) != 403) {
    std::fprintf(stderr, "the attacker was not blocked\n");
    return 1;
  }
  fleet[0]->Rekey();  // its session's first batch was the forged one

  std::atomic<int> failures{0};
  const double before = IngestPhase(port, phases[0], clients, failures);

  std::atomic<bool> flooding{true};
  std::atomic<std::uint64_t> sent{0}, refused{0};
  std::vector<std::thread> flood;
  const double per_thread = flood_rate / static_cast<double>(flood_threads);
  for (std::size_t t = 0; t < flood_threads; ++t) {
    flood.emplace_back([&] {
      const auto start = Clock::now();
      std::uint64_t mine = 0;
      while (flooding.load()) {
        const auto due =
            start + std::chrono::duration_cast<Clock::duration>(
                        std::chrono::duration<double>(static_cast<double>(mine) / per_thread));
        if (Clock::now() < due) std::this_thread::sleep_until(due);
        ++mine;
        sent.fetch_add(1);
        if (StatusOnce(port, probe, kAttacker) == 403) refused.fetch_add(1);
      }
    });
  }
  const auto flood_start = Clock::now();
  const double during = IngestPhase(port, phases[1], clients, failures);
  const double flood_seconds = std::chrono::duration<double>(Clock::now() - flood_start).count();
  flooding = false;
  for (auto& t : flood) t.join();
  const double after = IngestPhase(port, phases[2], clients, failures);

  const double baseline = (before + after) / 2;
  const double ratio = during / baseline;
  std::printf("devices %zu, uploads per phase %zu (60 readings each), clients %zu\n", devices,
              devices * uploads, clients);
  std::printf("undisturbed: %.0f uploads/s before, %.0f after\n", before, after);
  std::printf(
      "flooded:     %.0f uploads/s while %.0f blocked requests/s were sent (%.0f%% got 403)\n",
      during, static_cast<double>(sent.load()) / flood_seconds,
      sent.load() ? 100.0 * static_cast<double>(refused.load()) / static_cast<double>(sent.load())
                  : 0.0);
  std::printf("ratio %.2f (goal >= 0.80: %s); failed legitimate uploads: %d\n", ratio,
              ratio >= 0.8 ? "met" : "MISSED", failures.load());
  service->Stop(std::chrono::seconds(5));
  return 0;
}

}  // namespace
}  // namespace medmesh::bench

int main(int argc, char** argv) { return medmesh::bench::Main(argc, argv); }

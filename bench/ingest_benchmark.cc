// End-to-end ingest benchmark: many simulated wearables upload to one cloudlet over loopback
// HTTP, with the production crypto and durable storage, and the same uploads go through the
// cloudlet's ingest pipeline without HTTP (IngestPipeline::Ingest) as the ceiling.
//
// What is real: the cloudlet (CloudletService with its production defaults: 16 HTTP threads,
// group commit, access log on - written to a file here -, SQLite WAL with synchronous=FULL, so
// every acknowledgement waits for its disk sync, encryption at rest), the devices' enrolment
// over HTTP, and every upload: readings from the wearable
// simulator (six disease profiles), cut by the default batcher (600 readings or 60 s, whichever
// comes first), encoded, session-sealed (NTRU+X25519 once per session, rekey after the default
// hour) and Ed25519-signed by the production code (wire::SealUpload via TestDevice).
//
// What is prepared before timing: the uploads. Sealing is the device's cost, not the
// cloudlet's, so each device's simulated hour of uploads is sealed up front, on a device clock
// that follows simulated time (so the batcher cuts and the sealer rekeys as on a real device).
// Each timed run starts a fresh cloudlet (new data folder, same identity), enrols the devices
// again over HTTP (not timed) and ingests the exact same uploads: over HTTP ("end to end", C
// client threads, one keep-alive connection each, every device's uploads in order) or by calling
// IngestPipeline::Ingest from C threads ("ceiling"). The two kinds of run alternate, so load
// from other processes on the machine falls on both alike.
//
// Not included: forwarding (no cloud is configured, so the forward queue only grows), TLS, and
// the TCP/IP headers of the wire figure.
//
//   make bench    or    build/release/bench/ingest_benchmark [--devices N] [--minutes M]
//                            [--reps R] [--clients C] [--io-threads T] [--max-group-commit G]
// The last two change the cloudlet's settings for comparison (e.g. --io-threads 2
// --max-group-commit 1 is the cloudlet before group commit); the defaults are production's.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "cloudlet/cloudlet_service.h"
#include "core/check.h"
#include "core/log.h"
#include "node/test_support.h"
#include "wearable/batcher.h"
#include "wearable/simulator.h"
#include "wire/readings_codec.h"

namespace medmesh::bench {
namespace {

using Seconds = std::chrono::duration<double>;
using node::testing::TestDevice;

// The goals of issue 3 ("Performance").
constexpr double kGoalReadingsPerSecond = 100'000;
constexpr double kGoalShareOfCeiling = 0.5;
constexpr double kGoalBytesPerReading = 3.0;

struct Flags {
  int devices = 128;
  int minutes = 60;  // simulated device time per device: one session at the default rekey age
  int reps = 5;
  int clients = 16;
  // Cloudlet settings; 0 keeps the production default (CloudletOptions, IngestLimits).
  int io_threads = 0;
  int max_group_commit = 0;
};

// A device's clock: wall time and monotonic time both follow the simulated time it is set to,
// so the production batcher (age limit) and session sealer (rekey age) behave as on a device
// that lived through that time. Set it to the real now for enrolment (certificate checks).
class DeviceClock final : public Clock {
 public:
  void Set(std::int64_t unix_ms) { ms_.store(unix_ms); }
  std::chrono::system_clock::time_point Now() const override {
    return std::chrono::system_clock::time_point(std::chrono::milliseconds(ms_.load()));
  }
  std::chrono::steady_clock::time_point Monotonic() const override {
    return std::chrono::steady_clock::time_point(std::chrono::milliseconds(ms_.load()));
  }

 private:
  std::atomic<std::int64_t> ms_{0};
};

struct Upload {
  Bytes bytes;
  std::size_t readings = 0;
  std::size_t payload_bytes = 0;  // the encoded readings inside
};

struct Device {
  DeviceClock clock;
  std::unique_ptr<TestDevice> device;
  std::vector<Upload> uploads;  // in the order the device sends them
};

// CPU time of the whole process (cloudlet and clients), user + system.
double ProcessCpuSeconds() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

std::int64_t RealNowMs() { return wire::ToUnixMs(std::chrono::system_clock::now()); }

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "ingest_benchmark: %s\n", what.c_str());
  std::fflush(stderr);
  std::_Exit(1);  // from any thread, without running destructors under other threads' feet
}

template <typename T>
T Must(Result<T> r, const char* what) {
  if (!r) Die(std::string(what) + ": " + r.error().ToString());
  return std::move(*r);
}
void Must(const Status& s, const char* what) {
  if (!s) Die(std::string(what) + ": " + s.error().ToString());
}

// One deployment (root, cloudlet identity, KEK, enrol token) and fresh cloudlets on it.
class Bench {
 public:
  explicit Bench(const Flags& flags) : flags_(flags) {}

  // A cloudlet in a new data folder with the production options (port 0 aside).
  std::unique_ptr<cloudlet::CloudletService> StartCloudlet(const std::filesystem::path& data) {
    cloudlet::CloudletOptions options;
    options.data_dir = data;
    if (flags_.io_threads > 0) options.io_threads = static_cast<std::size_t>(flags_.io_threads);
    if (flags_.max_group_commit > 0) {
      options.ingest.max_group_commit = static_cast<std::size_t>(flags_.max_group_commit);
    }
    cloudlet::CloudletSecrets secrets{
        Must(deployment_.Identity(wire::CertificateRole::kCloudlet, "cloudlet-bench"), "identity"),
        kek_.Clone(), enrol_token_.Clone(), SecretBytes()};
    return Must(cloudlet::CloudletService::Start(std::move(options), std::move(secrets),
                                                 system_clock_, random_),
                "start cloudlet");
  }

  static std::string Url(const cloudlet::CloudletService& service) {
    return "http://127.0.0.1:" + std::to_string(service.port());
  }

  void Enrol(Device& d, net::HttpClient& client, const std::string& url) {
    d.clock.Set(RealNowMs());
    Must(d.device->Enrol(client, url, enrol_token_, root_key_), "enrol");
  }

  // Creates and enrols the devices at `service`, then seals each device's simulated
  // flags.minutes of readings (two threads).
  void PrepareDevices(const cloudlet::CloudletService& service) {
    const std::string url = Url(service);
    auto client = Must(net::HttpClient::Create({}), "http client");
    const std::int64_t end_ms = RealNowMs() - 60'000;
    const std::int64_t start_ms = end_ms - std::int64_t{flags_.minutes} * 60'000;
    devices_.resize(static_cast<std::size_t>(flags_.devices));
    const auto profiles = wearable::AllProfiles();
    for (std::size_t i = 0; i < devices_.size(); ++i) {
      auto& d = devices_[i];
      d = std::make_unique<Device>();
      char id[32];
      std::snprintf(id, sizeof id, "%04zu", i);
      d->device = std::make_unique<TestDevice>(
          std::string("bench-device-") + id, std::string("bench-patient-") + id, random_, d->clock);
      Enrol(*d, *client, url);
    }
    std::vector<std::thread> threads;
    for (std::size_t t = 0; t < 2; ++t) {
      threads.emplace_back([&, t] {
        for (std::size_t i = t; i < devices_.size(); i += 2) {
          SealDeviceUploads(*devices_[i], profiles[i % profiles.size()], i + 1, start_ms, end_ms);
        }
      });
    }
    for (auto& t : threads) t.join();
  }

  // What the device agent does each 1 s tick: simulate up to now, batch (count or age), seal.
  void SealDeviceUploads(Device& d, wearable::Profile profile, std::uint64_t seed,
                         std::int64_t start_ms, std::int64_t end_ms) {
    d.clock.Set(start_ms);
    wearable::SimulatorOptions options;
    options.profile = profile;
    options.seed = seed;
    options.start_ms = start_ms;
    wearable::Simulator sim = Must(wearable::Simulator::Create(options), "simulator");
    wearable::CountingSequenceSource sequence;
    auto batcher = Must(wearable::Batcher::Create(d.device->device_id(), d.device->patient_id(),
                                                  sequence, random_, d.clock),
                        "batcher");
    auto seal = [&](const wearable::PendingBatch& batch) {
      const Bytes payload = Must(wire::EncodeReadings(batch.batch.readings), "encode");
      d.uploads.push_back(
          {Must(d.device->Seal(wire::ContentType::kReadingsBatch, payload, batch.batch_id), "seal"),
           batch.batch.readings.size(), payload.size()});
    };
    std::vector<wire::Reading> readings;
    for (std::int64_t t = start_ms + 1000; t <= end_ms; t += 1000) {
      d.clock.Set(t);
      readings.clear();
      sim.Advance(t, readings);
      for (const auto& batch : Must(batcher->Add(readings), "batch")) seal(batch);
      if (auto aged = Must(batcher->Poll(), "poll")) seal(*aged);
    }
  }

  // One timed run on a fresh cloudlet; over HTTP or straight into the pipeline.
  struct Run {
    double seconds = 0;
    double cpu_seconds = 0;  // of the whole process during the run
    std::size_t readings = 0;
    std::size_t batches = 0;
    std::vector<double> latencies_ms;  // one per batch
    std::size_t response_bytes = 0;    // HTTP runs: status line, headers and body of the answers
    double mean_group = 0;             // uploads per group commit
  };
  // Sends one upload over HTTP or into the pipeline, checks it was stored and counts it.
  struct Sender {
    bool http;
    net::HttpClient& client;
    cloudlet::CloudletService& service;
    std::string ingest_url;
    Run& run;

    void operator()(const Upload& u) const {
      const auto begin = std::chrono::steady_clock::now();
      if (http) {
        net::Response r = Must(
            client.Post(ingest_url, std::string(AsStringView(u.bytes)), "application/octet-stream"),
            "POST /api/v1/ingest");
        if (r.status != 200 || r.body.find("\"stored\"") == std::string::npos) {
          Die("upload not stored: HTTP " + std::to_string(r.status) + " " + r.body);
        }
        run.response_bytes += ResponseBytes(r);
      } else {
        const cloudlet::IngestResult r = service.ingest().Ingest(u.bytes, "127.0.0.1");
        const auto* ack = std::get_if<cloudlet::IngestAck>(&r);
        if (ack == nullptr || ack->status != cloudlet::IngestStatus::kStored) {
          Die("upload not stored in process");
        }
      }
      run.latencies_ms.push_back(Seconds(std::chrono::steady_clock::now() - begin).count() * 1000);
      run.readings += u.readings;
      run.batches += 1;
    }
  };

  Run TimedRun(bool http) {
    node::testing::TempDir dir;
    auto service = StartCloudlet(dir.path() / "cloudlet");
    const std::string url = Url(*service);
    if (clients_.empty()) clients_.push_back(Must(net::HttpClient::Create({}), "http client"));
    for (auto& d : devices_) Enrol(*d, *clients_.front(), url);
    const auto clients = static_cast<std::size_t>(flags_.clients);
    // One client (one keep-alive connection) per thread, made once: creating one loads the
    // system's CA certificates, which takes a while.
    while (clients_.size() < clients) {
      clients_.push_back(Must(net::HttpClient::Create({}), "http client"));
    }
    std::vector<Run> per_thread(clients);
    std::barrier start(static_cast<std::ptrdiff_t>(clients + 1));
    std::vector<std::thread> threads;
    for (std::size_t t = 0; t < clients; ++t) {
      threads.emplace_back([&, t] {
        // This thread's devices, round robin, each device's uploads in order.
        std::vector<const Device*> mine;
        for (std::size_t i = t; i < devices_.size(); i += clients) {
          mine.push_back(devices_[i].get());
        }
        Sender send{http, *clients_[t], *service, url + "/api/v1/ingest", per_thread[t]};
        start.arrive_and_wait();
        for (std::size_t k = 0;; ++k) {
          bool any = false;
          for (const Device* d : mine) {
            if (k >= d->uploads.size()) continue;
            any = true;
            send(d->uploads[k]);
          }
          if (!any) break;
        }
      });
    }
    start.arrive_and_wait();
    const auto begin = std::chrono::steady_clock::now();
    const double cpu_begin = ProcessCpuSeconds();
    for (auto& t : threads) t.join();
    Run total;
    total.seconds = Seconds(std::chrono::steady_clock::now() - begin).count();
    total.cpu_seconds = ProcessCpuSeconds() - cpu_begin;
    for (Run& r : per_thread) {
      total.readings += r.readings;
      total.batches += r.batches;
      total.response_bytes += r.response_bytes;
      total.latencies_ms.insert(total.latencies_ms.end(), r.latencies_ms.begin(),
                                r.latencies_ms.end());
    }
    total.mean_group = MetricValue(*service, "medmesh_cloudlet_group_commit_uploads_sum") /
                       MetricValue(*service, "medmesh_cloudlet_group_commit_uploads_count");
    // Everything acknowledged is in the stores.
    const cloudlet::CloudletStats stats = service->Stats();
    MEDMESH_CHECK(stats.readings_stored == total.readings && stats.batches_stored == total.batches,
                  "the cloudlet's counts differ from the acknowledged uploads");
    service->Stop(std::chrono::seconds(5));
    return total;
  }

  // The request line and headers HttpClient sends with an upload of `body_bytes`, measured by
  // receiving one such request on a plain socket.
  static std::size_t RequestHeaderBytes(const Upload& upload) {
    const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (listener < 0 || ::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(listener, 1) != 0 ||
        ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      Die("cannot listen on loopback");
    }
    std::string received;
    std::thread server([&] {
      const int conn = ::accept(listener, nullptr, nullptr);
      if (conn < 0) return;
      char buf[16384];
      while (true) {
        const std::size_t head = received.find("\r\n\r\n");
        if (head != std::string::npos && received.size() >= head + 4 + upload.bytes.size()) break;
        const ssize_t n = ::read(conn, buf, sizeof buf);
        if (n <= 0) break;
        received.append(buf, static_cast<std::size_t>(n));
      }
      const std::string answer =
          "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
      if (::write(conn, answer.data(), answer.size()) < 0) {
        // The client then sees a closed connection; its answer is not measured anyway.
      }
      ::close(conn);
    });
    auto client = Must(net::HttpClient::Create({}), "http client");
    (void)Must(
        client->Post("http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/api/v1/ingest",
                     std::string(AsStringView(upload.bytes)), "application/octet-stream"),
        "POST to the byte counter");
    server.join();
    ::close(listener);
    const std::size_t head = received.find("\r\n\r\n");
    MEDMESH_CHECK(head != std::string::npos, "no request received");
    return head + 4;
  }

  // The value of an unlabelled metric in the cloudlet's Prometheus text; 0 if absent.
  static double MetricValue(cloudlet::CloudletService& service, std::string_view name) {
    const std::string text = service.metrics().Render();
    for (std::size_t at = 0; at < text.size();) {
      const std::size_t end = std::min(text.find('\n', at), text.size());
      const std::string_view line(text.data() + at, end - at);
      if (line.starts_with(name) && line.size() > name.size() &&
          (line[name.size()] == ' ' || line[name.size()] == '{')) {
        return std::strtod(std::string(line.substr(line.rfind(' ') + 1)).c_str(), nullptr);
      }
      at = end + 1;
    }
    return 0;
  }

  // Status line, headers and body of an answer as HTTP/1.1 puts them on the wire.
  static std::size_t ResponseBytes(const net::Response& r) {
    std::size_t n = std::string_view("HTTP/1.1 200 OK\r\n").size() + 2 + r.body.size();
    for (const auto& [name, value] : r.headers) n += name.size() + 2 + value.size() + 2;
    return n;
  }

  const std::vector<std::unique_ptr<Device>>& devices() const { return devices_; }

 private:
  const Flags& flags_;
  node::testing::TempDir pki_dir_;
  node::testing::TestDeployment deployment_{pki_dir_.path()};
  crypto::SigningPublicKey root_key_ = deployment_.Root().key;
  SystemClock system_clock_;
  SystemRandom random_;
  crypto::KeyEncryptionKey kek_ = crypto::KeyEncryptionKey::Generate(random_);
  SecretBytes enrol_token_ = node::testing::RandomToken(random_);
  std::vector<std::unique_ptr<Device>> devices_;
  std::vector<std::unique_ptr<net::HttpClient>> clients_;
};

// Linear interpolation between the closest ranks (the median of an even count is the mean of
// the middle two).
double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double rank = p * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<std::size_t>(rank);
  const std::size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (rank - static_cast<double>(lo));
}

struct Spread {
  double median, min, max;
};
Spread Summarise(const std::vector<double>& v) {
  return {Percentile(v, 0.5), *std::min_element(v.begin(), v.end()),
          *std::max_element(v.begin(), v.end())};
}

const char* Verdict(bool met) { return met ? "met" : "MISSED"; }

// What the prepared uploads hold, and what they cost on the wire.
struct UploadTotals {
  std::size_t uploads = 0;
  std::size_t readings = 0;
  std::size_t body_bytes = 0;
  std::size_t payload_bytes = 0;
  std::size_t openings = 0;  // uploads that open a session (carry the KEM ciphertexts)
};
UploadTotals CountUploads(const std::vector<std::unique_ptr<Device>>& devices) {
  UploadTotals t;
  for (const auto& d : devices) {
    for (const Upload& u : d->uploads) {
      ++t.uploads;
      t.readings += u.readings;
      t.body_bytes += u.bytes.size();
      t.payload_bytes += u.payload_bytes;
      const auto parsed = Must(wire::ParseUpload(u.bytes), "parse upload");
      const auto session =
          Must(crypto::ParseSessionBatchHeader(parsed.sealed_payload), "session header");
      if (session.opens_session) ++t.openings;
    }
  }
  if (t.uploads == 0) Die("no uploads prepared");
  return t;
}

// Per-run figures of one kind of run.
struct Series {
  std::vector<double> rate;
  std::vector<double> p50;
  std::vector<double> p99;
};

void PrintSettings(const Flags& flags) {
  std::printf(
      "MedMesh ingest benchmark: %d devices x %d simulated minutes, %d client threads, "
      "%d repetitions\n",
      flags.devices, flags.minutes, flags.clients, flags.reps);
  const cloudlet::CloudletOptions production;
  const bool changed = flags.io_threads > 0 || flags.max_group_commit > 0;
  std::printf(
      "cloudlet: %zu HTTP threads, group commit of up to %zu uploads (%s); SQLite WAL, "
      "synchronous=FULL; forwarding off (no cloud)\n",
      flags.io_threads > 0 ? static_cast<std::size_t>(flags.io_threads) : production.io_threads,
      flags.max_group_commit > 0 ? static_cast<std::size_t>(flags.max_group_commit)
                                 : production.ingest.max_group_commit,
      changed ? "NOT the production settings" : "production settings");
}

void PrintSummary(const Flags& flags, const UploadTotals& t, std::size_t header_bytes,
                  std::size_t response_bytes, const Series& e2e_runs, const Series& ceil_runs,
                  const std::vector<double>& ratios) {
  const auto n = static_cast<double>(t.readings);
  const double body_per_reading = static_cast<double>(t.body_bytes) / n;
  const double with_headers =
      (static_cast<double>(t.body_bytes) + static_cast<double>(header_bytes * t.uploads)) / n;
  const Spread e2e = Summarise(e2e_runs.rate);
  const Spread ceil = Summarise(ceil_runs.rate);
  const Spread r = Summarise(ratios);
  const Spread lat50 = Summarise(e2e_runs.p50);
  const Spread lat99 = Summarise(e2e_runs.p99);
  const Spread clat50 = Summarise(ceil_runs.p50);
  const Spread clat99 = Summarise(ceil_runs.p99);

  std::printf("\nSummary (median [min - max] of %d runs each)\n", flags.reps);
  std::printf("  end to end, HTTP        %9.0f readings/s  [%.0f - %.0f]\n", e2e.median, e2e.min,
              e2e.max);
  std::printf("  ceiling, in process     %9.0f readings/s  [%.0f - %.0f]\n", ceil.median, ceil.min,
              ceil.max);
  std::printf("  end to end / ceiling    %9.2f             [%.2f - %.2f] (per rep pair)\n",
              r.median, r.min, r.max);
  std::printf("  batch latency, HTTP     p50 %.2f ms [%.2f - %.2f], p99 %.2f ms [%.2f - %.2f]\n",
              lat50.median, lat50.min, lat50.max, lat99.median, lat99.min, lat99.max);
  std::printf("  batch latency, in proc  p50 %.2f ms [%.2f - %.2f], p99 %.2f ms [%.2f - %.2f]\n",
              clat50.median, clat50.min, clat50.max, clat99.median, clat99.min, clat99.max);
  std::printf(
      "  wire, per reading       %.2f B HTTP body (all crypto overhead: header, session "
      "seal, KEM at each session opening, signature)\n",
      body_per_reading);
  std::printf(
      "                          %.2f B with the request line and headers (%zu B per "
      "request)\n",
      with_headers, header_bytes);
  std::printf("                          %.2f B for the answers (status, headers, JSON body)\n",
              static_cast<double>(response_bytes) / n);
  std::printf(
      "                          of the body: %.2f B encoded readings, %.2f B envelope and "
      "crypto\n",
      static_cast<double>(t.payload_bytes) / n,
      static_cast<double>(t.body_bytes - t.payload_bytes) / n);
  std::printf(
      "  (%.1f readings per batch at default batching; %zu of %zu uploads open a "
      "session)\n",
      n / static_cast<double>(t.uploads), t.openings, t.uploads);

  std::printf("\nGoals (issue 3)\n");
  std::printf("  >= %.0f readings/s end to end: %.0f  %s\n", kGoalReadingsPerSecond, e2e.median,
              Verdict(e2e.median >= kGoalReadingsPerSecond));
  std::printf("  >= %.0f%% of the ceiling:        %.0f%%  %s\n", kGoalShareOfCeiling * 100,
              r.median * 100, Verdict(r.median >= kGoalShareOfCeiling));
  std::printf("  <= %.0f B per reading (body):    %.2f  %s\n", kGoalBytesPerReading,
              body_per_reading, Verdict(body_per_reading <= kGoalBytesPerReading));
}

int Main(int argc, char** argv) {
  Flags flags;
  CLI::App app{"MedMesh end-to-end ingest benchmark (see the comment at the top of the source)"};
  app.add_option("--devices", flags.devices, "simulated devices")->check(CLI::Range(1, 4096));
  app.add_option("--minutes", flags.minutes, "simulated minutes of readings per device")
      ->check(CLI::Range(2, 24 * 60));
  app.add_option("--reps", flags.reps, "timed runs of each kind")->check(CLI::Range(1, 100));
  app.add_option("--clients", flags.clients, "client threads (one connection each)")
      ->check(CLI::Range(1, 256));
  app.add_option("--io-threads", flags.io_threads,
                 "the cloudlet's HTTP threads (default: the production default)")
      ->check(CLI::Range(1, 256));
  app.add_option("--max-group-commit", flags.max_group_commit,
                 "uploads per group commit at most (default: the production default)")
      ->check(CLI::Range(1, 4096));
  CLI11_PARSE(app, argc, argv);

  Bench bench(flags);
  node::testing::TempDir work;
  // The cloudlet's log lines (access log included, as in production) go to a file.
  log::SetFile((work.path() / "cloudlet.log").string());

  PrintSettings(flags);
  std::printf(
      "preparing uploads (simulator + default batcher + session seal + Ed25519; the "
      "device's cost, not timed)...\n");
  std::fflush(stdout);
  const auto prep_begin = std::chrono::steady_clock::now();
  {
    auto setup = bench.StartCloudlet(work.path() / "setup");
    bench.PrepareDevices(*setup);
    setup->Stop(std::chrono::seconds(5));
  }
  const UploadTotals totals = CountUploads(bench.devices());
  const std::size_t header_bytes =
      Bench::RequestHeaderBytes(bench.devices().front()->uploads.back());
  std::printf(
      "prepared %zu uploads, %zu readings (%.1f readings per batch, %zu session "
      "openings) in %.1f s\n\n",
      totals.uploads, totals.readings,
      static_cast<double>(totals.readings) / static_cast<double>(totals.uploads), totals.openings,
      Seconds(std::chrono::steady_clock::now() - prep_begin).count());
  std::fflush(stdout);

  Series e2e;
  Series ceil;
  std::vector<double> ratios;
  std::size_t response_bytes = 0;
  std::printf("%-4s %-12s %8s %8s %8s %12s %8s %8s %7s\n", "rep", "run", "batches", "seconds",
              "cpu s", "readings/s", "p50 ms", "p99 ms", "group");
  for (int rep = 1; rep <= flags.reps; ++rep) {
    for (const bool http : {true, false}) {
      const Bench::Run run = bench.TimedRun(http);
      const double rate = static_cast<double>(run.readings) / run.seconds;
      const double p50 = Percentile(run.latencies_ms, 0.50);
      const double p99 = Percentile(run.latencies_ms, 0.99);
      Series& series = http ? e2e : ceil;
      series.rate.push_back(rate);
      series.p50.push_back(p50);
      series.p99.push_back(p99);
      if (http) response_bytes = run.response_bytes;
      std::printf("%-4d %-12s %8zu %8.2f %8.2f %12.0f %8.2f %8.2f %7.1f\n", rep,
                  http ? "end-to-end" : "in-process", run.batches, run.seconds, run.cpu_seconds,
                  rate, p50, p99, run.mean_group);
      std::fflush(stdout);
    }
    ratios.push_back(e2e.rate.back() / ceil.rate.back());
  }
  PrintSummary(flags, totals, header_bytes, response_bytes, e2e, ceil, ratios);
  return 0;
}

}  // namespace
}  // namespace medmesh::bench

int main(int argc, char** argv) {
  try {
    return medmesh::bench::Main(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ingest_benchmark: %s\n", e.what());
    return 1;
  }
}

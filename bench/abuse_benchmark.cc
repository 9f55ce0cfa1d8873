// Abuse benchmark (issue 7, items 4-6 and "Measured"): replays the attacks of the issue
// against a real cloudlet (and, for /api/v1/stats, a real cloud) in this process, over
// loopback, and prints in one run:
//
//   - the share of new legitimate connections served during a 1,100-connection slow-header
//     attack and during 1,030 idle keep-alive connections (goal >= 99%);
//   - peak resident memory of the process while 150 connections trickle maximal bodies
//     (goal < 256 MB);
//   - disk growth (data folder and log folder) per rejected, forged-signature upload,
//     amortised over the flood, with its fixed and marginal parts (goal: amortised < 10 bytes),
//     and the bytes the process sent to the disk meanwhile (/proc/self/io, for information);
//   - legitimate ingest throughput during each attack, as a ratio to the undisturbed rate;
//   - /api/v1/stats p99 with 64 connections, cloud and cloudlet;
//   - the operator readings query for one patient's full history (p50, p99).
//
// What is real: CloudletService and CloudService with their production options (port 0
// aside; forwarding off, so the forward queue's backpressure limits are lifted), enrolment over
// HTTP, uploads sealed and signed by the production code (TestDevice), HttpClient for the
// legitimate clients. The attackers are raw sockets bound to other loopback addresses (127.1.x.y,
// 127.0.3.x), spread over several sources so that the per-source caps alone do not stop them: the
// total limits, eviction, the head deadline and the body budget have to. "New legitimate
// connections" are fresh TCP connections from addresses that never authenticated (127.0.2.x) asking
// GET /healthz with a 5 s deadline; the ingest clients are enrolled devices on 127.0.0.1 with
// keep-alive. Every loop is bounded by time or count; the run stops by itself (a few minutes).
//
//   make bench    or    build/release/bench/abuse_benchmark [--phase-seconds S] ...
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <unordered_set>
#include <utility>
#include <vector>

#include "cloud/cloud_service.h"
#include "cloudlet/cloudlet_service.h"
#include "core/log.h"
#include "node/test_support.h"

namespace medmesh::bench {
namespace {

using Seconds = std::chrono::duration<double>;
using Steady = std::chrono::steady_clock;
using node::testing::TestDevice;

constexpr double kGoalServedShare = 0.99;
constexpr double kGoalPeakRssMb = 256;
constexpr double kGoalDiskBytesPerRejected = 10;

struct Flags {
  int devices = 64;
  int uploads_per_device = 700;
  int readings_per_upload = 60;
  int clients = 8;           // legitimate ingest threads (one keep-alive connection each)
  double phase_seconds = 4;  // measured part of each phase
  double attack_warmup_seconds = 2;
  int slow_connections = 1100;
  int idle_connections = 1030;
  int body_connections = 150;
  int attack_sources = 25;  // loopback addresses the attackers spread over
  int forged = 60000;       // forged-signature uploads (about 30 s of the flood)
  int forged_stages = 4;    // disk growth measured after each, for fixed and marginal costs
  int stats_connections = 64;
  double stats_seconds = 3;
  int readings_queries = 30;
};

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "abuse_benchmark: %s\n", what.c_str());
  std::fflush(stderr);
  std::_Exit(1);
}
template <typename T>
T Must(Result<T> r, const char* what) {
  if (!r) Die(std::string(what) + ": " + r.error().ToString());
  return std::move(*r);
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double rank = p * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<std::size_t>(rank);
  const std::size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (rank - static_cast<double>(lo));
}

std::size_t RssBytes() {
  std::ifstream statm("/proc/self/statm");
  std::size_t size = 0;
  std::size_t resident = 0;
  statm >> size >> resident;
  return resident * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

std::uintmax_t DirBytes(const std::filesystem::path& dir) {
  std::uintmax_t total = 0;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    std::error_code size_ec;
    if (it->is_regular_file(size_ec)) {
      const auto size = it->file_size(size_ec);
      if (!size_ec) total += size;
    }
  }
  return total;
}

std::uintmax_t FileBytes(const std::filesystem::path& file) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(file, ec);
  return ec ? 0 : size;
}

void RaiseFileLimit(rlim_t wanted) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  limit.rlim_cur = std::min(std::max(limit.rlim_cur, wanted), limit.rlim_max);
  ::setrlimit(RLIMIT_NOFILE, &limit);
  if (limit.rlim_cur < wanted) {
    std::printf("note: RLIMIT_NOFILE is %llu, below the %llu this run wants\n",
                static_cast<unsigned long long>(limit.rlim_cur),
                static_cast<unsigned long long>(wanted));
  }
}

// A TCP socket from `from` (a 127.x.y.z address) to 127.0.0.1:port; -1 on failure.
// Non-blocking sockets return at once (the connect completes in the background).
int ConnectFrom(const std::string& from, std::uint16_t port, bool nonblocking,
                std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | (nonblocking ? SOCK_NONBLOCK : 0), 0);
  if (fd < 0) return -1;
  sockaddr_in local{};
  local.sin_family = AF_INET;
  ::inet_pton(AF_INET, from.c_str(), &local.sin_addr);
  sockaddr_in remote{};
  remote.sin_family = AF_INET;
  remote.sin_port = htons(port);
  remote.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (!nonblocking) {
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  }
  if (::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) {
    ::close(fd);
    return -1;
  }
  if (::connect(fd, reinterpret_cast<sockaddr*>(&remote), sizeof remote) != 0 &&
      errno != EINPROGRESS) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool SendAll(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// Reads one response on a blocking socket; its status, or 0 on EOF, error or timeout.
// Understands Content-Length bodies only (what MedMesh servers send).
int ReadStatus(int fd, std::string& buffer) {
  char chunk[16384];
  std::size_t head_end = std::string::npos;
  while ((head_end = buffer.find("\r\n\r\n")) == std::string::npos) {
    const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) return 0;
    buffer.append(chunk, static_cast<std::size_t>(n));
  }
  int status = 0;
  constexpr std::string_view kStatusLine = "HTTP/1.1 ";
  if (buffer.compare(0, kStatusLine.size(), kStatusLine) != 0) return 0;
  const char* digits = buffer.data() + kStatusLine.size();
  if (std::from_chars(digits, buffer.data() + buffer.size(), status).ec != std::errc()) return 0;
  std::size_t length = 0;
  std::string lower = buffer.substr(0, head_end);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (const auto at = lower.find("content-length:"); at != std::string::npos) {
    length = std::strtoull(lower.c_str() + at + 15, nullptr, 10);
  }
  while (buffer.size() < head_end + 4 + length) {
    const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) return 0;
    buffer.append(chunk, static_cast<std::size_t>(n));
  }
  buffer.erase(0, head_end + 4 + length);
  return status;
}

// ---------------------------------------------------------------------------------------------
// Attackers: one thread drives every connection of an attack with non-blocking sockets,
// reopening each connection the server closes, until stopped.

enum class AttackKind { kSlowHeader, kIdleKeepAlive, kBodyTrickle };

class Attacker {
 public:
  Attacker(AttackKind kind, int connections, int sources, std::string source_prefix,
           std::uint16_t port)
      : kind_(kind),
        sources_(sources),
        source_prefix_(std::move(source_prefix)),
        port_(port),
        conns_(static_cast<std::size_t>(connections)) {
    thread_ = std::thread([this] { Run(); });
  }
  ~Attacker() { Stop(); }

  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    for (Conn& c : conns_) Close(c);
  }
  std::uint64_t opened() const { return opened_.load(); }
  std::size_t open_now() const { return open_now_.load(); }

 private:
  struct Conn {
    int fd = -1;
    std::size_t sent = 0;  // body bytes sent (trickle) or header bytes (slow)
    bool head_sent = false;
  };

  static constexpr std::size_t kBodyBytes = (std::size_t{8} << 20) - 1;
  static constexpr std::size_t kTrickleChunk = std::size_t{256} * 1024;

  std::chrono::milliseconds Tick() const {
    switch (kind_) {
      case AttackKind::kSlowHeader: return std::chrono::milliseconds(500);
      case AttackKind::kIdleKeepAlive:
      case AttackKind::kBodyTrickle: return std::chrono::milliseconds(100);
    }
    return std::chrono::milliseconds(100);
  }

  void Close(Conn& c) {
    if (c.fd >= 0) {
      ::close(c.fd);
      open_now_.fetch_sub(1);
    }
    c = Conn{};
  }

  void Open(Conn& c, std::size_t index) {
    const std::string from =
        source_prefix_ + std::to_string(1 + index % static_cast<std::size_t>(sources_));
    c.fd = ConnectFrom(from, port_, /*nonblocking=*/true);
    if (c.fd >= 0) {
      opened_.fetch_add(1);
      open_now_.fetch_add(1);
    }
  }

  // False if the server closed the connection or answered (both end this attempt).
  bool StillOpen(Conn& c) {
    char buf[4096];
    while (true) {
      const ssize_t n = ::recv(c.fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n > 0) {
        // The idle attacker expects exactly one answer, then stays idle; anything else means
        // the server answered (refused or finished) this attempt.
        if (kind_ == AttackKind::kIdleKeepAlive && !answered_idle_.contains(c.fd)) {
          answered_idle_.insert(c.fd);
          continue;
        }
        return false;
      }
      if (n == 0) return false;
      return errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOTCONN;
    }
  }

  void Drive(Conn& c) {
    switch (kind_) {
      case AttackKind::kSlowHeader: {
        if (!c.head_sent) {
          c.head_sent = Send(c, "GET /healthz HTTP/1.1\r\nHost: bench\r\nX-Slow: ");
        } else if (c.sent < 4000) {
          if (Send(c, "a")) c.sent += 1;  // one byte per tick, never the end of the head
        }
        break;
      }
      case AttackKind::kIdleKeepAlive:
        if (!c.head_sent) c.head_sent = Send(c, "GET /healthz HTTP/1.1\r\nHost: bench\r\n\r\n");
        break;
      case AttackKind::kBodyTrickle: {
        if (!c.head_sent) {
          c.head_sent = Send(c,
                             "POST /api/v1/ingest HTTP/1.1\r\nHost: bench\r\n"
                             "Content-Type: application/octet-stream\r\nContent-Length: " +
                                 std::to_string(kBodyBytes) + "\r\n\r\n");
        } else if (c.sent < kBodyBytes) {
          static const std::string kChunk(kTrickleChunk, 'x');
          const std::size_t n = std::min(kTrickleChunk, kBodyBytes - c.sent);
          const ssize_t sent = ::send(c.fd, kChunk.data(), n, MSG_NOSIGNAL | MSG_DONTWAIT);
          if (sent > 0) c.sent += static_cast<std::size_t>(sent);
        }
        break;
      }
    }
  }

  static bool Send(Conn& c, std::string_view bytes) {
    const ssize_t n = ::send(c.fd, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    return n == static_cast<ssize_t>(bytes.size());
  }

  void Run() {
    while (!stop_) {
      const auto next = Steady::now() + Tick();
      for (std::size_t i = 0; i < conns_.size() && !stop_; ++i) {
        Conn& c = conns_[i];
        if (c.fd >= 0 && !StillOpen(c)) {
          answered_idle_.erase(c.fd);
          Close(c);
        }
        if (c.fd < 0) Open(c, i);
        if (c.fd >= 0) Drive(c);
      }
      std::this_thread::sleep_until(next);
    }
  }

  const AttackKind kind_;
  const int sources_;
  const std::string source_prefix_;
  const std::uint16_t port_;
  std::vector<Conn> conns_;
  std::unordered_set<int> answered_idle_;
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> opened_{0};
  std::atomic<std::size_t> open_now_{0};
  std::thread thread_;
};

// ---------------------------------------------------------------------------------------------

struct Device {
  std::unique_ptr<TestDevice> device;
  std::vector<Bytes> uploads;  // in the order the device sends them
  std::size_t next = 0;        // the next upload to send
};

struct PhaseResult {
  std::string name;
  double ingest_rate = 0;  // stored uploads per second
  std::size_t stored = 0;
  std::size_t failed = 0;
  std::size_t probes = 0;
  std::size_t probes_served = 0;
  std::size_t peak_rss = 0;
  std::uint64_t attack_connections_opened = 0;
  bool pool_exhausted = false;
};

class Bench {
 public:
  explicit Bench(const Flags& flags) : flags_(flags) {}

  void StartNodes() {
    cloudlet::CloudletOptions options;
    options.data_dir = work_.path() / "cloudlet";
    // Nothing forwards here, so the forward queue only grows: lift its backpressure (429
    // past 10,000 items or 2 minutes) out of the way of what is measured.
    options.backpressure.slow_items = options.backpressure.refuse_items = 10'000'000;
    options.backpressure.slow_oldest_age = options.backpressure.refuse_oldest_age =
        std::chrono::hours(24);
    cloudlet::CloudletSecrets secrets{
        Must(deployment_.Identity(wire::CertificateRole::kCloudlet, "cloudlet-bench"), "identity"),
        crypto::KeyEncryptionKey::Generate(random_), enrol_token_.Clone(), operator_token_.Clone()};
    cloudlet_ = Must(
        cloudlet::CloudletService::Start(std::move(options), std::move(secrets), clock_, random_),
        "start cloudlet");
    cloud::CloudOptions cloud_options;
    cloud_options.data_dir = work_.path() / "cloud";
    SecretBytes index(32);
    SecretBytes pseudonym(32);
    random_.Fill(index.mutable_bytes());
    random_.Fill(pseudonym.mutable_bytes());
    cloud::CloudSecrets cloud_secrets{
        Must(deployment_.Identity(wire::CertificateRole::kCloud, "cloud-bench"), "identity"),
        crypto::KeyEncryptionKey::Generate(random_), std::move(index), std::move(pseudonym),
        SecretBytes()};
    cloud_ = Must(cloud::CloudService::Start(std::move(cloud_options), std::move(cloud_secrets),
                                             clock_, random_),
                  "start cloud");
    url_ = "http://127.0.0.1:" + std::to_string(cloudlet_->port());
  }

  // Enrols the devices over HTTP, seals their uploads, and sends each device's first upload
  // (the one that opens its session) so every phase can send any device's next one.
  void PrepareDevices() {
    auto client = Must(net::HttpClient::Create({}), "http client");
    const std::int64_t now_ms = wire::ToUnixMs(std::chrono::system_clock::now());
    const std::int64_t span_ms =
        std::int64_t{flags_.uploads_per_device} * flags_.readings_per_upload * 1000;
    devices_.resize(static_cast<std::size_t>(flags_.devices));
    for (std::size_t i = 0; i < devices_.size(); ++i) {
      Device& d = devices_[i];
      char id[32];
      std::snprintf(id, sizeof id, "%04zu", i);
      d.device = std::make_unique<TestDevice>(std::string("abuse-device-") + id,
                                              std::string("abuse-patient-") + id, random_, clock_);
      if (Status s = d.device->Enrol(*client, url_, enrol_token_, deployment_.Root().key); !s) {
        Die("enrol: " + s.error().ToString());
      }
      for (int k = 0; k < flags_.uploads_per_device; ++k) {
        const std::int64_t end_ms =
            now_ms - span_ms - 60'000 + std::int64_t{k + 1} * flags_.readings_per_upload * 1000;
        d.uploads.push_back(Must(
            d.device->SealReadings(node::testing::HeartRate(end_ms, flags_.readings_per_upload)),
            "seal"));
      }
      Send(*client, d);
    }
    // A forged upload: a real one with its last byte (in the signature) flipped.
    forged_ = devices_.front().uploads.back();
    forged_.back() ^= 0x01;
  }

  // True if stored (or a duplicate of a stored one).
  bool Send(net::HttpClient& client, Device& d) {
    if (d.next >= d.uploads.size()) return false;
    auto r = client.Post(url_ + "/api/v1/ingest", std::string(AsStringView(d.uploads[d.next])),
                         "application/octet-stream");
    if (!r || r->status != 200) return false;
    ++d.next;
    return true;
  }

  // Legitimate ingest for flags.phase_seconds (clients threads, each over its own devices in
  // order) while `probe` new connections test whether strangers still get in.
  PhaseResult Measure(const std::string& name) {
    PhaseResult result;
    result.name = name;
    const auto clients = static_cast<std::size_t>(flags_.clients);
    while (clients_.size() < clients) {
      net::ClientOptions options;
      options.request_timeout = std::chrono::seconds(10);
      clients_.push_back(Must(net::HttpClient::Create(options), "http client"));
    }
    std::atomic<bool> stop{false};
    std::atomic<std::size_t> stored{0};
    std::atomic<std::size_t> failed{0};
    std::atomic<bool> exhausted{false};
    std::atomic<std::size_t> peak{RssBytes()};
    std::vector<std::thread> threads;
    const auto begin = Steady::now();
    const auto end =
        begin + std::chrono::duration_cast<Steady::duration>(Seconds(flags_.phase_seconds));
    for (std::size_t t = 0; t < clients; ++t) {
      threads.emplace_back([&, t] {
        std::vector<Device*> mine;
        for (std::size_t i = t; i < devices_.size(); i += clients) mine.push_back(&devices_[i]);
        std::size_t k = 0;
        while (Steady::now() < end) {
          bool any = false;
          for (std::size_t j = 0; j < mine.size() && Steady::now() < end; ++j) {
            Device& d = *mine[(k + j) % mine.size()];
            if (d.next >= d.uploads.size()) continue;
            any = true;
            if (Send(*clients_[t], d)) {
              stored.fetch_add(1);
            } else {
              failed.fetch_add(1);
            }
          }
          ++k;
          if (!any) {
            exhausted = true;
            break;
          }
        }
      });
    }
    // Probes: a new connection every 50 ms from an address that never authenticated.
    std::size_t probes = 0;
    std::size_t served = 0;
    std::thread prober([&] {
      int n = 0;
      while (Steady::now() < end) {
        const auto next = Steady::now() + std::chrono::milliseconds(50);
        const std::string from = "127.0.2." + std::to_string(1 + n++ % 200);
        const int fd = ConnectFrom(from, cloudlet_->port(), false);
        ++probes;
        if (fd >= 0) {
          std::string buffer;
          if (SendAll(fd, "GET /healthz HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n") &&
              ReadStatus(fd, buffer) == 200) {
            ++served;
          }
          ::close(fd);
        }
        std::this_thread::sleep_until(next);
      }
    });
    std::thread sampler([&] {
      while (!stop) {
        std::size_t rss = RssBytes();
        std::size_t seen = peak.load();
        while (rss > seen && !peak.compare_exchange_weak(seen, rss)) {
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    });
    for (auto& t : threads) t.join();
    const double seconds = Seconds(Steady::now() - begin).count();
    prober.join();
    stop = true;
    sampler.join();
    result.stored = stored;
    result.failed = failed;
    result.ingest_rate = static_cast<double>(stored) / seconds;
    result.probes = probes;
    result.probes_served = served;
    result.peak_rss = peak;
    result.pool_exhausted = exhausted;
    return result;
  }

  PhaseResult UnderAttack(const std::string& name, AttackKind kind, int connections, int sources,
                          const std::string& prefix) {
    Attacker attacker(kind, connections, sources, prefix, cloudlet_->port());
    // Let the attack fill the server before measuring.
    std::this_thread::sleep_for(Seconds(flags_.attack_warmup_seconds));
    PhaseResult result = Measure(name);
    result.attack_connections_opened = attacker.opened();
    attacker.Stop();
    return result;
  }

  // Disk growth after a number of forged requests, since the flood began.
  struct DiskStage {
    std::size_t requests = 0;
    std::int64_t data_bytes = 0;  // the cloudlet's data folder (ids.db and its WAL included)
    std::int64_t ids_bytes = 0;   // ids.db and ids.db-wal
    std::int64_t wal_bytes = 0;   // ids.db-wal alone (its size, not its growth)
    std::int64_t log_bytes = 0;   // the log folder (rotated files included)
    std::int64_t io_bytes = -1;   // bytes the process sent to the disk (/proc/self/io); -1: n/a
    std::int64_t grown() const { return data_bytes + log_bytes; }
  };
  struct DiskResult {
    std::map<int, std::size_t> statuses;
    std::vector<DiskStage> stages;  // cumulative, one per stage
  };

  // Forged-signature uploads from 4 sources (keep-alive, reconnecting when closed), in
  // `stages` equal parts; after each, the growth of the data folder, of ids.db and of the log
  // folder since the flood began, so the fixed and marginal costs can be told apart.
  DiskResult ForgedFlood(const std::filesystem::path& log_dir, int stages) {
    DiskResult out;
    const std::filesystem::path data = work_.path() / "cloudlet";
    const auto data_before = static_cast<std::int64_t>(DirBytes(data));
    const auto ids_before = static_cast<std::int64_t>(IdsBytes(data));
    const auto log_before = static_cast<std::int64_t>(DirBytes(log_dir));
    const std::int64_t io_before = IoWrittenBytes();
    const std::string request =
        "POST /api/v1/ingest HTTP/1.1\r\nHost: bench\r\nContent-Type: "
        "application/octet-stream\r\nContent-Length: " +
        std::to_string(forged_.size()) + "\r\n\r\n" + std::string(AsStringView(forged_));
    std::mutex mu;
    const int per_thread = flags_.forged / 4 / stages;
    std::size_t requests = 0;
    for (int stage = 0; stage < stages; ++stage) {
      std::vector<std::thread> threads;
      threads.reserve(4);
      for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
          const std::string from = "127.0.3." + std::to_string(t + 1);
          int fd = -1;
          std::string buffer;
          std::map<int, std::size_t> statuses;
          for (int i = 0; i < per_thread; ++i) {
            if (fd < 0) {
              fd = ConnectFrom(from, cloudlet_->port(), false);
              buffer.clear();
            }
            int status = 0;
            if (fd >= 0 && SendAll(fd, request)) status = ReadStatus(fd, buffer);
            statuses[status] += 1;
            if (status == 0 || status == 403 || status == 429 || status == 503) {
              if (fd >= 0) ::close(fd);  // refused by a filter: the server closes
              fd = -1;
            }
          }
          if (fd >= 0) ::close(fd);
          std::lock_guard lock(mu);
          for (const auto& [s, n] : statuses) out.statuses[s] += n;
        });
      }
      for (auto& t : threads) t.join();
      requests += static_cast<std::size_t>(per_thread) * 4;
      // Let the group commit and the log flush what they hold.
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      DiskStage s;
      s.requests = requests;
      s.data_bytes = static_cast<std::int64_t>(DirBytes(data)) - data_before;
      s.ids_bytes = static_cast<std::int64_t>(IdsBytes(data)) - ids_before;
      s.wal_bytes = static_cast<std::int64_t>(FileBytes(data / "ids.db-wal"));
      s.log_bytes = static_cast<std::int64_t>(DirBytes(log_dir)) - log_before;
      const std::int64_t io_now = IoWrittenBytes();
      if (io_before >= 0 && io_now >= 0) s.io_bytes = io_now - io_before;
      out.stages.push_back(s);
    }
    return out;
  }

  static std::uintmax_t IdsBytes(const std::filesystem::path& data) {
    return FileBytes(data / "ids.db") + FileBytes(data / "ids.db-wal");
  }

  // write_bytes of /proc/self/io: what this process caused to be sent to the block device
  // (page cache writeback included); -1 if the kernel does not say.
  static std::int64_t IoWrittenBytes() {
    std::ifstream io("/proc/self/io");
    std::string key;
    std::int64_t value = 0;
    while (io >> key >> value) {
      if (key == "write_bytes:") return value;
    }
    return -1;
  }

  struct Latency {
    double rate = 0, p50 = 0, p99 = 0;
    std::size_t errors = 0;
  };

  Latency Stats(std::uint16_t port) {
    const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/api/v1/stats";
    const auto n = static_cast<std::size_t>(flags_.stats_connections);
    std::vector<std::vector<double>> per(n);
    std::atomic<std::size_t> errors{0};
    // Clients first: creating one loads the system's CA certificates, which takes a while.
    std::vector<std::unique_ptr<net::HttpClient>> clients;
    for (std::size_t t = 0; t < n; ++t) {
      clients.push_back(Must(net::HttpClient::Create({}), "http client"));
    }
    std::vector<std::thread> threads;
    const auto end =
        Steady::now() + std::chrono::duration_cast<Steady::duration>(Seconds(flags_.stats_seconds));
    const auto begin = Steady::now();
    for (std::size_t t = 0; t < n; ++t) {
      threads.emplace_back([&, t] {
        net::HttpClient& client = *clients[t];
        while (Steady::now() < end) {
          const auto start = Steady::now();
          auto r = client.Get(url);
          if (!r || r->status != 200) {
            errors.fetch_add(1);
            continue;
          }
          per[t].push_back(Seconds(Steady::now() - start).count() * 1000);
        }
      });
    }
    for (auto& t : threads) t.join();
    std::vector<double> all;
    for (auto& v : per) all.insert(all.end(), v.begin(), v.end());
    Latency out;
    out.rate = static_cast<double>(all.size()) / Seconds(Steady::now() - begin).count();
    out.p50 = Percentile(all, 0.5);
    out.p99 = Percentile(all, 0.99);
    out.errors = errors;
    return out;
  }

  // The operator's query for the device with the longest history: its whole history, newest
  // first, in pages of the route's maximum (10,000 readings), following next_cursor. One
  // sample is the walk over every page.
  Latency Readings(std::size_t* readings_returned) {
    const Device& d =
        *std::max_element(devices_.begin(), devices_.end(),
                          [](const Device& a, const Device& b) { return a.next < b.next; });
    const std::string base =
        url_ + "/api/v1/patients/" + d.device->patient_id() + "/readings?limit=10000";
    net::ClientOptions options;
    options.max_response_body_bytes = std::size_t{64} << 20;
    auto client = Must(net::HttpClient::Create(options), "http client");
    std::vector<double> ms;
    Latency out;
    for (int i = 0; i < flags_.readings_queries; ++i) {
      const auto start = Steady::now();
      std::size_t count = 0;
      std::string cursor;
      bool failed = false;
      while (true) {
        net::ClientRequest request;
        request.url = base;
        if (!cursor.empty()) request.url.append("&cursor=").append(cursor);
        request.headers.emplace_back("Authorization",
                                     "Bearer " + node::testing::TokenText(operator_token_));
        auto r = client->Send(request);
        if (!r || r->status != 200) {
          failed = true;
          break;
        }
        const nlohmann::json page = nlohmann::json::parse(r->body, nullptr, false);
        if (!page.is_object() || !page.contains("readings")) {
          failed = true;
          break;
        }
        count += page["readings"].size();
        const auto next = page.find("next_cursor");
        if (next == page.end() || !next->is_string()) break;
        cursor = next->get<std::string>();
      }
      if (failed) {
        ++out.errors;
        continue;
      }
      ms.push_back(Seconds(Steady::now() - start).count() * 1000);
      if (i == 0) *readings_returned = count;
    }
    out.p50 = Percentile(ms, 0.5);
    out.p99 = Percentile(ms, 0.99);
    return out;
  }

  std::size_t stored_readings_of_longest() const {
    std::size_t best = 0;
    for (const Device& d : devices_) best = std::max(best, d.next);
    return best * static_cast<std::size_t>(flags_.readings_per_upload);
  }

  cloudlet::CloudletService& cloudlet() { return *cloudlet_; }
  cloud::CloudService& cloud() { return *cloud_; }
  void Stop() {
    cloudlet_->Stop(std::chrono::seconds(5));
    cloud_->Stop(std::chrono::seconds(5));
  }

 private:
  const Flags& flags_;
  node::testing::TempDir work_;
  node::testing::TestDeployment deployment_{work_.path() / "pki"};
  SystemClock clock_;
  SystemRandom random_;
  SecretBytes enrol_token_ = node::testing::RandomToken(random_);
  SecretBytes operator_token_ = node::testing::RandomToken(random_);
  std::unique_ptr<cloudlet::CloudletService> cloudlet_;
  std::unique_ptr<cloud::CloudService> cloud_;
  std::string url_;
  std::vector<Device> devices_;
  std::vector<std::unique_ptr<net::HttpClient>> clients_;
  Bytes forged_;
};

const char* Verdict(bool met) { return met ? "met" : "MISSED"; }

double Share(const PhaseResult& r) {
  return r.probes == 0 ? 0 : static_cast<double>(r.probes_served) / static_cast<double>(r.probes);
}

void PrintPhase(const PhaseResult& r, double baseline) {
  std::printf(
      "  %-34s %8.0f uploads/s  (x%.2f)  %5zu stored %4zu failed  new conns %zu/%zu "
      "(%.1f%%)  peak RSS %.0f MB  attacker connects %llu%s\n",
      r.name.c_str(), r.ingest_rate, baseline > 0 ? r.ingest_rate / baseline : 0, r.stored,
      r.failed, r.probes_served, r.probes, Share(r) * 100, static_cast<double>(r.peak_rss) / 1e6,
      static_cast<unsigned long long>(r.attack_connections_opened),
      r.pool_exhausted ? "  (upload pool exhausted: rate is a floor)" : "");
  std::fflush(stdout);
}

int Main(int argc, char** argv) {
  Flags flags;
  CLI::App app{"MedMesh abuse benchmark (see the comment at the top of the source)"};
  app.add_option("--devices", flags.devices)->check(CLI::Range(1, 1024));
  app.add_option("--uploads-per-device", flags.uploads_per_device)->check(CLI::Range(2, 100000));
  app.add_option("--clients", flags.clients)->check(CLI::Range(1, 256));
  app.add_option("--phase-seconds", flags.phase_seconds)->check(CLI::Range(0.5, 600.0));
  app.add_option("--slow", flags.slow_connections)->check(CLI::Range(1, 5000));
  app.add_option("--idle", flags.idle_connections)->check(CLI::Range(1, 5000));
  app.add_option("--bodies", flags.body_connections)->check(CLI::Range(1, 5000));
  app.add_option("--attack-sources", flags.attack_sources)->check(CLI::Range(1, 250));
  app.add_option("--forged", flags.forged)->check(CLI::Range(4, 1000000));
  app.add_option("--forged-stages", flags.forged_stages)->check(CLI::Range(1, 100));
  app.add_option("--stats-connections", flags.stats_connections)->check(CLI::Range(1, 512));
  CLI11_PARSE(app, argc, argv);
  flags.forged_stages = std::min(flags.forged_stages, flags.forged / 4);  // >= 1 request a thread

  RaiseFileLimit(2 * static_cast<rlim_t>(flags.slow_connections + flags.idle_connections +
                                         flags.body_connections) +
                 1024);
  node::testing::TempDir logs;
  const std::filesystem::path log_file = logs.path() / "node.log";
  log::SetFile(log_file.string());

  std::printf(
      "MedMesh abuse benchmark: cloudlet and cloud in process, loopback, production "
      "options; attackers spread over %d source addresses\n",
      flags.attack_sources);
  std::fflush(stdout);
  Bench bench(flags);
  bench.StartNodes();
  std::printf("preparing %d devices x %d uploads of %d readings...\n", flags.devices,
              flags.uploads_per_device, flags.readings_per_upload);
  std::fflush(stdout);
  bench.PrepareDevices();

  std::printf(
      "\nLegitimate ingest (%d keep-alive clients on 127.0.0.1) and new connections "
      "from fresh addresses, %.0f s per phase\n",
      flags.clients, flags.phase_seconds);
  const PhaseResult baseline = bench.Measure("undisturbed");
  PrintPhase(baseline, baseline.ingest_rate);
  const PhaseResult slow = bench.UnderAttack(
      std::to_string(flags.slow_connections) + " slow-header connections", AttackKind::kSlowHeader,
      flags.slow_connections, flags.attack_sources, "127.1.1.");
  PrintPhase(slow, baseline.ingest_rate);
  const PhaseResult idle = bench.UnderAttack(
      std::to_string(flags.idle_connections) + " idle keep-alive connections",
      AttackKind::kIdleKeepAlive, flags.idle_connections, flags.attack_sources, "127.1.2.");
  PrintPhase(idle, baseline.ingest_rate);
  const PhaseResult bodies =
      bench.UnderAttack(std::to_string(flags.body_connections) + " connections trickling 8 MiB-1",
                        AttackKind::kBodyTrickle, flags.body_connections,
                        std::min(flags.attack_sources, 15), "127.1.3.");
  PrintPhase(bodies, baseline.ingest_rate);

  std::printf("\nForged-signature flood: %d uploads from 4 addresses, in %d stages\n", flags.forged,
              flags.forged_stages);
  std::fflush(stdout);
  const auto disk = bench.ForgedFlood(logs.path(), flags.forged_stages);
  std::printf("  answers:");
  for (const auto& [status, n] : disk.statuses) std::printf(" %d x%zu", status, n);
  std::printf("\n");
  for (const auto& s : disk.stages) {
    std::printf(
        "  after %6zu: data folder +%lld B (ids.db and WAL +%lld B, WAL now %lld B), log "
        "+%lld B: %.1f B per rejected request",
        s.requests, static_cast<long long>(s.data_bytes), static_cast<long long>(s.ids_bytes),
        static_cast<long long>(s.wal_bytes), static_cast<long long>(s.log_bytes),
        static_cast<double>(s.grown()) / static_cast<double>(s.requests));
    if (s.io_bytes >= 0) {
      std::printf("; written to disk %lld B (%.1f B per request)",
                  static_cast<long long>(s.io_bytes),
                  static_cast<double>(s.io_bytes) / static_cast<double>(s.requests));
    }
    std::printf("\n");
  }
  // Growth = fixed + marginal x requests: the marginal cost from the first stage to the last
  // (the first stage holds the fixed part: the sources' first rows, new pages, the WAL).
  const auto& first = disk.stages.front();
  const auto& last = disk.stages.back();
  const double marginal = disk.stages.size() < 2
                              ? 0
                              : static_cast<double>(last.grown() - first.grown()) /
                                    static_cast<double>(last.requests - first.requests);
  const double fixed =
      static_cast<double>(first.grown()) - marginal * static_cast<double>(first.requests);
  const double per_request = static_cast<double>(last.grown()) / static_cast<double>(last.requests);
  std::printf(
      "  disk growth per rejected request: %.1f B amortised over %zu; fixed part %.0f B, "
      "marginal %.2f B per request\n",
      per_request, last.requests, fixed, marginal);

  std::printf("\n/api/v1/stats, %d keep-alive connections, %.0f s\n", flags.stats_connections,
              flags.stats_seconds);
  std::fflush(stdout);
  const auto cloudlet_stats = bench.Stats(bench.cloudlet().port());
  std::printf("  cloudlet  %8.0f requests/s  p50 %.2f ms  p99 %.2f ms  (%zu errors)\n",
              cloudlet_stats.rate, cloudlet_stats.p50, cloudlet_stats.p99, cloudlet_stats.errors);
  const auto cloud_stats = bench.Stats(bench.cloud().port());
  std::printf("  cloud     %8.0f requests/s  p50 %.2f ms  p99 %.2f ms  (%zu errors)\n",
              cloud_stats.rate, cloud_stats.p50, cloud_stats.p99, cloud_stats.errors);

  std::size_t returned = 0;
  const auto readings = bench.Readings(&returned);
  std::printf(
      "\nOperator readings query, one patient (%zu readings stored, %zu returned), %d "
      "queries: p50 %.1f ms  p99 %.1f ms  (%zu errors)\n",
      bench.stored_readings_of_longest(), returned, flags.readings_queries, readings.p50,
      readings.p99, readings.errors);

  std::printf("\nGoals (issue 7)\n");
  std::printf("  >= %.0f%% new connections served, slow-header: %.1f%%  %s\n",
              kGoalServedShare * 100, Share(slow) * 100, Verdict(Share(slow) >= kGoalServedShare));
  std::printf("  >= %.0f%% new connections served, idle keep-alive: %.1f%%  %s\n",
              kGoalServedShare * 100, Share(idle) * 100, Verdict(Share(idle) >= kGoalServedShare));
  std::printf("  < %.0f MB peak RSS, trickled bodies: %.0f MB  %s\n", kGoalPeakRssMb,
              static_cast<double>(bodies.peak_rss) / 1e6,
              Verdict(static_cast<double>(bodies.peak_rss) / 1e6 < kGoalPeakRssMb));
  std::printf("  < %.0f B on disk per rejected request, amortised over %zu: %.1f B  %s\n",
              kGoalDiskBytesPerRejected, last.requests, per_request,
              Verdict(per_request < kGoalDiskBytesPerRejected));
  std::printf(
      "  ingest during attacks / undisturbed: slow-header x%.2f, idle x%.2f, bodies "
      "x%.2f\n",
      slow.ingest_rate / baseline.ingest_rate, idle.ingest_rate / baseline.ingest_rate,
      bodies.ingest_rate / baseline.ingest_rate);
  std::fflush(stdout);
  bench.Stop();
  return 0;
}

}  // namespace
}  // namespace medmesh::bench

int main(int argc, char** argv) {
  try {
    return medmesh::bench::Main(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "abuse_benchmark: %s\n", e.what());
    return 1;
  }
}

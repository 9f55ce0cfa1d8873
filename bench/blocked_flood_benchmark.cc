// Blocked-flood benchmark (issue 11, docs/ids.md, ADRs 0035 and 0043): legitimate ingest
// throughput of one cloudlet while a source its IDS blocked tries about 10,000 connections per
// second, as a ratio to the undisturbed throughput. Goal: at least 0.8.
//
// Setup: a real CloudletService on loopback with its production defaults except the access log
// (off, as for high rates) and the forward queue's backpressure limits: the benchmark has no
// cloud, so every upload stays in the forward queue, and with the default limits the queue's
// 10,000 items (slow_items) answered the last uploads of a `--runs 5` run (16 x 60 x 11 =
// 10,560 uploads and 16 enrolment pushes) 429 "busy forwarding" - the cloudlet's backpressure
// asking devices to wait for the cloud, not an IDS refusal (docs/ids.md, ADR 0051). The limits
// are raised above what the benchmark queues; a failed legitimate upload is printed with its
// status and error and the benchmark then exits 1. `--devices` test devices are enrolled over HTTP
// and each seals
// `--uploads` x (2 x `--runs` + 1) uploads of 60 heart-rate readings up front (sealing is the
// device's cost). The attacker address 127.0.0.66 sends 6 forged uploads first, so the
// cloudlet's own detector (device_batches) blocks it: the benchmark checks that it then gets
// 403. Then timed phases, each on its own uploads, alternating undisturbed and flooded and
// starting and ending undisturbed; each flooded phase's ratio is its rate over the mean of its
// two undisturbed neighbours, and the median, minimum and maximum of the `--runs` ratios are
// printed. Legitimate clients: `--clients` threads from 127.0.0.1, one keep-alive connection
// each (unchanged from ADR 0035's measurements).
//
// Flood: `--flood-threads` threads from 127.0.0.66, each keeping its share of `--flood-rate`
// connection attempts per second going with non-blocking connects on an epoll loop (socket,
// bind, connect; once connected, the request; then read to the server's close). An attempt
// ends with the server's answer (its status is counted; 403 expected), a reset or a close
// without an answer (counted as "reset"), or nothing within `--flood-timeout-ms` (counted as
// "no answer": the server's kernel dropped the SYN, so the attacker gives up and tries a new
// connection instead of waiting for its SYN retransmissions, which keeps the attempt rate).
// Attempts are paced against the clock, so the rate reached (printed) is the rate asked for
// unless the client itself cannot keep up; attempts still open when a phase ends are closed
// and counted as "unfinished".
//
// WARNING: client and server share this machine's cores, so the flood's own client cost (and
// the kernel's TCP work for both ends of every connection) is in the figure too: a real flood
// comes from elsewhere, so the ratio is pessimistic. `--flood-cpu N` pins the flood threads to
// CPU N (and everything else to the other CPUs), to see the server's share apart from the
// client's; say so when quoting such a figure.
//
//   build/release/bench/blocked_flood_benchmark [--devices 16] [--uploads 60] [--clients 8]
//                                               [--flood-rate 10000] [--flood-threads 2]
//                                               [--flood-timeout-ms 500] [--runs 3]
//                                               [--flood-cpu N]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
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

// What became of the flood's connection attempts.
struct FloodCounts {
  std::uint64_t attempts = 0;
  std::uint64_t answered_403 = 0;
  std::uint64_t answered_other = 0;  // any other status
  std::uint64_t reset = 0;           // reset, refused, or closed without an answer
  std::uint64_t no_answer = 0;       // nothing within the timeout (a dropped SYN)
  std::uint64_t unfinished = 0;      // still open when the phase ended
  std::uint64_t not_started = 0;     // the client could not open a socket (descriptors, ports)

  void Add(const FloodCounts& o) {
    attempts += o.attempts;
    answered_403 += o.answered_403;
    answered_other += o.answered_other;
    reset += o.reset;
    no_answer += o.no_answer;
    unfinished += o.unfinished;
    not_started += o.not_started;
  }
};

// One flood thread: `rate` connection attempts per second from `from` to `server` until
// `flooding` turns false, each with `request` once connected (see the top of this file).
class FloodClient {
 public:
  FloodClient(const sockaddr_in& server, const sockaddr_in& from, std::string_view request,
              double rate, std::chrono::milliseconds timeout)
      : server_(server), from_(from), request_(request), rate_(rate), timeout_(timeout) {}

  FloodCounts Run(const std::atomic<bool>& flooding) {
    epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epoll_ < 0) {
      std::perror("epoll_create1");
      std::exit(1);
    }
    const auto start = Clock::now();
    std::uint64_t started = 0;
    std::array<epoll_event, 256> events;
    while (flooding.load(std::memory_order_relaxed)) {
      auto now = Clock::now();
      // Every attempt due by now (the schedule does not drift when a wake-up comes late).
      while (true) {
        const auto due =
            start + std::chrono::duration_cast<Clock::duration>(
                        std::chrono::duration<double>(static_cast<double>(started) / rate_));
        if (due > now) break;
        ++started;
        Start(now);
      }
      Expire(now);
      const auto next_due =
          start + std::chrono::duration_cast<Clock::duration>(
                      std::chrono::duration<double>(static_cast<double>(started) / rate_));
      auto wake = next_due;
      if (!deadlines_.empty()) wake = std::min(wake, deadlines_.front().first);
      const auto wait_ms = std::chrono::ceil<std::chrono::milliseconds>(wake - Clock::now());
      const int n =
          ::epoll_wait(epoll_, events.data(), static_cast<int>(events.size()),
                       static_cast<int>(std::clamp<std::int64_t>(wait_ms.count(), 0, 10)));
      for (int i = 0; i < n; ++i) OnEvent(events[static_cast<std::size_t>(i)]);
    }
    for (auto& [fd, attempt] : open_) {
      ::close(fd);
      ++counts_.unfinished;
    }
    open_.clear();
    ::close(epoll_);
    return counts_;
  }

 private:
  // Attempts open at once per thread (descriptors; 10,000/s x 500 ms is 5,000 in all).
  static constexpr std::size_t kMaxOpen = 8192;

  struct Attempt {
    std::uint64_t serial = 0;
    bool sent = false;
    std::string head;  // the first bytes of the answer
  };

  void Start(Clock::time_point now) {
    ++counts_.attempts;
    if (open_.size() >= kMaxOpen) {
      ++counts_.not_started;
      return;
    }
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      ++counts_.not_started;
      return;
    }
    int one = 1;
    (void)::setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&from_), sizeof from_) != 0) {
      ::close(fd);
      ++counts_.not_started;
      return;
    }
    const int rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&server_), sizeof server_);
    if (rc != 0 && errno != EINPROGRESS) {
      ::close(fd);
      if (errno == EADDRNOTAVAIL) {
        ++counts_.not_started;  // out of ephemeral ports
      } else {
        ++counts_.reset;
      }
      return;
    }
    const std::uint64_t serial = ++serial_;
    open_[fd] = Attempt{serial, false, {}};
    epoll_event ev{};
    ev.events = EPOLLOUT;
    ev.data.fd = fd;
    (void)::epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &ev);
    deadlines_.emplace_back(now + timeout_, std::make_pair(fd, serial));
  }

  void Finish(int fd) {
    ::close(fd);  // also leaves the epoll set
    open_.erase(fd);
  }

  void Expire(Clock::time_point now) {
    while (!deadlines_.empty() && deadlines_.front().first <= now) {
      const auto [fd, serial] = deadlines_.front().second;
      deadlines_.pop_front();
      auto it = open_.find(fd);
      if (it == open_.end() || it->second.serial != serial) continue;  // ended before
      ++counts_.no_answer;
      Finish(fd);
    }
  }

  void Answered(int fd, const std::string& head) {
    if (head.size() >= 12 && head.starts_with("HTTP/1.1 ")) {
      (std::atoi(head.c_str() + 9) == 403 ? counts_.answered_403 : counts_.answered_other) += 1;
    } else {
      ++counts_.reset;
    }
    Finish(fd);
  }

  void OnEvent(const epoll_event& ev) {
    const int fd = ev.data.fd;
    auto it = open_.find(fd);
    if (it == open_.end()) return;
    Attempt& attempt = it->second;
    if (!attempt.sent) {
      int error = 0;
      socklen_t length = sizeof error;
      (void)::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length);
      if (error != 0) {
        ++counts_.reset;
        Finish(fd);
        return;
      }
      if (::send(fd, request_.data(), request_.size(), MSG_NOSIGNAL | MSG_DONTWAIT) !=
          static_cast<ssize_t>(request_.size())) {
        // Reset before the request left (the server's reset beat it), or a short write.
        Answered(fd, attempt.head);
        return;
      }
      attempt.sent = true;
      epoll_event in{};
      in.events = EPOLLIN | EPOLLRDHUP;
      in.data.fd = fd;
      (void)::epoll_ctl(epoll_, EPOLL_CTL_MOD, fd, &in);
      return;
    }
    char buffer[512];
    while (true) {
      const ssize_t n = ::recv(fd, buffer, sizeof buffer, MSG_DONTWAIT);
      if (n > 0) {
        if (attempt.head.size() < 16) attempt.head.append(buffer, static_cast<std::size_t>(n));
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;  // more to come
      Answered(fd, attempt.head);  // the server's close, or a reset after or instead of it
      return;
    }
  }

  const sockaddr_in server_;
  const sockaddr_in from_;
  const std::string request_;
  const double rate_;
  const std::chrono::milliseconds timeout_;
  int epoll_ = -1;
  std::uint64_t serial_ = 0;
  std::unordered_map<int, Attempt> open_;
  // Attempts in start order with their deadlines (the timeout is the same for all).
  std::deque<std::pair<Clock::time_point, std::pair<int, std::uint64_t>>> deadlines_;
  FloodCounts counts_;
};

// CPU time this process used so far (all threads, user and system, including the kernel's
// loopback work done in their context), in seconds.
double ProcessCpuSeconds() {
  rusage usage{};
  (void)::getrusage(RUSAGE_SELF, &usage);
  const auto seconds = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

void PinTo(const std::vector<int>& cpus) {
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int cpu : cpus) CPU_SET(cpu, &set);
  if (pthread_setaffinity_np(pthread_self(), sizeof set, &set) != 0) {
    std::fprintf(stderr, "cannot pin to the CPUs asked for\n");
    std::exit(1);
  }
}

// Legitimate uploads that did not get 200, by status and the answer's start (e.g. 429 and
// {"error":"resource_exhausted","message":"the cloudlet is busy forwarding; ..."}).
class Failures {
 public:
  void Add(int status, std::string_view body) {
    std::lock_guard lock(mu_);
    ++counts_[std::to_string(status) + " " + std::string(body.substr(0, 96))];
    ++total_;
  }
  int total() const {
    std::lock_guard lock(mu_);
    return total_;
  }
  void Print() const {
    std::lock_guard lock(mu_);
    for (const auto& [what, n] : counts_) std::printf("  failed upload x%d: %s\n", n, what.c_str());
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, int> counts_;
  int total_ = 0;
};

// Sends every upload of `batches` over `clients` keep-alive connections; uploads per second.
double IngestPhase(std::uint16_t port, const std::vector<std::vector<std::string>>& batches,
                   std::size_t clients, Failures& failures) {
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
          if (!reply || reply->status != 200) {
            failures.Add(reply ? reply->status : 0, reply ? std::string_view(reply->body) : "");
          }
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
  std::size_t devices = 16, uploads = 60, clients = 8, flood_threads = 2, runs = 3;
  double flood_rate = 10'000;
  int flood_cpu = -1;
  int flood_timeout_ms = 500;
  app.add_option("--devices", devices);
  app.add_option("--uploads", uploads, "uploads per device per phase");
  app.add_option("--clients", clients);
  app.add_option("--flood-rate", flood_rate, "blocked requests per second in total");
  app.add_option("--flood-threads", flood_threads)->check(CLI::Range(1, 64));
  app.add_option("--flood-timeout-ms", flood_timeout_ms,
                 "give up on a connection attempt without an answer after this long")
      ->check(CLI::Range(1, 60'000));
  app.add_option("--runs", runs, "flooded phases (each between two undisturbed ones)");
  app.add_option("--flood-cpu", flood_cpu, "pin the flood to this CPU, the rest to the others");
  CLI11_PARSE(app, argc, argv);
  log::SetLevel(log::Level::kWarn);
  // The flood keeps thousands of attempts open: as many descriptors as allowed.
  if (rlimit files{}; ::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    (void)::setrlimit(RLIMIT_NOFILE, &files);
  }
  const int cpus = static_cast<int>(std::thread::hardware_concurrency());
  if (flood_cpu >= 0) {
    if (flood_cpu >= cpus || cpus < 2) {
      std::fprintf(stderr, "--flood-cpu needs a CPU below %d and at least 2 CPUs\n", cpus);
      return 1;
    }
    std::vector<int> others;
    for (int c = 0; c < cpus; ++c) {
      if (c != flood_cpu) others.push_back(c);
    }
    PinTo(others);  // inherited by the server's threads and the legitimate clients
  }
  if (runs == 0) runs = 1;
  const std::size_t phase_count = 2 * runs + 1;

  testing::TempDir dir;
  node::testing::TestDeployment deployment(dir.path() / "pki");
  SystemClock clock;
  SystemRandom random;
  const SecretBytes enrol_token = node::testing::RandomToken(random);
  cloudlet::CloudletOptions options;
  options.data_dir = dir.path() / "data";
  options.access_log = false;
  // No cloud drains the forward queue here (see the top of this file): room for every upload
  // and enrolment push the benchmark makes, and no age limit within its run.
  const std::uint64_t queued = devices * (1 + phase_count * uploads) + 64;
  options.backpressure.slow_items = std::max(options.backpressure.slow_items, queued);
  options.backpressure.refuse_items = std::max(options.backpressure.refuse_items, queued);
  options.backpressure.slow_oldest_age = std::chrono::hours(24);
  options.backpressure.refuse_oldest_age = std::chrono::hours(24);
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

  // Devices and their uploads: every phase's worth, sealed before any timing.
  std::vector<std::vector<std::vector<std::string>>> phases(
      phase_count, std::vector<std::vector<std::string>>(devices));
  std::vector<std::unique_ptr<node::testing::TestDevice>> fleet;
  const std::int64_t now_ms = wire::ToUnixMs(clock.Now());
  const auto total_uploads = static_cast<std::int64_t>(phase_count * uploads);
  for (std::size_t d = 0; d < devices; ++d) {
    fleet.push_back(std::make_unique<node::testing::TestDevice>(
        "bench-" + std::to_string(d), "patient-" + std::to_string(d), random, clock));
    if (Status s = fleet.back()->Enrol(*client, url, enrol_token, deployment.Root().key); !s) {
      std::fprintf(stderr, "enrol: %s\n", s.error().ToString().c_str());
      return 1;
    }
    for (std::size_t p = 0; p < phase_count; ++p) {
      for (std::size_t u = 0; u < uploads; ++u) {
        const std::int64_t end = now_ms - (total_uploads + 1) * 60'000 +
                                 static_cast<std::int64_t>((p * uploads + u) * 60'000);
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

  sockaddr_in server_address{};
  server_address.sin_family = AF_INET;
  server_address.sin_port = htons(port);
  ::inet_pton(AF_INET, "127.0.0.1", &server_address.sin_addr);
  sockaddr_in attacker_address{};
  attacker_address.sin_family = AF_INET;
  ::inet_pton(AF_INET, kAttacker, &attacker_address.sin_addr);

  Failures failures;
  // CPU seconds of each phase (see the printout: a measure the machine's other load does not
  // bend the way it bends rates).
  std::vector<double> undisturbed_cpu, flooded_cpu;
  double cpu_mark = ProcessCpuSeconds();
  const auto cpu_since_mark = [&] {
    const double now_cpu = ProcessCpuSeconds();
    const double used = now_cpu - cpu_mark;
    cpu_mark = now_cpu;
    return used;
  };
  std::vector<double> undisturbed{IngestPhase(port, phases[0], clients, failures)};
  undisturbed_cpu.push_back(cpu_since_mark());
  std::vector<double> flooded, flood_rates;
  std::vector<FloodCounts> flood_counts;
  for (std::size_t run = 0; run < runs; ++run) {
    std::atomic<bool> flooding{true};
    std::vector<FloodCounts> per_thread(flood_threads);
    std::vector<std::thread> flood;
    for (std::size_t t = 0; t < flood_threads; ++t) {
      flood.emplace_back([&, t] {
        if (flood_cpu >= 0) PinTo({flood_cpu});
        FloodClient flooder(server_address, attacker_address, probe,
                            flood_rate / static_cast<double>(flood_threads),
                            std::chrono::milliseconds(flood_timeout_ms));
        per_thread[t] = flooder.Run(flooding);
      });
    }
    const auto flood_start = Clock::now();
    (void)cpu_since_mark();
    flooded.push_back(IngestPhase(port, phases[1 + 2 * run], clients, failures));
    const double flood_seconds = std::chrono::duration<double>(Clock::now() - flood_start).count();
    flooding = false;
    for (auto& t : flood) t.join();
    flooded_cpu.push_back(cpu_since_mark());
    FloodCounts total;
    for (const FloodCounts& c : per_thread) total.Add(c);
    flood_counts.push_back(total);
    flood_rates.push_back(static_cast<double>(total.attempts) / flood_seconds);
    (void)cpu_since_mark();
    undisturbed.push_back(IngestPhase(port, phases[2 + 2 * run], clients, failures));
    undisturbed_cpu.push_back(cpu_since_mark());
  }

  std::printf(
      "devices %zu, uploads per phase %zu (60 readings each), clients %zu, flood %zu "
      "threads with a %d ms timeout%s\n",
      devices, devices * uploads, clients, flood_threads, flood_timeout_ms,
      flood_cpu >= 0 ? ", flood pinned to its own CPU" : ", nothing pinned");
  std::vector<double> ratios;
  for (std::size_t run = 0; run < runs; ++run) {
    const double baseline = (undisturbed[run] + undisturbed[run + 1]) / 2;
    ratios.push_back(flooded[run] / baseline);
    const FloodCounts& c = flood_counts[run];
    const auto share = [&](std::uint64_t n) {
      return c.attempts ? 100.0 * static_cast<double>(n) / static_cast<double>(c.attempts) : 0.0;
    };
    std::printf(
        "run %zu: undisturbed %.0f / %.0f uploads/s, flooded %.0f uploads/s while %.0f blocked "
        "connection attempts/s were made (%llu: %.1f%% got 403, %.1f%% another status, %.1f%% "
        "a reset, %.1f%% no answer, %.1f%% unfinished, %.1f%% not started): ratio %.2f\n",
        run + 1, undisturbed[run], undisturbed[run + 1], flooded[run], flood_rates[run],
        static_cast<unsigned long long>(c.attempts), share(c.answered_403), share(c.answered_other),
        share(c.reset), share(c.no_answer), share(c.unfinished), share(c.not_started),
        ratios.back());
    // CPU: per upload when undisturbed (mean of the neighbours), and what the flooded phase
    // used beyond that many uploads' worth, per blocked attempt (client and server together).
    const double uploads_per_phase = static_cast<double>(devices * uploads);
    const double per_upload =
        (undisturbed_cpu[run] + undisturbed_cpu[run + 1]) / 2 / uploads_per_phase;
    const double extra = flooded_cpu[run] - per_upload * uploads_per_phase;
    std::printf(
        "       CPU: %.2f ms per upload undisturbed, %.2f ms flooded; %.1f us of CPU per "
        "blocked attempt (flood client and server, both ends' kernel work)\n",
        per_upload * 1e3, flooded_cpu[run] / uploads_per_phase * 1e3,
        c.attempts ? extra / static_cast<double>(c.attempts) * 1e6 : 0.0);
  }
  std::vector<double> sorted = ratios;
  std::sort(sorted.begin(), sorted.end());
  const double median = sorted.size() % 2 == 1
                            ? sorted[sorted.size() / 2]
                            : (sorted[sorted.size() / 2 - 1] + sorted[sorted.size() / 2]) / 2;
  std::printf(
      "ratio median %.2f (min %.2f, max %.2f; goal >= 0.80: %s); failed legitimate "
      "uploads: %d\n",
      median, sorted.front(), sorted.back(), median >= 0.8 ? "met" : "MISSED", failures.total());
  failures.Print();
  service->Stop(std::chrono::seconds(5));
  return failures.total() == 0 ? 0 : 1;
}

}  // namespace
}  // namespace medmesh::bench

int main(int argc, char** argv) { return medmesh::bench::Main(argc, argv); }

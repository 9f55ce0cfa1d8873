// Per-detector detection rate and false positives on scripted traffic (issue 11, docs/ids.md).
// For each detector: `--runs` attack scenarios and as many benign ones, their parameters drawn
// from a seeded generator (so the figures are reproducible), fed to a fresh set of the default
// detectors (ids::DefaultDetectors) with observation times, not the wall clock. A scenario is
// detected when the detector raised an alert on the attacker's scope; a benign scenario is a
// false positive when any detector proposed a block or throttle.
//
//   build/dev/bench/ids_detector_benchmark [--runs 200] [--seed 1]
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "ids/detector.h"

namespace medmesh::bench {
namespace {

using ids::Observation;
using store::IdsEventKind;

constexpr std::int64_t kT0 = 1'800'000'000'000;

// Collects a scenario's observations, then feeds them in time order (as a node sees them).
struct Feed {
  std::vector<std::unique_ptr<ids::Detector>> detectors = ids::DefaultDetectors();
  std::vector<Observation> pending;
  std::vector<ids::Alert> alerts;
  void operator()(const Observation& o) { pending.push_back(o); }
  void Run() {
    std::stable_sort(
        pending.begin(), pending.end(),
        [](const Observation& a, const Observation& b) { return a.time_ms < b.time_ms; });
    for (const Observation& o : pending) {
      for (auto& d : detectors) d->Observe(o, alerts);
    }
    pending.clear();
  }
  bool Caught(std::string_view detector, std::string_view scope_key) {
    Run();
    for (const auto& a : alerts) {
      if (a.detector == detector && a.scope.Key() == scope_key) return true;
    }
    return false;
  }
  bool Enforced() {
    Run();
    for (const auto& a : alerts) {
      if (a.action != ids::Action::kAlertOnly) return true;
    }
    return false;
  }
};

struct Scenario {
  std::string detector;
  std::string what;
  std::function<bool(std::mt19937_64&)> attack;  // true: detected
  std::function<bool(std::mt19937_64&)> benign;  // true: false positive
};

std::int64_t Uniform(std::mt19937_64& g, std::int64_t lo, std::int64_t hi) {
  return std::uniform_int_distribution<std::int64_t>(lo, hi)(g);
}

// Benign people: `users` behind `addresses` NAT addresses, each mistyping 0..3 times a day.
bool BenignLogins(std::mt19937_64& g) {
  Feed f;
  const int users = static_cast<int>(Uniform(g, 5, 60));
  const int addresses = static_cast<int>(Uniform(g, 1, 10));
  for (int day = 0; day < 3; ++day) {
    for (int u = 0; u < users; ++u) {
      const int fails = static_cast<int>(Uniform(g, 0, 3));
      std::int64_t t = kT0 + day * 86'400'000LL + Uniform(g, 0, 86'000'000);
      for (int k = 0; k < fails; ++k) {
        t += Uniform(g, 3'000, 60'000);
        f(Observation::Event(t, "10.0.0." + std::to_string(u % addresses),
                             IdsEventKind::kAuthFailure, {}, "user-" + std::to_string(u)));
      }
    }
  }
  return f.Enforced();
}

std::vector<Scenario> Scenarios() {
  std::vector<Scenario> s;
  s.push_back(
      {"credentials", "password brute force (15-100 tries, 1-20 s apart)",
       [](std::mt19937_64& g) {
         Feed f;
         std::int64_t t = kT0;
         for (std::int64_t i = 0, n = Uniform(g, 15, 100); i < n; ++i) {
           t += Uniform(g, 1'000, 20'000);
           f(Observation::Event(t, "203.0.113.7", IdsEventKind::kAuthFailure, {}, "victim"));
         }
         return f.Caught("credentials", "ip:203.0.113.7");
       },
       BenignLogins});
  s.push_back({"credentials", "credential stuffing (5-50 accounts, 1-60 s apart)",
               [](std::mt19937_64& g) {
                 Feed f;
                 std::int64_t t = kT0;
                 for (std::int64_t i = 0, n = Uniform(g, 5, 50); i < n; ++i) {
                   t += Uniform(g, 1'000, 60'000);
                   f(Observation::Event(t, "203.0.113.8", IdsEventKind::kAuthFailure, {},
                                        "acct-" + std::to_string(i)));
                 }
                 return f.Caught("credentials", "ip:203.0.113.8");
               },
               BenignLogins});
  s.push_back({"device_batches", "forged / withdrawn-device batches (6-50, 0.1-30 s apart)",
               [](std::mt19937_64& g) {
                 Feed f;
                 std::int64_t t = kT0;
                 const IdsEventKind kind = Uniform(g, 0, 1) ? IdsEventKind::kForgedSignature
                                                            : IdsEventKind::kUnknownDevice;
                 for (std::int64_t i = 0, n = Uniform(g, 6, 50); i < n; ++i) {
                   t += Uniform(g, 100, 30'000);
                   f(Observation::Event(t, "192.0.2.50", kind, "watch-9"));
                 }
                 return f.Caught("device_batches", "ip:192.0.2.50");
               },
               [](std::mt19937_64& g) {
                 // A restart: every device behind a gateway sends one batch of a forgotten
                 // session; some send an implausible reading or a broken batch now and then.
                 Feed f;
                 const int devices = static_cast<int>(Uniform(g, 10, 500));
                 for (int d = 0; d < devices; ++d) {
                   const std::int64_t t = kT0 + Uniform(g, 0, 120'000);
                   f(Observation::Event(t, "10.1.0.1", IdsEventKind::kUnknownSession,
                                        "watch-" + std::to_string(d)));
                   if (Uniform(g, 0, 50) == 0) {
                     f(Observation::Event(t + Uniform(g, 0, 3'600'000), "10.1.0.1",
                                          IdsEventKind::kMalformed, "watch-" + std::to_string(d)));
                   }
                 }
                 return f.Enforced();
               }});
  s.push_back({"authz_probing", "foreign ids (20-200 requests, 0.05-5 s apart)",
               [](std::mt19937_64& g) {
                 Feed f;
                 std::int64_t t = kT0;
                 for (std::int64_t i = 0, n = Uniform(g, 20, 200); i < n; ++i) {
                   t += Uniform(g, 50, 5'000);
                   f(Observation::Response(t, "198.51.100.9", Uniform(g, 0, 1) ? 403 : 404,
                                           "/api/v1/patients/{id}/readings", true));
                 }
                 return f.Caught("authz_probing", "ip:198.51.100.9");
               },
               [](std::mt19937_64& g) {
                 // A user over a day: pages, a stale link every few minutes, favicon misses.
                 Feed f;
                 std::int64_t t = kT0;
                 for (int i = 0; i < 500; ++i) {
                   t += Uniform(g, 5'000, 120'000);
                   const std::int64_t r = Uniform(g, 0, 20);
                   f(Observation::Response(t, "198.51.100.10", r == 0 ? 404 : 200,
                                           r == 0 ? "/api/v1/records/{id}" : "/api/v1/me", true));
                   if (r == 1) f(Observation::Response(t, "198.51.100.10", 404, "unmatched"));
                 }
                 return f.Enforced();
               }});
  s.push_back(
      {"request_flood", "burst of 300-5,000 req/s for 5 s over a 1-20 req/s baseline",
       [](std::mt19937_64& g) {
         Feed f;
         const std::int64_t base = Uniform(g, 1, 20), burst = Uniform(g, 300, 5'000);
         std::int64_t t = kT0;
         for (int sec = 0; sec < 120; ++sec) {
           for (std::int64_t i = 0; i < base; ++i) {
             f(Observation::Response(t + sec * 1000 + i * (1000 / base), "192.0.2.9", 200, "/r"));
           }
         }
         t += 120'000;
         for (int sec = 0; sec < 5; ++sec) {
           for (std::int64_t i = 0; i < burst; ++i) {
             f(Observation::Response(t + sec * 1000 + i * 1000 / burst, "192.0.2.9", 200, "/r"));
           }
         }
         return f.Caught("request_flood", "ip:192.0.2.9");
       },
       [](std::mt19937_64& g) {
         // A steady client at 1-150 req/s with +-50% jitter per second for 10 minutes.
         Feed f;
         const std::int64_t rate = Uniform(g, 1, 150);
         for (int sec = 0; sec < 600; ++sec) {
           const std::int64_t n = Uniform(g, rate / 2, rate + rate / 2);
           for (std::int64_t i = 0; i < n; ++i) {
             f(Observation::Response(kT0 + sec * 1000 + i * 1000 / (n + 1), "192.0.2.10", 200,
                                     "/r"));
           }
         }
         return f.Enforced();
       }});
  s.push_back({"slow_connections", "slow heads (10-100, 0.5-20 s apart)",
               [](std::mt19937_64& g) {
                 Feed f;
                 std::int64_t t = kT0;
                 for (std::int64_t i = 0, n = Uniform(g, 10, 100); i < n; ++i) {
                   t += Uniform(g, 500, 20'000);
                   f(Observation::Event(t, "192.0.2.77", IdsEventKind::kSlowClient));
                 }
                 return f.Caught("slow_connections", "ip:192.0.2.77");
               },
               [](std::mt19937_64& g) {
                 // Mobile clients on bad links: a timeout every 2-30 minutes.
                 Feed f;
                 std::int64_t t = kT0;
                 for (int i = 0; i < 100; ++i) {
                   t += Uniform(g, 120'000, 1'800'000);
                   f(Observation::Event(t, "192.0.2.78", IdsEventKind::kSlowClient));
                 }
                 return f.Enforced();
               }});
  return s;
}

int Main(int argc, char** argv) {
  CLI::App app{"Per-detector detection rate and false positives on scripted traffic"};
  int runs = 200;
  std::uint64_t seed = 1;
  app.add_option("--runs", runs);
  app.add_option("--seed", seed);
  CLI11_PARSE(app, argc, argv);
  std::mt19937_64 g(seed);
  std::printf("%-18s %-62s %9s %9s\n", "detector", "attack scenario", "detected", "false+");
  for (const Scenario& s : Scenarios()) {
    int detected = 0, false_positives = 0;
    for (int r = 0; r < runs; ++r) {
      detected += s.attack(g) ? 1 : 0;
      false_positives += s.benign(g) ? 1 : 0;
    }
    std::printf("%-18s %-62s %8.1f%% %8.1f%%\n", s.detector.c_str(), s.what.c_str(),
                100.0 * detected / runs, 100.0 * false_positives / runs);
  }
  std::printf("(%d attack and %d benign runs per row, seed %llu)\n", runs, runs,
              static_cast<unsigned long long>(seed));
  return 0;
}

}  // namespace
}  // namespace medmesh::bench

int main(int argc, char** argv) { return medmesh::bench::Main(argc, argv); }

// Benchmarks of the NTRU KEM (include/medmesh/ntru.h): keypair, encaps and decaps for the four
// parameter sets and each implementation this CPU can run, named
// `ntru/<set>/<impl>/<op>` (e.g. `ntru/ntruhps2048677/avx2/keypair`), and batch key generation
// of 64 keys per call (`.../keypair_batch64`, with the per-key ratio printed at the end, from
// the two medians and again from paired rounds of 64 single keypairs and one batch).
//
// The timed loops call the *_derand functions with coins drawn before the loop, so neither the
// OS random source nor the KAT DRBG is measured. After the run a summary compares the
// ntruhps2048677 medians with the reference figures of the performance goals, after a table
// of the medians of every set and implementation. Instruction counts per call (callgrind) come
// from tools/ntru_callgrind.sh, which runs bench/ntru_ops.cc; `make bench` prints hps677's after
// this benchmark (tools/ntru_reference_callgrind.sh). The summary uses
// CPU time: on a shared machine wall-clock time also counts time the thread was not running.
//
//   make bench   (release preset, --benchmark_repetitions=5 --benchmark_enable_random_interleaving
//                 --benchmark_report_aggregates_only)
//
// Accepts the usual Google Benchmark flags; the display format is always the console table.
#include <benchmark/benchmark.h>
#include <openssl/rand.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <map>
#include <string>
#include <vector>

#include "crypto/ntru/ntru_kem_table.h"
#include "medmesh/ntru.h"

namespace medmesh::bench {
namespace {

using crypto::testing::kNtruImpls;
using crypto::testing::kNtruKemSets;
using crypto::testing::kNtruPrfKeyBytes;
using crypto::testing::NtruImpl;
using crypto::testing::NtruImplAvailable;
using crypto::testing::NtruKemSet;
using crypto::testing::ScopedNtruImpl;
using Buffer = std::vector<std::uint8_t>;

// Distinct inputs cycled through by each timed loop (the code is constant time, but this keeps
// the loop from timing one cached input only).
constexpr std::size_t kInputs = 8;

enum class Op { kKeypair, kEncaps, kDecaps };
constexpr const char* OpName(Op op) {
  switch (op) {
    case Op::kKeypair: return "keypair";
    case Op::kEncaps: return "enc";
    case Op::kDecaps: return "dec";
  }
  return "?";
}

std::string BenchmarkName(const NtruKemSet& set, const NtruImpl& impl, Op op) {
  return "ntru/" + std::string(set.name) + "/" + std::string(impl.name) + "/" + OpName(op);
}

Buffer RandomBuffer(std::size_t n) {
  Buffer b(n);
  if (RAND_bytes(b.data(), static_cast<int>(n)) != 1) b.assign(n, 0x5a);
  return b;
}

// Everything a timed loop needs, prepared outside it.
struct Inputs {
  std::vector<Buffer> fg, prf, rm;
  Buffer pk, sk;
  std::vector<Buffer> ct, ss;
};

bool Prepare(const NtruKemSet& set, Inputs& in) {
  for (std::size_t i = 0; i < kInputs; ++i) {
    in.fg.push_back(RandomBuffer(set.seed_bytes));
    in.prf.push_back(RandomBuffer(kNtruPrfKeyBytes));
    in.rm.push_back(RandomBuffer(set.seed_bytes));
  }
  in.pk.resize(set.public_key_bytes);
  in.sk.resize(set.secret_key_bytes);
  if (set.keypair_derand(in.pk.data(), in.sk.data(), in.fg[0].data(), in.prf[0].data()) != 0) {
    return false;
  }
  Buffer ss_dec(set.shared_secret_bytes);
  for (std::size_t i = 0; i < kInputs; ++i) {
    in.ct.emplace_back(set.ciphertext_bytes);
    in.ss.emplace_back(set.shared_secret_bytes);
    if (set.enc_derand(in.ct[i].data(), in.ss[i].data(), in.pk.data(), in.rm[i].data()) != 0 ||
        set.dec(ss_dec.data(), in.ct[i].data(), in.sk.data()) != 0 || ss_dec != in.ss[i]) {
      return false;
    }
  }
  return true;
}

void RunKem(benchmark::State& state, NtruKemSet set, NtruImpl impl, Op op) {
  ScopedNtruImpl scoped(impl.impl);
  if (!scoped.ok()) {
    state.SkipWithError("medmesh_ntru_force_impl failed");
    return;
  }
  Inputs in;
  if (!Prepare(set, in)) {
    state.SkipWithError("round trip failed while preparing inputs");
    return;
  }
  Buffer pk(set.public_key_bytes);
  Buffer sk(set.secret_key_bytes);
  Buffer ct(set.ciphertext_bytes);
  Buffer ss(set.shared_secret_bytes);
  std::size_t i = 0;
  switch (op) {
    case Op::kKeypair:
      for (auto _ : state) {  // NOLINT(clang-analyzer-deadcode.DeadStores): benchmark idiom
        set.keypair_derand(pk.data(), sk.data(), in.fg[i].data(), in.prf[i].data());
        benchmark::DoNotOptimize(pk.data());
        benchmark::DoNotOptimize(sk.data());
        benchmark::ClobberMemory();
        i = (i + 1) % kInputs;
      }
      break;
    case Op::kEncaps:
      for (auto _ : state) {  // NOLINT(clang-analyzer-deadcode.DeadStores): benchmark idiom
        set.enc_derand(ct.data(), ss.data(), in.pk.data(), in.rm[i].data());
        benchmark::DoNotOptimize(ct.data());
        benchmark::DoNotOptimize(ss.data());
        benchmark::ClobberMemory();
        i = (i + 1) % kInputs;
      }
      break;
    case Op::kDecaps:
      for (auto _ : state) {  // NOLINT(clang-analyzer-deadcode.DeadStores): benchmark idiom
        set.dec(ss.data(), in.ct[i].data(), in.sk.data());
        benchmark::DoNotOptimize(ss.data());
        benchmark::ClobberMemory();
        i = (i + 1) % kInputs;
      }
      break;
  }
}

// The performance goals: reference figures for ntruhps2048677 in microseconds and the largest
// acceptable ratio to them. Portable: the round-3 reference C (issue 6). AVX2: the NTRU team's
// hand-vectorised code (PQClean avx2); issue 12 asks for at most its time (ratio 1.0). The
// reference figures were measured on another machine, so the ratio is a guide here: issue 12's
// verdict comes from an outside harness that runs both in one process.
struct Goal {
  const char* impl;
  Op op;
  double reference_us;
  double max_ratio;
};
constexpr Goal kGoals[] = {
    {"portable", Op::kKeypair, 766.0, 1.0}, {"portable", Op::kEncaps, 28.5, 1.0},
    {"portable", Op::kDecaps, 49.3, 1.0},   {"avx2", Op::kKeypair, 39.2, 1.0},
    {"avx2", Op::kEncaps, 4.6, 1.0},        {"avx2", Op::kDecaps, 8.9, 1.0},
};
constexpr const char* kGoalSet = "ntruhps2048677";

double ToMicroseconds(double value, benchmark::TimeUnit unit) {
  switch (unit) {
    case benchmark::kNanosecond: return value / 1e3;
    case benchmark::kMicrosecond: return value;
    case benchmark::kMillisecond: return value * 1e3;
    case benchmark::kSecond: return value * 1e6;
  }
  return value;
}

// The console table as usual, plus the CPU time per iteration of every run kept by
// benchmark name: the "median" aggregate when there are repetitions, else the single run.
class RecordingReporter : public benchmark::ConsoleReporter {
 public:
  explicit RecordingReporter(OutputOptions options) : ConsoleReporter(options) {}

  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs) {
      if (run.error_occurred) continue;
      const double us = ToMicroseconds(run.GetAdjustedCPUTime(), run.time_unit);
      const std::string& name = run.run_name.function_name;
      if (run.run_type == Run::RT_Aggregate && run.aggregate_name == "median") {
        medians_[name] = us;
      } else if (run.run_type == Run::RT_Iteration) {
        singles_[name].push_back(us);
      }
    }
    ConsoleReporter::ReportRuns(runs);
  }

  // Median time in microseconds and whether it is a median of repetitions; false if none.
  bool Lookup(const std::string& name, double* us, bool* is_median) const {
    if (auto it = medians_.find(name); it != medians_.end()) {
      *us = it->second;
      *is_median = true;
      return true;
    }
    if (auto it = singles_.find(name); it != singles_.end() && it->second.size() == 1) {
      *us = it->second.front();
      *is_median = false;
      return true;
    }
    return false;
  }

 private:
  std::map<std::string, double> medians_;
  std::map<std::string, std::vector<double>> singles_;
};

// One line per set and implementation: the median CPU microseconds of each operation (or a
// single run's time without repetitions; "-" where filtered out or not runnable).
void PrintSetTable(const RecordingReporter& reporter) {
  std::printf("\n%-16s %-9s %12s %12s %12s   (CPU us per call)\n", "set", "impl", "keypair", "enc",
              "dec");
  for (const NtruKemSet& set : kNtruKemSets) {
    for (const NtruImpl& impl : kNtruImpls) {
      std::string line;
      bool any = false;
      for (Op op : {Op::kKeypair, Op::kEncaps, Op::kDecaps}) {
        double us = 0;
        bool is_median = false;
        char cell[32];
        if (reporter.Lookup(BenchmarkName(set, impl, op), &us, &is_median)) {
          std::snprintf(cell, sizeof cell, " %12.2f", us);
          any = true;
        } else {
          std::snprintf(cell, sizeof cell, " %12s", "-");
        }
        line += cell;
      }
      if (any) {
        std::printf("%-16s %-9s%s\n", std::string(set.name).c_str(), std::string(impl.name).c_str(),
                    line.c_str());
      }
    }
  }
}

void PrintGoalSummary(const RecordingReporter& reporter) {
  std::printf(
      "\nPerformance goals for %s (CPU time; reference: NTRU round-3 reference C and\n"
      "avx2 figures):\n",
      kGoalSet);
  int shown = 0;
  for (const Goal& goal : kGoals) {
    const std::string name =
        std::string("ntru/") + kGoalSet + "/" + goal.impl + "/" + OpName(goal.op);
    double us = 0;
    bool is_median = false;
    if (!reporter.Lookup(name, &us, &is_median)) {
      std::printf("%s %s %-7s not measured (filtered out, or the CPU cannot run it)\n", kGoalSet,
                  goal.impl, OpName(goal.op));
      continue;
    }
    const double ratio = us / goal.reference_us;
    std::printf("%s %-8s %-7s %s %9.1f us = %5.2f x reference %6.1f us (goal <= %.1f)  %s\n",
                kGoalSet, goal.impl, OpName(goal.op), is_median ? "median" : "single", us, ratio,
                goal.reference_us, goal.max_ratio, ratio <= goal.max_ratio ? "met" : "MISSED");
    ++shown;
  }
  if (shown > 0) {
    std::printf(
        "(medians need --benchmark_repetitions=N; `make bench` uses 5. The reference times were\n"
        "measured on another machine, so these ratios are a guide; `make bench` then prints\n"
        "instruction counts against the reference's, tools/ntru_reference_callgrind.sh)\n");
  }
}

// --- Batch key generation (medmesh_<set>_keypair_batch) ----------------------------------------
// `ntru/<set>/<impl>/keypair_batch64` times one call making kBatchKeys keys; the summary divides
// by kBatchKeys and compares with `ntru/<set>/<impl>/keypair` (goal: at most half).
constexpr std::size_t kBatchKeys = 64;

std::string BatchBenchmarkName(const NtruKemSet& set, const NtruImpl& impl) {
  return "ntru/" + std::string(set.name) + "/" + std::string(impl.name) + "/keypair_batch" +
         std::to_string(kBatchKeys);
}

// The coins and output buffers of kBatchKeys key pairs of one set.
struct BatchBuffers {
  explicit BatchBuffers(const NtruKemSet& set)
      : fg(RandomBuffer(kBatchKeys * set.seed_bytes)),
        prf(RandomBuffer(kBatchKeys * kNtruPrfKeyBytes)),
        pks(kBatchKeys * set.public_key_bytes),
        sks(kBatchKeys * set.secret_key_bytes) {}
  const Buffer fg;
  const Buffer prf;
  Buffer pks;
  Buffer sks;
};

void RunBatchKeypair(benchmark::State& state, NtruKemSet set, NtruImpl impl) {
  ScopedNtruImpl scoped(impl.impl);
  if (!scoped.ok()) {
    state.SkipWithError("medmesh_ntru_force_impl failed");
    return;
  }
  BatchBuffers b(set);
  for (auto _ : state) {  // NOLINT(clang-analyzer-deadcode.DeadStores): benchmark idiom
    set.keypair_batch(kBatchKeys, b.pks.data(), b.sks.data(), b.fg.data(), b.prf.data());
    benchmark::DoNotOptimize(b.pks.data());
    benchmark::DoNotOptimize(b.sks.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kBatchKeys));
}

void RegisterBatchKeypairBenchmarks(const NtruImpl& impl) {
  for (const NtruKemSet& set : kNtruKemSets) {
    benchmark::RegisterBenchmark(BatchBenchmarkName(set, impl).c_str(), RunBatchKeypair, set, impl)
        ->Unit(benchmark::kMicrosecond);
  }
}

void PrintBatchSummary(const RecordingReporter& reporter) {
  std::printf("\nBatch key generation per key (CPU time; goal: at most 0.5 x a single keypair):\n");
  for (const NtruImpl& impl : kNtruImpls) {
    for (const NtruKemSet& set : kNtruKemSets) {
      double batch_us = 0;
      double single_us = 0;
      bool batch_median = false;
      bool single_median = false;
      if (!reporter.Lookup(BatchBenchmarkName(set, impl), &batch_us, &batch_median) ||
          !reporter.Lookup(BenchmarkName(set, impl, Op::kKeypair), &single_us, &single_median)) {
        continue;
      }
      const double per_key = batch_us / static_cast<double>(kBatchKeys);
      const double ratio = per_key / single_us;
      std::printf("%-15s %-8s keypair %9.1f us  batch%zu per key %9.1f us  ratio %4.2f  %s%s\n",
                  std::string(set.name).c_str(), std::string(impl.name).c_str(), single_us,
                  kBatchKeys, per_key, ratio, ratio <= 0.5 ? "met" : "MISSED",
                  batch_median && single_median ? "" : " (single runs, not medians)");
    }
  }
}

// The same ratio measured in pairs: each round times kBatchKeys single keypairs and then one
// batch call of as many keys, back to back on the same thread (CPU time), so both halves of a
// round see the same moment of a busy machine; the median of the per-round ratios and its
// 10th-90th percentile spread are printed. About a second per set and implementation, for those
// whose batch benchmark ran (the filter selects them).
double ThreadCpuSeconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

void PrintPairedBatchRatios(const RecordingReporter& reporter) {
  constexpr double kBudgetSeconds = 1.0;
  constexpr int kMinRounds = 11;
  constexpr int kMaxRounds = 201;
  bool header = false;
  for (const NtruImpl& impl : kNtruImpls) {
    for (const NtruKemSet& set : kNtruKemSets) {
      double us = 0;
      bool is_median = false;
      if (!reporter.Lookup(BatchBenchmarkName(set, impl), &us, &is_median)) continue;
      ScopedNtruImpl scoped(impl.impl);
      if (!scoped.ok()) continue;
      if (!header) {
        std::printf(
            "\nBatch per key against single keypairs, paired rounds (%zu singles, then one batch "
            "of %zu;\nCPU time; median of the rounds' ratios [10th-90th percentile]):\n",
            kBatchKeys, kBatchKeys);
        header = true;
      }
      BatchBuffers b(set);
      std::vector<double> ratios;
      const double start = ThreadCpuSeconds();
      while (ratios.size() < static_cast<std::size_t>(kMaxRounds) &&
             (ratios.size() < static_cast<std::size_t>(kMinRounds) ||
              ThreadCpuSeconds() - start < kBudgetSeconds)) {
        const double t0 = ThreadCpuSeconds();
        for (std::size_t i = 0; i < kBatchKeys; ++i) {
          set.keypair_derand(b.pks.data() + i * set.public_key_bytes,
                             b.sks.data() + i * set.secret_key_bytes,
                             b.fg.data() + i * set.seed_bytes, b.prf.data() + i * kNtruPrfKeyBytes);
        }
        const double t1 = ThreadCpuSeconds();
        set.keypair_batch(kBatchKeys, b.pks.data(), b.sks.data(), b.fg.data(), b.prf.data());
        const double t2 = ThreadCpuSeconds();
        benchmark::DoNotOptimize(b.sks.data());
        if (t1 > t0) ratios.push_back((t2 - t1) / (t1 - t0));
      }
      if (ratios.empty()) continue;
      std::sort(ratios.begin(), ratios.end());
      const auto at = [&ratios](double q) {
        return ratios[static_cast<std::size_t>(q * static_cast<double>(ratios.size() - 1))];
      };
      std::printf("%-15s %-8s ratio %5.3f [%5.3f-%5.3f] over %zu rounds  %s\n",
                  std::string(set.name).c_str(), std::string(impl.name).c_str(), at(0.5), at(0.1),
                  at(0.9), ratios.size(), at(0.5) <= 0.5 ? "met" : "MISSED");
    }
  }
}

}  // namespace
}  // namespace medmesh::bench

int main(int argc, char** argv) {
  using namespace medmesh::bench;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;

  for (const NtruImpl& impl : kNtruImpls) {
    if (!NtruImplAvailable(impl.impl)) {
      std::fprintf(stderr, "ntru_benchmark: %s skipped: this CPU has no AVX2/BMI2/PCLMULQDQ\n",
                   std::string(impl.name).c_str());
      continue;
    }
    for (const NtruKemSet& set : kNtruKemSets) {
      for (Op op : {Op::kKeypair, Op::kEncaps, Op::kDecaps}) {
        benchmark::RegisterBenchmark(BenchmarkName(set, impl, op).c_str(), RunKem, set, impl, op)
            ->Unit(benchmark::kMicrosecond);
      }
    }
    RegisterBatchKeypairBenchmarks(impl);
  }

  RecordingReporter reporter(isatty(STDOUT_FILENO) ? benchmark::ConsoleReporter::OO_ColorTabular
                                                   : benchmark::ConsoleReporter::OO_Tabular);
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  PrintSetTable(reporter);
  PrintGoalSummary(reporter);
  PrintBatchSummary(reporter);
  PrintPairedBatchRatios(reporter);
  return 0;
}

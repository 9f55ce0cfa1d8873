#include "apps/trust_eval_main.h"

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "core/bytes.h"
#include "core/env.h"
#include "eval/trust_sim.h"

namespace {

struct TrustEvalFlags {
  std::uint64_t seed = 1;
  int patients = 1000;
  int rounds = 60;
  std::string out = "eval-trust";
  bool quick = false;
  std::vector<double> thresholds;  // vitals summary, diagnoses, full record (empty: defaults)
  std::vector<double> eigentrust_multiples;  // the same for EigenTrust (empty: defaults)
  int seeds = 1;                             // seeds seed, seed + 1, ...
  std::vector<double> fractions;             // malicious fractions (empty: 0, 0.1, .., 0.5)
  bool onboarding = true;                    // intake consultations at approval
  bool probation = true;                     // our model's probation (ADR 0056)
};

// "[#########           ]  45%" on one line of stderr, redrawn when the percentage changes.
class ProgressBar {
 public:
  void Update(long done, long total) {
    const int percent = total > 0 ? static_cast<int>(done * 100 / total) : 100;
    if (percent == last_) return;
    last_ = percent;
    const int filled = percent * kWidth / 100;
    std::string bar(static_cast<std::size_t>(filled), '#');
    bar.resize(kWidth, ' ');
    std::fprintf(stderr, "\r[%s] %3d%%", bar.c_str(), percent);
    if (done >= total) std::fputc('\n', stderr);
    std::fflush(stderr);
  }

 private:
  static constexpr int kWidth = 40;
  int last_ = -1;
};

int RunTrustEval(const TrustEvalFlags& flags) {
  medmesh::eval::TrustSimOptions options;
  options.seed = flags.seed;
  options.patients = flags.quick ? 200 : flags.patients;
  options.rounds = flags.quick ? 30 : flags.rounds;
  if (flags.thresholds.size() == 3) {
    options.policy.vitals_summary.min_trust = flags.thresholds[0];
    options.policy.diagnoses.min_trust = flags.thresholds[1];
    options.policy.full_record.min_trust = flags.thresholds[2];
  }
  if (!flags.fractions.empty()) options.malicious_fractions = flags.fractions;
  options.onboarding_consultation = flags.onboarding;
  options.probation = flags.probation;
  if (flags.eigentrust_multiples.size() == 3) {
    for (std::size_t k = 0; k < 3; ++k) {
      options.eigentrust_multiples[k] = flags.eigentrust_multiples[k];
    }
  }
  std::cerr << "medmesh eval trust: " << options.patients << " patients, " << options.rounds
            << " rounds, seed " << options.seed;
  if (flags.seeds > 1) std::cerr << " to " << options.seed + flags.seeds - 1;
  std::cerr << ", " << options.malicious_fractions.size() << " malicious fractions, 3 models\n";
  ProgressBar bar;
  // Every seed runs the whole sweep; the bar covers all of them.
  std::vector<std::vector<medmesh::eval::TrustSimRow>> runs;
  for (int k = 0; k < flags.seeds; ++k) {
    medmesh::eval::TrustSimOptions seeded = options;
    seeded.seed = options.seed + static_cast<std::uint64_t>(k);
    runs.push_back(
        medmesh::eval::RunTrustSimulation(seeded, [&bar, k, &flags](long done, long total) {
          bar.Update(k * total + done, total * flags.seeds);
        }));
  }
  const auto& rows = runs.front();
  const auto summaries = flags.seeds > 1 ? medmesh::eval::SummariseSeeds(runs)
                                         : std::vector<medmesh::eval::TrustSimSeedSummary>{};

  const std::filesystem::path dir(flags.out);
  medmesh::Env& env = medmesh::Env::Default();
  medmesh::Status made = env.CreateDir(dir, 0755);
  if (!made) {
    std::cerr << "medmesh eval trust: " << made.error().ToString() << "\n";
    return 1;
  }
  auto write = [&](const std::string& name, const std::string& text) {
    medmesh::Status st =
        medmesh::WriteFileAtomically(dir / name, medmesh::AsBytes(text), 0644, env);
    if (!st) std::cerr << "medmesh eval trust: " << st.error().ToString() << "\n";
    return static_cast<bool>(st);
  };
  if (!write("trust.csv", medmesh::eval::TrustSimCsv(rows))) return 1;
  if (!summaries.empty() && !write("trust_seeds.csv", medmesh::eval::TrustSimSeedsCsv(summaries))) {
    return 1;
  }
  for (const auto& figure :
       medmesh::eval::TrustSimFigures(rows, options.convergence_fraction, summaries)) {
    if (!write(figure.name, figure.svg)) return 1;
  }

  // The summary: the whole run (the goals are read over it) and its second half (after the
  // warm-up).
  const auto scope_name = [](const std::string& scope) {
    return scope == "all" ? "whole run" : "2nd half";
  };
  if (summaries.empty()) {
    std::printf("%-9s %-11s %-9s %10s %10s %10s %10s\n", "malicious", "model", "scope", "exposure",
                "mal.allow", "refused", "error");
    for (const auto& r : rows) {
      if (r.scope != "all" && r.scope != "steady") continue;
      std::printf("%8.0f%% %-11s %-9s %9.2f%% %9.2f%% %9.2f%% %10.3f\n", r.malicious_fraction * 100,
                  std::string(medmesh::eval::TrustModelKindName(r.model)).c_str(),
                  scope_name(r.scope), r.exposure_rate * 100, r.malicious_allowed_rate * 100,
                  r.honest_refusal_rate * 100, r.trust_error);
    }
  } else {
    std::printf("mean +- sd [min, max] over %d seeds\n", flags.seeds);
    std::printf("%-9s %-11s %-9s %-30s %-30s\n", "malicious", "model", "scope", "exposure %",
                "refused %");
    for (const auto& s : summaries) {
      std::printf(
          "%8.0f%% %-11s %-9s %5.2f +- %4.2f [%5.2f, %5.2f]   %5.2f +- %4.2f [%5.2f, "
          "%5.2f]\n",
          s.malicious_fraction * 100,
          std::string(medmesh::eval::TrustModelKindName(s.model)).c_str(), scope_name(s.scope),
          s.exposure_rate.mean * 100, s.exposure_rate.sd * 100, s.exposure_rate.min * 100,
          s.exposure_rate.max * 100, s.honest_refusal_rate.mean * 100,
          s.honest_refusal_rate.sd * 100, s.honest_refusal_rate.min * 100,
          s.honest_refusal_rate.max * 100);
    }
  }
  std::printf("wrote %s/trust.csv and the figures (*.svg)\n", flags.out.c_str());
  return 0;
}

}  // namespace

void RegisterTrustEvalCommand(CLI::App& eval) {
  auto flags = std::make_shared<TrustEvalFlags>();
  CLI::App* cmd = eval.add_subcommand(
      "trust",
      "Simulate patients sharing data under the trust model, plain Beta and EigenTrust, with "
      "attackers; write a CSV and SVG plots (docs/trust.md)");
  cmd->add_option("--seed", flags->seed, "Seed of the simulation (same seed, same results)");
  cmd->add_option("--patients", flags->patients, "Patients in the population")
      ->check(CLI::Range(10, 20000));
  cmd->add_option("--rounds", flags->rounds, "Rounds (days) per run")->check(CLI::Range(2, 1000));
  cmd->add_option("--out", flags->out, "Folder for trust.csv and the figures");
  cmd->add_flag("--quick", flags->quick, "200 patients, 30 rounds (a minute or less)");
  cmd->add_option("--thresholds", flags->thresholds,
                  "Trust thresholds of the vitals summary, diagnoses and full record for our "
                  "model and plain Beta (default 0.65 0.7 0.8)")
      ->expected(3)
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--eigentrust-multiples", flags->eigentrust_multiples,
                  "EigenTrust's thresholds as multiples of the average identity's global trust "
                  "for the vitals summary, diagnoses and full record (default 1 1.5 2)")
      ->expected(3)
      ->check(CLI::Range(0.0, 1000.0));
  cmd->add_option("--seeds", flags->seeds,
                  "Run seeds seed .. seed + N - 1; trust_seeds.csv and the sweep figures give the "
                  "mean (and the CSV the spread) over them")
      ->check(CLI::Range(1, 100));
  cmd->add_flag("--onboarding,!--no-onboarding", flags->onboarding,
                "Hospital-approved onboarding as evidence: an intake consultation, rated by the "
                "patient's clinician, when an identity is approved (the default; "
                "--no-onboarding turns it off; docs/trust.md \"Cold start\")");
  cmd->add_flag("--probation,!--no-probation", flags->probation,
                "Our model's probation against on-off behaviour: a burst of bad ratings caps "
                "trust for a while, whatever good evidence follows (the default; --no-probation "
                "turns it off for the ablation; docs/trust.md \"Probation\")");
  cmd->add_option("--fractions", flags->fractions,
                  "Malicious fractions of the sweep (default 0 0.1 0.2 0.3 0.4 0.5); the per-round "
                  "rows and figures are at 0.3")
      ->check(CLI::Range(0.0, 0.9));
  cmd->callback([flags] {
    const int code = RunTrustEval(*flags);
    if (code != 0) throw CLI::RuntimeError(code);
  });
}

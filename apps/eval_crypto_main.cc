// medmesh eval crypto [--iterations N] [--out-dir DIR] [--readings N] [--batch-keys N]
//                     [--rsa-keygen-iterations N] [--slowdown X] [--power-mw P] [--distance-m D]
//
// Times NTRU (four sets, single and batch key generation), X25519, RSA-2048/3072, the hybrid
// seal and session mode on this machine and models the wearable's energy for each
// (docs/crypto_eval.md). Prints the table; writes DIR/crypto_eval.csv and DIR/crypto_eval.svg.
#include "apps/eval_crypto_main.h"

#include <CLI/CLI.hpp>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>

#include "core/bytes.h"
#include "core/clock.h"
#include "core/env.h"
#include "core/random.h"
#include "eval/crypto_eval.h"

namespace {

namespace fs = std::filesystem;

struct EvalCryptoFlags {
  medmesh::eval::CryptoEvalOptions options;
  double power_mw = 30;
  std::string out_dir = "eval-out";
};

medmesh::Status WriteText(const fs::path& file, const std::string& text) {
  const medmesh::ByteView bytes(reinterpret_cast<const std::uint8_t*>(text.data()), text.size());
  return medmesh::WriteFileAtomically(file, bytes, 0644);
}

int Run(EvalCryptoFlags flags) {
  flags.options.cpu.active_power_w = flags.power_mw / 1e3;
  medmesh::SystemRandom random;
  medmesh::SystemClock clock;
  std::cerr << "medmesh eval crypto: measuring (RSA key generation takes a few seconds)...\n";
  auto report = medmesh::eval::RunCryptoEval(flags.options, random, clock);
  if (!report) {
    std::cerr << "medmesh eval crypto: " << report.error().ToString() << "\n";
    return report.error().code() == medmesh::ErrorCode::kInvalidArgument ? 2 : 1;
  }
  std::cout << medmesh::eval::CryptoEvalTable(*report);
  const fs::path dir(flags.out_dir);
  if (auto made = medmesh::Env::Default().CreateDir(dir, 0755); !made) {
    std::cerr << "medmesh eval crypto: " << made.error().ToString() << "\n";
    return 1;
  }
  const fs::path csv = dir / "crypto_eval.csv";
  const fs::path svg = dir / "crypto_eval.svg";
  for (const auto& [file, text] : {std::pair{csv, medmesh::eval::CryptoEvalCsv(*report)},
                                   std::pair{svg, medmesh::eval::CryptoEvalSvg(*report)}}) {
    if (auto written = WriteText(file, text); !written) {
      std::cerr << "medmesh eval crypto: " << written.error().ToString() << "\n";
      return 1;
    }
  }
  std::cout << "\nwrote " << csv.string() << " and " << svg.string() << "\n";
  return 0;
}

}  // namespace

void RegisterEvalCryptoCommand(CLI::App& eval) {
  auto flags = std::make_shared<EvalCryptoFlags>();
  CLI::App* cmd = eval.add_subcommand(
      "crypto",
      "Time NTRU, X25519, RSA, the hybrid seal and session mode on this machine and model the "
      "wearable's energy per operation and per sealed batch (CSV, SVG plot, table)");
  auto& o = flags->options;
  cmd->add_option("--iterations", o.iterations, "Timed runs per row (median kept)")
      ->capture_default_str()
      ->check(CLI::Range(1, 10000));
  cmd->add_option("--rsa-keygen-iterations", o.rsa_keygen_iterations,
                  "Timed runs of RSA key generation (slow)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  cmd->add_option("--readings", o.batch_readings, "Readings per sealed batch")
      ->capture_default_str();
  cmd->add_option("--batch-keys", o.batch_keys, "Keys per NTRU batch key generation call")
      ->capture_default_str();
  cmd->add_option("--slowdown", o.cpu.slowdown, "MCU time = host time x this (energy model)")
      ->capture_default_str();
  cmd->add_option("--power-mw", flags->power_mw, "MCU active power in mW (energy model)")
      ->capture_default_str();
  cmd->add_option("--distance-m", o.distance_m, "Wearable to cloudlet distance in metres")
      ->capture_default_str();
  cmd->add_option("--out-dir", flags->out_dir, "Folder for crypto_eval.csv and crypto_eval.svg")
      ->capture_default_str();
  cmd->callback([flags] {
    const int code = Run(*flags);
    if (code != 0) throw CLI::RuntimeError(code);
  });
}

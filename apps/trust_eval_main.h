// `medmesh eval trust`: the trust model's simulation (src/eval/trust_sim.h, docs/trust.md).
#pragma once

namespace CLI {
class App;
}

// Adds `trust` to the `eval` group: flags --seed, --patients, --rounds, --out DIR, --quick,
// --thresholds V D F (an ablation of the sharing thresholds).
// Writes DIR/trust.csv and DIR/*.svg, prints the summary table; a progress bar on stderr.
// Exits through CLI::RuntimeError(1) when the files cannot be written.
void RegisterTrustEvalCommand(CLI::App& eval);

// `medmesh ids train` and `medmesh eval ids`: the learned IDS classifiers (src/ids/ml,
// docs/ids_models.md).
#pragma once

namespace CLI {
class App;
}

// Adds `ids` with `train` (seeded, reproducible; writes models/ids/*-v1.{ubj,json}) to `app`.
// Exit codes through CLI::RuntimeError: 1 failure, 2 bad usage.
void RegisterIdsCommand(CLI::App& app);

// Adds `ids` to the `eval` group: scores labelled files with the stored models, or runs the
// group-holdout cross-validation (--cv). Exit codes as above.
void RegisterEvalIdsCommand(CLI::App& eval);

// The models folder used when no --models flag is given (the source tree's models/ids, baked in
// at build time).
const char* DefaultIdsModelsDir();

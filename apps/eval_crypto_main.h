// `medmesh eval crypto`: the crypto evaluation of src/eval/crypto_eval.h as a subcommand.
#pragma once

namespace CLI {
class App;
}

// Adds `crypto` to the `eval` subcommand group. It prints the table, writes crypto_eval.csv and
// crypto_eval.svg into --out-dir, and exits through CLI::RuntimeError for a non-zero code (1 a
// measurement or a file failed, 2 bad usage).
void RegisterEvalCryptoCommand(CLI::App& eval);

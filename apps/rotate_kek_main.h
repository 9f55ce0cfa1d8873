// `medmesh keys rotate-kek`: rotates one part's KEK on the running cloud (rotate_kek_main.cc).
#pragma once

#include <functional>

namespace CLI {  // NOLINT(readability-identifier-naming): CLI11's namespace
class App;
}

// Adds `rotate-kek` under the `keys` subcommand; its callback hands the exit code to `done`
// (0 rotated, 1 failed or unreachable, 2 bad usage or config).
void RegisterRotateKekCommand(CLI::App& keys, const std::function<void(int)>& done);

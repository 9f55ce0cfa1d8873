// `medmesh cloud`: the remote cloud service (src/cloud), from a config file plus flags.
#pragma once

namespace CLI {
class App;
}

// Adds the `cloud` subcommand to `app`. Its callback exits through CLI::RuntimeError for a
// non-zero exit code (1 for a failure, 2 for bad usage or config).
void RegisterCloudCommand(CLI::App& app);

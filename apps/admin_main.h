// `medmesh admin`: administration of a cloud's data folder from its machine.
#pragma once

namespace CLI {
class App;
}

// Adds the `admin` subcommand (with `admin create`) to `app`. Its callback exits through
// CLI::RuntimeError for a non-zero exit code (1 for a failure, 2 for bad usage or config).
void RegisterAdminCommand(CLI::App& app);

// `medmesh cloudlet`: the edge service (src/cloudlet), from a config file plus flags.
#pragma once

namespace CLI {
class App;
}

// Adds the `cloudlet` subcommand to `app`. Its callback exits through CLI::RuntimeError for a
// non-zero exit code (1 for a failure, 2 for bad usage or config).
void RegisterCloudletCommand(CLI::App& app);

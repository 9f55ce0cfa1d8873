// `medmesh wearable`: simulated (or imported) wearables uploading to the cloudlets of a config.
#pragma once

namespace CLI {
class App;
}

// Adds the `wearable` subcommand to `app`. Its callback exits through CLI::RuntimeError for a
// non-zero exit code.
void RegisterWearableCommand(CLI::App& app);

// `medmesh demo`: a complete local deployment (one cloud, three cloudlets, a dozen simulated
// wearables in three wards) as child processes of this one. See docs/demo.md.
#pragma once

namespace CLI {
class App;
}

// Adds the `demo` subcommand to `app`. Its callback exits through CLI::RuntimeError for a
// non-zero exit code.
void RegisterDemoCommand(CLI::App& app);

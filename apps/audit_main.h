// `medmesh audit verify`: checks a node's audit log (src/audit) with public material only.
#pragma once

namespace CLI {
class App;
}

// Adds the `audit` subcommand (with `verify`) to `app`. Its callback exits through
// CLI::RuntimeError for a non-zero exit code (1 the log is broken or unreadable, 2 bad usage).
void RegisterAuditCommand(CLI::App& app);

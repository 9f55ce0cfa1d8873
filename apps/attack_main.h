// `medmesh attack`: the red-team scenarios (src/attack, docs/attack.md) against a running
// deployment.
//
//   medmesh attack list
//   medmesh attack run <scenario>|all --cloud URL --cloudlet URL [--deployment DIR]
//                      [--operator-token-file F] [--source 127.0.0.10]
#pragma once

namespace CLI {
class App;
}

// Adds `attack` to `app`. Exit codes through CLI::RuntimeError: 1 if any scenario was MISSED,
// 2 for bad usage (an unknown scenario, a bad URL or address, an unreadable file).
void RegisterAttackCommand(CLI::App& app);

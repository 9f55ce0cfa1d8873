// Waiting for SIGTERM / SIGINT without a signal handler: the signals are blocked in every
// thread (call BlockTerminationSignals() before any thread starts, so that threads inherit the
// mask) and the main thread picks them up synchronously with sigwait(). Nothing runs in signal
// context, so shutting down can use locks, logging and joins freely.
// Thread safety: call both from the main thread; BlockTerminationSignals before threads exist.
#pragma once

#include <chrono>
#include <optional>

namespace medmesh::node {

// Blocks SIGTERM, SIGINT and SIGHUP in the calling thread (and in threads started after it).
void BlockTerminationSignals();

// Waits for one of the blocked signals and returns its number. With a timeout, returns nullopt
// when it runs out first.
std::optional<int> WaitForTerminationSignal(
    std::optional<std::chrono::milliseconds> timeout = std::nullopt);

}  // namespace medmesh::node

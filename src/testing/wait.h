// Waiting on a condition in tests that cross threads or processes: polls `condition` until it
// holds or `timeout` passes. Use it where the work runs elsewhere and has no hook to wait on;
// the timeout only bounds a failing test, so keep it generous (CI may run on a busy machine).
#pragma once

#include <chrono>
#include <thread>

namespace medmesh::testing {

// True once `condition()` holds; false if it still does not after `timeout`.
template <typename Condition>
bool WaitUntil(Condition condition, std::chrono::milliseconds timeout = std::chrono::seconds(60),
               std::chrono::milliseconds poll = std::chrono::milliseconds(5)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return condition();
    std::this_thread::sleep_for(poll);
  }
  return true;
}

}  // namespace medmesh::testing

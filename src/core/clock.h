// Clock: the one seam for time, so tests can inject a fake (src/testing/fake_clock.h).
// Thread safety: implementations must be safe to call from any thread.
#pragma once

#include <chrono>

namespace medmesh {

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock time (for timestamps that leave the process).
  virtual std::chrono::system_clock::time_point Now() const = 0;
  // Monotonic time (for timeouts, rate limits and rekey intervals).
  virtual std::chrono::steady_clock::time_point Monotonic() const = 0;
};

class SystemClock final : public Clock {
 public:
  std::chrono::system_clock::time_point Now() const override {
    return std::chrono::system_clock::now();
  }
  std::chrono::steady_clock::time_point Monotonic() const override {
    return std::chrono::steady_clock::now();
  }
};

}  // namespace medmesh

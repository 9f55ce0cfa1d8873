// FakeClock: a Clock that only moves when a test advances it. Thread-safe.
#pragma once

#include <atomic>
#include <chrono>

#include "core/clock.h"

namespace medmesh::testing {

class FakeClock final : public Clock {
 public:
  explicit FakeClock(std::chrono::system_clock::time_point start =
                         std::chrono::system_clock::time_point(std::chrono::seconds(1'800'000'000)))
      : offset_ns_(0), start_(start) {}
  std::chrono::system_clock::time_point Now() const override {
    return start_ + std::chrono::nanoseconds(offset_ns_.load());
  }
  std::chrono::steady_clock::time_point Monotonic() const override {
    return std::chrono::steady_clock::time_point(std::chrono::nanoseconds(offset_ns_.load()));
  }
  void Advance(std::chrono::nanoseconds d) { offset_ns_ += d.count(); }

 private:
  std::atomic<std::int64_t> offset_ns_;
  std::chrono::system_clock::time_point start_;
};

}  // namespace medmesh::testing

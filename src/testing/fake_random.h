// DeterministicRandom: reproducible bytes for tests (a SplitMix64 stream from a seed).
// Never use outside tests. Not thread-safe.
#pragma once

#include <cstdint>

#include "core/random.h"

namespace medmesh::testing {

class DeterministicRandom final : public Random {
 public:
  explicit DeterministicRandom(std::uint64_t seed = 1) : state_(seed) {}
  void Fill(MutableByteView out) override {
    for (auto& b : out) {
      if (avail_ == 0) {
        std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        buf_ = z ^ (z >> 31);
        avail_ = 8;
      }
      b = static_cast<std::uint8_t>(buf_);
      buf_ >>= 8;
      --avail_;
    }
  }

 private:
  std::uint64_t state_;
  std::uint64_t buf_ = 0;
  int avail_ = 0;
};

}  // namespace medmesh::testing

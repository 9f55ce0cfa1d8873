// Random: the one seam for randomness, so tests can inject deterministic bytes.
// SystemRandom draws from the OS CSPRNG (libsodium's randombytes_buf, i.e. getrandom()).
// Thread safety: implementations must be safe to call from any thread.
#pragma once

#include <cstdint>

#include "core/bytes.h"

namespace medmesh {

class Random {
 public:
  virtual ~Random() = default;
  virtual void Fill(MutableByteView out) = 0;
  Bytes Generate(std::size_t n) {
    Bytes b(n);
    Fill(b);
    return b;
  }
  std::uint64_t NextU64() {
    std::uint8_t b[8];
    Fill(b);
    std::uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = v << 8 | b[i];
    return v;
  }
};

class SystemRandom final : public Random {
 public:
  void Fill(MutableByteView out) override;
};

}  // namespace medmesh

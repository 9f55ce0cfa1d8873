// Constant-time scalar helpers shared by both builds. No branch, index, division or modulo
// depends on the values passed in.
#pragma once

#include <cstdint>

namespace medmesh::ntru {

// x mod 3 for x < 2^16, by multiply-shift: floor(x/3) = (x * 43691) >> 17 is exact there.
inline std::uint16_t Mod3(std::uint32_t x) {
  std::uint32_t q = (x * 43691u) >> 17;
  return static_cast<std::uint16_t>(x - 3 * q);
}
// floor(x/3) for x < 256.
inline std::uint32_t Div3Byte(std::uint32_t x) { return (x * 171u) >> 9; }

// All-ones if x != 0, else 0 (for x < 2^31).
inline std::uint32_t NonZeroMask(std::uint32_t x) {
  return static_cast<std::uint32_t>(-static_cast<std::int32_t>((x | (0u - x)) >> 31));
}

// Hides a value from the optimiser so that mask arithmetic is not turned back into a branch
// or a conditional move (memcheck treats both as secret-dependent).
template <typename T>
inline T ValueBarrier(T x) {
  __asm__("" : "+r"(x));
  return x;
}

}  // namespace medmesh::ntru

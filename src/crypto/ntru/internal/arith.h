// Constant-time scalar helpers of the KEM templates (kem_impl.h). No branch, index, division or
// modulo depends on the values passed in.
//
// In the namespace of the build being compiled (MEDMESH_NTRU_TARGET), like everything of
// kem_impl.h: every build compiles these with its own instruction-set flags, and an inline
// function shared between the builds is one weak symbol, of which the linker keeps one copy --
// possibly compiled with AVX2/BMI2, then run by the portable build on a CPU without them (GCC
// emits such copies out of line at -O0; seen in the test objects).
#pragma once

#include <cstdint>

#if !defined(MEDMESH_NTRU_TARGET)
#error "define MEDMESH_NTRU_TARGET (the build's namespace) before including arith.h"
#endif

namespace medmesh::ntru::MEDMESH_NTRU_TARGET {

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

}  // namespace medmesh::ntru::MEDMESH_NTRU_TARGET

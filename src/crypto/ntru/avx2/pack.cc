// Bit packing with BMI2 (kernels.h): PEXT/PDEP move the logq-bit fields of four 16-bit
// coefficients, or two 30-bit sampling keys, in one instruction. The masks are constants, so
// the timing does not depend on the data even where PEXT/PDEP are microcoded (AMD before Zen 3,
// whose latency depends on the mask).
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "crypto/ntru/avx2/kernels.h"
#include "crypto/ntru/internal/params.h"

namespace medmesh::ntru::avx2 {
namespace {

// The low logq bits of each of four 16-bit lanes.
template <class P>
constexpr std::uint64_t FieldMask() {
  return std::uint64_t{P::kQMask} * 0x0001000100010001ULL;
}

}  // namespace

template <class P>
void PackSqGroups(std::uint8_t* out, const std::uint16_t* a) {
  constexpr int kL = P::kLogQ;
  constexpr int kHalf = 4 * kL;  // bits of four packed coefficients (44, 48 or 52)
  constexpr std::uint64_t kMask = FieldMask<P>();
  for (int g = 0; g < (P::kN - 1) / 8; ++g) {
    std::uint64_t w0;
    std::uint64_t w1;
    std::memcpy(&w0, a + 8 * g, 8);
    std::memcpy(&w1, a + 8 * g + 4, 8);
    const std::uint64_t lo = _pext_u64(w0, kMask);
    const std::uint64_t hi = _pext_u64(w1, kMask);
    const std::uint64_t first = lo | (hi << kHalf);
    const std::uint64_t second = hi >> (64 - kHalf);  // the last 8 kL - 64 bits
    std::memcpy(out + g * kL, &first, 8);
    std::memcpy(out + g * kL + 8, &second, kL - 8);
  }
}

template <class P>
void UnpackSqGroups(std::uint16_t* a, const std::uint8_t* in) {
  constexpr int kL = P::kLogQ;
  constexpr int kHalf = 4 * kL;
  constexpr std::uint64_t kMask = FieldMask<P>();
  for (int g = 0; g < (P::kN - 1) / 8; ++g) {
    std::uint64_t first;
    std::uint64_t last;
    std::memcpy(&first, in + g * kL, 8);
    // The group's last 8 bytes, shifted down to its bytes 8 .. kL-1: one load that stays in the
    // group (a kL-8 byte copy into a zeroed word went through the stack, and reloading the
    // word stalled on store forwarding every group).
    std::memcpy(&last, in + g * kL + kL - 8, 8);
    const std::uint64_t second = last >> (8 * (16 - kL));
    // PDEP takes the low 4 kL bits of its source, so the first half needs no masking.
    const std::uint64_t w0 = _pdep_u64(first, kMask);
    const std::uint64_t w1 = _pdep_u64((first >> kHalf) | (second << (64 - kHalf)), kMask);
    std::memcpy(a + 8 * g, &w0, 8);
    std::memcpy(a + 8 * g + 4, &w1, 8);
  }
}

template <class P, int kBlockStride>
void FixedTypeKeys(std::int32_t* s, const std::uint8_t* u) {
  // Each 32-bit lane receives 30 bits of the stream shifted left by 2.
  constexpr std::uint64_t kKeyMask = 0xfffffffcfffffffcULL;
  const auto four = [](std::int32_t* o, const std::uint8_t* b) {  // keys from 15 bytes
    std::uint64_t x0;
    std::uint64_t x1;
    std::memcpy(&x0, b, 8);      // stream bits 0 .. 63: keys 0 and 1 are bits 0 .. 59
    std::memcpy(&x1, b + 7, 8);  // stream bits 56 .. 119: keys 2 and 3 are bits 60 .. 119
    const std::uint64_t k01 = _pdep_u64(x0, kKeyMask);
    const std::uint64_t k23 = _pdep_u64(x1 >> 4, kKeyMask);
    std::memcpy(o, &k01, 8);
    std::memcpy(o + 2, &k23, 8);
  };
  constexpr int kFours = (P::kN - 1) / 4;
  if constexpr (kBlockStride == 8) {
    for (int i = 0; i < kFours; ++i) four(s + 4 * i, u + 15 * i);
  } else {
    for (int b = 0; b < kFours / 2; ++b) {  // keys 8b .. 8b + 7 from 30 bytes
      four(s + b * kBlockStride, u + 30 * b);
      four(s + b * kBlockStride + 4, u + 30 * b + 15);
    }
    if constexpr (kFours % 2 != 0) four(s + kFours / 2 * kBlockStride, u + 15 * (kFours - 1));
  }
}

#define MEDMESH_NTRU_PACK_INSTANTIATE(P)                                 \
  template void PackSqGroups<P>(std::uint8_t*, const std::uint16_t*);    \
  template void UnpackSqGroups<P>(std::uint16_t*, const std::uint8_t*);  \
  template void FixedTypeKeys<P, 8>(std::int32_t*, const std::uint8_t*); \
  template void FixedTypeKeys<P, 64>(std::int32_t*, const std::uint8_t*);
MEDMESH_NTRU_PACK_INSTANTIATE(Hps2048509)
MEDMESH_NTRU_PACK_INSTANTIATE(Hps2048677)
MEDMESH_NTRU_PACK_INSTANTIATE(Hps4096821)
MEDMESH_NTRU_PACK_INSTANTIATE(Hrss701)
#undef MEDMESH_NTRU_PACK_INSTANTIATE

}  // namespace medmesh::ntru::avx2

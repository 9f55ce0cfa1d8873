// SortInt32 (kernels.h): a bitonic sorting network on 8-lane vectors of int32 with AVX2
// min/max (vpminsd/vpmaxsd, signed as the Fixed_Type sampler needs).
//
// Layout: element e of the network lives in vector e % kP, lane e / kP (kP = kLen / 8), so a
// compare-exchange at distance j < kP pairs two whole vectors (vertical min/max, 8 pairs per
// two instructions) and only the 6 stages with j >= kP pair lanes of one vector (a fixed
// shuffle and a blend). The input order does not matter to a sort, so the vectors are loaded
// as they lie in memory; the result is stored in rank order by 8 x 8 transposes.
//
// The network is unrolled at compile time over the merge size k and the distance j: every
// direction and blend mask is an immediate, and the only branches depend on k, j and the
// vector index, never on the data.
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "crypto/ntru/avx2/kernels.h"

namespace medmesh::ntru::avx2 {
namespace {

using V = __m256i;

inline V Min(V a, V b) { return _mm256_min_epi32(a, b); }
inline V Max(V a, V b) { return _mm256_max_epi32(a, b); }

// Lane l of the result is lane l ^ kLaneBit of v.
template <int kLaneBit>
inline V SwapLanes(V v) {
  if constexpr (kLaneBit == 1) {
    return _mm256_shuffle_epi32(v, 0xb1);
  } else if constexpr (kLaneBit == 2) {
    return _mm256_shuffle_epi32(v, 0x4e);
  } else {
    static_assert(kLaneBit == 4);
    return _mm256_permute2x128_si256(v, v, 0x01);
  }
}

// Bit l set for the lanes l with (l & kBit) != 0 (kBit = 0: none).
constexpr int LaneMask(int bit) {
  int m = 0;
  for (int l = 0; l < 8; ++l) m |= ((l & bit) != 0 ? 1 : 0) << l;
  return m;
}

// Transposes the 8 x 8 matrix of int32 whose row i is r[i], in place.
inline void Transpose8x8(V r[8]) {
  V t[8];
  for (int k = 0; k < 4; ++k) {
    t[2 * k] = _mm256_unpacklo_epi32(r[2 * k], r[2 * k + 1]);
    t[2 * k + 1] = _mm256_unpackhi_epi32(r[2 * k], r[2 * k + 1]);
  }
  V u[8];
  for (int m = 0; m < 2; ++m) {
    u[4 * m + 0] = _mm256_unpacklo_epi64(t[4 * m], t[4 * m + 2]);
    u[4 * m + 1] = _mm256_unpackhi_epi64(t[4 * m], t[4 * m + 2]);
    u[4 * m + 2] = _mm256_unpacklo_epi64(t[4 * m + 1], t[4 * m + 3]);
    u[4 * m + 3] = _mm256_unpackhi_epi64(t[4 * m + 1], t[4 * m + 3]);
  }
  for (int c = 0; c < 4; ++c) {
    r[c] = _mm256_permute2x128_si256(u[c], u[4 + c], 0x20);
    r[c + 4] = _mm256_permute2x128_si256(u[c], u[4 + c], 0x31);
  }
}

template <int kLen>
class Network {
 public:
  static constexpr int kP = kLen / 8;
  static_assert(kLen == 512 || kLen == 1024);

  static void Sort(V* v) { Merges<2>(v); }

 private:
  template <int kK>
  static void Merges(V* v) {
    Steps<kK, kK / 2>(v);
    if constexpr (kK < kLen) Merges<2 * kK>(v);
  }

  template <int kK, int kJ>
  static void Steps(V* v) {
    Step<kK, kJ>(v);
    if constexpr (kJ > 1) Steps<kK, kJ / 2>(v);
  }

  // One compare-exchange stage of merge size kK at distance kJ. Element e sorts descending in
  // this merge iff bit kK of e is set: bit kK of the vector index p while kK < kP, bit kK / kP
  // of the lane once kK >= kP.
  template <int kK, int kJ>
  static void Step(V* v) {
    if constexpr (kJ < kP && kK < kP) {
      for (int base = 0; base < kP; base += 2 * kK) {
        for (int blk = base; blk < base + kK; blk += 2 * kJ) {  // ascending
#pragma GCC unroll 8
          for (int p = blk; p < blk + kJ; ++p) {
            const V lo = Min(v[p], v[p + kJ]);
            v[p + kJ] = Max(v[p], v[p + kJ]);
            v[p] = lo;
          }
        }
        for (int blk = base + kK; blk < base + 2 * kK; blk += 2 * kJ) {  // descending
#pragma GCC unroll 8
          for (int p = blk; p < blk + kJ; ++p) {
            const V hi = Max(v[p], v[p + kJ]);
            v[p + kJ] = Min(v[p], v[p + kJ]);
            v[p] = hi;
          }
        }
      }
    } else if constexpr (kJ < kP) {
      constexpr int kDesc = LaneMask(kK / kP);
      for (int blk = 0; blk < kP; blk += 2 * kJ) {
#pragma GCC unroll 8
        for (int p = blk; p < blk + kJ; ++p) {
          const V lo = Min(v[p], v[p + kJ]);
          const V hi = Max(v[p], v[p + kJ]);
          v[p] = _mm256_blend_epi32(lo, hi, kDesc);
          v[p + kJ] = _mm256_blend_epi32(hi, lo, kDesc);
        }
      }
    } else {
      // Partners are lanes l and l ^ kJ / kP of one vector; lane l keeps the minimum iff it is
      // the lower of the two XOR the merge sorts descending there.
      constexpr int kLaneBit = kJ / kP;
      constexpr int kKeepMax = LaneMask(kLaneBit) ^ LaneMask(kK / kP);
#pragma GCC unroll 8
      for (int p = 0; p < kP; ++p) {
        const V partner = SwapLanes<kLaneBit>(v[p]);
        v[p] = _mm256_blend_epi32(Min(v[p], partner), Max(v[p], partner), kKeepMax & 0xff);
      }
    }
  }
};

}  // namespace

template <int kLen>
void SortInt32(std::int32_t* x) {
  constexpr int kP = kLen / 8;
  V v[kP];
  for (int p = 0; p < kP; ++p) v[p] = _mm256_loadu_si256(reinterpret_cast<const V*>(x + 8 * p));
  Network<kLen>::Sort(v);
  // Rank e = l * kP + p is lane l of v[p]: transposing 8 vectors at a time gives, for each
  // lane l, 8 consecutive ranks.
  for (int g = 0; g < kP; g += 8) {
    Transpose8x8(v + g);
    for (int l = 0; l < 8; ++l)
      _mm256_storeu_si256(reinterpret_cast<V*>(x + std::ptrdiff_t{l} * kP + g), v[g + l]);
  }
  // The vectors held secrets: clear them (the compiler cannot drop a volatile-free store to
  // an array it then reads through an asm barrier).
  for (int p = 0; p < kP; ++p) v[p] = _mm256_setzero_si256();
  __asm__ __volatile__("" : : "r"(v) : "memory");
}

template void SortInt32<512>(std::int32_t*);
template void SortInt32<1024>(std::int32_t*);

}  // namespace medmesh::ntru::avx2

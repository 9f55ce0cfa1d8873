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

  // The stages of merge kK from distance kJ down to 1. Vertical stages go three at a time
  // (two or one at the end): the 8 vectors that three consecutive distances pair with each
  // other are loaded once, merged in registers and stored once.
  template <int kK, int kJ>
  static void Steps(V* v) {
    if constexpr (kJ >= kP) {
      Step<kK, kJ>(v);
      Steps<kK, kJ / 2>(v);
    } else if constexpr (kJ >= 4) {
      Block<kK, kJ, 3>(v);
      if constexpr (kJ >= 8) Steps<kK, kJ / 8>(v);
    } else if constexpr (kJ == 2) {
      Block<kK, 2, 2>(v);
    } else if constexpr (kJ == 1) {
      Block<kK, 1, 1>(v);
    }
  }

  // Orders (a, b): ascending, descending, or per lane (descending where kLaneDesc has a bit).
  template <int kLaneDesc>
  static void Exchange(V& a, V& b, bool desc) {
    const V lo = Min(a, b);
    const V hi = Max(a, b);
    if constexpr (kLaneDesc != 0) {
      a = _mm256_blend_epi32(lo, hi, kLaneDesc);
      b = _mm256_blend_epi32(hi, lo, kLaneDesc);
    } else if (desc) {  // desc depends on the merge size and vector index only
      a = hi;
      b = lo;
    } else {
      a = lo;
      b = hi;
    }
  }

  // kDepth vertical stages of merge kK at distances kJ, kJ / 2, ... (all < kP), on groups of
  // 2^kDepth vectors v[base + i * kStep].
  template <int kK, int kJ, int kDepth>
  static void Block(V* v) {
    constexpr int kStep = kJ >> (kDepth - 1);
    constexpr int kN = 1 << kDepth;
    // For kK >= kP the direction is per lane (bit kK / kP of the lane), else per vector.
    constexpr int kLaneDesc = kK >= kP ? LaneMask(kK / kP) : 0;
    for (int hi = 0; hi < kP; hi += 2 * kJ) {
      for (int lo = 0; lo < kStep; ++lo) {
        const int base = hi + lo;
        const bool desc = kK < kP && (base & kK) != 0;  // uniform over the group: kK > kJ
        V r[kN];
#pragma GCC unroll 8
        for (int i = 0; i < kN; ++i) r[i] = v[base + i * kStep];
#pragma GCC unroll 3
        for (int s = 0; s < kDepth; ++s) {
          const int dist = 1 << (kDepth - 1 - s);
#pragma GCC unroll 8
          for (int i = 0; i < kN; ++i) {
            if ((i & dist) == 0) Exchange<kLaneDesc>(r[i], r[i + dist], desc);
          }
        }
#pragma GCC unroll 8
        for (int i = 0; i < kN; ++i) v[base + i * kStep] = r[i];
      }
    }
  }

  // One compare-exchange stage of merge size kK at distance kJ. Element e sorts descending in
  // this merge iff bit kK of e is set: bit kK of the vector index p while kK < kP, bit kK / kP
  // of the lane once kK >= kP.
  template <int kK, int kJ>
  static void Step(V* v) {
    static_assert(kJ >= kP);
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

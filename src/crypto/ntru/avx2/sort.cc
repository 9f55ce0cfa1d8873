// SortInt32 (kernels.h): a bitonic sorting network on 8-lane vectors of int32 with AVX2
// min/max (vpminsd/vpmaxsd, signed as the Fixed_Type sampler needs).
//
// Layout: element e of the network lives in vector e % kP, lane e / kP (kP = kLen / 8), so a
// compare-exchange at distance j < kP pairs two whole vectors (vertical min/max, 8 pairs per
// two instructions) and only the 6 stages with j >= kP pair lanes of one vector (a fixed
// shuffle and a blend). The input order does not matter to a sort, so the vectors are loaded
// as they lie in memory; the result is stored in rank order by 8 x 8 transposes.
//
// Once a merge is as long as a lane's share of elements (k >= kP), its direction is a bit of
// the lane: the elements it sorts descending are complemented for that merge (~x reverses the
// signed order), so its compare-exchanges need no per-lane blend (ADR 0063).
//
// The network is unrolled at compile time over the merge size k and the distance j: every
// complement and blend mask is an immediate, and the only branches depend on k, j and the
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

// All-ones in the lanes l with bit l of kMask set.
template <int kMask>
inline V LaneOnes() {
  constexpr auto on = [](int l) { return (kMask >> l & 1) != 0 ? -1 : 0; };
  return _mm256_setr_epi32(on(0), on(1), on(2), on(3), on(4), on(5), on(6), on(7));
}

// x, with the lanes of kMask complemented (kMask = 0: x itself).
template <int kMask>
inline V Complement(V x) {
  if constexpr (kMask == 0) {
    return x;
  } else {
    return _mm256_xor_si256(x, LaneOnes<kMask>());
  }
}

template <int kLen>
class Network {
 public:
  static constexpr int kP = kLen / 8;
  static_assert(kLen == 512 || kLen == 1024);

  static void Sort(V* v) { Merges<2>(v); }

 private:
  // The lanes whose elements merge kK sorts descending: bit kK / kP of the lane once kK >= kP
  // (before that the direction is a bit of the vector index; the last merge is ascending).
  static constexpr int DescLanes(int k) { return k >= kP && k < kLen ? LaneMask(k / kP) : 0; }

  // Merge kK on the elements of DescLanes(kK) complemented: ~x reverses the signed order, so
  // sorting ~x ascending sorts x descending, and every compare-exchange of the merge keeps the
  // minimum below without a per-lane blend. Between two merges the complemented lanes change
  // by one XOR, done as the merge's first stage loads its vectors (kPre); the last merge
  // complements nothing, so the result is the plain values.
  template <int kK>
  static void Merges(V* v) {
    Steps<kK, kK / 2, DescLanes(kK / 2) ^ DescLanes(kK)>(v);
    if constexpr (kK < kLen) Merges<2 * kK>(v);
  }

  // The stages of merge kK from distance kJ down to 1; the first complements kPre. Vertical
  // stages go three at a time (two or one at the end): the 8 vectors that three consecutive
  // distances pair with each other are loaded once, merged in registers and stored once. The
  // stages within a vector (distances kJ >= kP, the first ones of a merge) are done on each
  // vector as the first of those blocks loads it (kLane: the first such distance, 0: none).
  // (Four stages on 16 vectors took fewer instructions for 1024 keys but spilled keys to the
  // stack, outside the wipe below: ADR 0063.)
  template <int kK, int kJ, int kPre = 0, int kLane = 0>
  static void Steps(V* v) {
    if constexpr (kJ >= kP) {
      Steps<kK, kP / 2, kPre, kJ>(v);
    } else if constexpr (kJ >= 4) {
      Block<kK, kJ, 3, kPre, kLane>(v);
      if constexpr (kJ >= 8) Steps<kK, kJ / 8>(v);
    } else if constexpr (kJ == 2) {
      Block<kK, 2, 2, kPre, kLane>(v);
    } else if constexpr (kJ == 1) {
      Block<kK, 1, 1, kPre, kLane>(v);
    }
  }

  // Orders (a, b): ascending, or descending where desc (merges below kP only).
  static void Exchange(V& a, V& b, bool desc) {
    const V lo = Min(a, b);
    const V hi = Max(a, b);
    if (desc) {  // desc depends on the merge size and vector index only
      a = hi;
      b = lo;
    } else {
      a = lo;
      b = hi;
    }
  }

  // kDepth vertical stages of merge kK at distances kJ, kJ / 2, ... (all < kP), on groups of
  // 2^kDepth vectors v[base + i * kStep]; each loaded vector first complements kPre and goes
  // through the in-vector stages kLane, kLane / 2, ..., kP.
  template <int kK, int kJ, int kDepth, int kPre, int kLane>
  static void Block(V* v) {
    constexpr int kStep = kJ >> (kDepth - 1);
    constexpr int kN = 1 << kDepth;
    for (int hi = 0; hi < kP; hi += 2 * kJ) {
      for (int lo = 0; lo < kStep; ++lo) {
        const int base = hi + lo;
        // For kK >= kP the direction is per lane and taken care of by the complement.
        const bool desc = kK < kP && (base & kK) != 0;  // uniform over the group: kK > kJ
        V r[kN];
#pragma GCC unroll 8
        for (int i = 0; i < kN; ++i) r[i] = InVector<kLane>(Complement<kPre>(v[base + i * kStep]));
#pragma GCC unroll 3
        for (int s = 0; s < kDepth; ++s) {
          const int dist = 1 << (kDepth - 1 - s);
#pragma GCC unroll 8
          for (int i = 0; i < kN; ++i) {
            if ((i & dist) == 0) Exchange(r[i], r[i + dist], desc);
          }
        }
#pragma GCC unroll 8
        for (int i = 0; i < kN; ++i) v[base + i * kStep] = r[i];
      }
    }
  }

  // The compare-exchange stages at distances kJ, kJ / 2, ..., kP (kJ = 0: none) on one vector:
  // partners are lanes l and l ^ j / kP, and (the descending lanes being complemented) the
  // higher lane of each pair keeps the maximum.
  template <int kJ>
  static V InVector(V x) {
    if constexpr (kJ < kP) {
      return x;
    } else {
      constexpr int kLaneBit = kJ / kP;
      const V partner = SwapLanes<kLaneBit>(x);
      return InVector<kJ / 2>(
          _mm256_blend_epi32(Min(x, partner), Max(x, partner), LaneMask(kLaneBit)));
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

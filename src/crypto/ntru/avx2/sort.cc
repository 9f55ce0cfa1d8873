// SortInt32 (kernels.h): a bitonic sorting network on 8-lane vectors of int32 with AVX2
// min/max (vpminsd/vpmaxsd, signed as the Fixed_Type sampler needs).
//
// A length that is not a power of two (676 or 820 keys, rounded up to 680 and 824) is sorted in
// pieces (ADR 0068): the largest power of two by one network, the rest the same way (down to a
// last piece of at most 64, sorted by the 64-network with the missing elements as INT32_MAX),
// and the sorted pieces merged back to front by MergeSorted, which needs only the compare-
// exchanges between real elements. 680 keys take about two thirds of the 1024-network.
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
  static_assert(kLen >= 64 && kLen <= 1024 && (kLen & (kLen - 1)) == 0);

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
    // One group at a time: unrolled over the groups (small kP), GCC interleaves them and
    // spills vectors of keys to the stack, outside the wipe.
#pragma GCC unroll 1
    for (int hi = 0; hi < kP; hi += 2 * kJ) {
#pragma GCC unroll 1
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

// Sorts the first kValid elements of x (a multiple of 8, at most kLen) by Network<kLen>, the
// other kLen - kValid elements of the network being INT32_MAX (no key is: its type bits are
// never 3), which sort last: ranks 0 .. kValid - 1 are stored back.
template <int kLen, int kValid>
void NetworkSort(std::int32_t* x) {
  constexpr int kP = kLen / 8;
  static_assert(kValid % 8 == 0 && kValid > 0 && kValid <= kLen);
  V v[kP];
  for (int p = 0; p < kP; ++p) {
    v[p] = p < kValid / 8 ? _mm256_loadu_si256(reinterpret_cast<const V*>(x + 8 * p))
                          : _mm256_set1_epi32(INT32_MAX);
  }
  Network<kLen>::Sort(v);
  // Rank e = l * kP + p is lane l of v[p]: transposing 8 vectors at a time gives, for each
  // lane l, 8 consecutive ranks (all below kValid or none: both are multiples of 8).
  for (int g = 0; g < kP; g += 8) {
    Transpose8x8(v + g);
    for (int l = 0; l < 8; ++l) {
      const int rank = l * kP + g;
      if (rank < kValid) _mm256_storeu_si256(reinterpret_cast<V*>(x + rank), v[g + l]);
    }
  }
  // The vectors held secrets: clear them (the compiler cannot drop a volatile-free store to
  // an array it then reads through an asm barrier).
  for (int p = 0; p < kP; ++p) v[p] = _mm256_setzero_si256();
  __asm__ __volatile__("" : : "r"(v) : "memory");
}

constexpr int FloorPow2(int v) {
  int p = 1;
  while (2 * p <= v) p *= 2;
  return p;
}
constexpr int CeilPow2(int v) {
  int p = 1;
  while (p < v) p *= 2;
  return p;
}
constexpr int Log2(int v) {
  int l = 0;
  while ((1 << l) < v) ++l;
  return l;
}

inline V Load(const std::int32_t* x, int vec) {
  return _mm256_loadu_si256(reinterpret_cast<const V*>(x + 8 * vec));
}
inline void Store(std::int32_t* x, int vec, V v) {
  _mm256_storeu_si256(reinterpret_cast<V*>(x + 8 * vec), v);
}

// Element order reversed within the vector.
inline V Reverse(V v) {
  return _mm256_permutevar8x32_epi32(v, _mm256_setr_epi32(7, 6, 5, 4, 3, 2, 1, 0));
}

// The half-cleaners at lane distances 4, 2 and 1 (minimum to the lower lane).
inline V CleanLanes(V x) {
  V t = SwapLanes<4>(x);
  x = _mm256_blend_epi32(Min(x, t), Max(x, t), LaneMask(4));
  t = SwapLanes<2>(x);
  x = _mm256_blend_epi32(Min(x, t), Max(x, t), LaneMask(2));
  t = SwapLanes<1>(x);
  return _mm256_blend_epi32(Min(x, t), Max(x, t), LaneMask(1));
}

// Sorts a bitonic sequence of kN vectors (8 kN elements in rank order, kN a power of two)
// ascending by half-cleaners (minimum to the lower index) at vector distances kN / 2, ..., 1,
// then within each vector. Vectors kValid .. kN - 1 are INT32_MAX and not in memory: a half-
// cleaner never moves a maximum down from the top, so every compare-exchange that reaches them
// is dropped (whole groups, or vectors read as INT32_MAX in the group at the boundary).
// The vector stages go up to three at a time on groups of 8 vectors loaded once; the last group
// of stages also cleans the lanes before it stores.
template <int kN, int kValid, int kJ = kN / 2>
void BitonicMerge(std::int32_t* x) {
  constexpr int kStages = kJ > 0 ? Log2(kJ) + 1 : 0;  // distances kJ .. 1
  if constexpr (kStages == 0) {
    for (int p = 0; p < kValid; ++p) Store(x, p, CleanLanes(Load(x, p)));
  } else {
    // The first group takes the stages beyond a multiple of three, so the last group has three
    // (or all of them).
    // (static: Clang wants a plain constexpr local captured when the lambda sizes an array.)
    static constexpr int kDepth = kStages % 3 == 0 ? 3 : kStages % 3;
    static constexpr bool kLast = kDepth == kStages;
    static constexpr int kRows = 1 << kDepth;
    static constexpr int kStep = kJ >> (kDepth - 1);
    const auto group = [x](int base, int valid_rows) __attribute__((always_inline)) {
      V r[kRows];
#pragma GCC unroll 8
      for (int i = 0; i < kRows; ++i)
        r[i] = i < valid_rows ? Load(x, base + i * kStep) : _mm256_set1_epi32(INT32_MAX);
#pragma GCC unroll 3
      for (int s = 0; s < kDepth; ++s) {
        const int dist = kRows >> (s + 1);
#pragma GCC unroll 8
        for (int i = 0; i < kRows; ++i) {
          if ((i & dist) == 0) {
            const V lo = Min(r[i], r[i + dist]);
            r[i + dist] = Max(r[i], r[i + dist]);
            r[i] = lo;
          }
        }
      }
#pragma GCC unroll 8
      for (int i = 0; i < kRows; ++i) {
        if (i < valid_rows) Store(x, base + i * kStep, kLast ? CleanLanes(r[i]) : r[i]);
      }
    };
    for (int hi = 0; hi < kValid; hi += 2 * kJ) {
      for (int lo = 0; lo < kStep && hi + lo < kValid; ++lo) {
        const int base = hi + lo;
        const int rows = (kValid - base + kStep - 1) / kStep;  // rows of the group below kValid
        if (rows >= kRows) {
          group(base, kRows);
        } else {
          group(base, rows);
        }
      }
    }
    if constexpr (!kLast) BitonicMerge<kN, kValid, (kJ >> kDepth)>(x);
  }
}

// x[0, kA) and x[kA, kA + kB) sorted ascending (kA a power of two, kB a multiple of 8, at most
// kA) -> x[0, kA + kB) sorted. As the bitonic merge of [A, INT32_MAX x (kA - kB), B reversed]
// (ascending, then descending): its first half-cleaner (distance kA) pairs A's last kB elements
// with B reversed and nothing else (the rest meets INT32_MAX); its low half L (A's first
// kA - kB elements and the minima) and its high half (the maxima M after kA - kB times
// INT32_MAX) are bitonic, and all of L is at most all of M. So L is sorted by a bitonic merge of
// kA elements and M, kept in B's place (reversed, which leaves it bitonic), by one of kB
// elements with INT32_MAX above. The pair of A's vector and B's vector in reverse works in B's
// order: A's vector reversed, its minima reversed back.
template <int kA, int kB>
void MergeSorted(std::int32_t* x) {
  constexpr int kVa = kA / 8;
  constexpr int kVb = kB / 8;
  static_assert(kB % 8 == 0 && kB > 0 && kB <= kA && (kA & (kA - 1)) == 0);
  std::int32_t* b = x + kA;
  for (int j = 0; j < kVb; ++j) {
    const int va = kVa - kVb + j;  // A's vector against B's vector kVb - 1 - j, reversed
    const V ar = Reverse(Load(x, va));
    const V bv = Load(b, kVb - 1 - j);
    Store(x, va, Reverse(Min(ar, bv)));
    Store(b, kVb - 1 - j, Max(ar, bv));  // M reversed: slot kVb - 1 - j holds M's vector j
  }
  BitonicMerge<kVa, kVa>(x);
  BitonicMerge<CeilPow2(kVb), kVb>(b);
}

// Sorts x[0, kLen) (kLen a multiple of 8): one network for a power of two, else the largest
// power of two below kLen by a network and the rest recursively (a rest of at most 64 by the
// 64-network), then MergeSorted.
template <int kLen>
void SortPieces(std::int32_t* x) {
  static_assert(kLen % 8 == 0 && kLen >= 8);
  constexpr int kA = FloorPow2(kLen);
  if constexpr (kLen <= 64) {
    NetworkSort<64, kLen>(x);
  } else if constexpr (kA == kLen) {
    NetworkSort<kLen, kLen>(x);
  } else {
    constexpr int kB = kLen - kA;
    NetworkSort<kA, kA>(x);
    SortPieces<kB>(x + kA);
    MergeSorted<kA, kB>(x);
  }
}

// Zeroes kBytes of the stack just below the caller's frame (its own frame; not inlined).
// Vector stores, 8 per barrier (a plain loop becomes rep stosq, which starts slowly).
template <int kBytes>
__attribute__((noinline)) void ScrubBelow() {
  constexpr int kVecs = kBytes / 32;
  static_assert(kVecs % 8 == 0);
  V area[kVecs];
  for (int i = 0; i < kVecs; i += 8) {
#pragma GCC unroll 8
    for (int k = 0; k < 8; ++k) _mm256_store_si256(area + i + k, _mm256_setzero_si256());
    __asm__ __volatile__("" : : "r"(area + i) : "memory");
  }
}

}  // namespace

template <int kLen>
void SortInt32(std::int32_t* x) {
  SortPieces<kLen>(x);
  if constexpr (FloorPow2(kLen) != kLen) {
    // The smaller networks of the pieces (kP <= 32) make GCC 12 spill a few vectors of keys
    // (-fstack-usage; three for 128 elements, in the red zone below their arrays), outside
    // their wipe. Every piece runs right below this frame, so zero the depth of the smaller
    // pieces' frames: an array of at most half the largest network's, its red zone, a margin.
    // (The largest network, 512 elements, spills nothing and wipes its array itself.)
    ScrubBelow<(FloorPow2(kLen) * 2 + 512 + 255) / 256 * 256>();
  }
}

template void SortInt32<512>(std::int32_t*);
template void SortInt32<680>(std::int32_t*);
template void SortInt32<824>(std::int32_t*);
template void SortInt32<1024>(std::int32_t*);
template void SortInt32<72>(std::int32_t*);    // tests: a piece of 8 after 64
template void SortInt32<200>(std::int32_t*);   // tests: 128 + 64 + 8
template void SortInt32<1016>(std::int32_t*);  // tests: every level of the recursion

}  // namespace medmesh::ntru::avx2

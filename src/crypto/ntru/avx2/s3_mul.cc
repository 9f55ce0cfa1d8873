// S3MulPrepared / PrepareS3 (kernels.h): multiplication in F_3[x] / (Phi_n) on byte lanes, for
// batch key generation's mod-3 chain (ADR 0057).
//
// F_3 needs 2 bits per coefficient; the mod-q kernel (poly_mul.cc) spends 16. Here every
// coefficient is a signed byte. A polynomial of at most 8m coefficients (m = 64, 88, 88, 104
// for n = 509, 677, 701, 821) is split by three Karatsuba levels into 27 pieces of m ("the
// horizontal levels"), the 27 pieces are transposed into m vectors of 32 byte lanes (lane j =
// piece j, lanes 27..31 zero), and three more Karatsuba levels run on whole vectors
// ("vertical") down to 27 schoolbooks of s = m/8 rows, each with the s rows of one operand in
// registers: 27 s^2 lane-wise products (3267, 3267, 4563 for n = 677, 701, 821) instead of the
// mod-q kernel's 63 blocks of 16 lanes. For n = 509 two vertical levels, down to 9 schoolbooks
// of s = m/4 = 16 rows (2304 products instead of 1728, but one level of interpolation, stores
// and reloads fewer: ADR 0066); Shape::kL is the number of vertical levels.
//
// Trits: an operand's coefficients are kept in {-1, 0, 1} at every level (a sum of two trits
// is mapped back by a table lookup, vpshufb), so a lane-wise product of trits is one vpsignb.
// Products grow: a schoolbook row is at most s in absolute value; the outputs of vertical
// level 2 (at most 3 s + ... <= 117) are reduced (Reduce: a table lookup per nibble) to
// [-2, 2], and so are the middle terms of the two outer horizontal levels, so no byte leaves
// [-127, 127] (tools/ntru_s3_bounds.py follows these steps on worst-case bounds per position:
// at most 84, 99, 99, 117 for the four sets). Byte arithmetic is then exact integer
// arithmetic, and since only residues mod 3 matter, the result is a*b mod 3 exactly.
//
// PrepareS3 does the operand's half (conversion, horizontal evaluation, transposes, vertical
// evaluation: 3^kL groups of s vectors); S3MulPrepared the products, the interpolations, the
// transposes back, the fold mod x^n - 1 and the reduction mod (3, Phi_n) to {0, 1, 2}.
//
// Constant time: no branch or address depends on a coefficient (loop bounds and offsets are
// compile-time constants of the parameter set).
#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <utility>

#include "crypto/ntru/avx2/kernels.h"
#include "crypto/ntru/internal/params.h"

namespace medmesh::ntru::avx2 {
namespace {

using V = __m256i;

inline V LoadU(const std::uint8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const V*>(p)); }
inline void StoreU(std::uint8_t* p, V v) { _mm256_storeu_si256(reinterpret_cast<V*>(p), v); }
inline V Add(V a, V b) { return _mm256_add_epi8(a, b); }
inline V Sub(V a, V b) { return _mm256_sub_epi8(a, b); }
inline V Zero() { return _mm256_setzero_si256(); }

constexpr int RoundUp32(int x) { return (x + 31) / 32 * 32; }

// The shape of the product for the parameter set P.
template <class P>
struct Shape {
  static constexpr int kM = PreparedS3<P>::kPiece;           // piece length
  static constexpr int kL = PreparedS3<P>::kVerticalLevels;  // 2 or 3
  static constexpr int kG = PreparedS3<P>::kGroups;          // 3^kL groups of kS rows
  static constexpr int kS = PreparedS3<P>::kRows;            // schoolbook length m / 2^kL
  static constexpr int kCols = RoundUp32(kM);  // coefficients a prepare transpose reads
  // Rows of a vertical product (2m - 1, zero-padded to whole transposes and so that
  // InterpolateH may read a piece product RoundUp32(m) bytes past its middle).
  static constexpr int kProdRows =
      RoundUp32(2 * kM > kM + RoundUp32(kM) ? 2 * kM : kM + RoundUp32(kM));
  static_assert(8 * kM >= P::kN && 8 * kM <= P::kPad && kM % 8 == 0);
  static_assert((kL == 2 || kL == 3) && kS << kL == kM && kG == (kL == 2 ? 9 : 27));

  // The weight of digit l (1 = the most significant, the first vertical level's) of a group
  // number in base 3, 3^(kL - l), and that digit of group g.
  static constexpr int Weight(int l) { return l == kL ? 1 : 3 * Weight(l + 1); }
  static constexpr int Digit(int g, int l) { return g / Weight(l) % 3; }
  // Whether the digits of g below level l (the later levels') are all 0 or 1.
  static constexpr bool BinaryBelow(int g, int l) {
    for (int k = l + 1; k <= kL; ++k) {
      if (Digit(g, k) == 2) return false;
    }
    return true;
  }
  // Where row k < m of the pieces' transposes goes: k = (m/2) d1 + (m/4) d2 [+ (m/8) d3] + i
  // (digits 0 or 1, i < s) is row i of group (d1 d2 [d3]) in base 3.
  static constexpr int VerticalRow(int k) {
    int group = 0;
    for (int l = 1; l <= kL; ++l) group = 3 * group + k / (kM >> l) % 2;
    return group * kS + k % kS;
  }
};

// A value v in [-8, 7] (any byte whose low nibble is v mod 16) -> a table entry.
inline V Lookup(V table, V v) {
  return _mm256_shuffle_epi8(table, _mm256_and_si256(v, _mm256_set1_epi8(15)));
}

// v in [-8, 7] -> the trit in {-1, 0, 1} congruent to it mod 3.
inline V Trit(V v) {
  const V t = _mm256_setr_epi8(0, 1, -1, 0, 1, -1, 0, 1, /*-8..-1:*/ 1, -1, 0, 1, -1, 0, 1, -1,  //
                               0, 1, -1, 0, 1, -1, 0, 1, 1, -1, 0, 1, -1, 0, 1, -1);
  return Lookup(t, v);
}

// v in [-8, 7] -> {0, 1, 2} congruent to it mod 3.
inline V Canonical(V v) {
  const V t = _mm256_setr_epi8(0, 1, 2, 0, 1, 2, 0, 1, /*-8..-1:*/ 1, 2, 0, 1, 2, 0, 1, 2,  //
                               0, 1, 2, 0, 1, 2, 0, 1, 1, 2, 0, 1, 2, 0, 1, 2);
  return Lookup(t, v);
}

// Any signed byte -> a value in [-2, 2] congruent to it mod 3. A signed byte x is the unsigned
// 16 h + l minus 256 if h >= 8; 16 = 1 and 256 = 1 mod 3, so x = (h - [h >= 8]) + l mod 3:
// one lookup for each nibble, each giving {-1, 0, 1}.
inline V Reduce(V x) {
  const V lo = _mm256_setr_epi8(0, 1, -1, 0, 1, -1, 0, 1, -1, 0, 1, -1, 0, 1, -1, 0,  //
                                0, 1, -1, 0, 1, -1, 0, 1, -1, 0, 1, -1, 0, 1, -1, 0);
  // h - [h >= 8] mod 3 for h = 0..15.
  const V hi = _mm256_setr_epi8(0, 1, -1, 0, 1, -1, 0, 1, 1, -1, 0, 1, -1, 0, 1, -1,  //
                                0, 1, -1, 0, 1, -1, 0, 1, 1, -1, 0, 1, -1, 0, 1, -1);
  const V m = _mm256_set1_epi8(15);
  const V l = _mm256_shuffle_epi8(lo, _mm256_and_si256(x, m));
  const V h = _mm256_shuffle_epi8(hi, _mm256_and_si256(_mm256_srli_epi16(x, 4), m));
  return Add(l, h);
}

// 16 x 16 byte transposes in each 128-bit half of x[0..16) (rows), in place: round e = 0..3
// interleaves elements of 2^e bytes of vectors v and v + 2^e (bit e of v clear), the low halves
// into v and the high halves into v + 2^e. Afterwards x[v] holds column BitReverse4(v).
constexpr int BitReverse4(int v) {
  return ((v & 1) << 3) | ((v & 2) << 1) | ((v & 4) >> 1) | ((v & 8) >> 3);
}

template <int kE>
__attribute__((always_inline)) inline void InterleaveRound(V* x) {
#pragma GCC unroll 16
  for (int v = 0; v < 16; ++v) {
    if ((v & (1 << kE)) != 0) continue;
    const V a = x[v];
    const V b = x[v + (1 << kE)];
    if constexpr (kE == 0) {
      x[v] = _mm256_unpacklo_epi8(a, b);
      x[v + 1] = _mm256_unpackhi_epi8(a, b);
    } else if constexpr (kE == 1) {
      x[v] = _mm256_unpacklo_epi16(a, b);
      x[v + 2] = _mm256_unpackhi_epi16(a, b);
    } else if constexpr (kE == 2) {
      x[v] = _mm256_unpacklo_epi32(a, b);
      x[v + 4] = _mm256_unpackhi_epi32(a, b);
    } else {
      x[v] = _mm256_unpacklo_epi64(a, b);
      x[v + 8] = _mm256_unpackhi_epi64(a, b);
    }
  }
}

__attribute__((always_inline)) inline void Transpose16InLanes(V* x) {
  InterleaveRound<0>(x);
  InterleaveRound<1>(x);
  InterleaveRound<2>(x);
  InterleaveRound<3>(x);
}

// 32 x 32 byte transpose: x[j] byte k -> y[k] byte j (x is overwritten). The halves of rows
// 0..15 and 16..31 are transposed in place, then the vectors holding column c of the first
// (columns c and 16 + c of rows 0..15) and of the second (rows 16..31) are recombined by
// 128-bit permutes.
__attribute__((always_inline)) inline void Transpose32(V* x, V* y) {
  Transpose16InLanes(x);
  Transpose16InLanes(x + 16);
#pragma GCC unroll 16
  for (int c = 0; c < 16; ++c) {
    const int v = BitReverse4(c);
    y[c] = _mm256_permute2x128_si256(x[v], x[16 + v], 0x20);
    y[16 + c] = _mm256_permute2x128_si256(x[v], x[16 + v], 0x31);
  }
}

// The rows a[kI0 .. kI0 + kC) of a lane-wise schoolbook product of trits (vpsignb: a * b for
// b in {-1, 0, 1}), product-scanning: the kC vectors of a stay in registers and every output
// row is one accumulator of vpsignb (b read from memory) and vpaddb. Outputs below kDone were
// stored by the previous chunk and are added to.
template <int kS, int kC, int kI0, int kDone>
__attribute__((always_inline)) inline void SchoolbookRows(const V* a, const V* b, V* c) {
  V ai[kC];
#pragma GCC unroll 16
  for (int t = 0; t < kC; ++t) ai[t] = a[kI0 + t];
#pragma GCC unroll 64
  for (int j = 0; j < kS + kC - 1; ++j) {
    V acc = Zero();
#pragma GCC unroll 16
    for (int t = 0; t < kC; ++t) {
      if (j - t >= 0 && j - t < kS) acc = Add(acc, _mm256_sign_epi8(ai[t], b[j - t]));
    }
    c[kI0 + j] = kI0 + j < kDone ? Add(c[kI0 + j], acc) : acc;
  }
}

// The rows of a from kI0 on, in chunks of at most kC.
template <int kS, int kC, int kI0>
__attribute__((always_inline)) inline void SchoolbookChunks(const V* a, const V* b, V* c) {
  constexpr int kRows = kS - kI0 < kC ? kS - kI0 : kC;
  // The chunks before stored outputs 0 .. kI0 + kS - 2.
  constexpr int kDone = kI0 == 0 ? 0 : kI0 + kS - 1;
  SchoolbookRows<kS, kRows, kI0, kDone>(a, b, c);
  if constexpr (kI0 + kRows < kS) SchoolbookChunks<kS, kC, kI0 + kRows>(a, b, c);
}

// c[0 .. 2 kS - 1) = a * b lane-wise for trit rows a, b; c[2 kS - 1] = 0. |c| <= kS. The rows
// of a go in balanced chunks of at most 8 (11 = 6 + 5, 13 = 7 + 6, 16 = 8 + 8), each held in
// registers with the accumulator and a product: all 11 or 13 at once made GCC spill (30 and 76
// stack accesses per schoolbook).
template <int kS>
__attribute__((noinline)) void Schoolbook(const V* a, const V* b, V* c) {
  static_assert(kS <= 16);  // 8 (unused since ADR 0066), 11, 13, 16
  constexpr int kChunks = (kS + 7) / 8;
  constexpr int kC = (kS + kChunks - 1) / kChunks;
  SchoolbookChunks<kS, kC, 0>(a, b, c);
  c[2 * kS - 1] = Zero();
}

// One vertical Karatsuba interpolation: out[0 .. 4 kH) = lo + x^kH (mid - lo - hi) + x^(2 kH) hi
// for products lo, hi, mid of 2 kH rows (the last zero), optionally reduced to [-2, 2].
template <int kH, bool kReduce>
__attribute__((always_inline)) inline void InterpolateV(V* out, const V* lo, const V* hi,
                                                        const V* mid) {
  const auto fin = [](V v) { return kReduce ? Reduce(v) : v; };
#pragma GCC unroll 4
  for (int j = 0; j < kH; ++j) {
    const V l0 = lo[j], l1 = lo[kH + j], h0 = hi[j], h1 = hi[kH + j];
    out[j] = fin(l0);
    out[kH + j] = fin(Add(l1, Sub(mid[j], Add(l0, h0))));
    out[2 * kH + j] = fin(Add(h0, Sub(mid[kH + j], Add(l1, h1))));
    out[3 * kH + j] = fin(h1);
  }
}

// dst[0 .. len) = Trit(a + b) for trit bytes a, b, in whole vectors (up to RoundUp32(len)
// bytes are read from a and b and written to dst; the bytes past len are never used).
inline void SumTrits(std::uint8_t* dst, const std::uint8_t* a, const std::uint8_t* b, int len) {
  for (int v = 0; v < len; v += 32) StoreU(dst + v, Trit(Add(LoadU(a + v), LoadU(b + v))));
}

// Karatsuba's interpolation at a horizontal level: out (stride 2 kIn bytes) = lo + x^h (mid -
// lo - hi) + x^(2h) hi for the three products lo, hi, mid (stride kIn bytes, each zero from
// 2h - 1 on; h + RoundUp32(h) <= kIn), written once per byte: quarter by quarter, out[j] = lo[j],
// out[h + j] = lo[h + j] + d[j], out[2h + j] = hi[j] + d[h + j], out[3h + j] = hi[h + j] for
// j < h with d = mid - lo - hi (a quarter's last vector spills into the next quarter, which is
// written after it), and zero from 4h on. With kReduceMid d is reduced to [-2, 2] first.
template <int kIn, int kH, bool kReduceMid>
__attribute__((always_inline)) inline void InterpolateH(std::uint8_t* out, const std::uint8_t* lo,
                                                        const std::uint8_t* hi,
                                                        const std::uint8_t* mid) {
  static_assert(kH + RoundUp32(kH) <= kIn && kIn % 32 == 0);
  const auto d = [&](int j) {
    const V v = Sub(LoadU(mid + j), Add(LoadU(lo + j), LoadU(hi + j)));
    return kReduceMid ? Reduce(v) : v;
  };
#pragma GCC unroll 64
  for (int v = 4 * kH / 32 * 32; v < 2 * kIn; v += 32) StoreU(out + v, Zero());
#pragma GCC unroll 64
  for (int j = 0; j < kH; j += 32) StoreU(out + j, LoadU(lo + j));
#pragma GCC unroll 64
  for (int j = 0; j < kH; j += 32) StoreU(out + kH + j, Add(LoadU(lo + kH + j), d(j)));
#pragma GCC unroll 64
  for (int j = 0; j < kH; j += 32) StoreU(out + 2 * kH + j, Add(LoadU(hi + j), d(kH + j)));
#pragma GCC unroll 64
  for (int j = 0; j < kH; j += 32) StoreU(out + 3 * kH + j, LoadU(hi + kH + j));
}

}  // namespace

template <class P, class T>
void PrepareS3(PreparedS3<P>& out, const T* a) {
  using Sh = Shape<P>;
  constexpr int kM = Sh::kM;
  constexpr int kS = Sh::kS;
  constexpr int kSlack = 64;
  // The trits of a: {0, 1, 2, 2^16 - 1} -> {0, 1, -1, -1}.
  alignas(32) std::uint8_t t[8 * kM + kSlack];
  for (int i = 0; i < 8 * kM; i += 32) {
    V x;
    if constexpr (sizeof(T) == 2) {
      const V lo = _mm256_loadu_si256(reinterpret_cast<const V*>(a + i));
      const V hi = _mm256_loadu_si256(reinterpret_cast<const V*>(a + i + 16));
      x = _mm256_permute4x64_epi64(_mm256_packs_epi16(lo, hi), 0xd8);  // 2^16 - 1 -> -1
    } else {
      x = LoadU(a + i);
    }
    x = Sub(x, _mm256_and_si256(_mm256_cmpgt_epi8(x, _mm256_set1_epi8(1)), _mm256_set1_epi8(3)));
    StoreU(t + i, x);
  }
  StoreU(t + 8 * kM, Zero());
  StoreU(t + 8 * kM + 32, Zero());

  // Horizontal evaluation: piece j = 9 e1 + 3 e2 + e3 (digits 0 = low half, 1 = high half,
  // 2 = their sum at each level); the halves are pointers into t or into a sum.
  constexpr int kS1 = RoundUp32(4 * kM) + kSlack;
  constexpr int kS2 = RoundUp32(2 * kM) + kSlack;
  constexpr int kS3 = RoundUp32(kM) + kSlack;
  alignas(32) std::uint8_t sum1[kS1];
  alignas(32) std::uint8_t sum2[3][kS2];
  alignas(32) std::uint8_t sum3[9][kS3];
  const std::uint8_t* x1[3] = {t, t + 4 * kM, sum1};
  SumTrits(sum1, t, t + 4 * kM, 4 * kM);
  const std::uint8_t* x2[9];
  for (int e1 = 0; e1 < 3; ++e1) {
    x2[3 * e1] = x1[e1];
    x2[3 * e1 + 1] = x1[e1] + 2 * kM;
    x2[3 * e1 + 2] = sum2[e1];
    SumTrits(sum2[e1], x1[e1], x1[e1] + 2 * kM, 2 * kM);
  }
  const std::uint8_t* x3[27];
  for (int q = 0; q < 9; ++q) {
    x3[3 * q] = x2[q];
    x3[3 * q + 1] = x2[q] + kM;
    x3[3 * q + 2] = sum3[q];
    SumTrits(sum3[q], x2[q], x2[q] + kM, kM);
  }

  // Transpose: row k (k < m) = coefficient k of the 27 pieces, stored at once in its vertical
  // group (Shape::VerticalRow).
  V* rows = reinterpret_cast<V*>(out.v);
#pragma GCC unroll 4
  for (int c = 0; c < Sh::kCols; c += 32) {
    V x[32];
    V y[32];
#pragma GCC unroll 32
    for (int j = 0; j < 32; ++j) x[j] = j < 27 ? LoadU(x3[j] + c) : Zero();
    Transpose32(x, y);
#pragma GCC unroll 32
    for (int k = 0; k < 32; ++k) {
      const int row = c + k;
      if (row < kM) rows[Sh::VerticalRow(row)] = y[k];
    }
  }
  // Vertical evaluation, digit 2 = the sum of digits 0 and 1 at each level, row by row: the
  // 2^kL rows of groups with digits 0 and 1 give the others, level 1 first (at level l, the
  // groups whose digit l is 2 and whose later digits are 0 or 1: 4, 6 and 9 of them for three
  // levels, 2 and 3 for two).
  constexpr int kG = Sh::kG;
#pragma GCC unroll 2
  for (int i = 0; i < kS; ++i) {
    V x[kG];
    // One group at one level; every condition and index is a constant (template arguments).
    const auto step = [&]<int kLevel, int kGroup>() {
      if constexpr (kLevel == 0) {
        if constexpr (Sh::BinaryBelow(kGroup, 0)) x[kGroup] = rows[kGroup * kS + i];
      } else if constexpr (Sh::Digit(kGroup, kLevel) == 2 && Sh::BinaryBelow(kGroup, kLevel)) {
        constexpr int kWeight = Sh::Weight(kLevel);
        x[kGroup] = Trit(Add(x[kGroup - 2 * kWeight], x[kGroup - kWeight]));
        rows[kGroup * kS + i] = x[kGroup];
      }
    };
    const auto level = [&]<int kLevel, int... kGroups>(std::integer_sequence<int, kGroups...>) {
      (step.template operator()<kLevel, kGroups>(), ...);
    };
    const auto groups = std::make_integer_sequence<int, kG>{};
    level.template operator()<0>(groups);
    level.template operator()<1>(groups);
    level.template operator()<2>(groups);
    if constexpr (Sh::kL == 3) level.template operator()<3>(groups);
  }
}

template <class P, class T>
void S3MulPrepared(T* r, const PreparedS3<P>& pa, const PreparedS3<P>& pb) {
  using Sh = Shape<P>;
  constexpr int kM = Sh::kM;
  constexpr int kS = Sh::kS;
  constexpr int kR = Sh::kProdRows;
  const V* a = reinterpret_cast<const V*>(pa.v);
  const V* b = reinterpret_cast<const V*>(pb.v);

  // Vertical: 3^kL schoolbooks (|.| <= s); with three levels, level 3's interpolation; level
  // 2's reduced to [-2, 2] (at most 117 before: tools/ntru_s3_bounds.py), and level 1's
  // (|.| <= 8).
  V r2[3][kM];
  {
    for (int d1 = 0; d1 < 3; ++d1) {
      if constexpr (Sh::kL == 3) {
        V r3[3][4 * kS];
        for (int d2 = 0; d2 < 3; ++d2) {
          V p[3][2 * kS];
          for (int d3 = 0; d3 < 3; ++d3) {
            const int g = 9 * d1 + 3 * d2 + d3;
            Schoolbook<kS>(a + g * kS, b + g * kS, p[d3]);
          }
          InterpolateV<kS, false>(r3[d2], p[0], p[1], p[2]);
        }
        InterpolateV<2 * kS, true>(r2[d1], r3[0], r3[1], r3[2]);
      } else {
        V p[3][2 * kS];
        for (int d2 = 0; d2 < 3; ++d2) {
          const int g = 3 * d1 + d2;
          Schoolbook<kS>(a + g * kS, b + g * kS, p[d2]);
        }
        InterpolateV<kS, true>(r2[d1], p[0], p[1], p[2]);
      }
    }
  }

  {
    // Vertical level 1, row by row into the transposes back: row K of the product (2m - 1 rows,
    // |.| <= 8; zero from 2m - 1 to kR) is lo[K] + mid'[K - m/2] + hi[K - m] with mid' = mid -
    // lo - hi; piece product j (2m - 1 coefficients, zero up to kR) = lane j of the rows.
    constexpr int kH = kM / 2;
    const auto row = [&](int k) {
      V v = Zero();
      if (k < 2 * kH) v = r2[0][k];
      if (k >= 2 * kH && k < 4 * kH) v = r2[1][k - 2 * kH];
      if (k >= kH && k < 3 * kH) {
        const int j = k - kH;
        v = Add(v, Sub(r2[2][j], Add(r2[0][j], r2[1][j])));
      }
      return v;
    };
    alignas(32) std::uint8_t p27[27][kR];
#pragma GCC unroll 8
    for (int c = 0; c < kR; c += 32) {
      V x[32];
      V y[32];
#pragma GCC unroll 32
      for (int k = 0; k < 32; ++k) x[k] = row(c + k);
      Transpose32(x, y);
#pragma GCC unroll 27
      for (int j = 0; j < 27; ++j) StoreU(p27[j] + c, y[j]);
    }

    // Horizontal interpolation, level 3 (h = m): |.| <= 8 + 24 = 32; level 2 (h = 2m): middle
    // term |.| <= 96, reduced, so |.| <= 32 + 2 = 34; level 1 (h = 4m): middle term <= 102,
    // reduced, |.| <= 36.
    alignas(32) std::uint8_t p9[9][2 * kR];
    for (int q = 0; q < 9; ++q)
      InterpolateH<kR, kM, false>(p9[q], p27[3 * q], p27[3 * q + 1], p27[3 * q + 2]);
    alignas(32) std::uint8_t p3[3][4 * kR];
    for (int e = 0; e < 3; ++e)
      InterpolateH<2 * kR, 2 * kM, true>(p3[e], p9[3 * e], p9[3 * e + 1], p9[3 * e + 2]);
    alignas(32) std::uint8_t p1[8 * kR];
    InterpolateH<4 * kR, 4 * kM, true>(p1, p3[0], p3[1], p3[2]);

    // Fold mod x^n - 1 (|.| <= 72), reduce to [-2, 2], subtract coefficient n - 1 times Phi_n
    // ([-4, 4]) and map to {0, 1, 2}; zero from n on.
    constexpr int kN = P::kN;
    static_assert(RoundUp32(kN) + kN <= 8 * kR);
    alignas(32) std::uint8_t f[RoundUp32(kN)];
    for (int i = 0; i < kN; i += 32) StoreU(f + i, Reduce(Add(LoadU(p1 + i), LoadU(p1 + kN + i))));
    const V top = _mm256_set1_epi8(static_cast<char>(f[kN - 1]));
    for (int i = 0; i < P::kPad; i += 32) {
      V v = Zero();
      if (i < kN) {
        const int left = kN - i < 32 ? kN - i : 32;  // coefficients i .. i + left - 1 are kept
        const V keep = _mm256_cmpgt_epi8(
            _mm256_set1_epi8(static_cast<char>(left)),
            _mm256_setr_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19,
                             20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31));
        v = _mm256_and_si256(Canonical(Sub(LoadU(f + i), top)), keep);
      }
      if constexpr (sizeof(T) == 2) {
        _mm256_storeu_si256(reinterpret_cast<V*>(r + i),
                            _mm256_cvtepu8_epi16(_mm256_castsi256_si128(v)));
        _mm256_storeu_si256(reinterpret_cast<V*>(r + i + 16),
                            _mm256_cvtepu8_epi16(_mm256_extracti128_si256(v, 1)));
      } else {
        StoreU(r + i, v);
      }
    }
  }
}

template <class P>
void S3MulByteLanes(std::uint16_t* r, const std::uint16_t* a, const std::uint16_t* b) {
  PreparedS3<P> pa;
  PreparedS3<P> pb;
  PrepareS3<P>(pa, a);
  PrepareS3<P>(pb, b);
  S3MulPrepared<P>(r, pa, pb);
}

#define MEDMESH_NTRU_S3_MUL_INSTANTIATE(P)                                                     \
  template void S3MulByteLanes<P>(std::uint16_t*, const std::uint16_t*, const std::uint16_t*); \
  template void PrepareS3<P>(PreparedS3<P>&, const std::uint16_t*);                            \
  template void PrepareS3<P>(PreparedS3<P>&, const std::uint8_t*);                             \
  template void S3MulPrepared<P>(std::uint16_t*, const PreparedS3<P>&, const PreparedS3<P>&);  \
  template void S3MulPrepared<P>(std::uint8_t*, const PreparedS3<P>&, const PreparedS3<P>&);
MEDMESH_NTRU_S3_MUL_INSTANTIATE(Hps2048509)
MEDMESH_NTRU_S3_MUL_INSTANTIATE(Hps2048677)
MEDMESH_NTRU_S3_MUL_INSTANTIATE(Hps4096821)
MEDMESH_NTRU_S3_MUL_INSTANTIATE(Hrss701)
#undef MEDMESH_NTRU_S3_MUL_INSTANTIATE

}  // namespace medmesh::ntru::avx2

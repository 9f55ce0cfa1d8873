// PolyMulQ (kernels.h): multiplication in Z_{2^16}[x] / (x^n - 1), correct mod 2^13, with AVX2
// intrinsics.
//
// The product of two P::kPad-coefficient polynomials is split by Toom-4 and two Karatsuba
// levels into 63 products of blocks of kPad/16 slots (Toom4Mul below): the evaluation writes
// the operand blocks of a and of b one after another, the blocks are multiplied 16 at a time,
// and the interpolation combines the block products.
//
// The 16-at-a-time block product is where the time goes. The 16 blocks are transposed (16 x 16
// transposes of uint16, done as in-lane 8 x 8 transposes of vectors loaded as two halves), so
// that vector k holds coefficient k of every block; then one or two Karatsuba levels and a
// schoolbook run on whole vectors with no shuffle at all (lane i only ever meets lane i), and
// transposes bring the product coefficients back. Arithmetic is mod 2^16 throughout (vpmullw,
// vpaddw, vpsubw).
//
// Built with -fno-tree-vectorize (CMakeLists.txt): every loop here is already written on
// vectors, and GCC 12's vectoriser otherwise re-splits loops over arrays of __m256i into
// 128-bit and scalar pieces. The evaluation, interpolation and block product are kept out of
// line for a similar reason: inlined, GCC forwards the vector stores of the temporary arrays
// to the later loads as pairs of 64-bit scalar loads (vmovq + vpinsrq), several times slower.
#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "crypto/ntru/avx2/kernels.h"
#include "crypto/ntru/internal/params.h"

namespace medmesh::ntru::avx2 {
namespace {

constexpr int kLanes = 16;  // uint16 lanes of a vector, and blocks per transposed batch
// The vertical Karatsuba's schoolbook length for blocks of kLen coefficients (ADR 0065): one
// level for the blocks of 32 of n = 509 (16 x 16 schoolbooks), two for the pieces of 44 and 52
// (11 x 11, 13 x 13). On an AMD EPYC (Zen 4 class) one level made the 509 product ~14 % faster
// in time (three products of 256 multiplies instead of nine of 64 and a second level of
// additions, stores and reloads; 3 % fewer instructions) and the others ~4 % slower (+2 %
// instructions); on the Zen 5 measured for the mod-2^15 product's blocks of 64 (until ADR 0050),
// 8 x 8 schoolbooks were 4 % slower than 16 x 16, and 32 x 32 12 % slower.
constexpr int VerticalSchoolbookLength(int len) { return len <= 32 ? len / 2 : len / 4; }

using V = __m256i;

inline V Load(const std::uint16_t* p) { return _mm256_loadu_si256(reinterpret_cast<const V*>(p)); }
inline void Store(std::uint16_t* p, V v) { _mm256_storeu_si256(reinterpret_cast<V*>(p), v); }
inline V Add(V a, V b) { return _mm256_add_epi16(a, b); }
inline V Sub(V a, V b) { return _mm256_sub_epi16(a, b); }
inline V Mul(V a, V b) { return _mm256_mullo_epi16(a, b); }

// The rows a[kI0 .. kI0 + kC) of a schoolbook product, operand-scanning: the kC vectors of a
// stay in registers, each b[j] is loaded once, and a window of kC accumulators slides along
// the output (acc[t] holds output kI0 + j + t at step j; the lowest is complete after the step
// and leaves the window). Outputs below kDone were stored by earlier chunks and are added to;
// the others are stored.
template <int kS, int kC, int kI0, int kDone>
__attribute__((always_inline)) inline void SchoolbookRows(const V* a, const V* b, V* c) {
  V ai[kC];
  V acc[kC];
#pragma GCC unroll 16
  for (int t = 0; t < kC; ++t) {
    ai[t] = a[kI0 + t];
    acc[t] = _mm256_setzero_si256();
  }
  const auto emit = [&](int k, V v) {  // k is an unrolled loop index: a constant
    c[k] = k < kDone ? Add(c[k], v) : v;
  };
#pragma GCC unroll 16
  for (int j = 0; j < kS; ++j) {
    const V bj = b[j];
#pragma GCC unroll 16
    for (int t = 0; t < kC; ++t) acc[t] = Add(acc[t], Mul(ai[t], bj));
    emit(kI0 + j, acc[0]);
#pragma GCC unroll 16
    for (int t = 0; t + 1 < kC; ++t) acc[t] = acc[t + 1];
    acc[kC - 1] = _mm256_setzero_si256();
  }
#pragma GCC unroll 16
  for (int t = 0; t + 1 < kC; ++t) emit(kI0 + kS + t, acc[t]);
}

// The rows of a from kI0 on, in chunks of at most kC.
template <int kS, int kC, int kI0>
__attribute__((always_inline)) inline void SchoolbookChunks(const V* a, const V* b, V* c) {
  constexpr int kRows = kS - kI0 < kC ? kS - kI0 : kC;
  // Chunk 0 stores outputs 0 .. kS + kRows - 2; each later chunk only reaches one further.
  constexpr int kDone = kI0 == 0 ? 0 : kI0 + kS - 1;
  SchoolbookRows<kS, kRows, kI0, kDone>(a, b, c);
  if constexpr (kI0 + kRows < kS) SchoolbookChunks<kS, kC, kI0 + kRows>(a, b, c);
}

// c[0 .. 2 kS - 1) = a[0 .. kS) * b[0 .. kS) lane-wise; c[2 kS - 1] = 0. The rows of a go in
// chunks of at most 6 (6 vectors of a, 6 accumulators, b[j] and a product: 14 of the 16
// registers), which loads each operand vector about once per chunk instead of once per
// multiply (product-scanning was bound by the two load ports). Out of line: nine inlined
// copies per block product would overflow the op cache.
template <int kS>
__attribute__((noinline)) void VerticalSchoolbook(const V* a, const V* b, V* c) {
  constexpr int kChunks = (kS + 5) / 6;
  constexpr int kC = (kS + kChunks - 1) / kChunks;  // 11 = 6 + 5, 13 = 5 + 5 + 3, 16 = 6 + 6 + 4
  SchoolbookChunks<kS, kC, 0>(a, b, c);
  c[2 * kS - 1] = _mm256_setzero_si256();
}

// c[0 .. 2L) = a[0 .. L) * b[0 .. L) lane-wise, Karatsuba down to kS x kS schoolbooks. With
// kGap > 0 the upper half of the product goes to c[L + kGap .. 2L + kGap) instead, and
// c[L .. L + kGap) is left alone (MulBlocks' block layout, without copying the product).
template <int L, int kS, int kGap = 0>
inline void VerticalKaratsuba(const V* a, const V* b, V* c) {
  if constexpr (L == kS) {
    static_assert(kGap == 0);
    VerticalSchoolbook<kS>(a, b, c);
  } else {
    constexpr int kH = L / 2;
    V* const high = c + L + kGap;
    V as[kH];
    V bs[kH];
    V mid[2 * kH];
    for (int i = 0; i < kH; ++i) {
      as[i] = Add(a[i], a[i + kH]);
      bs[i] = Add(b[i], b[i + kH]);
    }
    VerticalKaratsuba<kH, kS>(a, b, c);
    VerticalKaratsuba<kH, kS>(a + kH, b + kH, high);
    VerticalKaratsuba<kH, kS>(as, bs, mid);
    // With the low product (L0, L1), the high one (H0, H1) and mid = (M0, M1) in quarters of kH:
    // the middle quarters become L1 + M0 - L0 - H0 and H0 + M1 - L1 - H1, in one pass through
    // t = L1 - H0.
    for (int i = 0; i < kH; ++i) {
      const V t = Sub(c[kH + i], high[i]);
      c[kH + i] = Add(Sub(mid[i], c[i]), t);
      high[i] = Sub(Sub(mid[kH + i], high[kH + i]), t);
    }
  }
}

// The in-lane half of a 16 x 16 transpose: treats the low 128-bit halves of r[0..8) as the rows
// of one 8 x 8 matrix of uint16 and the high halves as the rows of another, and transposes both
// in place (three unpack rounds, 24 in-lane shuffles): afterwards the low half of r[c] is
// column c of the first matrix and its high half column c of the second.
__attribute__((always_inline)) inline void Transpose8x8Halves(V r[8]) {
  V t[8];
  for (int k = 0; k < 4; ++k) {
    t[2 * k] = _mm256_unpacklo_epi16(r[2 * k], r[2 * k + 1]);
    t[2 * k + 1] = _mm256_unpackhi_epi16(r[2 * k], r[2 * k + 1]);
  }
  V u[8];
  for (int m = 0; m < 2; ++m) {
    u[4 * m + 0] = _mm256_unpacklo_epi32(t[4 * m], t[4 * m + 2]);
    u[4 * m + 1] = _mm256_unpackhi_epi32(t[4 * m], t[4 * m + 2]);
    u[4 * m + 2] = _mm256_unpacklo_epi32(t[4 * m + 1], t[4 * m + 3]);
    u[4 * m + 3] = _mm256_unpackhi_epi32(t[4 * m + 1], t[4 * m + 3]);
  }
  for (int s = 0; s < 4; ++s) {
    r[2 * s] = _mm256_unpacklo_epi64(u[s], u[4 + s]);
    r[2 * s + 1] = _mm256_unpackhi_epi64(u[s], u[4 + s]);
  }
}

// Two 128-bit loads into one vector: p0 in the low half, p1 in the high half (vinserti128
// from memory runs on any vector ALU port, not the shuffle port).
inline V LoadHalves(const std::uint16_t* p0, const std::uint16_t* p1) {
  const __m128i lo = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p0));
  return _mm256_inserti128_si256(_mm256_castsi128_si256(lo),
                                 _mm_loadu_si128(reinterpret_cast<const __m128i*>(p1)), 1);
}

// MulBlocks, split at the transposes: for i < kCount, c block i = a block i * b block i, for
// blocks of kB slots (a multiple of 16) of which the first kLen (a multiple of 4, at most kB)
// hold coefficients and the rest are zero, multiplied by vertical Karatsuba down to
// VerticalSchoolbookLength(kLen) schoolbooks. Block i of c has 2 kB slots: the product's
// coefficients 0 .. kLen-1 in slots 0 .. kLen-1 and its coefficients kLen .. 2 kLen-1 (the last is
// zero) in slots kB .. kB + kLen-1, zeros elsewhere -- with kLen = kB simply the 2 kB coefficients.
//
// TransposeBlocks brings the RoundUp16(kCount) blocks of one operand (the blocks past kCount
// must be defined; their products are ignored) into the vertical layout, group g of 16 blocks
// in t[g kB .. (g + 1) kB): vector k of a group holds coefficient k of its 16 blocks. An
// operand used in several products is transposed once (PreparedQ, kernels.h).
//
// The transposes into the vertical layout skip the cross-half round of a full 16 x 16
// transpose: vector j of the 8 slots 8 h .. 8 h + 7 is loaded with blocks g .. g + 7 in its low
// half and blocks g + 8 .. g + 15 in its high half, so the in-lane 8 x 8 transposes already
// leave slot 8 h + c of all 16 blocks in one vector (a quarter fewer shuffles, all in-lane).
// The products go back through the same in-lane transposes plus one vperm2i128 per output
// vector and whole-vector stores: storing halves instead doubled the stores, and on Ice Lake
// that was 6-7 % slower per product than the shuffles it saved.
template <int kB, int kCount>
__attribute__((noinline)) void TransposeBlocks(const std::uint16_t* a, V* t) {
  static_assert(kB % kLanes == 0);
  constexpr int kHalf = kLanes / 2;
  // Unrolled: every load and store address is a constant offset (the loop's address
  // arithmetic was a fifth of its instructions).
#pragma GCC unroll 4
  for (int g = 0; g < kCount; g += kLanes) {
    V* const ta = t + std::ptrdiff_t{g / kLanes} * kB;
#pragma GCC unroll 8
    for (int h = 0; h < kB / kHalf; ++h) {
      V rows[kHalf];  // in registers: transposed before the stores
      for (int i = 0; i < kHalf; ++i) {
        const std::ptrdiff_t lo = std::ptrdiff_t{g + i} * kB + kHalf * h;
        const std::ptrdiff_t hi = lo + std::ptrdiff_t{kHalf} * kB;
        rows[i] = LoadHalves(a + lo, a + hi);
      }
      Transpose8x8Halves(rows);
      for (int i = 0; i < kHalf; ++i) ta[kHalf * h + i] = rows[i];
    }
  }
}

template <int kB, int kLen, int kCount>
__attribute__((noinline)) void MulTransposed(const V* ta, const V* tb, std::uint16_t* c) {
  static_assert(kB % kLanes == 0 && kLen % 4 == 0 && kLen <= kB);
  constexpr int kHalf = kLanes / 2;
  for (int g = 0; g < kCount; g += kLanes) {
    V tc[2 * kB];
    const std::ptrdiff_t group = std::ptrdiff_t{g / kLanes} * kB;
    VerticalKaratsuba<kLen, VerticalSchoolbookLength(kLen), kB - kLen>(ta + group, tb + group, tc);
    for (int i = kLen; i < kB; ++i) {  // the zero slots of the block layout
      tc[i] = _mm256_setzero_si256();
      tc[kB + i] = _mm256_setzero_si256();
    }
    for (int q = 0; q < 2 * kB / kLanes; ++q) {
      V lo[kHalf];
      V hi[kHalf];
      for (int i = 0; i < kHalf; ++i) {
        lo[i] = tc[kLanes * q + i];
        hi[i] = tc[kLanes * q + kHalf + i];
      }
      Transpose8x8Halves(lo);
      Transpose8x8Halves(hi);
      for (int i = 0; i < kHalf; ++i) {
        const std::ptrdiff_t at = std::ptrdiff_t{g + i} * 2 * kB + kLanes * q;
        Store(c + at, _mm256_permute2x128_si256(lo[i], hi[i], 0x20));
        Store(c + at + std::ptrdiff_t{kHalf} * 2 * kB,
              _mm256_permute2x128_si256(lo[i], hi[i], 0x31));
      }
    }
  }
}

constexpr int RoundUp16(int v) { return (v + kLanes - 1) / kLanes * kLanes; }

// Blocks of kB produced by the Karatsuba evaluation of an L-coefficient operand.
template <int L, int kB>
constexpr int KaratsubaBlocks() {
  if constexpr (L <= kB) {
    return 1;
  } else {
    return 3 * KaratsubaBlocks<L / 2, kB>();
  }
}

// out[0 .. KaratsubaBlocks<L, kB>() * kB) = the blocks to multiply for a[0 .. L): those of the
// low half, of the high half, and of their sum.
template <int L, int kB>
__attribute__((noinline)) void KaratsubaEvaluate(const std::uint16_t* a, std::uint16_t* out) {
  if constexpr (L == 2 * kB) {  // the three blocks themselves: low, high, low + high
    for (int i = 0; i < kB; i += kLanes) {
      const V lo = Load(a + i);
      const V hi = Load(a + kB + i);
      Store(out + i, lo);
      Store(out + kB + i, hi);
      Store(out + 2 * kB + i, Add(lo, hi));
    }
  } else {
    static_assert(L > 2 * kB);
    constexpr int kH = L / 2;
    constexpr int kCount = KaratsubaBlocks<kH, kB>();
    alignas(32) std::uint16_t sum[kH];
    for (int i = 0; i < kH; i += kLanes) Store(sum + i, Add(Load(a + i), Load(a + kH + i)));
    KaratsubaEvaluate<kH, kB>(a, out);
    KaratsubaEvaluate<kH, kB>(a + kH, out + std::ptrdiff_t{kCount} * kB);
    KaratsubaEvaluate<kH, kB>(sum, out + std::ptrdiff_t{2 * kCount} * kB);
  }
}

// r[0 .. 2L) = the product for which KaratsubaEvaluate<L, kB> made the operands, from the
// block products prods (blocks of 2 kB coefficients in the same order).
template <int L, int kB>
__attribute__((noinline)) void KaratsubaInterpolate(const std::uint16_t* prods, std::uint16_t* r) {
  if constexpr (L == 2 * kB) {  // straight from the three block products
    constexpr int kB2 = 2 * kB;
    for (int i = 0; i < kB; i += kLanes) {  // r[0, kB) = low product's first half
      Store(r + i, Load(prods + i));
      Store(r + 3 * kB + i, Load(prods + kB2 + kB + i));  // r[3 kB, 4 kB): high's second half
    }
    for (int i = 0; i < kB2; i += kLanes) {  // r[kB, 3 kB) = lo[kB..) + hi[..kB) + middle
      const V lo = Load(prods + i);
      const V hi = Load(prods + kB2 + i);
      const V mid = Sub(Load(prods + 2 * kB2 + i), Add(lo, hi));
      const V below = i < kB ? Load(prods + kB + i) : Load(prods + kB2 + i - kB);
      Store(r + kB + i, Add(below, mid));
    }
  } else {
    static_assert(L > 2 * kB);
    constexpr int kH = L / 2;
    constexpr std::ptrdiff_t kStride = std::ptrdiff_t{KaratsubaBlocks<kH, kB>()} * 2 * kB;
    alignas(32) std::uint16_t mid[2 * kH];
    KaratsubaInterpolate<kH, kB>(prods, r);                     // low * low -> r[0, 2H)
    KaratsubaInterpolate<kH, kB>(prods + kStride, r + 2 * kH);  // high * high -> r[2H, 4H)
    KaratsubaInterpolate<kH, kB>(prods + 2 * kStride, mid);     // sum * sum
    // As in VerticalKaratsuba: the middle quarters in one pass.
    for (int i = 0; i < kH; i += kLanes) {
      const V t = Sub(Load(r + kH + i), Load(r + 2 * kH + i));
      Store(r + kH + i, Add(Sub(Load(mid + i), Load(r + i)), t));
      Store(r + 2 * kH + i, Sub(Sub(Load(mid + kH + i), Load(r + 3 * kH + i)), t));
    }
  }
}

// Toom4Mul: prod = a * b, correct mod 2^13, for L = 512, 768 or 1024 -- Toom4Evaluate of each
// operand, then Toom4MulEvaluated. Toom-4 with evaluation at 0, 1, -1,
// 2, -2, 1/2 (scaled by 8) and infinity over 7 products of M = L/4, each split by two
// Karatsuba levels into 9 products of kB = M/4 (32, 48 or 64) slots: 63 blocks, four
// transposed batches of 16, multiplied by one or two vertical Karatsuba levels and
// schoolbooks.
//
// Operands and product are in "piece layout": the operand is cut into 16 pieces of kPiece
// coefficients (a multiple of 4, at most kB), piece k in slots kB k .. kB k + kPiece - 1 and
// zeros in the rest of its kB slots; the product's 32 pieces likewise in 2L slots. Every step
// of the evaluation and interpolation is slot-wise linear or shifts by whole multiples of kB
// slots (= multiples of kPiece coefficients), so the zero slots stay zero and only the block
// products see the difference (MulTransposed). For 677 and 701 (pieces of 44, 704 coefficients)
// and 821 (pieces of 52, 832) the schoolbooks are 11 x 11 and 13 x 13 instead of 12 x 12 and
// 16 x 16: 16 % and 34 % fewer multiplies. kPiece = kB is the plain layout (509).
//
// The interpolation divides exact multiples of 2, 4 and 8 (a shift loses the top bit each
// time), so c2 and c4 are right mod 2^13, c1, c3 and c5 mod 2^14, c0 and c6 exactly.
template <int L>
struct Toom4Shape {
  static constexpr int kM = L / 4;
  static constexpr int kB = kM / 4;
  static_assert(kB % kLanes == 0);
  static constexpr int kPer = KaratsubaBlocks<kM, kB>();  // 9 blocks per evaluation point
  static constexpr int kCount = 7 * kPer;
  static constexpr int kSlots = RoundUp16(kCount);
  static constexpr int kVectors = kSlots / kLanes * kB;  // an operand, transposed
};

// t = the 63 blocks of Toom-4 and Karatsuba evaluation of x (piece layout), transposed
// (TransposeBlocks): the operand half of Toom4Mul, done once per operand.
template <int L>
void Toom4Evaluate(const std::uint16_t* x, V* t) {
  using S = Toom4Shape<L>;
  constexpr int kM = S::kM;
  constexpr int kB = S::kB;
  constexpr int kPer = S::kPer;
  alignas(32) std::uint16_t out[S::kSlots * kB];
  {
    alignas(32) std::uint16_t e[5][kM];  // x(1), x(-1), x(2), x(-2), 8 x(1/2)
    for (int i = 0; i < kM; i += kLanes) {
      const V x0 = Load(x + i);
      const V x1 = Load(x + kM + i);
      const V x2 = Load(x + 2 * kM + i);
      const V x3 = Load(x + 3 * kM + i);
      const V even1 = Add(x0, x2);
      const V odd1 = Add(x1, x3);
      Store(e[0] + i, Add(even1, odd1));
      Store(e[1] + i, Sub(even1, odd1));
      const V even2 = Add(x0, _mm256_slli_epi16(x2, 2));                       // x0 + 4 x2
      const V odd2 = _mm256_slli_epi16(Add(x1, _mm256_slli_epi16(x3, 2)), 1);  // 2 x1 + 8 x3
      Store(e[2] + i, Add(even2, odd2));
      Store(e[3] + i, Sub(even2, odd2));
      // 8 x0 + 4 x1 + 2 x2 + x3 = ((2 x0 + x1) 2 + x2) 2 + x3
      const V h = Add(_mm256_slli_epi16(x0, 1), x1);
      Store(e[4] + i, Add(_mm256_slli_epi16(Add(_mm256_slli_epi16(h, 1), x2), 1), x3));
    }
    constexpr std::ptrdiff_t kStride = std::ptrdiff_t{kPer} * kB;
    KaratsubaEvaluate<kM, kB>(x, out);
    for (int p = 0; p < 5; ++p) KaratsubaEvaluate<kM, kB>(e[p], out + (p + 1) * kStride);
    KaratsubaEvaluate<kM, kB>(x + 3 * kM, out + 6 * kStride);
  }
  std::memset(out + S::kCount * kB, 0, (S::kSlots - S::kCount) * kB * sizeof(std::uint16_t));
  TransposeBlocks<kB, S::kCount>(out, t);
}

// prod = a * b, correct mod 2^13, from the operands' Toom4Evaluate<L> (see Toom4Mul).
template <int L, int kPiece>
void Toom4MulEvaluated(std::uint16_t* prod, const V* ta, const V* tb) {
  using S = Toom4Shape<L>;
  static constexpr int kM = S::kM;
  constexpr int kB = S::kB;
  constexpr int kPer = S::kPer;
  alignas(32) std::uint16_t ec[S::kSlots * 2 * kB];
  MulTransposed<kB, kPiece, S::kCount>(ta, tb, ec);

  // w[p] = the product at point p (0, 1, -1, 2, -2, 1/2, infinity), 2 kM coefficients.
  alignas(32) std::uint16_t w[7][2 * kM];
  constexpr std::ptrdiff_t kStride = std::ptrdiff_t{kPer} * 2 * kB;
  for (int p = 0; p < 7; ++p) KaratsubaInterpolate<kM, kB>(ec + p * kStride, w[p]);

  const V inv3 = _mm256_set1_epi16(static_cast<short>(43691));   // 3 * 43691 = 1 mod 2^16
  const V inv45 = _mm256_set1_epi16(static_cast<short>(20389));  // 45 * 20389 = 1 mod 2^16
  const V five = _mm256_set1_epi16(5);
  const V twelve = _mm256_set1_epi16(12);
  // The coefficients c0 .. c6 (of y^k, y = x^kM) at position i of the 2 kM-coefficient pieces.
  const auto solve = [&](int i, V c[7]) {
    const V w0 = Load(w[0] + i);
    const V w1 = Load(w[1] + i);
    const V wm1 = Load(w[2] + i);
    const V w2 = Load(w[3] + i);
    const V wm2 = Load(w[4] + i);
    const V wh = Load(w[5] + i);
    const V winf = Load(w[6] + i);
    const V e1 = Sub(_mm256_srli_epi16(Add(w1, wm1), 1), Add(w0, winf));  // c2 + c4
    const V o1 = _mm256_srli_epi16(Sub(w1, wm1), 1);                      // c1 + c3 + c5
    // (w2 + wm2) / 2 - c0 - 64 c6 = 4 c2 + 16 c4
    const V e2 = _mm256_srli_epi16(
        Sub(Sub(_mm256_srli_epi16(Add(w2, wm2), 1), w0), _mm256_slli_epi16(winf, 6)), 2);
    const V o2 = _mm256_srli_epi16(Sub(w2, wm2), 2);  // c1 + 4 c3 + 16 c5
    const V c4 = Mul(Sub(e2, e1), inv3);
    const V c2 = Sub(e1, c4);
    // (wh - 64 c0 - 16 c2 - 4 c4 - c6) / 2 = 16 c1 + 4 c3 + c5
    V h = Sub(wh, _mm256_slli_epi16(w0, 6));
    h = Sub(h, Add(_mm256_slli_epi16(c2, 4), _mm256_slli_epi16(c4, 2)));
    h = _mm256_srli_epi16(Sub(h, winf), 1);
    const V t = Mul(Sub(o2, o1), inv3);  // c3 + 5 c5
    // h - 16 o1 = -12 c3 - 15 c5 = -12 t + 45 c5
    const V c5 = Mul(Add(Sub(h, _mm256_slli_epi16(o1, 4)), Mul(t, twelve)), inv45);
    const V c3 = Sub(t, Mul(c5, five));
    c[0] = w0;
    c[1] = Sub(Sub(o1, c3), c5);
    c[2] = c2;
    c[3] = c3;
    c[4] = c4;
    c[5] = c5;
    c[6] = winf;
  };
  // prod[k kM + i] = c_k[i] + c_(k-1)[kM + i] for k = 0 .. 7: every output once, no clearing.
  for (int i = 0; i < kM; i += kLanes) {
    V lo[7];
    V hi[7];
    solve(i, lo);
    solve(kM + i, hi);
    Store(prod + i, lo[0]);
    for (int k = 1; k < 7; ++k) Store(prod + k * kM + i, Add(lo[k], hi[k - 1]));
    Store(prod + 7 * kM + i, hi[6]);
  }
}

// Coefficients per piece for PolyMulQ (see Toom4Mul): the smallest multiple of 4 with
// 16 pieces covering n coefficients -- 32, 44, 44, 52 for n = 509, 677, 701, 821.
constexpr int PieceLength(int n) { return ((n + 15) / 16 + 3) / 4 * 4; }

// All-ones in the lanes l with start + l < limit (start and limit are public).
inline V LanesBelow(int start, int limit) {
  const V index = _mm256_setr_epi16(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  return _mm256_cmpgt_epi16(_mm256_set1_epi16(static_cast<short>(limit - start)), index);
}

// out (16 kB slots) = x (at least 15 kPiece + kB coefficients readable) in piece layout.
template <int kB, int kPiece>
inline void ToPieces(const std::uint16_t* x, std::uint16_t* out) {
  for (int k = 0; k < 16; ++k) {
    for (int i = 0; i < kB; i += kLanes) {
      V v = Load(x + kPiece * k + i);
      if (i + kLanes > kPiece) v = _mm256_and_si256(v, LanesBelow(i, kPiece));  // public
      Store(out + kB * k + i, v);
    }
  }
}

// out[kPiece k + j] = prod[kB k + j] for the 32 pieces of a product, j < kPiece. Writes whole
// vectors in increasing order, so each piece overwrites the previous one's zero tail; out must
// have room for 31 kPiece + RoundUp16(kPiece) values, and what lies past 32 kPiece is zero.
template <int kB, int kPiece>
inline void FromPieces(const std::uint16_t* prod, std::uint16_t* out) {
  for (int k = 0; k < 32; ++k) {
    for (int i = 0; i < kPiece; i += kLanes) Store(out + kPiece * k + i, Load(prod + kB * k + i));
  }
}

// r[0 .. kPad) = prod (2 kPad coefficients) mod x^n - 1, the padding r[n ..) zero: up to the
// next whole vector one by one, the rest by vectors. Every load is in bounds.
template <class P>
inline void FoldModXnMinus1(std::uint16_t* r, const std::uint16_t* prod) {
  for (int i = 0; i < P::kPad; i += kLanes)
    Store(r + i, Add(Load(prod + i), Load(prod + P::kN + i)));
  constexpr int kFirstVector = (P::kN + kLanes - 1) / kLanes * kLanes;
  for (int i = P::kN; i < kFirstVector; ++i) r[i] = 0;
  for (int i = kFirstVector; i < P::kPad; i += kLanes) Store(r + i, _mm256_setzero_si256());
}

}  // namespace

template <class P>
void PrepareQ(PreparedQ<P>& out, const std::uint16_t* a) {
  constexpr int kB = P::kPad / 16;
  constexpr int kPiece = PieceLength(P::kN);
  static_assert(kPiece <= kB && 16 * kPiece >= P::kN && (32 * kPiece) % kLanes == 0);
  static_assert(sizeof out.v == Toom4Shape<P::kPad>::kVectors * sizeof(V));
  V* const t = reinterpret_cast<V*>(out.v);
  if constexpr (kPiece == kB) {
    Toom4Evaluate<P::kPad>(a, t);
  } else {
    alignas(32) std::uint16_t pieces[P::kPad];
    ToPieces<kB, kPiece>(a, pieces);
    Toom4Evaluate<P::kPad>(pieces, t);
  }
}

template <class P>
void PolyMulQPrepared(std::uint16_t* r, const PreparedQ<P>& a, const PreparedQ<P>& b) {
  constexpr int kB = P::kPad / 16;
  constexpr int kPiece = PieceLength(P::kN);
  const V* const ta = reinterpret_cast<const V*>(a.v);
  const V* const tb = reinterpret_cast<const V*>(b.v);
  alignas(32) std::uint16_t prod[2 * P::kPad];
  Toom4MulEvaluated<P::kPad, kPiece>(prod, ta, tb);
  if constexpr (kPiece == kB) {
    FoldModXnMinus1<P>(r, prod);
  } else {
    alignas(32) std::uint16_t plain[2 * P::kPad];
    FromPieces<kB, kPiece>(prod, plain);
    // The product ends at 32 kPiece (a multiple of 16); the fold reads up to kPad + n.
    for (int i = 32 * kPiece; i < 2 * P::kPad; i += kLanes) {
      Store(plain + i, _mm256_setzero_si256());
    }
    FoldModXnMinus1<P>(r, plain);
  }
}

template <class P>
void PolyMulQ(std::uint16_t* r, const std::uint16_t* a, const std::uint16_t* b) {
  PreparedQ<P> pa;
  PreparedQ<P> pb;
  PrepareQ<P>(pa, a);
  PrepareQ<P>(pb, b);
  PolyMulQPrepared<P>(r, pa, pb);
}

#define MEDMESH_NTRU_POLY_MUL_INSTANTIATE(P)                                             \
  template void PolyMulQ<P>(std::uint16_t*, const std::uint16_t*, const std::uint16_t*); \
  template void PrepareQ<P>(PreparedQ<P>&, const std::uint16_t*);                        \
  template void PolyMulQPrepared<P>(std::uint16_t*, const PreparedQ<P>&, const PreparedQ<P>&);
MEDMESH_NTRU_POLY_MUL_INSTANTIATE(Hps2048509)
MEDMESH_NTRU_POLY_MUL_INSTANTIATE(Hps2048677)
MEDMESH_NTRU_POLY_MUL_INSTANTIATE(Hps4096821)
MEDMESH_NTRU_POLY_MUL_INSTANTIATE(Hrss701)
#undef MEDMESH_NTRU_POLY_MUL_INSTANTIATE

}  // namespace medmesh::ntru::avx2

// The NTRU KEM, templated on the parameter set. Included by ntru_portable.cc and ntru_avx2.cc,
// each of which defines MEDMESH_NTRU_TARGET (a namespace name) first and compiles it with its
// own instruction-set flags, so the two builds never share a symbol.
//
// Representation: coefficients are uint16 with arithmetic mod 2^16 and lazy reduction mod q
// (q is a power of two); ternary polynomials use {0, 1, 2} with 2 meaning -1. Padding
// coefficients (index >= n) are always zero.
//
// Everything that touches secrets is constant time: fixed loop bounds, arithmetic masks,
// no secret-dependent indices. ValueBarrier keeps the compiler from re-introducing branches.
#ifndef MEDMESH_NTRU_TARGET
#error "define MEDMESH_NTRU_TARGET before including kem_impl.h"
#endif

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "crypto/ntru/internal/arith.h"
#include "crypto/ntru/internal/params.h"

#if defined(__AVX2__)
#include <immintrin.h>
#elif defined(__SSE2__)
#include <emmintrin.h>  // the portable build's conversions (inverse_impl.h, batch_impl.h)
#endif
#if defined(MEDMESH_NTRU_AVX2_KERNELS)  // the AVX2 build's hand-written kernels (ntru_avx2.cc)
#include "crypto/ntru/avx2/kernels.h"
#endif

#ifndef MEDMESH_NTRU_UNREACHABLE
#define MEDMESH_NTRU_UNREACHABLE() std::abort()
#endif

namespace medmesh::ntru::MEDMESH_NTRU_TARGET {

template <class P>
struct Poly {
  alignas(32) std::uint16_t c[P::kPad];
};

template <class P>
inline void Zero(Poly<P>& a) {
  std::memset(a.c, 0, sizeof a.c);
}

// ---------------------------------------------------------------------------------------------
// Multiplication in Z_{2^16}[x]: Karatsuba down to a schoolbook base case whose inner loop the
// compiler vectorises (8 lanes with SSE2, 16 with AVX2).
// ---------------------------------------------------------------------------------------------

// Vectors of coefficients through GCC/Clang vector extensions: the same source gives 8 lanes
// of SSE2 in the portable build and 16 lanes of AVX2 in the AVX2 build (and plain scalar code
// on CPUs without SIMD). Arithmetic on them is lane-wise mod 2^16; comparisons give lane masks.
#if defined(__AVX2__)
inline constexpr int kVecBytes = 32;
#else
inline constexpr int kVecBytes = 16;
#endif
inline constexpr int kU16Lanes = kVecBytes / 2;
inline constexpr int kI32Lanes = kVecBytes / 4;
using VecU16 = std::uint16_t __attribute__((vector_size(kVecBytes), aligned(kVecBytes)));
using VecI32 = std::int32_t __attribute__((vector_size(kVecBytes), aligned(kVecBytes)));

inline VecU16 LoadU16(const std::uint16_t* p) {
  VecU16 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void StoreU16(std::uint16_t* p, VecU16 v) { std::memcpy(p, &v, sizeof v); }

// r[0 .. 2L) = a * b for L a multiple of the lane count. Accumulates whole output vectors in
// registers: for each shift t, the V+1 vectors of b shifted by t (read from a zero-framed copy)
// are loaded once and multiplied by the broadcast coefficients a[t], a[t + lanes], ...
// Always inlined into the Karatsuba level above it (three copies): whether GCC inlined it
// depended on the rest of the file, and each call it kept out of line cost about 150
// instructions more (ADR 0058).
template <int L>
__attribute__((always_inline)) inline void Schoolbook(std::uint16_t* __restrict r,
                                                      const std::uint16_t* __restrict a,
                                                      const std::uint16_t* __restrict b) {
  static_assert(L % kU16Lanes == 0);
  constexpr int kV = L / kU16Lanes;
  alignas(kVecBytes) std::uint16_t bz[L + 2 * kU16Lanes] = {};
  std::memcpy(bz + kU16Lanes, b, L * sizeof(std::uint16_t));
  VecU16 acc[2 * kV] = {};
  for (int t = 0; t < kU16Lanes; ++t) {
    VecU16 bs[kV + 1];
#pragma GCC unroll 8
    for (int m = 0; m <= kV; ++m) bs[m] = LoadU16(bz + kU16Lanes + kU16Lanes * m - t);
#pragma GCC unroll 8
    for (int i0 = 0; i0 < kV; ++i0) {
      const std::uint16_t ai = a[i0 * kU16Lanes + t];
#pragma GCC unroll 8
      for (int m = 0; m <= kV; ++m) acc[i0 + m] += bs[m] * ai;
    }
  }
#pragma GCC unroll 8
  for (int k = 0; k < 2 * kV; ++k) StoreU16(r + std::ptrdiff_t{k} * kU16Lanes, acc[k]);
}

// r[0 .. 2L) = a[0 .. L) * b[0 .. L) (the top coefficient is always zero).
template <int L, int Base>
inline void Karatsuba(std::uint16_t* __restrict r, const std::uint16_t* __restrict a,
                      const std::uint16_t* __restrict b) {
  if constexpr (L <= Base || (L % 2) != 0) {
    Schoolbook<L>(r, a, b);
  } else {
    constexpr int kH = L / 2;
    alignas(32) std::uint16_t as[kH];
    alignas(32) std::uint16_t bs[kH];
    alignas(32) std::uint16_t mid[2 * kH];
    for (int i = 0; i < kH; ++i) {
      as[i] = static_cast<std::uint16_t>(a[i] + a[i + kH]);
      bs[i] = static_cast<std::uint16_t>(b[i] + b[i + kH]);
    }
    if constexpr (kH <= Base) {
      Schoolbook<kH>(r, a, b);
      Schoolbook<kH>(r + std::ptrdiff_t{2} * kH, a + kH, b + kH);
      Schoolbook<kH>(mid, as, bs);
    } else {
      Karatsuba<kH, Base>(r, a, b);                                     // low * low -> r[0, 2H)
      Karatsuba<kH, Base>(r + std::ptrdiff_t{2} * kH, a + kH, b + kH);  // high * high -> r[2H, 4H)
      Karatsuba<kH, Base>(mid, as, bs);
    }
    for (int i = 0; i < 2 * kH; ++i)
      mid[i] = static_cast<std::uint16_t>(mid[i] - r[i] - r[i + 2 * kH]);
    for (int i = 0; i < 2 * kH; ++i) r[i + kH] = static_cast<std::uint16_t>(r[i + kH] + mid[i]);
  }
}

// r[0 .. 2L) = a * b by Toom-3 (evaluation at 0, 1, -1, -2 and infinity, Bodrato's
// interpolation) over five Karatsuba products of length L/3. The interpolation halves exact
// even integers, which mod 2^16 loses the top bit, so the result is correct mod 2^15 only:
// enough for every use here (q <= 2^13, and S3 products are below 4n < 2^15).
template <int L, int Base>
inline void Toom3(std::uint16_t* __restrict r, const std::uint16_t* __restrict a,
                  const std::uint16_t* __restrict b) {
  static_assert(L % 3 == 0);
  constexpr int kM = L / 3;
  constexpr std::uint16_t kInv3 = 43691;  // 3 * 43691 = 1 mod 2^16
  // a(1), a(-1), a(-2) and the same for b
  alignas(32) std::uint16_t ea[3][kM];
  alignas(32) std::uint16_t eb[3][kM];
  const auto evaluate = [](std::uint16_t(*e)[kM], const std::uint16_t* x) {
    for (int i = 0; i < kM; ++i) {
      const std::uint32_t x0 = x[i];
      const std::uint32_t x1 = x[i + kM];
      const std::uint32_t x2 = x[i + 2 * kM];
      e[0][i] = static_cast<std::uint16_t>(x0 + x1 + x2);
      e[1][i] = static_cast<std::uint16_t>(x0 - x1 + x2);
      e[2][i] = static_cast<std::uint16_t>(x0 - 2 * x1 + 4 * x2);
    }
  };
  evaluate(ea, a);
  evaluate(eb, b);
  alignas(32) std::uint16_t w0[2 * kM];
  alignas(32) std::uint16_t w1[2 * kM];
  alignas(32) std::uint16_t wm1[2 * kM];
  alignas(32) std::uint16_t wm2[2 * kM];
  alignas(32) std::uint16_t winf[2 * kM];
  Karatsuba<kM, Base>(w0, a, b);
  Karatsuba<kM, Base>(w1, ea[0], eb[0]);
  Karatsuba<kM, Base>(wm1, ea[1], eb[1]);
  Karatsuba<kM, Base>(wm2, ea[2], eb[2]);
  Karatsuba<kM, Base>(winf, a + std::ptrdiff_t{2} * kM, b + std::ptrdiff_t{2} * kM);
  for (int i = 0; i < 2 * L; ++i) r[i] = 0;
  for (int i = 0; i < 2 * kM; ++i) {
    const std::uint16_t r0 = w0[i];
    const std::uint16_t r4 = winf[i];
    auto r3 = static_cast<std::uint16_t>(static_cast<std::uint32_t>(wm2[i] - w1[i]) * kInv3);
    auto r1 = static_cast<std::uint16_t>(static_cast<std::uint16_t>(w1[i] - wm1[i]) >> 1);
    auto r2 = static_cast<std::uint16_t>(wm1[i] - r0);
    r3 = static_cast<std::uint16_t>((static_cast<std::uint16_t>(r2 - r3) >> 1) + 2 * r4);
    r2 = static_cast<std::uint16_t>(r2 + r1 - r4);
    r1 = static_cast<std::uint16_t>(r1 - r3);
    r[i] = static_cast<std::uint16_t>(r[i] + r0);
    r[i + kM] = static_cast<std::uint16_t>(r[i + kM] + r1);
    r[i + 2 * kM] = static_cast<std::uint16_t>(r[i + 2 * kM] + r2);
    r[i + 3 * kM] = static_cast<std::uint16_t>(r[i + 3 * kM] + r3);
    r[i + 4 * kM] = static_cast<std::uint16_t>(r[i + 4 * kM] + r4);
  }
}

// r = a * b mod (2^15, x^n - 1) (bit 15 of each coefficient is unspecified). r may alias a
// or b. 768 = 3 * 256 uses Toom-3 over Karatsuba (45 base cases of 64), the other sizes
// Karatsuba alone (81 base cases). The portable build's product; the AVX2 build multiplies
// with its kernel PolyMulQ (RqMulModQ below) and never instantiates this.
template <class P>
inline void RqMul(Poly<P>& r, const Poly<P>& a, const Poly<P>& b) {
  alignas(32) std::uint16_t prod[2 * P::kPad];
  if constexpr (P::kPad == 768) {
    Toom3<P::kPad, 64>(prod, a.c, b.c);
  } else {
    Karatsuba<P::kPad, P::kPad / 16>(prod, a.c, b.c);
  }
  for (int i = 0; i < P::kN; ++i) r.c[i] = static_cast<std::uint16_t>(prod[i] + prod[i + P::kN]);
  for (int i = P::kN; i < P::kPad; ++i) r.c[i] = 0;
}

// r = a * b mod (2^13, x^n - 1) (bits 13-15 unspecified): enough for every product mod q
// (q <= 2^13) and for exact products of {0,1,2} polynomials (at most 4n < 2^13). Key
// generation (its lift too, inverse_impl.h), encapsulation and decapsulation use it; the AVX2
// build has a faster kernel for it (Toom-4), the portable build is RqMul.
template <class P>
inline void RqMulModQ(Poly<P>& r, const Poly<P>& a, const Poly<P>& b) {
#if defined(MEDMESH_NTRU_AVX2_KERNELS)
  PolyMulQ<P>(r.c, a.c, b.c);  // avx2/kernels.h
#else
  RqMul(r, a, b);
#endif
}

// r <- the representative of r mod Phi_n with coefficient n-1 zero: r -= r[n-1] Phi_n
// (mod 2^16).
template <class P>
inline void SubtractTopPhiN(Poly<P>& r) {
  const std::uint16_t top = r.c[P::kN - 1];
  for (int i = 0; i < P::kN; ++i) r.c[i] = static_cast<std::uint16_t>(r.c[i] - top);
}

// r = a * b mod (2^13, Phi_n) (RqMulModQ, then coefficient n-1 times Phi_n subtracted): for
// key generation and decapsulation, whose results are used mod q.
template <class P>
inline void SqMulModQ(Poly<P>& r, const Poly<P>& a, const Poly<P>& b) {
  RqMulModQ(r, a, b);
  SubtractTopPhiN(r);
}

// An operand of several products mod 2^13, prepared once (batch key generation, where
// Montgomery's trick multiplies one polynomial by two others). The AVX2 build keeps its Toom-4
// evaluation (PreparedQ, avx2/kernels.h: the operand's half of the work of PolyMulQ, done once);
// the portable build, whose product evaluates inside its recursion, only points at the
// polynomial, which must then stay unchanged until the operand's last product (that product
// may write its result into it, as RqMulModQ's r may alias a or b). RqMulOperands(r, a, b)
// equals RqMulModQ(r, a, b) for the prepared polynomials.
#if defined(MEDMESH_NTRU_AVX2_KERNELS)
template <class P>
struct MulOperand {
  PreparedQ<P> prepared;
};
template <class P>
inline void PrepareMul(MulOperand<P>& o, const Poly<P>& a) {
  PrepareQ<P>(o.prepared, a.c);
}
template <class P>
inline void RqMulOperands(Poly<P>& r, const MulOperand<P>& a, const MulOperand<P>& b) {
  PolyMulQPrepared<P>(r.c, a.prepared, b.prepared);
}
#else
template <class P>
struct MulOperand {
  const Poly<P>* poly;
};
template <class P>
inline void PrepareMul(MulOperand<P>& o, const Poly<P>& a) {
  o.poly = &a;
}
template <class P>
inline void RqMulOperands(Poly<P>& r, const MulOperand<P>& a, const MulOperand<P>& b) {
  RqMul(r, *a.poly, *b.poly);
}
#endif

// a.c[i] = f(a.c[i]) for i < n on whole vectors of coefficients, in straight-line code, the
// last vector masked so that the padding stays zero. GCC vectorises a loop over n (509, 677,
// 701, 821) as a vector loop and a scalar epilogue, about twice the instructions; the batch's
// per-key coefficient maps use this form (the single-key path keeps its loops).
template <class P, class F>
__attribute__((always_inline)) inline void MapCoeffs(Poly<P>& a, F f) {
  constexpr int kL = kU16Lanes;
  constexpr int kFull = P::kN / kL;
#pragma GCC unroll 64
  for (int i = 0; i < kFull; ++i) StoreU16(a.c + kL * i, f(LoadU16(a.c + kL * i)));
  if constexpr (P::kN % kL != 0) {
    static_assert(kL * (kFull + 1) <= P::kPad);
    VecU16 keep{};
    for (int l = 0; l < P::kN % kL; ++l) keep[l] = 0xffff;
    StoreU16(a.c + kL * kFull, f(LoadU16(a.c + kL * kFull)) & keep);
  }
}

// SubtractTopPhiN by MapCoeffs (batch key generation).
template <class P>
inline void SubtractTopPhiNVec(Poly<P>& r) {
  const std::uint16_t top = r.c[P::kN - 1];
  MapCoeffs(r, [top](VecU16 x) { return x - top; });
}

// SqMulModQ for prepared operands (batch key generation).
template <class P>
inline void SqMulOperands(Poly<P>& r, const MulOperand<P>& a, const MulOperand<P>& b) {
  RqMulOperands(r, a, b);
  SubtractTopPhiNVec(r);
}

// Reduces {0,1,2}-or-larger coefficients mod (3, Phi_n): subtract c[n-1] * Phi_n.
template <class P>
inline void Mod3PhiN(Poly<P>& r) {
  const std::uint32_t top = r.c[P::kN - 1];
  for (int i = 0; i < P::kN; ++i) r.c[i] = Mod3(r.c[i] + 2 * top);
}

// r = a * b mod (3, Phi_n) for a, b with coefficients in {0, 1, 2}.
template <class P>
inline void S3Mul(Poly<P>& r, const Poly<P>& a, const Poly<P>& b) {
#if defined(MEDMESH_NTRU_AVX2_KERNELS)
  if constexpr (P::kN > 800) {  // the byte-lane F_3 product (avx2/kernels.h, ADR 0069)
    S3MulByteLanes<P>(r.c, a.c, b.c);
  } else {
    RqMulModQ(r, a, b);       // exact mod 2^13, as below
    S3ReduceProduct<P>(r.c);  // the reduction below on vectors (avx2/kernels.h)
  }
#else
  RqMulModQ(r, a, b);  // exact mod 2^13, and every coefficient is at most 4n < 2^13
  for (int i = 0; i < P::kN; ++i) r.c[i] = Mod3(r.c[i] & 0x1fff);
  Mod3PhiN(r);
#endif
}

// ---------------------------------------------------------------------------------------------
// Conversions between representations.
// ---------------------------------------------------------------------------------------------

// One coefficient (or a vector of them) {0,1,2} -> {0, 1, q-1}: 2 becomes all ones below q.
template <class P, class T>
inline T Z3ToZqOf(T v) {
  return static_cast<T>(v | ((T{} - (v >> 1)) & P::kQMask));
}

// {0,1,2} -> {0, 1, q-1}
template <class P>
inline void Z3ToZq(Poly<P>& a) {
  for (int i = 0; i < P::kN; ++i) a.c[i] = Z3ToZqOf<P>(a.c[i]);
}

// {0,1,2} -> {0, 1, 2^16 - 1}: the same residues mod q as Z3ToZq, and the true values -1, 0, 1
// mod 2^13 (batch key generation multiplies f by this form both mod q and exactly for S3).
template <class P>
inline void Z3ToSigned(Poly<P>& a) {
  MapCoeffs(a, [](VecU16 v) { return v | (0 - (v >> 1)); });
}

// {0, 1, q-1} (mod q) -> {0, 1, 2}
template <class P>
inline void TrinaryZqToZ3(Poly<P>& a) {
  for (int i = 0; i < P::kN; ++i) {
    const std::uint16_t v = a.c[i] & P::kQMask;
    a.c[i] = static_cast<std::uint16_t>((v & 1) + (v >> (P::kLogQ - 1)));
  }
}

// Centre-lifts each coefficient mod q to (-q/2, q/2], then reduces mod (3, Phi_n).
template <class P>
inline void RqToS3(Poly<P>& r, const Poly<P>& a) {
#if defined(MEDMESH_NTRU_AVX2_KERNELS)
  RqToS3Reduce<P>(r.c, a.c);  // the same on vectors (avx2/kernels.h)
#else
  for (int i = 0; i < P::kN; ++i) {
    const std::uint32_t v = a.c[i] & P::kQMask;
    const std::uint32_t upper = v >> (P::kLogQ - 1);  // 1 if v represents v - q
    // v - q is congruent to v + 2q mod 3 and stays non-negative.
    r.c[i] = Mod3(v + upper * 2 * P::kQ);
  }
  for (int i = P::kN; i < P::kPad; ++i) r.c[i] = 0;
  Mod3PhiN(r);
#endif
}

// Lift(m): m itself (centred) for HPS; for HRSS Phi_1 * S3(m / Phi_1).
template <class P>
inline void Lift(Poly<P>& r, const Poly<P>& m) {
  if constexpr (!P::kHrss) {
    r = m;
    Z3ToZq(r);
  } else {
#if defined(MEDMESH_NTRU_AVX2_KERNELS)
    LiftHrss<P>(r.c, m.c);  // the same on vectors (avx2/kernels.h)
#else
    // b = m / (x - 1) mod (3, Phi_n). In Z_3[x]/(x^n - 1), (x-1) b = m + s Phi_n where summing
    // coefficients gives s = -sum(m) / n. Coefficientwise b[i] = b[i-1] - m[i] - s with b[0]
    // free; b[0] = 0 and then subtracting b[n-1] Phi_n gives the representative of degree < n-1.
    constexpr std::uint32_t kInvN = (P::kN % 3 == 1) ? 1 : 2;  // 1/n mod 3
    std::uint32_t sum = 0;
    for (int i = 0; i < P::kN; ++i) sum += m.c[i];
    const std::uint32_t s = Mod3(3 * 3 - Mod3(Mod3(sum) * kInvN));  // -sum/n mod 3, in [0,3)
    Poly<P> b;
    b.c[0] = 0;
    for (int i = 1; i < P::kN; ++i) b.c[i] = Mod3(b.c[i - 1] + 2 * m.c[i] + 2 * s);
    for (int i = P::kN; i < P::kPad; ++i) b.c[i] = 0;
    // The wrap-around equation b[n-1] - b[0] = m[0] + s holds by the choice of s.
    Mod3PhiN(b);
    Z3ToZq(b);
    // r = (x - 1) * b over Z_q; b[n-1] = 0 so there is no wrap-around term beyond b[n-1].
    r.c[0] = static_cast<std::uint16_t>(0 - b.c[0]);
    for (int i = 1; i < P::kN; ++i) r.c[i] = static_cast<std::uint16_t>(b.c[i - 1] - b.c[i]);
    for (int i = P::kN; i < P::kPad; ++i) r.c[i] = 0;
    r.c[0] = static_cast<std::uint16_t>(r.c[0] + b.c[P::kN - 1]);
    Wipe(&b, sizeof b);
#endif
  }
}

// ---------------------------------------------------------------------------------------------
// Packing.
// ---------------------------------------------------------------------------------------------

// Coefficients 0..n-2, logq bits each, little-endian bit order. Eight coefficients fill
// exactly logq bytes; within a group every bit position is a compile-time constant once the
// loop is unrolled, so each coefficient is a few shifts of at most three bytes.
template <class P>
inline void PackSq(std::uint8_t* out, const Poly<P>& a) {
  constexpr int kGroups = (P::kN - 1) / 8;
#if defined(MEDMESH_NTRU_AVX2_KERNELS)
  PackSqGroups<P>(out, a.c);  // the same groups with BMI2 (avx2/kernels.h)
#else
  for (int g = 0; g < kGroups; ++g) {
    std::uint8_t* o = out + g * P::kLogQ;
    std::memset(o, 0, P::kLogQ);
#pragma GCC unroll 8
    for (int k = 0; k < 8; ++k) {
      const int bit = k * P::kLogQ;
      const int byte = bit / 8;
      const int shift = bit % 8;
      const std::uint32_t v = static_cast<std::uint32_t>(a.c[8 * g + k] & P::kQMask) << shift;
      o[byte] = static_cast<std::uint8_t>(o[byte] | v);
      o[byte + 1] = static_cast<std::uint8_t>(o[byte + 1] | (v >> 8));
      if (shift + P::kLogQ > 16) o[byte + 2] = static_cast<std::uint8_t>(o[byte + 2] | (v >> 16));
    }
  }
#endif
  std::uint32_t acc = 0;
  int bits = 0;
  std::size_t o = static_cast<std::size_t>(kGroups) * P::kLogQ;
  for (int i = 8 * kGroups; i < P::kN - 1; ++i) {
    acc |= static_cast<std::uint32_t>(a.c[i] & P::kQMask) << bits;
    bits += P::kLogQ;
    while (bits >= 8) {
      out[o++] = static_cast<std::uint8_t>(acc);
      acc >>= 8;
      bits -= 8;
    }
  }
  if (bits > 0) out[o++] = static_cast<std::uint8_t>(acc);
}

// Inverse of PackSq; coefficient n-1 is set to zero.
template <class P>
inline void UnpackSq(Poly<P>& a, const std::uint8_t* in) {
  constexpr int kGroups = (P::kN - 1) / 8;
#if defined(MEDMESH_NTRU_AVX2_KERNELS)
  UnpackSqGroups<P>(a.c, in);  // the same groups with BMI2 (avx2/kernels.h)
#else
  for (int g = 0; g < kGroups; ++g) {
    const std::uint8_t* b = in + g * P::kLogQ;
#pragma GCC unroll 8
    for (int k = 0; k < 8; ++k) {
      const int bit = k * P::kLogQ;
      const int byte = bit / 8;
      const int shift = bit % 8;
      std::uint32_t v = b[byte] | static_cast<std::uint32_t>(b[byte + 1]) << 8;
      if (shift + P::kLogQ > 16) v |= static_cast<std::uint32_t>(b[byte + 2]) << 16;
      a.c[8 * g + k] = static_cast<std::uint16_t>((v >> shift) & P::kQMask);
    }
  }
#endif
  std::uint32_t acc = 0;
  int bits = 0;
  std::size_t pos = static_cast<std::size_t>(kGroups) * P::kLogQ;
  for (int i = 8 * kGroups; i < P::kN - 1; ++i) {
    while (bits < P::kLogQ) {
      acc |= static_cast<std::uint32_t>(in[pos++]) << bits;
      bits += 8;
    }
    a.c[i] = static_cast<std::uint16_t>(acc & P::kQMask);
    acc >>= P::kLogQ;
    bits -= P::kLogQ;
  }
  for (int i = P::kN - 1; i < P::kPad; ++i) a.c[i] = 0;
}

// Sum-zero unpacking: coefficient n-1 is minus the sum of the others, mod q.
template <class P>
inline void UnpackRq0(Poly<P>& a, const std::uint8_t* in) {
  UnpackSq(a, in);
  std::uint16_t sum = 0;
  for (int i = 0; i < P::kN - 1; ++i) sum = static_cast<std::uint16_t>(sum + a.c[i]);
  a.c[P::kN - 1] = static_cast<std::uint16_t>((0 - sum) & P::kQMask);
}

// UnpackRq0 with the sum on whole vectors (batch key generation): UnpackSq leaves coefficients
// n-1 and up zero, so whole vectors up to n-1 add the same.
template <class P>
inline void UnpackRq0Vec(Poly<P>& a, const std::uint8_t* in) {
  UnpackSq(a, in);
  constexpr int kL = kU16Lanes;
  VecU16 acc{};
#pragma GCC unroll 64
  for (int i = 0; i < (P::kN - 1 + kL - 1) / kL; ++i) acc += LoadU16(a.c + kL * i);
  std::uint16_t sum = 0;
  for (int l = 0; l < kL; ++l) sum = static_cast<std::uint16_t>(sum + acc[l]);
  a.c[P::kN - 1] = static_cast<std::uint16_t>((0 - sum) & P::kQMask);
}

// Five trits per byte, c0 + 3c1 + 9c2 + 27c3 + 81c4, over coefficients 0..n-2.
template <class P>
inline void PackS3(std::uint8_t* out, const Poly<P>& a) {
#if defined(MEDMESH_NTRU_AVX2_KERNELS)
  PackS3Trits<P>(out, a.c);  // the same bytes on vectors (avx2/kernels.h)
#else
  constexpr int kFull = (P::kN - 1) / 5;
  for (int i = 0; i < kFull; ++i) {
    const std::uint16_t* c = a.c + 5 * i;
    out[i] = static_cast<std::uint8_t>(c[0] + 3 * c[1] + 9 * c[2] + 27 * c[3] + 81 * c[4]);
  }
  if constexpr (kFull * 5 < P::kN - 1) {
    std::uint32_t c = 0;
    for (int idx = P::kN - 2; idx >= 5 * kFull; --idx) c = 3 * c + a.c[idx];
    out[kFull] = static_cast<std::uint8_t>(c);
  }
#endif
}

template <class P>
inline void UnpackS3(Poly<P>& a, const std::uint8_t* in) {
#if defined(MEDMESH_NTRU_AVX2_KERNELS)
  UnpackS3Trits<P>(a.c, in);  // the same on vectors (avx2/kernels.h)
#else
  constexpr int kFull = (P::kN - 1) / 5;
  for (int i = 0; i < kFull; ++i) {
    std::uint32_t c = in[i];
    for (int j = 0; j < 5; ++j) {
      a.c[5 * i + j] = Mod3(c);
      c = Div3Byte(c);
    }
  }
  if constexpr (kFull * 5 < P::kN - 1) {
    std::uint32_t c = in[kFull];
    for (int idx = 5 * kFull; idx < P::kN - 1; ++idx) {
      a.c[idx] = Mod3(c);
      c = Div3Byte(c);
    }
  }
  for (int i = P::kN - 1; i < P::kPad; ++i) a.c[i] = 0;
#endif
}

// ---------------------------------------------------------------------------------------------
// Constant-time sort of int32 (a bitonic network over a power-of-two padded array).
// ---------------------------------------------------------------------------------------------

constexpr int NextPow2(int v) {
  int p = 1;
  while (p < v) p <<= 1;
  return p;
}

// Sorts Len int32 values (a power of two, at least 2 * lanes) ascending as signed numbers with
// a bitonic network whose every compare-exchange is a lane-wise min/max: no data-dependent
// branch or index. Layout: the element of rank e ends in vector e % P, lane e / P (P = Len /
// lanes), so pairs at distance j < P are in different vectors (vertical min/max) and pairs at
// distance j >= P are lanes of one vector (a fixed shuffle). The input order is irrelevant to
// a sort, so values are loaded as they come; Extract reads the result in rank order.
template <int Len>
class BitonicSorter {
 public:
  static constexpr int kLanes = kI32Lanes;
  static constexpr int kP = Len / kLanes;
  static_assert((Len & (Len - 1)) == 0 && kP >= 2);

  explicit BitonicSorter(const std::int32_t* in) { std::memcpy(v_, in, sizeof v_); }
  ~BitonicSorter() { Wipe(v_, sizeof v_); }

  // Merge stage k: the lane stages (j >= P) one at a time, then the stages between vectors:
  // one or two single stages first (where blocks are long), the rest three at a time
  // (distances j, j/2, j/4 close over groups of 8 vectors, which stay in registers).
  void Sort() {
    for (int k = 2; k <= Len; k <<= 1) {
      int j = k >> 1;
      for (; j >= kP; j >>= 1) Stage(k, j);
      int stages = 0;
      for (int t = j; t > 0; t >>= 1) ++stages;
      for (; stages % 3 != 0; --stages, j >>= 1) Stage(k, j);
      for (; j > 0; j >>= 3) Stage3(k, j);
    }
  }

  std::int32_t Extract(int rank) const { return v_[rank % kP][rank / kP]; }  // rank is public

 private:
  static VecI32 Select(VecI32 mask, VecI32 a, VecI32 b) { return mask != 0 ? a : b; }
#if defined(__AVX2__)
  static VecI32 Min(VecI32 a, VecI32 b) {
    return reinterpret_cast<VecI32>(
        _mm256_min_epi32(reinterpret_cast<__m256i>(a), reinterpret_cast<__m256i>(b)));
  }
  static VecI32 Max(VecI32 a, VecI32 b) {
    return reinterpret_cast<VecI32>(
        _mm256_max_epi32(reinterpret_cast<__m256i>(a), reinterpret_cast<__m256i>(b)));
  }
  // Per lane: ascending, or descending where the desc mask is set.
  static void Exchange(VecI32& a, VecI32& b, VecI32 desc) {
    const VecI32 lo = Min(a, b);
    const VecI32 hi = Max(a, b);
    a = Select(desc, hi, lo);
    b = Select(desc, lo, hi);
  }
  // Lane-wise min(a, b) where lo is set, max(a, b) elsewhere.
  static VecI32 MinOrMax(VecI32 a, VecI32 b, VecI32 lo) { return Select(lo, Min(a, b), Max(a, b)); }
#else
  // Without a vector min/max (SSE2), swap through a comparison mask.
  static void SwapWhere(VecI32& a, VecI32& b, VecI32 mask) {
    const VecI32 t = (a ^ b) & mask;
    a ^= t;
    b ^= t;
  }
  static void Exchange(VecI32& a, VecI32& b, VecI32 desc) { SwapWhere(a, b, (a > b) ^ desc); }
  static VecI32 MinOrMax(VecI32 a, VecI32 b, VecI32 lo) {
    return a ^ ((a ^ b) & ((a > b) ^ ~lo));  // b where it is the one asked for
  }
#endif

  // Lane l of the result is lane l ^ lane_bit of v (lane_bit is public: 1, 2, 4, ...).
  template <int kBit, std::size_t... I>
  static VecI32 SwapLanesImpl(VecI32 v, std::index_sequence<I...> /*lanes*/) {
    return __builtin_shufflevector(v, v, (static_cast<int>(I) ^ kBit)...);
  }
  static VecI32 SwapLanes(VecI32 v, int lane_bit) {
    constexpr auto kIdx = std::make_index_sequence<kLanes>{};
    switch (lane_bit) {
      case 1: return SwapLanesImpl<1>(v, kIdx);
      case 2: return SwapLanesImpl<2>(v, kIdx);
      default: break;
    }
    if constexpr (kLanes > 4) {
      if (lane_bit == 4) return SwapLanesImpl<4>(v, kIdx);
    }
    MEDMESH_NTRU_UNREACHABLE();
  }

  // For k >= P the bitonic direction (bit k of the element index e = l * P + p) depends only
  // on the lane: all-ones in the lanes that sort descending in merge stage k.
  static VecI32 LaneDescMask(int k) {
    VecI32 m;
    for (int l = 0; l < kLanes; ++l) m[l] = ((l * kP) & k) != 0 ? -1 : 0;
    return m;
  }

  // Direction mask of the block of vectors starting at blk in merge stage k (bit k of the
  // element index l * P + p): from p for k < P (uniform over the block, whose 2j vectors share
  // bit k), from the lane for k >= P.
  static VecI32 BlockDescMask(int k, int blk) {
    return LaneDescMask(k) | (VecI32{} - ((blk & k) != 0 ? 1 : 0));
  }

  // Three stages of merge size k at distances j, j/2 and j/4 (4 <= j < P): each group of the 8
  // vectors p, p + j/4, ..., p + 7j/4 is closed under the three, so it is loaded once.
  void Stage3(int k, int j) {
    const int d = j / 4;
    for (int blk = 0; blk < kP; blk += 2 * j) {
      const VecI32 desc = BlockDescMask(k, blk);
      for (int p = blk; p < blk + d; ++p) {
        VecI32 x[8];
#pragma GCC unroll 8
        for (int m = 0; m < 8; ++m) x[m] = v_[p + m * d];
#pragma GCC unroll 4
        for (int m = 0; m < 4; ++m) Exchange(x[m], x[m + 4], desc);
#pragma GCC unroll 4
        for (int m = 0; m < 4; ++m)
          Exchange(x[(m & 1) + 4 * (m >> 1)], x[(m & 1) + 4 * (m >> 1) + 2], desc);
#pragma GCC unroll 4
        for (int m = 0; m < 4; ++m) Exchange(x[2 * m], x[2 * m + 1], desc);
#pragma GCC unroll 8
        for (int m = 0; m < 8; ++m) v_[p + m * d] = x[m];
      }
    }
  }

  // One compare-exchange stage of merge size k at distance j. Every branch below depends on
  // the public indices k, j and p only.
  void Stage(int k, int j) {
    if (j < kP) {
      // Pairs (p, p + j) inside blocks of 2j vectors; the direction is uniform over a block
      // (k >= 2j) or depends on the lane (k >= P).
      for (int blk = 0; blk < kP; blk += 2 * j) {
        const VecI32 desc = BlockDescMask(k, blk);
        for (int p = blk; p < blk + j; ++p) Exchange(v_[p], v_[p + j], desc);
      }
    } else {
      const int lane_bit = j / kP;
      VecI32 lower;
      for (int l = 0; l < kLanes; ++l) lower[l] = ((l & lane_bit) == 0) ? -1 : 0;
      const VecI32 keep_lo = lower ^ LaneDescMask(k);  // lower XOR descending
      for (int p = 0; p < kP; ++p) {
        const VecI32 partner = SwapLanes(v_[p], lane_bit);
        v_[p] = MinOrMax(v_[p], partner, keep_lo);
      }
    }
  }

  VecI32 v_[kP];
};

// Sorts kI32Lanes independent columns of kLen int32 each, ascending as signed numbers: element i
// of column l is lane l of v[i] (a "vertical" sort, batch key generation: one column per key),
// so every compare-exchange is one lane-wise min and max of two whole vectors, no shuffle.
// The network is fixed (no data-dependent branch or index) and in standard form: every
// comparator (i, j), i < j, puts the minimum at i. Batcher's odd-even merge sort on runs of 8
// (19 comparators), then bitonic merges with a "flip" first stage (i against 2K-1-i in blocks
// of 2K) and half-cleaners, on the padded length NextPow2(kLen). Padding would be INT32_MAX and
// a standard-form network never moves a maximum from the top, so every comparator that touches
// an index >= kLen does nothing: v holds kLen vectors only and those comparators are dropped
// (whole groups, or rows read as INT32_MAX in a group at the boundary). For 676 of 1024 about a
// third of the network goes.
// Register blocking: up to kMaxDepth consecutive stages of a merge run on a group of
// 2^kMaxDepth vectors that they pair only among themselves, loaded and stored once.
template <int kLen>
class ColumnSorter {
 public:
  static constexpr int kSortLen = NextPow2(kLen);
  static_assert(kLen >= 8);

  static void Sort(VecI32* v) {
    if constexpr (kMaxDepth >= 4 && kLen >= 16) {
      SortRuns16(v);
      Merges<16>(v);
    } else {
      SortRuns8(v);
      Merges<8>(v);
    }
  }

 private:
#if defined(__AVX2__)
  static constexpr int kMaxDepth = 4;
  static void Exchange(VecI32& a, VecI32& b) {
    const __m256i x = reinterpret_cast<__m256i>(a);
    const __m256i y = reinterpret_cast<__m256i>(b);
    a = reinterpret_cast<VecI32>(_mm256_min_epi32(x, y));
    b = reinterpret_cast<VecI32>(_mm256_max_epi32(x, y));
  }
#else
  static constexpr int kMaxDepth = 3;
  static void Exchange(VecI32& a, VecI32& b) {  // no min/max before SSE4.1: swap by a mask
    const VecI32 t = (a ^ b) & (a > b);
    a ^= t;
    b ^= t;
  }
#endif

  static constexpr int Log2(int v) {
    int l = 0;
    while ((1 << l) < v) ++l;
    return l;
  }

  // Loads the group's rows (row i of the group is v[idx(i)]), runs net on them in registers
  // and stores them back. kPartial: the group reaches past kLen, whose rows read as INT32_MAX
  // and are not stored (idx is increasing in i, so the valid rows are a prefix).
  template <int kN, bool kPartial, class Idx, class Net>
  __attribute__((always_inline)) static void Group(VecI32* v, Idx idx, Net net) {
    VecI32 r[kN];
#pragma GCC unroll 16
    for (int i = 0; i < kN; ++i) {
      if (!kPartial || idx(i) < kLen) {
        r[i] = v[idx(i)];
      } else {
        r[i] = VecI32{} + 0x7fffffff;
      }
    }
    net(r);
#pragma GCC unroll 16
    for (int i = 0; i < kN; ++i) {
      if (!kPartial || idx(i) < kLen) v[idx(i)] = r[i];
    }
  }

  // Half-cleaner stages at register distances kTop, kTop / 2, ..., 1 on kN rows.
  template <int kN, int kTop>
  __attribute__((always_inline)) static void Cleaners(VecI32* r) {
#pragma GCC unroll 4
    for (int d = kTop; d > 0; d >>= 1) {
#pragma GCC unroll 16
      for (int i = 0; i < kN; ++i) {
        if ((i & d) == 0) Exchange(r[i], r[i + d]);
      }
    }
  }

  // Batcher's odd-even merge sort of 8 rows (19 comparators, depth 6).
  __attribute__((always_inline)) static void Sort8(VecI32* r) {
    constexpr int kPairs[19][2] = {{0, 1}, {2, 3}, {4, 5}, {6, 7}, {0, 2}, {1, 3}, {4, 6},
                                   {5, 7}, {1, 2}, {5, 6}, {0, 4}, {1, 5}, {2, 6}, {3, 7},
                                   {2, 4}, {3, 5}, {1, 2}, {3, 4}, {5, 6}};
#pragma GCC unroll 19
    for (const auto& p : kPairs) Exchange(r[p[0]], r[p[1]]);
  }

  // Sorted runs of kRun rows, each loaded and stored once.
  template <int kRun, class Net>
  static void SortRuns(VecI32* v, Net net) {
    for (int b = 0; b < kLen; b += kRun) {
      const auto idx = [b](int i) { return b + i; };
      if (b + kRun - 1 < kLen) {
        Group<kRun, false>(v, idx, net);
      } else {
        Group<kRun, true>(v, idx, net);
      }
    }
  }
  static void SortRuns8(VecI32* v) {
    SortRuns<8>(v, [](VecI32* r) { Sort8(r); });
  }
  // Two runs of 8 and the merge of size 16 (flip and three half-cleaners) in registers.
  static void SortRuns16(VecI32* v) {
    SortRuns<16>(v, [](VecI32* r) {
      Sort8(r);
      Sort8(r + 8);
#pragma GCC unroll 8
      for (int m = 0; m < 8; ++m) Exchange(r[m], r[15 - m]);
      Cleaners<16, 4>(r);
    });
  }

  template <int kK>
  static void Merges(VecI32* v) {
    if constexpr (kK < kSortLen) {
      // log2(2K) stages: the flip and the half-cleaners K/2 .. 1, kMaxDepth at a time.
      constexpr int kStages = Log2(2 * kK);
      constexpr int kFlipDepth = kStages < kMaxDepth ? kStages : kMaxDepth;
      Flip<kK, kFlipDepth>(v);
      if constexpr (kStages > kFlipDepth) Halves<(kK >> kFlipDepth), kMaxDepth>(v);
      Merges<2 * kK>(v);
    }
  }

  // The flip of merge K (row b + i against b + 2K - 1 - i in each block of 2K) and the next
  // kDepth - 1 half-cleaners, on groups of 2^kDepth rows: with H = 2^(kDepth - 1) and
  // part = K / H, rows b + r + m part (m < H) and b + K + (part - 1 - r) + m part, the second
  // set being the flip partners of the first in reverse order.
  template <int kK, int kDepth>
  static void Flip(VecI32* v) {
    constexpr int kH = 1 << (kDepth - 1);
    constexpr int kPart = kK / kH;
    const auto net = [](VecI32* r) {
#pragma GCC unroll 8
      for (int m = 0; m < kH; ++m) Exchange(r[m], r[2 * kH - 1 - m]);
      Cleaners<2 * kH, kH / 2>(r);
    };
    for (int b = 0; b < kLen; b += 2 * kK) {
      for (int r = 0; r < kPart && b + r < kLen; ++r) {
        const auto idx = [b, r](int i) {
          return i < kH ? b + r + i * kPart : b + kK + (kPart - 1 - r) + (i - kH) * kPart;
        };
        if (b + 2 * kK - 1 - r < kLen) {
          Group<2 * kH, false>(v, idx, net);
        } else {
          Group<2 * kH, true>(v, idx, net);
        }
      }
    }
  }

  // Half-cleaners at distances kD, kD / 2, ... (kD >= 1), kDepth at a time on groups of
  // 2^kDepth rows base + i * (kD / 2^(kDepth - 1)), then the rest.
  template <int kD, int kDepth>
  static void Halves(VecI32* v) {
    constexpr int kDep = kDepth < Log2(2 * kD) ? kDepth : Log2(2 * kD);
    constexpr int kN = 1 << kDep;
    constexpr int kStep = kD >> (kDep - 1);
    const auto net = [](VecI32* r) { Cleaners<kN, kN / 2>(r); };
    for (int hi = 0; hi < kLen; hi += 2 * kD) {
      for (int lo = 0; lo < kStep && hi + lo < kLen; ++lo) {
        const int base = hi + lo;
        const auto idx = [base](int i) { return base + i * kStep; };
        if (base + (kN - 1) * kStep < kLen) {
          Group<kN, false>(v, idx, net);
        } else {
          Group<kN, true>(v, idx, net);
        }
      }
    }
    if constexpr ((kD >> kDep) > 0) Halves<(kD >> kDep), kDepth>(v);
  }
};

// ---------------------------------------------------------------------------------------------
// Sampling.
// ---------------------------------------------------------------------------------------------

// Ternary: each of the n-1 bytes reduced mod 3 (256 = 1 mod 3: slightly biased, as specified).
template <class P>
inline void SampleIid(Poly<P>& r, const std::uint8_t* bytes) {
  for (int i = 0; i < P::kN - 1; ++i) r.c[i] = Mod3(bytes[i]);
  for (int i = P::kN - 1; i < P::kPad; ++i) r.c[i] = 0;
}

// Ternary_Plus (HRSS): Ternary, then negate the even coefficients if sum v_i v_{i+1} < 0.
template <class P>
inline void SampleIidPlus(Poly<P>& r, const std::uint8_t* bytes) {
  SampleIid(r, bytes);
  for (int i = 0; i < P::kN - 1; ++i)  // {0,1,2} -> {0, 1, 0xffff}
    r.c[i] = static_cast<std::uint16_t>(r.c[i] | (0 - (r.c[i] >> 1)));
  std::uint16_t s = 0;
  for (int i = 0; i < P::kN - 1; ++i)
    s = static_cast<std::uint16_t>(s + std::uint32_t{r.c[i + 1]} * r.c[i]);
  // sign = +1 if s >= 0 (as int16), else -1 (0xffff)
  const std::uint32_t sign = 1u | (0u - (s >> 15));
  for (int i = 0; i < P::kN; i += 2) r.c[i] = static_cast<std::uint16_t>(sign * r.c[i]);
  for (int i = 0; i < P::kN; ++i)  // back to {0,1,2}
    r.c[i] = static_cast<std::uint16_t>(3 & (r.c[i] ^ (r.c[i] >> 15)));
}

// Fixed_Type (HPS): q/16-1 coefficients +1, q/16-1 coefficients -1, at positions given by
// sorting 30-bit random keys. Keys are compared as signed int32 (as the reference code does,
// which is what the KATs encode).
// The n-1 random keys of Fixed_Type from u, 30 bits shifted left by 2 (type bits zero): keys
// kI32Lanes b .. kI32Lanes b + kI32Lanes - 1 at s + b * kI32Lanes * kRowStride, so contiguous
// for kRowStride 1, and with kRowStride kI32Lanes one key's rows of a column layout
// (SampleFixedTypesPacked).
template <class P, int kRowStride = 1>
inline void FixedTypeRandomKeys(std::int32_t* s, const std::uint8_t* u) {
#if defined(MEDMESH_NTRU_AVX2_KERNELS)
  static_assert(kI32Lanes == 8);
  FixedTypeKeys<P, 8 * kRowStride>(s, u);  // the same keys with BMI2 (avx2/kernels.h)
#else
  for (int i = 0; i < (P::kN - 1) / 4; ++i) {
    const std::uint8_t* b = u + std::ptrdiff_t{15} * i;
    const std::uint32_t s0 = (std::uint32_t{b[0]} << 2) | (std::uint32_t{b[1]} << 10) |
                             (std::uint32_t{b[2]} << 18) | (std::uint32_t{b[3]} << 26);
    const std::uint32_t s1 = ((std::uint32_t{b[3]} & 0xc0) >> 4) | (std::uint32_t{b[4]} << 4) |
                             (std::uint32_t{b[5]} << 12) | (std::uint32_t{b[6]} << 20) |
                             (std::uint32_t{b[7]} << 28);
    const std::uint32_t s2 = ((std::uint32_t{b[7]} & 0xf0) >> 2) | (std::uint32_t{b[8]} << 6) |
                             (std::uint32_t{b[9]} << 14) | (std::uint32_t{b[10]} << 22) |
                             (std::uint32_t{b[11]} << 30);
    const std::uint32_t s3 = (std::uint32_t{b[11]} & 0xfc) | (std::uint32_t{b[12]} << 8) |
                             (std::uint32_t{b[13]} << 16) | (std::uint32_t{b[14]} << 24);
    std::int32_t* o = s + 4 * i;  // keys 4i .. 4i + 3
    if constexpr (kRowStride != 1) {
      constexpr std::size_t kFours = kI32Lanes / 4;  // groups of 4 keys per block
      const auto g = static_cast<std::size_t>(i);
      o = s + g / kFours * kI32Lanes * kRowStride + g % kFours * 4;
    }
    o[0] = static_cast<std::int32_t>(s0);
    o[1] = static_cast<std::int32_t>(s1);
    o[2] = static_cast<std::int32_t>(s2);
    o[3] = static_cast<std::int32_t>(s3);
  }
#endif
}

template <class P>
inline void SampleFixedType(Poly<P>& r, const std::uint8_t* u) {
  constexpr int kLen = P::kN - 1;
#if defined(MEDMESH_NTRU_AVX2_KERNELS)
  constexpr int kSortLen = (kLen + 7) / 8 * 8;  // the AVX2 sort takes any multiple of 8
#else
  constexpr int kSortLen = NextPow2(kLen);
#endif
  alignas(32) std::int32_t s[kSortLen];
  FixedTypeRandomKeys<P>(s, u);
  for (int i = 0; i < P::kHalfWeight; ++i) s[i] |= 1;
  for (int i = P::kHalfWeight; i < P::kWeight; ++i) s[i] |= 2;
  // Padding sorts last: no real key equals INT32_MAX because its type bits are never 3.
  for (int i = kLen; i < kSortLen; ++i) s[i] = 0x7fffffff;
#if defined(MEDMESH_NTRU_AVX2_KERNELS)
  SortInt32<kSortLen>(s);  // the same order, by the AVX2 kernel (avx2/kernels.h)
  for (int i = 0; i < kLen; ++i) r.c[i] = static_cast<std::uint16_t>(s[i] & 3);
#else
  BitonicSorter<kSortLen> sorter(s);
  sorter.Sort();
  for (int i = 0; i < kLen; ++i) r.c[i] = static_cast<std::uint16_t>(sorter.Extract(i) & 3);
#endif
  for (int i = kLen; i < P::kPad; ++i) r.c[i] = 0;
  Wipe(s, sizeof s);
}

// Transposes the kI32Lanes x kI32Lanes matrix of int32 whose row i is r[i], in place: swaps
// the off-diagonal blocks of side h for h = lanes / 2, ..., 1 (fixed two-input shuffles).
template <int kH, std::size_t... I>
inline VecI32 TransposeLow(VecI32 a, VecI32 b, std::index_sequence<I...> /*lanes*/) {
  return __builtin_shufflevector(a, b, ((I & kH) != 0 ? kI32Lanes + (I ^ kH) : I)...);
}
template <int kH, std::size_t... I>
inline VecI32 TransposeHigh(VecI32 a, VecI32 b, std::index_sequence<I...> /*lanes*/) {
  return __builtin_shufflevector(a, b, ((I & kH) != 0 ? kI32Lanes + I : I ^ kH)...);
}
template <int kH = kI32Lanes / 2>
inline void TransposeI32(VecI32* r) {
  constexpr auto kIdx = std::make_index_sequence<kI32Lanes>{};
#pragma GCC unroll 8
  for (int i = 0; i < kI32Lanes; ++i) {
    if ((i & kH) == 0) {
      const VecI32 a = r[i];
      const VecI32 b = r[i + kH];
      r[i] = TransposeLow<kH>(a, b, kIdx);
      r[i + kH] = TransposeHigh<kH>(a, b, kIdx);
    }
  }
  if constexpr (kH > 1) TransposeI32<kH / 2>(r);
}

// Zeroes n vectors that held secrets with vector stores (volatile: kept, and not turned into a
// memset, which copies a buffer this large with rep stosb).
inline void WipeVecs(VecI32* v, int n) {
  volatile VecI32* p = v;
#pragma GCC unroll 8
  for (int i = 0; i < n; ++i) p[i] = VecI32{};
}

// Zeroes kBytes of the stack right below the caller's frame, where the function the caller
// called last had its frame: a not inlined function whose own frame is that large. For
// SampleFixedTypesPacked, whose sort keeps 16 vectors in registers and spills some of them
// below its buffers, where WipeVecs does not reach.
template <std::size_t kBytes>
__attribute__((noinline)) void ScrubStack() {
  constexpr int kVecs = static_cast<int>(kBytes / sizeof(VecI32));
  alignas(kVecBytes) VecI32 area[kVecs];
  WipeVecs(area, kVecs);
}

// The rows of SampleFixedTypesPacked's column buffer: the n-1 keys in whole kI32Lanes x
// kI32Lanes blocks.
template <class P>
inline constexpr int kFixedTypesRows = (P::kN - 1 + kI32Lanes - 1) / kI32Lanes* kI32Lanes;

// An upper bound of SampleFixedTypesPacked's frame with the red zone below it: its two
// buffers and 4 KB for everything else (-fstack-usage: 17 / 22 / 27 KB for 509 / 677 / 821
// with AVX2, of which about 700 bytes are spills below the buffers).
template <class P>
inline constexpr std::size_t kFixedTypesFrameBytes = (kFixedTypesRows<P> + kI32Lanes) *
                                                         sizeof(VecI32) +
                                                     4096;

// Fixed_Type for count <= kI32Lanes keys at once, packed (batch key generation): writes
// PackS3 of SampleFixedType(u + l * stride) to out + l * out_stride for l < count. The keys
// are sorted as the columns of one ColumnSorter (key l in lane l; lanes from count on sort
// zeros), their type bits set and packed five trits a byte on the columns too. Every loop
// bound depends on count and the parameter set only. Not inlined, so that its frame (n-1
// vectors) is not added to the caller's.
template <class P>
__attribute__((noinline)) void SampleFixedTypesPacked(const std::uint8_t* u, std::size_t stride,
                                                      std::size_t count, std::uint8_t* out,
                                                      std::size_t out_stride) {
  constexpr int kLen = P::kN - 1;
  constexpr int kL = kI32Lanes;
  constexpr int kRows = kFixedTypesRows<P>;
  alignas(kVecBytes) VecI32 v[kRows];
  // Key l's elements b + e (e < kL) go to lane e of v[b + l]; transposing each block of kL
  // rows then puts element i of key l in lane l of v[i]. The last block is zeroed first: its
  // elements from kLen on reach the rows past kLen only, which are never sorted nor packed.
  for (int i = kRows - kL; i < kRows; ++i) v[i] = VecI32{};
  for (int l = 0; l < kL; ++l) {
    if (static_cast<std::size_t>(l) < count) {
      FixedTypeRandomKeys<P, kL>(reinterpret_cast<std::int32_t*>(v + l),
                                 u + static_cast<std::size_t>(l) * stride);
    } else {
      for (int b = 0; b < kRows; b += kL) v[b + l] = VecI32{};
    }
  }
  for (int b = 0; b < kRows; b += kL) TransposeI32(v + b);
#pragma GCC unroll 8
  for (int i = 0; i < P::kHalfWeight; ++i) v[i] |= 1;
#pragma GCC unroll 8
  for (int i = P::kHalfWeight; i < P::kWeight; ++i) v[i] |= 2;
  ColumnSorter<kLen>::Sort(v);

  // PackS3 on the columns: byte t is sum (v[5t + i] & 3) 3^i over the rows below kLen (Horner
  // from the top, where the missing rows leave zero), four bytes a dword; kL dwords of each
  // key are transposed into a row and stored.
  constexpr int kBytes = static_cast<int>(P::kPackS3Bytes);
  constexpr int kDwords = (kBytes + 3) / 4;
  constexpr int kFullDwords = kLen / 20;  // dwords all of whose 20 rows are below kLen
  constexpr int kLastBlock = (kDwords - 1) / kL * kL;
  const auto dword = [&v]<bool kTail>(int q) {
    VecI32 w{};
#pragma GCC unroll 4
    for (int byte = 0; byte < 4; ++byte) {
      VecI32 acc{};
#pragma GCC unroll 5
      for (int i = 4; i >= 0; --i) {
        const int j = 5 * (4 * q + byte) + i;
        if (!kTail || j < kLen) acc = acc + (acc << 1) + (v[j] & 3);
      }
      w |= acc << (8 * byte);
    }
    return w;
  };
  VecI32 d[kL];
  for (int blk = 0; blk < kDwords; blk += kL) {
    if (blk + kL <= kFullDwords) {
#pragma GCC unroll 8
      for (int q = 0; q < kL; ++q) d[q] = dword.template operator()<false>(blk + q);
    } else {
      for (int q = 0; q < kL; ++q)
        d[q] = blk + q < kDwords ? dword.template operator()<true>(blk + q) : VecI32{};
    }
    TransposeI32(d);  // d[l]: dwords blk .. blk + kL - 1 of key l
    for (std::size_t l = 0; l < count; ++l) {
      std::uint8_t* o = out + l * out_stride + 4 * blk;
      if (blk < kLastBlock) {
        std::memcpy(o, &d[l], sizeof d[l]);
      } else {
        std::memcpy(o, &d[l], kBytes - 4 * kLastBlock);
      }
    }
  }
  WipeVecs(v, kRows);
  WipeVecs(d, kL);
}

template <class P>
inline void SampleFg(Poly<P>& f, Poly<P>& g, const std::uint8_t* seed) {
  if constexpr (P::kHrss) {
    SampleIidPlus(f, seed);
    SampleIidPlus(g, seed + P::kSampleIidBytes);
  } else {
    SampleIid(f, seed);
    SampleFixedType(g, seed + P::kSampleIidBytes);
  }
}

template <class P>
inline void SampleRm(Poly<P>& r, Poly<P>& m, const std::uint8_t* seed) {
  SampleIid(r, seed);
  if constexpr (P::kHrss) {
    SampleIid(m, seed + P::kSampleIidBytes);
  } else {
    SampleFixedType(m, seed + P::kSampleIidBytes);
  }
}

}  // namespace medmesh::ntru::MEDMESH_NTRU_TARGET

#include "crypto/ntru/internal/batch_impl.h"
#include "crypto/ntru/internal/inverse_impl.h"
#include "crypto/ntru/internal/kem_ops_impl.h"

// R2Inverse (inv_kernels.h): a^-1 mod (2, Phi_n) by exponentiation.
//
// Phi_n is irreducible mod 2 for the four sets, so F_2[x]/(Phi_n) is the field of 2^(n-1)
// elements and a^-1 = a^(2^(n-1) - 2). We compute in F_2[x]/(x^n - 1), where squaring is the
// bit permutation i -> 2i mod n, and reduce mod Phi_n = (x^n - 1)/(x - 1) once at the end
// (reduction is a ring homomorphism, so the power is the same there).
//
// 2^(n-1) - 2 = 2 (2^(n-2) - 1). With T_k = a^(2^k - 1), T_{j+k} = T_j^(2^k) T_k; the chain runs
// over the bits of n - 2 from the top (T_k -> T_2k -> T_2k+1), about 2 log2(n) products, and
// the powers T_k^(2^k) are one table-driven bit permutation each (k > kRepeatLimit) or k
// single squarings (each one carry-less square of every word and a fold mod x^n - 1).
//
// Products: carry-less schoolbook of 64-bit words with PCLMULQDQ (121 for n = 677), folded
// mod x^n - 1. Everything is constant time: the chain and the permutation tables depend on n
// only, PCLMULQDQ's latency does not depend on its operands.
#include <immintrin.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "crypto/ntru/avx2/inv_kernels.h"
#include "crypto/ntru/internal/params.h"

namespace medmesh::ntru::avx2 {
namespace {

template <int N>
struct F2Poly {
  static constexpr int kW = (N + 63) / 64;
  static_assert(N % 64 != 0 && N % 2 == 1, "fold and chain assume odd n, not a multiple of 64");
  static constexpr std::uint64_t kTopMask = (std::uint64_t{1} << (N % 64)) - 1;
  alignas(32) std::uint64_t w[kW];
};

inline std::uint64_t Lo(__m128i x) { return static_cast<std::uint64_t>(_mm_cvtsi128_si64(x)); }
inline std::uint64_t Hi(__m128i x) { return static_cast<std::uint64_t>(_mm_extract_epi64(x, 1)); }

// r = the 2W-word product p (bits 0 .. 2n-2) mod x^n - 1: bit n + i folds onto bit i.
template <int N>
inline void Fold(F2Poly<N>& r, const std::uint64_t* p) {
  constexpr int kW = F2Poly<N>::kW;
  constexpr int kQ = N / 64;  // = kW - 1
  constexpr int kS = N % 64;
  for (int k = 0; k < kW; ++k) {
    const std::uint64_t high = (p[k + kQ] >> kS) | (p[k + kQ + 1] << (64 - kS));
    r.w[k] = p[k] ^ high;
  }
  r.w[kW - 1] &= F2Poly<N>::kTopMask;  // p's word kW-1 also held bits n .. 64 kW - 1
}

// r = a * b mod (2, x^n - 1). r may alias a or b.
template <int N>
inline void Mul(F2Poly<N>& r, const F2Poly<N>& a, const F2Poly<N>& b) {
  constexpr int kW = F2Poly<N>::kW;
  __m128i acc[2 * kW - 1];
  for (auto& x : acc) x = _mm_setzero_si128();
  __m128i bv[kW];
  for (int j = 0; j < kW; ++j) bv[j] = _mm_cvtsi64_si128(static_cast<long long>(b.w[j]));
#pragma GCC unroll 16
  for (int i = 0; i < kW; ++i) {
    const __m128i ai = _mm_cvtsi64_si128(static_cast<long long>(a.w[i]));
#pragma GCC unroll 16
    for (int j = 0; j < kW; ++j) {
      acc[i + j] = _mm_xor_si128(acc[i + j], _mm_clmulepi64_si128(ai, bv[j], 0x00));
    }
  }
  std::uint64_t p[2 * kW];
  p[0] = Lo(acc[0]);
  for (int k = 1; k < 2 * kW - 1; ++k) p[k] = Lo(acc[k]) ^ Hi(acc[k - 1]);
  p[2 * kW - 1] = Hi(acc[2 * kW - 2]);
  Fold(r, p);
}

// x = x^2 mod (2, x^n - 1): the carry-less square of each word spreads its bits to the even
// positions.
template <int N>
inline void Square(F2Poly<N>& x) {
  constexpr int kW = F2Poly<N>::kW;
  std::uint64_t p[2 * kW];
  for (int k = 0; k < kW; ++k) {
    const __m128i v = _mm_cvtsi64_si128(static_cast<long long>(x.w[k]));
    const __m128i s = _mm_clmulepi64_si128(v, v, 0x00);
    p[2 * k] = Lo(s);
    p[2 * k + 1] = Hi(s);
  }
  Fold(x, p);
}

// The addition chain over the bits of n - 2 (see the file comment): step s raises T_k to
// 2^dbl[s] and multiplies by T_k, then, if inc[s], squares once and multiplies by a. src[s] is
// the permutation of x -> x^(2^dbl[s]): output bit j is input bit j * 2^-dbl[s] mod n.
template <int N>
struct Chain {
  static constexpr int kE = N - 2;
  static constexpr int BitLength(int e) {
    int l = 0;
    while (e > 0) {
      ++l;
      e >>= 1;
    }
    return l;
  }
  static constexpr int kSteps = BitLength(kE) - 1;
  int dbl[kSteps];
  bool inc[kSteps];
  std::uint16_t src[kSteps][N];
};

template <int N>
constexpr Chain<N> MakeChain() {
  Chain<N> c{};
  int k = 1;
  for (int s = 0; s < Chain<N>::kSteps; ++s) {
    c.dbl[s] = k;
    k *= 2;
    c.inc[s] = ((Chain<N>::kE >> (Chain<N>::kSteps - 1 - s)) & 1) != 0;
    if (c.inc[s]) ++k;
    // m = 2^-dbl mod n, with 2^-1 = (n + 1) / 2.
    std::uint64_t m = 1;
    for (int t = 0; t < c.dbl[s]; ++t) m = m * ((N + 1) / 2) % N;
    for (int j = 0; j < N; ++j) c.src[s][j] = static_cast<std::uint16_t>((j * m) % N);
  }
  return c;
}

template <int N>
inline constexpr Chain<N> kChain = MakeChain<N>();

// Up to this many squarings, single squarings (about 9 W instructions each) are cheaper than
// one table permutation (about 3.5 n; callgrind, n = 677).
constexpr int kRepeatLimit = 28;

// r = x permuted by src (bit j of r = bit src[j] of x): bits expanded to bytes, gathered by
// the public table, packed back with movemask.
template <int N>
inline void Permute(F2Poly<N>& r, const F2Poly<N>& x, const std::uint16_t* src) {
  constexpr int kW = F2Poly<N>::kW;
  alignas(32) std::uint8_t in[64 * kW];
  alignas(32) std::uint8_t out[64 * kW];
  const __m256i spread = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,  //
                                          2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
  const __m256i bit = _mm256_set1_epi64x(static_cast<long long>(0x8040201008040201ULL));
  for (int d = 0; d < 2 * kW; ++d) {
    const auto dword = static_cast<std::uint32_t>(x.w[d / 2] >> (32 * (d % 2)));
    __m256i v = _mm256_set1_epi32(static_cast<int>(dword));
    v = _mm256_shuffle_epi8(v, spread);
    v = _mm256_cmpeq_epi8(_mm256_and_si256(v, bit), bit);
    _mm256_store_si256(reinterpret_cast<__m256i*>(in + 32 * d), v);
  }
  _mm256_store_si256(reinterpret_cast<__m256i*>(out + 64 * kW - 64), _mm256_setzero_si256());
  _mm256_store_si256(reinterpret_cast<__m256i*>(out + 64 * kW - 32), _mm256_setzero_si256());
#pragma GCC unroll 8
  for (int j = 0; j < N; ++j) out[j] = in[src[j]];
  for (int k = 0; k < kW; ++k) {
    const auto lo = static_cast<std::uint32_t>(
        _mm256_movemask_epi8(_mm256_load_si256(reinterpret_cast<const __m256i*>(out + 64 * k))));
    const auto hi = static_cast<std::uint32_t>(_mm256_movemask_epi8(
        _mm256_load_si256(reinterpret_cast<const __m256i*>(out + 64 * k + 32))));
    r.w[k] = lo | (std::uint64_t{hi} << 32);
  }
  Wipe(in, sizeof in);
  Wipe(out, sizeof out);
}

// Bit 0 of coefficients 0 .. 64 W - 1 (32 per step: shift bit 0 to the sign, pack to bytes,
// movemask).
template <class P>
inline void ToBits(F2Poly<P::kN>& x, const std::uint16_t* a) {
  constexpr int kW = F2Poly<P::kN>::kW;
  static_assert(64 * kW <= P::kPad);
  for (int d = 0; d < 2 * kW; ++d) {
    const __m256i v0 =
        _mm256_slli_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + 32 * d)), 15);
    const __m256i v1 = _mm256_slli_epi16(
        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + 32 * d + 16)), 15);
    const __m256i packed = _mm256_permute4x64_epi64(_mm256_packs_epi16(v0, v1), 0xD8);
    const auto m = static_cast<std::uint32_t>(_mm256_movemask_epi8(packed));
    if (d % 2 == 0) {
      x.w[d / 2] = m;
    } else {
      x.w[d / 2] |= std::uint64_t{m} << 32;
    }
  }
}

// Coefficient i = bit i of x (0 from 64 W on).
template <class P>
inline void FromBits(std::uint16_t* r, const F2Poly<P::kN>& x) {
  constexpr int kW = F2Poly<P::kN>::kW;
  const __m256i lane_bit = _mm256_setr_epi16(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048,
                                             4096, 8192, 16384, static_cast<short>(0x8000));
  const __m256i one = _mm256_set1_epi16(1);
  for (int b = 0; b < P::kPad / 16; ++b) {
    const std::uint64_t word = b / 4 < kW ? x.w[b / 4] : 0;
    const auto bits = static_cast<std::uint16_t>(word >> (16 * (b % 4)));
    __m256i v = _mm256_set1_epi16(static_cast<short>(bits));
    v = _mm256_cmpeq_epi16(_mm256_and_si256(v, lane_bit), lane_bit);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(r + 16 * b), _mm256_and_si256(v, one));
  }
}

inline std::uint64_t Barrier(std::uint64_t x) {
  __asm__("" : "+r"(x));
  return x;
}

}  // namespace

template <class P>
void R2Inverse(std::uint16_t* r, const std::uint16_t* a) {
  constexpr int kN = P::kN;
  constexpr int kW = F2Poly<kN>::kW;
  constexpr const Chain<kN>& chain = kChain<kN>;
  F2Poly<kN> x;  // a
  F2Poly<kN> t;  // T_k
  F2Poly<kN> u;
  ToBits<P>(x, a);
  t = x;
  for (int s = 0; s < Chain<kN>::kSteps; ++s) {
    if (chain.dbl[s] <= kRepeatLimit) {  // public: the chain depends on n only
      u = t;
      for (int i = 0; i < chain.dbl[s]; ++i) Square(u);
    } else {
      Permute(u, t, chain.src[s]);
    }
    Mul(t, u, t);  // T_2k
    if (chain.inc[s]) {
      u = t;
      Square(u);
      Mul(t, u, x);  // T_2k+1
    }
  }
  Square(t);  // a^(2^(n-1) - 2) mod x^n - 1
  // mod Phi_n: if coefficient n-1 is set, add Phi_n (all ones), which clears it.
  const std::uint64_t top = Barrier(0 - ((t.w[kW - 1] >> ((kN - 1) % 64)) & 1));
  for (int k = 0; k < kW; ++k) t.w[k] ^= top;
  t.w[kW - 1] &= F2Poly<kN>::kTopMask >> 1;  // bits n-1 .. 64 W - 1
  FromBits<P>(r, t);
  Wipe(&x, sizeof x);
  Wipe(&t, sizeof t);
  Wipe(&u, sizeof u);
}

template void R2Inverse<Hps2048509>(std::uint16_t*, const std::uint16_t*);
template void R2Inverse<Hps2048677>(std::uint16_t*, const std::uint16_t*);
template void R2Inverse<Hps4096821>(std::uint16_t*, const std::uint16_t*);
template void R2Inverse<Hrss701>(std::uint16_t*, const std::uint16_t*);

}  // namespace medmesh::ntru::avx2

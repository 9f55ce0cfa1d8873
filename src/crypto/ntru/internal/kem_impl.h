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

#include <cstring>

#include "crypto/ntru/internal/arith.h"
#include "crypto/ntru/internal/params.h"

#if defined(__AVX2__)
#include <immintrin.h>
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

template <int L>
inline void Schoolbook(std::uint16_t* __restrict r, const std::uint16_t* __restrict a,
                       const std::uint16_t* __restrict b) {
  alignas(32) std::uint16_t acc[2 * L] = {};
  for (int i = 0; i < L; ++i) {
    const std::uint32_t ai = a[i];
    std::uint16_t* __restrict row = acc + i;
    for (int j = 0; j < L; ++j) row[j] = static_cast<std::uint16_t>(row[j] + ai * b[j]);  // mod 2^16
  }
  std::memcpy(r, acc, sizeof acc);
}

// r[0 .. 2L) = a[0 .. L) * b[0 .. L) (the top coefficient is always zero).
template <int L, int Base>
inline void Karatsuba(std::uint16_t* __restrict r, const std::uint16_t* __restrict a,
                      const std::uint16_t* __restrict b) {
  if constexpr (L <= Base || (L % 2) != 0) {
    Schoolbook<L>(r, a, b);
  } else {
    constexpr int H = L / 2;
    alignas(32) std::uint16_t as[H];
    alignas(32) std::uint16_t bs[H];
    alignas(32) std::uint16_t mid[2 * H];
    for (int i = 0; i < H; ++i) {
      as[i] = static_cast<std::uint16_t>(a[i] + a[i + H]);
      bs[i] = static_cast<std::uint16_t>(b[i] + b[i + H]);
    }
    Karatsuba<H, Base>(r, a, b);                  // low * low  -> r[0, 2H)
    Karatsuba<H, Base>(r + 2 * H, a + H, b + H);  // high * high -> r[2H, 4H)
    Karatsuba<H, Base>(mid, as, bs);
    for (int i = 0; i < 2 * H; ++i)
      mid[i] = static_cast<std::uint16_t>(mid[i] - r[i] - r[i + 2 * H]);
    for (int i = 0; i < 2 * H; ++i) r[i + H] = static_cast<std::uint16_t>(r[i + H] + mid[i]);
  }
}

// r = a * b mod (2^16, x^n - 1). r may alias a or b.
template <class P>
inline void RqMul(Poly<P>& r, const Poly<P>& a, const Poly<P>& b) {
  alignas(32) std::uint16_t prod[2 * P::kPad];
  Karatsuba<P::kPad, P::kPad / 16>(prod, a.c, b.c);
  for (int i = 0; i < P::kN; ++i) r.c[i] = static_cast<std::uint16_t>(prod[i] + prod[i + P::kN]);
  for (int i = P::kN; i < P::kPad; ++i) r.c[i] = 0;
}

// r = a * b mod (2^16, Phi_n): the x^n - 1 product minus coefficient n-1 times Phi_n.
template <class P>
inline void SqMul(Poly<P>& r, const Poly<P>& a, const Poly<P>& b) {
  RqMul(r, a, b);
  const std::uint16_t top = r.c[P::kN - 1];
  for (int i = 0; i < P::kN; ++i) r.c[i] = static_cast<std::uint16_t>(r.c[i] - top);
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
  RqMul(r, a, b);  // exact: every coefficient is at most 4n < 2^16
  for (int i = 0; i < P::kN; ++i) r.c[i] = Mod3(r.c[i]);
  Mod3PhiN(r);
}

// ---------------------------------------------------------------------------------------------
// Conversions between representations.
// ---------------------------------------------------------------------------------------------

// {0,1,2} -> {0, 1, q-1}
template <class P>
inline void Z3ToZq(Poly<P>& a) {
  for (int i = 0; i < P::kN; ++i) {
    const std::uint16_t v = a.c[i];
    a.c[i] = static_cast<std::uint16_t>(v | ((0 - (v >> 1)) & P::kQMask));
  }
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
  for (int i = 0; i < P::kN; ++i) {
    const std::uint32_t v = a.c[i] & P::kQMask;
    const std::uint32_t upper = v >> (P::kLogQ - 1);  // 1 if v represents v - q
    // v - q is congruent to v + 2q mod 3 and stays non-negative.
    r.c[i] = Mod3(v + upper * 2 * P::kQ);
  }
  for (int i = P::kN; i < P::kPad; ++i) r.c[i] = 0;
  Mod3PhiN(r);
}

// Lift(m): m itself (centred) for HPS; for HRSS Phi_1 * S3(m / Phi_1).
template <class P>
inline void Lift(Poly<P>& r, const Poly<P>& m) {
  if constexpr (!P::kHrss) {
    r = m;
    Z3ToZq(r);
  } else {
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
  }
}

// ---------------------------------------------------------------------------------------------
// Packing.
// ---------------------------------------------------------------------------------------------

// Coefficients 0..n-2, logq bits each, little-endian bit order.
template <class P>
inline void PackSq(std::uint8_t* out, const Poly<P>& a) {
  std::uint32_t acc = 0;
  int bits = 0;
  std::size_t o = 0;
  for (int i = 0; i < P::kN - 1; ++i) {
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
  std::uint32_t acc = 0;
  int bits = 0;
  std::size_t pos = 0;
  for (int i = 0; i < P::kN - 1; ++i) {
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

// Five trits per byte, c0 + 3c1 + 9c2 + 27c3 + 81c4, over coefficients 0..n-2.
template <class P>
inline void PackS3(std::uint8_t* out, const Poly<P>& a) {
  for (std::size_t i = 0; i < P::kPackS3Bytes; ++i) {
    std::uint32_t c = 0;
    for (int j = 4; j >= 0; --j) {
      const int idx = static_cast<int>(5 * i) + j;
      if (idx < P::kN - 1) c = 3 * c + a.c[idx];  // idx is public
    }
    out[i] = static_cast<std::uint8_t>(c);
  }
}

template <class P>
inline void UnpackS3(Poly<P>& a, const std::uint8_t* in) {
  for (std::size_t i = 0; i < P::kPackS3Bytes; ++i) {
    std::uint32_t c = in[i];
    for (int j = 0; j < 5; ++j) {
      const int idx = static_cast<int>(5 * i) + j;
      if (idx < P::kN - 1) {  // idx is public
        a.c[idx] = Mod3(c);
        c = Div3Byte(c);
      }
    }
  }
  for (int i = P::kN - 1; i < P::kPad; ++i) a.c[i] = 0;
}

// ---------------------------------------------------------------------------------------------
// Constant-time sort of int32 (a bitonic network over a power-of-two padded array).
// ---------------------------------------------------------------------------------------------

inline void MinMax(std::int32_t& a, std::int32_t& b) {
  const std::int64_t d = static_cast<std::int64_t>(b) - static_cast<std::int64_t>(a);
  const std::uint32_t mask = ValueBarrier(static_cast<std::uint32_t>(d >> 63));  // b < a
  const std::uint32_t x = (static_cast<std::uint32_t>(a) ^ static_cast<std::uint32_t>(b)) & mask;
  a = static_cast<std::int32_t>(static_cast<std::uint32_t>(a) ^ x);
  b = static_cast<std::int32_t>(static_cast<std::uint32_t>(b) ^ x);
}

// Sorts x[0 .. Len) ascending (signed). Len is a power of two.
template <int Len>
inline void SortInt32(std::int32_t* x) {
#if defined(__AVX2__)
  if constexpr (Len >= 16) {
    // Same network, compare-exchanges on 8 lanes at once with min/max (no conditions at all).
    for (int k = 2; k <= Len; k <<= 1) {
      for (int j = k >> 1; j > 0; j >>= 1) {
        if (j == (k >> 1)) {
          // First stage of a merge: pair i with its mirror in the k-block.
          for (int blk = 0; blk < Len; blk += k) {
            if (j >= 8) {
              for (int i = 0; i < j; i += 8) {
                std::int32_t* lo = x + blk + i;
                std::int32_t* hi = x + blk + k - 8 - i;
                __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(lo));
                __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(hi));
                const __m256i rev = _mm256_setr_epi32(7, 6, 5, 4, 3, 2, 1, 0);
                b = _mm256_permutevar8x32_epi32(b, rev);
                __m256i mn = _mm256_min_epi32(a, b);
                __m256i mx = _mm256_max_epi32(a, b);
                _mm256_storeu_si256(reinterpret_cast<__m256i*>(lo), mn);
                _mm256_storeu_si256(reinterpret_cast<__m256i*>(hi),
                                    _mm256_permutevar8x32_epi32(mx, rev));
              }
            } else {
              for (int i = 0; i < j; ++i) MinMax(x[blk + i], x[blk + k - 1 - i]);
            }
          }
        } else if (j >= 8) {
          for (int blk = 0; blk < Len; blk += 2 * j) {
            for (int i = 0; i < j; i += 8) {
              std::int32_t* lo = x + blk + i;
              std::int32_t* hi = lo + j;
              __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(lo));
              __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(hi));
              _mm256_storeu_si256(reinterpret_cast<__m256i*>(lo), _mm256_min_epi32(a, b));
              _mm256_storeu_si256(reinterpret_cast<__m256i*>(hi), _mm256_max_epi32(a, b));
            }
          }
        } else {
          for (int blk = 0; blk < Len; blk += 2 * j)
            for (int i = 0; i < j; ++i) MinMax(x[blk + i], x[blk + i + j]);
        }
      }
    }
    return;
  }
#endif
  for (int k = 2; k <= Len; k <<= 1) {
    for (int j = k >> 1; j > 0; j >>= 1) {
      if (j == (k >> 1)) {
        for (int blk = 0; blk < Len; blk += k)
          for (int i = 0; i < j; ++i) MinMax(x[blk + i], x[blk + k - 1 - i]);
      } else {
        for (int blk = 0; blk < Len; blk += 2 * j)
          for (int i = 0; i < j; ++i) MinMax(x[blk + i], x[blk + i + j]);
      }
    }
  }
}

constexpr int NextPow2(int v) {
  int p = 1;
  while (p < v) p <<= 1;
  return p;
}

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
  for (int i = 0; i < P::kN - 1; ++i) s = static_cast<std::uint16_t>(s + std::uint32_t{r.c[i + 1]} * r.c[i]);
  // sign = +1 if s >= 0 (as int16), else -1 (0xffff)
  const std::uint32_t sign = 1u | (0u - (s >> 15));
  for (int i = 0; i < P::kN; i += 2) r.c[i] = static_cast<std::uint16_t>(sign * r.c[i]);
  for (int i = 0; i < P::kN; ++i)  // back to {0,1,2}
    r.c[i] = static_cast<std::uint16_t>(3 & (r.c[i] ^ (r.c[i] >> 15)));
}

// Fixed_Type (HPS): q/16-1 coefficients +1, q/16-1 coefficients -1, at positions given by
// sorting 30-bit random keys. Keys are compared as signed int32 (as the reference code does,
// which is what the KATs encode).
template <class P>
inline void SampleFixedType(Poly<P>& r, const std::uint8_t* u) {
  constexpr int kLen = P::kN - 1;
  constexpr int kSortLen = NextPow2(kLen);
  alignas(32) std::int32_t s[kSortLen];
  for (int i = 0; i < kLen / 4; ++i) {
    const std::uint8_t* b = u + 15 * i;
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
    s[4 * i + 0] = static_cast<std::int32_t>(s0);
    s[4 * i + 1] = static_cast<std::int32_t>(s1);
    s[4 * i + 2] = static_cast<std::int32_t>(s2);
    s[4 * i + 3] = static_cast<std::int32_t>(s3);
  }
  for (int i = 0; i < P::kHalfWeight; ++i) s[i] |= 1;
  for (int i = P::kHalfWeight; i < P::kWeight; ++i) s[i] |= 2;
  // Padding sorts last: no real key equals INT32_MAX because its type bits are never 3.
  for (int i = kLen; i < kSortLen; ++i) s[i] = 0x7fffffff;
  SortInt32<kSortLen>(s);
  for (int i = 0; i < kLen; ++i) r.c[i] = static_cast<std::uint16_t>(s[i] & 3);
  for (int i = kLen; i < P::kPad; ++i) r.c[i] = 0;
  Wipe(s, sizeof s);
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

#include "crypto/ntru/internal/inverse_impl.h"
#include "crypto/ntru/internal/kem_ops_impl.h"

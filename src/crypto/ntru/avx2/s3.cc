// Mod-3 conversions and S3 packing with AVX2 (kernels.h): the steps of decapsulation (and
// encapsulation's PackS3) between the products, which the scalar templates do one coefficient
// at a time with a multiply-shift Mod3 each.
//
// x mod 3 on 16 lanes: floor(x / 3) = (x * 43691) >> 17 for every x < 2^16 (vpmulhuw, then a
// shift). S3 bytes hold five trits, c0 + 3 c1 + 9 c2 + 27 c3 + 81 c4: unpacking spreads each
// byte over five lanes with one vpshufb per output vector and takes trit j as
// floor(c / 3^j) - 3 floor(c / 3^(j+1)), both quotients by vpmulhuw with ceil(2^16 / 3^j) (exact
// for every byte value); packing widens groups of five trits to eight bytes and weighs them
// with vpmaddubsw / vpmaddwd. All shuffle patterns and multipliers are compile-time constants:
// no lookup is indexed by a secret, no branch depends on one.
#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "crypto/ntru/avx2/kernels.h"
#include "crypto/ntru/internal/params.h"

namespace medmesh::ntru::avx2 {
namespace {

using V = __m256i;
constexpr int kLanes = 16;

inline V Load(const std::uint16_t* p) { return _mm256_loadu_si256(reinterpret_cast<const V*>(p)); }
inline void Store(std::uint16_t* p, V v) { _mm256_storeu_si256(reinterpret_cast<V*>(p), v); }

// x mod 3 in every lane.
inline V Mod3V(V x) {
  const V q = _mm256_srli_epi16(_mm256_mulhi_epu16(x, _mm256_set1_epi16(-21845)), 1);  // 43691
  return _mm256_sub_epi16(x, _mm256_add_epi16(q, _mm256_add_epi16(q, q)));
}

// All-ones in the lanes l with start + l < limit (start and limit are public).
inline V LanesBelow(int start, int limit) {
  const V index = _mm256_setr_epi16(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  return _mm256_cmpgt_epi16(_mm256_set1_epi16(static_cast<short>(limit - start)), index);
}

inline std::uint16_t Mod3Scalar(std::uint32_t x) {
  return static_cast<std::uint16_t>(x - 3 * ((x * 43691u) >> 17));
}

// r[i] = (pre(a[i]) + 2 pre(a[n-1]) mod 3) mod 3 for i < n, r[i] = 0 above: pre(x) mod 3, then
// minus its coefficient n-1 times Phi_n (Mod3PhiN), in one pass. pre must keep x + 4 < 2^16.
template <class P, class Pre, class PreScalar>
inline void ReduceModPhiN(std::uint16_t* r, const std::uint16_t* a, Pre pre, PreScalar pre_scalar) {
  const std::uint32_t top = Mod3Scalar(pre_scalar(a[P::kN - 1]));
  const V twice_top = _mm256_set1_epi16(static_cast<short>(2 * top));
  for (int i = 0; i < P::kPad; i += kLanes) {
    V v = Mod3V(_mm256_add_epi16(pre(Load(a + i)), twice_top));
    if (i + kLanes > P::kN) v = _mm256_and_si256(v, LanesBelow(i, P::kN));  // public bound
    Store(r + i, v);
  }
}

// The vpshufb pattern, divisor multipliers and j = 0 mask of output vector k (0..4) of a group
// of 16 S3 bytes: lane l is coefficient p = 16 k + l, trit j = p % 5 of byte p / 5.
struct UnpackConsts {
  alignas(32) std::uint8_t shuffle[5][32];
  alignas(32) std::uint16_t mul_j[5][16];   // ceil(2^16 / 3^j), 0 for j = 0
  alignas(32) std::uint16_t is_j0[5][16];   // 0xffff for j = 0
  alignas(32) std::uint16_t mul_j1[5][16];  // ceil(2^16 / 3^(j+1))
};

constexpr UnpackConsts MakeUnpackConsts() {
  constexpr std::uint16_t kMul[6] = {0, 21846, 7282, 2428, 810, 270};
  UnpackConsts c{};
  for (int k = 0; k < 5; ++k) {
    for (int l = 0; l < 16; ++l) {
      const int p = 16 * k + l;
      const int in_half = l % 8;  // vpshufb indexes within each 128-bit half
      c.shuffle[k][(l / 8) * 16 + 2 * in_half] = static_cast<std::uint8_t>(p / 5);
      c.shuffle[k][(l / 8) * 16 + 2 * in_half + 1] = 0x80;  // zero high byte
      c.mul_j[k][l] = kMul[p % 5];
      c.is_j0[k][l] = p % 5 == 0 ? 0xffff : 0;
      c.mul_j1[k][l] = kMul[p % 5 + 1];
    }
  }
  return c;
}
constexpr UnpackConsts kUnpack = MakeUnpackConsts();

inline V LoadConst(const void* p) { return _mm256_load_si256(static_cast<const V*>(p)); }

constexpr int Max(int a, int b) { return a > b ? a : b; }

}  // namespace

template <class P>
void UnpackS3Trits(std::uint16_t* a, const std::uint8_t* in) {
  constexpr int kBytes = static_cast<int>(P::kPackS3Bytes);
  constexpr int kGroups = (kBytes + 15) / 16;  // 16 bytes -> 80 coefficients
  alignas(16) std::uint8_t buf[kGroups * 16] = {};
  std::memcpy(buf, in, kBytes);
  for (int g = 0; g < kGroups; ++g) {
    const V bytes = _mm256_broadcastsi128_si256(
        _mm_load_si128(reinterpret_cast<const __m128i*>(buf + std::ptrdiff_t{16} * g)));
    for (int k = 0; k < 5; ++k) {
      const int pos = 80 * g + 16 * k;
      if (pos >= P::kPad) break;  // public bound (the last group of 509)
      const V c = _mm256_shuffle_epi8(bytes, LoadConst(kUnpack.shuffle[k]));
      const V d = _mm256_add_epi16(_mm256_mulhi_epu16(c, LoadConst(kUnpack.mul_j[k])),
                                   _mm256_and_si256(c, LoadConst(kUnpack.is_j0[k])));
      const V d1 = _mm256_mulhi_epu16(c, LoadConst(kUnpack.mul_j1[k]));
      Store(a + pos, _mm256_sub_epi16(d, _mm256_add_epi16(d1, _mm256_add_epi16(d1, d1))));
    }
  }
  // Coefficient n-1 and the padding are zero (the last byte's unused trits are ignored).
  constexpr int kFirst = (P::kN - 1) / kLanes * kLanes;
  Store(a + kFirst, _mm256_and_si256(Load(a + kFirst), LanesBelow(kFirst, P::kN - 1)));
  for (int i = kFirst + kLanes; i < P::kPad; i += kLanes) Store(a + i, _mm256_setzero_si256());
  Wipe(buf, sizeof buf);
}

template <class P>
void PackS3Trits(std::uint8_t* out, const std::uint16_t* a) {
  constexpr int kBytes = static_cast<int>(P::kPackS3Bytes);
  constexpr int kIters = (kBytes + 15) / 16;  // 80 trits -> 16 bytes
  // Trits as bytes (coefficients n-1 and up as 0), then zeros for the loads of the last round.
  constexpr int kTritBytes = ((Max(P::kPad, 80 * kIters + 32) + 31) / 32) * 32;
  alignas(32) std::uint8_t trits[kTritBytes];
  for (int i = 0; i < P::kPad; i += 2 * kLanes) {
    V lo = Load(a + i);
    V hi = Load(a + i + kLanes);
    if (i + kLanes > P::kN - 1) lo = _mm256_and_si256(lo, LanesBelow(i, P::kN - 1));
    if (i + 2 * kLanes > P::kN - 1) hi = _mm256_and_si256(hi, LanesBelow(i + kLanes, P::kN - 1));
    const V packed = _mm256_permute4x64_epi64(_mm256_packus_epi16(lo, hi), 0xd8);
    _mm256_store_si256(reinterpret_cast<V*>(trits + i), packed);
  }
  std::memset(trits + P::kPad, 0, kTritBytes - P::kPad);

  // Per 128-bit half: two groups of five trits widened to eight bytes each.
  const V spread =
      _mm256_setr_epi8(0, 1, 2, 3, 4, -128, -128, -128, 5, 6, 7, 8, 9, -128, -128, -128, 0, 1, 2, 3,
                       4, -128, -128, -128, 5, 6, 7, 8, 9, -128, -128, -128);
  const V weights = _mm256_setr_epi8(1, 3, 9, 27, 81, 0, 0, 0, 1, 3, 9, 27, 81, 0, 0, 0, 1, 3, 9,
                                     27, 81, 0, 0, 0, 1, 3, 9, 27, 81, 0, 0, 0);
  const V ones = _mm256_set1_epi16(1);
  // After the four rounds, 64-bit lane q holds in byte m the value of group 4 m + q; this
  // gathers bytes (q, m) -> output byte 4 m + q.
  const V regroup =
      _mm256_setr_epi8(0, 8, 1, 9, 2, 10, 3, 11, -128, -128, -128, -128, -128, -128, -128, -128, 0,
                       8, 1, 9, 2, 10, 3, 11, -128, -128, -128, -128, -128, -128, -128, -128);
  alignas(16) std::uint8_t packed[kIters * 16];
  for (int t = 0; t < kIters; ++t) {
    const std::uint8_t* src = trits + std::ptrdiff_t{80} * t;
    V z = _mm256_setzero_si256();
    for (int m = 0; m < 4; ++m) {  // groups 4m .. 4m+3: bytes 20m .. 20m+19
      const __m128i low = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + 20 * m));
      const __m128i high = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + 20 * m + 10));
      const V groups = _mm256_shuffle_epi8(_mm256_set_m128i(high, low), spread);
      const V pairs = _mm256_madd_epi16(_mm256_maddubs_epi16(groups, weights), ones);
      const V sums = _mm256_add_epi32(pairs, _mm256_srli_epi64(pairs, 32));  // < 256 each
      z = _mm256_or_si256(z, _mm256_slli_epi64(sums, 8 * m));
    }
    // Low half: words (g0 g1) (g4 g5) (g8 g9) (g12 g13); high half: (g2 g3) (g6 g7) ...
    const V words = _mm256_shuffle_epi8(z, regroup);
    const __m128i result =
        _mm_unpacklo_epi16(_mm256_castsi256_si128(words), _mm256_extracti128_si256(words, 1));
    _mm_store_si128(reinterpret_cast<__m128i*>(packed + std::ptrdiff_t{16} * t), result);
  }
  std::memcpy(out, packed, kBytes);
  Wipe(trits, sizeof trits);
  Wipe(packed, sizeof packed);
}

template <class P>
void RqToS3Reduce(std::uint16_t* r, const std::uint16_t* a) {
  // Centre-lift: v - q (v >= q/2) is congruent to v + 2q mod 3 and stays non-negative.
  const V q_mask = _mm256_set1_epi16(static_cast<short>(P::kQMask));
  const V two_q = _mm256_set1_epi16(static_cast<short>(2 * P::kQ));
  const auto pre = [&](V x) {
    const V v = _mm256_and_si256(x, q_mask);
    const V upper = _mm256_sub_epi16(_mm256_setzero_si256(), _mm256_srli_epi16(v, P::kLogQ - 1));
    return _mm256_add_epi16(v, _mm256_and_si256(upper, two_q));
  };
  const auto pre_scalar = [](std::uint16_t x) {
    const std::uint32_t v = x & P::kQMask;
    return v + (v >> (P::kLogQ - 1)) * 2 * P::kQ;
  };
  ReduceModPhiN<P>(r, a, pre, pre_scalar);
}

template <class P>
void S3ReduceProduct(std::uint16_t* r) {
  const V mask = _mm256_set1_epi16(0x1fff);
  const auto pre = [&](V x) { return _mm256_and_si256(x, mask); };
  const auto pre_scalar = [](std::uint16_t x) { return std::uint32_t{x} & 0x1fffu; };
  ReduceModPhiN<P>(r, r, pre, pre_scalar);
}

template <class P>
void LiftHrss(std::uint16_t* r, const std::uint16_t* m) {
  static_assert(P::kHrss);
  // Pass 1: prefix sums of m (at most 2n < 2^16) per vector: three shift-adds inside each
  // 128-bit half, the low half's total into the high half, then the running total.
  alignas(32) std::uint16_t prefix[P::kPad];
  const V last_lane =
      _mm256_setr_epi8(14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14,
                       15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15);
  V carry = _mm256_setzero_si256();
  for (int i = 0; i < P::kPad; i += kLanes) {
    V x = Load(m + i);
    x = _mm256_add_epi16(x, _mm256_slli_si256(x, 2));
    x = _mm256_add_epi16(x, _mm256_slli_si256(x, 4));
    x = _mm256_add_epi16(x, _mm256_slli_si256(x, 8));
    const V half_totals = _mm256_shuffle_epi8(x, last_lane);
    x = _mm256_add_epi16(x, _mm256_permute2x128_si256(half_totals, half_totals, 0x08));
    x = _mm256_add_epi16(x, carry);
    Store(prefix + i, x);
    carry = _mm256_permute4x64_epi64(_mm256_shuffle_epi8(x, last_lane), 0xff);
  }
  // b = m / (x - 1) mod (3, Phi_n) as in kem_impl.h's Lift: with s = -sum(m) / n mod 3,
  // b[i] = sum_{j=1..i} (2 m[j] + 2 s) = 2 prefix[i] + 2 i s + m[0] (mod 3), then minus
  // b[n-1] Phi_n.
  constexpr std::uint32_t kInvN = (P::kN % 3 == 1) ? 1 : 2;  // 1/n mod 3
  const std::uint32_t sum = prefix[P::kN - 1];
  const std::uint32_t s = Mod3Scalar(9 - Mod3Scalar(Mod3Scalar(sum) * kInvN));
  const std::uint32_t m0 = m[0];
  const std::uint32_t top = Mod3Scalar(2 * sum + 2 * (P::kN - 1) * s + m0);
  const V two_s = _mm256_set1_epi16(static_cast<short>(2 * s));
  // + 2 top for the reduction mod Phi_n
  const V offset = _mm256_set1_epi16(static_cast<short>(m0 + 2 * top));
  const V q_mask = _mm256_set1_epi16(static_cast<short>(P::kQMask));
  V index = _mm256_setr_epi16(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  // b in Z_q ({0, 1, q-1}) at shifted[1 ..], shifted[0] = 0 (b[-1] of the product below).
  alignas(32) std::uint16_t shifted[P::kPad + kLanes];
  shifted[0] = 0;
  for (int i = 0; i < P::kPad; i += kLanes) {
    const V x = _mm256_add_epi16(
        _mm256_add_epi16(_mm256_slli_epi16(Load(prefix + i), 1), _mm256_mullo_epi16(index, two_s)),
        offset);
    V b = Mod3V(x);
    if (i + kLanes > P::kN) b = _mm256_and_si256(b, LanesBelow(i, P::kN));  // public bound
    b = _mm256_or_si256(
        b, _mm256_and_si256(_mm256_sub_epi16(_mm256_setzero_si256(), _mm256_srli_epi16(b, 1)),
                            q_mask));
    Store(shifted + 1 + i, b);
    index = _mm256_add_epi16(index, _mm256_set1_epi16(kLanes));
  }
  // r = (x - 1) b: r[i] = b[i-1] - b[i] (b[n-1] = 0, so nothing wraps around).
  for (int i = 0; i < P::kPad; i += kLanes) {
    Store(r + i, _mm256_sub_epi16(Load(shifted + i), Load(shifted + 1 + i)));
  }
  Wipe(prefix, sizeof prefix);
  Wipe(shifted, sizeof shifted);
}

#define MEDMESH_NTRU_S3_INSTANTIATE(P)                                 \
  template void UnpackS3Trits<P>(std::uint16_t*, const std::uint8_t*); \
  template void PackS3Trits<P>(std::uint8_t*, const std::uint16_t*);   \
  template void RqToS3Reduce<P>(std::uint16_t*, const std::uint16_t*); \
  template void S3ReduceProduct<P>(std::uint16_t*);
MEDMESH_NTRU_S3_INSTANTIATE(Hps2048509)
MEDMESH_NTRU_S3_INSTANTIATE(Hps2048677)
MEDMESH_NTRU_S3_INSTANTIATE(Hps4096821)
MEDMESH_NTRU_S3_INSTANTIATE(Hrss701)
#undef MEDMESH_NTRU_S3_INSTANTIATE
template void LiftHrss<Hrss701>(std::uint16_t*, const std::uint16_t*);

}  // namespace medmesh::ntru::avx2

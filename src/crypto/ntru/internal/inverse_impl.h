// Constant-time inversions mod (2, Phi_n), (3, Phi_n) and (q, Phi_n).
//
// Both small-field inversions run the Bernstein-Yang polynomial divstep on reversed
// polynomials, 2(n-1)-1 steps for every input, with the coefficients bitsliced into 64-bit
// words (one bit plane for F_2; a "nonzero" plane and a "sign" plane for F_3). All decisions
// are masks. The AVX2 build replaces both by its kernels (avx2/inv_kernels.h, ADR 0038): the
// mod-2 inverse by exponentiation with carry-less products, the mod-3 one by the same divsteps
// in registers.
// Part of kem_impl.h; see there for conventions.

#include <array>
#include <utility>

#if defined(MEDMESH_NTRU_AVX2_KERNELS)  // the AVX2 build's inversion kernels (ADR 0038)
#include "crypto/ntru/avx2/inv_kernels.h"
#endif

namespace medmesh::ntru::MEDMESH_NTRU_TARGET {

// A bitsliced polynomial: bit i of the word array is coefficient i. The words live in vectors
// (2 per SSE2 vector, 4 per AVX2 vector) so that every step works on whole vectors; words past
// the last are kept zero.
inline constexpr int kU64Lanes = kVecBytes / 8;
using VecU64 = std::uint64_t __attribute__((vector_size(kVecBytes), aligned(kVecBytes)));

template <int N>
struct Bits {
  static constexpr int kWords = (N + 63) / 64;
  static constexpr int kV = (kWords + kU64Lanes - 1) / kU64Lanes;
  VecU64 v[kV];

  void SetBit(int i, std::uint64_t bit) {  // i is public
    v[(i / 64) / kU64Lanes][(i / 64) % kU64Lanes] |= (bit & 1) << (i % 64);
  }
  std::uint64_t GetBit(int i) const {
    return (v[(i / 64) / kU64Lanes][(i / 64) % kU64Lanes] >> (i % 64)) & 1;
  }
  std::uint64_t Bit0() const { return v[0][0] & 1; }

  // this *= x, dropping the bit that moves to position N.
  void ShiftUp1() {
    for (int k = kV - 1; k >= 0; --k) {
      const VecU64 prev_words = ShiftInWord<kU64Lanes - 1>(k > 0 ? v[k - 1] : VecU64{}, v[k]);
      v[k] = (v[k] << 1) | (prev_words >> 63);
    }
    v[kV - 1] &= TopMask();
  }
  // this /= x (the constant term must be zero).
  void ShiftDown1() {
    for (int k = 0; k < kV; ++k) {
      const VecU64 next_words = ShiftInWord<1>(v[k], k + 1 < kV ? v[k + 1] : VecU64{});
      v[k] = (v[k] >> 1) | (next_words << 63);
    }
  }

 private:
  // Word w of the last vector: all bits below N are allowed.
  static VecU64 TopMask() {
    VecU64 m;
    for (int l = 0; l < kU64Lanes; ++l) {
      const int w = (kV - 1) * kU64Lanes + l;
      const std::uint64_t last = (N % 64 == 0) ? ~0ULL : (1ULL << (N % 64)) - 1;
      m[l] = w < kWords - 1 ? ~0ULL : w == kWords - 1 ? last : 0;
    }
    return m;
  }
  // Lanes First .. First+lanes-1 of the concatenation (a, b): with First = lanes-1, lane l gets
  // word l-1 (the last word of a for l = 0); with First = 1, word l+1 (b's first word last).
  template <int First, std::size_t... I>
  static VecU64 ShiftInWordImpl(VecU64 a, VecU64 b, std::index_sequence<I...> /*lanes*/) {
    return __builtin_shufflevector(a, b, (First + static_cast<int>(I))...);
  }
  template <int First>
  static VecU64 ShiftInWord(VecU64 a, VecU64 b) {
    return ShiftInWordImpl<First>(a, b, std::make_index_sequence<kU64Lanes>{});
  }
};

template <int N>
inline void CondSwap(Bits<N>& a, Bits<N>& b, VecU64 mask) {
  for (int k = 0; k < Bits<N>::kV; ++k) {
    const VecU64 t = (a.v[k] ^ b.v[k]) & mask;
    a.v[k] ^= t;
    b.v[k] ^= t;
  }
}

inline VecU64 Splat64(std::uint64_t x) { return VecU64{} + x; }

// Mask of "delta > 0 and bit != 0", from the sign of -delta.
inline std::uint64_t SwapMask(std::int32_t delta, std::uint64_t nonzero_bit) {
  const auto neg = static_cast<std::uint64_t>(static_cast<std::int64_t>(-delta) >> 63);
  return ValueBarrier(neg & (0 - (nonzero_bit & 1)));
}

inline std::int32_t CondNegatePlusOne(std::int32_t delta, std::uint64_t swap) {
  const auto m = static_cast<std::int32_t>(swap);  // 0 or -1
  return ((delta ^ m) - m) + 1;
}

// r = a^-1 mod (2, Phi_n), coefficients in {0, 1}. a must be invertible (as f and g*f are).
template <class P>
inline void R2Inv(Poly<P>& r, const Poly<P>& a) {
#if defined(MEDMESH_NTRU_AVX2_KERNELS)
  R2Inverse<P>(r.c, a.c);  // exponentiation with PCLMULQDQ (avx2/inv_r2.cc)
#else
  constexpr int kN = P::kN;
  using B = Bits<kN>;
  B f{};
  B g{};
  B v{};
  B w{};
  // f = Phi_n (its own reversal); g = reversal of (a mod Phi_n) as a polynomial of degree n-2.
  for (int i = 0; i < kN; ++i) f.SetBit(i, 1);
  const std::uint64_t top = a.c[kN - 1] & 1;
  for (int i = 0; i < kN - 1; ++i) g.SetBit(kN - 2 - i, (a.c[i] ^ top) & 1);
  w.SetBit(0, 1);
  std::int32_t delta = 1;
  for (int step = 0; step < 2 * (kN - 1) - 1; ++step) {
    v.ShiftUp1();
    const std::uint64_t swap = SwapMask(delta, g.Bit0());
    delta = CondNegatePlusOne(delta, swap);
    CondSwap(f, g, Splat64(swap));
    CondSwap(v, w, Splat64(swap));
    const VecU64 sub = Splat64(ValueBarrier(0 - (g.Bit0() & f.Bit0())));  // g0 * f0
    for (int k = 0; k < B::kV; ++k) g.v[k] ^= sub & f.v[k];
    for (int k = 0; k < B::kV; ++k) w.v[k] ^= sub & v.v[k];
    g.ShiftDown1();
  }
  for (int i = 0; i < kN - 1; ++i) r.c[i] = static_cast<std::uint16_t>(v.GetBit(kN - 2 - i));
  for (int i = kN - 1; i < P::kPad; ++i) r.c[i] = 0;
  Wipe(&f, sizeof f);
  Wipe(&g, sizeof g);
  Wipe(&v, sizeof v);
  Wipe(&w, sizeof w);
#endif
}

// F_3 vectors bitsliced as two planes: z (coefficient nonzero) and s (coefficient is -1; its
// value does not matter where z is 0).
template <int N>
struct Trits {
  Bits<N> z, s;
};

// With z/s planes, c * b for a scalar c (masks cz: c != 0, cn: c = -1) is two instructions and
// a + b seven: the sum is nonzero if exactly one term is, or both are with equal signs; its
// sign is a's if only a is nonzero, b's if only b is, -a's if both are with equal signs.
// T is VecU64 or std::uint64_t (one word of each plane).
template <class T>
inline void AddScaledZs(T& az, T& as, T bz, T bs, T cz, T cn) {
  const T xz = bz & cz;
  const T xs = bs ^ cn;
  const T d = xs ^ as;  // signs differ (where both are nonzero)
  const T flip = az & (d ^ xz);
  as = xs ^ flip;
  az = (az ^ xz) | (az & ~d);
}

// r = a^-1 mod (3, Phi_n), coefficients in {0, 1, 2}. a must be invertible.
//
// The divsteps of R2Inv over F_3, with one update rule for both branches: with c = -f0 g0, a
// step without swap gives g' = (g + c f)/x, w' = w + c x v; with a swap, g' = (f + c g)/x,
// w' = x v + c w, and there c is a unit (c^2 = 1) so the pair (g', w') may be scaled by c
// without changing the result (which divides by f's constant at the end). Every step is then
//     g' = (g + c f)/x,  w' = w + c x v,  f' = swap ? g : f,  v' = swap ? w : x v:
// a one-way select instead of a conditional swap of both pairs. (The AVX2 build's kernel,
// avx2/inv_s3.cc, runs the same steps with an interleaved layout; ADR 0038.)
template <class P>
inline void S3Inv(Poly<P>& r, const Poly<P>& a) {
#if defined(MEDMESH_NTRU_AVX2_KERNELS)
  S3Inverse<P>(r.c, a.c);  // the same divsteps in registers (avx2/inv_s3.cc)
#else
  constexpr int kN = P::kN;
  using B = Bits<kN>;
  Trits<kN> f{};
  Trits<kN> g{};
  Trits<kN> v{};
  Trits<kN> w{};
  for (int i = 0; i < kN; ++i) f.z.SetBit(i, 1);
  const std::uint32_t top = a.c[kN - 1];
  for (int i = 0; i < kN - 1; ++i) {
    const std::uint16_t t = Mod3(a.c[i] + 2 * top);  // a mod Phi_n, in {0,1,2}
    g.z.SetBit(kN - 2 - i, (t | (t >> 1)) & 1);
    g.s.SetBit(kN - 2 - i, t >> 1);
  }
  w.z.SetBit(0, 1);
  std::int32_t delta = 1;
  for (int step = 0; step < 2 * (kN - 1) - 1; ++step) {
    v.z.ShiftUp1();  // v is x v from here on
    v.s.ShiftUp1();
    const std::uint64_t g0z = g.z.Bit0();
    const VecU64 cz = Splat64(ValueBarrier(0 - (f.z.Bit0() & g0z)));
    const VecU64 cn = Splat64(ValueBarrier(((f.s.Bit0() ^ g.s.Bit0()) & 1) - 1));  // f0 g0 = 1
    const std::uint64_t swap = SwapMask(delta, g0z);
    delta = CondNegatePlusOne(delta, swap);
    const VecU64 sw = Splat64(swap);
    for (int k = 0; k < B::kV; ++k) {
      const VecU64 fz = f.z.v[k];
      const VecU64 fs = f.s.v[k];
      f.z.v[k] = fz ^ ((fz ^ g.z.v[k]) & sw);
      f.s.v[k] = fs ^ ((fs ^ g.s.v[k]) & sw);
      AddScaledZs(g.z.v[k], g.s.v[k], fz, fs, cz, cn);
      const VecU64 xz = v.z.v[k];
      const VecU64 xs = v.s.v[k];
      v.z.v[k] = xz ^ ((xz ^ w.z.v[k]) & sw);
      v.s.v[k] = xs ^ ((xs ^ w.s.v[k]) & sw);
      AddScaledZs(w.z.v[k], w.s.v[k], xz, xs, cz, cn);
    }
    g.z.ShiftDown1();
    g.s.ShiftDown1();
  }
  // Result: f0 * reversal of v.
  const std::uint64_t fneg = f.s.Bit0();
  for (int i = 0; i < kN - 1; ++i) {
    const std::uint64_t z = v.z.GetBit(kN - 2 - i);
    const std::uint64_t sign = (v.s.GetBit(kN - 2 - i) ^ fneg) & z;
    r.c[i] = static_cast<std::uint16_t>(z << sign);  // 0, 1 or 2
  }
  for (int i = kN - 1; i < P::kPad; ++i) r.c[i] = 0;
  Wipe(&f, sizeof f);
  Wipe(&g, sizeof g);
  Wipe(&v, sizeof v);
  Wipe(&w, sizeof w);
#endif
}

// ---------------------------------------------------------------------------------------------
// Products in F_3[x] / Phi_n on bitsliced trits: batch key generation's S3 chain (batch_impl.h,
// ADR 0050) in the portable build, where this is about a third cheaper than the mod-q product.
// ---------------------------------------------------------------------------------------------

template <int N>
inline std::uint64_t Word(const Bits<N>& b, int w) {  // w is public
  return b.v[w / kU64Lanes][w % kU64Lanes];
}
template <int N>
inline void SetWord(Bits<N>& b, int w, std::uint64_t x) {
  b.v[w / kU64Lanes][w % kU64Lanes] = x;
}
// Word w of the mask of coefficients 0 .. N-1.
template <int N>
constexpr std::uint64_t LowBitsWord(int w) {
  return w < N / 64 ? ~0ULL : w == N / 64 ? (1ULL << (N % 64)) - 1 : 0;
}

// {0,1,2} coefficients (those from n-1 on zero) -> (nonzero, sign) planes. Reads bits 0 and 1
// only (so the signed form {0, 1, 2^16 - 1} gives the same planes). With SSE2, 16 coefficients
// per byte mask (pmovmskb) instead of a shift per coefficient.
template <class P>
inline void ToTrits(Trits<P::kN>& t, const Poly<P>& a) {
  t = {};
  for (int w = 0; w < Bits<P::kN>::kWords; ++w) {
    std::uint64_t z = 0;
    std::uint64_t s = 0;
#if defined(__SSE2__)
    const __m128i three = _mm_set1_epi16(3);
    const __m128i zero = _mm_setzero_si128();
    for (int q = 0; q < 4; ++q) {  // 64 kWords <= kPad for every set
      const std::uint16_t* c = a.c + 64 * w + 16 * q;
      const __m128i lo = _mm_and_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(c)), three);
      const __m128i hi =
          _mm_and_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(c + 8)), three);
      const auto is_zero = static_cast<std::uint32_t>(
          _mm_movemask_epi8(_mm_packs_epi16(_mm_cmpeq_epi16(lo, zero), _mm_cmpeq_epi16(hi, zero))));
      const auto sign = static_cast<std::uint32_t>(
          _mm_movemask_epi8(_mm_packs_epi16(_mm_slli_epi16(lo, 14), _mm_slli_epi16(hi, 14))));
      z |= std::uint64_t{~is_zero & 0xffffu} << (16 * q);
      s |= std::uint64_t{sign} << (16 * q);
    }
#else
    for (int k = 0; k < 64; ++k) {
      const std::uint64_t v = a.c[64 * w + k];  // 64 kWords <= kPad for every set
      z |= ((v | (v >> 1)) & 1) << k;
      s |= ((v >> 1) & 1) << k;
    }
#endif
    SetWord(t.z, w, z);
    SetWord(t.s, w, s);
  }
}

// The inverse of ToTrits: coefficients 0 .. kPad-1 in {0,1,2} (the sign plane counts only where
// the coefficient is nonzero). With SSE2, 8 coefficients from each byte of the planes by a
// broadcast and a comparison with the lane bits.
template <class P>
inline void FromTrits(Poly<P>& a, const Trits<P::kN>& t) {
  constexpr int kW = Bits<P::kN>::kWords;
  for (int w = 0; w < kW; ++w) {
    const std::uint64_t z = Word(t.z, w);
    const std::uint64_t s = Word(t.s, w) & z;
#if defined(__SSE2__)
    const __m128i bits = _mm_setr_epi16(1, 2, 4, 8, 16, 32, 64, 128);
    const __m128i one = _mm_set1_epi16(1);
    for (int q = 0; q < 8; ++q) {
      const __m128i zb = _mm_set1_epi16(static_cast<short>((z >> (8 * q)) & 0xff));
      const __m128i sb = _mm_set1_epi16(static_cast<short>((s >> (8 * q)) & 0xff));
      const __m128i zv = _mm_and_si128(_mm_cmpeq_epi16(_mm_and_si128(zb, bits), bits), one);
      const __m128i sv = _mm_and_si128(_mm_cmpeq_epi16(_mm_and_si128(sb, bits), bits), one);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(a.c + 64 * w + 8 * q), _mm_add_epi16(zv, sv));
    }
#else
    for (int k = 0; k < 64; ++k)
      a.c[64 * w + k] = static_cast<std::uint16_t>(((z >> k) & 1) + ((s >> k) & 1));
#endif
  }
  for (int i = 64 * kW; i < P::kPad; ++i) a.c[i] = 0;
}

// Words of the two planes of a bitsliced F_3 polynomial (S3MulTrits' Karatsuba operands and
// partial products). Words past a value's length are zero.
template <int W>
struct TritWords {
  std::uint64_t z[W];
  std::uint64_t s[W];
};

// r[at, at + n) += sign * a[from, from + n) (sign +1, or -1 if negate); n, at, from, negate
// are public.
template <int WR, int WA>
inline void AddTritWords(TritWords<WR>& r, int at, const TritWords<WA>& a, int from, int n,
                         bool negate) {
  const std::uint64_t all = ~std::uint64_t{0};
  const std::uint64_t cn = negate ? all : 0;
  for (int w = 0; w < n; ++w)
    AddScaledZs(r.z[at + w], r.s[at + w], a.z[from + w], a.s[from + w], all, cn);
}

// Karatsuba's split of x[from, from + m) at h = ceil(m/2) words: lo = x[from, from + h),
// hi = x[from + h, from + m) and lo + hi, each zero-extended to W words.
template <int W, int WX>
inline void KaratsubaSplit(TritWords<W> (&out)[3], const TritWords<WX>& x, int from, int m) {
  const int h = (m + 1) / 2;
  out[0] = {};
  out[1] = {};
  for (int w = 0; w < h; ++w) {
    out[0].z[w] = x.z[from + w];
    out[0].s[w] = x.s[from + w];
  }
  for (int w = 0; w < m - h; ++w) {
    out[1].z[w] = x.z[from + h + w];
    out[1].s[w] = x.s[from + h + w];
  }
  out[2] = out[0];
  AddTritWords(out[2], 0, out[1], 0, m - h, false);
}

// Karatsuba's recombination for operands of m words split at h = ceil(m/2): r (2m words, W
// >= 2m) = p0 + x^(64h) (pm - p0 - p1) + x^(128h) p1 from the products of the low parts (p0,
// 2h words), the high parts (p1, 2(m - h) words) and the sums (pm, 2h words).
template <int W, int WP>
inline void KaratsubaCombine(TritWords<W>& r, const TritWords<WP>& p0, const TritWords<WP>& p1,
                             TritWords<WP> pm, int m) {
  const int h = (m + 1) / 2;
  AddTritWords(pm, 0, p0, 0, 2 * h, true);
  AddTritWords(pm, 0, p1, 0, 2 * (m - h), true);
  r = {};
  for (int w = 0; w < 2 * h; ++w) {
    r.z[w] = p0.z[w];
    r.s[w] = p0.s[w];
  }
  for (int w = 0; w < 2 * (m - h); ++w) {
    r.z[2 * h + w] = p1.z[w];
    r.s[2 * h + w] = p1.s[w];
  }
  AddTritWords(r, h, pm, 0, 2 * h, false);
}

// The products out[p] = a[p] * b[p] (2Q words) for the kCount indices p of idx (public), whose
// operands have at most Q words: kL at a time, one per lane of a vector. Comb schoolbook per
// lane: a b = sum over bit offsets s of x^s sum over words w of a[64 w + s] x^(64 w) b, by
// Horner's rule from s = 63 down; the accumulator's shift by x stays inside each lane.
template <int Q, int WO, int WI, int kP, std::size_t kCount>
inline void S3MulLanes(TritWords<WO> (&out)[kP], const TritWords<WI> (&a)[kP],
                       const TritWords<WI> (&b)[kP], const int (&idx)[kCount]) {
  constexpr int kCnt = static_cast<int>(kCount);
  static_assert(Q <= WI && 2 * Q <= WO);
  constexpr int kL = kU64Lanes;
  for (int g = 0; g < kCnt; g += kL) {
    VecU64 ops[4][Q];  // the planes of a and b
    VecU64(&az)[Q] = ops[0];
    VecU64(&as)[Q] = ops[1];
    VecU64(&bz)[Q] = ops[2];
    VecU64(&bs)[Q] = ops[3];
    for (int w = 0; w < Q; ++w) {
      for (int l = 0; l < kL; ++l) {
        const bool in = g + l < kCnt;  // public
        const int p = in ? idx[g + l] : 0;
        az[w][l] = in ? a[p].z[w] : 0;
        as[w][l] = in ? a[p].s[w] : 0;
        bz[w][l] = in ? b[p].z[w] : 0;
        bs[w][l] = in ? b[p].s[w] : 0;
      }
    }
    VecU64 acc[2][2 * Q] = {};  // the planes of the product
    VecU64(&cz)[2 * Q] = acc[0];
    VecU64(&cs)[2 * Q] = acc[1];
    for (int s = 63; s >= 0; --s) {
#pragma GCC unroll 8
      for (int w = 2 * Q - 1; w > 0; --w) {
        cz[w] = (cz[w] << 1) | (cz[w - 1] >> 63);
        cs[w] = (cs[w] << 1) | (cs[w - 1] >> 63);
      }
      cz[0] <<= 1;
      cs[0] <<= 1;
#pragma GCC unroll 8
      for (int w = 0; w < Q; ++w) {
        const VecU64 mz = VecU64{} - ((az[w] >> s) & 1);
        const VecU64 mn = VecU64{} - ((as[w] >> s) & 1);
#pragma GCC unroll 8
        for (int v = 0; v < Q; ++v) AddScaledZs(cz[w + v], cs[w + v], bz[v], bs[v], mz, mn);
      }
    }
    for (int l = 0; l < kL && g + l < kCnt; ++l) {
      const int p = idx[g + l];
      out[p] = {};
      for (int w = 0; w < 2 * Q; ++w) {
        out[p].z[w] = cz[w][l];
        out[p].s[w] = cs[w][l];
      }
    }
    Wipe(ops, sizeof ops);
    Wipe(acc, sizeof acc);
  }
}

// The shape of S3MulTrits' Karatsuba for n = N: word counts of the level-1 operands (kM) and
// the size of each of the 9 products' operands (Size), grouped by size for S3MulLanes.
template <int N>
struct S3Karatsuba {
  static constexpr int kW = Bits<N>::kWords;
  static constexpr int kH = (kW + 1) / 2;  // level 1: low part and sum; the high part kW - kH
  static constexpr int kQ = (kH + 1) / 2;  // level 2: the largest part
  static constexpr int kM[3] = {kH, kW - kH, kH};
  // Product 3i + j multiplies part j of the level-1 operands i (kM[i] words): ceil(m/2) words
  // for j = 0 (low) and 2 (sum), floor(m/2) for j = 1 (high).
  static constexpr int Size(int p) { return p % 3 == 1 ? kM[p / 3] / 2 : (kM[p / 3] + 1) / 2; }
  static constexpr int Count(int q) {
    int c = 0;
    for (int p = 0; p < 9; ++p) c += Size(p) == q ? 1 : 0;
    return c;
  }
  template <int Q>
  static constexpr std::array<int, Count(Q)> Group() {
    std::array<int, Count(Q)> idx{};
    int c = 0;
    for (int p = 0; p < 9; ++p) {
      if (Size(p) == Q) idx[c++] = p;
    }
    return idx;
  }
};

// r = a * b mod (3, Phi_n) for a, b with coefficients n-1 and up zero; so are r's. r may alias
// a or b.
//
// Two levels of Karatsuba (ADR 0058) on the kW words of the operands, each split at
// ceil(m/2) words: 9 products of 2-4-word operands, done kL at a time in the lanes of vectors
// by a comb schoolbook (S3MulLanes; the products grouped by size, with two lanes 5 or 6
// passes instead of 9), then recombined by F_3 additions on the planes. (ADR 0050 had the comb
// over whole operands, whose cost grows with the square of the word count and whose last
// vector of b was mostly empty.) Then the 2n-coefficient product is folded mod x^n - 1 and
// reduced mod Phi_n (coefficient n-1 times 1 + x + ... + x^(n-1) subtracted).
// Out of line: three calls per key, and inlined copies would only crowd the other inlining
// decisions of the file.
template <int N>
__attribute__((noinline)) void S3MulTrits(Trits<N>& r, const Trits<N>& a, const Trits<N>& b) {
  using K = S3Karatsuba<N>;
  constexpr int kL = kU64Lanes;
  constexpr int kW = K::kW;
  constexpr int kH = K::kH;
  constexpr int kQ = K::kQ;
  using Wide = Bits<2 * N>;
  static_assert(N % 64 != 0 && 2 * kW >= Wide::kWords);
  TritWords<kW> aw;
  TritWords<kW> bw;
  for (int w = 0; w < kW; ++w) {
    aw.z[w] = Word(a.z, w);
    aw.s[w] = Word(a.s, w);
    bw.z[w] = Word(b.z, w);
    bw.s[w] = Word(b.s, w);
  }
  TritWords<kH> ah[3];
  TritWords<kH> bh[3];
  KaratsubaSplit(ah, aw, 0, kW);
  KaratsubaSplit(bh, bw, 0, kW);
  TritWords<kQ> aq[9];
  TritWords<kQ> bq[9];
  for (int i = 0; i < 3; ++i) {
    TritWords<kQ> t[3];
    KaratsubaSplit(t, ah[i], 0, K::kM[i]);
    for (int j = 0; j < 3; ++j) aq[3 * i + j] = t[j];
    KaratsubaSplit(t, bh[i], 0, K::kM[i]);
    for (int j = 0; j < 3; ++j) bq[3 * i + j] = t[j];
    Wipe(t, sizeof t);
  }
  TritWords<2 * kQ> pq[9];
  [&]<int... Q>(std::integer_sequence<int, Q...> /*sizes*/) {
    const auto group = [&]<int kSize>() {
      constexpr auto kIdx = K::template Group<kSize>();
      if constexpr (kIdx.size() > 0) {
        int idx[kIdx.size()];
        for (std::size_t c = 0; c < kIdx.size(); ++c) idx[c] = kIdx[c];
        S3MulLanes<kSize>(pq, aq, bq, idx);
      }
    };
    (group.template operator()<Q + 1>(), ...);
  }
  (std::make_integer_sequence<int, kQ>{});
  TritWords<2 * kH> ph[3];
  for (int i = 0; i < 3; ++i)
    KaratsubaCombine(ph[i], pq[3 * i], pq[3 * i + 1], pq[3 * i + 2], K::kM[i]);
  TritWords<2 * kW> prod;
  KaratsubaCombine(prod, ph[0], ph[1], ph[2], kW);
  Trits<2 * N> acc{};
  for (int w = 0; w < Wide::kWords; ++w) {  // the words above are zero: degree <= 2n - 4
    SetWord(acc.z, w, prod.z[w]);
    SetWord(acc.s, w, prod.s[w]);
  }
  Wipe(&aw, sizeof aw);
  Wipe(&bw, sizeof bw);
  Wipe(ah, sizeof ah);
  Wipe(bh, sizeof bh);
  Wipe(aq, sizeof aq);
  Wipe(bq, sizeof bq);
  Wipe(pq, sizeof pq);
  Wipe(ph, sizeof ph);
  Wipe(&prod, sizeof prod);
  // Fold: coefficients n .. 2n-4 onto 0 .. n-4 (the product's degree is at most 2n-4).
  Trits<N> hi{};
  for (int w = 0; w < kW; ++w) {
    constexpr int kShift = N % 64;
    const int lo = w + N / 64;  // public
    const bool last = lo + 1 >= Wide::kWords;
    SetWord(hi.z, w,
            (Word(acc.z, lo) >> kShift) | (last ? 0 : Word(acc.z, lo + 1) << (64 - kShift)));
    SetWord(hi.s, w,
            (Word(acc.s, lo) >> kShift) | (last ? 0 : Word(acc.s, lo + 1) << (64 - kShift)));
  }
  VecU64 ones[Bits<N>::kV];
  for (int w = 0; w < Bits<N>::kV * kL; ++w) ones[w / kL][w % kL] = LowBitsWord<N>(w);
  const VecU64 all = Splat64(~0ULL);
  const VecU64 none = Splat64(0);
  for (int k = 0; k < Bits<N>::kV; ++k) {
    r.z.v[k] = acc.z.v[k] & ones[k];
    r.s.v[k] = acc.s.v[k];
    AddScaledZs(r.z.v[k], r.s.v[k], hi.z.v[k], hi.s.v[k], all, none);
  }
  // r -= r[n-1] (1 + x + ... + x^(n-1)): -r[n-1] is nonzero with r[n-1], and -1 where it is +1.
  const std::uint64_t tz = r.z.GetBit(N - 1);
  const std::uint64_t ts = r.s.GetBit(N - 1);
  const VecU64 cz = Splat64(ValueBarrier(0 - tz));
  const VecU64 cn = Splat64(ValueBarrier(0 - (ts ^ 1)));
  for (int k = 0; k < Bits<N>::kV; ++k) AddScaledZs(r.z.v[k], r.s.v[k], ones[k], none, cz, cn);
  Wipe(&acc, sizeof acc);
  Wipe(&hi, sizeof hi);
}

// One lifting step of RqInv from k = K to 2k+1 bits (see there): r <- r (1 + e + 2^2k u(x^2))
// with e = 1 - a r reduced mod Phi_n = 2^k u. neg_a = -a; e and d are scratch.
template <class P, int K>
inline void LiftStep(Poly<P>& r, const Poly<P>& neg_a, Poly<P>& e, Poly<P>& d) {
  RqMulModQ(e, r, neg_a);
  e.c[0] = static_cast<std::uint16_t>(e.c[0] + 1);  // e = 1 - a r
  if constexpr (2 * K < P::kLogQ) {  // else 2^2k u(x^2) = 0 mod q: a plain Newton step
    SubtractTopPhiN(e);              // every coefficient is now a multiple of 2^k
    // d[i] = 2^2k (u[i] mod 2) goes to position 2i mod n: e[2j] += d[j] for j < (n+1)/2 and
    // e[2j+1] += d[(n+1)/2 + j].
    constexpr int kHalf = (P::kN + 1) / 2;
    for (int i = 0; i < P::kN; ++i)
      d.c[i] = static_cast<std::uint16_t>(((e.c[i] >> K) & 1) << (2 * K));
    for (int j = 0; j < kHalf; ++j) e.c[2 * j] = static_cast<std::uint16_t>(e.c[2 * j] + d.c[j]);
    for (int j = 0; j < P::kN / 2; ++j)
      e.c[2 * j + 1] = static_cast<std::uint16_t>(e.c[2 * j + 1] + d.c[kHalf + j]);
  }
  e.c[0] = static_cast<std::uint16_t>(e.c[0] + 1);  // s = 1 + e + 2^2k u(x^2)
  RqMulModQ(r, r, e);
}

// r = a^-1 mod (q, Phi_n): the low P::kLogQ bits of each coefficient are those of a
// representative of the inverse (bits above are unspecified; r is not reduced mod Phi_n,
// coefficients from n on are zero). a must be invertible mod (2, Phi_n), as every g f of key
// generation is.
//
// The inverse mod 2 (R2Inv) lifted by three 2-adic steps of two products each, all in
// Z_{2^16}[x] / (x^n - 1) with the mod-q product (RqMulModQ: Toom-4 in the AVX2 build,
// correct mod 2^13 >= q). Write "k bits" for a r = 1 mod (2^k, Phi_n). Correctness:
// - Arithmetic mod x^n - 1 followed by the ring map to Z[x]/Phi_n (Phi_n divides x^n - 1) is
//   arithmetic mod Phi_n, so every identity below holds mod Phi_n whatever multiple of Phi_n
//   the x^n - 1 representatives carry; and products correct mod 2^13 suffice since no result
//   is needed beyond 2^13 (q <= 2^13).
// - A step from k bits: e = 1 - a r is 0 mod (2^k, Phi_n); reduced mod Phi_n (coefficient n-1
//   made zero) it is the unique representative of degree < n-1, so each coefficient is a
//   multiple of 2^k: e = 2^k u. Then e^2 = 2^2k u^2, and mod 2 squaring is additive
//   (Frobenius), u^2 = u(x^2) mod (2, x^n - 1): coefficient i moves to 2i mod n, a fixed
//   permutation (n is odd). So s = 1 + e + 2^2k u(x^2) equals 1 + e + e^2 mod 2^(2k+1) at the
//   cost of no product, and r' = r s gives a r' = (1 - e) s = 1 - e^3 + (s - 1 - e - e^2)(1 - e)
//   = 1 mod 2^(2k+1) (e^3 is a multiple of 2^3k, 3k >= 2k+1). Two products per step, where the
//   classic Newton step r (2 - a r) needs the same two to reach only 2k bits. (Where 2^2k is
//   0 mod q the extra term is left out: the step is then Newton's, to 2k >= LogQ bits.)
// - 1 -> 3 -> 7 -> 14 bits: 6 products for every set (q <= 2^13). The lift used to be four
//   Newton steps mod 2^15 (1 -> 16 bits): 8 products of the slower mod-2^15 product.
// All loop bounds and the permutation's indices are public constants.
template <class P>
inline void RqInv(Poly<P>& r, const Poly<P>& a) {
  static_assert(P::kLogQ <= 13, "RqMulModQ is correct mod 2^13 only");
  Poly<P> neg_a;
  Poly<P> e;
  Poly<P> s;
  R2Inv(r, a);
  for (int i = 0; i < P::kPad; ++i) neg_a.c[i] = static_cast<std::uint16_t>(0 - a.c[i]);
  LiftStep<P, 1>(r, neg_a, e, s);  // 3 bits
  LiftStep<P, 3>(r, neg_a, e, s);  // 7 bits
  LiftStep<P, 7>(r, neg_a, e, s);  // 14 bits (Newton's step: 2^14 = 0 mod q)
  Wipe(&neg_a, sizeof neg_a);
  Wipe(&e, sizeof e);
  Wipe(&s, sizeof s);
}

}  // namespace medmesh::ntru::MEDMESH_NTRU_TARGET

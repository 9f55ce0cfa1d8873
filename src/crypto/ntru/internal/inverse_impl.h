// Constant-time inversions mod (2, Phi_n), (3, Phi_n) and (q, Phi_n).
//
// Both small-field inversions run the Bernstein-Yang polynomial divstep on reversed
// polynomials, 2(n-1)-1 steps for every input, with the coefficients bitsliced into 64-bit
// words (one bit plane for F_2; a "+1" plane and a "-1" plane for F_3). All decisions are masks.
// Part of kem_impl.h; see there for conventions.

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

// F_3 vectors bitsliced as two planes: p (coefficient is +1) and m (coefficient is -1).
template <int N>
struct Trits {
  Bits<N> p, m;
  void ShiftUp1() {
    p.ShiftUp1();
    m.ShiftUp1();
  }
  void ShiftDown1() {
    p.ShiftDown1();
    m.ShiftDown1();
  }
};

// a += s * b where s is a scalar in F_3 given as masks (sp: s = +1, sm: s = -1).
template <int N>
inline void AddScaled(Trits<N>& a, const Trits<N>& b, VecU64 sp, VecU64 sm) {
  for (int k = 0; k < Bits<N>::kV; ++k) {
    const VecU64 bp = (sp & b.p.v[k]) | (sm & b.m.v[k]);
    const VecU64 bm = (sp & b.m.v[k]) | (sm & b.p.v[k]);
    const VecU64 ap = a.p.v[k];
    const VecU64 am = a.m.v[k];
    const VecU64 az = ~(ap | am);
    const VecU64 bz = ~(bp | bm);
    // +1: 1+0, 0+1, (-1)+(-1);  -1: (-1)+0, 0+(-1), 1+1
    a.p.v[k] = (ap & bz) | (az & bp) | (am & bm);
    a.m.v[k] = (am & bz) | (az & bm) | (ap & bp);
  }
}

// r = a^-1 mod (3, Phi_n), coefficients in {0, 1, 2}. a must be invertible.
template <class P>
inline void S3Inv(Poly<P>& r, const Poly<P>& a) {
#if defined(MEDMESH_NTRU_AVX2_KERNELS)
  S3Inverse<P>(r.c, a.c);  // the same divsteps in registers (avx2/inv_s3.cc)
#else
  constexpr int kN = P::kN;
  Trits<kN> f{};
  Trits<kN> g{};
  Trits<kN> v{};
  Trits<kN> w{};
  for (int i = 0; i < kN; ++i) f.p.SetBit(i, 1);
  const std::uint32_t top = a.c[kN - 1];
  for (int i = 0; i < kN - 1; ++i) {
    const std::uint16_t t = Mod3(a.c[i] + 2 * top);  // a mod Phi_n, in {0,1,2}
    g.p.SetBit(kN - 2 - i, t & 1);
    g.m.SetBit(kN - 2 - i, t >> 1);
  }
  w.p.SetBit(0, 1);
  std::int32_t delta = 1;
  for (int step = 0; step < 2 * (kN - 1) - 1; ++step) {
    v.ShiftUp1();
    const std::uint64_t fp = f.p.Bit0();
    const std::uint64_t fm = f.m.Bit0();
    const std::uint64_t gp = g.p.Bit0();
    const std::uint64_t gm = g.m.Bit0();
    // c = -f0*g0: +1 when f0 and g0 differ in sign, -1 when they agree.
    const VecU64 cp = Splat64(ValueBarrier(0 - ((fp & gm) | (fm & gp))));
    const VecU64 cm = Splat64(ValueBarrier(0 - ((fp & gp) | (fm & gm))));
    const std::uint64_t swap = SwapMask(delta, gp | gm);
    delta = CondNegatePlusOne(delta, swap);
    const VecU64 swap_v = Splat64(swap);
    CondSwap(f.p, g.p, swap_v);
    CondSwap(f.m, g.m, swap_v);
    CondSwap(v.p, w.p, swap_v);
    CondSwap(v.m, w.m, swap_v);
    AddScaled(g, f, cp, cm);
    AddScaled(w, v, cp, cm);
    g.ShiftDown1();
  }
  // Result: f0 * reversal of v.
  const std::uint64_t fneg = 0 - f.m.Bit0();
  for (int i = 0; i < kN - 1; ++i) {
    std::uint64_t p = v.p.GetBit(kN - 2 - i);
    std::uint64_t m = v.m.GetBit(kN - 2 - i);
    const std::uint64_t t = (p ^ m) & fneg;  // f0 = -1 swaps the planes
    p ^= t;
    m ^= t;
    r.c[i] = static_cast<std::uint16_t>(p | (m << 1));
  }
  for (int i = kN - 1; i < P::kPad; ++i) r.c[i] = 0;
  Wipe(&f, sizeof f);
  Wipe(&g, sizeof g);
  Wipe(&v, sizeof v);
  Wipe(&w, sizeof w);
#endif
}

// r = a^-1 mod (2^15, Phi_n) (q divides 2^15): the inverse mod 2 lifted by four Newton steps
// r <- r (2 - a r), each doubling the number of correct bits (2, 4, 8, 16).
template <class P>
inline void RqInv(Poly<P>& r, const Poly<P>& a) {
  Poly<P> neg_a;
  Poly<P> t;
  R2Inv(r, a);
  for (int i = 0; i < P::kPad; ++i) neg_a.c[i] = static_cast<std::uint16_t>(0 - a.c[i]);
  for (int k = 0; k < 4; ++k) {
    RqMul(t, r, neg_a);
    t.c[0] = static_cast<std::uint16_t>(t.c[0] + 2);
    RqMul(r, t, r);
  }
  Wipe(&neg_a, sizeof neg_a);
  Wipe(&t, sizeof t);
}

}  // namespace medmesh::ntru::MEDMESH_NTRU_TARGET

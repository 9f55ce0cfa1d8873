// Constant-time inversions mod (2, Phi_n), (3, Phi_n) and (q, Phi_n).
//
// Both small-field inversions run the Bernstein-Yang polynomial divstep on reversed
// polynomials, 2(n-1)-1 steps for every input, with the coefficients bitsliced into 64-bit
// words (one bit plane for F_2; a "+1" plane and a "-1" plane for F_3). All decisions are masks.
// Part of kem_impl.h; see there for conventions.

namespace medmesh::ntru::MEDMESH_NTRU_TARGET {

template <int W>
struct Bits {
  std::uint64_t w[W];
};

template <int W>
inline void ShiftUp1(Bits<W>& a, std::uint64_t top_mask) {  // a *= x, dropping bit n
  for (int k = W - 1; k > 0; --k) a.w[k] = (a.w[k] << 1) | (a.w[k - 1] >> 63);
  a.w[0] <<= 1;
  a.w[W - 1] &= top_mask;
}

template <int W>
inline void ShiftDown1(Bits<W>& a) {  // a /= x (the constant term is zero)
  for (int k = 0; k < W - 1; ++k) a.w[k] = (a.w[k] >> 1) | (a.w[k + 1] << 63);
  a.w[W - 1] >>= 1;
}

template <int W>
inline void CondSwap(Bits<W>& a, Bits<W>& b, std::uint64_t mask) {
  for (int k = 0; k < W; ++k) {
    const std::uint64_t t = (a.w[k] ^ b.w[k]) & mask;
    a.w[k] ^= t;
    b.w[k] ^= t;
  }
}

// Mask of "delta > 0 and bit != 0", from the sign of -delta.
inline std::uint64_t SwapMask(std::int32_t delta, std::uint64_t nonzero_bit) {
  const std::uint64_t neg = static_cast<std::uint64_t>(static_cast<std::int64_t>(-delta) >> 63);
  return ValueBarrier(neg & (0 - (nonzero_bit & 1)));
}

inline std::int32_t CondNegatePlusOne(std::int32_t delta, std::uint64_t swap) {
  const std::int32_t m = static_cast<std::int32_t>(swap);  // 0 or -1
  return ((delta ^ m) - m) + 1;
}

// r = a^-1 mod (2, Phi_n), coefficients in {0, 1}. a must be invertible (as f and g*f are).
template <class P>
inline void R2Inv(Poly<P>& r, const Poly<P>& a) {
  constexpr int N = P::kN;
  constexpr int W = P::kWords;
  constexpr std::uint64_t kTop = (N % 64 == 0) ? ~0ull : ((1ull << (N % 64)) - 1);
  Bits<W> f{}, g{}, v{}, w{};
  // f = Phi_n (its own reversal); g = reversal of (a mod Phi_n) as a polynomial of degree n-2.
  for (int i = 0; i < N; ++i) f.w[i / 64] |= 1ull << (i % 64);
  const std::uint64_t top = a.c[N - 1] & 1;
  for (int i = 0; i < N - 1; ++i) {
    const int j = N - 2 - i;
    g.w[j / 64] |= static_cast<std::uint64_t>((a.c[i] ^ top) & 1) << (j % 64);
  }
  w.w[0] = 1;
  std::int32_t delta = 1;
  for (int step = 0; step < 2 * (N - 1) - 1; ++step) {
    ShiftUp1(v, kTop);
    const std::uint64_t g0 = g.w[0] & 1;
    const std::uint64_t swap = SwapMask(delta, g0);
    delta = CondNegatePlusOne(delta, swap);
    CondSwap(f, g, swap);
    CondSwap(v, w, swap);
    const std::uint64_t sub = 0 - (g.w[0] & f.w[0] & 1);  // g0 * f0 (f0 is always 1)
    for (int k = 0; k < W; ++k) g.w[k] ^= sub & f.w[k];
    for (int k = 0; k < W; ++k) w.w[k] ^= sub & v.w[k];
    ShiftDown1(g);
  }
  for (int i = 0; i < N - 1; ++i) {
    const int j = N - 2 - i;
    r.c[i] = static_cast<std::uint16_t>((v.w[j / 64] >> (j % 64)) & 1);
  }
  for (int i = N - 1; i < P::kPad; ++i) r.c[i] = 0;
  Wipe(&f, sizeof f);
  Wipe(&g, sizeof g);
  Wipe(&v, sizeof v);
  Wipe(&w, sizeof w);
}

// F_3 vectors bitsliced as two planes: p (coefficient is +1) and m (coefficient is -1).
template <int W>
struct Trits {
  Bits<W> p, m;
};

// a += s * b where s is a scalar in F_3 given as masks (sp: s = +1, sm: s = -1).
template <int W>
inline void AddScaled(Trits<W>& a, const Trits<W>& b, std::uint64_t sp, std::uint64_t sm) {
  for (int k = 0; k < W; ++k) {
    const std::uint64_t bp = (sp & b.p.w[k]) | (sm & b.m.w[k]);
    const std::uint64_t bm = (sp & b.m.w[k]) | (sm & b.p.w[k]);
    const std::uint64_t ap = a.p.w[k], am = a.m.w[k];
    const std::uint64_t az = ~(ap | am), bz = ~(bp | bm);
    // +1: 1+0, 0+1, (-1)+(-1);  -1: (-1)+0, 0+(-1), 1+1
    a.p.w[k] = (ap & bz) | (az & bp) | (am & bm);
    a.m.w[k] = (am & bz) | (az & bm) | (ap & bp);
  }
}

// r = a^-1 mod (3, Phi_n), coefficients in {0, 1, 2}. a must be invertible.
template <class P>
inline void S3Inv(Poly<P>& r, const Poly<P>& a) {
  constexpr int N = P::kN;
  constexpr int W = P::kWords;
  constexpr std::uint64_t kTop = (N % 64 == 0) ? ~0ull : ((1ull << (N % 64)) - 1);
  Trits<W> f{}, g{}, v{}, w{};
  for (int i = 0; i < N; ++i) f.p.w[i / 64] |= 1ull << (i % 64);
  const std::uint32_t top = a.c[N - 1];
  for (int i = 0; i < N - 1; ++i) {
    const int j = N - 2 - i;
    const std::uint16_t t = Mod3(a.c[i] + 2 * top);  // a mod Phi_n, in {0,1,2}
    g.p.w[j / 64] |= static_cast<std::uint64_t>(t & 1) << (j % 64);
    g.m.w[j / 64] |= static_cast<std::uint64_t>(t >> 1) << (j % 64);
  }
  w.p.w[0] = 1;
  std::int32_t delta = 1;
  for (int step = 0; step < 2 * (N - 1) - 1; ++step) {
    ShiftUp1(v.p, kTop);
    ShiftUp1(v.m, kTop);
    const std::uint64_t fp = f.p.w[0] & 1, fm = f.m.w[0] & 1;
    const std::uint64_t gp = g.p.w[0] & 1, gm = g.m.w[0] & 1;
    // c = -f0*g0: +1 when f0 and g0 differ in sign, -1 when they agree.
    const std::uint64_t cp = 0 - ((fp & gm) | (fm & gp));
    const std::uint64_t cm = 0 - ((fp & gp) | (fm & gm));
    const std::uint64_t swap = SwapMask(delta, gp | gm);
    delta = CondNegatePlusOne(delta, swap);
    CondSwap(f.p, g.p, swap);
    CondSwap(f.m, g.m, swap);
    CondSwap(v.p, w.p, swap);
    CondSwap(v.m, w.m, swap);
    AddScaled(g, f, ValueBarrier(cp), ValueBarrier(cm));
    AddScaled(w, v, ValueBarrier(cp), ValueBarrier(cm));
    ShiftDown1(g.p);
    ShiftDown1(g.m);
  }
  // Result: f0 * reversal of v.
  const std::uint64_t fneg = 0 - (f.m.w[0] & 1);
  for (int i = 0; i < N - 1; ++i) {
    const int j = N - 2 - i;
    std::uint64_t p = (v.p.w[j / 64] >> (j % 64)) & 1;
    std::uint64_t m = (v.m.w[j / 64] >> (j % 64)) & 1;
    const std::uint64_t t = (p ^ m) & fneg;  // f0 = -1 swaps the planes
    p ^= t;
    m ^= t;
    r.c[i] = static_cast<std::uint16_t>(p | (m << 1));
  }
  for (int i = N - 1; i < P::kPad; ++i) r.c[i] = 0;
  Wipe(&f, sizeof f);
  Wipe(&g, sizeof g);
  Wipe(&v, sizeof v);
  Wipe(&w, sizeof w);
}

// r = a^-1 mod (2^16, Phi_n): the inverse mod 2 lifted by four Newton steps r <- r (2 - a r).
template <class P>
inline void RqInv(Poly<P>& r, const Poly<P>& a) {
  Poly<P> neg_a, t;
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

// Batch key generation: n key pairs with one inversion mod (3, Phi_n) and one mod (q, Phi_n)
// per chunk of keys, by Montgomery's trick. Part of kem_impl.h; see there for conventions.
//
// For these n, 2 and 3 have order n-1 modulo n, so Phi_n is irreducible mod 2 and mod 3 and
// both small rings are fields; every f and every g*f of key generation is a unit (mod q too,
// since a unit mod 2 lifts to a unit mod 2^k). For units a_1..a_k with prefix products
// c_i = a_1 ... a_i, one inversion u = c_k^-1 and walking back
//     a_i^-1 = u c_{i-1},   u <- u a_i        (i = k .. 2),   a_1^-1 = u
// gives every inverse with 3(k-1) multiplications.
//
// The inverses are unique in the fields, so f^-1 mod (3, Phi_n) is the same canonical
// polynomial as the single-key path's. (g f)^-1 mod (q, Phi_n) may differ from the single
// path's representative by a multiple of Phi_n and in the bits above q; the outputs do not:
// h^-1 is reduced mod Phi_n, and h = (g f)^-1 g g is computed mod x^n - 1 where g carries the
// factor x - 1 (g(1) = 0 for HPS, g = 3 (x-1) g' for HRSS), so any multiple of Phi_n vanishes.
// So every output byte equals n single KeypairDerand calls with the same coins (the KAT test
// checks this for every record).
//
// Scratch: the output buffers themselves. While walking forward, key i's secret-key slots hold
// (packed) f_i, then f_p, and the mod-q chains' prefix products; its public-key slot holds the
// mod-3 chain's prefix product until h is written there (KeypairChunk's slot lambdas); the
// ternary g of each key is packed in a stack buffer (kMaxChunk of them).
// Packing keeps values mod q and mod 3 only, which is all that any output depends on.
//
// Constant time: the chunking and every loop bound depend on the public count only.

namespace medmesh::ntru::MEDMESH_NTRU_TARGET {

// Keys per chunk: enough that the inversions cost little per key, few enough that the packed g
// buffers (at most 64 * 164 bytes) keep KeypairChunk's stack at tens of KB (docs/ntru.md).
inline constexpr std::size_t kMaxBatchChunk = 64;

// The scaled g of key generation over Z_q: 3 g (HPS) or 3 (x - 1) g (HRSS), from ternary g.
template <class P>
inline void ScaleG(Poly<P>& g) {
  if constexpr (P::kHrss) {
    Z3ToZq(g);
    for (int i = P::kN - 1; i > 0; --i)
      g.c[i] = static_cast<std::uint16_t>(3 * (g.c[i - 1] - g.c[i]));
    g.c[0] = static_cast<std::uint16_t>(0 - 3 * g.c[0]);
  } else {  // 3 Z3ToZq(g) in one pass
    MapCoeffs(g, [](VecU16 v) { return 3 * Z3ToZqOf<P>(v); });
  }
}

// The mod-q chains' prefix products between the passes, in a secret key's mod-q slot and,
// past it, the 32 bytes that receive the key's PRF key last. kW coefficients at a time, their
// low bytes and then one kW-bit mask per bit above 8 (pmovmskb), a few instructions per
// coefficient fewer than PackSq's bit stream both ways: 16 with SSE2 in the portable build
// (ADR 0058), 32 with AVX2 (ADR 0061; vpackuswb / vpunpck*bw work within 128-bit lanes, so a
// group's bytes and mask bits are in the order [0-7, 16-23, 8-15, 24-31], the same both ways).
// The coefficients below n - 1 past the last whole group (4 to 28) follow as uint16 mod q: whole
// groups only, the format fits the slot for every set in both builds (rounding up to a last,
// padded group did not for hps677 with AVX2, which then fell back to PackSq). Without SSE2:
// PackSq. Coefficient n-1 must be zero (the values are reduced mod Phi_n) and comes back zero,
// as with PackSq/UnpackSq.
#if defined(MEDMESH_NTRU_AVX2_KERNELS)
struct ChainQOps {
  using V = __m256i;
  using Mask = std::uint32_t;
  static constexpr int kW = 32;
  static V Load(const void* p) { return _mm256_load_si256(static_cast<const V*>(p)); }
  static V LoadU(const void* p) { return _mm256_loadu_si256(static_cast<const V*>(p)); }
  static void Store(void* p, V v) { _mm256_store_si256(static_cast<V*>(p), v); }
  static void StoreU(void* p, V v) { _mm256_storeu_si256(static_cast<V*>(p), v); }
  static V LowBytes(V lo, V hi) {
    const V low = _mm256_set1_epi16(0xff);
    return _mm256_packus_epi16(_mm256_and_si256(lo, low), _mm256_and_si256(hi, low));
  }
  static Mask Bit(V lo, V hi, int b) {  // bit 8 + b to the sign bit, then one bit a byte
    return static_cast<Mask>(_mm256_movemask_epi8(
        _mm256_packs_epi16(_mm256_slli_epi16(lo, 7 - b), _mm256_slli_epi16(hi, 7 - b))));
  }
  static V Widen(V bytes, bool high) {
    const V zero = _mm256_setzero_si256();
    return high ? _mm256_unpackhi_epi8(bytes, zero) : _mm256_unpacklo_epi8(bytes, zero);
  }
  static void AddBit(V& lo, V& hi, Mask m, int b) {  // byte k takes bit k: mask byte k / 8
    const V spread = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2,
                                      2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
    const V bits = _mm256_set1_epi64x(0x8040201008040201LL);
    const V set = _mm256_cmpeq_epi8(
        _mm256_and_si256(_mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int>(m)), spread), bits),
        bits);
    const V value = _mm256_set1_epi16(static_cast<short>(1 << (8 + b)));
    lo = _mm256_or_si256(lo, _mm256_and_si256(_mm256_unpacklo_epi8(set, set), value));
    hi = _mm256_or_si256(hi, _mm256_and_si256(_mm256_unpackhi_epi8(set, set), value));
  }
};
#elif defined(__SSE2__)
struct ChainQOps {
  using V = __m128i;
  using Mask = std::uint16_t;
  static constexpr int kW = 16;
  static V Load(const void* p) { return _mm_load_si128(static_cast<const V*>(p)); }
  static V LoadU(const void* p) { return _mm_loadu_si128(static_cast<const V*>(p)); }
  static void Store(void* p, V v) { _mm_store_si128(static_cast<V*>(p), v); }
  static void StoreU(void* p, V v) { _mm_storeu_si128(static_cast<V*>(p), v); }
  static V LowBytes(V lo, V hi) {
    const V low = _mm_set1_epi16(0xff);
    return _mm_packus_epi16(_mm_and_si128(lo, low), _mm_and_si128(hi, low));
  }
  static Mask Bit(V lo, V hi, int b) {
    return static_cast<Mask>(
        _mm_movemask_epi8(_mm_packs_epi16(_mm_slli_epi16(lo, 7 - b), _mm_slli_epi16(hi, 7 - b))));
  }
  static V Widen(V bytes, bool high) {
    const V zero = _mm_setzero_si128();
    return high ? _mm_unpackhi_epi8(bytes, zero) : _mm_unpacklo_epi8(bytes, zero);
  }
  static void AddBit(V& lo, V& hi, Mask m, int b) {  // each half's byte of m against 8 bits
    const V bits = _mm_setr_epi16(1, 2, 4, 8, 16, 32, 64, 128);
    const V value = _mm_set1_epi16(static_cast<short>(1 << (8 + b)));
    const V ml = _mm_set1_epi16(static_cast<short>(m & 0xff));
    const V mh = _mm_set1_epi16(static_cast<short>(m >> 8));
    lo = _mm_or_si128(lo, _mm_and_si128(_mm_cmpeq_epi16(_mm_and_si128(ml, bits), bits), value));
    hi = _mm_or_si128(hi, _mm_and_si128(_mm_cmpeq_epi16(_mm_and_si128(mh, bits), bits), value));
  }
};
#endif

#if defined(MEDMESH_NTRU_AVX2_KERNELS) || defined(__SSE2__)
template <class P>
inline constexpr int kChainQGroups = (P::kN - 1) / ChainQOps::kW;  // whole groups
template <class P>
inline constexpr int kChainQTail = (P::kN - 1) % ChainQOps::kW;  // the rest below n - 1
template <class P>
inline constexpr std::size_t kChainQGroupBytes = static_cast<std::size_t>(kChainQGroups<P>) *
                                                 (ChainQOps::kW +
                                                  sizeof(ChainQOps::Mask) * (P::kLogQ - 8));
template <class P>
inline constexpr bool kChainQFits =
    kChainQGroupBytes<P> + 2 * kChainQTail<P> <= P::kPackSqBytes + P::kPrfKeyBytes;
static_assert(kChainQFits<Hps2048509> && kChainQFits<Hps2048677> && kChainQFits<Hps4096821> &&
              kChainQFits<Hrss701>);

template <class P>
inline void PackChainQ(std::uint8_t* out, const Poly<P>& a) {
  using C = ChainQOps;
  constexpr int kG = kChainQGroups<P>;
  constexpr int kM = sizeof(typename C::Mask);
  for (int g = 0; g < kG; ++g) {
    const typename C::V lo = C::Load(a.c + C::kW * g);
    const typename C::V hi = C::Load(a.c + C::kW * g + C::kW / 2);
    C::StoreU(out + C::kW * g, C::LowBytes(lo, hi));
#pragma GCC unroll 8
    for (int b = 0; b < P::kLogQ - 8; ++b) {
      const typename C::Mask m = C::Bit(lo, hi, b);
      std::memcpy(out + C::kW * kG + kM * (b * kG + g), &m, kM);
    }
  }
  for (int i = 0; i < kChainQTail<P>; ++i) {
    const auto v = static_cast<std::uint16_t>(a.c[C::kW * kG + i] & P::kQMask);
    std::memcpy(out + kChainQGroupBytes<P> + 2 * i, &v, 2);
  }
}

template <class P>
inline void UnpackChainQ(Poly<P>& a, const std::uint8_t* in) {
  using C = ChainQOps;
  constexpr int kG = kChainQGroups<P>;
  constexpr int kM = sizeof(typename C::Mask);
  for (int g = 0; g < kG; ++g) {
    const typename C::V bytes = C::LoadU(in + C::kW * g);
    typename C::V lo = C::Widen(bytes, false);
    typename C::V hi = C::Widen(bytes, true);
#pragma GCC unroll 8
    for (int b = 0; b < P::kLogQ - 8; ++b) {
      typename C::Mask m;
      std::memcpy(&m, in + C::kW * kG + kM * (b * kG + g), kM);
      C::AddBit(lo, hi, m, b);
    }
    C::Store(a.c + C::kW * g, lo);
    C::Store(a.c + C::kW * g + C::kW / 2, hi);
  }
  std::memcpy(a.c + C::kW * kG, in + kChainQGroupBytes<P>, 2 * kChainQTail<P>);
  for (int i = P::kN - 1; i < P::kPad; ++i) a.c[i] = 0;
}
#else
template <class P>
inline void PackChainQ(std::uint8_t* out, const Poly<P>& a) {
  PackSq(out, a);
}
template <class P>
inline void UnpackChainQ(Poly<P>& a, const std::uint8_t* in) {
  UnpackSq(a, in);
}
#endif

// Bitsliced polynomials (inverse_impl.h, included after this file; every use below depends on
// the parameter set, so the definitions are needed only where the templates are instantiated).
template <int N>
struct Bits;
template <int N>
struct Trits;

// The S3 chain's elements (ADR 0050). Portable build: bitsliced trits multiplied by S3MulTrits
// (77k instructions for n = 677 against ~115k for the mod-q product and its reduction to
// {0,1,2}); stored as their raw words. AVX2 build (ADR 0057): {0,1,2} bytes multiplied by the
// byte-lane F_3 product (PrepareS3 / S3MulPrepared, avx2/s3_mul.cc), the walk back preparing
// its running inverse once for its two products; stored as one byte per coefficient. Either
// way a prefix product fits in a public-key slot, where the chunk keeps it until that slot
// receives h.
//
// From(f, s):               f ({0,1,2}; the portable chain also takes signed ternary) as an
//                            element, converted into s
// Mul(c, fe, s):             c = c fe
// WalkBack(inv, u, t, fe, s): inv = u t, u = u fe
// s: the chain's scratch (S3ScratchOf below): an element (portable), a Scratch (AVX2); fe may
// be From's element in it.
#if defined(MEDMESH_NTRU_AVX2_KERNELS)
inline constexpr bool kBitslicedS3Chain = false;
#else
inline constexpr bool kBitslicedS3Chain = true;
#endif

template <class P, bool kBitsliced = kBitslicedS3Chain>
struct S3Chain;

template <class P>
struct S3Chain<P, true> {
  using Elem = Trits<P::kN>;
  static constexpr int kWords = Bits<P::kN>::kWords;
  static constexpr std::size_t kBytes = 2 * 8 * kWords;
  // A {0,1,2} or signed ternary polynomial as an element (converted into tmp), and back to
  // {0,1,2} (into tmp).
  static const Elem& From(const Poly<P>& a, Elem& tmp) {
    ToTrits(tmp, a);  // reads bits 0 and 1 only: 2 and 2^16 - 1 both give (nonzero, sign)
    return tmp;
  }
  static const Poly<P>& To(const Elem& e, Poly<P>& tmp) {
    FromTrits(tmp, e);
    return tmp;
  }
  static void Mul(Elem& c, const Elem& fe, Elem& /*s*/) { S3MulTrits(c, c, fe); }
  static void WalkBack(Elem& inv, Elem& u, const Elem& t, const Elem& fe, Elem& /*s*/) {
    S3MulTrits(inv, u, t);
    S3MulTrits(u, u, fe);
  }
  static void Store(std::uint8_t* out, const Elem& e) {
    for (int w = 0; w < kWords; ++w) {
      const std::uint64_t z = Word(e.z, w);
      const std::uint64_t s = Word(e.s, w);
      std::memcpy(out + 8 * w, &z, 8);
      std::memcpy(out + 8 * (kWords + w), &s, 8);
    }
  }
  static void Load(Elem& e, const std::uint8_t* in) {
    e = {};
    for (int w = 0; w < kWords; ++w) {
      std::uint64_t z;
      std::uint64_t s;
      std::memcpy(&z, in + 8 * w, 8);
      std::memcpy(&s, in + 8 * (kWords + w), 8);
      SetWord(e.z, w, z);
      SetWord(e.s, w, s);
    }
  }
};

#if defined(MEDMESH_NTRU_AVX2_KERNELS)
template <class P>
struct S3Chain<P, false> {
  struct Elem {  // {0,1,2}, one byte per coefficient, zero from n on
    alignas(32) std::uint8_t c[P::kPad];
  };
  struct Scratch {  // two prepared operands, and an element converted from a polynomial
    PreparedS3<P> x;
    PreparedS3<P> y;
    Elem e;
  };
  static const Elem& From(const Poly<P>& a, Scratch& s) {  // {0,1,2} only
    for (int i = 0; i < P::kPad; ++i) s.e.c[i] = static_cast<std::uint8_t>(a.c[i]);
    return s.e;
  }
  static const Poly<P>& To(const Elem& e, Poly<P>& tmp) {
    for (int i = 0; i < P::kPad; ++i) tmp.c[i] = e.c[i];
    return tmp;
  }
  // Every operand as bytes: one instance each of PrepareS3 and S3MulPrepared in the chain's
  // passes (their code is ~21 KB; KeypairChunk's passes keep it apart from the mod-q code).
  static void Mul(Elem& c, const Elem& fe, Scratch& s) {
    PrepareS3<P>(s.x, c.c);
    PrepareS3<P>(s.y, fe.c);
    S3MulPrepared<P>(c.c, s.x, s.y);
  }
  static void WalkBack(Elem& inv, Elem& u, const Elem& t, const Elem& fe, Scratch& s) {
    PrepareS3<P>(s.x, u.c);
    PrepareS3<P>(s.y, t.c);
    S3MulPrepared<P>(inv.c, s.x, s.y);
    PrepareS3<P>(s.y, fe.c);
    S3MulPrepared<P>(u.c, s.x, s.y);
  }
  // n bytes fit in the public-key slot: no base-3 packing.
  static constexpr std::size_t kBytes = P::kN;
  static void Store(std::uint8_t* out, const Elem& e) { std::memcpy(out, e.c, P::kN); }
  static void Load(Elem& e, const std::uint8_t* in) {
    std::memcpy(e.c, in, P::kN);
    std::memset(e.c + P::kN, 0, P::kPad - P::kN);
  }
};
#endif

// The A3 chain's scratch: S3Chain::Scratch where it defines one (AVX2), else an element.
template <class S3>
struct S3ScratchOf {
  using type = typename S3::Elem;
};
template <class S3>
  requires requires { typename S3::Scratch; }
struct S3ScratchOf<S3> {
  using type = typename S3::Scratch;
};

// Whether KeypairChunk runs A3 and Aq in passes of their own (AVX2 build) or in one loop over
// the keys (portable build). In the AVX2 build A3's byte-lane F_3 kernels (~21 KB of code for
// 509) and the mod-q product's (~17 KB) together with the loop's own code missed the 32 KB L1
// instruction cache ~1,600 times per key in one loop (callgrind's cache simulation, hps509),
// ~60 in separate passes, at the price of unpacking f once more per key and pass (a vector
// kernel there). The portable build's scalar UnpackS3 costs ~10k instructions per key more
// that way (1.5 %), and its kernels missed the cache ~60 times per key in one loop anyway.
#if defined(MEDMESH_NTRU_AVX2_KERNELS)
inline constexpr bool kSplitChainPasses = true;
#else
inline constexpr bool kSplitChainPasses = false;
#endif

// Keys [0, k) of one chunk, 1 <= k <= kMaxBatchChunk. Three chains of Montgomery's trick:
//  A3: f_i mod (3, Phi_n)  -> f^-1 mod 3 (the secret key's f_p);
//  Aq: f_i mod (q, Phi_n)  -> f^-1 mod q, and h = g_s f^-1 (computed mod x^n - 1);
//  B:  h_i mod (q, Phi_n)  -> h^-1 (the secret key's third part).
// 10 multiplications per key (3 + 3 + 1 + 3) against 11 and two inversions in KeypairDerand:
// A3's by S3Chain, the others by the mod-q product (every value here is needed mod q or mod 3
// only). Where two products share an operand it is prepared once (MulOperand, ADR 0053):
// walking back, the running inverse of each chain for its two products. In the AVX2 build A3
// runs on the byte-lane F_3 product (ADR 0057: 5 F_3 operand evaluations and 3 products per
// key), the others on the mod-q product (12 operand evaluations per key).
// h = g_s f^-1 equals KeypairDerand's (g f)^-1 g_s g_s: both are g_s times an inverse of f
// mod Phi_n, and g_s carries the factor x - 1. h^-1 is canonical mod (q, Phi_n) either way.
template <class P>
void KeypairChunk(std::size_t k, std::uint8_t* pks, std::uint8_t* sks, const std::uint8_t* fg_coins,
                  const std::uint8_t* prf_keys) {
  using S3 = S3Chain<P>;
  using E = typename S3::Elem;
  static_assert(S3::kBytes <= P::kPublicKeyBytes);
  constexpr std::size_t kS3 = P::kPackS3Bytes;
  constexpr std::size_t kSq = P::kPackSqBytes;
  // Key i's public-key slot: A3's prefix product until h is written there.
  const auto pk_of = [&](std::size_t i) { return pks + i * P::kPublicKeyBytes; };
  // Slots of key i's secret key: f (final from the start), f_p, then Aq/B scratch and h^-1.
  const auto f_slot = [&](std::size_t i) { return sks + i * P::kSecretKeyBytes; };
  const auto s3_slot = [&](std::size_t i) { return f_slot(i) + kS3; };      // f_p
  const auto sq_slot = [&](std::size_t i) { return f_slot(i) + 2 * kS3; };  // Aq/B prefix, h^-1
  alignas(32) std::uint8_t packed_g[kMaxBatchChunk][kS3];

  Poly<P> f;
  Poly<P> cq{};  // Aq prefix product (zero only to please the compiler: k >= 1)
  Poly<P> cb{};  // B prefix product
  Poly<P> u;     // an inverse being walked back
  Poly<P> t;     // a prefix product read back, or a result
  Poly<P> g;
  E c3{};                             // A3 prefix product, then f_p
  typename S3ScratchOf<S3>::type e3;  // scratch of the A3 chain
  E u3;                               // A3's inverse being walked back
  E t3;                               // A3's prefix product read back
  MulOperand<P> fo;                   // f (signed) or h, prepared
  MulOperand<P> xo;                   // operand scratch
  MulOperand<P> yo;

  // HPS: the g's by Fixed_Type, kI32Lanes keys per sort (ColumnSorter, a vertical network).
  if constexpr (!P::kHrss) {
    constexpr auto kLanes = static_cast<std::size_t>(kI32Lanes);
    for (std::size_t i0 = 0; i0 < k; i0 += kLanes) {
      const std::size_t count = k - i0 < kLanes ? k - i0 : kLanes;
      SampleFixedTypesPacked<P>(fg_coins + i0 * P::kSeedBytes + P::kSampleIidBytes, P::kSeedBytes,
                                count, packed_g[i0], kS3);
    }
    ScrubStack<kFixedTypesFrameBytes<P>>();  // the sort's register spills (ADR 0061)
  }

  // Per key, each chain's step forward (prefix products) and backward (inverses); f is key i's
  // f as sampled ({0,1,2}).
  // A3 forward: A3's prefix products to the public-key slots.
  const auto a3_forward = [&](std::size_t i, const Poly<P>& f3) {
    const E& fe = S3::From(f3, e3);
    if (i == 0) {
      c3 = fe;
    } else {
      S3::Mul(c3, fe, e3);
    }
    S3::Store(pk_of(i), c3);
  };
  // Aq forward: its prefix products to the mod-q slots (f is made signed).
  const auto aq_forward = [&](std::size_t i, Poly<P>& fs) {
    Z3ToSigned(fs);  // f[n-1] = 0: already reduced mod Phi_n
    if (i == 0) {
      cq = fs;
    } else {
      PrepareMul(fo, fs);
      PrepareMul(xo, cq);
      SqMulOperands(cq, xo, fo);
    }
    PackChainQ(sq_slot(i), cq);  // mod Phi_n (coefficient n-1 zero): packing drops nothing
  };
  // A3 backward (j = k-1 .. 0): f_p of key j (A3's prefix product in key j-1's public-key slot).
  const auto a3_backward = [&](std::size_t j, const Poly<P>& f3) {
    if (j > 0) {
      const E& fe = S3::From(f3, e3);
      S3::Load(t3, pk_of(j - 1));
      S3::WalkBack(c3, u3, t3, fe, e3);  // c3 = f_j^-1 mod 3
    } else {
      c3 = u3;
    }
    PackS3(s3_slot(j), S3::To(c3, t));
  };
  // Aq backward (j = k-1 .. 0): h of key j; the B prefix products h_{k-1} ... h_j go to slot j
  // (slot j's Aq prefix was last read at step j+1, and A3's prefix in key j's public-key slot,
  // which receives h_j, at A3's step j+1).
  Poly<P> uq;
  const auto aq_backward = [&](std::size_t j, Poly<P>& fs) {
    if (j > 0) {
      Z3ToSigned(fs);
      PrepareMul(fo, fs);
      UnpackChainQ(t, sq_slot(j - 1));
      PrepareMul(xo, uq);
      PrepareMul(yo, t);
      SqMulOperands(cq, xo, yo);  // cq = f_j^-1 mod q
      SqMulOperands(uq, xo, fo);
    } else {
      cq = uq;
    }
    UnpackS3(g, packed_g[j]);
    ScaleG(g);
    RqMulModQ(t, cq, g);  // h_j = g_s f^-1, mod x^n - 1
    PackSq(pk_of(j), t);  // sum-zero packing: h(1) = 0
    if (j == k - 1) {
      cb = t;
      SubtractTopPhiN(cb);  // B's first prefix product, reduced for packing
    } else {
      RqMulModQ(cb, cb, t);
      SubtractTopPhiNVec(cb);
    }
    PackChainQ(sq_slot(j), cb);
  };

  // Forward: sample; f is final at once (its secret-key slot).
  for (std::size_t i = 0; i < k; ++i) {
    if constexpr (P::kHrss) {
      SampleFg(f, g, fg_coins + i * P::kSeedBytes);
      PackS3(packed_g[i], g);
    } else {
      SampleIid(f, fg_coins + i * P::kSeedBytes);
    }
    PackS3(f_slot(i), f);
    a3_forward(i, f);
    if constexpr (!kSplitChainPasses) aq_forward(i, f);
  }
  if constexpr (kSplitChainPasses) {
    for (std::size_t i = 0; i < k; ++i) {
      UnpackS3(f, f_slot(i));
      aq_forward(i, f);
    }
  }

  // Backward.
  S3Inv(u, S3::To(c3, t));
  u3 = S3::From(u, e3);
  RqInv(uq, cq);
  for (std::size_t j = k; j-- > 0;) {
    if (j > 0) UnpackS3(f, f_slot(j));  // step 0 of either chain does not read f
    a3_backward(j, f);
    if constexpr (!kSplitChainPasses) aq_backward(j, f);
  }
  if constexpr (kSplitChainPasses) {
    for (std::size_t j = k; j-- > 0;) {
      if (j > 0) UnpackS3(f, f_slot(j));  // step 0 does not read f
      aq_backward(j, f);
    }
  }

  // Backward over B (j = 0 .. k-1, the reverse of its build order): h^-1 of key j.
  RqInv(u, cb);
  for (std::size_t j = 0; j < k; ++j) {
    UnpackRq0Vec(g, pk_of(j));  // h_j mod x^n - 1 (its coefficient n-1 from the sum-zero rule)
    if (j + 1 < k) {
      UnpackChainQ(t, sq_slot(j + 1));  // h_{k-1} ... h_{j+1}
      PrepareMul(xo, u);
      PrepareMul(yo, t);
      PrepareMul(fo, g);
      SqMulOperands(f, xo, yo);
      SqMulOperands(u, xo, fo);
    } else {
      f = u;
      SubtractTopPhiN(f);  // RqInv's result (k = 1) is not reduced mod Phi_n
    }
    PackSq(sq_slot(j), f);
    std::memcpy(sq_slot(j) + kSq, prf_keys + j * P::kPrfKeyBytes, P::kPrfKeyBytes);
  }

  Wipe(packed_g, sizeof packed_g);
  Wipe(&f, sizeof f);
  Wipe(&g, sizeof g);
  Wipe(&c3, sizeof c3);
  Wipe(&e3, sizeof e3);
  Wipe(&u3, sizeof u3);
  Wipe(&t3, sizeof t3);
  Wipe(&cq, sizeof cq);
  Wipe(&cb, sizeof cb);
  Wipe(&u, sizeof u);
  Wipe(&uq, sizeof uq);
  Wipe(&t, sizeof t);
  Wipe(&fo, sizeof fo);
  Wipe(&xo, sizeof xo);
  Wipe(&yo, sizeof yo);
}

// n key pairs: pks[i * pk bytes], sks[i * sk bytes] from fg_coins[i * seed bytes] and
// prf_keys[i * 32], identical to n KeypairDerand calls. The keys are split into near-equal
// chunks of at most kMaxBatchChunk.
template <class P>
void KeypairBatchDerand(std::size_t n, std::uint8_t* pks, std::uint8_t* sks,
                        const std::uint8_t* fg_coins, const std::uint8_t* prf_keys) {
  if (n == 0) return;
  const std::size_t chunks = (n + kMaxBatchChunk - 1) / kMaxBatchChunk;
  std::size_t done = 0;
  for (std::size_t c = 0; c < chunks; ++c) {
    const std::size_t k = (n - done) / (chunks - c);  // near-equal sizes, at most the maximum
    KeypairChunk<P>(k, pks + done * P::kPublicKeyBytes, sks + done * P::kSecretKeyBytes,
                    fg_coins + done * P::kSeedBytes, prf_keys + done * P::kPrfKeyBytes);
    done += k;
  }
}

}  // namespace medmesh::ntru::MEDMESH_NTRU_TARGET

// Keypair, encapsulation and decapsulation (the DPKE of the NTRU specification plus its
// Fujisaki-Okamoto style KEM with implicit rejection). Part of kem_impl.h.

namespace medmesh::ntru::MEDMESH_NTRU_TARGET {

template <class P>
void KeypairDerand(std::uint8_t* pk, std::uint8_t* sk, const std::uint8_t* fg_coins,
                   const std::uint8_t* prf_key) {
  Poly<P> f;
  Poly<P> g;
  Poly<P> finv3;
  Poly<P> gf;
  Poly<P> invgf;
  Poly<P> tmp;
  Poly<P> h;
  SampleFg(f, g, fg_coins);

  S3Inv(finv3, f);
  PackS3(sk, f);
  PackS3(sk + P::kPackS3Bytes, finv3);

  Z3ToZq(f);
  Z3ToZq(g);
  if constexpr (P::kHrss) {  // g = 3 (x - 1) g
    for (int i = P::kN - 1; i > 0; --i)
      g.c[i] = static_cast<std::uint16_t>(3 * (g.c[i - 1] - g.c[i]));
    g.c[0] = static_cast<std::uint16_t>(0 - 3 * g.c[0]);
  } else {  // g = 3 g
    for (int i = 0; i < P::kN; ++i) g.c[i] = static_cast<std::uint16_t>(3 * g.c[i]);
  }

  RqMulModQ(gf, g, f);
  RqInv(invgf, gf);

  RqMulModQ(tmp, invgf, f);  // h^-1 = (g f)^-1 f f  (mod Phi_n)
  SqMulModQ(h, tmp, f);
  PackSq(sk + 2 * P::kPackS3Bytes, h);

  RqMulModQ(tmp, invgf, g);  // h = (g f)^-1 g g
  RqMulModQ(h, tmp, g);
  PackSq(pk, h);  // sum-zero packing: h(1) = 0, so coefficient n-1 is implied

  std::memcpy(sk + 2 * P::kPackS3Bytes + P::kPackSqBytes, prf_key, P::kPrfKeyBytes);

  Wipe(&f, sizeof f);
  Wipe(&g, sizeof g);
  Wipe(&finv3, sizeof finv3);
  Wipe(&gf, sizeof gf);
  Wipe(&invgf, sizeof invgf);
  Wipe(&tmp, sizeof tmp);
}

// out = c + sign * Lift(m) (sign = +1 or -1) over all kPad coefficients: the padding of c and
// m is zero, so the loops run on whole vectors without a scalar tail, and out's padding is zero.
// For HPS Lift(m) is m itself in {0, 1, q-1}, added without a copy. out may alias c.
template <class P>
inline void AddLift(Poly<P>& out, const Poly<P>& c, const Poly<P>& m, int sign) {
  const auto s = static_cast<std::uint16_t>(sign);
  if constexpr (P::kHrss) {
    Poly<P> liftm;
    Lift(liftm, m);
    for (int i = 0; i < P::kPad; ++i)
      out.c[i] = static_cast<std::uint16_t>(c.c[i] + std::uint32_t{s} * liftm.c[i]);
    Wipe(&liftm, sizeof liftm);
  } else {
    for (int i = 0; i < P::kPad; ++i) {
      const std::uint16_t v = m.c[i];
      const auto lifted = static_cast<std::uint16_t>(v | ((0 - (v >> 1)) & P::kQMask));
      out.c[i] = static_cast<std::uint16_t>(c.c[i] + std::uint32_t{s} * lifted);
    }
  }
}

template <class P>
void EncDerand(std::uint8_t* ct, std::uint8_t* ss, const std::uint8_t* pk,
               const std::uint8_t* rm_coins) {
  Poly<P> r;
  Poly<P> m;
  Poly<P> h;
  Poly<P> c;
  alignas(32) std::uint8_t rm[P::kMessageBytes];
  SampleRm(r, m, rm_coins);
  PackS3(rm, r);
  PackS3(rm + P::kPackS3Bytes, m);
  Sha3_256(ss, rm, sizeof rm);

  Z3ToZq(r);
  UnpackRq0(h, pk);
  RqMulModQ(c, r, h);
  AddLift(c, c, m, 1);
  PackSq(ct, c);  // c is the ciphertext: public, not wiped

  Wipe(&r, sizeof r);
  Wipe(&m, sizeof m);
  Wipe(rm, sizeof rm);
}

template <class P>
void Dec(std::uint8_t* ss, const std::uint8_t* ct, const std::uint8_t* sk) {
  Poly<P> c;
  Poly<P> f;
  Poly<P> cf;
  Poly<P> mf;
  Poly<P> finv3;
  Poly<P> m;
  Poly<P> b;
  Poly<P> invh;
  Poly<P> r;
  alignas(32) std::uint8_t rm[P::kMessageBytes];
  std::uint32_t fail = 0;

  // A canonical ciphertext leaves the unused top bits of its last byte zero.
  if constexpr (P::kUnusedCtBits > 0) {
    fail |= ct[P::kCiphertextBytes - 1] >> (8 - P::kUnusedCtBits);
  }

  UnpackRq0(c, ct);
  UnpackS3(f, sk);
  Z3ToZq(f);
  RqMulModQ(cf, c, f);
  RqToS3(mf, cf);
  UnpackS3(finv3, sk + P::kPackS3Bytes);
  S3Mul(m, mf, finv3);
  PackS3(rm + P::kPackS3Bytes, m);

  if constexpr (!P::kHrss) {
    // m must have exactly q/16-1 coefficients +1 and as many -1 (counted over all n).
    std::uint32_t plus = 0;
    std::uint32_t minus = 0;
    for (int i = 0; i < P::kPad; ++i) {  // the padding is zero
      plus += m.c[i] & 1;
      minus += m.c[i] >> 1;
    }
    fail |= (plus ^ static_cast<std::uint32_t>(P::kHalfWeight)) |
            (minus ^ static_cast<std::uint32_t>(P::kHalfWeight));
  }

  // r = (c - Lift(m)) / h mod (q, Phi_n); valid only if r is ternary with r[n-1] = 0. By
  // Schanck 2018 Prop. 1 this check replaces re-encryption.
  AddLift(b, c, m, -1);
  UnpackSq(invh, sk + 2 * P::kPackS3Bytes);
  SqMulModQ(r, b, invh);
  for (int i = 0; i < P::kN - 1; ++i) {
    // r[i] in {q-1, 0, 1}  <=>  (r[i] + 1) mod q < 3
    const std::uint32_t d = (r.c[i] + 1u) & P::kQMask;
    fail |= ((d - 3u) >> 31) ^ 1u;
  }
  fail |= r.c[P::kN - 1] & P::kQMask;
  TrinaryZqToZ3(r);
  PackS3(rm, r);

  std::uint8_t k1[32];
  std::uint8_t k2[32];
  Sha3_256(k1, rm, sizeof rm);
  Sha3_256(k2, sk + 2 * P::kPackS3Bytes + P::kPackSqBytes, P::kPrfKeyBytes, ct,
           P::kCiphertextBytes);
  // ss = fail ? k2 : k1, without a branch.
  const auto mask = static_cast<std::uint8_t>(ValueBarrier(NonZeroMask(fail)));
  for (int i = 0; i < 32; ++i) ss[i] = static_cast<std::uint8_t>(k1[i] ^ (mask & (k1[i] ^ k2[i])));

  Wipe(&f, sizeof f);
  Wipe(&cf, sizeof cf);
  Wipe(&mf, sizeof mf);
  Wipe(&finv3, sizeof finv3);
  Wipe(&m, sizeof m);
  Wipe(&b, sizeof b);
  Wipe(&invh, sizeof invh);
  Wipe(&r, sizeof r);
  Wipe(rm, sizeof rm);
  Wipe(k1, sizeof k1);
  Wipe(k2, sizeof k2);
}

template <class P>
void KeypairBatchDerand(std::size_t n, std::uint8_t* pks, std::uint8_t* sks,
                        const std::uint8_t* fg_coins, const std::uint8_t* prf_keys);

template <class P>
constexpr KemFunctions FunctionsFor() {
  return {&KeypairDerand<P>, &EncDerand<P>, &Dec<P>, &KeypairBatchDerand<P>};
}

// Indexed by SetIndex.
inline constexpr KemFunctions kTable[kNumSets] = {
    FunctionsFor<Hps2048509>(),
    FunctionsFor<Hps2048677>(),
    FunctionsFor<Hps4096821>(),
    FunctionsFor<Hrss701>(),
};

}  // namespace medmesh::ntru::MEDMESH_NTRU_TARGET

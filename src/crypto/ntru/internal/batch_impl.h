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
// (packed) f_i, the S3 prefix product and the Rq prefix product, and its public-key slot holds
// g f mod (q, Phi_n); only the ternary g of each key needs a stack buffer (kMaxChunk of them).
// Packing keeps values mod q and mod 3 only, which is all that any output depends on.
//
// Constant time: the chunking and every loop bound depend on the public count only.

namespace medmesh::ntru::MEDMESH_NTRU_TARGET {

// Keys per chunk: enough that the two inversions cost little per key, few enough that the g
// buffers (at most 64 * 164 bytes) stay small on any thread's stack.
inline constexpr std::size_t kMaxBatchChunk = 64;

// The scaled g of key generation over Z_q: 3 g (HPS) or 3 (x - 1) g (HRSS), from ternary g.
template <class P>
inline void ScaleG(Poly<P>& g) {
  Z3ToZq(g);
  if constexpr (P::kHrss) {
    for (int i = P::kN - 1; i > 0; --i)
      g.c[i] = static_cast<std::uint16_t>(3 * (g.c[i - 1] - g.c[i]));
    g.c[0] = static_cast<std::uint16_t>(0 - 3 * g.c[0]);
  } else {
    for (int i = 0; i < P::kN; ++i) g.c[i] = static_cast<std::uint16_t>(3 * g.c[i]);
  }
}

// Keys [0, k) of one chunk, 1 <= k <= kMaxBatchChunk.
template <class P>
void KeypairChunk(std::size_t k, std::uint8_t* pks, std::uint8_t* sks, const std::uint8_t* fg_coins,
                  const std::uint8_t* prf_keys) {
  constexpr std::size_t kS3 = P::kPackS3Bytes;
  constexpr std::size_t kSq = P::kPackSqBytes;
  const auto pk_of = [&](std::size_t i) { return pks + i * P::kPublicKeyBytes; };
  const auto sk_of = [&](std::size_t i) { return sks + i * P::kSecretKeyBytes; };
  alignas(32) std::uint8_t packed_g[kMaxBatchChunk][kS3];

  Poly<P> f;
  Poly<P> g;
  Poly<P> gf;
  Poly<P> c3{};  // S3 prefix product (zero only to please the compiler: k >= 1)
  Poly<P> cq{};  // Rq prefix product
  Poly<P> tmp;   // a previous prefix product, or a partial product

  // Forward: sample, keep f (final), the prefix products and g f.
  for (std::size_t i = 0; i < k; ++i) {
    SampleFg(f, g, fg_coins + i * P::kSeedBytes);
    std::uint8_t* sk = sk_of(i);
    PackS3(sk, f);
    PackS3(packed_g[i], g);
    if (i == 0) {
      c3 = f;
    } else {
      S3Mul(c3, c3, f);  // the products may alias their inputs
    }
    PackS3(sk + kS3, c3);

    Z3ToZq(f);
    ScaleG(g);
    SqMul(gf, g, f);  // mod Phi_n, so that coefficient n-1 is zero and packing drops nothing
    PackSq(pk_of(i), gf);
    if (i == 0) {
      cq = gf;
    } else {
      SqMul(cq, cq, gf);
    }
    PackSq(sk + 2 * kS3, cq);
  }

  // The two inversions of the chunk.
  Poly<P> u3;
  Poly<P> uq;
  S3Inv(u3, c3);
  RqInv(uq, cq);

  // Backward: each key's inverses, then its h and h^-1 exactly as KeypairDerand.
  Poly<P> finv3;
  Poly<P> invgf;
  Poly<P> h;
  for (std::size_t j = k; j-- > 0;) {
    std::uint8_t* sk = sk_of(j);
    UnpackS3(f, sk);
    UnpackSq(gf, pk_of(j));
    if (j > 0) {
      UnpackS3(tmp, sk_of(j - 1) + kS3);  // c3_{j-1}
      S3Mul(finv3, u3, tmp);
      S3Mul(u3, u3, f);
      UnpackSq(tmp, sk_of(j - 1) + 2 * kS3);  // cq_{j-1}
      SqMul(invgf, uq, tmp);
      SqMul(uq, uq, gf);
    } else {
      finv3 = u3;
      invgf = uq;
    }
    PackS3(sk + kS3, finv3);

    UnpackS3(g, packed_g[j]);
    Z3ToZq(f);
    ScaleG(g);
    RqMul(tmp, invgf, f);  // h^-1 = (g f)^-1 f f  (mod Phi_n)
    SqMul(h, tmp, f);
    PackSq(sk + 2 * kS3, h);
    RqMul(tmp, invgf, g);  // h = (g f)^-1 g g
    RqMul(h, tmp, g);
    PackSq(pk_of(j), h);
    std::memcpy(sk + 2 * kS3 + kSq, prf_keys + j * P::kPrfKeyBytes, P::kPrfKeyBytes);
  }

  Wipe(packed_g, sizeof packed_g);
  Wipe(&f, sizeof f);
  Wipe(&g, sizeof g);
  Wipe(&gf, sizeof gf);
  Wipe(&c3, sizeof c3);
  Wipe(&cq, sizeof cq);
  Wipe(&tmp, sizeof tmp);
  Wipe(&u3, sizeof u3);
  Wipe(&uq, sizeof uq);
  Wipe(&finv3, sizeof finv3);
  Wipe(&invgf, sizeof invgf);
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

// RqInv, the mod-q inverse of key generation (internal/inverse_impl.h: the inverse mod 2 lifted
// by Frobenius-assisted 2-adic steps on the mod-2^13 product), against the definition
// a * r = 1 mod (q, Phi_n), for every set and both builds (and the portable templates compiled
// with the AVX2 flags). The KAT test covers it inside key
// generation too; this test also covers inputs that key generation reaches only by chance:
// 1, -1, x (whose first-step error 1 - a r is odd in every coefficient until it is reduced mod
// Phi_n), x^(n-1), 1 + x. (Checked to fail when the Frobenius term of the lift is dropped.)
// Also S3MulTrits, the bitsliced F_3 product of batch key generation (ADR 0050; two Karatsuba
// levels over a per-lane comb since ADR 0058), against a schoolbook mod (3, Phi_n), with the
// two-word vectors of the portable build and the four-word vectors of the AVX2 build.
#include "crypto/ntru/rq_inverse_test.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "crypto/ntru/internal/params.h"
#include "medmesh/ntru.h"

namespace medmesh::ntru::rq_inverse_test {
namespace {

using PolyVec = std::vector<std::uint16_t>;

template <class P>
using Inverse = void (*)(std::uint16_t*, const std::uint16_t*);

// True if a * r = 1 mod (q, Phi_n), by a schoolbook product mod (2^16, x^n - 1) reduced mod
// Phi_n (subtract coefficient n-1 from the others) and then mod q.
template <class P>
bool IsInverseModQ(const PolyVec& a, const PolyVec& r) {
  std::vector<std::uint16_t> c(P::kN, 0);
  for (int i = 0; i < P::kN; ++i) {
    for (int j = 0; j < P::kN; ++j) {
      const int k = (i + j) % P::kN;
      c[k] = static_cast<std::uint16_t>(c[k] + std::uint32_t{a[i]} * r[j]);
    }
  }
  const std::uint16_t top = c[P::kN - 1];
  for (int i = 0; i < P::kN - 1; ++i) {
    const std::uint32_t v = static_cast<std::uint16_t>(c[i] - top) & P::kQMask;
    if (v != (i == 0 ? 1u : 0u)) return false;
  }
  return true;
}

template <class P>
void CheckOne(Inverse<P> inverse, const PolyVec& a, const std::string& what) {
  SCOPED_TRACE(what);
  PolyVec r(P::kPad, 0x5555);
  inverse(r.data(), a.data());
  EXPECT_TRUE(IsInverseModQ<P>(a, r));
  for (int i = P::kN; i < P::kPad; ++i) ASSERT_EQ(r[i], 0) << "padding coefficient " << i;
}

template <class P>
void CheckSet(Inverse<P> inverse, std::uint32_t seed) {
  std::mt19937 rng(seed);
  // Random units: full 16-bit coefficients (only their value mod q matters, as for g f in key
  // generation), the top coefficient included. Zero mod (2, Phi_n) has probability 2^-(n-1).
  for (int round = 0; round < 8; ++round) {
    PolyVec a(P::kPad, 0);
    for (int i = 0; i < P::kN; ++i) a[i] = static_cast<std::uint16_t>(rng());
    CheckOne<P>(inverse, a, "random " + std::to_string(round));
  }
  // g f as key generation forms it: 3 g f (HPS) or 3 (x - 1) g f (HRSS) with ternary f, g
  // (coefficients {0, 1, q-1}); only its invertibility mod 2 matters here.
  for (int round = 0; round < 4; ++round) {
    PolyVec f(P::kN, 0);
    PolyVec g(P::kN, 0);
    for (int i = 0; i < P::kN - 1; ++i) {
      f[i] = static_cast<std::uint16_t>(static_cast<int>(rng() % 3) - 1);
      g[i] = static_cast<std::uint16_t>(static_cast<int>(rng() % 3) - 1);
    }
    if (P::kHrss) {  // g <- (x - 1) g
      PolyVec shifted(P::kN, 0);
      for (int i = 0; i < P::kN; ++i) {
        shifted[i] = static_cast<std::uint16_t>(g[(i + P::kN - 1) % P::kN] - g[i]);
      }
      g = shifted;
    }
    PolyVec a(P::kPad, 0);
    for (int i = 0; i < P::kN; ++i) {
      for (int j = 0; j < P::kN; ++j) {
        const int k = (i + j) % P::kN;
        a[k] = static_cast<std::uint16_t>(a[k] + 3u * g[i] * f[j]);
      }
    }
    CheckOne<P>(inverse, a, "3 g f " + std::to_string(round));
  }
  PolyVec one(P::kPad, 0);
  one[0] = 1;
  CheckOne<P>(inverse, one, "1");
  PolyVec x(P::kPad, 0);
  x[1] = 1;  // x^-1 = x^(n-1) = -(1 + x + ... + x^(n-2)) mod Phi_n
  CheckOne<P>(inverse, x, "x");
  PolyVec top(P::kPad, 0);
  top[P::kN - 1] = 1;
  CheckOne<P>(inverse, top, "x^(n-1)");
  PolyVec one_plus_x = one;
  one_plus_x[1] = 1;
  CheckOne<P>(inverse, one_plus_x, "1 + x");
  PolyVec minus_one(P::kPad, 0);
  minus_one[0] = 0xffff;
  CheckOne<P>(inverse, minus_one, "-1");
}

TEST(NtruRqInverseTest, PortableInverseIsCorrectModQForEverySet) {
  CheckSet<Hps2048509>(&PortableRqInv<Hps2048509>, 21);
  CheckSet<Hps2048677>(&PortableRqInv<Hps2048677>, 22);
  CheckSet<Hps4096821>(&PortableRqInv<Hps4096821>, 23);
  CheckSet<Hrss701>(&PortableRqInv<Hrss701>, 24);
}

#if defined(MEDMESH_NTRU_TEST_AVX2)
TEST(NtruRqInverseTest, Avx2InverseIsCorrectModQForEverySet) {
  if (medmesh_ntru_cpu_has_avx2() != 1) GTEST_SKIP() << "no AVX2 path on this CPU";
  CheckSet<Hps2048509>(&Avx2RqInv<Hps2048509>, 31);
  CheckSet<Hps2048677>(&Avx2RqInv<Hps2048677>, 32);
  CheckSet<Hps4096821>(&Avx2RqInv<Hps4096821>, 33);
  CheckSet<Hrss701>(&Avx2RqInv<Hrss701>, 34);
}

// The portable templates with the AVX2 flags (8-lane vectors,
// avx2/rq_inverse_test_portable_wide.cc).
TEST(NtruRqInverseTest, PortableWideInverseIsCorrectModQForEverySet) {
  if (medmesh_ntru_cpu_has_avx2() != 1) GTEST_SKIP() << "no AVX2 on this CPU";
  CheckSet<Hps2048509>(&PortableWideRqInv<Hps2048509>, 121);
  CheckSet<Hps2048677>(&PortableWideRqInv<Hps2048677>, 122);
  CheckSet<Hps4096821>(&PortableWideRqInv<Hps4096821>, 123);
  CheckSet<Hrss701>(&PortableWideRqInv<Hrss701>, 124);
}
#endif

// --- S3MulTrits, the bitsliced F_3 product of batch key generation's S3 chain (ADR 0050) ---

template <class P>
using S3Product = void (*)(std::uint16_t*, const std::uint16_t*, const std::uint16_t*);

// a * b mod (3, Phi_n) by schoolbook mod x^n - 1, then coefficient n-1 subtracted, in {0,1,2}.
template <class P>
PolyVec ReferenceS3Mul(const PolyVec& a, const PolyVec& b) {
  std::vector<std::uint32_t> c(P::kN, 0);
  for (int i = 0; i < P::kN; ++i) {
    for (int j = 0; j < P::kN; ++j) c[(i + j) % P::kN] += std::uint32_t{a[i]} * b[j];
  }
  PolyVec r(P::kPad, 0);
  const std::uint32_t top = c[P::kN - 1] % 3;
  for (int i = 0; i < P::kN - 1; ++i) r[i] = static_cast<std::uint16_t>((c[i] + 3 - top) % 3);
  return r;
}

template <class P>
void CheckS3Product(S3Product<P> mul, const PolyVec& a, const PolyVec& b, const std::string& what) {
  SCOPED_TRACE(what);
  PolyVec r(P::kPad, 0x5555);
  mul(r.data(), a.data(), b.data());
  EXPECT_EQ(r, ReferenceS3Mul<P>(a, b));
}

template <class P>
void CheckS3Set(S3Product<P> mul, std::uint32_t seed) {
  std::mt19937 rng(seed);
  const auto ternary = [&] {
    PolyVec a(P::kPad, 0);
    for (int i = 0; i < P::kN - 1; ++i) a[i] = static_cast<std::uint16_t>(rng() % 3);
    return a;
  };
  for (int round = 0; round < 6; ++round) {
    CheckS3Product<P>(mul, ternary(), ternary(), "random " + std::to_string(round));
  }
  // The extremes: the top coefficient times itself (the product's highest term, x^(2n-4)), all
  // coefficients -1 (the largest sums), 1, and single terms at word boundaries.
  PolyVec top(P::kPad, 0);
  top[P::kN - 2] = 2;
  CheckS3Product<P>(mul, top, top, "-x^(n-2) squared");
  PolyVec minus(P::kPad, 0);
  for (int i = 0; i < P::kN - 1; ++i) minus[i] = 2;
  CheckS3Product<P>(mul, minus, minus, "all -1");
  PolyVec plus(P::kPad, 0);
  for (int i = 0; i < P::kN - 1; ++i) plus[i] = 1;
  CheckS3Product<P>(mul, plus, plus, "all 1");
  CheckS3Product<P>(mul, plus, minus, "all 1 * all -1");
  PolyVec one(P::kPad, 0);
  one[0] = 1;
  const PolyVec r = ternary();
  CheckS3Product<P>(mul, one, r, "1 * r");
  CheckS3Product<P>(mul, r, one, "r * 1");
  // The signed form {0, 1, 2^16 - 1} of the batch's f gives the same product.
  PolyVec r_signed = r;
  for (auto& c : r_signed) c = c == 2 ? 0xffff : c;
  {
    SCOPED_TRACE("signed r * r");
    PolyVec out(P::kPad, 0x5555);
    mul(out.data(), r_signed.data(), r.data());
    EXPECT_EQ(out, ReferenceS3Mul<P>(r, r));
  }
  // Single terms at word boundaries, including those of the Karatsuba splits (ADR 0058): the
  // words are split at h = ceil(words/2), then each part at ceil(part/2).
  const int words = (P::kN + 63) / 64;
  const int h = (words + 1) / 2;
  std::vector<int> bounds = {64, 128, 64 * ((h + 1) / 2), 64 * h, 64 * (h + (words - h + 1) / 2)};
  std::vector<int> ks = {P::kN - 2};
  for (const int b : bounds) {
    for (const int k : {b - 1, b}) {
      if (k < P::kN - 1) ks.push_back(k);
    }
  }
  for (const int k : ks) {
    PolyVec xk(P::kPad, 0);
    xk[k] = 1;
    CheckS3Product<P>(mul, xk, r, "x^" + std::to_string(k) + " * r");
    CheckS3Product<P>(mul, r, xk, "r * x^" + std::to_string(k));
    for (const int m : ks) {
      PolyVec xm(P::kPad, 0);
      xm[m] = 2;
      CheckS3Product<P>(mul, xk, xm, "x^" + std::to_string(k) + " * -x^" + std::to_string(m));
    }
  }
}

TEST(NtruS3BitslicedProductTest, PortableProductIsCorrectForEverySet) {
  CheckS3Set<Hps2048509>(&PortableS3MulTrits<Hps2048509>, 41);
  CheckS3Set<Hps2048677>(&PortableS3MulTrits<Hps2048677>, 42);
  CheckS3Set<Hps4096821>(&PortableS3MulTrits<Hps4096821>, 43);
  CheckS3Set<Hrss701>(&PortableS3MulTrits<Hrss701>, 44);
}

#if defined(MEDMESH_NTRU_TEST_AVX2)
TEST(NtruS3BitslicedProductTest, Avx2ProductIsCorrectForEverySet) {
  if (medmesh_ntru_cpu_has_avx2() != 1) GTEST_SKIP() << "no AVX2 path on this CPU";
  CheckS3Set<Hps2048509>(&Avx2S3MulTrits<Hps2048509>, 51);
  CheckS3Set<Hps2048677>(&Avx2S3MulTrits<Hps2048677>, 52);
  CheckS3Set<Hps4096821>(&Avx2S3MulTrits<Hps4096821>, 53);
  CheckS3Set<Hrss701>(&Avx2S3MulTrits<Hrss701>, 54);
}

TEST(NtruS3BitslicedProductTest, PortableWideProductIsCorrectForEverySet) {
  if (medmesh_ntru_cpu_has_avx2() != 1) GTEST_SKIP() << "no AVX2 on this CPU";
  CheckS3Set<Hps2048509>(&PortableWideS3MulTrits<Hps2048509>, 141);
  CheckS3Set<Hps2048677>(&PortableWideS3MulTrits<Hps2048677>, 142);
  CheckS3Set<Hps4096821>(&PortableWideS3MulTrits<Hps4096821>, 143);
  CheckS3Set<Hrss701>(&PortableWideS3MulTrits<Hrss701>, 144);
}
#endif

}  // namespace
}  // namespace medmesh::ntru::rq_inverse_test

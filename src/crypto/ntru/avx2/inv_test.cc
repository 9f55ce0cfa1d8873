// The AVX2 inversion kernels (inv_kernels.h) against the definition: a * r = 1 mod (p, Phi_n)
// checked with a schoolbook product, for every parameter set, on random inputs, on inputs
// with the top coefficient set, on the inputs whose inverses are known in closed form, and in
// place (r aliasing a). Skipped on a CPU without the AVX2 path. (The KAT and agreement tests
// cover the kernels inside key generation as well.)
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <vector>

#include "crypto/ntru/avx2/inv_kernels.h"
#include "crypto/ntru/internal/params.h"
#include "medmesh/ntru.h"

namespace medmesh::ntru::avx2 {
namespace {

bool HaveAvx2() { return medmesh_ntru_cpu_has_avx2() == 1; }

using PolyVec = std::vector<std::uint16_t>;

// a * b mod (p, Phi_n), as the representative of degree < n - 1 with coefficients in [0, p).
PolyVec MulModPhi(const PolyVec& a, const PolyVec& b, int n, std::uint32_t p) {
  std::vector<std::uint32_t> c(n, 0);
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < n; ++j) c[(i + j) % n] += (a[i] % p) * (b[j] % p) % p;
  }
  PolyVec r(n, 0);
  const std::uint32_t top = c[n - 1] % p;
  for (int i = 0; i < n - 1; ++i) r[i] = static_cast<std::uint16_t>((c[i] % p + p - top) % p);
  return r;
}

bool IsOne(const PolyVec& x) {
  if (x[0] != 1) return false;
  for (std::size_t i = 1; i < x.size(); ++i) {
    if (x[i] != 0) return false;
  }
  return true;
}

// r is a canonical inverse of a mod (p, Phi_n): coefficients below p, zero from n - 1 on.
template <class P>
bool IsCanonicalInverse(const PolyVec& r, const PolyVec& a, std::uint32_t p) {
  for (int i = 0; i < P::kPad; ++i) {
    if (r[i] >= p) return false;
    if (i >= P::kN - 1 && r[i] != 0) return false;
  }
  return IsOne(MulModPhi(a, r, P::kN, p));
}

template <class P>
using Kernel = void (*)(std::uint16_t*, const std::uint16_t*);

template <class P>
void CheckInverse(Kernel<P> inverse, std::uint32_t p, const PolyVec& a, const char* what) {
  SCOPED_TRACE(what);
  PolyVec r(P::kPad, 0x5555);
  inverse(r.data(), a.data());
  EXPECT_TRUE(IsCanonicalInverse<P>(r, a, p));
  PolyVec in_place = a;
  inverse(in_place.data(), in_place.data());
  EXPECT_TRUE(in_place == r);
}

template <class P>
void CheckSet(std::uint32_t seed) {
  std::mt19937 rng(seed);
  const struct {
    Kernel<P> inverse;
    std::uint32_t p;
  } kernels[] = {{&R2Inverse<P>, 2}, {&S3Inverse<P>, 3}};
  for (const auto& k : kernels) {
    SCOPED_TRACE(k.p == 2 ? "mod 2" : "mod 3");
    for (int round = 0; round < 6; ++round) {
      PolyVec a(P::kPad, 0);
      // Rounds 0-3: all n coefficients random (the top one included); 4-5: degree < n - 1.
      // Mod 2 the coefficients are full 16-bit values (only bit 0 counts), as g f mod q is.
      const int len = round < 4 ? P::kN : P::kN - 1;
      for (int i = 0; i < len; ++i) {
        a[i] = static_cast<std::uint16_t>(k.p == 2 ? rng() : rng() % 3);
      }
      if (round == 0) a[P::kN - 1] = static_cast<std::uint16_t>(k.p == 2 ? 1 : 2);
      CheckInverse<P>(k.inverse, k.p, a, "random");
    }
    // 1 -> 1; x -> x^(n-1) = -(1 + x + ... + x^(n-2)); x^(n-1) -> x; 1 + x (invertible: Phi_n
    // is irreducible and not 1 + x).
    PolyVec one(P::kPad, 0);
    one[0] = 1;
    CheckInverse<P>(k.inverse, k.p, one, "one");
    PolyVec x(P::kPad, 0);
    x[1] = 1;
    PolyVec r(P::kPad, 0x5555);
    k.inverse(r.data(), x.data());
    for (int i = 0; i < P::kN - 1; ++i) EXPECT_EQ(r[i], k.p - 1) << "x^-1 coefficient " << i;
    CheckInverse<P>(k.inverse, k.p, x, "x");
    PolyVec top(P::kPad, 0);
    top[P::kN - 1] = 1;
    k.inverse(r.data(), top.data());
    EXPECT_TRUE(r == x) << "x^(n-1) inverts to x";
    PolyVec one_plus_x = one;
    one_plus_x[1] = 1;
    CheckInverse<P>(k.inverse, k.p, one_plus_x, "1 + x");
  }
}

TEST(NtruAvx2InverseTest, InversesAreCanonicalForEverySet) {
  if (!HaveAvx2()) GTEST_SKIP() << "no AVX2 path on this CPU";
  CheckSet<Hps2048509>(11);
  CheckSet<Hps2048677>(12);
  CheckSet<Hps4096821>(13);
  CheckSet<Hrss701>(14);
}

}  // namespace
}  // namespace medmesh::ntru::avx2

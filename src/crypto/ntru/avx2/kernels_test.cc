// The AVX2 kernels (kernels.h) against plain reference code: PolyMulRq and PolyMulQ against a
// schoolbook product mod (x^n - 1) for every parameter set, and SortInt32 against std::sort.
// Skipped on a CPU without AVX2. (The KAT test covers the kernels inside the KEM as well.)
#include "crypto/ntru/avx2/kernels.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <functional>
#include <random>
#include <vector>

#include "crypto/ntru/internal/params.h"
#include "medmesh/ntru.h"

namespace medmesh::ntru::avx2 {
namespace {

bool HaveAvx2() { return medmesh_ntru_cpu_has_avx2() == 1; }

// r = a * b mod (x^n - 1), mod 2^16.
std::vector<std::uint16_t> ReferenceMul(const std::vector<std::uint16_t>& a,
                                        const std::vector<std::uint16_t>& b, int n) {
  std::vector<std::uint16_t> r(a.size(), 0);
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < n; ++j) {
      const int k = (i + j) % n;
      r[k] = static_cast<std::uint16_t>(r[k] + std::uint32_t{a[i]} * b[j]);
    }
  }
  return r;
}

enum class Coeffs { kFull16, kTernary, kExtremes };

template <class P>
std::vector<std::uint16_t> RandomPoly(std::mt19937& rng, Coeffs kind) {
  std::vector<std::uint16_t> a(P::kPad, 0);
  for (int i = 0; i < P::kN; ++i) {
    switch (kind) {
      case Coeffs::kFull16: a[i] = static_cast<std::uint16_t>(rng()); break;
      case Coeffs::kTernary: a[i] = static_cast<std::uint16_t>(rng() % 3); break;
      case Coeffs::kExtremes: a[i] = (rng() & 1) != 0 ? 0xffff : 0x8000; break;
    }
  }
  return a;
}

// Whether r and want agree mod 2^kBits below n and r is zero from n on.
template <class P, int kBits>
bool AgreesMod(const std::vector<std::uint16_t>& r, const std::vector<std::uint16_t>& want) {
  constexpr std::uint16_t kMask = (1u << kBits) - 1;
  for (int i = 0; i < P::kN; ++i) {
    if (((r[i] ^ want[i]) & kMask) != 0) return false;
  }
  for (int i = P::kN; i < P::kPad; ++i) {
    if (r[i] != 0) return false;
  }
  return true;
}

using MulFn = void (*)(std::uint16_t*, const std::uint16_t*, const std::uint16_t*);

// Mul (PolyMulRq<P> or PolyMulQ<P>) against the schoolbook product, mod 2^kBits.
template <class P, int kBits>
void CheckMul(MulFn mul, std::uint32_t seed) {
  const auto agrees = AgreesMod<P, kBits>;
  std::mt19937 rng(seed);
  for (Coeffs kind : {Coeffs::kFull16, Coeffs::kTernary, Coeffs::kExtremes}) {
    for (int round = 0; round < 3; ++round) {
      const auto a = RandomPoly<P>(rng, kind);
      const auto b = RandomPoly<P>(rng, kind);
      const auto want = ReferenceMul(a, b, P::kN);
      std::vector<std::uint16_t> r(P::kPad, 0x5555);
      mul(r.data(), a.data(), b.data());
      EXPECT_TRUE(agrees(r, want)) << "kind " << static_cast<int>(kind);
      // In place: r aliasing a, then b.
      auto ra = a;
      mul(ra.data(), ra.data(), b.data());
      EXPECT_TRUE(agrees(ra, want));
      auto rb = b;
      mul(rb.data(), a.data(), rb.data());
      EXPECT_TRUE(agrees(rb, want));
    }
  }
  // A single coefficient times x^k moves it to k (mod n): catches any misplaced block.
  for (int k : {0, 1, 15, 16, 63, 64, 255, 256, P::kN - 2, P::kN - 1}) {
    std::vector<std::uint16_t> a(P::kPad, 0);
    std::vector<std::uint16_t> b(P::kPad, 0);
    for (int i = 0; i < P::kN; ++i) a[i] = static_cast<std::uint16_t>(i + 1);
    b[k] = 1;
    std::vector<std::uint16_t> r(P::kPad, 0);
    mul(r.data(), a.data(), b.data());
    EXPECT_TRUE(agrees(r, ReferenceMul(a, b, P::kN))) << "shift " << k;
  }
}

TEST(NtruAvx2KernelsTest, PolyMulRqMatchesSchoolbookForEverySet) {
  if (!HaveAvx2()) GTEST_SKIP() << "no AVX2 on this CPU";
  CheckMul<Hps2048509, 15>(&PolyMulRq<Hps2048509>, 1);
  CheckMul<Hps2048677, 15>(&PolyMulRq<Hps2048677>, 2);
  CheckMul<Hps4096821, 15>(&PolyMulRq<Hps4096821>, 3);
  CheckMul<Hrss701, 15>(&PolyMulRq<Hrss701>, 4);
}

// The Toom-4 product of encapsulation and decapsulation, correct mod 2^13 (kernels.h).
TEST(NtruAvx2KernelsTest, PolyMulQMatchesSchoolbookMod2e13ForEverySet) {
  if (!HaveAvx2()) GTEST_SKIP() << "no AVX2 on this CPU";
  CheckMul<Hps2048509, 13>(&PolyMulQ<Hps2048509>, 11);
  CheckMul<Hps2048677, 13>(&PolyMulQ<Hps2048677>, 12);
  CheckMul<Hps4096821, 13>(&PolyMulQ<Hps4096821>, 13);
  CheckMul<Hrss701, 13>(&PolyMulQ<Hrss701>, 14);
}

template <int kLen>
void CheckSort(std::uint32_t seed) {
  std::mt19937 rng(seed);
  for (int round = 0; round < 20; ++round) {
    std::vector<std::int32_t> x(kLen);
    for (auto& v : x) {
      switch (round % 4) {
        case 0: v = static_cast<std::int32_t>(rng()); break;          // full range, signed
        case 1: v = static_cast<std::int32_t>(rng() % 7) - 3; break;  // many duplicates
        case 2: v = (rng() & 1) != 0 ? INT32_MIN : INT32_MAX; break;  // extremes
        default: v = static_cast<std::int32_t>((rng() << 2) | (rng() & 3)); break;  // sampler-like
      }
    }
    if (round == 5) std::sort(x.begin(), x.end());                    // already sorted
    if (round == 6) std::sort(x.begin(), x.end(), std::greater<>());  // reversed
    auto want = x;
    std::sort(want.begin(), want.end());
    SortInt32<kLen>(x.data());
    EXPECT_TRUE(x == want) << "round " << round;
  }
}

TEST(NtruAvx2KernelsTest, SortInt32MatchesStdSort) {
  if (!HaveAvx2()) GTEST_SKIP() << "no AVX2 on this CPU";
  CheckSort<512>(7);
  CheckSort<1024>(8);
}

}  // namespace
}  // namespace medmesh::ntru::avx2

// The AVX2 kernels (kernels.h) against plain reference code: PolyMulQ (and its prepared-operand
// halves) against a schoolbook product mod (x^n - 1) for every parameter set, SortInt32
// against std::sort, the S3 kernels against scalar code.
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

// Mul (PolyMulQ<P>) against the schoolbook product, mod 2^kBits.
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
  // A single coefficient times x^k moves it to k (mod n): catches any misplaced block, and
  // (43, 44, 51, 52, 87, 88, 103, 104) any misplaced piece of PolyMulQ's 44- and 52-coefficient
  // pieces.
  for (int k :
       {0, 1, 15, 16, 43, 44, 51, 52, 63, 64, 87, 88, 103, 104, 255, 256, P::kN - 2, P::kN - 1}) {
    std::vector<std::uint16_t> a(P::kPad, 0);
    std::vector<std::uint16_t> b(P::kPad, 0);
    for (int i = 0; i < P::kN; ++i) a[i] = static_cast<std::uint16_t>(i + 1);
    b[k] = 1;
    std::vector<std::uint16_t> r(P::kPad, 0);
    mul(r.data(), a.data(), b.data());
    EXPECT_TRUE(agrees(r, ReferenceMul(a, b, P::kN))) << "shift " << k;
  }
}

TEST(NtruAvx2KernelsTest, PolyMulQMatchesSchoolbookMod2e13ForEverySet) {
  if (!HaveAvx2()) GTEST_SKIP() << "no AVX2 on this CPU";
  CheckMul<Hps2048509, 13>(&PolyMulQ<Hps2048509>, 11);
  CheckMul<Hps2048677, 13>(&PolyMulQ<Hps2048677>, 12);
  CheckMul<Hps4096821, 13>(&PolyMulQ<Hps4096821>, 13);
  CheckMul<Hrss701, 13>(&PolyMulQ<Hrss701>, 14);
}

// PrepareQ / PolyMulQPrepared (the halves of PolyMulQ for shared operands): one prepared a
// times several b, each against the schoolbook product mod 2^13; the results written over the
// polynomials the operands were prepared from (the batch's u = u f), and both orders.
template <class P>
void CheckPreparedMul(std::uint32_t seed) {
  const auto agrees = AgreesMod<P, 13>;
  std::mt19937 rng(seed);
  for (Coeffs kind : {Coeffs::kFull16, Coeffs::kTernary, Coeffs::kExtremes}) {
    auto a = RandomPoly<P>(rng, kind);
    PreparedQ<P> pa;
    PrepareQ<P>(pa, a.data());
    for (int round = 0; round < 3; ++round) {
      auto b = RandomPoly<P>(rng, round == 2 ? Coeffs::kTernary : kind);
      if (round == 2) {  // signed ternary: 2 -> 2^16 - 1, as batch key generation prepares f
        for (auto& v : b) v = v == 2 ? 0xffff : v;
      }
      const auto want = ReferenceMul(a, b, P::kN);
      PreparedQ<P> pb;
      PrepareQ<P>(pb, b.data());
      std::vector<std::uint16_t> r(P::kPad, 0x5555);
      PolyMulQPrepared<P>(r.data(), pa, pb);
      EXPECT_TRUE(agrees(r, want)) << "kind " << static_cast<int>(kind) << " round " << round;
      PolyMulQPrepared<P>(r.data(), pb, pa);
      EXPECT_TRUE(agrees(r, want)) << "swapped, round " << round;
      PolyMulQPrepared<P>(b.data(), pa, pb);  // into b itself: pb stays valid
      EXPECT_TRUE(agrees(b, want)) << "over b, round " << round;
      PolyMulQPrepared<P>(r.data(), pa, pb);
      EXPECT_TRUE(agrees(r, want)) << "pb reused, round " << round;
    }
  }
}

TEST(NtruAvx2KernelsTest, PreparedOperandsMatchSchoolbookForEverySet) {
  if (!HaveAvx2()) GTEST_SKIP() << "no AVX2 on this CPU";
  CheckPreparedMul<Hps2048509>(41);
  CheckPreparedMul<Hps2048677>(42);
  CheckPreparedMul<Hps4096821>(43);
  CheckPreparedMul<Hrss701>(44);
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
  // Lengths sorted in pieces (ADR 0068): the samplers' 680 and 824, and pieces of every size.
  CheckSort<680>(9);
  CheckSort<824>(10);
  CheckSort<72>(11);
  CheckSort<200>(12);
  CheckSort<1016>(13);
}

// --- S3 kernels (avx2/s3.cc) against plain scalar code of the same contracts ---

std::uint16_t Mod3(std::uint32_t x) { return static_cast<std::uint16_t>(x % 3); }

template <class P>
std::vector<std::uint16_t> ScalarUnpackS3(const std::vector<std::uint8_t>& in) {
  std::vector<std::uint16_t> a(P::kPad, 0);
  for (int idx = 0; idx < P::kN - 1; ++idx) {
    std::uint32_t c = in[idx / 5];
    for (int j = 0; j < idx % 5; ++j) c /= 3;
    a[idx] = Mod3(c);
  }
  return a;
}

template <class P>
std::vector<std::uint8_t> ScalarPackS3(const std::vector<std::uint16_t>& a) {
  std::vector<std::uint8_t> out(P::kPackS3Bytes, 0);
  for (int idx = P::kN - 2; idx >= 0; --idx) {
    std::uint32_t w = 1;
    for (int j = 0; j < idx % 5; ++j) w *= 3;
    out[idx / 5] = static_cast<std::uint8_t>(out[idx / 5] + w * a[idx]);
  }
  return out;
}

// r[i] = (pre(a[i]) - pre(a[n-1])) mod 3 for i < n (minus coefficient n-1 times Phi_n).
template <class P, class Pre>
std::vector<std::uint16_t> ScalarReduce(const std::vector<std::uint16_t>& a, Pre pre) {
  std::vector<std::uint16_t> r(P::kPad, 0);
  const std::uint32_t top = Mod3(pre(a[P::kN - 1]));
  for (int i = 0; i < P::kN; ++i) r[i] = Mod3(pre(a[i]) + 3 - top);
  return r;
}

template <class P>
void CheckS3Kernels(std::uint32_t seed) {
  std::mt19937 rng(seed);
  for (int round = 0; round < 20; ++round) {
    // Every byte value (243..255 are not canonical but must still unpack as the scalar code
    // does), then random bytes.
    std::vector<std::uint8_t> in(P::kPackS3Bytes);
    for (std::size_t i = 0; i < in.size(); ++i) {
      in[i] = static_cast<std::uint8_t>(round == 0 ? (i * 7 + 3) : (round == 1 ? 255 - i : rng()));
    }
    std::vector<std::uint16_t> a(P::kPad, 0x7777);
    UnpackS3Trits<P>(a.data(), in.data());
    EXPECT_TRUE(a == ScalarUnpackS3<P>(in)) << "unpack round " << round;

    std::vector<std::uint16_t> t(P::kPad, 0);
    for (int i = 0; i < P::kN; ++i) t[i] = static_cast<std::uint16_t>(rng() % 3);  // incl. n-1
    std::vector<std::uint8_t> out(P::kPackS3Bytes + 8, 0xa5);
    PackS3Trits<P>(out.data(), t.data());
    const auto want = ScalarPackS3<P>(t);
    EXPECT_TRUE(std::equal(want.begin(), want.end(), out.begin())) << "pack round " << round;
    EXPECT_TRUE(std::all_of(out.begin() + P::kPackS3Bytes, out.end(),
                            [](std::uint8_t b) { return b == 0xa5; }));

    std::vector<std::uint16_t> x(P::kPad, 0);
    for (int i = 0; i < P::kN; ++i) x[i] = static_cast<std::uint16_t>(rng());
    const auto centred = [](std::uint16_t v) {
      const std::uint32_t m = v & P::kQMask;
      return m >= P::kQ / 2 ? m + 2 * P::kQ : m;  // m - q, plus 3q
    };
    std::vector<std::uint16_t> r(P::kPad, 0x1234);
    RqToS3Reduce<P>(r.data(), x.data());
    EXPECT_TRUE(r == (ScalarReduce<P>(x, centred))) << "RqToS3 round " << round;
    auto y = x;
    S3ReduceProduct<P>(y.data());
    const auto low13 = [](std::uint16_t v) { return std::uint32_t{v} & 0x1fffu; };
    EXPECT_TRUE(y == (ScalarReduce<P>(x, low13))) << "S3 product round " << round;
  }
}

TEST(NtruAvx2KernelsTest, S3KernelsMatchScalarCodeForEverySet) {
  if (!HaveAvx2()) GTEST_SKIP() << "no AVX2 on this CPU";
  CheckS3Kernels<Hps2048509>(21);
  CheckS3Kernels<Hps2048677>(22);
  CheckS3Kernels<Hps4096821>(23);
  CheckS3Kernels<Hrss701>(24);
}

// --- The byte-lane F_3 product (avx2/s3_mul.cc, ADR 0057) against a schoolbook mod (3, Phi_n)

// The trit value of an operand coefficient: {0, 1, 2} or 2^16 - 1 (signed -1).
int TritValue(std::uint16_t v) { return v == 0xffff ? -1 : v; }

// a * b mod (3, Phi_n) in plain integers, {0, 1, 2}, zero from n on (sparse a is fast).
template <class P>
std::vector<std::uint16_t> ReferenceS3Mul(const std::vector<std::uint16_t>& a,
                                          const std::vector<std::uint16_t>& b) {
  std::vector<long> prod(P::kN, 0);
  for (int i = 0; i < P::kN; ++i) {
    if (a[i] == 0) continue;
    for (int j = 0; j < P::kN; ++j) prod[(i + j) % P::kN] += TritValue(a[i]) * TritValue(b[j]);
  }
  std::vector<std::uint16_t> r(P::kPad, 0);
  for (int i = 0; i < P::kN; ++i)
    r[i] = static_cast<std::uint16_t>(((prod[i] - prod[P::kN - 1]) % 3 + 3) % 3);
  return r;
}

template <class P>
std::vector<std::uint16_t> S3MulThroughKernel(const std::vector<std::uint16_t>& a,
                                              const std::vector<std::uint16_t>& b) {
  PreparedS3<P> pa;
  PreparedS3<P> pb;
  PrepareS3<P>(pa, a.data());
  PrepareS3<P>(pb, b.data());
  std::vector<std::uint16_t> r(P::kPad, 0x5a5a);
  S3MulPrepared<P>(r.data(), pa, pb);
  // Both halves at once (decapsulation's S3Mul for 821), for {0,1,2} operands; in place too.
  if (std::all_of(a.begin(), a.end(), [](std::uint16_t v) { return v <= 2; }) &&
      std::all_of(b.begin(), b.end(), [](std::uint16_t v) { return v <= 2; })) {
    std::vector<std::uint16_t> whole(P::kPad, 0x5a5a);
    S3MulByteLanes<P>(whole.data(), a.data(), b.data());
    EXPECT_EQ(whole, r) << "S3MulByteLanes, n " << P::kN;
    std::vector<std::uint16_t> in_place = a;
    S3MulByteLanes<P>(in_place.data(), in_place.data(), b.data());
    EXPECT_EQ(in_place, r) << "S3MulByteLanes in place, n " << P::kN;
  }
  // The byte forms ({0,1,2} bytes in and out, as the batch's mod-3 chain uses them) agree.
  std::vector<std::uint8_t> a8(P::kPad);
  std::vector<std::uint8_t> b8(P::kPad);
  for (int i = 0; i < P::kPad; ++i) {
    a8[i] = static_cast<std::uint8_t>((TritValue(a[i]) + 3) % 3);
    b8[i] = static_cast<std::uint8_t>((TritValue(b[i]) + 3) % 3);
  }
  PrepareS3<P>(pa, a8.data());
  PrepareS3<P>(pb, b8.data());
  std::vector<std::uint8_t> r8(P::kPad, 0xa5);
  S3MulPrepared<P>(r8.data(), pa, pb);
  EXPECT_TRUE(std::equal(r.begin(), r.end(), r8.begin())) << "byte forms, n " << P::kN;
  return r;
}

template <class P>
void CheckS3ByteProduct(std::uint32_t seed) {
  std::mt19937 rng(seed);
  const auto poly = [&](int kind) {  // 0 random {0,1,2}, 1 random signed, 2 all -1 (as 2),
    std::vector<std::uint16_t> a(P::kPad, 0);  // 3 all -1 (signed), 4 all 1, 5 all 2 but n-1
    for (int i = 0; i < P::kN; ++i) {
      switch (kind) {
        case 0: a[i] = static_cast<std::uint16_t>(rng() % 3); break;
        case 1: a[i] = static_cast<std::uint16_t>(static_cast<int>(rng() % 3) - 1); break;
        case 2: a[i] = 2; break;
        case 3: a[i] = 0xffff; break;
        case 4: a[i] = 1; break;
        default: a[i] = i < P::kN - 1 ? 2 : 0; break;
      }
    }
    return a;
  };
  for (int ka = 0; ka < 6; ++ka) {
    for (int kb = 0; kb < 6; ++kb) {
      const auto a = poly(ka);
      const auto b = poly(kb);
      EXPECT_TRUE(S3MulThroughKernel<P>(a, b) == ReferenceS3Mul<P>(a, b))
          << "n " << P::kN << " kinds " << ka << " " << kb;
    }
  }
  // Single terms at the boundaries of the pieces (m), of the vertical halves, quarters and
  // eighths (m/2, m/4, m/8: the schoolbooks are m/8 or, for n = 509, m/4 rows) and of the
  // halves of each horizontal level, times each other, times random operands and times all -1.
  constexpr int kM = PreparedS3<P>::kPiece;
  std::vector<int> at;
  for (int step : {kM / 8, kM / 4, kM / 2, kM, 2 * kM, 4 * kM}) {
    for (int k = step; k < P::kN; k += step) {
      for (int i : {k - 1, k}) at.push_back(i);
    }
  }
  for (int i : {0, 1, 31, 32, P::kN - 2, P::kN - 1}) at.push_back(i);
  std::sort(at.begin(), at.end());
  at.erase(std::unique(at.begin(), at.end()), at.end());
  const auto term = [](int i, std::uint16_t v) {
    std::vector<std::uint16_t> a(P::kPad, 0);
    a[i] = v;
    return a;
  };
  for (std::size_t x = 0; x < at.size(); ++x) {
    const auto a = term(at[x], x % 2 == 0 ? 2 : 0xffff);
    for (int kb : {0, 1, 3}) {
      const auto b = poly(kb);
      EXPECT_TRUE(S3MulThroughKernel<P>(a, b) == ReferenceS3Mul<P>(a, b))
          << "n " << P::kN << " term " << at[x] << " kind " << kb;
      EXPECT_TRUE(S3MulThroughKernel<P>(b, a) == ReferenceS3Mul<P>(a, b))
          << "n " << P::kN << " kind " << kb << " term " << at[x];
    }
    for (std::size_t y = 0; y < at.size(); y += 3) {
      const auto b = term(at[y], 1);
      EXPECT_TRUE(S3MulThroughKernel<P>(a, b) == ReferenceS3Mul<P>(a, b))
          << "n " << P::kN << " terms " << at[x] << " " << at[y];
    }
  }
}

TEST(NtruAvx2KernelsTest, S3ByteProductMatchesSchoolbookForEverySet) {
  if (!HaveAvx2()) GTEST_SKIP() << "no AVX2 on this CPU";
  CheckS3ByteProduct<Hps2048509>(61);
  CheckS3ByteProduct<Hps2048677>(62);
  CheckS3ByteProduct<Hps4096821>(63);
  CheckS3ByteProduct<Hrss701>(64);
}

// Lift of HRSS as kem_impl.h's scalar code computes it: b = m / (x - 1) mod (3, Phi_n) by the
// recurrence, then (x - 1) b in Z_q.
std::vector<std::uint16_t> ScalarLiftHrss(const std::vector<std::uint16_t>& m) {
  using P = Hrss701;
  std::uint32_t sum = 0;
  for (int i = 0; i < P::kN; ++i) sum += m[i];
  const std::uint32_t s = (3 - (sum % 3) * 2 % 3) % 3;  // -sum / n mod 3 (1/701 = 2 mod 3)
  std::vector<std::uint32_t> b(P::kN, 0);
  for (int i = 1; i < P::kN; ++i) b[i] = (b[i - 1] + 2 * m[i] + 2 * s) % 3;
  const std::uint32_t top = b[P::kN - 1];
  std::vector<std::uint16_t> bq(P::kN);
  for (int i = 0; i < P::kN; ++i) {
    const std::uint32_t v = (b[i] + 2 * top) % 3;
    bq[i] = static_cast<std::uint16_t>(v == 2 ? P::kQ - 1 : v);
  }
  std::vector<std::uint16_t> r(P::kPad, 0);
  r[0] = static_cast<std::uint16_t>(bq[P::kN - 1] - bq[0]);
  for (int i = 1; i < P::kN; ++i) r[i] = static_cast<std::uint16_t>(bq[i - 1] - bq[i]);
  return r;
}

TEST(NtruAvx2KernelsTest, LiftHrssMatchesScalarCode) {
  if (!HaveAvx2()) GTEST_SKIP() << "no AVX2 on this CPU";
  std::mt19937 rng(31);
  for (int round = 0; round < 30; ++round) {
    std::vector<std::uint16_t> m(Hrss701::kPad, 0);
    for (int i = 0; i < Hrss701::kN - 1; ++i) {
      m[i] = static_cast<std::uint16_t>(round == 0 ? 2 : (round == 1 ? 0 : rng() % 3));
    }
    std::vector<std::uint16_t> r(Hrss701::kPad, 0x4321);
    LiftHrss<Hrss701>(r.data(), m.data());
    EXPECT_TRUE(r == ScalarLiftHrss(m)) << "round " << round;
  }
}

}  // namespace
}  // namespace medmesh::ntru::avx2

// Batch key generation's Fixed_Type (issue 12, ADR 0061): ColumnSorter, the vertical sorting
// network that sorts one column per key (kem_impl.h), against std::sort, and
// SampleFixedTypesPacked (the batch's g's, several keys per sort, packed on the columns)
// against the single-key path's SampleFixedType + PackS3, for every HPS set and both builds,
// and for the portable templates compiled with AVX2 flags (8 lanes, as -march=native builds
// them); the whole batch against single keys for all three.
// The lengths are those of the sets (n - 1 = 508, 676, 820: 4, 348 and 204 rows of padding
// dropped from the network) and 9 (one real row in a block of 8 and in the merge above it).
#include <gtest/gtest.h>

#include <algorithm>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

#include "crypto/ntru/internal/params.h"
#include "crypto/ntru/rq_inverse_test.h"
#include "medmesh/ntru.h"

namespace medmesh::ntru::rq_inverse_test {
namespace {

using Sort = void (*)(std::int32_t*);

// Columns of one sort: random int32, values from a range of 3 (many equal keys), a range of
// 64 around zero, INT32_MIN / INT32_MAX / 0 mixed, ascending, descending and all equal.
template <int kLen>
void CheckColumnSort(Sort sort, int lanes, std::uint32_t seed) {
  std::mt19937 rng(seed);
  for (int round = 0; round < 12; ++round) {
    std::vector<std::int32_t> x(static_cast<std::size_t>(lanes) * kLen);
    for (int l = 0; l < lanes; ++l) {
      std::int32_t* col = x.data() + static_cast<std::ptrdiff_t>(l) * kLen;
      const int kind = (round * lanes + l) % 7;
      for (int i = 0; i < kLen; ++i) {
        const auto r = static_cast<std::int32_t>(rng());
        switch (kind) {
          case 0: col[i] = r; break;
          case 1: col[i] = static_cast<std::int32_t>(rng() % 3); break;
          case 2: col[i] = static_cast<std::int32_t>(rng() % 64) - 32; break;
          case 3: col[i] = rng() % 3 == 0 ? INT32_MIN : rng() % 2 == 0 ? INT32_MAX : 0; break;
          case 4: col[i] = i - kLen / 2; break;
          case 5: col[i] = kLen - i; break;
          default: col[i] = 7; break;
        }
      }
    }
    std::vector<std::int32_t> want = x;
    for (int l = 0; l < lanes; ++l) {
      std::sort(want.begin() + static_cast<std::ptrdiff_t>(l) * kLen,
                want.begin() + static_cast<std::ptrdiff_t>(l + 1) * kLen);
    }
    sort(x.data());
    ASSERT_EQ(x, want) << "length " << kLen << ", round " << round;
  }
}

void CheckColumnSorts(int lanes, Sort s508, Sort s676, Sort s820, Sort s9) {
  CheckColumnSort<508>(s508, lanes, 1);
  CheckColumnSort<676>(s676, lanes, 2);
  CheckColumnSort<820>(s820, lanes, 3);
  CheckColumnSort<9>(s9, lanes, 4);
}

template <class P>
using FixedTypes = void (*)(const std::uint8_t*, std::size_t, std::size_t, std::uint8_t*,
                            std::size_t);
template <class P>
using FixedType = void (*)(std::uint8_t*, const std::uint8_t*);

// Every count from 1 to the lane count, random bytes and, for one key, all-ones bytes (every
// random key equal: only the type bits order them); the bytes between the packed g's (the
// output stride is larger) must stay untouched.
template <class P>
void CheckFixedTypes(FixedTypes<P> batch, FixedType<P> single, int lanes, std::uint32_t seed) {
  std::mt19937 rng(seed);
  constexpr std::size_t kIn = P::kSampleFixedTypeBytes;
  constexpr std::size_t kOut = P::kPackS3Bytes;
  const std::size_t stride = kIn + 5;
  const std::size_t out_stride = kOut + 3;
  for (int count = 1; count <= lanes; ++count) {
    const auto n = static_cast<std::size_t>(count);
    std::vector<std::uint8_t> u(n * stride);
    for (auto& b : u) b = static_cast<std::uint8_t>(rng());
    if (count == lanes) std::fill(u.begin(), u.begin() + kIn, std::uint8_t{0xff});
    std::vector<std::uint8_t> out(n * out_stride, 0xa5);
    batch(u.data(), stride, n, out.data(), out_stride);
    for (std::size_t l = 0; l < n; ++l) {
      std::vector<std::uint8_t> want(kOut);
      single(want.data(), u.data() + l * stride);
      const std::vector<std::uint8_t> got(
          out.begin() + static_cast<std::ptrdiff_t>(l * out_stride),
          out.begin() + static_cast<std::ptrdiff_t>(l * out_stride + kOut));
      ASSERT_EQ(got, want) << "n = " << P::kN << ", count " << count << ", key " << l;
      for (std::size_t i = kOut; i < out_stride; ++i)
        ASSERT_EQ(out[l * out_stride + i], 0xa5) << "byte past key " << l;
    }
  }
}

TEST(NtruColumnSortTest, PortableSortMatchesStdSort) {
  CheckColumnSorts(PortableColumnLanes(), &PortableColumnSort<508>, &PortableColumnSort<676>,
                   &PortableColumnSort<820>, &PortableColumnSort<9>);
}

TEST(NtruColumnSortTest, PortableBatchFixedTypeMatchesSingleKey) {
  const int lanes = PortableColumnLanes();
  CheckFixedTypes<Hps2048509>(&PortableFixedTypes<Hps2048509>, &PortableFixedType<Hps2048509>,
                              lanes, 11);
  CheckFixedTypes<Hps2048677>(&PortableFixedTypes<Hps2048677>, &PortableFixedType<Hps2048677>,
                              lanes, 12);
  CheckFixedTypes<Hps4096821>(&PortableFixedTypes<Hps4096821>, &PortableFixedType<Hps4096821>,
                              lanes, 13);
}

template <class P>
using Keypair = void (*)(std::uint8_t*, std::uint8_t*, const std::uint8_t*, const std::uint8_t*);
template <class P>
using KeypairBatch = void (*)(std::size_t, std::uint8_t*, std::uint8_t*, const std::uint8_t*,
                              const std::uint8_t*);

// KeypairBatchDerand of n keys against n KeypairDerand calls with the same coins, byte for
// byte (the KAT test checks the builds' batches through the C API on the official records;
// this reaches builds the C API does not dispatch to). The counts: a single key, part of a
// column of sorts, whole columns and one more, a full chunk (64), and two chunks (65 = 32 + 33,
// 128 = 64 + 64).
template <class P>
void CheckBatchKeypairs(KeypairBatch<P> batch, Keypair<P> single, std::uint32_t seed) {
  std::mt19937 rng(seed);
  for (const std::size_t n :
       {std::size_t{1}, std::size_t{3}, std::size_t{8}, std::size_t{9}, std::size_t{17},
        std::size_t{64}, std::size_t{65}, std::size_t{128}}) {
    std::vector<std::uint8_t> coins(n * P::kSeedBytes);
    std::vector<std::uint8_t> prf(n * P::kPrfKeyBytes);
    for (auto& b : coins) b = static_cast<std::uint8_t>(rng());
    for (auto& b : prf) b = static_cast<std::uint8_t>(rng());
    std::vector<std::uint8_t> pks(n * P::kPublicKeyBytes);
    std::vector<std::uint8_t> sks(n * P::kSecretKeyBytes);
    batch(n, pks.data(), sks.data(), coins.data(), prf.data());
    for (std::size_t i = 0; i < n; ++i) {
      std::vector<std::uint8_t> pk(P::kPublicKeyBytes);
      std::vector<std::uint8_t> sk(P::kSecretKeyBytes);
      single(pk.data(), sk.data(), coins.data() + i * P::kSeedBytes,
             prf.data() + i * P::kPrfKeyBytes);
      ASSERT_TRUE(std::equal(pk.begin(), pk.end(),
                             pks.begin() + static_cast<std::ptrdiff_t>(i * P::kPublicKeyBytes)))
          << "n = " << P::kN << ", batch of " << n << ": public key " << i;
      ASSERT_TRUE(std::equal(sk.begin(), sk.end(),
                             sks.begin() + static_cast<std::ptrdiff_t>(i * P::kSecretKeyBytes)))
          << "n = " << P::kN << ", batch of " << n << ": secret key " << i;
    }
  }
}

TEST(NtruBatchKeypairTest, PortableBatchMatchesSingleKeys) {
  CheckBatchKeypairs<Hps2048509>(&PortableKeypairBatch<Hps2048509>, &PortableKeypair<Hps2048509>,
                                 61);
  CheckBatchKeypairs<Hps2048677>(&PortableKeypairBatch<Hps2048677>, &PortableKeypair<Hps2048677>,
                                 62);
  CheckBatchKeypairs<Hps4096821>(&PortableKeypairBatch<Hps4096821>, &PortableKeypair<Hps4096821>,
                                 63);
  CheckBatchKeypairs<Hrss701>(&PortableKeypairBatch<Hrss701>, &PortableKeypair<Hrss701>, 64);
}

#if defined(MEDMESH_NTRU_TEST_AVX2)
TEST(NtruBatchKeypairTest, Avx2BatchMatchesSingleKeys) {
  if (medmesh_ntru_cpu_has_avx2() != 1) GTEST_SKIP() << "no AVX2 path on this CPU";
  CheckBatchKeypairs<Hps2048509>(&Avx2KeypairBatch<Hps2048509>, &Avx2Keypair<Hps2048509>, 71);
  CheckBatchKeypairs<Hps2048677>(&Avx2KeypairBatch<Hps2048677>, &Avx2Keypair<Hps2048677>, 72);
  CheckBatchKeypairs<Hps4096821>(&Avx2KeypairBatch<Hps4096821>, &Avx2Keypair<Hps4096821>, 73);
  CheckBatchKeypairs<Hrss701>(&Avx2KeypairBatch<Hrss701>, &Avx2Keypair<Hrss701>, 74);
}

// The portable templates with 8 int32 lanes (a -march=native portable build): its column sort,
// batch Fixed_Type (FixedTypeRandomKeys' 8-lane path) and whole batch, against the same checks.
TEST(NtruPortableWideTest, SortMatchesStdSort) {
  if (medmesh_ntru_cpu_has_avx2() != 1) GTEST_SKIP() << "no AVX2 on this CPU";
  ASSERT_EQ(PortableWideColumnLanes(), 8);
  CheckColumnSorts(PortableWideColumnLanes(), &PortableWideColumnSort<508>,
                   &PortableWideColumnSort<676>, &PortableWideColumnSort<820>,
                   &PortableWideColumnSort<9>);
}

TEST(NtruPortableWideTest, BatchFixedTypeMatchesSingleKey) {
  if (medmesh_ntru_cpu_has_avx2() != 1) GTEST_SKIP() << "no AVX2 on this CPU";
  const int lanes = PortableWideColumnLanes();
  CheckFixedTypes<Hps2048509>(&PortableWideFixedTypes<Hps2048509>,
                              &PortableWideFixedType<Hps2048509>, lanes, 81);
  CheckFixedTypes<Hps2048677>(&PortableWideFixedTypes<Hps2048677>,
                              &PortableWideFixedType<Hps2048677>, lanes, 82);
  CheckFixedTypes<Hps4096821>(&PortableWideFixedTypes<Hps4096821>,
                              &PortableWideFixedType<Hps4096821>, lanes, 83);
}

TEST(NtruPortableWideTest, BatchMatchesSingleKeysAndThePortableBuild) {
  if (medmesh_ntru_cpu_has_avx2() != 1) GTEST_SKIP() << "no AVX2 on this CPU";
  CheckBatchKeypairs<Hps2048509>(&PortableWideKeypairBatch<Hps2048509>,
                                 &PortableWideKeypair<Hps2048509>, 91);
  CheckBatchKeypairs<Hps2048677>(&PortableWideKeypairBatch<Hps2048677>,
                                 &PortableWideKeypair<Hps2048677>, 92);
  CheckBatchKeypairs<Hps4096821>(&PortableWideKeypairBatch<Hps4096821>,
                                 &PortableWideKeypair<Hps4096821>, 93);
  CheckBatchKeypairs<Hrss701>(&PortableWideKeypairBatch<Hrss701>, &PortableWideKeypair<Hrss701>,
                              94);
  // And its single keys are the portable build's (the same templates, wider vectors).
  CheckBatchKeypairs<Hps4096821>(&PortableWideKeypairBatch<Hps4096821>,
                                 &PortableKeypair<Hps4096821>, 95);
}

TEST(NtruColumnSortTest, Avx2SortMatchesStdSort) {
  if (medmesh_ntru_cpu_has_avx2() != 1) GTEST_SKIP() << "no AVX2 path on this CPU";
  CheckColumnSorts(Avx2ColumnLanes(), &Avx2ColumnSort<508>, &Avx2ColumnSort<676>,
                   &Avx2ColumnSort<820>, &Avx2ColumnSort<9>);
}

TEST(NtruColumnSortTest, Avx2BatchFixedTypeMatchesSingleKey) {
  if (medmesh_ntru_cpu_has_avx2() != 1) GTEST_SKIP() << "no AVX2 path on this CPU";
  const int lanes = Avx2ColumnLanes();
  CheckFixedTypes<Hps2048509>(&Avx2FixedTypes<Hps2048509>, &Avx2FixedType<Hps2048509>, lanes, 21);
  CheckFixedTypes<Hps2048677>(&Avx2FixedTypes<Hps2048677>, &Avx2FixedType<Hps2048677>, lanes, 22);
  CheckFixedTypes<Hps4096821>(&Avx2FixedTypes<Hps4096821>, &Avx2FixedType<Hps4096821>, lanes, 23);
}
#endif

}  // namespace
}  // namespace medmesh::ntru::rq_inverse_test

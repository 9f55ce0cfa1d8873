// Known-answer tests of the NTRU KEM against the official NIST round-3 .rsp files (all 100
// records of each of the four sets), for each implementation, plus round trips through the
// randomized API and a cross-check of the implementations on many more inputs.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <sstream>
#include <string>
#include <tuple>

#include "core/bytes.h"
#include "crypto/ntru/nist_drbg.h"
#include "crypto/ntru/nist_kat_file.h"
#include "crypto/ntru/ntru_kem_table.h"
#include "medmesh/ntru.h"
#include "testing/fake_random.h"

namespace medmesh::crypto::testing {
namespace {

constexpr std::size_t kKatRecords = 100;

using SetAndImpl = std::tuple<NtruKemSet, NtruImpl>;

std::string ParamName(const ::testing::TestParamInfo<SetAndImpl>& info) {
  return std::string(std::get<0>(info.param).name) + "_" +
         std::string(std::get<1>(info.param).name);
}

// Index of the first byte where the two differ (including a length difference), if any.
std::optional<std::size_t> FirstDifference(ByteView a, ByteView b) {
  const std::size_t n = std::min(a.size(), b.size());
  for (std::size_t i = 0; i < n; ++i) {
    if (a[i] != b[i]) return i;
  }
  if (a.size() != b.size()) return n;
  return std::nullopt;
}

// Which part of the secret key `pack_S3(f) | pack_S3(f_p) | pack_Sq(h^-1) | prf_key` holds
// byte `i`, so that a mismatch points at the computation that produced it.
std::string SecretKeyPart(const NtruKemSet& set, std::size_t i) {
  const std::size_t sq = set.public_key_bytes;
  const std::size_t s3 = (set.secret_key_bytes - sq - kNtruPrfKeyBytes) / 2;
  if (i < s3) return "pack_S3(f)";
  if (i < 2 * s3) return "pack_S3(f_p = f^-1 mod (3, Phi_n))";
  if (i < 2 * s3 + sq) return "pack_Sq(h^-1)";
  return "prf_key";
}

// "matches" or "differs from byte i (of n)".
std::string Compare(ByteView got, ByteView want) {
  const std::optional<std::size_t> diff = FirstDifference(got, want);
  if (!diff) return "matches";
  std::ostringstream out;
  out << "differs from byte " << *diff << " (of " << want.size() << ")";
  return out.str();
}

// Runs one KAT record; returns an empty string on success, else what differs.
std::string CheckRecord(const NtruKemSet& set, const NistKatRecord& record) {
  std::ostringstream failure;
  failure << set.name << " count = " << record.count << ": ";
  Result<ByteView> seed = record.Field("seed");
  Result<ByteView> want_pk = record.Field("pk");
  Result<ByteView> want_sk = record.Field("sk");
  Result<ByteView> want_ct = record.Field("ct");
  Result<ByteView> want_ss = record.Field("ss");
  for (const Result<ByteView>* field : {&seed, &want_pk, &want_sk, &want_ct, &want_ss}) {
    if (!*field) return failure.str() + field->error().message();
  }
  if (seed->size() != NistCtrDrbg::kSeedBytes || want_pk->size() != set.public_key_bytes ||
      want_sk->size() != set.secret_key_bytes || want_ct->size() != set.ciphertext_bytes ||
      want_ss->size() != set.shared_secret_bytes) {
    return failure.str() + "malformed record (a field has the wrong length)";
  }

  // The call sequence of PQCgenKAT_kem with the reference code: keypair draws (f,g) coins,
  // then the PRF key; enc draws (r,m) coins.
  NistCtrDrbg drbg;
  drbg.Init(seed->first<NistCtrDrbg::kSeedBytes>());
  Bytes fg(set.seed_bytes);
  Bytes prf(kNtruPrfKeyBytes);
  Bytes rm(set.seed_bytes);
  drbg.Generate(fg.data(), fg.size());
  drbg.Generate(prf.data(), prf.size());
  drbg.Generate(rm.data(), rm.size());

  Bytes pk(set.public_key_bytes);
  Bytes sk(set.secret_key_bytes);
  Bytes ct(set.ciphertext_bytes);
  Bytes ss(set.shared_secret_bytes);
  Bytes ss_dec(set.shared_secret_bytes);
  const int rc_keypair = set.keypair_derand(pk.data(), sk.data(), fg.data(), prf.data());
  const int rc_enc = set.enc_derand(ct.data(), ss.data(), pk.data(), rm.data());
  // Decapsulate the file's own ciphertext with the file's own key, so that dec is checked
  // even when keypair or enc are wrong.
  const int rc_dec = set.dec(ss_dec.data(), want_ct->data(), want_sk->data());

  const std::optional<std::size_t> pk_diff = FirstDifference(pk, *want_pk);
  const std::optional<std::size_t> sk_diff = FirstDifference(sk, *want_sk);
  const std::optional<std::size_t> ct_diff = FirstDifference(ct, *want_ct);
  const std::optional<std::size_t> ss_diff = FirstDifference(ss, *want_ss);
  const std::optional<std::size_t> dec_diff = FirstDifference(ss_dec, *want_ss);
  if (rc_keypair == 0 && rc_enc == 0 && rc_dec == 0 && !pk_diff && !sk_diff && !ct_diff &&
      !ss_diff && !dec_diff) {
    return "";
  }
  if (rc_keypair != 0 || rc_enc != 0 || rc_dec != 0) {
    failure << "return codes keypair_derand " << rc_keypair << ", enc_derand " << rc_enc << ", dec "
            << rc_dec << " (all must be 0); ";
  }
  failure << "pk " << Compare(pk, *want_pk) << "; sk " << Compare(sk, *want_sk);
  if (sk_diff) failure << " [in " << SecretKeyPart(set, *sk_diff) << "]";
  failure << "; ct " << Compare(ct, *want_ct) << "; ss " << Compare(ss, *want_ss)
          << "; dec(file ct, file sk) " << (dec_diff ? "!= file ss" : "== file ss");
  if (pk_diff && !ct_diff) failure << " (ct matches although pk differs?)";
  return failure.str();
}

class NtruKatTest : public ::testing::TestWithParam<SetAndImpl> {};

TEST_P(NtruKatTest, MatchesOfficialRecords) {
  const auto& [set, impl] = GetParam();
  if (!NtruImplAvailable(impl.impl)) {
    GTEST_SKIP() << "this CPU has no AVX2/BMI2: the " << impl.name
                 << " implementation is not tested here";
  }
  ScopedNtruImpl scoped(impl.impl);
  ASSERT_TRUE(scoped.ok()) << "medmesh_ntru_force_impl(" << impl.name << ") failed";
  ASSERT_EQ(medmesh_ntru_active_impl(), impl.impl);

  const std::string path =
      std::string(MEDMESH_SHARED_DIR) + "/vectors/ntru/" + std::string(set.name) + ".rsp";
  Result<NistKatFile> kat = ReadNistKatFile(path);
  ASSERT_TRUE(kat) << kat.error().ToString()
                   << "\n(the shared vectors are required; set MEDMESH_SHARED_DIR)";
  ASSERT_FALSE(kat->comments.empty()) << path << ": no '# <name>' header";
  EXPECT_EQ(kat->comments.front(), set.name) << path;
  ASSERT_EQ(kat->records.size(), kKatRecords) << path;

  int failed = 0;
  for (std::size_t i = 0; i < kat->records.size(); ++i) {
    const NistKatRecord& record = kat->records[i];
    ASSERT_EQ(record.count, i) << path << ":" << record.line;
    const std::string failure = CheckRecord(set, record);
    if (failure.empty()) continue;
    // The first few failures in full; the count of the rest.
    if (++failed <= 3) ADD_FAILURE() << "[" << impl.name << "] " << failure;
  }
  EXPECT_EQ(failed, 0) << failed << " of " << kKatRecords << " records of " << set.name
                       << " fail with the " << impl.name << " implementation";
}

INSTANTIATE_TEST_SUITE_P(AllSets, NtruKatTest,
                         ::testing::Combine(::testing::ValuesIn(kNtruKemSets),
                                            ::testing::ValuesIn(kNtruImpls)),
                         ParamName);

// The batch API on the same 100 records: all coins drawn first (in the order of the single-key
// KAT), then one medmesh_S_keypair_batch call (two chunks of 50), and every key compared with
// the file.
class NtruBatchKatTest : public ::testing::TestWithParam<SetAndImpl> {};

TEST_P(NtruBatchKatTest, BatchMatchesOfficialRecords) {
  const auto& [set, impl] = GetParam();
  if (!NtruImplAvailable(impl.impl)) {
    GTEST_SKIP() << "this CPU has no AVX2/BMI2: the " << impl.name
                 << " implementation is not tested here";
  }
  ScopedNtruImpl scoped(impl.impl);
  ASSERT_TRUE(scoped.ok()) << "medmesh_ntru_force_impl(" << impl.name << ") failed";

  const std::string path =
      std::string(MEDMESH_SHARED_DIR) + "/vectors/ntru/" + std::string(set.name) + ".rsp";
  Result<NistKatFile> kat = ReadNistKatFile(path);
  ASSERT_TRUE(kat) << kat.error().ToString();
  ASSERT_EQ(kat->records.size(), kKatRecords) << path;

  const std::size_t n = kat->records.size();
  Bytes fg(n * set.seed_bytes);
  Bytes prf(n * kNtruPrfKeyBytes);
  for (std::size_t i = 0; i < n; ++i) {
    Result<ByteView> seed = kat->records[i].Field("seed");
    ASSERT_TRUE(seed) << seed.error().ToString();
    ASSERT_EQ(seed->size(), NistCtrDrbg::kSeedBytes);
    NistCtrDrbg drbg;
    drbg.Init(seed->first<NistCtrDrbg::kSeedBytes>());
    drbg.Generate(fg.data() + i * set.seed_bytes, set.seed_bytes);
    drbg.Generate(prf.data() + i * kNtruPrfKeyBytes, kNtruPrfKeyBytes);
  }
  Bytes pks(n * set.public_key_bytes);
  Bytes sks(n * set.secret_key_bytes);
  ASSERT_EQ(set.keypair_batch(n, pks.data(), sks.data(), fg.data(), prf.data()), 0);

  int failed = 0;
  for (std::size_t i = 0; i < n; ++i) {
    Result<ByteView> want_pk = kat->records[i].Field("pk");
    Result<ByteView> want_sk = kat->records[i].Field("sk");
    ASSERT_TRUE(want_pk && want_sk);
    const ByteView pk(pks.data() + i * set.public_key_bytes, set.public_key_bytes);
    const ByteView sk(sks.data() + i * set.secret_key_bytes, set.secret_key_bytes);
    const std::optional<std::size_t> sk_diff = FirstDifference(sk, *want_sk);
    if (!FirstDifference(pk, *want_pk) && !sk_diff) continue;
    if (++failed <= 3) {
      ADD_FAILURE() << "[" << impl.name << "] " << set.name << " batch key " << i << ": pk "
                    << Compare(pk, *want_pk) << "; sk " << Compare(sk, *want_sk)
                    << (sk_diff ? " [in " + SecretKeyPart(set, *sk_diff) + "]" : "");
    }
  }
  EXPECT_EQ(failed, 0) << failed << " of " << n << " batch keys of " << set.name << " differ";
}

INSTANTIATE_TEST_SUITE_P(AllSets, NtruBatchKatTest,
                         ::testing::Combine(::testing::ValuesIn(kNtruKemSets),
                                            ::testing::ValuesIn(kNtruImpls)),
                         ParamName);

// Batch sizes around the chunking (1, 2, one full chunk of 64, 65 = two chunks of 32 and 33)
// give the same keys as single calls with the same coins.
TEST_P(NtruBatchKatTest, BatchEqualsSingleCallsForEveryCount) {
  const auto& [set, impl] = GetParam();
  if (!NtruImplAvailable(impl.impl)) GTEST_SKIP() << "this CPU has no AVX2/BMI2";
  ScopedNtruImpl scoped(impl.impl);
  ASSERT_TRUE(scoped.ok());
  medmesh::testing::DeterministicRandom random(0x62617463);  // "batc"
  for (const std::size_t n : {std::size_t{1}, std::size_t{2}, std::size_t{64}, std::size_t{65}}) {
    Bytes fg(n * set.seed_bytes);
    Bytes prf(n * kNtruPrfKeyBytes);
    random.Fill(fg);
    random.Fill(prf);
    Bytes pks(n * set.public_key_bytes);
    Bytes sks(n * set.secret_key_bytes);
    ASSERT_EQ(set.keypair_batch(n, pks.data(), sks.data(), fg.data(), prf.data()), 0);
    Bytes pk(set.public_key_bytes);
    Bytes sk(set.secret_key_bytes);
    int failed = 0;
    for (std::size_t i = 0; i < n; ++i) {
      ASSERT_EQ(set.keypair_derand(pk.data(), sk.data(), fg.data() + i * set.seed_bytes,
                                   prf.data() + i * kNtruPrfKeyBytes),
                0);
      const bool same_pk = std::equal(pk.begin(), pk.end(),
                                      pks.begin() + static_cast<std::ptrdiff_t>(i * pk.size()));
      const bool same_sk = std::equal(sk.begin(), sk.end(),
                                      sks.begin() + static_cast<std::ptrdiff_t>(i * sk.size()));
      if (!(same_pk && same_sk) && ++failed <= 3) {
        ADD_FAILURE() << set.name << " n = " << n << ", key " << i << ": pk "
                      << (same_pk ? "same" : "differs") << ", sk "
                      << (same_sk ? "same" : "differs");
      }
    }
    EXPECT_EQ(failed, 0) << "n = " << n;
  }
  // n = 0 writes nothing.
  Bytes untouched(1, 0xa5);
  EXPECT_EQ(set.keypair_batch(0, untouched.data(), untouched.data(), nullptr, nullptr), 0);
  EXPECT_EQ(untouched[0], 0xa5);
}

class NtruRoundTripTest : public ::testing::TestWithParam<SetAndImpl> {};

TEST_P(NtruRoundTripTest, RandomizedApiRoundTrips) {
  const auto& [set, impl] = GetParam();
  if (!NtruImplAvailable(impl.impl)) {
    GTEST_SKIP() << "this CPU has no AVX2/BMI2: the " << impl.name
                 << " implementation is not tested here";
  }
  ScopedNtruImpl scoped(impl.impl);
  ASSERT_TRUE(scoped.ok());

  Bytes pk(set.public_key_bytes);
  Bytes sk(set.secret_key_bytes);
  Bytes ct(set.ciphertext_bytes);
  Bytes pk2(set.public_key_bytes);
  Bytes sk2(set.secret_key_bytes);
  Bytes ct2(set.ciphertext_bytes);
  Bytes ss(set.shared_secret_bytes);
  Bytes ss2(set.shared_secret_bytes);
  Bytes ss_dec(set.shared_secret_bytes);
  ASSERT_EQ(set.keypair(pk.data(), sk.data()), 0);
  ASSERT_EQ(set.keypair(pk2.data(), sk2.data()), 0);
  EXPECT_NE(pk, pk2) << "two keypair() calls gave the same public key";
  EXPECT_NE(sk, sk2) << "two keypair() calls gave the same secret key";

  for (int round = 0; round < 4; ++round) {
    ASSERT_EQ(set.enc(ct.data(), ss.data(), pk.data()), 0);
    ASSERT_EQ(set.dec(ss_dec.data(), ct.data(), sk.data()), 0);
    EXPECT_EQ(HexEncode(ss_dec), HexEncode(ss)) << "round " << round;
    ASSERT_EQ(set.enc(ct2.data(), ss2.data(), pk.data()), 0);
    EXPECT_NE(ct, ct2) << "two enc() calls gave the same ciphertext";
    EXPECT_NE(ss, ss2) << "two enc() calls gave the same shared secret";
    // The other key pair's secret key does not recover the secret.
    ASSERT_EQ(set.dec(ss_dec.data(), ct.data(), sk2.data()), 0);
    EXPECT_NE(HexEncode(ss_dec), HexEncode(ss));
  }
}

INSTANTIATE_TEST_SUITE_P(AllSets, NtruRoundTripTest,
                         ::testing::Combine(::testing::ValuesIn(kNtruKemSets),
                                            ::testing::ValuesIn(kNtruImpls)),
                         ParamName);

// Both implementations must agree byte for byte on many more inputs than the 100 KAT records,
// including decapsulation of corrupted ciphertexts.
class NtruImplAgreementTest : public ::testing::TestWithParam<NtruKemSet> {};

TEST_P(NtruImplAgreementTest, PortableAndAvx2Agree) {
  const NtruKemSet& set = GetParam();
  if (!NtruImplAvailable(MEDMESH_NTRU_IMPL_AVX2)) {
    GTEST_SKIP() << "this CPU has no AVX2/BMI2: nothing to compare the portable build with";
  }
  constexpr int kRounds = 200;
  medmesh::testing::DeterministicRandom random(0x6e747275);  // "ntru"
  Bytes fg(set.seed_bytes);
  Bytes prf(kNtruPrfKeyBytes);
  Bytes rm(set.seed_bytes);
  Bytes bad_ct(set.ciphertext_bytes);
  struct Outputs {
    Bytes pk, sk, ct, ss, ss_dec, ss_bad;
  };
  int mismatches = 0;
  for (int round = 0; round < kRounds && mismatches < 3; ++round) {
    random.Fill(fg);
    random.Fill(prf);
    random.Fill(rm);
    Outputs out[2];
    for (int which = 0; which < 2; ++which) {
      ScopedNtruImpl scoped(which == 0 ? MEDMESH_NTRU_IMPL_PORTABLE : MEDMESH_NTRU_IMPL_AVX2);
      ASSERT_TRUE(scoped.ok());
      Outputs& o = out[which];
      o.pk.resize(set.public_key_bytes);
      o.sk.resize(set.secret_key_bytes);
      o.ct.resize(set.ciphertext_bytes);
      o.ss.resize(set.shared_secret_bytes);
      o.ss_dec.resize(set.shared_secret_bytes);
      o.ss_bad.resize(set.shared_secret_bytes);
      ASSERT_EQ(set.keypair_derand(o.pk.data(), o.sk.data(), fg.data(), prf.data()), 0);
      ASSERT_EQ(set.enc_derand(o.ct.data(), o.ss.data(), o.pk.data(), rm.data()), 0);
      ASSERT_EQ(set.dec(o.ss_dec.data(), o.ct.data(), o.sk.data()), 0);
      // A corrupted copy of the ciphertext: one byte replaced, chosen by the round.
      bad_ct = o.ct;
      bad_ct[static_cast<std::size_t>(round) * 7919 % bad_ct.size()] ^=
          static_cast<std::uint8_t>(1 + round % 255);
      ASSERT_EQ(set.dec(o.ss_bad.data(), bad_ct.data(), o.sk.data()), 0);
    }
    EXPECT_EQ(out[0].ss_dec, out[0].ss) << "portable round trip, round " << round;
    EXPECT_EQ(out[1].ss_dec, out[1].ss) << "avx2 round trip, round " << round;
    const char* names[] = {"pk", "sk", "ct", "ss", "dec(corrupted ct)"};
    const Bytes* portable[] = {&out[0].pk, &out[0].sk, &out[0].ct, &out[0].ss, &out[0].ss_bad};
    const Bytes* avx2[] = {&out[1].pk, &out[1].sk, &out[1].ct, &out[1].ss, &out[1].ss_bad};
    for (int f = 0; f < 5; ++f) {
      if (*portable[f] != *avx2[f]) {
        ++mismatches;
        ADD_FAILURE() << set.name << " round " << round << ": " << names[f]
                      << " differs between portable and avx2: avx2 "
                      << Compare(*avx2[f], *portable[f]);
        break;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllSets, NtruImplAgreementTest, ::testing::ValuesIn(kNtruKemSets),
                         [](const ::testing::TestParamInfo<NtruKemSet>& param_info) {
                           return std::string(param_info.param.name);
                         });

}  // namespace
}  // namespace medmesh::crypto::testing

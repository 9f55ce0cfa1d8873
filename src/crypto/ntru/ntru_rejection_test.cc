// Implicit rejection (the FO transform of the NTRU KEM): decapsulating an altered ciphertext
// returns 0 and SHA3-256(prf_key | ct'), where prf_key is the last 32 bytes of the secret key,
// never an error and never the real shared secret.
//
// One exception is not a bug: NTRU-HRSS checks only that the recovered r is ternary (there is no
// weight check on m, unlike HPS), and its Lift(m) = Phi_1 * (m / Phi_1) maps the change
// m' = m + d*(x^j - x^(n-1)) (mod 3) back to exactly d*(x^j - x^(n-1)) whenever no coefficient of
// m / Phi_1 wraps at positions j..n-2. So adding d = +-1 to coefficient j of c (flipping the
// lowest bit of a packed coefficient; coefficient n-1 follows as minus the sum) can give the
// honest encryption of another message (r, m'), most likely for j close to n-2. Decapsulation
// then correctly returns H(r, m'), which does not depend on the PRF key. The tests accept that
// outcome only for HRSS, only for such a flip, and only if the output is indeed independent of
// the PRF key; it must still differ from the real shared secret.
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <tuple>

#include "core/bytes.h"
#include "crypto/ntru/ntru_kem_table.h"
#include "medmesh/ntru.h"
#include "testing/fake_random.h"

namespace medmesh::crypto::testing {
namespace {

using SetAndImpl = std::tuple<NtruKemSet, NtruImpl>;

// SHA3-256(a | b) with OpenSSL, written independently of the library's own hashing.
class Sha3Hasher {
 public:
  Sha3Hasher() : md_(EVP_MD_fetch(nullptr, "SHA3-256", nullptr)), ctx_(EVP_MD_CTX_new()) {}
  bool ok() const { return md_ != nullptr && ctx_ != nullptr; }
  Bytes Hash(ByteView a, ByteView b) {
    Bytes out(32);
    unsigned int len = 0;
    const bool done = EVP_DigestInit_ex2(ctx_.get(), md_.get(), nullptr) == 1 &&
                      EVP_DigestUpdate(ctx_.get(), a.data(), a.size()) == 1 &&
                      EVP_DigestUpdate(ctx_.get(), b.data(), b.size()) == 1 &&
                      EVP_DigestFinal_ex(ctx_.get(), out.data(), &len) == 1 && len == out.size();
    if (!done) out.clear();
    return out;
  }

 private:
  struct MdFree {
    void operator()(EVP_MD* md) const { EVP_MD_free(md); }
  };
  struct CtxFree {
    void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
  };
  std::unique_ptr<EVP_MD, MdFree> md_;
  std::unique_ptr<EVP_MD_CTX, CtxFree> ctx_;
};

// The ring parameters behind a set (the C API does not expose them).
struct RingParams {
  std::size_t n;
  std::size_t log_q;
  bool hrss;
};
RingParams RingParamsOf(const NtruKemSet& set) {
  if (set.name == "ntruhps2048509") return {509, 11, false};
  if (set.name == "ntruhps2048677") return {677, 11, false};
  if (set.name == "ntruhps4096821") return {821, 12, false};
  return {701, 13, true};  // ntruhrss701
}

// The ciphertext packs coefficients 0..n-2 of c with log2(q) bits each, little-endian; the
// high bits of the last byte that this leaves unused must be zero.
unsigned UnusedLastByteBits(const NtruKemSet& set) {
  const RingParams p = RingParamsOf(set);
  return static_cast<unsigned>(set.ciphertext_bytes * 8 - (p.n - 1) * p.log_q);
}

// Whether bit `bit` of ciphertext byte `byte` is the lowest bit of a packed coefficient.
bool IsCoefficientLowBit(const NtruKemSet& set, std::size_t byte, unsigned bit) {
  return (byte * 8 + bit) % RingParamsOf(set).log_q == 0;
}

class NtruRejectionTest : public ::testing::TestWithParam<SetAndImpl> {
 protected:
  void SetUp() override {
    const auto& [set, impl] = GetParam();
    if (!NtruImplAvailable(impl.impl)) {
      GTEST_SKIP() << "this CPU has no AVX2/BMI2: the " << impl.name
                   << " implementation is not tested here";
    }
    scoped_.emplace(impl.impl);
    ASSERT_TRUE(scoped_->ok()) << "medmesh_ntru_force_impl(" << impl.name << ") failed";
    ASSERT_TRUE(sha3_.ok()) << "OpenSSL has no SHA3-256";

    medmesh::testing::DeterministicRandom random(0x72656a);  // "rej"
    Bytes fg(set.seed_bytes);
    Bytes rm(set.seed_bytes);
    prf_key_.resize(kNtruPrfKeyBytes);
    random.Fill(fg);
    random.Fill(prf_key_);
    random.Fill(rm);
    pk_.resize(set.public_key_bytes);
    sk_.resize(set.secret_key_bytes);
    ct_.resize(set.ciphertext_bytes);
    ss_.resize(set.shared_secret_bytes);
    ASSERT_EQ(set.keypair_derand(pk_.data(), sk_.data(), fg.data(), prf_key_.data()), 0);
    ASSERT_EQ(set.enc_derand(ct_.data(), ss_.data(), pk_.data(), rm.data()), 0);
    // The PRF key is stored at the end of the secret key.
    ASSERT_EQ(HexEncode(ByteView(sk_).last(kNtruPrfKeyBytes)), HexEncode(prf_key_));
  }

  static const NtruKemSet& set() { return std::get<0>(GetParam()); }

  Bytes Decapsulate(ByteView ct, int* rc) {
    Bytes ss(set().shared_secret_bytes);
    *rc = set().dec(ss.data(), ct.data(), sk_.data());
    return ss;
  }

  // Whether decapsulating `ct` gives the same result under another PRF key: true for a valid
  // ciphertext (the key is H(r, m)), false for a rejected one (the key is H(prf_key, ct)).
  bool IndependentOfPrfKey(ByteView ct, ByteView ss) {
    Bytes other_sk = sk_;
    for (std::size_t i = other_sk.size() - kNtruPrfKeyBytes; i < other_sk.size(); ++i) {
      other_sk[i] ^= 0xA5;
    }
    Bytes other(set().shared_secret_bytes);
    return set().dec(other.data(), ct.data(), other_sk.data()) == 0 &&
           HexEncode(other) == HexEncode(ss);
  }

  enum class Outcome { kRejected, kOtherValidCiphertext, kWrong };

  // Decapsulates an altered ciphertext. kRejected if the output is the rejection key;
  // kOtherValidCiphertext if `may_be_valid` and the output is a PRF-independent key other than
  // the real one (see the top of this file); else kWrong, with `why` set.
  Outcome Classify(ByteView bad_ct, bool may_be_valid, std::string* why) {
    int rc = -2;
    const Bytes got = Decapsulate(bad_ct, &rc);
    const Bytes rejection_key = sha3_.Hash(ByteView(sk_).last(kNtruPrfKeyBytes), bad_ct);
    if (rc != 0) {
      *why = "dec returned " + std::to_string(rc) + " (must be 0)";
      return Outcome::kWrong;
    }
    if (got == ss_) {
      *why = "dec returned the real shared secret";
      return Outcome::kWrong;
    }
    if (got == rejection_key) return Outcome::kRejected;
    if (may_be_valid && IndependentOfPrfKey(bad_ct, got)) return Outcome::kOtherValidCiphertext;
    *why = "dec returned " + HexEncode(got) +
           ", not SHA3-256(prf_key | ct') = " + HexEncode(rejection_key);
    if (IndependentOfPrfKey(bad_ct, got)) *why += " (it decrypted as a valid ciphertext)";
    return Outcome::kWrong;
  }

  // Empty if `bad_ct` was rejected, else what went wrong.
  std::string CheckRejected(ByteView bad_ct) {
    std::string why;
    return Classify(bad_ct, false, &why) == Outcome::kRejected ? "" : why;
  }

  std::optional<ScopedNtruImpl> scoped_;
  Sha3Hasher sha3_;
  Bytes prf_key_, pk_, sk_, ct_, ss_;
};

TEST_P(NtruRejectionTest, ValidCiphertextIsAccepted) {
  // Without this the rejection tests below would pass for a dec that always rejects.
  int rc = -2;
  const Bytes got = Decapsulate(ct_, &rc);
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(HexEncode(got), HexEncode(ss_));
  EXPECT_NE(HexEncode(got), HexEncode(sha3_.Hash(prf_key_, ct_)));
}

// Outcomes of a series of single-bit flips.
struct FlipTally {
  int rejected = 0;
  int other_valid = 0;
  int wrong = 0;
};

TEST_P(NtruRejectionTest, EveryFlippedBitIsRejected) {
  // Every byte position, twice, with a different bit each time: bit i % 8 and (i + 4) % 8.
  const bool hrss = RingParamsOf(set()).hrss;
  FlipTally tally;
  for (unsigned pass = 0; pass < 2; ++pass) {
    for (std::size_t i = 0; i < ct_.size(); ++i) {
      Bytes bad = ct_;
      const auto bit = static_cast<unsigned>((i + std::size_t{4} * pass) % 8);
      bad[i] ^= static_cast<std::uint8_t>(1U << bit);
      std::string why;
      switch (Classify(bad, hrss && IsCoefficientLowBit(set(), i, bit), &why)) {
        case Outcome::kRejected: ++tally.rejected; break;
        case Outcome::kOtherValidCiphertext: ++tally.other_valid; break;
        case Outcome::kWrong:
          if (++tally.wrong <= 5) {
            ADD_FAILURE() << set().name << ": ct byte " << i << " bit " << bit
                          << " flipped: " << why;
          }
          break;
      }
    }
  }
  EXPECT_EQ(tally.wrong, 0) << "of " << 2 * ct_.size() << " single-bit flips";
  EXPECT_GT(tally.rejected, tally.other_valid);
  RecordProperty("other_valid_ciphertexts", tally.other_valid);
}

TEST_P(NtruRejectionTest, LowBitOfEveryCoefficient) {
  // +-1 on each packed coefficient: always rejected for HPS (m' loses its fixed weight); for
  // HRSS rejected except for a few coefficients near n-2 (see the top of this file).
  const RingParams p = RingParamsOf(set());
  FlipTally tally;
  std::size_t last_valid = 0;
  for (std::size_t j = 0; j + 1 < p.n; ++j) {
    const std::size_t bit_index = j * p.log_q;
    Bytes bad = ct_;
    bad[bit_index / 8] ^= static_cast<std::uint8_t>(1U << (bit_index % 8));
    std::string why;
    switch (Classify(bad, p.hrss, &why)) {
      case Outcome::kRejected: ++tally.rejected; break;
      case Outcome::kOtherValidCiphertext:
        ++tally.other_valid;
        last_valid = j;
        break;
      case Outcome::kWrong:
        if (++tally.wrong <= 5) {
          ADD_FAILURE() << set().name << ": coefficient " << j << " +-1: " << why;
        }
        break;
    }
  }
  EXPECT_EQ(tally.wrong, 0);
  // The chance that coefficient j gives a valid ciphertext falls like (2/3)^(n-1-j): more than
  // a handful, or any far from the end, would mean decapsulation accepts what it must not.
  EXPECT_LE(tally.other_valid, 12) << set().name;
  if (tally.other_valid > 0) {
    EXPECT_GE(last_valid + 40, p.n) << set().name << ": coefficient " << last_valid;
  }
  RecordProperty("other_valid_ciphertexts", tally.other_valid);
}

TEST_P(NtruRejectionTest, UnusedBitsOfLastByteAreRejected) {
  // The packing leaves high bits of the last byte unused; a ciphertext with any of them set is
  // not canonical and must be rejected even though it unpacks to the same polynomial.
  const unsigned unused = UnusedLastByteBits(set());
  if (unused == 0) GTEST_SKIP() << set().name << " uses every bit of its last byte";
  for (unsigned bit = 8 - unused; bit < 8; ++bit) {
    Bytes bad = ct_;
    bad.back() ^= static_cast<std::uint8_t>(1U << bit);
    EXPECT_EQ(CheckRejected(bad), "") << "last byte bit " << bit;
  }
  Bytes bad = ct_;
  bad.back() = static_cast<std::uint8_t>(bad.back() | 0xF0);
  EXPECT_EQ(CheckRejected(bad), "") << "all unused bits set";
}

TEST_P(NtruRejectionTest, RejectionKeyIsDeterministic) {
  Bytes bad = ct_;
  bad[bad.size() / 2] ^= 0x20;
  int rc1 = -2;
  int rc2 = -2;
  int rc3 = -2;
  const Bytes first = Decapsulate(bad, &rc1);
  const Bytes second = Decapsulate(bad, &rc2);
  ASSERT_EQ(rc1, 0);
  ASSERT_EQ(rc2, 0);
  EXPECT_EQ(HexEncode(first), HexEncode(second));
  // It depends on the ciphertext: another alteration gives another key.
  Bytes other = ct_;
  other[bad.size() / 2] ^= 0x40;
  const Bytes third = Decapsulate(other, &rc3);
  ASSERT_EQ(rc3, 0);
  EXPECT_NE(HexEncode(first), HexEncode(third));
  // And on the PRF key: the same tampered ciphertext under another secret key differs.
  Bytes sk_other = sk_;
  sk_other.back() ^= 1;
  Bytes with_other_prf(set().shared_secret_bytes);
  ASSERT_EQ(set().dec(with_other_prf.data(), bad.data(), sk_other.data()), 0);
  EXPECT_NE(HexEncode(first), HexEncode(with_other_prf));
  EXPECT_EQ(HexEncode(with_other_prf), HexEncode(sha3_.Hash(ByteView(sk_other).last(32), bad)));
}

INSTANTIATE_TEST_SUITE_P(AllSets, NtruRejectionTest,
                         ::testing::Combine(::testing::ValuesIn(kNtruKemSets),
                                            ::testing::ValuesIn(kNtruImpls)),
                         [](const ::testing::TestParamInfo<SetAndImpl>& param_info) {
                           return std::string(std::get<0>(param_info.param).name) + "_" +
                                  std::string(std::get<1>(param_info.param).name);
                         });

}  // namespace
}  // namespace medmesh::crypto::testing

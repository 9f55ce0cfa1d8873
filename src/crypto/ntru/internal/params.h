// NTRU round-3 parameter sets as compile-time types. Sizes follow the specification's §1.6
// table and the official KAT record lengths (see ../shared/vectors/ntru/IMPLEMENTING.md).
#pragma once

#include <cstddef>
#include <cstdint>

namespace medmesh::ntru {

template <int N, int LogQ, bool Hrss>
struct Params {
  static constexpr int kN = N;
  static constexpr int kLogQ = LogQ;
  static constexpr std::uint32_t kQ = 1u << LogQ;
  static constexpr std::uint16_t kQMask = static_cast<std::uint16_t>(kQ - 1);
  static constexpr bool kHrss = Hrss;
  // HPS: m and g have q/16-1 coefficients +1 and q/16-1 coefficients -1.
  static constexpr int kHalfWeight = static_cast<int>(kQ / 16 - 1);
  static constexpr int kWeight = 2 * kHalfWeight;
  // Polynomials are stored with zero padding to a multiple of 256 coefficients, so that the
  // Karatsuba recursion splits evenly four times into base cases whose length is a multiple
  // of 16 (one AVX2 vector of coefficients), and vector loops need no tails.
  static constexpr int kPad = (N + 255) / 256 * 256;
  static constexpr int kWords = (N + 63) / 64;  // 64-bit words of a bitsliced polynomial

  static constexpr std::size_t kPackS3Bytes = (N - 1 + 4) / 5;
  static constexpr std::size_t kPackSqBytes = ((N - 1) * LogQ + 7) / 8;
  static constexpr std::size_t kPublicKeyBytes = kPackSqBytes;
  static constexpr std::size_t kCiphertextBytes = kPackSqBytes;
  static constexpr std::size_t kPrfKeyBytes = 32;
  static constexpr std::size_t kSecretKeyBytes = 2 * kPackS3Bytes + kPackSqBytes + kPrfKeyBytes;
  static constexpr std::size_t kSharedSecretBytes = 32;
  static constexpr std::size_t kMessageBytes = 2 * kPackS3Bytes;  // pack(r) || pack(m)

  static constexpr std::size_t kSampleIidBytes = N - 1;
  static constexpr std::size_t kSampleFixedTypeBytes = (30 * (N - 1) + 7) / 8;
  static constexpr std::size_t kSeedBytes =
      Hrss ? 2 * kSampleIidBytes : kSampleIidBytes + kSampleFixedTypeBytes;
  // Bits of the last ciphertext byte that a canonical encoding leaves zero.
  static constexpr int kUnusedCtBits = static_cast<int>(8 * kPackSqBytes) - (N - 1) * LogQ;
};

using Hps2048509 = Params<509, 11, false>;
using Hps2048677 = Params<677, 11, false>;
using Hps4096821 = Params<821, 12, false>;
using Hrss701 = Params<701, 13, true>;

static_assert(Hps2048509::kSecretKeyBytes == 935 && Hps2048509::kPublicKeyBytes == 699);
static_assert(Hps2048677::kSecretKeyBytes == 1234 && Hps2048677::kPublicKeyBytes == 930);
static_assert(Hps4096821::kSecretKeyBytes == 1590 && Hps4096821::kPublicKeyBytes == 1230);
static_assert(Hrss701::kSecretKeyBytes == 1450 && Hrss701::kPublicKeyBytes == 1138);
static_assert(Hps2048509::kSeedBytes == 2413 && Hps2048677::kSeedBytes == 3211);
static_assert(Hps4096821::kSeedBytes == 3895 && Hrss701::kSeedBytes == 1400);

// One implementation's entry points for one parameter set (used by the run-time dispatch).
struct KemFunctions {
  void (*keypair_derand)(std::uint8_t* pk, std::uint8_t* sk, const std::uint8_t* fg_coins,
                         const std::uint8_t* prf_key);
  void (*enc_derand)(std::uint8_t* ct, std::uint8_t* ss, const std::uint8_t* pk,
                     const std::uint8_t* rm_coins);
  void (*dec)(std::uint8_t* ss, const std::uint8_t* ct, const std::uint8_t* sk);
  // n key pairs, identical to n keypair_derand calls (batch_impl.h).
  void (*keypair_batch_derand)(std::size_t n, std::uint8_t* pks, std::uint8_t* sks,
                               const std::uint8_t* fg_coins, const std::uint8_t* prf_keys);
};

// Index of each set in the dispatch tables.
enum SetIndex : int { kIdxHps2048509 = 0, kIdxHps2048677 = 1, kIdxHps4096821 = 2, kIdxHrss701 = 3 };
inline constexpr int kNumSets = 4;

// SHA3-256 through OpenSSL (sha3.cc). Two-part input so that (prf_key || ct) needs no copy.
void Sha3_256(std::uint8_t out[32], const std::uint8_t* a, std::size_t a_len,
              const std::uint8_t* b = nullptr, std::size_t b_len = 0);
// Overwrites memory in a way the optimiser keeps.
void Wipe(void* p, std::size_t n);

}  // namespace medmesh::ntru

// NistCtrDrbg: the AES-256 CTR_DRBG of NIST's PQC `rng.c`, which every NIST known-answer
// test (PQCgenKAT_kem) uses as its randomness source. Tests only: it reproduces the KAT byte
// streams and is not a CSPRNG for production use (no reseeding, no prediction resistance).
//
// Semantics, matching `randombytes_init(entropy, NULL, 256)` and `randombytes(x, n)`:
//   Init(seed48): Key = 0^32, V = 0^16, then Update(seed48).
//   Generate(out, n): for each of ceil(n/16) blocks, V += 1 (128-bit big endian) and emit
//     AES-256-ECB(Key, V), the last block truncated; then Update(nothing), even when n is 0.
//   Update(data): three more increment-and-encrypt steps give 48 bytes, XORed with data if
//     any; Key = bytes 0..31, V = bytes 32..47.
// Output depends on how a stream is split into calls: Generate(64) != Generate(32) twice.
//
// Built on OpenSSL's AES-256-ECB (one fetched cipher and one reused context per object).
// OpenSSL failures abort with a message (MEDMESH_CHECK): they mean a broken environment.
// Thread safety: none; use one object per thread. Key and V are wiped on destruction.
#pragma once

#include <openssl/types.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

namespace medmesh::crypto::testing {

class NistCtrDrbg {
 public:
  static constexpr std::size_t kSeedBytes = 48;

  // The object is unusable until Init() is called (Generate aborts).
  NistCtrDrbg();
  ~NistCtrDrbg();
  NistCtrDrbg(const NistCtrDrbg&) = delete;
  NistCtrDrbg& operator=(const NistCtrDrbg&) = delete;

  // randombytes_init(seed, NULL, 256). May be called again to restart from a new seed.
  void Init(std::span<const std::uint8_t, kSeedBytes> seed);
  // randombytes(out, n): fills out[0..n) and advances the state. out may be null if n is 0.
  void Generate(std::uint8_t* out, std::size_t n);

 private:
  struct CipherFree {
    void operator()(EVP_CIPHER* c) const;
  };
  struct CtxFree {
    void operator()(EVP_CIPHER_CTX* c) const;
  };

  void IncrementV();
  // Encrypts `blocks` successive counter values (V+1, V+2, ...) into out; advances V.
  void EncryptCounterBlocks(std::uint8_t* out, std::size_t blocks);
  void Update(const std::uint8_t* data);  // data: 48 bytes or null
  void SetKey();

  std::unique_ptr<EVP_CIPHER, CipherFree> cipher_;
  std::unique_ptr<EVP_CIPHER_CTX, CtxFree> ctx_;
  std::array<std::uint8_t, 32> key_{};
  std::array<std::uint8_t, 16> v_{};
  bool initialized_ = false;
};

}  // namespace medmesh::crypto::testing

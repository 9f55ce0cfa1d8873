// The four NTRU parameter sets and two implementations of include/medmesh/ntru.h as tables,
// so tests, the constant-time check and the benchmark can loop over them. Tests and
// benchmarks only.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string_view>

#include "medmesh/ntru.h"

namespace medmesh::crypto::testing {

struct NtruKemSet {
  std::string_view name;  // "ntruhps2048677", also the .rsp file name
  std::size_t public_key_bytes;
  std::size_t secret_key_bytes;
  std::size_t ciphertext_bytes;
  std::size_t shared_secret_bytes;
  std::size_t seed_bytes;  // fg_coins (keypair) and rm_coins (enc)
  int (*keypair)(std::uint8_t* pk, std::uint8_t* sk);
  int (*enc)(std::uint8_t* ct, std::uint8_t* ss, const std::uint8_t* pk);
  int (*dec)(std::uint8_t* ss, const std::uint8_t* ct, const std::uint8_t* sk);
  int (*keypair_derand)(std::uint8_t* pk, std::uint8_t* sk, const std::uint8_t* fg_coins,
                        const std::uint8_t* prf_key);
  int (*enc_derand)(std::uint8_t* ct, std::uint8_t* ss, const std::uint8_t* pk,
                    const std::uint8_t* rm_coins);
  int (*keypair_batch)(std::size_t n, std::uint8_t* pks, std::uint8_t* sks,
                       const std::uint8_t* fg_coins, const std::uint8_t* prf_keys);
};

// clang-format off
#define MEDMESH_NTRU_KEM_SET(s, S)                              \
  NtruKemSet{                                                   \
      .name = #s,                                               \
      .public_key_bytes = MEDMESH_##S##_PUBLICKEYBYTES,         \
      .secret_key_bytes = MEDMESH_##S##_SECRETKEYBYTES,         \
      .ciphertext_bytes = MEDMESH_##S##_CIPHERTEXTBYTES,        \
      .shared_secret_bytes = MEDMESH_##S##_BYTES,               \
      .seed_bytes = MEDMESH_##S##_SEEDBYTES,                    \
      .keypair = medmesh_##s##_keypair,                         \
      .enc = medmesh_##s##_enc,                                 \
      .dec = medmesh_##s##_dec,                                 \
      .keypair_derand = medmesh_##s##_keypair_derand,           \
      .enc_derand = medmesh_##s##_enc_derand,                   \
      .keypair_batch = medmesh_##s##_keypair_batch,             \
  }
// clang-format on
inline constexpr std::array<NtruKemSet, 4> kNtruKemSets = {
    MEDMESH_NTRU_KEM_SET(ntruhps2048509, NTRUHPS2048509),
    MEDMESH_NTRU_KEM_SET(ntruhps2048677, NTRUHPS2048677),
    MEDMESH_NTRU_KEM_SET(ntruhps4096821, NTRUHPS4096821),
    MEDMESH_NTRU_KEM_SET(ntruhrss701, NTRUHRSS701),
};
#undef MEDMESH_NTRU_KEM_SET

inline constexpr std::size_t kNtruPrfKeyBytes = MEDMESH_NTRU_PRFKEYBYTES;

struct NtruImpl {
  medmesh_ntru_impl impl;
  std::string_view name;  // "portable", "avx2"
};
inline constexpr std::array<NtruImpl, 2> kNtruImpls = {
    NtruImpl{MEDMESH_NTRU_IMPL_PORTABLE, "portable"},
    NtruImpl{MEDMESH_NTRU_IMPL_AVX2, "avx2"},
};

// For GoogleTest parameter names and messages.
inline void PrintTo(const NtruKemSet& set, std::ostream* os) { *os << set.name; }
inline void PrintTo(const NtruImpl& impl, std::ostream* os) { *os << impl.name; }

// Whether this machine can run `impl` (the portable one always).
inline bool NtruImplAvailable(medmesh_ntru_impl impl) {
  return impl != MEDMESH_NTRU_IMPL_AVX2 || medmesh_ntru_cpu_has_avx2() == 1;
}

// Forces an implementation for its lifetime and restores automatic selection afterwards.
// ok() is false if the CPU cannot run it (then nothing was changed). Not thread-safe: the
// selection is process-wide.
class ScopedNtruImpl {
 public:
  explicit ScopedNtruImpl(medmesh_ntru_impl impl) : ok_(medmesh_ntru_force_impl(impl) == 0) {}
  ~ScopedNtruImpl() { (void)medmesh_ntru_force_impl(MEDMESH_NTRU_IMPL_AUTO); }
  ScopedNtruImpl(const ScopedNtruImpl&) = delete;
  ScopedNtruImpl& operator=(const ScopedNtruImpl&) = delete;
  bool ok() const { return ok_; }

 private:
  bool ok_;
};

}  // namespace medmesh::crypto::testing

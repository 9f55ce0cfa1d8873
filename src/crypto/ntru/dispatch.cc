// The C API of include/medmesh/ntru.h: run-time choice between the portable and the AVX2
// build, the OS CSPRNG for the randomized functions, and the exported symbols.
#include <sys/random.h>

#include <atomic>
#include <cerrno>
#include <cstddef>

#include "crypto/ntru/internal/params.h"
#include "medmesh/ntru.h"

namespace medmesh::ntru {

const KemFunctions* PortableTable();
#if defined(MEDMESH_NTRU_HAVE_AVX2)
const KemFunctions* Avx2Table();
#endif

namespace {

bool CpuHasAvx2() {
#if defined(MEDMESH_NTRU_HAVE_AVX2)
  __builtin_cpu_init();
  // PCLMULQDQ: the mod-2 inverse's carry-less products (avx2/inv_r2.cc).
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("bmi2") &&
         __builtin_cpu_supports("pclmul");
#else
  return false;
#endif
}

// The chosen table. Process-wide by nature (it reflects the CPU); set once on first use or by
// medmesh_ntru_force_impl.
std::atomic<const KemFunctions*> g_table{nullptr};

const KemFunctions* AutoTable() {
#if defined(MEDMESH_NTRU_HAVE_AVX2)
  if (CpuHasAvx2()) return Avx2Table();
#endif
  return PortableTable();
}

const KemFunctions& Table(int set) {
  const KemFunctions* t = g_table.load(std::memory_order_acquire);
  if (t == nullptr) {
    t = AutoTable();
    g_table.store(t, std::memory_order_release);
  }
  return t[set];
}

// Fills buf from getrandom(2); -1 if the OS cannot provide randomness.
int OsRandom(std::uint8_t* buf, std::size_t n) {
  while (n > 0) {
    const ssize_t got = getrandom(buf, n, 0);
    if (got < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    buf += got;
    n -= static_cast<std::size_t>(got);
  }
  return 0;
}

template <class P, int kSet>
int Keypair(std::uint8_t* pk, std::uint8_t* sk) {
  std::uint8_t coins[P::kSeedBytes + P::kPrfKeyBytes];
  if (OsRandom(coins, sizeof coins) != 0) return -1;
  Table(kSet).keypair_derand(pk, sk, coins, coins + P::kSeedBytes);
  Wipe(coins, sizeof coins);
  return 0;
}

template <class P, int kSet>
int Enc(std::uint8_t* ct, std::uint8_t* ss, const std::uint8_t* pk) {
  std::uint8_t coins[P::kSeedBytes];
  if (OsRandom(coins, sizeof coins) != 0) return -1;
  Table(kSet).enc_derand(ct, ss, pk, coins);
  Wipe(coins, sizeof coins);
  return 0;
}

}  // namespace
}  // namespace medmesh::ntru

using medmesh::ntru::Hps2048509;
using medmesh::ntru::Hps2048677;
using medmesh::ntru::Hps4096821;
using medmesh::ntru::Hrss701;

#define MEDMESH_NTRU_DEFINE(S, U, P, IDX)                                                        \
  static_assert(MEDMESH_##U##_PUBLICKEYBYTES == P::kPublicKeyBytes);                             \
  static_assert(MEDMESH_##U##_SECRETKEYBYTES == P::kSecretKeyBytes);                             \
  static_assert(MEDMESH_##U##_CIPHERTEXTBYTES == P::kCiphertextBytes);                           \
  static_assert(MEDMESH_##U##_BYTES == P::kSharedSecretBytes);                                   \
  static_assert(MEDMESH_##U##_SEEDBYTES == P::kSeedBytes);                                       \
  extern "C" int medmesh_##S##_keypair(uint8_t* pk, uint8_t* sk) {                               \
    return medmesh::ntru::Keypair<P, medmesh::ntru::IDX>(pk, sk);                                \
  }                                                                                              \
  extern "C" int medmesh_##S##_enc(uint8_t* ct, uint8_t* ss, const uint8_t* pk) {                \
    return medmesh::ntru::Enc<P, medmesh::ntru::IDX>(ct, ss, pk);                                \
  }                                                                                              \
  extern "C" int medmesh_##S##_dec(uint8_t* ss, const uint8_t* ct, const uint8_t* sk) {          \
    medmesh::ntru::Table(medmesh::ntru::IDX).dec(ss, ct, sk);                                    \
    return 0;                                                                                    \
  }                                                                                              \
  extern "C" int medmesh_##S##_keypair_derand(uint8_t* pk, uint8_t* sk, const uint8_t* fg_coins, \
                                              const uint8_t* prf_key) {                          \
    medmesh::ntru::Table(medmesh::ntru::IDX).keypair_derand(pk, sk, fg_coins, prf_key);          \
    return 0;                                                                                    \
  }                                                                                              \
  extern "C" int medmesh_##S##_enc_derand(uint8_t* ct, uint8_t* ss, const uint8_t* pk,           \
                                          const uint8_t* rm_coins) {                             \
    medmesh::ntru::Table(medmesh::ntru::IDX).enc_derand(ct, ss, pk, rm_coins);                   \
    return 0;                                                                                    \
  }

// Batch key generation (batch_impl.h).
#define MEDMESH_NTRU_DEFINE_BATCH(S, IDX)                                                        \
  extern "C" int medmesh_##S##_keypair_batch(size_t n, uint8_t* pks, uint8_t* sks,               \
                                             const uint8_t* fg_coins, const uint8_t* prf_keys) { \
    medmesh::ntru::Table(medmesh::ntru::IDX)                                                     \
        .keypair_batch_derand(n, pks, sks, fg_coins, prf_keys);                                  \
    return 0;                                                                                    \
  }
MEDMESH_NTRU_DEFINE_BATCH(ntruhps2048509, kIdxHps2048509)
MEDMESH_NTRU_DEFINE_BATCH(ntruhps2048677, kIdxHps2048677)
MEDMESH_NTRU_DEFINE_BATCH(ntruhps4096821, kIdxHps4096821)
MEDMESH_NTRU_DEFINE_BATCH(ntruhrss701, kIdxHrss701)

MEDMESH_NTRU_DEFINE(ntruhps2048509, NTRUHPS2048509, Hps2048509, kIdxHps2048509)
MEDMESH_NTRU_DEFINE(ntruhps2048677, NTRUHPS2048677, Hps2048677, kIdxHps2048677)
MEDMESH_NTRU_DEFINE(ntruhps4096821, NTRUHPS4096821, Hps4096821, kIdxHps4096821)
MEDMESH_NTRU_DEFINE(ntruhrss701, NTRUHRSS701, Hrss701, kIdxHrss701)

extern "C" int medmesh_ntru_cpu_has_avx2(void) { return medmesh::ntru::CpuHasAvx2() ? 1 : 0; }

extern "C" int medmesh_ntru_force_impl(medmesh_ntru_impl impl) {
  using namespace medmesh::ntru;
  switch (impl) {
    case MEDMESH_NTRU_IMPL_AUTO: g_table.store(AutoTable(), std::memory_order_release); return 0;
    case MEDMESH_NTRU_IMPL_PORTABLE:
      g_table.store(PortableTable(), std::memory_order_release);
      return 0;
    case MEDMESH_NTRU_IMPL_AVX2:
#if defined(MEDMESH_NTRU_HAVE_AVX2)
      if (!CpuHasAvx2()) return -1;
      g_table.store(Avx2Table(), std::memory_order_release);
      return 0;
#else
      return -1;
#endif
  }
  return -1;
}

extern "C" medmesh_ntru_impl medmesh_ntru_active_impl(void) {
  using namespace medmesh::ntru;
  const KemFunctions* t = &Table(0);
  return t == PortableTable() ? MEDMESH_NTRU_IMPL_PORTABLE : MEDMESH_NTRU_IMPL_AVX2;
}

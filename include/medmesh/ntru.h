/*
 * MedMesh NTRU KEM: the NIST round-3 NTRU key-encapsulation mechanism, all four parameter
 * sets, byte-exact against the official known-answer tests.
 *
 * C API for device firmware and outside benchmarks. Compiles as C99 and as C++. Link the
 * static library `libmedmesh_ntru.a` and OpenSSL's libcrypto (SHA3-256) - nothing else.
 *
 * All functions return 0 on success and -1 only if the OS random source fails (the *_derand
 * functions and *_dec cannot fail). Decapsulation never reports an error for a malformed or
 * tampered ciphertext: it returns 0 and the implicit-rejection key (SHA3-256 of the secret
 * PRF key and the ciphertext), which is unrelated to any real key (the FO transform).
 *
 * Secret inputs (coins, PRF key, secret key) are handled in constant time: no branch, memory
 * index, division or modulo depends on them. Secret intermediates are wiped before return.
 * All functions are thread-safe and reentrant. Buffers must not overlap.
 *
 * The implementation is chosen once at run time: an AVX2 build on CPUs that have AVX2, BMI2
 * and PCLMULQDQ, the portable build elsewhere. medmesh_ntru_force_impl() overrides it (for tests).
 *
 * Sizes: see the constants below. S is the set name in lower case, U in upper case.
 *   *_SEEDBYTES is the length of fg_coins (keypair) and rm_coins (enc).
 */
#ifndef MEDMESH_NTRU_H_
#define MEDMESH_NTRU_H_

#include <stddef.h>  // NOLINT(modernize-deprecated-headers): a C header
#include <stdint.h>  // NOLINT(modernize-deprecated-headers): a C header

#ifdef __cplusplus
extern "C" {
#endif

#define MEDMESH_NTRUHPS2048509_PUBLICKEYBYTES 699
#define MEDMESH_NTRUHPS2048509_SECRETKEYBYTES 935
#define MEDMESH_NTRUHPS2048509_CIPHERTEXTBYTES 699
#define MEDMESH_NTRUHPS2048509_BYTES 32
#define MEDMESH_NTRUHPS2048509_SEEDBYTES 2413

#define MEDMESH_NTRUHPS2048677_PUBLICKEYBYTES 930
#define MEDMESH_NTRUHPS2048677_SECRETKEYBYTES 1234
#define MEDMESH_NTRUHPS2048677_CIPHERTEXTBYTES 930
#define MEDMESH_NTRUHPS2048677_BYTES 32
#define MEDMESH_NTRUHPS2048677_SEEDBYTES 3211

#define MEDMESH_NTRUHPS4096821_PUBLICKEYBYTES 1230
#define MEDMESH_NTRUHPS4096821_SECRETKEYBYTES 1590
#define MEDMESH_NTRUHPS4096821_CIPHERTEXTBYTES 1230
#define MEDMESH_NTRUHPS4096821_BYTES 32
#define MEDMESH_NTRUHPS4096821_SEEDBYTES 3895

#define MEDMESH_NTRUHRSS701_PUBLICKEYBYTES 1138
#define MEDMESH_NTRUHRSS701_SECRETKEYBYTES 1450
#define MEDMESH_NTRUHRSS701_CIPHERTEXTBYTES 1138
#define MEDMESH_NTRUHRSS701_BYTES 32
#define MEDMESH_NTRUHRSS701_SEEDBYTES 1400

/* The PRF key for implicit rejection, stored at the end of the secret key. */
#define MEDMESH_NTRU_PRFKEYBYTES 32

#define MEDMESH_NTRU_DECLARE(S)                                                       \
  int medmesh_##S##_keypair(uint8_t *pk, uint8_t *sk);                                \
  int medmesh_##S##_enc(uint8_t *ct, uint8_t *ss, const uint8_t *pk);                 \
  int medmesh_##S##_dec(uint8_t *ss, const uint8_t *ct, const uint8_t *sk);           \
  int medmesh_##S##_keypair_derand(uint8_t *pk, uint8_t *sk, const uint8_t *fg_coins, \
                                   const uint8_t *prf_key);                           \
  int medmesh_##S##_enc_derand(uint8_t *ct, uint8_t *ss, const uint8_t *pk,           \
                               const uint8_t *rm_coins);

MEDMESH_NTRU_DECLARE(ntruhps2048509)
MEDMESH_NTRU_DECLARE(ntruhps2048677)
MEDMESH_NTRU_DECLARE(ntruhps4096821)
MEDMESH_NTRU_DECLARE(ntruhrss701)

#undef MEDMESH_NTRU_DECLARE

/*
 * Batch key generation: n key pairs at once, byte for byte the same as n calls
 *   medmesh_S_keypair_derand(pks + i*PK, sks + i*SK, fg_coins + i*SEED, prf_keys + i*32)
 * (PK, SK, SEED: the set's PUBLICKEYBYTES, SECRETKEYBYTES, SEEDBYTES), but faster per key:
 * the keys share their inversions mod 3 and mod q (Montgomery's trick over chunks of up to 64
 * keys), which leaves mostly multiplications per key. Constant time in the secrets, as the
 * single call. pks and sks are written as scratch before the final keys; they must not overlap
 * each other or the coins. n = 0 does nothing. Always returns 0 (nothing can fail).
 */
#define MEDMESH_NTRU_DECLARE_BATCH(S)                                                            \
  int medmesh_##S##_keypair_batch(size_t n, uint8_t *pks, uint8_t *sks, const uint8_t *fg_coins, \
                                  const uint8_t *prf_keys);

MEDMESH_NTRU_DECLARE_BATCH(ntruhps2048509)
MEDMESH_NTRU_DECLARE_BATCH(ntruhps2048677)
MEDMESH_NTRU_DECLARE_BATCH(ntruhps4096821)
MEDMESH_NTRU_DECLARE_BATCH(ntruhrss701)

#undef MEDMESH_NTRU_DECLARE_BATCH

/* Implementation selection (for tests and benchmarks). */
typedef enum {                    // NOLINT(modernize-use-using): a C header
  MEDMESH_NTRU_IMPL_AUTO = 0,     /* AVX2 when the CPU has it, portable otherwise */
  MEDMESH_NTRU_IMPL_PORTABLE = 1, /* plain C++, any x86-64 or other CPU */
  MEDMESH_NTRU_IMPL_AVX2 = 2      /* AVX2 + BMI2 + PCLMULQDQ */
} medmesh_ntru_impl;

/* Forces an implementation for all later calls (process-wide). Returns -1 and changes
 * nothing if the CPU cannot run the requested one. Not meant to race with KEM calls. */
int medmesh_ntru_force_impl(medmesh_ntru_impl impl);
/* The implementation in use now: MEDMESH_NTRU_IMPL_PORTABLE or MEDMESH_NTRU_IMPL_AVX2. */
medmesh_ntru_impl medmesh_ntru_active_impl(void);
/* 1 if this CPU can run the AVX2 implementation. */
int medmesh_ntru_cpu_has_avx2(void);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* MEDMESH_NTRU_H_ */

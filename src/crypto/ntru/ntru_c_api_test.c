/*
 * The C API of the NTRU KEM, used from plain C: include/medmesh/ntru.h must compile as C99 and
 * C11, and the static library must link with libcrypto alone (this program is linked by the C
 * compiler, without the C++ runtime). Checks the constants and a round trip for every set and
 * every implementation the CPU can run. Exit status 0 on success, 1 on any failure.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "medmesh/ntru.h"

static int failures = 0;

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                              \
    }                                                                          \
  } while (0)

/* Sizes from the NTRU round-3 specification (section 1.6) and the official KAT files. */
static void check_constants(void) {
  CHECK(MEDMESH_NTRUHPS2048509_PUBLICKEYBYTES == 699);
  CHECK(MEDMESH_NTRUHPS2048509_SECRETKEYBYTES == 935);
  CHECK(MEDMESH_NTRUHPS2048509_CIPHERTEXTBYTES == 699);
  CHECK(MEDMESH_NTRUHPS2048509_BYTES == 32);
  CHECK(MEDMESH_NTRUHPS2048509_SEEDBYTES == 2413);

  CHECK(MEDMESH_NTRUHPS2048677_PUBLICKEYBYTES == 930);
  CHECK(MEDMESH_NTRUHPS2048677_SECRETKEYBYTES == 1234);
  CHECK(MEDMESH_NTRUHPS2048677_CIPHERTEXTBYTES == 930);
  CHECK(MEDMESH_NTRUHPS2048677_BYTES == 32);
  CHECK(MEDMESH_NTRUHPS2048677_SEEDBYTES == 3211);

  CHECK(MEDMESH_NTRUHPS4096821_PUBLICKEYBYTES == 1230);
  CHECK(MEDMESH_NTRUHPS4096821_SECRETKEYBYTES == 1590);
  CHECK(MEDMESH_NTRUHPS4096821_CIPHERTEXTBYTES == 1230);
  CHECK(MEDMESH_NTRUHPS4096821_BYTES == 32);
  CHECK(MEDMESH_NTRUHPS4096821_SEEDBYTES == 3895);

  CHECK(MEDMESH_NTRUHRSS701_PUBLICKEYBYTES == 1138);
  CHECK(MEDMESH_NTRUHRSS701_SECRETKEYBYTES == 1450);
  CHECK(MEDMESH_NTRUHRSS701_CIPHERTEXTBYTES == 1138);
  CHECK(MEDMESH_NTRUHRSS701_BYTES == 32);
  CHECK(MEDMESH_NTRUHRSS701_SEEDBYTES == 1400);

  CHECK(MEDMESH_NTRU_PRFKEYBYTES == 32);
  CHECK(MEDMESH_NTRU_IMPL_AUTO == 0);
  CHECK(MEDMESH_NTRU_IMPL_PORTABLE == 1);
  CHECK(MEDMESH_NTRU_IMPL_AVX2 == 2);
}

static void fill(uint8_t *p, size_t n, uint32_t seed) {
  size_t i;
  uint32_t x = seed | 1u;
  for (i = 0; i < n; ++i) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    p[i] = (uint8_t)(x >> 24);
  }
}

/*
 * For set S (upper case U): randomized round trip, derandomized determinism, the PRF key at the
 * end of sk, and implicit rejection of a tampered ciphertext (dec still returns 0).
 */
#define ROUND_TRIP(S, U)                                                                  \
  static void round_trip_##S(void) {                                                      \
    static uint8_t pk[MEDMESH_##U##_PUBLICKEYBYTES], sk[MEDMESH_##U##_SECRETKEYBYTES];    \
    static uint8_t pk2[MEDMESH_##U##_PUBLICKEYBYTES], sk2[MEDMESH_##U##_SECRETKEYBYTES];  \
    static uint8_t ct[MEDMESH_##U##_CIPHERTEXTBYTES], ct2[MEDMESH_##U##_CIPHERTEXTBYTES]; \
    static uint8_t fg[MEDMESH_##U##_SEEDBYTES], rm[MEDMESH_##U##_SEEDBYTES];              \
    static uint8_t prf[MEDMESH_NTRU_PRFKEYBYTES];                                         \
    uint8_t ss[MEDMESH_##U##_BYTES], ss2[MEDMESH_##U##_BYTES], ss3[MEDMESH_##U##_BYTES];  \
                                                                                          \
    CHECK(medmesh_##S##_keypair(pk, sk) == 0);                                            \
    CHECK(medmesh_##S##_enc(ct, ss, pk) == 0);                                            \
    CHECK(medmesh_##S##_dec(ss2, ct, sk) == 0);                                           \
    CHECK(memcmp(ss, ss2, sizeof ss) == 0);                                               \
                                                                                          \
    fill(fg, sizeof fg, 1);                                                               \
    fill(prf, sizeof prf, 2);                                                             \
    fill(rm, sizeof rm, 3);                                                               \
    CHECK(medmesh_##S##_keypair_derand(pk, sk, fg, prf) == 0);                            \
    CHECK(medmesh_##S##_keypair_derand(pk2, sk2, fg, prf) == 0);                          \
    CHECK(memcmp(pk, pk2, sizeof pk) == 0);                                               \
    CHECK(memcmp(sk, sk2, sizeof sk) == 0);                                               \
    CHECK(memcmp(sk + sizeof sk - MEDMESH_NTRU_PRFKEYBYTES, prf, sizeof prf) == 0);       \
    CHECK(medmesh_##S##_enc_derand(ct, ss, pk, rm) == 0);                                 \
    CHECK(medmesh_##S##_enc_derand(ct2, ss2, pk, rm) == 0);                               \
    CHECK(memcmp(ct, ct2, sizeof ct) == 0);                                               \
    CHECK(memcmp(ss, ss2, sizeof ss) == 0);                                               \
    CHECK(medmesh_##S##_dec(ss3, ct, sk) == 0);                                           \
    CHECK(memcmp(ss, ss3, sizeof ss) == 0);                                               \
                                                                                          \
    ct[0] ^= 1;                                                                           \
    CHECK(medmesh_##S##_dec(ss3, ct, sk) == 0);                                           \
    CHECK(memcmp(ss, ss3, sizeof ss) != 0);                                               \
  }

ROUND_TRIP(ntruhps2048509, NTRUHPS2048509)
ROUND_TRIP(ntruhps2048677, NTRUHPS2048677)
ROUND_TRIP(ntruhps4096821, NTRUHPS4096821)
ROUND_TRIP(ntruhrss701, NTRUHRSS701)

/*
 * Batch key generation for set S: three keys from one call equal three keypair_derand calls
 * with the same coins, and each works (enc, then dec with its own secret key).
 */
#define BATCH_KEYS 3
#define BATCH(S, U)                                                                    \
  static void batch_##S(void) {                                                        \
    static uint8_t pks[BATCH_KEYS][MEDMESH_##U##_PUBLICKEYBYTES];                      \
    static uint8_t sks[BATCH_KEYS][MEDMESH_##U##_SECRETKEYBYTES];                      \
    static uint8_t fg[BATCH_KEYS][MEDMESH_##U##_SEEDBYTES];                            \
    static uint8_t prf[BATCH_KEYS][MEDMESH_NTRU_PRFKEYBYTES];                          \
    static uint8_t pk[MEDMESH_##U##_PUBLICKEYBYTES], sk[MEDMESH_##U##_SECRETKEYBYTES]; \
    static uint8_t ct[MEDMESH_##U##_CIPHERTEXTBYTES];                                  \
    uint8_t ss[MEDMESH_##U##_BYTES], ss2[MEDMESH_##U##_BYTES];                         \
    size_t i;                                                                          \
                                                                                       \
    fill(&fg[0][0], sizeof fg, 4);                                                     \
    fill(&prf[0][0], sizeof prf, 5);                                                   \
    CHECK(medmesh_##S##_keypair_batch(BATCH_KEYS, &pks[0][0], &sks[0][0], &fg[0][0],   \
                                      &prf[0][0]) == 0);                               \
    for (i = 0; i < BATCH_KEYS; ++i) {                                                 \
      CHECK(medmesh_##S##_keypair_derand(pk, sk, fg[i], prf[i]) == 0);                 \
      CHECK(memcmp(pk, pks[i], sizeof pk) == 0);                                       \
      CHECK(memcmp(sk, sks[i], sizeof sk) == 0);                                       \
      CHECK(medmesh_##S##_enc(ct, ss, pks[i]) == 0);                                   \
      CHECK(medmesh_##S##_dec(ss2, ct, sks[i]) == 0);                                  \
      CHECK(memcmp(ss, ss2, sizeof ss) == 0);                                          \
    }                                                                                  \
  }

BATCH(ntruhps2048509, NTRUHPS2048509)
BATCH(ntruhps2048677, NTRUHPS2048677)
BATCH(ntruhps4096821, NTRUHPS4096821)
BATCH(ntruhrss701, NTRUHRSS701)

static void round_trip_all(const char *impl_name) {
  printf("ntru_c_api_test: %s\n", impl_name);
  round_trip_ntruhps2048509();
  round_trip_ntruhps2048677();
  round_trip_ntruhps4096821();
  round_trip_ntruhrss701();
  batch_ntruhps2048509();
  batch_ntruhps2048677();
  batch_ntruhps4096821();
  batch_ntruhrss701();
}

int main(void) {
  medmesh_ntru_impl active;

  check_constants();

  active = medmesh_ntru_active_impl();
  CHECK(active == MEDMESH_NTRU_IMPL_PORTABLE || active == MEDMESH_NTRU_IMPL_AVX2);
  round_trip_all("auto");

  CHECK(medmesh_ntru_force_impl(MEDMESH_NTRU_IMPL_PORTABLE) == 0);
  CHECK(medmesh_ntru_active_impl() == MEDMESH_NTRU_IMPL_PORTABLE);
  round_trip_all("portable");

  if (medmesh_ntru_cpu_has_avx2()) {
    CHECK(medmesh_ntru_force_impl(MEDMESH_NTRU_IMPL_AVX2) == 0);
    CHECK(medmesh_ntru_active_impl() == MEDMESH_NTRU_IMPL_AVX2);
    round_trip_all("avx2");
  } else {
    /* Forcing an implementation the CPU cannot run changes nothing. */
    CHECK(medmesh_ntru_force_impl(MEDMESH_NTRU_IMPL_AVX2) == -1);
    CHECK(medmesh_ntru_active_impl() == MEDMESH_NTRU_IMPL_PORTABLE);
    printf("ntru_c_api_test: avx2 skipped (this CPU has no AVX2/BMI2)\n");
  }

  CHECK(medmesh_ntru_force_impl(MEDMESH_NTRU_IMPL_AUTO) == 0);
  CHECK(medmesh_ntru_active_impl() == active);

  if (failures != 0) {
    fprintf(stderr, "ntru_c_api_test: %d check(s) failed\n", failures);
    return 1;
  }
  printf("ntru_c_api_test: all checks passed\n");
  return 0;
}

// Constant-time check of the NTRU KEM under valgrind memcheck (the TIMECOP approach): the
// secret inputs are marked undefined, so memcheck reports every branch and every memory index
// that depends on them ("Conditional jump or move depends on uninitialised value(s)", "Use of
// uninitialised value of size 8"). Any memcheck report fails the ctest entry, which runs
//   valgrind --tool=memcheck --error-exitcode=1 --track-origins=yes ntru_ct_check
// Public outputs (pk, ct) and values a caller may compare (ss) are marked defined again before
// use: declassifying them is legitimate, using them in the KEM before that is not.
//
// One round per parameter set and implementation. Outside valgrind the client requests do
// nothing, so the program refuses to run there (exit 2) rather than pass vacuously.
#include <valgrind/memcheck.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "crypto/ntru/ntru_kem_table.h"
#include "medmesh/ntru.h"

namespace medmesh::crypto::testing {
namespace {

using Buffer = std::vector<std::uint8_t>;

void Fill(Buffer& b, std::uint32_t seed) {
  // Arbitrary but fixed bytes (xorshift32); secrecy comes from the memcheck marking.
  std::uint32_t x = seed | 1;
  for (auto& byte : b) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    byte = static_cast<std::uint8_t>(x >> 24);
  }
}

void Secret(Buffer& b) { (void)VALGRIND_MAKE_MEM_UNDEFINED(b.data(), b.size()); }
void Public(Buffer& b) { (void)VALGRIND_MAKE_MEM_DEFINED(b.data(), b.size()); }

// Returns the number of functional failures (memcheck findings are counted by valgrind).
int CheckOne(const NtruKemSet& set, const NtruImpl& impl, std::uint32_t seed) {
  const std::string label = std::string(set.name) + "/" + std::string(impl.name);
  std::printf("ntru_ct_check: %s\n", label.c_str());
  std::fflush(stdout);
  int failures = 0;
  auto expect = [&](bool ok, const char* what) {
    if (!ok) {
      std::fprintf(stderr, "ntru_ct_check: %s: %s\n", label.c_str(), what);
      ++failures;
    }
  };

  Buffer fg(set.seed_bytes);
  Buffer prf(kNtruPrfKeyBytes);
  Buffer rm(set.seed_bytes);
  Buffer pk(set.public_key_bytes);
  Buffer sk(set.secret_key_bytes);
  Buffer ct(set.ciphertext_bytes);
  Buffer ss(set.shared_secret_bytes);
  Buffer ss_dec(set.shared_secret_bytes);
  Buffer ss_bad(set.shared_secret_bytes);
  Fill(fg, seed);
  Fill(prf, seed + 1);
  Fill(rm, seed + 2);

  // Key generation: the coins for f, g and the PRF key are secret.
  Secret(fg);
  Secret(prf);
  const int rc_keypair = set.keypair_derand(pk.data(), sk.data(), fg.data(), prf.data());
  Public(pk);  // the public key may be published (and branched on) from here on

  // Encapsulation: the coins for r, m are secret; the ciphertext is public.
  Secret(rm);
  const int rc_enc = set.enc_derand(ct.data(), ss.data(), pk.data(), rm.data());
  Public(ct);

  // Decapsulation of a valid ciphertext: the whole secret key is secret.
  Secret(sk);
  const int rc_dec = set.dec(ss_dec.data(), ct.data(), sk.data());

  // Decapsulation of a tampered ciphertext (the implicit-rejection path).
  Buffer bad = ct;
  bad[bad.size() / 3] ^= 0x04;
  Secret(sk);
  const int rc_bad = set.dec(ss_bad.data(), bad.data(), sk.data());

  // Batch key generation (Montgomery's trick over the keys): two keys, all coins secret.
  constexpr std::size_t kBatch = 2;
  Buffer fg_batch(kBatch * set.seed_bytes);
  Buffer prf_batch(kBatch * kNtruPrfKeyBytes);
  Buffer pks(kBatch * set.public_key_bytes);
  Buffer sks(kBatch * set.secret_key_bytes);
  Fill(fg_batch, seed + 3);
  Fill(prf_batch, seed + 4);
  Secret(fg_batch);
  Secret(prf_batch);
  const int rc_batch =
      set.keypair_batch(kBatch, pks.data(), sks.data(), fg_batch.data(), prf_batch.data());
  // Compare the first batch key with a single call on the same coins (declassified after).
  Buffer pk1(set.public_key_bytes);
  Buffer sk1(set.secret_key_bytes);
  const int rc_single =
      set.keypair_derand(pk1.data(), sk1.data(), fg_batch.data(), prf_batch.data());
  Public(pks);
  Public(sks);
  Public(pk1);
  Public(sk1);
  expect(rc_batch == 0 && rc_single == 0, "a batch or single keypair call returned non-zero");
  expect(std::memcmp(pk1.data(), pks.data(), pk1.size()) == 0 &&
             std::memcmp(sk1.data(), sks.data(), sk1.size()) == 0,
         "batch key 0 differs from the single call");

  // Declassify only now, to compare.
  Public(ss);
  Public(ss_dec);
  Public(ss_bad);
  expect(rc_keypair == 0 && rc_enc == 0 && rc_dec == 0 && rc_bad == 0, "a call returned non-zero");
  expect(ss_dec == ss, "dec(valid ct) differs from the encapsulated secret");
  expect(ss_bad != ss, "dec(tampered ct) returned the real shared secret");
  return failures;
}

int Run() {
  if (!RUNNING_ON_VALGRIND) {
    std::fprintf(stderr,
                 "ntru_ct_check: must run under valgrind (valgrind --tool=memcheck "
                 "--error-exitcode=1 --track-origins=yes %s); without it nothing is checked\n",
                 "ntru_ct_check");
    return 2;
  }
  int failures = 0;
  std::uint32_t seed = 0x43540001;
  for (const NtruImpl& impl : kNtruImpls) {
    if (!NtruImplAvailable(impl.impl)) {
      std::printf("ntru_ct_check: SKIP %s: this CPU (as valgrind reports it) has no AVX2/BMI2\n",
                  std::string(impl.name).c_str());
      continue;
    }
    if (medmesh_ntru_force_impl(impl.impl) != 0) {
      std::fprintf(stderr, "ntru_ct_check: medmesh_ntru_force_impl(%s) failed\n",
                   std::string(impl.name).c_str());
      ++failures;
      continue;
    }
    for (const NtruKemSet& set : kNtruKemSets) failures += CheckOne(set, impl, seed++);
  }
  (void)medmesh_ntru_force_impl(MEDMESH_NTRU_IMPL_AUTO);
  const auto errors = static_cast<unsigned>(VALGRIND_COUNT_ERRORS);
  std::printf("ntru_ct_check: %d functional failure(s), %u memcheck error(s)\n", failures, errors);
  return failures == 0 && errors == 0 ? 0 : 1;
}

}  // namespace
}  // namespace medmesh::crypto::testing

int main() { return medmesh::crypto::testing::Run(); }

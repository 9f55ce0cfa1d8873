// Runs one NTRU operation a fixed number of times, for instruction counts under callgrind:
//
//   valgrind --tool=callgrind --callgrind-out-file=/dev/null
//     --toggle-collect='medmesh_ntruhps2048677_enc_derand'
//     build/dev/bench/ntru_ops ntruhps2048677 avx2 enc 10
//
// prints nothing itself; callgrind's "Collected" total divided by the count is the number of
// instructions per call (tools/ntru_callgrind.sh does this for every set, build and operation).
// "batch" makes <count> keys (at most 4096) with one medmesh_<set>_keypair_batch call, so the
// total divided by the count is the instructions per key (tools/ntru_batch_callgrind.sh compares
// it with "keypair", one call per key).
// The inputs are fixed bytes: the code is constant time, so the count does not depend on them.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "crypto/ntru/ntru_kem_table.h"
#include "medmesh/ntru.h"

int main(int argc, char** argv) {
  using medmesh::crypto::testing::kNtruImpls;
  using medmesh::crypto::testing::kNtruKemSets;
  using medmesh::crypto::testing::kNtruPrfKeyBytes;
  if (argc != 5) {
    std::fprintf(stderr, "usage: ntru_ops <set> <portable|avx2> <keypair|enc|dec|batch> <count>\n");
    return 2;
  }
  const std::string_view set_name = argv[1];
  const std::string_view impl_name = argv[2];
  const std::string_view op = argv[3];
  const int count = std::atoi(argv[4]);
  const medmesh::crypto::testing::NtruKemSet* set = nullptr;
  for (const auto& s : kNtruKemSets) {
    if (s.name == set_name) set = &s;
  }
  bool impl_ok = false;
  for (const auto& impl : kNtruImpls) {
    if (impl.name == impl_name) impl_ok = medmesh_ntru_force_impl(impl.impl) == 0;
  }
  const bool known_op = op == "keypair" || op == "enc" || op == "dec" || op == "batch";
  if (set == nullptr || !impl_ok || count <= 0 || count > 4096 || !known_op) {
    std::fprintf(stderr, "ntru_ops: unknown set, unavailable implementation, or bad op/count\n");
    return 2;
  }
  std::vector<std::uint8_t> coins(set->seed_bytes);
  for (std::size_t i = 0; i < coins.size(); ++i) coins[i] = static_cast<std::uint8_t>(i * 131 + 7);
  std::vector<std::uint8_t> prf(kNtruPrfKeyBytes, 0x42);
  std::vector<std::uint8_t> pk(set->public_key_bytes);
  std::vector<std::uint8_t> sk(set->secret_key_bytes);
  std::vector<std::uint8_t> ct(set->ciphertext_bytes);
  std::vector<std::uint8_t> ss(set->shared_secret_bytes);
  std::vector<std::uint8_t> ss2(set->shared_secret_bytes);
  if (op == "batch") {
    const auto n = static_cast<std::size_t>(count);
    std::vector<std::uint8_t> batch_coins(n * set->seed_bytes);
    for (std::size_t i = 0; i < batch_coins.size(); ++i) {
      batch_coins[i] = static_cast<std::uint8_t>(i * 131 + 7 + i / 1000);
    }
    std::vector<std::uint8_t> prfs(n * kNtruPrfKeyBytes, 0x42);
    std::vector<std::uint8_t> pks(n * set->public_key_bytes);
    std::vector<std::uint8_t> sks(n * set->secret_key_bytes);
    set->keypair_batch(n, pks.data(), sks.data(), batch_coins.data(), prfs.data());
    return 0;
  }
  const int reps_keypair = op == "keypair" ? count : 1;
  for (int i = 0; i < reps_keypair; ++i)
    set->keypair_derand(pk.data(), sk.data(), coins.data(), prf.data());
  const int reps_enc = op == "enc" ? count : 1;
  for (int i = 0; i < reps_enc; ++i) set->enc_derand(ct.data(), ss.data(), pk.data(), coins.data());
  const int reps_dec = op == "dec" ? count : 1;
  for (int i = 0; i < reps_dec; ++i) set->dec(ss2.data(), ct.data(), sk.data());
  if (ss != ss2) {
    std::fprintf(stderr, "ntru_ops: round trip failed\n");
    return 1;
  }
  return 0;
}

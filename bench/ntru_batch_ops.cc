// Batch against single key generation, for instruction counts under callgrind:
//
//   valgrind --tool=callgrind --callgrind-out-file=/dev/null
//     --toggle-collect='medmesh_ntruhps2048677_keypair_batch'
//     build/release/bench/ntru_batch_ops ntruhps2048677 avx2 batch 64
//
// makes <count> keys with one medmesh_<set>_keypair_batch call ("batch") or <count>
// keypair_derand calls ("single"); callgrind's "Collected" total divided by the count is the
// number of instructions per key (tools/ntru_batch_callgrind.sh does this for every set and
// build). The coins are fixed bytes: the code is constant time.
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
    std::fprintf(stderr, "usage: ntru_batch_ops <set> <portable|avx2> <batch|single> <count>\n");
    return 2;
  }
  const std::string_view set_name = argv[1];
  const std::string_view impl_name = argv[2];
  const std::string_view mode = argv[3];
  const long count = std::atol(argv[4]);
  const medmesh::crypto::testing::NtruKemSet* set = nullptr;
  for (const auto& s : kNtruKemSets) {
    if (s.name == set_name) set = &s;
  }
  bool impl_ok = false;
  for (const auto& impl : kNtruImpls) {
    if (impl.name == impl_name) impl_ok = medmesh_ntru_force_impl(impl.impl) == 0;
  }
  if (set == nullptr || !impl_ok || count <= 0 || count > 4096 ||
      (mode != "batch" && mode != "single")) {
    std::fprintf(stderr,
                 "ntru_batch_ops: unknown set, unavailable implementation, bad mode/count\n");
    return 2;
  }
  const auto n = static_cast<std::size_t>(count);
  std::vector<std::uint8_t> coins(n * set->seed_bytes);
  for (std::size_t i = 0; i < coins.size(); ++i) {
    coins[i] = static_cast<std::uint8_t>(i * 131 + 7 + i / 1000);
  }
  std::vector<std::uint8_t> prf(n * kNtruPrfKeyBytes, 0x42);
  std::vector<std::uint8_t> pks(n * set->public_key_bytes);
  std::vector<std::uint8_t> sks(n * set->secret_key_bytes);
  if (mode == "batch") {
    set->keypair_batch(n, pks.data(), sks.data(), coins.data(), prf.data());
  } else {
    for (std::size_t i = 0; i < n; ++i) {
      set->keypair_derand(pks.data() + i * set->public_key_bytes,
                          sks.data() + i * set->secret_key_bytes,
                          coins.data() + i * set->seed_bytes, prf.data() + i * kNtruPrfKeyBytes);
    }
  }
  return 0;
}

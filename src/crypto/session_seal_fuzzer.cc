// Fuzzes the session batch parser and opener. An input is a sequence of records
// (u32 little-endian length, batch bytes) opened in order by one fresh SessionOpener, so
// mutations reach data batches, the replay window and session bookkeeping. The key is the one
// the seed corpus (fuzz_corpus/session_seal, written by session_seal_test.cc) was sealed to.
#include <cstddef>
#include <cstdint>

#include "crypto/session_seal.h"
#include "testing/fake_clock.h"
#include "testing/fake_random.h"

namespace {

constexpr std::uint64_t kFuzzKeySeed = 0x5e55;  // must match session_seal_test.cc

const medmesh::crypto::HybridPrivateKey& Key() {
  static const medmesh::crypto::HybridPrivateKey kKey = [] {
    medmesh::testing::DeterministicRandom random(kFuzzKeySeed);
    return medmesh::crypto::HybridPrivateKey::Generate(random);
  }();
  return kKey;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  medmesh::testing::FakeClock clock;
  medmesh::crypto::SessionOpener opener(Key().Clone(), clock, {.max_sessions = 4});
  medmesh::ByteReader reader(medmesh::ByteView(data, size));
  while (reader.remaining() > 0) {
    auto length = reader.ReadU32Le();
    if (!length) break;
    auto batch = reader.ReadBytes(*length);
    if (!batch) break;
    (void)medmesh::crypto::ParseSessionBatchHeader(*batch);
    auto opened = opener.OpenBatch(*batch, medmesh::AsBytes("medmesh fuzz"));
    // The same batch can never be accepted twice.
    if (opened && opener.OpenBatch(*batch, medmesh::AsBytes("medmesh fuzz"))) __builtin_trap();
    clock.Advance(std::chrono::seconds(1));
  }
  return 0;
}

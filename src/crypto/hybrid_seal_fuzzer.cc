// Fuzzes the sealed-box header parser and opener. The recipient key is the one the seed corpus
// (fuzz_corpus/hybrid_seal, written by hybrid_seal_test.cc) was sealed to, so valid seeds reach
// the AEAD and mutations of them explore every later check.
#include <cstddef>
#include <cstdint>
#include <memory>

#include "crypto/hybrid_seal.h"
#include "testing/fake_random.h"

namespace {

constexpr std::uint64_t kFuzzKeySeed = 0x5eed;  // must match hybrid_seal_test.cc

const medmesh::crypto::HybridOpener& Opener() {
  static const std::unique_ptr<medmesh::crypto::HybridOpener> kOpener = [] {
    medmesh::testing::DeterministicRandom random(kFuzzKeySeed);
    return medmesh::crypto::NewHybridOpener(medmesh::crypto::HybridPrivateKey::Generate(random));
  }();
  return *kOpener;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const medmesh::ByteView input(data, size);
  auto header = medmesh::crypto::ParseSealedBoxHeader(input);
  auto opened = Opener().Open(input, medmesh::AsBytes("medmesh fuzz"));
  // Anything that opens must also have a well-formed header.
  if (opened && !header) __builtin_trap();
  return 0;
}

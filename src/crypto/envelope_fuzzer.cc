// Fuzzes envelope decryption: the wrapped-key parser and unwrap, and the data ciphertext parser.
// An input is: u8 length of the wrapped key, the wrapped key, then the data ciphertext. The KEK
// is the one the seed corpus (fuzz_corpus/envelope, written by envelope_test.cc) used.
#include <cstddef>
#include <cstdint>

#include "crypto/envelope.h"
#include "testing/fake_random.h"

namespace {

constexpr std::uint64_t kFuzzKekSeed = 0xe4e1;  // must match envelope_test.cc

const medmesh::crypto::KeyEncryptionKey& Kek() {
  static const medmesh::crypto::KeyEncryptionKey kKek = [] {
    medmesh::testing::DeterministicRandom random(kFuzzKekSeed);
    return medmesh::crypto::KeyEncryptionKey::Generate(random);
  }();
  return kKek;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1 || size - 1 < data[0]) return 0;
  const medmesh::ByteView wrapped(data + 1, data[0]);
  const medmesh::ByteView ciphertext(data + 1 + data[0], size - 1 - data[0]);
  (void)medmesh::crypto::WrappedKeyKekId(wrapped);

  const medmesh::crypto::DataKeyContext context{"fuzz-patient", "mi"};
  medmesh::crypto::InMemoryWrappedKeyStore store;
  if (!store.Insert(context, medmesh::Bytes(wrapped.begin(), wrapped.end()))) __builtin_trap();
  medmesh::testing::DeterministicRandom random(1);
  medmesh::crypto::EnvelopeAead envelope(Kek().Clone(), store, random);
  (void)envelope.Decrypt(context, ciphertext, medmesh::AsBytes("medmesh fuzz"));
  return 0;
}

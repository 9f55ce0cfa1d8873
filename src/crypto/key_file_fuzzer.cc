// Fuzzes the key file parser. Seeds: fuzz_corpus/key_file, written by key_file_test.cc.
#include <cstddef>
#include <cstdint>

#include "crypto/key_file.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto parsed = medmesh::crypto::ParseKeyFile(medmesh::ByteView(data, size));
  if (!parsed) return 0;
  // Whatever parses must serialize to a file that parses again.
  const medmesh::SecretBytes again = medmesh::crypto::SerializeKeyFile(*parsed);
  if (!medmesh::crypto::ParseKeyFile(again.reveal())) __builtin_trap();
  return 0;
}

// Fuzzes the certificate parser and verifier against the fixture root key
// (internal/fuzz_fixtures.h, which also wrote the seed corpus via certificate_test.cc). Whatever
// verifies must have parsed, and must have been signed: the fuzzer cannot forge, so an accepted
// input must be byte-identical to one of the fixture certificates.
#include <cstddef>
#include <cstdint>

#include "wire/certificate.h"
#include "wire/internal/fuzz_fixtures.h"

namespace {

const medmesh::crypto::SigningPublicKey& Root() {
  static const medmesh::crypto::SigningPublicKey kRoot =
      medmesh::wire::fuzz::RootKey().public_key();
  return kRoot;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using medmesh::wire::CertificateRole;
  const medmesh::ByteView input(data, size);
  const bool parsed = medmesh::wire::ParseCertificate(input).has_value();
  for (CertificateRole role : {CertificateRole::kRoot, CertificateRole::kCloud,
                               CertificateRole::kCloudlet, CertificateRole::kDevice}) {
    auto verified =
        medmesh::wire::VerifyCertificate(input, Root(), role, medmesh::wire::fuzz::kNowMs);
    if (verified && !parsed) __builtin_trap();
  }
  return 0;
}

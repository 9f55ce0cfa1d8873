// Fuzzes the enrolment request verifier and the enrolment record parser and verifier, against
// the fixture cloudlet certificate (internal/fuzz_fixtures.h).
#include <cstddef>
#include <cstdint>

#include "wire/enrolment.h"
#include "wire/internal/fuzz_fixtures.h"

namespace {

const medmesh::wire::VerifiedCertificate& Cloudlet() {
  static const medmesh::wire::VerifiedCertificate kCert =
      medmesh::wire::fuzz::VerifiedCloudletCertificate();
  return kCert;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const medmesh::ByteView input(data, size);
  (void)medmesh::wire::VerifyEnrolmentRequest(input);
  const bool parsed = medmesh::wire::ParseEnrolment(input).has_value();
  auto verified = medmesh::wire::VerifyEnrolment(input, Cloudlet());
  if (verified && !parsed) __builtin_trap();
  return 0;
}

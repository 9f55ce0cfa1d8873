// Fuzzes the forward envelope: parse and open with the fixture cloud key, cloudlet certificate
// and device enrolment (internal/fuzz_fixtures.h; the seed corpus is written by
// envelope_test.cc). Also fuzzes the evidence decoder and the evidence-and-payload decoder
// (which must re-encode to its input) on the same bytes.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "wire/envelope.h"
#include "wire/internal/fuzz_fixtures.h"

namespace {

const medmesh::crypto::HybridOpener& Cloud() {
  static const std::unique_ptr<medmesh::crypto::HybridOpener> kOpener =
      medmesh::crypto::NewHybridOpener(medmesh::wire::fuzz::CloudKemKey());
  return *kOpener;
}

const medmesh::wire::VerifiedCertificate& Cloudlet() {
  static const medmesh::wire::VerifiedCertificate kCert =
      medmesh::wire::fuzz::VerifiedCloudletCertificate();
  return kCert;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const medmesh::ByteView input(data, size);
  (void)medmesh::wire::DecodeUploadEvidence(input);
  if (auto joined = medmesh::wire::DecodeEvidenceAndPayload(input)) {
    const medmesh::Bytes again =
        medmesh::wire::EncodeEvidenceAndPayload(joined->evidence, joined->payload);
    if (medmesh::ByteView(again).size() != size || !std::equal(again.begin(), again.end(), data)) {
      __builtin_trap();
    }
  }
  auto parsed = medmesh::wire::ParseForward(input);
  if (!parsed) return 0;
  const auto lookup =
      [](const medmesh::wire::UploadHeader&) -> medmesh::Result<medmesh::wire::Enrolment> {
    return medmesh::wire::fuzz::DeviceEnrolment();
  };
  auto opened = medmesh::wire::OpenForward(*parsed, Cloudlet(), Cloud(), lookup);
  if (opened && !medmesh::wire::VerifyUploadEvidence(opened->evidence, opened->payload,
                                                     medmesh::wire::fuzz::DeviceEnrolment())) {
    __builtin_trap();
  }
  return 0;
}

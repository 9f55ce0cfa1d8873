// Fuzzes the upload envelope: parse, verify and open. An input is a sequence of records
// (u32 little-endian length, upload bytes) opened in order by one fresh SessionOpener of the
// fixture cloudlet, checked against the fixture device enrolment (internal/fuzz_fixtures.h;
// the seed corpus is written by envelope_test.cc). An opened payload is decoded as well.
#include <cstddef>
#include <cstdint>

#include "testing/fake_clock.h"
#include "wire/envelope.h"
#include "wire/internal/fuzz_fixtures.h"

namespace {

const medmesh::crypto::HybridPrivateKey& CloudletKem() {
  static const medmesh::crypto::HybridPrivateKey kKey = medmesh::wire::fuzz::CloudletKemKey();
  return kKey;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  medmesh::testing::FakeClock clock;
  medmesh::crypto::SessionOpener opener(CloudletKem().Clone(), clock, {.max_sessions = 4});
  const medmesh::wire::Enrolment device = medmesh::wire::fuzz::DeviceEnrolment();
  medmesh::ByteReader reader(medmesh::ByteView(data, size));
  while (reader.remaining() > 0) {
    auto length = reader.ReadU32Le();
    if (!length) break;
    auto bytes = reader.ReadBytes(*length);
    if (!bytes) break;
    auto parsed = medmesh::wire::ParseUpload(*bytes);
    if (!parsed) continue;
    auto opened = medmesh::wire::OpenUpload(*parsed, device, opener);
    if (!opened) continue;
    // The same upload can never be opened twice.
    if (medmesh::wire::OpenUpload(*parsed, device, opener)) __builtin_trap();
    if (!medmesh::wire::VerifyUploadEvidence(opened->evidence, opened->payload, device)) {
      __builtin_trap();
    }
    if (opened->header.content_type == medmesh::wire::ContentType::kReadingsBatch) {
      (void)medmesh::wire::ReadingBatchFromUpload(opened->header, opened->payload);
    } else {
      (void)medmesh::wire::PatientRecordFromUpload(opened->header, opened->payload);
    }
  }
  return 0;
}

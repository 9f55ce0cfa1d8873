#include "patient_device.h"

#include <chrono>
#include <cmath>
#include <vector>

#include "net/error_mapping.h"
#include "node/test_support.h"
#include "testing/wait.h"
#include "wire/model.h"
#include "wire/record_codec.h"

namespace medmesh::browser_test {
namespace {

constexpr int kMinutes = 120;

Status Upload(const CloudletAccess& cloudlet, const Bytes& upload) {
  MEDMESH_ASSIGN_OR_RETURN(
      const net::Response r,
      cloudlet.client.Post(cloudlet.url + "/api/v1/ingest", std::string(AsStringView(upload)),
                           "application/octet-stream"));
  if (r.status != 200) return net::ErrorFromResponse(r);
  return OkStatus();
}

}  // namespace

Result<PatientDeviceData> EnrolPatientDevice(const CloudletAccess& cloudlet,
                                             const std::string& patient_id,
                                             const std::string& device_id, Random& random,
                                             const Clock& clock) {
  node::testing::TestDevice device(device_id, patient_id, random, clock);
  MEDMESH_RETURN_IF_ERROR(
      device.Enrol(cloudlet.client, cloudlet.url, cloudlet.enrol_token, cloudlet.root));
  const std::uint64_t before = cloudlet.forwarded();

  // A gentle wave between 62 and 82 /min, one reading a minute, the last a minute ago.
  const std::int64_t now_ms = wire::NowMs(clock);
  std::vector<wire::Reading> readings;
  for (int i = 0; i < kMinutes; ++i) {
    const double bpm = 72.0 + 10.0 * std::sin(i / 9.0);
    readings.push_back({now_ms - (kMinutes - i) * 60'000LL, wire::VitalKind::kHeartRate,
                        static_cast<std::int64_t>(std::lround(bpm)) * 1000});
  }
  MEDMESH_ASSIGN_OR_RETURN(const Bytes batch, device.SealReadings(readings));
  MEDMESH_RETURN_IF_ERROR(Upload(cloudlet, batch));

  PatientDeviceData out{device_id, "rec-" + device_id};
  wire::PatientRecord record = device.Record(out.record_id);
  record.symptoms = {kHostileSymptom, "cough"};
  MEDMESH_ASSIGN_OR_RETURN(const Bytes encoded, wire::EncodePatientRecord(record));
  MEDMESH_ASSIGN_OR_RETURN(const Bytes sealed,
                           device.Seal(wire::ContentType::kPatientRecord, encoded));
  MEDMESH_RETURN_IF_ERROR(Upload(cloudlet, sealed));

  if (!testing::WaitUntil([&] { return cloudlet.forwarded() >= before + 2; },
                          std::chrono::minutes(1))) {
    return Unavailable("the device's uploads did not reach the cloud");
  }
  return out;
}

}  // namespace medmesh::browser_test

// A device with data for a patient of the browser tests' deployment (deployment_main.cc, stdin
// command `enrol <patient_id>`): the patient's pages need records and readings at a cloudlet
// before the patient may ask that cloudlet for portal access (docs/workflows.md, activation).
//
// EnrolPatientDevice enrols a new node::testing::TestDevice for `patient_id` at the cloudlet
// (POST /api/v1/enrol with the cloudlet's enrolment token), uploads two hours of heart-rate
// readings (one a minute) and one record whose symptoms are markup (the pages must show them as
// text), then waits until `forwarded()` has grown by the two uploads, i.e. both reached the cloud.
// Errors: the enrolment's or an upload's (as net::ErrorFromResponse gives them), or
// kUnavailable when the uploads are not forwarded within a minute.
// Thread safety: one call at a time (the deployment's stdin loop).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "core/clock.h"
#include "core/random.h"
#include "core/secret_bytes.h"
#include "core/status.h"
#include "crypto/signing.h"
#include "net/http_client.h"

namespace medmesh::browser_test {

// What markup a device could put into a record's symptoms (shown as text by the pages).
inline constexpr char kHostileSymptom[] = "<img src=x onerror=\"window.__pwned=3\">fever";

struct PatientDeviceData {
  std::string device_id;
  std::string record_id;
};

struct CloudletAccess {
  net::HttpClient& client;
  std::string url;
  const SecretBytes& enrol_token;
  const crypto::SigningPublicKey& root;
  std::function<std::uint64_t()> forwarded;  // the cloudlet's count of forwarded uploads
};

[[nodiscard]] Result<PatientDeviceData> EnrolPatientDevice(const CloudletAccess& cloudlet,
                                                           const std::string& patient_id,
                                                           const std::string& device_id,
                                                           Random& random, const Clock& clock);

}  // namespace medmesh::browser_test

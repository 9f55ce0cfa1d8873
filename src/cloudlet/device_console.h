// DeviceConsole: wearable devices that live at the cloudlet, driven from the web UI's device
// console (docs/device_console.md, ADR 0024). A browser cannot run MedMesh's NTRU seal, so a
// "console device" is a device whose key pair the cloudlet keeps and whose work the cloudlet
// does for it, through the SAME code a real wearable and the cloudlet run:
//   - enrolment: a fresh Ed25519 key, a device-signed enrolment request
//     (wire::SignEnrolmentRequest) handed to the cloudlet's own enrolment path (the code behind
//     POST /api/v1/enrol: signature, cloudlet id, freshness, registry, push to the cloud, audit);
//   - uploads: payloads sealed in session mode to the cloudlet's certified KEM key and signed
//     by the device key (wire::SealUpload), then the cloudlet's ingest pipeline
//     (IngestPipeline::Ingest: verify, open, check, store, queue the forward). Nothing skips a
//     check: a console upload is refused exactly as a real device's would be.
// What the console adds is a memory of what its devices sent (every sealed upload, as sent) so
// the page can show it in its encrypted form with its signature re-checked, and a simulated
// live stream of readings (wearable::Simulator) per device.
//
// Routes (AddRoutes; docs/openapi.yaml, docs/authorization.md):
//   GET    /api/v1/console/devices                        operator: all, plus the patients known
//                                                         here; patient: own console devices
//   POST   /api/v1/console/devices                        operator: enrol one for a patient;
//                                                         patient: enrol one for themselves
//   POST   /api/v1/console/devices/{device_id}/reports    operator, own patient: a report (record)
//   GET    /api/v1/console/devices/{device_id}/uploads    operator, own patient: what it sent
//   GET    /api/v1/console/devices/{device_id}/stream     operator, own patient: live readings
//   POST   /api/v1/console/devices/{device_id}/stream     operator, own patient: start the stream
//   DELETE /api/v1/console/devices/{device_id}/stream     operator, own patient: stop it
// "operator" is the cloudlet's operator token or an operator session of THIS cloudlet; a
// patient's session sees and drives only the patient's own console devices; another patient's
// device is answered exactly like an unknown one (404). An operator may enrol a console device
// only for a patient this cloudlet already knows (an enrolled, not withdrawn device of theirs is
// registered here): 404 otherwise. A patient enrols for themselves (the session, verified with
// the cloud's key, names them; a body patient_id naming anyone else is 403), at most
// ConsoleOptions::max_devices_per_patient devices (409 past it): this is how a newly registered
// patient gets data at a cloudlet, and so a portal activation there.
//
// Keys: each device's Ed25519 seed is kept in console.db encrypted under the patient's
// "console" data key (crypto::EnvelopeAead, the KEK's envelope like every other key of the
// cloudlet), with the device id as associated data; shredding the patient destroys it.
// Reports cross the (TLS) session from the browser to the cloudlet in the clear before they are
// sealed (docs/threat_model.md).
//
// Streams: one thread of the console's own ticks every options.stream_interval; each running
// stream simulates its readings up to now, seals them as one readings batch and ingests it.
// Stop() (and the destructor) ends the thread and every stream; streams are not resumed after a
// restart. Nothing else runs in the background.
// Thread safety: thread-safe (one mutex over the devices and streams; ingest may block on its
// group commit while it is held, which serialises console uploads, not the cloudlet's).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "audit/audit_sink.h"
#include "cloudlet/device_registry.h"
#include "cloudlet/ingest.h"
#include "cloudlet/ingest_ledger.h"
#include "core/bytes.h"
#include "core/clock.h"
#include "core/random.h"
#include "core/status.h"
#include "crypto/envelope.h"
#include "crypto/hybrid_seal.h"
#include "net/http_message.h"
#include "net/router.h"
#include "store/forward_queue.h"
#include "store/sqlite_database.h"

namespace medmesh::cloudlet {

// The data key part of console device keys.
inline constexpr std::string_view kConsoleKeyPart = "console";

// Who calls a console route, as the cloudlet's authenticators tell it.
struct ConsoleCaller {
  bool own_operator = false;  // the operator token, or an operator session of this cloudlet
  std::string patient_id;     // a patient's session: the patient; empty otherwise
  std::string account_id;     // for the audit log; empty for the operator token
  std::string role;           // for the audit log: "operator", "patient", "doctor", "admin"
};

struct ConsoleOptions {
  // Photo and symptoms document of a report, decoded: larger is 413 payload_too_large.
  std::size_t max_photo_bytes = std::size_t{1} << 20;
  std::size_t max_document_bytes = std::size_t{1} << 20;
  // Console devices at most (409 past it), and those a patient may enrol for themselves.
  std::size_t max_devices = 1000;
  std::size_t max_devices_per_patient = 8;  // counted over all of the patient's console devices
  // Streams running at once at most (409 past it), and those of one patient's devices a patient
  // may start (an operator may start more).
  std::size_t max_streams = 16;
  std::size_t max_streams_per_patient = 2;
  std::chrono::milliseconds stream_interval{1000};
  // Readings of a stream kept in memory for GET .../stream (the newest).
  std::size_t stream_readings_kept = 300;
};

// The body limit of POST .../reports: base64 of the largest photo and document plus the text.
std::size_t ConsoleReportBodyLimit(const ConsoleOptions& options);

struct ConsoleContext {
  std::string cloudlet_id;
  crypto::HybridPublicKey cloudlet_kem_key;  // from the cloudlet's own certificate
  DeviceRegistry& devices;
  IngestLedger& ledger;
  store::ForwardQueue& queue;
  crypto::EnvelopeAead& envelope;
  IngestPipeline& ingest;
  audit::AuditSink& audit;
  const Clock& clock;
  Random& random;
  // The caller of a request, or the error the cloudlet's authenticators gave (answered with
  // accounts::AuthenticationRefusal).
  std::function<Result<ConsoleCaller>(const net::Request&)> identify;
  // The cloudlet's enrolment path for a device-signed request (wire::SignEnrolmentRequest), on
  // behalf of the caller of `request`: the signed enrolment record, or the refusal as an Error.
  std::function<Result<Bytes>(const net::Request& request, ByteView signed_request)> enrol;
};

class DeviceConsole {
 public:
  // Opens (creating) console.db at `path` and starts the stream thread. `context`'s references
  // must outlive the console.
  static Result<std::unique_ptr<DeviceConsole>> Open(const std::string& path,
                                                     ConsoleContext context,
                                                     ConsoleOptions options = {},
                                                     const store::SqliteOpenOptions& sqlite = {});
  ~DeviceConsole();  // Stop()
  DeviceConsole(const DeviceConsole&) = delete;
  DeviceConsole& operator=(const DeviceConsole&) = delete;

  // Registers the routes above.
  void AddRoutes(net::Router& router);

  // Stops every stream and the stream thread; afterwards starting a stream is refused (503).
  // Idempotent.
  void Stop();

  // Streams running now (tests, metrics).
  std::size_t running_streams() const;
  // Runs one stream tick now (tests; the thread runs them anyway).
  void TickStreamsNow();

 private:
  struct State;
  explicit DeviceConsole(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace medmesh::cloudlet

// The device agent: what a wearable runs between its sensors and a cloudlet.
//
// For one device (DeviceAgent) it:
//   1. keeps its identity in its own folder: an Ed25519 + KEM key file (device.key, 0600),
//      the certificate of the cloudlet it chose and the enrolment record that cloudlet signed;
//   2. connects: fetches every configured cloudlet's certificate, accepts a cloudlet only if the
//      certificate verifies against the pinned root (role cloudlet, now) and names the
//      configured id, picks one with the energy model among the certified and trusted ones
//      (energy.h ChooseCloudlet), and enrols there (POST /api/v1/enrol with the cloudlet's enrol
//      token); the record is verified against the certificate before it is kept. After a restart
//      the kept certificate and record are re-verified and used without the network;
//   3. simulates readings (simulator.h) up to the clock's now, or takes imported ones, batches
//      them by count and age (batcher.h), encodes, seals them in session mode to the cloudlet's
//      certified KEM key (rekey by count and age) and signs them (wire::SealUpload);
//   4. puts every sealed upload in its SQLite outbox (store/outbox.h) BEFORE sending it, sends
//      due uploads in order (POST /api/v1/ingest) and removes one only when the cloudlet
//      answered 200 "stored" or "duplicate". While the cloudlet is unreachable or busy the
//      outbox retries with exponential backoff and jitter; nothing queued is lost across a
//      crash, because the outbox is reopened on restart and a retry reuses the batch id (and the
//      exact bytes) of the first attempt;
//   5. sends the patient record (wire::ContentType::kPatientRecord) once per device, at its
//      first connection.
//
// Sessions and restarts. A session batch can only be opened by a cloudlet that remembers the
// session. When a cloudlet forgot it (it restarted, or the device moved to another cloudlet),
// it answers 401; the agent then starts a new session and re-seals the same payload under the
// same batch id and header (at most AgentOptions::max_reseals times per batch). That is why the
// outbox keeps, beside each sealed upload, its encoded payload (OutboxItem below).
//
// What the cloudlet's answers mean to the agent:
//   200 stored / duplicate   delivered: journal line, removed from the outbox
//   401                      session unknown or signature refused: re-seal (bounded), see above
//   403                      device unknown or withdrawn: back off, enrol again
//   409                      the cloudlet holds this batch id with other bytes (a re-sealed
//                            copy of a batch it already stored): delivered
//   429, 5xx, no answer      back off (outbox), try again later
//   other 4xx (400, 413...)  refused for good: journal line with the reason, removed
// Every delivery and refusal is appended to the device's journal (sent.jsonl, one JSON object
// per line: time, batch key, sequence, content type, readings, status, cloudlet, bytes), the
// device-side record of what it sent.
//
// Files in the device folder (created 0700):
//   device.key            crypto key file of type "device" (0600)
//   chosen_cloudlet       id of the cloudlet this device uploads to
//   cloudlet-<id>.cert    that cloudlet's certificate as fetched (re-verified at every start)
//   enrolment-<id>.rec    the enrolment record it signed
//   outbox.db             the outbox (SQLite, WAL)
//   record.queued         present once the patient record is in the outbox
//   simulated_until       Unix ms up to which simulated readings are in the outbox
//   sent.jsonl            the journal
//
// WARNING: the outbox keeps each upload's encoded payload in the clear beside the sealed copy
// (to re-seal it for a new session), so the device folder is as sensitive as the readings
// themselves; it is created 0700. The enrol token is a bearer secret: it is never logged.
// Thread safety: a DeviceAgent is not thread-safe; one thread drives it (Tick), while counters()
// and OutboxStats() may be read from any thread. CloudletLink implementations must be
// thread-safe (one link serves many devices).
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/bytes.h"
#include "core/clock.h"
#include "core/random.h"
#include "core/secret_bytes.h"
#include "core/status.h"
#include "crypto/session_seal.h"
#include "crypto/signing.h"
#include "store/outbox.h"
#include "wearable/batcher.h"
#include "wearable/energy.h"
#include "wearable/simulator.h"
#include "wire/certificate.h"
#include "wire/enrolment.h"
#include "wire/envelope.h"

namespace medmesh::net {
class HttpClient;
}

namespace medmesh::wearable {

// --- The cloudlet as the agent sees it ---------------------------------------------------------

// A cloudlet's answer to an upload (any HTTP status).
struct IngestReply {
  int http_status = 0;
  std::string status;   // 200: "stored" or "duplicate"
  std::string error;    // non-200: the JSON "error" field, if any
  std::string message;  // non-200: the JSON "message" field, if any
};

// The three calls a device makes to a cloudlet (docs/openapi.yaml): a seam so tests can put a
// cloudlet in memory behind it. Implementations must be thread-safe.
class CloudletLink {
 public:
  virtual ~CloudletLink() = default;
  // GET /api/v1/certificate: the certificate bytes (not verified here). kUnavailable without an
  // answer; the mapped error (net::ErrorFromResponse) for a non-200 answer.
  virtual Result<Bytes> FetchCertificate() = 0;
  // POST /api/v1/enrol: the signed enrolment record (not verified here). Errors as above (e.g.
  // kUnauthenticated for a bad token, kAlreadyExists for a device id enrolled with another key).
  virtual Result<Bytes> Enrol(std::string_view device_id, std::string_view patient_id,
                              const crypto::SigningPublicKey& device_key) = 0;
  // POST /api/v1/ingest: any HTTP answer is a value; kUnavailable (or another client error)
  // only when there is no answer.
  virtual Result<IngestReply> Ingest(ByteView upload) = 0;
  // For logs: the base URL.
  virtual std::string_view name() const = 0;
};

// A link over HTTP to `base_url` ("http://127.0.0.1:8081"). `client` is not owned and must
// outlive the link; `enrol_token` may be empty (enrolment then fails with the cloudlet's 401).
std::unique_ptr<CloudletLink> NewHttpCloudletLink(net::HttpClient& client, std::string base_url,
                                                  SecretBytes enrol_token);

// A cloudlet a device may choose.
struct CloudletEndpoint {
  std::string id;  // must be the subject of the cloudlet's certificate
  std::shared_ptr<CloudletLink> link;
  double distance_m = 10;  // for the energy model
  double trust = 1.0;      // in [0, 1]; below AgentOptions::min_trust it is never chosen
};

// --- One device -------------------------------------------------------------------------------

struct DeviceSpec {
  std::string device_id;   // wire::IsValidId
  std::string patient_id;  // wire::IsValidId
  // The simulated patient. nullopt: no simulator, readings come from AddReadings (import), and
  // no patient record is sent.
  std::optional<Profile> profile;
  std::uint64_t seed = 1;
  int utc_offset_minutes = 0;
};

struct AgentOptions {
  BatcherOptions batching;
  // Rekey by count and age. The cloudlet's SessionOpenerOptions::max_batches_per_session must be
  // at least max_batches_per_session.
  crypto::SessionSealerOptions session;
  // Backoff and lease of the outbox (in order is forced).
  store::QueueOptions outbox = store::DefaultOutboxOptions();
  // How much history a simulated device uploads when it starts (it recorded while off). On a
  // restart it never goes back before what is already in its outbox.
  std::chrono::milliseconds backfill{0};
  // Uploads sent per Tick at most.
  std::size_t max_uploads_per_tick = 16;
  // Re-seals of one batch after 401 before it is given up (journal status "rejected").
  std::uint32_t max_reseals = 3;
  // Wait between connection attempts while no cloudlet is usable.
  std::chrono::milliseconds connect_retry{2000};
  // Batches held in memory while the device has never connected (then the oldest are dropped).
  std::size_t max_held_batches = 10'000;
  RadioModel radio;
  double min_trust = 0.5;
};

// Counts since the agent was opened (monotonic).
struct AgentCounters {
  std::uint64_t readings_generated = 0;  // simulated or imported
  std::uint64_t batches_queued = 0;      // readings batches put in the outbox
  std::uint64_t readings_queued = 0;
  std::uint64_t records_queued = 0;
  std::uint64_t uploads_acked = 0;  // 200 stored + 200 duplicate + 409
  std::uint64_t readings_acked = 0;
  std::uint64_t duplicates = 0;  // 200 duplicate
  std::uint64_t rejected = 0;    // refused for good and removed
  std::uint64_t reseals = 0;
  std::uint64_t send_failures = 0;     // no answer, 429 or 5xx
  std::uint64_t bytes_sent = 0;        // upload bodies, acknowledged or not
  std::uint64_t readings_dropped = 0;  // held too long without a cloudlet (max_held_batches)
};

// An outbox entry (agent-private format, documented in docs/wearable.md):
//   "MMOB" | u8 version 1 | u8 re-seals | u8 len + cloudlet id | u32 readings |
//   u32 len + sealed upload | u32 len + encoded payload
struct OutboxItem {
  std::string cloudlet_id;
  std::uint8_t reseals = 0;
  std::uint32_t readings = 0;  // 0 for a record
  Bytes sealed;                // the upload as sent
  Bytes payload;               // its encoded payload (to re-seal)
};
Bytes EncodeOutboxItem(const OutboxItem& item);
// kInvalidArgument for anything malformed (the outbox is local, but a disk can be corrupted).
Result<OutboxItem> DecodeOutboxItem(ByteView bytes);

class DeviceAgent {
 public:
  // Creates the device folder (0700) if needed, loads or creates the device key, opens the
  // outbox and prepares the simulator. No network. kInvalidArgument for bad ids, no cloudlets
  // or bad options; errors of the key file and the outbox otherwise. `clock` and `random` must
  // outlive the agent; the endpoints' links are shared.
  static Result<std::unique_ptr<DeviceAgent>> Open(DeviceSpec spec,
                                                   const std::filesystem::path& folder,
                                                   crypto::SigningPublicKey root,
                                                   std::vector<CloudletEndpoint> cloudlets,
                                                   const Clock& clock, Random& random,
                                                   AgentOptions options = {});
  ~DeviceAgent();
  DeviceAgent(const DeviceAgent&) = delete;
  DeviceAgent& operator=(const DeviceAgent&) = delete;

  // One round of work, at most a few network calls long: (re)connect if needed and due,
  // simulate up to now, queue completed and aged batches (and the patient record once), send
  // what is due. Network trouble is not an error (it is retried); errors are local failures
  // (disk, outbox), after which the agent can be ticked again.
  Status Tick();

  // Adds readings (import). They are batched like simulated ones and queued by Tick.
  Status AddReadings(std::span<const wire::Reading> readings);
  // Cuts a batch of whatever is pending now (e.g. at the end of an import or at shutdown) and
  // queues it if connected.
  Status Flush();

  bool connected() const { return connected_.load(); }  // thread-safe
  // The cloudlet in use ("" before the first connection).
  const std::string& cloudlet_id() const { return cloudlet_id_; }
  const DeviceSpec& spec() const { return spec_; }
  // How log lines name this device: an opaque reference keyed from the device key
  // (node::LogReference), never the device or patient id.
  const std::string& log_ref() const { return log_ref_; }
  // Readings not yet in the outbox (in the batcher or held for a connection).
  std::size_t unqueued_readings() const;

  AgentCounters counters() const;                                             // thread-safe
  Result<store::QueueStats> OutboxStats() const { return outbox_->Stats(); }  // thread-safe

 private:
  struct Counters {
    std::atomic<std::uint64_t> readings_generated{0}, batches_queued{0}, readings_queued{0},
        records_queued{0}, uploads_acked{0}, readings_acked{0}, duplicates{0}, rejected{0},
        reseals{0}, send_failures{0}, bytes_sent{0}, readings_dropped{0};
  };
  class OutboxSequence;

  DeviceAgent(DeviceSpec spec, std::filesystem::path folder, crypto::SigningPublicKey root,
              std::vector<CloudletEndpoint> cloudlets, const Clock& clock, Random& random,
              AgentOptions options);

  Status Connect();
  Status UseCredential(const CloudletEndpoint& endpoint, wire::VerifiedCertificate certificate,
                       const wire::Enrolment& enrolment);
  Result<bool> LoadKeptCredential();
  const CloudletEndpoint* FindEndpoint(std::string_view id) const;
  Status CheckEnrolment(const wire::Enrolment& enrolment, const std::string& cloudlet_id) const;
  void ForgetCredential();

  Status QueueHeld();
  Status QueueReadings(const PendingBatch& batch);
  Status QueuePatientRecord();
  Status QueueUpload(const wire::UploadHeader& header, ByteView payload, std::uint32_t readings);
  Status SendDue();
  Status Reseal(const store::QueueItem& item, const OutboxItem& decoded);
  void Journal(const OutboxItem& item, const wire::UploadHeader& header, std::string_view status,
               std::string_view detail);
  void Hold(PendingBatch batch);
  std::optional<crypto::SessionId> SessionOf(ByteView sealed) const;

  const DeviceSpec spec_;
  const std::filesystem::path folder_;
  const crypto::SigningPublicKey root_;
  const std::vector<CloudletEndpoint> cloudlets_;
  const Clock& clock_;
  Random& random_;
  const AgentOptions options_;

  std::unique_ptr<crypto::Signer> signer_;
  std::string log_ref_;  // set with signer_
  std::unique_ptr<store::Outbox> outbox_;
  std::unique_ptr<OutboxSequence> sequence_;
  std::unique_ptr<Batcher> batcher_;
  std::optional<Simulator> simulator_;
  std::vector<wire::Reading> scratch_;

  // Connection state.
  std::atomic<bool> connected_{false};
  std::string cloudlet_id_;
  std::shared_ptr<CloudletLink> link_;
  std::unique_ptr<crypto::SessionSealer> sealer_;
  std::optional<crypto::SessionId> last_session_;  // of the last upload sealed
  std::set<crypto::SessionId> dead_sessions_;      // sessions a cloudlet refused (401)
  std::chrono::steady_clock::time_point next_connect_{};
  std::string last_connect_error_;

  std::vector<PendingBatch> held_;  // batched but not queued (never connected yet)
  std::int64_t simulated_until_ms_ = 0;
  bool record_queued_ = false;
  std::FILE* journal_ = nullptr;
  Counters counters_;
};

}  // namespace medmesh::wearable

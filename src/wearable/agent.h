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
// What the cloudlet's answers mean to the agent (refusals read with net::DecodeRefusal):
//   200 stored / duplicate   delivered: journal line, removed from the outbox. The cloudlet
//                            may have refused some readings as implausible ("refused" in the
//                            acknowledgement): counted (readings_refused) and journalled
//   401                      session unknown or signature refused: re-seal (bounded), see above
//   403                      device unknown or withdrawn: back off, enrol again
//   413                      too large for this cloudlet: a readings batch is split in two
//                            halves, each sealed as its own upload under a batch id derived from
//                            the original's (so a split repeated after a crash makes the same
//                            ids, and the cloudlet de-duplicates them); the halves are split
//                            again if still too large. A single reading or a record is held.
//   a MedMesh refusal with "permanent": true
//                            refused for good: journal line with the reason, removed. The only
//                            answer that deletes an upload the cloudlet did not store.
//   another MedMesh refusal  (not permanent, not one of the above): held for an operator
//   429, 5xx, no answer, and any answer that is not MedMesh's own (a proxy's 404 or 408, a
//                            page that is not a MedMesh error body)
//                            back off (outbox), try again later
// Held ("quarantined") uploads leave the outbox for a table of their own in outbox.db, so the
// uploads behind them go on (the outbox delivers in order), and stay there until an operator
// releases them (ReleaseHeld, `medmesh wearable --release-held`); counters().uploads_held and
// HeldStats() show them. An upload whose outbox entry is damaged, and one still refused (401)
// after every re-seal, is held too. The agent never deletes an upload silently.
// Every delivery, refusal, split and hold is appended to the device's journal (sent.jsonl, one
// JSON object per line: time, batch key, sequence, content type, readings, status, cloudlet,
// bytes), the device-side record of what it sent. The journal is rotated by size
// (AgentOptions::journal: sent.jsonl, then sent.1.jsonl, ...), so a long-lived device never
// fills its storage with it.
//
// Readings from AddReadings (import) are checked one by one (wire::CheckPlausible): an
// implausible one is counted (readings_implausible) and left out, never the rest with it.
// Tick never lets an exception out: one thrown below it (a link, a library) is caught, logged
// without identifiers, counted (tick_exceptions) and returned as kInternal; leased uploads come
// due again when their lease runs out.
//
// Files in the device folder (created 0700):
//   device.key            crypto key file of type "device" (0600)
//   chosen_cloudlet       id of the cloudlet this device uploads to
//   cloudlet-<id>.cert    that cloudlet's certificate as fetched (re-verified at every start)
//   enrolment-<id>.rec    the enrolment record it signed
//   outbox.db             the outbox (SQLite, WAL), and the uploads held for an operator
//   record.queued         present once the patient record is in the outbox
//   simulated_until       Unix ms up to which simulated readings are in the outbox
//   sent.jsonl            the journal (older parts sent.1.jsonl ... as rotation keeps them)
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
#include "core/log.h"
#include "core/random.h"
#include "core/secret_bytes.h"
#include "core/status.h"
#include "crypto/session_seal.h"
#include "crypto/signing.h"
#include "net/error_mapping.h"
#include "store/durable_queue.h"
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
  std::string status;         // 2xx: "stored" or "duplicate"
  std::uint64_t refused = 0;  // 2xx: readings the cloudlet refused as implausible ("refused")
  net::Refusal refusal;       // otherwise: the refusal, as net::DecodeRefusal reads it
};

// The IngestReply for an HTTP response to POST /api/v1/ingest (any status; any body).
IngestReply IngestReplyFromResponse(const net::Response& response);

// The three calls a device makes to a cloudlet (docs/openapi.yaml): a seam so tests can put a
// cloudlet in memory behind it. Implementations must be thread-safe.
class CloudletLink {
 public:
  virtual ~CloudletLink() = default;
  // GET /api/v1/certificate: the certificate bytes (not verified here). kUnavailable without an
  // answer; the mapped error (net::ErrorFromResponse) for a non-200 answer.
  virtual Result<Bytes> FetchCertificate() = 0;
  // POST /api/v1/enrol with the device-signed enrolment request (wire::SignEnrolmentRequest,
  // naming this cloudlet and now): the signed enrolment record (not verified here). Errors as
  // above (e.g. kUnauthenticated for a bad token, kAlreadyExists for a device id enrolled with
  // another key, kInvalidArgument for a request the cloudlet finds stale or not its own).
  virtual Result<Bytes> Enrol(ByteView signed_request) = 0;
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
  // Rotation of the journal (node config "retention.journal_max_mb" and "journal_files").
  log::FileRotation journal{.max_file_bytes = std::size_t{16} << 20, .max_files = 4};
};

// Counts since the agent was opened (monotonic).
struct AgentCounters {
  std::uint64_t readings_generated = 0;  // simulated or imported
  std::uint64_t batches_queued = 0;      // readings batches put in the outbox
  std::uint64_t readings_queued = 0;
  std::uint64_t records_queued = 0;
  std::uint64_t uploads_acked = 0;     // 200 stored + 200 duplicate
  std::uint64_t readings_acked = 0;    // stored by the cloudlet (not those it refused)
  std::uint64_t readings_refused = 0;  // acknowledged but refused as implausible by the cloudlet
  std::uint64_t duplicates = 0;        // 200 duplicate
  std::uint64_t rejected = 0;          // refused permanently by the cloudlet, and removed
  std::uint64_t reseals = 0;
  std::uint64_t splits = 0;                // uploads split in two after a 413
  std::uint64_t uploads_held = 0;          // moved to the held table for an operator
  std::uint64_t send_failures = 0;         // no answer, 429, 5xx or an answer that is not MedMesh's
  std::uint64_t bytes_sent = 0;            // upload bodies, acknowledged or not
  std::uint64_t readings_dropped = 0;      // held too long without a cloudlet (max_held_batches)
  std::uint64_t readings_implausible = 0;  // left out by AddReadings (wire::CheckPlausible)
  std::uint64_t tick_exceptions = 0;       // exceptions Tick caught
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
  // Uploads held for an operator (see above). Thread-safe.
  Result<store::QueueStats> HeldStats() const { return held_uploads_->Stats(); }
  // Puts every held upload back at the end of the outbox (an operator fixed the cause); returns
  // how many. Not concurrent with Tick.
  Result<std::size_t> ReleaseHeld();

 private:
  struct Counters {
    std::atomic<std::uint64_t> readings_generated{0}, batches_queued{0}, readings_queued{0},
        records_queued{0}, uploads_acked{0}, readings_acked{0}, readings_refused{0}, duplicates{0},
        rejected{0}, reseals{0}, splits{0}, uploads_held{0}, send_failures{0}, bytes_sent{0},
        readings_dropped{0}, readings_implausible{0}, tick_exceptions{0};
  };
  class OutboxSequence;

  DeviceAgent(DeviceSpec spec, std::filesystem::path folder, crypto::SigningPublicKey root,
              std::vector<CloudletEndpoint> cloudlets, const Clock& clock, Random& random,
              AgentOptions options);

  Status TickOnce();
  Status Connect();
  Status UseCredential(const CloudletEndpoint& endpoint,
                       const wire::VerifiedCertificate& certificate,
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
  // 413: the two halves of a readings batch as uploads of their own (or Hold if it cannot be
  // split).
  Status Split(const store::QueueItem& item, const OutboxItem& decoded,
               const wire::UploadHeader& header);
  // Moves an outbox entry to the held table, with a journal line when it could be decoded.
  Status Hold(const store::QueueItem& item, const OutboxItem* decoded,
              const wire::UploadHeader* header, std::string_view reason);
  void Journal(const OutboxItem& item, const wire::UploadHeader& header, std::string_view status,
               std::string_view detail);
  void HoldUnqueued(PendingBatch batch);
  static std::optional<crypto::SessionId> SessionOf(ByteView sealed);

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
  std::unique_ptr<store::SqliteDurableQueue> held_uploads_;  // table "held" of outbox.db
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
  std::unique_ptr<log::LineFile> journal_;
  Counters counters_;
};

}  // namespace medmesh::wearable

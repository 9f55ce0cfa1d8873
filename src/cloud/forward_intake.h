// ForwardIntake: what the remote cloud does with what cloudlets send it, without HTTP (the
// cloud service's handlers wrap it):
//
//   RegisterCloudlet  a cloudlet certificate, verified against the root (role cloudlet, now)
//                     and kept, so forwards naming that cloudlet can be checked.
//   AddEnrolment      a device's enrolment record, verified against the registered certificate
//                     of the cloudlet that issued it, and kept encrypted (EI side), so the
//                     device's signatures on forwarded data can be checked. A device id belongs
//                     to the first cloudlet that enrols it: a claim by another cloudlet, or for
//                     another patient or key, on a withdrawn device, or for a patient who
//                     deleted their data (integrity_service.h), is refused (409, IDS
//                     event enrolment_conflict).
//   WithdrawDevice    an operator's withdrawal: the device's forwards are refused from then on
//                     (403, unknown_device) and it is never enrolled again. Effective at once in
//                     this process; other cloud processes sharing the database re-read an
//                     enrolment after kEnrolmentCacheTtl at most.
//   AcceptForward     a forward envelope (wire/envelope.h):
//       1. ParseForward (size cap, clear header)              → 400 malformed, 413 oversized
//       2. the named cloudlet's registered certificate, verified against the root now
//                                                             → 409 unknown or expired cloudlet
//       3. OpenForward: the cloudlet's signature, the sealed box (to this cloud's KEM key), the
//          device's signature and commitment in the upload evidence, with the device's
//          enrolment; the device must be enrolled by the forwarding cloudlet and not withdrawn
//                                                             → 401, 403, 409 unknown device
//       4. decode and check the content (readings: caps; record: the record codec's rules)
//                                                             → 400
//          Plausibility reading by reading (wire::CheckPlausible), as the cloudlet does: the
//          batch is kept whole (the device's signature covers every reading), its row counts and
//          spans only the plausible readings, and the implausible ones are one IDS event
//          (out_of_range) and medmesh_cloud_readings_refused_total; whoever decodes a stored
//          batch must apply CheckPlausible again. A batch with no plausible reading → 400.
//       5. store durably: a record through the three-part store (the upload evidence kept as
//          its device signature), a readings batch in the intake store under the patient's
//          pseudonym and MI data key, with its roll-ups in the same transaction
//          (my_data_rollups.h)                                → 503 if storage fails
//       6. acknowledge: "stored", or "duplicate" for a batch already stored (idempotent by the
//          device's batch id, and for records by record id)
// An acknowledged forward, enrolment or registration names its origin cloudlet (IntakeAck::
// origin); the cloud's routes answer it with a receipt signed by the cloud's node key
// (SignIntakeReceipt, wire/receipt.h), which the origin checks before it drops the item, also
// when the answer came through a peer cloudlet (cloudlet/relay.h).
// Every refusal in steps 1-4 (and a refused certificate or enrolment) writes an IDS event.
// Refusals are net::Rejection: "permanent" where the same request can never be accepted (a
// certificate not from the root or not a cloudlet's, a mismatch with the enrolment, authentic
// content refused, a replay), not for bytes that do not parse (unauthenticated: damage on the
// way or a newer format), nor where registering, enrolling, a renewed certificate or a wait may
// help.
// Thread safety: thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "cloud/intake_store.h"
#include "cloud/three_part.h"
#include "core/bytes.h"
#include "core/clock.h"
#include "core/secret_bytes.h"
#include "crypto/hybrid_seal.h"
#include "crypto/keyed_hash.h"
#include "crypto/signing.h"
#include "net/error_mapping.h"
#include "net/metrics.h"
#include "node/identity.h"
#include "store/ids_event_log.h"
#include "wire/envelope.h"
#include "wire/receipt.h"

namespace medmesh::cloud {

inline constexpr std::string_view kStatusStored = "stored";
inline constexpr std::string_view kStatusDuplicate = "duplicate";
inline constexpr std::string_view kStatusUnchanged = "unchanged";
inline constexpr std::string_view kStatusWithdrawn = "withdrawn";

// How long a verified enrolment is reused before it is read again from the intake store: the
// bound on how late another cloud process sharing the database sees a withdrawal.
inline constexpr std::chrono::seconds kEnrolmentCacheTtl{30};

struct IntakeAck {
  std::string id;      // forward id (hex), device id or cloudlet id
  std::string status;  // "stored", "duplicate" ("unchanged" for a repeated registration)
  std::string origin;  // the cloudlet the item came from; empty for a withdrawal
};

// The receipt of an acknowledged item (wire/receipt.h): `kind`, the ack's origin and id, the
// digest of the request `body` the cloud accepted, the origin's `challenge` of this attempt
// (none: a version 1 receipt), `now_ms`, signed with the cloud's node key.
// kInvalidArgument for an ack without an origin (a withdrawal) or a bad id.
Result<Bytes> SignIntakeReceipt(const IntakeAck& ack, wire::ReceiptKind kind, ByteView body,
                                const std::optional<wire::ReceiptChallenge>& challenge,
                                std::string_view cloud_id, const crypto::Signer& cloud,
                                std::int64_t now_ms);

// What a readings upload adds up to once its implausible readings are left out (step 4).
struct ReadingsSummary {
  std::int64_t from_ms = 0;     // the earliest plausible reading
  std::int64_t to_ms = 0;       // the latest plausible reading
  std::uint32_t plausible = 0;  // what the stored row counts
  std::size_t total = 0;        // readings in the signed batch
};
// kInvalidArgument for a payload that does not decode or holds no readings (kResourceExhausted
// for a decompression bomb), kFailedPrecondition if no reading is plausible.
Result<ReadingsSummary> SummariseReadings(const wire::UploadHeader& header, ByteView payload);

// A refusal; the message is for the cloudlet (never quotes input or names internals), the
// reason a metrics label (an IDS event kind name, "unknown_cloudlet", "unavailable", ...).
using IntakeRejection = net::Rejection;

using IntakeResult = std::variant<IntakeAck, IntakeRejection>;

// What the intake works with; every reference must outlive it.
struct ForwardIntakeContext {
  std::string node_id;
  const node::RootOfTrust& root;
  const crypto::HybridOpener& opener;  // this cloud's KEM key
  ThreePartStore& records;
  IntakeStore& intake;
  store::IdsEventLog& ids;
  const Clock& clock;
  net::MetricsRegistry& metrics;
};

class ForwardIntake {
 public:
  // `refs_key` keys the device and batch references and the content digests.
  ForwardIntake(ForwardIntakeContext context, crypto::HashKey refs_key,
                std::size_t max_forward_bytes = wire::kMaxForwardBytes);
  ~ForwardIntake();
  ForwardIntake(const ForwardIntake&) = delete;
  ForwardIntake& operator=(const ForwardIntake&) = delete;

  IntakeResult RegisterCloudlet(ByteView certificate, std::string_view source_ip);
  IntakeResult AddEnrolment(ByteView record, std::string_view source_ip);
  IntakeResult AcceptForward(ByteView forward, std::string_view source_ip);
  // Withdraws an enrolled device (the caller authenticated the operator): IntakeAck with
  // status "withdrawn", or "unchanged" if it was already; 404 if the device is not enrolled,
  // 400 for a bad id, 503 if the store fails.
  IntakeResult WithdrawDevice(std::string_view device_id, std::string_view source_ip);

  // Records an IDS event (rate-limited and aggregated per source, store/ids_event_log.h) for a
  // refusal, also outside the intake (e.g. a bad operator token).
  void RecordRejection(store::IdsEventKind kind, std::string_view source_ip,
                       std::string_view detail);

  std::uint64_t duplicates() const { return duplicates_.load(); }
  std::uint64_t rejected() const { return rejected_.load(); }
  std::size_t max_forward_bytes() const { return max_forward_bytes_; }

  // The keyed references (exposed for tests that look for them in the raw tables, and for
  // the integrity service, which finds stored items by them).
  std::string DeviceRef(std::string_view device_id) const;
  std::string BatchRef(std::string_view device_id, const wire::BatchId& batch_id) const;
  // The keyed digest a reading batch row keeps of its payload.
  Bytes ContentDigest(ByteView payload) const;
  // The stored enrolment record of a row (withdrawn or not), decrypted and parsed: the device
  // key that checks the device's signatures. kNotFound if the patient's keys were destroyed,
  // AuthenticationFailed() for a tampered row.
  Result<wire::Enrolment> DecryptEnrolment(const EnrolmentRow& row) const;
  // The plaintext of a stored batch row: wire::EncodeEvidenceAndPayload of its upload.
  // kNotFound if the pseudonym's MI data key was destroyed, AuthenticationFailed() for a row
  // that was altered or moved.
  Result<Bytes> DecryptBatch(const ReadingBatchRow& row) const;
  // The row an authentic readings upload is stored as (encrypted under the pseudonym's MI data
  // key), stamped `stored_ms`; `summary`, if given, receives its summary. Errors as
  // SummariseReadings; kUnavailable if it cannot be encrypted (the data keys' store failed).
  Result<ReadingBatchRow> BatchRowFor(const wire::OpenedUpload& opened, std::int64_t stored_ms,
                                      ReadingsSummary* summary = nullptr) const;

 private:
  struct Metrics;
  IntakeRejection Reject(Error error, bool permanent, std::optional<store::IdsEventKind> kind,
                         std::string_view source_ip, std::string_view reason = {});
  // The verified certificate of a registered cloudlet, or a rejection.
  std::variant<wire::VerifiedCertificate, IntakeRejection> CloudletCertificate(
      std::string_view cloudlet_id, std::string_view source_ip);
  // The enrolment of the upload's device, which must be enrolled by `cloudlet_id` and not
  // withdrawn (kPermissionDenied otherwise, with `*refusal` set to the IDS kind to record).
  Result<wire::Enrolment> LookupEnrolment(const wire::UploadHeader& upload,
                                          std::string_view cloudlet_id,
                                          std::optional<store::IdsEventKind>* refusal);
  IntakeResult StoreReadings(const wire::OpenedUpload& opened, const std::string& forward_id,
                             std::string_view source_ip);
  IntakeResult StoreRecord(const wire::OpenedUpload& opened, const std::string& forward_id,
                           std::string_view source_ip);

  ForwardIntakeContext ctx_;
  crypto::HashKey refs_key_;
  std::size_t max_forward_bytes_;
  std::unique_ptr<Metrics> metrics_;
  std::atomic<std::uint64_t> duplicates_{0};
  std::atomic<std::uint64_t> rejected_{0};
  struct CachedEnrolment {
    wire::Enrolment enrolment;
    std::chrono::system_clock::time_point read_at;
  };
  std::mutex mu_;
  // Verified, not withdrawn enrolments by device id. A withdrawal erases its entry and bumps
  // the generation, so a lookup that read the store before it does not put it back.
  std::map<std::string, CachedEnrolment, std::less<>> enrolments_;  // guarded by mu_
  std::uint64_t generation_ = 0;                                    // guarded by mu_
};

}  // namespace medmesh::cloud

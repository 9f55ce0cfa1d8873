// IntegrityService: "verify and restore" and "delete my data" at the remote cloud (issue 8,
// workflows 5 and 6; docs/integrity.md, ADR 0018). Domain level: callers (HTTP routes, tests)
// pass the authenticated accounts::Principal; every action appends one audit entry after its
// outcome is known, and an entry that cannot be appended fails the action.
//
// Items. A stored item is a record (device id, record id) or a reading batch (device id,
// batch id as 32 hex characters). Both belong to the device's enrolment (intake store), which
// names the patient and the cloudlet that enrolled the device.
//
// Who may do what (anything else: kPermissionDenied; an unknown item, or one of a patient or
// cloudlet the caller may not see: kNotFound with one fixed message, so the two cannot be told
// apart):
//   Verify, Restore   the patient (own items), an operator (items of their cloudlet's devices)
//   ListRestores      an operator (restores of their cloudlet), the cloud admin (all)
//   DeletePatient     the patient (their own data)
//
// Verify recomputes, in this order, and names the first check that fails (three_part.h
// IntegrityCheck): missing (the chain vouches for a row that is gone), decrypt (a ciphertext
// fails authentication, or the row was moved), digest (the content does not match the digest
// or the range/count its row records), signature (the device's upload evidence does not verify
// over the content with the device key of its enrolment), chain (the item's latest chain entry
// is not live, names another digest or time, fails its keyed hash or is unlinked). A failed
// check is also recorded as an IDS `tampering` event (IntegrityServiceContext::ids).
//
// Restore puts a damaged item back from the copy the enrolling cloudlet keeps: the cloud asks
// that cloudlet (CloudletCopySource) for the original signed upload, re-forwarded (a forward
// envelope signed by the cloudlet and sealed to this cloud, wire/envelope.h); it must open and
// verify exactly as an original forward does (cloudlet certificate from the root, the device's
// signature and commitment against its enrolment), be the same item, and carry the digest the
// chain first recorded for it. Only then are the rows replaced (a restore entry is appended to
// the chain), the item verified again, a restores row written and an audit entry appended.
// Restore refuses (kFailedPrecondition) an item that verifies, an item whose chain entry is
// damaged (a cloudlet's copy cannot mend the cloud's chain), and a copy that does not verify
// or holds other content; kUnavailable if the cloudlet cannot be reached, kNotFound if it no
// longer holds the item (ADR 0018: its retention).
//
// DeletePatient (crypto-shredding) runs as a resumable job: it first records the deletion
// (intake store: deletions, plus one deletion-feed entry per cloudlet that enrolled a device of
// the patient), then appends delete entries to the chain for the patient's reading batches and
// removes them, removes the patient's record rows and destroys their EI, QI and MI data keys
// (ThreePartStore::DeletePatient), removes their enrolments, and marks the deletion done. Each
// step is one transaction and idempotent, so a failure part-way leaves a recorded, pending
// deletion that a repeat (or ResumePendingDeletions at start-up) finishes; while it is pending
// the patient's items answer kNotFound here and new enrolments for them are refused
// (ForwardIntake). The audit entry "patient.delete" is the tombstone. Cloudlets learn of it
// from the signed deletion feed (SignedDeletionFeed, wire/deletion_feed.h).
//
// WARNING: destroying a wrapped data key does not reach copies of the wrapped-key store taken
// before (backups of records.db, or of the PostgreSQL keyring schema): whoever holds such a
// copy and the KEK still unwraps the key. Deletion reaches backups only when the KEK that
// wrapped them is rotated and retired (ADR 0018).
// Thread safety: thread-safe if the stores are; deletions of one patient must not run
// concurrently with each other (they are idempotent, so a race only repeats work).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "accounts/principal.h"
#include "audit/audit_sink.h"
#include "cloud/forward_intake.h"
#include "cloud/intake_store.h"
#include "cloud/three_part.h"
#include "core/clock.h"
#include "core/random.h"
#include "core/status.h"
#include "crypto/hybrid_seal.h"
#include "crypto/signing.h"
#include "node/identity.h"
#include "store/ids_event_log.h"
#include "wire/envelope.h"

namespace medmesh::cloud {

enum class ItemKind : std::uint8_t { kRecord, kReadings };
// "record", "readings".
std::string_view ItemKindName(ItemKind kind);

struct ItemRef {
  ItemKind kind = ItemKind::kRecord;
  std::string device_id;
  std::string item_id;  // the record id, or the batch id as 32 lower-case hex characters
};

// How the cloud obtains a cloudlet's copy of an item (ADR 0018).
class CloudletCopySource {
 public:
  virtual ~CloudletCopySource() = default;
  // A forward envelope re-sealed by `cloudlet_id` to this cloud that holds the item's original
  // signed upload. kNotFound if the cloudlet no longer holds it, kUnavailable if it cannot be
  // reached. The bytes are untrusted: the service verifies them.
  [[nodiscard]] virtual Result<Bytes> FetchCopy(std::string_view cloudlet_id,
                                                const ItemRef& item) = 0;
};

struct ItemVerification {
  std::optional<IntegrityCheck> failed;  // nullopt: every check passed
  std::uint64_t chain_seq = 0;           // the item's latest chain entry (0 if none)
  bool ok() const { return !failed; }
};

struct RestoreOutcome {
  RestoreRow restore;
  ItemVerification after;  // the item verified again after the restore
};

// What the migration that puts already stored reading batches into the chain did.
struct BatchChainMigration {
  std::uint64_t batches = 0;  // batches looked at
  std::uint64_t chained = 0;  // entries appended for batches the chain did not hold yet
};

struct IntegrityServiceContext {
  ThreePartStore& records;
  IntakeStore& intake;
  ForwardIntake& forward_intake;  // the keyed references and the enrolments' device keys
  const node::RootOfTrust& root;
  const crypto::HybridOpener& opener;  // this cloud's KEM key (to open re-forwarded copies)
  CloudletCopySource& copies;
  audit::AuditSink& audit;
  const Clock& clock;
  Random& random;
  // Where a damaged item is reported to intrusion detection: one `tampering` event per failed
  // Verify (device scope: the item's device id; no patient, item id or address), which the
  // `integrity` detector turns into an alert. Null: not reported.
  store::IdsEventLog* ids = nullptr;
  std::string node_id = {};  // the event's node
};

// The parts of the service that need no principal, for the cloud's start-up:
// ChainUnchainedBatches puts every stored reading batch without a chain entry into the chain
// (the data migration for batches stored before batches were chained, and the repair after a
// crash between a batch's row and its entry; idempotent), and ResumePendingDeletions finishes
// every deletion a failure left pending (returns how many).
[[nodiscard]] Result<BatchChainMigration> ChainUnchainedBatches(ThreePartStore& records,
                                                                IntakeStore& intake);
[[nodiscard]] Result<std::size_t> ResumePendingDeletions(ThreePartStore& records,
                                                         IntakeStore& intake, const Clock& clock);

class IntegrityService {
 public:
  // Every reference must outlive the service.
  explicit IntegrityService(IntegrityServiceContext context);

  // Verifies one item (see above). A damaged item is a successful call whose result names the
  // failed check; kInvalidArgument for a malformed id; authorisation errors as above; store
  // errors as they are.
  [[nodiscard]] Result<ItemVerification> Verify(const accounts::Principal& principal,
                                                const ItemRef& item,
                                                std::string_view source_address);

  // Restores one damaged item from its cloudlet's copy (see above).
  [[nodiscard]] Result<RestoreOutcome> Restore(const accounts::Principal& principal,
                                               const ItemRef& item,
                                               std::string_view source_address);

  // Restores, newest first, at most `limit` (1..10000).
  [[nodiscard]] Result<std::vector<RestoreRow>> ListRestores(const accounts::Principal& principal,
                                                             std::size_t limit,
                                                             std::string_view source_address);

  // The principal (a patient) deletes all their data (see above). Idempotent: a repeat after
  // success changes nothing and succeeds.
  [[nodiscard]] Status DeletePatient(const accounts::Principal& principal,
                                     std::string_view source_address);

  // The free functions above, on this service's stores.
  [[nodiscard]] Result<std::size_t> ResumePendingDeletions();
  [[nodiscard]] Result<BatchChainMigration> ChainUnchainedBatches();

  // One page of the deletion feed of `cloudlet_id` after `after_seq` (at most `limit`,
  // 1..1000), signed with the cloud's node key (wire/deletion_feed.h).
  [[nodiscard]] Result<Bytes> SignedDeletionFeed(std::string_view cloud_id,
                                                 const crypto::Signer& cloud_key,
                                                 std::string_view cloudlet_id,
                                                 std::uint64_t after_seq, std::size_t limit);

 private:
  struct Owner {
    std::string patient_id;
    std::string cloudlet_id;
    EnrolmentRow enrolment;
  };
  // The item's owner, if `principal` may act on it (kNotFound / kPermissionDenied otherwise).
  Result<Owner> Authorise(const accounts::Principal& principal, const ItemRef& item) const;
  Result<ItemVerification> VerifyRecord(const Owner& owner, const ItemRef& item) const;
  Result<ItemVerification> VerifyBatch(const Owner& owner, const ItemRef& item) const;
  Status RestoreRecord(const Owner& owner, const ItemRef& item, const wire::OpenedUpload& copy);
  Status RestoreBatch(const Owner& owner, const ItemRef& item, const wire::OpenedUpload& copy);
  // Opens and verifies a cloudlet's copy (kFailedPrecondition if it does not verify).
  Result<wire::OpenedUpload> OpenCopy(const Owner& owner, const ItemRef& item, ByteView forward);
  // Records a `tampering` IDS event for a damaged item (errors are logged).
  void ReportTampering(const ItemRef& item, IntegrityCheck failed) const;
  Status Record(const accounts::Principal& principal, std::string_view event, audit::Action action,
                audit::Outcome outcome, std::string_view source_address,
                std::string_view patient_id, std::string_view entity_type,
                std::string_view entity_id, std::string_view detail);

  IntegrityServiceContext ctx_;
};

}  // namespace medmesh::cloud

// The cloudlet's side of "verify and restore" and "delete my data" (issue 8, workflows 5 and
// 6; cloud/integrity_service.h, ADR 0018).
//
// SealRecordCopy: when the cloud finds a record tampered with, it asks the enrolling cloudlet
// for its copy. The cloudlet re-forwards the original signed upload it keeps (ingest ledger,
// records at rest): the device's evidence and payload, its own signature and a sealed box to
// the cloud, exactly as a first forward (wire::SealForward). The cloud trusts nothing of it that
// does not verify: the cloudlet's certificate, the device's signature and the chain's digest.
//
// DeletionFollower: the cloud publishes, per cloudlet, a feed of deleted patients signed with
// its node key (wire/deletion_feed.h). The cloudlet fetches pages after its cursor (the last
// seq applied, kept in the ledger), verifies each page against the cloud's certificate, and for
// each patient in order shreds its copy, then advances the cursor:
//   - readings: every row, and the patient's "readings" data key (ReadingStore::DeletePatient);
//   - records and batch rows of the ingest ledger (IngestLedger::DeletePatient);
//   - the patient's "records" and "forward" data keys (what is still queued for the cloud, or
//     dead-lettered, becomes unreadable and is dead-lettered by the forwarder);
//   - the patient's devices are withdrawn here (their uploads are refused from then on);
//   - their sharing data (TrustStore::DeletePatient), after a "forget" of their handle is queued
//     for every partner cloudlet that received it (share_forget.h).
// Each step is idempotent and the cursor moves only after a patient is done, so a crash
// part-way repeats that patient on the next poll. The bound on how late a cloudlet shreds is
// its poll interval plus however long it cannot reach the cloud.
// WARNING: copies of keys.db taken before the deletion still hold the wrapped keys; they are
// unreadable only once the KEK that wrapped them is rotated and retired (ADR 0018).
// Thread safety: SealRecordCopy is thread-safe; one DeletionFollower polls at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "cloudlet/device_registry.h"
#include "cloudlet/ingest_ledger.h"
#include "cloudlet/share_forget.h"
#include "cloudlet/trust_store.h"
#include "core/bytes.h"
#include "core/random.h"
#include "core/status.h"
#include "crypto/envelope.h"
#include "crypto/hybrid_seal.h"
#include "crypto/signing.h"
#include "store/reading_store.h"
#include "wire/certificate.h"

namespace medmesh::cloudlet {

struct RecordCopyContext {
  std::string node_id;  // this cloudlet's id
  const IngestLedger& ledger;
  const DeviceRegistry& devices;
  const crypto::EnvelopeAead& envelope;  // the cloudlet's (records at rest)
  const crypto::Signer& signer;          // this cloudlet's node key
  Random& random;
};

// The forward envelope of the record (device id, record id) as first uploaded, sealed to
// `cloud`. kNotFound if the record is not (or no longer) kept here, or its patient's data was
// shredded; kDataLoss if the kept copy fails to decrypt or its device signature to verify.
Result<Bytes> SealRecordCopy(const RecordCopyContext& context, std::string_view device_id,
                             std::string_view record_id, const crypto::HybridSealer& cloud);

struct DeletionFollowerContext {
  std::string node_id;  // this cloudlet's id: pages for another cloudlet are refused
  IngestLedger& ledger;
  store::ReadingStore& readings;
  crypto::EnvelopeAead& envelope;
  DeviceRegistry& devices;  // the patient's devices are withdrawn here
  TrustStore* trust;        // the patient's sharing data is deleted too (null: none kept)
  // Partner cloudlets that received the patient's handle are told to forget it (ADR 0048;
  // queued before the sharing data goes). Null: this cloudlet shares with no other.
  ShareForgetter* forget = nullptr;
};

class DeletionFollower {
 public:
  // Every reference must outlive the follower.
  explicit DeletionFollower(DeletionFollowerContext context);

  // The seq to ask the cloud's feed from.
  Result<std::uint64_t> Cursor() const;

  // Verifies a page asked for from Cursor() with `cloud` (the cloud's verified certificate),
  // then shreds each patient it names. Returns how many. Verification errors as
  // wire::VerifyDeletionFeed (nothing is changed); store errors as they are.
  Result<std::size_t> Apply(ByteView page, const wire::VerifiedCertificate& cloud);

  // One poll: `fetch(after_seq)` returns the cloud's page after the cursor; Apply it.
  Result<std::size_t> PollOnce(const std::function<Result<Bytes>(std::uint64_t)>& fetch,
                               const wire::VerifiedCertificate& cloud);

  // Shreds one patient's data here (see above). Idempotent.
  Status ShredPatient(std::string_view patient_id);

 private:
  DeletionFollowerContext ctx_;
};

}  // namespace medmesh::cloudlet

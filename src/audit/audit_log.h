// AuditLog: the hash-chained, append-only audit log of one node (issue 8; docs/audit.md,
// ADR 0014). Every read and write of patient data, every administrative action and every login
// is appended as one entry, shaped as a FHIR R4 AuditEvent (audit_event_json.h).
//
// Chain: entry n stores prev_hash = entry_hash of entry n-1 (32 zero bytes for entry 1) and
//   entry_hash = BLAKE2b-256 over the parts ("MedMesh audit entry v1", prev_hash, canonical
//   AuditEvent JSON), each part length-prefixed (crypto::Blake2b256Parts). Unkeyed on purpose:
//   an auditor recomputes it from the log alone.
// Head: (observer node id, seq, entry_hash of the last entry), signed with the node's Ed25519
//   key (AuditHeadMessage), re-signed and stored in the same transaction as every append. A new
//   log gets a signed genesis head (seq 0, zero hash).
// Verify: recomputes the chain from a consistent snapshot, checks the stored columns against
//   the hashed JSON and the head's signature with the node's public key, and names the first
//   broken seq and what failed (AuditFailure).
//
// WARNING: the head proves the log as of its last signature. Whoever controls the database
// can roll the log back to an earlier signed head (deleting everything after it together with
// the head row) without breaking anything Verify can see from the database alone; an auditor
// detects that by keeping a head they saw earlier (AuditVerifyOptions::known_head, printed by
// `medmesh audit verify`). Nor does the log prove that every action was recorded: it records
// what the services append.
// Thread safety: thread-safe; appends are serialised by the store (one linear chain).
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "audit/audit_sink.h"
#include "audit/audit_store.h"
#include "core/bytes.h"
#include "core/status.h"
#include "crypto/signing.h"

namespace medmesh::audit {

// The most entries one group commit writes.
inline constexpr std::size_t kMaxAuditBatch = 64;

// The SQLite file of a node's audit log, in its data folder.
inline constexpr std::string_view kAuditDbFileName = "audit.db";

// The hash chaining one entry to the one before it (see above).
Bytes AuditEntryHash(ByteView prev_hash, std::string_view event_json);
// The bytes the node key signs for a head: the label "MedMesh audit head v1" followed by the
// observer id, the seq (u64 LE) and the hash, each length-prefixed.
Bytes AuditHeadMessage(std::string_view observer, std::uint64_t seq, ByteView hash);

enum class AuditFailure {
  kNone,
  kContentAltered,        // an entry's columns, JSON or hash do not match each other
  kEntryMissing,          // a gap in the seq numbers (an entry was deleted)
  kChainBroken,           // prev_hash does not match the entry before (removed and renumbered,
                          // or the entry before was rewritten with a new hash)
  kReordered,             // prev_hash names another entry of the log: entries were moved
  kHeadMissing,           // no signed head
  kHeadSignatureInvalid,  // the head's signature is not the node's (or it names another node)
  kTailTruncated,         // the signed head is past the last entry
  kUnsignedEntries,       // entries after the signed head
  kHeadMismatch,          // the head's hash is not the hash of the entry it names
  kKnownHeadMissing,      // the log no longer holds the head the auditor saw earlier
};
// "ok", "content_altered", "entry_missing", "chain_broken", "reordered", "head_missing",
// "head_signature_invalid", "tail_truncated", "unsigned_entries", "head_mismatch",
// "known_head_missing".
std::string_view AuditFailureName(AuditFailure failure);

struct AuditVerifyOptions {
  // The node id the head must name (the subject of the node's certificate); empty: any.
  std::string observer{};
  // A head recorded earlier (seq, hash): the log must still hold that entry with that hash.
  std::optional<std::pair<std::uint64_t, Bytes>> known_head{};
};

struct AuditVerifyReport {
  std::uint64_t entries = 0;  // entries read
  std::uint64_t head_seq = 0;
  Bytes head_hash;
  std::string observer;  // as the head names it
  AuditFailure failure = AuditFailure::kNone;
  std::uint64_t first_bad_seq = 0;  // 0 when ok
  std::string message;              // what failed; never a stored value
  bool ok() const { return failure == AuditFailure::kNone; }
};

// One page of Query: AuditEvent JSON with "id" = the entry's seq, newest first.
struct AuditPage {
  std::vector<nlohmann::json> events;
  std::uint64_t next_before_seq = 0;  // pass as before_seq for the next page; 0: no more
};

class AuditLog final : public AuditSink {
 public:
  // A log to append to, as node `observer_id` with its node key `signer`. Writes the signed
  // genesis head into a new log. kInvalidArgument for an empty id; store errors as they are.
  static Result<std::unique_ptr<AuditLog>> Open(std::unique_ptr<AuditStore> store,
                                                std::string observer_id,
                                                std::unique_ptr<crypto::Signer> signer);
  // A log to verify and query only (an auditor's tools hold no node key); Append returns
  // kFailedPrecondition.
  static std::unique_ptr<AuditLog> OpenReadOnly(std::unique_ptr<AuditStore> store);
  ~AuditLog() override;
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // Appends `entry` (ValidateAuditEntry: kInvalidArgument) after the current head and re-signs
  // the head, durably and atomically. On any error nothing was appended and the chain is as
  // before. Group commit: entries appended concurrently from several threads are written in
  // one transaction (at most kMaxAuditBatch) under one head signature; if that transaction
  // fails, every Append of the batch returns its error.
  Status Append(const AuditEntry& entry) override;
  // Appends `entries` in order in ONE transaction under one head signature (with entries of
  // other threads' appends around them in the same group commit, never between them): all or
  // none. kInvalidArgument if any entry is invalid (nothing appended). A request of more than
  // kMaxAuditBatch entries is written alone, in one transaction all the same.
  Status AppendMany(const std::vector<AuditEntry>& entries) override;

  // Checks the whole log against `node_key` (the node's public key, from its certificate). A
  // broken log is an OK result with ok() false; errors are only for a store that cannot be
  // read.
  Result<AuditVerifyReport> Verify(const crypto::Verifier& node_key,
                                   const AuditVerifyOptions& options = {}) const;

  // Entries matching `query`, newest first (kInvalidArgument for a bad limit or range).
  // WARNING: returns what the store holds; run Verify to know it is untouched.
  Result<AuditPage> Query(const AuditQuery& query) const;
  // The same entries as stored rows (columns, hashes), for callers that render them their own
  // way (the cloud's admin and "who saw my data" routes). Same errors and WARNING as Query.
  Result<std::vector<StoredAuditEntry>> QueryEntries(const AuditQuery& query) const;

  // The current head. kNotFound if the log has none.
  Result<SignedAuditHead> Head() const;

 private:
  AuditLog(std::unique_ptr<AuditStore> store, std::string observer,
           std::unique_ptr<crypto::Signer> signer);
  Result<AuditFailure> FindMovedEntry(ByteView prev_hash) const;

  struct Pending;
  // Queues `me` and waits until its entries are written (group commit, see Append).
  Status Enqueue(Pending& me);
  Status WriteBatch(const std::vector<Pending*>& batch);

  std::unique_ptr<AuditStore> store_;
  const std::string observer_;
  std::unique_ptr<crypto::Signer> signer_;  // null: read-only

  std::mutex mu_;
  std::condition_variable written_;
  std::deque<Pending*> pending_;  // guarded by mu_; each owned by its waiting Append
  bool writing_ = false;          // guarded by mu_: a thread is writing a batch
};

}  // namespace medmesh::audit

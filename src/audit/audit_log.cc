#include "audit/audit_log.h"

#include <algorithm>
#include <array>
#include <exception>
#include <utility>

#include "audit/audit_event_json.h"
#include "core/check.h"
#include "crypto/keyed_hash.h"

namespace medmesh::audit {
namespace {

constexpr std::string_view kEntryLabel = "MedMesh audit entry v1";
constexpr std::string_view kHeadLabel = "MedMesh audit head v1";

Bytes ZeroHash() { return Bytes(crypto::kDigestBytes, 0); }

Bytes ToBytes(const crypto::Digest256& d) { return Bytes(d.begin(), d.end()); }

bool SameBytes(ByteView a, ByteView b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end());
}

std::array<std::uint8_t, 8> U64Le(std::uint64_t v) {
  std::array<std::uint8_t, 8> out{};
  for (int i = 0; i < 8; ++i) out[i] = static_cast<std::uint8_t>(v >> (8 * i));
  return out;
}

// Verify's progress through the scan.
struct Walk {
  std::optional<SignedAuditHead> head;
  std::uint64_t last_seq = 0;
  Bytes last_hash = ZeroHash();
  std::optional<Bytes> hash_at_head;   // entry_hash of the entry head->seq names
  std::optional<Bytes> hash_at_known;  // entry_hash of the entry known_head names
  Bytes dangling_prev;                 // prev_hash of the entry that broke the chain
};

// A sentinel error that ends the scan at the first broken entry (the report says why).
Error StopScan() { return Internal("audit scan stopped at a broken entry"); }

}  // namespace

Bytes AuditEntryHash(ByteView prev_hash, std::string_view event_json) {
  return ToBytes(crypto::Blake2b256Parts({AsBytes(kEntryLabel), prev_hash, AsBytes(event_json)}));
}

Bytes AuditHeadMessage(std::string_view observer, std::uint64_t seq, ByteView hash) {
  const auto seq_le = U64Le(seq);
  // The message itself is a hash of length-prefixed parts: unambiguous, fixed size, and
  // starting with its own label (signing.h: the node key signs other formats too).
  const crypto::Digest256 digest = crypto::Blake2b256Parts(
      {AsBytes(kHeadLabel), AsBytes(observer), ByteView(seq_le.data(), seq_le.size()), hash});
  Bytes message(kHeadLabel.begin(), kHeadLabel.end());
  message.push_back(0);
  message.insert(message.end(), digest.begin(), digest.end());
  return message;
}

std::string_view AuditFailureName(AuditFailure failure) {
  switch (failure) {
    case AuditFailure::kNone: return "ok";
    case AuditFailure::kContentAltered: return "content_altered";
    case AuditFailure::kEntryMissing: return "entry_missing";
    case AuditFailure::kChainBroken: return "chain_broken";
    case AuditFailure::kReordered: return "reordered";
    case AuditFailure::kHeadMissing: return "head_missing";
    case AuditFailure::kHeadSignatureInvalid: return "head_signature_invalid";
    case AuditFailure::kTailTruncated: return "tail_truncated";
    case AuditFailure::kUnsignedEntries: return "unsigned_entries";
    case AuditFailure::kHeadMismatch: return "head_mismatch";
    case AuditFailure::kKnownHeadMissing: return "known_head_missing";
  }
  return "unknown";
}

AuditLog::AuditLog(std::unique_ptr<AuditStore> store, std::string observer,
                   std::unique_ptr<crypto::Signer> signer)
    : store_(std::move(store)), observer_(std::move(observer)), signer_(std::move(signer)) {}

AuditLog::~AuditLog() = default;

Result<std::unique_ptr<AuditLog>> AuditLog::Open(std::unique_ptr<AuditStore> store,
                                                 std::string observer_id,
                                                 std::unique_ptr<crypto::Signer> signer) {
  MEDMESH_CHECK(store != nullptr && signer != nullptr, "AuditLog::Open needs a store and a key");
  if (observer_id.empty() || observer_id.size() > kMaxAuditIdBytes) {
    return InvalidArgument("the audit log's node id must be 1..255 bytes");
  }
  SignedAuditHead genesis{0, ZeroHash(), observer_id, {}};
  genesis.signature = signer->Sign(AuditHeadMessage(genesis.observer, 0, genesis.hash));
  MEDMESH_RETURN_IF_ERROR(store->InitHead(genesis));
  return std::unique_ptr<AuditLog>(
      new AuditLog(std::move(store), std::move(observer_id), std::move(signer)));
}

std::unique_ptr<AuditLog> AuditLog::OpenReadOnly(std::unique_ptr<AuditStore> store) {
  MEDMESH_CHECK(store != nullptr, "AuditLog::OpenReadOnly needs a store");
  return std::unique_ptr<AuditLog>(new AuditLog(std::move(store), "", nullptr));
}

struct AuditLog::Pending {
  // One caller's entries (one for Append, several for AppendMany), written together.
  std::vector<const AuditEntry*> entries;
  std::vector<std::string> event_json;
  bool done = false;
  Status status;
};

Status AuditLog::Append(const AuditEntry& entry) {
  if (signer_ == nullptr) return FailedPrecondition("the audit log was opened read-only");
  MEDMESH_RETURN_IF_ERROR(ValidateAuditEntry(entry));
  // Rendered before any lock is taken: the JSON does not depend on the position.
  Pending me;
  me.entries.push_back(&entry);
  me.event_json.push_back(CanonicalAuditEventJson(entry, observer_));
  return Enqueue(me);
}

Status AuditLog::AppendMany(const std::vector<AuditEntry>& entries) {
  if (signer_ == nullptr) return FailedPrecondition("the audit log was opened read-only");
  if (entries.empty()) return OkStatus();
  Pending me;
  me.entries.reserve(entries.size());
  me.event_json.reserve(entries.size());
  for (const AuditEntry& entry : entries) {
    MEDMESH_RETURN_IF_ERROR(ValidateAuditEntry(entry));
    me.entries.push_back(&entry);
    me.event_json.push_back(CanonicalAuditEventJson(entry, observer_));
  }
  return Enqueue(me);
}

Status AuditLog::Enqueue(Pending& me) {
  std::unique_lock lock(mu_);
  pending_.push_back(&me);
  // Group commit: whoever finds no batch being written writes everything waiting (its own
  // entries among them, or first the entries queued before it); the others wait for their
  // turn. A batch takes whole callers, up to kMaxAuditBatch entries (at least one caller).
  while (!me.done) {
    if (writing_) {
      written_.wait(lock);
      continue;
    }
    writing_ = true;
    std::vector<Pending*> batch;
    std::size_t entries = 0;
    while (!pending_.empty() &&
           (batch.empty() || entries + pending_.front()->entries.size() <= kMaxAuditBatch)) {
      entries += pending_.front()->entries.size();
      batch.push_back(pending_.front());
      pending_.pop_front();
    }
    lock.unlock();
    const Status written = WriteBatch(batch);
    lock.lock();
    for (Pending* p : batch) {
      p->status = written;
      p->done = true;
    }
    writing_ = false;
    written_.notify_all();
  }
  return me.status;
}

Status AuditLog::WriteBatch(const std::vector<Pending*>& batch) {
  return store_->Append([&](const SignedAuditHead& current)
                            -> Result<std::pair<std::vector<StoredAuditEntry>, SignedAuditHead>> {
    std::vector<StoredAuditEntry> rows;
    std::uint64_t seq = current.seq;
    Bytes prev = current.hash;
    for (const Pending* p : batch) {
      for (std::size_t i = 0; i < p->entries.size(); ++i) {
        StoredAuditEntry row;
        row.seq = ++seq;
        row.entry = *p->entries[i];
        row.observer = observer_;
        row.format = kAuditFormatVersion;
        row.event_json = p->event_json[i];
        row.prev_hash = prev;
        row.entry_hash = AuditEntryHash(row.prev_hash, row.event_json);
        prev = row.entry_hash;
        rows.push_back(std::move(row));
      }
    }
    SignedAuditHead head{seq, prev, observer_, {}};
    head.signature = signer_->Sign(AuditHeadMessage(head.observer, head.seq, head.hash));
    return std::make_pair(std::move(rows), std::move(head));
  });
}

Result<AuditFailure> AuditLog::FindMovedEntry(ByteView prev_hash) const {
  bool found = false;
  MEDMESH_RETURN_IF_ERROR(
      store_->Scan([](const std::optional<SignedAuditHead>&) { return OkStatus(); },
                   [&](const StoredAuditEntry& s) -> Status {
                     if (SameBytes(s.entry_hash, prev_hash)) found = true;
                     return OkStatus();
                   }));
  return found ? AuditFailure::kReordered : AuditFailure::kChainBroken;
}

Result<AuditVerifyReport> AuditLog::Verify(const crypto::Verifier& node_key,
                                           const AuditVerifyOptions& options) const {
  AuditVerifyReport report;
  Walk walk;
  auto fail = [&](AuditFailure failure, std::uint64_t seq, std::string message) {
    report.failure = failure;
    report.first_bad_seq = seq;
    report.message = std::move(message);
  };
  const Status scanned = store_->Scan(
      [&](const std::optional<SignedAuditHead>& head) -> Status {
        // A scan may start over (a lost connection is retried): begin afresh each time.
        walk = Walk{};
        report.entries = 0;
        walk.head = head;
        if (walk.head && walk.head->seq == 0) walk.hash_at_head = ZeroHash();
        if (options.known_head && options.known_head->first == 0) walk.hash_at_known = ZeroHash();
        return OkStatus();
      },
      [&](const StoredAuditEntry& s) -> Status {
        ++report.entries;
        const std::string seq = std::to_string(s.seq);
        if (s.seq != walk.last_seq + 1) {
          fail(AuditFailure::kEntryMissing, walk.last_seq + 1,
               "entry " + std::to_string(walk.last_seq + 1) + " is missing (the next entry is " +
                   seq + ")");
          return StopScan();
        }
        if (s.format != kAuditFormatVersion) {
          fail(AuditFailure::kContentAltered, s.seq, "entry " + seq + " has an unknown format");
          return StopScan();
        }
        if (CanonicalAuditEventJson(s.entry, s.observer) != s.event_json) {
          fail(AuditFailure::kContentAltered, s.seq,
               "entry " + seq + ": its columns differ from the AuditEvent it recorded");
          return StopScan();
        }
        if (!SameBytes(AuditEntryHash(s.prev_hash, s.event_json), s.entry_hash)) {
          fail(AuditFailure::kContentAltered, s.seq,
               "entry " + seq + ": its hash does not match its content");
          return StopScan();
        }
        if (!SameBytes(s.prev_hash, walk.last_hash)) {
          fail(AuditFailure::kChainBroken, s.seq,
               "entry " + seq + " does not follow entry " + std::to_string(walk.last_seq));
          walk.dangling_prev = s.prev_hash;
          return StopScan();
        }
        walk.last_seq = s.seq;
        walk.last_hash = s.entry_hash;
        if (walk.head && walk.head->seq == s.seq) walk.hash_at_head = s.entry_hash;
        if (options.known_head && options.known_head->first == s.seq) {
          walk.hash_at_known = s.entry_hash;
        }
        return OkStatus();
      });
  if (walk.head) {
    report.head_seq = walk.head->seq;
    report.head_hash = walk.head->hash;
    report.observer = walk.head->observer;
  }
  if (!report.ok()) {
    if (report.failure == AuditFailure::kChainBroken) {
      MEDMESH_ASSIGN_OR_RETURN(report.failure, FindMovedEntry(walk.dangling_prev));
      if (report.failure == AuditFailure::kReordered) {
        report.message = "entry " + std::to_string(report.first_bad_seq) +
                         " follows an entry stored elsewhere in the log: entries were reordered";
      }
    }
    return report;
  }
  if (!scanned) return scanned.error();

  // The chain is whole; now the signed head.
  if (!walk.head) {
    fail(AuditFailure::kHeadMissing, walk.last_seq, "the log has no signed head");
    return report;
  }
  const SignedAuditHead& head = *walk.head;
  if (!options.observer.empty() && head.observer != options.observer) {
    fail(AuditFailure::kHeadSignatureInvalid, head.seq, "the head names another node");
    return report;
  }
  if (!node_key.Verify(AuditHeadMessage(head.observer, head.seq, head.hash), head.signature)) {
    fail(AuditFailure::kHeadSignatureInvalid, head.seq,
         "the head's signature is not valid for the node's key");
    return report;
  }
  if (head.seq > walk.last_seq) {
    fail(AuditFailure::kTailTruncated, walk.last_seq + 1,
         "the signed head is at entry " + std::to_string(head.seq) + " but the log ends at " +
             std::to_string(walk.last_seq) + ": the tail was removed");
    return report;
  }
  if (!walk.hash_at_head || !SameBytes(*walk.hash_at_head, head.hash)) {
    fail(AuditFailure::kHeadMismatch, head.seq,
         "the signed head's hash is not the hash of entry " + std::to_string(head.seq) +
             ": entries up to it were rewritten");
    return report;
  }
  if (head.seq < walk.last_seq) {
    fail(AuditFailure::kUnsignedEntries, head.seq + 1,
         "entries " + std::to_string(head.seq + 1) + ".." + std::to_string(walk.last_seq) +
             " come after the signed head");
    return report;
  }
  if (options.known_head) {
    if (!walk.hash_at_known || !SameBytes(*walk.hash_at_known, options.known_head->second)) {
      fail(AuditFailure::kKnownHeadMissing, options.known_head->first,
           "the log does not hold the head seen earlier at entry " +
               std::to_string(options.known_head->first) + ": it was rolled back or rewritten");
      return report;
    }
  }
  return report;
}

Result<AuditPage> AuditLog::Query(const AuditQuery& query) const {
  MEDMESH_ASSIGN_OR_RETURN(std::vector<StoredAuditEntry> rows, store_->Query(query));
  AuditPage page;
  page.events.reserve(rows.size());
  for (const StoredAuditEntry& row : rows) {
    nlohmann::json event = nlohmann::json::parse(row.event_json, nullptr, false);
    if (event.is_discarded() || !event.is_object()) {
      // Stored JSON that does not parse was written behind the log's back; serve it re-rendered
      // from its columns (Verify reports the entry).
      event = AuditEventJson(row.entry, row.observer);
    }
    event["id"] = std::to_string(row.seq);
    page.events.push_back(std::move(event));
  }
  if (rows.size() == query.limit && !rows.empty() && rows.back().seq > 1) {
    page.next_before_seq = rows.back().seq;
  }
  return page;
}

Result<std::vector<StoredAuditEntry>> AuditLog::QueryEntries(const AuditQuery& query) const {
  return store_->Query(query);
}

Result<SignedAuditHead> AuditLog::Head() const {
  MEDMESH_ASSIGN_OR_RETURN(std::optional<SignedAuditHead> head, store_->Head());
  if (!head) return NotFound("the audit log has no head");
  return *head;
}

Status CheckAuditQuery(const AuditQuery& q) {
  if (q.limit < 1 || q.limit > kMaxAuditQueryLimit) {
    return InvalidArgument("limit must be 1.." + std::to_string(kMaxAuditQueryLimit));
  }
  if (q.from_ms > q.to_ms) return InvalidArgument("from must not be after to");
  return OkStatus();
}

}  // namespace medmesh::audit

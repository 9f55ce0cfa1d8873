// AuditStore: where the audit log (audit_log.h) keeps its rows, on SQLite
// (sqlite_audit_store.h, audit.db in a node's data folder) or PostgreSQL
// (postgres_audit_store.h, its own schema). The store knows no keys: AuditLog computes every
// hash and signature and hands the store finished rows, inside the store's write transaction.
//
// Tables (both backends):
//   entry  one row per entry: seq (1, 2, 3, ... without gaps), the AuditEntry's fields as
//          columns (for queries), the observer (node id), the format version, the canonical
//          AuditEvent JSON, prev_hash and entry_hash. Triggers refuse UPDATE and DELETE (against
//          our own bugs; whoever owns the database can drop them, which Verify catches).
//   head   one row: the last seq and entry hash, the observer and the node's signature of them.
//
// Errors common to every method: kUnavailable when the database cannot be reached or is busy,
// kResourceExhausted for a full disk, kDataLoss for a corrupt database, kFailedPrecondition
// for a violated constraint, kInternal otherwise (store/sqlite_database.h and
// store/postgres/postgres_connection.h map them). Messages never carry a stored value.
// Thread safety: implementations are thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "audit/audit_sink.h"
#include "core/bytes.h"
#include "core/status.h"

namespace medmesh::audit {

// The version of the canonical JSON layout (audit_event_json.h) the log writes.
inline constexpr int kAuditFormatVersion = 1;

struct StoredAuditEntry {
  std::uint64_t seq = 0;
  AuditEntry entry;
  std::string observer;  // the node that recorded it
  int format = kAuditFormatVersion;
  std::string event_json;  // canonical AuditEvent JSON (without "id"): what entry_hash covers
  Bytes prev_hash;         // the previous entry's entry_hash; 32 zero bytes for seq 1
  Bytes entry_hash;
};

struct SignedAuditHead {
  std::uint64_t seq = 0;  // 0 for a log without entries
  Bytes hash;             // entry_hash of entry `seq`; 32 zero bytes for seq 0
  std::string observer;   // the node whose key signed it
  Bytes signature;        // Ed25519 over AuditHeadMessage (audit_log.h)
};

// Which entries to list, newest first. Empty strings match everything.
struct AuditQuery {
  std::string patient_id{};
  std::string actor_account_id{};
  std::string event{};               // exact event name ("record.read")
  std::optional<Action> action{};    // nullopt: any
  std::optional<Outcome> outcome{};  // nullopt: any
  std::int64_t from_ms = 0;          // recorded >= from_ms
  std::int64_t to_ms = std::numeric_limits<std::int64_t>::max();  // recorded < to_ms
  std::uint64_t before_seq = 0;  // only entries with seq < before_seq; 0: from the newest
  std::size_t limit = 50;        // 1..kMaxAuditQueryLimit
};
inline constexpr std::size_t kMaxAuditQueryLimit = 1000;

class AuditStore {
 public:
  virtual ~AuditStore() = default;

  // Writes `genesis` as the head if the log has none yet (a new log); OK and no change if it
  // has one.
  [[nodiscard]] virtual Status InitHead(const SignedAuditHead& genesis) = 0;

  // Called inside the append transaction with the current head (its row locked against other
  // appenders, in this process and others); returns the entries to insert (seq current.seq + 1,
  // + 2, ...) and the new head, or an error that rolls the transaction back.
  using Sealer = std::function<Result<std::pair<std::vector<StoredAuditEntry>, SignedAuditHead>>(
      const SignedAuditHead& current)>;
  // Inserts the sealed entries and replaces the head in one transaction: all or nothing is
  // durable when it returns. kFailedPrecondition if the log has no head (InitHead first).
  [[nodiscard]] virtual Status Append(const Sealer& seal) = 0;

  // Reads, from one consistent snapshot (appends running meanwhile are not seen), the head
  // (nullopt if there is none) and then every entry in seq order. Stops at the first error a
  // callback returns and returns it. After a lost connection the scan may start over from
  // on_head once, so callers reset their state there.
  [[nodiscard]] virtual Status Scan(
      const std::function<Status(const std::optional<SignedAuditHead>&)>& on_head,
      const std::function<Status(const StoredAuditEntry&)>& on_entry) const = 0;

  // The entries matching `query`, highest seq first. kInvalidArgument for a limit out of range.
  [[nodiscard]] virtual Result<std::vector<StoredAuditEntry>> Query(
      const AuditQuery& query) const = 0;

  // The head; nullopt if there is none.
  [[nodiscard]] virtual Result<std::optional<SignedAuditHead>> Head() const = 0;
};

// kInvalidArgument unless 1 <= query.limit <= kMaxAuditQueryLimit and from_ms <= to_ms.
Status CheckAuditQuery(const AuditQuery& query);

}  // namespace medmesh::audit

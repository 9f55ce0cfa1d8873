// IdsEventLog: an append-only log of security events seen by a node (rejected batches, forged
// signatures, replays, ...), the raw material of the intrusion detection system. Each event
// says when, where (node), from where (source IP, device id), what (a kind from a fixed list)
// and a short detail for operators.
//
// Append-only: there is no update or delete API, and triggers in the database refuse UPDATE
// and DELETE on the table, so a bug or an injected statement cannot rewrite history quietly.
// (Someone with write access to the file can still replace it; the hash-chained audit log is
// the tamper-evident record.)
//
// WARNING: the detail is stored as given (control characters replaced, cut to
// kMaxIdsDetailBytes). Callers must never put secrets, keys, tokens, passwords or payload
// bytes in it: describe the failure ("signature check failed for key 3f2a…"), do not copy
// the input.
// Thread safety: thread-safe (one connection behind a mutex); several objects may open the
// same file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace SQLite {  // NOLINT(readability-identifier-naming): SQLiteCpp's namespace
class Database;
}

namespace medmesh::store {

enum class IdsEventKind : std::uint8_t {
  kForgedSignature,    // a signature did not verify
  kBadCertificate,     // unknown issuer, expired, revoked or malformed certificate
  kReplay,             // a batch, session counter or nonce seen before
  kMalformed,          // bytes that do not parse
  kOversized,          // a body or field over its limit
  kDecompressionBomb,  // a compressed payload that expands past its limit
  kOutOfRange,         // physiologically implausible values
  kUnknownDevice,      // a device that is not enrolled
  kDecryptFailure,     // a sealed batch or stored ciphertext that fails to open
  kAuthFailure,        // a failed login or bad API credential
  kRateLimited,        // a client over its request rate
  kEnrolmentConflict,  // a claim on a device enrolled elsewhere, to another patient, or withdrawn
  kOther,              // anything else (also: a kind written by newer code)
};

// Stable snake_case names ("forged_signature", ...), the form stored in the database.
std::string_view IdsEventKindName(IdsEventKind kind);
std::optional<IdsEventKind> IdsEventKindFromName(std::string_view name);
std::vector<IdsEventKind> AllIdsEventKinds();

inline constexpr std::size_t kMaxIdsDetailBytes = 512;
inline constexpr std::size_t kMaxIdsFieldBytes = 128;

struct IdsEvent {
  std::int64_t id = 0;       // assigned by Append, increasing
  std::int64_t time_ms = 0;  // Unix epoch ms
  std::string node;          // the node that saw it, e.g. "cloudlet-1"
  std::string source_ip;     // as the HTTP layer saw it ("" if none)
  std::string device_id;     // claimed device id ("" if none); unverified for most kinds
  IdsEventKind kind = IdsEventKind::kOther;
  std::string detail;
};

struct IdsEventFilter {
  std::optional<std::int64_t> from_ms;  // inclusive
  std::optional<std::int64_t> to_ms;    // exclusive
  std::optional<IdsEventKind> kind;
  std::optional<std::string> node;
  std::optional<std::string> source_ip;
  std::optional<std::string> device_id;
  std::optional<std::int64_t> after_id;  // only events with a larger id (for tailing)
  std::size_t limit = 1000;
  bool newest_first = false;
};

class IdsEventLog {
 public:
  // Opens (creating) the log in the SQLite database at `path`. Errors from the database as in
  // internal/queue_sqlite.h.
  static Result<std::unique_ptr<IdsEventLog>> Open(const std::string& path);
  ~IdsEventLog();
  IdsEventLog(const IdsEventLog&) = delete;
  IdsEventLog& operator=(const IdsEventLog&) = delete;

  // Durably appends `event` (its id is ignored) and returns the id given to it. Text fields
  // are sanitised: control characters become spaces; node, source_ip and device_id are cut to
  // kMaxIdsFieldBytes, detail to kMaxIdsDetailBytes.
  Result<std::int64_t> Append(const IdsEvent& event);

  // Events matching every set field of `filter`, ordered by (time, id), oldest first unless
  // `newest_first`; at most `filter.limit`.
  Result<std::vector<IdsEvent>> Query(const IdsEventFilter& filter) const;

  // Number of events matching `filter` (its limit and order are ignored).
  Result<std::uint64_t> Count(const IdsEventFilter& filter) const;

  // Events per kind among those matching `filter`; kinds without events are absent.
  Result<std::map<IdsEventKind, std::uint64_t>> CountByKind(const IdsEventFilter& filter) const;

 private:
  explicit IdsEventLog(std::unique_ptr<SQLite::Database> db);
  mutable std::mutex mu_;
  std::unique_ptr<SQLite::Database> db_;  // guarded by mu_
};

}  // namespace medmesh::store

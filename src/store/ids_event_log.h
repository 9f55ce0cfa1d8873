// IdsEventLog: the log of security events seen by a node (rejected batches, forged signatures,
// replays, ...), the raw material of the intrusion detection system. Each row says when, where
// (node), from where (source IP, device id), what (a kind from a fixed list), a short detail for
// operators, and how many times it happened between its first and last time.
//
// Two ways in:
// - Append writes one row durably (one disk sync) and returns its id.
// - Record is the path for refusals of untrusted traffic. A flood of forged requests must not
//   cost a row and a disk sync each (a forged-signature flood at 1,900 requests/s once grew
//   ids.db by about 150 bytes per request). Each source (source IP) has a token bucket: while
//   it has tokens, its events are written as their own rows, as Append would; beyond that,
//   events of one kind from one source are counted in memory and written as ONE row with a
//   count and first/last time when their window (IdsAggregation::window) closes. A global
//   bucket bounds the rows written at once by all sources together, and at most
//   IdsAggregation::max_open (source, kind) pairs are tracked; events from further sources
//   are counted under the source "(many)". So a flood costs O(1) rows and disk syncs per
//   window, whatever its rate. Counts (Count, CountByKind, CountBySource) include the events
//   still held in memory, so detectors see them at once.
//
// Disk: every written row is its own commit, which appends 3 or 4 whole pages to SQLite's
// write-ahead log. So the log's database is opened with a bounded WAL (kIdsWalAutocheckpointPages,
// kIdsWalSizeLimitBytes; see SqliteOpenOptions), and the WAL is checkpointed and truncated after
// each write of aggregated rows. The WAL file stays under about 128 KiB, instead of keeping up
// to 4 MB of pages already in the database.
//
// Retention: PruneBefore deletes old rows. Otherwise the table is append-only: triggers refuse
// UPDATE, and DELETE of any row within one day of the newest row, so a bug or an injected
// statement cannot rewrite recent history quietly. (Someone with write access to the file can
// still replace it; the hash-chained audit log is the tamper-evident record.)
//
// WARNING: events held in memory for aggregation are lost if the process dies before their
// window closes (at most one window of counts per (source, kind); their first events were
// written at once). The detail of an aggregated row is the first event's.
// WARNING: the detail is stored as given (control characters replaced, cut to
// kMaxIdsDetailBytes). Callers must never put secrets, keys, tokens, passwords or payload
// bytes in it: describe the failure ("signature check failed for key 3f2a…"), do not copy
// the input.
// Thread safety: thread-safe (one connection and the aggregates behind a mutex); several
// objects may open the same file (each aggregates its own Record calls).
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "store/sqlite_database.h"

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
  kUnknownSession,     // a device-signed batch of a session this node forgot (restart, idle):
                       // benign noise, the device reseals; never alerting on its own
  kSlowClient,         // a connection that timed out sending its head or body
  kTampering,          // a stored record or ciphertext found altered by an integrity check
  kOther,              // anything else (also: a kind written by newer code)
};

// Stable snake_case names ("forged_signature", ...), the form stored in the database.
std::string_view IdsEventKindName(IdsEventKind kind);
std::optional<IdsEventKind> IdsEventKindFromName(std::string_view name);
std::vector<IdsEventKind> AllIdsEventKinds();

// The WAL bounds Open uses unless the caller's SqliteOpenOptions set their own.
inline constexpr int kIdsWalAutocheckpointPages = 16;
inline constexpr std::int64_t kIdsWalSizeLimitBytes = std::int64_t{64} << 10;

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
  std::uint64_t count = 1;        // events this row stands for (>1 for an aggregated row)
  std::int64_t last_time_ms = 0;  // time of the last of them; 0 in Append means time_ms
  // An opaque account reference (a keyed hash, never a login or an id) for the detectors'
  // per-account counts. NOT stored: only the observer (SetObserver) sees it.
  std::string account_ref = {};
};

// Called with every event given to Record or Append (sanitised, count 1 for Record), in the
// caller's thread, before the event is aggregated or written: the detectors' feed (src/ids).
using IdsEventObserver = std::function<void(const IdsEvent&)>;

// How Record aggregates (see the top of this file). Defaults: a source may write 10 rows at
// once, then one more every 6 s; all sources together 100, then 10 a second.
struct IdsAggregation {
  std::chrono::milliseconds window{60'000};
  std::uint32_t source_burst = 10;
  std::chrono::milliseconds source_refill{6'000};  // one token per
  std::uint32_t global_burst = 100;
  std::chrono::milliseconds global_refill{100};
  std::size_t max_open = 4096;  // (source, kind) pairs and source buckets tracked
};

// The source under which events beyond IdsAggregation::max_open tracked pairs are counted.
inline constexpr std::string_view kIdsManySources = "(many)";

enum class IdsRecordOutcome {
  kWritten,     // stored as its own row now
  kAggregated,  // counted in memory; stored in an aggregated row when its window closes
};

// Events from one source of one kind (CountBySource).
struct IdsSourceCount {
  std::string source_ip;
  IdsEventKind kind = IdsEventKind::kOther;
  std::uint64_t count = 0;
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
  // Opens (creating, or upgrading an older schema of) the log in the SQLite database at `path`.
  // The WAL bounds of `sqlite` that are unset (0, -1) become kIdsWalAutocheckpointPages and
  // kIdsWalSizeLimitBytes. Errors from the database as in internal/queue_sqlite.h.
  static Result<std::unique_ptr<IdsEventLog>> Open(const std::string& path,
                                                   IdsAggregation aggregation = {},
                                                   const SqliteOpenOptions& sqlite = {});
  // Writes the aggregates still open (errors are logged).
  ~IdsEventLog();
  IdsEventLog(const IdsEventLog&) = delete;
  IdsEventLog& operator=(const IdsEventLog&) = delete;

  // Durably appends `event` (its id is ignored) and returns the id given to it. Text fields
  // are sanitised: control characters become spaces; node, source_ip and device_id are cut to
  // kMaxIdsFieldBytes, detail to kMaxIdsDetailBytes.
  // `event.count` (at least 1) and `event.last_time_ms` are stored as given.
  Result<std::int64_t> Append(const IdsEvent& event);

  // Rate-limited, aggregating append (see the top of this file). `event.time_ms` is "now" for
  // the buckets and windows, so callers pass their injected clock's time. Also writes the
  // aggregates whose window closed, at most once per window (in the caller's thread). Errors
  // as Append when a row is written (the event is lost then, as with a failed Append).
  Result<IdsRecordOutcome> Record(const IdsEvent& event);

  // Sets the observer every later Record and Append call feeds (empty: none). Call it before
  // the log is shared between threads (it is read without a lock).
  void SetObserver(IdsEventObserver observer) { observer_ = std::move(observer); }

  // Writes, in one transaction, the aggregates whose window closed at `now_ms` (all of them
  // with FlushAll). For a periodic task, so a quiet source's last aggregate is not held for
  // long. Then checkpoints and truncates the WAL (CheckpointSqliteWal) if rows were written.
  // Returns the number of rows written; on error the aggregates stay in memory.
  Result<std::uint64_t> FlushClosed(std::int64_t now_ms);
  Result<std::uint64_t> FlushAll();

  // Retention: deletes the rows whose last event is before `before_ms`, except those within one
  // day of the newest row (the trigger refuses them; they are kept). Returns the number deleted.
  Result<std::uint64_t> PruneBefore(std::int64_t before_ms);

  // Rows matching every set field of `filter`, ordered by (time, id), oldest first unless
  // `newest_first`; at most `filter.limit`. Writes the open aggregates first (FlushAll), so
  // every event recorded so far is in a row. A row's time is its first event's.
  Result<std::vector<IdsEvent>> Query(const IdsEventFilter& filter);

  // Number of events matching `filter` (its limit and order are ignored): the sum of the rows'
  // counts plus the matching events held in memory (which have no id yet, so they are left
  // out when `after_id` is set). An aggregate matches by its first event's time.
  // It scans the table under the log's lock: not for unauthenticated or frequent callers
  // (use Total()).
  Result<std::uint64_t> Count(const IdsEventFilter& filter) const;

  // The events in the log when it was opened plus those appended through this object since.
  // Kept in memory: takes no lock and reads no database, so it answers at once even while an
  // append waits for the database. Appends by other objects on the same file are not seen.
  std::uint64_t Total() const { return total_.load(std::memory_order_relaxed); }

  // Events per kind among those matching `filter`; kinds without events are absent.
  Result<std::map<IdsEventKind, std::uint64_t>> CountByKind(const IdsEventFilter& filter) const;

  // Events per (source IP, kind) among those matching `filter`, most events first, at most
  // `filter.limit` entries: what a detector reads to find a noisy source.
  Result<std::vector<IdsSourceCount>> CountBySource(const IdsEventFilter& filter) const;

 private:
  struct Bucket {
    double tokens = 0;
    std::int64_t refilled_ms = 0;
  };
  IdsEventLog(std::unique_ptr<SQLite::Database> db, IdsAggregation aggregation,
              std::uint64_t total);
  Result<std::int64_t> AppendLocked(const IdsEvent& event);
  Result<std::uint64_t> FlushLocked(std::int64_t now_ms, bool all);
  bool TakeToken(const std::string& source, std::int64_t now_ms);
  // Adds the matching events held in memory to `add(source, kind, count)`.
  template <typename Add>
  void ForEachOpen(const IdsEventFilter& filter, Add add) const;

  const IdsAggregation aggregation_;
  mutable std::mutex mu_;
  std::unique_ptr<SQLite::Database> db_;  // guarded by mu_
  // Open aggregates by (source IP, kind), in the order they were opened. Guarded by mu_.
  std::map<std::pair<std::string, IdsEventKind>, IdsEvent> open_;
  std::map<std::string, Bucket> buckets_;  // guarded by mu_
  Bucket global_;                          // guarded by mu_
  std::int64_t next_flush_ms_ = 0;         // guarded by mu_
  std::atomic<std::uint64_t> total_;       // see Total()
  IdsEventObserver observer_;              // set before sharing (SetObserver)
};

}  // namespace medmesh::store

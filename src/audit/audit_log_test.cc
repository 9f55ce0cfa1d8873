// AuditLog on both backends (run twice: SQLite, and as audit_postgres_test on the
// PostgreSQL test cluster): round trip, queries, a linear chain under concurrent appends, and
// Verify finding every kind of tampering done straight in the database, as whoever owns the
// database file or schema could.
#include "audit/audit_log.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <pqxx/pqxx>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "audit/audit_event_json.h"
#include "audit/postgres_audit_store.h"
#include "audit/sqlite_audit_store.h"
#include "core/bytes.h"
#include "crypto/signing.h"
#include "testing/faulty_sqlite_vfs.h"
#include "testing/temp_dir.h"
#include "testing/test_backend.h"

namespace medmesh::audit {
namespace {

constexpr std::string_view kNode = "cloud-1";

// Raw access to one backend's tables: {entry} and {head} in SQL name them.
class TestBackend {
 public:
  virtual ~TestBackend() = default;
  virtual Result<std::unique_ptr<AuditStore>> Open() = 0;
  virtual Status Exec(const std::string& sql) = 0;
  // The triggers an attacker with the database's rights drops first.
  virtual Status DropProtection() = 0;
  // A SQL literal of a BLOB / bytea.
  virtual std::string BlobLiteral(ByteView bytes) const = 0;
};

class SqliteBackend final : public TestBackend {
 public:
  explicit SqliteBackend(std::string vfs = "") : vfs_(std::move(vfs)) {}
  Result<std::unique_ptr<AuditStore>> Open() override {
    MEDMESH_ASSIGN_OR_RETURN(auto s, SqliteAuditStore::Open(path(), {.vfs = vfs_}));
    return std::unique_ptr<AuditStore>(std::move(s));
  }
  Status Exec(const std::string& sql) override {
    try {
      SQLite::Database db(path(), SQLite::OPEN_READWRITE);
      db.exec(Expand(sql));
      return OkStatus();
    } catch (const std::exception& e) {
      return Internal(e.what());
    }
  }
  Status DropProtection() override {
    return Exec("DROP TRIGGER audit_entry_no_update; DROP TRIGGER audit_entry_no_delete;");
  }
  std::string BlobLiteral(ByteView bytes) const override { return "X'" + HexEncode(bytes) + "'"; }
  std::string path() const { return dir_.File(std::string(kAuditDbFileName)); }

 private:
  static std::string Expand(std::string sql) {
    for (const auto& [from, to] : {std::pair<std::string, std::string>{"{entry}", "audit_entry"},
                                   {"{head}", "audit_head"}}) {
      for (auto at = sql.find(from); at != std::string::npos; at = sql.find(from)) {
        sql.replace(at, from.size(), to);
      }
    }
    return sql;
  }
  testing::TempDir dir_;
  std::string vfs_;
};

class PostgresBackend final : public TestBackend {
 public:
  PostgresBackend() {
    const char* conninfo = std::getenv("MEDMESH_TEST_PG");
    conninfo_ = conninfo == nullptr ? "" : conninfo;
    std::random_device rd;
    prefix_ = "a";
    for (int i = 0; i < 12; ++i) prefix_ += "0123456789abcdef"[rd() % 16];
    prefix_ += "_";
  }
  ~PostgresBackend() override {
    (void)Exec("DROP SCHEMA IF EXISTS \"" + prefix_ + "audit_log\" CASCADE");
  }
  Result<std::unique_ptr<AuditStore>> Open() override {
    if (conninfo_.empty()) {
      return FailedPrecondition("MEDMESH_TEST_PG is not set: run the test through ctest");
    }
    MEDMESH_ASSIGN_OR_RETURN(
        auto s, PostgresAuditStore::Open({.conninfo = conninfo_, .schema_prefix = prefix_}));
    return std::unique_ptr<AuditStore>(std::move(s));
  }
  Status Exec(const std::string& sql) override {
    try {
      pqxx::connection c(conninfo_);
      pqxx::work w(c);
      w.exec(Expand(sql));
      w.commit();
      return OkStatus();
    } catch (const std::exception& e) {
      return Internal(e.what());
    }
  }
  Status DropProtection() override {
    return Exec(
        "DROP TRIGGER entry_append_only ON {entry}; DROP TRIGGER entry_no_truncate ON {entry};");
  }
  std::string BlobLiteral(ByteView bytes) const override {
    return "decode('" + HexEncode(bytes) + "', 'hex')";
  }

 private:
  std::string Expand(std::string sql) const {
    const std::string schema = "\"" + prefix_ + "audit_log\"";
    for (const auto& [from, to] :
         {std::pair<std::string, std::string>{"{entry}", schema + ".entry"},
          {"{head}", schema + ".head"}}) {
      for (auto at = sql.find(from); at != std::string::npos; at = sql.find(from)) {
        sql.replace(at, from.size(), to);
      }
    }
    return sql;
  }
  std::string conninfo_;
  std::string prefix_;
};

// On the PostgreSQL test cluster when run as audit_postgres_test (testing/test_backend.h).
const bool kPostgres = medmesh::testing::OnPostgres();
std::unique_ptr<TestBackend> MakeBackend() {
  if (kPostgres) return std::make_unique<PostgresBackend>();
  return std::make_unique<SqliteBackend>();
}

crypto::SigningSecretKey NodeKey(std::uint8_t fill = 7) {
  return *crypto::SigningSecretKey::FromSeed(Bytes(32, fill));
}

AuditEntry Entry(int i) {
  AuditEntry e;
  e.time_ms = 1'800'000'000'000 + i * 1000;
  e.event = "record.read";
  e.action = Action::kRead;
  e.actor_account_id = "acc_doctor" + std::to_string(i % 2);
  e.actor_role = "doctor";
  e.source_address = "192.0.2.10";
  e.patient_id = "pat_" + std::to_string(i % 3);
  e.entity_type = "DocumentReference";
  e.entity_id = "rec_" + std::to_string(i);
  return e;
}

class AuditLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    backend_ = MakeBackend();
    log_ = OpenLog();
    ASSERT_NE(log_, nullptr);
    verifier_ = crypto::NewEd25519Verifier(NodeKey().public_key());
  }

  std::unique_ptr<AuditLog> OpenLog() {
    auto store = backend_->Open();
    if (!store) {
      ADD_FAILURE() << store.error().ToString();
      return nullptr;
    }
    auto log =
        AuditLog::Open(std::move(*store), std::string(kNode), crypto::NewEd25519Signer(NodeKey()));
    if (!log) {
      ADD_FAILURE() << log.error().ToString();
      return nullptr;
    }
    return std::move(*log);
  }

  void AppendEntries(int n) {
    for (int i = 1; i <= n; ++i) ASSERT_TRUE(log_->Append(Entry(i)));
  }

  AuditVerifyReport Verify(const AuditVerifyOptions& options = {}) {
    auto report = log_->Verify(*verifier_, options);
    EXPECT_TRUE(report) << (report ? "" : report.error().ToString());
    return report ? *report : AuditVerifyReport{};
  }

  // Tampering as the database's owner: the append-only triggers go first.
  void Tamper(const std::string& sql) {
    ASSERT_TRUE(backend_->DropProtection());
    const Status done = backend_->Exec(sql);
    ASSERT_TRUE(done) << done.error().ToString();
  }

  std::unique_ptr<TestBackend> backend_;
  std::unique_ptr<AuditLog> log_;
  std::unique_ptr<crypto::Verifier> verifier_;
};

TEST_F(AuditLogTest, AppendedEntriesReadBackAsTheirAuditEventsNewestFirst) {
  AppendEntries(3);
  auto page = log_->Query({});
  ASSERT_TRUE(page);
  ASSERT_EQ(page->events.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    nlohmann::json expected = AuditEventJson(Entry(3 - i), kNode);
    expected["id"] = std::to_string(3 - i);
    EXPECT_TRUE(page->events[i] == expected) << "event " << i;
  }
  EXPECT_EQ(page->next_before_seq, 0u);

  const AuditVerifyReport report = Verify({.observer = std::string(kNode)});
  EXPECT_TRUE(report.ok()) << report.message;
  EXPECT_EQ(report.entries, 3u);
  EXPECT_EQ(report.head_seq, 3u);
  auto head = log_->Head();
  ASSERT_TRUE(head);
  EXPECT_EQ(head->seq, 3u);
  EXPECT_TRUE(report.head_hash == head->hash);
}

TEST_F(AuditLogTest, AnEmptyLogVerifiesAndAReopenedLogContinuesItsChain) {
  EXPECT_TRUE(Verify().ok());
  AppendEntries(2);
  log_.reset();
  log_ = OpenLog();
  ASSERT_NE(log_, nullptr);
  ASSERT_TRUE(log_->Append(Entry(3)));
  const AuditVerifyReport report = Verify();
  EXPECT_TRUE(report.ok()) << report.message;
  EXPECT_EQ(report.entries, 3u);
}

TEST_F(AuditLogTest, QueriesFilterByEventActionAndOutcome) {
  AppendEntries(4);
  AuditEntry refused = Entry(5);
  refused.event = "patient.identity.read";
  refused.outcome = Outcome::kMinorFailure;
  ASSERT_TRUE(log_->Append(refused));
  AuditEntry created = Entry(6);
  created.event = "consent.grant";
  created.action = Action::kCreate;
  ASSERT_TRUE(log_->Append(created));

  auto by_event = log_->QueryEntries({.event = "patient.identity.read"});
  ASSERT_TRUE(by_event);
  ASSERT_EQ(by_event->size(), 1u);
  EXPECT_EQ((*by_event)[0].seq, 5u);
  auto by_action = log_->QueryEntries({.action = Action::kCreate});
  ASSERT_TRUE(by_action);
  ASSERT_EQ(by_action->size(), 1u);
  EXPECT_EQ((*by_action)[0].seq, 6u);
  auto by_outcome = log_->QueryEntries({.outcome = Outcome::kMinorFailure});
  ASSERT_TRUE(by_outcome);
  ASSERT_EQ(by_outcome->size(), 1u);
  EXPECT_EQ((*by_outcome)[0].entry.event, "patient.identity.read");
  auto reads = log_->QueryEntries({.action = Action::kRead, .outcome = Outcome::kSuccess});
  ASSERT_TRUE(reads);
  EXPECT_EQ(reads->size(), 4u);
  auto none = log_->QueryEntries({.event = "consent.grant", .action = Action::kRead});
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
}

TEST_F(AuditLogTest, QueriesFilterByPatientActorAndTimeAndPageNewestFirst) {
  AppendEntries(9);  // patients pat_1, pat_2, pat_0, ...; actors alternate
  auto by_patient = log_->Query({.patient_id = "pat_1"});
  ASSERT_TRUE(by_patient);
  std::vector<std::string> ids;
  for (const auto& e : by_patient->events) ids.push_back(e["id"].get<std::string>());
  EXPECT_EQ(ids, (std::vector<std::string>{"7", "4", "1"}));
  for (const auto& e : by_patient->events) {
    EXPECT_EQ(e["entity"][0]["what"]["reference"], "Patient/pat_1");
  }

  auto by_actor = log_->Query({.actor_account_id = "acc_doctor0"});
  ASSERT_TRUE(by_actor);
  EXPECT_EQ(by_actor->events.size(), 4u);  // 2, 4, 6, 8

  auto by_time = log_->Query({.from_ms = Entry(3).time_ms, .to_ms = Entry(6).time_ms});
  ASSERT_TRUE(by_time);
  ids.clear();
  for (const auto& e : by_time->events) ids.push_back(e["id"].get<std::string>());
  EXPECT_EQ(ids, (std::vector<std::string>{"5", "4", "3"}));

  // Pages of 4: 9..6, 5..2, 1.
  std::vector<std::string> all;
  AuditQuery q{.limit = 4};
  for (int pages = 0; pages < 5; ++pages) {
    auto page = log_->Query(q);
    ASSERT_TRUE(page);
    for (const auto& e : page->events) all.push_back(e["id"].get<std::string>());
    if (page->next_before_seq == 0) break;
    q.before_seq = page->next_before_seq;
  }
  EXPECT_EQ(all, (std::vector<std::string>{"9", "8", "7", "6", "5", "4", "3", "2", "1"}));

  EXPECT_EQ(log_->Query({.limit = 0}).error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(log_->Query({.limit = kMaxAuditQueryLimit + 1}).error().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(log_->Query({.from_ms = 10, .to_ms = 5}).error().code(), ErrorCode::kInvalidArgument);
}

TEST_F(AuditLogTest, FreeTextIsStoredAndReturnedVerbatim) {
  AuditEntry e = Entry(1);
  e.purpose = "'); DROP TABLE audit_entry; -- <script>alert(1)</script> \"quoted\" \\ ünïcode";
  e.detail = "Robert'); DELETE FROM head; --";
  ASSERT_TRUE(log_->Append(e));
  auto page = log_->Query({.patient_id = e.patient_id});
  ASSERT_TRUE(page);
  ASSERT_EQ(page->events.size(), 1u);
  EXPECT_TRUE(page->events[0]["purposeOfEvent"][0]["text"] == e.purpose);
  EXPECT_TRUE(page->events[0]["outcomeDesc"] == e.detail);
  EXPECT_TRUE(Verify().ok());
}

TEST_F(AuditLogTest, InvalidEntriesAreRefusedAndLeaveTheChainAsItWas) {
  AppendEntries(2);
  AuditEntry bad = Entry(3);
  bad.event = "Record Read";
  EXPECT_EQ(log_->Append(bad).error().code(), ErrorCode::kInvalidArgument);
  bad = Entry(3);
  bad.time_ms = 0;
  EXPECT_EQ(log_->Append(bad).error().code(), ErrorCode::kInvalidArgument);
  bad = Entry(3);
  bad.purpose = std::string("\xff\xfe", 2);
  EXPECT_EQ(log_->Append(bad).error().code(), ErrorCode::kInvalidArgument);
  bad = Entry(3);
  bad.detail = std::string(kMaxAuditTextBytes + 1, 'x');
  EXPECT_EQ(log_->Append(bad).error().code(), ErrorCode::kInvalidArgument);
  const AuditVerifyReport report = Verify();
  EXPECT_TRUE(report.ok());
  EXPECT_EQ(report.entries, 2u);
}

TEST_F(AuditLogTest, TheTablesRefuseUpdatesAndDeletesWhileTheirTriggersStand) {
  AppendEntries(2);
  EXPECT_FALSE(backend_->Exec("UPDATE {entry} SET detail = 'x' WHERE seq = 1"));
  EXPECT_FALSE(backend_->Exec("DELETE FROM {entry} WHERE seq = 2"));
  EXPECT_TRUE(Verify().ok());
}

TEST_F(AuditLogTest, AReadOnlyLogVerifiesAndQueriesButCannotAppend) {
  AppendEntries(2);
  auto store = backend_->Open();
  ASSERT_TRUE(store);
  auto reader = AuditLog::OpenReadOnly(std::move(*store));
  EXPECT_EQ(reader->Append(Entry(3)).error().code(), ErrorCode::kFailedPrecondition);
  auto report = reader->Verify(*verifier_);
  ASSERT_TRUE(report);
  EXPECT_TRUE(report->ok());
  EXPECT_EQ(reader->Query({})->events.size(), 2u);
}

// --- Tampering ----------------------------------------------------------------------------------

TEST_F(AuditLogTest, AnAlteredColumnIsFound) {
  AppendEntries(5);
  Tamper("UPDATE {entry} SET patient_id = 'pat_other' WHERE seq = 3");
  const AuditVerifyReport report = Verify();
  EXPECT_EQ(report.failure, AuditFailure::kContentAltered);
  EXPECT_EQ(report.first_bad_seq, 3u);
}

TEST_F(AuditLogTest, AnAlteredAuditEventIsFound) {
  AppendEntries(5);
  Tamper("UPDATE {entry} SET event_json = replace(event_json, '\"R\"', '\"U\"') WHERE seq = 2");
  const AuditVerifyReport report = Verify();
  EXPECT_EQ(report.failure, AuditFailure::kContentAltered);
  EXPECT_EQ(report.first_bad_seq, 2u);
}

TEST_F(AuditLogTest, AnAlteredEntryHashIsFound) {
  AppendEntries(5);
  Tamper("UPDATE {entry} SET entry_hash = " + backend_->BlobLiteral(Bytes(32, 1)) +
         " WHERE seq = 4");
  const AuditVerifyReport report = Verify();
  EXPECT_EQ(report.failure, AuditFailure::kContentAltered);
  EXPECT_EQ(report.first_bad_seq, 4u);
}

TEST_F(AuditLogTest, ADeletedEntryIsFoundAsAGap) {
  AppendEntries(5);
  Tamper("DELETE FROM {entry} WHERE seq = 3");
  const AuditVerifyReport report = Verify();
  EXPECT_EQ(report.failure, AuditFailure::kEntryMissing);
  EXPECT_EQ(report.first_bad_seq, 3u);
}

TEST_F(AuditLogTest, ADeletedAndRenumberedEntryBreaksTheChain) {
  AppendEntries(5);
  Tamper(
      "DELETE FROM {entry} WHERE seq = 3;"
      "UPDATE {entry} SET seq = 3 WHERE seq = 4; UPDATE {entry} SET seq = 4 WHERE seq = 5;"
      "UPDATE {head} SET seq = 4");
  const AuditVerifyReport report = Verify();
  EXPECT_EQ(report.failure, AuditFailure::kChainBroken);
  EXPECT_EQ(report.first_bad_seq, 3u);
}

TEST_F(AuditLogTest, ReorderedEntriesAreFound) {
  AppendEntries(5);
  Tamper(
      "UPDATE {entry} SET seq = -3 WHERE seq = 3; UPDATE {entry} SET seq = 3 WHERE seq = 4;"
      "UPDATE {entry} SET seq = 4 WHERE seq = -3");
  const AuditVerifyReport report = Verify();
  EXPECT_EQ(report.failure, AuditFailure::kReordered);
  EXPECT_EQ(report.first_bad_seq, 3u);
}

TEST_F(AuditLogTest, ATruncatedTailIsFound) {
  AppendEntries(5);
  Tamper("DELETE FROM {entry} WHERE seq >= 4");
  const AuditVerifyReport report = Verify();
  EXPECT_EQ(report.failure, AuditFailure::kTailTruncated);
  EXPECT_EQ(report.first_bad_seq, 4u);
}

TEST_F(AuditLogTest, AnAlteredOrForeignHeadSignatureIsFound) {
  AppendEntries(3);
  {
    auto other = crypto::NewEd25519Verifier(NodeKey(9).public_key());
    auto report = log_->Verify(*other);
    ASSERT_TRUE(report);
    EXPECT_EQ(report->failure, AuditFailure::kHeadSignatureInvalid);
  }
  {
    auto report = log_->Verify(*verifier_, {.observer = "cloud-2"});
    ASSERT_TRUE(report);
    EXPECT_EQ(report->failure, AuditFailure::kHeadSignatureInvalid);
  }
  auto head = log_->Head();
  ASSERT_TRUE(head);
  Bytes signature = head->signature;
  signature[10] ^= 1;
  Tamper("UPDATE {head} SET signature = " + backend_->BlobLiteral(signature));
  const AuditVerifyReport report = Verify();
  EXPECT_EQ(report.failure, AuditFailure::kHeadSignatureInvalid);
  EXPECT_EQ(report.first_bad_seq, 3u);
}

TEST_F(AuditLogTest, AMissingHeadIsFound) {
  AppendEntries(2);
  Tamper("DELETE FROM {head}");
  EXPECT_EQ(Verify().failure, AuditFailure::kHeadMissing);
}

TEST_F(AuditLogTest, AnOldSignedHeadShowsTheEntriesAfterItAsUnsigned) {
  AppendEntries(3);
  auto old_head = log_->Head();
  ASSERT_TRUE(old_head);
  ASSERT_TRUE(log_->Append(Entry(4)));
  ASSERT_TRUE(log_->Append(Entry(5)));
  Tamper("UPDATE {head} SET seq = 3, hash = " + backend_->BlobLiteral(old_head->hash) +
         ", signature = " + backend_->BlobLiteral(old_head->signature));
  const AuditVerifyReport report = Verify();
  EXPECT_EQ(report.failure, AuditFailure::kUnsignedEntries);
  EXPECT_EQ(report.first_bad_seq, 4u);
}

TEST_F(AuditLogTest, ARollbackToAnOldSignedHeadIsFoundOnlyAgainstAHeadSeenEarlier) {
  AppendEntries(3);
  auto old_head = log_->Head();
  ASSERT_TRUE(old_head);
  ASSERT_TRUE(log_->Append(Entry(4)));
  ASSERT_TRUE(log_->Append(Entry(5)));
  auto seen = log_->Head();  // what an auditor noted
  ASSERT_TRUE(seen);
  Tamper(
      "DELETE FROM {entry} WHERE seq > 3;"
      "UPDATE {head} SET seq = 3, hash = " +
      backend_->BlobLiteral(old_head->hash) +
      ", signature = " + backend_->BlobLiteral(old_head->signature));
  // The documented limit: the database alone cannot show this.
  EXPECT_TRUE(Verify().ok());
  const AuditVerifyReport report = Verify({.known_head = std::make_pair(seen->seq, seen->hash)});
  EXPECT_EQ(report.failure, AuditFailure::kKnownHeadMissing);
  EXPECT_EQ(report.first_bad_seq, 5u);
  // A head seen before the rollback point still checks out.
  EXPECT_TRUE(Verify({.known_head = std::make_pair(old_head->seq, old_head->hash)}).ok());
}

// --- Concurrency --------------------------------------------------------------------------------

TEST_F(AuditLogTest, ConcurrentAppendsFromSeveralThreadsAndTwoOpenersKeepOneLinearChain) {
  // A second AuditLog on the same database stands for a second process (or node).
  std::unique_ptr<AuditLog> second = OpenLog();
  ASSERT_NE(second, nullptr);
  constexpr int kThreads = 4;
  constexpr int kPerThread = 25;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      AuditLog& log = t % 2 == 0 ? *log_ : *second;
      for (int i = 0; i < kPerThread; ++i) {
        if (!log.Append(Entry(t * kPerThread + i + 1))) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  const AuditVerifyReport report = Verify();
  EXPECT_TRUE(report.ok()) << report.message;
  EXPECT_EQ(report.entries, static_cast<std::uint64_t>(kThreads * kPerThread));
  std::set<std::string> rec_ids;
  auto page = log_->Query({.limit = kMaxAuditQueryLimit});
  ASSERT_TRUE(page);
  for (const auto& e : page->events)
    rec_ids.insert(e["entity"][1]["what"]["reference"].get<std::string>());
  EXPECT_EQ(rec_ids.size(), static_cast<std::size_t>(kThreads * kPerThread));
}

// --- AppendMany: one request's entries in one transaction -----------------------------------

std::vector<AuditEntry> Entries(int first, int count) {
  std::vector<AuditEntry> out;
  for (int i = first; i < first + count; ++i) out.push_back(Entry(i));
  return out;
}

TEST_F(AuditLogTest, AppendManyChainsTheEntriesInOrderUnderOneSignedHead) {
  AppendEntries(1);
  ASSERT_TRUE(log_->AppendMany({}));
  ASSERT_TRUE(log_->AppendMany(Entries(2, 3)));
  // More than one group commit's worth is still written, in one transaction.
  ASSERT_TRUE(log_->AppendMany(Entries(5, static_cast<int>(kMaxAuditBatch) + 6)));
  const int total = 4 + static_cast<int>(kMaxAuditBatch) + 6;
  auto page = log_->Query({.limit = kMaxAuditQueryLimit});
  ASSERT_TRUE(page);
  ASSERT_EQ(page->events.size(), static_cast<std::size_t>(total));
  for (int i = 0; i < total; ++i) {
    nlohmann::json expected = AuditEventJson(Entry(total - i), kNode);
    expected["id"] = std::to_string(total - i);
    EXPECT_TRUE(page->events[static_cast<std::size_t>(i)] == expected) << "event " << i;
  }
  const AuditVerifyReport report = Verify({.observer = std::string(kNode)});
  EXPECT_TRUE(report.ok()) << report.message;
  EXPECT_EQ(report.head_seq, static_cast<std::uint64_t>(total));
}

TEST_F(AuditLogTest, AppendManyWithOneInvalidEntryAppendsNone) {
  AppendEntries(2);
  std::vector<AuditEntry> entries = Entries(3, 3);
  entries[1].event = "Record Read";
  EXPECT_EQ(log_->AppendMany(entries).error().code(), ErrorCode::kInvalidArgument);
  const AuditVerifyReport report = Verify();
  EXPECT_TRUE(report.ok());
  EXPECT_EQ(report.entries, 2u);
}

TEST_F(AuditLogTest, ConcurrentAppendManyKeepsEachCallersEntriesTogether) {
  std::unique_ptr<AuditLog> second = OpenLog();
  ASSERT_NE(second, nullptr);
  constexpr int kThreads = 4;
  constexpr int kCalls = 10;
  constexpr int kPerCall = 5;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      AuditLog& log = t % 2 == 0 ? *log_ : *second;
      for (int c = 0; c < kCalls; ++c) {
        const int first = (t * kCalls + c) * kPerCall + 1;
        // Single appends in between, from the same threads.
        if (!log.Append(Entry(10'000 + t * kCalls + c))) ++failures;
        if (!log.AppendMany(Entries(first, kPerCall))) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  const AuditVerifyReport report = Verify();
  EXPECT_TRUE(report.ok()) << report.message;
  EXPECT_EQ(report.entries, static_cast<std::uint64_t>(kThreads * kCalls * (kPerCall + 1)));
  // Oldest first: every call's entries follow each other with nothing in between.
  auto page = log_->Query({.limit = kMaxAuditQueryLimit});
  ASSERT_TRUE(page);
  std::vector<int> order;
  for (auto it = page->events.rbegin(); it != page->events.rend(); ++it) {
    const std::string ref = (*it)["entity"][1]["what"]["reference"].get<std::string>();
    order.push_back(std::stoi(ref.substr(ref.find('_') + 1)));
  }
  int together = 0;
  for (std::size_t i = 0; i < order.size(); ++i) {
    if (order[i] >= 10'000 || (order[i] - 1) % kPerCall != 0) continue;
    bool consecutive = i + kPerCall <= order.size();
    for (int k = 1; consecutive && k < kPerCall; ++k) {
      consecutive = order[i + static_cast<std::size_t>(k)] == order[i] + k;
    }
    if (consecutive) ++together;
  }
  EXPECT_EQ(together, kThreads * kCalls);
}

// --- A failing disk (SQLite) --------------------------------------------------------------------

TEST(AuditLogFaultTest, AFailedAppendReturnsAnErrorAndLeavesTheChainValid) {
  if (kPostgres) GTEST_SKIP() << "the disk fault is SQLite's (the SQLite binary runs it)";
  testing::FaultySqliteVfs vfs("audit-faulty");
  auto verifier = crypto::NewEd25519Verifier(NodeKey().public_key());
  {
    SqliteBackend backend(vfs.name());
    auto store = backend.Open();
    ASSERT_TRUE(store);
    auto log =
        AuditLog::Open(std::move(*store), std::string(kNode), crypto::NewEd25519Signer(NodeKey()));
    ASSERT_TRUE(log);
    ASSERT_TRUE((*log)->Append(Entry(1)));
    ASSERT_TRUE((*log)->Append(Entry(2)));

    for (auto op : {testing::FaultySqliteVfs::Op::kWrite, testing::FaultySqliteVfs::Op::kSync}) {
      vfs.Inject({.op = op,
                  .failure = testing::FaultySqliteVfs::Failure::kIoError,
                  .file = std::string(kAuditDbFileName)});
      const Status failed = (*log)->Append(Entry(3));
      EXPECT_FALSE(failed);
      vfs.Clear();
      auto report = (*log)->Verify(*verifier);
      ASSERT_TRUE(report);
      EXPECT_TRUE(report->ok()) << report->message;
      EXPECT_EQ(report->entries, 2u);
    }
    vfs.Inject({.op = testing::FaultySqliteVfs::Op::kWrite,
                .failure = testing::FaultySqliteVfs::Failure::kFull,
                .file = std::string(kAuditDbFileName)});
    EXPECT_EQ((*log)->Append(Entry(3)).error().code(), ErrorCode::kResourceExhausted);
    vfs.Clear();
    EXPECT_GT(vfs.injected(), 0u);

    // A failed AppendMany writes none of its entries.
    vfs.Inject({.op = testing::FaultySqliteVfs::Op::kWrite,
                .failure = testing::FaultySqliteVfs::Failure::kIoError,
                .file = std::string(kAuditDbFileName)});
    EXPECT_FALSE((*log)->AppendMany({Entry(3), Entry(4), Entry(5)}));
    vfs.Clear();
    auto after_many = (*log)->Verify(*verifier);
    ASSERT_TRUE(after_many);
    EXPECT_TRUE(after_many->ok()) << after_many->message;
    EXPECT_EQ(after_many->entries, 2u);

    // The next append continues the chain where it was.
    ASSERT_TRUE((*log)->Append(Entry(3)));
    auto report = (*log)->Verify(*verifier);
    ASSERT_TRUE(report);
    EXPECT_TRUE(report->ok()) << report->message;
    EXPECT_EQ(report->entries, 3u);
    EXPECT_EQ(report->head_seq, 3u);
  }
}

}  // namespace
}  // namespace medmesh::audit

// What the audit log costs: one Append on SQLite (render, hash, sign, one durable commit), Appends
// from 8 threads (group commit), and Verify per entry. Not run by tests;
// `build/<preset>/src/audit/audit_log_benchmark`.
#include <benchmark/benchmark.h>

#include <memory>
#include <string>

#include "audit/audit_log.h"
#include "audit/sqlite_audit_store.h"
#include "core/check.h"
#include "testing/temp_dir.h"

namespace medmesh::audit {
namespace {

AuditEntry Entry(std::int64_t i) {
  AuditEntry e;
  e.time_ms = 1'800'000'000'000 + i;
  e.event = "record.read";
  e.actor_account_id = "acc_0123456789abcdefghijklmnop";
  e.actor_role = "doctor";
  e.source_address = "192.0.2.10";
  e.patient_id = "pat_0123456789abcdefghijklmnop";
  e.entity_type = "DocumentReference";
  e.entity_id = "rec_" + std::to_string(i);
  return e;
}

std::unique_ptr<AuditLog> OpenLog(const testing::TempDir& dir) {
  auto store = SqliteAuditStore::Open(dir.File("audit.db"));
  MEDMESH_CHECK(store.has_value(), "open audit store");
  auto key = crypto::SigningSecretKey::FromSeed(Bytes(32, 7));
  MEDMESH_CHECK(key.has_value(), "key");
  auto log =
      AuditLog::Open(std::move(*store), "cloud-1", crypto::NewEd25519Signer(std::move(*key)));
  MEDMESH_CHECK(log.has_value(), "open audit log");
  return std::move(*log);
}

void BM_AppendSqlite(benchmark::State& state) {
  testing::TempDir dir;
  auto log = OpenLog(dir);
  std::int64_t i = 0;
  for (auto _ : state) {
    MEDMESH_CHECK(log->Append(Entry(++i)).has_value(), "append");
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AppendSqlite)->Unit(benchmark::kMicrosecond);

// Appends from several threads share commits (group commit). Set up by thread 0 before the
// loop; Google Benchmark synchronises the threads at the loop's start and end.
std::unique_ptr<testing::TempDir> shared_dir;
std::unique_ptr<AuditLog> shared_log;

void BM_AppendSqliteThreads(benchmark::State& state) {
  if (state.thread_index() == 0) {
    shared_dir = std::make_unique<testing::TempDir>();
    shared_log = OpenLog(*shared_dir);
  }
  std::int64_t i = state.thread_index() * 1'000'000'000LL;
  for (auto _ : state) {
    MEDMESH_CHECK(shared_log->Append(Entry(++i)).has_value(), "append");
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) {
    shared_log.reset();
    shared_dir.reset();
  }
}
BENCHMARK(BM_AppendSqliteThreads)->Threads(8)->UseRealTime()->Unit(benchmark::kMicrosecond);

void BM_VerifySqlite(benchmark::State& state) {
  testing::TempDir dir;
  auto log = OpenLog(dir);
  for (std::int64_t i = 1; i <= state.range(0); ++i) {
    MEDMESH_CHECK(log->Append(Entry(i)).has_value(), "append");
  }
  auto key = crypto::SigningSecretKey::FromSeed(Bytes(32, 7));
  auto verifier = crypto::NewEd25519Verifier(key->public_key());
  for (auto _ : state) {
    auto report = log->Verify(*verifier);
    MEDMESH_CHECK(report.has_value() && report->ok(), "verify");
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_VerifySqlite)->Arg(1000)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace medmesh::audit

BENCHMARK_MAIN();

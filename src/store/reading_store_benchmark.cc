// The operator readings query (ReadingStore::Query) against the length of a patient's history:
// the newest page should cost the same for a day of readings as for a month, and reading the
// whole history page by page should cost about what decoding it costs. One patient, one batch
// per minute of heart rate and SpO2 at 1 Hz (120 readings per batch), stored encrypted with a
// real SQLite database and wrapped-key store in a temp folder.
//   build/release/src/store/reading_store_benchmark [--benchmark_filter=...]
#include <benchmark/benchmark.h>

#include <memory>
#include <vector>

#include "core/check.h"
#include "store/reading_store.h"
#include "store/sqlite_wrapped_key_store.h"
#include "testing/fake_clock.h"
#include "testing/fake_random.h"
#include "testing/temp_dir.h"

namespace medmesh::store {
namespace {

constexpr std::int64_t kStart = 1'800'000'000'000;

// A store holding `batches` one-minute batches of one patient.
struct History {
  explicit History(int batches) {
    keys = SqliteWrappedKeyStore::Open(dir.File("keys.db")).value();
    aead = std::make_unique<crypto::EnvelopeAead>(crypto::KeyEncryptionKey::Generate(random), *keys,
                                                  random);
    store = ReadingStore::Open(dir.File("readings.db"), *aead, clock).value();
    std::vector<ReadingBatchToStore> group;
    for (int b = 0; b < batches; ++b) {
      ReadingBatchToStore batch{"patient-1", "watch-1", "b-" + std::to_string(b), {}};
      for (int s = 0; s < 60; ++s) {
        const std::int64_t t = kStart + (std::int64_t{b} * 60 + s) * 1000;
        batch.readings.push_back({t, wire::VitalKind::kHeartRate, 60'000 + (s % 7) * 1000});
        batch.readings.push_back({t, wire::VitalKind::kSpO2, 97'000 - (s % 3) * 1000});
      }
      group.push_back(std::move(batch));
      if (group.size() == 500 || b + 1 == batches) {
        MEDMESH_CHECK(store->PutMany(group).has_value(), "storing the history failed");
        group.clear();
      }
    }
  }
  testing::TempDir dir;
  testing::FakeClock clock;
  testing::DeterministicRandom random{5};
  std::unique_ptr<SqliteWrappedKeyStore> keys;
  std::unique_ptr<crypto::EnvelopeAead> aead;
  std::unique_ptr<ReadingStore> store;
};

ReadingQuery All(std::size_t limit) {
  ReadingQuery q;
  q.from_ms = 0;
  q.to_ms = wire::kMaxTimeMs;
  q.limit = limit;
  return q;
}

// The route's default: the newest 1000 readings.
// NOLINTNEXTLINE(readability-identifier-naming): Google Benchmark's BM_ convention
void BM_NewestPage(benchmark::State& state) {
  History history(static_cast<int>(state.range(0)));
  for (auto _ : state) {  // NOLINT(clang-analyzer-deadcode.DeadStores): the benchmark loop
    auto page = history.store->Query("patient-1", All(1000));
    MEDMESH_CHECK(page && page->readings.size() == 1000, "query failed");
    benchmark::DoNotOptimize(page);
  }
  state.counters["history_readings"] = static_cast<double>(state.range(0) * 120);
}
// 1 day, 1 week, 1 month of one-minute batches.
BENCHMARK(BM_NewestPage)->Arg(1440)->Arg(10'080)->Arg(43'200)->Unit(benchmark::kMillisecond);

// The whole history, in pages of 10 000 (the route's maximum).
// NOLINTNEXTLINE(readability-identifier-naming): Google Benchmark's BM_ convention
void BM_WholeHistoryInPages(benchmark::State& state) {
  History history(static_cast<int>(state.range(0)));
  std::size_t readings = 0;
  for (auto _ : state) {  // NOLINT(clang-analyzer-deadcode.DeadStores): the benchmark loop
    ReadingQuery q = All(10'000);
    readings = 0;
    while (true) {
      auto page = history.store->Query("patient-1", q);
      MEDMESH_CHECK(page.has_value(), "query failed");
      readings += page->readings.size();
      if (!page->next_cursor) break;
      q.cursor = *page->next_cursor;
    }
  }
  state.counters["readings_per_s"] =
      benchmark::Counter(static_cast<double>(readings) * static_cast<double>(state.iterations()),
                         benchmark::Counter::kIsRate);
}
BENCHMARK(BM_WholeHistoryInPages)->Arg(1440)->Arg(10'080)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace medmesh::store

BENCHMARK_MAIN();

#include "store/ids_event_log.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <set>
#include <thread>

#include "store/internal/test_temp_dir.h"

namespace medmesh::store {
namespace {

constexpr std::int64_t kT0 = 1'800'000'000'000;

IdsEvent Event(std::int64_t t, IdsEventKind kind, std::string device = "dev-1",
               std::string ip = "192.0.2.7") {
  return {0, t, "cloudlet-1", std::move(ip), std::move(device), kind, "batch rejected"};
}

// A filter with the fields `set` sets.
template <typename F>
IdsEventFilter With(F set) {
  IdsEventFilter f;
  set(f);
  return f;
}

class IdsEventLogTest : public ::testing::Test {
 protected:
  std::unique_ptr<IdsEventLog> OpenLog() {
    auto log = IdsEventLog::Open(dir_.File("ids.db"));
    EXPECT_TRUE(log.has_value()) << (log ? "" : log.error().ToString());
    return std::move(log).value();
  }
  internal::TempDir dir_;
};

TEST_F(IdsEventLogTest, KindNamesRoundTrip) {
  std::set<std::string_view> names;
  for (IdsEventKind k : AllIdsEventKinds()) {
    EXPECT_EQ(IdsEventKindFromName(IdsEventKindName(k)), k);
    names.insert(IdsEventKindName(k));
  }
  EXPECT_EQ(names.size(), AllIdsEventKinds().size());
  EXPECT_EQ(IdsEventKindName(IdsEventKind::kDecompressionBomb), "decompression_bomb");
  EXPECT_FALSE(IdsEventKindFromName("nope").has_value());
}

TEST_F(IdsEventLogTest, AppendsAndQueriesByTimeAndKind) {
  auto log = OpenLog();
  auto id1 = log->Append(Event(kT0, IdsEventKind::kForgedSignature));
  auto id2 = log->Append(Event(kT0 + 1000, IdsEventKind::kReplay, "dev-2", "2001:db8::1"));
  auto id3 = log->Append(Event(kT0 + 2000, IdsEventKind::kReplay));
  ASSERT_TRUE(id1 && id2 && id3);
  EXPECT_LT(*id1, *id2);
  EXPECT_LT(*id2, *id3);

  auto all = log->Query({});
  ASSERT_TRUE(all.has_value());
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].id, *id1);
  EXPECT_EQ((*all)[0].kind, IdsEventKind::kForgedSignature);
  EXPECT_EQ((*all)[0].node, "cloudlet-1");
  EXPECT_EQ((*all)[0].source_ip, "192.0.2.7");
  EXPECT_EQ((*all)[0].detail, "batch rejected");

  auto replays = log->Query(With([](auto& f) { f.kind = IdsEventKind::kReplay; }));
  ASSERT_EQ(replays->size(), 2u);
  auto window = log->Query(With([](auto& f) {
    f.from_ms = kT0 + 1000;
    f.to_ms = kT0 + 2000;
  }));
  ASSERT_EQ(window->size(), 1u);
  EXPECT_EQ((*window)[0].id, *id2);
  auto by_device = log->Query(With([](auto& f) { f.device_id = "dev-2"; }));
  ASSERT_EQ(by_device->size(), 1u);
  EXPECT_EQ((*by_device)[0].source_ip, "2001:db8::1");
  auto by_ip = log->Query(With([](auto& f) { f.source_ip = "192.0.2.7"; }));
  EXPECT_EQ(by_ip->size(), 2u);
  auto newest = log->Query(With([](auto& f) {
    f.limit = 2;
    f.newest_first = true;
  }));
  ASSERT_EQ(newest->size(), 2u);
  EXPECT_EQ((*newest)[0].id, *id3);
  auto tail = log->Query(With([&](auto& f) { f.after_id = *id1; }));
  EXPECT_EQ(tail->size(), 2u);
}

TEST_F(IdsEventLogTest, Counts) {
  auto log = OpenLog();
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(log->Append(Event(kT0 + i, IdsEventKind::kMalformed)));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(log->Append(Event(kT0 + i, IdsEventKind::kOutOfRange)));
  ASSERT_TRUE(log->Append(Event(kT0 + 100, IdsEventKind::kUnknownDevice)));
  EXPECT_EQ(*log->Count({}), 9u);
  EXPECT_EQ(*log->Count(With([](auto& f) { f.kind = IdsEventKind::kOutOfRange; })), 3u);
  EXPECT_EQ(*log->Count(With([](auto& f) { f.to_ms = kT0 + 2; })), 4u);
  auto by_kind = log->CountByKind({});
  ASSERT_TRUE(by_kind.has_value());
  EXPECT_EQ(by_kind->size(), 3u);
  EXPECT_EQ(by_kind->at(IdsEventKind::kMalformed), 5u);
  EXPECT_EQ(by_kind->at(IdsEventKind::kUnknownDevice), 1u);
  auto late = log->CountByKind(With([](auto& f) { f.from_ms = kT0 + 50; }));
  EXPECT_EQ(late->size(), 1u);
}

TEST_F(IdsEventLogTest, TextIsSanitisedAndCut) {
  auto log = OpenLog();
  IdsEvent e = Event(kT0, IdsEventKind::kMalformed);
  e.detail = "line one\nforged: {\"level\":\"info\"}\r\t" + std::string(2000, 'x');
  e.device_id = std::string(500, 'd');
  ASSERT_TRUE(log->Append(e));
  auto got = log->Query({});
  ASSERT_EQ(got->size(), 1u);
  const IdsEvent& g = got->front();
  EXPECT_EQ(g.detail.size(), kMaxIdsDetailBytes);
  EXPECT_EQ(g.detail.find('\n'), std::string::npos);
  EXPECT_EQ(g.detail.find('\r'), std::string::npos);
  EXPECT_EQ(g.detail.rfind("line one forged", 0), 0u);
  EXPECT_EQ(g.device_id.size(), kMaxIdsFieldBytes);
  // Multi-byte UTF-8 is cut on a character boundary.
  e.detail = std::string(kMaxIdsDetailBytes - 1, 'a') + "\xC3\xA9";
  ASSERT_TRUE(log->Append(e));
  EXPECT_EQ(log->Query(With([](auto& f) { f.newest_first = true; }))->front().detail,
            std::string(kMaxIdsDetailBytes - 1, 'a'));
}

TEST_F(IdsEventLogTest, TotalStartsFromTheFileAndCountsAppends) {
  {
    auto log = OpenLog();
    EXPECT_EQ(log->Total(), 0u);
    for (int i = 0; i < 4; ++i) ASSERT_TRUE(log->Append(Event(kT0 + i, IdsEventKind::kReplay)));
    EXPECT_EQ(log->Total(), 4u);
  }
  auto log = OpenLog();
  EXPECT_EQ(log->Total(), 4u);  // loaded at open
  ASSERT_TRUE(log->Append(Event(kT0 + 9, IdsEventKind::kMalformed)));
  EXPECT_EQ(log->Total(), 5u);
  EXPECT_EQ(*log->Count({}), 5u);
}

// Total() is what unauthenticated statistics read: it must not wait for the log's lock, which
// an append holds while the database is busy (here: another connection's write transaction).
TEST_F(IdsEventLogTest, TotalAnswersWhileAnAppendWaitsForTheDatabase) {
  auto log = OpenLog();
  ASSERT_TRUE(log->Append(Event(kT0, IdsEventKind::kReplay)));
  SQLite::Database other(dir_.File("ids.db"), SQLite::OPEN_READWRITE);
  other.exec("BEGIN IMMEDIATE");  // the write lock, until ROLLBACK
  std::atomic<bool> started{false};
  std::atomic<bool> finished{false};
  std::thread blocked([&] {
    started = true;
    (void)log->Append(Event(kT0 + 1, IdsEventKind::kMalformed));  // waits up to the busy timeout
    finished = true;
  });
  while (!started) std::this_thread::yield();
  EXPECT_EQ(log->Total(), 1u);
  EXPECT_FALSE(finished) << "Total() waited for the append";
  other.exec("ROLLBACK");
  blocked.join();
  EXPECT_EQ(log->Total(), 2u);
}

TEST_F(IdsEventLogTest, TheTableIsAppendOnly) {
  auto log = OpenLog();
  ASSERT_TRUE(log->Append(Event(kT0, IdsEventKind::kReplay)));
  SQLite::Database raw(dir_.File("ids.db"), SQLite::OPEN_READWRITE);
  EXPECT_THROW(raw.exec("UPDATE ids_events SET detail = 'nothing happened'"), SQLite::Exception);
  EXPECT_THROW(raw.exec("DELETE FROM ids_events"), SQLite::Exception);
  EXPECT_EQ(log->Query({})->front().detail, "batch rejected");
}

TEST_F(IdsEventLogTest, OldRowsArePrunedButTheLastDayIsKept) {
  constexpr std::int64_t kDay = 86'400'000;
  auto log = OpenLog();
  ASSERT_TRUE(log->Append(Event(kT0, IdsEventKind::kReplay)));
  ASSERT_TRUE(log->Append(Event(kT0 + 10 * kDay, IdsEventKind::kMalformed)));
  ASSERT_TRUE(log->Append(Event(kT0 + 40 * kDay, IdsEventKind::kOversized)));
  // Asked for everything, it keeps the rows within a day of the newest.
  auto pruned = log->PruneBefore(kT0 + 41 * kDay);
  ASSERT_TRUE(pruned) << pruned.error().ToString();
  EXPECT_EQ(*pruned, 2u);
  auto left = log->Query({});
  ASSERT_EQ(left->size(), 1u);
  EXPECT_EQ(left->front().kind, IdsEventKind::kOversized);
  // Nothing recent can be deleted behind the log's back either.
  SQLite::Database raw(dir_.File("ids.db"), SQLite::OPEN_READWRITE);
  EXPECT_THROW(raw.exec("DELETE FROM ids_events"), SQLite::Exception);
}

TEST_F(IdsEventLogTest, PruneKeepsRowsWhoseLastEventIsRecent) {
  constexpr std::int64_t kDay = 86'400'000;
  auto log = OpenLog();
  IdsEvent long_running = Event(kT0, IdsEventKind::kForgedSignature);
  long_running.count = 7;
  long_running.last_time_ms = kT0 + 35 * kDay;
  ASSERT_TRUE(log->Append(long_running));
  ASSERT_TRUE(log->Append(Event(kT0 + 40 * kDay, IdsEventKind::kOversized)));
  EXPECT_EQ(*log->PruneBefore(kT0 + 30 * kDay), 0u);
  EXPECT_EQ(*log->Count({}), 8u);
}

// A flood from one source (the forged-signature flood of issue 7 item 6): O(1) rows, every
// event still counted, per source and kind.
TEST_F(IdsEventLogTest, AFloodFromOneSourceIsAggregatedIntoFewRowsAndStillCounted) {
  IdsAggregation aggregation;
  aggregation.window = std::chrono::seconds(60);
  aggregation.source_burst = 3;
  aggregation.source_refill = std::chrono::hours(1);
  auto opened = IdsEventLog::Open(dir_.File("ids.db"), aggregation);
  ASSERT_TRUE(opened);
  IdsEventLog& log = **opened;
  const auto file_bytes = [&] {
    std::int64_t total = 0;
    for (const char* suffix : {"", "-wal"}) {
      std::error_code ec;
      const auto n = std::filesystem::file_size(dir_.File("ids.db") + suffix, ec);
      if (!ec) total += static_cast<std::int64_t>(n);
    }
    return total;
  };
  ASSERT_TRUE(log.Append(Event(kT0 - 1, IdsEventKind::kMalformed, "dev-0", "198.51.100.1")));
  const std::int64_t bytes_before = file_bytes();

  constexpr int kFlood = 20'000;
  int written = 0;
  for (int i = 0; i < kFlood; ++i) {
    // 1,000 events a second for 20 s: all inside one window.
    auto outcome =
        log.Record(Event(kT0 + i, IdsEventKind::kForgedSignature, "dev-1", "192.0.2.66"));
    ASSERT_TRUE(outcome) << outcome.error().ToString();
    if (*outcome == IdsRecordOutcome::kWritten) ++written;
  }
  ASSERT_TRUE(log.Record(Event(kT0 + 5, IdsEventKind::kMalformed, "dev-2", "192.0.2.8")));

  EXPECT_EQ(written, 3);  // the source's burst
  // The counts include what is still held in memory.
  EXPECT_EQ(*log.Count({}), 1u + kFlood + 1u);
  EXPECT_EQ(*log.Count(With([](auto& f) { f.source_ip = "192.0.2.66"; })),
            static_cast<std::uint64_t>(kFlood));
  auto by_source = log.CountBySource(With([](auto& f) { f.from_ms = kT0; }));
  ASSERT_TRUE(by_source);
  ASSERT_EQ(by_source->size(), 2u);
  EXPECT_EQ((*by_source)[0].source_ip, "192.0.2.66");
  EXPECT_EQ((*by_source)[0].kind, IdsEventKind::kForgedSignature);
  EXPECT_EQ((*by_source)[0].count, static_cast<std::uint64_t>(kFlood));
  EXPECT_EQ(log.CountByKind({})->at(IdsEventKind::kForgedSignature),
            static_cast<std::uint64_t>(kFlood));

  // The window closes: one aggregated row for the rest of the flood.
  auto flushed = log.FlushClosed(kT0 + 60'000 + 3);
  ASSERT_TRUE(flushed) << flushed.error().ToString();
  EXPECT_EQ(*flushed, 1u);
  auto rows = log.Query(With([](auto& f) { f.source_ip = "192.0.2.66"; }));
  ASSERT_TRUE(rows);
  ASSERT_EQ(rows->size(), 4u);  // 3 single rows + 1 aggregate
  const IdsEvent& aggregate = rows->back();
  EXPECT_EQ(aggregate.count, static_cast<std::uint64_t>(kFlood - 3));
  EXPECT_EQ(aggregate.time_ms, kT0 + 3);
  EXPECT_EQ(aggregate.last_time_ms, kT0 + kFlood - 1);
  EXPECT_EQ(aggregate.detail, "batch rejected");
  EXPECT_EQ(*log.Count({}), 1u + kFlood + 1u);

  // Amortised disk cost per event: far below 10 bytes (one row is about 150).
  const std::int64_t grown = file_bytes() - bytes_before;
  RecordProperty("disk_bytes_per_event", std::to_string(static_cast<double>(grown) / kFlood));
  EXPECT_LT(grown, 10 * kFlood) << grown << " bytes for " << kFlood << " events";
}

// Many windows of a flood from many sources, each window's first events written one commit
// each and the rest aggregated: the WAL of ids.db never holds more than its bound (SQLite's
// defaults would let it grow to about 4 MB of pages already in the database), and it is empty
// after each write of aggregated rows.
TEST_F(IdsEventLogTest, TheWalStaysBoundedAfterManyAggregatedWrites) {
  IdsAggregation aggregation;
  aggregation.window = std::chrono::seconds(10);
  aggregation.source_burst = 2;
  aggregation.source_refill = std::chrono::seconds(5);
  aggregation.global_burst = 50;
  aggregation.global_refill = std::chrono::milliseconds(200);
  auto opened = IdsEventLog::Open(dir_.File("ids.db"), aggregation);
  ASSERT_TRUE(opened);
  IdsEventLog& log = **opened;
  const auto wal_bytes = [&] {
    std::error_code ec;
    const auto n = std::filesystem::file_size(dir_.File("ids.db") + "-wal", ec);
    return ec ? std::uintmax_t{0} : n;
  };
  // The bound of SqliteOpenOptions: the autocheckpoint's pages plus one transaction's (a single
  // row touches the table, two indexes and the id sequence, more pages when one of them splits;
  // a window's aggregated rows are checkpointed at once). 4 KiB pages, a 24-byte frame header.
  const std::uintmax_t bound = std::max<std::uintmax_t>(
      kIdsWalSizeLimitBytes, std::uintmax_t{kIdsWalAutocheckpointPages + 16} * (4096 + 24) + 32);

  constexpr int kWindows = 60;
  constexpr int kSources = 40;
  std::uint64_t recorded = 0;
  std::uint64_t written = 0;
  std::uintmax_t largest = 0;
  for (int w = 0; w < kWindows; ++w) {
    // 200 events over 8 s, then a flush once all of the window's aggregates have closed.
    const std::int64_t start = kT0 + std::int64_t{w} * 20'000;
    for (int i = 0; i < 200; ++i) {
      const std::string ip = "10.1.0." + std::to_string(i % kSources);
      auto outcome = log.Record(
          Event(start + std::int64_t{i} * 40,
                i % 3 == 0 ? IdsEventKind::kReplay : IdsEventKind::kForgedSignature, "dev", ip));
      ASSERT_TRUE(outcome) << outcome.error().ToString();
      ++recorded;
      if (*outcome == IdsRecordOutcome::kWritten) ++written;
      largest = std::max(largest, wal_bytes());
    }
    auto flushed = log.FlushClosed(start + 18'000);
    ASSERT_TRUE(flushed) << flushed.error().ToString();
    EXPECT_GT(*flushed, 0u);
    EXPECT_EQ(wal_bytes(), 0u) << "window " << w;
  }
  EXPECT_GT(written, std::uint64_t{kWindows});  // many single-row commits, not just aggregates
  EXPECT_LE(largest, bound);
  EXPECT_EQ(*log.Count({}), recorded);
}

TEST_F(IdsEventLogTest, AggregationStartsAgainAfterTheSourceRefills) {
  IdsAggregation aggregation;
  aggregation.source_burst = 2;
  aggregation.source_refill = std::chrono::seconds(1);
  aggregation.window = std::chrono::seconds(10);
  auto log = std::move(IdsEventLog::Open(dir_.File("ids.db"), aggregation)).value();
  const auto record = [&](std::int64_t t) {
    return log->Record(Event(t, IdsEventKind::kAuthFailure)).value();
  };
  EXPECT_EQ(record(kT0), IdsRecordOutcome::kWritten);
  EXPECT_EQ(record(kT0 + 1), IdsRecordOutcome::kWritten);
  EXPECT_EQ(record(kT0 + 2), IdsRecordOutcome::kAggregated);
  EXPECT_EQ(record(kT0 + 3), IdsRecordOutcome::kAggregated);
  // The aggregate's window is still open: more events join it.
  EXPECT_EQ(record(kT0 + 5'000), IdsRecordOutcome::kAggregated);
  // After the window the next Record writes the aggregate, and the refilled bucket lets the
  // source's single events through again.
  EXPECT_EQ(record(kT0 + 20'000), IdsRecordOutcome::kWritten);
  auto rows = log->Query({});
  ASSERT_EQ(rows->size(), 4u);
  EXPECT_EQ((*rows)[2].count, 3u);
  EXPECT_EQ(*log->Count({}), 6u);
}

TEST_F(IdsEventLogTest, AnAggregateNeverOutlivesItsWindow) {
  IdsAggregation aggregation;
  aggregation.source_burst = 0;
  aggregation.window = std::chrono::seconds(10);
  auto log = std::move(IdsEventLog::Open(dir_.File("ids.db"), aggregation)).value();
  // Another source's event sets the amortised flush for kT0 + 10 s.
  ASSERT_TRUE(log->Record(Event(kT0, IdsEventKind::kMalformed, "", "198.51.100.9")));
  ASSERT_TRUE(log->Record(Event(kT0 + 5'000, IdsEventKind::kReplay)));
  // Its window closes at kT0 + 15 s; the amortised flush is next due at kT0 + 20 s.
  ASSERT_TRUE(log->Record(Event(kT0 + 10'000, IdsEventKind::kMalformed, "", "198.51.100.9")));
  ASSERT_TRUE(log->Record(Event(kT0 + 16'000, IdsEventKind::kReplay)));
  auto rows = log->Query(With([](auto& f) { f.kind = IdsEventKind::kReplay; }));
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[0].count, 1u);
  EXPECT_EQ((*rows)[0].last_time_ms, kT0 + 5'000);
  EXPECT_EQ((*rows)[1].time_ms, kT0 + 16'000);
}

TEST_F(IdsEventLogTest, ManySourcesAreBoundedInMemoryAndOnDisk) {
  IdsAggregation aggregation;
  aggregation.source_burst = 1;
  aggregation.global_burst = 5;
  aggregation.global_refill = std::chrono::hours(1);
  aggregation.max_open = 16;
  auto log = std::move(IdsEventLog::Open(dir_.File("ids.db"), aggregation)).value();
  constexpr int kSources = 1000;
  int written = 0;
  for (int i = 0; i < kSources; ++i) {
    const std::string ip = "10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256);
    if (log->Record(Event(kT0 + i, IdsEventKind::kMalformed, "", ip)).value() ==
        IdsRecordOutcome::kWritten) {
      ++written;
    }
  }
  EXPECT_EQ(written, 5);  // the global burst
  EXPECT_EQ(*log->Count({}), static_cast<std::uint64_t>(kSources));
  ASSERT_EQ(*log->FlushAll(), 17u);  // 16 tracked sources + "(many)"
  EXPECT_EQ(log->Query(With([](auto& f) { f.limit = 100'000; }))->size(), 5u + 17u);
  EXPECT_EQ(*log->Count(With([](auto& f) { f.source_ip = std::string(kIdsManySources); })),
            static_cast<std::uint64_t>(kSources - 5 - 16));
}

TEST_F(IdsEventLogTest, OpenAggregatesAreWrittenWhenTheLogCloses) {
  {
    IdsAggregation aggregation;
    aggregation.source_burst = 0;
    auto log = std::move(IdsEventLog::Open(dir_.File("ids.db"), aggregation)).value();
    for (int i = 0; i < 50; ++i) ASSERT_TRUE(log->Record(Event(kT0 + i, IdsEventKind::kReplay)));
  }
  auto log = OpenLog();
  auto rows = log->Query({});
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ(rows->front().count, 50u);
}

TEST_F(IdsEventLogTest, SurvivesRestart) {
  {
    auto log = OpenLog();
    ASSERT_TRUE(log->Append(Event(kT0, IdsEventKind::kBadCertificate)));
    ASSERT_TRUE(log->Append(Event(kT0 + 1, IdsEventKind::kDecryptFailure)));
  }
  auto log = OpenLog();
  auto all = log->Query({});
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[1].kind, IdsEventKind::kDecryptFailure);
  auto id = log->Append(Event(kT0 + 2, IdsEventKind::kOversized));
  EXPECT_GT(*id, (*all)[1].id);
}

TEST_F(IdsEventLogTest, KindsWrittenByNewerCodeReadAsOther) {
  auto log = OpenLog();
  {
    SQLite::Database raw(dir_.File("ids.db"), SQLite::OPEN_READWRITE);
    raw.exec(
        "INSERT INTO ids_events (time_ms, node, source_ip, device_id, kind, detail)"
        " VALUES (1, 'n', '', '', 'quantum_tunnelling', 'future')");
  }
  auto all = log->Query({});
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ((*all)[0].kind, IdsEventKind::kOther);
  EXPECT_EQ((*all)[0].detail, "future");
}

TEST_F(IdsEventLogTest, TwoThreadsAppendConcurrently) {
  auto shared = OpenLog();
  auto own = OpenLog();  // a second connection to the same file
  constexpr int kEach = 30;
  std::vector<std::int64_t> ids1;
  std::vector<std::int64_t> ids2;
  std::vector<std::int64_t> ids3;
  auto append = [&](IdsEventLog& log, std::vector<std::int64_t>& ids, IdsEventKind kind) {
    for (int i = 0; i < kEach; ++i) {
      auto id = log.Append(Event(kT0 + i, kind));
      ASSERT_TRUE(id.has_value()) << id.error().ToString();
      ids.push_back(*id);
      if (i % 10 == 0) {
        ASSERT_TRUE(log.Count({}).has_value());
      }
    }
  };
  std::thread t1(append, std::ref(*shared), std::ref(ids1), IdsEventKind::kReplay);
  std::thread t2(append, std::ref(*shared), std::ref(ids2), IdsEventKind::kMalformed);
  std::thread t3(append, std::ref(*own), std::ref(ids3), IdsEventKind::kOversized);
  t1.join();
  t2.join();
  t3.join();
  std::set<std::int64_t> all(ids1.begin(), ids1.end());
  all.insert(ids2.begin(), ids2.end());
  all.insert(ids3.begin(), ids3.end());
  EXPECT_EQ(all.size(), 3u * kEach);
  EXPECT_EQ(*shared->Count({}), 3u * kEach);
  EXPECT_EQ(*own->Count(With([](auto& f) { f.kind = IdsEventKind::kOversized; })),
            static_cast<std::uint64_t>(kEach));
}

}  // namespace
}  // namespace medmesh::store

// The cloudlet's retention against real stores in a temp folder, with a fake clock.
#include "cloudlet/maintenance.h"

#include <gtest/gtest.h>

#include <chrono>
#include <map>

#include "cloudlet/internal/forward_item.h"
#include "crypto/envelope.h"
#include "crypto/keyed_hash.h"
#include "store/sqlite_wrapped_key_store.h"
#include "testing/fake_clock.h"
#include "testing/fake_random.h"
#include "testing/temp_dir.h"
#include "wire/model.h"

namespace medmesh::cloudlet {
namespace {

using std::chrono::hours;

constexpr hours kDay = hours(24);
constexpr char kNode[] = "cloudlet-1";

template <typename T>
T Ok(Result<T> r) {
  EXPECT_TRUE(r.has_value()) << r.error().ToString();
  return std::move(r).value();
}

class CloudletMaintenanceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    keys_ = Ok(store::SqliteWrappedKeyStore::Open(dir_.File("keys.db")));
    aead_ = std::make_unique<crypto::EnvelopeAead>(kek_.Clone(), *keys_, random_);
    readings_ = Ok(store::ReadingStore::Open(dir_.File("readings.db"), *aead_, clock_));
    queue_ = Ok(store::ForwardQueue::Open(dir_.File("forward.db"), clock_, random_));
    ids_ = Ok(store::IdsEventLog::Open(dir_.File("ids.db")));
    ledger_ =
        Ok(IngestLedger::Open(dir_.File("cloudlet.db"),
                              Ok(crypto::HashKey::FromBytes(Bytes(crypto::HashKey::kBytes, 3)))));
  }

  CloudletMaintenance Maintenance(node::RetentionConfig retention = {}) {
    return CloudletMaintenance({kNode, *ledger_, *readings_, *queue_, *ids_, clock_}, retention);
  }
  static MaintenanceReport RunOnce(CloudletMaintenance& m) { return Ok(m.RunOnce()); }

  std::int64_t NowMs() const { return wire::ToUnixMs(clock_.Now()); }

  static std::string ItemId(const std::string& device, const wire::BatchId& batch) {
    return internal::UploadItemId(internal::DeriveForwardId(kNode, device, batch));
  }

  // What ingest stores for an accepted readings upload, in its order: the forward, the
  // readings, the ledger row. Returns the batch id (hex).
  std::string Accept(const std::string& device, const std::string& patient) {
    const wire::BatchId batch = wire::NewBatchId(random_);
    std::string batch_hex = HexEncode(batch);
    items_[batch_hex] = ItemId(device, batch);
    EXPECT_TRUE(queue_->Enqueue(items_[batch_hex], AsBytes("sealed forward")));
    std::vector<wire::Reading> readings{{NowMs(), wire::VitalKind::kHeartRate, 61'000}};
    EXPECT_TRUE(readings_->Put({patient, device, batch_hex, readings}));
    LedgerBatch row;
    row.device_id = device;
    row.batch_id = batch_hex;
    row.patient_id = patient;
    row.readings = 1;
    row.stored_ms = NowMs();
    EXPECT_TRUE(ledger_->AddBatch(row));
    return batch_hex;
  }

  // The same for a patient record, kept in the ledger.
  std::string AcceptRecord(const std::string& device, const std::string& patient,
                           const std::string& record_id) {
    const wire::BatchId batch = wire::NewBatchId(random_);
    std::string batch_hex = HexEncode(batch);
    items_[batch_hex] = ItemId(device, batch);
    EXPECT_TRUE(queue_->Enqueue(items_[batch_hex], AsBytes("sealed record forward")));
    LedgerBatch row;
    row.device_id = device;
    row.batch_id = batch_hex;
    row.content_type = wire::ContentType::kPatientRecord;
    row.patient_id = patient;
    row.stored_ms = NowMs();
    EXPECT_TRUE(ledger_->AddRecord(row, {record_id, NowMs(), Bytes(16, 0x42)}));
    return batch_hex;
  }

  // The forwarder's two outcomes.
  void Forwarded(const std::string& batch) { ASSERT_TRUE(queue_->MarkSent(items_.at(batch))); }
  void DeadLettered(const std::string& batch) {
    ASSERT_TRUE(ledger_->AddDeadLetter(items_.at(batch), "refused", AsBytes("payload"), NowMs()));
    ASSERT_TRUE(queue_->MarkSent(items_.at(batch)));
  }

  bool HasReadings(const std::string& device, const std::string& patient,
                   const std::string& batch) {
    return Ok(readings_->Contains(patient, device, batch));
  }
  bool HasLedgerRow(const std::string& device, const std::string& batch) {
    return Ok(ledger_->Find(device, batch)).has_value();
  }

  testing::TempDir dir_;
  testing::FakeClock clock_;
  testing::DeterministicRandom random_{7};
  crypto::KeyEncryptionKey kek_ = crypto::KeyEncryptionKey::Generate(random_);
  std::unique_ptr<store::SqliteWrappedKeyStore> keys_;
  std::unique_ptr<crypto::EnvelopeAead> aead_;
  std::unique_ptr<store::ReadingStore> readings_;
  std::unique_ptr<store::ForwardQueue> queue_;
  std::unique_ptr<store::IdsEventLog> ids_;
  std::unique_ptr<IngestLedger> ledger_;
  std::map<std::string, std::string> items_;  // batch id (hex) → forward item id
};

TEST_F(CloudletMaintenanceTest, NeverPrunesWhatWasNotForwardedAndPrunesWhatWasAfterRetention) {
  CloudletMaintenance maintenance = Maintenance();  // 30 days each
  const std::string waiting = Accept("dev-1", "patient-1");
  const std::string sent = Accept("dev-1", "patient-1");
  Forwarded(sent);

  MaintenanceReport first = RunOnce(maintenance);
  EXPECT_EQ(first.batches_forwarded, 1U);
  EXPECT_EQ(first.readings_batches_pruned, 0U);

  // A year later the cloud has still not acknowledged `waiting`: all of it is kept.
  clock_.Advance(365 * kDay);
  MaintenanceReport later = RunOnce(maintenance);
  EXPECT_EQ(later.readings_batches_pruned, 1U);
  EXPECT_EQ(later.ledger_rows_pruned, 1U);
  EXPECT_TRUE(HasReadings("dev-1", "patient-1", waiting));
  EXPECT_TRUE(HasLedgerRow("dev-1", waiting));
  EXPECT_FALSE(HasReadings("dev-1", "patient-1", sent));
  EXPECT_FALSE(HasLedgerRow("dev-1", sent));

  // Forwarded at last: kept for the retention counted from now, then pruned.
  Forwarded(waiting);
  EXPECT_EQ(RunOnce(maintenance).batches_forwarded, 1U);
  clock_.Advance(29 * kDay);
  EXPECT_EQ(RunOnce(maintenance).readings_batches_pruned, 0U);
  EXPECT_TRUE(HasReadings("dev-1", "patient-1", waiting));
  clock_.Advance(2 * kDay);
  EXPECT_EQ(RunOnce(maintenance).readings_batches_pruned, 1U);
  EXPECT_FALSE(HasReadings("dev-1", "patient-1", waiting));
  EXPECT_FALSE(HasLedgerRow("dev-1", waiting));
}

TEST_F(CloudletMaintenanceTest, TheLedgerRowOutlivesTheReadingsUntilItsOwnRetention) {
  node::RetentionConfig retention;
  retention.readings = 3 * kDay;
  retention.ledger = 20 * kDay;
  CloudletMaintenance maintenance = Maintenance(retention);
  const std::string batch = Accept("dev-1", "patient-1");
  Forwarded(batch);
  RunOnce(maintenance);
  clock_.Advance(4 * kDay);
  EXPECT_EQ(RunOnce(maintenance).readings_batches_pruned, 1U);
  EXPECT_FALSE(HasReadings("dev-1", "patient-1", batch));
  // Still there: a late retry of the acknowledged upload is still a duplicate.
  EXPECT_TRUE(HasLedgerRow("dev-1", batch));
  clock_.Advance(10 * kDay);
  EXPECT_EQ(RunOnce(maintenance).ledger_rows_pruned, 0U);
  clock_.Advance(7 * kDay);
  EXPECT_EQ(RunOnce(maintenance).ledger_rows_pruned, 1U);
  EXPECT_FALSE(HasLedgerRow("dev-1", batch));
}

TEST_F(CloudletMaintenanceTest, ReadingsLiveAtLeastAsLongAsTheirLedgerRowNeedsThem) {
  node::RetentionConfig retention;
  retention.readings = 20 * kDay;
  retention.ledger = 2 * kDay;
  CloudletMaintenance maintenance = Maintenance(retention);
  const std::string batch = Accept("dev-1", "patient-1");
  Forwarded(batch);
  RunOnce(maintenance);
  clock_.Advance(5 * kDay);
  // The row is past its retention but its readings are not: the row stays with them (it is
  // what says they were forwarded).
  EXPECT_EQ(RunOnce(maintenance).ledger_rows_pruned, 0U);
  EXPECT_TRUE(HasReadings("dev-1", "patient-1", batch));
  clock_.Advance(16 * kDay);
  const MaintenanceReport report = RunOnce(maintenance);
  EXPECT_EQ(report.readings_batches_pruned, 1U);
  EXPECT_EQ(report.ledger_rows_pruned, 1U);
}

TEST_F(CloudletMaintenanceTest, DeadLettersArePrunedButTheirBatchesDataIsKept) {
  CloudletMaintenance maintenance = Maintenance();
  const std::string refused = Accept("dev-2", "patient-2");
  DeadLettered(refused);
  EXPECT_EQ(RunOnce(maintenance).batches_dead_lettered, 1U);
  clock_.Advance(31 * kDay);
  const MaintenanceReport report = RunOnce(maintenance);
  EXPECT_EQ(report.dead_letters_pruned, 1U);
  EXPECT_FALSE(Ok(ledger_->HasDeadLetter(items_.at(refused))));
  // Never forwarded: its readings and ledger row stay for the operator.
  clock_.Advance(365 * kDay);
  RunOnce(maintenance);
  EXPECT_TRUE(HasReadings("dev-2", "patient-2", refused));
  EXPECT_TRUE(HasLedgerRow("dev-2", refused));
}

TEST_F(CloudletMaintenanceTest, RecordsAreKeptUntilForwardedThenPruned) {
  CloudletMaintenance maintenance = Maintenance();
  const std::string kept = AcceptRecord("dev-3", "patient-3", "rec-1");
  const std::string sent = AcceptRecord("dev-3", "patient-3", "rec-2");
  Forwarded(sent);
  RunOnce(maintenance);
  clock_.Advance(31 * kDay);
  EXPECT_EQ(RunOnce(maintenance).records_pruned, 1U);
  const auto records = Ok(ledger_->ListRecords("patient-3", 10));
  ASSERT_EQ(records.size(), 1U);
  EXPECT_EQ(records[0].record_id, "rec-1");
  EXPECT_EQ(records[0].batch_id, kept);
}

TEST_F(CloudletMaintenanceTest, SettlesABacklogLongerThanAPage) {
  CloudletMaintenance maintenance = Maintenance();
  // More queued rows than one page, all older than the one forwarded batch.
  for (int i = 0; i < 510; ++i) Accept("dev-4", "patient-4");  // the page is 500
  clock_.Advance(std::chrono::seconds(1));
  const std::string sent = Accept("dev-4", "patient-4");
  Forwarded(sent);
  EXPECT_EQ(RunOnce(maintenance).batches_forwarded, 1U);
}

TEST_F(CloudletMaintenanceTest, IdsEventsArePrunedAfterTheirRetention) {
  node::RetentionConfig retention;
  retention.ids_events = 7 * kDay;
  CloudletMaintenance maintenance = Maintenance(retention);
  store::IdsEvent old_event{0,    NowMs(), kNode, "192.0.2.1", "", store::IdsEventKind::kMalformed,
                            "old"};
  ASSERT_TRUE(ids_->Append(old_event));
  clock_.Advance(8 * kDay);
  store::IdsEvent new_event = old_event;
  new_event.time_ms = NowMs();
  new_event.detail = "new";
  ASSERT_TRUE(ids_->Append(new_event));
  EXPECT_EQ(RunOnce(maintenance).ids_rows_pruned, 1U);
  const auto left = Ok(ids_->Query({}));
  ASSERT_EQ(left.size(), 1U);
  EXPECT_EQ(left[0].detail, "new");
}

TEST_F(CloudletMaintenanceTest, IdsAggregatesAreWrittenWhenTheirWindowCloses) {
  CloudletMaintenance maintenance = Maintenance();
  store::IdsEvent e{0,
                    NowMs(),
                    kNode,
                    "192.0.2.9",
                    "",
                    store::IdsEventKind::kForgedSignature,
                    "signature did not verify"};
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(ids_->Record(e));
  EXPECT_EQ(RunOnce(maintenance).ids_rows_flushed, 0U);  // the window is still open
  clock_.Advance(std::chrono::minutes(2));
  EXPECT_EQ(RunOnce(maintenance).ids_rows_flushed, 1U);
  EXPECT_EQ(Ok(ids_->Count({})), 100U);
}

}  // namespace
}  // namespace medmesh::cloudlet

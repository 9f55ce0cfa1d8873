#include "cloudlet/maintenance.h"

#include <algorithm>
#include <chrono>
#include <optional>
#include <utility>
#include <vector>

#include "cloudlet/internal/forward_item.h"
#include "core/bytes.h"
#include "core/log.h"
#include "wire/model.h"

namespace medmesh::cloudlet {
namespace {

// Rows handled per page, so a long backlog never holds a store's lock for long.
constexpr std::size_t kPage = 500;

std::int64_t Ms(std::chrono::hours h) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(h).count();
}

}  // namespace

CloudletMaintenance::CloudletMaintenance(MaintenanceContext context,
                                         node::RetentionConfig retention)
    : ctx_(std::move(context)), retention_(retention) {}

Result<MaintenanceReport> CloudletMaintenance::RunOnce() {
  const std::int64_t now_ms = wire::ToUnixMs(ctx_.clock.Now());
  MaintenanceReport report;
  MEDMESH_ASSIGN_OR_RETURN(report.ids_rows_flushed, ctx_.ids.FlushClosed(now_ms));
  MEDMESH_ASSIGN_OR_RETURN(report.ids_rows_pruned,
                           ctx_.ids.PruneBefore(now_ms - Ms(retention_.ids_events)));
  MEDMESH_RETURN_IF_ERROR(Settle(now_ms, report));
  MEDMESH_RETURN_IF_ERROR(PruneData(now_ms, report));
  MEDMESH_ASSIGN_OR_RETURN(report.ledger_rows_pruned,
                           ctx_.ledger.PruneForwarded(now_ms - Ms(retention_.ledger)));
  MEDMESH_ASSIGN_OR_RETURN(report.dead_letters_pruned,
                           ctx_.ledger.PruneDeadLetters(now_ms - Ms(retention_.dead_letters)));
  if (report.readings_batches_pruned + report.records_pruned + report.ledger_rows_pruned +
          report.dead_letters_pruned + report.ids_rows_pruned >
      0) {
    log::Info("cloudlet_retention", {{"readings_batches", report.readings_batches_pruned},
                                     {"records", report.records_pruned},
                                     {"ledger_rows", report.ledger_rows_pruned},
                                     {"dead_letters", report.dead_letters_pruned},
                                     {"ids_rows", report.ids_rows_pruned}});
  }
  return report;
}

// Every unsettled row, page by page: rows still queued stay unsettled and are passed over.
Status CloudletMaintenance::Settle(std::int64_t now_ms, MaintenanceReport& report) {
  std::optional<LedgerBatchKey> after;
  while (true) {
    MEDMESH_ASSIGN_OR_RETURN(std::vector<LedgerBatchKey> page, ctx_.ledger.Unsettled(after, kPage));
    std::vector<LedgerSettlement> settled;
    for (const LedgerBatchKey& row : page) {
      const auto batch_bytes = HexDecode(row.batch_id);
      wire::BatchId batch_id{};
      if (!batch_bytes || batch_bytes->size() != batch_id.size()) {
        // Not written by ingest (which stores 16 bytes in hex): never treated as forwarded.
        continue;
      }
      std::copy(batch_bytes->begin(), batch_bytes->end(), batch_id.begin());
      const std::string item_id =
          internal::UploadItemId(internal::DeriveForwardId(ctx_.node_id, row.device_id, batch_id));
      // The queue first: the forwarder writes the dead letter before it removes the item, so
      // an item seen gone here is either acknowledged or already dead-lettered.
      MEDMESH_ASSIGN_OR_RETURN(const bool queued, ctx_.forward_queue.Contains(item_id));
      if (queued) continue;
      MEDMESH_ASSIGN_OR_RETURN(const bool dead, ctx_.ledger.HasDeadLetter(item_id));
      settled.push_back({row.device_id, row.batch_id,
                         dead ? ForwardState::kDeadLettered : ForwardState::kForwarded, now_ms});
      ++(dead ? report.batches_dead_lettered : report.batches_forwarded);
    }
    if (!settled.empty()) MEDMESH_RETURN_IF_ERROR(ctx_.ledger.Settle(settled));
    if (page.size() < kPage) return OkStatus();
    after = page.back();
  }
}

Status CloudletMaintenance::PruneData(std::int64_t now_ms, MaintenanceReport& report) {
  const std::int64_t cutoff_ms = now_ms - Ms(retention_.readings);
  while (true) {
    MEDMESH_ASSIGN_OR_RETURN(std::vector<LedgerBatchKey> page,
                             ctx_.ledger.ForwardedWithData(cutoff_ms, kPage));
    // The readings first, then the rows' mark (and the records) - each page in one transaction
    // per store. If the pass stops between the two, the next one deletes nothing more and
    // marks the rows.
    std::vector<store::StoredBatchKey> readings;
    for (const LedgerBatchKey& row : page) {
      if (row.content_type == wire::ContentType::kReadingsBatch) {
        readings.push_back({row.patient_id, row.device_id, row.batch_id});
      } else {
        ++report.records_pruned;
      }
    }
    MEDMESH_ASSIGN_OR_RETURN(const std::uint64_t deleted, ctx_.readings.DeleteBatches(readings));
    report.readings_batches_pruned += deleted;
    MEDMESH_RETURN_IF_ERROR(ctx_.ledger.MarkDataPruned(page));
    if (page.size() < kPage) return OkStatus();
  }
}

}  // namespace medmesh::cloudlet

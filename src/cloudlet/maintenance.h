// CloudletMaintenance: the cloudlet's retention, so that a small edge disk never fills by
// normal operation. One pass (RunOnce), run periodically by CloudletService on its maintenance
// thread (node/maintenance_thread.h):
//
//   1. IDS: writes the aggregated events whose window closed, and prunes rows older than
//      retention.ids_events.
//   2. Settles the ledger rows whose forward left the forward queue: dead-lettered if a dead
//      letter holds it, otherwise forwarded (the cloud acknowledged it). The forwarder keeps
//      the dead letter before it removes the item, and ingest queues the forward before it
//      writes the ledger row, so "not queued, no dead letter" means acknowledged.
//   3. Deletes the readings (reading store) and records (ledger) of batches forwarded more than
//      retention.readings ago.
//   4. Deletes the ledger rows of batches forwarded more than retention.ledger ago whose data is
//      gone (until then a device's late retry of the batch is still a duplicate).
//   5. Deletes dead letters older than retention.dead_letters (only after step 2 settled every
//      row, so a dead-lettered batch is never mistaken for a forwarded one).
//
// Never pruned: a batch still in the forward queue (not yet forwarded), the data and row of a
// dead-lettered batch (the operator's to resolve), the last day of IDS events.
// WARNING: the ledger's counts at start (CloudletStats after a restart) count only the rows
// retention kept.
// Thread safety: RunOnce must not run concurrently with itself; the stores are thread-safe, so
// it may run while the service ingests and forwards.
#pragma once

#include <cstdint>
#include <string>

#include "cloudlet/ingest_ledger.h"
#include "core/clock.h"
#include "core/status.h"
#include "node/node_config.h"
#include "store/forward_queue.h"
#include "store/ids_event_log.h"
#include "store/reading_store.h"

namespace medmesh::cloudlet {

// What the cloudlet's maintenance works on; every reference must outlive it.
struct MaintenanceContext {
  std::string node_id;  // for the forward ids of the ledger's batches
  IngestLedger& ledger;
  store::ReadingStore& readings;
  store::ForwardQueue& forward_queue;
  store::IdsEventLog& ids;
  const Clock& clock;
};

struct MaintenanceReport {
  std::uint64_t ids_rows_flushed = 0;
  std::uint64_t ids_rows_pruned = 0;
  std::uint64_t batches_forwarded = 0;      // settled as forwarded in this pass
  std::uint64_t batches_dead_lettered = 0;  // settled as dead-lettered in this pass
  std::uint64_t readings_batches_pruned = 0;
  std::uint64_t records_pruned = 0;
  std::uint64_t ledger_rows_pruned = 0;
  std::uint64_t dead_letters_pruned = 0;
};

class CloudletMaintenance {
 public:
  CloudletMaintenance(MaintenanceContext context, node::RetentionConfig retention);

  // One pass of the steps above, at the clock's time now. Stops at the first store error and
  // returns it (what was done before stays done; every step is idempotent, so the next pass
  // carries on).
  Result<MaintenanceReport> RunOnce();

 private:
  Status Settle(std::int64_t now_ms, MaintenanceReport& report);
  Status PruneData(std::int64_t now_ms, MaintenanceReport& report);

  MaintenanceContext ctx_;
  node::RetentionConfig retention_;
};

}  // namespace medmesh::cloudlet

// Forgetting across cloudlets (issue 10; ADR 0048, docs/trust_system.md "Forgetting a deleted
// patient at partner cloudlets"): when a patient of this cloudlet is deleted (the cloud's
// deletion feed, DeletionFollower), every partner cloudlet that ever received something about
// their handle (TrustStore::SharedWith) is told to forget "handle@<this cloudlet>" with a
// node-signed "forget" question on the share channel (share_federation.h).
//
// Delivery is at least once: Enqueue puts one item per peer in a durable queue
// (store::SqliteDurableQueue, table "share_forget" of <data>/share_outbox.db) before the
// patient's trust data (and so their handle) is deleted; DeliverDue sends the due items and
// removes one only when the peer's signed answer says 200. An unreachable, refusing or lying
// peer keeps the item queued with the queue's backoff, across restarts, until it answers. The
// peer forgets idempotently (TrustStore::ForgetParty), so a repeat does no harm. Items name the
// peer and the handle, never the patient id; log lines name the peer only.
// Thread safety: thread-safe (the queue is; one DeliverDue at a time is expected).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cloudlet/share_federation.h"
#include "cloudlet/trust_store.h"
#include "core/clock.h"
#include "core/random.h"
#include "core/status.h"
#include "store/durable_queue.h"

namespace medmesh::cloudlet {

// Retries: first after ~5 s, then doubling up to 10 minutes (a peer may be down for hours).
store::QueueOptions DefaultForgetOptions();

struct ForgetRound {
  std::size_t delivered = 0;  // peers that answered 200 (items removed)
  std::size_t failed = 0;     // items left queued for a later attempt
};

class ShareForgetter {
 public:
  // Opens (creating) the queue in the SQLite database at `path`. `store` must outlive it.
  static Result<std::unique_ptr<ShareForgetter>> Open(
      const std::string& path, TrustStore& store, const Clock& clock, Random& random,
      const store::QueueOptions& options = DefaultForgetOptions());

  // Durably queues a "forget" of the patient's handle for each peer that received something
  // about it. Call before TrustStore::DeletePatient (which deletes the handle); idempotent, so
  // a deletion repeated after a crash queues nothing twice. Returns how many peers.
  Result<std::size_t> Enqueue(std::string_view patient_id);

  // Sends the due items to their peers (`peers`: the configured peers with their URLs; a peer
  // not configured now keeps its item queued) and removes those the peer confirmed.
  Result<ForgetRound> DeliverDue(const ShareClient& share, const std::vector<SharePeer>& peers);

  // Items still queued (for operators and tests).
  Result<store::QueueStats> Stats() const { return queue_->Stats(); }

 private:
  ShareForgetter(std::unique_ptr<store::SqliteDurableQueue> queue, TrustStore& store,
                 const Clock& clock)
      : queue_(std::move(queue)), store_(store), clock_(clock) {}
  std::unique_ptr<store::SqliteDurableQueue> queue_;
  TrustStore& store_;
  const Clock& clock_;
};

}  // namespace medmesh::cloudlet

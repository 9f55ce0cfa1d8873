#include "cloudlet/share_forget.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <utility>

#include "core/log.h"
#include "crypto/keyed_hash.h"

namespace medmesh::cloudlet {
namespace {

using Json = nlohmann::json;

constexpr std::size_t kItemsPerRound = 50;

// The item's id: the peer and a hash of the handle (ids are [A-Za-z0-9._:-]; the handle itself
// need not be spelled out in the queue's key).
std::string ItemId(std::string_view peer_id, std::string_view handle) {
  const crypto::Digest256 digest = crypto::Blake2b256(AsBytes(handle));
  return "forget:" + std::string(peer_id) + ":" +
         HexEncode(ByteView(digest.data(), digest.size())).substr(0, 32);
}

}  // namespace

store::QueueOptions DefaultForgetOptions() {
  store::QueueOptions options;
  options.initial_backoff = std::chrono::seconds(5);
  options.max_backoff = std::chrono::minutes(10);
  options.lease = std::chrono::minutes(1);
  options.max_payload_bytes = 4096;
  return options;
}

Result<std::unique_ptr<ShareForgetter>> ShareForgetter::Open(const std::string& path,
                                                             TrustStore& store, const Clock& clock,
                                                             Random& random,
                                                             const store::QueueOptions& options) {
  MEDMESH_ASSIGN_OR_RETURN(
      std::unique_ptr<store::SqliteDurableQueue> queue,
      store::SqliteDurableQueue::Open(path, "share_forget", clock, random, options));
  // Only this cloudlet (holding its data folder) sends: a crashed predecessor's leases go now.
  MEDMESH_RETURN_IF_ERROR(queue->ReleaseLeases());
  return std::unique_ptr<ShareForgetter>(new ShareForgetter(std::move(queue), store, clock));
}

Result<std::size_t> ShareForgetter::Enqueue(std::string_view patient_id) {
  MEDMESH_ASSIGN_OR_RETURN(const std::string handle, store_.HandleOf(patient_id));
  if (handle.empty()) return std::size_t{0};  // never shared: no handle went anywhere
  MEDMESH_ASSIGN_OR_RETURN(const std::vector<std::string> peers, store_.SharedWith(patient_id));
  std::vector<std::string> ids;
  std::vector<std::string> payloads;
  for (const std::string& peer : peers) {
    ids.push_back(ItemId(peer, handle));
    payloads.push_back(Json{{"peer", peer}, {"handle", handle}}.dump());
  }
  std::vector<store::SqliteDurableQueue::Entry> entries;
  for (std::size_t i = 0; i < ids.size(); ++i) entries.push_back({ids[i], AsBytes(payloads[i])});
  if (entries.empty()) return std::size_t{0};
  MEDMESH_ASSIGN_OR_RETURN(auto outcomes, queue_->EnqueueMany(entries));
  for (const auto& outcome : outcomes) {
    if (!outcome) return outcome.error();
  }
  log::Info("cloudlet_share_forget_queued", {{"peers", static_cast<std::uint64_t>(peers.size())}});
  return peers.size();
}

Result<ForgetRound> ShareForgetter::DeliverDue(const ShareClient& share,
                                               const std::vector<SharePeer>& peers) {
  ForgetRound round;
  MEDMESH_ASSIGN_OR_RETURN(std::vector<store::QueueItem> due,
                           queue_->NextDue(clock_.Now(), kItemsPerRound));
  for (const store::QueueItem& item : due) {
    const Json payload = Json::parse(item.payload.begin(), item.payload.end(), nullptr, false);
    const std::string peer_id = payload.is_object() ? payload.value("peer", "") : "";
    const std::string handle = payload.is_object() ? payload.value("handle", "") : "";
    const auto peer = std::find_if(peers.begin(), peers.end(),
                                   [&](const SharePeer& p) { return p.id == peer_id; });
    std::string why;
    if (peer_id.empty() || handle.empty()) {
      why = "an unreadable item";
    } else if (peer == peers.end()) {
      why = "the peer is not configured";
    } else {
      const ShareClient::Outcome out = share.Ask(*peer, "forget", Json{{"handle", handle}}.dump());
      if (out.answer && out.answer->status == 200) {
        MEDMESH_RETURN_IF_ERROR(queue_->MarkSent(item.id));
        ++round.delivered;
        log::Info("cloudlet_share_forget_delivered", {{"peer", peer_id}});
        continue;
      }
      why = out.answer ? "the peer answered " + std::to_string(out.answer->status) : out.detail;
    }
    MEDMESH_RETURN_IF_ERROR(queue_->MarkFailed(item.id, why));
    ++round.failed;
    log::Warn("cloudlet_share_forget_not_delivered",
              {{"peer", peer_id}, {"why", why}, {"attempts", item.attempts}});
  }
  return round;
}

}  // namespace medmesh::cloudlet

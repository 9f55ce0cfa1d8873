#include "ids/mesh_node.h"

#include <algorithm>
#include <charconv>
#include <nlohmann/json.hpp>

#include "core/log.h"
#include "wire/model.h"

namespace medmesh::ids {
namespace {

using Json = nlohmann::json;

constexpr std::string_view kReportsPath = "/api/v1/ids/mesh/reports";
constexpr std::size_t kMaxPublished = 10'000;
constexpr std::size_t kBatch = 32;
constexpr std::uint64_t kSequenceBlock = std::uint64_t{1} << 20;

std::string ItemId(MeshReportKind kind, std::string_view id) {
  const char* prefix = kind == MeshReportKind::kDecision ? "d."
                       : kind == MeshReportKind::kAlert  ? "a."
                                                         : "r.";
  return prefix + std::string(id);
}

Json DecisionJson(const Decision& d) {
  return {{"id", d.id},
          {"origin", d.origin},
          {"detector", d.detector},
          {"detector_version", d.detector_version},
          {"scope", {{"kind", std::string(ScopeKindName(d.scope.kind))}, {"value", d.scope.value}}},
          {"action", std::string(ActionName(d.action))},
          {"created_ms", d.created_ms},
          {"expires_ms", d.expires_ms},
          {"reason", d.reason}};
}

net::Response Dump(const Json& body, int status = 200) {
  return net::Response::Json(body.dump(-1, ' ', false, Json::error_handler_t::replace), status);
}

}  // namespace

struct MeshNode::Peer {
  mutable std::mutex url_mu;  // guards address.url (SetPeerUrl)
  MeshPeerAddress address;
  std::unique_ptr<store::SqliteDurableQueue> outbox;
  std::atomic<int> reachable{-1};  // -1 unknown, 0 no, 1 yes
  std::atomic<std::int64_t> last_attempt_ms{0};
  std::atomic<std::int64_t> delivered{0};
  std::atomic<std::int64_t> expired{0};  // reports settled unsent: their decision had ended
  std::mutex deliver_mu;                 // one delivery pass to this peer at a time
  std::thread sender;                    // Start() to Stop(): this peer's deliveries
};

MeshNode::MeshNode(MeshContext context, MeshOptions options)
    : ctx_(std::move(context)), options_(std::move(options)), fusion_(options_.fusion) {}

MeshNode::~MeshNode() { Stop(); }

std::int64_t MeshNode::NowMs() const { return wire::NowMs(ctx_.clock); }

Result<std::unique_ptr<MeshNode>> MeshNode::Open(MeshContext context, MeshOptions options) {
  for (std::size_t i = 0; i < options.peers.size(); ++i) {
    const MeshPeerAddress& p = options.peers[i];
    if (!wire::IsValidId(p.id) || p.id == context.self_id) {
      return InvalidArgument("mesh: a peer id must be a node id other than this node's");
    }
    for (std::size_t j = 0; j < i; ++j) {
      if (options.peers[j].id == p.id) return InvalidArgument("mesh: a peer id listed twice");
    }
  }
  auto node = std::unique_ptr<MeshNode>(new MeshNode(std::move(context), std::move(options)));
  MeshNode* self = node.get();
  store::QueueOptions queue;
  queue.initial_backoff = self->options_.initial_backoff;
  queue.max_backoff = self->options_.max_backoff;
  queue.lease = std::chrono::seconds(30);
  queue.max_payload_bytes = kMaxMeshEnvelopeBytes;
  for (const MeshPeerAddress& address : self->options_.peers) {
    auto peer = std::make_unique<Peer>();
    peer->address = address;
    const std::string file = (self->ctx_.data_dir / ("mesh_outbox_" + address.id + ".db")).string();
    MEDMESH_ASSIGN_OR_RETURN(peer->outbox,
                             store::SqliteDurableQueue::Open(file, "mesh_outbox", self->ctx_.clock,
                                                             self->ctx_.random, queue));
    // Only this node sends from its outboxes (the services hold their data folder's lock).
    MEDMESH_RETURN_IF_ERROR(peer->outbox->ReleaseLeases());
    self->peers_.push_back(std::move(peer));
  }
  MEDMESH_ASSIGN_OR_RETURN(
      self->state_,
      store::SqliteDurableQueue::Open((self->ctx_.data_dir / "mesh_state.db").string(),
                                      "mesh_state", self->ctx_.clock, self->ctx_.random, queue));
  net::ClientOptions client;
  client.ca_file = self->options_.ca_file;
  client.connect_timeout = self->options_.connect_timeout;
  client.request_timeout = self->options_.request_timeout;
  client.max_response_body_bytes = 64 * 1024;
  client.user_agent = "medmesh-ids-mesh";
  MEDMESH_ASSIGN_OR_RETURN(self->client_, net::HttpClient::Create(std::move(client)));

  self->ctx_.engine.SetListener(
      {[self](const Observation& o) {
         if (!self->any_pending_.load(std::memory_order_relaxed)) return;
         if (o.source != Observation::Source::kResponse || o.status >= 400 || o.peer.empty()) {
           return;
         }
         auto scope = SourceScope(o.peer);
         if (!scope) return;
         std::vector<SettledReport> settled;
         {
           std::lock_guard lock(self->mu_);
           self->fusion_.OnLocalTraffic(*scope, self->NowMs());
           settled = self->fusion_.TakeSettled();
         }
         self->Notify(settled);
       },
       [self](const AlertRecord& record) {
         if (!record.allowlisted) {
           std::optional<FusionUpdate> completed;
           std::vector<SettledReport> settled;
           {
             std::lock_guard lock(self->mu_);
             completed = self->fusion_.OnLocalAlert(record.alert.scope, self->NowMs());
             settled = self->fusion_.TakeSettled();
           }
           self->Notify(settled);
           // A peer's report that waited for a second origin: this node's own alert is one.
           if (completed) self->Apply(*completed);
         }
         // Only this node's own decisions go out: adopted ones are never relayed.
         if (!record.decision || record.decision->origin != self->ctx_.self_id) return;
         {
           std::lock_guard lock(self->mu_);
           if (self->published_.contains(record.decision->id)) return;
           self->published_[record.decision->id] = true;
           self->published_order_.push_back(record.decision->id);
           if (self->published_order_.size() > kMaxPublished) {
             self->published_.erase(self->published_order_.front());
             self->published_order_.pop_front();
           }
         }
         const MeshReportKind kind = record.decision->action == Action::kAlertOnly
                                         ? MeshReportKind::kAlert
                                         : MeshReportKind::kDecision;
         if (Status queued = self->Publish(kind, *record.decision); !queued) {
           log::Error("ids_mesh_publish_failed", {{"error", queued.error().ToString()}});
         }
       }});
  self->ctx_.table.SetRevocationListener([self](const Decision& d) {
    if (d.origin == self->ctx_.self_id) {
      if (Status queued = self->PublishRevocation(d.id); !queued) {
        log::Error("ids_mesh_publish_failed", {{"error", queued.error().ToString()}});
      }
      return;
    }
    std::lock_guard lock(self->mu_);
    self->fusion_.OnAdoptedRevokedHere(d.scope);
  });
  return node;
}

Status MeshNode::SetPeerUrl(std::string_view id, std::string url) {
  for (auto& peer : peers_) {
    if (peer->address.id != id) continue;
    std::lock_guard lock(peer->url_mu);
    peer->address.url = std::move(url);
    return OkStatus();
  }
  return NotFound("no such mesh peer");
}

Status MeshNode::Enqueue(std::string_view item_id, ByteView payload) {
  for (auto& peer : peers_) {
    auto queued = peer->outbox->Enqueue(item_id, payload);
    if (!queued && queued.error().code() != ErrorCode::kAlreadyExists) return queued.error();
  }
  Wake();
  return OkStatus();
}

Status MeshNode::Publish(MeshReportKind kind, const Decision& decision) {
  if (kind == MeshReportKind::kRevocation) return InvalidArgument("use PublishRevocation");
  Bytes payload;
  AppendU8(payload, static_cast<std::uint8_t>(kind));
  AppendBytes(payload, EncodeDecision(decision));
  return Enqueue(ItemId(kind, decision.id), payload);
}

Status MeshNode::PublishRevocation(std::string_view decision_id) {
  Bytes payload;
  AppendU8(payload, static_cast<std::uint8_t>(MeshReportKind::kRevocation));
  AppendBytes(payload, AsBytes(decision_id));
  return Enqueue(ItemId(MeshReportKind::kRevocation, decision_id), payload);
}

Result<std::uint64_t> MeshNode::NextSequence() {
  std::lock_guard lock(sequence_mu_);
  if (sequence_next_ == sequence_end_) {
    // A durable block per start (or per 2^20 reports): sequences only grow, also across a
    // restart, without a disk write per report.
    MEDMESH_ASSIGN_OR_RETURN(std::uint64_t block, state_->NextCounterValue("sequence_block"));
    sequence_next_ = block * kSequenceBlock;
    sequence_end_ = sequence_next_ + kSequenceBlock;
  }
  return sequence_next_++;
}

void MeshNode::DeliverTo(Peer& peer) {
  auto due = peer.outbox->NextDue(ctx_.clock.Now(), kBatch);
  if (!due) {
    log::Warn("ids_mesh_outbox_failed",
              {{"peer", peer.address.id}, {"error", due.error().ToString()}});
    return;
  }
  bool failing = false;
  for (const store::QueueItem& item : *due) {
    MeshReport report;
    report.origin = ctx_.self_id;
    bool usable = !item.payload.empty() && item.payload[0] >= 1 && item.payload[0] <= 3;
    if (usable) {
      report.kind = static_cast<MeshReportKind>(item.payload[0]);
      const ByteView rest = ByteView(item.payload).subspan(1);
      if (report.kind == MeshReportKind::kRevocation) {
        report.revoked_id = std::string(AsStringView(rest));
      } else {
        auto decision = DecodeDecision(rest);
        usable = decision.has_value();
        if (usable) report.decision = std::move(*decision);
      }
    }
    if (usable && report.kind != MeshReportKind::kRevocation &&
        report.decision.expires_ms <= NowMs()) {
      // Its decision has ended: the peer would adopt nothing (mesh_fusion.h), so an outbox of a
      // peer that stays away holds at most the decisions still in force (also behind a report
      // that failed this round).
      peer.expired.fetch_add(1);
      (void)peer.outbox->MarkSent(item.id);
      continue;
    }
    if (failing) {
      (void)peer.outbox->MarkFailed(item.id, "an earlier report of the round failed");
      continue;
    }
    auto sequence = NextSequence();
    if (!sequence) {
      (void)peer.outbox->MarkFailed(item.id, "no sequence number");
      failing = true;
      continue;
    }
    report.sequence = *sequence;
    report.sent_ms = NowMs();
    Result<Bytes> envelope = usable ? SignMeshReport(report, ctx_.signer, ctx_.certificate)
                                    : Result<Bytes>(InvalidArgument("an unreadable outbox item"));
    if (!envelope) {
      // Cannot ever be sent (a bug or a damaged file): do not let it block the outbox.
      log::Error("ids_mesh_report_dropped",
                 {{"peer", peer.address.id}, {"error", envelope.error().ToString()}});
      (void)peer.outbox->MarkSent(item.id);
      continue;
    }
    net::ClientRequest request;
    request.method = net::Method::kPost;
    {
      std::lock_guard url_lock(peer.url_mu);
      request.url = peer.address.url + std::string(kReportsPath);
    }
    request.body = std::string(AsStringView(*envelope));
    request.content_type = "application/octet-stream";
    auto response = client_->Send(request);
    peer.last_attempt_ms.store(NowMs());
    if (!response) {
      peer.reachable.store(0);
      (void)peer.outbox->MarkFailed(item.id, "unreachable");
      failing = true;
      continue;
    }
    peer.reachable.store(1);
    const int status = response->status;
    if ((status >= 200 && status < 300) || status == 400 || status == 409) {
      if (status >= 300) {
        log::Warn("ids_mesh_report_refused", {{"peer", peer.address.id}, {"status", status}});
      } else {
        peer.delivered.fetch_add(1);
      }
      (void)peer.outbox->MarkSent(item.id);
    } else {
      (void)peer.outbox->MarkFailed(item.id, "answered " + std::to_string(status));
      failing = true;
    }
  }
}

void MeshNode::Apply(const FusionUpdate& update) {
  if (update.adopt) {
    auto adopted = ctx_.table.Adopt(*update.adopt);
    if (!adopted) {
      log::Error("ids_mesh_adopt_failed", {{"error", adopted.error().ToString()}});
    } else if (*adopted) {
      log::Warn("ids_mesh_adopted",
                {{"origin", update.adopt->origin},
                 {"scope", std::string(ScopeKindName(update.adopt->scope.kind))},
                 {"action", std::string(ActionName((*adopted)->action))},
                 {"support", update.support}});
    }
  }
  if (update.revoke) {
    auto revoked = ctx_.table.Revoke(*update.revoke);
    if (!revoked && revoked.error().code() != ErrorCode::kFailedPrecondition &&
        revoked.error().code() != ErrorCode::kNotFound) {
      log::Error("ids_mesh_revoke_failed", {{"error", revoked.error().ToString()}});
    }
  }
}

Result<ReceivedReport> MeshNode::Receive(ByteView envelope, std::string_view source) {
  const std::int64_t now = NowMs();
  const auto record_event = [&](store::IdsEventKind kind, std::string detail) {
    store::IdsEvent e;
    e.time_ms = now;
    e.node = ctx_.self_id;
    e.source_ip = std::string(source);
    e.kind = kind;
    e.detail = std::move(detail);
    if (auto recorded = ctx_.events.Record(e); !recorded) {
      log::Warn("ids_event_record_failed", {{"error", recorded.error().ToString()}});
    }
  };
  auto opened = OpenMeshReport(envelope, ctx_.root, now);
  if (!opened) {
    if (opened.error().code() == ErrorCode::kInvalidArgument) {
      record_event(store::IdsEventKind::kMalformed, "mesh report");
      return InvalidArgument("not an IDS mesh report");
    }
    record_event(store::IdsEventKind::kForgedSignature, "mesh report");
    return Unauthenticated("the mesh report's certificate or signature does not verify");
  }
  MeshReport& report = opened->report;
  const bool from_cloud = opened->certificate.certificate().role == wire::CertificateRole::kCloud;
  const bool known = (options_.accept_certified_cloudlets && !from_cloud) ||
                     std::any_of(peers_.begin(), peers_.end(), [&](const auto& p) {
                       return p->address.id == report.origin || (from_cloud && p->address.is_cloud);
                     });
  if (!known || report.origin == ctx_.self_id) {
    record_event(store::IdsEventKind::kBadCertificate, "mesh report of a node not a peer");
    return PermissionDenied("the origin is not a mesh peer of this node");
  }
  ReceivedReport received;
  received.received_ms = now;
  received.origin = report.origin;
  received.sequence = report.sequence;
  received.kind = report.kind;
  FusionUpdate update;
  std::vector<SettledReport> settled;
  bool replay = false;
  {
    std::unique_lock lock(mu_);
    auto& last = last_sequence_[report.origin];
    if (report.sequence <= last || report.sent_ms < now - options_.max_report_age.count() ||
        report.sent_ms > now + options_.max_clock_skew.count()) {
      replay = true;
    } else {
      last = report.sequence;
    }
  }
  if (replay) {
    record_event(store::IdsEventKind::kReplay, "mesh report");
    return FailedPrecondition("a replayed or stale mesh report");
  }
  // The allowlist is read before the fusion's lock is taken (the table has its own).
  const bool allowlisted =
      report.kind != MeshReportKind::kRevocation && ctx_.table.Allowlisted(report.decision.scope);
  {
    std::lock_guard lock(mu_);
    if (report.kind == MeshReportKind::kRevocation) {
      update = fusion_.OnPeerRevocation(report.origin, report.revoked_id, now);
      received.revoked_id = report.revoked_id;
    } else {
      update = fusion_.OnPeerDecision(report.decision, allowlisted, now);
      received.decision = report.decision;
    }
    received.verdict = update.verdict;
    received.why = update.why;
    received.support = update.support;
    recent_.push_front(received);
    while (recent_.size() > options_.recent_kept) recent_.pop_back();
    any_pending_.store(fusion_.AnyPending(), std::memory_order_relaxed);
    settled = fusion_.TakeSettled();
  }
  Notify(settled);
  // The table's calls run outside the lock: a revocation calls back into this node.
  Apply(update);
  return received;
}

void MeshNode::SetSettledListener(std::function<void(const SettledReport&)> listener) {
  settled_listener_ = std::move(listener);
}

void MeshNode::Notify(const std::vector<SettledReport>& settled) const {
  if (!settled_listener_) return;
  for (const SettledReport& s : settled) settled_listener_(s);
}

void MeshNode::Deliver(Peer& peer) {
  std::lock_guard lock(peer.deliver_mu);
  DeliverTo(peer);
}

Status MeshNode::RunOnce() {
  for (auto& peer : peers_) Deliver(*peer);
  Tick();
  return OkStatus();
}

void MeshNode::Tick() {
  std::lock_guard round(tick_mu_);
  std::vector<FusionUpdate> updates;
  std::vector<SettledReport> settled;
  {
    std::lock_guard lock(mu_);
    updates = fusion_.Tick(NowMs());
    any_pending_.store(fusion_.AnyPending(), std::memory_order_relaxed);
    settled = fusion_.TakeSettled();
  }
  Notify(settled);
  for (const FusionUpdate& u : updates) Apply(u);
}

void MeshNode::Wake() {
  {
    std::lock_guard lock(wake_mu_);
    ++wake_generation_;
  }
  wake_cv_.notify_all();
}

void MeshNode::Loop(const std::function<void()>& round) {
  std::uint64_t seen = 0;
  while (true) {
    try {
      round();
    } catch (const std::exception& e) {
      log::Error("ids_mesh_round_threw", {{"type", std::string(typeid(e).name())}});
    }
    std::unique_lock lock(wake_mu_);
    wake_cv_.wait_for(lock, options_.poll_interval,
                      [&] { return stopping_ || wake_generation_ != seen; });
    if (stopping_) return;
    seen = wake_generation_;
  }
}

void MeshNode::Start() {
  std::lock_guard lock(wake_mu_);
  if (thread_.joinable() || stopping_) return;
  thread_ = std::thread([this] { Loop([this] { Tick(); }); });
  // A thread per peer: a peer that accepts and then answers slowly (up to request_timeout)
  // delays only its own reports, not the other peers'.
  for (auto& peer : peers_) {
    Peer* p = peer.get();
    p->sender = std::thread([this, p] { Loop([this, p] { Deliver(*p); }); });
  }
}

void MeshNode::Stop() {
  {
    std::lock_guard lock(wake_mu_);
    stopping_ = true;
  }
  wake_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  for (auto& peer : peers_) {
    if (peer->sender.joinable()) peer->sender.join();
  }
}

std::vector<MeshPeerStatus> MeshNode::Peers() const {
  std::vector<MeshPeerStatus> out;
  const std::int64_t now = NowMs();
  for (const auto& peer : peers_) {
    MeshPeerStatus s;
    {
      std::lock_guard url_lock(peer->url_mu);
      s.address = peer->address;
    }
    {
      std::lock_guard lock(mu_);
      s.record = fusion_.Peer(peer->address.id, now);
    }
    if (auto stats = peer->outbox->Stats()) s.outbox_depth = stats->count;
    const int reachable = peer->reachable.load();
    if (reachable >= 0) s.reachable = reachable == 1;
    s.last_attempt_ms = peer->last_attempt_ms.load();
    s.delivered = peer->delivered.load();
    s.expired = peer->expired.load();
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<ReceivedReport> MeshNode::Recent(std::size_t limit) const {
  std::lock_guard lock(mu_);
  std::vector<ReceivedReport> out;
  for (const ReceivedReport& r : recent_) {
    if (out.size() >= limit) break;
    out.push_back(r);
  }
  return out;
}

void AddMeshRoutes(net::Router& router, MeshNode& mesh,
                   std::function<std::optional<net::Response>(const net::Request&)> authorize) {
  router.Post(
      std::string(kReportsPath),
      [&mesh](const net::Request& r) -> Result<net::Response> {
        MEDMESH_ASSIGN_OR_RETURN(ReceivedReport received, mesh.Receive(r.body, r.peer_address));
        r.MarkPeerAuthenticated();
        return Dump(
            {{"verdict", std::string(FusionVerdictName(received.verdict))}, {"why", received.why}},
            202);
      },
      {.body_limit_bytes = kMaxMeshEnvelopeBytes});
  router.Get(
      "/api/v1/ids/peers", [&mesh, authorize](const net::Request& r) -> Result<net::Response> {
        if (auto refusal = authorize(r)) return std::move(*refusal);
        Json list = Json::array();
        for (const MeshPeerStatus& p : mesh.Peers()) {
          list.push_back(
              {{"id", p.address.id},
               {"url", p.address.url},
               {"cloud", p.address.is_cloud},
               {"trust", p.record.trust},
               {"weight", p.record.weight},
               {"confirmed", p.record.confirmed},
               {"refuted", p.record.refuted},
               {"reports", p.record.reports},
               {"last_report_ms",
                p.record.last_report_ms ? Json(p.record.last_report_ms) : Json(nullptr)},
               {"outbox_depth", p.outbox_depth},
               {"reachable", p.reachable ? Json(*p.reachable) : Json(nullptr)},
               {"last_attempt_ms", p.last_attempt_ms ? Json(p.last_attempt_ms) : Json(nullptr)},
               {"delivered", p.delivered},
               {"expired", p.expired}});
        }
        return Dump({{"peers", list}});
      });
  router.Get(
      "/api/v1/ids/mesh", [&mesh, authorize](const net::Request& r) -> Result<net::Response> {
        if (auto refusal = authorize(r)) return std::move(*refusal);
        std::size_t limit = 200;
        if (const auto text = r.QueryParam("limit")) {
          const auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), limit);
          if (ec != std::errc() || end != text->data() + text->size() || limit == 0 ||
              limit > 1000) {
            return InvalidArgument("query parameter 'limit' must be 1 to 1000");
          }
        }
        Json list = Json::array();
        for (const ReceivedReport& rr : mesh.Recent(limit)) {
          list.push_back(
              {{"received_ms", rr.received_ms},
               {"origin", rr.origin},
               {"sequence", rr.sequence},
               {"kind", std::string(MeshReportKindName(rr.kind))},
               {"decision", rr.decision ? DecisionJson(*rr.decision) : Json(nullptr)},
               {"revoked_id", rr.revoked_id.empty() ? Json(nullptr) : Json(rr.revoked_id)},
               {"verdict", std::string(FusionVerdictName(rr.verdict))},
               {"why", rr.why},
               {"support", rr.support}});
        }
        return Dump({{"reports", list}});
      });
}

}  // namespace medmesh::ids

#include "cloudlet/forwarder.h"

#include <algorithm>
#include <exception>
#include <nlohmann/json.hpp>
#include <typeinfo>
#include <utility>
#include <vector>

#include "cloudlet/device_registry.h"
#include "cloudlet/ingest_ledger.h"
#include "cloudlet/internal/cloudlet_metrics.h"
#include "cloudlet/internal/forward_item.h"
#include "core/check.h"
#include "core/log.h"
#include "net/error_mapping.h"
#include "wire/model.h"

namespace medmesh::cloudlet {
namespace {

constexpr std::string_view kOctetStream = "application/octet-stream";

// The longest wait after failed rounds in a row (see Loop).
constexpr std::chrono::milliseconds kMaxFailureBackoff = std::chrono::minutes(1);

bool IsEnrolmentItem(const store::QueueItem& item) {
  return std::string_view(item.id).substr(0, internal::kEnrolmentItemPrefix.size()) ==
         internal::kEnrolmentItemPrefix;
}

std::string Body(ByteView bytes) { return std::string(AsStringView(bytes)); }

// The "status" member of a JSON acknowledgement ("stored" / "duplicate"; "stored" if absent).
std::string AckStatus(const net::Response& response) {
  try {
    const auto json = nlohmann::json::parse(response.body);
    if (json.is_object() && json.contains("status") && json["status"] == "duplicate") {
      return "duplicate";
    }
  } catch (const std::exception&) {
    // An acknowledgement without a readable body still acknowledges.
  }
  return "stored";
}

// True if `response` carries a MedMesh error body ({"error": "<code>", ...}): a refusal the
// cloud itself wrote, as opposed to a proxy's or load balancer's page.
// The statuses with which the cloud refuses an item for good (docs/openapi.yaml): malformed,
// not authentic, not allowed, in conflict with what it stored, too large.
bool IsPermanentStatus(int status) {
  return status == 400 || status == 401 || status == 403 || status == 409 || status == 413;
}

// What to log about an exception: its type only. Messages of third-party exceptions may quote
// the input (a JSON parser's, for example), which may hold patient data.
std::string ExceptionType(const std::exception_ptr& thrown) {
  try {
    std::rethrow_exception(thrown);
  } catch (const std::exception& e) {
    return typeid(e).name();
  } catch (...) {
    return "unknown";
  }
}

}  // namespace

struct Forwarder::CloudKey {
  wire::VerifiedCertificate certificate;
  std::unique_ptr<crypto::HybridSealer> sealer;
  std::chrono::steady_clock::time_point fetched;  // ctx_.clock.Monotonic()
  std::uint64_t round = 0;                        // the round that fetched it
};

Forwarder::Forwarder(ForwarderContext context, ForwarderOptions options,
                     std::unique_ptr<net::HttpClient> client)
    : ctx_(std::move(context)), options_(std::move(options)), client_(std::move(client)) {}

Forwarder::~Forwarder() { Stop(); }

Result<std::unique_ptr<Forwarder>> Forwarder::Create(ForwarderContext context,
                                                     ForwarderOptions options) {
  net::ClientOptions client_options;
  client_options.ca_file = options.ca_file;
  client_options.connect_timeout = options.connect_timeout;
  client_options.request_timeout = options.request_timeout;
  client_options.user_agent = "medmesh-cloudlet";
  MEDMESH_ASSIGN_OR_RETURN(std::unique_ptr<net::HttpClient> client,
                           net::HttpClient::Create(std::move(client_options)));
  return std::unique_ptr<Forwarder>(
      new Forwarder(std::move(context), std::move(options), std::move(client)));
}

void Forwarder::Start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable() || options_.cloud_url.empty()) return;
  stop_ = false;
  thread_ = std::thread([this] { Loop(); });
}

void Forwarder::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Forwarder::Wake() {
  {
    std::lock_guard lock(mu_);
    woken_ = true;
  }
  wake_.notify_all();
}

void Forwarder::Loop() {
  std::uint32_t failures = 0;  // rounds in a row that failed or threw
  while (true) {
    bool more = false;
    bool failed = false;
    // Last resort: RunOnce already turns an exception inside a round into an error; anything
    // thrown outside it (the log sink, an allocation) must not end the thread either, or the
    // cloudlet would keep accepting uploads that nothing forwards.
    try {
      auto round = RunOnce();
      if (!round) {
        failed = true;
        log::Error("cloudlet_forward_round_failed", {{"error", round.error().ToString()}});
      }
      more = round && round->sent == options_.batch_size;
    } catch (...) {
      failed = true;
      NoteException(std::current_exception());
    }
    failures = failed ? failures + 1 : 0;
    std::unique_lock lock(mu_);
    if (failed) {
      // Back off, doubling while rounds keep failing; Wake() does not cut this short, so a busy
      // ingest cannot turn a failing round into a busy loop.
      const auto backoff = std::min<std::chrono::milliseconds>(
          options_.poll_interval * (std::int64_t{1} << std::min<std::uint32_t>(failures - 1, 16)),
          std::max<std::chrono::milliseconds>(options_.poll_interval, kMaxFailureBackoff));
      wake_.wait_for(lock, backoff, [this] { return stop_; });
    } else if (!more) {
      wake_.wait_for(lock, options_.poll_interval, [this] { return stop_ || woken_; });
    }
    if (stop_) return;
    woken_ = false;
  }
}

void Forwarder::NoteException(const std::exception_ptr& thrown) noexcept {
  try {
    ctx_.metrics.round_exceptions.Increment();
    log::Error("cloudlet_forward_round_exception", {{"exception", ExceptionType(thrown)}});
  } catch (...) {
    // Nothing more can be done about it here; the loop goes on.
  }
}

std::string Forwarder::Url(std::string_view path) const {
  return options_.cloud_url + std::string(path);
}

Status Forwarder::EnsureCloudKey() {
  const auto now = ctx_.clock.Monotonic();
  const std::int64_t now_ms = wire::ToUnixMs(ctx_.clock.Now());
  if (cloud_ && now - cloud_->fetched < options_.certificate_refresh &&
      now_ms <= cloud_->certificate.certificate().not_after_ms) {
    return OkStatus();
  }
  // Nothing is sealed to a key that is due for a refresh and could not be refreshed.
  cloud_.reset();
  if (via_ == nullptr) {
    auto root = client_->Get(Url("/api/v1/root"));
    if (!root) return Unavailable("cloud unreachable: " + root.error().message());
    if (root->status != 200) return Unavailable("the cloud did not serve its root certificate");
    if (!std::equal(root->body.begin(), root->body.end(), ctx_.root.certificate.begin(),
                    ctx_.root.certificate.end(),
                    [](char a, std::uint8_t b) { return static_cast<std::uint8_t>(a) == b; })) {
      return FailedPrecondition("the cloud serves another root certificate than the pinned one");
    }
  }
  // Through a relay, the certificate's chain to the pinned root key (below) is what counts.
  auto cert = via_ == nullptr ? client_->Get(Url("/api/v1/certificate"))
                              : ToCloud("certificate", {}, std::nullopt);
  if (!cert) return Unavailable("cloud unreachable: " + cert.error().message());
  if (cert->status != 200) return Unavailable("the cloud did not serve its certificate");
  auto verified = wire::VerifyCertificate(cert->body_bytes(), ctx_.root.key,
                                          wire::CertificateRole::kCloud, now_ms);
  if (!verified) {
    return Error(verified.error().code(),
                 "the cloud's certificate was refused: " + verified.error().message());
  }
  const crypto::HybridPublicKey kem = *verified->certificate().kem_key;
  log::Info("cloudlet_cloud_certificate", {{"cloud", verified->certificate().subject_id},
                                           {"kem_key_id", crypto::KeyIdHex(kem.key_id())}});
  cloud_ = std::make_unique<CloudKey>(CloudKey{
      std::move(*verified), crypto::NewHybridSealer(kem, ctx_.random), now, round_number_});
  return OkStatus();
}

Result<wire::VerifiedCertificate> Forwarder::CloudCertificate() {
  if (options_.cloud_url.empty()) return FailedPrecondition("no cloud is configured");
  std::lock_guard lock(round_mu_);
  MEDMESH_RETURN_IF_ERROR(EnsureCloudKey());
  return cloud_->certificate;
}

Status Forwarder::EnsureRegistered() {
  if (registered_) return OkStatus();
  const wire::ReceiptChallenge challenge = wire::NewReceiptChallenge(ctx_.random);
  auto response = ToCloud("cloudlets", Body(ctx_.certificate), challenge);
  if (!response) return Unavailable("cloud unreachable: " + response.error().message());
  if (response->status != 200) {
    const Error error = net::ErrorFromResponse(*response);
    return Error(error.code(), "the cloud refused this cloudlet's certificate: " + error.message());
  }
  const Outcome outcome =
      RequireReceipt({Verdict::kSent, {}, {}, false, false}, response, wire::ReceiptKind::kCloudlet,
                     ctx_.node_id, ctx_.certificate, challenge);
  if (outcome.verdict != Verdict::kSent) {
    return Unavailable("the registration was acknowledged without a valid cloud receipt");
  }
  registered_ = true;
  return OkStatus();
}

bool Forwarder::HasValidReceipt(const net::Response& answer, wire::ReceiptKind kind,
                                std::string_view subject, ByteView body,
                                const wire::ReceiptChallenge& challenge) const {
  if (!cloud_) return false;
  std::string hex;
  try {
    const auto json = nlohmann::json::parse(answer.body);
    if (!json.is_object() || !json.contains("receipt") || !json["receipt"].is_string()) {
      return false;
    }
    hex = json["receipt"].get<std::string>();
  } catch (const std::exception&) {
    return false;
  }
  if (hex.size() > 2 * wire::kMaxReceiptBytes) return false;
  auto receipt = HexDecode(hex);
  return receipt && wire::CheckReceipt(*receipt, cloud_->certificate, kind, ctx_.node_id, subject,
                                       body, challenge);
}

Forwarder::Outcome Forwarder::RequireReceipt(Outcome outcome, const Result<net::Response>& answer,
                                             wire::ReceiptKind kind, std::string_view subject,
                                             ByteView body,
                                             const wire::ReceiptChallenge& challenge) {
  if (outcome.verdict != Verdict::kSent || !answer ||
      HasValidReceipt(*answer, kind, subject, body, challenge)) {
    return outcome;
  }
  // Perhaps signed under a key the cloud rotated to since this cloudlet fetched its certificate:
  // fetch it again now (the same way, directly or through the same peer; it must chain to the
  // pinned root) and check once more before blaming anyone. A certificate that cannot be
  // fetched leaves none held, so the next send fetches it again.
  cloud_.reset();
  if (EnsureCloudKey() && HasValidReceipt(*answer, kind, subject, body, challenge)) {
    log::Info("cloudlet_receipt_under_new_cloud_key", {{"relayed", via_ != nullptr}});
    return outcome;
  }
  receipt_refused_ = true;
  if (via_ != nullptr) {
    relay_failed_ = true;
    log::Warn("cloudlet_relay_bad_receipt", {{"peer", via_->id}, {"status", answer->status}});
    return {Verdict::kRetryAndStop, "relay_bad_receipt", {}, false, false};
  }
  log::Warn("cloudlet_forward_bad_receipt", {{"status", answer->status}});
  return {Verdict::kRetryAndStop, "bad_receipt", {}, false, false};
}

Forwarder::Outcome Forwarder::Classify(const Result<net::Response>& response) {
  if (!response) return {Verdict::kRetryAndStop, "unreachable", {}, false, false};
  const int status = response->status;
  if (status >= 200 && status < 300) {
    return {Verdict::kSent, {}, AckStatus(*response), false, false};
  }
  const net::Refusal refusal = net::DecodeRefusal(*response);
  if (refusal.transient()) {
    // 429 and 5xx come from the cloud; a 408 or a retry-after on another status may come from
    // anything on the way.
    std::string reason = status == 429   ? "cloud_busy"
                         : status >= 500 ? "cloud_error"
                                         : "unexpected_" + std::to_string(status);
    return {Verdict::kRetryAndStop, std::move(reason), {}, false, false};
  }
  // Only the cloud's own refusal of this item is final. A redirect, a 404 or 405 (a wrong
  // cloud_url, a proxy in the way) or any answer without a MedMesh error body says nothing
  // about the item: it waits for the next round rather than for the dead letters.
  if (!IsPermanentStatus(status) || !refusal.medmesh) {
    log::Warn("cloudlet_forward_unexpected_answer", {{"status", status}});
    return {Verdict::kRetryAndStop, "unexpected_" + std::to_string(status), {}, false, false};
  }
  const Error& error = refusal.error;
  // The body's "error", not the status, tells the two 409s apart.
  if (error.code() == ErrorCode::kFailedPrecondition) {
    // The cloud lacks this cloudlet's certificate or the device's enrolment.
    return {Verdict::kRetry, "cloud_lacks_identity", {}, /*lacks_identity=*/true, false};
  }
  log::Warn("cloudlet_forward_refused", {{"status", status},
                                         {"error", std::string(ErrorCodeName(error.code()))},
                                         {"permanent", refusal.permanent},
                                         {"message", error.message().substr(0, 200)}});
  return {Verdict::kPermanent,
          "refused_" + std::to_string(status),
          {},
          false,
          /*unauthenticated=*/status == 401};
}

Forwarder::Outcome Forwarder::SendEnrolment(const store::QueueItem& item) {
  const std::string_view device_id =
      std::string_view(item.id).substr(internal::kEnrolmentItemPrefix.size());
  const wire::ReceiptChallenge challenge = wire::NewReceiptChallenge(ctx_.random);
  auto answer = ToCloud("enrolments", Body(item.payload), challenge);
  return RequireReceipt(Classify(answer), answer, wire::ReceiptKind::kEnrolment, device_id,
                        item.payload, challenge);
}

Forwarder::Outcome Forwarder::SendUpload(const store::QueueItem& item,
                                         const crypto::HybridSealer& cloud) {
  auto decoded = internal::DecodeUploadItem(item.payload);
  auto forward_id = internal::ForwardIdFromItemId(item.id);
  if (!decoded || !forward_id) return {Verdict::kPermanent, "corrupt_item", {}, false, false};
  auto joined = ctx_.envelope.Decrypt({decoded->patient_id, std::string(internal::kForwardKeyPart)},
                                      decoded->ciphertext, AsBytes(item.id));
  if (!joined) {
    if (joined.error().code() == ErrorCode::kUnavailable)
      return {Verdict::kRetry, "store", {}, false, false};
    return {
        Verdict::kPermanent, "unreadable_item", {}, false, false};  // e.g. the patient was deleted
  }
  auto parts = wire::DecodeEvidenceAndPayload(*joined);
  const std::optional<DeviceEntry> device = ctx_.devices.Find(decoded->device_id);
  if (!parts || !device) return {Verdict::kPermanent, "corrupt_item", {}, false, false};
  // The device's signature is checked again: the cloud will, and a forward that cannot pass
  // should not leave.
  auto header = wire::VerifyUploadEvidence(parts->evidence, parts->payload, device->enrolment);
  if (!header) return {Verdict::kPermanent, "bad_evidence", {}, false, false};
  wire::OpenedUpload opened{*header, Bytes(parts->payload.begin(), parts->payload.end()),
                            std::move(parts->evidence)};
  auto sealed = wire::SealForward({header->content_type, ctx_.node_id, *forward_id}, opened, cloud,
                                  ctx_.signer);
  if (!sealed) return {Verdict::kPermanent, "seal_failed", {}, false, false};
  const wire::ReceiptChallenge challenge = wire::NewReceiptChallenge(ctx_.random);
  auto answer = ToCloud("forward", Body(*sealed), challenge);
  Outcome outcome = RequireReceipt(Classify(answer), answer, wire::ReceiptKind::kForward,
                                   HexEncode(*forward_id), *sealed, challenge);
  if (outcome.lacks_identity) {
    // Push the enrolment again; it goes before the retry of this forward.
    auto pushed =
        ctx_.queue.Enqueue(internal::EnrolmentItemId(device->enrolment.device_id), device->record);
    if (!pushed)
      log::Warn("cloudlet_enrolment_push_not_queued", {{"error", pushed.error().ToString()}});
  }
  return outcome;
}

void Forwarder::NoteCloudDown() {
  if (!cloud_down_) next_probe_ = ctx_.clock.Monotonic() + options_.outage_probe_interval;
  cloud_down_ = true;
  NoteLink(CloudLink::State::kDown);
}

void Forwarder::NoteLink(CloudLink::State state) {
  const auto value = static_cast<std::uint8_t>(state);
  if (link_state_.load(std::memory_order_relaxed) == value) return;
  link_since_ms_.store(wire::ToUnixMs(ctx_.clock.Now()), std::memory_order_relaxed);
  link_state_.store(value, std::memory_order_release);
}

void Forwarder::NoteRelaying(bool relaying) {
  std::lock_guard lock(relay_mu_);
  relay_state_.relaying = relaying;
}

void Forwarder::NoteRelayRound(const std::string& peer, const ForwardRound& round) {
  std::lock_guard lock(relay_mu_);
  relay_state_.peer = peer;
  relay_state_.time_ms = wire::ToUnixMs(ctx_.clock.Now());
  relay_state_.sent = round.sent;
  relay_state_.failed = round.failed;
  relay_state_.outcome = receipt_refused_ ? "bad_receipt" : relay_failed_ ? "failed" : "delivered";
}

RelayState Forwarder::Relaying() const {
  std::lock_guard lock(relay_mu_);
  return relay_state_;
}

CloudLink Forwarder::Link() const {
  CloudLink link;
  link.state = static_cast<CloudLink::State>(link_state_.load(std::memory_order_acquire));
  link.since_ms = link_since_ms_.load(std::memory_order_relaxed);
  link.last_forward_ms = last_forward_ms_.load(std::memory_order_relaxed);
  return link;
}

std::string_view CloudLinkStateName(CloudLink::State state) {
  switch (state) {
    case CloudLink::State::kUp: return "up";
    case CloudLink::State::kDown: return "down";
    case CloudLink::State::kUnknown: break;
  }
  return "unknown";
}

bool Forwarder::ProbeCloud() {
  const auto now = ctx_.clock.Monotonic();
  if (now < next_probe_) return false;
  next_probe_ = now + options_.outage_probe_interval;
  auto answer = client_->Get(Url("/readyz"));
  if (!answer || answer->status != 200) return false;
  cloud_down_ = false;
  NoteLink(CloudLink::State::kUp);
  auto due = ctx_.queue.RetryNow(ctx_.clock.Now());
  if (!due) {
    log::Warn("cloudlet_forward_retry_now_failed", {{"error", due.error().ToString()}});
  } else {
    log::Info("cloudlet_cloud_back", {{"items_due_now", *due}});
  }
  return true;
}

void Forwarder::Release(const store::QueueItem& item, std::string_view reason) {
  if (Status st = ctx_.queue.MarkFailed(item.id, reason); !st) {
    // The lease runs out instead, and the item is due again then.
    log::Warn("cloudlet_forward_mark_failed_failed", {{"error", st.error().ToString()}});
  }
}

void Forwarder::EndRound(std::span<const store::QueueItem> items, std::string_view reason,
                         ForwardRound& round) {
  // One failed attempt: the items after the first were not tried.
  ctx_.metrics.forward_failures.WithLabels({std::string(reason)}).Increment();
  for (const store::QueueItem& item : items) Release(item, reason);
  round.failed += items.size();
}

Result<ForwardRound> Forwarder::RunOnce() {
  std::lock_guard round_lock(round_mu_);
  ++round_number_;
  std::vector<store::QueueItem> items;
  std::size_t settled = 0;  // items[0, settled) were marked sent or failed
  Result<ForwardRound> round = ForwardRound{};
  try {
    round = Round(items, settled);
  } catch (...) {
    NoteException(std::current_exception());
    // A round cut short must not leave its items leased: they are due again after a backoff.
    try {
      ForwardRound ended;
      EndRound(std::span(items).subspan(settled), "exception", ended);
    } catch (...) {
      // Their leases run out instead.
    }
    round = Internal("a forward round ended with an unexpected exception");
  }
  try {
    ctx_.pressure.Refresh();
  } catch (...) {
    NoteException(std::current_exception());
  }
  return round;
}

Result<const crypto::HybridSealer*> Forwarder::EnsureReady() {
  MEDMESH_RETURN_IF_ERROR(EnsureCloudKey());
  MEDMESH_RETURN_IF_ERROR(EnsureRegistered());
  MEDMESH_CHECK(cloud_ != nullptr && cloud_->sealer != nullptr,
                "EnsureCloudKey succeeded without a key");
  return cloud_->sealer.get();
}

void Forwarder::SetRelay(ForwarderRelay relay) {
  std::lock_guard lock(round_mu_);
  relay_ = std::move(relay);
}

Result<net::Response> Forwarder::ToCloud(std::string_view target, std::string body,
                                         const std::optional<wire::ReceiptChallenge>& challenge) {
  const std::string path = "/api/v1/" + std::string(target);
  if (via_ == nullptr) {
    if (target == "certificate") return client_->Get(Url(path));
    net::ClientRequest request;
    request.method = net::Method::kPost;
    request.url = Url(path);
    request.body = std::move(body);
    request.content_type = std::string(kOctetStream);
    if (challenge) {
      request.headers.emplace_back(std::string(wire::kReceiptChallengeHeader),
                                   HexEncode(*challenge));
    }
    return client_->Send(request);
  }
  auto envelope =
      SignRelayRequest({ctx_.node_id, std::string(target), wire::ToUnixMs(ctx_.clock.Now()),
                        Bytes(body.begin(), body.end()), challenge},
                       ctx_.signer, ctx_.certificate);
  if (!envelope) return envelope.error();
  auto answer = client_->Post(via_->url + "/api/v1/relay/" + std::string(target), Body(*envelope),
                              std::string(kOctetStream));
  if (answer && answer->Header(kRelayedHeader) == std::optional<std::string_view>("cloud")) {
    return answer;
  }
  relay_failed_ = true;
  if (!answer) return Unavailable("relay unreachable: " + answer.error().message());
  log::Warn("cloudlet_relay_failed", {{"peer", via_->id}, {"status", answer->status}});
  return Unavailable("the relay did not pass the request on (status " +
                     std::to_string(answer->status) + ")");
}

Result<ForwardRound> Forwarder::Round(std::vector<store::QueueItem>& items, std::size_t& settled) {
  if (options_.cloud_url.empty()) return ForwardRound{};
  // During an outage only the probe talks to the cloud: items keep their attempts, and all of
  // them are due as soon as it answers. Until then they may go through a relay.
  std::optional<RelayPeer> relay;
  if (cloud_down_ && !ProbeCloud()) {
    std::vector<RelayPeer> candidates;
    if (relay_.candidates) candidates = relay_.candidates();
    if (candidates.empty()) {
      NoteRelaying(false);
      return ForwardRound{};
    }
    relay = std::move(candidates.front());
  }
  NoteRelaying(relay.has_value());
  struct ViaGuard {
    const RelayPeer*& via;
    ~ViaGuard() { via = nullptr; }
  } guard{via_};
  via_ = relay ? &*relay : nullptr;
  relay_failed_ = false;
  receipt_refused_ = false;
  auto round = SendDue(items, settled);
  if (relay && round) {
    round->relay = relay->id;
    if (relay_failed_ || round->sent > 0) {
      log::Info("cloudlet_relay_round", {{"peer", relay->id},
                                         {"sent", static_cast<std::uint64_t>(round->sent)},
                                         {"relay_failed", relay_failed_},
                                         {"bad_receipt", receipt_refused_}});
      NoteRelayRound(relay->id, *round);
      if (receipt_refused_ && relay_.bad_receipt) relay_.bad_receipt(relay->id);
      if (relay_.record) relay_.record(relay->id, !relay_failed_);
    }
  }
  return round;
}

Result<ForwardRound> Forwarder::SendDue(std::vector<store::QueueItem>& items,
                                        std::size_t& settled) {
  ForwardRound round;
  MEDMESH_ASSIGN_OR_RETURN(items, ctx_.queue.NextDue(ctx_.clock.Now(), options_.batch_size));
  if (items.empty()) return round;
  std::stable_partition(items.begin(), items.end(), IsEnrolmentItem);

  const std::int64_t now_ms = wire::ToUnixMs(ctx_.clock.Now());
  for (; settled < items.size(); ++settled) {
    const store::QueueItem& item = items[settled];
    // Before every send, not once a round: an answer earlier in this round may have dropped
    // the cloud's key (401) or the registration (409), and nothing is sent without both.
    auto ready = EnsureReady();
    if (!ready) {
      const std::string reason = receipt_refused_ ? (via_ ? "relay_bad_receipt" : "bad_receipt")
                                 : relay_failed_  ? "relay_failed"
                                 : ready.error().code() == ErrorCode::kUnavailable
                                     ? "unreachable"
                                     : "cloud_identity";
      log::Warn("cloudlet_cloud_not_ready", {{"error", ready.error().ToString()}});
      round.cloud_reachable = false;
      if (reason == "unreachable" || reason.starts_with("relay_")) NoteCloudDown();
      EndRound(std::span(items).subspan(settled), reason, round);
      settled = items.size();
      return round;
    }
    round.cloud_reachable = true;
    if (via_ == nullptr) {  // through a relay, the link itself is still down
      cloud_down_ = false;
      NoteLink(CloudLink::State::kUp);
    }

    const bool enrolment = IsEnrolmentItem(item);
    Outcome outcome = enrolment ? SendEnrolment(item) : SendUpload(item, **ready);
    if (relay_failed_ && !receipt_refused_ && outcome.verdict == Verdict::kRetryAndStop) {
      outcome.reason = "relay_failed";
    }
    if (outcome.lacks_identity) registered_ = false;
    // Perhaps sealed to a key the cloud retired: fetch it again before the next send, unless it
    // was fetched in this round (then the 401 is about the item, and refetching cannot help).
    if (outcome.unauthenticated && !enrolment && cloud_ && cloud_->round != round_number_) {
      cloud_.reset();
    }
    switch (outcome.verdict) {
      case Verdict::kSent:
        // Counted before the item leaves the queue, so whoever sees the queue without it also
        // sees it counted (GET /api/v1/stats reads both without a common lock).
        ++round.sent;
        last_forward_ms_.store(wire::ToUnixMs(ctx_.clock.Now()), std::memory_order_relaxed);
        if (!enrolment) {
          ctx_.counters.forwarded.fetch_add(1, std::memory_order_relaxed);
          ctx_.metrics.forwarded.WithLabels({outcome.status}).Increment();
          ctx_.metrics.forward_latency.Observe(
              static_cast<double>(std::max<std::int64_t>(0, now_ms - item.enqueued_ms)) / 1000.0);
        }
        if (Status st = ctx_.queue.MarkSent(item.id); !st) {
          // Sent again when its lease runs out; the cloud answers "duplicate".
          log::Warn("cloudlet_forward_mark_sent_failed", {{"error", st.error().ToString()}});
        }
        break;
      case Verdict::kRetry:
        ctx_.metrics.forward_failures.WithLabels({outcome.reason}).Increment();
        Release(item, outcome.reason);
        ++round.failed;
        break;
      case Verdict::kRetryAndStop:
        EndRound(std::span(items).subspan(settled), outcome.reason, round);
        settled = items.size();
        round.cloud_reachable =
            outcome.reason != "unreachable" && !outcome.reason.starts_with("relay_");
        if (!round.cloud_reachable) NoteCloudDown();
        return round;
      case Verdict::kPermanent:
        ctx_.metrics.forward_failures.WithLabels({outcome.reason}).Increment();
        if (item.attempts < kMaxPermanentAttempts) {
          Release(item, outcome.reason);
          ++round.failed;
          break;
        }
        if (Status kept = ctx_.ledger.AddDeadLetter(item.id, outcome.reason, item.payload, now_ms);
            !kept) {
          log::Warn("cloudlet_forward_dead_letter_not_kept", {{"error", kept.error().ToString()}});
          Release(item, outcome.reason);
          ++round.failed;
          break;
        }
        // An enrolment item's id holds the device id, which stays out of the logs.
        log::Error("cloudlet_forward_dead_letter",
                   {{"item", IsEnrolmentItem(item) ? std::string("enrolment") : item.id},
                    {"reason", outcome.reason}});
        ctx_.counters.dead_letters.fetch_add(1, std::memory_order_relaxed);
        ++round.dead;
        if (Status st = ctx_.queue.MarkSent(item.id); !st) {
          // Kept in the queue too; the dead letter is idempotent by id.
          log::Warn("cloudlet_forward_mark_sent_failed", {{"error", st.error().ToString()}});
        }
        break;
    }
  }
  return round;
}

}  // namespace medmesh::cloudlet

#include "cloudlet/forwarder.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <utility>
#include <vector>

#include "cloudlet/device_registry.h"
#include "cloudlet/ingest_ledger.h"
#include "cloudlet/internal/cloudlet_metrics.h"
#include "cloudlet/internal/forward_item.h"
#include "core/log.h"
#include "net/error_mapping.h"
#include "wire/model.h"

namespace medmesh::cloudlet {
namespace {

constexpr std::string_view kOctetStream = "application/octet-stream";

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

}  // namespace

struct Forwarder::CloudKey {
  wire::VerifiedCertificate certificate;
  std::unique_ptr<crypto::HybridSealer> sealer;
  std::chrono::steady_clock::time_point fetched;
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
  while (true) {
    auto round = RunOnce();
    if (!round) log::Error("cloudlet_forward_round_failed", {{"error", round.error().ToString()}});
    const bool more = round && round->sent == options_.batch_size;
    std::unique_lock lock(mu_);
    if (!more) {
      wake_.wait_for(lock, options_.poll_interval, [this] { return stop_ || woken_; });
    }
    if (stop_) return;
    woken_ = false;
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
  auto root = client_->Get(Url("/api/v1/root"));
  if (!root) return Unavailable("cloud unreachable: " + root.error().message());
  if (root->status != 200) return Unavailable("the cloud did not serve its root certificate");
  if (!std::equal(root->body.begin(), root->body.end(), ctx_.root.certificate.begin(),
                  ctx_.root.certificate.end(),
                  [](char a, std::uint8_t b) { return static_cast<std::uint8_t>(a) == b; })) {
    return FailedPrecondition("the cloud serves another root certificate than the pinned one");
  }
  auto cert = client_->Get(Url("/api/v1/certificate"));
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
  cloud_ = std::make_unique<CloudKey>(
      CloudKey{std::move(*verified), crypto::NewHybridSealer(kem, ctx_.random), now});
  return OkStatus();
}

Status Forwarder::EnsureRegistered() {
  if (registered_) return OkStatus();
  auto response =
      client_->Post(Url("/api/v1/cloudlets"), Body(ctx_.certificate), std::string(kOctetStream));
  if (!response) return Unavailable("cloud unreachable: " + response.error().message());
  if (response->status != 200) {
    const Error error = net::ErrorFromResponse(*response);
    return Error(error.code(), "the cloud refused this cloudlet's certificate: " + error.message());
  }
  registered_ = true;
  return OkStatus();
}

Forwarder::Outcome Forwarder::Classify(const Result<net::Response>& response, bool is_forward) {
  if (!response) return {Verdict::kRetryAndStop, "unreachable", {}};
  const int status = response->status;
  if (status >= 200 && status < 300) return {Verdict::kSent, {}, AckStatus(*response)};
  if (status == 429 || status >= 500) {
    return {Verdict::kRetryAndStop, status == 429 ? "cloud_busy" : "cloud_error", {}};
  }
  const Error error = net::ErrorFromResponse(*response);
  if (error.code() == ErrorCode::kFailedPrecondition) {
    // The cloud lacks this cloudlet's certificate or the device's enrolment.
    registered_ = false;
    return {Verdict::kRetry, "cloud_lacks_identity", {}};
  }
  if (status == 401 && is_forward) cloud_.reset();  // perhaps sealed to a retired cloud key
  log::Warn("cloudlet_forward_refused", {{"status", status},
                                         {"error", std::string(ErrorCodeName(error.code()))},
                                         {"message", error.message().substr(0, 200)}});
  return {Verdict::kPermanent, "refused_" + std::to_string(status), {}};
}

Forwarder::Outcome Forwarder::SendEnrolment(const store::QueueItem& item) {
  return Classify(
      client_->Post(Url("/api/v1/enrolments"), Body(item.payload), std::string(kOctetStream)),
      false);
}

Forwarder::Outcome Forwarder::SendUpload(const store::QueueItem& item) {
  auto decoded = internal::DecodeUploadItem(item.payload);
  auto forward_id = internal::ForwardIdFromItemId(item.id);
  if (!decoded || !forward_id) return {Verdict::kPermanent, "corrupt_item", {}};
  auto joined = ctx_.envelope.Decrypt({decoded->patient_id, std::string(internal::kForwardKeyPart)},
                                      decoded->ciphertext, AsBytes(item.id));
  if (!joined) {
    if (joined.error().code() == ErrorCode::kUnavailable) return {Verdict::kRetry, "store", {}};
    return {Verdict::kPermanent, "unreadable_item", {}};  // e.g. the patient was deleted
  }
  auto parts = internal::SplitEvidenceAndPayload(*joined);
  if (!parts) return {Verdict::kPermanent, "corrupt_item", {}};
  auto evidence = wire::DecodeUploadEvidence(parts->first);
  const std::optional<DeviceEntry> device = ctx_.devices.Find(decoded->device_id);
  if (!evidence || !device) return {Verdict::kPermanent, "corrupt_item", {}};
  // The device's signature is checked again: the cloud will, and a forward that cannot pass
  // should not leave.
  auto header = wire::VerifyUploadEvidence(*evidence, parts->second, device->enrolment);
  if (!header) return {Verdict::kPermanent, "bad_evidence", {}};
  wire::OpenedUpload opened{*header, Bytes(parts->second.begin(), parts->second.end()),
                            std::move(*evidence)};
  auto sealed = wire::SealForward({header->content_type, ctx_.node_id, *forward_id}, opened,
                                  *cloud_->sealer, ctx_.signer);
  if (!sealed) return {Verdict::kPermanent, "seal_failed", {}};
  Outcome outcome = Classify(
      client_->Post(Url("/api/v1/forward"), Body(*sealed), std::string(kOctetStream)), true);
  if (outcome.reason == "cloud_lacks_identity") {
    // Push the enrolment again; it goes before the retry of this forward.
    auto pushed =
        ctx_.queue.Enqueue(internal::EnrolmentItemId(device->enrolment.device_id), device->record);
    if (!pushed)
      log::Warn("cloudlet_enrolment_push_not_queued", {{"error", pushed.error().ToString()}});
  }
  return outcome;
}

void Forwarder::NoteCloudDown() {
  if (!cloud_down_) next_probe_ = std::chrono::steady_clock::now() + options_.outage_probe_interval;
  cloud_down_ = true;
}

bool Forwarder::ProbeCloud() {
  const auto now = std::chrono::steady_clock::now();
  if (now < next_probe_) return false;
  next_probe_ = now + options_.outage_probe_interval;
  auto answer = client_->Get(Url("/readyz"));
  if (!answer || answer->status != 200) return false;
  cloud_down_ = false;
  auto due = ctx_.queue.RetryNow(ctx_.clock.Now());
  if (!due) {
    log::Warn("cloudlet_forward_retry_now_failed", {{"error", due.error().ToString()}});
  } else {
    log::Info("cloudlet_cloud_back", {{"items_due_now", *due}});
  }
  return true;
}

Result<ForwardRound> Forwarder::RunOnce() {
  std::lock_guard round_lock(round_mu_);
  ForwardRound round;
  if (options_.cloud_url.empty()) return round;
  // During an outage only the probe talks to the cloud: items keep their attempts, and all of
  // them are due as soon as it answers.
  if (cloud_down_ && !ProbeCloud()) {
    ctx_.pressure.Refresh();
    return round;
  }
  MEDMESH_ASSIGN_OR_RETURN(std::vector<store::QueueItem> items,
                           ctx_.queue.NextDue(ctx_.clock.Now(), options_.batch_size));
  if (items.empty()) {
    ctx_.pressure.Refresh();
    return round;
  }
  std::stable_partition(items.begin(), items.end(), IsEnrolmentItem);

  Status ready = EnsureCloudKey();
  if (ready) ready = EnsureRegistered();
  if (!ready) {
    const std::string reason =
        ready.error().code() == ErrorCode::kUnavailable ? "unreachable" : "cloud_identity";
    log::Warn("cloudlet_cloud_not_ready", {{"error", ready.error().ToString()}});
    if (reason == "unreachable") NoteCloudDown();
    for (const store::QueueItem& item : items) {
      (void)ctx_.queue.MarkFailed(item.id, reason);
      ctx_.metrics.forward_failures.WithLabels({reason}).Increment();
    }
    round.failed = items.size();
    ctx_.pressure.Refresh();
    return round;
  }
  round.cloud_reachable = true;
  cloud_down_ = false;

  const std::int64_t now_ms = wire::ToUnixMs(ctx_.clock.Now());
  for (std::size_t i = 0; i < items.size(); ++i) {
    const store::QueueItem& item = items[i];
    const bool enrolment = IsEnrolmentItem(item);
    const Outcome outcome = enrolment ? SendEnrolment(item) : SendUpload(item);
    switch (outcome.verdict) {
      case Verdict::kSent:
        if (Status st = ctx_.queue.MarkSent(item.id); !st) {
          log::Warn("cloudlet_forward_mark_sent_failed", {{"error", st.error().ToString()}});
        }
        ++round.sent;
        if (!enrolment) {
          ctx_.counters.forwarded.fetch_add(1, std::memory_order_relaxed);
          ctx_.metrics.forwarded.WithLabels({outcome.status}).Increment();
          ctx_.metrics.forward_latency.Observe(
              static_cast<double>(std::max<std::int64_t>(0, now_ms - item.enqueued_ms)) / 1000.0);
        }
        break;
      case Verdict::kRetry:
        (void)ctx_.queue.MarkFailed(item.id, outcome.reason);
        ctx_.metrics.forward_failures.WithLabels({outcome.reason}).Increment();
        ++round.failed;
        break;
      case Verdict::kRetryAndStop:
        for (std::size_t j = i; j < items.size(); ++j) {
          (void)ctx_.queue.MarkFailed(items[j].id, outcome.reason);
        }
        ctx_.metrics.forward_failures.WithLabels({outcome.reason}).Increment();
        round.failed += items.size() - i;
        round.cloud_reachable = outcome.reason != "unreachable";
        if (!round.cloud_reachable) NoteCloudDown();
        ctx_.pressure.Refresh();
        return round;
      case Verdict::kPermanent:
        ctx_.metrics.forward_failures.WithLabels({outcome.reason}).Increment();
        if (item.attempts < kMaxPermanentAttempts) {
          (void)ctx_.queue.MarkFailed(item.id, outcome.reason);
          ++round.failed;
          break;
        }
        if (Status kept = ctx_.ledger.AddDeadLetter(item.id, outcome.reason, item.payload, now_ms);
            !kept) {
          (void)ctx_.queue.MarkFailed(item.id, outcome.reason);
          ++round.failed;
          break;
        }
        // An enrolment item's id holds the device id, which stays out of the logs.
        log::Error("cloudlet_forward_dead_letter",
                   {{"item", IsEnrolmentItem(item) ? std::string("enrolment") : item.id},
                    {"reason", outcome.reason}});
        (void)ctx_.queue.MarkSent(item.id);
        ctx_.counters.dead_letters.fetch_add(1, std::memory_order_relaxed);
        ++round.dead;
        break;
    }
  }
  ctx_.pressure.Refresh();
  return round;
}

}  // namespace medmesh::cloudlet

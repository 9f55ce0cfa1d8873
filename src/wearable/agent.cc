#include "wearable/agent.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <system_error>
#include <utility>

#include "core/env.h"
#include "core/log.h"
#include "crypto/key_file.h"
#include "crypto/keyed_hash.h"
#include "net/error_mapping.h"
#include "net/http_client.h"
#include "node/identity.h"
#include "node/log_reference.h"
#include "wearable/demo_record.h"
#include "wire/model.h"
#include "wire/readings_codec.h"
#include "wire/record_codec.h"

namespace medmesh::wearable {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kOutboxMagic = "MMOB";
constexpr std::uint8_t kOutboxVersion = 1;
constexpr std::size_t kMaxSmallFileBytes = std::size_t{16} * 1024;

constexpr const char* kKeyFileName = "device.key";
constexpr const char* kChosenFileName = "chosen_cloudlet";
constexpr const char* kOutboxFileName = "outbox.db";
constexpr const char* kRecordMarkerFileName = "record.queued";
constexpr const char* kSimulatedUntilFileName = "simulated_until";
constexpr const char* kJournalFileName = "sent.jsonl";

fs::path CertificateFile(const fs::path& folder, std::string_view cloudlet_id) {
  return folder / ("cloudlet-" + std::string(cloudlet_id) + ".cert");
}
fs::path EnrolmentFile(const fs::path& folder, std::string_view cloudlet_id) {
  return folder / ("enrolment-" + std::string(cloudlet_id) + ".rec");
}

using wire::NowMs;

std::string Trim(std::string_view s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) {
    s.remove_suffix(1);
  }
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  return std::string(s);
}

// Reads a small text file; nullopt if it does not exist.
Result<std::optional<std::string>> ReadOptionalText(const fs::path& file) {
  auto bytes = Env::Default().ReadSmallFile(file, kMaxSmallFileBytes);
  if (!bytes) {
    if (bytes.error().code() == ErrorCode::kNotFound) return std::optional<std::string>();
    return bytes.error();
  }
  return std::optional<std::string>(Trim(AsStringView(*bytes)));
}

Status WriteText(const fs::path& file, std::string_view text, unsigned mode) {
  return WriteFileAtomically(file, AsBytes(text), mode);
}

Result<Bytes> BodyIf200(Result<net::Response> response) {
  if (!response) return response.error();
  if (response->status != 200) return net::ErrorFromResponse(*response);
  return Bytes(response->body.begin(), response->body.end());
}

class HttpCloudletLink final : public CloudletLink {
 public:
  HttpCloudletLink(net::HttpClient& client, std::string base_url, SecretBytes enrol_token)
      : client_(client), base_url_(std::move(base_url)), enrol_token_(std::move(enrol_token)) {
    while (!base_url_.empty() && base_url_.back() == '/') base_url_.pop_back();
  }

  Result<Bytes> FetchCertificate() override {
    return BodyIf200(client_.Get(base_url_ + "/api/v1/certificate"));
  }

  Result<Bytes> Enrol(ByteView signed_request) override {
    const nlohmann::json body = {{"request", HexEncode(signed_request)}};
    net::ClientRequest request;
    request.method = net::Method::kPost;
    request.url = base_url_ + "/api/v1/enrol";
    request.body = body.dump();
    request.content_type = "application/json";
    std::string authorization = "Bearer ";
    authorization.append(AsStringView(enrol_token_.reveal()));
    request.headers.emplace_back("Authorization", std::move(authorization));
    auto response = client_.Send(request);
    // The token was copied into the request; wipe that copy.
    for (auto& [name, value] : request.headers) SecureWipe(value.data(), value.size());
    return BodyIf200(std::move(response));
  }

  Result<IngestReply> Ingest(ByteView upload) override {
    MEDMESH_ASSIGN_OR_RETURN(net::Response response, client_.Post(base_url_ + "/api/v1/ingest",
                                                                  std::string(AsStringView(upload)),
                                                                  "application/octet-stream"));
    return IngestReplyFromResponse(response);
  }

  std::string_view name() const override { return base_url_; }

 private:
  net::HttpClient& client_;
  std::string base_url_;
  const SecretBytes enrol_token_;
};

// The batch id of half `index` (0 or 1) of a batch split after a 413: derived, so that a split
// repeated after a crash gives the same ids and the cloudlet recognises what it already stored.
wire::BatchId SplitBatchId(const wire::BatchId& parent, std::uint8_t index) {
  const crypto::Digest256 digest =
      crypto::Blake2b256Parts({AsBytes("medmesh split batch v1"), parent, ByteView(&index, 1)});
  wire::BatchId id{};
  std::copy_n(digest.begin(), id.size(), id.begin());
  return id;
}

}  // namespace

IngestReply IngestReplyFromResponse(const net::Response& response) {
  IngestReply reply;
  reply.http_status = response.status;
  if (response.status < 200 || response.status >= 300) {
    reply.refusal = net::DecodeRefusal(response);
    return reply;
  }
  const nlohmann::json body = nlohmann::json::parse(response.body, nullptr, false);
  if (body.is_object()) {
    if (auto it = body.find("status"); it != body.end() && it->is_string()) {
      reply.status = it->get<std::string>();
    }
    if (auto it = body.find("refused"); it != body.end() && it->is_number_unsigned()) {
      reply.refused = it->get<std::uint64_t>();
    }
  }
  return reply;
}

std::unique_ptr<CloudletLink> NewHttpCloudletLink(net::HttpClient& client, std::string base_url,
                                                  SecretBytes enrol_token) {
  return std::make_unique<HttpCloudletLink>(client, std::move(base_url), std::move(enrol_token));
}

// --- Outbox items ------------------------------------------------------------------------------

Bytes EncodeOutboxItem(const OutboxItem& item) {
  MEDMESH_CHECK(item.cloudlet_id.size() <= 255, "cloudlet ids are at most 64 bytes");
  MEDMESH_CHECK(item.sealed.size() <= UINT32_MAX && item.payload.size() <= UINT32_MAX,
                "uploads are capped far below 4 GiB");
  Bytes out;
  out.reserve(16 + item.cloudlet_id.size() + item.sealed.size() + item.payload.size());
  AppendBytes(out, AsBytes(kOutboxMagic));
  AppendU8(out, kOutboxVersion);
  AppendU8(out, item.reseals);
  AppendU8(out, static_cast<std::uint8_t>(item.cloudlet_id.size()));
  AppendBytes(out, AsBytes(item.cloudlet_id));
  AppendU32Le(out, item.readings);
  AppendU32Le(out, static_cast<std::uint32_t>(item.sealed.size()));
  AppendBytes(out, item.sealed);
  AppendU32Le(out, static_cast<std::uint32_t>(item.payload.size()));
  AppendBytes(out, item.payload);
  return out;
}

Result<OutboxItem> DecodeOutboxItem(ByteView bytes) {
  ByteReader reader(bytes);
  MEDMESH_ASSIGN_OR_RETURN(ByteView magic, reader.ReadBytes(kOutboxMagic.size()));
  if (AsStringView(magic) != kOutboxMagic) return InvalidArgument("outbox item: bad magic");
  MEDMESH_ASSIGN_OR_RETURN(std::uint8_t version, reader.ReadU8());
  if (version != kOutboxVersion) return InvalidArgument("outbox item: unknown version");
  OutboxItem item;
  MEDMESH_ASSIGN_OR_RETURN(item.reseals, reader.ReadU8());
  MEDMESH_ASSIGN_OR_RETURN(std::uint8_t id_length, reader.ReadU8());
  MEDMESH_ASSIGN_OR_RETURN(ByteView id, reader.ReadBytes(id_length));
  item.cloudlet_id = std::string(AsStringView(id));
  MEDMESH_ASSIGN_OR_RETURN(item.readings, reader.ReadU32Le());
  MEDMESH_ASSIGN_OR_RETURN(std::uint32_t sealed_length, reader.ReadU32Le());
  MEDMESH_ASSIGN_OR_RETURN(ByteView sealed, reader.ReadBytes(sealed_length));
  item.sealed.assign(sealed.begin(), sealed.end());
  MEDMESH_ASSIGN_OR_RETURN(std::uint32_t payload_length, reader.ReadU32Le());
  MEDMESH_ASSIGN_OR_RETURN(ByteView payload, reader.ReadBytes(payload_length));
  item.payload.assign(payload.begin(), payload.end());
  if (reader.remaining() != 0) return InvalidArgument("outbox item: trailing bytes");
  if (!wire::IsValidId(item.cloudlet_id)) return InvalidArgument("outbox item: bad cloudlet id");
  return item;
}

// --- DeviceAgent -------------------------------------------------------------------------------

// Batch sequence numbers from the outbox's durable counter.
class DeviceAgent::OutboxSequence final : public SequenceSource {
 public:
  explicit OutboxSequence(store::Outbox& outbox) : outbox_(outbox) {}
  Result<std::uint64_t> Next() override { return outbox_.NextSequence(); }

 private:
  store::Outbox& outbox_;
};

DeviceAgent::DeviceAgent(DeviceSpec spec, fs::path folder, crypto::SigningPublicKey root,
                         std::vector<CloudletEndpoint> cloudlets, const Clock& clock,
                         Random& random, AgentOptions options)
    : spec_(std::move(spec)),
      folder_(std::move(folder)),
      root_(std::move(root)),
      cloudlets_(std::move(cloudlets)),
      clock_(clock),
      random_(random),
      options_(std::move(options)) {}

DeviceAgent::~DeviceAgent() = default;

Result<std::unique_ptr<DeviceAgent>> DeviceAgent::Open(DeviceSpec spec, const fs::path& folder,
                                                       crypto::SigningPublicKey root,
                                                       std::vector<CloudletEndpoint> cloudlets,
                                                       const Clock& clock, Random& random,
                                                       AgentOptions options) {
  if (!wire::IsValidId(spec.device_id)) return InvalidArgument("agent: invalid device id");
  if (!wire::IsValidId(spec.patient_id)) return InvalidArgument("agent: invalid patient id");
  if (cloudlets.empty()) return InvalidArgument("agent: no cloudlet configured");
  for (const CloudletEndpoint& endpoint : cloudlets) {
    if (!wire::IsValidId(endpoint.id)) return InvalidArgument("agent: invalid cloudlet id");
    if (!endpoint.link) return InvalidArgument("agent: cloudlet without a link");
    if (!std::isfinite(endpoint.distance_m) || endpoint.distance_m < 0) {
      return InvalidArgument("agent: cloudlet distance must be finite and >= 0");
    }
    if (!(endpoint.trust >= 0 && endpoint.trust <= 1)) {
      return InvalidArgument("agent: cloudlet trust must be in [0, 1]");
    }
  }
  if (options.max_uploads_per_tick == 0) {
    return InvalidArgument("agent: max_uploads_per_tick must be positive");
  }
  if (options.backfill.count() < 0) return InvalidArgument("agent: backfill must be >= 0");
  options.outbox.in_order = true;  // batch 0 of a session must arrive first

  std::error_code ec;
  fs::create_directories(folder, ec);
  if (ec) return Unavailable("agent: cannot create the device folder: " + ec.message());
  fs::permissions(folder, fs::perms::owner_all, fs::perm_options::replace, ec);
  if (ec) return Unavailable("agent: cannot restrict the device folder: " + ec.message());

  std::unique_ptr<DeviceAgent> agent(new DeviceAgent(std::move(spec), folder, std::move(root),
                                                     std::move(cloudlets), clock, random,
                                                     std::move(options)));

  // The device key: created on first start, kept for the life of the device.
  const fs::path key_path = folder / kKeyFileName;
  auto key_file = crypto::ReadKeyFile(key_path);
  if (!key_file && key_file.error().code() == ErrorCode::kNotFound) {
    MEDMESH_RETURN_IF_ERROR(crypto::WriteKeyFile(
        key_path, crypto::GenerateKeyFile(crypto::KeyFileType::kDevice, random), false));
    key_file = crypto::ReadKeyFile(key_path);
  }
  if (!key_file) return key_file.error();
  if (key_file->type != crypto::KeyFileType::kDevice || !key_file->signing) {
    return InvalidArgument("agent: device.key is not a device key file");
  }
  // Log lines name the device by a reference keyed from its own key (node/log_reference.h).
  agent->log_ref_ = node::LogReference(node::DeriveLogReferenceKey(key_file->signing->seed()),
                                       "device", agent->spec_.device_id);
  agent->signer_ = crypto::NewEd25519Signer(std::move(*key_file->signing));

  MEDMESH_ASSIGN_OR_RETURN(agent->outbox_,
                           store::Outbox::Open((folder / kOutboxFileName).string(), clock, random,
                                               agent->options_.outbox));
  MEDMESH_ASSIGN_OR_RETURN(agent->held_uploads_, store::SqliteDurableQueue::Open(
                                                     (folder / kOutboxFileName).string(), "held",
                                                     clock, random, agent->options_.outbox));
  agent->sequence_ = std::make_unique<OutboxSequence>(*agent->outbox_);
  MEDMESH_ASSIGN_OR_RETURN(
      agent->batcher_, Batcher::Create(agent->spec_.device_id, agent->spec_.patient_id,
                                       *agent->sequence_, random, clock, agent->options_.batching));

  MEDMESH_ASSIGN_OR_RETURN(auto marker, ReadOptionalText(folder / kRecordMarkerFileName));
  agent->record_queued_ = marker.has_value();

  if (agent->spec_.profile) {
    MEDMESH_ASSIGN_OR_RETURN(auto until_text, ReadOptionalText(folder / kSimulatedUntilFileName));
    std::int64_t until_ms = 0;
    if (until_text) {
      try {
        until_ms = std::stoll(*until_text);
      } catch (const std::exception&) {
        until_ms = 0;  // a damaged hint only costs some overlap
      }
    }
    const std::int64_t now_ms = NowMs(clock);
    const std::int64_t start_ms = std::clamp(
        std::max(now_ms - agent->options_.backfill.count(), until_ms), std::int64_t{0}, now_ms);
    SimulatorOptions sim;
    sim.profile = *agent->spec_.profile;
    sim.seed = agent->spec_.seed;
    sim.start_ms = start_ms;
    sim.utc_offset_minutes = agent->spec_.utc_offset_minutes;
    MEDMESH_ASSIGN_OR_RETURN(Simulator simulator, Simulator::Create(sim));
    agent->simulator_.emplace(std::move(simulator));
    agent->simulated_until_ms_ = start_ms;
  }

  MEDMESH_ASSIGN_OR_RETURN(
      agent->journal_,
      log::LineFile::Open((folder / kJournalFileName).string(), agent->options_.journal));
  return agent;
}

std::size_t DeviceAgent::unqueued_readings() const {
  std::size_t n = batcher_->pending();
  for (const PendingBatch& batch : held_) n += batch.batch.readings.size();
  return n;
}

AgentCounters DeviceAgent::counters() const {
  AgentCounters c;
  c.readings_generated = counters_.readings_generated.load();
  c.batches_queued = counters_.batches_queued.load();
  c.readings_queued = counters_.readings_queued.load();
  c.records_queued = counters_.records_queued.load();
  c.uploads_acked = counters_.uploads_acked.load();
  c.readings_acked = counters_.readings_acked.load();
  c.readings_refused = counters_.readings_refused.load();
  c.duplicates = counters_.duplicates.load();
  c.rejected = counters_.rejected.load();
  c.reseals = counters_.reseals.load();
  c.splits = counters_.splits.load();
  c.uploads_held = counters_.uploads_held.load();
  c.send_failures = counters_.send_failures.load();
  c.bytes_sent = counters_.bytes_sent.load();
  c.readings_dropped = counters_.readings_dropped.load();
  c.readings_implausible = counters_.readings_implausible.load();
  c.tick_exceptions = counters_.tick_exceptions.load();
  return c;
}

// --- Connecting --------------------------------------------------------------------------------

const CloudletEndpoint* DeviceAgent::FindEndpoint(std::string_view id) const {
  for (const CloudletEndpoint& endpoint : cloudlets_) {
    if (endpoint.id == id) return &endpoint;
  }
  return nullptr;
}

Status DeviceAgent::CheckEnrolment(const wire::Enrolment& enrolment,
                                   const std::string& cloudlet_id) const {
  if (enrolment.device_id != spec_.device_id || enrolment.patient_id != spec_.patient_id ||
      !(enrolment.device_key == signer_->public_key()) || enrolment.cloudlet_id != cloudlet_id) {
    return PermissionDenied(
        "agent: the enrolment record is not for this device, patient, key "
        "or cloudlet");
  }
  return OkStatus();
}

Status DeviceAgent::UseCredential(const CloudletEndpoint& endpoint,
                                  const wire::VerifiedCertificate& certificate,
                                  const wire::Enrolment& enrolment) {
  MEDMESH_RETURN_IF_ERROR(CheckEnrolment(enrolment, endpoint.id));
  const auto& kem_key = certificate.certificate().kem_key;
  if (!kem_key) return PermissionDenied("agent: the cloudlet certificate has no KEM key");
  cloudlet_id_ = endpoint.id;
  link_ = endpoint.link;
  sealer_ = std::make_unique<crypto::SessionSealer>(*kem_key, random_, clock_, options_.session);
  last_session_.reset();
  connected_ = true;
  last_connect_error_.clear();
  return OkStatus();
}

void DeviceAgent::ForgetCredential() {
  std::error_code ec;
  fs::remove(folder_ / kChosenFileName, ec);
  if (!cloudlet_id_.empty()) fs::remove(EnrolmentFile(folder_, cloudlet_id_), ec);
  connected_ = false;
  next_connect_ = clock_.Monotonic() + options_.connect_retry;
}

// Uses the cloudlet chosen before (and its certificate and enrolment record, re-verified).
// False if there is none or it no longer verifies, so a new choice must be made.
Result<bool> DeviceAgent::LoadKeptCredential() {
  MEDMESH_ASSIGN_OR_RETURN(auto chosen, ReadOptionalText(folder_ / kChosenFileName));
  if (!chosen) return false;
  const CloudletEndpoint* endpoint = FindEndpoint(*chosen);
  if (endpoint == nullptr) {
    log::Warn("wearable_kept_cloudlet_gone", {{"device", log_ref_}, {"cloudlet", *chosen}});
    return false;
  }
  const std::int64_t now_ms = NowMs(clock_);
  auto certificate_bytes =
      Env::Default().ReadSmallFile(CertificateFile(folder_, *chosen), wire::kMaxCertificateBytes);
  if (!certificate_bytes) return false;
  auto certificate =
      wire::VerifyCertificate(*certificate_bytes, root_, wire::CertificateRole::kCloudlet, now_ms);
  if (!certificate) {
    // Expired or replaced: ask the cloudlet for its current one.
    MEDMESH_ASSIGN_OR_RETURN(Bytes fresh, endpoint->link->FetchCertificate());
    certificate = wire::VerifyCertificate(fresh, root_, wire::CertificateRole::kCloudlet, now_ms);
    if (!certificate) return false;
    MEDMESH_RETURN_IF_ERROR(WriteFileAtomically(CertificateFile(folder_, *chosen), fresh, 0644));
  }
  if (certificate->certificate().subject_id != *chosen) return false;
  auto record =
      Env::Default().ReadSmallFile(EnrolmentFile(folder_, *chosen), wire::kMaxEnrolmentBytes);
  if (!record) return false;
  auto enrolment = wire::VerifyEnrolment(*record, *certificate);
  if (!enrolment || !CheckEnrolment(*enrolment, *chosen)) return false;
  MEDMESH_RETURN_IF_ERROR(UseCredential(*endpoint, *certificate, *enrolment));
  log::Info("wearable_resumed", {{"device", log_ref_}, {"cloudlet", cloudlet_id_}});
  return true;
}

Status DeviceAgent::Connect() {
  MEDMESH_ASSIGN_OR_RETURN(bool kept, LoadKeptCredential());
  if (kept) return OkStatus();

  const std::int64_t now_ms = NowMs(clock_);
  std::vector<CloudletCandidate> candidates;
  std::vector<std::optional<wire::VerifiedCertificate>> certificates;
  for (const CloudletEndpoint& endpoint : cloudlets_) {
    CloudletCandidate candidate{endpoint.id, endpoint.distance_m, endpoint.trust, false};
    std::optional<wire::VerifiedCertificate> verified;
    auto bytes = endpoint.link->FetchCertificate();
    if (bytes) {
      auto certificate =
          wire::VerifyCertificate(*bytes, root_, wire::CertificateRole::kCloudlet, now_ms);
      if (!certificate) {
        log::Warn("wearable_certificate_refused", {{"device", log_ref_},
                                                   {"cloudlet", endpoint.id},
                                                   {"reason", certificate.error().ToString()}});
      } else if (certificate->certificate().subject_id != endpoint.id ||
                 !certificate->certificate().kem_key) {
        log::Warn("wearable_certificate_refused",
                  {{"device", log_ref_},
                   {"cloudlet", endpoint.id},
                   {"reason", "certified for another id, or without a KEM key"}});
      } else {
        candidate.certificate_valid = true;
        verified.emplace(std::move(*certificate));
      }
    }
    candidates.push_back(candidate);
    certificates.push_back(std::move(verified));
  }
  // The message the choice is made for: a full batch at about one byte per reading plus the
  // envelope (docs/wire_format.md); only the ranking matters, not the exact size.
  const double bits_per_message =
      8.0 * (static_cast<double>(options_.batching.max_readings) + 256.0);
  MEDMESH_ASSIGN_OR_RETURN(
      CloudletChoice choice,
      ChooseCloudlet(candidates, options_.radio, bits_per_message, options_.min_trust));
  std::size_t index = 0;
  while (cloudlets_[index].id != choice.id) ++index;
  const CloudletEndpoint& endpoint = cloudlets_[index];
  wire::VerifiedCertificate& certificate = *certificates[index];

  // The request proves that this device holds its key, names the cloudlet and is recent
  // (docs/enrolment.md); the enrol token alone no longer enrols.
  MEDMESH_ASSIGN_OR_RETURN(
      Bytes request,
      wire::SignEnrolmentRequest({spec_.device_id, spec_.patient_id, signer_->public_key(),
                                  endpoint.id, wire::ToUnixMs(clock_.Now())},
                                 *signer_));
  MEDMESH_ASSIGN_OR_RETURN(Bytes record, endpoint.link->Enrol(request));
  MEDMESH_ASSIGN_OR_RETURN(wire::Enrolment enrolment, wire::VerifyEnrolment(record, certificate));
  MEDMESH_RETURN_IF_ERROR(CheckEnrolment(enrolment, endpoint.id));

  // Keep the credential: certificate and record first, then the choice that points at them.
  MEDMESH_RETURN_IF_ERROR(
      WriteFileAtomically(CertificateFile(folder_, endpoint.id), certificate.encoded(), 0644));
  MEDMESH_RETURN_IF_ERROR(WriteFileAtomically(EnrolmentFile(folder_, endpoint.id), record, 0600));
  MEDMESH_RETURN_IF_ERROR(WriteText(folder_ / kChosenFileName, endpoint.id + "\n", 0600));
  log::Info("wearable_enrolled", {{"device", log_ref_},
                                  {"cloudlet", endpoint.id},
                                  {"distance_m", choice.distance_m},
                                  {"trust", choice.trust},
                                  {"radio_j_per_batch", choice.energy_per_batch_j}});
  return UseCredential(endpoint, certificate, enrolment);
}

// --- Producing ---------------------------------------------------------------------------------

Status DeviceAgent::Tick() {
  // The last resort for a worker thread: an exception from anything below (a link, a library,
  // an allocation) must not end the process, and must not name the device's patient in the log.
  // What it interrupted is safe to repeat: uploads it leased come due again after the lease.
  const char* what = "unknown exception";
  try {
    return TickOnce();
  } catch (const std::bad_alloc&) {
    what = "std::bad_alloc";
  } catch (const std::exception& e) {
    what = typeid(e).name();  // the type only: what() may quote data
  } catch (...) {
  }
  counters_.tick_exceptions += 1;
  log::Error("wearable_tick_exception", {{"device", log_ref_}, {"exception", what}});
  return Internal("unexpected exception during a tick (" + std::string(what) + ")");
}

Status DeviceAgent::TickOnce() {
  if (!connected_ && clock_.Monotonic() >= next_connect_) {
    Status st = Connect();
    if (!st) {
      next_connect_ = clock_.Monotonic() + options_.connect_retry;
      std::string why = st.error().ToString();
      if (why != last_connect_error_) {
        log::Warn("wearable_connect_failed", {{"device", log_ref_}, {"reason", why}});
        last_connect_error_ = std::move(why);
      }
    }
  }

  if (simulator_) {
    scratch_.clear();
    simulator_->Advance(NowMs(clock_), scratch_);
    if (!scratch_.empty()) {
      counters_.readings_generated += scratch_.size();
      MEDMESH_ASSIGN_OR_RETURN(std::vector<PendingBatch> full, batcher_->Add(scratch_));
      for (PendingBatch& batch : full) HoldUnqueued(std::move(batch));
    }
  }
  MEDMESH_ASSIGN_OR_RETURN(std::optional<PendingBatch> aged, batcher_->Poll());
  if (aged) HoldUnqueued(std::move(*aged));

  if (!connected_) return OkStatus();
  MEDMESH_RETURN_IF_ERROR(QueueHeld());
  if (!record_queued_ && simulator_) MEDMESH_RETURN_IF_ERROR(QueuePatientRecord());
  return SendDue();
}

Status DeviceAgent::AddReadings(std::span<const wire::Reading> readings) {
  counters_.readings_generated += readings.size();
  // One by one: an implausible reading is left out and counted, the others go on.
  std::vector<wire::Reading> plausible;
  plausible.reserve(readings.size());
  for (const wire::Reading& reading : readings) {
    if (wire::CheckPlausible(reading)) plausible.push_back(reading);
  }
  if (const std::size_t left_out = readings.size() - plausible.size(); left_out > 0) {
    counters_.readings_implausible += left_out;
    log::Warn("wearable_readings_implausible",
              {{"device", log_ref_}, {"readings", static_cast<std::uint64_t>(left_out)}});
  }
  MEDMESH_ASSIGN_OR_RETURN(std::vector<PendingBatch> full, batcher_->Add(plausible));
  for (PendingBatch& batch : full) HoldUnqueued(std::move(batch));
  return OkStatus();
}

Status DeviceAgent::Flush() {
  MEDMESH_ASSIGN_OR_RETURN(std::optional<PendingBatch> rest, batcher_->Flush());
  if (rest) HoldUnqueued(std::move(*rest));
  return connected_ ? QueueHeld() : OkStatus();
}

void DeviceAgent::HoldUnqueued(PendingBatch batch) {
  held_.push_back(std::move(batch));
  if (held_.size() > options_.max_held_batches) {
    const std::size_t dropped = held_.front().batch.readings.size();
    counters_.readings_dropped += dropped;
    log::Warn("wearable_readings_dropped",
              {{"device", log_ref_},
               {"readings", static_cast<std::uint64_t>(dropped)},
               {"reason", "no cloudlet reachable since start and the memory buffer is full"}});
    held_.erase(held_.begin());
  }
}

Status DeviceAgent::QueueHeld() {
  std::size_t done = 0;
  Status status = OkStatus();
  for (; done < held_.size(); ++done) {
    status = QueueReadings(held_[done]);
    if (!status) break;
  }
  held_.erase(held_.begin(), held_.begin() + static_cast<std::ptrdiff_t>(done));
  return status;
}

Status DeviceAgent::QueueReadings(const PendingBatch& batch) {
  MEDMESH_ASSIGN_OR_RETURN(Bytes payload, wire::EncodeReadings(batch.batch.readings));
  wire::UploadHeader header;
  header.content_type = wire::ContentType::kReadingsBatch;
  header.device_id = spec_.device_id;
  header.patient_id = spec_.patient_id;
  header.sequence = batch.batch.sequence;
  header.batch_id = batch.batch_id;
  header.created_ms = NowMs(clock_);
  const auto readings = static_cast<std::uint32_t>(batch.batch.readings.size());
  MEDMESH_RETURN_IF_ERROR(QueueUpload(header, payload, readings));
  counters_.batches_queued += 1;
  counters_.readings_queued += readings;

  if (simulator_) {
    std::int64_t last_ms = simulated_until_ms_;
    for (const wire::Reading& r : batch.batch.readings) last_ms = std::max(last_ms, r.time_ms + 1);
    if (last_ms > simulated_until_ms_) {
      simulated_until_ms_ = last_ms;
      // A hint for the next start; losing it only makes the simulator overlap a little.
      Status st = WriteText(folder_ / kSimulatedUntilFileName,
                            std::to_string(simulated_until_ms_) + "\n", 0600);
      if (!st) log::Warn("wearable_state_not_saved", {{"reason", st.error().ToString()}});
    }
  }
  return OkStatus();
}

Status DeviceAgent::QueuePatientRecord() {
  MEDMESH_ASSIGN_OR_RETURN(std::uint64_t sequence, outbox_->NextSequence());
  wire::UploadHeader header;
  header.content_type = wire::ContentType::kPatientRecord;
  header.device_id = spec_.device_id;
  header.patient_id = spec_.patient_id;
  header.sequence = sequence;
  header.batch_id = wire::NewBatchId(random_);
  header.created_ms = NowMs(clock_);
  RecordIds ids;
  ids.record_id = "rec-" + HexEncode(ByteView(header.batch_id).first(8));
  ids.patient_id = spec_.patient_id;
  ids.device_id = spec_.device_id;
  const wire::PatientRecord record = GeneratePatientRecord(*simulator_, ids, header.created_ms);
  MEDMESH_ASSIGN_OR_RETURN(Bytes payload, wire::EncodePatientRecord(record));
  MEDMESH_RETURN_IF_ERROR(QueueUpload(header, payload, 0));
  MEDMESH_RETURN_IF_ERROR(WriteText(folder_ / kRecordMarkerFileName, ids.record_id + "\n", 0600));
  record_queued_ = true;
  counters_.records_queued += 1;
  return OkStatus();
}

Status DeviceAgent::QueueUpload(const wire::UploadHeader& header, ByteView payload,
                                std::uint32_t readings) {
  MEDMESH_ASSIGN_OR_RETURN(Bytes sealed,
                           wire::SealUpload(header, payload, *sealer_, *signer_, random_));
  OutboxItem item;
  item.cloudlet_id = cloudlet_id_;
  item.readings = readings;
  item.payload.assign(payload.begin(), payload.end());
  last_session_ = SessionOf(sealed);
  item.sealed = std::move(sealed);
  MEDMESH_ASSIGN_OR_RETURN(
      store::EnqueueOutcome outcome,
      outbox_->Enqueue(BatchKey(header.batch_id, header.sequence), EncodeOutboxItem(item)));
  (void)outcome;  // batch ids are fresh (a repeated split: kAlreadyExists, see Split)
  return OkStatus();
}

std::optional<crypto::SessionId> DeviceAgent::SessionOf(ByteView sealed) {
  auto parsed = wire::ParseUpload(sealed);
  if (!parsed) return std::nullopt;
  auto header = crypto::ParseSessionBatchHeader(parsed->sealed_payload);
  if (!header) return std::nullopt;
  return header->session_id;
}

// --- Sending -----------------------------------------------------------------------------------

void DeviceAgent::Journal(const OutboxItem& item, const wire::UploadHeader& header,
                          std::string_view status, std::string_view detail) {
  nlohmann::json line = {
      {"time_ms", NowMs(clock_)},     {"batch", BatchKey(header.batch_id, header.sequence)},
      {"sequence", header.sequence},  {"content", wire::ContentTypeName(header.content_type)},
      {"readings", item.readings},    {"status", status},
      {"cloudlet", item.cloudlet_id}, {"bytes", item.sealed.size()}};
  if (!detail.empty()) line["detail"] = detail;
  journal_->Append(line.dump());  // flushed; rotated by size
}

Status DeviceAgent::SendDue() {
  MEDMESH_ASSIGN_OR_RETURN(std::vector<store::QueueItem> items,
                           outbox_->NextDue(clock_.Now(), options_.max_uploads_per_tick));
  bool stop = false;
  for (const store::QueueItem& item : items) {
    if (stop || !connected_) {
      // Give the lease back; the head of the queue is backing off anyway.
      (void)outbox_->MarkFailed(item.id, "not sent: the cloudlet is unavailable");
      continue;
    }
    auto decoded = DecodeOutboxItem(item.payload);
    auto parsed =
        decoded ? wire::ParseUpload(decoded->sealed) : Result<wire::ParsedUpload>(decoded.error());
    if (!parsed) {
      log::Error("wearable_outbox_item_damaged",
                 {{"device", log_ref_}, {"item", item.id}, {"reason", parsed.error().ToString()}});
      MEDMESH_RETURN_IF_ERROR(Hold(item, nullptr, nullptr, "damaged outbox entry"));
      continue;
    }
    const wire::UploadHeader header = parsed->header;
    const std::optional<crypto::SessionId> session = SessionOf(decoded->sealed);
    if (decoded->cloudlet_id != cloudlet_id_ || (session && dead_sessions_.contains(*session))) {
      MEDMESH_RETURN_IF_ERROR(Reseal(item, *decoded));
      continue;
    }

    auto reply = link_->Ingest(decoded->sealed);
    counters_.bytes_sent += decoded->sealed.size();
    if (!reply) {
      counters_.send_failures += 1;
      log::Debug("wearable_upload_failed",
                 {{"device", log_ref_}, {"reason", reply.error().ToString()}});
      MEDMESH_RETURN_IF_ERROR(outbox_->MarkFailed(item.id, reply.error().message()));
      stop = true;
      continue;
    }
    const int http = reply->http_status;
    if (http >= 200 && http < 300) {
      const std::string status = reply->status.empty() ? "stored" : reply->status;
      const std::uint64_t refused = std::min<std::uint64_t>(reply->refused, decoded->readings);
      Journal(*decoded, header, status,
              refused > 0 ? std::to_string(refused) + " readings refused as implausible" : "");
      MEDMESH_RETURN_IF_ERROR(outbox_->MarkSent(item.id));
      counters_.uploads_acked += 1;
      counters_.readings_acked += decoded->readings - refused;
      counters_.readings_refused += refused;
      if (status == "duplicate") counters_.duplicates += 1;
      continue;
    }
    const net::Refusal& refusal = reply->refusal;
    const std::string detail = "HTTP " + std::to_string(http) + " " +
                               std::string(ErrorCodeName(refusal.error.code())) + ": " +
                               refusal.error.message().substr(0, 200);
    if (refusal.permanent) {
      // The one way an upload the cloudlet did not store leaves the device: MedMesh's own,
      // explicit word that it will never take it.
      log::Warn("wearable_upload_refused", {{"device", log_ref_},
                                            {"batch", item.id},
                                            {"http_status", http},
                                            {"error", ErrorCodeName(refusal.error.code())}});
      Journal(*decoded, header, "rejected", detail);
      counters_.rejected += 1;
      MEDMESH_RETURN_IF_ERROR(outbox_->MarkSent(item.id));
    } else if (http == 401) {
      // The cloudlet does not know the session (it restarted) or refused the signature: start
      // a new session and re-seal everything still sealed in this one.
      if (session) {
        dead_sessions_.insert(*session);
        if (session == last_session_) sealer_->Rekey();
      }
      MEDMESH_RETURN_IF_ERROR(Reseal(item, *decoded));
    } else if (http == 403) {
      log::Warn("wearable_not_enrolled",
                {{"device", log_ref_}, {"cloudlet", cloudlet_id_}, {"reason", detail}});
      MEDMESH_RETURN_IF_ERROR(outbox_->MarkFailed(item.id, detail));
      ForgetCredential();
      stop = true;
    } else if (http == 413) {
      // From the cloudlet or a proxy in front of it: either way, smaller parts may pass.
      MEDMESH_RETURN_IF_ERROR(Split(item, *decoded, header));
    } else if (refusal.medmesh && !refusal.transient()) {
      // MedMesh refused this upload, not for good, for a reason the agent cannot fix itself
      // (a newer cloudlet's refusal, a failed precondition): an operator decides.
      MEDMESH_RETURN_IF_ERROR(Hold(item, &*decoded, &header, detail));
    } else {
      // Busy, down, or an answer that is not MedMesh's own (a proxy's 404 or 408, a misrouted
      // URL): nothing says the upload is wrong, so keep it and try again later.
      counters_.send_failures += 1;
      MEDMESH_RETURN_IF_ERROR(outbox_->MarkFailed(item.id, detail));
      stop = true;
    }
  }
  return OkStatus();
}

Status DeviceAgent::Reseal(const store::QueueItem& item, const OutboxItem& decoded) {
  MEDMESH_ASSIGN_OR_RETURN(wire::ParsedUpload parsed, wire::ParseUpload(decoded.sealed));
  const wire::UploadHeader header = parsed.header;
  if (decoded.reseals >= options_.max_reseals) {
    log::Warn("wearable_upload_held", {{"device", log_ref_},
                                       {"batch", item.id},
                                       {"reason", "refused (401) after every re-seal"}});
    return Hold(item, &decoded, &header, "refused (401) after every re-seal");
  }
  MEDMESH_ASSIGN_OR_RETURN(Bytes sealed,
                           wire::SealUpload(header, decoded.payload, *sealer_, *signer_, random_));
  OutboxItem fresh;
  fresh.cloudlet_id = cloudlet_id_;
  fresh.reseals = static_cast<std::uint8_t>(decoded.reseals + 1);
  fresh.readings = decoded.readings;
  fresh.payload = decoded.payload;
  last_session_ = SessionOf(sealed);
  fresh.sealed = std::move(sealed);
  // The new copy goes in under its own queue id before the old one leaves, so a crash in
  // between keeps at least one (the cloudlet de-duplicates by batch id).
  const std::string id =
      BatchKey(header.batch_id, header.sequence) + ":r" + std::to_string(fresh.reseals);
  auto queued = outbox_->Enqueue(id, EncodeOutboxItem(fresh));
  if (!queued && queued.error().code() != ErrorCode::kAlreadyExists) return queued.error();
  counters_.reseals += 1;
  return outbox_->MarkSent(item.id);
}

Status DeviceAgent::Split(const store::QueueItem& item, const OutboxItem& decoded,
                          const wire::UploadHeader& header) {
  if (header.content_type != wire::ContentType::kReadingsBatch || decoded.readings < 2) {
    return Hold(item, &decoded, &header, "too large for the cloudlet and cannot be split");
  }
  auto readings = wire::DecodeReadings(decoded.payload, {.require_plausible = false});
  if (!readings || readings->size() < 2) {
    return Hold(item, &decoded, &header, "too large for the cloudlet and cannot be split");
  }
  // The refused upload never reached the session's opening: if it was the session's first
  // batch, the cloudlet does not know that session, so every later batch sealed in it would be
  // refused (401). Start a new one now, as a 401 would.
  if (auto parsed = wire::ParseUpload(decoded.sealed)) {
    if (auto batch = crypto::ParseSessionBatchHeader(parsed->sealed_payload);
        batch && batch->opens_session) {
      dead_sessions_.insert(batch->session_id);
      if (batch->session_id == last_session_) sealer_->Rekey();
    }
  }
  const std::size_t middle = readings->size() / 2;
  const std::span<const wire::Reading> all(*readings);
  const std::span<const wire::Reading> halves[2] = {all.first(middle), all.subspan(middle)};
  // Both halves go in before the original leaves: a crash in between repeats the split with the
  // same derived batch ids (and queue ids), so nothing is stored twice.
  for (std::uint8_t index = 0; index < 2; ++index) {
    MEDMESH_ASSIGN_OR_RETURN(Bytes payload, wire::EncodeReadings(halves[index]));
    wire::UploadHeader half = header;
    half.batch_id = SplitBatchId(header.batch_id, index);
    half.created_ms = NowMs(clock_);
    auto queued = QueueUpload(half, payload, static_cast<std::uint32_t>(halves[index].size()));
    if (!queued && queued.error().code() != ErrorCode::kAlreadyExists) return queued.error();
  }
  Journal(decoded, header, "split", "too large for the cloudlet (413): sent as two halves");
  log::Info("wearable_upload_split", {{"device", log_ref_},
                                      {"batch", item.id},
                                      {"readings", static_cast<std::uint64_t>(decoded.readings)}});
  counters_.splits += 1;
  return outbox_->MarkSent(item.id);
}

Status DeviceAgent::Hold(const store::QueueItem& item, const OutboxItem* decoded,
                         const wire::UploadHeader* header, std::string_view reason) {
  // Into the held table first, then out of the outbox: a crash in between leaves it in both,
  // and the outbox copy is simply tried (and held) again.
  auto held = held_uploads_->Enqueue(item.id, item.payload);
  if (!held && held.error().code() != ErrorCode::kAlreadyExists) return held.error();
  if (decoded && header) Journal(*decoded, *header, "held", reason);
  log::Warn("wearable_upload_held", {{"device", log_ref_}, {"batch", item.id}, {"reason", reason}});
  counters_.uploads_held += 1;
  return outbox_->MarkSent(item.id);
}

Result<std::size_t> DeviceAgent::ReleaseHeld() {
  std::size_t released = 0;
  while (true) {
    MEDMESH_ASSIGN_OR_RETURN(std::vector<store::QueueItem> items,
                             held_uploads_->NextDue(clock_.Now(), 64));
    if (items.empty()) break;
    for (const store::QueueItem& item : items) {
      // Back at the end of the outbox under a fresh queue id (the old one may be in use by a
      // re-sealed copy); the batch id inside is unchanged, so the cloudlet de-duplicates.
      const std::string id =
          item.id.substr(0, item.id.find(":h")) + ":h" + std::to_string(item.enqueued_ms);
      auto queued = outbox_->Enqueue(id, item.payload);
      if (!queued && queued.error().code() != ErrorCode::kAlreadyExists) return queued.error();
      MEDMESH_RETURN_IF_ERROR(held_uploads_->MarkSent(item.id));
      ++released;
    }
  }
  if (released > 0) {
    log::Info("wearable_held_released",
              {{"device", log_ref_}, {"uploads", static_cast<std::uint64_t>(released)}});
  }
  return released;
}

}  // namespace medmesh::wearable

#include "cloudlet/cloudlet_service.h"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <mutex>
#include <nlohmann/json.hpp>
#include <system_error>
#include <utility>

#include "accounts/account_reference.h"
#include "accounts/authenticator.h"
#include "accounts/principal.h"
#include "attack/attack_runs.h"
#include "audit/sqlite_audit_store.h"
#include "cloudlet/cloudlet_sessions.h"
#include "cloudlet/device_console.h"
#include "cloudlet/device_registry.h"
#include "cloudlet/ingest_ledger.h"
#include "cloudlet/integrity_http.h"
#include "cloudlet/internal/cloudlet_metrics.h"
#include "cloudlet/internal/forward_item.h"
#include "cloudlet/internal/record_at_rest.h"
#include "cloudlet/relay.h"
#include "cloudlet/share_federation.h"
#include "cloudlet/share_forget.h"
#include "cloudlet/trust_service.h"
#include "cloudlet/trust_store.h"
#include "core/log.h"
#include "ids/account_gate.h"
#include "ids/account_guard.h"
#include "ids/detection_engine.h"
#include "ids/enforcer.h"
#include "ids/ids_api.h"
#include "net/builtin_endpoints.h"
#include "net/error_mapping.h"
#include "net/json_body.h"
#include "net/router.h"
#include "node/data_dir.h"
#include "node/log_reference.h"
#include "node/maintenance_thread.h"
#include "store/ids_event_log.h"
#include "store/reading_store.h"
#include "store/sqlite_wrapped_key_store.h"
#include "web/web_ui.h"
#include "wire/enrolment.h"
#include "wire/model.h"
#include "wire/record_codec.h"

namespace medmesh::cloudlet {
namespace {

using Json = nlohmann::json;
using store::IdsEventKind;

// Readings per page of the operator's readings query (default and most), and events one
// listing returns.
constexpr std::size_t kDefaultReadingsPerPage = 1000;
constexpr std::size_t kMaxReadingsPerPage = 10'000;
constexpr std::size_t kMaxEventsPerResponse = 1000;
// Rows per kind of GET /api/v1/patients/{id}/stored (default and most), and the bytes of each
// ciphertext it shows (the operator's "encrypted form" view, docs/ui.md).
constexpr std::size_t kDefaultStoredRows = 20;
constexpr std::size_t kMaxStoredRows = 200;
constexpr std::size_t kStoredExcerptBytes = 48;
constexpr std::size_t kEnrolBodyLimit = 4096;
// A signed enrolment request must have been signed this close to now (bounds replays).
constexpr std::chrono::milliseconds kEnrolRequestMaxAge = std::chrono::minutes(5);

using wire::NowMs;

Result<std::int64_t> ParseTime(std::optional<std::string_view> text, std::int64_t fallback,
                               std::string_view name) {
  if (!text) return fallback;
  std::int64_t value = 0;
  const auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (ec != std::errc() || end != text->data() + text->size() || value < 0 ||
      value > wire::kMaxTimeMs + 1) {
    return InvalidArgument("query parameter '" + std::string(name) + "' must be Unix milliseconds");
  }
  return value;
}

net::Response Unauthorized(std::string_view what) {
  net::Response r =
      net::ErrorResponse(Unauthenticated("missing or wrong " + std::string(what) + " token"));
  r.headers.emplace_back("WWW-Authenticate", "Bearer");
  return r;
}

}  // namespace

struct CloudletService::State {
  State(CloudletOptions o, CloudletSecrets s, const Clock& c, Random& r)
      : options(std::move(o)),
        clock(c),
        random(r),
        identity(std::move(s.identity)),
        kek(std::move(s.kek)),
        log_key(node::DeriveLogReferenceKey(kek->bytes())),
        account_refs_key(accounts::DeriveAccountReferenceKey(kek->bytes())),
        enrol_token(std::move(s.enrol_token)),
        operator_token(std::move(s.operator_token)),
        signer(crypto::NewEd25519Signer(identity.signing_key.Clone())),
        cloudlet_metrics(metrics) {}

  std::string path(std::string_view file) const { return (options.data_dir / file).string(); }

  CloudletOptions options;
  std::optional<node::DataDirLock> data_dir_lock;  // first taken, last released
  const Clock& clock;
  Random& random;
  node::NodeIdentity identity;
  std::optional<crypto::KeyEncryptionKey> kek;  // moved into the envelope at start
  crypto::HashKey log_key;                      // node::LogReference, derived from the KEK
  crypto::HashKey account_refs_key;             // accounts::AccountReference, derived from the KEK
  SecretBytes enrol_token;
  SecretBytes operator_token;
  std::unique_ptr<crypto::Signer> signer;
  net::MetricsRegistry metrics;
  internal::CloudletMetrics cloudlet_metrics;
  internal::CloudletCounters counters;

  std::unique_ptr<store::SqliteWrappedKeyStore> keys;
  std::unique_ptr<crypto::EnvelopeAead> envelope;
  std::unique_ptr<store::ReadingStore> readings;
  std::unique_ptr<store::ForwardQueue> queue;
  std::unique_ptr<store::IdsEventLog> ids;
  // Local intrusion detection (docs/ids.md): decisions.db, the detectors fed by ids and by the
  // server's observer, and the enforcer that is the server's first filter.
  std::unique_ptr<ids::DecisionTable> decisions;
  std::unique_ptr<ids::DetectionEngine> detection;
  std::unique_ptr<ids::Enforcer> enforcer;
  // This cloudlet's IDS decisions on accounts, asked by its login relay (cloudlet_sessions.h).
  std::unique_ptr<ids::AccountGate> account_gate;
  std::unique_ptr<accounts::AccountGuard> account_guard;
  // The request classifier on live requests (ids/payload_scoring.h): the filter after the
  // enforcer's scores heads, the wrapped handlers score bodies. Off without a model.
  std::unique_ptr<ids::PayloadScoring> payloads;
  std::unique_ptr<ids::MeshNode> mesh;  // the IDS mesh (docs/ids_mesh.md)
  std::unique_ptr<audit::AuditLog> audit;
  std::unique_ptr<DeviceRegistry> devices;
  std::unique_ptr<IngestLedger> ledger;
  std::unique_ptr<crypto::SessionOpener> sessions;
  std::unique_ptr<internal::PressureMonitor> pressure;
  std::unique_ptr<IngestPipeline> pipeline;
  std::unique_ptr<Forwarder> forwarder;
  std::unique_ptr<net::HttpClient> sessions_client;  // the revocation poller's
  std::unique_ptr<CloudletSessions> logins;          // null without a cloud_url
  std::unique_ptr<node::MaintenanceThread> sessions_thread;
  std::unique_ptr<CloudletMaintenance> maintenance;
  std::mutex maintenance_mu;  // one pass at a time (thread and MaintainNow)
  std::unique_ptr<node::MaintenanceThread> maintenance_thread;
  // Issue 8 (integrity_http.h): the cloud's deletion feed, polled by the maintenance thread.
  std::unique_ptr<DeletionFollower> deletion_follower;
  std::unique_ptr<DeletionFeedPoller> deletion_poller;  // null without a cloud URL
  // The web UI's console devices (device_console.h): destroyed before the pipeline it feeds.
  std::unique_ptr<DeviceConsole> console;
  // Issue 10 (trust_service.h): sharing between similar patients, trust in peer cloudlets.
  std::unique_ptr<TrustStore> trust_store;
  std::unique_ptr<TrustService> trust;
  // Issue 10 (relay.h): passing configured peers' requests on to the cloud, and relaying ours.
  std::unique_ptr<net::HttpClient> relay_client;
  std::vector<RelayPeer> RelayPeers() const;  // the configured mesh peers but the cloud
  // Issue 10 (share_federation.h): sharing with patients of partner cloudlets.
  std::unique_ptr<net::HttpClient> share_client;
  std::unique_ptr<ShareClient> share;
  // ADR 0048 (share_forget.h): "forget" questions for partners when a patient is deleted.
  std::unique_ptr<ShareForgetter> forget;
  // Demo only (attack/attack_runs.h): red-team runs launched from the operator console.
  std::unique_ptr<attack::AttackRuns> attack_runs;
  std::unique_ptr<net::HttpServer> server;
  // `server` for the IDS alerts route, published once it is assigned (handlers may run before).
  std::atomic<const net::HttpServer*> started_server{nullptr};
  std::atomic<bool> ready{false};
  bool stopped = false;

  Status OpenStores();
  net::Router BuildRouter();
  bool Authorised(const net::Request& r, const SecretBytes& token, std::string_view what) const;

  Result<net::Response> Enrol(const net::Request& r);
  Result<net::Response> Ingest(const net::Request& r) const;
  Result<net::Response> Readings(const net::Request& r);
  Result<net::Response> Events(const net::Request& r);
  Result<net::Response> Withdraw(const net::Request& r);
  Result<net::Response> ListDevices(const net::Request& r);
  Result<net::Response> Stored(const net::Request& r);

  // Who calls a route that takes a static token (operator or enrol) or a session: the token, or
  // the session's principal (cloudlet_sessions.h). Errors: 401 / 403 (CSRF) / 503 as
  // CloudletSessions::Authenticate, each but 503 recorded as an auth_failure IDS event.
  struct Caller {
    bool static_token = false;
    std::optional<accounts::Principal> principal;  // set unless static_token
  };
  Result<Caller> Identify(const net::Request& r, const SecretBytes& static_token,
                          std::string_view what);
  // The static token, or an operator session of this cloudlet.
  bool IsOwnOperator(const Caller& caller) const;

  // What a device route (enrol, withdraw) acted on, filled in as it becomes known, for its
  // audit entry: the device once its id is valid, the patient only once the caller may act on
  // that patient's device (a refused caller learns nothing and the entry names nobody else).
  struct DeviceAction {
    std::string device_id;
    std::string patient_id;
    std::string detail;  // "already_enrolled", "unchanged", ...
  };
  Result<net::Response> EnrolAs(const net::Request& r, const Caller& caller, DeviceAction& done);
  // EnrolAs past the JSON: `encoded` is a device-signed enrolment request (also the console's).
  Result<net::Response> EnrolSigned(const net::Request& r, const Caller& caller, ByteView encoded,
                                    DeviceAction& done);
  // The hooks of the device console (device_console.h).
  Status OpenConsole();
  // The caller of a console or trust route, as ConsoleCaller.
  Result<ConsoleCaller> ConsoleCallerOf(const net::Request& r);
  Status OpenTrust();
  Result<std::vector<SharedRecord>> SharedRecords(std::string_view patient_id) const;
  // Sends the due "forget" questions to the configured peers (share_forget.h).
  Status DeliverForgets() {
    if (!forget || !share) return OkStatus();
    std::vector<SharePeer> peers;
    for (const RelayPeer& p : RelayPeers()) peers.push_back({p.id, p.url});
    MEDMESH_ASSIGN_OR_RETURN(ForgetRound round, forget->DeliverDue(*share, peers));
    (void)round;
    return OkStatus();
  }
  Result<net::Response> WithdrawAs(const net::Request& r, const Caller& caller, DeviceAction& done);
  // Appends the audit entry of a device route past identification (docs/audit.md: who, role,
  // from where, the device, its patient, the outcome) and hands `response` back; a failed
  // append is the answer instead (the enrolment or withdrawal itself stands).
  Result<net::Response> AuditDevice(const net::Request& r, const Caller& caller,
                                    std::string_view event, audit::Action action,
                                    const DeviceAction& done, Result<net::Response> response);
  // Own operators and patients (for their own devices) manage devices; 403 for anyone else.
  Status MayActOnDevices(const Caller& caller) const;
  // The audit entry of an IDS change by an operator (ids_api.h on_change); errors are logged.
  void AuditIdsChange(const net::Request& r, std::string_view what, const ids::Scope& scope);
  CloudletStats Stats() const;
};

Status CloudletService::State::OpenStores() {
  // Held until the service is destroyed: a second process on this folder is refused.
  MEDMESH_ASSIGN_OR_RETURN(data_dir_lock, node::DataDirLock::Acquire(options.data_dir));
  const store::SqliteOpenOptions sqlite{.vfs = options.sqlite_vfs};
  store::QueueOptions queue_options = options.forward_queue;
  if (!options.sqlite_vfs.empty()) queue_options.sqlite_vfs = options.sqlite_vfs;
  MEDMESH_ASSIGN_OR_RETURN(keys, store::SqliteWrappedKeyStore::Open(path("keys.db"), sqlite));
  // The ledger's payload digests are keyed, with a key of their own derived from the KEK.
  MEDMESH_ASSIGN_OR_RETURN(
      crypto::HashKey ledger_key,
      crypto::HashKey::Derive(kek->bytes(), "MedMesh cloudlet ledger v1", "payload digest"));
  envelope = std::make_unique<crypto::EnvelopeAead>(std::move(*kek), *keys, random);
  kek.reset();
  MEDMESH_ASSIGN_OR_RETURN(
      readings, store::ReadingStore::Open(path("readings.db"), *envelope, clock, sqlite));
  MEDMESH_ASSIGN_OR_RETURN(queue, store::ForwardQueue::Open(path("forward.db"), clock, random,
                                                            queue_options, options.backpressure));
  // The lock above proves no other cloudlet runs on this folder: forwards leased by a
  // predecessor that crashed are due again now rather than when their leases run out.
  MEDMESH_ASSIGN_OR_RETURN(const std::uint64_t released, queue->ReleaseLeases());
  if (released > 0) log::Info("cloudlet_forward_leases_released", {{"items", released}});
  MEDMESH_ASSIGN_OR_RETURN(
      ids, store::IdsEventLog::Open(path("ids.db"), options.ids_aggregation, sqlite));
  MEDMESH_ASSIGN_OR_RETURN(
      decisions, ids::DecisionTable::Open(path("decisions.db"), identity.id(), clock, random,
                                          options.ids.decisions, sqlite));
  detection = std::make_unique<ids::DetectionEngine>(*decisions,
                                                     ids::DefaultDetectors(options.ids.detectors));
  ids->SetObserver(detection->EventObserver());
  enforcer = std::make_unique<ids::Enforcer>(*decisions, clock, options.ids.enforcer);
  account_gate = std::make_unique<ids::AccountGate>(*decisions, clock, options.ids.account_gate);
  account_guard = ids::GuardWithGate(account_refs_key.Clone(), *account_gate);
  payloads = ids::PayloadScoring::Load(options.ids.models_dir, *detection, clock, &metrics,
                                       options.ids.payloads);
  // Apart from the clinical data, unencrypted, the head signed with the node key (ADR 0014).
  MEDMESH_ASSIGN_OR_RETURN(auto audit_store,
                           audit::SqliteAuditStore::Open(path(audit::kAuditDbFileName), sqlite));
  MEDMESH_ASSIGN_OR_RETURN(
      audit, audit::AuditLog::Open(std::move(audit_store), identity.id(),
                                   crypto::NewEd25519Signer(identity.signing_key.Clone())));
  MEDMESH_ASSIGN_OR_RETURN(devices, DeviceRegistry::Open(path("cloudlet.db"), sqlite));
  MEDMESH_ASSIGN_OR_RETURN(trust_store,
                           TrustStore::Open(path("trust.db"), *envelope, clock, random, sqlite));
  MEDMESH_ASSIGN_OR_RETURN(ledger,
                           IngestLedger::Open(path("cloudlet.db"), std::move(ledger_key), sqlite));
  MEDMESH_ASSIGN_OR_RETURN(LedgerCounts counts, ledger->Counts());
  MEDMESH_ASSIGN_OR_RETURN(store::QueueStats queued, queue->Stats());
  counters.batches_stored = counts.reading_batches;
  counters.readings_stored = counts.readings;
  counters.records_stored = counts.records;
  counters.dead_letters = counts.dead_letters;
  // Everything accepted and no longer queued was forwarded (or dead-lettered).
  const std::uint64_t accepted = counts.reading_batches + counts.records;
  const std::uint64_t gone = queued.count > accepted ? 0 : accepted - queued.count;
  counters.forwarded = gone > counts.dead_letters ? gone - counts.dead_letters : 0;
  sessions =
      std::make_unique<crypto::SessionOpener>(identity.kem_key.Clone(), clock, options.sessions);
  pressure = std::make_unique<internal::PressureMonitor>(*queue, clock, cloudlet_metrics,
                                                         options.backpressure_refresh);
  (void)pressure->Refresh();
  return OkStatus();
}

bool CloudletService::State::Authorised(const net::Request& r, const SecretBytes& token,
                                        std::string_view what) const {
  if (node::BearerTokenMatches(r.Header("Authorization"), token)) {
    r.MarkPeerAuthenticated();
    return true;
  }
  pipeline->RecordRejection(
      IdsEventKind::kAuthFailure, r.peer_address, {},
      "missing or wrong " + std::string(what) + " token on " + std::string(r.route));
  return false;
}

Result<CloudletService::State::Caller> CloudletService::State::Identify(
    const net::Request& r, const SecretBytes& static_token, std::string_view what) {
  if (!static_token.empty() && node::BearerTokenMatches(r.Header("Authorization"), static_token)) {
    r.MarkPeerAuthenticated();
    return Caller{.static_token = true, .principal = {}};
  }
  // Without a cloud there is no identity provider: only the static token is accepted.
  auto principal =
      logins ? logins->Authenticate(r)
             : Result<accounts::Principal>(Unauthenticated("missing or wrong " + std::string(what) +
                                                           " token (no sessions without a cloud)"));
  if (!principal) {
    if (principal.error().code() != ErrorCode::kUnavailable) {
      pipeline->RecordRejection(
          IdsEventKind::kAuthFailure, r.peer_address, {},
          "missing or wrong " + std::string(what) + " token or session on " + std::string(r.route));
    }
    return principal.error();
  }
  r.MarkPeerAuthenticated();
  return Caller{.static_token = false, .principal = std::move(*principal)};
}

bool CloudletService::State::IsOwnOperator(const Caller& caller) const {
  return caller.static_token || (caller.principal->is(accounts::Role::kOperator) &&
                                 caller.principal->cloudlet_id == identity.id());
}

Result<net::Response> CloudletService::State::Enrol(const net::Request& r) {
  // The enrol token (a device enrolling itself) or the session of the patient or of an operator
  // of this cloudlet; in every case with a request signed by the device (docs/enrolment.md).
  auto identified = Identify(r, enrol_token, "enrol");
  if (!identified) return accounts::AuthenticationRefusal(identified.error());
  DeviceAction done;
  Result<net::Response> response = EnrolAs(r, *identified, done);
  return AuditDevice(r, *identified, "device.enrol", audit::Action::kCreate, done,
                     std::move(response));
}

Result<net::Response> CloudletService::State::EnrolAs(const net::Request& r, const Caller& caller,
                                                      DeviceAction& done) {
  static constexpr net::JsonField kEnrolFields[] = {{"request", net::JsonType::kString}};
  net::JsonBody body = net::ParseJsonBody(r, kEnrolFields);
  if (auto* refusal = std::get_if<net::Response>(&body)) {
    pipeline->RecordRejection(IdsEventKind::kMalformed, r.peer_address, {},
                              refusal->status == 415
                                  ? "enrolment request is not sent as application/json"
                                  : "enrolment request is not the expected JSON");
    return std::move(*refusal);
  }
  auto encoded = HexDecode(std::get<Json>(body).at("request").get<std::string>());
  if (!encoded) return InvalidArgument("request must be the hex of a signed enrolment request");
  return EnrolSigned(r, caller, *encoded, done);
}

Result<net::Response> CloudletService::State::EnrolSigned(const net::Request& r,
                                                          const Caller& caller, ByteView encoded,
                                                          DeviceAction& done) {
  auto request = wire::VerifyEnrolmentRequest(encoded);
  if (!request) {
    pipeline->RecordRejection(IdsEventKind::kForgedSignature, r.peer_address, {},
                              "enrolment request is malformed or its device signature is wrong");
    return InvalidArgument("the enrolment request is malformed or not signed by the device key");
  }
  done.device_id = request->device_id;
  if (request->cloudlet_id != identity.id()) {
    return InvalidArgument("the enrolment request names another cloudlet");
  }
  const std::int64_t now_ms = NowMs(clock);
  if (request->enrolled_at_ms > now_ms + kEnrolRequestMaxAge.count() ||
      request->enrolled_at_ms < now_ms - kEnrolRequestMaxAge.count()) {
    return InvalidArgument("the enrolment request is not recent (signed over 5 minutes away)");
  }
  if (!caller.static_token && !IsOwnOperator(caller)) {
    const accounts::Principal& who = *caller.principal;
    if (!who.is(accounts::Role::kPatient)) {
      return PermissionDenied("only the patient or an operator of this cloudlet enrols devices");
    }
    if (who.patient_id != request->patient_id) {
      pipeline->RecordRejection(IdsEventKind::kEnrolmentConflict, r.peer_address,
                                request->device_id,
                                "a patient asked to enrol a device to another patient");
      return PermissionDenied("a patient enrols devices to themselves only");
    }
  }
  const std::string device_id = request->device_id;
  const std::string patient_id = request->patient_id;
  const crypto::SigningPublicKey* key = &request->device_key;
  done.patient_id = patient_id;

  const wire::Enrolment enrolment{device_id, patient_id, *key, identity.id(), now_ms};
  if (auto existing = devices->Find(device_id)) {
    if (!existing->withdrawn && existing->enrolment.patient_id == patient_id &&
        existing->enrolment.device_key == *key) {
      cloudlet_metrics.enrolments.WithLabels({"already_enrolled"}).Increment();
      done.detail = "already_enrolled";
      return net::Response::Binary(existing->record);
    }
  }
  MEDMESH_ASSIGN_OR_RETURN(Bytes record, wire::IssueEnrolment(enrolment, *signer));
  auto outcome = devices->Enrol(enrolment, record);
  if (!outcome) {
    if (outcome.error().code() == ErrorCode::kAlreadyExists ||
        outcome.error().code() == ErrorCode::kFailedPrecondition) {
      cloudlet_metrics.enrolments.WithLabels({"conflict"}).Increment();
      return Error(outcome.error().code(),
                   "the device is already enrolled with another key or patient, or withdrawn");
    }
    return outcome.error();
  }
  if (*outcome == EnrolOutcome::kAlreadyEnrolled) {
    cloudlet_metrics.enrolments.WithLabels({"already_enrolled"}).Increment();
    done.detail = "already_enrolled";
    return net::Response::Binary(devices->Find(device_id)->record);
  }
  // The cloud needs the record to check this device's signatures on forwarded data.
  if (auto queued = queue->Enqueue(internal::EnrolmentItemId(device_id), record); !queued) {
    log::Warn("cloudlet_enrolment_push_not_queued", {{"error", queued.error().ToString()}});
  }
  if (forwarder) forwarder->Wake();
  cloudlet_metrics.enrolments.WithLabels({"enrolled"}).Increment();
  log::Info(
      "cloudlet_device_enrolled",
      {{"device", node::LogReference(log_key, "device", device_id)}, {"peer", r.peer_address}});
  return net::Response::Binary(record);
}

Result<net::Response> CloudletService::State::Ingest(const net::Request& r) const {
  IngestResult result = pipeline->Ingest(r.body, r.peer_address);
  if (const auto* rejection = std::get_if<IngestRejection>(&result)) {
    return net::RejectionResponse(*rejection);
  }
  const auto& ack = std::get<IngestAck>(result);
  // A stored upload carried a valid device signature: the device's address gets the
  // connection slots and body budget kept for authenticated peers (src/net/http_server.h).
  if (ack.status == IngestStatus::kStored) r.MarkPeerAuthenticated();
  Json body{{"batch_id", ack.batch_id},
            {"status", std::string(IngestStatusName(ack.status))},
            {"readings", ack.readings},
            {"refused", ack.refused}};
  return net::Response::Json(body.dump());
}

Result<net::Response> CloudletService::State::Readings(const net::Request& r) {
  if (!Authorised(r, operator_token, "operator")) return Unauthorized("operator");
  const std::string patient_id(r.PathParam("id").value_or(""));
  if (!wire::IsValidId(patient_id)) return InvalidArgument("bad patient id");
  const std::int64_t now_ms = NowMs(clock);
  MEDMESH_ASSIGN_OR_RETURN(std::int64_t from, ParseTime(r.QueryParam("from"), 0, "from"));
  MEDMESH_ASSIGN_OR_RETURN(
      std::int64_t to,
      ParseTime(r.QueryParam("to"),
                std::min(wire::kMaxTimeMs, now_ms + options.ingest.max_future_skew.count() + 1),
                "to"));
  if (to <= from) return InvalidArgument("'to' must be after 'from'");
  store::ReadingQuery query;
  query.from_ms = from;
  query.to_ms = to;
  query.limit = kDefaultReadingsPerPage;
  if (const auto limit = r.QueryParam("limit")) {
    std::size_t value = 0;
    const auto [end, ec] = std::from_chars(limit->data(), limit->data() + limit->size(), value);
    if (ec != std::errc() || end != limit->data() + limit->size() || value == 0 ||
        value > kMaxReadingsPerPage) {
      return InvalidArgument("query parameter 'limit' must be 1.." +
                             std::to_string(kMaxReadingsPerPage));
    }
    query.limit = value;
  }
  query.cursor = std::string(r.QueryParam("cursor").value_or(""));
  MEDMESH_ASSIGN_OR_RETURN(store::ReadingPage page, readings->Query(patient_id, query));
  Json list = Json::array();
  for (const wire::Reading& reading : page.readings) {
    const wire::VitalInfo& info = wire::Info(reading.kind);
    list.push_back({{"time_ms", reading.time_ms},
                    {"kind", std::string(info.name)},
                    {"value", static_cast<double>(reading.value_milli) / 1000.0},
                    {"unit", std::string(info.unit)}});
  }
  Json body{{"patient_id", patient_id}, {"readings", std::move(list)}, {"next_cursor", nullptr}};
  if (page.next_cursor) body["next_cursor"] = *page.next_cursor;
  return net::Response::Json(body.dump());
}

Result<net::Response> CloudletService::State::Withdraw(const net::Request& r) {
  auto identified = Identify(r, operator_token, "operator");
  if (!identified) return accounts::AuthenticationRefusal(identified.error());
  DeviceAction done;
  Result<net::Response> response = WithdrawAs(r, *identified, done);
  return AuditDevice(r, *identified, "device.withdraw", audit::Action::kUpdate, done,
                     std::move(response));
}

Result<net::Response> CloudletService::State::WithdrawAs(const net::Request& r,
                                                         const Caller& caller, DeviceAction& done) {
  const std::string device_id(r.PathParam("device_id").value_or(""));
  if (!wire::IsValidId(device_id)) return InvalidArgument("bad device id");
  done.device_id = device_id;
  MEDMESH_RETURN_IF_ERROR(MayActOnDevices(caller));
  const auto entry = devices->Find(device_id);
  // Another patient's device is answered exactly like an unknown one.
  if (!entry ||
      (!IsOwnOperator(caller) && entry->enrolment.patient_id != caller.principal->patient_id)) {
    return NotFound("the device is not enrolled here");
  }
  done.patient_id = entry->enrolment.patient_id;
  if (entry->withdrawn) done.detail = "unchanged";
  if (!entry->withdrawn) MEDMESH_RETURN_IF_ERROR(devices->Withdraw(device_id));
  // The registry is the one ingest reads, so the next upload of the device is refused.
  cloudlet_metrics.enrolments.WithLabels({entry->withdrawn ? "unchanged" : "withdrawn"})
      .Increment();
  if (!entry->withdrawn) {
    log::Info(
        "cloudlet_device_withdrawn",
        {{"device", node::LogReference(log_key, "device", device_id)},
         {"by", caller.static_token ? "operator_token"
                                    : std::string(accounts::RoleName(caller.principal->role))}});
  }
  Json body{{"device_id", device_id}, {"status", entry->withdrawn ? "unchanged" : "withdrawn"}};
  return net::Response::Json(body.dump());
}

Result<net::Response> CloudletService::State::AuditDevice(
    const net::Request& r, const Caller& caller, std::string_view event, audit::Action action,
    const DeviceAction& done, Result<net::Response> response) {
  audit::AuditEntry e;
  e.time_ms = NowMs(clock);
  e.event = std::string(event);
  e.action = action;
  if (caller.static_token) {
    // A static token names no account, only what it stands for: the enrol token a device
    // enrolling itself, the operator token this cloudlet's operator.
    e.actor_role = action == audit::Action::kCreate ? "device" : "operator";
  } else {
    e.actor_account_id = caller.principal->account_id;
    e.actor_role = std::string(accounts::RoleName(caller.principal->role));
  }
  e.source_address = r.peer_address;
  e.patient_id = done.patient_id;
  e.entity_type = "Device";
  e.entity_id = done.device_id;
  const int status = response ? response->status : net::HttpStatusFor(response.error().code());
  if (status >= 500) {
    e.outcome = audit::Outcome::kSeriousFailure;
  } else if (status >= 400) {
    e.outcome = audit::Outcome::kMinorFailure;
  }
  if (!response) {
    e.detail = std::string(ErrorCodeName(response.error().code()));
  } else if (status >= 400) {
    const Json body = Json::parse(response->body, nullptr, false);
    e.detail = body.is_object() && body.contains("error") && body["error"].is_string()
                   ? body["error"].get<std::string>()
                   : "refused";
  } else {
    e.detail = done.detail;
  }
  if (caller.static_token) e.detail += e.detail.empty() ? "static token" : ", static token";
  MEDMESH_RETURN_IF_ERROR(audit->Append(e));
  return response;
}

void CloudletService::State::AuditIdsChange(const net::Request& r, std::string_view what,
                                            const ids::Scope& scope) {
  audit::AuditEntry e;
  e.time_ms = NowMs(clock);
  e.event = "ids." + std::string(what);
  e.action = audit::Action::kUpdate;
  auto caller = Identify(r, operator_token, "operator");
  if (caller && !caller->static_token) {
    e.actor_account_id = caller->principal->account_id;
    e.actor_role = std::string(accounts::RoleName(caller->principal->role));
  } else {
    e.actor_role = "operator";
    e.detail = "static token";
  }
  e.source_address = r.peer_address;
  e.entity_type = "IdsScope";
  e.entity_id = std::string(ids::ScopeKindName(scope.kind));
  if (Status appended = audit->Append(e); !appended) {
    log::Error("cloudlet_audit_failed",
               {{"event", e.event}, {"error", appended.error().ToString()}});
  }
}

Status CloudletService::State::MayActOnDevices(const Caller& caller) const {
  if (IsOwnOperator(caller) || caller.principal->is(accounts::Role::kPatient)) return OkStatus();
  return PermissionDenied("only the patient or an operator of this cloudlet manages devices");
}

Result<net::Response> CloudletService::State::ListDevices(const net::Request& r) {
  auto identified = Identify(r, operator_token, "operator");
  if (!identified) return accounts::AuthenticationRefusal(identified.error());
  const Caller& caller = *identified;
  MEDMESH_RETURN_IF_ERROR(MayActOnDevices(caller));
  std::string patient_id;
  if (IsOwnOperator(caller)) {
    patient_id = std::string(r.QueryParam("patient_id").value_or(""));
    if (!patient_id.empty() && !wire::IsValidId(patient_id)) {
      return InvalidArgument("bad patient id");
    }
  } else {
    if (r.QueryParam("patient_id")) {
      return InvalidArgument("patients list their own devices: no patient_id parameter");
    }
    patient_id = caller.principal->patient_id;
  }
  MEDMESH_ASSIGN_OR_RETURN(const auto last_uploads, ledger->LastUploads());
  Json list = Json::array();
  for (const DeviceEntry& entry : devices->List(patient_id)) {
    const auto last = last_uploads.find(entry.enrolment.device_id);
    list.push_back(
        {{"device_id", entry.enrolment.device_id},
         {"patient_id", entry.enrolment.patient_id},
         {"device_public_key", HexEncode(entry.enrolment.device_key.bytes())},
         {"enrolled_at_ms", entry.enrolment.enrolled_at_ms},
         {"last_contact_ms", last == last_uploads.end() ? Json(nullptr) : Json(last->second)},
         {"status", entry.withdrawn ? "withdrawn" : "enrolled"}});
  }
  Json body = Json::object();
  body["devices"] = std::move(list);
  return net::Response::Json(body.dump());
}

// GET /api/v1/patients/{id}/stored: what this cloudlet keeps of a patient, as stored - reading
// batches and records, each with its size and the first bytes of its ciphertext, nothing
// decrypted. Own operators only; every call is audited (a read of the patient's stored data).
Result<net::Response> CloudletService::State::Stored(const net::Request& r) {
  auto identified = Identify(r, operator_token, "operator");
  if (!identified) return accounts::AuthenticationRefusal(identified.error());
  const Caller& caller = *identified;
  const std::string patient_id(r.PathParam("id").value_or(""));
  Result<net::Response> response = [&]() -> Result<net::Response> {
    if (!IsOwnOperator(caller)) {
      return PermissionDenied("only an operator of this cloudlet reads its stored data");
    }
    if (!wire::IsValidId(patient_id)) return InvalidArgument("bad patient id");
    std::size_t limit = kDefaultStoredRows;
    if (const auto text = r.QueryParam("limit")) {
      const auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), limit);
      if (ec != std::errc() || end != text->data() + text->size() || limit == 0 ||
          limit > kMaxStoredRows) {
        return InvalidArgument("query parameter 'limit' must be 1.." +
                               std::to_string(kMaxStoredRows));
      }
    }
    const auto excerpt = [](const Bytes& ciphertext) {
      return HexEncode(
          ByteView(ciphertext.data(), std::min(ciphertext.size(), kStoredExcerptBytes)));
    };
    MEDMESH_ASSIGN_OR_RETURN(auto batches, readings->ListEncrypted(patient_id, limit));
    Json batch_list = Json::array();
    for (const store::EncryptedBatchRow& row : batches) {
      batch_list.push_back({{"device_id", row.device_id},
                            {"batch_id", row.batch_id},
                            {"from_ms", row.from_ms},
                            {"to_ms", row.to_ms},
                            {"readings", row.count},
                            {"stored_ms", row.stored_ms},
                            {"ciphertext_bytes", row.ciphertext.size()},
                            {"ciphertext_head", excerpt(row.ciphertext)}});
    }
    MEDMESH_ASSIGN_OR_RETURN(auto records, ledger->ListRecords(patient_id, limit));
    Json record_list = Json::array();
    for (const StoredRecordRow& row : records) {
      record_list.push_back({{"device_id", row.device_id},
                             {"record_id", row.record_id},
                             {"batch_id", row.batch_id},
                             {"created_ms", row.created_ms},
                             {"ciphertext_bytes", row.ciphertext.size()},
                             {"ciphertext_head", excerpt(row.ciphertext)}});
    }
    Json body{{"patient_id", patient_id},
              {"reading_batches", std::move(batch_list)},
              {"records", std::move(record_list)},
              {"excerpt_bytes", kStoredExcerptBytes}};
    return net::Response::Json(body.dump());
  }();
  audit::AuditEntry e;
  e.time_ms = NowMs(clock);
  e.event = "stored.read";
  e.action = audit::Action::kRead;
  if (caller.static_token) {
    e.actor_role = "operator";
    e.detail = "static token";
  } else {
    e.actor_account_id = caller.principal->account_id;
    e.actor_role = std::string(accounts::RoleName(caller.principal->role));
  }
  e.source_address = r.peer_address;
  // A refused caller's entry names nobody: only a permitted read names the patient.
  const int status = response ? response->status : net::HttpStatusFor(response.error().code());
  if (status < 400) e.patient_id = patient_id;
  e.entity_type = "Patient";
  if (!response)
    e.detail += std::string(e.detail.empty() ? "" : ", ") +
                std::string(ErrorCodeName(response.error().code()));
  if (status >= 500) {
    e.outcome = audit::Outcome::kSeriousFailure;
  } else if (status >= 400) {
    e.outcome = audit::Outcome::kMinorFailure;
  }
  MEDMESH_RETURN_IF_ERROR(audit->Append(e));
  return response;
}

Result<net::Response> CloudletService::State::Events(const net::Request& r) {
  // The operator token, or the session of an operator of this cloudlet (the operator's pages).
  auto identified = Identify(r, operator_token, "operator");
  if (!identified) return accounts::AuthenticationRefusal(identified.error());
  if (!IsOwnOperator(*identified)) {
    return PermissionDenied("only an operator of this cloudlet reads its security events");
  }
  MEDMESH_ASSIGN_OR_RETURN(std::int64_t since, ParseTime(r.QueryParam("since"), 0, "since"));
  store::IdsEventFilter filter;
  filter.from_ms = since;
  filter.limit = kMaxEventsPerResponse;
  MEDMESH_ASSIGN_OR_RETURN(std::vector<store::IdsEvent> events, ids->Query(filter));
  Json list = Json::array();
  for (const store::IdsEvent& e : events) {
    list.push_back({{"id", e.id},
                    {"time_ms", e.time_ms},
                    {"node", e.node},
                    {"source_ip", e.source_ip},
                    {"device_id", e.device_id},
                    {"kind", std::string(store::IdsEventKindName(e.kind))},
                    {"detail", e.detail},
                    {"count", e.count},
                    {"last_time_ms", e.last_time_ms}});
  }
  // Invalid UTF-8 in a stored detail must not turn the listing into a 500.
  return net::Response::Json(list.dump(-1, ' ', false, Json::error_handler_t::replace));
}

Result<ConsoleCaller> CloudletService::State::ConsoleCallerOf(const net::Request& r) {
  MEDMESH_ASSIGN_OR_RETURN(const Caller caller, Identify(r, operator_token, "operator"));
  ConsoleCaller who;
  who.own_operator = IsOwnOperator(caller);
  if (caller.static_token) {
    who.role = "operator";
  } else {
    who.account_id = caller.principal->account_id;
    who.role = std::string(accounts::RoleName(caller.principal->role));
    if (caller.principal->is(accounts::Role::kPatient)) {
      who.patient_id = caller.principal->patient_id;
    }
  }
  return who;
}

// The medical part of a patient's records kept here (never the identifiers), for a granted
// "full_records" request. A record that fails to open is left out, and reported to intrusion
// detection as a `tampering` event on its device (docs/ids.md): records at rest are
// authenticated, so a failure means the row was altered or moved.
Result<std::vector<SharedRecord>> CloudletService::State::SharedRecords(
    std::string_view patient_id) const {
  constexpr std::size_t kRecordsShared = 50;
  MEDMESH_ASSIGN_OR_RETURN(std::vector<StoredRecordRow> rows,
                           ledger->ListRecords(patient_id, kRecordsShared));
  std::vector<SharedRecord> out;
  for (const StoredRecordRow& row : rows) {
    auto joined =
        envelope->Decrypt({row.patient_id, std::string(internal::kRecordsKeyPart)}, row.ciphertext,
                          internal::RecordAd(row.device_id, row.record_id));
    if (!joined) {
      store::IdsEvent tampering;
      tampering.time_ms = wire::NowMs(clock);
      tampering.node = identity.id();
      tampering.device_id = row.device_id;
      tampering.kind = store::IdsEventKind::kTampering;
      tampering.detail = "a stored record failed to open";
      if (auto recorded = ids->Record(tampering); !recorded) {
        log::Error("cloudlet_ids_event_not_recorded", {{"error", recorded.error().ToString()}});
      }
      continue;
    }
    auto parts = wire::DecodeEvidenceAndPayload(*joined);
    if (!parts) continue;
    auto record = wire::DecodePatientRecord(parts->payload);
    if (!record) continue;
    out.push_back({row.record_id, record->created_ms, record->symptoms,
                   record->pulse_bpm > 0 ? std::optional<int>(record->pulse_bpm) : std::nullopt,
                   record->ecg_summary});
  }
  return out;
}

Status CloudletService::State::OpenTrust() {
  TrustContext context{
      .cloudlet_id = identity.id(),
      .store = *trust_store,
      .audit = *audit,
      .clock = clock,
      .identify = [this](const net::Request& r) { return ConsoleCallerOf(r); },
      .known_patient =
          [this](std::string_view patient_id) {
            for (const DeviceEntry& entry : devices->List(patient_id)) {
              if (!entry.withdrawn) return true;
            }
            return false;
          },
      .readings = [this](std::string_view patient_id,
                         std::int64_t from_ms) -> Result<std::vector<wire::Reading>> {
        store::ReadingQuery query;
        query.from_ms = from_ms;
        query.to_ms = wire::kMaxTimeMs;
        query.limit = 5000;
        MEDMESH_ASSIGN_OR_RETURN(store::ReadingPage page, readings->Query(patient_id, query));
        return std::move(page.readings);
      },
      .records = [this](std::string_view patient_id) { return SharedRecords(patient_id); },
      .cloud_link =
          [this] {
            return std::string(forwarder ? CloudLinkStateName(forwarder->Link().state) : "unknown");
          },
      .relay_state = [this] { return forwarder ? forwarder->Relaying() : RelayState{}; },
      .record_ids =
          [this](IdsEventKind kind, const net::Request& r, std::string detail) {
            pipeline->RecordRejection(kind, r.peer_address, {}, std::move(detail));
          },
      .share = share.get(),
      .share_peers =
          [this] {
            std::vector<SharePeer> out;
            for (const RelayPeer& p : RelayPeers()) out.push_back({p.id, p.url});
            return out;
          },
      .root = &identity.root.key};
  trust = std::make_unique<TrustService>(std::move(context));
  return OkStatus();
}

Status CloudletService::State::OpenConsole() {
  ConsoleContext context{
      .cloudlet_id = identity.id(),
      .cloudlet_kem_key = *identity.certificate.certificate().kem_key,
      .devices = *devices,
      .ledger = *ledger,
      .queue = *queue,
      .envelope = *envelope,
      .ingest = *pipeline,
      .audit = *audit,
      .clock = clock,
      .random = random,
      .identify = [this](const net::Request& r) { return ConsoleCallerOf(r); },
      .enrol = [this](const net::Request& r, ByteView signed_request) -> Result<Bytes> {
        // The enrolment path of POST /api/v1/enrol, with its checks and its audit entry.
        MEDMESH_ASSIGN_OR_RETURN(const Caller caller, Identify(r, operator_token, "operator"));
        DeviceAction done;
        MEDMESH_ASSIGN_OR_RETURN(net::Response response,
                                 AuditDevice(r, caller, "device.enrol", audit::Action::kCreate,
                                             done, EnrolSigned(r, caller, signed_request, done)));
        if (response.status != 200) return net::ErrorFromResponse(response);
        const ByteView record = response.body_bytes();
        return Bytes(record.begin(), record.end());
      }};
  MEDMESH_ASSIGN_OR_RETURN(
      console, DeviceConsole::Open(path("console.db"), std::move(context), options.console,
                                   {.vfs = options.sqlite_vfs}));
  return OkStatus();
}

CloudletStats CloudletService::State::Stats() const {
  CloudletStats stats;
  stats.node = identity.id();
  // The queue first, then the counters: the forwarder counts an item before it leaves the
  // queue, so a snapshot that shows the queue without an item also shows it forwarded.
  stats.forward_queue_depth = pressure->Current().stats.count;
  stats.batches_stored = counters.batches_stored.load();
  stats.readings_stored = counters.readings_stored.load();
  stats.records_stored = counters.records_stored.load();
  stats.duplicates = counters.duplicates.load();
  stats.rejected = counters.rejected.load();
  stats.forwarded = counters.forwarded.load();
  stats.ids_events = ids->Total();
  if (forwarder) stats.cloud_link = forwarder->Link();
  return stats;
}

net::Router CloudletService::State::BuildRouter() {
  net::Router router;
  router.Get("/api/v1/certificate", [this](const net::Request&) -> Result<net::Response> {
    return net::Response::Binary(identity.certificate.encoded());
  });
  router.Post("/api/v1/enrol", [this](const net::Request& r) { return Enrol(r); },
              {.body_limit_bytes = kEnrolBodyLimit});
  router.Post("/api/v1/ingest", [this](const net::Request& r) { return Ingest(r); },
              {.body_limit_bytes = options.ingest.max_upload_bytes});
  // Counters kept in memory (Stats()): no store lock and no scan per request, since anyone may
  // ask. Anonymous callers get the flow counts; the operator token or the session of an
  // operator of this cloudlet (Bearer, or the cookie) adds what tells a prober how much of its
  // probing was seen (rejections, IDS events). No ids in either. A credential that is offered
  // must be good (401), and a session of anyone else is 403.
  router.Get("/api/v1/stats", [this](const net::Request& r) -> Result<net::Response> {
    const bool as_operator = accounts::OffersCredential(r);
    if (as_operator) {
      auto identified = Identify(r, operator_token, "operator");
      if (!identified) return accounts::AuthenticationRefusal(identified.error());
      if (!IsOwnOperator(*identified)) {
        return PermissionDenied("only an operator of this cloudlet sees the full counts");
      }
    }
    const CloudletStats s = Stats();
    Json body{{"node", s.node},
              {"batches_stored", s.batches_stored},
              {"readings_stored", s.readings_stored},
              {"records_stored", s.records_stored},
              {"duplicates", s.duplicates},
              {"forward_queue_depth", s.forward_queue_depth},
              {"forwarded", s.forwarded}};
    if (as_operator) {
      body["rejected"] = s.rejected;
      body["ids_events"] = s.ids_events;
      const auto ms_or_null = [](std::int64_t ms) { return ms > 0 ? Json(ms) : Json(nullptr); };
      body["cloud_link"] = {{"state", std::string(CloudLinkStateName(s.cloud_link.state))},
                            {"since_ms", ms_or_null(s.cloud_link.since_ms)},
                            {"last_forward_ms", ms_or_null(s.cloud_link.last_forward_ms)}};
    }
    return net::Response::Json(body.dump());
  });
  // Log in (relayed to the cloud), who am I, log out (cloudlet_sessions.h).
  AddSessionRoutes(
      router, logins.get(), options.tls.has_value(),
      [this](IdsEventKind kind, const net::Request& r, std::string detail, std::string ref) {
        pipeline->RecordRejection(kind, r.peer_address, {}, detail, ref);
      });
  router.Get("/api/v1/patients/{id}/readings",
             [this](const net::Request& r) { return Readings(r); });
  router.Get("/api/v1/ids/events", [this](const net::Request& r) { return Events(r); });
  // Alerts, decisions, revocation and allowlist (ids/ids_api.h): this cloudlet's operators.
  const auto ids_authorize = [this](const net::Request& r) -> std::optional<net::Response> {
    auto identified = Identify(r, operator_token, "operator");
    if (!identified) return accounts::AuthenticationRefusal(identified.error());
    if (!IsOwnOperator(*identified)) {
      return net::ErrorResponse(
          PermissionDenied("only an operator of this cloudlet manages its IDS"));
    }
    return std::nullopt;
  };
  // The IDS mesh (ids/mesh_node.h): node-signed reports in; peers and received reports for
  // the same operators as the IDS routes.
  ids::AddMeshRoutes(router, *mesh, ids_authorize);
  ids::AddIdsRoutes(router, {*decisions, *detection, *enforcer, clock, ids_authorize,
                             [this](const net::Request& r, std::string_view what,
                                    const ids::Scope& scope) { AuditIdsChange(r, what, scope); },
                             payloads.get(), ids::KernelDropOf(started_server)});
  router.Get("/api/v1/devices", [this](const net::Request& r) { return ListDevices(r); });
  router.Get("/api/v1/patients/{id}/stored", [this](const net::Request& r) { return Stored(r); });
  router.Post("/api/v1/devices/{device_id}/withdrawal",
              [this](const net::Request& r) { return Withdraw(r); }, {.body_limit_bytes = 0});
  AddRecordCopyRoute(
      router,
      {identity, {identity.id(), *ledger, *devices, *envelope, *signer, random}, clock, *pipeline});
  net::AddHealthEndpoints(router, [this] { return ready.load(); });
  net::AddMetricsEndpoint(router, metrics);
  // The web UI (docs/ui.md): its page and assets, and GET /api/v1/node with the cloud this
  // cloudlet forwards to (by URL: its id is known only after a forward round).
  auto node_info = [this] {
    web::NodeInfo info{
        .kind = web::NodeKind::kCloudlet, .id = identity.id(), .roles = web::CloudletRoles()};
    if (!options.forwarder.cloud_url.empty()) info.cloud = {"", options.forwarder.cloud_url};
    return info;
  };
  web::AddWebUi(router, node_info, {.https = options.tls.has_value()});
  console->AddRoutes(router);
  trust->AddRoutes(router);
  AddShareRoutes(
      router,
      {.identity = {identity.id(), identity.root.key,
                    Bytes(identity.certificate.encoded().begin(),
                          identity.certificate.encoded().end()),
                    *signer},
       .is_peer =
           [this](std::string_view origin) {
             const auto peers = RelayPeers();
             return std::any_of(peers.begin(), peers.end(),
                                [&](const RelayPeer& p) { return p.id == origin; });
           },
       .handler = [this](
                      std::string_view origin, std::string_view kind, const std::string& body,
                      const net::Request& r) { return trust->AnswerPeer(origin, kind, body, r); },
       .clock = clock,
       .random = random,
       .record_ids =
           [this](IdsEventKind kind, const net::Request& r, std::string detail) {
             pipeline->RecordRejection(kind, r.peer_address, {}, std::move(detail));
           }});
  AddRelayRoutes(router, {identity.root.key, options.forwarder.cloud_url,
                          [this](std::string_view origin) {
                            const auto peers = RelayPeers();
                            return std::any_of(peers.begin(), peers.end(),
                                               [&](const RelayPeer& p) { return p.id == origin; });
                          },
                          *relay_client, clock, metrics,
                          [this](IdsEventKind kind, const net::Request& r, std::string detail) {
                            pipeline->RecordRejection(kind, r.peer_address, {}, std::move(detail));
                          }});
  // Demo only: red-team runs for this cloudlet's operators (404 to everyone elsewhere).
  attack::AddAttackRoutes(
      router, attack_runs.get(), [this](const net::Request& r) -> std::optional<net::Response> {
        auto identified = Identify(r, operator_token, "operator");
        if (!identified) {
          return accounts::AuthenticationRefusal(identified.error());
        }
        if (!IsOwnOperator(*identified)) {
          return net::ErrorResponse(
              PermissionDenied("only an operator of this cloudlet launches attacks"));
        }
        return std::nullopt;
      });
  return router;
}

std::vector<RelayPeer> CloudletService::State::RelayPeers() const {
  std::vector<RelayPeer> out;
  for (const ids::MeshPeerAddress& p : options.ids.mesh.peers) {
    if (!p.is_cloud && p.id != "cloud") out.push_back({p.id, p.url});
  }
  return out;
}

CloudletService::CloudletService(std::unique_ptr<State> state) : state_(std::move(state)) {}

CloudletService::~CloudletService() { Stop(state_->options.stop_grace); }

Result<std::unique_ptr<CloudletService>> CloudletService::Start(CloudletOptions options,
                                                                CloudletSecrets secrets,
                                                                const Clock& clock,
                                                                Random& random) {
  // The identity was checked when it was loaded; it must still be a valid cloudlet's now.
  const node::NodeIdentity& id = secrets.identity;
  if (auto still =
          wire::VerifyCertificate(id.certificate.encoded(), id.root.key,
                                  wire::CertificateRole::kCloudlet, wire::ToUnixMs(clock.Now()));
      !still) {
    return FailedPrecondition("this node's certificate is not a valid cloudlet certificate now: " +
                              still.error().message());
  }
  auto state = std::make_unique<State>(std::move(options), std::move(secrets), clock, random);
  State* s = state.get();
  MEDMESH_RETURN_IF_ERROR(s->OpenStores());

  IngestContext ingest{s->identity.id(),
                       *s->devices,
                       *s->ledger,
                       *s->readings,
                       *s->queue,
                       *s->ids,
                       *s->envelope,
                       *s->sessions,
                       clock,
                       s->cloudlet_metrics,
                       s->counters,
                       *s->pressure,
                       [s] {
                         if (s->forwarder) s->forwarder->Wake();
                       }};
  ingest.device_blocked = [s](std::string_view device_id) {
    auto decision = s->decisions->MatchScope({ids::ScopeKind::kDevice, std::string(device_id)});
    return decision && decision->action == ids::Action::kBlock;
  };
  s->pipeline = std::make_unique<IngestPipeline>(std::move(ingest), s->options.ingest);

  ForwarderContext forward{s->identity.id(), s->identity.root,    s->identity.certificate.encoded(),
                           *s->signer,       *s->queue,           *s->devices,
                           *s->ledger,       *s->envelope,        clock,
                           random,           s->cloudlet_metrics, s->counters,
                           *s->pressure};
  MEDMESH_ASSIGN_OR_RETURN(s->forwarder,
                           Forwarder::Create(std::move(forward), s->options.forwarder));
  if (!s->options.forwarder.cloud_url.empty()) {
    net::ClientOptions client_options;
    client_options.ca_file = s->options.forwarder.ca_file;
    client_options.connect_timeout = s->options.forwarder.connect_timeout;
    client_options.request_timeout = s->options.forwarder.request_timeout;
    client_options.user_agent = "medmesh-cloudlet";
    MEDMESH_ASSIGN_OR_RETURN(s->sessions_client,
                             net::HttpClient::Create(std::move(client_options)));
    s->logins = std::make_unique<CloudletSessions>(*s->forwarder, *s->sessions_client,
                                                   s->options.forwarder.cloud_url, clock,
                                                   s->options.accounts, s->identity, *s->signer);
    s->logins->SetAccountGuard(s->account_guard.get());
  }

  {
    store::QueueOptions forget_options = DefaultForgetOptions();
    forget_options.sqlite_vfs = s->options.sqlite_vfs;
    MEDMESH_ASSIGN_OR_RETURN(
        s->forget, ShareForgetter::Open(s->path("share_outbox.db"), *s->trust_store, clock, random,
                                        forget_options));
  }
  s->deletion_follower = std::make_unique<DeletionFollower>(
      DeletionFollowerContext{s->identity.id(), *s->ledger, *s->readings, *s->envelope, *s->devices,
                              s->trust_store.get(), s->forget.get()});
  if (!s->options.forwarder.cloud_url.empty()) {
    MEDMESH_ASSIGN_OR_RETURN(
        s->deletion_poller,
        DeletionFeedPoller::Create(
            {s->identity, *s->signer, s->options.forwarder.cloud_url, *s->deletion_follower, clock},
            {.ca_file = s->options.forwarder.ca_file,
             .connect_timeout = s->options.forwarder.connect_timeout,
             .request_timeout = s->options.forwarder.request_timeout}));
  }

  MEDMESH_RETURN_IF_ERROR(s->OpenConsole());
  {
    // Sharing with partner cloudlets (share_federation.h): node-signed questions and answers.
    net::ClientOptions share_options;
    share_options.ca_file = s->options.forwarder.ca_file;
    share_options.connect_timeout = s->options.forwarder.connect_timeout;
    share_options.request_timeout = s->options.forwarder.request_timeout;
    share_options.user_agent = "medmesh-cloudlet";
    MEDMESH_ASSIGN_OR_RETURN(s->share_client, net::HttpClient::Create(std::move(share_options)));
    s->share =
        std::make_unique<ShareClient>(ShareIdentity{s->identity.id(), s->identity.root.key,
                                                    Bytes(s->identity.certificate.encoded().begin(),
                                                          s->identity.certificate.encoded().end()),
                                                    *s->signer},
                                      *s->share_client, clock, random);
  }
  MEDMESH_RETURN_IF_ERROR(s->OpenTrust());
  if (!s->options.demo_attacks_deployment.empty()) {
    s->attack_runs = std::make_unique<attack::AttackRuns>(
        [s] {
          attack::AttackTarget target;
          target.cloud_url = s->options.forwarder.cloud_url;
          target.cloudlet_url = "http://127.0.0.1:" + std::to_string(s->server->port());
          if (Status loaded = attack::LoadDeployment(s->options.demo_attacks_deployment, target);
              !loaded) {
            log::Warn("cloudlet_attack_deployment_unreadable",
                      {{"error", loaded.error().ToString()}});
          }
          return target;
        },
        random, clock);
  }
  {
    // The IDS mesh: the configured peers, and the cloud (always a member) unless listed.
    ids::MeshOptions mesh_options = s->options.ids.mesh;
    const std::string& cloud_url = s->options.forwarder.cloud_url;
    if (!cloud_url.empty() &&
        std::none_of(mesh_options.peers.begin(), mesh_options.peers.end(),
                     [](const ids::MeshPeerAddress& p) { return p.is_cloud || p.id == "cloud"; })) {
      mesh_options.peers.push_back({"cloud", cloud_url, true});
    }
    if (mesh_options.ca_file.empty()) mesh_options.ca_file = s->options.forwarder.ca_file;
    MEDMESH_ASSIGN_OR_RETURN(
        s->mesh, ids::MeshNode::Open({s->identity.id(), s->identity.root.key,
                                      Bytes(s->identity.certificate.encoded().begin(),
                                            s->identity.certificate.encoded().end()),
                                      *s->signer, *s->decisions, *s->detection, *s->ids, clock,
                                      random, s->options.data_dir},
                                     std::move(mesh_options)));
    // A peer cloudlet's report that the fusion confirmed or refuted is evidence of that peer
    // for the cloudlet's own peer trust too (relays and partners are chosen by it). The
    // cloud's reports are left out: it is no peer cloudlet.
    s->mesh->SetSettledListener([s](const ids::SettledReport& report) {
      const std::vector<RelayPeer> peers = s->RelayPeers();
      if (std::none_of(peers.begin(), peers.end(),
                       [&](const RelayPeer& p) { return p.id == report.origin; })) {
        return;
      }
      if (Status st = s->trust->RecordPeerEvent(
              {report.origin, "report", report.confirmed, report.time_ms});
          !st) {
        log::Warn("cloudlet_report_event_not_kept", {{"error", st.error().ToString()}});
      }
    });
  }

  {
    // Relaying (relay.h): our peers' requests to our cloud, and ours through a peer while our
    // own link is down.
    net::ClientOptions relay_options;
    relay_options.ca_file = s->options.forwarder.ca_file;
    relay_options.connect_timeout = s->options.forwarder.connect_timeout;
    relay_options.request_timeout = s->options.forwarder.request_timeout;
    relay_options.user_agent = "medmesh-cloudlet";
    MEDMESH_ASSIGN_OR_RETURN(s->relay_client, net::HttpClient::Create(std::move(relay_options)));
    s->forwarder->SetRelay(
        {.candidates =
             [s] {
               std::vector<RankedPeer> ranked;
               auto peers = s->trust->Peers();
               if (!peers) {
                 log::Warn("cloudlet_relay_trust_unreadable",
                           {{"error", peers.error().ToString()}});
                 return std::vector<RelayPeer>();
               }
               for (const PeerTrust& p : *peers) {
                 ranked.push_back({p.peer_id, p.trust, p.partner});
               }
               return RelayCandidates(s->RelayPeers(), ranked);
             },
         .record =
             [s](const std::string& peer, bool good) {
               if (Status st = s->trust->RecordPeerEvent(
                       {peer, "forward", good, wire::ToUnixMs(s->clock.Now())});
                   !st) {
                 log::Warn("cloudlet_relay_event_not_kept", {{"error", st.error().ToString()}});
               }
             },
         .bad_receipt =
             [s](const std::string& peer) {
               // The node's own finding, not a request's: no source address (which would be
               // the peer's, and could get it blocked for what it relays for others).
               store::IdsEvent lie;
               lie.time_ms = wire::NowMs(s->clock);
               lie.node = s->identity.id();
               lie.kind = store::IdsEventKind::kForgedSignature;
               lie.detail = "relay: peer " + peer + " acknowledged without a valid cloud receipt";
               if (auto recorded = s->ids->Record(lie); !recorded) {
                 log::Error("cloudlet_ids_event_not_recorded",
                            {{"error", recorded.error().ToString()}});
               }
             }});
  }

  net::ServerOptions server_options;
  server_options.name = "cloudlet";
  server_options.address = s->options.listen_address;
  server_options.port = s->options.port;
  server_options.io_threads = s->options.io_threads;
  server_options.tls = s->options.tls;
  server_options.access_log = s->options.access_log;
  server_options.metrics = &s->metrics;
  // The detectors see every response; a body refused for its size (declared or chunked, 413)
  // and a slow client are recorded in ids.db on the way (ids/detection_engine.h).
  server_options.observer = ids::ServerObserverFor(*s->detection, *s->ids, s->identity.id(), clock);
  // Blocked sources are refused at accept, before a session (ids/enforcer.h).
  server_options.connection_filter = s->enforcer->AsConnectionFilter();
  // IDS decisions are enforced first, before routing and before any body is read.
  MEDMESH_ASSIGN_OR_RETURN(
      s->server,
      net::HttpServer::Start(std::move(server_options), s->payloads->ScoreBodies(s->BuildRouter()),
                             {s->enforcer->AsFilter(), s->payloads->HeadFilter()}));
  s->started_server.store(s->server.get(), std::memory_order_release);
  s->forwarder->Start();
  s->mesh->Start();
  s->maintenance = std::make_unique<CloudletMaintenance>(
      MaintenanceContext{s->identity.id(), *s->ledger, *s->readings, *s->queue, *s->ids, clock},
      s->options.retention);
  s->maintenance_thread = std::make_unique<node::MaintenanceThread>(
      "cloudlet_maintenance",
      std::chrono::duration_cast<std::chrono::milliseconds>(
          s->options.retention.maintenance_interval),
      [s] {
        std::lock_guard lock(s->maintenance_mu);
        if (auto pass = s->maintenance->RunOnce(); !pass) {
          log::Warn("cloudlet_maintenance_failed", {{"error", pass.error().ToString()}});
        }
        if (Status swept = s->decisions->Sweep(); !swept) {
          log::Warn("cloudlet_ids_sweep_failed", {{"error", swept.error().ToString()}});
        }
        if (s->deletion_poller) {
          if (auto polled = s->deletion_poller->PollOnce(); !polled) {
            log::Warn("cloudlet_deletion_poll_failed", {{"error", polled.error().ToString()}});
          }
        }
        // After the poll, so a patient deleted now is forgotten at the partners in this pass.
        if (Status sent = s->DeliverForgets(); !sent) {
          log::Warn("cloudlet_share_forget_failed", {{"error", sent.error().ToString()}});
        }
      });
  if (s->logins && s->options.accounts.poll_interval.count() > 0) {
    s->sessions_thread = std::make_unique<node::MaintenanceThread>(
        "cloudlet_sessions", s->options.accounts.poll_interval, [s] {
          if (auto polled = s->logins->Poll(); !polled) {
            log::Warn("cloudlet_revocation_poll_failed", {{"error", polled.error().ToString()}});
          }
        });
    s->sessions_thread->RunNow();  // sessions work as soon as the cloud answers
  }
  s->ready = true;
  log::Info("cloudlet_started", {{"node", s->identity.id()},
                                 {"port", static_cast<unsigned>(s->server->port())},
                                 {"devices", static_cast<std::uint64_t>(s->devices->size())},
                                 {"forwarding", !s->options.forwarder.cloud_url.empty()}});
  return std::unique_ptr<CloudletService>(new CloudletService(std::move(state)));
}

void CloudletService::Stop(std::chrono::milliseconds grace) {
  State& s = *state_;
  if (s.stopped) return;
  s.stopped = true;
  s.ready = false;
  if (s.server) s.server->Stop(grace);
  if (s.console) s.console->Stop();  // its streams end with the cloudlet
  if (s.forwarder) s.forwarder->Stop();
  if (s.mesh) s.mesh->Stop();
  if (s.maintenance_thread) s.maintenance_thread->Stop();
  if (s.sessions_thread) s.sessions_thread->Stop();
  log::Info("cloudlet_stopped", {{"node", s.identity.id()}});
}

std::uint16_t CloudletService::port() const { return state_->server->port(); }
std::vector<std::pair<net::Method, std::string>> CloudletService::routes() const {
  return state_->server->routes();
}
const std::string& CloudletService::node_id() const { return state_->identity.id(); }
CloudletStats CloudletService::Stats() const { return state_->Stats(); }
IngestPipeline& CloudletService::ingest() { return *state_->pipeline; }
Result<ForwardRound> CloudletService::ForwardNow() { return state_->forwarder->RunOnce(); }
Result<MaintenanceReport> CloudletService::MaintainNow() {
  std::lock_guard lock(state_->maintenance_mu);
  return state_->maintenance->RunOnce();
}
Status CloudletService::PollSessionsNow() {
  if (!state_->logins) return FailedPrecondition("no cloud is configured");
  return state_->logins->Poll();
}

Result<std::size_t> CloudletService::PollDeletionsNow() {
  std::lock_guard lock(state_->maintenance_mu);
  if (!state_->deletion_poller) return FailedPrecondition("no cloud to poll");
  return state_->deletion_poller->PollOnce();
}
store::Backpressure CloudletService::Pressure() const { return state_->pressure->Refresh(); }
net::MetricsRegistry& CloudletService::metrics() { return state_->metrics; }
audit::AuditLog& CloudletService::audit() { return *state_->audit; }

}  // namespace medmesh::cloudlet

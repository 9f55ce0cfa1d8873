#include "cloud/cloud_service.h"

#include <atomic>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <system_error>
#include <utility>

#include "accounts/account_reference.h"
#include "accounts/authenticator.h"
#include "audit/postgres_audit_store.h"
#include "audit/sqlite_audit_store.h"
#include "cloud/admin_api.h"
#include "cloud/attestation_relay.h"
#include "cloud/audit_api.h"
#include "cloud/clinical_api.h"
#include "cloud/cloud_readings.h"
#include "cloud/cloudlet_link.h"
#include "cloud/fhir_api.h"
#include "cloud/integrity_api.h"
#include "cloud/integrity_service.h"
#include "cloud/my_data_api.h"
#include "cloud/postgres_clinical_store.h"
#include "cloud/postgres_intake_store.h"
#include "cloud/sqlite_clinical_store.h"
#include "cloud/sqlite_intake_store.h"
#include "core/log.h"
#include "crypto/keyed_hash.h"
#include "ids/account_gate.h"
#include "ids/account_guard.h"
#include "ids/detection_engine.h"
#include "ids/enforcer.h"
#include "ids/ids_api.h"
#include "net/builtin_endpoints.h"
#include "net/error_mapping.h"
#include "net/router.h"
#include "node/data_dir.h"
#include "node/maintenance_thread.h"
#include "store/ids_event_log.h"
#include "store/postgres/postgres_record_store.h"
#include "store/postgres/schema_prefix.h"
#include "store/sqlite/sqlite_record_store.h"
#include "web/web_ui.h"
#include "wire/model.h"

namespace medmesh::cloud {
namespace {

using Json = nlohmann::json;

constexpr std::size_t kSmallBodyLimit = 16 * 1024;

net::Response ToResponse(const IntakeResult& result, std::string_view id_name) {
  if (const auto* rejection = std::get_if<IntakeRejection>(&result)) {
    return net::RejectionResponse(*rejection);
  }
  const auto& ack = std::get<IntakeAck>(result);
  return net::Response::Json(Json{{std::string(id_name), ack.id}, {"status", ack.status}}.dump());
}

// What the cloud signs a receipt with (wire/receipt.h).
struct ReceiptSigner {
  std::string_view cloud_id;
  const crypto::Signer& signer;
  const Clock& clock;
};

// The acknowledgement of an item from a cloudlet, with the cloud-signed receipt of the request
// `r` (its body and the challenge of its kReceiptChallengeHeader, if any): the origin drops the
// item only with a receipt that verifies (cloudlet/forwarder.h). A malformed challenge header
// is refused (400) before `intake` runs, so nothing is stored that could not be receipted.
net::Response ToReceiptedResponse(const net::Request& r,
                                  const std::function<IntakeResult()>& intake,
                                  std::string_view id_name, wire::ReceiptKind kind,
                                  const ReceiptSigner& receipts) {
  std::optional<wire::ReceiptChallenge> challenge;
  if (auto header = r.Header(wire::kReceiptChallengeHeader)) {
    auto parsed = wire::ParseReceiptChallenge(*header);
    if (!parsed) {
      return net::ErrorResponse(
          InvalidArgument("header X-MedMesh-Receipt-Challenge: not 32 hex digits"));
    }
    challenge = *parsed;
  }
  const IntakeResult result = intake();
  if (const auto* rejection = std::get_if<IntakeRejection>(&result)) {
    return net::RejectionResponse(*rejection);
  }
  const auto& ack = std::get<IntakeAck>(result);
  if (kind == wire::ReceiptKind::kForward && ack.status == "stored") {
    // A forward that verified and was stored proves the cloudlet (a replay would need the
    // sealed envelope, which TLS hides): give it the reserved room.
    r.MarkPeerAuthenticated();
  }
  Json answer{{std::string(id_name), ack.id}, {"status", ack.status}};
  auto receipt = SignIntakeReceipt(ack, kind, r.body, challenge, receipts.cloud_id, receipts.signer,
                                   wire::NowMs(receipts.clock));
  if (receipt) {
    answer["receipt"] = HexEncode(*receipt);
  } else {
    // Only an id the intake accepted could fail here; the origin retries without a receipt.
    log::Error("cloud_receipt_not_signed", {{"error", receipt.error().ToString()}});
  }
  return net::Response::Json(answer.dump());
}

net::Response Unauthorized() {
  net::Response denied =
      net::JsonErrorResponse(401, "unauthenticated", "missing or wrong operator token");
  denied.headers.emplace_back("WWW-Authenticate", "Bearer");
  return denied;
}

}  // namespace

struct CloudService::State {
  // Takes the identity and the token; the keys stay in `s` for OpenStores.
  State(CloudOptions o, CloudSecrets& s, const Clock& c, Random& r)
      : options(std::move(o)),
        clock(c),
        random(r),
        identity(std::move(s.identity)),
        operator_token(std::move(s.operator_token)),
        opener(crypto::NewHybridOpener(identity.kem_key.Clone())) {}

  CloudOptions options;
  std::optional<node::DataDirLock> data_dir_lock;  // first taken, last released
  const Clock& clock;
  Random& random;
  node::NodeIdentity identity;
  SecretBytes operator_token;
  std::unique_ptr<crypto::HybridOpener> opener;
  net::MetricsRegistry metrics;

  std::unique_ptr<store::RecordStore> record_store;
  std::unique_ptr<ThreePartStore> records;
  std::unique_ptr<PartKekRotator> kek_rotator;  // before `records` is destroyed
  std::unique_ptr<IntakeStore> intake_store;
  std::unique_ptr<store::IdsEventLog> ids;
  // Local intrusion detection (docs/ids.md), as at a cloudlet.
  std::unique_ptr<ids::DecisionTable> decisions;
  std::unique_ptr<ids::DetectionEngine> detection;
  std::unique_ptr<ids::Enforcer> enforcer;
  // The IDS's account decisions at login (ids/account_gate.h), and the account references the
  // login IDS events carry (accounts/account_reference.h, keyed from the index key).
  std::unique_ptr<ids::AccountGate> account_gate;
  std::unique_ptr<accounts::AccountGuard> account_guard;
  // The request classifier on live requests (ids/payload_scoring.h): the filter after the
  // enforcer's scores heads, the wrapped handlers score bodies. Off without a model.
  std::unique_ptr<ids::PayloadScoring> payloads;
  std::unique_ptr<ids::MeshNode> mesh;  // the IDS mesh (docs/ids_mesh.md)
  std::unique_ptr<audit::AuditLog> audit;
  std::unique_ptr<ForwardIntake> intake;
  std::unique_ptr<AccountApi> accounts;
  std::unique_ptr<ClinicalStore> clinical_store;
  std::unique_ptr<CloudReadings> readings;
  std::unique_ptr<ClinicalService> clinical;
  std::unique_ptr<crypto::Signer> signer;  // the node key: deletion-feed pages, copy requests
  std::unique_ptr<HttpCloudletCopySource> copies;
  // A doctor's attestation passed on to the patient's cloudlets (attestation_relay.h).
  std::unique_ptr<net::HttpClient> attestation_client;
  std::unique_ptr<IntegrityService> integrity;
  std::unique_ptr<node::MaintenanceThread> maintenance;
  std::unique_ptr<net::HttpServer> server;
  // `server` for the IDS alerts route, published once it is assigned (handlers may run before).
  std::atomic<const net::HttpServer*> started_server{nullptr};
  std::atomic<bool> ready{false};
  bool stopped = false;

  Status OpenStores(CloudSecrets& secrets);
  Status OpenClinical();
  net::Router BuildRouter();
  ReceiptSigner Receipts() const { return {identity.id(), *signer, clock}; }
  // nullopt if the request carries the operator token; otherwise the 401 to send (and an
  // IDS event is written).
  std::optional<net::Response> RequireOperator(const net::Request& r);
  Result<net::Response> Integrity(const net::Request& r);
  bool Authorised(const net::Request& r);
  CloudStats CountersInMemory() const;
  Result<CloudStats> Stats() const;
};

Status CloudService::State::OpenStores(CloudSecrets& secrets) {
  // On either backend, so that a bad prefix in a config file is refused whatever the backend.
  MEDMESH_RETURN_IF_ERROR(store::CheckSchemaPrefix(options.store.schema_prefix));
  if (secrets.index_key.size() != kThreePartSecretBytes ||
      secrets.pseudonym_key.size() != kThreePartSecretBytes) {
    return InvalidArgument("the index and pseudonym keys must be 32 bytes each");
  }
  // Held until the service is destroyed: a second process on this folder is refused.
  MEDMESH_ASSIGN_OR_RETURN(data_dir_lock, node::DataDirLock::Acquire(options.data_dir));
  // The intake's references get their own key, derived from (never equal to) the index key.
  MEDMESH_ASSIGN_OR_RETURN(
      crypto::HashKey refs_key,
      crypto::HashKey::Derive(secrets.index_key, "MedMesh cloud intake v1", "references"));
  crypto::HashKey account_refs_key = accounts::DeriveAccountReferenceKey(secrets.index_key);
  if (options.store.backend == node::StoreBackend::kPostgres) {
    store::PostgresRecordStoreOptions pg;
    pg.conninfo = options.store.postgres_url;
    pg.schema_prefix = options.store.schema_prefix;
    MEDMESH_ASSIGN_OR_RETURN(record_store, store::PostgresRecordStore::Open(std::move(pg)));
    MEDMESH_ASSIGN_OR_RETURN(
        intake_store, PostgresIntakeStore::Open({.conninfo = options.store.postgres_url,
                                                 .schema_prefix = options.store.schema_prefix}));
  } else {
    MEDMESH_ASSIGN_OR_RETURN(record_store,
                             store::SqliteRecordStore::Open(options.data_dir / "records.db",
                                                            {.sqlite_vfs = options.sqlite_vfs}));
    MEDMESH_ASSIGN_OR_RETURN(intake_store,
                             SqliteIntakeStore::Open((options.data_dir / "intake.db").string(),
                                                     {.vfs = options.sqlite_vfs}));
  }
  ThreePartKeys keys{secrets.keks.ei.current.Clone(), secrets.keks.qi.current.Clone(),
                     secrets.keks.mi.current.Clone(), std::move(secrets.index_key),
                     std::move(secrets.pseudonym_key)};
  MEDMESH_ASSIGN_OR_RETURN(records, ThreePartStore::Create(*record_store, std::move(keys), random,
                                                           clock, options.three_part));
  kek_rotator = std::make_unique<PartKekRotator>(
      *records, secrets.keks, random,
      options.key_file_env != nullptr ? *options.key_file_env : Env::Default());
  MEDMESH_ASSIGN_OR_RETURN(
      ids, store::IdsEventLog::Open((options.data_dir / "ids.db").string(), options.ids_aggregation,
                                    {.vfs = options.sqlite_vfs}));
  MEDMESH_ASSIGN_OR_RETURN(
      decisions,
      ids::DecisionTable::Open((options.data_dir / "decisions.db").string(), identity.id(), clock,
                               random, options.ids.decisions, {.vfs = options.sqlite_vfs}));
  detection = std::make_unique<ids::DetectionEngine>(*decisions,
                                                     ids::DefaultDetectors(options.ids.detectors));
  ids->SetObserver(detection->EventObserver());
  enforcer = std::make_unique<ids::Enforcer>(*decisions, clock, options.ids.enforcer);
  account_gate = std::make_unique<ids::AccountGate>(*decisions, clock, options.ids.account_gate);
  account_guard = ids::GuardWithGate(std::move(account_refs_key), *account_gate);
  payloads = ids::PayloadScoring::Load(options.ids.models_dir, *detection, clock, &metrics,
                                       options.ids.payloads);
  // Apart from the clinical data, unencrypted, the head signed with the node key (ADR 0014).
  std::unique_ptr<audit::AuditStore> audit_store;
  if (options.store.backend == node::StoreBackend::kPostgres) {
    MEDMESH_ASSIGN_OR_RETURN(audit_store, audit::PostgresAuditStore::Open(
                                              {.conninfo = options.store.postgres_url,
                                               .schema_prefix = options.store.schema_prefix}));
  } else {
    MEDMESH_ASSIGN_OR_RETURN(audit_store, audit::SqliteAuditStore::Open(
                                              (options.data_dir / audit::kAuditDbFileName).string(),
                                              {.vfs = options.sqlite_vfs}));
  }
  MEDMESH_ASSIGN_OR_RETURN(
      audit, audit::AuditLog::Open(std::move(audit_store), identity.id(),
                                   crypto::NewEd25519Signer(identity.signing_key.Clone())));
  intake = std::make_unique<ForwardIntake>(
      ForwardIntakeContext{identity.id(), identity.root, *opener, *records, *intake_store, *ids,
                           clock, metrics},
      std::move(refs_key), options.max_forward_bytes);
  MEDMESH_ASSIGN_OR_RETURN(
      accounts, AccountApi::Open({.data_dir = options.data_dir,
                                  .store = options.store,
                                  .sqlite_vfs = options.sqlite_vfs,
                                  .secure_cookies = options.tls.has_value(),
                                  .hasher = options.password_hasher,
                                  .service = options.account_service,
                                  .password_pool = options.password_pool},
                                 {identity, *records, options.audit ? *options.audit : *audit, *ids,
                                  clock, random, account_guard.get(), &metrics}));
  MEDMESH_RETURN_IF_ERROR(OpenClinical());
  // Issue 8 (integrity_service.h): batches stored before they were chained enter the chain,
  // and deletions a failure left pending are finished, before anything is served.
  MEDMESH_RETURN_IF_ERROR(ChainUnchainedBatches(*records, *intake_store));
  MEDMESH_RETURN_IF_ERROR(ResumePendingDeletions(*records, *intake_store, clock));
  signer = crypto::NewEd25519Signer(identity.signing_key.Clone());
  MEDMESH_ASSIGN_OR_RETURN(copies, HttpCloudletCopySource::Create(identity, *signer, clock));
  for (const auto& [cloudlet_id, url] : options.cloudlet_urls) copies->SetUrl(cloudlet_id, url);
  MEDMESH_ASSIGN_OR_RETURN(attestation_client, net::HttpClient::Create({}));
  MEDMESH_ASSIGN_OR_RETURN(
      mesh,
      ids::MeshNode::Open(
          {identity.id(), identity.root.key,
           Bytes(identity.certificate.encoded().begin(), identity.certificate.encoded().end()),
           *signer, *decisions, *detection, *ids, clock, random, options.data_dir},
          [&] {
            ids::MeshOptions mesh_options = options.ids.mesh;
            mesh_options.accept_certified_cloudlets = true;
            return mesh_options;
          }()));
  integrity = std::make_unique<IntegrityService>(IntegrityServiceContext{
      *records, *intake_store, *intake, identity.root, *opener, *copies,
      options.audit ? *options.audit : *audit, clock, random, ids.get(), identity.id()});
  return OkStatus();
}

// The clinical workflows (clinical_service.h): clinical.db in the data folder, or the schema
// "<prefix>clinical" on PostgreSQL; answers under the patients' EI data keys (ADR 0017).
Status CloudService::State::OpenClinical() {
  if (options.store.backend == node::StoreBackend::kPostgres) {
    MEDMESH_ASSIGN_OR_RETURN(clinical_store, PostgresClinicalStore::Open(
                                                 {.conninfo = options.store.postgres_url,
                                                  .schema_prefix = options.store.schema_prefix}));
  } else {
    MEDMESH_ASSIGN_OR_RETURN(clinical_store,
                             SqliteClinicalStore::Open((options.data_dir / "clinical.db").string(),
                                                       {.vfs = options.sqlite_vfs}));
  }
  readings = std::make_unique<CloudReadings>(*intake_store, *records);
  ClinicalHooks hooks;
  hooks.is_approved_doctor = [this](std::string_view account_id) -> Result<bool> {
    MEDMESH_ASSIGN_OR_RETURN(auto account, accounts->store().GetAccount(account_id));
    return account.has_value() && account->role == accounts::Role::kDoctor &&
           account->status == accounts::AccountStatus::kApproved;
  };
  hooks.cloudlets_of_patient = [this](std::string_view patient_id) {
    return intake_store->CloudletsOfPatient(patient_id);
  };
  hooks.readings = [this](std::string_view patient_id, std::int64_t from_ms, std::int64_t to_ms) {
    return readings->Read(patient_id, from_ms, to_ms);
  };
  hooks.first_readings_ms = [this](std::string_view patient_id, std::int64_t from_ms,
                                   std::int64_t to_ms) {
    return readings->FirstBatchFrom(patient_id, from_ms, to_ms);
  };
  MEDMESH_ASSIGN_OR_RETURN(
      clinical,
      ClinicalService::Create(*clinical_store, *records, records->envelope(store::RecordPart::kEi),
                              options.audit ? *options.audit : *audit, clock, random,
                              std::move(hooks), {.statistics_k = options.statistics_k}));
  return OkStatus();
}

CloudStats CloudService::State::CountersInMemory() const {
  CloudStats stats;
  stats.node = identity.id();
  // In memory by contract (intake_store.h): no lock, no query.
  if (auto counts = intake_store->Counts()) {
    stats.reading_batches = counts->reading_batches;
    stats.readings = counts->readings;
    stats.patients = counts->patients;
  }
  stats.duplicates = intake->duplicates();
  stats.rejected = intake->rejected();
  return stats;
}

Result<CloudStats> CloudService::State::Stats() const {
  CloudStats stats = CountersInMemory();
  MEDMESH_ASSIGN_OR_RETURN(store::RowCounts rows, record_store->CountRows());
  MEDMESH_ASSIGN_OR_RETURN(store::ChainHead head, record_store->GetChainHead());
  stats.records = rows.record_links;
  stats.chain_length = head.seq;
  return stats;
}

bool CloudService::State::Authorised(const net::Request& r) {
  if (node::BearerTokenMatches(r.Header("Authorization"), operator_token)) return true;
  intake->RecordRejection(store::IdsEventKind::kAuthFailure, r.peer_address,
                          "missing or wrong operator token on " + std::string(r.route));
  return false;
}

std::optional<net::Response> CloudService::State::RequireOperator(const net::Request& r) {
  if (Authorised(r)) return std::nullopt;
  return Unauthorized();
}

Result<net::Response> CloudService::State::Integrity(const net::Request& r) {
  if (!Authorised(r)) return Unauthorized();
  MEDMESH_ASSIGN_OR_RETURN(VerifyReport report, records->Verify());
  Json body{{"ok", report.ok()},
            {"entries", report.entries_checked},
            {"records_checked", report.records_checked},
            {"unchained_rows", report.unchained_rows},
            {"first_broken", nullptr}};
  if (report.first_broken) body["first_broken"] = report.first_broken->seq;
  if (!report.ok()) {
    // Intrusion detection (docs/ids.md): the node's own store, so no device and no source.
    store::IdsEvent tampering;
    tampering.time_ms = wire::NowMs(clock);
    tampering.node = identity.id();
    tampering.kind = store::IdsEventKind::kTampering;
    tampering.detail = "the record chain failed its integrity check";
    if (auto recorded = ids->Record(tampering); !recorded) {
      log::Error("cloud_ids_event_not_recorded", {{"error", recorded.error().ToString()}});
    }
    log::Error("cloud_integrity_check_failed",
               {{"first_broken", report.first_broken ? report.first_broken->seq : 0},
                {"unchained_rows", report.unchained_rows}});
  }
  return net::Response::Json(body.dump());
}

net::Router CloudService::State::BuildRouter() {
  net::Router router;
  router.Get("/api/v1/root", [this](const net::Request&) -> Result<net::Response> {
    return net::Response::Binary(identity.root.certificate);
  });
  router.Get("/api/v1/certificate", [this](const net::Request&) -> Result<net::Response> {
    return net::Response::Binary(identity.certificate.encoded());
  });
  router.Post("/api/v1/cloudlets",
              [this](const net::Request& r) -> Result<net::Response> {
                return ToReceiptedResponse(
                    r, [&] { return intake->RegisterCloudlet(r.body, r.peer_address); },
                    "cloudlet_id", wire::ReceiptKind::kCloudlet, Receipts());
              },
              {.body_limit_bytes = kSmallBodyLimit});
  router.Post("/api/v1/enrolments",
              [this](const net::Request& r) -> Result<net::Response> {
                return ToReceiptedResponse(
                    r, [&] { return intake->AddEnrolment(r.body, r.peer_address); }, "device_id",
                    wire::ReceiptKind::kEnrolment, Receipts());
              },
              {.body_limit_bytes = kSmallBodyLimit});
  router.Post("/api/v1/forward",
              [this](const net::Request& r) -> Result<net::Response> {
                return ToReceiptedResponse(
                    r, [&] { return intake->AcceptForward(r.body, r.peer_address); }, "forward_id",
                    wire::ReceiptKind::kForward, Receipts());
              },
              {.body_limit_bytes = options.max_forward_bytes});
  // Anyone may ask: the anonymous answer comes from counters in memory (no store lock, no
  // scan). The operator token or an admin's session (Bearer, or the cookie) adds the
  // rejections and the record store's counts, which are queries. A credential that is offered
  // must be good (401), and a session of another role is 403.
  router.Get("/api/v1/stats", [this](const net::Request& r) -> Result<net::Response> {
    const bool as_operator = accounts::OffersCredential(r);
    if (as_operator && !node::BearerTokenMatches(r.Header("Authorization"), operator_token)) {
      Result<accounts::Principal> who = accounts->PrincipalOf(r);
      if (!who) return accounts::AuthenticationRefusal(who.error());
      if (!who->is(accounts::Role::kAdmin)) {
        return PermissionDenied("only an admin or the operator token sees the full counts");
      }
    }
    CloudStats s;
    if (as_operator) {
      MEDMESH_ASSIGN_OR_RETURN(s, Stats());
    } else {
      s = CountersInMemory();
    }
    Json body{{"node", s.node},
              {"reading_batches", s.reading_batches},
              {"readings", s.readings},
              {"patients", s.patients},
              {"duplicates", s.duplicates}};
    if (as_operator) {
      body["records"] = s.records;
      body["chain_length"] = s.chain_length;
      body["rejected"] = s.rejected;
    }
    return net::Response::Json(body.dump());
  });
  router.Get("/api/v1/integrity", [this](const net::Request& r) { return Integrity(r); });
  // No body: the device is the path, the operator token the authority.
  router.Post("/api/v1/devices/{device_id}/withdrawal",
              [this](const net::Request& r) -> Result<net::Response> {
                if (auto denied = RequireOperator(r)) return std::move(*denied);
                return ToResponse(
                    intake->WithdrawDevice(r.PathParam("device_id").value_or(""), r.peer_address),
                    "device_id");
              },
              {.body_limit_bytes = 0});
  AddKekRotationRoutes(router, *kek_rotator,
                       {operator_token, *accounts, options.audit ? *options.audit : *audit, clock});
  accounts->AddRoutes(router);
  AddClinicalRoutes(router, *clinical,
                    [this](const net::Request& r) { return accounts->PrincipalOf(r); });
  AddAttestationRelayRoute(
      router, {.authenticate = [this](const net::Request& r) { return accounts->PrincipalOf(r); },
               .clinical = *clinical,
               .cloudlets_of =
                   [this](std::string_view patient_id) {
                     return intake_store->CloudletsOfPatient(patient_id);
                   },
               .cloudlet_urls = [this] { return copies->Urls(); },
               .client = *attestation_client,
               .cloud_id = identity.id(),
               .signer = *signer,
               .certificate = Bytes(identity.certificate.encoded().begin(),
                                    identity.certificate.encoded().end()),
               .clock = clock,
               .random = random});
  AddIntegrityRoutes(
      router, *integrity, [this](const net::Request& r) { return accounts->PrincipalOf(r); },
      // A patient whose data is deleted has nothing left to log in to: the account is closed,
      // its sessions revoked and the browser's session cookies cleared.
      [this](const accounts::Principal& p, std::string_view source,
             net::Response& response) -> Status {
        MEDMESH_RETURN_IF_ERROR(
            accounts->service().CloseOwnAccount(p, "data deleted by the patient", source));
        for (const std::string& cookie : accounts::ClearedSessionCookies(options.tls.has_value())) {
          response.headers.emplace_back("Set-Cookie", cookie);
        }
        return OkStatus();
      });
  AddDeletionFeedRoute(router, *integrity, {identity, *signer, clock, *intake});
  AddFhirRoutes(router, {*clinical, accounts->store(), *records, *audit,
                         options.audit ? *options.audit : *audit, clock,
                         [this](const net::Request& r) { return accounts->PrincipalOf(r); },
                         options.tls.has_value()});
  AddAdminRoutes(router,
                 {accounts->store(), *records, options.audit ? *options.audit : *audit, clock},
                 [this](const net::Request& r) { return accounts->PrincipalOf(r); });
  AddAuditRoutes(router,
                 {*audit, options.audit ? *options.audit : *audit, identity, accounts->store(),
                  *records, clock},
                 [this](const net::Request& r) { return accounts->PrincipalOf(r); });
  AddMyDataRoutes(router,
                  {*records, *intake_store, *clinical, *integrity,
                   options.audit ? *options.audit : *audit, clock},
                  [this](const net::Request& r) { return accounts->PrincipalOf(r); });
  // Alerts, decisions, revocation and allowlist (ids/ids_api.h): admins or the operator token.
  const auto ids_authorize = [this](const net::Request& r) -> std::optional<net::Response> {
    if (node::BearerTokenMatches(r.Header("Authorization"), operator_token)) return std::nullopt;
    Result<accounts::Principal> who = accounts->PrincipalOf(r);
    if (!who) return accounts::AuthenticationRefusal(who.error());
    if (!who->is(accounts::Role::kAdmin)) {
      return net::ErrorResponse(PermissionDenied("only an admin manages the cloud's IDS"));
    }
    return std::nullopt;
  };
  // Each decision imposed or revoked and each allowlist change, in the audit log (the
  // cloudlet's do the same): who (an admin's account, or the static operator token), from
  // where, which kind of scope - not the value, which may be an address or an account.
  const auto audit_ids_change = [this](const net::Request& r, std::string_view what,
                                       const ids::Scope& scope) {
    audit::AuditEntry e;
    e.time_ms = wire::NowMs(clock);
    e.event = "ids." + std::string(what);
    e.action = audit::Action::kUpdate;
    if (node::BearerTokenMatches(r.Header("Authorization"), operator_token)) {
      e.actor_role = "operator";
      e.detail = "static token";
    } else if (Result<accounts::Principal> who = accounts->PrincipalOf(r)) {
      e.actor_account_id = who->account_id;
      e.actor_role = std::string(accounts::RoleName(who->role));
    }
    e.source_address = r.peer_address;
    e.entity_type = "IdsScope";
    e.entity_id = std::string(ids::ScopeKindName(scope.kind));
    if (Status appended = (options.audit ? *options.audit : *audit).Append(e); !appended) {
      log::Error("cloud_audit_failed",
                 {{"event", e.event}, {"error", appended.error().ToString()}});
    }
  };
  ids::AddIdsRoutes(router, {*decisions, *detection, *enforcer, clock, ids_authorize,
                             audit_ids_change, payloads.get(), ids::KernelDropOf(started_server)});
  // The IDS mesh (ids/mesh_node.h): the cloudlets' signed reports; the mesh-wide view for admins.
  ids::AddMeshRoutes(router, *mesh, ids_authorize);
  net::AddHealthEndpoints(router, [this] { return ready.load(); });
  net::AddMetricsEndpoint(router, metrics);
  // The web UI (docs/ui.md): its page and assets, and GET /api/v1/node with the cloudlets
  // whose URLs this cloud knows.
  auto node_info = [this] {
    web::NodeInfo info{
        .kind = web::NodeKind::kCloud, .id = identity.id(), .roles = web::CloudRoles()};
    for (auto& [id, url] : copies->Urls()) info.cloudlets.push_back({id, std::move(url)});
    return info;
  };
  web::AddWebUi(router, node_info, {.https = options.tls.has_value()});
  return router;
}

CloudService::CloudService(std::unique_ptr<State> state) : state_(std::move(state)) {}

CloudService::~CloudService() { Stop(state_->options.stop_grace); }

Result<std::unique_ptr<CloudService>> CloudService::Start(CloudOptions options,
                                                          CloudSecrets secrets, const Clock& clock,
                                                          Random& random) {
  const node::NodeIdentity& id = secrets.identity;
  if (auto still =
          wire::VerifyCertificate(id.certificate.encoded(), id.root.key,
                                  wire::CertificateRole::kCloud, wire::ToUnixMs(clock.Now()));
      !still) {
    return FailedPrecondition("this node's certificate is not a valid cloud certificate now: " +
                              still.error().message());
  }
  auto state = std::make_unique<State>(std::move(options), secrets, clock, random);
  State* s = state.get();
  MEDMESH_RETURN_IF_ERROR(s->OpenStores(secrets));

  net::ServerOptions server_options;
  server_options.name = "cloud";
  server_options.address = s->options.listen_address;
  server_options.port = s->options.port;
  server_options.io_threads = s->options.io_threads;
  server_options.tls = s->options.tls;
  server_options.access_log = s->options.access_log;
  server_options.metrics = &s->metrics;
  // The detectors see every response (and record 413s and slow clients in ids.db); decisions
  // are enforced first, before routing and before any body is read.
  server_options.observer = ids::ServerObserverFor(*s->detection, *s->ids, s->identity.id(), clock);
  // Blocked sources are refused at accept, before a session (ids/enforcer.h).
  server_options.connection_filter = s->enforcer->AsConnectionFilter();
  MEDMESH_ASSIGN_OR_RETURN(
      s->server,
      net::HttpServer::Start(std::move(server_options), s->payloads->ScoreBodies(s->BuildRouter()),
                             {s->enforcer->AsFilter(), s->payloads->HeadFilter()}));
  s->started_server.store(s->server.get(), std::memory_order_release);
  s->mesh->Start();
  s->maintenance = std::make_unique<node::MaintenanceThread>(
      "cloud_maintenance",
      std::chrono::duration_cast<std::chrono::milliseconds>(
          s->options.retention.maintenance_interval),
      [s] {
        const std::int64_t now_ms = wire::ToUnixMs(s->clock.Now());
        const auto ids_retention_ms =
            std::chrono::duration_cast<std::chrono::milliseconds>(s->options.retention.ids_events)
                .count();
        if (auto flushed = s->ids->FlushClosed(now_ms); !flushed) {
          log::Warn("cloud_maintenance_failed", {{"error", flushed.error().ToString()}});
        }
        // Sessions and revocations an hour past their expiry: their tokens are long dead.
        if (auto expired = s->accounts->store().PruneExpired(now_ms - 3'600'000); !expired) {
          log::Warn("cloud_maintenance_failed", {{"error", expired.error().ToString()}});
        }
        if (Status swept = s->decisions->Sweep(); !swept) {
          log::Warn("cloud_maintenance_failed", {{"error", swept.error().ToString()}});
        }
        if (auto pruned = s->ids->PruneBefore(now_ms - ids_retention_ms); !pruned) {
          log::Warn("cloud_maintenance_failed", {{"error", pruned.error().ToString()}});
        } else if (*pruned > 0) {
          log::Info("cloud_retention", {{"ids_rows", *pruned}});
        }
      });
  s->ready = true;
  log::Info("cloud_started", {{"node", s->identity.id()},
                              {"port", static_cast<unsigned>(s->server->port())},
                              {"store", node::StoreBackendName(s->options.store.backend)}});
  return std::unique_ptr<CloudService>(new CloudService(std::move(state)));
}

void CloudService::Stop(std::chrono::milliseconds grace) {
  State& s = *state_;
  if (s.stopped) return;
  s.stopped = true;
  s.ready = false;
  if (s.server) s.server->Stop(grace);
  if (s.mesh) s.mesh->Stop();
  if (s.maintenance) s.maintenance->Stop();
  log::Info("cloud_stopped", {{"node", s.identity.id()}});
}

std::uint16_t CloudService::port() const { return state_->server->port(); }
std::vector<std::pair<net::Method, std::string>> CloudService::routes() const {
  return state_->server->routes();
}
Result<CloudStats> CloudService::Stats() const { return state_->Stats(); }
ForwardIntake& CloudService::intake() { return *state_->intake; }
ThreePartStore& CloudService::records() { return *state_->records; }
IntakeStore& CloudService::intake_store() { return *state_->intake_store; }
net::MetricsRegistry& CloudService::metrics() { return state_->metrics; }
AccountApi& CloudService::accounts() { return *state_->accounts; }
ClinicalService& CloudService::clinical() { return *state_->clinical; }
audit::AuditLog& CloudService::audit() { return *state_->audit; }
void CloudService::SetCloudletUrl(std::string_view cloudlet_id, std::string url) {
  state_->copies->SetUrl(cloudlet_id, std::move(url));
}

}  // namespace medmesh::cloud

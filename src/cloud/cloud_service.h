// CloudService: the remote cloud (`medmesh cloud`). It holds the deployment's root certificate
// (and, in the demo, the folder with the root key), its own node identity, the three-part record
// store (three_part.h) on the configured RecordStore backend, the intake store
// (intake_store.h) on the same backend, and serves the cloud API of docs/openapi.yaml:
//
//   GET  /api/v1/root                    the root certificate (self-signed)
//   GET  /api/v1/certificate             this cloud's certificate (its KEM key seals forwards)
//   POST /api/v1/cloudlets               register a cloudlet's certificate
//   POST /api/v1/enrolments              a device's enrolment record, from its cloudlet
//   POST /api/v1/forward                 a forward envelope → {"forward_id","status","receipt"}
//        (the three POSTs above answer with the cloud's signed receipt, wire/receipt.h)
//   GET  /api/v1/stats                   flow counts from memory (operator token or an admin: more)
//   /api/v1/ids/alerts, decisions, allowlist (admin, operator token)  local intrusion detection
//        (ids/ids_api.h); decisions are enforced as the server's first filter (ids/enforcer.h)
//   GET  /api/v1/integrity (operator token)  re-computes the hash chain of the record store
//   POST /api/v1/devices/{device_id}/withdrawal (operator token)  withdraws a device at once
//   POST /api/v1/admin/keys/{part}/rotation (operator token)  rotates one part's KEK, live
//   GET  /api/v1/admin/keys/{part}/rotation (operator token)   how that rotation went
//   /api/v1/session, /api/v1/accounts/..., /api/v1/admin/registrations/...  (account_api.h)
//   /api/v1/activations, /consents, /inbox, /answers, /prescriptions, /statistics/charts
//                                        the clinical workflows (clinical_api.h)
//   /api/v1/integrity/... (integrity_api.h)  verify, restore, restores, deletion
//   GET  /api/v1/cloudlets/{cloudlet_id}/deletions  the deletion feed (cloudlet_link.h)
//   GET  /api/v1/doctors, /api/v1/admin/patients..., /api/v1/admin/doctors  (admin_api.h)
//   GET  /api/v1/admin/audit, /api/v1/me/audit   the audit log (audit_api.h)
//   GET  /healthz, /readyz, /metrics
//   GET  /, /ui/..., /api/v1/node          the web UI and which node this is (web/web_ui.h)
//
// Data folder (created 0700 if missing): records.db (SqliteRecordStore) and intake.db
// (SqliteIntakeStore) unless the backend is PostgreSQL; ids.db (IdsEventLog) always; audit.db
// (audit::AuditLog, signed with the node key) unless the backend is PostgreSQL, where the audit
// log has its own schema <prefix>audit_log.
// WARNING: this process holds every key of the three parts; see three_part.h.
// Thread safety: Start/Stop from one thread; the accessors are thread-safe.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "audit/audit_log.h"
#include "audit/audit_sink.h"
#include "cloud/account_api.h"
#include "cloud/clinical_service.h"
#include "cloud/forward_intake.h"
#include "cloud/part_keks.h"
#include "cloud/three_part.h"
#include "core/clock.h"
#include "core/env.h"
#include "core/random.h"
#include "core/secret_bytes.h"
#include "core/status.h"
#include "crypto/envelope.h"
#include "ids/ids_options.h"
#include "net/http_server.h"
#include "net/metrics.h"
#include "node/identity.h"
#include "node/node_config.h"
#include "store/ids_event_log.h"

namespace medmesh::cloud {

struct CloudOptions {
  std::string listen_address = "127.0.0.1";
  std::uint16_t port = 0;  // 0: any free port (see port())
  std::optional<net::TlsFiles> tls;
  std::size_t io_threads = 2;
  bool access_log = true;
  std::filesystem::path data_dir;
  node::StoreConfig store;  // sqlite (files in data_dir) or postgres
  std::size_t max_forward_bytes = wire::kMaxForwardBytes;
  ThreePartOptions three_part;
  std::chrono::milliseconds stop_grace{10000};
  // The SQLite VFS of every SQLite database in data_dir (store::SqliteOpenOptions::vfs); empty:
  // the default. Tests only: a testing::FaultySqliteVfs makes the disk fail under the service.
  std::string sqlite_vfs{};
  // The cloud's maintenance thread writes the IDS log's closed aggregates and prunes IDS rows
  // older than retention.ids_events, every retention.maintenance_interval. (The cloud's
  // records are its purpose: no retention applies to them.)
  node::RetentionConfig retention;
  // The statistics charts' k (ClinicalOptions::statistics_k, at least 2).
  std::size_t statistics_k = 5;
  // How ids.db aggregates repeated refusals (store/ids_event_log.h).
  store::IdsAggregation ids_aggregation;
  // Local intrusion detection: detector thresholds, decision expiry, throttling (docs/ids.md).
  ids::IdsOptions ids;
  // The Env through which KEK rotations write the part KEK files (nullptr: Env::Default()).
  // Tests: a testing::FaultInjectionEnv.
  Env* key_file_env = nullptr;
  // Accounts and sessions (account_api.h): accounts.db in data_dir, or PostgreSQL as `store`.
  // Where account and workflow actions are audited (outlives the service); null: the node's own
  // audit log (audit()). Tests may pass a recording sink.
  audit::AuditSink* audit = nullptr;
  crypto::PasswordHasherOptions password_hasher;
  accounts::AccountServiceOptions account_service;
  // Login password checks: threads and queue (accounts/password_pool.h); full: 429 at once.
  accounts::PasswordPoolOptions password_pool;
  // Base URLs of the cloudlets ("https://cloudlet-1:8443"), by cloudlet id: where a restore
  // asks for a cloudlet's copy (cloudlet_link.h). More: CloudService::SetCloudletUrl.
  std::map<std::string, std::string> cloudlet_urls;
};

struct CloudSecrets {
  node::NodeIdentity identity;  // role cloud
  // Each part's KEK ring (part_keks.h); a single KEK converts to one KEK for all three parts,
  // without files to rotate.
  CloudPartKeks keks;
  SecretBytes index_key;       // 32 bytes: blind indexes, references, digests
  SecretBytes pseudonym_key;   // 32 bytes: MI pseudonyms; keep apart from the MI store
  SecretBytes operator_token;  // empty: operator endpoints disabled
};

// reading_batches, readings, patients, duplicates and rejected are kept in memory (the intake
// store's counters, loaded at open); records and chain_length are read from the record store.
// GET /api/v1/stats serves the in-memory flow counts to anyone, and everything to the operator.
struct CloudStats {
  std::string node;
  std::uint64_t records = 0;
  std::uint64_t reading_batches = 0;
  std::uint64_t readings = 0;
  std::uint64_t patients = 0;
  std::uint64_t chain_length = 0;
  std::uint64_t duplicates = 0;
  std::uint64_t rejected = 0;
};

class CloudService {
 public:
  // Opens the stores, binds the listener. kFailedPrecondition if the identity is not the
  // cloud's, valid now; kInvalidArgument for secrets of the wrong size; store and server errors
  // as they are. `clock` and `random` must outlive the service and be thread-safe.
  static Result<std::unique_ptr<CloudService>> Start(CloudOptions options, CloudSecrets secrets,
                                                     const Clock& clock, Random& random);
  ~CloudService();  // Stop(options.stop_grace) if not stopped
  CloudService(const CloudService&) = delete;
  CloudService& operator=(const CloudService&) = delete;

  // Graceful: stops accepting and lets requests in progress finish (up to `grace`). Idempotent.
  void Stop(std::chrono::milliseconds grace);

  std::uint16_t port() const;
  // The method and pattern of every route served (net::HttpServer::routes()).
  std::vector<std::pair<net::Method, std::string>> routes() const;
  // kUnavailable if a store cannot be read.
  Result<CloudStats> Stats() const;
  ForwardIntake& intake();
  ThreePartStore& records();
  IntakeStore& intake_store();
  net::MetricsRegistry& metrics();
  AccountApi& accounts();
  // The clinical workflows (activation, consent, answers, charts; clinical_service.h).
  ClinicalService& clinical();
  // The node's audit log (docs/audit.md): every route that touches patient data or does an
  // administrative action appends to it.
  audit::AuditLog& audit();
  // Where restores reach cloudlet `cloudlet_id` (see CloudOptions::cloudlet_urls).
  void SetCloudletUrl(std::string_view cloudlet_id, std::string url);

 private:
  struct State;
  explicit CloudService(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace medmesh::cloud

// CloudletService: the edge service (`medmesh cloudlet`). It owns the cloudlet's stores, keys,
// ingest pipeline (ingest.h), forwarder (forwarder.h) and HTTP server, and serves the cloudlet
// API of docs/openapi.yaml:
//
//   GET  /api/v1/certificate                 this cloudlet's root-signed certificate
//   POST /api/v1/enrol   (enrol token, or a patient's / own operator's session) a device-signed
//                                                enrolment request → signed record
//   GET  /api/v1/devices (session, operator token)  a patient's own devices; an operator's all
//   POST /api/v1/ingest                          an upload envelope → {"batch_id","status"}
//   GET  /api/v1/stats                           flow counts from memory (operator token or an
//                                                own operator's session: more)
//   GET  /api/v1/patients/{id}/readings (operator token)  readings in a time range
//   GET  /api/v1/ids/events     (operator token)  security events
//   /api/v1/ids/alerts, decisions, allowlist (operator)  local intrusion detection (ids/ids_api.h);
//        decisions are enforced as the server's first filter (ids/enforcer.h)
//   POST /api/v1/devices/{device_id}/withdrawal (operator token or session)  withdraws a device
// Sessions are the cloud's tokens, verified offline (cloudlet_sessions.h, docs/accounts.md).
//   POST/GET/DELETE /api/v1/session          log in (relayed to the cloud), who am I, log out
//                                                (cloudlet_sessions.h)
//   GET  /api/v1/copies/records/{device_id}/{record_id} (a cloud's node request)  a record's copy
//        for a restore, sealed to that cloud (integrity_http.h); the maintenance thread also
//        polls the cloud's deletion feed and shreds the patients it names
//   GET  /healthz, /readyz, /metrics
//   GET  /, /ui/..., /api/v1/node            the web UI and which node this is (web/web_ui.h)
//   /api/v1/console/...                       the web UI's console devices (device_console.h)
//
// Data folder (created 0700 if missing): readings.db (ReadingStore, encrypted at rest),
// forward.db (ForwardQueue), ids.db (IdsEventLog), keys.db (wrapped data keys, under the KEK),
// cloudlet.db (device registry, ingest ledger, records at rest, dead letters), decisions.db
// (IDS decisions and allowlist, ids/decision_table.h), audit.db
// (audit::AuditLog, unencrypted, its head signed with the node key), console.db (console devices:
// their keys under the KEK's envelope, and what they sent). A maintenance
// thread owned by the service applies options.retention to them (maintenance.h) every
// retention.maintenance_interval, and writes the IDS log's closed aggregates.
//
// WARNING: the operator endpoints return personal data to whoever holds the operator token;
// keep it as secret as the KEK, and serve TLS where the network is not trusted.
// Thread safety: Start/Stop from one thread; the accessors are thread-safe.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "audit/audit_log.h"
#include "cloudlet/cloudlet_sessions.h"
#include "cloudlet/device_console.h"
#include "cloudlet/forwarder.h"
#include "cloudlet/ingest.h"
#include "cloudlet/maintenance.h"
#include "core/clock.h"
#include "core/random.h"
#include "core/secret_bytes.h"
#include "core/status.h"
#include "crypto/envelope.h"
#include "crypto/session_seal.h"
#include "ids/ids_options.h"
#include "net/http_server.h"
#include "net/metrics.h"
#include "node/identity.h"
#include "node/node_config.h"
#include "store/durable_queue.h"
#include "store/forward_queue.h"
#include "store/ids_event_log.h"

namespace medmesh::cloudlet {

struct CloudletOptions {
  std::string listen_address = "127.0.0.1";
  std::uint16_t port = 0;  // 0: any free port (see port())
  std::optional<net::TlsFiles> tls;
  // Handlers run on these threads and block until their upload's group commit is on disk, so
  // this also bounds how many uploads share one commit (ingest.h, step 10): more threads than
  // cores on purpose. bench/ingest_benchmark: 2 threads gave about half the throughput of 16.
  std::size_t io_threads = 16;
  bool access_log = true;
  std::filesystem::path data_dir;
  IngestLimits ingest;
  ForwarderOptions forwarder;  // forwarder.cloud_url empty: no forwarding
  store::QueueOptions forward_queue;
  store::BackpressureLimits backpressure;
  // How long a reading of the queue's backpressure is reused (counting the queue costs a scan).
  std::chrono::milliseconds backpressure_refresh{1000};
  crypto::SessionOpenerOptions sessions;
  std::chrono::milliseconds stop_grace{10000};
  // The SQLite VFS of every database in data_dir (store::SqliteOpenOptions::vfs); empty: the
  // default. Tests only: a testing::FaultySqliteVfs makes the disk fail under the service.
  std::string sqlite_vfs{};
  // What is pruned, and how often the maintenance thread runs (maintenance.h).
  node::RetentionConfig retention;
  // How ids.db aggregates repeated refusals (store/ids_event_log.h).
  store::IdsAggregation ids_aggregation;
  // Session tokens of the cloud (cloudlet_sessions.h): revocation poll interval (0: no poll
  // thread; PollSessionsNow only, for tests) and max staleness. Needs forwarder.cloud_url.
  SessionOptions accounts;
  // The web UI's console devices (device_console.h): upload limits, streams.
  ConsoleOptions console;
  // Local intrusion detection: detector thresholds, decision expiry, throttling (docs/ids.md).
  ids::IdsOptions ids;
  // DEMO ONLY (docs/attack.md): the demo folder; set, the operator console may launch red-team
  // runs against this cloudlet (POST /api/v1/attack/runs). Empty: those routes answer 404.
  std::filesystem::path demo_attacks_deployment;
};

// The secrets the service runs with (moved in).
struct CloudletSecrets {
  node::NodeIdentity identity;  // role cloudlet
  crypto::KeyEncryptionKey kek;
  SecretBytes enrol_token;     // empty: enrolment disabled
  SecretBytes operator_token;  // empty: operator endpoints disabled
};

// Counts kept in memory (loaded at start, updated as things happen): reading them takes no
// store lock and runs no query, except that forward_queue_depth is the backpressure reading,
// recounted at most once per CloudletOptions::backpressure_refresh. GET /api/v1/stats serves
// rejected and ids_events to the operator only.
struct CloudletStats {
  std::string node;
  std::uint64_t batches_stored = 0;
  std::uint64_t readings_stored = 0;
  std::uint64_t records_stored = 0;
  std::uint64_t duplicates = 0;
  std::uint64_t rejected = 0;
  std::uint64_t forward_queue_depth = 0;
  std::uint64_t forwarded = 0;
  std::uint64_t ids_events = 0;
  // The forwarder's view of the cloud (operator answer only); state kUnknown without a cloud.
  CloudLink cloud_link;
};

class CloudletService {
 public:
  // Opens the stores in options.data_dir, binds the listener and starts the forwarder.
  // kFailedPrecondition if the identity is not a cloudlet's valid now; store, server (e.g.
  // kUnavailable for a port in use) and HTTP client errors as they are. `clock` and `random`
  // must outlive the service and be thread-safe.
  static Result<std::unique_ptr<CloudletService>> Start(CloudletOptions options,
                                                        CloudletSecrets secrets, const Clock& clock,
                                                        Random& random);
  // Stop(options.stop_grace) if not stopped yet.
  ~CloudletService();
  CloudletService(const CloudletService&) = delete;
  CloudletService& operator=(const CloudletService&) = delete;

  // Graceful: stops accepting, lets requests in progress finish (up to `grace`), then stops
  // the forwarder after its current round. Idempotent.
  void Stop(std::chrono::milliseconds grace);

  std::uint16_t port() const;
  // The method and pattern of every route served (net::HttpServer::routes()).
  std::vector<std::pair<net::Method, std::string>> routes() const;
  const std::string& node_id() const;
  CloudletStats Stats() const;

  // The pipeline behind POST /api/v1/ingest, for in-process use (benchmarks, tests).
  IngestPipeline& ingest();
  // Runs one forward round now (tests; the background thread runs them anyway).
  Result<ForwardRound> ForwardNow();
  // Runs one maintenance pass now (tests, operators; the maintenance thread runs them anyway).
  Result<MaintenanceReport> MaintainNow();
  // Polls the cloud's revocation list now (tests; the sessions thread polls every
  // options.accounts.poll_interval). kFailedPrecondition without a cloud.
  Status PollSessionsNow();
  // One poll of the cloud's deletion feed now (integrity_http.h), as the maintenance thread
  // does after each pass: patients shredded. kFailedPrecondition without a cloud URL.
  Result<std::size_t> PollDeletionsNow();
  // The forward queue's backpressure now.
  store::Backpressure Pressure() const;
  net::MetricsRegistry& metrics();
  // The node's audit log (docs/audit.md): every route that touches patient data or does an
  // administrative action appends to it.
  audit::AuditLog& audit();

 private:
  struct State;
  explicit CloudletService(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace medmesh::cloudlet

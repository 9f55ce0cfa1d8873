// AccountApi: the cloud's identity routes (issue 8, "Identity"; docs/accounts.md, every route in
// docs/openapi.yaml). It owns the accounts store (accounts.db in the data folder, or the schema
// <prefix>accounts on PostgreSQL), the password hasher and its gate, the token issuer (the
// cloud's node key) and verifier, the AccountService and the request Authenticator that other
// cloud routes use to turn a request into an accounts::Principal.
//
//   POST   /api/v1/accounts/patients                      self-registration (profile + photo)
//   POST   /api/v1/accounts/doctors                       self-registration
//   POST   /api/v1/session                                login: token in JSON + cookies (the
//                                                         Argon2id check on a PasswordPool,
//                                                         never on an I/O thread; queue full:
//                                                         429 "busy" with Retry-After at once)
//   GET    /api/v1/session                                who am I (role, ids, expiry, csrf)
//   DELETE /api/v1/session                                logout (revokes the session)
//   POST   /api/v1/cloudlets/{cloudlet_id}/sessions       a login relayed by that cloudlet
//          (Authorization: MedMesh-Node, wire/node_request.h, signed by the cloudlet itself;
//          401 otherwise, an IDS auth_failure event). Body: e-mail, password and the person's
//          client_address as the cloudlet saw it, which the throttles, IDS events and audit
//          entries use as the source. Answers as POST /api/v1/session (refusals the same) but
//          sets no cookie (the cloudlet sets its own) and adds display_name and e-mail, for
//          the cloudlet's "who am I" (cloudlet_sessions.h).
//   POST   /api/v1/account/password                       change password (revokes all)
//   GET    /api/v1/account/profile                        a patient's own profile (no photo)
//   GET    /api/v1/account/photo                          a patient's own photo
//   GET    /api/v1/admin/registrations                    pending registrations (admin)
//   POST   /api/v1/admin/registrations/{id}/approval      approve (admin)
//   POST   /api/v1/admin/registrations/{id}/rejection     reject with a reason (admin)
//   POST   /api/v1/admin/operators                        create an operator account (admin)
//   GET    /api/v1/sessions/revocations?since=N           revocations, signed by the cloud key
//
// Errors: net::RejectionResponse bodies; refusals of a login or an unapproved account add a
// "reason" member ("invalid_credentials", "locked_out", "busy", "account_pending",
// "account_blocked", "account_throttled", ...).
// Failed authentications (bad, expired, revoked tokens, CSRF missing) are IDS auth_failure
// events; every account action is audited (account_service.h).
// Thread safety: the routes are thread-safe; Open/AddRoutes from one thread.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "accounts/account_service.h"
#include "accounts/authenticator.h"
#include "accounts/password_pool.h"
#include "audit/audit_sink.h"
#include "cloud/three_part.h"
#include "core/clock.h"
#include "core/random.h"
#include "crypto/password.h"
#include "net/metrics.h"
#include "net/router.h"
#include "node/identity.h"
#include "node/node_config.h"
#include "store/ids_event_log.h"

namespace medmesh::cloud {

inline constexpr std::size_t kMaxPhotoBytes = 512 * 1024;

struct AccountApiOptions {
  std::filesystem::path data_dir;  // accounts.db here unless the backend is PostgreSQL
  node::StoreConfig store;
  std::string sqlite_vfs;
  bool secure_cookies = false;  // true when the cloud serves TLS
  crypto::PasswordHasherOptions hasher;
  accounts::AccountServiceOptions service;
  // The threads and queue of login password checks (password_pool.h): a full queue answers 429.
  accounts::PasswordPoolOptions password_pool;
};

// What the API uses and does not own; all must outlive it.
struct AccountApiDeps {
  const node::NodeIdentity& identity;  // the cloud's: signs tokens and revocation pages
  ThreePartStore& records;             // seals patient profiles under their EI keys
  audit::AuditSink& audit;
  store::IdsEventLog& ids;
  const Clock& clock;
  Random& random;
  // Optional. Login IDS events carry account references, and the guard's gate (the cloud's IDS
  // decisions on accounts, ids/account_gate.h) is asked before any Argon2id work: a refused
  // login is 429 "account_blocked" / "account_throttled" with Retry-After, the same answer
  // whether or not an account has that login (accounts/account_service.h).
  const accounts::AccountGuard* account_guard = nullptr;
  // Optional: medmesh_login_password_checks_total (Argon2id checks of logins) is registered here.
  net::MetricsRegistry* metrics = nullptr;
};

class AccountApi {
 public:
  // Opens the accounts store. Store errors as they are.
  static Result<std::unique_ptr<AccountApi>> Open(AccountApiOptions options, AccountApiDeps deps);
  ~AccountApi();
  AccountApi(const AccountApi&) = delete;
  AccountApi& operator=(const AccountApi&) = delete;

  // Adds the routes above to `router`; the routes keep a reference to this object.
  void AddRoutes(net::Router& router);

  accounts::AccountService& service();
  // For the other cloud routes: request -> Principal (authenticator.h).
  const accounts::Authenticator& authenticator() const;
  // The authenticator's Principal for the other cloud routes (clinical_api.h), with the same
  // side effects as this API's own routes: a refused token or CSRF header offered with the
  // request is an IDS auth_failure event; an accepted one marks the peer authenticated.
  Result<accounts::Principal> PrincipalOf(const net::Request& r);
  accounts::AccountStore& store();
  // The login password checks' pool (for tests: fill it to see the 429).
  accounts::PasswordPool& password_pool();

 private:
  struct State;
  explicit AccountApi(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

// An AuditSink that writes each entry's event, action, outcome, role and detail (no ids) to the
// structured log (event "audit"). WARNING: not the
// hash-chained audit log of src/audit and not durable; the cloud uses it only until that log is
// passed in CloudOptions::audit.
std::unique_ptr<audit::AuditSink> NewLogAuditSink();

// Opens the accounts store of a cloud data folder / PostgreSQL config (also for `medmesh admin
// create`).
Result<std::unique_ptr<accounts::AccountStore>> OpenAccountStore(
    const std::filesystem::path& data_dir, const node::StoreConfig& store,
    const std::string& sqlite_vfs = {});

}  // namespace medmesh::cloud

// AccountService: registration, approval, login, logout and password change (issue 8,
// "Identity"; docs/accounts.md). The cloud runs it; cloud/account_api.h puts it on HTTP.
//
// Lifecycle: patients and doctors register themselves (status pending); an admin approves or
// rejects with a reason; only approved accounts can log in (others get a refusal that says
// which state they are in, after their password checked out, so the state is never revealed to
// someone without the password). The first admin is made by CreateAdmin (`medmesh admin
// create`); operators by an admin (CreateOperator).
//
// Login: the per-source throttle, then the IDS's decisions on the login's account reference
// (AccountServiceContext::guard; kAccountBlocked / kAccountThrottled, asked before the account
// is even looked up, so the answer is the same for a login no account has), then the account's
// throttle are checked before any Argon2id work, so a locked key is refused at once
// (kLockedOut with a retry-after). The
// password is checked through the crypto::PasswordHasher gate: when it is busy the attempt is
// refused at once (kBusy, HTTP 429) without counting as a failure. Login() runs in two steps
// that callers may run on different threads: BeginLogin (the throttles and the account
// lookup, no Argon2id work) and FinishLogin (the Argon2id check and the rest); the cloud's
// login route runs FinishLogin on a PasswordPool (password_pool.h), off the HTTP I/O threads,
// and when that pool's queue is full it answers with Busy() at once. A wrong password (or an
// unknown login, which costs the same Argon2id work against a dummy hash) counts one failure
// for the source and, for a known login, one for the account; reaching the policy's count
// locks the key. Every failure is an IDS event (store::IdsEventLog::Record, kind auth_failure,
// lockouts and IDS refusals rate_limited; with a guard, each carries the account reference) and an
// audit entry ("session.login", minor failure) — except refusals of an already locked key or of a
// busy gate, which are IDS events only (they cost no Argon2id work, and a flood of them must not
// cost an audit row each).
//
// Sessions: a login creates a session row (expires with its token, kMaxTokenLifetime) and a
// token signed by the cloud (session_token.h). Logout revokes the session; a password change
// revokes every session of the account; both reach cloudlets through the revocation sequence.
//
// Authorisation: methods that take a Principal check its role (kPermissionDenied); unknown
// account ids are kNotFound "no such registration". Every action appends one audit entry after
// its outcome is known; a failed Append fails the action (a login whose audit failed has its
// new session revoked).
// Registration returns kAlreadyExists for a login that is taken; the HTTP layer
// (cloud/account_api.cc AsIfRegistered) answers it exactly as a new registration, so a
// stranger cannot tell (docs/accounts.md "Taken e-mails").
// Thread safety: thread-safe (the store, hasher, sinks and logs it uses are).
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "accounts/account_reference.h"
#include "accounts/account_store.h"
#include "accounts/principal.h"
#include "accounts/revocation.h"
#include "accounts/session_token.h"
#include "audit/audit_sink.h"
#include "core/clock.h"
#include "core/random.h"
#include "core/status.h"
#include "crypto/password.h"
#include "net/metrics.h"
#include "store/ids_event_log.h"

namespace medmesh::accounts {

inline constexpr std::size_t kMinPasswordBytes = 12;
inline constexpr std::size_t kMaxPasswordBytes = 1024;

struct AccountServiceOptions {
  ThrottlePolicy account_throttle{
      .max_failures = 5, .window_ms = 15 * 60 * 1000, .lockout_ms = 15 * 60 * 1000};
  ThrottlePolicy source_throttle{
      .max_failures = 20, .window_ms = 15 * 60 * 1000, .lockout_ms = 15 * 60 * 1000};
  std::chrono::milliseconds token_lifetime = kMaxTokenLifetime;
  std::size_t max_pending_listed = 500;
};

// Everything the service uses; all must outlive it.
struct AccountServiceContext {
  AccountStore& store;
  const crypto::PasswordHasher& hasher;
  const TokenIssuer& issuer;
  audit::AuditSink& audit;
  store::IdsEventLog& ids;
  const Clock& clock;
  Random& random;
  // Optional. With a guard, every login IDS event carries the login's account reference
  // (account_reference.h), and its gate is asked before any Argon2id work (BeginLogin).
  const AccountGuard* guard = nullptr;
  // Optional: counts the Argon2id checks of logins (FinishLogin), for the node's /metrics.
  net::Counter* password_checks = nullptr;
};

struct Credentials {
  std::string email;
  std::string password;
};

struct PatientRegistration {
  Credentials credentials;
  std::string display_name;
};

struct DoctorRegistration {
  Credentials credentials;
  std::string display_name;
  std::string licence_number;
  std::string speciality;
  std::string hospital;
};

// Seals the new patient's profile under their EI data key, given the fresh patient id.
using ProfileSealer = std::function<Result<Bytes>(const std::string& patient_id)>;

struct IssuedSession {
  std::string token;
  TokenClaims claims;
};

struct LoginRefusal {
  enum class Kind {
    kBadCredentials,  // 401 "invalid_credentials"
    kLockedOut,       // 429, retry_after = until the lock ends
    kBusy,            // 429, the password gate is full; retry_after 1 s
    kPending,         // 403 "account_pending"
    kRejected,        // 403 "account_rejected"
    kDisabled,        // 403 "account_disabled"
    // The node's IDS decided on the login's account reference (AccountGuard::gate), before any
    // Argon2id work and whether or not an account has that login:
    kAccountBlocked,    // 429 "account_blocked", retry_after = until the decision expires
    kAccountThrottled,  // 429 "account_throttled", retry_after = until the next attempt passes
  };
  Kind kind = Kind::kBadCredentials;
  std::chrono::seconds retry_after{0};
};
// "invalid_credentials", "locked_out", "busy", "account_pending", ...
std::string_view LoginRefusalName(LoginRefusal::Kind kind);

using LoginOutcome = std::variant<IssuedSession, LoginRefusal>;

// A login that passed BeginLogin's checks and waits for its Argon2id check (FinishLogin).
// Holds the password: keep it no longer than needed.
struct PendingLogin {
  std::optional<Account> account;  // nullopt: unknown (or malformed) login
  std::string password;
  std::string source;
  std::string account_ref;  // "" without an AccountGuard
};

// Creates an approved admin account (what AccountService::CreateAdmin and `medmesh admin create`
// do; the CLI needs no token issuer or IDS log) and appends its audit entry (actor "system",
// source `source`). Errors as AccountService::RegisterPatient.
Result<Account> CreateAdminAccount(AccountStore& store, const crypto::PasswordHasher& hasher,
                                   audit::AuditSink& audit, const Clock& clock, Random& random,
                                   const Credentials& credentials, std::string_view display_name,
                                   std::string_view source);

class AccountService final : public RevocationChecker {
 public:
  AccountService(AccountServiceContext context, AccountServiceOptions options = {});

  // Self-registration (status pending). kInvalidArgument for a bad e-mail, a password outside
  // kMinPasswordBytes..kMaxPasswordBytes, or a field too long / empty; kAlreadyExists if the
  // login is taken; kResourceExhausted if the password gate is busy. `seal_profile` may be
  // empty (no profile).
  Result<Account> RegisterPatient(const PatientRegistration& registration,
                                  const ProfileSealer& seal_profile, std::string_view source);
  Result<Account> RegisterDoctor(const DoctorRegistration& registration, std::string_view source);
  // An approved admin (for `medmesh admin create`). Errors as RegisterPatient.
  Result<Account> CreateAdmin(const Credentials& credentials, std::string_view display_name);
  // An approved operator of `cloudlet_id`, made by an admin.
  Result<Account> CreateOperator(const Principal& admin, const Credentials& credentials,
                                 std::string_view display_name, std::string_view cloudlet_id,
                                 std::string_view source);

  // Pending registrations, oldest first (admins only).
  Result<std::vector<Account>> ListPending(const Principal& admin, std::string_view source);
  // Admins only. kNotFound for an unknown account; kFailedPrecondition if it is not pending.
  // A rejection needs a reason (1..kMaxReasonBytes, stored verbatim).
  Status Approve(const Principal& admin, std::string_view account_id, std::string_view source);
  Status Reject(const Principal& admin, std::string_view account_id, std::string_view reason,
                std::string_view source);

  // See the top of this file. Errors are store, hasher or audit failures only.
  // Login = BeginLogin, then FinishLogin if it returned a PendingLogin.
  Result<LoginOutcome> Login(const Credentials& credentials, std::string_view source);
  // The checks before any Argon2id work: a locked source or account is refused here (an
  // outcome); otherwise the PendingLogin to finish. Errors: store failures.
  Result<std::variant<LoginOutcome, PendingLogin>> BeginLogin(const Credentials& credentials,
                                                              std::string_view source);
  // The Argon2id check and what follows it (failure counting, session, audit).
  Result<LoginOutcome> FinishLogin(const PendingLogin& pending);
  // The refusal of a login that could not be given Argon2id work (the caller's queue is full):
  // kBusy with a retry-after of 1 s, recorded as an IDS rate_limited event (no audit entry,
  // no failure counted).
  LoginOutcome Busy(std::string_view source);
  // Revokes the principal's session.
  Status Logout(const Principal& principal, std::string_view source);
  // Checks the current password (a wrong one counts as a login failure: kUnauthenticated),
  // stores the new one and revokes every session of the account (the caller logs in again).
  Status ChangePassword(const Principal& principal, std::string_view current_password,
                        std::string_view new_password, std::string_view source);

  // Closes the principal's own approved account after their data was deleted
  // (POST /api/v1/integrity/deletion): approved -> disabled with `reason`, every session of it
  // revoked in the same transaction, so the login answers 403 account_disabled from then on.
  // kFailedPrecondition if the account is not approved (closed already); audited
  // (account.close).
  Status CloseOwnAccount(const Principal& principal, std::string_view reason,
                         std::string_view source);

  // The principal's own account. kNotFound if it is gone.
  Result<Account> Me(const Principal& principal) const;

  // True for a revoked or unknown session (the cloud's authoritative answer).
  Result<bool> IsRevoked(std::string_view session_id) const override;

  // Revocations since `since` (at most kMaxRevocationsPerPage), signed-page content.
  Result<SignedRevocationPage> Revocations(std::uint64_t since) const;

 private:
  Result<Account> Create(Account account, std::string_view password);
  Status Audit(std::string_view event, audit::Action action, audit::Outcome outcome,
               const Principal* actor, std::string_view source, std::string_view entity_id,
               std::string_view patient_id = {}, std::string_view detail = {},
               std::string_view purpose = {});
  void Ids(store::IdsEventKind kind, std::string_view source, std::string detail,
           std::string account_ref = {});
  // The login's account reference ("" without a guard).
  std::string ReferenceOf(std::string_view login) const;
  // Refusal if `key` is locked now.
  Result<std::optional<LoginRefusal>> Locked(const std::string& key, std::int64_t now_ms);
  Status AdminOnly(const Principal& principal) const;
  Result<LoginRefusal> CountFailure(const std::optional<Account>& account, std::string_view source,
                                    const std::string& account_ref, std::int64_t now_ms);

  // The hash unknown logins are checked against, so they cost the same Argon2id work as known
  // ones; made on first use (through the gate).
  Result<std::string> DummyHash();

  AccountServiceContext c_;
  AccountServiceOptions options_;
  std::mutex dummy_mu_;
  std::string dummy_hash_;  // guarded by dummy_mu_; empty until made
};

}  // namespace medmesh::accounts

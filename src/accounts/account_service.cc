#include "accounts/account_service.h"

#include <algorithm>
#include <utility>

#include "accounts/encoding.h"
#include "core/log.h"
#include "wire/model.h"

namespace medmesh::accounts {
namespace {

constexpr std::size_t kCsrfBytes = 16;

Status CheckPassword(std::string_view password) {
  if (password.size() < kMinPasswordBytes || password.size() > kMaxPasswordBytes) {
    return InvalidArgument("password must be 12 to 1024 bytes");
  }
  return OkStatus();
}

Status CheckText(std::string_view field, std::string_view value, bool required) {
  if (required && value.empty()) return InvalidArgument(std::string(field) + " is required");
  if (value.size() > kMaxAccountTextBytes) {
    return InvalidArgument(std::string(field) + " is longer than 200 bytes");
  }
  for (const char ch : value) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f) {
      return InvalidArgument(std::string(field) + " must not hold control characters");
    }
  }
  return OkStatus();
}

std::string SourceKey(std::string_view source) { return "source:" + std::string(source); }
std::string AccountKey(std::string_view account_id) { return "account:" + std::string(account_id); }

std::chrono::seconds SecondsUntil(std::int64_t until_ms, std::int64_t now_ms) {
  return std::chrono::seconds(std::max<std::int64_t>(1, (until_ms - now_ms + 999) / 1000));
}

}  // namespace

std::string_view LoginRefusalName(LoginRefusal::Kind kind) {
  switch (kind) {
    case LoginRefusal::Kind::kBadCredentials: return "invalid_credentials";
    case LoginRefusal::Kind::kLockedOut: return "locked_out";
    case LoginRefusal::Kind::kBusy: return "busy";
    case LoginRefusal::Kind::kPending: return "account_pending";
    case LoginRefusal::Kind::kRejected: return "account_rejected";
    case LoginRefusal::Kind::kDisabled: return "account_disabled";
    case LoginRefusal::Kind::kAccountBlocked: return "account_blocked";
    case LoginRefusal::Kind::kAccountThrottled: return "account_throttled";
  }
  return "invalid_credentials";  // unreachable: every enumerator is handled above
}

AccountService::AccountService(AccountServiceContext context, AccountServiceOptions options)
    : c_(context), options_(options) {}

Status AccountService::Audit(std::string_view event, audit::Action action, audit::Outcome outcome,
                             const Principal* actor, std::string_view source,
                             std::string_view entity_id, std::string_view patient_id,
                             std::string_view detail, std::string_view purpose) {
  audit::AuditEntry e;
  e.time_ms = wire::NowMs(c_.clock);
  e.event = std::string(event);
  e.action = action;
  e.outcome = outcome;
  if (actor != nullptr) {
    e.actor_account_id = actor->account_id;
    e.actor_role = std::string(RoleName(actor->role));
  } else {
    e.actor_role = "anonymous";
  }
  e.source_address = std::string(source);
  e.patient_id = std::string(patient_id);
  e.entity_type = "Account";
  e.entity_id = std::string(entity_id);
  e.purpose = std::string(purpose);
  e.detail = std::string(detail);
  return c_.audit.Append(e);
}

void AccountService::Ids(store::IdsEventKind kind, std::string_view source, std::string detail,
                         std::string account_ref) {
  store::IdsEvent event;
  event.time_ms = wire::NowMs(c_.clock);
  event.node = c_.issuer.issuer();
  event.source_ip = std::string(source);
  event.kind = kind;
  event.detail = std::move(detail);
  event.account_ref = std::move(account_ref);
  if (auto recorded = c_.ids.Record(event); !recorded) {
    log::Warn("ids_record_failed", {{"error", recorded.error().ToString()}});
  }
}

std::string AccountService::ReferenceOf(std::string_view login) const {
  return c_.guard != nullptr ? AccountReference(c_.guard->reference_key, login) : std::string();
}

Status AccountService::AdminOnly(const Principal& principal) const {
  if (!principal.is(Role::kAdmin)) return PermissionDenied("only an admin may do this");
  return OkStatus();
}

namespace {

// Validates, hashes and stores a new account (id and times filled in here).
Result<Account> CreateWithPassword(AccountStore& store, const crypto::PasswordHasher& hasher,
                                   const Clock& clock, Random& random, Account account,
                                   std::string_view password) {
  MEDMESH_RETURN_IF_ERROR(CheckPassword(password));
  MEDMESH_RETURN_IF_ERROR(CheckText("display_name", account.display_name, true));
  MEDMESH_ASSIGN_OR_RETURN(account.login, NormaliseLogin(account.login));
  // Hashing is the expensive part: refuse a taken login before it (the store checks again).
  MEDMESH_ASSIGN_OR_RETURN(const auto existing, store.FindByLogin(account.login));
  if (existing) return AlreadyExists("an account with this e-mail already exists");
  MEDMESH_ASSIGN_OR_RETURN(account.password_hash, hasher.Hash(password));
  account.account_id = NewId("acc_", random);
  account.created_ms = wire::NowMs(clock);
  account.status_changed_ms = account.created_ms;
  MEDMESH_RETURN_IF_ERROR(store.CreateAccount(account));
  return account;
}

}  // namespace

Result<Account> CreateAdminAccount(AccountStore& store, const crypto::PasswordHasher& hasher,
                                   audit::AuditSink& audit, const Clock& clock, Random& random,
                                   const Credentials& credentials, std::string_view display_name,
                                   std::string_view source) {
  Account a;
  a.role = Role::kAdmin;
  a.status = AccountStatus::kApproved;
  a.login = credentials.email;
  a.display_name = std::string(display_name);
  MEDMESH_ASSIGN_OR_RETURN(Account created, CreateWithPassword(store, hasher, clock, random,
                                                               std::move(a), credentials.password));
  audit::AuditEntry e;
  e.time_ms = wire::NowMs(clock);
  e.event = "account.create_admin";
  e.action = audit::Action::kCreate;
  e.actor_role = "system";
  e.source_address = std::string(source);
  e.entity_type = "Account";
  e.entity_id = created.account_id;
  e.detail = "admin";
  MEDMESH_RETURN_IF_ERROR(audit.Append(e));
  return created;
}

Result<Account> AccountService::Create(Account account, std::string_view password) {
  return CreateWithPassword(c_.store, c_.hasher, c_.clock, c_.random, std::move(account), password);
}

Result<Account> AccountService::RegisterPatient(const PatientRegistration& r,
                                                const ProfileSealer& seal_profile,
                                                std::string_view source) {
  Account a;
  a.role = Role::kPatient;
  a.status = AccountStatus::kPending;
  a.login = r.credentials.email;
  a.display_name = r.display_name;
  a.patient_id = NewId("pat_", c_.random);
  if (seal_profile) {
    MEDMESH_ASSIGN_OR_RETURN(a.sealed_profile, seal_profile(a.patient_id));
  }
  MEDMESH_ASSIGN_OR_RETURN(Account created, Create(std::move(a), r.credentials.password));
  MEDMESH_RETURN_IF_ERROR(Audit("account.register", audit::Action::kCreate,
                                audit::Outcome::kSuccess, nullptr, source, created.account_id,
                                created.patient_id, "patient"));
  return created;
}

Result<Account> AccountService::RegisterDoctor(const DoctorRegistration& r,
                                               std::string_view source) {
  MEDMESH_RETURN_IF_ERROR(CheckText("licence_number", r.licence_number, true));
  MEDMESH_RETURN_IF_ERROR(CheckText("speciality", r.speciality, true));
  MEDMESH_RETURN_IF_ERROR(CheckText("hospital", r.hospital, true));
  Account a;
  a.role = Role::kDoctor;
  a.status = AccountStatus::kPending;
  a.login = r.credentials.email;
  a.display_name = r.display_name;
  a.licence_number = r.licence_number;
  a.speciality = r.speciality;
  a.hospital = r.hospital;
  MEDMESH_ASSIGN_OR_RETURN(Account created, Create(std::move(a), r.credentials.password));
  MEDMESH_RETURN_IF_ERROR(Audit("account.register", audit::Action::kCreate,
                                audit::Outcome::kSuccess, nullptr, source, created.account_id, {},
                                "doctor"));
  return created;
}

Result<Account> AccountService::CreateAdmin(const Credentials& credentials,
                                            std::string_view display_name) {
  return CreateAdminAccount(c_.store, c_.hasher, c_.audit, c_.clock, c_.random, credentials,
                            display_name, "local");
}

Result<Account> AccountService::CreateOperator(const Principal& admin,
                                               const Credentials& credentials,
                                               std::string_view display_name,
                                               std::string_view cloudlet_id,
                                               std::string_view source) {
  MEDMESH_RETURN_IF_ERROR(AdminOnly(admin));
  MEDMESH_RETURN_IF_ERROR(CheckText("cloudlet_id", cloudlet_id, true));
  if (!wire::IsValidId(cloudlet_id)) return InvalidArgument("cloudlet_id is not a valid id");
  Account a;
  a.role = Role::kOperator;
  a.status = AccountStatus::kApproved;
  a.login = credentials.email;
  a.display_name = std::string(display_name);
  a.cloudlet_id = std::string(cloudlet_id);
  MEDMESH_ASSIGN_OR_RETURN(Account created, Create(std::move(a), credentials.password));
  MEDMESH_RETURN_IF_ERROR(Audit("account.create_operator", audit::Action::kCreate,
                                audit::Outcome::kSuccess, &admin, source, created.account_id, {},
                                "operator"));
  return created;
}

Result<std::vector<Account>> AccountService::ListPending(const Principal& admin,
                                                         std::string_view source) {
  if (auto denied = AdminOnly(admin); !denied) {
    MEDMESH_RETURN_IF_ERROR(Audit("account.list_pending", audit::Action::kRead,
                                  audit::Outcome::kMinorFailure, &admin, source, {}, {},
                                  "permission_denied"));
    return denied.error();
  }
  MEDMESH_ASSIGN_OR_RETURN(
      auto pending, c_.store.ListByStatus(AccountStatus::kPending, options_.max_pending_listed));
  MEDMESH_RETURN_IF_ERROR(Audit("account.list_pending", audit::Action::kRead,
                                audit::Outcome::kSuccess, &admin, source, {}, {},
                                std::to_string(pending.size()) + " accounts"));
  return pending;
}

Status AccountService::Approve(const Principal& admin, std::string_view account_id,
                               std::string_view source) {
  Status result = AdminOnly(admin);
  std::string patient_id;
  // An id that cannot be an account's is unknown without asking the store (PostgreSQL refuses
  // text that is not UTF-8 as an error, which would be a 500).
  if (result && !IsIdWithPrefix(account_id, "acc_")) result = NotFound("no such registration");
  if (result) {
    auto account = c_.store.GetAccount(account_id);
    if (!account) return account.error();
    if (!*account) {
      result = NotFound("no such registration");
    } else {
      patient_id = (*account)->patient_id;
      result = c_.store.ChangeStatus(account_id, AccountStatus::kPending, AccountStatus::kApproved,
                                     "", wire::NowMs(c_.clock));
      if (!result && result.error().code() == ErrorCode::kFailedPrecondition) {
        result = FailedPrecondition("the registration is not pending");
      }
    }
  }
  MEDMESH_RETURN_IF_ERROR(Audit("account.approve", audit::Action::kUpdate,
                                result ? audit::Outcome::kSuccess : audit::Outcome::kMinorFailure,
                                &admin, source, account_id, patient_id,
                                result ? "" : ErrorCodeName(result.error().code())));
  return result;
}

Status AccountService::CloseOwnAccount(const Principal& principal, std::string_view reason,
                                       std::string_view source) {
  Status result = c_.store.ChangeStatus(principal.account_id, AccountStatus::kApproved,
                                        AccountStatus::kDisabled, reason, wire::NowMs(c_.clock));
  MEDMESH_RETURN_IF_ERROR(
      Audit("account.close", audit::Action::kUpdate,
            result ? audit::Outcome::kSuccess : audit::Outcome::kMinorFailure, &principal, source,
            principal.account_id, principal.patient_id,
            result ? std::string(reason) : std::string(ErrorCodeName(result.error().code()))));
  return result;
}

Status AccountService::Reject(const Principal& admin, std::string_view account_id,
                              std::string_view reason, std::string_view source) {
  Status result = AdminOnly(admin);
  if (result && (reason.empty() || reason.size() > kMaxReasonBytes)) {
    result = InvalidArgument("reason must be 1 to 1000 bytes");
  }
  std::string patient_id;
  if (result && !IsIdWithPrefix(account_id, "acc_")) result = NotFound("no such registration");
  if (result) {
    auto account = c_.store.GetAccount(account_id);
    if (!account) return account.error();
    if (!*account) {
      result = NotFound("no such registration");
    } else {
      patient_id = (*account)->patient_id;
      result = c_.store.ChangeStatus(account_id, AccountStatus::kPending, AccountStatus::kRejected,
                                     reason, wire::NowMs(c_.clock));
      if (!result && result.error().code() == ErrorCode::kFailedPrecondition) {
        result = FailedPrecondition("the registration is not pending");
      }
    }
  }
  // The reason is the admin's recorded purpose: who was refused, and why.
  MEDMESH_RETURN_IF_ERROR(Audit("account.reject", audit::Action::kUpdate,
                                result ? audit::Outcome::kSuccess : audit::Outcome::kMinorFailure,
                                &admin, source, account_id, patient_id,
                                result ? "" : ErrorCodeName(result.error().code()),
                                result ? reason : std::string_view()));
  return result;
}

Result<std::string> AccountService::DummyHash() {
  std::lock_guard lock(dummy_mu_);
  if (dummy_hash_.empty()) {
    const Bytes random_password = c_.random.Generate(24);
    MEDMESH_ASSIGN_OR_RETURN(dummy_hash_, c_.hasher.Hash(Base64UrlEncode(random_password)));
  }
  return dummy_hash_;
}

Result<std::optional<LoginRefusal>> AccountService::Locked(const std::string& key,
                                                           std::int64_t now_ms) {
  MEDMESH_ASSIGN_OR_RETURN(const ThrottleState state, c_.store.GetThrottle(key));
  if (state.locked_until_ms > now_ms) {
    return std::optional<LoginRefusal>(
        LoginRefusal{LoginRefusal::Kind::kLockedOut, SecondsUntil(state.locked_until_ms, now_ms)});
  }
  return std::optional<LoginRefusal>();
}

Result<LoginRefusal> AccountService::CountFailure(const std::optional<Account>& account,
                                                  std::string_view source,
                                                  const std::string& account_ref,
                                                  std::int64_t now_ms) {
  MEDMESH_ASSIGN_OR_RETURN(
      const ThrottleState by_source,
      c_.store.AddLoginFailure(SourceKey(source), now_ms, options_.source_throttle));
  std::int64_t locked_until = by_source.locked_until_ms > now_ms ? by_source.locked_until_ms : 0;
  if (account) {
    MEDMESH_ASSIGN_OR_RETURN(const ThrottleState by_account,
                             c_.store.AddLoginFailure(AccountKey(account->account_id), now_ms,
                                                      options_.account_throttle));
    if (by_account.locked_until_ms > now_ms) {
      locked_until = std::max(locked_until, by_account.locked_until_ms);
    }
  }
  Ids(store::IdsEventKind::kAuthFailure, source,
      account ? "login failed: wrong password" : "login failed: unknown login", account_ref);
  MEDMESH_RETURN_IF_ERROR(
      Audit("session.login", audit::Action::kExecute, audit::Outcome::kMinorFailure, nullptr,
            source, account ? std::string_view(account->account_id) : "",
            account ? std::string_view(account->patient_id) : "",
            locked_until > 0 ? "invalid_credentials; now locked_out" : "invalid_credentials"));
  if (locked_until > 0) {
    Ids(store::IdsEventKind::kRateLimited, source, "login locked after repeated failures",
        account_ref);
  }
  // The attempt that reached the limit is still told only that it failed; the next is locked.
  return LoginRefusal{LoginRefusal::Kind::kBadCredentials, std::chrono::seconds(0)};
}

Result<LoginOutcome> AccountService::Login(const Credentials& credentials,
                                           std::string_view source) {
  MEDMESH_ASSIGN_OR_RETURN(auto begun, BeginLogin(credentials, source));
  if (auto* outcome = std::get_if<LoginOutcome>(&begun)) return std::move(*outcome);
  return FinishLogin(std::get<PendingLogin>(begun));
}

LoginOutcome AccountService::Busy(std::string_view source) {
  Ids(store::IdsEventKind::kRateLimited, source, "login refused: password gate busy");
  return LoginOutcome(LoginRefusal{LoginRefusal::Kind::kBusy, std::chrono::seconds(1)});
}

Result<std::variant<LoginOutcome, PendingLogin>> AccountService::BeginLogin(
    const Credentials& credentials, std::string_view source) {
  using Begun = std::variant<LoginOutcome, PendingLogin>;
  const std::int64_t now_ms = wire::NowMs(c_.clock);
  const std::string account_ref = ReferenceOf(credentials.email);
  MEDMESH_ASSIGN_OR_RETURN(auto source_locked, Locked(SourceKey(source), now_ms));
  if (source_locked) {
    Ids(store::IdsEventKind::kRateLimited, source, "login refused: source locked out", account_ref);
    return Begun(LoginOutcome(*source_locked));
  }
  // The IDS's decisions on the account reference: before the account is looked up, so a login
  // no account has gets the same answer.
  if (c_.guard != nullptr && c_.guard->gate) {
    const AccountVerdict verdict = c_.guard->gate(account_ref);
    if (verdict.kind != AccountVerdict::Kind::kPass) {
      const bool blocked = verdict.kind == AccountVerdict::Kind::kBlocked;
      Ids(store::IdsEventKind::kRateLimited, source,
          std::string("login refused: account ") + (blocked ? "blocked" : "throttled") +
              " by IDS decision " + verdict.decision_id,
          account_ref);
      return Begun(LoginOutcome(LoginRefusal{
          blocked ? LoginRefusal::Kind::kAccountBlocked : LoginRefusal::Kind::kAccountThrottled,
          std::max(verdict.retry_after, std::chrono::seconds(1))}));
    }
  }
  // A malformed e-mail is an unknown login: same work, same answer.
  auto login = NormaliseLogin(credentials.email);
  PendingLogin pending;
  pending.account_ref = account_ref;
  if (login) {
    MEDMESH_ASSIGN_OR_RETURN(pending.account, c_.store.FindByLogin(*login));
  }
  if (pending.account) {
    MEDMESH_ASSIGN_OR_RETURN(auto account_locked,
                             Locked(AccountKey(pending.account->account_id), now_ms));
    if (account_locked) {
      Ids(store::IdsEventKind::kRateLimited, source, "login refused: account locked out",
          account_ref);
      return Begun(LoginOutcome(*account_locked));
    }
  }
  pending.password = credentials.password;
  pending.source = std::string(source);
  return Begun(std::move(pending));
}

Result<LoginOutcome> AccountService::FinishLogin(const PendingLogin& pending) {
  const std::optional<Account>& account = pending.account;
  const std::string_view source = pending.source;
  std::string hash;
  if (account) {
    hash = account->password_hash;
  } else {
    auto dummy = DummyHash();
    if (!dummy && dummy.error().code() == ErrorCode::kResourceExhausted) return Busy(source);
    if (!dummy) return dummy.error();
    hash = *dummy;
  }
  const Status verified = c_.hasher.Verify(hash, pending.password);
  if (!verified && verified.error().code() == ErrorCode::kResourceExhausted) return Busy(source);
  if (c_.password_checks != nullptr) c_.password_checks->Increment();
  // After the Argon2id work (and any wait for a thread to do it).
  const std::int64_t now_ms = wire::NowMs(c_.clock);
  if (!verified || !account) {
    MEDMESH_ASSIGN_OR_RETURN(LoginRefusal refusal,
                             CountFailure(account, source, pending.account_ref, now_ms));
    return LoginOutcome(refusal);
  }
  MEDMESH_RETURN_IF_ERROR(c_.store.ClearThrottle(AccountKey(account->account_id)));
  if (account->status != AccountStatus::kApproved) {
    LoginRefusal refusal;
    refusal.kind = account->status == AccountStatus::kPending    ? LoginRefusal::Kind::kPending
                   : account->status == AccountStatus::kRejected ? LoginRefusal::Kind::kRejected
                                                                 : LoginRefusal::Kind::kDisabled;
    MEDMESH_RETURN_IF_ERROR(
        Audit("session.login", audit::Action::kExecute, audit::Outcome::kMinorFailure, nullptr,
              source, account->account_id, account->patient_id, LoginRefusalName(refusal.kind)));
    return LoginOutcome(refusal);
  }
  TokenClaims claims;
  claims.session_id = NewId("ses_", c_.random);
  claims.account_id = account->account_id;
  claims.role = account->role;
  claims.patient_id = account->patient_id;
  claims.cloudlet_id = account->cloudlet_id;
  claims.issued_ms = now_ms;
  claims.expires_ms = now_ms + options_.token_lifetime.count();
  claims.csrf = Base64UrlEncode(c_.random.Generate(kCsrfBytes));
  MEDMESH_ASSIGN_OR_RETURN(std::string token, c_.issuer.Issue(claims));
  claims.issuer = c_.issuer.issuer();
  MEDMESH_RETURN_IF_ERROR(c_.store.CreateSession(
      {claims.session_id, account->account_id, now_ms, claims.expires_ms, 0}));
  const Principal principal = claims.ToPrincipal(false);
  if (Status audited = Audit("session.login", audit::Action::kExecute, audit::Outcome::kSuccess,
                             &principal, source, account->account_id, account->patient_id);
      !audited) {
    // An unaudited session must not be usable.
    (void)c_.store.RevokeSession(claims.session_id, now_ms);
    return audited.error();
  }
  return LoginOutcome(IssuedSession{std::move(token), std::move(claims)});
}

Status AccountService::Logout(const Principal& principal, std::string_view source) {
  auto revoked = c_.store.RevokeSession(principal.session_id, wire::NowMs(c_.clock));
  if (!revoked && revoked.error().code() != ErrorCode::kNotFound) return revoked.error();
  return Audit("session.logout", audit::Action::kExecute, audit::Outcome::kSuccess, &principal,
               source, principal.account_id, principal.patient_id);
}

Status AccountService::ChangePassword(const Principal& principal, std::string_view current_password,
                                      std::string_view new_password, std::string_view source) {
  MEDMESH_RETURN_IF_ERROR(CheckPassword(new_password));
  const std::int64_t now_ms = wire::NowMs(c_.clock);
  MEDMESH_ASSIGN_OR_RETURN(auto account, c_.store.GetAccount(principal.account_id));
  if (!account) return Unauthenticated("session ended: log in again");
  MEDMESH_ASSIGN_OR_RETURN(auto locked, Locked(AccountKey(account->account_id), now_ms));
  if (locked) return ResourceExhausted("too many failed attempts: try again later");
  if (Status ok = c_.hasher.Verify(account->password_hash, current_password); !ok) {
    if (ok.error().code() == ErrorCode::kResourceExhausted) return ok.error();
    if (auto counted = c_.store.AddLoginFailure(AccountKey(account->account_id), now_ms,
                                                options_.account_throttle);
        !counted) {
      return counted.error();
    }
    Ids(store::IdsEventKind::kAuthFailure, source, "password change: wrong current password",
        ReferenceOf(account->login));
    MEDMESH_RETURN_IF_ERROR(Audit(
        "account.password_change", audit::Action::kUpdate, audit::Outcome::kMinorFailure,
        &principal, source, principal.account_id, principal.patient_id, "invalid_credentials"));
    return Unauthenticated("the current password is wrong");
  }
  MEDMESH_ASSIGN_OR_RETURN(const std::string hash, c_.hasher.Hash(new_password));
  MEDMESH_ASSIGN_OR_RETURN(const std::uint64_t revoked,
                           c_.store.ChangePassword(principal.account_id, hash, now_ms));
  return Audit("account.password_change", audit::Action::kUpdate, audit::Outcome::kSuccess,
               &principal, source, principal.account_id, principal.patient_id,
               std::to_string(revoked) + " sessions revoked");
}

Result<Account> AccountService::Me(const Principal& principal) const {
  MEDMESH_ASSIGN_OR_RETURN(auto account, c_.store.GetAccount(principal.account_id));
  if (!account) return NotFound("no such account");
  return std::move(*account);
}

Result<bool> AccountService::IsRevoked(std::string_view session_id) const {
  MEDMESH_ASSIGN_OR_RETURN(const auto session, c_.store.GetSession(session_id));
  return !session || session->revoked_ms != 0;
}

Result<SignedRevocationPage> AccountService::Revocations(std::uint64_t since) const {
  MEDMESH_ASSIGN_OR_RETURN(RevocationPage page,
                           c_.store.RevocationsSince(since, kMaxRevocationsPerPage));
  return SignedRevocationPage{since, page.head, wire::NowMs(c_.clock), std::move(page.revocations)};
}

}  // namespace medmesh::accounts

// AccountStore: the cloud's accounts, sessions, the revocation sequence and the login-failure
// state (issue 8, "Identity"). SQLite (sqlite_account_store.h, file accounts.db in the cloud's
// data folder) is the embedded default; PostgreSQL (postgres_account_store.h, schema
// <prefix>accounts) the scale-out backend, chosen by the same config as the record store.
//
//   accounts     id, role, status (pending / approved / rejected / disabled) with the reason
//                and time of the last change, login (normalised e-mail, unique), Argon2id
//                hash, the role's profile (doctor: licence number, speciality, hospital;
//                operator: cloudlet id; patient: patient id and the patient's profile sealed
//                under the EI data key, see cloud/three_part.h SealPatientProfile)
//   sessions     id, account, created, expires, revoked (0 = live)
//   revocations  seq (1, 2, 3, ... with no gap and in commit order on both backends, so a
//                poller that saw everything up to N and asks for "> N" misses nothing),
//                session id, the session's expiry
//   login_throttle  key ("account:<id>" or "source:<ip>") -> failures in the current window,
//                window start, locked-until
//
// The store holds what the service hands it and never checks passwords or policy: that is
// AccountService's job. Free text (names, reasons, profile fields) is stored verbatim through
// bound parameters.
// Errors: kAlreadyExists for a second account with the same login (or id); kNotFound for an
// unknown account or session where the method says so; kFailedPrecondition for a status change
// from a state other than the expected one; kUnavailable when the database is busy or
// unreachable; kResourceExhausted, kDataLoss, kInternal as store/sqlite_database.h and
// store/postgres/postgres_connection.h map them. Messages never carry values.
// Thread safety: implementations are thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "accounts/principal.h"
#include "core/bytes.h"
#include "core/status.h"

namespace medmesh::accounts {

enum class AccountStatus : std::uint8_t { kPending, kApproved, kRejected, kDisabled };
// "pending", "approved", "rejected", "disabled".
std::string_view AccountStatusName(AccountStatus status);
std::optional<AccountStatus> ParseAccountStatus(std::string_view name);

struct Account {
  std::string account_id;  // "acc_..."
  Role role = Role::kPatient;
  AccountStatus status = AccountStatus::kPending;
  std::string status_reason;  // why it was rejected / disabled ("" otherwise)
  std::string login;          // normalised e-mail (encoding.h NormaliseLogin)
  std::string password_hash;  // Argon2id PHC string
  std::string display_name;
  std::string patient_id;      // patients
  std::string cloudlet_id;     // operators
  std::string licence_number;  // doctors
  std::string speciality;      // doctors
  std::string hospital;        // doctors
  Bytes sealed_profile;        // patients: profile + photo under the EI data key (may be empty)
  std::int64_t created_ms = 0;
  std::int64_t status_changed_ms = 0;
  bool operator==(const Account&) const = default;
};

struct SessionRow {
  std::string session_id;  // "ses_..."
  std::string account_id;
  std::int64_t created_ms = 0;
  std::int64_t expires_ms = 0;
  std::int64_t revoked_ms = 0;  // 0: not revoked
  bool operator==(const SessionRow&) const = default;
};

struct Revocation {
  std::uint64_t seq = 0;
  std::string session_id;
  std::int64_t expires_ms = 0;  // after this the token is dead anyway
  bool operator==(const Revocation&) const = default;
};

// A page of the revocation sequence. `head` is read first and every revocation up to it has
// committed, so a poller that got fewer than `limit` rows has seen everything up to `head` and
// asks next for "> head"; after a full page it asks for "> the last seq".
struct RevocationPage {
  std::vector<Revocation> revocations;  // since < seq <= head, ascending
  std::uint64_t head = 0;
};

struct ThrottleState {
  std::uint32_t failures = 0;  // in the window that started at window_start_ms
  std::int64_t window_start_ms = 0;
  std::int64_t locked_until_ms = 0;  // 0: not locked
  bool operator==(const ThrottleState&) const = default;
};

// When failed logins lock a key (AccountService holds one policy per key kind).
struct ThrottlePolicy {
  std::uint32_t max_failures = 5;
  std::int64_t window_ms = 15 * 60 * 1000;
  std::int64_t lockout_ms = 15 * 60 * 1000;
};

class AccountStore {
 public:
  virtual ~AccountStore() = default;

  // kAlreadyExists if the id or the login is taken (no row written).
  [[nodiscard]] virtual Status CreateAccount(const Account& account) = 0;
  // Removes an account that has no sessions yet (a registration whose second step failed).
  // kNotFound if absent.
  [[nodiscard]] virtual Status DeleteAccount(std::string_view account_id) = 0;
  [[nodiscard]] virtual Result<std::optional<Account>> GetAccount(
      std::string_view account_id) const = 0;
  [[nodiscard]] virtual Result<std::optional<Account>> FindByLogin(
      std::string_view login) const = 0;
  // Accounts with `status`, oldest first, at most `limit`.
  [[nodiscard]] virtual Result<std::vector<Account>> ListByStatus(AccountStatus status,
                                                                  std::size_t limit) const = 0;
  // Accounts of `role` with account_id > `after` (keyset paging), ordered by account_id, at most
  // `limit` (1..kMaxAccountsListed; kInvalidArgument otherwise). For directories and admin
  // views: password_hash and sealed_profile are left empty (never read).
  [[nodiscard]] virtual Result<std::vector<Account>> ListByRole(Role role, std::string_view after,
                                                                std::size_t limit) const = 0;
  // Moves the account from `from` to `to` with `reason`, in one transaction; moving away from
  // approved revokes every live session of the account (each gets a revocation seq).
  // kNotFound for an unknown account; kFailedPrecondition if its status is not `from`.
  [[nodiscard]] virtual Status ChangeStatus(std::string_view account_id, AccountStatus from,
                                            AccountStatus to, std::string_view reason,
                                            std::int64_t now_ms) = 0;
  // Stores a new password hash and revokes every live session of the account, in one
  // transaction; returns how many sessions were revoked. kNotFound for an unknown account.
  [[nodiscard]] virtual Result<std::uint64_t> ChangePassword(std::string_view account_id,
                                                             std::string_view password_hash,
                                                             std::int64_t now_ms) = 0;

  // kAlreadyExists for a taken session id; kNotFound if the account does not exist.
  [[nodiscard]] virtual Status CreateSession(const SessionRow& session) = 0;
  [[nodiscard]] virtual Result<std::optional<SessionRow>> GetSession(
      std::string_view session_id) const = 0;
  // Revokes a live session (giving it the next revocation seq). False if it was already
  // revoked; kNotFound for an unknown session.
  [[nodiscard]] virtual Result<bool> RevokeSession(std::string_view session_id,
                                                   std::int64_t now_ms) = 0;
  // Revocations with seq > `since`, ascending, at most `limit`.
  [[nodiscard]] virtual Result<RevocationPage> RevocationsSince(std::uint64_t since,
                                                                std::size_t limit) const = 0;
  // Deletes sessions and revocations whose expiry is before `before_ms` (their tokens are dead
  // anyway). Returns the number of rows removed.
  [[nodiscard]] virtual Result<std::uint64_t> PruneExpired(std::int64_t before_ms) = 0;

  // The throttle state of `key`; a zero state if none is stored.
  [[nodiscard]] virtual Result<ThrottleState> GetThrottle(std::string_view key) const = 0;
  // Counts one failed login against `key` (ApplyLoginFailure, read and written in one
  // transaction so concurrent failures are all counted) and returns the new state.
  [[nodiscard]] virtual Result<ThrottleState> AddLoginFailure(std::string_view key,
                                                              std::int64_t now_ms,
                                                              const ThrottlePolicy& policy) = 0;
  // Forgets the failures of `key` (after a successful login).
  [[nodiscard]] virtual Status ClearThrottle(std::string_view key) = 0;
};

// The state after one more failure at `now_ms`: a window older than policy.window starts
// afresh; reaching policy.max_failures locks the key until now + policy.lockout (and starts a
// new window, so the next lock needs max_failures more).
ThrottleState ApplyLoginFailure(ThrottleState state, std::int64_t now_ms,
                                const ThrottlePolicy& policy);

// kInvalidArgument (naming the field, never its value) for an account that breaks the store's
// shape rules: ids, role-specific fields present exactly for their role, field sizes.
Status ValidateAccount(const Account& account);

inline constexpr std::size_t kMaxAccountTextBytes = 200;  // names, licence, speciality, ...
inline constexpr std::size_t kMaxReasonBytes = 1000;
inline constexpr std::size_t kMaxSealedProfileBytes = 1 << 20;
inline constexpr std::size_t kMaxAccountsListed = 10000;

}  // namespace medmesh::accounts

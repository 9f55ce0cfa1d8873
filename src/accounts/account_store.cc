#include "accounts/account_store.h"

#include "accounts/encoding.h"

namespace medmesh::accounts {

std::string_view AccountStatusName(AccountStatus status) {
  switch (status) {
    case AccountStatus::kPending: return "pending";
    case AccountStatus::kApproved: return "approved";
    case AccountStatus::kRejected: return "rejected";
    case AccountStatus::kDisabled: return "disabled";
  }
  return "pending";  // unreachable: every enumerator is handled above
}

std::optional<AccountStatus> ParseAccountStatus(std::string_view name) {
  for (AccountStatus s : {AccountStatus::kPending, AccountStatus::kApproved,
                          AccountStatus::kRejected, AccountStatus::kDisabled}) {
    if (AccountStatusName(s) == name) return s;
  }
  return std::nullopt;
}

ThrottleState ApplyLoginFailure(ThrottleState state, std::int64_t now_ms,
                                const ThrottlePolicy& policy) {
  if (state.failures == 0 || now_ms - state.window_start_ms >= policy.window_ms ||
      now_ms < state.window_start_ms) {
    state.failures = 0;
    state.window_start_ms = now_ms;
  }
  ++state.failures;
  if (state.failures >= policy.max_failures) {
    state.locked_until_ms = now_ms + policy.lockout_ms;
    state.failures = 0;
    state.window_start_ms = now_ms;
  }
  return state;
}

Status ValidateAccount(const Account& a) {
  if (!IsIdWithPrefix(a.account_id, "acc_")) return InvalidArgument("bad account id");
  if (a.login.empty() || a.login.size() > kMaxLoginBytes) return InvalidArgument("bad login");
  if (a.password_hash.empty() || a.password_hash.size() > 512) {
    return InvalidArgument("bad password hash");
  }
  for (const std::string* text : {&a.display_name, &a.licence_number, &a.speciality, &a.hospital,
                                  &a.cloudlet_id, &a.patient_id}) {
    if (text->size() > kMaxAccountTextBytes) return InvalidArgument("a profile field is too long");
  }
  if (a.status_reason.size() > kMaxReasonBytes) return InvalidArgument("reason is too long");
  if (a.sealed_profile.size() > kMaxSealedProfileBytes) {
    return InvalidArgument("sealed profile is too large");
  }
  if ((a.role == Role::kPatient) != !a.patient_id.empty()) {
    return InvalidArgument("patient_id is for patients only, and required for them");
  }
  if ((a.role == Role::kOperator) != !a.cloudlet_id.empty()) {
    return InvalidArgument("cloudlet_id is for operators only, and required for them");
  }
  if (a.role != Role::kPatient && !a.sealed_profile.empty()) {
    return InvalidArgument("a sealed profile is for patients only");
  }
  const bool doctor_fields =
      !a.licence_number.empty() || !a.speciality.empty() || !a.hospital.empty();
  if (a.role == Role::kDoctor &&
      (a.licence_number.empty() || a.speciality.empty() || a.hospital.empty())) {
    return InvalidArgument("a doctor needs licence_number, speciality and hospital");
  }
  if (a.role != Role::kDoctor && doctor_fields) {
    return InvalidArgument("licence_number, speciality and hospital are for doctors only");
  }
  return OkStatus();
}

}  // namespace medmesh::accounts

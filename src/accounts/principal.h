// Principal: who a request acts for, once its session token has been verified (issue 8).
//
// The cloud is the identity provider. It issues short-lived session tokens signed with its node
// key (certified by the deployment root), and every node (the cloud and the patient's cloudlets)
// verifies them offline and turns them into a Principal. Route handlers decide what a principal
// may do from its role and its ids, never from anything else in the request.
//
//   patient   account_id, patient_id (the id the patient's devices and records carry)
//   doctor    account_id
//   operator  account_id, cloudlet_id (the one cloudlet they operate)
//   admin     account_id (the cloud admin)
//
// Thread safety: plain values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace medmesh::accounts {

enum class Role : std::uint8_t { kPatient, kDoctor, kOperator, kAdmin };

// "patient", "doctor", "operator", "admin": the names used in tokens, JSON and docs/.
std::string_view RoleName(Role role);
// The inverse of RoleName; nullopt for anything else (case-sensitive).
std::optional<Role> ParseRole(std::string_view name);

struct Principal {
  std::string account_id;
  Role role = Role::kPatient;
  std::string patient_id;   // non-empty for patients only
  std::string cloudlet_id;  // non-empty for operators only
  std::string session_id;   // the session the token belongs to (logout revokes it)
  std::int64_t expires_ms = 0;
  // True when the token came in the session cookie (a browser): state-changing requests must
  // then also carry the CSRF token. False for `Authorization: Bearer` (API clients).
  bool via_cookie = false;

  bool is(Role r) const { return role == r; }
};

}  // namespace medmesh::accounts

#include "accounts/principal.h"

namespace medmesh::accounts {

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kPatient: return "patient";
    case Role::kDoctor: return "doctor";
    case Role::kOperator: return "operator";
    case Role::kAdmin: return "admin";
  }
  return "patient";  // unreachable: every enumerator is handled above
}

std::optional<Role> ParseRole(std::string_view name) {
  for (Role role : {Role::kPatient, Role::kDoctor, Role::kOperator, Role::kAdmin}) {
    if (RoleName(role) == name) return role;
  }
  return std::nullopt;
}

}  // namespace medmesh::accounts

// The cloud admin's routes of issue 8 workflow 8, and the doctor directory (docs/workflows.md,
// "8. Cloud admin"; every route in docs/openapi.yaml, tag "admin"):
//
//   GET  /api/v1/doctors                          approved doctors (patient, doctor, admin)
//   GET  /api/v1/admin/patients[?after=&limit=]   the partitioned view (admin)
//   POST /api/v1/admin/patients/{pseudonym}/identity  {"reason"}: one identity (admin)
//   GET  /api/v1/admin/doctors                    every doctor with details (admin)
//
// The partitioned view shows each patient as their MI pseudonym with the generalised
// quasi-identifiers of the k-anonymous table (ThreePartStore::GeneralisedPatients: the level the
// table uses, "*" for a patient the table suppresses), the number of records and when the last
// one was stored, and the account's status if the patient has an account; never a name, an
// e-mail, a patient id or an account id. Patients with an account but no stored record are
// listed with "qi": null. Pages are ordered by pseudonym ("after" = the last pseudonym seen).
//
// An identity is shown only with a reason (1..kMaxIdentityReasonBytes of text, not blank, no
// control characters but tab and newline), which is recorded verbatim as the audit entry's
// purpose ("patient.identity.read"). It is the patient's EI: the newest stored record's name,
// national id, phone, e-mail, address and device ids, and the account's e-mail, display name
// and registered profile (without the photo).
//
// Authorisation: anonymous → 401 (the authenticate hook); a role the route is not for → 403
// kRoleDeniedMessage; an unknown pseudonym → 404 kNotFoundMessage. Audit: every admin route
// appends one entry after its outcome is known (refusals as minor failures), before any data
// is returned; a failed append fails the request. The directory is not patient data and is
// not audited.
// Thread safety: the handlers are safe to run concurrently.
#pragma once

#include <cstddef>

#include "accounts/account_store.h"
#include "audit/audit_sink.h"
#include "cloud/clinical_api.h"
#include "cloud/three_part.h"
#include "core/clock.h"
#include "net/router.h"

namespace medmesh::cloud {

inline constexpr std::size_t kMaxIdentityReasonBytes = 1000;
inline constexpr std::size_t kDefaultAdminPage = 50;
inline constexpr std::size_t kMaxAdminPage = 200;

// What the routes use; all must outlive the router.
struct AdminApiDeps {
  accounts::AccountStore& accounts;
  ThreePartStore& records;
  audit::AuditSink& audit;
  const Clock& clock;
};

// Registers the routes above on `router`.
void AddAdminRoutes(net::Router& router, AdminApiDeps deps, Authenticate authenticate);

// The patient id behind a pseudonym: a patient with stored records, or a patient account
// without any; nullopt if none. Store errors as they are. (Also for audit_api.h.)
Result<std::optional<std::string>> PatientOfPseudonym(ThreePartStore& records,
                                                      const accounts::AccountStore& accounts,
                                                      std::string_view pseudonym);

// Every patient account (without secrets), by account id. Store errors as they are.
Result<std::vector<accounts::Account>> AllAccountsOf(const accounts::AccountStore& accounts,
                                                     accounts::Role role);

}  // namespace medmesh::cloud

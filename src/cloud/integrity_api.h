// The HTTP routes of "verify and restore" and "delete my data" (integrity_service.h,
// docs/integrity.md, docs/openapi.yaml):
//
//   POST /api/v1/integrity/records/{device_id}/{record_id}/verify    verify one record
//   POST /api/v1/integrity/readings/{device_id}/{batch_id}/verify    verify one reading batch
//   POST /api/v1/integrity/records/{device_id}/{record_id}/restore   restore it from its cloudlet
//   POST /api/v1/integrity/readings/{device_id}/{batch_id}/restore
//   GET  /api/v1/integrity/restores?limit=N                          restores (operator, admin)
//   POST /api/v1/integrity/deletion                                  the caller (a patient)
//                                                                    deletes their data
//
// Every route first calls `authenticate` (the accounts slice's request authenticator: token
// verification, and CSRF for cookie requests): its error is answered by
// accounts::AuthenticationRefusal (401 with WWW-Authenticate; 403 "reason": "csrf_required"),
// as on every account-session route. Errors map
// through net::ErrorResponse: 400 bad id or limit, 401, 403 role, 404 unknown or foreign item
// (one message), 409 (failed_precondition: nothing to restore, a copy that does not verify),
// 503 (a store, the audit log or the cloudlet unavailable).
// Thread safety: the handlers are as thread-safe as the service.
#pragma once

#include <functional>

#include "accounts/principal.h"
#include "cloud/integrity_service.h"
#include "net/http_message.h"
#include "net/router.h"

namespace medmesh::cloud {

using Authenticate = std::function<Result<accounts::Principal>(const net::Request&)>;

// Called after a patient's deletion succeeded, with the 200 answer to come (the cloud closes
// the account and clears the session cookies in it); its error is the route's answer instead
// (the deletion itself is done and idempotent).
using AfterDeletion = std::function<Status(const accounts::Principal&,
                                           std::string_view source_address, net::Response&)>;

// Registers the routes above on `router`; `service` must outlive it.
void AddIntegrityRoutes(net::Router& router, IntegrityService& service,
                        const Authenticate& authenticate, AfterDeletion after_deletion = {});

}  // namespace medmesh::cloud

// The HTTP routes of the clinical workflows (clinical_service.h; docs/openapi.yaml, tag
// "clinical"; docs/workflows.md):
//
//   POST /api/v1/activations                          patient asks a cloudlet   → 201
//   GET  /api/v1/activations[?status=...]             patient: own; operator: their cloudlet's
//   POST /api/v1/activations/{activation_id}/decision operator approves or denies
//   POST /api/v1/consents                             patient grants records to a doctor → 201
//   GET  /api/v1/consents                             patient: own grants
//   POST /api/v1/consents/{consent_id}/revocation     patient revokes
//   POST /api/v1/consents/{consent_id}/answers        doctor answers a grant → 201
//   GET  /api/v1/inbox                                doctor: granted records by patient
//   GET  /api/v1/answers                              patient: answers to their grants
//   GET  /api/v1/answers/counts                       operator, admin: counts only
//   GET  /api/v1/prescriptions                        doctor: the prescriptions they wrote
//   GET  /api/v1/statistics/charts                    doctor, operator, admin: the two charts
//
// Every route first calls `authenticate`. It turns the request into a Principal, or returns
// the error to send (401 kUnauthenticated; 429 for throttling). The hook is also where a
// state-changing request that came with the session cookie must carry its CSRF token
// (DESIGN8), so it sees the method. Its error is answered as on the account routes
// (accounts::AuthenticationRefusal: WWW-Authenticate: Bearer on 401, "reason": "csrf_required"
// on 403). After that, each route calls the service, which decides and audits. JSON bodies are
// parsed strictly (net/json_body.h: unknown or duplicate members → 400, wrong content type →
// 415); nested objects follow the same rules. Errors map as net/error_mapping.h says; the
// portal gate's 403 adds "reason": "portal_inactive" (a role refusal's 403 has no reason).
// Thread safety: the handlers are safe to run concurrently if the service and the hook are.
#pragma once

#include <functional>

#include "accounts/principal.h"
#include "cloud/clinical_service.h"
#include "net/http_message.h"
#include "net/router.h"

namespace medmesh::cloud {

using Authenticate = std::function<Result<accounts::Principal>(const net::Request&)>;

// Registers the routes above on `router`. `service` must outlive the router.
void AddClinicalRoutes(net::Router& router, ClinicalService& service, Authenticate authenticate);

}  // namespace medmesh::cloud

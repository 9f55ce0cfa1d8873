// The HTTP routes of a patient's own data (my_data_service.h; docs/openapi.yaml, tag "me";
// docs/workflows.md, workflow 2):
//
//   GET /api/v1/me/readings?kind=K[&from=MS][&to=MS][&points=N]
//         one kind's readings (K a wire vital name, e.g. heart_rate) over [from, to) (Unix ms;
//         to defaults to now, from to 24 hours before to; points 1..2000, default 300): the
//         readings themselves, or at most `points` buckets (count, min, max, mean)
//   GET /api/v1/me/records[?limit=N][&cursor=C]
//         own records, newest first, decrypted summaries; next_cursor for the next page
//   GET /api/v1/me/records/{device_id}/{record_id}
//         one record decrypted, its stored form (ciphertexts base64url, digest, device
//         signature) and whether it verifies (which check failed, if any)
//
// Every route first calls `authenticate` (AccountApi::PrincipalOf: token, or cookie and CSRF),
// whose error (401) is returned as is. Query parameters are strict: an unknown or repeated one,
// or a value that does not parse, is 400. Errors map through net/error_mapping.h: 400 bad
// parameter, 401, 403 not a patient or portal not active, 404 unknown or foreign record (one
// message), 500 stored data that fails its integrity check, 503 a store or the audit log down.
// Thread safety: the handlers are thread-safe.
#pragma once

#include <functional>

#include "accounts/principal.h"
#include "cloud/my_data_service.h"
#include "net/http_message.h"
#include "net/router.h"

namespace medmesh::cloud {

using Authenticate = std::function<Result<accounts::Principal>(const net::Request&)>;

// Builds the service and registers the routes above on `router`; the handlers own the
// service. Everything `context` names must outlive the router.
void AddMyDataRoutes(net::Router& router, MyDataContext context, Authenticate authenticate);

}  // namespace medmesh::cloud

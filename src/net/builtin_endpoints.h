// The operational endpoints every MedMesh node serves:
//   GET /healthz  liveness: 200 {"status":"ok"} whenever the server can answer at all.
//   GET /readyz   readiness: 200 {"status":"ready"} when the callback says so, otherwise
//                 503 {"error":"unavailable","message":"service unavailable"} (load
//                 balancers stop sending traffic; the process is not restarted).
//   GET /metrics  the registry in the Prometheus text format 0.0.4.
// WARNING: none of them authenticates the caller. /metrics reveals request counts per route;
// expose it on an operator-only listener or behind a filter if that matters.
// Thread safety: register before the router is handed to HttpServer.
#pragma once

#include <functional>

#include "net/metrics.h"
#include "net/router.h"

namespace medmesh::net {

// Adds /healthz and /readyz. `ready` is called on an I/O thread for every /readyz request, so
// it must be fast and thread-safe (read a flag; do not probe a database synchronously).
void AddHealthEndpoints(Router& router, std::function<bool()> ready);

// Adds /metrics. `registry` is not owned and must outlive the server.
void AddMetricsEndpoint(Router& router, const MetricsRegistry& registry);

}  // namespace medmesh::net

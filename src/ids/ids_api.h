// The IDS routes every node serves (docs/openapi.yaml, docs/ids.md), for its operators (a
// cloudlet) or admins (the cloud):
//
//   GET  /api/v1/ids/alerts                       recent alerts (memory; newest first), the
//                                                 enforcer's counts, the payload scorer's state
//                                                 and the server's kernel drop
//   GET  /api/v1/ids/decisions?active=true|false  decisions (active ones by default)
//   POST /api/v1/ids/decisions                    {"scope","value","action","reason"?}: an
//                                                 operator's own decision (detector
//                                                 "operator"), imposed as a detector's
//                                                 proposal: 201 with the decision in force on
//                                                 the scope (an active one as strong is
//                                                 returned as it is); 409 if allowlisted
//   POST /api/v1/ids/decisions/{id}/revocation    ends a decision now
//   GET  /api/v1/ids/allowlist                    the allowlist
//   POST /api/v1/ids/allowlist                    {"scope","value","note"?} adds (201)
//   POST /api/v1/ids/allowlist/removal            {"scope","value"} removes ({"removed":bool})
//
// Every route first asks `authorize`: a response refuses the request with it (401/403), nullopt
// lets it through. `on_change` (may be empty) hears each revocation and allowlist change after
// it is stored, for the node's audit log. Errors: 400 bad body or query, 404 unknown decision,
// 409 a decision that already ended or an allowlisted scope.
// Thread safety: the handlers are thread-safe; the context's objects must outlive the router.
#pragma once

#include <atomic>
#include <functional>
#include <optional>
#include <string_view>

#include "ids/decision_table.h"
#include "ids/detection_engine.h"
#include "ids/enforcer.h"
#include "ids/payload_scoring.h"
#include "net/http_message.h"
#include "net/http_server.h"
#include "net/router.h"

namespace medmesh::ids {

struct IdsApiContext {
  DecisionTable& table;
  DetectionEngine& engine;
  const Enforcer& enforcer;
  const Clock& clock;
  std::function<std::optional<net::Response>(const net::Request&)> authorize;
  // (request, "decision.impose" | "decision.revoke" | "allowlist.add" | "allowlist.remove",
  // the scope)
  std::function<void(const net::Request&, std::string_view, const Scope&)> on_change;
  // The node's payload scoring (payload_scoring.h); null: reported as off.
  const PayloadScoring* payloads = nullptr;
  // The kernel drop of the node's HTTP server (net::HttpServer::kernel_drop), so that an
  // operator sees a flood the kernel is dropping; empty or nullopt (no server yet): null.
  std::function<std::optional<net::KernelDropStats>()> kernel_drop = nullptr;
};

void AddIdsRoutes(net::Router& router, IdsApiContext context);

// IdsApiContext::kernel_drop for a node whose server is published in `server` once started
// (null before): the node's own atomic, which must outlive the routes.
std::function<std::optional<net::KernelDropStats>()> KernelDropOf(
    const std::atomic<const net::HttpServer*>& server);

}  // namespace medmesh::ids

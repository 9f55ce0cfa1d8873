#include "net/builtin_endpoints.h"

#include <string>
#include <utility>

#include "core/check.h"

namespace medmesh::net {

void AddHealthEndpoints(Router& router, std::function<bool()> ready) {
  MEDMESH_CHECK(ready != nullptr, "readiness callback is empty");
  router.Get("/healthz", [](const Request&) -> Result<Response> {
    return Response::Json(R"({"status":"ok"})");
  });
  router.Get("/readyz", [ready = std::move(ready)](const Request&) -> Result<Response> {
    // Built by hand rather than from an Error: ErrorResponse() would log every probe of a
    // node that is still starting as a server error.
    if (!ready()) {
      return Response::Json(R"({"error":"unavailable","message":"service unavailable"})", 503);
    }
    return Response::Json(R"({"status":"ready"})");
  });
}

void AddMetricsEndpoint(Router& router, const MetricsRegistry& registry) {
  router.Get("/metrics", [&registry](const Request&) -> Result<Response> {
    Response response = Response::Text(registry.Render());
    response.content_type = std::string(MetricsRegistry::kContentType);
    return response;
  });
}

}  // namespace medmesh::net

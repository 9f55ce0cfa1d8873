// Fuzzes request-target parsing and routing: ParseRequestTarget() on arbitrary bytes, then a
// lookup in a router with literal, parameter and overlapping patterns. Checks the invariants
// the server relies on: the path is a prefix of the target, parsed segments are never dot
// segments, and matched parameters are never empty.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "net/internal/request_target.h"
#include "net/router.h"

namespace {

const medmesh::net::Router& FuzzRouter() {
  static const medmesh::net::Router kRouter = [] {
    using medmesh::net::Request;
    using medmesh::net::Response;
    medmesh::net::Router router;
    const auto ok = [](const Request&) -> medmesh::Result<Response> { return Response{}; };
    router.Get("/", ok);
    router.Get("/healthz", ok);
    router.Get("/api/patients/{id}", ok);
    router.Post("/api/patients/{id}/readings", ok);
    router.Get("/api/patients/me/readings", ok);
    router.Get("/a/{x}/c", ok);
    router.Get("/a/b/d", ok);
    return router;
  }();
  return kRouter;
}

void Require(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view target(reinterpret_cast<const char*>(data), size);
  auto parsed = medmesh::net::internal::ParseRequestTarget(target);
  if (!parsed) return 0;
  Require(target.substr(0, parsed->path.size()) == parsed->path);
  for (const auto& segment : parsed->segments) Require(segment != "." && segment != "..");
  for (auto method : {medmesh::net::Method::kGet, medmesh::net::Method::kPost}) {
    const auto match = FuzzRouter().Find(method, parsed->segments);
    if (match.kind == medmesh::net::RouteMatch::Kind::kFound) {
      Require(match.route != nullptr);
      for (const auto& [name, value] : match.params) Require(!name.empty() && !value.empty());
    }
  }
  return 0;
}

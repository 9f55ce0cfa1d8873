// Router: maps a method and a path to a handler.
//
// Patterns are absolute paths whose segments are literals or parameters in braces:
//   "/healthz", "/api/patients/{id}", "/api/patients/{id}/readings"
// A parameter matches exactly one non-empty segment (after percent-decoding, so "%2F" inside
// a parameter is a '/' in its value, never a separator). Literals win over parameters at the
// same position, with backtracking: with "/a/{x}/c" and "/a/b/d" registered, "/a/b/c" matches
// the first. A trailing slash is significant ("/a/" is not "/a").
//
// HEAD is answered by the GET handler when no HEAD handler is registered (the server sends
// the headers without the body). The Allow header of a 405 lists the registered methods.
//
// Handler contract: handlers run on the server's I/O threads, so they must be short (parse,
// call a store or service, answer; no sleeping, no unbounded waiting); a handler that blocks
// holds one I/O thread, and Stop() waits for it. A handler may run concurrently with itself
// on several threads. It returns a Response, or an Error that the server maps with
// ErrorResponse() (src/net/error_mapping.h). An exception escaping a handler becomes a
// generic 500 and is logged.
//
// Thread safety: build the router on one thread, then hand it to HttpServer; Find() is const
// and safe to call concurrently.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"
#include "net/http_message.h"

namespace medmesh::net {

using Handler = std::function<Result<Response>(const Request&)>;

// Default request body limit of a route: 1 MiB.
inline constexpr std::size_t kDefaultBodyLimitBytes = std::size_t{1} << 20;

struct RouteOptions {
  // Larger bodies are refused with 413 before the handler runs.
  std::size_t body_limit_bytes = kDefaultBodyLimitBytes;
};

struct Route {
  Method method;
  std::string pattern;
  Handler handler;
  RouteOptions options;
};

struct RouteMatch {
  enum class Kind { kFound, kNotFound, kMethodNotAllowed };
  Kind kind = Kind::kNotFound;
  // kFound: the route (for HEAD without a HEAD route, the GET route).
  const Route* route = nullptr;
  // kFound: decoded parameter values in pattern order.
  std::vector<std::pair<std::string, std::string>> params;
  // kMethodNotAllowed: the pattern of the path and the value of the Allow header
  // ("GET, HEAD, POST").
  std::string_view pattern;
  std::string allow;
};

class Router {
 public:
  Router();
  ~Router();
  Router(Router&& other) noexcept;
  Router& operator=(Router&& other) noexcept;

  // Registers `handler` for `method` on `pattern`. Patterns are program constants, so a bad
  // one aborts (MEDMESH_CHECK): it must start with '/', have no empty segment and no trailing
  // '/' (except "/" itself), literals made of RFC 3986 unreserved characters and sub-delims
  // (no '.' or '..' segment), parameter names matching [A-Za-z_][A-Za-z0-9_]* and unique in
  // the pattern, the same parameter name as other patterns at the same position, and no
  // second handler for the same method and pattern.
  void Add(Method method, std::string_view pattern, Handler handler, RouteOptions options = {});

  // Convenience forms of Add().
  void Get(std::string_view pattern, Handler h, RouteOptions o = {});
  void Post(std::string_view pattern, Handler h, RouteOptions o = {});
  void Put(std::string_view pattern, Handler h, RouteOptions o = {});
  void Delete(std::string_view pattern, Handler h, RouteOptions o = {});

  // Looks up decoded path segments (see internal/request_target.h).
  RouteMatch Find(Method method, const std::vector<std::string>& segments) const;

  // Every registered route, in no particular order (for docs and tests).
  std::vector<const Route*> routes() const;

 private:
  struct Node;
  using Params = std::vector<std::pair<std::string, std::string>>;
  // Depth-first search from `node` for segments[index...], literal child before parameter
  // child. With `method`, finds a node with a route for it; without, any node with routes.
  static const Node* Search(const Node& node, const std::vector<std::string>& segments,
                            std::size_t index, const Method* method, Params& params);

  std::unique_ptr<Node> root_;
};

}  // namespace medmesh::net

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
// Deferred answers (AddAsync): work that must not hold an I/O thread (Argon2id password
// hashing, ~50 ms of a core) runs elsewhere, e.g. on a pool of its own. The AsyncHandler runs
// on the I/O thread like a Handler, must return quickly, and hands a Responder to the work,
// which answers later from any thread. The Request is valid only during the AsyncHandler call:
// copy what the work needs. The connection waits for the answer (its timeouts do not run);
// a Responder destroyed without answering answers 503 "unavailable", so a dropped job never
// leaves a client hanging. Answers that arrive after the connection closed or the server
// stopped are dropped.
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

// The way a deferred answer gets back to its connection (see "Deferred answers" above).
// Copyable; all copies share one answer: the first call wins, later ones are ignored.
// Thread-safe.
class Responder {
 public:
  // Implemented by the server for each deferred request.
  class Target {
   public:
    virtual ~Target() = default;
    // Called once, from any thread.
    virtual void Complete(Result<Response> response, bool peer_authenticated) = 0;
  };

  explicit Responder(std::shared_ptr<Target> target);

  // Sends `response` (an Error is mapped with ErrorResponse()). `peer_authenticated` does what
  // Request::MarkPeerAuthenticated() does for a synchronous handler (which the deferred work
  // cannot call: its Request is gone).
  void operator()(Result<Response> response, bool peer_authenticated = false) const;

 private:
  std::shared_ptr<Target> target_;
};

using AsyncHandler = std::function<void(const Request&, Responder)>;

// Default request body limit of a route: 1 MiB.
inline constexpr std::size_t kDefaultBodyLimitBytes = std::size_t{1} << 20;

struct RouteOptions {
  // Larger bodies are refused with 413 before the handler runs.
  std::size_t body_limit_bytes = kDefaultBodyLimitBytes;
};

struct Route {
  Method method;
  std::string pattern;
  Handler handler;  // empty for a route added with AddAsync
  RouteOptions options;
  AsyncHandler async_handler{};  // set instead of `handler` by AddAsync
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

  // The same for a handler that answers later (see "Deferred answers" above).
  void AddAsync(Method method, std::string_view pattern, AsyncHandler handler,
                RouteOptions options = {});

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
  // Adds `route` at its pattern (the checks of Add()).
  void AddRoute(Route route);
  static const Node* Search(const Node& node, const std::vector<std::string>& segments,
                            std::size_t index, const Method* method, Params& params);

  std::unique_ptr<Node> root_;
};

}  // namespace medmesh::net

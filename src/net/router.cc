#include "net/router.h"

#include <algorithm>
#include <string>

#include "core/check.h"

namespace medmesh::net {

// A segment trie. Routes live in std::map nodes owned through unique_ptr, so the Route
// pointers handed out by Find() stay valid for the router's lifetime, including moves.
struct Router::Node {
  std::map<std::string, std::unique_ptr<Node>, std::less<>> literals;
  std::unique_ptr<Node> param;
  std::string param_name;  // when this node is a parameter child
  std::string pattern;     // when at least one route ends here
  std::map<Method, Route> routes;
};

namespace {

bool IsLiteralChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("-._~!$&'()*+,;=:@").find(c) != std::string_view::npos;
}

bool IsParamName(std::string_view name) {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    const bool digit = c >= '0' && c <= '9';
    if (!alpha && !(digit && i > 0)) return false;
  }
  return true;
}

std::vector<std::string_view> SplitPattern(std::string_view pattern) {
  MEDMESH_CHECK(!pattern.empty() && pattern.front() == '/', "route pattern must start with '/'");
  std::vector<std::string_view> out;
  if (pattern == "/") return out;
  std::size_t start = 1;
  while (true) {
    const std::size_t slash = pattern.find('/', start);
    const std::string_view segment = pattern.substr(start, slash - start);
    MEDMESH_CHECK(!segment.empty(), "route pattern has an empty segment or a trailing '/'");
    out.push_back(segment);
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return out;
}

}  // namespace

Router::Router() : root_(std::make_unique<Node>()) {}
Router::~Router() = default;
Router::Router(Router&&) noexcept = default;
Router& Router::operator=(Router&&) noexcept = default;

Responder::Responder(std::shared_ptr<Target> target) : target_(std::move(target)) {
  MEDMESH_CHECK(target_ != nullptr, "responder without a target");
}

void Responder::operator()(Result<Response> response, bool peer_authenticated) const {
  target_->Complete(std::move(response), peer_authenticated);
}

void Router::Add(Method method, std::string_view pattern, Handler handler, RouteOptions options) {
  MEDMESH_CHECK(handler != nullptr, "route handler is empty");
  AddRoute(Route{method, std::string(pattern), std::move(handler), options});
}

void Router::AddAsync(Method method, std::string_view pattern, AsyncHandler handler,
                      RouteOptions options) {
  MEDMESH_CHECK(handler != nullptr, "route handler is empty");
  AddRoute(Route{method, std::string(pattern), nullptr, options, std::move(handler)});
}

void Router::AddRoute(Route route) {
  const Method method = route.method;
  const std::string_view pattern = route.pattern;
  Node* node = root_.get();
  std::vector<std::string_view> names;
  for (std::string_view segment : SplitPattern(pattern)) {
    if (segment.front() == '{') {
      MEDMESH_CHECK(segment.size() > 2 && segment.back() == '}', "unclosed '{' in route pattern");
      const std::string_view name = segment.substr(1, segment.size() - 2);
      MEDMESH_CHECK(IsParamName(name), "bad route parameter name");
      MEDMESH_CHECK(std::find(names.begin(), names.end(), name) == names.end(),
                    "route parameter name used twice in one pattern");
      names.push_back(name);
      if (!node->param) {
        node->param = std::make_unique<Node>();
        node->param->param_name = std::string(name);
      }
      MEDMESH_CHECK(node->param->param_name == name,
                    "two route patterns name the same parameter position differently");
      node = node->param.get();
    } else {
      MEDMESH_CHECK(segment != "." && segment != "..", "dot segment in route pattern");
      MEDMESH_CHECK(std::all_of(segment.begin(), segment.end(), IsLiteralChar),
                    "bad character in route pattern literal");
      auto it = node->literals.find(segment);
      if (it == node->literals.end()) {
        it = node->literals.emplace(std::string(segment), std::make_unique<Node>()).first;
      }
      node = it->second.get();
    }
  }
  MEDMESH_CHECK(!node->routes.contains(method), "route registered twice");
  node->pattern = std::string(pattern);
  node->routes.emplace(method, std::move(route));
}

void Router::Get(std::string_view p, Handler h, RouteOptions o) {
  Add(Method::kGet, p, std::move(h), o);
}
void Router::Post(std::string_view p, Handler h, RouteOptions o) {
  Add(Method::kPost, p, std::move(h), o);
}
void Router::Put(std::string_view p, Handler h, RouteOptions o) {
  Add(Method::kPut, p, std::move(h), o);
}
void Router::Delete(std::string_view p, Handler h, RouteOptions o) {
  Add(Method::kDelete, p, std::move(h), o);
}

namespace {

// The route a node offers for `method`: its own, or for HEAD its GET route.
const Route* RouteFor(const std::map<Method, Route>& routes, Method method) {
  if (auto it = routes.find(method); it != routes.end()) return &it->second;
  if (method == Method::kHead) {
    if (auto it = routes.find(Method::kGet); it != routes.end()) return &it->second;
  }
  return nullptr;
}

}  // namespace

const Router::Node* Router::Search(const Node& node, const std::vector<std::string>& segments,
                                   std::size_t index, const Method* method, Params& params) {
  if (index == segments.size()) {
    if (node.routes.empty()) return nullptr;
    if (method != nullptr && RouteFor(node.routes, *method) == nullptr) return nullptr;
    return &node;
  }
  const std::string& segment = segments[index];
  if (auto it = node.literals.find(segment); it != node.literals.end()) {
    if (const Node* found = Search(*it->second, segments, index + 1, method, params)) {
      return found;
    }
  }
  if (node.param && !segment.empty()) {
    params.emplace_back(node.param->param_name, segment);
    if (const Node* found = Search(*node.param, segments, index + 1, method, params)) {
      return found;
    }
    params.pop_back();
  }
  return nullptr;
}

RouteMatch Router::Find(Method method, const std::vector<std::string>& segments) const {
  RouteMatch match;
  Params params;
  if (const Node* node = Search(*root_, segments, 0, &method, params)) {
    match.kind = RouteMatch::Kind::kFound;
    match.route = RouteFor(node->routes, method);
    match.params = std::move(params);
    return match;
  }
  params.clear();
  if (const Node* node = Search(*root_, segments, 0, nullptr, params)) {
    match.kind = RouteMatch::Kind::kMethodNotAllowed;
    match.pattern = node->pattern;
    // std::map orders by enumerator, which is the order MethodName() lists them in.
    for (const auto& [m, route] : node->routes) {
      if (!match.allow.empty()) match.allow += ", ";
      match.allow += MethodName(m);
      if (m == Method::kGet && !node->routes.contains(Method::kHead)) match.allow += ", HEAD";
    }
    return match;
  }
  match.kind = RouteMatch::Kind::kNotFound;
  return match;
}

std::vector<const Route*> Router::routes() const {
  std::vector<const Route*> out;
  std::vector<const Node*> stack = {root_.get()};
  while (!stack.empty()) {
    const Node* node = stack.back();
    stack.pop_back();
    for (const auto& [m, route] : node->routes) out.push_back(&route);
    for (const auto& [name, child] : node->literals) stack.push_back(child.get());
    if (node->param) stack.push_back(node->param.get());
  }
  return out;
}

}  // namespace medmesh::net

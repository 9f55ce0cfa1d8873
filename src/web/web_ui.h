// The web UI's routes, served by every node (cloud and cloudlet) with one call, AddWebUi():
//
//   GET /              the UI's one HTML page (web/index.html): the app shell, which shows the
//                      home page of this node and the other pages by their #/ address
//   GET /ui/<path>     the UI's scripts, styles and images (web_assets.h), each path a route
//   GET /api/v1/node   public: which node this is (cloud or cloudlet, its id), the roles it
//                      serves and its mesh (NodeInfo below), as JSON
//
// Every UI response (the page and the assets) carries the headers of UiSecurityHeaders(): a
// strict Content-Security-Policy (only this origin's scripts, styles, images and fetches; no
// inline script or style, no eval, Trusted Types required, never framed), Referrer-Policy
// no-referrer, and cross-origin isolation of the page; the server adds
// X-Content-Type-Options: nosniff to every response (src/net/http_server.h). Caching: every UI
// response has a strong ETag and "Cache-Control: no-cache", so browsers revalidate and get
// 304 Not Modified with no body while the binary is the same (asset URLs carry no version, so
// nothing may be cached without asking). HEAD is answered by the router from GET.
//
// WARNING: /api/v1/node authenticates no one and tells anyone who can reach the node its id,
// its role and the base URLs of its mesh (the cloudlets a cloud knows, the cloud a cloudlet
// forwards to). That is its purpose (a newcomer's browser finds the other nodes' pages); it
// holds no secret and no person's identity. Keep private addresses out of the node configs if
// the topology itself must not be known.
// Thread safety: register before the router is handed to HttpServer; the handlers are
// thread-safe if `node_info` is.
#pragma once

#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "net/http_message.h"
#include "net/router.h"

namespace medmesh::web {

enum class NodeKind { kCloud, kCloudlet };

// Another node of the mesh, as this node knows it.
struct MeshLink {
  std::string id;   // node id; empty when not known (a cloudlet knows its cloud by URL)
  std::string url;  // base URL ("http://127.0.0.1:8080"); empty when not known
};

// What GET /api/v1/node tells. The roles are the account roles (and "device") whose pages and
// routes this node serves: a cloud serves patients, doctors and the admin (accounts, clinical
// workflows); a cloudlet serves devices, operators and patients (enrolment, its devices).
struct NodeInfo {
  NodeKind kind = NodeKind::kCloud;
  std::string id{};
  std::vector<std::string> roles{};
  // Cloud: the cloudlets it knows (by id and URL). Empty on a cloudlet.
  std::vector<MeshLink> cloudlets{};
  // Cloudlet: the cloud it forwards to; nullopt when it forwards nowhere. Unset on a cloud.
  std::optional<MeshLink> cloud{};
};

// The roles a cloud and a cloudlet serve (what NodeInfo::roles holds).
std::vector<std::string> CloudRoles();
std::vector<std::string> CloudletRoles();

// Called for every GET /api/v1/node, on an I/O thread: must be fast and thread-safe (copy
// from memory; no network, no store query).
using NodeInfoSource = std::function<NodeInfo()>;

// The headers every UI response carries (name, value), in this order.
std::span<const std::pair<std::string_view, std::string_view>> UiSecurityHeaders();

struct WebUiOptions {
  // The node serves TLS: UI responses add Strict-Transport-Security (one year), so a browser
  // that once reached the node over HTTPS never falls back to plain HTTP for it.
  bool https = false;
};

// Registers GET / and GET /ui/<path> for every embedded asset, and GET /api/v1/node.
void AddWebUi(net::Router& router, NodeInfoSource node_info, WebUiOptions options = {});

// The response for asset `path` given the request's If-None-Match (nullopt: none): 200 with
// the bytes, or 304 without them when one of the listed entity tags matches (weak comparison,
// RFC 9110 section 13.1.2; "*" matches), with the headers above, ETag and Cache-Control.
// nullopt when there is no such asset.
std::optional<net::Response> AssetResponse(std::string_view path,
                                           std::optional<std::string_view> if_none_match,
                                           WebUiOptions options = {});

// The JSON body of GET /api/v1/node.
std::string NodeInfoJson(const NodeInfo& info);

}  // namespace medmesh::web

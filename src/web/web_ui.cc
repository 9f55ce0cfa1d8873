#include "web/web_ui.h"

#include <algorithm>
#include <array>
#include <nlohmann/json.hpp>

#include "core/check.h"
#include "web/web_assets.h"

namespace medmesh::web {
namespace {

// No 'unsafe-inline' and no 'unsafe-eval' anywhere: a stored <script> or an injected style
// attribute does nothing even if a bug ever put one into the page. Trusted Types with no
// policy make every string-to-HTML sink (innerHTML, outerHTML, insertAdjacentHTML,
// document.write) throw, so the UI cannot parse data as HTML by mistake. blob: images are the
// local preview of a photo being uploaded.
constexpr std::string_view kContentSecurityPolicy =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'; require-trusted-types-for 'script'; "
    "trusted-types 'none'";

constexpr std::array<std::pair<std::string_view, std::string_view>, 6> kSecurityHeaders{{
    {"Content-Security-Policy", kContentSecurityPolicy},
    {"Referrer-Policy", "no-referrer"},
    {"X-Frame-Options", "DENY"},  // frame-ancestors for browsers without CSP level 2
    {"Cross-Origin-Opener-Policy", "same-origin"},
    {"Cross-Origin-Resource-Policy", "same-origin"},
    {"Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=()"},
}};

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// If-None-Match: "*" or a comma-separated list of entity tags, each maybe W/-prefixed.
// Weak comparison: the opaque tags must be equal, W/ ignored.
bool MatchesIfNoneMatch(std::string_view header, std::string_view etag) {
  while (!header.empty()) {
    const std::size_t comma = header.find(',');
    std::string_view tag = Trim(header.substr(0, comma));
    header = comma == std::string_view::npos ? std::string_view() : header.substr(comma + 1);
    if (tag == "*") return true;
    if (tag.starts_with("W/")) tag.remove_prefix(2);
    if (tag == etag) return true;
  }
  return false;
}

std::string_view KindName(NodeKind kind) { return kind == NodeKind::kCloud ? "cloud" : "cloudlet"; }

nlohmann::json LinkJson(const MeshLink& link) {
  nlohmann::json out = nlohmann::json::object();
  if (!link.id.empty()) out["id"] = link.id;
  if (!link.url.empty()) out["url"] = link.url;
  return out;
}

}  // namespace

std::vector<std::string> CloudRoles() { return {"patient", "doctor", "admin"}; }
std::vector<std::string> CloudletRoles() { return {"device", "operator", "patient"}; }

std::span<const std::pair<std::string_view, std::string_view>> UiSecurityHeaders() {
  return kSecurityHeaders;
}

const EmbeddedAsset* FindAsset(std::string_view path) {
  const auto assets = EmbeddedAssets();
  const auto it = std::find_if(assets.begin(), assets.end(),
                               [path](const EmbeddedAsset& a) { return a.path == path; });
  return it == assets.end() ? nullptr : &*it;
}

bool IsOwnCode(const EmbeddedAsset& asset) {
  if (asset.path.starts_with("/ui/vendor/")) return false;
  return asset.path.ends_with(".js") || asset.path.ends_with(".css");
}

std::optional<net::Response> AssetResponse(std::string_view path,
                                           std::optional<std::string_view> if_none_match,
                                           WebUiOptions options) {
  const EmbeddedAsset* asset = FindAsset(path);
  if (asset == nullptr) return std::nullopt;
  net::Response response;
  const bool not_modified = if_none_match && MatchesIfNoneMatch(*if_none_match, asset->etag);
  response.status = not_modified ? 304 : 200;
  response.content_type = std::string(asset->content_type);
  if (!not_modified) response.body.assign(AsStringView(asset->bytes));
  for (const auto& [name, value] : kSecurityHeaders) {
    response.headers.emplace_back(std::string(name), std::string(value));
  }
  if (options.https) {
    response.headers.emplace_back("Strict-Transport-Security", "max-age=31536000");
  }
  response.headers.emplace_back("ETag", std::string(asset->etag));
  response.headers.emplace_back("Cache-Control", "no-cache");
  return response;
}

std::string NodeInfoJson(const NodeInfo& info) {
  nlohmann::json body{{"kind", KindName(info.kind)}, {"id", info.id}, {"roles", info.roles}};
  if (info.kind == NodeKind::kCloud) {
    nlohmann::json cloudlets = nlohmann::json::array();
    for (const MeshLink& link : info.cloudlets) cloudlets.push_back(LinkJson(link));
    body["cloudlets"] = std::move(cloudlets);
  } else {
    body["cloud"] = info.cloud ? LinkJson(*info.cloud) : nlohmann::json(nullptr);
  }
  return body.dump();
}

void AddWebUi(net::Router& router, NodeInfoSource node_info, WebUiOptions options) {
  MEDMESH_CHECK(node_info != nullptr, "AddWebUi needs a NodeInfoSource");
  for (const EmbeddedAsset& asset : EmbeddedAssets()) {
    const std::string path(asset.path);
    router.Get(path,
               [path, options](const net::Request& r) -> Result<net::Response> {
                 // Registered from the same table: the asset is always there.
                 return *AssetResponse(path, r.Header("If-None-Match"), options);
               },
               {.body_limit_bytes = 0});
  }
  router.Get("/api/v1/node",
             [source = std::move(node_info)](const net::Request&) -> Result<net::Response> {
               return net::Response::Json(NodeInfoJson(source()));
             },
             {.body_limit_bytes = 0});
}

}  // namespace medmesh::web

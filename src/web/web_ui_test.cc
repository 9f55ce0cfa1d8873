#include "web/web_ui.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "net/internal/request_target.h"
#include "web/web_assets.h"

namespace medmesh::web {
namespace {

namespace fs = std::filesystem;

// The UI's budget for its own JavaScript and CSS as served (minified, uncompressed; issue 9,
// docs/ui.md).
constexpr std::size_t kOwnCodeBudgetBytes = std::size_t{150} * 1024;

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string_view Text(const EmbeddedAsset& asset) { return AsStringView(asset.bytes); }

std::optional<std::string> HeaderOf(const net::Response& r, std::string_view name) {
  const auto value = r.Header(name);
  return value ? std::optional<std::string>(std::string(*value)) : std::nullopt;
}

net::Response Call(const net::Router& router, std::string_view target,
                   std::optional<std::string> if_none_match = std::nullopt,
                   net::Method method = net::Method::kGet) {
  const net::RouteMatch match =
      router.Find(method, net::internal::ParseRequestTarget(target).value().segments);
  if (match.kind != net::RouteMatch::Kind::kFound) return net::Response::Text("no route", 404);
  net::Request request;
  request.method = method;
  request.path = target;
  if (if_none_match) request.headers.emplace_back("If-None-Match", *if_none_match);
  return match.route->handler(request).value();
}

TEST(EmbeddedAssets, EveryFileOfTheWebFolderIsEmbeddedWithItsBytes) {
  const fs::path web = MEDMESH_WEB_DIR;
  std::size_t files = 0;
  for (auto it = fs::recursive_directory_iterator(web); it != fs::recursive_directory_iterator();
       ++it) {
    const fs::path relative = fs::relative(it->path(), web);
    if (relative == "node_modules") {
      it.disable_recursion_pending();
      continue;
    }
    if (!it->is_regular_file() || relative == "package.json" || relative == "package-lock.json") {
      continue;
    }
    const std::string url =
        relative == "index.html" ? std::string("/") : "/ui/" + relative.generic_string();
    SCOPED_TRACE(url);
    const EmbeddedAsset* asset = FindAsset(url);
    ASSERT_NE(asset, nullptr);
    // The UI's own code is embedded as esbuild minified it; everything else as it is.
    const bool minified = relative.extension() == ".js" || relative.extension() == ".css";
    EXPECT_TRUE(Text(*asset) ==
                ReadFile(minified ? fs::path(MEDMESH_WEB_MINIFIED_DIR) / relative : it->path()));
    if (minified) {
      EXPECT_LT(asset->bytes.size(), ReadFile(it->path()).size());
    }
    ++files;
  }
  // The folder's files, Chart.js, and nothing else.
  EXPECT_EQ(EmbeddedAssets().size(), files + 1);
  const EmbeddedAsset* chart = FindAsset("/ui/vendor/chart.umd.js");
  ASSERT_NE(chart, nullptr);
  EXPECT_TRUE(Text(*chart) ==
              ReadFile(web / "node_modules" / "chart.js" / "dist" / "chart.umd.js"));
  EXPECT_FALSE(IsOwnCode(*chart));
}

TEST(EmbeddedAssets, ContentTypesComeFromTheExtension) {
  ASSERT_NE(FindAsset("/"), nullptr);
  EXPECT_EQ(FindAsset("/")->content_type, "text/html; charset=utf-8");
  ASSERT_NE(FindAsset("/ui/js/app.js"), nullptr);
  EXPECT_EQ(FindAsset("/ui/js/app.js")->content_type, "text/javascript; charset=utf-8");
  ASSERT_NE(FindAsset("/ui/css/app.css"), nullptr);
  EXPECT_EQ(FindAsset("/ui/css/app.css")->content_type, "text/css; charset=utf-8");
  ASSERT_NE(FindAsset("/ui/favicon.svg"), nullptr);
  EXPECT_EQ(FindAsset("/ui/favicon.svg")->content_type, "image/svg+xml");
  EXPECT_EQ(FindAsset("/ui/nothing.js"), nullptr);
  EXPECT_EQ(FindAsset("/index.html"), nullptr);
}

TEST(EmbeddedAssets, EtagsAreStrongQuotedDigestsOnePerContent) {
  const std::regex etag(R"("[0-9a-f]{32}")");
  std::set<std::string_view> tags;
  std::set<std::string_view> contents;
  for (const EmbeddedAsset& asset : EmbeddedAssets()) {
    SCOPED_TRACE(asset.path);
    EXPECT_TRUE(std::regex_match(std::string(asset.etag), etag));
    tags.insert(asset.etag);
    contents.insert(Text(asset));
  }
  EXPECT_EQ(tags.size(), contents.size());
}

TEST(EmbeddedAssets, OwnJavaScriptAndCssStayWithinTheBudget) {
  std::size_t own = 0;
  for (const EmbeddedAsset& asset : EmbeddedAssets()) {
    if (IsOwnCode(asset)) own += asset.bytes.size();
  }
  EXPECT_GT(own, 0U);
  EXPECT_LE(own, kOwnCodeBudgetBytes);
}

// Every "/ui/..." the page names and every relative import of a module resolves to an
// embedded asset: a renamed file cannot leave a page that fails to load in the browser.
TEST(EmbeddedAssets, ThePageAndTheModulesReferOnlyToEmbeddedFiles) {
  const std::regex page_reference(R"re((?:src|href)="(/ui/[^"]+)")re");
  const std::string page(Text(*FindAsset("/")));
  std::size_t page_references = 0;
  for (std::sregex_iterator it(page.begin(), page.end(), page_reference), end; it != end; ++it) {
    SCOPED_TRACE((*it)[1].str());
    EXPECT_NE(FindAsset((*it)[1].str()), nullptr);
    ++page_references;
  }
  EXPECT_GE(page_references, 3U);

  // Quoted either way: esbuild's minified output uses double quotes.
  const std::regex import(R"re((?:from\s*|import\()\s*['"](\.{1,2}/[^'"]+)['"])re");
  std::size_t imports = 0;
  for (const EmbeddedAsset& asset : EmbeddedAssets()) {
    if (!IsOwnCode(asset) || !asset.path.ends_with(".js")) continue;
    const std::string code(Text(asset));
    const fs::path dir = fs::path(std::string(asset.path)).parent_path();
    for (std::sregex_iterator it(code.begin(), code.end(), import), end; it != end; ++it) {
      const std::string target = (dir / (*it)[1].str()).lexically_normal().generic_string();
      SCOPED_TRACE(std::string(asset.path) + " imports " + target);
      EXPECT_NE(FindAsset(target), nullptr);
      ++imports;
    }
  }
  EXPECT_GE(imports, 10U);
}

// The rules docs/ui.md sets for the UI's own code, checked on the bytes that ship: no HTML
// parsing of strings, no eval, no inline script or style in the page.
TEST(EmbeddedAssets, OwnCodeNeverParsesStringsAsHtmlAndThePageHasNoInlineCode) {
  for (const EmbeddedAsset& asset : EmbeddedAssets()) {
    if (!IsOwnCode(asset) || !asset.path.ends_with(".js")) continue;
    SCOPED_TRACE(asset.path);
    const std::string_view code = Text(asset);
    for (const char* sink : {"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write",
                             "eval(", "new Function", "localStorage", "sessionStorage"}) {
      EXPECT_EQ(code.find(sink), std::string_view::npos) << sink;
    }
  }
  const std::string page(Text(*FindAsset("/")));
  EXPECT_EQ(page.find("style="), std::string::npos);
  EXPECT_EQ(page.find("<style"), std::string::npos);
  EXPECT_FALSE(std::regex_search(page, std::regex(R"(<script(?![^>]*\bsrc=))")));
  EXPECT_FALSE(std::regex_search(page, std::regex(R"(\son[a-z]+=)")));
}

TEST(AssetResponse, ServesTheBytesWithTheSecurityHeadersAndAnEtag) {
  const auto response = AssetResponse("/ui/js/app.js", std::nullopt);
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->content_type, "text/javascript; charset=utf-8");
  EXPECT_TRUE(response->body == Text(*FindAsset("/ui/js/app.js")));
  EXPECT_EQ(HeaderOf(*response, "ETag"), std::string(FindAsset("/ui/js/app.js")->etag));
  EXPECT_EQ(HeaderOf(*response, "Cache-Control"), "no-cache");
  EXPECT_EQ(HeaderOf(*response, "Referrer-Policy"), "no-referrer");
  EXPECT_EQ(HeaderOf(*response, "X-Frame-Options"), "DENY");
  const std::string csp = HeaderOf(*response, "Content-Security-Policy").value_or("");
  for (const char* directive :
       {"default-src 'self'", "script-src 'self'", "style-src 'self'", "object-src 'none'",
        "base-uri 'none'", "frame-ancestors 'none'", "require-trusted-types-for 'script'"}) {
    EXPECT_NE(csp.find(directive), std::string::npos) << directive;
  }
  EXPECT_EQ(csp.find("unsafe"), std::string::npos);
  EXPECT_FALSE(HeaderOf(*response, "Strict-Transport-Security").has_value());
  const auto over_tls = AssetResponse("/ui/js/app.js", std::nullopt, {.https = true});
  ASSERT_TRUE(over_tls.has_value());
  EXPECT_EQ(HeaderOf(*over_tls, "Strict-Transport-Security"), "max-age=31536000");
  EXPECT_EQ(csp.find('*'), std::string::npos);
  EXPECT_FALSE(AssetResponse("/ui/missing.js", std::nullopt).has_value());
}

TEST(AssetResponse, AMatchingIfNoneMatchGets304WithoutTheBody) {
  const std::string etag(FindAsset("/")->etag);
  for (const std::string& header :
       {etag, "W/" + etag, "\"other\", " + etag, "\"other\" ,W/" + etag + " ", std::string("*")}) {
    SCOPED_TRACE(header);
    const auto response = AssetResponse("/", header);
    ASSERT_TRUE(response.has_value());
    EXPECT_EQ(response->status, 304);
    EXPECT_TRUE(response->body.empty());
    EXPECT_EQ(HeaderOf(*response, "ETag"), etag);
    EXPECT_TRUE(HeaderOf(*response, "Content-Security-Policy").has_value());
  }
  for (const std::string& header :
       {std::string("\"other\""), std::string(""), std::string(",,,"), etag.substr(1),
        std::string(FindAsset("/ui/js/app.js")->etag)}) {
    SCOPED_TRACE(header);
    const auto response = AssetResponse("/", header);
    ASSERT_TRUE(response.has_value());
    EXPECT_EQ(response->status, 200);
    EXPECT_FALSE(response->body.empty());
  }
}

TEST(AddWebUi, RoutesThePageEveryAssetAndTheNodeInfo) {
  net::Router router;
  AddWebUi(router, [] {
    return NodeInfo{.kind = NodeKind::kCloud,
                    .id = "cloud",
                    .roles = CloudRoles(),
                    .cloudlets = {{"cloudlet-1", "http://127.0.0.1:8081"}}};
  });
  for (const EmbeddedAsset& asset : EmbeddedAssets()) {
    SCOPED_TRACE(asset.path);
    const net::Response response = Call(router, asset.path);
    EXPECT_EQ(response.status, 200);
    EXPECT_TRUE(response.body == Text(asset));
    EXPECT_EQ(Call(router, asset.path, std::string(asset.etag)).status, 304);
    EXPECT_EQ(Call(router, asset.path, std::nullopt, net::Method::kHead).status, 200);
  }
  EXPECT_EQ(Call(router, "/ui/js/missing.js").status, 404);
  EXPECT_EQ(Call(router, "/ui/").status, 404);
  EXPECT_EQ(Call(router, "/index.html").status, 404);

  const net::Response node = Call(router, "/api/v1/node");
  EXPECT_EQ(node.status, 200);
  EXPECT_EQ(node.content_type, "application/json");
  const auto body = nlohmann::json::parse(node.body);
  EXPECT_EQ(body, nlohmann::json::parse(R"({"kind":"cloud","id":"cloud",
      "roles":["patient","doctor","admin"],
      "cloudlets":[{"id":"cloudlet-1","url":"http://127.0.0.1:8081"}]})"));
}

TEST(NodeInfoJson, ACloudletNamesItsCloudOrNone) {
  NodeInfo info{.kind = NodeKind::kCloudlet, .id = "cloudlet-2", .roles = CloudletRoles()};
  EXPECT_EQ(nlohmann::json::parse(NodeInfoJson(info)),
            nlohmann::json::parse(R"({"kind":"cloudlet","id":"cloudlet-2",
                "roles":["device","operator","patient"],"cloud":null})"));
  info.cloud = MeshLink{"", "https://cloud.example:8443"};
  EXPECT_EQ(nlohmann::json::parse(NodeInfoJson(info))["cloud"],
            nlohmann::json::parse(R"({"url":"https://cloud.example:8443"})"));
}

TEST(NodeInfoJson, ACloudWithoutCloudletsHasAnEmptyList) {
  const NodeInfo info{.kind = NodeKind::kCloud, .id = "c", .roles = CloudRoles()};
  EXPECT_EQ(nlohmann::json::parse(NodeInfoJson(info))["cloudlets"], nlohmann::json::array());
}

}  // namespace
}  // namespace medmesh::web

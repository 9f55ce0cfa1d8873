// The web UI's files (web/ in the repository, plus Chart.js from web/node_modules), embedded in
// the binary at build time by cmake/embed_web_assets.cmake: no file is read at run time, so a
// node serves exactly the UI it was built with, and a deployment cannot drift from it.
//
// URL paths: web/index.html is "/", every other file web/<path> is "/ui/<path>", and Chart.js's
// UMD build is "/ui/vendor/chart.umd.js" (docs/ui.md).
// Thread safety: immutable data.
#pragma once

#include <span>
#include <string_view>

#include "core/bytes.h"

namespace medmesh::web {

struct EmbeddedAsset {
  std::string_view path;          // "/ui/js/app.js"
  std::string_view content_type;  // "text/javascript; charset=utf-8"
  std::string_view etag;          // strong: "\"<32 hex digits of the SHA-256>\""
  ByteView bytes;
};

// Every embedded asset, in the order of the build's manifest (sorted by path).
std::span<const EmbeddedAsset> EmbeddedAssets();

// The asset served at `path`; nullptr if there is none.
const EmbeddedAsset* FindAsset(std::string_view path);

// True for an asset that is the UI's own JavaScript or CSS (not a vendored file): what the
// UI's size budget counts (docs/ui.md).
bool IsOwnCode(const EmbeddedAsset& asset);

}  // namespace medmesh::web

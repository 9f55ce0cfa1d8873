// Parsing of a request target (RFC 9112 origin-form: "/path?query") with Boost.URL.
// Internal to src/net: used by the server before routing, and by tests and the fuzz target.
// Thread safety: pure functions.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace medmesh::net::internal {

struct RequestTarget {
  // The path as received, percent-encoded; a view into the parsed input.
  std::string_view path;
  // Percent-decoded path segments: "/" → {}, "/a/b" → {"a","b"}, "/a/" → {"a",""}.
  std::vector<std::string> segments;
  // Percent-decoded query parameters in order ('+' is a space); "k" without '=' → {"k",""};
  // empty ones ("/a?", "/a?&x=1") are skipped.
  std::vector<std::pair<std::string, std::string>> query;
};

// kInvalidArgument if `target` is not an origin-form target (absolute-form and
// authority-form are refused: MedMesh is not a proxy), if a path segment is "." or ".."
// (refused rather than normalised, so filters and handlers see exactly the path that was
// routed), or if a path segment or query parameter decodes to a NUL byte.
Result<RequestTarget> ParseRequestTarget(std::string_view target);

}  // namespace medmesh::net::internal

// Strict JSON request bodies: the one way a MedMesh route reads JSON from a client.
//
//   constexpr net::JsonField kFields[] = {{"device_id", net::JsonType::kString}, ...};
//   net::JsonBody body = net::ParseJsonBody(request, kFields);
//   if (auto* refusal = std::get_if<net::Response>(&body)) return std::move(*refusal);
//   const nlohmann::json& object = std::get<nlohmann::json>(body);
//
// Rules (docs/http.md, "JSON request bodies"):
//   - Content-Type must be application/json, with no parameter other than charset=utf-8
//     (case-insensitive): otherwise 415 "unsupported_media_type". A missing Content-Type is
//     refused too.
//   - The body must be one valid JSON value, UTF-8, nested at most kMaxJsonDepth deep, with no
//     member name twice in any object at any depth (two readers of a body with duplicates can
//     disagree on what it says): otherwise 400 "invalid_argument".
//   - The top level must be an object holding only the listed fields, each of its listed type,
//     and every required one: otherwise 400 "invalid_argument", naming the field.
// Refusal messages never quote the body.
// Thread safety: free functions without shared state.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string_view>
#include <variant>

#include "core/status.h"
#include "net/http_message.h"

namespace medmesh::net {

inline constexpr int kMaxJsonDepth = 32;

enum class JsonType : std::uint8_t { kString, kInteger, kNumber, kBoolean, kObject, kArray };

// One member a JSON object may hold.
struct JsonField {
  std::string_view name;
  JsonType type;
  bool required = true;
};

// True for "application/json" (any case), alone or with "charset=utf-8".
bool IsJsonContentType(std::optional<std::string_view> content_type);

// Parses `text` under the rules above (JSON validity, depth, duplicate names).
// kInvalidArgument otherwise, with a message that does not quote the text.
Result<nlohmann::json> ParseStrictJson(std::string_view text);

// kInvalidArgument (naming the field) unless `value` is an object with only `fields`, each of
// its type, and every required one present. kInteger accepts integers only (no 1.0);
// kNumber accepts integers too.
Status CheckJsonFields(const nlohmann::json& value, std::span<const JsonField> fields);

// The parsed object, or the response that refuses the request (415 or 400, see above).
using JsonBody = std::variant<nlohmann::json, Response>;
JsonBody ParseJsonBody(const Request& request, std::span<const JsonField> fields);

}  // namespace medmesh::net

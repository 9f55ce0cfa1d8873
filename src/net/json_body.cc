#include "net/json_body.h"

#include <set>
#include <string>
#include <vector>

#include "net/error_mapping.h"

namespace medmesh::net {
namespace {

using Json = nlohmann::json;

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool HasType(const Json& value, JsonType type) {
  switch (type) {
    case JsonType::kString: return value.is_string();
    case JsonType::kInteger: return value.is_number_integer();
    case JsonType::kNumber: return value.is_number();
    case JsonType::kBoolean: return value.is_boolean();
    case JsonType::kObject: return value.is_object();
    case JsonType::kArray: return value.is_array();
  }
  return false;
}

std::string_view TypeName(JsonType type) {
  switch (type) {
    case JsonType::kString: return "a string";
    case JsonType::kInteger: return "an integer";
    case JsonType::kNumber: return "a number";
    case JsonType::kBoolean: return "a boolean";
    case JsonType::kObject: return "an object";
    case JsonType::kArray: return "an array";
  }
  return "?";
}

}  // namespace

bool IsJsonContentType(std::optional<std::string_view> content_type) {
  if (!content_type) return false;
  std::string_view rest = *content_type;
  for (bool first = true;; first = false) {
    const std::size_t semicolon = rest.find(';');
    const std::string_view part = Trim(rest.substr(0, semicolon));
    const bool ok = first ? EqualsIgnoreCase(part, "application/json")
                          : EqualsIgnoreCase(part, "charset=utf-8") ||
                                EqualsIgnoreCase(part, "charset=\"utf-8\"");
    if (!ok) return false;
    if (semicolon == std::string_view::npos) return true;
    rest = rest.substr(semicolon + 1);
  }
}

Result<Json> ParseStrictJson(std::string_view text) {
  // The callback only records; the verdict follows the parse. One set of names per open object.
  bool duplicate = false;
  bool too_deep = false;
  std::vector<std::set<std::string, std::less<>>> names;
  auto callback = [&](int depth, Json::parse_event_t event, Json& parsed) {
    const bool opens =
        event == Json::parse_event_t::object_start || event == Json::parse_event_t::array_start;
    // `depth` counts the containers around this one: the outermost is at depth 0.
    if (opens && depth >= kMaxJsonDepth) too_deep = true;
    if (event == Json::parse_event_t::object_start) {
      names.emplace_back();
    } else if (event == Json::parse_event_t::object_end) {
      if (!names.empty()) names.pop_back();
    } else if (event == Json::parse_event_t::key && !names.empty() && parsed.is_string()) {
      if (!names.back().insert(parsed.get<std::string>()).second) duplicate = true;
    }
    return !too_deep;
  };
  Json value;
  try {
    value = Json::parse(text.begin(), text.end(), callback, /*allow_exceptions=*/false);
  } catch (const std::exception&) {
    // The library's message quotes the input: never pass it on.
    return InvalidArgument("the body is not valid JSON");
  }
  if (too_deep) {
    return InvalidArgument("the body nests deeper than " + std::to_string(kMaxJsonDepth) +
                           " levels");
  }
  if (value.is_discarded()) return InvalidArgument("the body is not valid JSON");
  if (duplicate) return InvalidArgument("the body has a member name twice in one object");
  return value;
}

Status CheckJsonFields(const Json& value, std::span<const JsonField> fields) {
  if (!value.is_object()) return InvalidArgument("the body must be a JSON object");
  for (const auto& [name, member] : value.items()) {
    const JsonField* field = nullptr;
    for (const JsonField& f : fields) {
      if (f.name == name) field = &f;
    }
    // The unknown name is not echoed: it is the caller's input.
    if (field == nullptr)
      return InvalidArgument("the body has a member this request does not take");
    if (!HasType(member, field->type)) {
      return InvalidArgument("'" + std::string(field->name) + "' must be " +
                             std::string(TypeName(field->type)));
    }
  }
  for (const JsonField& f : fields) {
    if (f.required && !value.contains(f.name)) {
      return InvalidArgument("'" + std::string(f.name) + "' is required");
    }
  }
  return OkStatus();
}

JsonBody ParseJsonBody(const Request& request, std::span<const JsonField> fields) {
  if (!IsJsonContentType(request.Header("Content-Type"))) {
    return JsonErrorResponse(415, "unsupported_media_type",
                             "the body must be sent as Content-Type: application/json");
  }
  auto value = ParseStrictJson(request.body_text());
  if (!value) return ErrorResponse(value.error());
  if (Status checked = CheckJsonFields(*value, fields); !checked) {
    return ErrorResponse(checked.error());
  }
  return std::move(*value);
}

}  // namespace medmesh::net

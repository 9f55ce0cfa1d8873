#include "net/http_message.h"

#include <algorithm>
#include <array>

namespace medmesh::net {
namespace {

constexpr std::array<std::pair<Method, std::string_view>, 7> kMethodNames = {{
    {Method::kGet, "GET"},
    {Method::kHead, "HEAD"},
    {Method::kPost, "POST"},
    {Method::kPut, "PUT"},
    {Method::kPatch, "PATCH"},
    {Method::kDelete, "DELETE"},
    {Method::kOptions, "OPTIONS"},
}};

char AsciiLower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

template <typename Pairs>
std::optional<std::string_view> FindFirst(const Pairs& pairs, std::string_view key) {
  for (const auto& [k, v] : pairs) {
    if (k == key) return std::string_view(v);
  }
  return std::nullopt;
}

template <typename Pairs>
std::optional<std::string_view> FindFirstIgnoreCase(const Pairs& pairs, std::string_view key) {
  for (const auto& [k, v] : pairs) {
    if (EqualsIgnoreCase(k, key)) return std::string_view(v);
  }
  return std::nullopt;
}

}  // namespace

std::string_view MethodName(Method method) {
  for (const auto& [m, name] : kMethodNames) {
    if (m == method) return name;
  }
  return "GET";  // unreachable: every enumerator is in the table
}

std::optional<Method> ParseMethod(std::string_view token) {
  for (const auto& [m, name] : kMethodNames) {
    if (name == token) return m;
  }
  return std::nullopt;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                    [](char x, char y) { return AsciiLower(x) == AsciiLower(y); });
}

std::optional<std::string_view> Request::PathParam(std::string_view name) const {
  return FindFirst(path_params, name);
}

std::optional<std::string_view> Request::QueryParam(std::string_view name) const {
  return FindFirst(query, name);
}

std::optional<std::string_view> Request::Header(std::string_view name) const {
  return FindFirstIgnoreCase(headers, name);
}

Response Response::Json(std::string body, int status) {
  Response r;
  r.status = status;
  r.content_type = "application/json";
  r.body = std::move(body);
  return r;
}

Response Response::Text(std::string body, int status) {
  Response r;
  r.status = status;
  r.content_type = "text/plain; charset=utf-8";
  r.body = std::move(body);
  return r;
}

Response Response::Binary(ByteView body, int status) {
  Response r;
  r.status = status;
  r.content_type = "application/octet-stream";
  r.body.assign(AsStringView(body));
  return r;
}

std::optional<std::string_view> Response::Header(std::string_view name) const {
  return FindFirstIgnoreCase(headers, name);
}

}  // namespace medmesh::net

#include "store/postgres/schema_prefix.h"

#include <algorithm>

namespace medmesh::store {

Status CheckSchemaPrefix(std::string_view prefix) {
  const bool valid =
      prefix.empty() || (prefix.size() <= 32 && prefix[0] >= 'a' && prefix[0] <= 'z' &&
                         std::all_of(prefix.begin(), prefix.end(), [](char c) {
                           return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
                         }));
  if (!valid) return InvalidArgument("schema prefix must be empty or [a-z][a-z0-9_]{0,31}");
  return OkStatus();
}

std::string InSchema(std::string_view schema, std::string_view sql) {
  std::string out;
  out.reserve(sql.size() + 32);
  for (std::size_t i = 0; i < sql.size(); ++i) {
    if (sql.substr(i, 3) == "{s}") {
      out += '"';
      out += schema;
      out += '"';
      i += 2;
    } else {
      out += sql[i];
    }
  }
  return out;
}

}  // namespace medmesh::store

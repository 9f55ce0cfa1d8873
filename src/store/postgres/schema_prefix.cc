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

}  // namespace medmesh::store

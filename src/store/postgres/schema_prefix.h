// The one rule for the schema prefix of the PostgreSQL stores (the record store here, the
// cloud's intake store): the prefix is put, unescaped, inside quoted identifiers, so it may only
// hold characters that cannot end the quote.
// Thread safety: reentrant.
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"

namespace medmesh::store {

// OK for an empty prefix or one matching [a-z][a-z0-9_]{0,31}; kInvalidArgument (naming the
// rule, never echoing the value) otherwise.
Status CheckSchemaPrefix(std::string_view prefix);

// `sql` with every "{s}" replaced by the quoted schema name `schema` (a checked prefix plus a
// fixed [a-z_] suffix, so quoting it is safe). For the stores that keep one schema each.
std::string InSchema(std::string_view schema, std::string_view sql);

}  // namespace medmesh::store

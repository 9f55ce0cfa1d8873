// Reader for NIST PQC known-answer files (PQCgenKAT `.req` and `.rsp`). Tests only.
//
// Format: records of `name = value` lines, each record starting with `count = <decimal>`;
// every other value is hex (either case). Blank lines are skipped; lines starting with `#`
// are comments (the `.rsp` header `# <algorithm name>` is kept in `comments`). Each line is
// split on its first " = ". Trailing CR (CRLF files) and spaces after a value are ignored;
// "name =" and "name = " (as in `.req` files) give an empty value.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/bytes.h"
#include "core/status.h"

namespace medmesh::crypto::testing {

struct NistKatRecord {
  std::uint64_t count = 0;
  std::size_t line = 0;  // 1-based line number of `count = ...`, for error messages
  std::map<std::string, Bytes, std::less<>> fields;  // hex-decoded, without `count`

  // The named field, or kNotFound naming the record.
  Result<ByteView> Field(std::string_view name) const;
};

struct NistKatFile {
  std::vector<std::string> comments;   // `#` lines without the leading "# "
  std::vector<NistKatRecord> records;  // in file order
};

// Errors: kNotFound if the file cannot be opened; kInvalidArgument (with file:line) for a
// line without " = ", a field before the first `count`, a repeated field, a bad count or
// bad hex.
Result<NistKatFile> ReadNistKatFile(const std::string& path);
// The same for text already in memory; `origin` names it in error messages.
Result<NistKatFile> ParseNistKatFile(std::string_view text, std::string_view origin);

}  // namespace medmesh::crypto::testing

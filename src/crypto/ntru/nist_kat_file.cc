#include "crypto/ntru/nist_kat_file.h"

#include <charconv>
#include <fstream>
#include <sstream>
#include <utility>

namespace medmesh::crypto::testing {
namespace {

std::string_view TrimRight(std::string_view s) {
  while (!s.empty() && (s.back() == '\r' || s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

std::string_view TrimCr(std::string_view s) {
  if (!s.empty() && s.back() == '\r') s.remove_suffix(1);
  return s;
}

std::string Where(std::string_view origin, std::size_t line) {
  return std::string(origin) + ":" + std::to_string(line) + ": ";
}

}  // namespace

Result<ByteView> NistKatRecord::Field(std::string_view name) const {
  auto it = fields.find(name);
  if (it == fields.end()) {
    return NotFound("record count = " + std::to_string(count) + " (line " + std::to_string(line) +
                    ") has no field '" + std::string(name) + "'");
  }
  return ByteView(it->second);
}

Result<NistKatFile> ParseNistKatFile(std::string_view text, std::string_view origin) {
  NistKatFile file;
  std::size_t line_no = 0;
  while (!text.empty()) {
    const std::size_t eol = text.find('\n');
    std::string_view line = TrimCr(text.substr(0, eol));
    text = eol == std::string_view::npos ? std::string_view() : text.substr(eol + 1);
    ++line_no;

    if (TrimRight(line).empty()) continue;
    if (line.front() == '#') {
      line.remove_prefix(1);
      if (!line.empty() && line.front() == ' ') line.remove_prefix(1);
      file.comments.emplace_back(TrimRight(line));
      continue;
    }
    std::string_view name;
    std::string_view value;
    if (const std::size_t eq = line.find(" = "); eq != std::string_view::npos) {
      name = line.substr(0, eq);
      value = TrimRight(line.substr(eq + 3));
    } else if (line = TrimRight(line); line.size() > 2 && line.ends_with(" =")) {
      name = line.substr(0, line.size() - 2);  // "pk =": the .req files leave values empty
    } else {
      return InvalidArgument(Where(origin, line_no) + "expected 'name = value'");
    }

    if (name == "count") {
      std::uint64_t count = 0;
      const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), count);
      if (ec != std::errc() || end != value.data() + value.size() || value.empty()) {
        return InvalidArgument(Where(origin, line_no) + "bad count '" + std::string(value) + "'");
      }
      NistKatRecord record;
      record.count = count;
      record.line = line_no;
      file.records.push_back(std::move(record));
      continue;
    }
    if (file.records.empty()) {
      return InvalidArgument(Where(origin, line_no) + "field '" + std::string(name) +
                             "' before the first count");
    }
    Result<Bytes> bytes = HexDecode(value);
    if (!bytes) {
      return InvalidArgument(Where(origin, line_no) + "field '" + std::string(name) +
                             "': " + bytes.error().message());
    }
    auto [it, inserted] = file.records.back().fields.emplace(name, std::move(*bytes));
    if (!inserted) {
      return InvalidArgument(Where(origin, line_no) + "repeated field '" + std::string(name) + "'");
    }
  }
  return file;
}

Result<NistKatFile> ReadNistKatFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("cannot open " + path);
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return NotFound("cannot read " + path);
  return ParseNistKatFile(text.str(), path);
}

}  // namespace medmesh::crypto::testing

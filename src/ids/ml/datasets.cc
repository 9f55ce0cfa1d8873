#include "ids/ml/datasets.h"

#include <zlib.h>

#include <cerrno>
#include <cstdio>
#include <memory>

#include "core/bytes.h"
#include "core/env.h"
#include "crypto/keyed_hash.h"

namespace medmesh::ids::ml {
namespace {

constexpr std::size_t kMaxFileBytes = std::size_t{1} << 30;

Error LineError(std::string_view source, std::size_t line, std::string_view what) {
  return InvalidArgument(std::string(source) + ":" + std::to_string(line) + ": " +
                         std::string(what));
}

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

bool IsRequestLine(std::string_view line) {
  for (std::string_view m : {"GET ", "POST ", "PUT ", "DELETE ", "HEAD ", "OPTIONS ", "PATCH "}) {
    if (StartsWith(line, m)) {
      const std::string_view rest = line.substr(m.size());
      return StartsWith(rest, "http://") || StartsWith(rest, "https://") || StartsWith(rest, "/");
    }
  }
  return false;
}

}  // namespace

Result<std::string> ReadMaybeGzip(const std::filesystem::path& file) {
  MEDMESH_ASSIGN_OR_RETURN(Bytes raw, Env::Default().ReadSmallFile(file, kMaxFileBytes));
  if (raw.size() < 2 || raw[0] != 0x1f || raw[1] != 0x8b) {
    return std::string(AsStringView(raw));
  }
  z_stream zs{};
  if (inflateInit2(&zs, 15 + 32) != Z_OK) return Internal("zlib init failed");
  std::string out;
  zs.next_in = raw.data();
  zs.avail_in = static_cast<uInt>(raw.size());
  int rc = Z_OK;
  char buffer[1 << 16];
  while (rc != Z_STREAM_END) {
    zs.next_out = reinterpret_cast<Bytef*>(buffer);
    zs.avail_out = sizeof(buffer);
    rc = inflate(&zs, Z_NO_FLUSH);
    if (rc == Z_STREAM_END && zs.avail_in > 0) {
      // Concatenated gzip members: keep going.
      out.append(buffer, sizeof(buffer) - zs.avail_out);
      if (inflateReset(&zs) != Z_OK) break;
      rc = Z_OK;
      continue;
    }
    if (rc != Z_OK && rc != Z_STREAM_END) {
      inflateEnd(&zs);
      return InvalidArgument(file.string() + ": corrupt gzip data");
    }
    out.append(buffer, sizeof(buffer) - zs.avail_out);
    if (out.size() > kMaxFileBytes) {
      inflateEnd(&zs);
      return ResourceExhausted(file.string() + ": more than 1 GiB decompressed");
    }
    if (rc == Z_OK && zs.avail_in == 0 && zs.avail_out != 0) {
      inflateEnd(&zs);
      return InvalidArgument(file.string() + ": truncated gzip data");
    }
  }
  inflateEnd(&zs);
  return out;
}

Result<std::vector<LabeledRequest>> ParseCsicRequests(std::string_view text, int label,
                                                      std::string_view source) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    const std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back(line);
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
  std::vector<LabeledRequest> out;
  std::size_t i = 0;
  while (i < lines.size() && lines[i].empty()) ++i;
  while (i < lines.size()) {
    const std::size_t start_line = i + 1;
    const std::string_view request_line = lines[i];
    if (!IsRequestLine(request_line)) {
      return LineError(source, start_line, "expected a request line (METHOD URL HTTP/1.x)");
    }
    const std::size_t sp1 = request_line.find(' ');
    const std::size_t sp2 = request_line.rfind(' ');
    if (sp2 == sp1 || !StartsWith(request_line.substr(sp2 + 1), "HTTP/")) {
      return LineError(source, start_line, "request line without an HTTP version");
    }
    LabeledRequest r;
    r.label = label;
    r.method = std::string(request_line.substr(0, sp1));
    std::string_view target = request_line.substr(sp1 + 1, sp2 - sp1 - 1);
    if (const std::size_t scheme = target.find("://"); scheme != std::string_view::npos) {
      const std::size_t slash = target.find('/', scheme + 3);
      target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
    }
    const std::size_t q = target.find('?');
    r.path = std::string(target.substr(0, q));
    if (q != std::string_view::npos) r.query = std::string(target.substr(q + 1));
    ++i;
    // Headers up to the empty line.
    while (i < lines.size() && !lines[i].empty()) {
      if (IsRequestLine(lines[i])) break;  // a request without the blank line
      if (lines[i].find(':') == std::string_view::npos) {
        return LineError(source, i + 1, "header line without ':'");
      }
      ++i;
    }
    // Body: the lines up to the next request line.
    while (i < lines.size() && !IsRequestLine(lines[i])) {
      if (!lines[i].empty()) {
        if (!r.body.empty()) r.body += '\n';
        r.body += lines[i];
      }
      ++i;
    }
    out.push_back(std::move(r));
  }
  return out;
}

Result<std::vector<LabeledValue>> ParseHttpParamsCsv(std::string_view text,
                                                     std::string_view source) {
  // RFC 4180 fields: quoted with "" escapes, or bare.
  std::vector<LabeledValue> out;
  std::size_t pos = 0, line = 1;
  auto parse_record = [&](std::vector<std::string>& fields) -> Status {
    fields.clear();
    const std::size_t record_line = line;
    while (true) {
      std::string field;
      if (pos < text.size() && text[pos] == '"') {
        ++pos;
        while (true) {
          if (pos >= text.size())
            return LineError(source, record_line, "unterminated quoted field");
          if (text[pos] == '"') {
            if (pos + 1 < text.size() && text[pos + 1] == '"') {
              field += '"';
              pos += 2;
              continue;
            }
            ++pos;
            break;
          }
          if (text[pos] == '\n') ++line;
          field += text[pos++];
        }
      } else {
        while (pos < text.size() && text[pos] != ',' && text[pos] != '\n' && text[pos] != '\r') {
          if (text[pos] == '"') return LineError(source, record_line, "quote inside a bare field");
          field += text[pos++];
        }
      }
      fields.push_back(std::move(field));
      if (pos < text.size() && text[pos] == ',') {
        ++pos;
        continue;
      }
      if (pos < text.size() && text[pos] == '\r') ++pos;
      if (pos < text.size() && text[pos] != '\n') {
        return LineError(source, record_line, "garbage after a quoted field");
      }
      if (pos < text.size()) ++pos;
      ++line;
      return OkStatus();
    }
  };
  std::vector<std::string> fields;
  MEDMESH_RETURN_IF_ERROR(parse_record(fields));
  if (fields.size() != 4 || fields[0] != "payload" || fields[2] != "attack_type" ||
      fields[3] != "label") {
    return LineError(source, 1,
                     "expected the header \"payload\",\"length\",\"attack_type\",\"label\"");
  }
  while (pos < text.size()) {
    const std::size_t record_line = line;
    MEDMESH_RETURN_IF_ERROR(parse_record(fields));
    if (fields.size() == 1 && fields[0].empty()) continue;  // blank line
    if (fields.size() != 4) return LineError(source, record_line, "expected 4 fields");
    LabeledValue v;
    v.payload = std::move(fields[0]);
    v.attack_type = std::move(fields[2]);
    if (fields[3] == "norm") {
      v.label = 0;
    } else if (fields[3] == "anom") {
      v.label = 1;
    } else {
      return LineError(source, record_line, "label must be norm or anom");
    }
    out.push_back(std::move(v));
  }
  return out;
}

Result<std::vector<LabeledFlow>> ParseKddText(std::string_view text, std::string_view source) {
  std::vector<LabeledFlow> out;
  std::size_t line_number = 0;
  while (!text.empty()) {
    const std::size_t nl = text.find('\n');
    const std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++line_number;
    if (line.empty() || line == "\r") continue;
    Result<LabeledFlow> flow = ParseKddLine(line);
    if (!flow) return LineError(source, line_number, flow.error().message());
    if (flow->label.empty()) return LineError(source, line_number, "flow record without a label");
    out.push_back(std::move(*flow));
  }
  return out;
}

Result<int> CsicLabelFromFileName(const std::filesystem::path& file) {
  std::string name = file.filename().string();
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (name.find("anomal") != std::string::npos) return 1;
  if (name.find("normal") != std::string::npos) return 0;
  return InvalidArgument(file.filename().string() +
                         ": a CSIC file's name must say \"normal\" or \"anomalous\" (its label)");
}

Result<std::vector<LabeledRequest>> ReadCsicFile(const std::filesystem::path& file) {
  MEDMESH_ASSIGN_OR_RETURN(int label, CsicLabelFromFileName(file));
  MEDMESH_ASSIGN_OR_RETURN(std::string text, ReadMaybeGzip(file));
  return ParseCsicRequests(text, label, file.filename().string());
}

Result<std::vector<LabeledValue>> ReadHttpParamsFile(const std::filesystem::path& file) {
  MEDMESH_ASSIGN_OR_RETURN(std::string text, ReadMaybeGzip(file));
  return ParseHttpParamsCsv(text, file.filename().string());
}

Result<std::vector<LabeledFlow>> ReadKddFile(const std::filesystem::path& file) {
  MEDMESH_ASSIGN_OR_RETURN(std::string text, ReadMaybeGzip(file));
  return ParseKddText(text, file.filename().string());
}

Result<std::string> FileDigest(const std::filesystem::path& file) {
  MEDMESH_ASSIGN_OR_RETURN(Bytes raw, Env::Default().ReadSmallFile(file, kMaxFileBytes));
  return HexEncode(crypto::Blake2b256(raw));
}

}  // namespace medmesh::ids::ml

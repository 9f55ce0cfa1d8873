// Structured logging: one JSON object per line (event name plus key/value fields) on top of
// spdlog. Fields are typed so that secrets cannot be logged by accident: there is no overload
// for SecretBytes, and byte strings are never logged (log a fingerprint instead).
// Thread safety: all functions may be called from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <variant>

#include "core/status.h"

namespace spdlog {  // NOLINT(readability-identifier-naming): spdlog's namespace
class logger;
}

namespace medmesh::log {

enum class Level { kDebug, kInfo, kWarn, kError };

struct Field {
  Field(std::string_view k, std::string_view v) : key(k), value(std::string(v)) {}
  Field(std::string_view k, const char* v) : key(k), value(std::string(v)) {}
  Field(std::string_view k, const std::string& v) : key(k), value(v) {}
  Field(std::string_view k, std::int64_t v) : key(k), value(v) {}
  Field(std::string_view k, int v) : key(k), value(static_cast<std::int64_t>(v)) {}
  Field(std::string_view k, unsigned v) : key(k), value(static_cast<std::uint64_t>(v)) {}
  // Kept unsigned: ids drawn from Random::NextU64() must not be logged as negative numbers.
  Field(std::string_view k, std::uint64_t v) : key(k), value(v) {}
  Field(std::string_view k, double v) : key(k), value(v) {}
  Field(std::string_view k, bool v) : key(k), value(v) {}
  std::string_view key;
  // Non-finite doubles are written as JSON null.
  std::variant<std::string, std::int64_t, std::uint64_t, double, bool> value;
};

// Formats one event as a JSON line (exposed for tests).
std::string FormatEvent(Level level, std::string_view event, std::initializer_list<Field> fields);

void SetLevel(Level level);

// Size-based rotation of a file of lines, so that normal operation never fills a small disk:
// `path` is written until the next line would take it past `max_file_bytes`; it is then
// renamed with the index before its extension (node.log → node.1.log, node.1.log →
// node.2.log, ...), the oldest beyond `max_files` (the current file included) is deleted,
// and a new `path` is started. A file never exceeds max_file_bytes unless a single line
// does. Files are created with mode 0600.
struct FileRotation {
  std::size_t max_file_bytes = std::size_t{64} << 20;  // 64 MiB
  std::size_t max_files = 5;                           // 1..1000
};

// Sends log lines to `path`, rotated as `rotation` says, instead of stderr (the default);
// apps/ calls this once at start. Every line is flushed (a process that aborts must not lose
// the lines that explain why). kInvalidArgument for a rotation out of range, kUnavailable if
// the file cannot be opened (the logger is unchanged then).
Status LogToFile(const std::string& path, const FileRotation& rotation = {});
// LogToFile with the default rotation; aborts if the file cannot be opened (tests).
void SetFile(const std::string& path);

// A file of text lines (a journal) with the same rotation as the log, e.g. a device's
// journal of deliveries. Each Append writes one line and flushes it.
// Thread safety: thread-safe.
class LineFile {
 public:
  // Errors as LogToFile.
  static Result<std::unique_ptr<LineFile>> Open(const std::string& path,
                                                const FileRotation& rotation = {});
  ~LineFile();
  LineFile(const LineFile&) = delete;
  LineFile& operator=(const LineFile&) = delete;

  // Appends `line` (no newline in it: it is added) and flushes. A write error is reported on
  // stderr by spdlog's error handler, not returned: a journal must not stop the data path.
  void Append(std::string_view line);

 private:
  explicit LineFile(std::shared_ptr<spdlog::logger> logger);
  std::shared_ptr<spdlog::logger> logger_;
};

void Emit(Level level, std::string_view event, std::initializer_list<Field> fields);
inline void Debug(std::string_view e, std::initializer_list<Field> f = {}) {
  Emit(Level::kDebug, e, f);
}
inline void Info(std::string_view e, std::initializer_list<Field> f = {}) {
  Emit(Level::kInfo, e, f);
}
inline void Warn(std::string_view e, std::initializer_list<Field> f = {}) {
  Emit(Level::kWarn, e, f);
}
inline void Error(std::string_view e, std::initializer_list<Field> f = {}) {
  Emit(Level::kError, e, f);
}

}  // namespace medmesh::log

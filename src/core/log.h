// Structured logging: one JSON object per line (event name plus key/value fields) on top of
// spdlog. Fields are typed so that secrets cannot be logged by accident: there is no overload
// for SecretBytes, and byte strings are never logged (log a fingerprint instead).
// Thread safety: all functions may be called from any thread.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <variant>

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
// Sends log lines to stderr (default) or to a file path; apps/ calls this once at start.
void SetFile(const std::string& path);

void Emit(Level level, std::string_view event, std::initializer_list<Field> fields);
inline void Debug(std::string_view e, std::initializer_list<Field> f = {}) { Emit(Level::kDebug, e, f); }
inline void Info(std::string_view e, std::initializer_list<Field> f = {}) { Emit(Level::kInfo, e, f); }
inline void Warn(std::string_view e, std::initializer_list<Field> f = {}) { Emit(Level::kWarn, e, f); }
inline void Error(std::string_view e, std::initializer_list<Field> f = {}) { Emit(Level::kError, e, f); }

}  // namespace medmesh::log

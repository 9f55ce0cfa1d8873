#include "core/log.h"

#include <fmt/format.h>
#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <mutex>
#include <type_traits>

#include "core/check.h"

namespace medmesh::log {
namespace {

// Length of the well-formed UTF-8 sequence at the start of `s`, or 0 if it is not one
// (truncated, overlong, a surrogate, above U+10FFFF, or a stray continuation byte).
std::size_t Utf8SequenceLength(std::string_view s) {
  const auto byte = [&s](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  const auto is_cont = [&](std::size_t i) { return i < s.size() && (byte(i) & 0xC0) == 0x80; };
  const unsigned char b0 = byte(0);
  if (b0 < 0x80) return 1;
  if (b0 >= 0xC2 && b0 <= 0xDF) return is_cont(1) ? 2 : 0;
  if (b0 >= 0xE0 && b0 <= 0xEF) {
    if (!is_cont(1) || !is_cont(2)) return 0;
    if (b0 == 0xE0 && byte(1) < 0xA0) return 0;   // overlong
    if (b0 == 0xED && byte(1) >= 0xA0) return 0;  // UTF-16 surrogate
    return 3;
  }
  if (b0 >= 0xF0 && b0 <= 0xF4) {
    if (!is_cont(1) || !is_cont(2) || !is_cont(3)) return 0;
    if (b0 == 0xF0 && byte(1) < 0x90) return 0;   // overlong
    if (b0 == 0xF4 && byte(1) >= 0x90) return 0;  // above U+10FFFF
    return 4;
  }
  return 0;
}

// Appends `s` as a JSON string. Log values often come from untrusted input (user agents, ids,
// file names), so control characters are escaped (no forged log lines) and bytes that are not
// well-formed UTF-8 become U+FFFD (JSON parsers reject invalid UTF-8, which would make the
// whole line unreadable).
void AppendJsonString(std::string& out, std::string_view s) {
  out.push_back('"');
  std::size_t i = 0;
  while (i < s.size()) {
    const char c = s[i];
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x80) {
      const std::size_t n = Utf8SequenceLength(s.substr(i));
      if (n == 0) {
        out += "\\ufffd";
        ++i;
      } else {
        out.append(s.substr(i, n));
        i += n;
      }
      continue;
    }
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (u < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(u));
          out += buf;
        } else {
          out.push_back(c);
        }
    }
    ++i;
  }
  out.push_back('"');
}

std::string_view LevelName(Level l) {
  switch (l) {
    case Level::kDebug: return "debug";
    case Level::kInfo: return "info";
    case Level::kWarn: return "warn";
    case Level::kError: return "error";
  }
  return "info";
}

spdlog::level::level_enum ToSpd(Level l) {
  switch (l) {
    case Level::kDebug: return spdlog::level::debug;
    case Level::kInfo: return spdlog::level::info;
    case Level::kWarn: return spdlog::level::warn;
    case Level::kError: return spdlog::level::err;
  }
  return spdlog::level::info;
}

// The logger is process-wide by nature (stderr is); it is created on first use and only
// reconfigured by apps/ through SetFile/SetLevel.
std::mutex g_mu;
std::shared_ptr<spdlog::logger> g_logger;

std::shared_ptr<spdlog::logger> Logger() {
  std::lock_guard lock(g_mu);
  if (!g_logger) {
    g_logger = std::make_shared<spdlog::logger>("medmesh",
                                                std::make_shared<spdlog::sinks::stderr_sink_mt>());
    g_logger->set_pattern("%v");
    g_logger->set_level(spdlog::level::info);
    g_logger->flush_on(spdlog::level::trace);
  }
  return g_logger;
}

// A logger of bare lines ("%v") into a rotated file, flushed on every line.
Result<std::shared_ptr<spdlog::logger>> RotatingLogger(const std::string& name,
                                                       const std::string& path,
                                                       const FileRotation& rotation) {
  if (rotation.max_file_bytes == 0 || rotation.max_files == 0 || rotation.max_files > 1000) {
    return InvalidArgument("log rotation: max_file_bytes must be > 0 and max_files 1..1000");
  }
  spdlog::file_event_handlers handlers;
  // Log lines carry peer addresses and device ids: owner-only, like the data folder.
  handlers.after_open = [](const spdlog::filename_t&, std::FILE* file) {
    if (file != nullptr) (void)::fchmod(::fileno(file), 0600);
  };
  try {
    // spdlog counts the rotated files only.
    auto sink = std::make_shared<spdlog::sinks::rotating_file_sink_mt>(
        path, rotation.max_file_bytes, rotation.max_files - 1, false, handlers);
    auto logger = std::make_shared<spdlog::logger>(name, std::move(sink));
    logger->set_pattern("%v");
    logger->flush_on(spdlog::level::trace);
    return logger;
  } catch (const std::exception& e) {
    return Unavailable("cannot open log file: " + std::string(e.what()));
  }
}

}  // namespace

std::string FormatEvent(Level level, std::string_view event, std::initializer_list<Field> fields) {
  auto now = std::chrono::system_clock::now();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  std::string out = "{\"ts_ms\":" + std::to_string(ms) + ",\"level\":";
  AppendJsonString(out, LevelName(level));
  out += ",\"event\":";
  AppendJsonString(out, event);
  for (const Field& f : fields) {
    out.push_back(',');
    AppendJsonString(out, f.key);
    out.push_back(':');
    std::visit(
        [&out](const auto& v) {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, std::string>) {
            AppendJsonString(out, v);
          } else if constexpr (std::is_same_v<T, bool>) {
            out += v ? "true" : "false";
          } else if constexpr (std::is_same_v<T, double>) {
            // JSON has no NaN or infinity; std::to_string would also print 1e-9 as 0.000000.
            // fmt's "{}" is the shortest text that reads back as the same double.
            if (std::isfinite(v)) {
              out += fmt::format("{}", v);
            } else {
              out += "null";
            }
          } else {
            out += std::to_string(v);
          }
        },
        f.value);
  }
  out.push_back('}');
  return out;
}

void SetLevel(Level level) { Logger()->set_level(ToSpd(level)); }

Status LogToFile(const std::string& path, const FileRotation& rotation) {
  // Flushed on every line: a process that aborts (MEDMESH_CHECK) or is killed must not lose
  // the lines that explain why. Rotation bounds what a flood of lines can take.
  MEDMESH_ASSIGN_OR_RETURN(std::shared_ptr<spdlog::logger> logger,
                           RotatingLogger("medmesh", path, rotation));
  std::lock_guard lock(g_mu);
  logger->set_level(g_logger ? g_logger->level() : spdlog::level::info);
  g_logger = std::move(logger);
  return OkStatus();
}

void SetFile(const std::string& path) {
  const Status set = LogToFile(path);
  MEDMESH_CHECK(set.has_value(), "log::SetFile: cannot open the log file");
}

Result<std::unique_ptr<LineFile>> LineFile::Open(const std::string& path,
                                                 const FileRotation& rotation) {
  MEDMESH_ASSIGN_OR_RETURN(std::shared_ptr<spdlog::logger> logger,
                           RotatingLogger("medmesh_lines", path, rotation));
  logger->set_level(spdlog::level::trace);
  return std::unique_ptr<LineFile>(new LineFile(std::move(logger)));
}

LineFile::LineFile(std::shared_ptr<spdlog::logger> logger) : logger_(std::move(logger)) {}
LineFile::~LineFile() = default;

void LineFile::Append(std::string_view line) { logger_->info("{}", line); }

void Emit(Level level, std::string_view event, std::initializer_list<Field> fields) {
  auto logger = Logger();
  if (!logger->should_log(ToSpd(level))) return;
  logger->log(ToSpd(level), "{}", FormatEvent(level, event, fields));
}

}  // namespace medmesh::log

#include "fhir/fhir_time.h"

#include <chrono>
#include <cstdio>
#include <optional>

#include "wire/model.h"

namespace medmesh::fhir {
namespace {

namespace chr = std::chrono;

constexpr std::int64_t kMsPerSecond = 1000;
constexpr std::int64_t kMsPerMinute = 60 * kMsPerSecond;
constexpr std::int64_t kMsPerHour = 60 * kMsPerMinute;
constexpr std::int64_t kMsPerDay = 24 * kMsPerHour;

Status CheckTime(std::int64_t unix_ms) {
  if (unix_ms < 0 || unix_ms > wire::kMaxTimeMs) {
    return InvalidArgument("time is outside 1970-01-01..9999-12-31");
  }
  return {};
}

// Days since 1970-01-01 of a civil date (proleptic Gregorian), via <chrono>'s calendar.
std::int64_t DaysFromCivil(int year, unsigned month, unsigned day) {
  const chr::sys_days days{chr::year{year} / chr::month{month} / chr::day{day}};
  return days.time_since_epoch().count();
}

// Reads exactly `n` decimal digits at text[pos...]; nullopt if they are not all digits.
std::optional<int> Digits(std::string_view text, std::size_t pos, std::size_t n) {
  if (pos + n > text.size()) return std::nullopt;
  int v = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    const char c = text[i];
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

Error BadDate() {
  return InvalidArgument(
      "a date must be YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm[:ss[.fff]][Z|+hh:mm]");
}

// "hh:mm[:ss[.f...]][Z|+hh:mm|-hh:mm]" on the day starting at day_ms (UTC): the range it covers.
Result<TimeRange> ParseTimeOfDay(std::string_view text, std::int64_t day_ms) {
  const auto hour = Digits(text, 0, 2);
  if (!hour || *hour > 23 || text.size() < 5 || text[2] != ':') return BadDate();
  const auto minute = Digits(text, 3, 2);
  if (!minute || *minute > 59) return BadDate();
  std::int64_t begin = day_ms + *hour * kMsPerHour + *minute * kMsPerMinute;
  std::int64_t width = kMsPerMinute;
  std::size_t pos = 5;
  if (pos < text.size() && text[pos] == ':') {
    const auto second = Digits(text, pos + 1, 2);
    if (!second || *second > 59) return BadDate();
    begin += *second * kMsPerSecond;
    width = kMsPerSecond;
    pos += 3;
    if (pos < text.size() && text[pos] == '.') {
      ++pos;
      std::size_t n = 0;
      std::int64_t scale = 100;
      for (; pos < text.size() && text[pos] >= '0' && text[pos] <= '9'; ++pos, ++n) {
        if (n >= 9) return BadDate();
        if (n < 3) {
          begin += (text[pos] - '0') * scale;
          width = scale;
          scale /= 10;
        }
      }
      if (n == 0) return BadDate();
    }
  }
  // Zone: none (UTC), "Z" or "+hh:mm" / "-hh:mm" (the local time is ahead of UTC by the offset).
  const std::string_view zone = text.substr(pos);
  if (zone == "Z" || zone.empty()) return TimeRange{begin, begin + width};
  if (zone.size() != 6 || (zone[0] != '+' && zone[0] != '-') || zone[3] != ':') return BadDate();
  const auto oh = Digits(zone, 1, 2);
  const auto om = Digits(zone, 4, 2);
  if (!oh || !om || *oh > 14 || *om > 59) return BadDate();
  const std::int64_t offset = *oh * kMsPerHour + *om * kMsPerMinute;
  begin += zone[0] == '+' ? -offset : offset;
  return TimeRange{begin, begin + width};
}

}  // namespace

Result<std::string> FormatInstant(std::int64_t unix_ms) {
  MEDMESH_RETURN_IF_ERROR(CheckTime(unix_ms));
  const std::int64_t days = unix_ms / kMsPerDay;
  std::int64_t rest = unix_ms % kMsPerDay;
  const chr::year_month_day ymd{chr::sys_days{chr::days{days}}};
  const auto hour = rest / kMsPerHour;
  rest %= kMsPerHour;
  const auto minute = rest / kMsPerMinute;
  rest %= kMsPerMinute;
  const auto second = rest / kMsPerSecond;
  const auto milli = rest % kMsPerSecond;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02lld:%02lld:%02lld.%03lldZ",
                static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                static_cast<unsigned>(ymd.day()), static_cast<long long>(hour),
                static_cast<long long>(minute), static_cast<long long>(second),
                static_cast<long long>(milli));
  return std::string(buf);
}

Result<std::string> FormatDate(std::int64_t unix_ms) {
  MEDMESH_ASSIGN_OR_RETURN(std::string instant, FormatInstant(unix_ms));
  return instant.substr(0, 10);
}

Result<TimeRange> ParseDateTimeRange(std::string_view text) {
  const auto year = Digits(text, 0, 4);
  if (!year || *year < 1) return BadDate();
  if (text.size() == 4) {
    return TimeRange{DaysFromCivil(*year, 1, 1) * kMsPerDay,
                     DaysFromCivil(*year + 1, 1, 1) * kMsPerDay};
  }
  if (text[4] != '-') return BadDate();
  const auto month = Digits(text, 5, 2);
  if (!month || *month < 1 || *month > 12) return BadDate();
  const auto ym = chr::year{*year} / chr::month{static_cast<unsigned>(*month)};
  if (text.size() == 7) {
    const chr::sys_days first{ym / chr::day{1}};
    const chr::sys_days next{(ym + chr::months{1}) / chr::day{1}};
    return TimeRange{first.time_since_epoch().count() * kMsPerDay,
                     next.time_since_epoch().count() * kMsPerDay};
  }
  if (text[7] != '-') return BadDate();
  const auto day = Digits(text, 8, 2);
  if (!day || !(ym / chr::day{static_cast<unsigned>(*day)}).ok()) return BadDate();
  const std::int64_t day_ms =
      DaysFromCivil(*year, static_cast<unsigned>(*month), static_cast<unsigned>(*day)) * kMsPerDay;
  if (text.size() == 10) return TimeRange{day_ms, day_ms + kMsPerDay};
  if (text[10] != 'T') return BadDate();

  return ParseTimeOfDay(text.substr(11), day_ms);
}

}  // namespace medmesh::fhir

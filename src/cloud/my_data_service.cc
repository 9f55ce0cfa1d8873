#include "cloud/my_data_service.h"

#include <algorithm>
#include <map>
#include <tuple>
#include <utility>

#include "accounts/encoding.h"

namespace medmesh::cloud {
namespace {

using accounts::Principal;
using accounts::Role;
using audit::Outcome;

constexpr std::string_view kCursorPrefix = "mr1|";

Error NotFoundError() { return NotFound(std::string(kNotFoundMessage)); }

Outcome OutcomeOf(const Error& e) {
  switch (e.code()) {
    case ErrorCode::kInvalidArgument:
    case ErrorCode::kNotFound:
    case ErrorCode::kPermissionDenied:
    case ErrorCode::kFailedPrecondition: return Outcome::kMinorFailure;
    default: return Outcome::kSeriousFailure;
  }
}

std::int64_t FloorTo(std::int64_t t, std::int64_t width) { return t / width * width; }
std::int64_t CeilTo(std::int64_t t, std::int64_t width) { return (t + width - 1) / width * width; }

// The order of a page: newest first, then device and record id (a damaged record, whose time
// is unknown, comes last).
using RecordOrder = std::tuple<std::int64_t, std::string, std::string>;
RecordOrder OrderOf(const PatientRecordEntry& e) {
  return {-e.created_ms, e.device_id, e.record_id};
}

std::string EncodeCursor(const PatientRecordEntry& e) {
  const std::string text = std::string(kCursorPrefix) + std::to_string(e.created_ms) + "|" +
                           e.device_id + "|" + e.record_id;
  return accounts::Base64UrlEncode(AsBytes(text));
}

Result<RecordOrder> DecodeCursor(std::string_view cursor) {
  const Error bad = InvalidArgument("cursor is not one this service issued");
  auto bytes = accounts::Base64UrlDecode(cursor);
  if (!bytes) return bad;
  const std::string text(AsStringView(*bytes));
  if (!text.starts_with(kCursorPrefix)) return bad;
  const std::size_t a = text.find('|', kCursorPrefix.size());
  const std::size_t b = a == std::string::npos ? a : text.find('|', a + 1);
  if (b == std::string::npos) return bad;
  const std::string time = text.substr(kCursorPrefix.size(), a - kCursorPrefix.size());
  std::string device = text.substr(a + 1, b - a - 1);
  std::string record = text.substr(b + 1);
  if (time.empty() || time.size() > 16 ||
      !std::all_of(time.begin(), time.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
      !wire::IsValidId(device) || !wire::IsValidId(record)) {
    return bad;
  }
  return RecordOrder{-std::stoll(time), std::move(device), std::move(record)};
}

}  // namespace

struct MyDataService::Action {
  const Principal& who;
  std::string_view from;
  std::string event;
  std::string entity_type;
  std::string entity_id;
};

MyDataService::MyDataService(MyDataContext context)
    : ctx_(context),
      rollups_(context.records, context.intake),
      raw_(context.intake, context.records) {}

Status MyDataService::Append(const Action& action, Outcome outcome, std::string detail) {
  audit::AuditEntry entry;
  entry.time_ms = wire::NowMs(ctx_.clock);
  entry.event = action.event;
  entry.action = audit::Action::kRead;
  entry.outcome = outcome;
  entry.actor_account_id = action.who.account_id;
  entry.actor_role = std::string(accounts::RoleName(action.who.role));
  entry.source_address = std::string(action.from);
  entry.patient_id = action.who.is(Role::kPatient) ? action.who.patient_id : "";
  entry.entity_type = action.entity_type;
  entry.entity_id = action.entity_id;
  entry.detail = std::move(detail);
  return ctx_.audit.Append(entry);
}

Error MyDataService::Refuse(const Action& action, Error error) {
  Status recorded = Append(action, OutcomeOf(error), std::string(ErrorCodeName(error.code())));
  if (!recorded) return recorded.error();
  return error;
}

Status MyDataService::RequirePatientRole(const Principal& who, std::string_view event,
                                         std::string_view entity_type, std::string_view from) {
  if (who.is(Role::kPatient) && !who.patient_id.empty()) return OkStatus();
  const Action action{who, from, std::string(event), std::string(entity_type), ""};
  return Refuse(action, PermissionDenied(std::string(kRoleDeniedMessage)));
}

Status MyDataService::RequireActivePatient(const Action& action) {
  if (!action.who.is(Role::kPatient) || action.who.patient_id.empty()) {
    return Refuse(action, PermissionDenied(std::string(kRoleDeniedMessage)));
  }
  auto active = ctx_.clinical.PortalActive(action.who.patient_id);
  if (!active) return Refuse(action, active.error());
  if (!*active) return Refuse(action, PermissionDenied(std::string(kPortalInactiveMessage)));
  return OkStatus();
}

// --- Readings ----------------------------------------------------------------------------------

Result<ReadingSeries> MyDataService::Readings(const Principal& who, const ReadingsQuery& query,
                                              std::string_view from) {
  const Action action{who, from, "readings.read", "Observation",
                      std::string(wire::Info(query.kind).name)};
  MEDMESH_RETURN_IF_ERROR(RequireActivePatient(action));
  if (query.from_ms < 0 || query.to_ms > wire::kMaxTimeMs || query.from_ms >= query.to_ms) {
    return Refuse(action, InvalidArgument("from and to must satisfy 0 <= from < to"));
  }
  if (query.to_ms - query.from_ms > kMaxSeriesRangeMs) {
    return Refuse(action, InvalidArgument("the range from..to is longer than five years"));
  }
  if (query.points == 0 || query.points > kMaxSeriesPoints) {
    return Refuse(action, InvalidArgument("points must be 1.." + std::to_string(kMaxSeriesPoints)));
  }
  auto series = Series(who.patient_id, query);
  if (!series) return Refuse(action, series.error());
  MEDMESH_RETURN_IF_ERROR(
      Append(action, Outcome::kSuccess, series->bucket_ms == 0 ? "readings" : "buckets"));
  return series;
}

Result<ReadingSeries> MyDataService::Series(const std::string& patient_id,
                                            const ReadingsQuery& query) const {
  const std::string pseudonym = ctx_.records.Pseudonym(patient_id);
  MEDMESH_RETURN_IF_ERROR(rollups_.EnsureComplete(pseudonym));
  const std::int64_t range = query.to_ms - query.from_ms;
  const auto points = static_cast<std::int64_t>(query.points);
  const std::int64_t ideal = (range + points - 1) / points;
  // The coarsest roll-up width no wider than the buckets asked for, unless it means reading
  // too many rows (then a coarser one, and fewer buckets than `points`).
  std::size_t level = 0;
  while (level + 1 < kRollupWidthsMs.size() && kRollupWidthsMs[level + 1] <= ideal) ++level;
  while (level + 1 < kRollupWidthsMs.size() &&
         range / kRollupWidthsMs[level] + 2 > kMaxRollupRowsPerRead) {
    ++level;
  }
  const std::int64_t width = kRollupWidthsMs[level];
  std::int64_t bucket = std::max(width, (ideal + width - 1) / width * width);
  std::int64_t from = FloorTo(query.from_ms, bucket);
  std::int64_t to = CeilTo(query.to_ms, bucket);
  while ((to - from) / bucket > points) {
    bucket += width;
    from = FloorTo(query.from_ms, bucket);
    to = CeilTo(query.to_ms, bucket);
  }
  MEDMESH_ASSIGN_OR_RETURN(const std::vector<RollupBucket> rows,
                           rollups_.Read(pseudonym, query.kind, width, from, to));
  std::uint64_t count = 0;
  for (const RollupBucket& r : rows) count += r.aggregate.count;

  ReadingSeries out;
  out.kind = query.kind;
  if (count <= static_cast<std::uint64_t>(points) && range <= kMaxRawRangeMs) {
    // Few enough to show themselves: decrypt the batches of the range.
    MEDMESH_ASSIGN_OR_RETURN(std::vector<wire::Reading> all,
                             raw_.Read(patient_id, query.from_ms, query.to_ms));
    std::erase_if(all, [&](const wire::Reading& r) { return r.kind != query.kind; });
    if (all.size() <= static_cast<std::size_t>(points)) {
      out.from_ms = query.from_ms;
      out.to_ms = query.to_ms;
      out.count = all.size();
      out.readings = std::move(all);
      return out;
    }
  }
  out.from_ms = from;
  out.to_ms = to;
  out.bucket_ms = bucket;
  out.count = count;
  for (const RollupBucket& r : rows) {
    const std::int64_t start = FloorTo(r.start_ms, bucket);
    if (out.buckets.empty() || out.buckets.back().start_ms != start) {
      out.buckets.push_back({start, {}});
    }
    out.buckets.back().aggregate.Merge(r.aggregate);
  }
  return out;
}

// --- Records -----------------------------------------------------------------------------------

Result<MyRecordsPage> MyDataService::Records(const Principal& who, std::string_view cursor,
                                             std::size_t limit, std::string_view from) {
  const Action action{who, from, "record.list", "DocumentReference", ""};
  MEDMESH_RETURN_IF_ERROR(RequireActivePatient(action));
  if (limit == 0 || limit > kMaxRecordsPage) {
    return Refuse(action, InvalidArgument("limit must be 1.." + std::to_string(kMaxRecordsPage)));
  }
  std::optional<RecordOrder> after;
  if (!cursor.empty()) {
    auto decoded = DecodeCursor(cursor);
    if (!decoded) return Refuse(action, decoded.error());
    after = std::move(*decoded);
  }
  auto entries = ctx_.records.ListPatientRecords(who.patient_id);
  if (!entries) return Refuse(action, entries.error());
  std::sort(entries->begin(), entries->end(),
            [](const PatientRecordEntry& a, const PatientRecordEntry& b) {
              return OrderOf(a) < OrderOf(b);
            });
  MyRecordsPage page;
  for (PatientRecordEntry& e : *entries) {
    if (after && !(*after < OrderOf(e))) continue;
    if (page.records.size() == limit) {
      page.next_cursor = EncodeCursor(page.records.back());
      break;
    }
    page.records.push_back(std::move(e));
  }
  MEDMESH_RETURN_IF_ERROR(
      Append(action, Outcome::kSuccess, std::to_string(page.records.size()) + " records"));
  return page;
}

Result<MyRecordView> MyDataService::Record(const Principal& who, std::string_view device_id,
                                           std::string_view record_id, std::string_view from) {
  const Action action{who, from, "record.read", "DocumentReference", std::string(record_id)};
  MEDMESH_RETURN_IF_ERROR(RequireActivePatient(action));
  // Ids that cannot exist are not found, like ids of someone else.
  if (!wire::IsValidId(device_id) || !wire::IsValidId(record_id)) {
    return Refuse(action, NotFoundError());
  }
  MyRecordView view;
  view.device_id = std::string(device_id);
  view.record_id = std::string(record_id);
  // Whose it is comes from the device's enrolment; Verify also refuses unknown and foreign
  // records and those of a deleted patient alike.
  auto verified =
      ctx_.integrity.Verify(who, ItemRef{ItemKind::kRecord, view.device_id, view.record_id}, from);
  if (!verified) {
    return Refuse(action, verified.error().code() == ErrorCode::kNotFound ? NotFoundError()
                                                                          : verified.error());
  }
  view.verification = *verified;
  auto stored = ctx_.records.GetRecordStoredForm(who.patient_id, device_id, record_id);
  if (!stored && stored.error().code() != ErrorCode::kNotFound) {
    return Refuse(action, stored.error());
  }
  if (stored) view.stored = std::move(*stored);
  auto check = ctx_.records.CheckRecord(who.patient_id, device_id, record_id);
  if (!check && check.error().code() != ErrorCode::kNotFound) return Refuse(action, check.error());
  if (check && check->record) view.record = std::move(check->record);
  MEDMESH_RETURN_IF_ERROR(Append(action, Outcome::kSuccess,
                                 view.verification.ok() ? "verifies" : "fails verification"));
  return view;
}

}  // namespace medmesh::cloud

#include "cloud/my_data_api.h"

#include <charconv>
#include <initializer_list>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>

#include "accounts/encoding.h"

namespace medmesh::cloud {
namespace {

using Json = nlohmann::json;

constexpr std::int64_t kDefaultRangeMs = 24 * 3'600'000;

// Only the named parameters, each at most once (else 400).
Status CheckQuery(const net::Request& r, std::initializer_list<std::string_view> allowed) {
  for (std::size_t i = 0; i < r.query.size(); ++i) {
    const std::string& name = r.query[i].first;
    if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
      return InvalidArgument("unknown query parameter");
    }
    for (std::size_t j = 0; j < i; ++j) {
      if (r.query[j].first == name) return InvalidArgument("query parameter " + name + " repeated");
    }
  }
  return OkStatus();
}

// A decimal integer in [min, max], digits only (no sign, space or exponent).
Result<std::int64_t> ParseInteger(std::string_view name, std::string_view text, std::int64_t min,
                                  std::int64_t max) {
  std::int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || text.front() == '-' || text.front() == '+' || ec != std::errc() ||
      end != text.data() + text.size() || value < min || value > max) {
    return InvalidArgument(std::string(name) + " must be an integer in " + std::to_string(min) +
                           ".." + std::to_string(max));
  }
  return value;
}

Json Value(std::int64_t milli) { return static_cast<double>(milli) / 1000.0; }

Json Base64OrNull(ByteView bytes) {
  return bytes.empty() ? Json(nullptr) : Json(accounts::Base64UrlEncode(bytes));
}

Json SeriesJson(const ReadingSeries& s) {
  const wire::VitalInfo& info = wire::Info(s.kind);
  Json readings = Json::array();
  for (const wire::Reading& r : s.readings) {
    readings.push_back({{"time_ms", r.time_ms}, {"value", Value(r.value_milli)}});
  }
  Json buckets = Json::array();
  for (const RollupBucket& b : s.buckets) {
    const ReadingAggregate& a = b.aggregate;
    buckets.push_back(
        {{"start_ms", b.start_ms},
         {"count", a.count},
         {"min", Value(a.min_milli)},
         {"max", Value(a.max_milli)},
         {"mean", static_cast<double>(a.sum_milli) / 1000.0 / static_cast<double>(a.count)}});
  }
  return {{"kind", info.name},
          {"unit", info.unit},
          {"loinc", info.loinc},
          {"from_ms", s.from_ms},
          {"to_ms", s.to_ms},
          {"count", s.count},
          {"bucket_ms", s.bucket_ms == 0 ? Json(nullptr) : Json(s.bucket_ms)},
          {"readings", std::move(readings)},
          {"buckets", std::move(buckets)}};
}

Json SummaryJson(const PatientRecordEntry& e) {
  Json out{
      {"device_id", e.device_id},
      {"record_id", e.record_id},
      {"intact", e.record.has_value()},
      {"failed_check", e.failed ? Json(std::string(IntegrityCheckName(*e.failed))) : Json(nullptr)},
      {"created_ms", nullptr},
      {"symptoms", nullptr},
      {"conditions", nullptr},
      {"pulse_bpm", nullptr},
      {"ecg_summary", nullptr},
      {"has_photo", nullptr},
      {"has_symptoms_document", nullptr}};
  if (e.record) {
    const wire::PatientRecord& r = e.record->record;
    out["created_ms"] = r.created_ms;
    out["symptoms"] = r.symptoms;
    out["conditions"] = r.conditions;
    out["pulse_bpm"] = r.pulse_bpm;
    out["ecg_summary"] = r.ecg_summary;
    out["has_photo"] = !r.photo.empty();
    out["has_symptoms_document"] = !r.symptoms_document.empty();
  }
  return out;
}

Json RecordJson(const wire::PatientRecord& r) {
  return {{"created_ms", r.created_ms},
          {"name", r.name},
          {"phone", r.phone},
          {"email", r.email},
          {"address", r.address},
          {"national_id", r.national_id},
          {"birth_date", r.birth_date},
          {"sex", r.sex},
          {"postcode", r.postcode},
          {"symptoms", r.symptoms},
          {"conditions", r.conditions},
          {"pulse_bpm", r.pulse_bpm},
          {"ecg_summary", r.ecg_summary},
          {"photo_type", r.photo_type},
          {"photo", Base64OrNull(r.photo)},
          {"symptoms_document_type", r.symptoms_document_type},
          {"symptoms_document", Base64OrNull(r.symptoms_document)}};
}

Json ViewJson(const MyRecordView& v) {
  const RecordStoredForm& s = v.stored;
  return {
      {"device_id", v.device_id},
      {"record_id", v.record_id},
      {"record", v.record ? RecordJson(v.record->record) : Json(nullptr)},
      {"stored",
       {{"link", Base64OrNull(s.link_ciphertext)},
        {"ei", Base64OrNull(s.ei_ciphertext)},
        {"qi", Base64OrNull(s.qi_ciphertext)},
        {"mi", Base64OrNull(s.mi_ciphertext)},
        {"digest", s.digest.empty() ? Json(nullptr) : Json(HexEncode(s.digest))},
        {"device_signature", v.record ? Base64OrNull(v.record->device_signature) : Json(nullptr)}}},
      {"verification",
       {{"ok", v.verification.ok()},
        {"failed_check", v.verification.failed
                             ? Json(std::string(IntegrityCheckName(*v.verification.failed)))
                             : Json(nullptr)},
        {"chain_seq", v.verification.chain_seq}}}};
}

Result<ReadingsQuery> ParseReadingsQuery(const net::Request& r, std::int64_t now_ms) {
  MEDMESH_RETURN_IF_ERROR(CheckQuery(r, {"kind", "from", "to", "points"}));
  ReadingsQuery q;
  const auto kind_name = r.QueryParam("kind");
  if (!kind_name) return InvalidArgument("kind is required");
  const std::optional<wire::VitalKind> kind = wire::VitalKindFromName(*kind_name);
  if (!kind) return InvalidArgument("kind is not a known reading kind");
  q.kind = *kind;
  q.to_ms = std::clamp<std::int64_t>(now_ms, 1, wire::kMaxTimeMs);
  if (auto to = r.QueryParam("to")) {
    MEDMESH_ASSIGN_OR_RETURN(q.to_ms, ParseInteger("to", *to, 1, wire::kMaxTimeMs));
  }
  q.from_ms = std::max<std::int64_t>(0, q.to_ms - kDefaultRangeMs);
  if (auto from = r.QueryParam("from")) {
    MEDMESH_ASSIGN_OR_RETURN(q.from_ms, ParseInteger("from", *from, 0, wire::kMaxTimeMs));
  }
  if (auto points = r.QueryParam("points")) {
    MEDMESH_ASSIGN_OR_RETURN(
        const std::int64_t n,
        ParseInteger("points", *points, 1, static_cast<std::int64_t>(kMaxSeriesPoints)));
    q.points = static_cast<std::size_t>(n);
  }
  return q;
}

}  // namespace

void AddMyDataRoutes(net::Router& router, MyDataContext context, Authenticate authenticate) {
  auto auth = std::make_shared<Authenticate>(std::move(authenticate));
  auto service = std::make_shared<MyDataService>(context);
  const Clock* clock = &context.clock;

  router.Get("/api/v1/me/readings",
             [service, auth, clock](const net::Request& r) -> Result<net::Response> {
               MEDMESH_ASSIGN_OR_RETURN(const accounts::Principal who, (*auth)(r));
               // The role before the parameters: a doctor gets 403, not a 400 about `kind`.
               MEDMESH_RETURN_IF_ERROR(service->RequirePatientRole(who, "readings.read",
                                                                   "Observation", r.peer_address));
               MEDMESH_ASSIGN_OR_RETURN(const ReadingsQuery query,
                                        ParseReadingsQuery(r, wire::NowMs(*clock)));
               MEDMESH_ASSIGN_OR_RETURN(const ReadingSeries series,
                                        service->Readings(who, query, r.peer_address));
               return net::Response::Json(SeriesJson(series).dump());
             });
  router.Get("/api/v1/me/records", [service, auth](const net::Request& r) -> Result<net::Response> {
    MEDMESH_ASSIGN_OR_RETURN(const accounts::Principal who, (*auth)(r));
    MEDMESH_RETURN_IF_ERROR(
        service->RequirePatientRole(who, "record.list", "DocumentReference", r.peer_address));
    MEDMESH_RETURN_IF_ERROR(CheckQuery(r, {"limit", "cursor"}));
    std::size_t limit = kDefaultRecordsPage;
    if (auto l = r.QueryParam("limit")) {
      MEDMESH_ASSIGN_OR_RETURN(
          const std::int64_t n,
          ParseInteger("limit", *l, 1, static_cast<std::int64_t>(kMaxRecordsPage)));
      limit = static_cast<std::size_t>(n);
    }
    const std::string cursor(r.QueryParam("cursor").value_or(""));
    if (r.QueryParam("cursor") && cursor.empty()) {
      return InvalidArgument("cursor must not be empty");
    }
    MEDMESH_ASSIGN_OR_RETURN(const MyRecordsPage page,
                             service->Records(who, cursor, limit, r.peer_address));
    Json records = Json::array();
    for (const PatientRecordEntry& e : page.records) records.push_back(SummaryJson(e));
    return net::Response::Json(
        Json{{"records", std::move(records)},
             {"next_cursor", page.next_cursor ? Json(*page.next_cursor) : Json(nullptr)}}
            .dump());
  });
  router.Get("/api/v1/me/records/{device_id}/{record_id}",
             [service, auth](const net::Request& r) -> Result<net::Response> {
               MEDMESH_ASSIGN_OR_RETURN(const accounts::Principal who, (*auth)(r));
               MEDMESH_RETURN_IF_ERROR(service->RequirePatientRole(
                   who, "record.read", "DocumentReference", r.peer_address));
               MEDMESH_RETURN_IF_ERROR(CheckQuery(r, {}));
               MEDMESH_ASSIGN_OR_RETURN(
                   const MyRecordView view,
                   service->Record(who, r.PathParam("device_id").value_or(""),
                                   r.PathParam("record_id").value_or(""), r.peer_address));
               return net::Response::Json(ViewJson(view).dump());
             });
}

}  // namespace medmesh::cloud

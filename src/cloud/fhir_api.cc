#include "cloud/fhir_api.h"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/log.h"
#include "fhir/fhir_time.h"
#include "fhir/ids.h"
#include "fhir/resources.h"
#include "fhir/search.h"
#include "fhir/server.h"
#include "net/error_mapping.h"
#include "wire/model.h"

namespace medmesh::cloud {
namespace {

using accounts::Principal;
using accounts::Role;
using fhir::Json;

constexpr std::string_view kBase = "/fhir/r4";
constexpr std::string_view kFhirJson = "application/fhir+json";
constexpr std::size_t kDefaultCount = 100;
constexpr std::size_t kMaxCount = 1000;
constexpr std::string_view kSoftwareVersion = "0.1.0";

Error NotFoundError() { return NotFound(std::string(kNotFoundMessage)); }
Error RoleDenied() { return PermissionDenied(std::string(kRoleDeniedMessage)); }

// --- Responses -----------------------------------------------------------------------------------

net::Response FhirResponse(const Json& body, int status = 200) {
  net::Response r;
  r.status = status;
  r.content_type = std::string(kFhirJson);
  // The resources carry only valid UTF-8 (fhir::Text, audit JSON); replace is a last guard.
  r.body = body.dump(-1, ' ', false, Json::error_handler_t::replace);
  return r;
}

net::Response OutcomeResponse(const Error& error) {
  const int status = net::HttpStatusFor(error.code());
  if (status >= 500) log::Error("fhir_server_error", {{"error", error.ToString()}});
  net::Response r = FhirResponse(fhir::OperationOutcomeResource(error), status);
  if (status == 401) r.headers.emplace_back("WWW-Authenticate", "Bearer");
  return r;
}

// --- The request's URLs ----------------------------------------------------------------------

bool IsHostChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '-' || c == ':' || c == '[' || c == ']';
}

std::string PercentEncode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out += ch;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

using Query = std::vector<std::pair<std::string, std::string>>;

std::string QueryString(const Query& query) {
  std::string out;
  for (const auto& [k, v] : query) {
    out += out.empty() ? "?" : "&";
    out += PercentEncode(k) + "=" + PercentEncode(v);
  }
  return out;
}

// --- Parameters ------------------------------------------------------------------------------

// Where a page of Observations starts: the time of its first Observation and how many
// Observations of that millisecond earlier pages held. In links as "<ms>-<skip>".
struct Cursor {
  std::int64_t ms = 0;
  std::size_t skip = 0;
};

template <typename T>
bool ParseNumber(std::string_view s, T& out) {
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size() && !s.empty();
}

Result<Cursor> ParseCursor(std::string_view s) {
  const std::size_t dash = s.find('-');
  Cursor c;
  if (dash == std::string_view::npos || !ParseNumber(s.substr(0, dash), c.ms) ||
      !ParseNumber(s.substr(dash + 1), c.skip) || c.ms < 0 || c.ms > wire::kMaxTimeMs ||
      c.skip > 1'000'000) {
    return InvalidArgument("_cursor is not a cursor this server made");
  }
  return c;
}

// The parameters of one request, checked against the ones its route accepts.
class Params {
 public:
  static Result<Params> Of(const net::Request& r, std::initializer_list<std::string_view> allowed) {
    Params p;
    for (const auto& [k, v] : r.query) {
      if (k == "_format") {
        if (v != "json" && v != "application/json" && v != "application/fhir+json") {
          return InvalidArgument("_format: only json is served");
        }
        continue;
      }
      if (std::find(allowed.begin(), allowed.end(), k) == allowed.end()) {
        return InvalidArgument("unsupported search parameter (see the CapabilityStatement)");
      }
      p.query_.emplace_back(k, v);
    }
    return p;
  }

  std::optional<std::string_view> One(std::string_view name) const {
    for (const auto& [k, v] : query_) {
      if (k == name) return std::string_view(v);
    }
    return std::nullopt;
  }
  std::vector<std::string_view> All(std::string_view name) const {
    std::vector<std::string_view> out;
    for (const auto& [k, v] : query_) {
      if (k == name) out.push_back(v);
    }
    return out;
  }
  Status Single(std::string_view name) const {
    if (All(name).size() > 1) return InvalidArgument(std::string(name) + " may be given once");
    return {};
  }
  // The query without `_cursor`, to which a next link adds its own.
  Query WithoutCursor() const {
    Query out;
    for (const auto& kv : query_) {
      if (kv.first != "_cursor") out.push_back(kv);
    }
    return out;
  }
  const Query& query() const { return query_; }

  Result<std::size_t> Count() const {
    MEDMESH_RETURN_IF_ERROR(Single("_count"));
    const auto v = One("_count");
    if (!v) return kDefaultCount;
    std::size_t n = 0;
    if (!ParseNumber(*v, n) || n < 1 || n > kMaxCount) {
      return InvalidArgument("_count must be 1.." + std::to_string(kMaxCount));
    }
    return n;
  }
  Result<std::optional<Cursor>> CursorParam() const {
    MEDMESH_RETURN_IF_ERROR(Single("_cursor"));
    const auto v = One("_cursor");
    if (!v) return std::optional<Cursor>();
    MEDMESH_ASSIGN_OR_RETURN(Cursor c, ParseCursor(*v));
    return std::optional<Cursor>(c);
  }
  // Every value of a date parameter, ANDed (search.h).
  Result<fhir::TimeRange> Dates(std::string_view name) const {
    const std::vector<std::string_view> values = All(name);
    return fhir::ParseDateSearches(values);
  }
  // The `patient` parameter as a MedMesh id, if given (kNotFound for one no patient can have).
  Result<std::optional<std::string>> Patient() const {
    MEDMESH_RETURN_IF_ERROR(Single("patient"));
    const auto v = One("patient");
    if (!v) return std::optional<std::string>();
    MEDMESH_ASSIGN_OR_RETURN(std::string id, fhir::ParsePatientSearch(*v));
    return std::optional<std::string>(std::move(id));
  }

 private:
  Query query_;
};

// --- Domain values to FHIR -------------------------------------------------------------------

fhir::ConsentGrant GrantOf(const ConsentRow& c) {
  fhir::ConsentGrant g;
  g.id = c.consent_id;
  g.patient_id = c.patient_id;
  g.doctor_id = c.doctor_id;
  // Record ids are unique per device; the Consent names records by record id (docs/fhir.md).
  std::set<std::string> ids;
  for (const RecordKey& k : c.records) ids.insert(k.record_id);
  g.record_ids.assign(ids.begin(), ids.end());
  g.granted_ms = c.created_ms;
  g.revoked_ms = c.revoked_ms;
  return g;
}

fhir::Prescription PrescriptionOf(const Answer& a) {
  const Prescription& p = *a.content.prescription;
  fhir::Prescription rx;
  rx.id = a.answer_id;
  rx.patient_id = a.patient_id;
  rx.doctor_id = a.doctor_id;
  rx.authored_ms = a.created_ms;
  rx.status = fhir::PrescriptionStatus::kActive;
  rx.drug = p.drug;
  // The doctor writes dose, frequency and duration as free text: kept as the dosage text rather
  // than guessed into UCUM quantities.
  rx.dosage_text = p.dose + ", " + p.frequency + ", for " + p.duration;
  rx.instructions = a.content.medication;
  rx.reason = a.content.diagnosis;
  return rx;
}

// What a doctor is shown of a patient: who (name, birth date, sex) from the newest granted
// record, as in the inbox; no contact details, national id or photo.
wire::PatientRecord DoctorsViewOf(std::string_view patient_id,
                                  const std::vector<StoredRecord>& records) {
  wire::PatientRecord p;
  p.patient_id = std::string(patient_id);
  if (!records.empty()) {
    const wire::PatientRecord& newest = records.back().record;  // oldest first
    p.name = newest.name;
    p.birth_date = newest.birth_date;
    p.sex = newest.sex;
  }
  return p;
}

// Observations with their times, in (time, kind) order: the readings of each millisecond are
// paired (systolic with diastolic) as fhir::ReadingObservations does.
Result<std::vector<std::pair<std::int64_t, Json>>> ObservationsOf(
    std::string_view patient_id, const std::vector<wire::Reading>& readings,
    const std::vector<fhir::TokenSearch>& codes) {
  std::vector<std::pair<std::int64_t, Json>> out;
  const fhir::ReadingSource source{std::string(patient_id), ""};
  std::size_t i = 0;
  while (i < readings.size()) {
    std::size_t j = i;
    while (j < readings.size() && readings[j].time_ms == readings[i].time_ms) ++j;
    MEDMESH_ASSIGN_OR_RETURN(
        std::vector<Json> built,
        fhir::ReadingObservations(source, std::span(readings).subspan(i, j - i)));
    for (Json& o : built) {
      if (!codes.empty() && !fhir::CodeableConceptMatches(codes, o["code"])) continue;
      out.emplace_back(readings[i].time_ms, std::move(o));
    }
    i = j;
  }
  return out;
}

bool InRange(const fhir::TimeRange& range, std::int64_t t) { return range.Contains(t); }

// The audit log stores (and hashes) entity references with MedMesh ids ("Patient/pat_..."); a
// FHIR id cannot hold '_', so the served AuditEvent names them by their FHIR ids (ids.h), or,
// for an id with no FHIR form, by identifier.
Json ServedAuditEvent(Json event) {
  if (!event.contains("entity") || !event["entity"].is_array()) return event;
  for (Json& entity : event["entity"]) {
    if (!entity.is_object() || !entity.contains("what")) continue;
    Json& what = entity["what"];
    if (!what.is_object() || !what.contains("reference") || !what["reference"].is_string()) {
      continue;
    }
    const std::string reference = what["reference"].get<std::string>();
    const std::size_t slash = reference.find('/');
    if (slash == std::string::npos) continue;
    const std::string id = reference.substr(slash + 1);
    if (auto fhir_id = fhir::ToFhirId(id)) {
      what["reference"] = reference.substr(0, slash + 1) + *fhir_id;
    } else {
      what = Json{{"type", reference.substr(0, slash)}, {"identifier", {{"value", id}}}};
    }
  }
  return event;
}

// --- The API ---------------------------------------------------------------------------------

class FhirApi {
 public:
  explicit FhirApi(FhirApiDeps deps) : d_(std::move(deps)) {}

  using Handler = Result<Json> (FhirApi::*)(const net::Request&);

  net::Handler Wrap(Handler h) {
    return [this, h](const net::Request& r) -> Result<net::Response> {
      Result<Json> out = (this->*h)(r);
      if (!out) return OutcomeResponse(out.error());
      return FhirResponse(*out);
    };
  }

  Result<Json> Metadata(const net::Request& r) {
    MEDMESH_ASSIGN_OR_RETURN(const Params params, Params::Of(r, {}));
    (void)params;
    return fhir::CapabilityStatementResource(Server(r), Now());
  }

  // --- Patient ---
  Result<Json> PatientRead(const net::Request& r) {
    MEDMESH_ASSIGN_OR_RETURN(const Principal who, d_.authenticate(r));
    MEDMESH_ASSIGN_OR_RETURN(const Params params, Params::Of(r, {}));
    MEDMESH_ASSIGN_OR_RETURN(const std::string id, IdParam(r));
    MEDMESH_ASSIGN_OR_RETURN(
        const PatientView view,
        d_.clinical.ReadPatient(who, id,
                                Request("fhir.patient.read", "Patient", r, NeedsRecords(who)),
                                r.peer_address));
    return PatientOf(who, view);
  }

  Result<Json> PatientSearch(const net::Request& r) {
    MEDMESH_ASSIGN_OR_RETURN(const Principal who, d_.authenticate(r));
    MEDMESH_ASSIGN_OR_RETURN(const Params params, Params::Of(r, {"_id"}));
    MEDMESH_RETURN_IF_ERROR(params.Single("_id"));
    std::optional<std::string> only;
    if (auto v = params.One("_id")) {
      auto id = fhir::FromFhirId(*v);
      if (!id) return Bundle(r, params, {});  // no patient has that id
      only = *id;
    }
    std::vector<fhir::BundleEntry> entries;
    if (who.is(Role::kDoctor) && !only) {
      MEDMESH_ASSIGN_OR_RETURN(const auto inbox, d_.clinical.Inbox(who, r.peer_address));
      for (const InboxPatient& p : inbox) {
        std::vector<StoredRecord> records;
        for (const InboxGrant& g : p.grants)
          records.insert(records.end(), g.records.begin(), g.records.end());
        std::sort(records.begin(), records.end(), [](const StoredRecord& a, const StoredRecord& b) {
          return a.record.created_ms < b.record.created_ms;
        });
        MEDMESH_ASSIGN_OR_RETURN(Json patient,
                                 fhir::PatientResource(DoctorsViewOf(p.patient_id, records)));
        entries.push_back({std::move(patient)});
      }
      return Bundle(r, params, std::move(entries));
    }
    // A patient searching without _id finds themself; with an _id, the one patient if they may
    // see them, else nothing (a search does not tell a foreign id from an unknown one either).
    const std::string id = only ? *only : who.patient_id;
    auto view = d_.clinical.ReadPatient(
        who, id, Request("fhir.patient.search", "Patient", r, NeedsRecords(who)), r.peer_address);
    if (!view) {
      if (view.error().code() == ErrorCode::kNotFound) return Bundle(r, params, {});
      return view.error();
    }
    MEDMESH_ASSIGN_OR_RETURN(Json patient, PatientOf(who, *view));
    entries.push_back({std::move(patient)});
    return Bundle(r, params, std::move(entries));
  }

  Result<Json> Everything(const net::Request& r) {
    MEDMESH_ASSIGN_OR_RETURN(const Principal who, d_.authenticate(r));
    MEDMESH_ASSIGN_OR_RETURN(const Params params,
                             Params::Of(r, {"start", "end", "_count", "_cursor"}));
    MEDMESH_RETURN_IF_ERROR(params.Single("start"));
    MEDMESH_RETURN_IF_ERROR(params.Single("end"));
    fhir::TimeRange range;
    if (auto v = params.One("start")) {
      MEDMESH_ASSIGN_OR_RETURN(const fhir::TimeRange start, fhir::ParseDateTimeRange(*v));
      range.begin_ms = start.begin_ms;
    }
    if (auto v = params.One("end")) {
      MEDMESH_ASSIGN_OR_RETURN(const fhir::TimeRange end, fhir::ParseDateTimeRange(*v));
      range.end_ms = end.end_ms;
    }
    MEDMESH_ASSIGN_OR_RETURN(const std::size_t count, params.Count());
    MEDMESH_ASSIGN_OR_RETURN(const std::optional<Cursor> cursor, params.CursorParam());
    MEDMESH_ASSIGN_OR_RETURN(const std::string id, IdParam(r));

    PatientReadRequest request =
        Request("fhir.patient.everything", "Patient", r, NeedsRecords(who));
    const bool first_page = !cursor.has_value();
    request.consents = first_page;
    request.answers = first_page;
    const auto [lo, limit] = ReadingWindow(range, count, cursor);
    request.readings = std::pair{lo, range.end_ms};
    request.readings_limit = limit;
    MEDMESH_ASSIGN_OR_RETURN(const PatientView view,
                             d_.clinical.ReadPatient(who, id, request, r.peer_address));

    MEDMESH_ASSIGN_OR_RETURN(Json patient, PatientOf(who, view));
    std::vector<Json> others;
    for (const ConsentRow& c : view.consents) {
      MEDMESH_ASSIGN_OR_RETURN(Json consent, fhir::ConsentResource(GrantOf(c)));
      others.push_back(std::move(consent));
    }
    for (const Answer& a : view.answers) {
      if (!a.content.prescription) continue;
      MEDMESH_ASSIGN_OR_RETURN(Json rx, fhir::MedicationRequestResource(PrescriptionOf(a)));
      others.push_back(std::move(rx));
    }
    MEDMESH_ASSIGN_OR_RETURN(Page page, PageOf(view, {}, range, count, cursor));
    for (Json& o : page.observations) others.push_back(std::move(o));
    const fhir::ServerInfo server = Server(r);
    MEDMESH_ASSIGN_OR_RETURN(Json bundle,
                             fhir::EverythingBundle(server, SelfUrl(server, r, params.query()),
                                                    std::move(patient), std::move(others), Now()));
    return WithNext(std::move(bundle), server, r, params, page.next);
  }

  // --- Observation ---
  Result<Json> ObservationRead(const net::Request& r) {
    MEDMESH_ASSIGN_OR_RETURN(const Principal who, d_.authenticate(r));
    MEDMESH_ASSIGN_OR_RETURN(const Params params, Params::Of(r, {}));
    MEDMESH_ASSIGN_OR_RETURN(const fhir::ObservationKey key,
                             fhir::ParseObservationId(r.PathParam("id").value_or("")));
    PatientReadRequest request = Request("fhir.observation.read", "Observation", r, false);
    request.readings = std::pair{key.time_ms, key.time_ms + 1};
    if (key.kind) {
      request.reading_kinds = {*key.kind};
    } else {
      request.reading_kinds = {wire::VitalKind::kSystolicBp, wire::VitalKind::kDiastolicBp};
    }
    MEDMESH_ASSIGN_OR_RETURN(const PatientView view,
                             d_.clinical.ReadPatient(who, key.patient_id, request, r.peer_address));
    const fhir::ReadingSource source{key.patient_id, ""};
    const auto find = [&](wire::VitalKind kind) -> const wire::Reading* {
      for (const wire::Reading& reading : view.readings) {
        if (reading.kind == kind && reading.time_ms == key.time_ms) return &reading;
      }
      return nullptr;
    };
    if (key.kind) {
      const wire::Reading* reading = find(*key.kind);
      if (reading == nullptr) return NotFoundError();
      return fhir::ReadingObservation(source, *reading);
    }
    const wire::Reading* systolic = find(wire::VitalKind::kSystolicBp);
    const wire::Reading* diastolic = find(wire::VitalKind::kDiastolicBp);
    if (systolic == nullptr || diastolic == nullptr) return NotFoundError();
    return fhir::BloodPressureObservation(source, *systolic, *diastolic);
  }

  Result<Json> ObservationSearch(const net::Request& r) {
    MEDMESH_ASSIGN_OR_RETURN(const Principal who, d_.authenticate(r));
    MEDMESH_ASSIGN_OR_RETURN(const Params params,
                             Params::Of(r, {"patient", "code", "date", "_count", "_cursor"}));
    MEDMESH_RETURN_IF_ERROR(params.Single("code"));
    std::vector<fhir::TokenSearch> codes;
    if (auto v = params.One("code")) {
      MEDMESH_ASSIGN_OR_RETURN(codes, fhir::ParseTokenSearch(*v));
    }
    MEDMESH_ASSIGN_OR_RETURN(const fhir::TimeRange range, params.Dates("date"));
    MEDMESH_ASSIGN_OR_RETURN(const std::size_t count, params.Count());
    MEDMESH_ASSIGN_OR_RETURN(const std::optional<Cursor> cursor, params.CursorParam());
    MEDMESH_ASSIGN_OR_RETURN(const std::string patient_id, PatientOfSearch(who, params));

    PatientReadRequest request = Request("fhir.observation.search", "Observation", r, false);
    if (!codes.empty()) {
      request.reading_kinds = fhir::VitalKindsForCodes(codes);
      if (request.reading_kinds.empty()) {  // no reading kind has such a code
        // Still decided and audited by the service, with no readings asked for.
        auto decided = d_.clinical.ReadPatient(who, patient_id, request, r.peer_address);
        if (!decided) return decided.error();
        return Bundle(r, params, {});
      }
    }
    const auto [lo, limit] = ReadingWindow(range, count, cursor);
    request.readings = std::pair{lo, range.end_ms};
    request.readings_limit = limit;
    MEDMESH_ASSIGN_OR_RETURN(const PatientView view,
                             d_.clinical.ReadPatient(who, patient_id, request, r.peer_address));
    MEDMESH_ASSIGN_OR_RETURN(Page page, PageOf(view, codes, range, count, cursor));
    std::vector<fhir::BundleEntry> entries;
    for (Json& o : page.observations) entries.push_back({std::move(o)});
    const fhir::ServerInfo server = Server(r);
    MEDMESH_ASSIGN_OR_RETURN(Json bundle,
                             fhir::SearchSetBundle(server, SelfUrl(server, r, params.query()),
                                                   std::move(entries), Now()));
    return WithNext(std::move(bundle), server, r, params, page.next);
  }

  // --- MedicationRequest ---
  Result<Json> MedicationRequestRead(const net::Request& r) {
    MEDMESH_ASSIGN_OR_RETURN(const Principal who, d_.authenticate(r));
    MEDMESH_ASSIGN_OR_RETURN(const Params params, Params::Of(r, {}));
    MEDMESH_ASSIGN_OR_RETURN(const std::string id, IdParam(r));
    MEDMESH_ASSIGN_OR_RETURN(const std::vector<Answer> answers,
                             PrescriptionsFor(who, std::nullopt, "fhir.medicationrequest.read", r));
    for (const Answer& a : answers) {
      if (a.answer_id == id) return fhir::MedicationRequestResource(PrescriptionOf(a));
    }
    return NotFoundError();
  }

  Result<Json> MedicationRequestSearch(const net::Request& r) {
    MEDMESH_ASSIGN_OR_RETURN(const Principal who, d_.authenticate(r));
    MEDMESH_ASSIGN_OR_RETURN(const Params params, Params::Of(r, {"patient", "authoredon"}));
    MEDMESH_ASSIGN_OR_RETURN(const fhir::TimeRange range, params.Dates("authoredon"));
    MEDMESH_ASSIGN_OR_RETURN(const std::optional<std::string> patient, params.Patient());
    MEDMESH_ASSIGN_OR_RETURN(const std::vector<Answer> answers,
                             PrescriptionsFor(who, patient, "fhir.medicationrequest.search", r));
    std::vector<fhir::BundleEntry> entries;
    for (const Answer& a : answers) {
      if (!InRange(range, a.created_ms)) continue;
      MEDMESH_ASSIGN_OR_RETURN(Json rx, fhir::MedicationRequestResource(PrescriptionOf(a)));
      entries.push_back({std::move(rx)});
    }
    return Bundle(r, params, std::move(entries));
  }

  // --- Consent ---
  Result<Json> ConsentRead(const net::Request& r) {
    MEDMESH_ASSIGN_OR_RETURN(const Principal who, d_.authenticate(r));
    MEDMESH_ASSIGN_OR_RETURN(const Params params, Params::Of(r, {}));
    MEDMESH_ASSIGN_OR_RETURN(const std::string id, IdParam(r));
    MEDMESH_ASSIGN_OR_RETURN(const std::vector<ConsentRow> consents,
                             ConsentsFor(who, std::nullopt, "fhir.consent.read", r));
    for (const ConsentRow& c : consents) {
      if (c.consent_id == id) return fhir::ConsentResource(GrantOf(c));
    }
    return NotFoundError();
  }

  Result<Json> ConsentSearch(const net::Request& r) {
    MEDMESH_ASSIGN_OR_RETURN(const Principal who, d_.authenticate(r));
    MEDMESH_ASSIGN_OR_RETURN(const Params params, Params::Of(r, {"patient", "date"}));
    MEDMESH_ASSIGN_OR_RETURN(const fhir::TimeRange range, params.Dates("date"));
    MEDMESH_ASSIGN_OR_RETURN(const std::optional<std::string> patient, params.Patient());
    MEDMESH_ASSIGN_OR_RETURN(const std::vector<ConsentRow> consents,
                             ConsentsFor(who, patient, "fhir.consent.search", r));
    std::vector<fhir::BundleEntry> entries;
    for (const ConsentRow& c : consents) {
      if (!InRange(range, c.created_ms)) continue;
      MEDMESH_ASSIGN_OR_RETURN(Json consent, fhir::ConsentResource(GrantOf(c)));
      entries.push_back({std::move(consent)});
    }
    return Bundle(r, params, std::move(entries));
  }

  // --- AuditEvent (admins) ---
  Result<Json> AuditEventRead(const net::Request& r) {
    MEDMESH_ASSIGN_OR_RETURN(const Principal who, d_.authenticate(r));
    MEDMESH_ASSIGN_OR_RETURN(const Params params, Params::Of(r, {}));
    const std::string_view id = r.PathParam("id").value_or("");
    std::uint64_t seq = 0;
    const bool plausible = ParseNumber(id, seq) && seq > 0 && id[0] != '0' &&
                           seq < std::numeric_limits<std::uint64_t>::max();
    audit::AuditEntry entry = AuditRead(who, r, "", plausible ? std::string(id) : "");
    MEDMESH_RETURN_IF_ERROR(RequireAdmin(who, entry));
    if (!plausible) return RefuseAudit(entry, NotFoundError());
    auto page = d_.audit_log.Query({.before_seq = seq + 1, .limit = 1});
    if (!page) return RefuseAudit(entry, page.error());
    if (page->events.empty() || page->events[0].value("id", "") != id) {
      return RefuseAudit(entry, NotFoundError());
    }
    MEDMESH_RETURN_IF_ERROR(Recorded(entry, audit::Outcome::kSuccess, "1"));
    return ServedAuditEvent(std::move(page->events[0]));
  }

  Result<Json> AuditEventSearch(const net::Request& r) {
    MEDMESH_ASSIGN_OR_RETURN(const Principal who, d_.authenticate(r));
    MEDMESH_ASSIGN_OR_RETURN(const Params params,
                             Params::Of(r, {"patient", "date", "_count", "_cursor"}));
    MEDMESH_ASSIGN_OR_RETURN(const fhir::TimeRange range, params.Dates("date"));
    MEDMESH_ASSIGN_OR_RETURN(const std::optional<std::string> patient, params.Patient());
    MEDMESH_ASSIGN_OR_RETURN(const std::size_t count, params.Count());
    MEDMESH_RETURN_IF_ERROR(params.Single("_cursor"));
    std::uint64_t before = 0;
    if (auto v = params.One("_cursor"); v && (!ParseNumber(*v, before) || before == 0)) {
      return InvalidArgument("_cursor is not a cursor this server made");
    }
    audit::AuditEntry entry = AuditRead(who, r, patient.value_or(""), "");
    MEDMESH_RETURN_IF_ERROR(RequireAdmin(who, entry));
    audit::AuditQuery query;
    query.patient_id = patient.value_or("");
    query.from_ms = std::max<std::int64_t>(range.begin_ms, 0);
    query.to_ms = std::max(range.end_ms, query.from_ms);
    query.before_seq = before;
    query.limit = count;
    auto page = d_.audit_log.Query(query);
    if (!page) return RefuseAudit(entry, page.error());
    MEDMESH_RETURN_IF_ERROR(
        Recorded(entry, audit::Outcome::kSuccess, std::to_string(page->events.size())));
    std::vector<fhir::BundleEntry> entries;
    for (Json& e : page->events) entries.push_back({ServedAuditEvent(std::move(e))});
    const fhir::ServerInfo server = Server(r);
    MEDMESH_ASSIGN_OR_RETURN(Json bundle,
                             fhir::SearchSetBundle(server, SelfUrl(server, r, params.query()),
                                                   std::move(entries), Now()));
    if (page->next_before_seq != 0) {
      bundle.erase("total");  // a page: the total is not counted
      Query next = params.WithoutCursor();
      next.emplace_back("_cursor", std::to_string(page->next_before_seq));
      MEDMESH_RETURN_IF_ERROR(fhir::AddNextLink(bundle, SelfUrl(server, r, next)));
    }
    return bundle;
  }

 private:
  struct Page {
    std::vector<Json> observations;
    std::optional<Cursor> next;
  };

  std::int64_t Now() const { return wire::NowMs(d_.clock); }

  fhir::ServerInfo Server(const net::Request& r) const {
    std::string host = "localhost";
    if (auto h = r.Header("Host");
        h && !h->empty() && h->size() <= 255 && std::all_of(h->begin(), h->end(), IsHostChar)) {
      host = std::string(*h);
    }
    return {std::string(d_.tls ? "https://" : "http://") + host + std::string(kBase), "MedMesh",
            std::string(kSoftwareVersion)};
  }

  static std::string SelfUrl(const fhir::ServerInfo& server, const net::Request& r,
                             const Query& query) {
    // The path as received is percent-encoded already; it starts with kBase (the route's).
    std::string_view path = r.path;
    if (path.starts_with(kBase)) path.remove_prefix(kBase.size());
    return server.base_url + std::string(path) + QueryString(query);
  }

  Result<Json> Bundle(const net::Request& r, const Params& params,
                      std::vector<fhir::BundleEntry> entries) const {
    const fhir::ServerInfo server = Server(r);
    return fhir::SearchSetBundle(server, SelfUrl(server, r, params.query()), std::move(entries),
                                 Now());
  }

  static Result<Json> WithNext(Json bundle, const fhir::ServerInfo& server, const net::Request& r,
                               const Params& params, const std::optional<Cursor>& next) {
    bundle.erase("total");  // pages of Observations: the total is not counted
    if (!next) return bundle;
    Query query = params.WithoutCursor();
    query.emplace_back("_cursor", std::to_string(next->ms) + "-" + std::to_string(next->skip));
    MEDMESH_RETURN_IF_ERROR(fhir::AddNextLink(bundle, SelfUrl(server, r, query)));
    return bundle;
  }

  // The MedMesh id in the path; kNotFound for one no MedMesh id maps to.
  static Result<std::string> IdParam(const net::Request& r) {
    return fhir::FromFhirId(r.PathParam("id").value_or(""));
  }

  static PatientReadRequest Request(std::string event, std::string type, const net::Request& r,
                                    bool records) {
    PatientReadRequest request;
    request.event = std::move(event);
    request.entity_type = std::move(type);
    // As MedMesh ids, like every entry (ServedAuditEvent turns them back into FHIR ids).
    if (auto id = fhir::FromFhirId(r.PathParam("id").value_or(""))) request.entity_id = *id;
    request.records = records;
    return request;
  }

  // A doctor's Patient comes from the granted records; a patient's own from their profile.
  static bool NeedsRecords(const Principal& who) { return who.is(Role::kDoctor); }

  // The patient a search is about: the `patient` parameter, or for a patient themself.
  static Result<std::string> PatientOfSearch(const Principal& who, const Params& params) {
    MEDMESH_ASSIGN_OR_RETURN(const std::optional<std::string> patient, params.Patient());
    if (patient) return *patient;
    if (who.is(Role::kPatient)) return who.patient_id;
    if (who.is(Role::kDoctor)) return InvalidArgument("patient is required");
    return std::string();  // ReadPatient refuses (and audits) by role
  }

  // Where the readings of a page start, and how many to load: enough for the Observations the
  // cursor skips, the page, and one more to know whether a next page exists.
  static std::pair<std::int64_t, std::size_t> ReadingWindow(const fhir::TimeRange& range,
                                                            std::size_t count,
                                                            const std::optional<Cursor>& cursor) {
    std::int64_t lo = range.begin_ms;
    std::size_t skip = 0;
    if (cursor) {
      lo = std::max(lo, cursor->ms);
      skip = cursor->skip;
    }
    return std::pair{lo, skip + count + 1};
  }

  // One page of the view's Observations (see the header: oldest first, a cursor for the next).
  static Result<Page> PageOf(const PatientView& view, const std::vector<fhir::TokenSearch>& codes,
                             const fhir::TimeRange& range, std::size_t count,
                             const std::optional<Cursor>& cursor) {
    MEDMESH_ASSIGN_OR_RETURN(auto observations,
                             ObservationsOf(view.patient_id, view.readings, codes));
    std::size_t start = 0;
    if (cursor) {
      // The first Observations are at cursor->ms at the earliest; skip those sent already.
      while (start < observations.size() && start < cursor->skip &&
             observations[start].first == cursor->ms) {
        ++start;
      }
    }
    Page page;
    const std::size_t stop = std::min(observations.size(), start + count);
    for (std::size_t i = start; i < stop; ++i) page.observations.push_back(observations[i].second);
    if (stop < observations.size()) {
      const std::int64_t t = observations[stop].first;
      std::size_t skip = 0;
      for (std::size_t i = start; i < stop; ++i) skip += observations[i].first == t ? 1 : 0;
      if (cursor && cursor->ms == t) skip += start;  // the ones earlier pages sent
      page.next = Cursor{t, skip};
    } else if (view.readings_end_ms < range.end_ms && view.readings_end_ms <= wire::kMaxTimeMs) {
      page.next = Cursor{view.readings_end_ms, 0};
    }
    return page;
  }

  // The Patient resource: the patient's own profile for themself (no photo: it is served at
  // /api/v1/account/photo), what the inbox shows for a doctor.
  Result<Json> PatientOf(const Principal& who, const PatientView& view) const {
    if (!view.own) return fhir::PatientResource(DoctorsViewOf(view.patient_id, view.records));
    wire::PatientRecord p;
    p.patient_id = view.patient_id;
    MEDMESH_ASSIGN_OR_RETURN(const auto account, d_.accounts.GetAccount(who.account_id));
    if (account && !account->sealed_profile.empty()) {
      MEDMESH_ASSIGN_OR_RETURN(
          const PatientProfile profile,
          d_.records.OpenPatientProfile(view.patient_id, account->sealed_profile));
      p.name = profile.full_name;
      p.phone = profile.phone;
      p.address = profile.address;
      p.birth_date = profile.birth_date;
      p.sex = profile.sex;
    }
    return fhir::PatientResource(p);
  }

  // The prescriptions `who` may see: a patient those written for them; a doctor those they
  // wrote (to one patient when `patient` is given, through an active grant).
  Result<std::vector<Answer>> PrescriptionsFor(const Principal& who,
                                               const std::optional<std::string>& patient,
                                               std::string event, const net::Request& r) {
    std::vector<Answer> answers;
    if (who.is(Role::kDoctor) && !patient) {
      MEDMESH_ASSIGN_OR_RETURN(answers, d_.clinical.ListMyPrescriptions(who, r.peer_address));
    } else {
      const std::string id =
          patient ? *patient : (who.is(Role::kPatient) ? who.patient_id : std::string());
      PatientReadRequest request =
          Request(std::move(event), "MedicationRequest", r, /*records=*/false);
      request.answers = true;
      MEDMESH_ASSIGN_OR_RETURN(PatientView view,
                               d_.clinical.ReadPatient(who, id, request, r.peer_address));
      answers = std::move(view.answers);
    }
    std::erase_if(answers, [](const Answer& a) { return !a.content.prescription; });
    return answers;
  }

  // The grants `who` may see: a patient all theirs; a doctor their active grants (from one
  // patient when `patient` is given).
  Result<std::vector<ConsentRow>> ConsentsFor(const Principal& who,
                                              const std::optional<std::string>& patient,
                                              std::string event, const net::Request& r) {
    if (who.is(Role::kDoctor) && !patient) {
      MEDMESH_ASSIGN_OR_RETURN(const auto inbox, d_.clinical.Inbox(who, r.peer_address));
      std::vector<ConsentRow> out;
      for (const InboxPatient& p : inbox) {
        for (const InboxGrant& g : p.grants) out.push_back(g.consent);
      }
      return out;
    }
    const std::string id =
        patient ? *patient : (who.is(Role::kPatient) ? who.patient_id : std::string());
    PatientReadRequest request = Request(std::move(event), "Consent", r, /*records=*/false);
    request.consents = true;
    MEDMESH_ASSIGN_OR_RETURN(PatientView view,
                             d_.clinical.ReadPatient(who, id, request, r.peer_address));
    return std::move(view.consents);
  }

  // --- Audit of AuditEvent reads ---
  audit::AuditEntry AuditRead(const Principal& who, const net::Request& r, std::string patient_id,
                              std::string entity_id) const {
    audit::AuditEntry e;
    e.event = "audit.read";
    e.action = audit::Action::kRead;
    e.actor_account_id = who.account_id;
    e.actor_role = std::string(accounts::RoleName(who.role));
    e.source_address = r.peer_address;
    e.patient_id = std::move(patient_id);
    e.entity_type = "AuditEvent";
    e.entity_id = std::move(entity_id);
    return e;
  }
  Status Recorded(audit::AuditEntry entry, audit::Outcome outcome, std::string detail) {
    entry.time_ms = Now();
    entry.outcome = outcome;
    entry.detail = std::move(detail);
    return d_.audit.Append(entry);
  }
  Error RefuseAudit(const audit::AuditEntry& entry, Error error) {
    const bool refusal = error.code() == ErrorCode::kNotFound ||
                         error.code() == ErrorCode::kPermissionDenied ||
                         error.code() == ErrorCode::kInvalidArgument;
    Status recorded =
        Recorded(entry, refusal ? audit::Outcome::kMinorFailure : audit::Outcome::kSeriousFailure,
                 std::string(ErrorCodeName(error.code())));
    if (!recorded) return recorded.error();
    return error;
  }
  // The audit log is the admins': patients, doctors and operators get 403.
  Status RequireAdmin(const Principal& who, const audit::AuditEntry& entry) {
    if (who.is(Role::kAdmin)) return {};
    return RefuseAudit(entry, RoleDenied());
  }

  FhirApiDeps d_;
};

}  // namespace

void AddFhirRoutes(net::Router& router, FhirApiDeps deps) {
  auto api = std::make_shared<FhirApi>(std::move(deps));
  // The handlers share the API object; the router keeps them (and so it) alive.
  const auto add = [&](std::string_view pattern, FhirApi::Handler h) {
    net::Handler inner = api->Wrap(h);
    router.Get(pattern, [api, inner](const net::Request& r) { return inner(r); },
               {.body_limit_bytes = 0});
  };
  add("/fhir/r4/metadata", &FhirApi::Metadata);
  add("/fhir/r4/Patient", &FhirApi::PatientSearch);
  add("/fhir/r4/Patient/{id}", &FhirApi::PatientRead);
  add("/fhir/r4/Patient/{id}/$everything", &FhirApi::Everything);
  add("/fhir/r4/Observation", &FhirApi::ObservationSearch);
  add("/fhir/r4/Observation/{id}", &FhirApi::ObservationRead);
  add("/fhir/r4/MedicationRequest", &FhirApi::MedicationRequestSearch);
  add("/fhir/r4/MedicationRequest/{id}", &FhirApi::MedicationRequestRead);
  add("/fhir/r4/Consent", &FhirApi::ConsentSearch);
  add("/fhir/r4/Consent/{id}", &FhirApi::ConsentRead);
  add("/fhir/r4/AuditEvent", &FhirApi::AuditEventSearch);
  add("/fhir/r4/AuditEvent/{id}", &FhirApi::AuditEventRead);
}

}  // namespace medmesh::cloud

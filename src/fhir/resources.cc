#include "fhir/resources.h"

#include <sodium.h>

#include <algorithm>
#include <cmath>
#include <string_view>

#include "fhir/codes.h"
#include "fhir/fhir_time.h"
#include "fhir/ids.h"

namespace medmesh::fhir {
namespace {

using wire::VitalKind;

// Free text as a FHIR string: verbatim when it is valid UTF-8 (the normal case), with each
// invalid byte and each control character other than tab, CR and LF replaced by U+FFFD. FHIR
// strings should carry no other control characters, and nlohmann's dump() throws on invalid
// UTF-8, which would turn one bad row into a failed $everything.
std::string Text(std::string_view in) {
  constexpr std::string_view kReplacement = "\xEF\xBF\xBD";
  std::string out;
  out.reserve(in.size());
  std::size_t i = 0;
  while (i < in.size()) {
    const auto c = static_cast<unsigned char>(in[i]);
    if (c < 0x80) {
      if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f) {
        out += kReplacement;
      } else {
        out += static_cast<char>(c);
      }
      ++i;
      continue;
    }
    // The length and smallest code point of a multi-byte sequence (RFC 3629: no overlongs,
    // no surrogates, nothing above U+10FFFF).
    std::size_t n = 0;
    std::uint32_t cp = 0;
    std::uint32_t min = 0;
    if ((c & 0xE0) == 0xC0) {
      n = 2, cp = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      n = 3, cp = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      n = 4, cp = c & 0x07, min = 0x10000;
    }
    bool ok = n != 0 && i + n <= in.size();
    for (std::size_t k = 1; ok && k < n; ++k) {
      const auto cc = static_cast<unsigned char>(in[i + k]);
      ok = (cc & 0xC0) == 0x80;
      cp = (cp << 6) | (cc & 0x3F);
    }
    ok = ok && cp >= min && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF) &&
         !(cp >= 0x80 && cp <= 0x9F);  // C1 controls
    if (ok) {
      out.append(in.substr(i, n));
      i += n;
    } else {
      out += kReplacement;
      ++i;
    }
  }
  return out;
}

// A FHIR `code` taken from input (a MIME type, a UCUM unit): printable ASCII without spaces.
bool IsCodeToken(std::string_view s) {
  return !s.empty() && s.size() <= 128 &&
         std::ranges::all_of(s, [](char c) { return c > 0x20 && c < 0x7f; });
}

Result<std::string> FhirIdOf(std::string_view wire_id, std::string_view field) {
  auto id = ToFhirId(wire_id);
  if (!id) return InvalidArgument(std::string(field) + " is not a valid MedMesh id");
  return id;
}

Result<Json> LiteralReference(std::string_view type, std::string_view wire_id,
                              std::string_view field) {
  MEDMESH_ASSIGN_OR_RETURN(std::string id, FhirIdOf(wire_id, field));
  return Json{{"reference", std::string(type) + "/" + id}};
}

// A reference to a resource MedMesh does not serve, by its MedMesh identifier.
Json LogicalReference(std::string_view type, std::string_view system, std::string_view value) {
  return Json{{"type", type}, {"identifier", {{"system", system}, {"value", value}}}};
}

Json Coding(std::string_view system, std::string_view code, std::string_view display = {}) {
  Json c{{"system", system}, {"code", code}};
  if (!display.empty()) c["display"] = display;
  return c;
}

Json Concept(Json coding) { return Json{{"coding", Json::array({std::move(coding)})}}; }

// A decimal as a JSON number: an integer when it is one (so 72 stays "72", not "72.0").
Json Decimal(double v) {
  if (std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 1e15) {
    return Json(static_cast<std::int64_t>(v));
  }
  return Json(v);
}
Json MilliDecimal(std::int64_t milli) {
  if (milli % 1000 == 0) return Json(milli / 1000);
  return Json(static_cast<double>(milli) / 1000.0);
}

Json UcumQuantity(Json value, std::string_view unit, std::string_view code) {
  return Json{{"value", std::move(value)}, {"unit", unit}, {"system", kUcumSystem}, {"code", code}};
}

Result<std::string> InstantOf(std::int64_t ms, std::string_view field) {
  auto t = FormatInstant(ms);
  if (!t) return InvalidArgument(std::string(field) + " is outside 1970..9999");
  return t;
}

std::string Base64(const Bytes& bytes) {
  std::string out(sodium_base64_ENCODED_LEN(bytes.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), bytes.data(), bytes.size(),
                    sodium_base64_VARIANT_ORIGINAL);
  out.resize(out.size() - 1);  // the terminating NUL
  return out;
}

// --- Observations ---

Status CheckSource(const ReadingSource& source) {
  if (!wire::IsValidId(source.patient_id)) return InvalidArgument("patient_id is not valid");
  if (!source.device_id.empty() && !wire::IsValidId(source.device_id)) {
    return InvalidArgument("device_id is not valid");
  }
  return {};
}

Json CategoryConcept(std::string_view category) {
  return Json::array({Concept(Coding(kObservationCategorySystem, category))});
}

Json ObservationCode(const VitalCoding& c) {
  Json codings = Json::array({Coding(kLoincSystem, c.loinc, c.loinc_display)});
  if (!c.extra_loinc.empty())
    codings.push_back(Coding(kLoincSystem, c.extra_loinc, c.extra_display));
  return Json{{"coding", std::move(codings)}, {"text", c.loinc_display}};
}

// The parts every reading Observation shares.
Result<Json> ObservationBase(const ReadingSource& source, std::optional<VitalKind> kind,
                             std::int64_t time_ms) {
  MEDMESH_RETURN_IF_ERROR(CheckSource(source));
  MEDMESH_ASSIGN_OR_RETURN(std::string id, ObservationId({source.patient_id, kind, time_ms}));
  MEDMESH_ASSIGN_OR_RETURN(std::string effective, InstantOf(time_ms, "reading time"));
  MEDMESH_ASSIGN_OR_RETURN(Json subject,
                           LiteralReference("Patient", source.patient_id, "patient_id"));
  Json obs{{"resourceType", "Observation"}, {"id", id}, {"status", "final"}};
  obs["subject"] = std::move(subject);
  obs["effectiveDateTime"] = std::move(effective);
  if (!source.device_id.empty()) {
    obs["device"] = LogicalReference("Device", kDeviceIdSystem, source.device_id);
  }
  return obs;
}

}  // namespace

Result<Json> PatientResource(const wire::PatientRecord& record) {
  MEDMESH_ASSIGN_OR_RETURN(std::string id, FhirIdOf(record.patient_id, "patient_id"));
  Json p{{"resourceType", "Patient"}, {"id", id}, {"active", true}};
  Json identifiers =
      Json::array({{{"use", "usual"}, {"system", kPatientIdSystem}, {"value", record.patient_id}}});
  if (!record.national_id.empty()) {
    identifiers.push_back({{"use", "official"},
                           {"type", Concept(Coding(kV2IdentifierTypeSystem, "NI",
                                                   "National unique individual identifier"))},
                           {"value", Text(record.national_id)}});
  }
  p["identifier"] = std::move(identifiers);
  if (!record.name.empty()) {
    p["name"] = Json::array({{{"use", "official"}, {"text", Text(record.name)}}});
  }
  Json telecom = Json::array();
  if (!record.phone.empty())
    telecom.push_back({{"system", "phone"}, {"value", Text(record.phone)}});
  if (!record.email.empty())
    telecom.push_back({{"system", "email"}, {"value", Text(record.email)}});
  if (!telecom.empty()) p["telecom"] = std::move(telecom);
  if (!record.sex.empty()) {
    if (record.sex != "female" && record.sex != "male" && record.sex != "other" &&
        record.sex != "unknown") {
      return InvalidArgument("sex must be female, male, other or unknown");
    }
    p["gender"] = record.sex;
  }
  if (!record.birth_date.empty()) {
    const auto range = ParseDateTimeRange(record.birth_date);
    if (!range || record.birth_date.size() != 10) {
      return InvalidArgument("birth_date must be YYYY-MM-DD");
    }
    p["birthDate"] = record.birth_date;
  }
  if (!record.address.empty() || !record.postcode.empty()) {
    Json address{{"use", "home"}};
    if (!record.address.empty()) address["text"] = Text(record.address);
    if (!record.postcode.empty()) address["postalCode"] = Text(record.postcode);
    p["address"] = Json::array({std::move(address)});
  }
  if (!record.photo.empty()) {
    if (!IsCodeToken(record.photo_type)) return InvalidArgument("photo type is not a MIME type");
    p["photo"] = Json::array({{{"contentType", record.photo_type},
                               {"data", Base64(record.photo)},
                               {"size", record.photo.size()}}});
  }
  return p;
}

Result<Json> ReadingObservation(const ReadingSource& source, const wire::Reading& reading) {
  if (!wire::CheckPlausible(reading)) {
    return InvalidArgument("reading value or time is outside its kind's range");
  }
  const VitalCoding& c = CodingFor(reading.kind);
  MEDMESH_ASSIGN_OR_RETURN(Json obs, ObservationBase(source, reading.kind, reading.time_ms));
  if (c.category == "vital-signs") {
    Json profiles = Json::array({kVitalSignsProfile});
    if (!c.profile.empty()) profiles.push_back(c.profile);
    obs["meta"] = {{"profile", std::move(profiles)}};
  }
  obs["category"] = CategoryConcept(c.category);
  obs["code"] = ObservationCode(c);
  if (reading.kind == VitalKind::kEcgRhythm) {
    const RhythmCoding* rhythm = RhythmCodingFor(reading.value_milli);
    if (rhythm == nullptr) return InvalidArgument("ECG rhythm value is not a rhythm code");
    Json value{{"text", rhythm->display}};
    if (!rhythm->snomed.empty()) {
      value["coding"] = Json::array({Coding(kSnomedSystem, rhythm->snomed, rhythm->display)});
    }
    obs["valueCodeableConcept"] = std::move(value);
  } else {
    obs["valueQuantity"] = UcumQuantity(MilliDecimal(reading.value_milli), c.unit, c.ucum);
  }
  // Keep the conventional element order readable for people: the JSON object sorts keys, which
  // FHIR allows (JSON property order carries no meaning).
  return obs;
}

Result<Json> BloodPressureObservation(const ReadingSource& source, const wire::Reading& systolic,
                                      const wire::Reading& diastolic) {
  if (systolic.kind != VitalKind::kSystolicBp || diastolic.kind != VitalKind::kDiastolicBp) {
    return InvalidArgument("a blood-pressure panel needs a systolic and a diastolic reading");
  }
  if (systolic.time_ms != diastolic.time_ms) {
    return InvalidArgument("a blood-pressure panel pairs readings of the same time");
  }
  if (!wire::CheckPlausible(systolic) || !wire::CheckPlausible(diastolic)) {
    return InvalidArgument("blood-pressure value or time is outside its range");
  }
  MEDMESH_ASSIGN_OR_RETURN(Json obs, ObservationBase(source, std::nullopt, systolic.time_ms));
  obs["meta"] = {{"profile", Json::array({kVitalSignsProfile, kBloodPressureProfile})}};
  obs["category"] = CategoryConcept("vital-signs");
  obs["code"] = Json{
      {"coding",
       Json::array({Coding(kLoincSystem, kBloodPressurePanelLoinc, kBloodPressurePanelDisplay)})},
      {"text", "Blood pressure"}};
  Json components = Json::array();
  for (const wire::Reading* r : {&systolic, &diastolic}) {
    const VitalCoding& c = CodingFor(r->kind);
    components.push_back(
        {{"code", ObservationCode(c)},
         {"valueQuantity", UcumQuantity(MilliDecimal(r->value_milli), c.unit, c.ucum)}});
  }
  obs["component"] = std::move(components);
  return obs;
}

Result<std::vector<Json>> ReadingObservations(const ReadingSource& source,
                                              std::span<const wire::Reading> readings) {
  std::vector<wire::Reading> sorted(readings.begin(), readings.end());
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const wire::Reading& a, const wire::Reading& b) {
                     if (a.time_ms != b.time_ms) return a.time_ms < b.time_ms;
                     return a.kind < b.kind;
                   });
  std::vector<Json> out;
  out.reserve(sorted.size());
  std::size_t i = 0;
  while (i < sorted.size()) {
    std::size_t end = i;
    while (end < sorted.size() && sorted[end].time_ms == sorted[i].time_ms) ++end;
    // Within one millisecond: pair systolic with diastolic readings one to one.
    std::vector<const wire::Reading*> sys;
    std::vector<const wire::Reading*> dia;
    for (std::size_t k = i; k < end; ++k) {
      if (sorted[k].kind == VitalKind::kSystolicBp) sys.push_back(&sorted[k]);
      if (sorted[k].kind == VitalKind::kDiastolicBp) dia.push_back(&sorted[k]);
    }
    const std::size_t pairs = std::min(sys.size(), dia.size());
    for (std::size_t k = i; k < end; ++k) {
      const wire::Reading& r = sorted[k];
      const bool paired_sys =
          std::find(sys.begin(), sys.begin() + static_cast<std::ptrdiff_t>(pairs), &r) !=
          sys.begin() + static_cast<std::ptrdiff_t>(pairs);
      const bool paired_dia =
          std::find(dia.begin(), dia.begin() + static_cast<std::ptrdiff_t>(pairs), &r) !=
          dia.begin() + static_cast<std::ptrdiff_t>(pairs);
      if (paired_dia) continue;  // emitted with its systolic partner
      if (paired_sys) {
        const std::size_t n =
            static_cast<std::size_t>(std::find(sys.begin(), sys.end(), &r) - sys.begin());
        MEDMESH_ASSIGN_OR_RETURN(Json panel, BloodPressureObservation(source, r, *dia[n]));
        out.push_back(std::move(panel));
      } else {
        MEDMESH_ASSIGN_OR_RETURN(Json obs, ReadingObservation(source, r));
        out.push_back(std::move(obs));
      }
    }
    i = end;
  }
  return out;
}

// --- MedicationRequest ---

namespace {

struct UnitNames {
  std::string_view code;  // UCUM and FHIR Timing unit code
  std::string_view singular;
  std::string_view plural;
};

UnitNames NamesOf(TimeUnit unit) {
  switch (unit) {
    case TimeUnit::kSecond: return {"s", "second", "seconds"};
    case TimeUnit::kMinute: return {"min", "minute", "minutes"};
    case TimeUnit::kHour: return {"h", "hour", "hours"};
    case TimeUnit::kDay: return {"d", "day", "days"};
    case TimeUnit::kWeek: return {"wk", "week", "weeks"};
    case TimeUnit::kMonth: return {"mo", "month", "months"};
    case TimeUnit::kYear: return {"a", "year", "years"};
  }
  return {"d", "day", "days"};
}

std::string_view StatusCode(PrescriptionStatus status) {
  switch (status) {
    case PrescriptionStatus::kActive: return "active";
    case PrescriptionStatus::kCompleted: return "completed";
    case PrescriptionStatus::kCancelled: return "cancelled";
    case PrescriptionStatus::kStopped: return "stopped";
  }
  return "active";
}

std::string NumberText(double v) { return Decimal(v).dump(); }

std::string Amount(double v, const UnitNames& names) {
  return NumberText(v) + " " + std::string(v == 1 ? names.singular : names.plural);
}

bool Positive(double v) { return std::isfinite(v) && v > 0; }

}  // namespace

Result<Json> MedicationRequestResource(const Prescription& prescription) {
  const Prescription& rx = prescription;
  MEDMESH_ASSIGN_OR_RETURN(std::string id, FhirIdOf(rx.id, "prescription id"));
  MEDMESH_ASSIGN_OR_RETURN(Json subject, LiteralReference("Patient", rx.patient_id, "patient_id"));
  MEDMESH_ASSIGN_OR_RETURN(Json requester,
                           LiteralReference("Practitioner", rx.doctor_id, "doctor_id"));
  MEDMESH_ASSIGN_OR_RETURN(std::string authored, InstantOf(rx.authored_ms, "authored time"));
  if (rx.drug.empty()) return InvalidArgument("drug is empty");

  Json m{{"resourceType", "MedicationRequest"},
         {"id", id},
         {"identifier", Json::array({{{"system", kPrescriptionIdSystem}, {"value", rx.id}}})},
         {"status", StatusCode(rx.status)},
         {"intent", "order"},
         {"medicationCodeableConcept", {{"text", Text(rx.drug)}}},
         {"subject", std::move(subject)},
         {"authoredOn", std::move(authored)},
         {"requester", std::move(requester)}};
  if (!rx.reason.empty()) m["reasonCode"] = Json::array({{{"text", Text(rx.reason)}}});

  Json dosage = Json::object();
  std::vector<std::string> text;  // a sentence for people: "500 mg, 3 times per day, for 7 days"
  if (rx.dose) {
    if (!Positive(rx.dose->value) || !IsCodeToken(rx.dose->unit)) {
      return InvalidArgument("dose needs a positive value and a UCUM unit (no spaces)");
    }
    dosage["doseAndRate"] = Json::array(
        {{{"doseQuantity", UcumQuantity(Decimal(rx.dose->value), rx.dose->unit, rx.dose->unit)}}});
    text.push_back(NumberText(rx.dose->value) + " " + rx.dose->unit);
  }
  Json repeat = Json::object();
  if (rx.frequency) {
    if (rx.frequency->times < 1 || !Positive(rx.frequency->period)) {
      return InvalidArgument("frequency needs at least one time per positive period");
    }
    const UnitNames unit = NamesOf(rx.frequency->period_unit);
    repeat["frequency"] = rx.frequency->times;
    repeat["period"] = Decimal(rx.frequency->period);
    repeat["periodUnit"] = unit.code;
    text.push_back(std::to_string(rx.frequency->times) +
                   (rx.frequency->times == 1 ? " time per " : " times per ") +
                   (rx.frequency->period == 1 ? std::string(unit.singular)
                                              : Amount(rx.frequency->period, unit)));
  }
  if (rx.duration) {
    if (!Positive(rx.duration->value)) return InvalidArgument("duration must be positive");
    const UnitNames unit = NamesOf(rx.duration->unit);
    repeat["boundsDuration"] = UcumQuantity(Decimal(rx.duration->value), unit.plural, unit.code);
    text.push_back("for " + Amount(rx.duration->value, unit));
  }
  if (!repeat.empty()) dosage["timing"] = {{"repeat", std::move(repeat)}};
  if (!rx.instructions.empty()) dosage["patientInstruction"] = Text(rx.instructions);
  if (!rx.dosage_text.empty()) {
    dosage["text"] = Text(rx.dosage_text);
  } else if (!text.empty()) {
    std::string sentence;
    for (const std::string& part : text) sentence += (sentence.empty() ? "" : ", ") + part;
    dosage["text"] = sentence;
  }
  if (!dosage.empty()) {
    dosage["sequence"] = 1;
    m["dosageInstruction"] = Json::array({std::move(dosage)});
  }
  return m;
}

// --- Practitioner ---

namespace {

Status CheckDoctor(const Doctor& doctor) {
  if (!wire::IsValidId(doctor.id)) return InvalidArgument("doctor id is not valid");
  if (doctor.name.empty()) return InvalidArgument("doctor name is empty");
  if (doctor.licence_number.empty()) return InvalidArgument("licence number is empty");
  return {};
}

Json LicenceIdentifier(const Doctor& doctor) {
  return Json{{"use", "official"},
              {"type", Concept(Coding(kV2IdentifierTypeSystem, "MD", "Medical License number"))},
              {"system", kLicenceSystem},
              {"value", Text(doctor.licence_number)}};
}

}  // namespace

Result<Json> PractitionerResource(const Doctor& doctor) {
  MEDMESH_RETURN_IF_ERROR(CheckDoctor(doctor));
  MEDMESH_ASSIGN_OR_RETURN(std::string id, FhirIdOf(doctor.id, "doctor id"));
  Json p{
      {"resourceType", "Practitioner"},
      {"id", id},
      {"identifier",
       Json::array({LicenceIdentifier(doctor),
                    {{"use", "secondary"}, {"system", kAccountIdSystem}, {"value", doctor.id}}})},
      {"active", doctor.active},
      {"name", Json::array({{{"use", "official"}, {"text", Text(doctor.name)}}})}};
  if (!doctor.email.empty()) {
    p["telecom"] =
        Json::array({{{"system", "email"}, {"value", Text(doctor.email)}, {"use", "work"}}});
  }
  p["qualification"] = Json::array(
      {{{"identifier",
         Json::array({{{"system", kLicenceSystem}, {"value", Text(doctor.licence_number)}}})},
        {"code",
         {{"text", doctor.speciality.empty() ? std::string("Medical licence")
                                             : Text(doctor.speciality)}}}}});
  return p;
}

Result<Json> PractitionerRoleResource(const Doctor& doctor) {
  MEDMESH_RETURN_IF_ERROR(CheckDoctor(doctor));
  MEDMESH_ASSIGN_OR_RETURN(std::string id, FhirIdOf(doctor.id, "doctor id"));
  MEDMESH_ASSIGN_OR_RETURN(Json practitioner,
                           LiteralReference("Practitioner", doctor.id, "doctor id"));
  practitioner["display"] = Text(doctor.name);
  Json r{{"resourceType", "PractitionerRole"},
         {"id", id},
         {"active", doctor.active},
         {"practitioner", std::move(practitioner)},
         {"code",
          Json::array({Concept(Coding("http://terminology.hl7.org/CodeSystem/practitioner-role",
                                      "doctor", "Doctor"))})}};
  if (!doctor.hospital.empty()) r["organization"] = {{"display", Text(doctor.hospital)}};
  if (!doctor.speciality.empty())
    r["specialty"] = Json::array({{{"text", Text(doctor.speciality)}}});
  return r;
}

// --- Consent ---

Result<Json> ConsentResource(const ConsentGrant& grant) {
  MEDMESH_ASSIGN_OR_RETURN(std::string id, FhirIdOf(grant.id, "consent id"));
  MEDMESH_ASSIGN_OR_RETURN(Json patient,
                           LiteralReference("Patient", grant.patient_id, "patient_id"));
  MEDMESH_ASSIGN_OR_RETURN(Json doctor,
                           LiteralReference("Practitioner", grant.doctor_id, "doctor_id"));
  MEDMESH_ASSIGN_OR_RETURN(std::string granted, InstantOf(grant.granted_ms, "granted time"));
  if (grant.record_ids.empty()) return InvalidArgument("a consent grant needs at least one record");

  Json period{{"start", granted}};
  std::optional<std::int64_t> end = grant.revoked_ms;
  if (grant.expires_ms && (!end || *grant.expires_ms < *end)) end = grant.expires_ms;
  if (end) {
    if (*end < grant.granted_ms) return InvalidArgument("consent ends before it was granted");
    MEDMESH_ASSIGN_OR_RETURN(period["end"], InstantOf(*end, "consent end"));
  }
  Json data = Json::array();
  for (const std::string& record_id : grant.record_ids) {
    if (!wire::IsValidId(record_id)) return InvalidArgument("a record id is not valid");
    data.push_back(
        {{"meaning", "instance"},
         {"reference", LogicalReference("DocumentReference", kRecordIdSystem, record_id)}});
  }
  Json actor_role = Concept(Coding("http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                                   "PRCP", "primary information recipient"));
  Json c{{"resourceType", "Consent"},
         {"id", id},
         {"status", grant.revoked_ms ? "inactive" : "active"},
         {"scope", Concept(Coding("http://terminology.hl7.org/CodeSystem/consentscope",
                                  "patient-privacy", "Privacy Consent"))},
         {"category", Json::array({Concept(Coding(kLoincSystem, "59284-0", "Patient Consent"))})},
         {"patient", patient},
         {"dateTime", granted},
         {"performer", Json::array({patient})},
         {"policyRule",
          Concept(Coding("http://terminology.hl7.org/CodeSystem/v3-ActCode", "OPTIN", "opt-in"))},
         {"provision",
          {{"type", "permit"},
           {"period", std::move(period)},
           {"actor",
            Json::array({{{"role", std::move(actor_role)}, {"reference", std::move(doctor)}}})},
           {"action",
            Json::array({Concept(Coding("http://terminology.hl7.org/CodeSystem/consentaction",
                                        "access", "Access"))})},
           {"data", std::move(data)}}}};
  return c;
}

}  // namespace medmesh::fhir

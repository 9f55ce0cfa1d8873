#include "cloudlet/trust_service.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>

#include "accounts/authenticator.h"
#include "cloudlet/internal/trust_model.h"
#include "net/error_mapping.h"
#include "net/json_body.h"

namespace medmesh::cloudlet {
namespace {

using Json = nlohmann::json;
using wire::NowMs;

// The data categories a patient may share, in the order pages show them.
constexpr std::array<std::string_view, 3> kCategories = {"vitals_summary", "diagnoses",
                                                         "full_records"};

// The ICD-10 codes a patient chooses from (the demo's profiles and common chronic conditions;
// parent categories come from the code itself: the library groups I48.0 under I48, I4x, I).
struct Condition {
  std::string_view code;
  std::string_view name;
};
constexpr Condition kConditions[] = {
    {"I10", "Essential (primary) hypertension"},
    {"I11", "Hypertensive heart disease"},
    {"I25", "Chronic ischaemic heart disease"},
    {"I48", "Atrial fibrillation and flutter"},
    {"I48.0", "Paroxysmal atrial fibrillation"},
    {"I50", "Heart failure"},
    {"E10", "Type 1 diabetes mellitus"},
    {"E11", "Type 2 diabetes mellitus"},
    {"E66", "Obesity"},
    {"E78", "Disorders of lipoprotein metabolism"},
    {"J44", "Chronic obstructive pulmonary disease"},
    {"J44.1", "COPD with acute exacerbation"},
    {"J45", "Asthma"},
    {"G47.3", "Sleep apnoea"},
    {"N18", "Chronic kidney disease"},
    {"F32", "Depressive episode"},
    {"M54.5", "Low back pain"},
    {"R50.9", "Fever, unspecified"},
};
constexpr std::size_t kMaxConditions = 10;
constexpr std::size_t kMaxSymptoms = 20;
constexpr std::size_t kMaxSymptomBytes = 80;
constexpr std::size_t kMaxHandleBytes = 32;
constexpr std::size_t kMessagesListed = 200;
// Readings that make the vitals profile: the last 30 days.
constexpr std::int64_t kVitalsWindowMs = 30LL * 24 * 3600 * 1000;
// Evidence the model is fed: the last year of interactions and ratings (the library forgets with
// a 30-day half-life: a year-old rating weighs 2^-12) and 90 days of peer events (half-life a
// week). Bounds the cost of rebuilding the model per request.
constexpr std::int64_t kEvidenceWindowMs = 365LL * 24 * 3600 * 1000;
constexpr std::int64_t kPeerEvidenceWindowMs = 90LL * 24 * 3600 * 1000;
// A peer event kind.
constexpr std::array<std::string_view, 3> kPeerEventKinds = {"forward", "shared_data", "report"};

std::string_view ConditionName(std::string_view code) {
  for (const Condition& c : kConditions) {
    if (c.code == code) return c.name;
  }
  return {};
}

bool IsCategory(std::string_view c) {
  return std::find(kCategories.begin(), kCategories.end(), c) != kCategories.end();
}

bool Consents(const SharingConsent& consent, std::string_view category) {
  if (category == "vitals_summary") return consent.vitals_summary;
  if (category == "diagnoses") return consent.diagnoses;
  if (category == "full_records") return consent.full_records;
  return false;
}

Json ConsentJson(const SharingConsent& c) {
  return {{"vitals_summary", c.vitals_summary},
          {"diagnoses", c.diagnoses},
          {"full_records", c.full_records}};
}

Json ConditionsJson(const std::vector<std::string>& codes) {
  Json list = Json::array();
  for (const std::string& code : codes) {
    list.push_back({{"code", code}, {"name", std::string(ConditionName(code))}});
  }
  return list;
}

Json VitalsJson(const std::vector<internal::VitalStat>& vitals) {
  Json list = Json::array();
  for (const internal::VitalStat& v : vitals) {
    const wire::VitalInfo& info = wire::Info(v.kind);
    list.push_back({{"kind", std::string(info.name)},
                    {"unit", std::string(info.unit)},
                    {"mean", std::round(v.mean * 10) / 10},
                    {"sd", std::round(v.sd * 10) / 10},
                    {"min", v.min},
                    {"max", v.max},
                    {"count", v.count}});
  }
  return list;
}

Json ExplanationJson(const std::vector<internal::ExplanationItem>& items) {
  Json list = Json::array();
  for (const internal::ExplanationItem& item : items) {
    list.push_back({{"kind", item.kind},
                    {"term", item.term},
                    {"contribution", std::round(item.contribution * 1000) / 1000}});
  }
  return list;
}

// A refusal of a route's caller (403) when they are not a patient known here.
Status RequirePatient(const ConsoleCaller& caller, const TrustContext& ctx) {
  if (caller.patient_id.empty()) {
    return PermissionDenied("only patients share with other patients");
  }
  if (!ctx.known_patient(caller.patient_id)) {
    return PermissionDenied("only patients of this cloudlet share here");
  }
  return OkStatus();
}

Status RequireOperator(const ConsoleCaller& caller) {
  if (!caller.own_operator) {
    return PermissionDenied("only an operator of this cloudlet sees peer trust");
  }
  return OkStatus();
}

#define MEDMESH_TRUST_CALLER(caller, r)                                  \
  auto caller##_identified = ctx.identify(r);                            \
  if (!caller##_identified) {                                            \
    return accounts::AuthenticationRefusal(caller##_identified.error()); \
  }                                                                      \
  const ConsoleCaller caller = std::move(*caller##_identified)

net::Response Created(const Json& body) {
  net::Response r = net::Response::Json(body.dump());
  r.status = 201;
  return r;
}

}  // namespace

struct TrustService::State {
  explicit State(TrustContext c) : ctx(std::move(c)) {}
  TrustContext ctx;

  Result<net::Response> GetProfile(const net::Request& r);
  Result<net::Response> PutProfile(const net::Request& r);
  Result<net::Response> Similar(const net::Request& r);
  Result<net::Response> ListMessages(const net::Request& r);
  Result<net::Response> SendMessage(const net::Request& r);
  Result<net::Response> ListRequests(const net::Request& r);
  Result<net::Response> MakeRequest(const net::Request& r);
  Result<net::Response> Answer(const net::Request& r);
  Result<net::Response> Data(const net::Request& r);
  Result<net::Response> Rate(const net::Request& r);
  Result<net::Response> Attest(const net::Request& r);
  Result<net::Response> GetPeers(const net::Request& r);
  Result<net::Response> PeerEventRoute(const net::Request& r);

  // The caller's opted-in profile: 409 if they have not opted in.
  Result<SharingProfile> OwnSharingProfile(const ConsoleCaller& caller) const;
  Result<std::vector<internal::VitalStat>> Vitals(std::string_view patient_id) const;
  // The opted-in patient with this handle; 404 otherwise, and an IDS event (handles are short
  // enough to guess: a caller trying many is probing who shares here).
  Result<SharingProfile> SharingPatient(const net::Request& r, std::string_view handle) const;
  // What the model needs about the patients here, gathered once per request.
  Result<internal::Population> Gather() const;
  Status Audit(const net::Request& r, const ConsoleCaller& caller, std::string_view event,
               audit::Action action, std::string_view patient_id, std::string_view entity_type,
               std::string_view entity_id, std::string_view detail, bool failed = false) const;
  Result<std::vector<PeerTrust>> Peers() const;
};

TrustService::TrustService(TrustContext context)
    : state_(std::make_unique<State>(std::move(context))) {}
TrustService::~TrustService() = default;

Status TrustService::State::Audit(const net::Request& r, const ConsoleCaller& caller,
                                  std::string_view event, audit::Action action,
                                  std::string_view patient_id, std::string_view entity_type,
                                  std::string_view entity_id, std::string_view detail,
                                  bool failed) const {
  audit::AuditEntry e;
  e.time_ms = NowMs(ctx.clock);
  e.event = std::string(event);
  e.action = action;
  e.outcome = failed ? audit::Outcome::kMinorFailure : audit::Outcome::kSuccess;
  e.actor_account_id = caller.account_id;
  e.actor_role = caller.role;
  e.source_address = r.peer_address;
  e.patient_id = std::string(patient_id);
  e.entity_type = std::string(entity_type);
  e.entity_id = std::string(entity_id);
  e.detail = std::string(detail);
  return ctx.audit.Append(e);
}

Result<std::vector<internal::VitalStat>> TrustService::State::Vitals(
    std::string_view patient_id) const {
  MEDMESH_ASSIGN_OR_RETURN(std::vector<wire::Reading> readings,
                           ctx.readings(patient_id, NowMs(ctx.clock) - kVitalsWindowMs));
  return internal::VitalsProfile(readings);
}

Result<SharingProfile> TrustService::State::SharingPatient(const net::Request& r,
                                                           std::string_view handle) const {
  auto found = ctx.store.ByHandle(handle);
  if (!found && found.error().code() == ErrorCode::kNotFound) {
    ctx.record_ids(store::IdsEventKind::kOther, r, "trust: a handle that does not share here");
  }
  return found;
}

Result<SharingProfile> TrustService::State::OwnSharingProfile(const ConsoleCaller& caller) const {
  MEDMESH_ASSIGN_OR_RETURN(std::optional<SharingProfile> own, ctx.store.Profile(caller.patient_id));
  if (!own || !own->opted_in) {
    return FailedPrecondition("opt in to sharing first (your sharing profile)");
  }
  return std::move(*own);
}

Result<internal::Population> TrustService::State::Gather() const {
  internal::Population population;
  MEDMESH_ASSIGN_OR_RETURN(std::vector<SharingProfile> profiles, ctx.store.OptedIn());
  for (SharingProfile& p : profiles) {
    MEDMESH_ASSIGN_OR_RETURN(std::vector<internal::VitalStat> vitals, Vitals(p.patient_id));
    population.patients.push_back({std::move(p), std::move(vitals)});
  }
  population.now_ms = NowMs(ctx.clock);
  MEDMESH_ASSIGN_OR_RETURN(population.interactions,
                           ctx.store.Interactions(population.now_ms - kEvidenceWindowMs));
  for (const internal::Member& m : population.patients) {
    if (ctx.known_patient(m.profile.patient_id)) population.approved.insert(m.profile.patient_id);
  }
  for (const Interaction& i : population.interactions) {
    if (i.kind == InteractionKind::kAttestation) population.clinicians.insert(i.initiator);
    for (const std::string& party : {i.initiator, i.responder}) {
      if (!population.approved.contains(party) && ctx.known_patient(party)) {
        population.approved.insert(party);
      }
    }
  }
  MEDMESH_ASSIGN_OR_RETURN(population.ratings,
                           ctx.store.Ratings(population.now_ms - kEvidenceWindowMs));
  return population;
}

// --- profile ---------------------------------------------------------------------------------

Result<net::Response> TrustService::State::GetProfile(const net::Request& r) {
  MEDMESH_TRUST_CALLER(caller, r);
  MEDMESH_RETURN_IF_ERROR(RequirePatient(caller, ctx));
  MEDMESH_ASSIGN_OR_RETURN(std::optional<SharingProfile> own, ctx.store.Profile(caller.patient_id));
  MEDMESH_ASSIGN_OR_RETURN(std::vector<internal::VitalStat> vitals, Vitals(caller.patient_id));
  const SharingProfile p = own.value_or(SharingProfile{});
  Json choices = Json::array();
  for (const Condition& c : kConditions) {
    choices.push_back({{"code", std::string(c.code)}, {"name", std::string(c.name)}});
  }
  Json categories = Json::array();
  for (std::string_view c : kCategories) {
    categories.push_back(
        {{"category", std::string(c)}, {"threshold", internal::CategoryThreshold(c)}});
  }
  Json body{{"handle", p.handle.empty() ? Json(nullptr) : Json(p.handle)},
            {"opted_in", p.opted_in},
            {"conditions", ConditionsJson(p.conditions)},
            {"symptoms", p.symptoms},
            {"consent", ConsentJson(p.consent)},
            {"updated_ms", p.updated_ms > 0 ? Json(p.updated_ms) : Json(nullptr)},
            {"vitals", VitalsJson(vitals)},
            {"condition_choices", std::move(choices)},
            {"categories", std::move(categories)}};
  return net::Response::Json(body.dump());
}

Result<net::Response> TrustService::State::PutProfile(const net::Request& r) {
  MEDMESH_TRUST_CALLER(caller, r);
  MEDMESH_RETURN_IF_ERROR(RequirePatient(caller, ctx));
  static constexpr net::JsonField kFields[] = {{"opted_in", net::JsonType::kBoolean},
                                               {"conditions", net::JsonType::kArray, false},
                                               {"symptoms", net::JsonType::kArray, false},
                                               {"consent", net::JsonType::kObject, false}};
  net::JsonBody parsed = net::ParseJsonBody(r, kFields);
  if (auto* refusal = std::get_if<net::Response>(&parsed)) return std::move(*refusal);
  const Json& body = std::get<Json>(parsed);
  SharingProfile p;
  p.patient_id = caller.patient_id;
  p.opted_in = body.at("opted_in").get<bool>();
  std::set<std::string> seen;
  for (const Json& c : body.value("conditions", Json::array())) {
    if (!c.is_string() || ConditionName(c.get<std::string>()).empty()) {
      return InvalidArgument("conditions must be codes from condition_choices");
    }
    if (seen.insert(c.get<std::string>()).second) p.conditions.push_back(c.get<std::string>());
  }
  if (p.conditions.size() > kMaxConditions) {
    return InvalidArgument("conditions holds more than " + std::to_string(kMaxConditions));
  }
  seen.clear();
  for (const Json& s : body.value("symptoms", Json::array())) {
    if (!s.is_string()) return InvalidArgument("symptoms must be strings");
    std::string text = s.get<std::string>();
    text.erase(0, text.find_first_not_of(" \t"));
    text.erase(text.find_last_not_of(" \t") + 1);
    std::transform(text.begin(), text.end(), text.begin(),
                   [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
    if (text.empty() || text.size() > kMaxSymptomBytes) {
      return InvalidArgument("symptoms must be 1.." + std::to_string(kMaxSymptomBytes) +
                             " characters each");
    }
    if (std::any_of(text.begin(), text.end(),
                    [](unsigned char ch) { return ch < 0x20 || ch == 0x7f; })) {
      return InvalidArgument("symptoms must not hold control characters");
    }
    if (seen.insert(text).second) p.symptoms.push_back(text);
  }
  if (p.symptoms.size() > kMaxSymptoms) {
    return InvalidArgument("symptoms holds more than " + std::to_string(kMaxSymptoms));
  }
  if (body.contains("consent")) {
    static constexpr net::JsonField kConsent[] = {{"vitals_summary", net::JsonType::kBoolean},
                                                  {"diagnoses", net::JsonType::kBoolean},
                                                  {"full_records", net::JsonType::kBoolean}};
    if (Status ok = net::CheckJsonFields(body.at("consent"), kConsent); !ok) {
      return InvalidArgument("consent must be {vitals_summary, diagnoses, full_records} booleans");
    }
    p.consent = {body["consent"]["vitals_summary"].get<bool>(),
                 body["consent"]["diagnoses"].get<bool>(),
                 body["consent"]["full_records"].get<bool>()};
  }
  MEDMESH_ASSIGN_OR_RETURN(SharingProfile saved, ctx.store.SaveProfile(p));
  MEDMESH_RETURN_IF_ERROR(
      Audit(r, caller, "trust.profile.update", audit::Action::kUpdate, caller.patient_id, "Consent",
            saved.handle,
            std::string(saved.opted_in ? "opted in" : "opted out") +
                "; shares:" + (saved.consent.vitals_summary ? " vitals_summary" : "") +
                (saved.consent.diagnoses ? " diagnoses" : "") +
                (saved.consent.full_records ? " full_records" : "")));
  return GetProfile(r);
}

// --- similar patients -----------------------------------------------------------------------

Result<net::Response> TrustService::State::Similar(const net::Request& r) {
  MEDMESH_TRUST_CALLER(caller, r);
  MEDMESH_RETURN_IF_ERROR(RequirePatient(caller, ctx));
  MEDMESH_ASSIGN_OR_RETURN(std::optional<SharingProfile> own, ctx.store.Profile(caller.patient_id));
  Json list = Json::array();
  if (own && own->opted_in) {
    MEDMESH_ASSIGN_OR_RETURN(internal::Population population, Gather());
    for (const internal::Assessment& a : internal::Rank(population, caller.patient_id)) {
      list.push_back({{"handle", a.handle},
                      {"similarity", a.similarity},
                      {"trust", a.trust},
                      {"confidence", a.confidence},
                      {"explanation", ExplanationJson(a.explanation)},
                      {"shared_conditions", ConditionsJson(a.shared_conditions)},
                      {"shared_symptoms", a.shared_symptoms}});
    }
  }
  Json body{{"opted_in", own && own->opted_in}, {"patients", std::move(list)}};
  return net::Response::Json(body.dump());
}

// --- messages --------------------------------------------------------------------------------

Result<net::Response> TrustService::State::ListMessages(const net::Request& r) {
  MEDMESH_TRUST_CALLER(caller, r);
  MEDMESH_RETURN_IF_ERROR(RequirePatient(caller, ctx));
  MEDMESH_ASSIGN_OR_RETURN(std::vector<Message> messages,
                           ctx.store.Messages(caller.patient_id, kMessagesListed));
  MEDMESH_ASSIGN_OR_RETURN(std::vector<Rating> mine, ctx.store.RatingsBy(caller.patient_id));
  std::set<std::string> rated;
  for (const Rating& rating : mine) rated.insert(rating.interaction_id);
  std::map<std::string, std::string> handles;
  const auto handle = [&](const std::string& patient) -> Result<std::string> {
    if (auto it = handles.find(patient); it != handles.end()) return it->second;
    MEDMESH_ASSIGN_OR_RETURN(std::string h, ctx.store.HandleOf(patient));
    return handles[patient] = h;
  };
  Json list = Json::array();
  for (const Message& m : messages) {
    const bool sent = m.from_patient == caller.patient_id;
    MEDMESH_ASSIGN_OR_RETURN(std::string other, handle(sent ? m.to_patient : m.from_patient));
    list.push_back({{"message_id", m.message_id},
                    {"interaction_id", m.interaction_id},
                    {"direction", sent ? "sent" : "received"},
                    {"with", other},
                    {"sent_ms", m.sent_ms},
                    {"text", m.text},
                    {"rated", rated.contains(m.interaction_id)}});
  }
  return net::Response::Json(
      Json{{"messages", std::move(list)}}.dump(-1, ' ', false, Json::error_handler_t::replace));
}

Result<net::Response> TrustService::State::SendMessage(const net::Request& r) {
  MEDMESH_TRUST_CALLER(caller, r);
  MEDMESH_RETURN_IF_ERROR(RequirePatient(caller, ctx));
  static constexpr net::JsonField kFields[] = {{"to", net::JsonType::kString},
                                               {"text", net::JsonType::kString}};
  net::JsonBody parsed = net::ParseJsonBody(r, kFields);
  if (auto* refusal = std::get_if<net::Response>(&parsed)) return std::move(*refusal);
  const Json& body = std::get<Json>(parsed);
  const std::string to = body.at("to").get<std::string>();
  if (to.empty() || to.size() > kMaxHandleBytes) return InvalidArgument("to must be a handle");
  MEDMESH_ASSIGN_OR_RETURN(SharingProfile own, OwnSharingProfile(caller));
  MEDMESH_ASSIGN_OR_RETURN(SharingProfile other, SharingPatient(r, to));
  if (other.patient_id == caller.patient_id) return InvalidArgument("to is your own handle");
  MEDMESH_ASSIGN_OR_RETURN(Message m, ctx.store.AddMessage(caller.patient_id, other.patient_id,
                                                           body.at("text").get<std::string>()));
  MEDMESH_RETURN_IF_ERROR(Audit(r, caller, "trust.message.send", audit::Action::kCreate,
                                caller.patient_id, "Communication", m.message_id,
                                "to " + other.handle + " from " + own.handle));
  return Created({{"message_id", m.message_id},
                  {"interaction_id", m.interaction_id},
                  {"to", other.handle},
                  {"sent_ms", m.sent_ms}});
}

// --- access requests -------------------------------------------------------------------------

namespace {
double Round3(double x) { return std::round(x * 1000) / 1000; }

Json DecisionJson(const internal::Decision& d) {
  Json reasons = Json::array();
  for (const internal::Reason& reason : d.reasons) {
    reasons.push_back({{"kind", reason.kind},
                       {"met", reason.met},
                       {"value", Round3(reason.value)},
                       {"required", Round3(reason.required)},
                       {"text", reason.text}});
  }
  return {{"allowed", d.allowed},
          {"category", d.category},
          {"similarity", Round3(d.similarity)},
          {"reputation", Round3(d.reputation)},
          {"trust", Round3(d.trust)},
          {"threshold", d.threshold},
          {"consent", d.consent},
          {"reasons", std::move(reasons)}};
}
}  // namespace

Result<net::Response> TrustService::State::ListRequests(const net::Request& r) {
  MEDMESH_TRUST_CALLER(caller, r);
  MEDMESH_RETURN_IF_ERROR(RequirePatient(caller, ctx));
  std::optional<internal::Population> population;
  std::optional<SharingProfile> own;
  Json out{{"incoming", Json::array()}, {"outgoing", Json::array()}};
  for (const bool incoming : {true, false}) {
    MEDMESH_ASSIGN_OR_RETURN(std::vector<AccessRequest> list,
                             ctx.store.Requests(caller.patient_id, incoming));
    for (const AccessRequest& q : list) {
      MEDMESH_ASSIGN_OR_RETURN(std::string other,
                               ctx.store.HandleOf(incoming ? q.requester : q.owner));
      Json item{{"request_id", q.request_id},
                {"interaction_id", q.interaction_id},
                {"with", other},
                {"category", q.category},
                {"status", std::string(RequestStatusName(q.status))},
                {"created_ms", q.created_ms},
                {"answered_ms", q.answered_ms > 0 ? Json(q.answered_ms) : Json(nullptr)},
                {"decision", nullptr}};
      if (!q.decision_json.empty()) {
        item["decision"] = Json::parse(q.decision_json, nullptr, false);
      } else if (incoming) {
        // The owner sees what the model would decide now, with its reasons, before answering.
        if (!population) {
          MEDMESH_ASSIGN_OR_RETURN(population, Gather());
          MEDMESH_ASSIGN_OR_RETURN(own, ctx.store.Profile(caller.patient_id));
        }
        const SharingConsent consent = own ? own->consent : SharingConsent{};
        item["assessment"] = DecisionJson(
            internal::Decide(*population, q.owner, q.requester, q.category,
                             Consents(consent, q.category), ctx.known_patient(q.requester)));
      }
      out[incoming ? "incoming" : "outgoing"].push_back(std::move(item));
    }
  }
  return net::Response::Json(out.dump());
}

Result<net::Response> TrustService::State::MakeRequest(const net::Request& r) {
  MEDMESH_TRUST_CALLER(caller, r);
  MEDMESH_RETURN_IF_ERROR(RequirePatient(caller, ctx));
  static constexpr net::JsonField kFields[] = {{"handle", net::JsonType::kString},
                                               {"category", net::JsonType::kString}};
  net::JsonBody parsed = net::ParseJsonBody(r, kFields);
  if (auto* refusal = std::get_if<net::Response>(&parsed)) return std::move(*refusal);
  const Json& body = std::get<Json>(parsed);
  const std::string handle = body.at("handle").get<std::string>();
  const std::string category = body.at("category").get<std::string>();
  if (handle.empty() || handle.size() > kMaxHandleBytes) {
    return InvalidArgument("handle must be a handle");
  }
  if (!IsCategory(category)) {
    return InvalidArgument("category must be one of vitals_summary, diagnoses, full_records");
  }
  MEDMESH_ASSIGN_OR_RETURN(SharingProfile own, OwnSharingProfile(caller));
  MEDMESH_ASSIGN_OR_RETURN(SharingProfile owner, SharingPatient(r, handle));
  if (owner.patient_id == caller.patient_id) return InvalidArgument("handle is your own");
  MEDMESH_ASSIGN_OR_RETURN(AccessRequest q,
                           ctx.store.AddRequest(caller.patient_id, owner.patient_id, category));
  MEDMESH_RETURN_IF_ERROR(Audit(r, caller, "trust.request.create", audit::Action::kCreate,
                                caller.patient_id, "Consent", q.request_id,
                                category + " of " + owner.handle + " for " + own.handle));
  return Created({{"request_id", q.request_id},
                  {"interaction_id", q.interaction_id},
                  {"with", owner.handle},
                  {"category", category},
                  {"status", "pending"},
                  {"created_ms", q.created_ms}});
}

Result<net::Response> TrustService::State::Answer(const net::Request& r) {
  MEDMESH_TRUST_CALLER(caller, r);
  MEDMESH_RETURN_IF_ERROR(RequirePatient(caller, ctx));
  const std::string request_id(r.PathParam("request_id").value_or(""));
  static constexpr net::JsonField kFields[] = {{"grant", net::JsonType::kBoolean}};
  net::JsonBody parsed = net::ParseJsonBody(r, kFields);
  if (auto* refusal = std::get_if<net::Response>(&parsed)) return std::move(*refusal);
  const bool grant = std::get<Json>(parsed).at("grant").get<bool>();
  auto found = ctx.store.Request(request_id, caller.patient_id);
  if (!found || found->owner != caller.patient_id) {
    if (!found && found.error().code() != ErrorCode::kNotFound) return found.error();
    // The requester may not answer their own request; to them it is not an answer route.
    if (found) return PermissionDenied("only the owner of the data answers a request");
    ctx.record_ids(store::IdsEventKind::kOther, r,
                   "trust: answer to an unknown or foreign request");
    return NotFound("no such access request");
  }
  const AccessRequest& q = *found;
  if (q.status != RequestStatus::kPending) {
    return FailedPrecondition("the request was answered already");
  }
  MEDMESH_ASSIGN_OR_RETURN(internal::Population population, Gather());
  MEDMESH_ASSIGN_OR_RETURN(std::optional<SharingProfile> own, ctx.store.Profile(caller.patient_id));
  const bool consent = own && own->opted_in && Consents(own->consent, q.category);
  internal::Decision decision = internal::Decide(population, q.owner, q.requester, q.category,
                                                 consent, ctx.known_patient(q.requester));
  decision.reasons.insert(
      decision.reasons.begin(),
      {"owner", grant, grant ? 1.0 : 0.0, 1.0, grant ? "the owner granted" : "the owner refused"});
  if (!grant) decision.allowed = false;
  const RequestStatus status = decision.allowed ? RequestStatus::kGranted : RequestStatus::kRefused;
  const Json decision_json = DecisionJson(decision);
  MEDMESH_RETURN_IF_ERROR(ctx.store.AnswerRequest(q.request_id, status, decision_json.dump()));
  // The audit entry carries the reasons (numbers and codes only: no medical content).
  std::string detail = std::string(RequestStatusName(status)) + " " + q.category + ";";
  for (const internal::Reason& reason : decision.reasons) detail += " " + reason.text + ";";
  MEDMESH_RETURN_IF_ERROR(Audit(r, caller, "trust.request.answer", audit::Action::kUpdate, q.owner,
                                "Consent", q.request_id, detail));
  Json body{{"request_id", q.request_id},
            {"status", std::string(RequestStatusName(status))},
            {"decision", decision_json}};
  return net::Response::Json(body.dump());
}

Result<net::Response> TrustService::State::Data(const net::Request& r) {
  MEDMESH_TRUST_CALLER(caller, r);
  MEDMESH_RETURN_IF_ERROR(RequirePatient(caller, ctx));
  const std::string request_id(r.PathParam("request_id").value_or(""));
  auto found = ctx.store.Request(request_id, caller.patient_id);
  if (!found || found->requester != caller.patient_id) {
    if (!found && found.error().code() != ErrorCode::kNotFound) return found.error();
    if (found) return PermissionDenied("only the requester reads granted data");
    ctx.record_ids(store::IdsEventKind::kOther, r, "trust: read of an unknown or foreign request");
    return NotFound("no such access request");
  }
  const AccessRequest& q = *found;
  if (q.status != RequestStatus::kGranted) {
    return FailedPrecondition("the request is not granted");
  }
  // Consent is checked again now: a withdrawn consent or an opt-out stops the sharing at once.
  MEDMESH_ASSIGN_OR_RETURN(std::optional<SharingProfile> owner, ctx.store.Profile(q.owner));
  if (!owner || !owner->opted_in || !Consents(owner->consent, q.category)) {
    (void)Audit(r, caller, "trust.data.read", audit::Action::kRead, q.owner, "Consent",
                q.request_id, q.category + " refused: consent withdrawn", /*failed=*/true);
    return FailedPrecondition("the owner no longer shares this category");
  }
  Json body{{"request_id", q.request_id}, {"with", owner->handle}, {"category", q.category}};
  if (q.category == "vitals_summary") {
    MEDMESH_ASSIGN_OR_RETURN(std::vector<internal::VitalStat> vitals, Vitals(q.owner));
    body["vitals"] = VitalsJson(vitals);
  } else if (q.category == "diagnoses") {
    body["conditions"] = ConditionsJson(owner->conditions);
    body["symptoms"] = owner->symptoms;
  } else {
    MEDMESH_ASSIGN_OR_RETURN(std::vector<SharedRecord> records, ctx.records(q.owner));
    Json list = Json::array();
    for (const SharedRecord& rec : records) {
      list.push_back({{"record_id", rec.record_id},
                      {"created_ms", rec.created_ms},
                      {"symptoms", rec.symptoms},
                      {"pulse_bpm", rec.pulse_bpm ? Json(*rec.pulse_bpm) : Json(nullptr)},
                      {"ecg_summary", rec.ecg_summary}});
    }
    body["records"] = std::move(list);
  }
  MEDMESH_RETURN_IF_ERROR(Audit(r, caller, "trust.data.read", audit::Action::kRead, q.owner,
                                "Consent", q.request_id, q.category + " shared"));
  return net::Response::Json(body.dump(-1, ' ', false, Json::error_handler_t::replace));
}

// --- ratings ---------------------------------------------------------------------------------

Result<net::Response> TrustService::State::Rate(const net::Request& r) {
  MEDMESH_TRUST_CALLER(caller, r);
  MEDMESH_RETURN_IF_ERROR(RequirePatient(caller, ctx));
  static constexpr net::JsonField kFields[] = {{"interaction_id", net::JsonType::kString},
                                               {"positive", net::JsonType::kBoolean}};
  net::JsonBody parsed = net::ParseJsonBody(r, kFields);
  if (auto* refusal = std::get_if<net::Response>(&parsed)) return std::move(*refusal);
  const Json& body = std::get<Json>(parsed);
  const std::string interaction_id = body.at("interaction_id").get<std::string>();
  if (!wire::IsValidId(interaction_id)) return InvalidArgument("interaction_id is not an id");
  // Only a rating tied to an interaction logged here between the two counts: anything else is
  // refused (and is what a ballot-stuffer would try).
  auto interaction = ctx.store.InteractionOf(interaction_id, caller.patient_id);
  if (interaction && interaction->kind == InteractionKind::kAttestation) {
    // A clinician's attestation is the clinician's rating, not an exchange to rate back.
    interaction = NotFound("no such interaction of yours");
  }
  if (!interaction) {
    if (interaction.error().code() == ErrorCode::kNotFound) {
      ctx.record_ids(store::IdsEventKind::kOther, r,
                     "trust: rating of an interaction the caller did not take part in");
    }
    return interaction.error();
  }
  const std::string ratee =
      interaction->initiator == caller.patient_id ? interaction->responder : interaction->initiator;
  const bool positive = body.at("positive").get<bool>();
  MEDMESH_RETURN_IF_ERROR(
      ctx.store.AddRating({caller.patient_id, ratee, interaction_id, positive, NowMs(ctx.clock)}));
  MEDMESH_ASSIGN_OR_RETURN(std::string ratee_handle, ctx.store.HandleOf(ratee));
  MEDMESH_RETURN_IF_ERROR(Audit(
      r, caller, "trust.rating.create", audit::Action::kCreate, caller.patient_id, "Observation",
      interaction_id, std::string(positive ? "positive" : "negative") + " for " + ratee_handle));
  return Created(
      {{"interaction_id", interaction_id}, {"with", ratee_handle}, {"positive", positive}});
}

// --- clinicians' attestations ---------------------------------------------------------------

Result<net::Response> TrustService::State::Attest(const net::Request& r) {
  MEDMESH_TRUST_CALLER(caller, r);
  // The cloud issues doctor sessions only to hospital-approved doctors' accounts; the role is in
  // the signed token, so a doctor here is a pre-trusted clinician of the model.
  if (caller.role != "doctor" || caller.account_id.empty()) {
    return PermissionDenied("only a doctor attests a patient");
  }
  static constexpr net::JsonField kFields[] = {{"patient_id", net::JsonType::kString},
                                               {"positive", net::JsonType::kBoolean}};
  net::JsonBody parsed = net::ParseJsonBody(r, kFields);
  if (auto* refusal = std::get_if<net::Response>(&parsed)) return std::move(*refusal);
  const Json& body = std::get<Json>(parsed);
  const std::string patient_id = body.at("patient_id").get<std::string>();
  if (!wire::IsValidId(patient_id)) return InvalidArgument("patient_id is not an id");
  if (!ctx.known_patient(patient_id)) return NotFound("no such patient here");
  const bool positive = body.at("positive").get<bool>();
  MEDMESH_ASSIGN_OR_RETURN(Interaction attestation,
                           ctx.store.AddAttestation(caller.account_id, patient_id, positive));
  MEDMESH_RETURN_IF_ERROR(Audit(r, caller, "trust.attestation.create", audit::Action::kCreate,
                                patient_id, "Observation", attestation.interaction_id,
                                positive ? "positive" : "negative"));
  return Created({{"interaction_id", attestation.interaction_id}, {"positive", positive}});
}

// --- peer cloudlets --------------------------------------------------------------------------

Result<std::vector<PeerTrust>> TrustService::State::Peers() const {
  const std::int64_t now_ms = NowMs(ctx.clock);
  MEDMESH_ASSIGN_OR_RETURN(std::vector<PeerEvent> events,
                           ctx.store.PeerEvents(now_ms - kPeerEvidenceWindowMs));
  return internal::RankPeers(events, now_ms);
}

namespace {

Json EvidenceJson(const PeerEvidence& e) { return Json{{"good", e.good}, {"bad", e.bad}}; }

Json PeerJson(const PeerTrust& p) {
  return Json{{"peer_id", p.peer_id},
              {"trust", p.trust},
              {"confidence", p.confidence},
              {"good", p.good},
              {"bad", p.bad},
              {"partner", p.partner},
              {"evidence",
               {{"forward", EvidenceJson(p.forwards)},
                {"shared_data", EvidenceJson(p.shared_data)},
                {"report", EvidenceJson(p.reports)}}}};
}

}  // namespace

Result<net::Response> TrustService::State::GetPeers(const net::Request& r) {
  MEDMESH_TRUST_CALLER(caller, r);
  MEDMESH_RETURN_IF_ERROR(RequireOperator(caller));
  MEDMESH_ASSIGN_OR_RETURN(std::vector<PeerTrust> peers, Peers());
  Json list = Json::array();
  std::optional<std::string> relay;
  for (const PeerTrust& p : peers) {
    if (p.partner && !relay) relay = p.peer_id;
    list.push_back(PeerJson(p));
  }
  const RelayState relaying = ctx.relay_state ? ctx.relay_state() : RelayState{};
  Json last_relay = nullptr;
  if (!relaying.peer.empty()) {
    last_relay = {{"peer_id", relaying.peer},
                  {"time_ms", relaying.time_ms},
                  {"sent", relaying.sent},
                  {"failed", relaying.failed},
                  {"outcome", relaying.outcome}};
  }
  Json body{{"cloudlet_id", ctx.cloudlet_id},
            {"peers", std::move(list)},
            {"partner_threshold", internal::kPeerPartnerThreshold},
            {"cloud_link", ctx.cloud_link()},
            {"relay", relay ? Json(*relay) : Json(nullptr)},
            {"relaying", relaying.relaying},
            {"last_relay", std::move(last_relay)}};
  return net::Response::Json(body.dump());
}

Result<net::Response> TrustService::State::PeerEventRoute(const net::Request& r) {
  MEDMESH_TRUST_CALLER(caller, r);
  MEDMESH_RETURN_IF_ERROR(RequireOperator(caller));
  const std::string peer_id(r.PathParam("peer_id").value_or(""));
  if (!wire::IsValidId(peer_id)) return InvalidArgument("bad peer id");
  if (peer_id == ctx.cloudlet_id) return InvalidArgument("a cloudlet is not its own peer");
  static constexpr net::JsonField kFields[] = {{"kind", net::JsonType::kString},
                                               {"good", net::JsonType::kBoolean}};
  net::JsonBody parsed = net::ParseJsonBody(r, kFields);
  if (auto* refusal = std::get_if<net::Response>(&parsed)) return std::move(*refusal);
  const Json& body = std::get<Json>(parsed);
  const std::string kind = body.at("kind").get<std::string>();
  if (std::find(kPeerEventKinds.begin(), kPeerEventKinds.end(), kind) == kPeerEventKinds.end()) {
    return InvalidArgument("kind must be one of forward, shared_data, report");
  }
  const bool good = body.at("good").get<bool>();
  MEDMESH_RETURN_IF_ERROR(ctx.store.AddPeerEvent({peer_id, kind, good, NowMs(ctx.clock)}));
  MEDMESH_RETURN_IF_ERROR(Audit(r, caller, "trust.peer.event", audit::Action::kCreate, "", "Device",
                                peer_id, kind + (good ? " good" : " bad")));
  MEDMESH_ASSIGN_OR_RETURN(std::vector<PeerTrust> peers, Peers());
  for (const PeerTrust& p : peers) {
    if (p.peer_id != peer_id) continue;
    return Created(PeerJson(p));
  }
  return Internal("trust: a recorded peer is missing");
}

void TrustService::AddRoutes(net::Router& router) {
  State* s = state_.get();
  router.Get("/api/v1/trust/profile", [s](const net::Request& r) { return s->GetProfile(r); });
  router.Put("/api/v1/trust/profile", [s](const net::Request& r) { return s->PutProfile(r); },
             {.body_limit_bytes = 16 * 1024});
  router.Get("/api/v1/trust/similar", [s](const net::Request& r) { return s->Similar(r); });
  router.Get("/api/v1/trust/messages", [s](const net::Request& r) { return s->ListMessages(r); });
  router.Post("/api/v1/trust/messages", [s](const net::Request& r) { return s->SendMessage(r); },
              {.body_limit_bytes = 16 * 1024});
  router.Get("/api/v1/trust/requests", [s](const net::Request& r) { return s->ListRequests(r); });
  router.Post("/api/v1/trust/requests", [s](const net::Request& r) { return s->MakeRequest(r); },
              {.body_limit_bytes = 1024});
  router.Post("/api/v1/trust/requests/{request_id}/answer",
              [s](const net::Request& r) { return s->Answer(r); }, {.body_limit_bytes = 1024});
  router.Get("/api/v1/trust/requests/{request_id}/data",
             [s](const net::Request& r) { return s->Data(r); });
  router.Post("/api/v1/trust/ratings", [s](const net::Request& r) { return s->Rate(r); },
              {.body_limit_bytes = 1024});
  router.Post("/api/v1/trust/attestations", [s](const net::Request& r) { return s->Attest(r); },
              {.body_limit_bytes = 1024});
  router.Get("/api/v1/trust/peers", [s](const net::Request& r) { return s->GetPeers(r); });
  router.Post("/api/v1/trust/peers/{peer_id}/events",
              [s](const net::Request& r) { return s->PeerEventRoute(r); },
              {.body_limit_bytes = 1024});
}

Status TrustService::RecordPeerEvent(const PeerEvent& event) {
  if (!wire::IsValidId(event.peer_id)) return InvalidArgument("bad peer id");
  if (std::find(kPeerEventKinds.begin(), kPeerEventKinds.end(), event.kind) ==
      kPeerEventKinds.end()) {
    return InvalidArgument("kind must be one of forward, shared_data, report");
  }
  return state_->ctx.store.AddPeerEvent(event);
}

Result<std::vector<PeerTrust>> TrustService::Peers() const { return state_->Peers(); }

Result<std::optional<std::string>> TrustService::ChooseRelay() const {
  MEDMESH_ASSIGN_OR_RETURN(std::vector<PeerTrust> peers, state_->Peers());
  for (const PeerTrust& p : peers) {
    if (p.partner) return std::optional<std::string>(p.peer_id);
  }
  return std::optional<std::string>();
}

}  // namespace medmesh::cloudlet

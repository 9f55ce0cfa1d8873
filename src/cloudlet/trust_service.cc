#include "cloudlet/trust_service.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <iterator>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <span>
#include <utility>

#include "accounts/authenticator.h"
#include "cloudlet/internal/trust_model.h"
#include "core/log.h"
#include "crypto/keyed_hash.h"
#include "net/error_mapping.h"
#include "net/json_body.h"
#include "trust/attestation.h"
#include "wire/grant_assertion.h"

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
// A remote party's address: "handle@cloudlet".
constexpr std::size_t kMaxAddressBytes = kMaxHandleBytes + 1 + wire::kMaxIdBytes;
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

// --- sharing across cloudlets (share_federation.h) ------------------------------------------

// A party of another cloudlet, as this cloudlet names it: "<handle>@<cloudlet id>". Local
// patient ids are wire ids, which never hold '@', so the two never collide.
bool IsRemote(std::string_view id) { return id.find('@') != std::string_view::npos; }

std::string RemoteId(std::string_view handle, std::string_view cloudlet) {
  return std::string(handle) + "@" + std::string(cloudlet);
}

struct RemoteParty {
  std::string handle;
  std::string cloudlet;
};

// Where the query profile of a remote requester is kept in the store, whose profiles are keyed
// by wire ids ('@' is not one): "rq." and the hash of its address. Never listed (not opted in)
// nor found by handle.
std::string QueryProfileId(std::string_view remote_id) {
  const crypto::Digest256 digest = crypto::Blake2b256(AsBytes(remote_id));
  return "rq." + HexEncode(ByteView(digest.data(), digest.size())).substr(0, 40);
}

bool IsHandle(std::string_view handle) {
  return handle.size() <= kMaxHandleBytes && wire::IsValidId(handle);
}

std::optional<RemoteParty> SplitRemote(std::string_view id) {
  const std::size_t at = id.find('@');
  if (at == std::string_view::npos) return std::nullopt;
  RemoteParty p{std::string(id.substr(0, at)), std::string(id.substr(at + 1))};
  if (!IsHandle(p.handle) || !wire::IsValidId(p.cloudlet)) return std::nullopt;
  return p;
}

// An ICD-10 code at category level (I48.0 -> I48): what crosses to another cloudlet.
std::string ConditionCategory(std::string_view code) {
  return std::string(code.substr(0, code.find('.')));
}

std::vector<std::string> Categories(const std::vector<std::string>& codes) {
  std::set<std::string> out;
  for (const std::string& c : codes) out.insert(ConditionCategory(c));
  return {out.begin(), out.end()};
}

bool IsConditionCategory(std::string_view c) {
  return c.size() == 3 && c[0] >= 'A' && c[0] <= 'Z' &&
         std::isdigit(static_cast<unsigned char>(c[1])) &&
         std::isalnum(static_cast<unsigned char>(c[2]));
}

// A vital's mean or spread coarsened to a step that describes a condition, not a person.
double Coarse(wire::VitalKind kind, double x) {
  double step = 1;
  switch (kind) {
    case wire::VitalKind::kHeartRate:
    case wire::VitalKind::kSystolicBp:
    case wire::VitalKind::kDiastolicBp:
    case wire::VitalKind::kGlucose: step = 5; break;
    case wire::VitalKind::kBodyTemperature: step = 0.5; break;
    case wire::VitalKind::kRespiratoryRate: step = 2; break;
    default: step = 1;
  }
  return std::round(x / step) * step;
}

// The query profile a cloudlet sends its partners for a patient: condition categories and the
// coarse vitals profile; no id, handle, symptom text or count.
Json QueryProfile(const SharingProfile& own, const std::vector<internal::VitalStat>& vitals) {
  Json list = Json::array();
  for (const internal::VitalStat& v : vitals) {
    list.push_back({{"kind", std::string(wire::Info(v.kind).name)},
                    {"mean", Coarse(v.kind, v.mean)},
                    {"sd", Coarse(v.kind, v.sd)}});
  }
  return {{"conditions", Categories(own.conditions)}, {"vitals", std::move(list)}};
}

// A query profile from a peer as a member of the model's population, named `id`; nullopt if it
// breaks a rule (at most 10 condition categories, at most 7 vitals of the profile's kinds with
// finite mean and spread).
std::optional<internal::Member> MemberFromQuery(const Json& q, std::string id) {
  internal::Member m;
  m.profile.patient_id = id;
  m.profile.handle = std::move(id);
  m.profile.opted_in = true;
  const Json conditions = q.value("conditions", Json::array());
  const Json vitals = q.value("vitals", Json::array());
  if (!conditions.is_array() || conditions.size() > kMaxConditions || !vitals.is_array() ||
      vitals.size() > 7) {
    return std::nullopt;
  }
  for (const Json& c : conditions) {
    if (!c.is_string() || !IsConditionCategory(c.get<std::string>())) return std::nullopt;
    m.profile.conditions.push_back(c.get<std::string>());
  }
  for (const Json& v : vitals) {
    if (!v.is_object() || !v.contains("kind") || !v["kind"].is_string() || !v.contains("mean") ||
        !v["mean"].is_number() || !v.contains("sd") || !v["sd"].is_number()) {
      return std::nullopt;
    }
    const auto kind = wire::VitalKindFromName(v["kind"].get<std::string>());
    const double mean = v["mean"].get<double>();
    const double sd = v["sd"].get<double>();
    if (!kind || !std::isfinite(mean) || !std::isfinite(sd) || sd < 0) return std::nullopt;
    internal::VitalStat stat;
    stat.kind = *kind;
    stat.mean = mean;
    stat.sd = sd;
    stat.min = stat.max = mean;
    stat.count = 1;
    m.vitals.push_back(stat);
  }
  return m;
}

double Unit(const Json& j, std::string_view key) {
  const auto it = j.find(std::string(key));
  if (it == j.end() || !it->is_number()) return -1;
  const double x = it->get<double>();
  return std::isfinite(x) && x >= 0 && x <= 1 ? x : -1;
}

// A partner's answer to "similar" as this cloudlet shows it, or nullopt if it breaks the shape
// (a partner that answers nonsense is treated as one whose data did not verify).
std::optional<Json> RemoteMatch(const Json& p, std::string_view cloudlet) {
  if (!p.is_object() || !p.contains("handle") || !p["handle"].is_string() ||
      !IsHandle(p["handle"].get<std::string>())) {
    return std::nullopt;
  }
  const double similarity = Unit(p, "similarity");
  const double trust = Unit(p, "trust");
  const double confidence = Unit(p, "confidence");
  if (similarity < 0 || trust < 0 || confidence < 0) return std::nullopt;
  Json explanation = Json::array();
  for (const Json& e : p.value("explanation", Json::array())) {
    if (!e.is_object() || !e.contains("kind") || !e["kind"].is_string() || !e.contains("term") ||
        !e["term"].is_string() || !e.contains("contribution") || !e["contribution"].is_number() ||
        e["term"].get<std::string>().size() > kMaxSymptomBytes) {
      return std::nullopt;
    }
    explanation.push_back(
        {{"kind", e["kind"]}, {"term", e["term"]}, {"contribution", e["contribution"]}});
  }
  Json shared = Json::array();
  for (const Json& c : p.value("shared_conditions", Json::array())) {
    if (!c.is_string() || !IsConditionCategory(c.get<std::string>())) return std::nullopt;
    shared.push_back({{"code", c}, {"name", std::string(ConditionName(c.get<std::string>()))}});
  }
  const std::string handle = p["handle"].get<std::string>();
  return Json{{"handle", handle},
              {"cloudlet", std::string(cloudlet)},
              {"address", RemoteId(handle, cloudlet)},
              {"similarity", similarity},
              {"trust", trust},
              {"confidence", confidence},
              {"explanation", std::move(explanation)},
              {"shared_conditions", std::move(shared)},
              {"shared_symptoms", Json::array()}};
}

ShareAnswer PeerAnswer(int status, const Json& body) { return {status, body.dump()}; }
ShareAnswer PeerError(int status, std::string_view message) {
  return {status, Json{{"error", "refused"}, {"message", std::string(message)}}.dump()};
}
// The status of a Result's error as a peer's answer.
ShareAnswer PeerError(const Error& e) {
  const net::Response r = net::ErrorResponse(e);
  return {r.status, r.body};
}

}  // namespace

struct TrustService::State {
  explicit State(TrustContext c) : ctx(std::move(c)) {}
  TrustContext ctx;
  // The assertion's nonce if `hex` is a grant assertion for this doctor and patient (see
  // trust_service.h); otherwise PermissionDenied and an IDS event. Whether the nonce settled an
  // attestation before is the store's to say (AddAttestation), so a replay is refused also
  // after a restart.
  Result<std::string> CheckGrantAssertion(const net::Request& r, const ConsoleCaller& caller,
                                          std::string_view patient_id, std::string_view hex);
  // The refusal of an attestation without a valid grant assertion (and its IDS event).
  Error RefuseAttestation(const net::Request& r, bool none, std::string_view why);

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

  // Sharing across cloudlets.
  // The configured peers that are partners now, most trusted first.
  std::vector<SharePeer> Partners() const;
  std::optional<SharePeer> PartnerNamed(std::string_view id) const;
  // Whether a remote party ("handle@cloudlet") counts as approved here: its cloudlet is a
  // partner (which authenticated them with a hospital-issued session).
  bool RemoteApproved(std::string_view id) const;
  // Asks a partner; records the verification as a peer event ("shared_data", good or bad) and a
  // forged or malformed answer as an IDS event. The answer if it verified and `valid` accepts it.
  std::optional<ShareAnswer> AskPeer(const net::Request& r, const SharePeer& peer,
                                     std::string_view kind, const Json& body,
                                     const std::function<bool(int, const Json&)>& valid);
  // How a party is shown: the handle of a patient here, "handle@cloudlet" for a remote party.
  Result<std::string> Display(std::string_view id) const;
  // The population with the remote requester's stored query profile added (for S(owner, them)).
  Status AddRemoteMember(internal::Population& population, std::string_view requester) const;
  // The data of a granted request, re-checked against the owner's consent now.
  Result<Json> GrantedData(const AccessRequest& q) const;
  Status RefreshRemoteRequests(const net::Request& r, std::vector<AccessRequest>& outgoing);

  ShareAnswer PeerSimilar(std::string_view origin, const Json& q);
  ShareAnswer PeerMessage(std::string_view origin, const Json& q, const net::Request& r);
  ShareAnswer PeerRequest(std::string_view origin, const Json& q, const net::Request& r);
  ShareAnswer PeerData(std::string_view origin, const Json& q, const net::Request& r);
  ShareAnswer PeerStatus(std::string_view origin, const Json& q);
  ShareAnswer PeerForget(std::string_view origin, const Json& q, const net::Request& r);
  // Notes that `peer` receives something about these patients of this cloudlet (their handle),
  // so that deleting one tells that peer to forget it (ADR 0048). A failure to note is refused:
  // nothing about a patient leaves unless their deletion can follow it.
  Status NoteShared(std::span<const std::string> patient_ids, std::string_view peer) const {
    return ctx.store.NoteSharedWith(patient_ids, peer);
  }
  Status NoteShared(const std::string& patient_id, std::string_view peer) const {
    return NoteShared(std::span<const std::string>(&patient_id, 1), peer);
  }
  Status AuditPeer(const net::Request& r, std::string_view origin, std::string_view event,
                   audit::Action action, std::string_view patient_id, std::string_view entity_type,
                   std::string_view entity_id, std::string_view detail, bool failed = false) const {
    ConsoleCaller peer;
    peer.account_id = "cloudlet:" + std::string(origin);
    peer.role = "peer_cloudlet";
    return Audit(r, peer, event, action, patient_id, entity_type, entity_id, detail, failed);
  }
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
  std::set<std::string, std::less<>> partners;
  for (const SharePeer& p : Partners()) partners.insert(p.id);
  for (const Interaction& i : population.interactions) {
    if (i.kind == InteractionKind::kAttestation) population.clinicians.insert(i.initiator);
    for (const std::string& party : {i.initiator, i.responder}) {
      if (population.approved.contains(party)) continue;
      const std::optional<RemoteParty> remote = SplitRemote(party);
      if (remote ? partners.contains(remote->cloudlet) : ctx.known_patient(party)) {
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
                      {"cloudlet", nullptr},
                      {"address", a.handle},
                      {"similarity", a.similarity},
                      {"trust", a.trust},
                      {"confidence", a.confidence},
                      {"explanation", ExplanationJson(a.explanation)},
                      {"shared_conditions", ConditionsJson(a.shared_conditions)},
                      {"shared_symptoms", a.shared_symptoms}});
    }
  }
  // Partner cloudlets are asked with a query profile (condition categories and coarse vitals,
  // no identity); their patients come back by handle, with the explanation and the trust their
  // own cloudlet computed, signed by it.
  Json cloudlets = Json::array();
  if (own && own->opted_in && ctx.share != nullptr) {
    MEDMESH_ASSIGN_OR_RETURN(std::vector<internal::VitalStat> vitals, Vitals(caller.patient_id));
    const Json query = QueryProfile(*own, vitals);
    for (const SharePeer& peer : Partners()) {
      std::vector<Json> matches;
      const auto answer = AskPeer(r, peer, "similar", query, [&](int status, const Json& b) {
        if (status != 200 || !b.contains("patients") || !b["patients"].is_array()) return false;
        for (const Json& p : b["patients"]) {
          std::optional<Json> m = RemoteMatch(p, peer.id);
          if (!m) return false;
          matches.push_back(std::move(*m));
        }
        return true;
      });
      cloudlets.push_back({{"cloudlet_id", peer.id},
                           {"answered", answer.has_value()},
                           {"patients", answer ? matches.size() : 0}});
      if (!answer) continue;
      for (Json& m : matches) list.push_back(std::move(m));
    }
    std::stable_sort(list.begin(), list.end(), [](const Json& a, const Json& b) {
      return a["similarity"].get<double>() > b["similarity"].get<double>();
    });
  }
  Json body{{"opted_in", own && own->opted_in},
            {"patients", std::move(list)},
            {"cloudlets", std::move(cloudlets)}};
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
    MEDMESH_ASSIGN_OR_RETURN(std::string h, Display(patient));
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
  if (to.empty() || to.size() > (IsRemote(to) ? kMaxAddressBytes : kMaxHandleBytes)) {
    return InvalidArgument("to must be a handle");
  }
  MEDMESH_ASSIGN_OR_RETURN(SharingProfile own, OwnSharingProfile(caller));
  if (IsRemote(to)) {
    // A patient of a partner cloudlet: their cloudlet stores it (and decides); this one keeps
    // the sender's copy and the interaction once the partner's signed answer says it did.
    const std::optional<RemoteParty> party = SplitRemote(to);
    if (!party) return InvalidArgument("to must be a handle or handle@cloudlet");
    const std::string text = body.at("text").get<std::string>();
    if (text.empty() || text.size() > 4000) {
      return InvalidArgument("text must be 1..4000 bytes");
    }
    const std::optional<SharePeer> peer = PartnerNamed(party->cloudlet);
    if (!peer) return NotFound("no such handle among the partner cloudlets");
    MEDMESH_RETURN_IF_ERROR(NoteShared(caller.patient_id, peer->id));
    std::optional<ShareAnswer> answer =
        AskPeer(r, *peer, "message", {{"from", own.handle}, {"to", party->handle}, {"text", text}},
                [](int status, const Json& b) {
                  return status != 201 || (b.contains("message_id") && b["message_id"].is_string());
                });
    if (!answer) return Unavailable("the partner cloudlet did not answer with a verified answer");
    if (answer->status != 201) {
      return net::Response::Json(answer->body, answer->status);
    }
    MEDMESH_ASSIGN_OR_RETURN(Message m, ctx.store.AddMessage(caller.patient_id, to, text));
    MEDMESH_RETURN_IF_ERROR(Audit(r, caller, "trust.message.send", audit::Action::kCreate,
                                  caller.patient_id, "Communication", m.message_id,
                                  "to " + to + " from " + own.handle));
    return Created({{"message_id", m.message_id},
                    {"interaction_id", m.interaction_id},
                    {"to", to},
                    {"sent_ms", m.sent_ms}});
  }
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
    if (!incoming) MEDMESH_RETURN_IF_ERROR(RefreshRemoteRequests(r, list));
    for (const AccessRequest& q : list) {
      MEDMESH_ASSIGN_OR_RETURN(std::string other, Display(incoming ? q.requester : q.owner));
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
        MEDMESH_RETURN_IF_ERROR(AddRemoteMember(*population, q.requester));
        const SharingConsent consent = own ? own->consent : SharingConsent{};
        const bool approved =
            IsRemote(q.requester) ? RemoteApproved(q.requester) : ctx.known_patient(q.requester);
        item["assessment"] =
            DecisionJson(internal::Decide(*population, q.owner, q.requester, q.category,
                                          Consents(consent, q.category), approved));
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
  if (handle.empty() || handle.size() > (IsRemote(handle) ? kMaxAddressBytes : kMaxHandleBytes)) {
    return InvalidArgument("handle must be a handle");
  }
  if (!IsCategory(category)) {
    return InvalidArgument("category must be one of vitals_summary, diagnoses, full_records");
  }
  MEDMESH_ASSIGN_OR_RETURN(SharingProfile own, OwnSharingProfile(caller));
  if (IsRemote(handle)) {
    // The owner's cloudlet keeps the request and decides when the owner answers; this one keeps
    // a mirror linked to the owner's cloudlet's request id.
    const std::optional<RemoteParty> party = SplitRemote(handle);
    if (!party) return InvalidArgument("handle must be a handle or handle@cloudlet");
    const std::optional<SharePeer> peer = PartnerNamed(party->cloudlet);
    if (!peer) return NotFound("no such handle among the partner cloudlets");
    MEDMESH_RETURN_IF_ERROR(NoteShared(caller.patient_id, peer->id));
    MEDMESH_ASSIGN_OR_RETURN(std::vector<internal::VitalStat> vitals, Vitals(caller.patient_id));
    Json question = QueryProfile(own, vitals);
    question["requester"] = own.handle;
    question["owner"] = party->handle;
    question["category"] = category;
    std::optional<ShareAnswer> answer =
        AskPeer(r, *peer, "request", question, [](int status, const Json& b) {
          return status != 201 || (b.contains("request_id") && b["request_id"].is_string() &&
                                   wire::IsValidId(b["request_id"].get<std::string>()));
        });
    if (!answer) return Unavailable("the partner cloudlet did not answer with a verified answer");
    if (answer->status != 201) return net::Response::Json(answer->body, answer->status);
    const std::string remote_id = Json::parse(answer->body)["request_id"].get<std::string>();
    MEDMESH_ASSIGN_OR_RETURN(AccessRequest q,
                             ctx.store.AddRequest(caller.patient_id, handle, category));
    MEDMESH_RETURN_IF_ERROR(ctx.store.LinkRemoteRequest(q.request_id, remote_id));
    MEDMESH_RETURN_IF_ERROR(Audit(r, caller, "trust.request.create", audit::Action::kCreate,
                                  caller.patient_id, "Consent", q.request_id,
                                  category + " of " + handle + " for " + own.handle));
    return Created({{"request_id", q.request_id},
                    {"interaction_id", q.interaction_id},
                    {"with", handle},
                    {"category", category},
                    {"status", "pending"},
                    {"created_ms", q.created_ms}});
  }
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
  MEDMESH_RETURN_IF_ERROR(AddRemoteMember(population, q.requester));
  MEDMESH_ASSIGN_OR_RETURN(std::optional<SharingProfile> own, ctx.store.Profile(caller.patient_id));
  const bool consent = own && own->opted_in && Consents(own->consent, q.category);
  // A requester of a partner cloudlet counts as approved while that cloudlet is a partner.
  const bool approved =
      IsRemote(q.requester) ? RemoteApproved(q.requester) : ctx.known_patient(q.requester);
  internal::Decision decision =
      internal::Decide(population, q.owner, q.requester, q.category, consent, approved);
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

Result<Json> TrustService::State::GrantedData(const AccessRequest& q) const {
  // Consent is checked again now: a withdrawn consent or an opt-out stops the sharing at once.
  MEDMESH_ASSIGN_OR_RETURN(std::optional<SharingProfile> owner, ctx.store.Profile(q.owner));
  if (!owner || !owner->opted_in || !Consents(owner->consent, q.category)) {
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
  return body;
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
  if (const std::optional<RemoteParty> party = SplitRemote(q.owner)) {
    // The owner's cloudlet decides, re-checks consent, audits and signs the data; a partner
    // whose data does not verify loses trust here and its data is not shown.
    MEDMESH_ASSIGN_OR_RETURN(std::string remote_id, ctx.store.RemoteRequestOf(q.request_id));
    MEDMESH_ASSIGN_OR_RETURN(SharingProfile own, OwnSharingProfile(caller));
    const std::optional<SharePeer> peer = PartnerNamed(party->cloudlet);
    if (!peer || remote_id.empty()) {
      return FailedPrecondition("the owner's cloudlet is not a partner of this cloudlet now");
    }
    std::optional<ShareAnswer> answer = AskPeer(
        r, *peer, "data", {{"request_id", remote_id}, {"requester", own.handle}},
        [&](int status, const Json& b) {
          return status != 200 ||
                 (b.value("category", "") == q.category && b.value("request_id", "") == remote_id);
        });
    if (!answer) return Unavailable("the partner cloudlet did not answer with a verified answer");
    if (answer->status != 200) {
      (void)Audit(r, caller, "trust.data.read", audit::Action::kRead, caller.patient_id, "Consent",
                  q.request_id, q.category + " of " + q.owner + " refused by its cloudlet",
                  /*failed=*/true);
      return net::Response::Json(answer->body, answer->status);
    }
    Json body = Json::parse(answer->body);
    body["request_id"] = q.request_id;
    body["with"] = q.owner;
    body["cloudlet"] = party->cloudlet;
    body["verified"] = true;
    MEDMESH_RETURN_IF_ERROR(Audit(r, caller, "trust.data.read", audit::Action::kRead,
                                  caller.patient_id, "Consent", q.request_id,
                                  q.category + " of " + q.owner + " shared, signature verified"));
    return net::Response::Json(body.dump(-1, ' ', false, Json::error_handler_t::replace));
  }
  if (q.status != RequestStatus::kGranted) {
    return FailedPrecondition("the request is not granted");
  }
  auto data = GrantedData(q);
  if (!data) {
    if (data.error().code() == ErrorCode::kFailedPrecondition) {
      (void)Audit(r, caller, "trust.data.read", audit::Action::kRead, q.owner, "Consent",
                  q.request_id, q.category + " refused: consent withdrawn", /*failed=*/true);
    }
    return data.error();
  }
  MEDMESH_RETURN_IF_ERROR(Audit(r, caller, "trust.data.read", audit::Action::kRead, q.owner,
                                "Consent", q.request_id, q.category + " shared"));
  return net::Response::Json(data->dump(-1, ' ', false, Json::error_handler_t::replace));
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
  MEDMESH_ASSIGN_OR_RETURN(std::string ratee_handle, Display(ratee));
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
                                               {"positive", net::JsonType::kBoolean},
                                               {"reason", net::JsonType::kString, false},
                                               {"grant_assertion", net::JsonType::kString, false}};
  net::JsonBody parsed = net::ParseJsonBody(r, kFields);
  if (auto* refusal = std::get_if<net::Response>(&parsed)) return std::move(*refusal);
  const Json& body = std::get<Json>(parsed);
  const std::string patient_id = body.at("patient_id").get<std::string>();
  if (!wire::IsValidId(patient_id)) return InvalidArgument("patient_id is not an id");
  const bool positive = body.at("positive").get<bool>();
  // The reason is a fixed code (trust/attestation.h): no free text reaches the audit log.
  const std::string reason = body.value("reason", "");
  if (!reason.empty() && !trust::AttestationReasonFits(reason, positive)) {
    return InvalidArgument(
        "reason must be known_in_care or consistent_reports (positive), misuse_concern or "
        "identity_concern (negative)");
  }
  MEDMESH_ASSIGN_OR_RETURN(
      const std::string nonce,
      CheckGrantAssertion(r, caller, patient_id, body.value("grant_assertion", "")));
  if (!ctx.known_patient(patient_id)) return NotFound("no such patient here");
  Result<Interaction> added =
      ctx.store.AddAttestation(caller.account_id, patient_id, positive, nonce);
  if (!added && added.error().code() == ErrorCode::kAlreadyExists) {
    return RefuseAttestation(r, false, "replayed");
  }
  if (!added) return added.error();
  const Interaction& attestation = *added;
  MEDMESH_RETURN_IF_ERROR(Audit(
      r, caller, "trust.attestation.create", audit::Action::kCreate, patient_id, "Observation",
      attestation.interaction_id,
      std::string(positive ? "positive" : "negative") + (reason.empty() ? "" : " " + reason)));
  return Created({{"interaction_id", attestation.interaction_id}, {"positive", positive}});
}

Error TrustService::State::RefuseAttestation(const net::Request& r, bool none,
                                             std::string_view why) {
  // A missing assertion is a probe (kind "other", like other refused probes here); one that is
  // present and does not hold is a forgery.
  ctx.record_ids(none ? store::IdsEventKind::kOther : store::IdsEventKind::kForgedSignature, r,
                 "trust: attestation without a valid grant assertion (" + std::string(why) + ")");
  return PermissionDenied(
      "an attestation needs the cloud's grant assertion: attest from the patient's view at the "
      "cloud");
}

Result<std::string> TrustService::State::CheckGrantAssertion(const net::Request& r,
                                                             const ConsoleCaller& caller,
                                                             std::string_view patient_id,
                                                             std::string_view hex) {
  const auto refuse = [&](std::string_view why) -> Error {
    return RefuseAttestation(r, hex.empty(), why);
  };
  if (hex.empty()) return refuse("none");
  if (ctx.root == nullptr) return refuse("no root to check it");
  const Result<Bytes> envelope = HexDecode(hex);
  if (!envelope) return refuse("not hex");
  const std::int64_t now_ms = NowMs(ctx.clock);
  auto a = wire::OpenGrantAssertion(*envelope, *ctx.root, now_ms);
  if (!a) return refuse("not signed by the cloud");
  if (a->audience != ctx.cloudlet_id) return refuse("for another cloudlet");
  if (a->doctor_account_id != caller.account_id || a->patient_id != patient_id) {
    return refuse("for another doctor or patient");
  }
  // A minute of clock skew either way.
  constexpr std::int64_t kSkewMs = 60'000;
  if (now_ms + kSkewMs < a->issued_ms || now_ms > a->expires_ms + kSkewMs) {
    return refuse("expired or not yet valid");
  }
  return std::move(a->nonce);
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

// --- sharing across cloudlets -----------------------------------------------------------------

std::vector<SharePeer> TrustService::State::Partners() const {
  std::vector<SharePeer> out;
  if (!ctx.share_peers) return out;
  const std::vector<SharePeer> configured = ctx.share_peers();
  auto peers = Peers();
  if (!peers) {
    log::Warn("cloudlet_share_trust_unreadable", {{"error", peers.error().ToString()}});
    return out;
  }
  for (const PeerTrust& p : *peers) {  // most trusted first
    if (!p.partner) continue;
    for (const SharePeer& c : configured) {
      if (c.id == p.peer_id) out.push_back(c);
    }
  }
  return out;
}

std::optional<SharePeer> TrustService::State::PartnerNamed(std::string_view id) const {
  for (SharePeer& p : Partners()) {
    if (p.id == id) return std::move(p);
  }
  return std::nullopt;
}

bool TrustService::State::RemoteApproved(std::string_view id) const {
  const std::optional<RemoteParty> party = SplitRemote(id);
  return party && PartnerNamed(party->cloudlet).has_value();
}

std::optional<ShareAnswer> TrustService::State::AskPeer(
    const net::Request& r, const SharePeer& peer, std::string_view kind, const Json& body,
    const std::function<bool(int, const Json&)>& valid) {
  if (ctx.share == nullptr) return std::nullopt;
  ShareClient::Outcome out = ctx.share->Ask(peer, kind, body.dump());
  bool good = false;
  if (out.answer) {
    const Json parsed = Json::parse(out.answer->body, nullptr, false);
    good = parsed.is_object() && valid(out.answer->status, parsed);
    if (!good) out.detail = "share: a partner's signed answer breaks its shape";
  } else if (out.failure == ShareFailure::kUnreachable) {
    // No answer at all is not shared data: the peer's trust is not touched here.
    log::Info("cloudlet_share_unanswered", {{"peer", peer.id}, {"kind", std::string(kind)}});
    return std::nullopt;
  }
  if (Status st = ctx.store.AddPeerEvent({peer.id, "shared_data", good, NowMs(ctx.clock)}); !st) {
    log::Warn("cloudlet_share_event_not_kept", {{"error", st.error().ToString()}});
  }
  if (!good) {
    log::Warn("cloudlet_share_answer_refused",
              {{"peer", peer.id}, {"kind", std::string(kind)}, {"why", out.detail}});
    ctx.record_ids(store::IdsEventKind::kForgedSignature, r,
                   "trust: a partner cloudlet's answer did not verify (" + peer.id + ")");
    return std::nullopt;
  }
  return std::move(out.answer);
}

Result<std::string> TrustService::State::Display(std::string_view id) const {
  if (IsRemote(id)) return std::string(id);
  return ctx.store.HandleOf(id);
}

Status TrustService::State::AddRemoteMember(internal::Population& population,
                                            std::string_view requester) const {
  if (!IsRemote(requester)) return OkStatus();
  for (const internal::Member& m : population.patients) {
    if (m.profile.patient_id == requester) return OkStatus();
  }
  MEDMESH_ASSIGN_OR_RETURN(std::optional<SharingProfile> stored,
                           ctx.store.Profile(QueryProfileId(requester)));
  if (!stored) return OkStatus();
  stored->patient_id = std::string(requester);
  stored->handle = std::string(requester);
  population.patients.push_back({std::move(*stored), {}});
  return OkStatus();
}

Status TrustService::State::RefreshRemoteRequests(const net::Request& r,
                                                  std::vector<AccessRequest>& outgoing) {
  if (ctx.share == nullptr) return OkStatus();
  // Pending requests to remote owners, by cloudlet: one "status" question per partner.
  std::map<std::string, std::vector<std::pair<AccessRequest*, std::string>>> by_cloudlet;
  if (outgoing.empty()) return OkStatus();
  MEDMESH_ASSIGN_OR_RETURN(std::optional<SharingProfile> own,
                           ctx.store.Profile(outgoing.front().requester));
  if (!own) return OkStatus();
  for (AccessRequest& q : outgoing) {
    const std::optional<RemoteParty> party = SplitRemote(q.owner);
    if (!party || q.status != RequestStatus::kPending) continue;
    MEDMESH_ASSIGN_OR_RETURN(std::string remote_id, ctx.store.RemoteRequestOf(q.request_id));
    if (!remote_id.empty()) by_cloudlet[party->cloudlet].emplace_back(&q, remote_id);
  }
  for (auto& [cloudlet, pending] : by_cloudlet) {
    const std::optional<SharePeer> peer = PartnerNamed(cloudlet);
    if (!peer) continue;
    Json ids = Json::array();
    for (const auto& [q, remote_id] : pending) ids.push_back(remote_id);
    std::optional<ShareAnswer> answer =
        AskPeer(r, *peer, "status", {{"requester", own->handle}, {"request_ids", ids}},
                [](int status, const Json& b) {
                  return status == 200 && b.contains("requests") && b["requests"].is_array();
                });
    if (!answer) continue;
    const Json parsed = Json::parse(answer->body);
    for (const Json& item : parsed["requests"]) {
      const std::string remote_id = item.value("request_id", "");
      const std::string status = item.value("status", "");
      if (status != "granted" && status != "refused") continue;
      for (auto& [q, id] : pending) {
        if (id != remote_id) continue;
        const Json decision = item.contains("decision") ? item["decision"] : Json(nullptr);
        if (Status st = ctx.store.AnswerRequest(
                q->request_id,
                status == "granted" ? RequestStatus::kGranted : RequestStatus::kRefused,
                decision.dump());
            !st && st.error().code() != ErrorCode::kFailedPrecondition) {
          return st;
        }
        q->status = status == "granted" ? RequestStatus::kGranted : RequestStatus::kRefused;
        q->decision_json = decision.dump();
        q->answered_ms = NowMs(ctx.clock);
      }
    }
  }
  return OkStatus();
}

ShareAnswer TrustService::State::PeerSimilar(std::string_view origin, const Json& q) {
  const std::string observer = RemoteId("query", origin);
  std::optional<internal::Member> querier = MemberFromQuery(q, observer);
  if (!querier) {
    return PeerError(400, "conditions (categories, at most 10) and vitals (at most 7) expected");
  }
  auto population = Gather();
  if (!population) return PeerError(population.error());
  std::vector<std::string> asked = querier->profile.conditions;
  std::sort(asked.begin(), asked.end());
  population->patients.push_back(std::move(*querier));
  Json list = Json::array();
  // The observer has no interactions here: its trust in each patient is the reputation this
  // cloudlet's population gives them (the owner's trust summary).
  std::map<std::string, std::vector<std::string>> categories;
  for (const internal::Member& m : population->patients) {
    categories[m.profile.handle] = Categories(m.profile.conditions);
  }
  constexpr std::size_t kMaxMatches = 20;
  std::map<std::string, std::string> patient_of;
  for (const internal::Member& m : population->patients) {
    if (!IsRemote(m.profile.handle)) patient_of[m.profile.handle] = m.profile.patient_id;
  }
  std::vector<std::string> answered;
  for (const internal::Assessment& a : internal::Rank(*population, observer)) {
    if (IsRemote(a.handle)) continue;
    if (list.size() >= kMaxMatches) break;
    Json explanation = Json::array();
    for (const internal::ExplanationItem& item : a.explanation) {
      if (item.kind == "symptom") continue;  // none cross: the query holds no symptoms
      // Conditions cross at category level only (the owner's subcode stays here).
      explanation.push_back(
          {{"kind", item.kind},
           {"term", item.kind == "condition" ? ConditionCategory(item.term) : item.term},
           {"contribution", std::round(item.contribution * 1000) / 1000}});
    }
    std::vector<std::string> shared;
    const std::vector<std::string>& theirs = categories[a.handle];
    std::set_intersection(asked.begin(), asked.end(), theirs.begin(), theirs.end(),
                          std::back_inserter(shared));
    answered.push_back(patient_of[a.handle]);
    list.push_back({{"handle", a.handle},
                    {"similarity", a.similarity},
                    {"trust", a.trust},
                    {"confidence", a.confidence},
                    {"explanation", std::move(explanation)},
                    {"shared_conditions", shared}});
  }
  if (Status st = NoteShared(answered, origin); !st) return PeerError(st.error());
  return PeerAnswer(200, {{"patients", std::move(list)}});
}

ShareAnswer TrustService::State::PeerMessage(std::string_view origin, const Json& q,
                                             const net::Request& r) {
  if (!q.contains("from") || !q["from"].is_string() || !IsHandle(q["from"].get<std::string>()) ||
      !q.contains("to") || !q["to"].is_string() || !q.contains("text") || !q["text"].is_string()) {
    return PeerError(400, "from, to (handles) and text expected");
  }
  auto owner = SharingPatient(r, q["to"].get<std::string>());
  if (!owner) return PeerError(owner.error());
  const std::string from = RemoteId(q["from"].get<std::string>(), origin);
  if (Status st = NoteShared(owner->patient_id, origin); !st) return PeerError(st.error());
  auto m = ctx.store.AddMessage(from, owner->patient_id, q["text"].get<std::string>());
  if (!m) return PeerError(m.error());
  if (Status st =
          AuditPeer(r, origin, "trust.message.receive", audit::Action::kCreate, owner->patient_id,
                    "Communication", m->message_id, "from " + from + " to " + owner->handle);
      !st) {
    return PeerError(st.error());
  }
  return PeerAnswer(201, {{"message_id", m->message_id}, {"interaction_id", m->interaction_id}});
}

ShareAnswer TrustService::State::PeerRequest(std::string_view origin, const Json& q,
                                             const net::Request& r) {
  if (!q.contains("requester") || !q["requester"].is_string() ||
      !IsHandle(q["requester"].get<std::string>()) || !q.contains("owner") ||
      !q["owner"].is_string() || !q.contains("category") || !q["category"].is_string() ||
      !IsCategory(q["category"].get<std::string>())) {
    return PeerError(400, "requester, owner (handles) and category expected");
  }
  const std::string requester = RemoteId(q["requester"].get<std::string>(), origin);
  std::optional<internal::Member> profile = MemberFromQuery(q, requester);
  if (!profile) return PeerError(400, "the requester's query profile breaks its rules");
  auto owner = SharingPatient(r, q["owner"].get<std::string>());
  if (!owner) return PeerError(owner.error());
  // The requester's query profile (condition categories) is kept, encrypted like a profile, for
  // S(owner, requester) when the owner answers. It is never listed or found by handle.
  SharingProfile stored;
  stored.patient_id = QueryProfileId(requester);
  stored.opted_in = false;
  stored.conditions = profile->profile.conditions;
  if (auto saved = ctx.store.SaveProfile(stored); !saved) return PeerError(saved.error());
  const std::string category = q["category"].get<std::string>();
  if (Status st = NoteShared(owner->patient_id, origin); !st) return PeerError(st.error());
  auto added = ctx.store.AddRequest(requester, owner->patient_id, category);
  if (!added) return PeerError(added.error());
  if (Status st = AuditPeer(r, origin, "trust.request.receive", audit::Action::kCreate,
                            owner->patient_id, "Consent", added->request_id,
                            category + " of " + owner->handle + " for " + requester);
      !st) {
    return PeerError(st.error());
  }
  return PeerAnswer(201, {{"request_id", added->request_id}, {"created_ms", added->created_ms}});
}

ShareAnswer TrustService::State::PeerData(std::string_view origin, const Json& q,
                                          const net::Request& r) {
  if (!q.contains("request_id") || !q["request_id"].is_string() || !q.contains("requester") ||
      !q["requester"].is_string() || !IsHandle(q["requester"].get<std::string>())) {
    return PeerError(400, "request_id and requester expected");
  }
  const std::string requester = RemoteId(q["requester"].get<std::string>(), origin);
  auto found = ctx.store.Request(q["request_id"].get<std::string>(), requester);
  if (!found || found->requester != requester) {
    if (!found && found.error().code() != ErrorCode::kNotFound) return PeerError(found.error());
    ctx.record_ids(store::IdsEventKind::kOther, r,
                   "trust: a peer read an unknown or foreign request");
    return PeerError(404, "no such access request");
  }
  if (found->status != RequestStatus::kGranted) {
    return PeerError(409, "the request is not granted");
  }
  auto data = GrantedData(*found);
  if (!data) {
    (void)AuditPeer(r, origin, "trust.data.read", audit::Action::kRead, found->owner, "Consent",
                    found->request_id, found->category + " refused: consent withdrawn",
                    /*failed=*/true);
    return PeerError(data.error());
  }
  if (Status st =
          AuditPeer(r, origin, "trust.data.read", audit::Action::kRead, found->owner, "Consent",
                    found->request_id, found->category + " shared with " + requester);
      !st) {
    return PeerError(st.error());
  }
  return PeerAnswer(200, *data);
}

ShareAnswer TrustService::State::PeerStatus(std::string_view origin, const Json& q) {
  if (!q.contains("requester") || !q["requester"].is_string() ||
      !IsHandle(q["requester"].get<std::string>()) || !q.contains("request_ids") ||
      !q["request_ids"].is_array() || q["request_ids"].size() > 100) {
    return PeerError(400, "requester and request_ids (at most 100) expected");
  }
  const std::string requester = RemoteId(q["requester"].get<std::string>(), origin);
  Json list = Json::array();
  for (const Json& id : q["request_ids"]) {
    if (!id.is_string()) return PeerError(400, "request_ids must be strings");
    auto found = ctx.store.Request(id.get<std::string>(), requester);
    if (!found || found->requester != requester) continue;  // not theirs: not answered
    list.push_back({{"request_id", found->request_id},
                    {"status", std::string(RequestStatusName(found->status))},
                    {"decision", found->decision_json.empty()
                                     ? Json(nullptr)
                                     : Json::parse(found->decision_json, nullptr, false)}});
  }
  return PeerAnswer(200, {{"requests", std::move(list)}});
}

ShareAnswer TrustService::State::PeerForget(std::string_view origin, const Json& q,
                                            const net::Request& r) {
  if (!q.contains("handle") || !q["handle"].is_string() ||
      !IsHandle(q["handle"].get<std::string>())) {
    return PeerError(400, "handle expected");
  }
  // Only the party's own cloudlet (the signed origin) names its handles: a cloudlet can make
  // this one forget its own patients' parties only.
  const std::string party = RemoteId(q["handle"].get<std::string>(), origin);
  const std::string pseudonym = QueryProfileId(party);
  auto removed = ctx.store.ForgetParty(party, pseudonym);
  if (!removed) return PeerError(removed.error());
  // Audited under the hash of the address (the query-profile id), never the handle itself.
  if (Status st = AuditPeer(r, origin, "trust.party.forget", audit::Action::kDelete, "", "Person",
                            pseudonym,
                            "a party of " + std::string(origin) + " deleted their account; " +
                                std::to_string(*removed) + " rows removed");
      !st) {
    return PeerError(st.error());
  }
  log::Info("cloudlet_share_party_forgotten",
            {{"peer", std::string(origin)}, {"rows", static_cast<std::uint64_t>(*removed)}});
  return PeerAnswer(200, {{"forgotten", true}, {"rows", *removed}});
}

ShareAnswer TrustService::AnswerPeer(std::string_view origin, std::string_view kind,
                                     const std::string& body, const net::Request& r) {
  const Json q = Json::parse(body, nullptr, false);
  if (!q.is_object()) return PeerError(400, "the question must be a JSON object");
  State& s = *state_;
  if (kind == "similar") return s.PeerSimilar(origin, q);
  if (kind == "message") return s.PeerMessage(origin, q, r);
  if (kind == "request") return s.PeerRequest(origin, q, r);
  if (kind == "data") return s.PeerData(origin, q, r);
  if (kind == "status") return s.PeerStatus(origin, q);
  if (kind == "forget") return s.PeerForget(origin, q, r);
  return PeerError(400, "unknown kind");
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
  // The grant assertion carries the cloud's certificate.
  router.Post("/api/v1/trust/attestations", [s](const net::Request& r) { return s->Attest(r); },
              {.body_limit_bytes = 16 * 1024});
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

#include "cloud/audit_api.h"

#include <charconv>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "accounts/authenticator.h"
#include "audit/audit_event_json.h"
#include "cloud/admin_api.h"
#include "cloud/clinical_service.h"
#include "crypto/signing.h"
#include "wire/model.h"

namespace medmesh::cloud {
namespace {

using accounts::Account;
using accounts::Principal;
using accounts::Role;
using Json = nlohmann::json;

Result<std::optional<std::int64_t>> IntParam(const net::Request& r, std::string_view name) {
  const auto text = r.QueryParam(name);
  if (!text) return std::optional<std::int64_t>();
  std::int64_t value = 0;
  const char* end = text->data() + text->size();
  const auto parsed = std::from_chars(text->data(), end, value);
  if (text->empty() || parsed.ec != std::errc() || parsed.ptr != end || value < 0) {
    return InvalidArgument(std::string(name) + " must be a non-negative integer");
  }
  return std::optional(value);
}

// The filters both routes share: time range, page.
Result<audit::AuditQuery> CommonQuery(const net::Request& r) {
  audit::AuditQuery q;
  MEDMESH_ASSIGN_OR_RETURN(const auto from, IntParam(r, "from"));
  MEDMESH_ASSIGN_OR_RETURN(const auto to, IntParam(r, "to"));
  MEDMESH_ASSIGN_OR_RETURN(const auto before, IntParam(r, "before"));
  MEDMESH_ASSIGN_OR_RETURN(const auto limit, IntParam(r, "limit"));
  if (from) q.from_ms = *from;
  if (to) q.to_ms = *to;
  if (q.from_ms > q.to_ms) return InvalidArgument("from must not be after to");
  if (before) q.before_seq = static_cast<std::uint64_t>(*before);
  q.limit = kDefaultAdminPage;
  if (limit) {
    if (*limit < 1 || *limit > static_cast<std::int64_t>(kMaxAdminPage)) {
      return InvalidArgument("limit must be an integer from 1 to " + std::to_string(kMaxAdminPage));
    }
    q.limit = static_cast<std::size_t>(*limit);
  }
  return q;
}

Result<std::optional<audit::Action>> ActionParam(const net::Request& r) {
  const auto text = r.QueryParam("action");
  if (!text) return std::optional<audit::Action>();
  if (text->size() == 1) {
    for (const audit::Action a :
         {audit::Action::kCreate, audit::Action::kRead, audit::Action::kUpdate,
          audit::Action::kDelete, audit::Action::kExecute}) {
      if ((*text)[0] == static_cast<char>(a)) return std::optional(a);
    }
  }
  return InvalidArgument("action must be C, R, U, D or E");
}

Result<std::optional<audit::Outcome>> OutcomeParam(const net::Request& r) {
  const auto text = r.QueryParam("outcome");
  if (!text) return std::optional<audit::Outcome>();
  for (const audit::Outcome o : {audit::Outcome::kSuccess, audit::Outcome::kMinorFailure,
                                 audit::Outcome::kSeriousFailure, audit::Outcome::kMajorFailure}) {
    if (*text == std::to_string(static_cast<unsigned>(o))) return std::optional(o);
  }
  return InvalidArgument("outcome must be 0, 4, 8 or 12");
}

Result<std::string> EventParam(const net::Request& r) {
  const std::string event(r.QueryParam("event").value_or(""));
  if (event.size() > audit::kMaxAuditIdBytes) return InvalidArgument("event is too long");
  for (const char c : event) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-')) {
      return InvalidArgument("event must be [a-z0-9._-]");
    }
  }
  return event;
}

Json Nullable(const std::string& s) { return s.empty() ? Json(nullptr) : Json(s); }

std::string ActionText(audit::Action a) { return std::string(1, static_cast<char>(a)); }

class AuditRoutes {
 public:
  explicit AuditRoutes(AuditApiDeps deps)
      : d_(deps),
        node_key_(crypto::NewEd25519Verifier(deps.identity.certificate.certificate().signing_key)) {
  }

  Result<net::Response> AdminView(const Principal& who, const net::Request& r) {
    if (!who.is(Role::kAdmin)) {
      MEDMESH_RETURN_IF_ERROR(
          Audit(who, r, audit::Outcome::kMinorFailure, {}, "permission_denied"));
      return PermissionDenied(std::string(kRoleDeniedMessage));
    }
    auto query = AdminQuery(r);
    if (!query) {
      const bool unknown = query.error().code() == ErrorCode::kNotFound;
      MEDMESH_RETURN_IF_ERROR(Audit(who, r, audit::Outcome::kMinorFailure, {},
                                    unknown ? "not_found" : "invalid_argument"));
      return query.error();
    }
    bool verify = true;
    if (const auto v = r.QueryParam("verify")) {
      if (*v != "true" && *v != "false") {
        MEDMESH_RETURN_IF_ERROR(
            Audit(who, r, audit::Outcome::kMinorFailure, {}, "invalid_argument"));
        return InvalidArgument("verify must be true or false");
      }
      verify = *v == "true";
    }
    MEDMESH_ASSIGN_OR_RETURN(const auto rows, d_.log.QueryEntries(*query));
    Json verification = nullptr;
    if (verify) {
      MEDMESH_ASSIGN_OR_RETURN(verification, Verification());
    }
    Accounts cache(d_.accounts);
    Json entries = Json::array();
    for (const audit::StoredAuditEntry& row : rows) {
      // Filtered by patient, an identity-side entry would tie the pseudonym to an account.
      if (!query->patient_id.empty() && IdentitySide(row.entry)) continue;
      MEDMESH_ASSIGN_OR_RETURN(Json entry, AdminEntry(row, cache));
      entries.push_back(std::move(entry));
    }
    MEDMESH_RETURN_IF_ERROR(Audit(who, r, audit::Outcome::kSuccess, query->patient_id,
                                  "entries=" + std::to_string(entries.size())));
    return Page(std::move(entries), rows, *query,
                verify ? std::optional<Json>(std::move(verification)) : std::nullopt);
  }

  Result<net::Response> PatientView(const Principal& who, const net::Request& r) {
    if (!who.is(Role::kPatient) || who.patient_id.empty()) {
      MEDMESH_RETURN_IF_ERROR(
          Audit(who, r, audit::Outcome::kMinorFailure, {}, "permission_denied"));
      return PermissionDenied(std::string(kRoleDeniedMessage));
    }
    auto query = CommonQuery(r);
    if (!query) {
      MEDMESH_RETURN_IF_ERROR(
          Audit(who, r, audit::Outcome::kMinorFailure, who.patient_id, "invalid_argument"));
      return query.error();
    }
    query->patient_id = who.patient_id;
    MEDMESH_ASSIGN_OR_RETURN(const auto rows, d_.log.QueryEntries(*query));
    Accounts cache(d_.accounts);
    Json entries = Json::array();
    for (const audit::StoredAuditEntry& row : rows) {
      const audit::AuditEntry& e = row.entry;
      Json actor{{"role", e.actor_role}, {"self", e.actor_account_id == who.account_id}};
      if (!actor["self"].get<bool>() && e.actor_role != "patient") {
        actor["account_id"] = Nullable(e.actor_account_id);
        if (e.actor_role == "doctor") {
          MEDMESH_ASSIGN_OR_RETURN(const Account* doctor, cache.Get(e.actor_account_id));
          if (doctor != nullptr) actor["name"] = doctor->display_name;
        }
      }
      entries.push_back(
          {{"seq", row.seq},
           {"time_ms", e.time_ms},
           {"event", e.event},
           {"action", ActionText(e.action)},
           {"outcome", static_cast<unsigned>(e.outcome)},
           {"actor", std::move(actor)},
           {"entity",
            {{"type", Nullable(e.entity_type)},
             {"id", e.entity_id == who.patient_id ? Json(nullptr) : Nullable(e.entity_id)}}},
           {"purpose", Nullable(e.purpose)},
           {"detail", Nullable(e.detail)}});
    }
    MEDMESH_RETURN_IF_ERROR(Audit(who, r, audit::Outcome::kSuccess, who.patient_id,
                                  "entries=" + std::to_string(rows.size())));
    return Page(std::move(entries), rows, *query, std::nullopt);
  }

 private:
  // Accounts looked up once per request (the actors of a page repeat).
  class Accounts {
   public:
    explicit Accounts(const accounts::AccountStore& store) : store_(store) {}
    Result<const Account*> Get(const std::string& account_id) {
      if (account_id.empty()) return static_cast<const Account*>(nullptr);
      auto it = cache_.find(account_id);
      if (it == cache_.end()) {
        MEDMESH_ASSIGN_OR_RETURN(auto account, store_.GetAccount(account_id));
        if (account) account->sealed_profile.clear();
        it = cache_.emplace(account_id, std::move(account)).first;
      }
      return it->second ? &*it->second : nullptr;
    }

   private:
    const accounts::AccountStore& store_;
    std::map<std::string, std::optional<Account>> cache_;
  };

  Result<audit::AuditQuery> AdminQuery(const net::Request& r) {
    MEDMESH_ASSIGN_OR_RETURN(audit::AuditQuery q, CommonQuery(r));
    MEDMESH_ASSIGN_OR_RETURN(q.event, EventParam(r));
    MEDMESH_ASSIGN_OR_RETURN(q.action, ActionParam(r));
    MEDMESH_ASSIGN_OR_RETURN(q.outcome, OutcomeParam(r));
    if (const auto pseudonym = r.QueryParam("patient")) {
      MEDMESH_ASSIGN_OR_RETURN(const auto patient,
                               PatientOfPseudonym(d_.records, d_.accounts, *pseudonym));
      if (!patient) return NotFound(std::string(kNotFoundMessage));
      q.patient_id = *patient;
    }
    if (const auto account = r.QueryParam("account")) {
      if (account->empty() || account->size() > audit::kMaxAuditIdBytes) {
        return InvalidArgument("account must be an account id");
      }
      MEDMESH_ASSIGN_OR_RETURN(const auto found, d_.accounts.GetAccount(*account));
      if (found && found->role == Role::kPatient) {
        return InvalidArgument("a patient is named by pseudonym here: use the patient filter");
      }
      q.actor_account_id = std::string(*account);
    }
    return q;
  }

  // Entries about accounts (registration, approval, login, password): the admin knows account
  // ids with names, so these stay on the identity side of the partition.
  static bool IdentitySide(const audit::AuditEntry& e) { return e.entity_type == "Account"; }

  // One entry as the admin sees it (see the header). Identity side: accounts by id, no patient.
  // Data side: the patient, a patient actor and a patient entity by pseudonym, and no source
  // address for a patient actor (an address would tie their entries to their registration).
  Result<Json> AdminEntry(const audit::StoredAuditEntry& row, Accounts& cache) {
    const audit::AuditEntry& e = row.entry;
    Json out{{"seq", row.seq},
             {"time_ms", e.time_ms},
             {"event", e.event},
             {"action", ActionText(e.action)},
             {"outcome", static_cast<unsigned>(e.outcome)},
             {"actor", {{"role", e.actor_role}, {"account_id", Nullable(e.actor_account_id)}}},
             {"source_address", Nullable(e.source_address)},
             {"patient", nullptr},
             {"entity", {{"type", Nullable(e.entity_type)}, {"id", Nullable(e.entity_id)}}},
             {"purpose", Nullable(e.purpose)},
             {"detail", Nullable(e.detail)}};
    if (IdentitySide(e)) return out;
    if (!e.patient_id.empty()) out["patient"] = d_.records.Pseudonym(e.patient_id);
    if (e.actor_role == "patient") {
      MEDMESH_ASSIGN_OR_RETURN(const Account* account, cache.Get(e.actor_account_id));
      out["actor"]["account_id"] = nullptr;
      out["actor"]["pseudonym"] = account != nullptr && !account->patient_id.empty()
                                      ? Json(d_.records.Pseudonym(account->patient_id))
                                      : Json(nullptr);
      out["source_address"] = nullptr;
    }
    if (!e.entity_id.empty() && e.entity_id == e.patient_id) {
      out["entity"]["id"] = nullptr;
      out["entity"]["pseudonym"] = d_.records.Pseudonym(e.patient_id);
    }
    return out;
  }

  Result<Json> Verification() {
    MEDMESH_ASSIGN_OR_RETURN(const audit::AuditVerifyReport report,
                             d_.log.Verify(*node_key_, {.observer = d_.identity.id()}));
    Json head = nullptr;
    if (auto signed_head = d_.log.Head()) {
      head = {{"seq", signed_head->seq},
              {"hash", HexEncode(signed_head->hash)},
              {"observer", signed_head->observer},
              {"signature", HexEncode(signed_head->signature)}};
    } else if (signed_head.error().code() != ErrorCode::kNotFound) {
      return signed_head.error();
    }
    return Json{{"ok", report.ok()},
                {"failure", std::string(audit::AuditFailureName(report.failure))},
                {"first_bad_seq", report.ok() ? Json(nullptr) : Json(report.first_bad_seq)},
                {"entries", report.entries},
                {"message", report.message},
                {"head", std::move(head)}};
  }

  static net::Response Page(Json entries, const std::vector<audit::StoredAuditEntry>& rows,
                            const audit::AuditQuery& q, std::optional<Json> verification) {
    Json body{{"entries", std::move(entries)}, {"next_before", nullptr}};
    if (rows.size() == q.limit && !rows.empty() && rows.back().seq > 1) {
      body["next_before"] = rows.back().seq;
    }
    if (verification) body["verification"] = std::move(*verification);
    net::Response response = net::Response::Json(body.dump());
    response.headers.emplace_back("Cache-Control", "no-store");
    return response;
  }

  Status Audit(const Principal& who, const net::Request& r, audit::Outcome outcome,
               std::string_view patient_id, std::string_view detail) {
    audit::AuditEntry e;
    e.time_ms = wire::NowMs(d_.clock);
    e.event = "audit.read";
    e.action = audit::Action::kRead;
    e.outcome = outcome;
    e.actor_account_id = who.account_id;
    e.actor_role = std::string(accounts::RoleName(who.role));
    e.source_address = r.peer_address;
    e.patient_id = std::string(patient_id);
    e.entity_type = "AuditEvent";
    e.detail = std::string(detail);
    return d_.audit.Append(e);
  }

  AuditApiDeps d_;
  std::unique_ptr<crypto::Verifier> node_key_;
};

}  // namespace

void AddAuditRoutes(net::Router& router, AuditApiDeps deps, Authenticate authenticate) {
  auto routes = std::make_shared<AuditRoutes>(deps);
  auto auth = std::make_shared<Authenticate>(std::move(authenticate));
  router.Get("/api/v1/admin/audit", [routes, auth](const net::Request& r) -> Result<net::Response> {
    Result<Principal> who = (*auth)(r);
    if (!who) return accounts::AuthenticationRefusal(who.error());
    return routes->AdminView(*who, r);
  });
  router.Get("/api/v1/me/audit", [routes, auth](const net::Request& r) -> Result<net::Response> {
    Result<Principal> who = (*auth)(r);
    if (!who) return accounts::AuthenticationRefusal(who.error());
    return routes->PatientView(*who, r);
  });
}

}  // namespace medmesh::cloud

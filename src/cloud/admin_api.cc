#include "cloud/admin_api.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "accounts/authenticator.h"
#include "cloud/clinical_service.h"
#include "core/lower_hex.h"
#include "net/json_body.h"
#include "wire/model.h"

namespace medmesh::cloud {
namespace {

using accounts::Account;
using accounts::Principal;
using accounts::Role;
using Json = nlohmann::json;

constexpr std::size_t kIdentityBodyLimit = 16 * 1024;

Result<std::size_t> PageLimit(const net::Request& r) {
  const auto text = r.QueryParam("limit");
  if (!text) return kDefaultAdminPage;
  std::size_t limit = 0;
  const char* end = text->data() + text->size();
  const auto parsed = std::from_chars(text->data(), end, limit);
  if (text->empty() || parsed.ec != std::errc() || parsed.ptr != end || limit == 0 ||
      limit > kMaxAdminPage) {
    return InvalidArgument("limit must be an integer from 1 to " + std::to_string(kMaxAdminPage));
  }
  return limit;
}

// A reason is free text kept verbatim; it must say something and fit in an audit entry.
Status CheckReason(std::string_view reason) {
  if (reason.size() > kMaxIdentityReasonBytes) {
    return InvalidArgument("reason is longer than " + std::to_string(kMaxIdentityReasonBytes) +
                           " bytes");
  }
  bool blank = true;
  for (const char ch : reason) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c < 0x20 && c != '\t' && c != '\n') || c == 0x7f) {
      return InvalidArgument("reason must not hold control characters");
    }
    if (c != ' ' && c != '\t' && c != '\n') blank = false;
  }
  if (blank) return InvalidArgument("reason is required: say why the identity is needed");
  return OkStatus();
}

class AdminRoutes {
 public:
  explicit AdminRoutes(AdminApiDeps deps) : d_(deps) {}

  Result<net::Response> Directory(const Principal& /*who*/) {
    // Every role: the professional listing of approved doctors (a patient choosing one, an
    // operator reading the doctor chart by name). Never e-mails, licences or pending accounts.
    MEDMESH_ASSIGN_OR_RETURN(const auto doctors, AllAccountsOf(d_.accounts, Role::kDoctor));
    std::vector<const Account*> approved;
    for (const Account& a : doctors) {
      if (a.status == accounts::AccountStatus::kApproved) approved.push_back(&a);
    }
    std::sort(approved.begin(), approved.end(), [](const Account* a, const Account* b) {
      return std::tie(a->display_name, a->account_id) < std::tie(b->display_name, b->account_id);
    });
    Json list = Json::array();
    for (const Account* a : approved) {
      list.push_back({{"account_id", a->account_id},
                      {"display_name", a->display_name},
                      {"speciality", a->speciality},
                      {"hospital", a->hospital}});
    }
    return net::Response::Json(Json{{"doctors", std::move(list)}}.dump());
  }

  Result<net::Response> Doctors(const Principal& who, const net::Request& r) {
    MEDMESH_RETURN_IF_ERROR(AdminOnly(who, "doctor.list", "Account", r));
    MEDMESH_ASSIGN_OR_RETURN(auto doctors, AllAccountsOf(d_.accounts, Role::kDoctor));
    std::sort(doctors.begin(), doctors.end(), [](const Account& a, const Account& b) {
      return std::tie(a.created_ms, a.account_id) < std::tie(b.created_ms, b.account_id);
    });
    Json list = Json::array();
    for (const Account& a : doctors) {
      list.push_back({{"account_id", a.account_id},
                      {"email", a.login},
                      {"display_name", a.display_name},
                      {"licence_number", a.licence_number},
                      {"speciality", a.speciality},
                      {"hospital", a.hospital},
                      {"status", std::string(accounts::AccountStatusName(a.status))},
                      {"status_reason", a.status_reason},
                      {"registered_ms", a.created_ms},
                      {"status_changed_ms", a.status_changed_ms}});
    }
    MEDMESH_RETURN_IF_ERROR(Audit(who, r, "doctor.list", audit::Outcome::kSuccess, "Account", {},
                                  {}, {}, "doctors=" + std::to_string(list.size())));
    return net::Response::Json(Json{{"doctors", std::move(list)}}.dump());
  }

  Result<net::Response> Patients(const Principal& who, const net::Request& r) {
    MEDMESH_RETURN_IF_ERROR(AdminOnly(who, "patient.list", "Patient", r));
    auto limit = PageLimit(r);
    if (!limit) {
      MEDMESH_RETURN_IF_ERROR(Audit(who, r, "patient.list", audit::Outcome::kMinorFailure,
                                    "Patient", {}, {}, {}, "invalid_argument"));
      return limit.error();
    }
    const std::string after(r.QueryParam("after").value_or(""));
    MEDMESH_ASSIGN_OR_RETURN(const GeneralisedPatientTable table, d_.records.GeneralisedPatients());
    MEDMESH_ASSIGN_OR_RETURN(const auto patient_accounts,
                             AllAccountsOf(d_.accounts, Role::kPatient));

    // One row per pseudonym: the stored patients, then the accounts without stored records.
    struct Row {
      const GeneralisedPatient* stored = nullptr;
      const Account* account = nullptr;
      std::string patient_id;
    };
    std::map<std::string, Row> rows;
    for (const GeneralisedPatient& p : table.patients) {
      rows[p.pseudonym] = Row{&p, nullptr, p.patient_id};
    }
    for (const Account& a : patient_accounts) {
      Row& row = rows[d_.records.Pseudonym(a.patient_id)];
      row.account = &a;
      row.patient_id = a.patient_id;
    }

    Json list = Json::array();
    std::string last;
    bool more = false;
    for (auto it = rows.upper_bound(after); it != rows.end(); ++it) {
      if (list.size() == *limit) {
        more = true;
        break;
      }
      const auto& [pseudonym, row] = *it;
      MEDMESH_ASSIGN_OR_RETURN(const PatientRecordActivity activity,
                               d_.records.RecordActivity(row.patient_id));
      Json qi = nullptr;
      if (row.stored != nullptr) {
        qi = {{"age_band", row.stored->qi.age_band},
              {"sex", row.stored->qi.sex},
              {"postcode_prefix", row.stored->qi.postcode_prefix}};
      }
      list.push_back(
          {{"pseudonym", pseudonym},
           {"qi", std::move(qi)},
           {"suppressed", row.stored != nullptr && row.stored->suppressed},
           {"records", activity.records},
           {"last_upload_ms",
            activity.last_stored_ms == 0 ? Json(nullptr) : Json(activity.last_stored_ms)},
           {"account_status", row.account == nullptr ? Json(nullptr)
                                                     : Json(std::string(accounts::AccountStatusName(
                                                           row.account->status)))}});
      last = pseudonym;
    }
    MEDMESH_RETURN_IF_ERROR(Audit(who, r, "patient.list", audit::Outcome::kSuccess, "Patient", {},
                                  {}, {}, "patients=" + std::to_string(list.size())));
    const GeneralisationLevel& level = table.level;
    Json body{{"generalisation",
               {{"age_band_years", level.age_band_years},
                {"postcode_chars", level.postcode_chars},
                {"keep_sex", level.keep_sex},
                {"reference_year", table.reference_year}}},
              {"patients", std::move(list)},
              {"next_after", more ? Json(last) : Json(nullptr)}};
    net::Response response = net::Response::Json(body.dump());
    response.headers.emplace_back("Cache-Control", "no-store");
    return response;
  }

  Result<net::Response> Identity(const Principal& who, const net::Request& r) {
    static constexpr net::JsonField kFields[] = {{"reason", net::JsonType::kString}};
    MEDMESH_RETURN_IF_ERROR(AdminOnly(who, "patient.identity.read", "Patient", r));
    net::JsonBody body = net::ParseJsonBody(r, kFields);
    if (auto* refusal = std::get_if<net::Response>(&body)) {
      MEDMESH_RETURN_IF_ERROR(Audit(who, r, "patient.identity.read", audit::Outcome::kMinorFailure,
                                    "Patient", {}, {}, {}, "bad_request"));
      return std::move(*refusal);
    }
    const std::string reason = std::get<Json>(body)["reason"].get<std::string>();
    if (auto ok = CheckReason(reason); !ok) {
      // The reason is not recorded: it is what was refused (it may be too long to record).
      MEDMESH_RETURN_IF_ERROR(Audit(who, r, "patient.identity.read", audit::Outcome::kMinorFailure,
                                    "Patient", {}, {}, {}, "reason_refused"));
      return ok.error();
    }
    const std::string pseudonym(r.PathParam("pseudonym").value_or(""));
    MEDMESH_ASSIGN_OR_RETURN(const auto patient,
                             PatientOfPseudonym(d_.records, d_.accounts, pseudonym));
    if (!patient) {
      MEDMESH_RETURN_IF_ERROR(Audit(who, r, "patient.identity.read", audit::Outcome::kMinorFailure,
                                    "Patient", {}, {}, reason, "not_found"));
      return NotFound(std::string(kNotFoundMessage));
    }
    MEDMESH_ASSIGN_OR_RETURN(Json identity, IdentityOf(*patient));
    MEDMESH_RETURN_IF_ERROR(Audit(who, r, "patient.identity.read", audit::Outcome::kSuccess,
                                  "Patient", *patient, *patient, reason, {}));
    identity["pseudonym"] = pseudonym;
    identity["reason"] = reason;
    net::Response response = net::Response::Json(identity.dump());
    response.headers.emplace_back("Cache-Control", "no-store");
    return response;
  }

 private:
  // The identity part of everything the cloud holds about the patient.
  Result<Json> IdentityOf(const std::string& patient_id) {
    Json out{{"patient_id", patient_id}, {"records_identity", nullptr}, {"account", nullptr}};
    auto records = d_.records.GetPatientRecords(patient_id);
    if (!records && records.error().code() != ErrorCode::kNotFound) return records.error();
    if (records && !records->empty()) {
      const wire::PatientRecord& newest = records->back().record;  // ordered by creation time
      std::set<std::string> devices;
      for (const StoredRecord& s : *records) devices.insert(s.record.device_id);
      out["records_identity"] = {{"name", newest.name},       {"national_id", newest.national_id},
                                 {"phone", newest.phone},     {"email", newest.email},
                                 {"address", newest.address}, {"has_photo", !newest.photo.empty()},
                                 {"device_ids", devices},     {"as_of_ms", newest.created_ms}};
    }
    MEDMESH_ASSIGN_OR_RETURN(const auto patient_accounts,
                             AllAccountsOf(d_.accounts, Role::kPatient));
    for (const Account& listed : patient_accounts) {
      if (listed.patient_id != patient_id) continue;
      MEDMESH_ASSIGN_OR_RETURN(const auto full, d_.accounts.GetAccount(listed.account_id));
      if (!full) break;
      Json account{{"account_id", full->account_id},
                   {"email", full->login},
                   {"display_name", full->display_name},
                   {"status", std::string(accounts::AccountStatusName(full->status))},
                   {"registered_ms", full->created_ms},
                   {"profile", nullptr}};
      if (!full->sealed_profile.empty()) {
        MEDMESH_ASSIGN_OR_RETURN(const PatientProfile profile,
                                 d_.records.OpenPatientProfile(patient_id, full->sealed_profile));
        account["profile"] = {{"full_name", profile.full_name},
                              {"phone", profile.phone},
                              {"address", profile.address},
                              {"birth_date", profile.birth_date},
                              {"sex", profile.sex},
                              {"has_photo", !profile.photo.empty()}};
      }
      out["account"] = std::move(account);
      break;
    }
    return out;
  }

  // kPermissionDenied (audited) unless `who` is an admin.
  Status AdminOnly(const Principal& who, std::string_view event, std::string_view entity_type,
                   const net::Request& r) {
    if (who.is(Role::kAdmin)) return OkStatus();
    MEDMESH_RETURN_IF_ERROR(Audit(who, r, event, audit::Outcome::kMinorFailure, entity_type, {}, {},
                                  {}, "permission_denied"));
    return PermissionDenied(std::string(kRoleDeniedMessage));
  }

  Status Audit(const Principal& who, const net::Request& r, std::string_view event,
               audit::Outcome outcome, std::string_view entity_type, std::string_view entity_id,
               std::string_view patient_id, std::string_view purpose, std::string_view detail) {
    audit::AuditEntry e;
    e.time_ms = wire::NowMs(d_.clock);
    e.event = std::string(event);
    e.action = audit::Action::kRead;
    e.outcome = outcome;
    e.actor_account_id = who.account_id;
    e.actor_role = std::string(accounts::RoleName(who.role));
    e.source_address = r.peer_address;
    e.patient_id = std::string(patient_id);
    e.entity_type = std::string(entity_type);
    e.entity_id = std::string(entity_id);
    e.purpose = std::string(purpose);
    e.detail = std::string(detail);
    return d_.audit.Append(e);
  }

  AdminApiDeps d_;
};

}  // namespace

Result<std::vector<Account>> AllAccountsOf(const accounts::AccountStore& accounts, Role role) {
  std::vector<Account> out;
  std::string after;
  for (;;) {
    MEDMESH_ASSIGN_OR_RETURN(auto page, accounts.ListByRole(role, after, 1000));
    if (page.empty()) return out;
    after = page.back().account_id;
    for (Account& a : page) out.push_back(std::move(a));
  }
}

Result<std::optional<std::string>> PatientOfPseudonym(ThreePartStore& records,
                                                      const accounts::AccountStore& accounts,
                                                      std::string_view pseudonym) {
  // A pseudonym is 64 hex characters; anything else names nobody (and costs no scan).
  if (pseudonym.size() != 64 || !IsLowerHex(pseudonym)) {
    return std::optional<std::string>();
  }
  MEDMESH_ASSIGN_OR_RETURN(auto stored, records.PatientOfPseudonym(pseudonym));
  if (stored) return stored;
  MEDMESH_ASSIGN_OR_RETURN(const auto patients, AllAccountsOf(accounts, Role::kPatient));
  for (const Account& a : patients) {
    if (records.Pseudonym(a.patient_id) == pseudonym) return std::optional(a.patient_id);
  }
  return std::optional<std::string>();
}

void AddAdminRoutes(net::Router& router, AdminApiDeps deps, Authenticate authenticate) {
  auto routes = std::make_shared<AdminRoutes>(deps);
  auto auth = std::make_shared<Authenticate>(std::move(authenticate));
  router.Get("/api/v1/doctors", [routes, auth](const net::Request& r) -> Result<net::Response> {
    Result<Principal> who = (*auth)(r);
    if (!who) return accounts::AuthenticationRefusal(who.error());
    return routes->Directory(*who);
  });
  router.Get("/api/v1/admin/doctors",
             [routes, auth](const net::Request& r) -> Result<net::Response> {
               Result<Principal> who = (*auth)(r);
               if (!who) return accounts::AuthenticationRefusal(who.error());
               return routes->Doctors(*who, r);
             });
  router.Get("/api/v1/admin/patients",
             [routes, auth](const net::Request& r) -> Result<net::Response> {
               Result<Principal> who = (*auth)(r);
               if (!who) return accounts::AuthenticationRefusal(who.error());
               return routes->Patients(*who, r);
             });
  router.Post("/api/v1/admin/patients/{pseudonym}/identity",
              [routes, auth](const net::Request& r) -> Result<net::Response> {
                Result<Principal> who = (*auth)(r);
                if (!who) return accounts::AuthenticationRefusal(who.error());
                return routes->Identity(*who, r);
              },
              {.body_limit_bytes = kIdentityBodyLimit});
}

}  // namespace medmesh::cloud

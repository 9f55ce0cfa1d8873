#include "cloud/integrity_api.h"

#include <charconv>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>

#include "accounts/authenticator.h"

namespace medmesh::cloud {
namespace {

using nlohmann::json;

constexpr std::size_t kDefaultRestoresLimit = 100;

std::string Param(const net::Request& r, std::string_view name) {
  for (const auto& [key, value] : r.path_params) {
    if (key == name) return value;
  }
  return {};
}

ItemRef ItemOf(const net::Request& r, ItemKind kind) {
  return ItemRef{kind, Param(r, "device_id"),
                 Param(r, kind == ItemKind::kRecord ? "record_id" : "batch_id")};
}

json VerificationJson(const ItemVerification& v) {
  json out = {{"ok", v.ok()}, {"chain_seq", v.chain_seq}};
  out["failed_check"] = v.failed ? json(std::string(IntegrityCheckName(*v.failed))) : json(nullptr);
  return out;
}

json RestoreJson(const RestoreRow& r) {
  return {{"restore_id", r.restore_id},
          {"restored_ms", r.restored_ms},
          {"cloudlet_id", r.cloudlet_id},
          {"patient_id", r.patient_id},
          {"kind", r.kind},
          {"device_id", r.device_id},
          {"item_id", r.item_id},
          {"failed_check", r.failed_check},
          {"actor_account_id", r.actor_account_id},
          {"actor_role", r.actor_role}};
}

Result<std::size_t> LimitOf(const net::Request& r) {
  std::size_t limit = kDefaultRestoresLimit;
  for (const auto& [key, value] : r.query) {
    if (key != "limit") continue;
    std::size_t parsed = 0;
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), parsed);
    if (ec != std::errc{} || end != value.data() + value.size() || parsed == 0 || parsed > 10000) {
      return InvalidArgument("limit must be an integer in 1..10000");
    }
    limit = parsed;
  }
  return limit;
}

}  // namespace

void AddIntegrityRoutes(net::Router& router, IntegrityService& service,
                        const Authenticate& authenticate, AfterDeletion after_deletion) {
  for (ItemKind kind : {ItemKind::kRecord, ItemKind::kReadings}) {
    const std::string base = kind == ItemKind::kRecord
                                 ? "/api/v1/integrity/records/{device_id}/{record_id}"
                                 : "/api/v1/integrity/readings/{device_id}/{batch_id}";
    router.Post(base + "/verify",
                [&service, authenticate, kind](const net::Request& r) -> Result<net::Response> {
                  Result<accounts::Principal> who = authenticate(r);
                  if (!who) return accounts::AuthenticationRefusal(who.error());
                  MEDMESH_ASSIGN_OR_RETURN(const ItemVerification v,
                                           service.Verify(*who, ItemOf(r, kind), r.peer_address));
                  return net::Response::Json(VerificationJson(v).dump());
                });
    router.Post(base + "/restore",
                [&service, authenticate, kind](const net::Request& r) -> Result<net::Response> {
                  Result<accounts::Principal> who = authenticate(r);
                  if (!who) return accounts::AuthenticationRefusal(who.error());
                  MEDMESH_ASSIGN_OR_RETURN(const RestoreOutcome out,
                                           service.Restore(*who, ItemOf(r, kind), r.peer_address));
                  json body = {{"restore", RestoreJson(out.restore)},
                               {"after", VerificationJson(out.after)}};
                  return net::Response::Json(body.dump());
                });
  }
  router.Get("/api/v1/integrity/restores",
             [&service, authenticate](const net::Request& r) -> Result<net::Response> {
               Result<accounts::Principal> who = authenticate(r);
               if (!who) return accounts::AuthenticationRefusal(who.error());
               MEDMESH_ASSIGN_OR_RETURN(const std::size_t limit, LimitOf(r));
               MEDMESH_ASSIGN_OR_RETURN(const std::vector<RestoreRow> rows,
                                        service.ListRestores(*who, limit, r.peer_address));
               json list = json::array();
               for (const RestoreRow& row : rows) list.push_back(RestoreJson(row));
               return net::Response::Json(json{{"restores", std::move(list)}}.dump());
             });
  router.Post(
      "/api/v1/integrity/deletion",
      [&service, authenticate, after_deletion](const net::Request& r) -> Result<net::Response> {
        Result<accounts::Principal> who = authenticate(r);
        if (!who) return accounts::AuthenticationRefusal(who.error());
        MEDMESH_RETURN_IF_ERROR(service.DeletePatient(*who, r.peer_address));
        net::Response response = net::Response::Json(json{{"status", "deleted"}}.dump());
        if (after_deletion) {
          MEDMESH_RETURN_IF_ERROR(after_deletion(*who, r.peer_address, response));
        }
        return response;
      });
}

}  // namespace medmesh::cloud

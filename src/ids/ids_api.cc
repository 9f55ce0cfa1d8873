#include "ids/ids_api.h"

#include <charconv>
#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>

#include "net/error_mapping.h"
#include "net/json_body.h"

namespace medmesh::ids {
namespace {

using Json = nlohmann::json;

constexpr std::size_t kDefaultLimit = 200;
constexpr std::size_t kMaxLimit = 1000;

Json ScopeJson(const Scope& s) {
  return {{"kind", std::string(ScopeKindName(s.kind))}, {"value", s.value}};
}

Json DecisionJson(const Decision& d, std::int64_t now_ms) {
  return {{"id", d.id},
          {"origin", d.origin},
          {"detector", d.detector},
          {"detector_version", d.detector_version},
          {"scope", ScopeJson(d.scope)},
          {"action", std::string(ActionName(d.action))},
          {"created_ms", d.created_ms},
          {"expires_ms", d.expires_ms},
          {"offence", d.offence},
          {"reason", d.reason},
          {"revoked_ms", d.revoked_ms ? Json(*d.revoked_ms) : Json(nullptr)},
          {"active", d.ActiveAt(now_ms)}};
}

Result<std::size_t> Limit(const net::Request& r) {
  const auto text = r.QueryParam("limit");
  if (!text) return kDefaultLimit;
  std::size_t n = 0;
  const auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), n);
  if (ec != std::errc() || end != text->data() + text->size() || n == 0 || n > kMaxLimit) {
    return InvalidArgument("query parameter 'limit' must be 1 to 1000");
  }
  return n;
}

Result<Scope> ScopeFrom(const Json& body) {
  const auto kind = ScopeKindFromName(body.at("scope").get<std::string>());
  if (!kind) return InvalidArgument("'scope' must be ip, range, account or device");
  return NormalizeScope(*kind, body.at("value").get<std::string>());
}

net::Response Dump(const Json& body, int status = 200) {
  return net::Response::Json(body.dump(-1, ' ', false, Json::error_handler_t::replace), status);
}

// POST /api/v1/ids/decisions' "expires_in_minutes": at most a week (DecisionPolicy's default
// max_expiry).
constexpr std::int64_t kMaxOperatorExpiryMinutes = 7 * 24 * 60;

// GET /api/v1/ids/alerts' "kernel_drop": null when the node reports none.
Json KernelDropJson(const std::function<std::optional<net::KernelDropStats>()>& source) {
  const std::optional<net::KernelDropStats> stats = source ? source() : std::nullopt;
  if (!stats) return nullptr;
  return {{"sources", stats->sources},
          {"ranges", stats->ranges},
          {"escalations", stats->escalations},
          {"dropped_segments", stats->dropped_segments}};
}

}  // namespace

std::function<std::optional<net::KernelDropStats>()> KernelDropOf(
    const std::atomic<const net::HttpServer*>& server) {
  return [&server]() -> std::optional<net::KernelDropStats> {
    const net::HttpServer* s = server.load(std::memory_order_acquire);
    if (s == nullptr) return std::nullopt;
    return s->kernel_drop();
  };
}

void AddIdsRoutes(net::Router& router, IdsApiContext context) {
  auto c = std::make_shared<IdsApiContext>(std::move(context));
  const auto now_ms = [](const Clock& clock) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(clock.Now().time_since_epoch())
        .count();
  };
  router.Get("/api/v1/ids/alerts", [c](const net::Request& r) -> Result<net::Response> {
    if (auto refusal = c->authorize(r)) return std::move(*refusal);
    MEDMESH_ASSIGN_OR_RETURN(std::size_t limit, Limit(r));
    Json list = Json::array();
    for (const AlertRecord& a : c->engine.Alerts(limit)) {
      list.push_back({{"time_ms", a.alert.time_ms},
                      {"detector", a.alert.detector},
                      {"detector_version", a.alert.detector_version},
                      {"scope", ScopeJson(a.alert.scope)},
                      {"action", std::string(ActionName(a.alert.action))},
                      {"reason", a.alert.reason},
                      {"allowlisted", a.allowlisted},
                      {"decision_id", a.decision ? Json(a.decision->id) : Json(nullptr)}});
    }
    return Dump({{"alerts", list},
                 {"alerts_total", c->engine.alerts_total()},
                 {"blocked_requests", c->enforcer.blocked()},
                 {"throttled_requests", c->enforcer.throttled()},
                 {"payload_scorer",
                  {{"enabled", c->payloads != nullptr && c->payloads->enabled()},
                   {"model", c->payloads != nullptr && c->payloads->enabled()
                                 ? Json(std::string(c->payloads->scorer_name()))
                                 : Json(nullptr)},
                   {"flagged_requests", c->payloads != nullptr ? c->payloads->flagged() : 0}}},
                 {"kernel_drop", KernelDropJson(c->kernel_drop)}});
  });
  router.Get("/api/v1/ids/decisions", [c, now_ms](const net::Request& r) -> Result<net::Response> {
    if (auto refusal = c->authorize(r)) return std::move(*refusal);
    MEDMESH_ASSIGN_OR_RETURN(std::size_t limit, Limit(r));
    const auto active = r.QueryParam("active");
    if (active && *active != "true" && *active != "false") {
      return InvalidArgument("query parameter 'active' must be true or false");
    }
    const std::int64_t now = now_ms(c->clock);
    Json list = Json::array();
    for (const Decision& d : c->table.List(!active || *active == "true", limit)) {
      list.push_back(DecisionJson(d, now));
    }
    return Dump({{"decisions", list}});
  });
  // An operator's own decision (an account reported stolen, an address seen elsewhere): imposed
  // as a detector's proposal is (escalation, allowlist, the local-proxy rule), origin this node.
  router.Post(
      "/api/v1/ids/decisions",
      [c, now_ms](const net::Request& r) -> Result<net::Response> {
        if (auto refusal = c->authorize(r)) return std::move(*refusal);
        static constexpr net::JsonField kFields[] = {
            {"scope", net::JsonType::kString},
            {"value", net::JsonType::kString},
            {"action", net::JsonType::kString},
            {"reason", net::JsonType::kString, false},
            {"expires_in_minutes", net::JsonType::kInteger, false}};
        net::JsonBody body = net::ParseJsonBody(r, kFields);
        if (auto* refusal = std::get_if<net::Response>(&body)) return std::move(*refusal);
        const Json& b = std::get<Json>(body);
        MEDMESH_ASSIGN_OR_RETURN(Scope scope, ScopeFrom(b));
        const auto action = ActionFromName(b.at("action").get<std::string>());
        if (!action) return InvalidArgument("'action' must be block, throttle or alert");
        std::string reason = b.value("reason", "");
        if (reason.size() > kMaxReasonBytes) {
          return InvalidArgument("'reason' must be at most 256 bytes");
        }
        if (reason.empty()) reason = "imposed by an operator";
        std::optional<std::chrono::milliseconds> expiry;
        if (b.contains("expires_in_minutes")) {
          const Json& minutes = b.at("expires_in_minutes");
          if (!minutes.is_number_integer() || minutes.get<std::int64_t>() < 1 ||
              minutes.get<std::int64_t>() > kMaxOperatorExpiryMinutes) {
            return InvalidArgument(
                "expires_in_minutes must be a whole number from 1 to 10080 "
                "(a week)");
          }
          expiry = std::chrono::minutes(minutes.get<std::int64_t>());
        }
        MEDMESH_ASSIGN_OR_RETURN(
            std::optional<Decision> made,
            c->table.Impose({"operator", 1, scope, *action, std::move(reason)}, expiry));
        if (!made)
          return FailedPrecondition("the scope is allowlisted: remove it from the list first");
        if (c->on_change) c->on_change(r, "decision.impose", made->scope);
        return Dump(DecisionJson(*made, now_ms(c->clock)), 201);
      },
      {.body_limit_bytes = 4096});
  router.Post("/api/v1/ids/decisions/{id}/revocation",
              [c, now_ms](const net::Request& r) -> Result<net::Response> {
                if (auto refusal = c->authorize(r)) return std::move(*refusal);
                // An ended decision: kFailedPrecondition, answered 409.
                MEDMESH_ASSIGN_OR_RETURN(Decision revoked,
                                         c->table.Revoke(r.PathParam("id").value_or("")));
                if (c->on_change) c->on_change(r, "decision.revoke", revoked.scope);
                return Dump(DecisionJson(revoked, now_ms(c->clock)));
              },
              {.body_limit_bytes = 0});
  router.Get("/api/v1/ids/allowlist", [c](const net::Request& r) -> Result<net::Response> {
    if (auto refusal = c->authorize(r)) return std::move(*refusal);
    Json list = Json::array();
    for (const AllowEntry& e : c->table.Allowlist()) {
      list.push_back({{"scope", ScopeJson(e.scope)}, {"note", e.note}, {"added_ms", e.added_ms}});
    }
    return Dump({{"allowlist", list}});
  });
  router.Post("/api/v1/ids/allowlist",
              [c](const net::Request& r) -> Result<net::Response> {
                if (auto refusal = c->authorize(r)) return std::move(*refusal);
                static constexpr net::JsonField kFields[] = {
                    {"scope", net::JsonType::kString},
                    {"value", net::JsonType::kString},
                    {"note", net::JsonType::kString, false}};
                net::JsonBody body = net::ParseJsonBody(r, kFields);
                if (auto* refusal = std::get_if<net::Response>(&body)) return std::move(*refusal);
                const Json& b = std::get<Json>(body);
                MEDMESH_ASSIGN_OR_RETURN(Scope scope, ScopeFrom(b));
                MEDMESH_RETURN_IF_ERROR(c->table.Allow(scope, b.value("note", "")));
                if (c->on_change) c->on_change(r, "allowlist.add", scope);
                return Dump({{"scope", ScopeJson(scope)}}, 201);
              },
              {.body_limit_bytes = 4096});
  router.Post("/api/v1/ids/allowlist/removal",
              [c](const net::Request& r) -> Result<net::Response> {
                if (auto refusal = c->authorize(r)) return std::move(*refusal);
                static constexpr net::JsonField kFields[] = {{"scope", net::JsonType::kString},
                                                             {"value", net::JsonType::kString}};
                net::JsonBody body = net::ParseJsonBody(r, kFields);
                if (auto* refusal = std::get_if<net::Response>(&body)) return std::move(*refusal);
                MEDMESH_ASSIGN_OR_RETURN(Scope scope, ScopeFrom(std::get<Json>(body)));
                Status removed = c->table.Disallow(scope);
                if (!removed && removed.error().code() != ErrorCode::kNotFound)
                  return removed.error();
                const bool was_listed = static_cast<bool>(removed);
                if (was_listed && c->on_change) c->on_change(r, "allowlist.remove", scope);
                return Dump({{"scope", ScopeJson(scope)}, {"removed", was_listed}});
              },
              {.body_limit_bytes = 4096});
}

}  // namespace medmesh::ids

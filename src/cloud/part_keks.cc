#include "cloud/part_keks.h"

#include <nlohmann/json.hpp>
#include <utility>
#include <variant>

#include "accounts/authenticator.h"
#include "core/bytes.h"
#include "core/log.h"
#include "net/error_mapping.h"
#include "node/identity.h"
#include "wire/model.h"

namespace medmesh::cloud {
namespace {

using store::RecordPart;

std::size_t Index(RecordPart part) { return static_cast<std::size_t>(part) - 1; }

constexpr RecordPart kParts[] = {RecordPart::kEi, RecordPart::kQi, RecordPart::kMi};

node::KekRing RingWithoutFile(crypto::KeyEncryptionKey kek) {
  return node::KekRing{std::move(kek), {}, {}, false, false, false, false};
}

}  // namespace

CloudPartKeks::CloudPartKeks(crypto::KeyEncryptionKey one_for_all)
    : ei(RingWithoutFile(one_for_all.Clone())),
      qi(RingWithoutFile(one_for_all.Clone())),
      mi(RingWithoutFile(std::move(one_for_all))) {}

CloudPartKeks::CloudPartKeks(node::KekRing ei_ring, node::KekRing qi_ring, node::KekRing mi_ring)
    : ei(std::move(ei_ring)), qi(std::move(qi_ring)), mi(std::move(mi_ring)) {}

node::KekRing& CloudPartKeks::of(RecordPart part) {
  switch (part) {
    case RecordPart::kEi: return ei;
    case RecordPart::kQi: return qi;
    case RecordPart::kMi: return mi;
  }
  return mi;
}

Result<RecordPart> ParseRecordPart(std::string_view name) {
  for (RecordPart part : kParts) {
    if (store::RecordPartName(part) == name) return part;
  }
  return InvalidArgument(R"(the part must be "ei", "qi" or "mi")");
}

std::string_view PartKekRotationStateName(PartKekRotationStatus::State state) {
  switch (state) {
    case PartKekRotationStatus::State::kNeverRun: return "never_run";
    case PartKekRotationStatus::State::kRunning: return "running";
    case PartKekRotationStatus::State::kDone: return "done";
    case PartKekRotationStatus::State::kFailed: return "failed";
  }
  return "unknown";
}

PartKekRotator::PartKekRotator(ThreePartStore& records, CloudPartKeks& keks, Random& random,
                               Env& env)
    : records_(records), random_(random), env_(env) {
  for (RecordPart part : kParts) {
    node::KekRing& ring = keks.of(part);
    for (crypto::KeyEncryptionKey& older : ring.older) {
      records_.envelope(part).AddOldKek(std::move(older));
    }
    ring.older.clear();
    files_[Index(part)] = ring.file;
  }
}

PartKekRotator::~PartKekRotator() {
  std::thread worker;
  {
    std::lock_guard lock(mu_);
    worker = std::move(worker_);
  }
  if (worker.joinable()) worker.join();
}

Status PartKekRotator::Claim(RecordPart part) {
  if (files_[Index(part)].empty()) {
    return FailedPrecondition("the " + std::string(store::RecordPartName(part)) +
                              " KEK was not loaded from a file; nothing to rotate");
  }
  std::lock_guard lock(mu_);
  if (running_) return AlreadyExists("a KEK rotation is already running");
  running_ = true;
  statuses_[Index(part)] = PartKekRotationStatus{PartKekRotationStatus::State::kRunning, {}, {}};
  return OkStatus();
}

Result<node::KekFileRotation> PartKekRotator::RunClaimed(RecordPart part) {
  const std::string_view name = store::RecordPartName(part);
  log::Info("cloud_kek_rotation_started", {{"part", name}});
  auto result = node::RotateKekFile(files_[Index(part)], records_.envelope(part), random_, env_);
  PartKekRotationStatus status;
  if (result) {
    status.state = PartKekRotationStatus::State::kDone;
    status.result = *result;
    log::Info("cloud_kek_rotated", {{"part", name},
                                    {"kek_id", HexEncode(result->new_kek_id)},
                                    {"rewrapped", result->report.rewrapped},
                                    {"already_current", result->report.already_current},
                                    {"retired", result->retired.size()},
                                    {"resumed", result->resumed}});
  } else {
    status.state = PartKekRotationStatus::State::kFailed;
    status.error = result.error();
    log::Error("cloud_kek_rotation_failed", {{"part", name}, {"error", result.error().ToString()}});
  }
  std::lock_guard lock(mu_);
  statuses_[Index(part)] = std::move(status);
  running_ = false;
  return result;
}

Result<node::KekFileRotation> PartKekRotator::Rotate(RecordPart part) {
  MEDMESH_RETURN_IF_ERROR(Claim(part));
  return RunClaimed(part);
}

Status PartKekRotator::Start(RecordPart part) {
  MEDMESH_RETURN_IF_ERROR(Claim(part));
  std::thread previous;
  {
    std::lock_guard lock(mu_);
    previous = std::move(worker_);
  }
  // The previous worker has set running_ = false, its last step: joining it is immediate.
  if (previous.joinable()) previous.join();
  std::lock_guard lock(mu_);
  worker_ = std::thread([this, part] { (void)RunClaimed(part); });
  return OkStatus();
}

PartKekRotationStatus PartKekRotator::status(RecordPart part) const {
  std::lock_guard lock(mu_);
  return statuses_[Index(part)];
}

namespace {

net::Response StatusResponse(RecordPart part, const PartKekRotationStatus& status, int code) {
  nlohmann::json body{{"part", store::RecordPartName(part)},
                      {"state", PartKekRotationStateName(status.state)}};
  if (status.result) {
    const node::KekFileRotation& r = *status.result;
    nlohmann::json retired = nlohmann::json::array();
    for (const crypto::KeyId& id : r.retired) retired.push_back(HexEncode(id));
    body["kek_id"] = HexEncode(r.new_kek_id);
    body["retired"] = std::move(retired);
    body["rewrapped"] = r.report.rewrapped;
    body["already_current"] = r.report.already_current;
    body["resumed"] = r.resumed;
  }
  if (status.error) {
    // The same shape as every error body; 5xx-class causes keep their details in the log.
    const net::Response mapped = net::ErrorResponse(*status.error);
    body["error"] = nlohmann::json::parse(mapped.body, nullptr, false);
  }
  net::Response response = net::Response::Json(body.dump());
  response.status = code;
  return response;
}

}  // namespace

namespace {

// Who called a rotation route, once admitted.
struct KekCaller {
  std::string account_id;  // "" for the operator token
  std::string role;
};

audit::AuditEntry KekEntry(const net::Request& r, const KekRotationAccess& a,
                           const KekCaller& caller) {
  audit::AuditEntry e;
  e.time_ms = wire::NowMs(a.clock);
  e.event = "kek.rotate";
  e.action = audit::Action::kExecute;
  e.actor_account_id = caller.account_id;
  e.actor_role = caller.role;
  e.source_address = r.peer_address;
  e.entity_type = "Kek";
  return e;
}

// The operator token, else an admin's session; otherwise the refusal to send. A session of
// another role is refused with 403 and, on the POST (`audited`), an audit entry.
std::variant<KekCaller, net::Response> Admit(const net::Request& r, const KekRotationAccess& a,
                                             bool audited) {
  if (node::BearerTokenMatches(r.Header("Authorization"), a.operator_token)) {
    return KekCaller{"", std::string(accounts::RoleName(accounts::Role::kOperator))};
  }
  Result<accounts::Principal> who = a.accounts.PrincipalOf(r);
  if (!who) return accounts::AuthenticationRefusal(who.error());
  KekCaller caller{who->account_id, std::string(accounts::RoleName(who->role))};
  if (who->is(accounts::Role::kAdmin)) return caller;
  const Error denied = PermissionDenied("only an admin rotates KEKs");
  if (audited) {
    audit::AuditEntry e = KekEntry(r, a, caller);
    e.entity_id = std::string(r.PathParam("part").value_or(""));
    e.outcome = audit::Outcome::kMinorFailure;
    e.detail = std::string(ErrorCodeName(denied.code()));
    if (Status appended = a.audit.Append(e); !appended) return net::ErrorResponse(appended.error());
  }
  return net::ErrorResponse(denied);
}

}  // namespace

void AddKekRotationRoutes(net::Router& router, PartKekRotator& rotator, KekRotationAccess access) {
  router.Post("/api/v1/admin/keys/{part}/rotation",
              [&rotator, access](const net::Request& r) -> Result<net::Response> {
                auto admitted = Admit(r, access, /*audited=*/true);
                if (auto* refusal = std::get_if<net::Response>(&admitted))
                  return std::move(*refusal);
                audit::AuditEntry e = KekEntry(r, access, std::get<KekCaller>(admitted));
                Result<RecordPart> part = ParseRecordPart(r.PathParam("part").value_or(""));
                // kAlreadyExists (a rotation is running) and kFailedPrecondition (no file) are 409.
                const Status started = part ? rotator.Start(*part) : Status(part.error());
                if (part) e.entity_id = std::string(store::RecordPartName(*part));
                if (!started) {
                  e.outcome = audit::Outcome::kMinorFailure;
                  e.detail = std::string(ErrorCodeName(started.error().code()));
                }
                // The operator token names no account; the detail says which credential acted.
                if (e.actor_account_id.empty()) {
                  e.detail += e.detail.empty() ? "static token" : ", static token";
                }
                MEDMESH_RETURN_IF_ERROR(access.audit.Append(e));
                if (!started) return started.error();
                return StatusResponse(*part, rotator.status(*part), 202);
              },
              {.body_limit_bytes = 0});
  router.Get("/api/v1/admin/keys/{part}/rotation",
             [&rotator, access](const net::Request& r) -> Result<net::Response> {
               auto admitted = Admit(r, access, /*audited=*/false);
               if (auto* refusal = std::get_if<net::Response>(&admitted)) {
                 return std::move(*refusal);
               }
               MEDMESH_ASSIGN_OR_RETURN(RecordPart part,
                                        ParseRecordPart(r.PathParam("part").value_or("")));
               return StatusResponse(part, rotator.status(part), 200);
             });
}

}  // namespace medmesh::cloud

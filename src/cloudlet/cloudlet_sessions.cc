#include "cloudlet/cloudlet_sessions.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <utility>

#include "accounts/revocation_poller.h"
#include "cloudlet/forwarder.h"
#include "core/log.h"
#include "net/error_mapping.h"
#include "net/json_body.h"
#include "wire/model.h"
#include "wire/node_request.h"

namespace medmesh::cloudlet {
namespace {

using Json = nlohmann::json;

constexpr std::size_t kLoginBodyLimit = 16 * 1024;

net::Response NoStore(net::Response response) {
  response.headers.emplace_back("Cache-Control", "no-store");
  return response;
}

void AddCookies(net::Response& response, const std::vector<std::string>& cookies) {
  for (const std::string& c : cookies) response.headers.emplace_back("Set-Cookie", c);
}

// The cloud's refusal of a relayed login, handed on as it came (status, body, Retry-After and
// WWW-Authenticate), when it is the person's refusal; nullopt when it is not (the cloud refused
// this cloudlet's node request, or does not know the route): that is the cloudlet's problem.
std::optional<net::Response> PersonsRefusal(const net::Response& answer) {
  const net::Refusal refusal = net::DecodeRefusal(answer);
  if (!refusal.medmesh || answer.status < 400 || answer.status >= 500 || answer.status == 404) {
    return std::nullopt;
  }
  if (answer.status == 401) {
    const Json body = Json::parse(answer.body, nullptr, false);
    if (!body.is_object() || body.value("reason", "") != "invalid_credentials") return std::nullopt;
  }
  net::Response out;
  out.status = answer.status;
  out.content_type = "application/json";
  out.body = answer.body;
  for (const auto& [name, value] : answer.headers) {
    if (net::EqualsIgnoreCase(name, "Retry-After") ||
        net::EqualsIgnoreCase(name, "WWW-Authenticate")) {
      out.headers.emplace_back(name, value);
    }
  }
  return out;
}

}  // namespace

CloudletSessions::CloudletSessions(Forwarder& forwarder, net::HttpClient& client,
                                   std::string cloud_url, const Clock& clock,
                                   SessionOptions options, const node::NodeIdentity& identity,
                                   const crypto::Signer& signer)
    : forwarder_(forwarder),
      client_(client),
      cloud_url_(std::move(cloud_url)),
      clock_(clock),
      identity_(identity),
      signer_(signer),
      revocations_(clock, options.max_staleness) {}

CloudletSessions::~CloudletSessions() = default;

std::shared_ptr<const CloudletSessions::Current> CloudletSessions::current() const {
  std::lock_guard lock(mu_);
  return current_;
}

Status CloudletSessions::Poll() {
  MEDMESH_ASSIGN_OR_RETURN(wire::VerifiedCertificate certificate, forwarder_.CloudCertificate());
  std::shared_ptr<const Current> now = current();
  const ByteView held = now ? now->certificate.encoded() : ByteView();
  const ByteView fetched = certificate.encoded();
  if (!now || !std::equal(held.begin(), held.end(), fetched.begin(), fetched.end())) {
    accounts::TokenVerifier verifier(certificate);
    now = std::make_shared<const Current>(Current{std::move(certificate), std::move(verifier)});
    std::lock_guard lock(mu_);
    current_ = now;
  }
  Prune(wire::NowMs(clock_));
  accounts::RevocationPoller poller(client_, cloud_url_, now->certificate, revocations_, clock_);
  return poller.PollOnce();
}

Result<accounts::Principal> CloudletSessions::Authenticate(const net::Request& request) const {
  MEDMESH_ASSIGN_OR_RETURN(accounts::Authenticated who, AuthenticateWithClaims(request));
  return std::move(who.principal);
}

Result<accounts::Authenticated> CloudletSessions::AuthenticateWithClaims(
    const net::Request& request) const {
  const std::shared_ptr<const Current> now = current();
  if (!now) {
    // No credentials at all is 401 whether or not the cloud was reached.
    if (!accounts::OffersCredential(request)) return Unauthenticated("no session: log in first");
    return Unavailable("sessions cannot be checked yet: the cloud was not reached");
  }
  const accounts::Authenticator authenticator(now->verifier, revocations_, clock_);
  MEDMESH_ASSIGN_OR_RETURN(accounts::Authenticated who, authenticator.Authenticate(request));
  {
    std::lock_guard lock(mu_);
    if (ended_.contains(who.claims.session_id)) {
      return Unauthenticated("session ended: log in again");
    }
  }
  return who;
}

void CloudletSessions::Prune(std::int64_t now_ms) const {
  std::lock_guard lock(mu_);
  std::erase_if(ended_, [&](const auto& e) { return e.second <= now_ms; });
  std::erase_if(names_, [&](const auto& e) { return e.second.expires_ms <= now_ms; });
}

void CloudletSessions::Remember(const accounts::TokenClaims& claims, Names names) const {
  names.expires_ms = claims.expires_ms;
  Prune(wire::NowMs(clock_));
  std::lock_guard lock(mu_);
  if (names_.size() >= kMaxSessionsKept) names_.erase(names_.begin());
  names_.insert_or_assign(claims.session_id, std::move(names));
}

void CloudletSessions::MarkEnded(const accounts::TokenClaims& claims) const {
  Prune(wire::NowMs(clock_));
  std::lock_guard lock(mu_);
  names_.erase(claims.session_id);
  if (ended_.size() >= kMaxSessionsKept) ended_.erase(ended_.begin());
  ended_.insert_or_assign(claims.session_id, claims.expires_ms);
}

Result<std::optional<CloudletSessions::Names>> CloudletSessions::NamesOf(
    const accounts::Authenticated& who, std::string_view token) const {
  {
    std::lock_guard lock(mu_);
    if (const auto it = names_.find(who.claims.session_id); it != names_.end()) return it->second;
  }
  // A session this cloudlet has not seen log in (it logged in at the cloud, or before a
  // restart): ask the cloud once, with the person's own token.
  net::ClientRequest ask;
  ask.url = cloud_url_ + "/api/v1/session";
  ask.headers.emplace_back("Authorization", "Bearer " + std::string(token));
  auto answer = client_.Send(ask);
  if (answer && answer->status == 401) {
    // The cloud knows it ended (revoked since this cloudlet's last poll).
    MarkEnded(who.claims);
    return Unauthenticated("session ended: log in again");
  }
  if (!answer || answer->status != 200) return std::optional<Names>();
  const Json body = Json::parse(answer->body, nullptr, false);
  if (!body.is_object() || !body.contains("display_name") || !body["display_name"].is_string() ||
      !body.contains("email") || !body["email"].is_string() ||
      body.value("account_id", "") != who.claims.account_id) {
    return std::optional<Names>();
  }
  Names names{body["display_name"].get<std::string>(), body["email"].get<std::string>(), 0};
  Remember(who.claims, names);
  return std::optional<Names>(std::move(names));
}

net::Response CloudletSessions::Refusal(const net::Request& request, const Error& error,
                                        const SessionIdsRecorder& record) const {
  if (error.code() != ErrorCode::kUnavailable && accounts::OffersCredential(request)) {
    record(store::IdsEventKind::kAuthFailure, request,
           "missing or wrong session on " + std::string(request.route), {});
  }
  return accounts::AuthenticationRefusal(error);
}

net::Response CloudletSessions::LogIn(const net::Request& request, bool secure,
                                      const SessionIdsRecorder& record) const {
  static constexpr net::JsonField kFields[] = {{"email", net::JsonType::kString},
                                               {"password", net::JsonType::kString}};
  net::JsonBody parsed = net::ParseJsonBody(request, kFields);
  if (auto* refusal = std::get_if<net::Response>(&parsed)) return std::move(*refusal);
  const Json& b = std::get<Json>(parsed);
  const std::string account_ref =
      guard_ != nullptr
          ? accounts::AccountReference(guard_->reference_key, b.at("email").get<std::string>())
          : std::string();
  // This cloudlet's own decisions on the account, before anything is relayed (and whether or
  // not an account has the login: the cloudlet does not know).
  if (guard_ != nullptr && guard_->gate) {
    const accounts::AccountVerdict verdict = guard_->gate(account_ref);
    if (verdict.kind != accounts::AccountVerdict::Kind::kPass) {
      record(
          store::IdsEventKind::kRateLimited, request,
          std::string("login refused: account ") +
              (verdict.kind == accounts::AccountVerdict::Kind::kBlocked ? "blocked" : "throttled") +
              " by IDS decision " + verdict.decision_id,
          account_ref);
      return accounts::AccountRefusalResponse(verdict);
    }
  }
  const std::shared_ptr<const Current> now = current();
  if (!now) return net::ErrorResponse(Unavailable("the cloud was not reached yet: try again"));

  const std::string path = "/api/v1/cloudlets/" + identity_.id() + "/sessions";
  auto authorization =
      wire::SignNodeRequest(signer_, identity_.certificate.encoded(),
                            now->certificate.certificate().subject_id, path, wire::NowMs(clock_));
  if (!authorization) return net::ErrorResponse(authorization.error());
  net::ClientRequest relay;
  relay.method = net::Method::kPost;
  relay.url = cloud_url_ + path;
  relay.headers.emplace_back("Authorization", std::move(*authorization));
  relay.content_type = "application/json";
  relay.body = Json{{"email", b.at("email")},
                    {"password", b.at("password")},
                    {"client_address", request.peer_address}}
                   .dump();
  const Error unreachable = Unavailable("the cloud cannot be reached to log in: try again");
  auto answer = client_.Send(relay);
  if (!answer) return net::ErrorResponse(unreachable);
  if (answer->status != 200) {
    std::optional<net::Response> refusal = PersonsRefusal(*answer);
    if (!refusal) {
      log::Warn("cloudlet_login_relay_refused", {{"status", answer->status}});
      return net::ErrorResponse(unreachable);
    }
    if (refusal->status == 401) {
      record(store::IdsEventKind::kAuthFailure, request, "failed login (relayed to the cloud)",
             account_ref);
    } else if (refusal->status == 429) {
      record(store::IdsEventKind::kRateLimited, request,
             "login refused by the cloud's throttle (relayed)", account_ref);
    }
    return std::move(*refusal);
  }

  // The cloud's session: its token must verify here before it is handed on.
  Json body = Json::parse(answer->body, nullptr, false);
  const bool shaped = body.is_object() && body.contains("token") && body["token"].is_string();
  auto claims = shaped ? now->verifier.Verify(body["token"].get<std::string>(), wire::NowMs(clock_))
                       : Result<accounts::TokenClaims>(Unauthenticated("no token"));
  if (!claims) {
    log::Warn("cloudlet_login_relay_bad_token", {{"error", claims.error().ToString()}});
    return net::ErrorResponse(unreachable);
  }
  Remember(*claims, Names{body.value("display_name", ""), body.value("email", ""), 0});
  body.erase("display_name");  // the answer is the cloud's login answer, exactly
  body.erase("email");
  request.MarkPeerAuthenticated();
  net::Response response = NoStore(net::Response::Json(body.dump()));
  const auto max_age = std::chrono::seconds((claims->expires_ms - claims->issued_ms) / 1000);
  AddCookies(response, accounts::SessionCookies(body["token"].get<std::string>(), claims->csrf,
                                                max_age, secure));
  return response;
}

net::Response CloudletSessions::WhoAmI(const net::Request& request,
                                       const SessionIdsRecorder& record) const {
  auto who = AuthenticateWithClaims(request);
  if (!who) return Refusal(request, who.error(), record);
  request.MarkPeerAuthenticated();
  const accounts::TokenClaims& c = who->claims;
  Json body{{"account_id", c.account_id},
            {"role", std::string(accounts::RoleName(c.role))},
            {"expires_ms", c.expires_ms},
            {"csrf", c.csrf},
            {"via_cookie", who->principal.via_cookie}};
  if (!c.patient_id.empty()) body["patient_id"] = c.patient_id;
  if (!c.cloudlet_id.empty()) body["cloudlet_id"] = c.cloudlet_id;
  const auto presented = accounts::PresentedTokenOf(request);
  if (!presented) return accounts::AuthenticationRefusal(presented.error());
  auto names = NamesOf(*who, presented->token);
  if (!names) return accounts::AuthenticationRefusal(names.error());
  if (names->has_value()) {
    body["display_name"] = (*names)->display_name;
    body["email"] = (*names)->email;
  }
  return NoStore(net::Response::Json(body.dump()));
}

net::Response CloudletSessions::LogOut(const net::Request& request, bool secure,
                                       const SessionIdsRecorder& record) const {
  auto who = AuthenticateWithClaims(request);
  if (!who) return Refusal(request, who.error(), record);
  request.MarkPeerAuthenticated();
  const auto presented = accounts::PresentedTokenOf(request);
  if (!presented) return accounts::AuthenticationRefusal(presented.error());
  net::ClientRequest relay;
  relay.method = net::Method::kDelete;
  relay.url = cloud_url_ + "/api/v1/session";
  relay.headers.emplace_back("Authorization", "Bearer " + std::string(presented->token));
  auto answer = client_.Send(relay);
  if (!answer || (answer->status != 204 && answer->status != 401)) {
    if (answer) log::Warn("cloudlet_logout_relay_refused", {{"status", answer->status}});
    return net::ErrorResponse(
        Unavailable("the cloud cannot be reached to end the session: try again"));
  }
  // 204: revoked at the cloud now. 401: it had ended there already (revoked or expired).
  MarkEnded(who->claims);
  net::Response response;
  if (answer->status == 204) {
    response.status = 204;
  } else {
    response = accounts::AuthenticationRefusal(Unauthenticated("session ended: log in again"));
  }
  AddCookies(response, accounts::ClearedSessionCookies(secure));
  return NoStore(std::move(response));
}

void AddSessionRoutes(net::Router& router, const CloudletSessions* sessions, bool secure_cookies,
                      SessionIdsRecorder record) {
  auto shared = std::make_shared<const SessionIdsRecorder>(std::move(record));
  const auto no_cloud = [](const net::Request& r) {
    return accounts::OffersCredential(r)
               ? accounts::AuthenticationRefusal(
                     Unauthenticated("no sessions at a cloudlet without a cloud"))
               : accounts::AuthenticationRefusal(Unauthenticated("no session: log in first"));
  };
  router.Post(
      "/api/v1/session",
      [sessions, secure_cookies, shared](const net::Request& r) -> Result<net::Response> {
        if (sessions == nullptr) {
          return net::ErrorResponse(Unavailable("no cloud is configured: log in at the cloud"));
        }
        return sessions->LogIn(r, secure_cookies, *shared);
      },
      {.body_limit_bytes = kLoginBodyLimit});
  router.Get("/api/v1/session",
             [sessions, shared, no_cloud](const net::Request& r) -> Result<net::Response> {
               if (sessions == nullptr) return no_cloud(r);
               return sessions->WhoAmI(r, *shared);
             });
  router.Delete(
      "/api/v1/session",
      [sessions, secure_cookies, shared, no_cloud](const net::Request& r) -> Result<net::Response> {
        if (sessions == nullptr) return no_cloud(r);
        return sessions->LogOut(r, secure_cookies, *shared);
      },
      {.body_limit_bytes = 0});
}

}  // namespace medmesh::cloudlet

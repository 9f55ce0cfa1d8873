#include "cloud/account_api.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <nlohmann/json.hpp>
#include <utility>

#include "accounts/encoding.h"
#include "accounts/password_pool.h"
#include "accounts/postgres_account_store.h"
#include "accounts/sqlite_account_store.h"
#include "core/log.h"
#include "net/error_mapping.h"
#include "net/json_body.h"
#include "wire/model.h"
#include "wire/node_request.h"

namespace medmesh::cloud {
namespace {

using Json = nlohmann::json;
using accounts::Role;

constexpr std::size_t kSmallBody = 16 * 1024;
// A 512 KiB photo in base64 plus the other fields.
constexpr std::size_t kRegistrationBody = kMaxPhotoBytes / 3 * 4 + 64 * 1024;

// A refusal as every route sends it; `reason` adds a machine-readable "reason" member.
net::Response Refuse(const Error& error, std::string_view reason = {},
                     std::optional<std::chrono::seconds> retry = std::nullopt) {
  if (!retry && error.code() == ErrorCode::kResourceExhausted) retry = std::chrono::seconds(1);
  net::Response response =
      net::RejectionResponse(net::Rejection(error, false, retry, std::string(reason)));
  net::AddReason(response, reason);
  if (response.status == 401) response.headers.emplace_back("WWW-Authenticate", "Bearer");
  return response;
}

void AddCookies(net::Response& response, const std::vector<std::string>& cookies) {
  for (const std::string& c : cookies) response.headers.emplace_back("Set-Cookie", c);
  response.headers.emplace_back("Cache-Control", "no-store");
}

Status CheckProfileText(std::string_view field, std::string_view value) {
  if (value.size() > accounts::kMaxAccountTextBytes) {
    return InvalidArgument(std::string(field) + " is longer than 200 bytes");
  }
  for (const char ch : value) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f) {
      return InvalidArgument(std::string(field) + " must not hold control characters");
    }
  }
  return OkStatus();
}

bool IsDate(std::string_view d) {
  if (d.size() != 10 || d[4] != '-' || d[7] != '-') return false;
  for (std::size_t i : {0, 1, 2, 3, 5, 6, 8, 9}) {
    if (d[i] < '0' || d[i] > '9') return false;
  }
  const int month = (d[5] - '0') * 10 + (d[6] - '0');
  const int day = (d[8] - '0') * 10 + (d[9] - '0');
  return month >= 1 && month <= 12 && day >= 1 && day <= 31;
}

Result<Bytes> DecodePhoto(const Json& photo, std::string& type) {
  constexpr net::JsonField kPhotoFields[] = {{"content_type", net::JsonType::kString},
                                             {"data", net::JsonType::kString}};
  MEDMESH_RETURN_IF_ERROR(net::CheckJsonFields(photo, kPhotoFields));
  type = photo.at("content_type").get<std::string>();
  if (type != "image/png" && type != "image/jpeg") {
    return InvalidArgument("photo.content_type must be image/png or image/jpeg");
  }
  const auto& data = photo.at("data").get_ref<const std::string&>();
  if (data.size() / 4 * 3 > kMaxPhotoBytes + 2) {
    return PayloadTooLarge("the photo is larger than 512 KiB");
  }
  auto bytes = accounts::Base64Decode(data);
  if (!bytes) return InvalidArgument("photo.data must be base64");
  if (bytes->size() > kMaxPhotoBytes) return PayloadTooLarge("the photo is larger than 512 KiB");
  static constexpr std::uint8_t kPng[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  static constexpr std::uint8_t kJpeg[] = {0xff, 0xd8, 0xff};
  const bool png =
      bytes->size() > sizeof kPng && std::equal(kPng, kPng + sizeof kPng, bytes->begin());
  const bool jpeg =
      bytes->size() > sizeof kJpeg && std::equal(kJpeg, kJpeg + sizeof kJpeg, bytes->begin());
  if ((type == "image/png" && !png) || (type == "image/jpeg" && !jpeg)) {
    return InvalidArgument("photo.data is not an image of its content_type");
  }
  return std::move(*bytes);
}

Json AccountJson(const accounts::Account& a) {
  Json j{{"account_id", a.account_id},
         {"role", std::string(accounts::RoleName(a.role))},
         {"status", std::string(accounts::AccountStatusName(a.status))},
         {"email", a.login},
         {"display_name", a.display_name},
         {"created_ms", a.created_ms}};
  if (a.role == Role::kDoctor) {
    j["licence_number"] = a.licence_number;
    j["speciality"] = a.speciality;
    j["hospital"] = a.hospital;
  }
  if (a.role == Role::kOperator) j["cloudlet_id"] = a.cloudlet_id;
  return j;
}

// Ids and addresses stay out of the process log (they identify people); the entry's kind,
// outcome and role are enough to see activity until the real audit log is wired in.
class LogAuditSink final : public audit::AuditSink {
 public:
  Status Append(const audit::AuditEntry& e) override {
    log::Info("audit", {{"audit_event", e.event},
                        {"action", std::string(1, static_cast<char>(e.action))},
                        {"outcome", static_cast<unsigned>(e.outcome)},
                        {"role", e.actor_role},
                        {"detail", e.detail}});
    return OkStatus();
  }
};

}  // namespace

std::unique_ptr<audit::AuditSink> NewLogAuditSink() { return std::make_unique<LogAuditSink>(); }

Result<std::unique_ptr<accounts::AccountStore>> OpenAccountStore(
    const std::filesystem::path& data_dir, const node::StoreConfig& store,
    const std::string& sqlite_vfs) {
  if (store.backend == node::StoreBackend::kPostgres) {
    MEDMESH_ASSIGN_OR_RETURN(
        auto pg, accounts::PostgresAccountStore::Open(
                     {.conninfo = store.postgres_url, .schema_prefix = store.schema_prefix}));
    return std::unique_ptr<accounts::AccountStore>(std::move(pg));
  }
  MEDMESH_ASSIGN_OR_RETURN(
      auto sqlite,
      accounts::SqliteAccountStore::Open((data_dir / "accounts.db").string(), {.vfs = sqlite_vfs}));
  return std::unique_ptr<accounts::AccountStore>(std::move(sqlite));
}

struct AccountApi::State {
  State(AccountApiOptions o, AccountApiDeps d, std::unique_ptr<accounts::AccountStore> s)
      : options(std::move(o)),
        deps(d),
        store(std::move(s)),
        hasher(options.hasher),
        issuer(crypto::NewEd25519Signer(deps.identity.signing_key.Clone()), deps.identity.id()),
        verifier(deps.identity.certificate),
        page_signer(crypto::NewEd25519Signer(deps.identity.signing_key.Clone())),
        password_checks(
            deps.metrics == nullptr
                ? nullptr
                : &deps.metrics
                       ->AddCounter("medmesh_login_password_checks_total",
                                    "Argon2id password checks run for logins (direct and relayed); "
                                    "a login refused before its check is not counted.")
                       .WithLabels({})),
        service(accounts::AccountServiceContext{*store, hasher, issuer, deps.audit, deps.ids,
                                                deps.clock, deps.random, deps.account_guard,
                                                password_checks},
                options.service),
        authenticator(verifier, service, deps.clock),
        password_pool(options.password_pool) {}

  AccountApiOptions options;
  AccountApiDeps deps;
  std::unique_ptr<accounts::AccountStore> store;
  crypto::PasswordHasher hasher;
  accounts::TokenIssuer issuer;
  accounts::TokenVerifier verifier;
  std::unique_ptr<crypto::Signer> page_signer;
  net::Counter* password_checks;  // in deps.metrics; null without
  accounts::AccountService service;
  accounts::Authenticator authenticator;
  // Last: destroyed first, so its running jobs finish while the service still exists.
  accounts::PasswordPool password_pool;

  // The request's principal, or the refusal to send (and an IDS event for a bad credential).
  std::variant<accounts::Authenticated, net::Response> Authenticate(const net::Request& r);
  // A refused session token or CSRF header as an IDS auth_failure event (when one was offered).
  void RecordAuthFailure(const net::Request& r, const Error& e);
  Status AuditRead(const accounts::Principal& p, std::string_view event, std::string_view source,
                   audit::Outcome outcome, std::string_view detail);

  // The answer to a registration whose e-mail has an account already: the same as to a new
  // one (201, the same members, an account id that names nothing), after the same Argon2id
  // work, with no account made and an audit entry (docs/accounts.md "Taken e-mails").
  net::Response AsIfRegistered(accounts::Account shape, std::string_view password,
                               std::string_view source);
  net::Response RegisterPatient(const net::Request& r);
  net::Response RegisterDoctor(const net::Request& r);
  // The answer to a login outcome: the refusal, or the session's JSON with the browser's
  // cookies; `relayed` (a cloudlet's relay): with the person's names, without cookies.
  net::Response LoginAnswer(const accounts::LoginOutcome& outcome, bool relayed) const;
  // A login of `b` (its email and password) from `source`: the throttles on the I/O thread,
  // the Argon2id check on the password pool, then LoginAnswer.
  // Answers at once for a refusal before any Argon2id work, and 429 when the pool is full.
  void StartLogin(const Json& b, const std::string& source, bool relayed,
                  const net::Responder& respond);
  void Login(const net::Request& r, const net::Responder& respond);
  void RelayedLogin(const net::Request& r, const net::Responder& respond);
  net::Response Me(const net::Request& r);
  net::Response Logout(const net::Request& r);
  net::Response ChangePassword(const net::Request& r);
  net::Response Profile(const net::Request& r, bool photo);
  net::Response Pending(const net::Request& r);
  net::Response RegistrationPhoto(const net::Request& r);
  net::Response Decide(const net::Request& r, bool approve);
  net::Response CreateOperator(const net::Request& r);
  net::Response Revocations(const net::Request& r);
};

std::variant<accounts::Authenticated, net::Response> AccountApi::State::Authenticate(
    const net::Request& r) {
  auto authenticated = authenticator.Authenticate(r);
  if (authenticated) {
    r.MarkPeerAuthenticated();
    return std::move(*authenticated);
  }
  const Error& e = authenticated.error();
  RecordAuthFailure(r, e);
  return accounts::AuthenticationRefusal(e);
}

void AccountApi::State::RecordAuthFailure(const net::Request& r, const Error& e) {
  const bool offered = r.Header("Authorization").has_value() || r.Header("Cookie").has_value();
  if (!offered || e.code() == ErrorCode::kUnavailable) return;
  store::IdsEvent event;
  event.time_ms = wire::NowMs(deps.clock);
  event.node = deps.identity.id();
  event.source_ip = r.peer_address;
  event.kind = store::IdsEventKind::kAuthFailure;
  event.detail = std::string(e.code() == ErrorCode::kPermissionDenied
                                 ? "cookie request without a valid CSRF token on "
                                 : "invalid, expired or revoked session token on ") +
                 std::string(r.route);
  (void)deps.ids.Record(event);
}

Status AccountApi::State::AuditRead(const accounts::Principal& p, std::string_view event,
                                    std::string_view source, audit::Outcome outcome,
                                    std::string_view detail) {
  audit::AuditEntry e;
  e.time_ms = wire::NowMs(deps.clock);
  e.event = std::string(event);
  e.action = audit::Action::kRead;
  e.outcome = outcome;
  e.actor_account_id = p.account_id;
  e.actor_role = std::string(accounts::RoleName(p.role));
  e.source_address = std::string(source);
  e.patient_id = p.patient_id;
  e.entity_type = "Patient";
  e.entity_id = p.patient_id;
  e.detail = std::string(detail);
  return deps.audit.Append(e);
}

net::Response AccountApi::State::RegisterPatient(const net::Request& r) {
  static constexpr net::JsonField kFields[] = {
      {"email", net::JsonType::kString},
      {"password", net::JsonType::kString},
      {"display_name", net::JsonType::kString},
      {"full_name", net::JsonType::kString, false},
      {"phone", net::JsonType::kString, false},
      {"address", net::JsonType::kString, false},
      {"birth_date", net::JsonType::kString, false},
      {"sex", net::JsonType::kString, false},
      {"photo", net::JsonType::kObject, false},
  };
  net::JsonBody parsed = net::ParseJsonBody(r, kFields);
  if (auto* refusal = std::get_if<net::Response>(&parsed)) return std::move(*refusal);
  const Json& body = std::get<Json>(parsed);
  PatientProfile profile;
  auto text = [&](const char* name) { return body.value(name, std::string()); };
  profile.full_name = text("full_name");
  profile.phone = text("phone");
  profile.address = text("address");
  profile.birth_date = text("birth_date");
  profile.sex = text("sex");
  for (const auto& [name, value] :
       {std::pair{"full_name", &profile.full_name}, std::pair{"phone", &profile.phone},
        std::pair{"address", &profile.address}}) {
    if (auto ok = CheckProfileText(name, *value); !ok) return Refuse(ok.error());
  }
  if (!profile.birth_date.empty() && !IsDate(profile.birth_date)) {
    return Refuse(InvalidArgument("birth_date must be YYYY-MM-DD"));
  }
  if (!profile.sex.empty() && profile.sex != "female" && profile.sex != "male" &&
      profile.sex != "other") {
    return Refuse(InvalidArgument("sex must be female, male or other"));
  }
  if (body.contains("photo")) {
    auto photo = DecodePhoto(body.at("photo"), profile.photo_type);
    if (!photo) return Refuse(photo.error());
    profile.photo = std::move(*photo);
  }
  accounts::PatientRegistration registration{{text("email"), text("password")},
                                             text("display_name")};
  auto created = service.RegisterPatient(
      registration,
      [&](const std::string& patient_id) {
        return deps.records.SealPatientProfile(patient_id, profile);
      },
      r.peer_address);
  if (!created && created.error().code() == ErrorCode::kAlreadyExists) {
    accounts::Account shape;
    shape.role = Role::kPatient;
    shape.login = registration.credentials.email;
    shape.display_name = registration.display_name;
    return AsIfRegistered(std::move(shape), registration.credentials.password, r.peer_address);
  }
  if (!created) return Refuse(created.error());
  return net::Response::Json(AccountJson(*created).dump(), 201);
}

net::Response AccountApi::State::AsIfRegistered(accounts::Account shape, std::string_view password,
                                                std::string_view source) {
  // A new account's password is hashed before it is stored: the same work here (and the same
  // 429 when the password gate is full), so the time taken does not tell either.
  if (auto hashed = hasher.Hash(password); !hashed) return Refuse(hashed.error());
  audit::AuditEntry e;
  e.time_ms = wire::NowMs(deps.clock);
  e.event = "account.register";
  e.action = audit::Action::kCreate;
  e.outcome = audit::Outcome::kMinorFailure;
  e.actor_role = "anonymous";
  e.source_address = std::string(source);
  e.entity_type = "Account";
  e.detail = "login_taken";
  if (Status appended = deps.audit.Append(e); !appended) return Refuse(appended.error());
  shape.account_id = accounts::NewId("acc_", deps.random);
  shape.status = accounts::AccountStatus::kPending;
  if (auto login = accounts::NormaliseLogin(shape.login)) shape.login = std::move(*login);
  shape.created_ms = wire::NowMs(deps.clock);
  return net::Response::Json(AccountJson(shape).dump(), 201);
}

net::Response AccountApi::State::RegisterDoctor(const net::Request& r) {
  static constexpr net::JsonField kFields[] = {
      {"email", net::JsonType::kString},        {"password", net::JsonType::kString},
      {"display_name", net::JsonType::kString}, {"licence_number", net::JsonType::kString},
      {"speciality", net::JsonType::kString},   {"hospital", net::JsonType::kString},
  };
  net::JsonBody parsed = net::ParseJsonBody(r, kFields);
  if (auto* refusal = std::get_if<net::Response>(&parsed)) return std::move(*refusal);
  const Json& b = std::get<Json>(parsed);
  accounts::DoctorRegistration registration{
      {b.at("email").get<std::string>(), b.at("password").get<std::string>()},
      b.at("display_name").get<std::string>(),
      b.at("licence_number").get<std::string>(),
      b.at("speciality").get<std::string>(),
      b.at("hospital").get<std::string>()};
  auto created = service.RegisterDoctor(registration, r.peer_address);
  if (!created && created.error().code() == ErrorCode::kAlreadyExists) {
    accounts::Account shape;
    shape.role = Role::kDoctor;
    shape.login = registration.credentials.email;
    shape.display_name = registration.display_name;
    shape.licence_number = registration.licence_number;
    shape.speciality = registration.speciality;
    shape.hospital = registration.hospital;
    return AsIfRegistered(std::move(shape), registration.credentials.password, r.peer_address);
  }
  if (!created) return Refuse(created.error());
  return net::Response::Json(AccountJson(*created).dump(), 201);
}

net::Response AccountApi::State::LoginAnswer(const accounts::LoginOutcome& outcome,
                                             bool relayed) const {
  if (const auto* refusal = std::get_if<accounts::LoginRefusal>(&outcome)) {
    using Kind = accounts::LoginRefusal::Kind;
    const std::string_view reason = accounts::LoginRefusalName(refusal->kind);
    switch (refusal->kind) {
      case Kind::kBadCredentials:
        return Refuse(Unauthenticated("wrong e-mail or password"), reason);
      case Kind::kLockedOut:
        return Refuse(ResourceExhausted("too many failed logins: try again later"), reason,
                      refusal->retry_after);
      case Kind::kBusy:
        return Refuse(ResourceExhausted("too many logins at once: try again shortly"), reason,
                      refusal->retry_after);
      case Kind::kPending:
        return Refuse(PermissionDenied("the account awaits an admin's approval"), reason);
      case Kind::kRejected:
        return Refuse(PermissionDenied("the registration was rejected"), reason);
      case Kind::kDisabled: return Refuse(PermissionDenied("the account is disabled"), reason);
      case Kind::kAccountBlocked:
      case Kind::kAccountThrottled:
        return accounts::AccountRefusalResponse({refusal->kind == Kind::kAccountBlocked
                                                     ? accounts::AccountVerdict::Kind::kBlocked
                                                     : accounts::AccountVerdict::Kind::kThrottled,
                                                 refusal->retry_after,
                                                 {}});
    }
  }
  const auto& issued = std::get<accounts::IssuedSession>(outcome);
  const accounts::TokenClaims& c = issued.claims;
  Json body{{"token", issued.token},      {"token_type", "Bearer"},
            {"expires_ms", c.expires_ms}, {"csrf", c.csrf},
            {"account_id", c.account_id}, {"role", std::string(accounts::RoleName(c.role))}};
  if (!c.patient_id.empty()) body["patient_id"] = c.patient_id;
  if (!c.cloudlet_id.empty()) body["cloudlet_id"] = c.cloudlet_id;
  if (relayed) {
    // For the cloudlet's "who am I" (it verifies tokens offline; names are not in them).
    if (auto account = service.Me(c.ToPrincipal(false))) {
      body["display_name"] = account->display_name;
      body["email"] = account->login;
    }
    net::Response response = net::Response::Json(body.dump());
    response.headers.emplace_back("Cache-Control", "no-store");
    return response;
  }
  net::Response response = net::Response::Json(body.dump());
  const auto max_age = std::chrono::seconds((c.expires_ms - c.issued_ms) / 1000);
  AddCookies(response,
             accounts::SessionCookies(issued.token, c.csrf, max_age, options.secure_cookies));
  return response;
}

void AccountApi::State::StartLogin(const Json& b, const std::string& source, bool relayed,
                                   const net::Responder& respond) {
  // A relayed login's peer is the cloudlet, authenticated by its signature whatever the
  // person's password turns out to be.
  const auto answer = [respond, relayed](net::Response response, bool issued) {
    respond(std::move(response), /*peer_authenticated=*/issued || relayed);
  };
  // A flood of logins: refused before anything is read (a locked key gets this same 429, with
  // a shorter Retry-After, and stays locked), so excess attempts cost no store reads either.
  if (password_pool.full()) {
    answer(LoginAnswer(service.Busy(source), relayed), false);
    return;
  }
  // The throttles here, on the I/O thread (a locked key is refused without Argon2id work); the
  // Argon2id check on the password pool, so that logins never hold an I/O thread.
  auto begun = service.BeginLogin(
      {b.at("email").get<std::string>(), b.at("password").get<std::string>()}, source);
  if (!begun) {
    answer(Refuse(begun.error()), false);
    return;
  }
  if (const auto* outcome = std::get_if<accounts::LoginOutcome>(&*begun)) {
    answer(LoginAnswer(*outcome, relayed),
           std::holds_alternative<accounts::IssuedSession>(*outcome));
    return;
  }
  auto pending =
      std::make_shared<accounts::PendingLogin>(std::get<accounts::PendingLogin>(std::move(*begun)));
  const bool queued = password_pool.TrySubmit([this, pending, answer, relayed] {
    auto outcome = service.FinishLogin(*pending);
    pending->password.clear();
    if (!outcome) {
      answer(Refuse(outcome.error()), false);
      return;
    }
    answer(LoginAnswer(*outcome, relayed),
           std::holds_alternative<accounts::IssuedSession>(*outcome));
  });
  // The queue is full: 429 at once, nothing hashed.
  if (!queued) answer(LoginAnswer(service.Busy(source), relayed), false);
}

void AccountApi::State::Login(const net::Request& r, const net::Responder& respond) {
  static constexpr net::JsonField kFields[] = {{"email", net::JsonType::kString},
                                               {"password", net::JsonType::kString}};
  net::JsonBody parsed = net::ParseJsonBody(r, kFields);
  if (auto* refusal = std::get_if<net::Response>(&parsed)) {
    respond(std::move(*refusal));
    return;
  }
  StartLogin(std::get<Json>(parsed), r.peer_address, /*relayed=*/false, respond);
}

void AccountApi::State::RelayedLogin(const net::Request& r, const net::Responder& respond) {
  static constexpr net::JsonField kFields[] = {{"email", net::JsonType::kString},
                                               {"password", net::JsonType::kString},
                                               {"client_address", net::JsonType::kString}};
  const std::string cloudlet_id(r.PathParam("cloudlet_id").value_or(""));
  auto caller = wire::VerifyNodeRequest(r.Header("Authorization").value_or(""),
                                        deps.identity.root.key, wire::CertificateRole::kCloudlet,
                                        deps.identity.id(), r.path, wire::NowMs(deps.clock));
  if (caller && caller->certificate().subject_id != cloudlet_id) {
    caller = Unauthenticated("node request: not this cloudlet's route");
  }
  if (!caller) {
    store::IdsEvent event;
    event.time_ms = wire::NowMs(deps.clock);
    event.node = deps.identity.id();
    event.source_ip = r.peer_address;
    event.kind = store::IdsEventKind::kAuthFailure;
    event.detail =
        "node request refused on " + std::string(r.route) + ": " + caller.error().message();
    (void)deps.ids.Record(event);
    net::Response denied = net::ErrorResponse(caller.error());
    denied.headers.emplace_back("WWW-Authenticate", std::string(wire::kNodeRequestScheme));
    respond(std::move(denied));
    return;
  }
  net::JsonBody parsed = net::ParseJsonBody(r, kFields);
  if (auto* refusal = std::get_if<net::Response>(&parsed)) {
    respond(std::move(*refusal), /*peer_authenticated=*/true);
    return;
  }
  const Json& b = std::get<Json>(parsed);
  // The person's address as the cloudlet saw it: the throttles and the IDS and audit entries
  // are theirs, not the cloudlet's (which relays everyone's logins).
  const std::string& client = b.at("client_address").get_ref<const std::string&>();
  const bool address_ok = !client.empty() && client.size() <= 64 &&
                          std::all_of(client.begin(), client.end(), [](char c) {
                            return std::isalnum(static_cast<unsigned char>(c)) || c == '.' ||
                                   c == ':' || c == '%' || c == '-' || c == '_';
                          });
  if (!address_ok) {
    respond(Refuse(InvalidArgument("client_address must be a network address")),
            /*peer_authenticated=*/true);
    return;
  }
  StartLogin(b, client, /*relayed=*/true, respond);
}

net::Response AccountApi::State::Me(const net::Request& r) {
  auto auth = Authenticate(r);
  if (auto* refusal = std::get_if<net::Response>(&auth)) return std::move(*refusal);
  const auto& a = std::get<accounts::Authenticated>(auth);
  auto account = service.Me(a.principal);
  if (!account) {
    return Refuse(account.error().code() == ErrorCode::kNotFound
                      ? Unauthenticated("session ended: log in again")
                      : account.error());
  }
  Json body = AccountJson(*account);
  body["expires_ms"] = a.claims.expires_ms;
  body["csrf"] = a.claims.csrf;
  body["via_cookie"] = a.principal.via_cookie;
  if (!a.claims.patient_id.empty()) body["patient_id"] = a.claims.patient_id;
  net::Response response = net::Response::Json(body.dump());
  response.headers.emplace_back("Cache-Control", "no-store");
  return response;
}

net::Response AccountApi::State::Logout(const net::Request& r) {
  auto auth = Authenticate(r);
  if (auto* refusal = std::get_if<net::Response>(&auth)) return std::move(*refusal);
  const auto& a = std::get<accounts::Authenticated>(auth);
  if (auto done = service.Logout(a.principal, r.peer_address); !done) return Refuse(done.error());
  net::Response response;
  response.status = 204;
  AddCookies(response, accounts::ClearedSessionCookies(options.secure_cookies));
  return response;
}

net::Response AccountApi::State::ChangePassword(const net::Request& r) {
  static constexpr net::JsonField kFields[] = {{"current_password", net::JsonType::kString},
                                               {"new_password", net::JsonType::kString}};
  auto auth = Authenticate(r);
  if (auto* refusal = std::get_if<net::Response>(&auth)) return std::move(*refusal);
  const auto& a = std::get<accounts::Authenticated>(auth);
  net::JsonBody parsed = net::ParseJsonBody(r, kFields);
  if (auto* refusal = std::get_if<net::Response>(&parsed)) return std::move(*refusal);
  const Json& b = std::get<Json>(parsed);
  if (auto done = service.ChangePassword(a.principal, b.at("current_password").get<std::string>(),
                                         b.at("new_password").get<std::string>(), r.peer_address);
      !done) {
    return Refuse(done.error(),
                  done.error().code() == ErrorCode::kUnauthenticated ? "invalid_credentials" : "");
  }
  net::Response response;
  response.status = 204;
  AddCookies(response, accounts::ClearedSessionCookies(options.secure_cookies));
  return response;
}

net::Response AccountApi::State::Profile(const net::Request& r, bool photo) {
  auto auth = Authenticate(r);
  if (auto* refusal = std::get_if<net::Response>(&auth)) return std::move(*refusal);
  const auto& p = std::get<accounts::Authenticated>(auth).principal;
  const std::string event = photo ? "patient.photo.read" : "patient.profile.read";
  if (!p.is(Role::kPatient)) {
    if (auto a =
            AuditRead(p, event, r.peer_address, audit::Outcome::kMinorFailure, "permission_denied");
        !a) {
      return Refuse(a.error());
    }
    return Refuse(PermissionDenied("only patients have a profile"));
  }
  auto account = service.Me(p);
  if (!account) return Refuse(account.error());
  Result<PatientProfile> profile =
      account->sealed_profile.empty()
          ? Result<PatientProfile>(PatientProfile{})
          : deps.records.OpenPatientProfile(p.patient_id, account->sealed_profile);
  const bool found = profile && (!photo || !profile->photo.empty());
  if (auto a = AuditRead(p, event, r.peer_address,
                         found ? audit::Outcome::kSuccess : audit::Outcome::kMinorFailure,
                         found ? "" : "not_found");
      !a) {
    return Refuse(a.error());
  }
  if (!profile) return Refuse(profile.error());
  if (photo) {
    if (profile->photo.empty()) return Refuse(NotFound("no photo"));
    net::Response response = net::Response::Binary(profile->photo);
    response.content_type = profile->photo_type;
    response.headers.emplace_back("Cache-Control", "no-store");
    response.headers.emplace_back("X-Content-Type-Options", "nosniff");
    return response;
  }
  Json body{{"full_name", profile->full_name},
            {"phone", profile->phone},
            {"address", profile->address},
            {"birth_date", profile->birth_date},
            {"sex", profile->sex},
            {"has_photo", !profile->photo.empty()}};
  net::Response response = net::Response::Json(body.dump());
  response.headers.emplace_back("Cache-Control", "no-store");
  return response;
}

net::Response AccountApi::State::Pending(const net::Request& r) {
  auto auth = Authenticate(r);
  if (auto* refusal = std::get_if<net::Response>(&auth)) return std::move(*refusal);
  const auto& p = std::get<accounts::Authenticated>(auth).principal;
  auto pending = service.ListPending(p, r.peer_address);
  if (!pending) return Refuse(pending.error());
  Json list = Json::array();
  for (const auto& a : *pending) list.push_back(AccountJson(a));
  return net::Response::Json(Json{{"registrations", std::move(list)}}.dump());
}

// The photo of a pending patient registration, for the admin deciding it. Audited as
// patient.photo.read naming the registrant; an unknown, decided, doctor's or photo-less
// registration is the same 404.
net::Response AccountApi::State::RegistrationPhoto(const net::Request& r) {
  auto auth = Authenticate(r);
  if (auto* refusal = std::get_if<net::Response>(&auth)) return std::move(*refusal);
  const auto& p = std::get<accounts::Authenticated>(auth).principal;
  audit::AuditEntry e;
  e.time_ms = wire::NowMs(deps.clock);
  e.event = "patient.photo.read";
  e.action = audit::Action::kRead;
  e.outcome = audit::Outcome::kMinorFailure;
  e.actor_account_id = p.account_id;
  e.actor_role = std::string(accounts::RoleName(p.role));
  e.source_address = r.peer_address;
  e.entity_type = "Patient";
  if (!p.is(Role::kAdmin)) {
    e.detail = "permission_denied";
    if (auto a = deps.audit.Append(e); !a) return Refuse(a.error());
    return Refuse(PermissionDenied("only an admin reviews registrations"));
  }
  auto account = store->GetAccount(r.PathParam("id").value_or(""));
  if (!account) return Refuse(account.error());
  Result<PatientProfile> profile = NotFound("no such registration photo");
  const accounts::Account* a = account->has_value() ? &**account : nullptr;
  if (a != nullptr && a->role == Role::kPatient && a->status == accounts::AccountStatus::kPending &&
      !a->sealed_profile.empty()) {
    profile = deps.records.OpenPatientProfile(a->patient_id, a->sealed_profile);
  }
  const bool found = profile && !profile->photo.empty();
  if (found) {
    e.outcome = audit::Outcome::kSuccess;
    e.patient_id = a->patient_id;
    e.entity_id = a->patient_id;
    e.detail = "registration";
  } else {
    e.detail = "not_found";
  }
  if (auto appended = deps.audit.Append(e); !appended) return Refuse(appended.error());
  if (!profile && profile.error().code() != ErrorCode::kNotFound) return Refuse(profile.error());
  if (!found) return Refuse(NotFound("no such registration photo"));
  net::Response response = net::Response::Binary(profile->photo);
  response.content_type = profile->photo_type;
  response.headers.emplace_back("Cache-Control", "no-store");
  response.headers.emplace_back("X-Content-Type-Options", "nosniff");
  return response;
}

net::Response AccountApi::State::Decide(const net::Request& r, bool approve) {
  static constexpr net::JsonField kFields[] = {{"reason", net::JsonType::kString}};
  auto auth = Authenticate(r);
  if (auto* refusal = std::get_if<net::Response>(&auth)) return std::move(*refusal);
  const auto& p = std::get<accounts::Authenticated>(auth).principal;
  const std::string id(r.PathParam("id").value_or(""));
  Status done;
  if (approve) {
    if (!r.body.empty()) return Refuse(InvalidArgument("an approval has no body"));
    done = service.Approve(p, id, r.peer_address);
  } else {
    net::JsonBody parsed = net::ParseJsonBody(r, kFields);
    if (auto* refusal = std::get_if<net::Response>(&parsed)) return std::move(*refusal);
    done = service.Reject(p, id, std::get<Json>(parsed).at("reason").get<std::string>(),
                          r.peer_address);
  }
  if (!done) return Refuse(done.error());
  return net::Response::Json(
      Json{{"account_id", id}, {"status", approve ? "approved" : "rejected"}}.dump());
}

net::Response AccountApi::State::CreateOperator(const net::Request& r) {
  static constexpr net::JsonField kFields[] = {
      {"email", net::JsonType::kString},
      {"password", net::JsonType::kString},
      {"display_name", net::JsonType::kString},
      {"cloudlet_id", net::JsonType::kString},
  };
  auto auth = Authenticate(r);
  if (auto* refusal = std::get_if<net::Response>(&auth)) return std::move(*refusal);
  const auto& p = std::get<accounts::Authenticated>(auth).principal;
  net::JsonBody parsed = net::ParseJsonBody(r, kFields);
  if (auto* refusal = std::get_if<net::Response>(&parsed)) return std::move(*refusal);
  const Json& b = std::get<Json>(parsed);
  auto created = service.CreateOperator(
      p, {b.at("email").get<std::string>(), b.at("password").get<std::string>()},
      b.at("display_name").get<std::string>(), b.at("cloudlet_id").get<std::string>(),
      r.peer_address);
  if (!created) return Refuse(created.error());
  return net::Response::Json(AccountJson(*created).dump(), 201);
}

net::Response AccountApi::State::Revocations(const net::Request& r) {
  std::uint64_t since = 0;
  if (const auto text = r.QueryParam("since")) {
    const auto* end = text->data() + text->size();
    const auto parsed = std::from_chars(text->data(), end, since);
    if (text->empty() || parsed.ec != std::errc() || parsed.ptr != end) {
      return Refuse(InvalidArgument("since must be a non-negative integer"));
    }
  }
  auto page = service.Revocations(since);
  if (!page) return Refuse(page.error());
  net::Response response = net::Response::Json(accounts::SignRevocationPage(*page, *page_signer));
  response.headers.emplace_back("Cache-Control", "no-store");
  return response;
}

AccountApi::AccountApi(std::unique_ptr<State> state) : state_(std::move(state)) {}
AccountApi::~AccountApi() = default;

Result<std::unique_ptr<AccountApi>> AccountApi::Open(AccountApiOptions options,
                                                     AccountApiDeps deps) {
  MEDMESH_ASSIGN_OR_RETURN(auto store,
                           OpenAccountStore(options.data_dir, options.store, options.sqlite_vfs));
  return std::unique_ptr<AccountApi>(
      new AccountApi(std::make_unique<State>(std::move(options), deps, std::move(store))));
}

void AccountApi::AddRoutes(net::Router& router) {
  State* s = state_.get();
  auto route = [s](net::Response (State::*method)(const net::Request&)) {
    return [s, method](const net::Request& r) -> Result<net::Response> { return (s->*method)(r); };
  };
  router.Post("/api/v1/accounts/patients", route(&State::RegisterPatient),
              {.body_limit_bytes = kRegistrationBody});
  router.Post("/api/v1/accounts/doctors", route(&State::RegisterDoctor),
              {.body_limit_bytes = kSmallBody});
  router.AddAsync(
      net::Method::kPost, "/api/v1/session",
      [s](const net::Request& r, const net::Responder& respond) { s->Login(r, respond); },
      {.body_limit_bytes = kSmallBody});
  router.AddAsync(
      net::Method::kPost, "/api/v1/cloudlets/{cloudlet_id}/sessions",
      [s](const net::Request& r, const net::Responder& respond) { s->RelayedLogin(r, respond); },
      {.body_limit_bytes = kSmallBody});
  router.Get("/api/v1/session", route(&State::Me));
  router.Delete("/api/v1/session", route(&State::Logout), {.body_limit_bytes = 0});
  router.Post("/api/v1/account/password", route(&State::ChangePassword),
              {.body_limit_bytes = kSmallBody});
  router.Get("/api/v1/account/profile",
             [s](const net::Request& r) -> Result<net::Response> { return s->Profile(r, false); });
  router.Get("/api/v1/account/photo",
             [s](const net::Request& r) -> Result<net::Response> { return s->Profile(r, true); });
  router.Get("/api/v1/admin/registrations", route(&State::Pending));
  router.Get("/api/v1/admin/registrations/{id}/photo", route(&State::RegistrationPhoto));
  router.Post("/api/v1/admin/registrations/{id}/approval",
              [s](const net::Request& r) -> Result<net::Response> { return s->Decide(r, true); },
              {.body_limit_bytes = 0});
  router.Post("/api/v1/admin/registrations/{id}/rejection",
              [s](const net::Request& r) -> Result<net::Response> { return s->Decide(r, false); },
              {.body_limit_bytes = kSmallBody});
  router.Post("/api/v1/admin/operators", route(&State::CreateOperator),
              {.body_limit_bytes = kSmallBody});
  router.Get("/api/v1/sessions/revocations", route(&State::Revocations));
}

accounts::AccountService& AccountApi::service() { return state_->service; }
const accounts::Authenticator& AccountApi::authenticator() const { return state_->authenticator; }
Result<accounts::Principal> AccountApi::PrincipalOf(const net::Request& r) {
  auto authenticated = state_->authenticator.Authenticate(r);
  if (!authenticated) {
    state_->RecordAuthFailure(r, authenticated.error());
    return authenticated.error();
  }
  r.MarkPeerAuthenticated();
  return std::move(authenticated->principal);
}
accounts::AccountStore& AccountApi::store() { return *state_->store; }
accounts::PasswordPool& AccountApi::password_pool() { return state_->password_pool; }

}  // namespace medmesh::cloud

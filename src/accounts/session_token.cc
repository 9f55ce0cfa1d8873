#include "accounts/session_token.h"

#include <array>
#include <nlohmann/json.hpp>

#include "accounts/encoding.h"
#include "net/json_body.h"

namespace medmesh::accounts {
namespace {

using Json = nlohmann::json;

constexpr std::string_view kSignatureLabel = "MedMesh session token v1\n";
constexpr std::size_t kCsrfBytes = 16;

Bytes SignedMessage(std::string_view signed_text) {
  std::string message(kSignatureLabel);
  message += signed_text;
  return Bytes(message.begin(), message.end());
}

Error Invalid() { return Unauthenticated("invalid session token"); }

// The shape rules shared by issuing and verifying.
Status CheckClaims(const TokenClaims& c) {
  if (!IsIdWithPrefix(c.session_id, "ses_") || !IsIdWithPrefix(c.account_id, "acc_")) {
    return InvalidArgument("bad session or account id");
  }
  if ((c.role == Role::kPatient) != !c.patient_id.empty() ||
      (c.role == Role::kOperator) != !c.cloudlet_id.empty()) {
    return InvalidArgument("role ids do not match the role");
  }
  if (c.patient_id.size() > 128 || c.cloudlet_id.size() > 128) {
    return InvalidArgument("id too long");
  }
  if (c.issuer.empty() || c.issuer.size() > 128) return InvalidArgument("bad issuer");
  auto csrf = Base64UrlDecode(c.csrf);
  if (!csrf || csrf->size() != kCsrfBytes) return InvalidArgument("bad csrf value");
  const auto lifetime_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(kMaxTokenLifetime).count();
  if (c.issued_ms <= 0 || c.expires_ms <= c.issued_ms || c.expires_ms - c.issued_ms > lifetime_ms) {
    return InvalidArgument("bad token lifetime");
  }
  return OkStatus();
}

Json ClaimsJson(const TokenClaims& c) {
  Json j{{"sid", c.session_id}, {"sub", c.account_id}, {"role", std::string(RoleName(c.role))},
         {"iat", c.issued_ms},  {"exp", c.expires_ms}, {"iss", c.issuer},
         {"csrf", c.csrf}};
  if (!c.patient_id.empty()) j["pid"] = c.patient_id;
  if (!c.cloudlet_id.empty()) j["cid"] = c.cloudlet_id;
  return j;
}

constexpr net::JsonField kClaimFields[] = {
    {"sid", net::JsonType::kString},        {"sub", net::JsonType::kString},
    {"role", net::JsonType::kString},       {"iat", net::JsonType::kInteger},
    {"exp", net::JsonType::kInteger},       {"iss", net::JsonType::kString},
    {"csrf", net::JsonType::kString},       {"pid", net::JsonType::kString, false},
    {"cid", net::JsonType::kString, false},
};

}  // namespace

Principal TokenClaims::ToPrincipal(bool via_cookie) const {
  return Principal{account_id, role, patient_id, cloudlet_id, session_id, expires_ms, via_cookie};
}

TokenIssuer::TokenIssuer(std::unique_ptr<crypto::Signer> signer, std::string issuer)
    : signer_(std::move(signer)), issuer_(std::move(issuer)) {}

Result<std::string> TokenIssuer::Issue(TokenClaims claims) const {
  claims.issuer = issuer_;
  MEDMESH_RETURN_IF_ERROR(CheckClaims(claims));
  std::string text(kTokenPrefix);
  text += Base64UrlEncode(AsBytes(ClaimsJson(claims).dump()));
  const Bytes signature = signer_->Sign(SignedMessage(text));
  text += '.';
  text += Base64UrlEncode(signature);
  return text;
}

TokenVerifier::TokenVerifier(const wire::VerifiedCertificate& cloud)
    : verifier_(crypto::NewEd25519Verifier(cloud.certificate().signing_key)),
      issuer_(cloud.certificate().subject_id) {}

Result<TokenClaims> TokenVerifier::Verify(std::string_view token, std::int64_t now_ms) const {
  if (token.size() > kMaxTokenBytes || token.substr(0, kTokenPrefix.size()) != kTokenPrefix) {
    return Invalid();
  }
  const std::size_t dot = token.find('.', kTokenPrefix.size());
  if (dot == std::string_view::npos || token.find('.', dot + 1) != std::string_view::npos) {
    return Invalid();
  }
  const std::string_view signed_text = token.substr(0, dot);
  auto signature = Base64UrlDecode(token.substr(dot + 1));
  if (!signature || signature->size() != crypto::Signer::kSignatureBytes) return Invalid();
  if (!verifier_->Verify(SignedMessage(signed_text), *signature)) return Invalid();

  // Authentic from here on; still parsed strictly, as a bug in the issuer must not widen what
  // a token can say.
  auto payload = Base64UrlDecode(signed_text.substr(kTokenPrefix.size()));
  if (!payload) return Invalid();
  auto json = net::ParseStrictJson(AsStringView(*payload));
  if (!json || !net::CheckJsonFields(*json, kClaimFields)) return Invalid();
  if (json->dump() != AsStringView(*payload)) return Invalid();  // canonical only
  TokenClaims c;
  const auto role = ParseRole(json->at("role").get<std::string>());
  if (!role) return Invalid();
  c.role = *role;
  c.session_id = json->at("sid").get<std::string>();
  c.account_id = json->at("sub").get<std::string>();
  c.issued_ms = json->at("iat").get<std::int64_t>();
  c.expires_ms = json->at("exp").get<std::int64_t>();
  c.issuer = json->at("iss").get<std::string>();
  c.csrf = json->at("csrf").get<std::string>();
  if (json->contains("pid")) c.patient_id = json->at("pid").get<std::string>();
  if (json->contains("cid")) c.cloudlet_id = json->at("cid").get<std::string>();
  if (!CheckClaims(c) || c.issuer != issuer_) return Invalid();
  const auto skew_ms = std::chrono::duration_cast<std::chrono::milliseconds>(kClockSkew).count();
  if (c.issued_ms > now_ms + skew_ms) return Invalid();
  if (now_ms >= c.expires_ms) return Unauthenticated("session expired");
  return c;
}

}  // namespace medmesh::accounts

#include "accounts/revocation.h"

#include <nlohmann/json.hpp>

#include "accounts/encoding.h"
#include "accounts/session_token.h"
#include "net/json_body.h"
#include "wire/model.h"

namespace medmesh::accounts {
namespace {

using Json = nlohmann::json;

constexpr std::string_view kPageLabel = "MedMesh revocations v1\n";

Bytes PageMessage(std::string_view payload) {
  std::string message(kPageLabel);
  message += payload;
  return Bytes(message.begin(), message.end());
}

Error Invalid() { return Unauthenticated("invalid revocation page"); }

constexpr net::JsonField kBodyFields[] = {{"payload", net::JsonType::kString},
                                          {"signature", net::JsonType::kString}};
constexpr net::JsonField kPageFields[] = {{"since", net::JsonType::kInteger},
                                          {"head", net::JsonType::kInteger},
                                          {"issued_ms", net::JsonType::kInteger},
                                          {"revocations", net::JsonType::kArray}};
constexpr net::JsonField kEntryFields[] = {{"seq", net::JsonType::kInteger},
                                           {"sid", net::JsonType::kString},
                                           {"exp", net::JsonType::kInteger}};

}  // namespace

std::string SignRevocationPage(const SignedRevocationPage& page, const crypto::Signer& signer) {
  Json entries = Json::array();
  for (const Revocation& r : page.revocations) {
    entries.push_back(Json{{"seq", r.seq}, {"sid", r.session_id}, {"exp", r.expires_ms}});
  }
  const std::string payload = Json{
      {"since", page.since},
      {"head", page.head},
      {"issued_ms", page.issued_ms},
      {"revocations",
       std::move(entries)}}.dump();
  return Json{{"payload", Base64UrlEncode(AsBytes(payload))},
              {"signature", Base64UrlEncode(signer.Sign(PageMessage(payload)))}}
      .dump();
}

Result<SignedRevocationPage> VerifyRevocationPage(std::string_view body,
                                                  const wire::VerifiedCertificate& cloud,
                                                  std::int64_t now_ms,
                                                  std::chrono::milliseconds max_age) {
  auto outer = net::ParseStrictJson(body);
  if (!outer || !net::CheckJsonFields(*outer, kBodyFields)) return Invalid();
  auto payload = Base64UrlDecode(outer->at("payload").get<std::string>());
  auto signature = Base64UrlDecode(outer->at("signature").get<std::string>());
  if (!payload || !signature) return Invalid();
  const auto verifier = crypto::NewEd25519Verifier(cloud.certificate().signing_key);
  if (!verifier->Verify(PageMessage(AsStringView(*payload)), *signature)) return Invalid();
  auto json = net::ParseStrictJson(AsStringView(*payload));
  if (!json || !net::CheckJsonFields(*json, kPageFields)) return Invalid();
  SignedRevocationPage page;
  for (const char* name : {"since", "head", "issued_ms"}) {
    if (!json->at(name).is_number_unsigned()) return Invalid();
  }
  page.since = json->at("since").get<std::uint64_t>();
  page.head = json->at("head").get<std::uint64_t>();
  page.issued_ms = json->at("issued_ms").get<std::int64_t>();
  const auto skew = std::chrono::duration_cast<std::chrono::milliseconds>(kClockSkew).count();
  if (page.issued_ms > now_ms + skew || now_ms - page.issued_ms > max_age.count()) {
    return Invalid();
  }
  const Json& entries = json->at("revocations");
  if (entries.size() > kMaxRevocationsPerPage) return Invalid();
  std::uint64_t last = page.since;
  for (const Json& e : entries) {
    if (!net::CheckJsonFields(e, kEntryFields) || !e.at("seq").is_number_unsigned()) {
      return Invalid();
    }
    Revocation r{e.at("seq").get<std::uint64_t>(), e.at("sid").get<std::string>(),
                 e.at("exp").get<std::int64_t>()};
    // Ascending, within (since, head], well-formed ids.
    if (r.seq <= last || r.seq > page.head || !IsIdWithPrefix(r.session_id, "ses_")) {
      return Invalid();
    }
    last = r.seq;
    page.revocations.push_back(std::move(r));
  }
  if (page.head < page.since) return Invalid();
  return page;
}

RevocationSet::RevocationSet(const Clock& clock, std::chrono::milliseconds max_staleness)
    : clock_(clock), max_staleness_(max_staleness) {}

std::uint64_t RevocationSet::since() const {
  std::lock_guard lock(mu_);
  return since_;
}

Status RevocationSet::Apply(const SignedRevocationPage& page) {
  std::lock_guard lock(mu_);
  if (page.since != since_) return FailedPrecondition("revocation page for another position");
  for (const Revocation& r : page.revocations) revoked_[r.session_id] = r.expires_ms;
  if (page.revocations.size() < kMaxRevocationsPerPage) {
    since_ = page.head;
  } else {
    since_ = page.revocations.back().seq;
  }
  // Only a page that reached the head proves the set is current.
  if (since_ == page.head) fresh_as_of_ms_ = page.issued_ms;
  return OkStatus();
}

void RevocationSet::Prune(std::int64_t now_ms) {
  std::lock_guard lock(mu_);
  std::erase_if(revoked_, [&](const auto& entry) { return entry.second <= now_ms; });
}

std::size_t RevocationSet::size() const {
  std::lock_guard lock(mu_);
  return revoked_.size();
}

Result<bool> RevocationSet::IsRevoked(std::string_view session_id) const {
  const std::int64_t now_ms = wire::ToUnixMs(clock_.Now());
  std::lock_guard lock(mu_);
  if (!fresh_as_of_ms_ || now_ms - *fresh_as_of_ms_ > max_staleness_.count()) {
    return Unavailable("the revocation list is out of date");
  }
  return revoked_.contains(session_id);
}

}  // namespace medmesh::accounts

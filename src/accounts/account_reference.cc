#include "accounts/account_reference.h"

#include <algorithm>

#include "accounts/encoding.h"
#include "core/bytes.h"
#include "core/check.h"
#include "net/error_mapping.h"

namespace medmesh::accounts {

crypto::HashKey DeriveAccountReferenceKey(const SecretBytes& node_secret) {
  MEDMESH_CHECK(node_secret.size() >= 16,
                "an account reference key needs a secret of 16 bytes or more");
  auto key = crypto::HashKey::Derive(node_secret, "MedMesh account references v1",
                                     "ids account reference key");
  MEDMESH_CHECK(key.has_value(), "deriving the account reference key failed");
  return std::move(*key);
}

std::string AccountReference(const crypto::HashKey& key, std::string_view login) {
  const Result<std::string> normalised = NormaliseLogin(login);
  const std::string_view hashed = normalised ? std::string_view(*normalised) : login;
  const crypto::Digest256 digest =
      crypto::KeyedBlake2b256Parts(key, {AsBytes("account reference"), AsBytes(hashed)});
  return std::string(kAccountReferencePrefix) + HexEncode(ByteView(digest).first(16));
}

net::Response AccountRefusalResponse(const AccountVerdict& verdict) {
  MEDMESH_CHECK(verdict.kind != AccountVerdict::Kind::kPass, "a passing verdict is no refusal");
  const std::string reason =
      verdict.kind == AccountVerdict::Kind::kBlocked ? "account_blocked" : "account_throttled";
  net::Response response = net::RejectionResponse(
      net::Rejection(ResourceExhausted("too many failed logins on this account: try again later"),
                     false, std::max(verdict.retry_after, std::chrono::seconds(1)), reason));
  net::AddReason(response, reason);
  return response;
}

}  // namespace medmesh::accounts

// Account references: the pseudonym under which a node's intrusion detection sees a login
// (store::IdsEvent::account_ref, the per-account and credential-stuffing counts of the
// credentials detector, and ids::Decision scopes of kind "account"; docs/ids.md "Accounts").
//
// AccountReference(key, login) is "acct_" and 32 hex characters (128 bits) of a keyed
// BLAKE2b-256 of the normalised login (accounts::NormaliseLogin; a login that does not
// normalise is hashed as typed, so junk logins are counted too) under a key derived from a
// node secret. Without the key a reference neither reveals the login nor lets a reader confirm
// a guessed one; the same login gives the same reference on one node, whether or not an account
// has it (a decision on a reference does not tell whether the account exists). Each node has
// its own key, so references of two nodes cannot be linked: an account decision is enforced by
// the node that made it (WARNING: a peer's account decision adopted through the mesh matches no
// login here; see docs/ids_mesh.md).
// Thread safety: the functions are reentrant; AccountGate implementations must be thread-safe.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>

#include "core/secret_bytes.h"
#include "crypto/keyed_hash.h"
#include "net/http_message.h"

namespace medmesh::accounts {

inline constexpr std::string_view kAccountReferencePrefix = "acct_";

// The account reference key of a node, derived (HKDF-SHA256, its own purpose) from one of its
// secrets (the cloud's index key, a cloudlet's KEK). `node_secret` must be at least 16 bytes
// (MEDMESH_CHECK: a shorter one is a programming error).
crypto::HashKey DeriveAccountReferenceKey(const SecretBytes& node_secret);

// See the top of this file.
std::string AccountReference(const crypto::HashKey& key, std::string_view login);

// What the node's intrusion detection decided about an account reference, asked before any
// Argon2id work (ids::AccountGate answers it from the node's decisions).
struct AccountVerdict {
  enum class Kind {
    kPass,       // no decision in force (or the reference is allowlisted): go on
    kThrottled,  // a throttle decision, and this account's allowance is used up
    kBlocked,    // a block decision
  };
  Kind kind = Kind::kPass;
  std::chrono::seconds retry_after{0};  // kThrottled, kBlocked: when to try again (>= 1 s)
  std::string decision_id;              // the decision that refused (for the IDS event)
};
using AccountGate = std::function<AccountVerdict(std::string_view account_ref)>;

// The answer to a login the IDS refused (kThrottled or kBlocked; MEDMESH_CHECK otherwise), the
// same at the cloud and a cloudlet: 429, the MedMesh error body (resource_exhausted, "too many
// failed logins on this account: try again later", retry_after_s) with "reason":
// "account_blocked" or "account_throttled", and Retry-After. It says nothing about whether an
// account has the login.
net::Response AccountRefusalResponse(const AccountVerdict& verdict);

// How a login path turns a login into a reference and asks about it. `gate` may be empty
// (references only, nothing enforced).
struct AccountGuard {
  crypto::HashKey reference_key;
  AccountGate gate;
};

}  // namespace medmesh::accounts

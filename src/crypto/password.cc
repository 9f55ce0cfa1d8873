#include "crypto/password.h"

#include <sodium.h>

#include <array>
#include <cstring>

#include "core/check.h"
#include "crypto/kdf.h"

namespace medmesh::crypto {

static_assert(kArgon2idInteractiveOps == crypto_pwhash_argon2id_OPSLIMIT_INTERACTIVE);
static_assert(kArgon2idInteractiveMemBytes == crypto_pwhash_argon2id_MEMLIMIT_INTERACTIVE);

class PasswordHasher::Slot {
 public:
  explicit Slot(const PasswordHasher& hasher) : hasher_(hasher) {}
  ~Slot() { hasher_.Release(); }
  Slot(const Slot&) = delete;
  Slot& operator=(const Slot&) = delete;

 private:
  const PasswordHasher& hasher_;
};

PasswordHasher::PasswordHasher(PasswordHasherOptions options) : options_(options) {
  MEDMESH_CHECK(sodium_init() >= 0, "libsodium initialisation failed");
  MEDMESH_CHECK(options_.ops_limit >= crypto_pwhash_argon2id_OPSLIMIT_MIN &&
                    options_.ops_limit <= crypto_pwhash_argon2id_OPSLIMIT_MAX,
                "Argon2id ops limit out of range");
  MEDMESH_CHECK(options_.mem_limit_bytes >= crypto_pwhash_argon2id_MEMLIMIT_MIN &&
                    options_.mem_limit_bytes <= crypto_pwhash_argon2id_MEMLIMIT_MAX,
                "Argon2id memory limit out of range");
  MEDMESH_CHECK(options_.max_concurrent >= 1, "max_concurrent must be >= 1");
  MEDMESH_CHECK(options_.max_wait.count() >= 0, "max_wait must not be negative");
}

Status PasswordHasher::Acquire() const {
  std::unique_lock lock(mu_);
  if (!slot_freed_.wait_for(lock, options_.max_wait,
                            [&] { return in_use_ < options_.max_concurrent; })) {
    return ResourceExhausted("too many password hashes in progress");
  }
  ++in_use_;
  return OkStatus();
}

void PasswordHasher::Release() const {
  {
    std::lock_guard lock(mu_);
    --in_use_;
  }
  slot_freed_.notify_one();
}

Result<std::string> PasswordHasher::Hash(std::string_view password) const {
  if (password.size() > kMaxPasswordBytes) return InvalidArgument("password is too long");
  MEDMESH_RETURN_IF_ERROR(Acquire());
  Slot slot(*this);
  std::array<char, crypto_pwhash_argon2id_STRBYTES> out{};
  if (crypto_pwhash_argon2id_str(out.data(), password.data(), password.size(), options_.ops_limit,
                                 options_.mem_limit_bytes) != 0) {
    return ResourceExhausted("not enough memory for Argon2id");
  }
  return std::string(out.data());
}

Status PasswordHasher::Verify(std::string_view encoded_hash, std::string_view password) const {
  // libsodium wants a NUL-terminated string in a buffer of crypto_pwhash_STRBYTES.
  std::array<char, crypto_pwhash_argon2id_STRBYTES> hash{};
  if (encoded_hash.size() >= hash.size() || password.size() > kMaxPasswordBytes) {
    return AuthenticationFailed();
  }
  std::memcpy(hash.data(), encoded_hash.data(), encoded_hash.size());
  MEDMESH_RETURN_IF_ERROR(Acquire());
  Slot slot(*this);
  if (crypto_pwhash_argon2id_str_verify(hash.data(), password.data(), password.size()) != 0) {
    return AuthenticationFailed();
  }
  return OkStatus();
}

bool PasswordHasher::NeedsRehash(std::string_view encoded_hash) const {
  std::array<char, crypto_pwhash_argon2id_STRBYTES> hash{};
  if (encoded_hash.size() >= hash.size()) return true;
  std::memcpy(hash.data(), encoded_hash.data(), encoded_hash.size());
  // 1: other parameters; -1: not an Argon2id hash. Both mean "hash again".
  return crypto_pwhash_argon2id_str_needs_rehash(hash.data(), options_.ops_limit,
                                                 options_.mem_limit_bytes) != 0;
}

}  // namespace medmesh::crypto

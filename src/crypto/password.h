// Password hashing with Argon2id (libsodium crypto_pwhash_argon2id_str), behind a gate that
// bounds how many hashes run at once: each hash takes 64 MiB and ~50 ms of a core with the
// default (INTERACTIVE) limits, so unbounded concurrency would let a burst of logins exhaust
// memory and CPU.
//
// Hashes are self-describing PHC strings ("$argon2id$v=19$m=65536,t=2,p=1$salt$hash") with a
// fresh random salt (from libsodium's CSPRNG), so parameters can be raised later: check
// NeedsRehash() after a successful Verify() and store a new hash.
// WARNING: the caller owns the password buffer and should wipe it.
// Thread safety: const and thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>

#include "core/status.h"

namespace medmesh::crypto {

// libsodium's INTERACTIVE limits for Argon2id (checked against the library in password.cc).
inline constexpr std::uint64_t kArgon2idInteractiveOps = 2;
inline constexpr std::size_t kArgon2idInteractiveMemBytes = std::size_t{64} << 20;
inline constexpr std::size_t kMaxPasswordBytes = 4096;

struct PasswordHasherOptions {
  std::uint64_t ops_limit = kArgon2idInteractiveOps;
  std::size_t mem_limit_bytes = kArgon2idInteractiveMemBytes;
  // At most this many Hash/Verify calls compute at once; the others wait.
  std::size_t max_concurrent = 2;
  // How long a call waits for a free slot before failing with kResourceExhausted; zero means
  // fail at once when every slot is busy.
  std::chrono::milliseconds max_wait = std::chrono::milliseconds(500);
};

class PasswordHasher {
 public:
  // The options must be within libsodium's Argon2id limits and max_concurrent >= 1
  // (programming error otherwise).
  explicit PasswordHasher(PasswordHasherOptions options = {});
  PasswordHasher(const PasswordHasher&) = delete;
  PasswordHasher& operator=(const PasswordHasher&) = delete;

  // Returns the encoded hash. kInvalidArgument if the password is longer than
  // kMaxPasswordBytes; kResourceExhausted if no slot frees up within max_wait or memory runs
  // out.
  Result<std::string> Hash(std::string_view password) const;

  // OK if `password` matches `encoded_hash`. AuthenticationFailed() for a wrong password, a
  // malformed or non-Argon2id hash, or an over-long password; kResourceExhausted as for Hash().
  Status Verify(std::string_view encoded_hash, std::string_view password) const;

  // True if `encoded_hash` was not made by Argon2id with exactly this hasher's limits (also for
  // a malformed hash), i.e. the caller should hash the password again after verifying it.
  bool NeedsRehash(std::string_view encoded_hash) const;

 private:
  // Holds one slot of the gate for its lifetime.
  class Slot;
  Status Acquire() const;
  void Release() const;

  const PasswordHasherOptions options_;
  mutable std::mutex mu_;
  mutable std::condition_variable slot_freed_;
  mutable std::size_t in_use_ = 0;  // guarded by mu_
};

}  // namespace medmesh::crypto

// C++ API of our NTRU KEM (NIST round 3). The same code as include/medmesh/ntru.h.
//
// Keys are typed and validated on construction; a Kem is bound to its parameter set and is
// const and thread-safe. Randomness comes from the injected medmesh::Random (the OS CSPRNG in
// production, deterministic bytes in tests).
//
// WARNING: a KEM alone gives no authentication of the sender; use HybridSeal plus a signature.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

#include "core/bytes.h"
#include "core/random.h"
#include "core/secret_bytes.h"
#include "core/status.h"

namespace medmesh::crypto {

enum class NtruParamSet : std::uint8_t {
  kHps2048509 = 1,
  kHps2048677 = 2,  // the default
  kHps4096821 = 3,
  kHrss701 = 4,
};
inline constexpr NtruParamSet kDefaultNtruParamSet = NtruParamSet::kHps2048677;

struct NtruParamInfo {
  NtruParamSet set;
  std::string_view name;  // "ntruhps2048677"
  std::size_t public_key_bytes;
  std::size_t secret_key_bytes;
  std::size_t ciphertext_bytes;
  std::size_t shared_secret_bytes;  // 32
  std::size_t seed_bytes;           // coins for (f,g) in keygen and (r,m) in encaps
};

const NtruParamInfo& Info(NtruParamSet set);
// Parses a set name ("ntruhps2048677") or a wire id (1..4); nullopt if unknown.
std::optional<NtruParamSet> NtruParamSetFromName(std::string_view name);
std::optional<NtruParamSet> NtruParamSetFromId(std::uint8_t id);

class NtruPublicKey {
 public:
  // kInvalidArgument if the length is wrong or the encoding is not canonical (unused bits set).
  static Result<NtruPublicKey> FromBytes(NtruParamSet set, ByteView bytes);
  NtruParamSet set() const { return set_; }
  ByteView bytes() const { return bytes_; }

 private:
  NtruPublicKey(NtruParamSet set, Bytes bytes) : set_(set), bytes_(std::move(bytes)) {}
  NtruParamSet set_;
  Bytes bytes_;
};

class NtruSecretKey {
 public:
  // kInvalidArgument if the length is wrong. The message never includes key bytes.
  static Result<NtruSecretKey> FromBytes(NtruParamSet set, ByteView bytes);
  NtruParamSet set() const { return set_; }
  const SecretBytes& bytes() const { return bytes_; }

 private:
  NtruSecretKey(NtruParamSet set, SecretBytes bytes) : set_(set), bytes_(std::move(bytes)) {}
  NtruParamSet set_;
  SecretBytes bytes_;
};

struct NtruKeyPair {
  NtruPublicKey public_key;
  NtruSecretKey secret_key;
};

struct KemEncapsulation {
  Bytes ciphertext;
  SecretBytes shared_secret;
};

// A key-encapsulation mechanism for one parameter set.
class Kem {
 public:
  virtual ~Kem() = default;
  virtual NtruParamSet set() const = 0;
  virtual NtruKeyPair GenerateKeyPair(Random& random) const = 0;
  // kInvalidArgument if the key belongs to another parameter set.
  virtual Result<KemEncapsulation> Encapsulate(const NtruPublicKey& pk, Random& random) const = 0;
  // Never fails for a tampered ciphertext (implicit rejection returns a pseudorandom key);
  // kInvalidArgument only for a wrong length or a key of another set.
  virtual Result<SecretBytes> Decapsulate(const NtruSecretKey& sk, ByteView ciphertext) const = 0;
};

std::unique_ptr<Kem> NewNtruKem(NtruParamSet set = kDefaultNtruParamSet);

}  // namespace medmesh::crypto

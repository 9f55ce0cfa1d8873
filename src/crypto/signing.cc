#include "crypto/signing.h"

#include <sodium.h>

#include "core/check.h"

namespace medmesh::crypto {

static_assert(SigningPublicKey::kBytes == crypto_sign_PUBLICKEYBYTES);
static_assert(SigningSecretKey::kSeedBytes == crypto_sign_SEEDBYTES);
static_assert(Signer::kSignatureBytes == crypto_sign_BYTES);

namespace {

constexpr std::string_view kFingerprintDomain = "MedMesh ed25519 fingerprint v1";

// The expanded 64-byte libsodium secret key (seed || public key), wiped on destruction.
SecretBytes ExpandSeed(const SecretBytes& seed, Bytes* public_key) {
  MEDMESH_CHECK(sodium_init() >= 0, "libsodium initialisation failed");
  SecretBytes expanded(crypto_sign_SECRETKEYBYTES);
  Bytes pk(crypto_sign_PUBLICKEYBYTES);
  crypto_sign_seed_keypair(pk.data(), expanded.mutable_bytes().data(), seed.reveal().data());
  if (public_key) *public_key = std::move(pk);
  return expanded;
}

class Ed25519Signer final : public Signer {
 public:
  explicit Ed25519Signer(SigningSecretKey key)
      : key_(std::move(key)), expanded_(ExpandSeed(key_.seed(), nullptr)) {}

  Bytes Sign(ByteView message) const override {
    Bytes signature(crypto_sign_BYTES);
    crypto_sign_detached(signature.data(), nullptr, message.data(), message.size(),
                         expanded_.reveal().data());
    return signature;
  }
  const SigningPublicKey& public_key() const override { return key_.public_key(); }

 private:
  SigningSecretKey key_;
  SecretBytes expanded_;
};

class Ed25519Verifier final : public Verifier {
 public:
  explicit Ed25519Verifier(SigningPublicKey key) : key_(std::move(key)) {}

  Status Verify(ByteView message, ByteView signature) const override {
    if (signature.size() != crypto_sign_BYTES ||
        crypto_sign_verify_detached(signature.data(), message.data(), message.size(),
                                    key_.bytes().data()) != 0) {
      return AuthenticationFailed();
    }
    return OkStatus();
  }
  const SigningPublicKey& public_key() const override { return key_; }

 private:
  SigningPublicKey key_;
};

}  // namespace

Result<SigningPublicKey> SigningPublicKey::FromBytes(ByteView bytes) {
  if (bytes.size() != kBytes) return InvalidArgument("Ed25519 public key must be 32 bytes");
  MEDMESH_CHECK(sodium_init() >= 0, "libsodium initialisation failed");
  if (crypto_core_ed25519_is_valid_point(bytes.data()) != 1) {
    return InvalidArgument("Ed25519 public key is not a valid point");
  }
  return SigningPublicKey(Bytes(bytes.begin(), bytes.end()));
}

KeyId SigningPublicKey::Fingerprint() const { return ComputeKeyId(kFingerprintDomain, bytes_); }

SigningSecretKey SigningSecretKey::Generate(Random& random) {
  SecretBytes seed(kSeedBytes);
  random.Fill(seed.mutable_bytes());
  auto key = FromSeed(seed.reveal());
  MEDMESH_CHECK(key.has_value(), "a fresh Ed25519 seed must be usable");
  return std::move(key).value();
}

Result<SigningSecretKey> SigningSecretKey::FromSeed(ByteView seed) {
  if (seed.size() != kSeedBytes) return InvalidArgument("Ed25519 seed must be 32 bytes");
  SecretBytes owned(seed);
  Bytes pk;
  ExpandSeed(owned, &pk);
  // A public key derived from any seed is a valid point, so this cannot fail.
  auto public_key = SigningPublicKey::FromBytes(pk);
  MEDMESH_CHECK(public_key.has_value(), "derived Ed25519 public key must be valid");
  return SigningSecretKey(std::move(owned), std::move(public_key).value());
}

std::unique_ptr<Signer> NewEd25519Signer(SigningSecretKey key) {
  return std::make_unique<Ed25519Signer>(std::move(key));
}

std::unique_ptr<Verifier> NewEd25519Verifier(SigningPublicKey key) {
  return std::make_unique<Ed25519Verifier>(std::move(key));
}

}  // namespace medmesh::crypto

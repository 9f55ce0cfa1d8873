#include "crypto/kdf.h"

#include <openssl/core_names.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <sodium.h>

#include <memory>

#include "core/check.h"

namespace medmesh::crypto {

Error AuthenticationFailed() { return Unauthenticated(std::string(kAuthenticationFailedMessage)); }

bool IsAuthenticationFailure(const Error& error) {
  return error.code() == ErrorCode::kUnauthenticated &&
         error.message() == kAuthenticationFailedMessage;
}

namespace {

struct KdfDeleter {
  void operator()(EVP_KDF* k) const { EVP_KDF_free(k); }
  void operator()(EVP_KDF_CTX* c) const { EVP_KDF_CTX_free(c); }
};

// OSSL_PARAM wants non-const pointers for octet strings it only reads.
void* Mutable(ByteView b) { return const_cast<std::uint8_t*>(b.data()); }

}  // namespace

Result<SecretBytes> HkdfSha256(ByteView ikm, ByteView salt, ByteView info, std::size_t out_bytes) {
  MEDMESH_CHECK(out_bytes > 0 && out_bytes <= std::size_t{255} * 32,
                "HKDF-SHA256 output length out of range");
  // Fetching per call (about 6 us with the derive, measured) keeps this function free of shared
  // state; it runs once per sealed box or session, next to a KEM that costs ~100 us.
  std::unique_ptr<EVP_KDF, KdfDeleter> kdf(EVP_KDF_fetch(nullptr, "HKDF", nullptr));
  if (!kdf) return Internal("HKDF is not available in OpenSSL");
  std::unique_ptr<EVP_KDF_CTX, KdfDeleter> ctx(EVP_KDF_CTX_new(kdf.get()));
  if (!ctx) return Internal("HKDF context allocation failed");

  char digest[] = "SHA256";
  // An empty octet string must still point somewhere valid.
  static constexpr std::uint8_t kEmpty[1] = {0};
  auto non_empty = [](ByteView b) { return b.empty() ? ByteView(kEmpty, 0) : b; };
  ByteView salt_v = non_empty(salt);
  ByteView info_v = non_empty(info);
  ByteView ikm_v = non_empty(ikm);
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, Mutable(ikm_v), ikm_v.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, Mutable(salt_v), salt_v.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, Mutable(info_v), info_v.size()),
      OSSL_PARAM_construct_end(),
  };
  SecretBytes out(out_bytes);
  if (EVP_KDF_derive(ctx.get(), out.mutable_bytes().data(), out_bytes, params) != 1) {
    return Internal("HKDF-SHA256 derivation failed");
  }
  return out;
}

KeyId ComputeKeyId(std::string_view domain, ByteView data) {
  MEDMESH_CHECK(domain.size() >= crypto_generichash_KEYBYTES_MIN &&
                    domain.size() <= crypto_generichash_KEYBYTES_MAX,
                "key id domain label length out of range");
  KeyId id{};
  crypto_generichash(id.data(), id.size(), data.data(), data.size(),
                     reinterpret_cast<const unsigned char*>(domain.data()), domain.size());
  return id;
}

std::string KeyIdHex(const KeyId& id) { return HexEncode(id); }

void XChaCha20Poly1305Seal(const SecretBytes& key, ByteView nonce, ByteView associated_data,
                           ByteView plaintext, Bytes& out) {
  MEDMESH_CHECK(key.size() == kAeadKeyBytes, "AEAD key must be 32 bytes");
  MEDMESH_CHECK(nonce.size() == kAeadNonceBytes, "AEAD nonce must be 24 bytes");
  std::size_t start = out.size();
  out.resize(start + plaintext.size() + kAeadTagBytes);
  unsigned long long written = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(
      out.data() + start, &written, plaintext.data(), plaintext.size(), associated_data.data(),
      associated_data.size(), nullptr, nonce.data(), key.reveal().data());
  MEDMESH_CHECK(written == plaintext.size() + kAeadTagBytes, "AEAD output length mismatch");
}

Status XChaCha20Poly1305Open(const SecretBytes& key, ByteView nonce, ByteView associated_data,
                             ByteView ciphertext, MutableByteView out) {
  bool shape_ok = key.size() == kAeadKeyBytes && nonce.size() == kAeadNonceBytes &&
                  ciphertext.size() >= kAeadTagBytes &&
                  out.size() == ciphertext.size() - kAeadTagBytes;
  if (shape_ok) {
    unsigned long long written = 0;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(out.data(), &written, nullptr, ciphertext.data(),
                                                   ciphertext.size(), associated_data.data(),
                                                   associated_data.size(), nonce.data(),
                                                   key.reveal().data()) == 0 &&
        written == out.size()) {
      return OkStatus();
    }
  }
  SecureWipe(out.data(), out.size());
  return AuthenticationFailed();
}

Bytes Concat(ByteView a, ByteView b) {
  Bytes out;
  out.reserve(a.size() + b.size());
  AppendBytes(out, a);
  AppendBytes(out, b);
  return out;
}

}  // namespace medmesh::crypto

// Envelope encryption at rest. Each node has a key-encryption key (KEK); data is encrypted
// under data keys, one per (patient, record part), each generated at random and stored only
// wrapped (encrypted) by the KEK in a WrappedKeyStore. Byte layouts: docs/wire_format.md,
// "Wrapped data key" and "Data ciphertext"; the key hierarchy: docs/key_hierarchy.md.
//
//  - Every ciphertext carries a version and its data key id; every wrapped key carries a
//    version, the KEK id and the data key id, so both levels can rotate.
//  - KEK rotation re-wraps the data keys and never touches data ciphertexts. Old KEKs keep
//    unwrapping until retired, so reads and writes continue during a rotation.
//  - Destroying a data key (crypto-shredding) makes every ciphertext under it unreadable.
//  - Data keys are unwrapped per call and never cached, so destruction takes effect at once.
//    The exception is a DataKeyDecryptor (OpenDataKey): one unwrap for the many ciphertexts of
//    one read (a query over a patient's rows); it lives only as long as that read.
//
// WARNING: crypto-shredding only works if no copy of the wrapped key survives elsewhere:
// backups of the wrapped-key store must expire, or a restored wrapped key revives the data.
// WARNING: the KEK protects against theft of the stores, not against an attacker who can read
// this process's memory or the KEK file.
// Thread safety: EnvelopeAead and InMemoryWrappedKeyStore are thread-safe; a WrappedKeyStore
// implementation must be too.
#pragma once

#include <compare>
#include <cstddef>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

#include "core/bytes.h"
#include "core/random.h"
#include "core/secret_bytes.h"
#include "core/status.h"
#include "crypto/kdf.h"

namespace medmesh::crypto {

class KeyEncryptionKey {
 public:
  static constexpr std::size_t kBytes = 32;
  static KeyEncryptionKey Generate(Random& random);
  // kInvalidArgument if not 32 bytes.
  static Result<KeyEncryptionKey> FromBytes(ByteView bytes);
  KeyEncryptionKey Clone() const { return KeyEncryptionKey(key_.Clone()); }

  const SecretBytes& bytes() const { return key_; }
  // Keyed BLAKE2b ("MedMesh KEK id v1") of the key; safe to log and to store.
  const KeyId& key_id() const { return key_id_; }

 private:
  explicit KeyEncryptionKey(SecretBytes key);
  SecretBytes key_;
  KeyId key_id_;
};

// Names one data key. Both fields are 1..255 bytes.
struct DataKeyContext {
  std::string patient_id;
  std::string part;  // e.g. "ei", "qi", "mi"
  // NOLINTNEXTLINE(modernize-use-nullptr): clang-tidy 14 misreads a defaulted <=>
  auto operator<=>(const DataKeyContext&) const = default;
};
inline constexpr std::size_t kMaxDataKeyContextFieldBytes = 255;

// Where wrapped data keys live (SQLite in production, memory in tests). Values are opaque
// bytes to the store.
class WrappedKeyStore {
 public:
  virtual ~WrappedKeyStore() = default;
  // kAlreadyExists if the context already has a wrapped key.
  virtual Status Insert(const DataKeyContext& context, Bytes wrapped) = 0;
  // kNotFound if the context has no wrapped key.
  virtual Result<Bytes> Get(const DataKeyContext& context) const = 0;
  // Replaces the wrapped key only if it still equals `expected` (compare-and-swap):
  // kNotFound if gone, kFailedPrecondition if it changed meanwhile.
  virtual Status Replace(const DataKeyContext& context, ByteView expected, Bytes wrapped) = 0;
  // kNotFound if the context has no wrapped key.
  virtual Status Delete(const DataKeyContext& context) = 0;
  virtual Result<std::vector<DataKeyContext>> List() const = 0;
};

class InMemoryWrappedKeyStore final : public WrappedKeyStore {
 public:
  Status Insert(const DataKeyContext& context, Bytes wrapped) override;
  Result<Bytes> Get(const DataKeyContext& context) const override;
  Status Replace(const DataKeyContext& context, ByteView expected, Bytes wrapped) override;
  Status Delete(const DataKeyContext& context) override;
  Result<std::vector<DataKeyContext>> List() const override;

 private:
  mutable std::mutex mu_;
  std::map<DataKeyContext, Bytes> keys_;  // guarded by mu_
};

struct KekRotationReport {
  std::size_t rewrapped = 0;        // moved to the new KEK
  std::size_t already_current = 0;  // were under the new KEK already
  std::size_t unreadable = 0;       // failed to unwrap (corrupt, or under an unknown KEK)
};

// One unwrapped data key, bound to its context, for decrypting many ciphertexts with one unwrap
// (EnvelopeAead::OpenDataKey). Move-only; the key is wiped when the object is destroyed.
// WARNING: a DestroyDataKey() issued while the object lives does not reach it: hold it for one
// read, never across requests.
// Thread safety: Decrypt is const and thread-safe.
class DataKeyDecryptor {
 public:
  // As EnvelopeAead::Decrypt, for this object's context.
  Result<Bytes> Decrypt(ByteView ciphertext, ByteView associated_data) const;

 private:
  friend class EnvelopeAead;
  DataKeyDecryptor(Bytes encoded_context, KeyId data_key_id, SecretBytes data_key)
      : encoded_context_(std::move(encoded_context)),
        data_key_id_(data_key_id),
        data_key_(std::move(data_key)) {}
  Bytes encoded_context_;
  KeyId data_key_id_;
  SecretBytes data_key_;
};

class EnvelopeAead {
 public:
  // `kek` wraps new data keys. `store` and `random` must outlive this object.
  EnvelopeAead(KeyEncryptionKey kek, WrappedKeyStore& store, Random& random);

  // Adds an older KEK that still unwraps (e.g. at start-up while a rotation is unfinished).
  void AddOldKek(KeyEncryptionKey kek);

  // Encrypts under the data key of `context`, creating and storing the key on first use.
  // kInvalidArgument for a bad context or a plaintext over kMaxPlaintextBytes;
  // AuthenticationFailed() if the stored wrapped key fails to unwrap; store errors as is.
  Result<Bytes> Encrypt(const DataKeyContext& context, ByteView plaintext,
                        ByteView associated_data) const;

  // Encrypt() of each plaintext[i] with associated_data[i] (same sizes, else
  // kInvalidArgument) under one fetch and unwrap of the data key: for writers of many small
  // ciphertexts at once (the cloud's reading roll-ups). Errors as Encrypt(); nothing is
  // returned unless every one is encrypted.
  Result<std::vector<Bytes>> EncryptAll(const DataKeyContext& context,
                                        const std::vector<Bytes>& plaintexts,
                                        const std::vector<Bytes>& associated_data) const;

  // kNotFound if the context has no data key (never created, or destroyed);
  // AuthenticationFailed() for a malformed, tampered or foreign ciphertext, wrong associated
  // data, or a wrapped key that fails to unwrap; kInvalidArgument for a bad context.
  Result<Bytes> Decrypt(const DataKeyContext& context, ByteView ciphertext,
                        ByteView associated_data) const;

  // Unwraps the data key of `context` once, for several Decrypt calls (see DataKeyDecryptor).
  // kNotFound if the context has no data key; AuthenticationFailed() if it fails to unwrap;
  // kInvalidArgument for a bad context; store errors as is.
  Result<DataKeyDecryptor> OpenDataKey(const DataKeyContext& context) const;

  // Crypto-shredding: deletes the wrapped data key. kNotFound if there is none.
  Status DestroyDataKey(const DataKeyContext& context);

  // Makes `new_kek` current and re-wraps every stored data key under it (data ciphertexts are
  // untouched). The previous KEKs keep unwrapping until RetireKek(). Store errors abort the
  // pass and are returned; running it again resumes.
  Result<KekRotationReport> RotateKek(KeyEncryptionKey new_kek);

  // Forgets an old KEK. kInvalidArgument for the current KEK, kNotFound for an unknown id,
  // kFailedPrecondition while any wrapped key still uses it.
  Status RetireKek(const KeyId& kek_id);

  KeyId current_kek_id() const;
  // Every KEK this object can unwrap with: the current one and the older ones not yet retired.
  std::vector<KeyId> kek_ids() const;

 private:
  Result<SecretBytes> Unwrap(const DataKeyContext& context, ByteView wrapped,
                             KeyId* data_key_id) const;
  // Unwrap of a key just read from the store, read again once if it fails and the store now
  // holds other bytes (a concurrent rotation re-wrapped it).
  Result<SecretBytes> UnwrapStored(const DataKeyContext& context, ByteView wrapped,
                                   KeyId* data_key_id) const;
  Bytes Wrap(const KeyEncryptionKey& kek, const DataKeyContext& context, const KeyId& data_key_id,
             const SecretBytes& data_key) const;
  Result<Bytes> GetOrCreateWrapped(const DataKeyContext& context) const;

  WrappedKeyStore& store_;
  Random& random_;
  mutable std::shared_mutex mu_;
  std::map<KeyId, KeyEncryptionKey> keks_;  // guarded by mu_
  KeyId current_;                           // guarded by mu_
};

// The KEK id a wrapped data key names, without unwrapping it. kInvalidArgument if malformed.
Result<KeyId> WrappedKeyKekId(ByteView wrapped);

}  // namespace medmesh::crypto

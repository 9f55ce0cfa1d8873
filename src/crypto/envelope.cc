#include "crypto/envelope.h"

#include <sodium.h>

#include <algorithm>
#include <array>
#include <string_view>

#include "core/check.h"

namespace medmesh::crypto {

namespace {

constexpr std::string_view kKekIdDomain = "MedMesh KEK id v1";
constexpr std::uint8_t kVersion = 1;
constexpr std::uint8_t kAlgorithmXChaCha20Poly1305 = 1;
constexpr std::size_t kDataKeyBytes = kAeadKeyBytes;

// Wrapped data key: magic | version | algorithm | KEK id | data key id | nonce | sealed key.
constexpr std::array<std::uint8_t, 4> kWrappedMagic = {'M', 'M', 'W', 'K'};
constexpr std::size_t kWrappedHeaderBytes = 4 + 2 + kKeyIdBytes + kKeyIdBytes + kAeadNonceBytes;
constexpr std::size_t kWrappedBytes = kWrappedHeaderBytes + kDataKeyBytes + kAeadTagBytes;

// Data ciphertext: magic | version | algorithm | data key id | nonce | ciphertext || tag.
constexpr std::array<std::uint8_t, 4> kDataMagic = {'M', 'M', 'E', 'D'};
constexpr std::size_t kDataHeaderBytes = 4 + 2 + kKeyIdBytes + kAeadNonceBytes;

Status ValidateContext(const DataKeyContext& c) {
  if (c.patient_id.empty() || c.patient_id.size() > kMaxDataKeyContextFieldBytes ||
      c.part.empty() || c.part.size() > kMaxDataKeyContextFieldBytes) {
    return InvalidArgument("data key context fields must be 1..255 bytes");
  }
  return OkStatus();
}

// u8 length | patient id | u8 length | part: self-delimiting, so caller data may follow.
Bytes EncodeContext(const DataKeyContext& c) {
  Bytes out;
  AppendU8(out, static_cast<std::uint8_t>(c.patient_id.size()));
  AppendBytes(out, AsBytes(c.patient_id));
  AppendU8(out, static_cast<std::uint8_t>(c.part.size()));
  AppendBytes(out, AsBytes(c.part));
  return out;
}

bool HasPrefix(ByteView data, ByteView magic, std::uint8_t algorithm) {
  return data.size() >= magic.size() + 2 && std::equal(magic.begin(), magic.end(), data.begin()) &&
         data[magic.size()] == kVersion && data[magic.size() + 1] == algorithm;
}

KeyId ReadKeyId(ByteView data, std::size_t offset) {
  KeyId id{};
  std::copy_n(data.begin() + static_cast<std::ptrdiff_t>(offset), kKeyIdBytes, id.begin());
  return id;
}

}  // namespace

// --- KeyEncryptionKey -----------------------------------------------------------------------

KeyEncryptionKey::KeyEncryptionKey(SecretBytes key) : key_(std::move(key)) {
  key_id_ = ComputeKeyId(kKekIdDomain, key_.reveal());
}

KeyEncryptionKey KeyEncryptionKey::Generate(Random& random) {
  SecretBytes key(kBytes);
  random.Fill(key.mutable_bytes());
  return KeyEncryptionKey(std::move(key));
}

Result<KeyEncryptionKey> KeyEncryptionKey::FromBytes(ByteView bytes) {
  if (bytes.size() != kBytes) return InvalidArgument("key-encryption key must be 32 bytes");
  return KeyEncryptionKey(SecretBytes(bytes));
}

Result<KeyId> WrappedKeyKekId(ByteView wrapped) {
  if (wrapped.size() != kWrappedBytes ||
      !HasPrefix(wrapped, kWrappedMagic, kAlgorithmXChaCha20Poly1305)) {
    return InvalidArgument("malformed wrapped data key");
  }
  return ReadKeyId(wrapped, 6);
}

// --- InMemoryWrappedKeyStore ----------------------------------------------------------------

Status InMemoryWrappedKeyStore::Insert(const DataKeyContext& context, Bytes wrapped) {
  std::lock_guard lock(mu_);
  if (!keys_.emplace(context, std::move(wrapped)).second) {
    return AlreadyExists("data key already exists");
  }
  return OkStatus();
}

Result<Bytes> InMemoryWrappedKeyStore::Get(const DataKeyContext& context) const {
  std::lock_guard lock(mu_);
  auto it = keys_.find(context);
  if (it == keys_.end()) return NotFound("no data key for this context");
  return it->second;
}

Status InMemoryWrappedKeyStore::Replace(const DataKeyContext& context, ByteView expected,
                                        Bytes wrapped) {
  std::lock_guard lock(mu_);
  auto it = keys_.find(context);
  if (it == keys_.end()) return NotFound("no data key for this context");
  if (!std::equal(it->second.begin(), it->second.end(), expected.begin(), expected.end())) {
    return FailedPrecondition("wrapped data key changed concurrently");
  }
  it->second = std::move(wrapped);
  return OkStatus();
}

Status InMemoryWrappedKeyStore::Delete(const DataKeyContext& context) {
  std::lock_guard lock(mu_);
  if (keys_.erase(context) == 0) return NotFound("no data key for this context");
  return OkStatus();
}

Result<std::vector<DataKeyContext>> InMemoryWrappedKeyStore::List() const {
  std::lock_guard lock(mu_);
  std::vector<DataKeyContext> out;
  out.reserve(keys_.size());
  for (const auto& [context, wrapped] : keys_) out.push_back(context);
  return out;
}

// --- EnvelopeAead -----------------------------------------------------------------------------

EnvelopeAead::EnvelopeAead(KeyEncryptionKey kek, WrappedKeyStore& store, Random& random)
    : store_(store), random_(random), current_(kek.key_id()) {
  MEDMESH_CHECK(sodium_init() >= 0, "libsodium initialisation failed");
  keks_.emplace(kek.key_id(), std::move(kek));
}

void EnvelopeAead::AddOldKek(KeyEncryptionKey kek) {
  std::unique_lock lock(mu_);
  keks_.emplace(kek.key_id(), std::move(kek));
}

KeyId EnvelopeAead::current_kek_id() const {
  std::shared_lock lock(mu_);
  return current_;
}

std::vector<KeyId> EnvelopeAead::kek_ids() const {
  std::shared_lock lock(mu_);
  std::vector<KeyId> ids;
  ids.reserve(keks_.size());
  for (const auto& [id, kek] : keks_) ids.push_back(id);
  return ids;
}

Bytes EnvelopeAead::Wrap(const KeyEncryptionKey& kek, const DataKeyContext& context,
                         const KeyId& data_key_id, const SecretBytes& data_key) const {
  Bytes wrapped;
  wrapped.reserve(kWrappedBytes);
  AppendBytes(wrapped, kWrappedMagic);
  AppendU8(wrapped, kVersion);
  AppendU8(wrapped, kAlgorithmXChaCha20Poly1305);
  AppendBytes(wrapped, kek.key_id());
  AppendBytes(wrapped, data_key_id);
  std::array<std::uint8_t, kAeadNonceBytes> nonce;
  random_.Fill(nonce);
  AppendBytes(wrapped, nonce);
  const Bytes ad = Concat(wrapped, EncodeContext(context));
  XChaCha20Poly1305Seal(kek.bytes(), nonce, ad, data_key.reveal(), wrapped);
  return wrapped;
}

Result<SecretBytes> EnvelopeAead::Unwrap(const DataKeyContext& context, ByteView wrapped,
                                         KeyId* data_key_id) const {
  auto kek_id = WrappedKeyKekId(wrapped);
  if (!kek_id) return AuthenticationFailed();
  const ByteView header = wrapped.first(kWrappedHeaderBytes);
  const Bytes ad = Concat(header, EncodeContext(context));
  SecretBytes data_key(kDataKeyBytes);
  {
    std::shared_lock lock(mu_);
    auto kek = keks_.find(*kek_id);
    if (kek == keks_.end()) return AuthenticationFailed();
    MEDMESH_RETURN_IF_ERROR(XChaCha20Poly1305Open(kek->second.bytes(), header.last(kAeadNonceBytes),
                                                  ad, wrapped.subspan(kWrappedHeaderBytes),
                                                  data_key.mutable_bytes()));
  }
  if (data_key_id) *data_key_id = ReadKeyId(wrapped, 6 + kKeyIdBytes);
  return data_key;
}

Result<SecretBytes> EnvelopeAead::UnwrapStored(const DataKeyContext& context, ByteView wrapped,
                                               KeyId* data_key_id) const {
  auto data_key = Unwrap(context, wrapped, data_key_id);
  if (data_key) return data_key;
  // A rotation may have re-wrapped the key and retired its old KEK between our read and the
  // unwrap: read it once more. A key that really fails stays the same bytes and fails again.
  auto again = store_.Get(context);
  if (!again || std::equal(again->begin(), again->end(), wrapped.begin(), wrapped.end())) {
    return data_key;
  }
  return Unwrap(context, *again, data_key_id);
}

Result<Bytes> EnvelopeAead::GetOrCreateWrapped(const DataKeyContext& context) const {
  auto existing = store_.Get(context);
  if (existing || existing.error().code() != ErrorCode::kNotFound) return existing;

  SecretBytes data_key(kDataKeyBytes);
  random_.Fill(data_key.mutable_bytes());
  KeyId data_key_id;
  random_.Fill(data_key_id);
  Status inserted = OkStatus();
  Bytes wrapped;
  {
    // Held across the insert: RotateKek switches the current KEK under the exclusive lock, so
    // every key wrapped under the previous KEK is in the store before its List() runs, and
    // every key inserted after that names the new KEK. Nothing escapes the re-wrap.
    std::shared_lock lock(mu_);
    wrapped = Wrap(keks_.at(current_), context, data_key_id, data_key);
    inserted = store_.Insert(context, wrapped);
  }
  if (inserted) return wrapped;
  // Another writer created the key first: use theirs.
  if (inserted.error().code() == ErrorCode::kAlreadyExists) return store_.Get(context);
  return inserted.error();
}

Result<Bytes> EnvelopeAead::Encrypt(const DataKeyContext& context, ByteView plaintext,
                                    ByteView associated_data) const {
  MEDMESH_RETURN_IF_ERROR(ValidateContext(context));
  if (plaintext.size() > kMaxPlaintextBytes) {
    return InvalidArgument("plaintext is larger than the envelope limit");
  }
  MEDMESH_ASSIGN_OR_RETURN(Bytes wrapped, GetOrCreateWrapped(context));
  KeyId data_key_id;
  MEDMESH_ASSIGN_OR_RETURN(SecretBytes data_key, UnwrapStored(context, wrapped, &data_key_id));

  Bytes out;
  out.reserve(kDataHeaderBytes + plaintext.size() + kAeadTagBytes);
  AppendBytes(out, kDataMagic);
  AppendU8(out, kVersion);
  AppendU8(out, kAlgorithmXChaCha20Poly1305);
  AppendBytes(out, data_key_id);
  std::array<std::uint8_t, kAeadNonceBytes> nonce;
  random_.Fill(nonce);
  AppendBytes(out, nonce);
  const Bytes ad = Concat(Concat(out, EncodeContext(context)), associated_data);
  XChaCha20Poly1305Seal(data_key, nonce, ad, plaintext, out);
  return out;
}

Result<std::vector<Bytes>> EnvelopeAead::EncryptAll(
    const DataKeyContext& context, const std::vector<Bytes>& plaintexts,
    const std::vector<Bytes>& associated_data) const {
  MEDMESH_RETURN_IF_ERROR(ValidateContext(context));
  if (plaintexts.size() != associated_data.size()) {
    return InvalidArgument("one associated data per plaintext");
  }
  std::vector<Bytes> out;
  if (plaintexts.empty()) return out;
  for (const Bytes& p : plaintexts) {
    if (p.size() > kMaxPlaintextBytes) {
      return InvalidArgument("plaintext is larger than the envelope limit");
    }
  }
  MEDMESH_ASSIGN_OR_RETURN(Bytes wrapped, GetOrCreateWrapped(context));
  KeyId data_key_id;
  MEDMESH_ASSIGN_OR_RETURN(SecretBytes data_key, UnwrapStored(context, wrapped, &data_key_id));
  const Bytes encoded_context = EncodeContext(context);
  out.reserve(plaintexts.size());
  for (std::size_t i = 0; i < plaintexts.size(); ++i) {
    Bytes ct;
    ct.reserve(kDataHeaderBytes + plaintexts[i].size() + kAeadTagBytes);
    AppendBytes(ct, kDataMagic);
    AppendU8(ct, kVersion);
    AppendU8(ct, kAlgorithmXChaCha20Poly1305);
    AppendBytes(ct, data_key_id);
    std::array<std::uint8_t, kAeadNonceBytes> nonce;
    random_.Fill(nonce);
    AppendBytes(ct, nonce);
    const Bytes ad = Concat(Concat(ct, encoded_context), associated_data[i]);
    XChaCha20Poly1305Seal(data_key, nonce, ad, plaintexts[i], ct);
    out.push_back(std::move(ct));
  }
  return out;
}

namespace {

bool IsWellFormedDataCiphertext(ByteView ciphertext) {
  return ciphertext.size() >= kDataHeaderBytes + kAeadTagBytes &&
         ciphertext.size() <= kDataHeaderBytes + kMaxPlaintextBytes + kAeadTagBytes &&
         HasPrefix(ciphertext, kDataMagic, kAlgorithmXChaCha20Poly1305);
}

}  // namespace

Result<Bytes> EnvelopeAead::Decrypt(const DataKeyContext& context, ByteView ciphertext,
                                    ByteView associated_data) const {
  MEDMESH_RETURN_IF_ERROR(ValidateContext(context));
  // Checked before the key is fetched: a malformed ciphertext costs no store read or unwrap.
  if (!IsWellFormedDataCiphertext(ciphertext)) return AuthenticationFailed();
  MEDMESH_ASSIGN_OR_RETURN(DataKeyDecryptor key, OpenDataKey(context));
  return key.Decrypt(ciphertext, associated_data);
}

Result<DataKeyDecryptor> EnvelopeAead::OpenDataKey(const DataKeyContext& context) const {
  MEDMESH_RETURN_IF_ERROR(ValidateContext(context));
  MEDMESH_ASSIGN_OR_RETURN(Bytes wrapped, store_.Get(context));
  KeyId data_key_id;
  MEDMESH_ASSIGN_OR_RETURN(SecretBytes data_key, UnwrapStored(context, wrapped, &data_key_id));
  return DataKeyDecryptor(EncodeContext(context), data_key_id, std::move(data_key));
}

Result<Bytes> DataKeyDecryptor::Decrypt(ByteView ciphertext, ByteView associated_data) const {
  if (!IsWellFormedDataCiphertext(ciphertext)) return AuthenticationFailed();
  if (ReadKeyId(ciphertext, 6) != data_key_id_) return AuthenticationFailed();
  const ByteView header = ciphertext.first(kDataHeaderBytes);
  const Bytes ad = Concat(Concat(header, encoded_context_), associated_data);
  const ByteView body = ciphertext.subspan(kDataHeaderBytes);
  Bytes plaintext(body.size() - kAeadTagBytes);
  MEDMESH_RETURN_IF_ERROR(
      XChaCha20Poly1305Open(data_key_, header.last(kAeadNonceBytes), ad, body, plaintext));
  return plaintext;
}

Status EnvelopeAead::DestroyDataKey(const DataKeyContext& context) {
  MEDMESH_RETURN_IF_ERROR(ValidateContext(context));
  return store_.Delete(context);
}

Result<KekRotationReport> EnvelopeAead::RotateKek(KeyEncryptionKey new_kek) {
  const KeyId new_id = new_kek.key_id();
  {
    std::unique_lock lock(mu_);
    keks_.emplace(new_id, std::move(new_kek));
    current_ = new_id;
  }
  KekRotationReport report;
  MEDMESH_ASSIGN_OR_RETURN(std::vector<DataKeyContext> contexts, store_.List());
  for (const DataKeyContext& context : contexts) {
    // A concurrent writer can only destroy or re-create the key; retry on a lost race.
    for (int attempt = 0;; ++attempt) {
      auto wrapped = store_.Get(context);
      if (!wrapped && wrapped.error().code() == ErrorCode::kNotFound) break;  // destroyed
      if (!wrapped) return wrapped.error();
      auto kek_id = WrappedKeyKekId(*wrapped);
      if (kek_id && *kek_id == new_id) {
        ++report.already_current;
        break;
      }
      KeyId data_key_id;
      auto data_key = Unwrap(context, *wrapped, &data_key_id);
      if (!data_key) {
        ++report.unreadable;
        break;
      }
      Bytes rewrapped;
      {
        std::shared_lock lock(mu_);
        rewrapped = Wrap(keks_.at(new_id), context, data_key_id, *data_key);
      }
      Status replaced = store_.Replace(context, *wrapped, std::move(rewrapped));
      if (replaced) {
        ++report.rewrapped;
        break;
      }
      if (replaced.error().code() == ErrorCode::kNotFound) break;
      if (replaced.error().code() != ErrorCode::kFailedPrecondition || attempt >= 3) {
        return replaced.error();
      }
    }
  }
  return report;
}

Status EnvelopeAead::RetireKek(const KeyId& kek_id) {
  {
    std::shared_lock lock(mu_);
    if (kek_id == current_) return InvalidArgument("cannot retire the current KEK");
    if (!keks_.contains(kek_id)) return NotFound("unknown KEK id");
  }
  MEDMESH_ASSIGN_OR_RETURN(std::vector<DataKeyContext> contexts, store_.List());
  std::size_t still_used = 0;
  for (const DataKeyContext& context : contexts) {
    auto wrapped = store_.Get(context);
    if (!wrapped && wrapped.error().code() == ErrorCode::kNotFound) continue;  // destroyed
    if (!wrapped) return wrapped.error();
    auto id = WrappedKeyKekId(*wrapped);
    if (id && *id == kek_id) ++still_used;
  }
  if (still_used > 0) {
    return FailedPrecondition(std::to_string(still_used) +
                              " data keys are still wrapped by this KEK; rotate first");
  }
  // New wraps only ever use the current KEK, so nothing can start using this one now.
  std::unique_lock lock(mu_);
  keks_.erase(kek_id);
  return OkStatus();
}

}  // namespace medmesh::crypto

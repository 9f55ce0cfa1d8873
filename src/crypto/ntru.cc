#include "crypto/ntru.h"

#include <array>

#include "medmesh/ntru.h"

namespace medmesh::crypto {
namespace {

struct SetEntry {
  NtruParamInfo info;
  int (*keypair_derand)(std::uint8_t*, std::uint8_t*, const std::uint8_t*, const std::uint8_t*);
  int (*enc_derand)(std::uint8_t*, std::uint8_t*, const std::uint8_t*, const std::uint8_t*);
  int (*dec)(std::uint8_t*, const std::uint8_t*, const std::uint8_t*);
};

#define MEDMESH_SET_ENTRY(SET, S, U)                                                 \
  SetEntry {                                                                         \
    {SET,                                                                            \
     #S,                                                                             \
     MEDMESH_##U##_PUBLICKEYBYTES,                                                   \
     MEDMESH_##U##_SECRETKEYBYTES,                                                   \
     MEDMESH_##U##_CIPHERTEXTBYTES,                                                  \
     MEDMESH_##U##_BYTES,                                                            \
     MEDMESH_##U##_SEEDBYTES},                                                       \
        &medmesh_##S##_keypair_derand, &medmesh_##S##_enc_derand, &medmesh_##S##_dec \
  }

const std::array<SetEntry, 4> kSets = {
    MEDMESH_SET_ENTRY(NtruParamSet::kHps2048509, ntruhps2048509, NTRUHPS2048509),
    MEDMESH_SET_ENTRY(NtruParamSet::kHps2048677, ntruhps2048677, NTRUHPS2048677),
    MEDMESH_SET_ENTRY(NtruParamSet::kHps4096821, ntruhps4096821, NTRUHPS4096821),
    MEDMESH_SET_ENTRY(NtruParamSet::kHrss701, ntruhrss701, NTRUHRSS701),
};
#undef MEDMESH_SET_ENTRY

const SetEntry& Entry(NtruParamSet set) {
  const auto id = static_cast<std::size_t>(set);
  MEDMESH_CHECK(id >= 1 && id <= kSets.size(), "unknown NTRU parameter set");
  return kSets[id - 1];
}

// Number of high bits of the last packed byte that a canonical encoding leaves zero.
int UnusedTopBits(const NtruParamInfo& info) {
  const int log_q = info.set == NtruParamSet::kHps4096821 ? 12
                    : info.set == NtruParamSet::kHrss701  ? 13
                                                          : 11;
  const int n_minus_1 = static_cast<int>(info.public_key_bytes * 8) / log_q;
  return static_cast<int>(info.public_key_bytes * 8) - n_minus_1 * log_q;
}

class NtruKem final : public Kem {
 public:
  explicit NtruKem(NtruParamSet set) : entry_(Entry(set)) {}
  NtruParamSet set() const override { return entry_.info.set; }

  NtruKeyPair GenerateKeyPair(Random& random) const override {
    const auto& info = entry_.info;
    SecretBytes coins(info.seed_bytes + 32);
    random.Fill(coins.mutable_bytes());
    Bytes pk(info.public_key_bytes);
    SecretBytes sk(info.secret_key_bytes);
    entry_.keypair_derand(pk.data(), sk.mutable_bytes().data(), coins.reveal().data(),
                          coins.reveal().data() + info.seed_bytes);
    auto public_key = NtruPublicKey::FromBytes(info.set, pk);
    auto secret_key = NtruSecretKey::FromBytes(info.set, sk.reveal());
    MEDMESH_CHECK(public_key && secret_key, "NTRU keygen produced an invalid key");
    return {std::move(public_key).value(), std::move(secret_key).value()};
  }

  Result<KemEncapsulation> Encapsulate(const NtruPublicKey& pk, Random& random) const override {
    const auto& info = entry_.info;
    if (pk.set() != info.set)
      return InvalidArgument("NTRU public key is for another parameter set");
    SecretBytes coins(info.seed_bytes);
    random.Fill(coins.mutable_bytes());
    KemEncapsulation out{Bytes(info.ciphertext_bytes), SecretBytes(info.shared_secret_bytes)};
    entry_.enc_derand(out.ciphertext.data(), out.shared_secret.mutable_bytes().data(),
                      pk.bytes().data(), coins.reveal().data());
    return out;
  }

  Result<SecretBytes> Decapsulate(const NtruSecretKey& sk, ByteView ciphertext) const override {
    const auto& info = entry_.info;
    if (sk.set() != info.set)
      return InvalidArgument("NTRU secret key is for another parameter set");
    if (ciphertext.size() != info.ciphertext_bytes)
      return InvalidArgument("NTRU ciphertext has the wrong length");
    SecretBytes ss(info.shared_secret_bytes);
    entry_.dec(ss.mutable_bytes().data(), ciphertext.data(), sk.bytes().reveal().data());
    return ss;
  }

 private:
  const SetEntry& entry_;
};

}  // namespace

const NtruParamInfo& Info(NtruParamSet set) { return Entry(set).info; }

std::optional<NtruParamSet> NtruParamSetFromName(std::string_view name) {
  for (const auto& e : kSets)
    if (e.info.name == name) return e.info.set;
  return std::nullopt;
}

std::optional<NtruParamSet> NtruParamSetFromId(std::uint8_t id) {
  if (id < 1 || id > kSets.size()) return std::nullopt;
  return kSets[id - 1].info.set;
}

Result<NtruPublicKey> NtruPublicKey::FromBytes(NtruParamSet set, ByteView bytes) {
  if (!NtruParamSetFromId(static_cast<std::uint8_t>(set)))
    return InvalidArgument("unknown NTRU parameter set");
  const auto& info = Info(set);
  if (bytes.size() != info.public_key_bytes)
    return InvalidArgument("NTRU public key has the wrong length");
  const int unused = UnusedTopBits(info);
  if (unused > 0 && (bytes.back() >> (8 - unused)) != 0)
    return InvalidArgument("NTRU public key is not canonically encoded");
  return NtruPublicKey(set, Bytes(bytes.begin(), bytes.end()));
}

Result<NtruSecretKey> NtruSecretKey::FromBytes(NtruParamSet set, ByteView bytes) {
  if (!NtruParamSetFromId(static_cast<std::uint8_t>(set)))
    return InvalidArgument("unknown NTRU parameter set");
  if (bytes.size() != Info(set).secret_key_bytes)
    return InvalidArgument("NTRU secret key has the wrong length");
  return NtruSecretKey(set, SecretBytes(bytes));
}

std::unique_ptr<Kem> NewNtruKem(NtruParamSet set) { return std::make_unique<NtruKem>(set); }

}  // namespace medmesh::crypto

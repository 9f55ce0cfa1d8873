#include "crypto/hybrid_seal.h"

#include <sodium.h>

#include <algorithm>
#include <array>
#include <string_view>

#include "core/check.h"

namespace medmesh::crypto {

static_assert(kX25519Bytes == crypto_scalarmult_BYTES);
static_assert(kX25519Bytes == crypto_scalarmult_SCALARBYTES);

namespace {

constexpr std::array<std::uint8_t, 4> kMagic = {'M', 'M', 'H', 'B'};
constexpr std::uint8_t kVersion = 1;
constexpr std::string_view kKeyIdDomain = "MedMesh hybrid key id v1";
constexpr std::string_view kKdfSalt = "MedMesh hybrid sealed box v1";
// magic | version | algorithm | set | key id
constexpr std::size_t kPrefixBytes = kMagic.size() + 3 + kKeyIdBytes;

void InitSodium() { MEDMESH_CHECK(sodium_init() >= 0, "libsodium initialisation failed"); }

// Fixed coins for the pairwise consistency check in HybridPrivateKey::FromBytes: the check
// only needs some valid encapsulation, not a secret one.
class FixedCoins final : public Random {
 public:
  void Fill(MutableByteView out) override {
    static constexpr unsigned char kSeed[randombytes_SEEDBYTES] = {'p', 'a', 'i', 'r',
                                                                   'w', 'i', 's', 'e'};
    randombytes_buf_deterministic(out.data(), out.size(), kSeed);
  }
};

Result<NtruParamSet> ReadSetId(ByteReader& reader) {
  MEDMESH_ASSIGN_OR_RETURN(std::uint8_t id, reader.ReadU8());
  auto set = NtruParamSetFromId(id);
  if (!set) return InvalidArgument("unknown NTRU parameter set id");
  return *set;
}

// Writes the header up to and including the key id.
void AppendPrefix(Bytes& out, NtruParamSet set, const KeyId& key_id) {
  AppendBytes(out, kMagic);
  AppendU8(out, kVersion);
  AppendU8(out, kHybridAlgorithmId);
  AppendU8(out, static_cast<std::uint8_t>(set));
  AppendBytes(out, key_id);
}

class NtruX25519Sealer final : public HybridSealer {
 public:
  NtruX25519Sealer(HybridPublicKey recipient, Random& random)
      : recipient_(std::move(recipient)), kem_(NewNtruKem(recipient_.set())), random_(random) {}

  Result<Bytes> Seal(ByteView plaintext, ByteView associated_data) const override {
    if (plaintext.size() > kMaxPlaintextBytes) {
      return InvalidArgument("plaintext is larger than the sealed box limit");
    }
    internal::HybridEncapsulation enc = internal::HybridEncapsulate(*kem_, recipient_, random_);
    Bytes box;
    box.reserve(SealedBoxBytes(recipient_.set(), plaintext.size()));
    AppendPrefix(box, recipient_.set(), recipient_.key_id());
    AppendBytes(box, enc.ntru_ciphertext);
    AppendBytes(box, enc.ephemeral_public_key);
    std::array<std::uint8_t, kAeadNonceBytes> nonce;
    random_.Fill(nonce);
    AppendBytes(box, nonce);
    const ByteView header(box);
    MEDMESH_ASSIGN_OR_RETURN(SecretBytes key, HkdfSha256(enc.shared_secrets.reveal(),
                                                         AsBytes(kKdfSalt), header, kAeadKeyBytes));
    Bytes ad = Concat(header, associated_data);
    XChaCha20Poly1305Seal(key, nonce, ad, plaintext, box);
    return box;
  }

 private:
  HybridPublicKey recipient_;
  std::unique_ptr<Kem> kem_;
  Random& random_;
};

class NtruX25519Opener final : public HybridOpener {
 public:
  explicit NtruX25519Opener(HybridPrivateKey key)
      : key_(std::move(key)), kem_(NewNtruKem(key_.set())) {}

  Result<Bytes> Open(ByteView box, ByteView associated_data) const override {
    const NtruParamSet set = key_.set();
    const std::size_t header_bytes = SealedBoxHeaderBytes(set);
    if (box.size() < header_bytes + kAeadTagBytes ||
        box.size() > header_bytes + kMaxPlaintextBytes + kAeadTagBytes) {
      return AuthenticationFailed();
    }
    auto parsed = ParseSealedBoxHeader(box);
    if (!parsed || parsed->set != set || parsed->recipient_key_id != key_.public_key().key_id()) {
      return AuthenticationFailed();
    }
    const std::size_t ct_bytes = Info(set).ciphertext_bytes;
    const ByteView ntru_ct = box.subspan(kPrefixBytes, ct_bytes);
    const ByteView eph_pk = box.subspan(kPrefixBytes + ct_bytes, kX25519Bytes);
    const ByteView nonce = box.subspan(kPrefixBytes + ct_bytes + kX25519Bytes, kAeadNonceBytes);
    const ByteView header = box.first(header_bytes);

    auto secrets = internal::HybridDecapsulate(*kem_, key_, ntru_ct, eph_pk);
    if (!secrets) return AuthenticationFailed();
    auto key = HkdfSha256(secrets->reveal(), AsBytes(kKdfSalt), header, kAeadKeyBytes);
    if (!key) return AuthenticationFailed();
    Bytes ad = Concat(header, associated_data);
    const ByteView ciphertext = box.subspan(header_bytes);
    Bytes plaintext(ciphertext.size() - kAeadTagBytes);
    MEDMESH_RETURN_IF_ERROR(XChaCha20Poly1305Open(*key, nonce, ad, ciphertext, plaintext));
    return plaintext;
  }

  const KeyId& key_id() const override { return key_.public_key().key_id(); }

 private:
  HybridPrivateKey key_;
  std::unique_ptr<Kem> kem_;
};

}  // namespace

// --- Keys ---------------------------------------------------------------------------------------

HybridPublicKey::HybridPublicKey(NtruPublicKey ntru, Bytes x25519)
    : ntru_(std::move(ntru)), x25519_(std::move(x25519)) {
  key_id_ = ComputeKeyId(kKeyIdDomain, ToBytes());
}

Result<HybridPublicKey> HybridPublicKey::FromParts(NtruPublicKey ntru, ByteView x25519) {
  if (x25519.size() != kX25519Bytes) return InvalidArgument("X25519 public key must be 32 bytes");
  InitSodium();
  // A low-order point gives an all-zero product for every scalar, which libsodium reports.
  std::array<std::uint8_t, kX25519Bytes> probe_scalar;
  probe_scalar.fill(0x5a);
  std::array<std::uint8_t, kX25519Bytes> product;
  if (crypto_scalarmult(product.data(), probe_scalar.data(), x25519.data()) != 0) {
    return InvalidArgument("X25519 public key is a low-order point");
  }
  return HybridPublicKey(std::move(ntru), Bytes(x25519.begin(), x25519.end()));
}

Result<HybridPublicKey> HybridPublicKey::FromBytes(ByteView bytes) {
  ByteReader reader(bytes);
  MEDMESH_ASSIGN_OR_RETURN(std::uint8_t algorithm, reader.ReadU8());
  if (algorithm != kHybridAlgorithmId) return InvalidArgument("unknown hybrid key algorithm");
  MEDMESH_ASSIGN_OR_RETURN(NtruParamSet set, ReadSetId(reader));
  if (reader.remaining() != Info(set).public_key_bytes + kX25519Bytes) {
    return InvalidArgument("hybrid public key has the wrong length");
  }
  MEDMESH_ASSIGN_OR_RETURN(ByteView ntru_bytes, reader.ReadBytes(Info(set).public_key_bytes));
  MEDMESH_ASSIGN_OR_RETURN(NtruPublicKey ntru, NtruPublicKey::FromBytes(set, ntru_bytes));
  return FromParts(std::move(ntru), reader.Rest());
}

Bytes HybridPublicKey::ToBytes() const {
  Bytes out;
  out.reserve(2 + ntru_.bytes().size() + x25519_.size());
  AppendU8(out, kHybridAlgorithmId);
  AppendU8(out, static_cast<std::uint8_t>(ntru_.set()));
  AppendBytes(out, ntru_.bytes());
  AppendBytes(out, x25519_);
  return out;
}

HybridPrivateKey HybridPrivateKey::Generate(Random& random, NtruParamSet set) {
  InitSodium();
  NtruKeyPair ntru = NewNtruKem(set)->GenerateKeyPair(random);
  SecretBytes x_secret(kX25519Bytes);
  random.Fill(x_secret.mutable_bytes());
  Bytes x_public(kX25519Bytes);
  crypto_scalarmult_base(x_public.data(), x_secret.reveal().data());
  auto public_key = HybridPublicKey::FromParts(std::move(ntru.public_key), x_public);
  MEDMESH_CHECK(public_key.has_value(), "a freshly generated hybrid public key must be valid");
  return {std::move(public_key).value(), std::move(ntru.secret_key), std::move(x_secret)};
}

Result<HybridPrivateKey> HybridPrivateKey::FromBytes(ByteView bytes) {
  ByteReader reader(bytes);
  MEDMESH_ASSIGN_OR_RETURN(std::uint8_t algorithm, reader.ReadU8());
  if (algorithm != kHybridAlgorithmId) return InvalidArgument("unknown hybrid key algorithm");
  MEDMESH_ASSIGN_OR_RETURN(NtruParamSet set, ReadSetId(reader));
  const NtruParamInfo& info = Info(set);
  if (reader.remaining() != info.secret_key_bytes + kX25519Bytes + info.public_key_bytes) {
    return InvalidArgument("hybrid private key has the wrong length");
  }
  MEDMESH_ASSIGN_OR_RETURN(ByteView ntru_sk_bytes, reader.ReadBytes(info.secret_key_bytes));
  MEDMESH_ASSIGN_OR_RETURN(ByteView x_sk_bytes, reader.ReadBytes(kX25519Bytes));
  MEDMESH_ASSIGN_OR_RETURN(ByteView ntru_pk_bytes, reader.ReadBytes(info.public_key_bytes));

  MEDMESH_ASSIGN_OR_RETURN(NtruSecretKey ntru_sk, NtruSecretKey::FromBytes(set, ntru_sk_bytes));
  MEDMESH_ASSIGN_OR_RETURN(NtruPublicKey ntru_pk, NtruPublicKey::FromBytes(set, ntru_pk_bytes));
  InitSodium();
  SecretBytes x_secret(x_sk_bytes);
  Bytes x_public(kX25519Bytes);
  crypto_scalarmult_base(x_public.data(), x_secret.reveal().data());
  auto public_key = HybridPublicKey::FromParts(std::move(ntru_pk), x_public);
  if (!public_key) return InvalidArgument("hybrid private key has an unusable X25519 key");

  // A secret key that does not match its public key would make every box sealed to this
  // recipient unreadable, silently (NTRU's implicit rejection); catch that at load time.
  std::unique_ptr<Kem> kem = NewNtruKem(set);
  FixedCoins coins;
  auto enc = kem->Encapsulate(public_key->ntru(), coins);
  if (!enc) return InvalidArgument("hybrid private key has an unusable NTRU public key");
  auto dec = kem->Decapsulate(ntru_sk, enc->ciphertext);
  if (!dec || !(*dec == enc->shared_secret)) {
    return InvalidArgument("hybrid private key: NTRU secret and public keys do not match");
  }
  return HybridPrivateKey(std::move(public_key).value(), std::move(ntru_sk), std::move(x_secret));
}

SecretBytes HybridPrivateKey::ToBytes() const {
  const ByteView ntru_sk = ntru_.bytes().reveal();
  const ByteView ntru_pk = public_key_.ntru().bytes();
  SecretBytes out(2 + ntru_sk.size() + kX25519Bytes + ntru_pk.size());
  MutableByteView o = out.mutable_bytes();
  o[0] = kHybridAlgorithmId;
  o[1] = static_cast<std::uint8_t>(set());
  auto it = std::copy(ntru_sk.begin(), ntru_sk.end(), o.begin() + 2);
  it = std::copy(x25519_.reveal().begin(), x25519_.reveal().end(), it);
  std::copy(ntru_pk.begin(), ntru_pk.end(), it);
  return out;
}

HybridPrivateKey HybridPrivateKey::Clone() const {
  auto ntru = NtruSecretKey::FromBytes(set(), ntru_.bytes().reveal());
  MEDMESH_CHECK(ntru.has_value(), "a valid NTRU secret key must clone");
  return {public_key_, std::move(ntru).value(), x25519_.Clone()};
}

// --- Sealing
// --------------------------------------------------------------------------------------

std::unique_ptr<HybridSealer> NewHybridSealer(HybridPublicKey recipient, Random& random) {
  InitSodium();
  return std::make_unique<NtruX25519Sealer>(std::move(recipient), random);
}

std::unique_ptr<HybridOpener> NewHybridOpener(HybridPrivateKey key) {
  InitSodium();
  return std::make_unique<NtruX25519Opener>(std::move(key));
}

Result<SealedBoxHeader> ParseSealedBoxHeader(ByteView box) {
  ByteReader reader(box);
  MEDMESH_ASSIGN_OR_RETURN(ByteView magic, reader.ReadBytes(kMagic.size()));
  if (!std::equal(magic.begin(), magic.end(), kMagic.begin())) {
    return InvalidArgument("not a MedMesh sealed box (bad magic)");
  }
  SealedBoxHeader header{};
  MEDMESH_ASSIGN_OR_RETURN(header.version, reader.ReadU8());
  if (header.version != kVersion) return InvalidArgument("unsupported sealed box version");
  MEDMESH_ASSIGN_OR_RETURN(header.algorithm, reader.ReadU8());
  if (header.algorithm != kHybridAlgorithmId) {
    return InvalidArgument("unsupported sealed box algorithm");
  }
  MEDMESH_ASSIGN_OR_RETURN(header.set, ReadSetId(reader));
  MEDMESH_ASSIGN_OR_RETURN(ByteView key_id, reader.ReadBytes(kKeyIdBytes));
  std::copy(key_id.begin(), key_id.end(), header.recipient_key_id.begin());
  if (box.size() < SealedBoxBytes(header.set, 0)) return InvalidArgument("sealed box truncated");
  return header;
}

std::size_t SealedBoxHeaderBytes(NtruParamSet set) {
  return kPrefixBytes + Info(set).ciphertext_bytes + kX25519Bytes + kAeadNonceBytes;
}

std::size_t SealedBoxBytes(NtruParamSet set, std::size_t plaintext_bytes) {
  return SealedBoxHeaderBytes(set) + plaintext_bytes + kAeadTagBytes;
}

// --- The hybrid KEM -----------------------------------------------------------------------------

namespace internal {

HybridEncapsulation HybridEncapsulate(const Kem& kem, const HybridPublicKey& recipient,
                                      Random& random) {
  MEDMESH_CHECK(kem.set() == recipient.set(), "KEM and recipient key use different NTRU sets");
  auto ntru = kem.Encapsulate(recipient.ntru(), random);
  MEDMESH_CHECK(ntru.has_value(), "NTRU encapsulation to a validated key failed");

  SecretBytes eph_secret(kX25519Bytes);
  random.Fill(eph_secret.mutable_bytes());
  Bytes eph_public(kX25519Bytes);
  crypto_scalarmult_base(eph_public.data(), eph_secret.reveal().data());

  SecretBytes shared(ntru->shared_secret.size() + kX25519Bytes);
  MutableByteView s = shared.mutable_bytes();
  std::copy(ntru->shared_secret.reveal().begin(), ntru->shared_secret.reveal().end(), s.begin());
  // Cannot fail: the recipient key was checked not to be of low order.
  MEDMESH_CHECK(crypto_scalarmult(s.data() + ntru->shared_secret.size(), eph_secret.reveal().data(),
                                  recipient.x25519().data()) == 0,
                "X25519 with a validated public key failed");
  return HybridEncapsulation{std::move(ntru->ciphertext), std::move(eph_public), std::move(shared)};
}

Result<SecretBytes> HybridDecapsulate(const Kem& kem, const HybridPrivateKey& key,
                                      ByteView ntru_ciphertext, ByteView ephemeral_public_key) {
  if (ephemeral_public_key.size() != kX25519Bytes) return AuthenticationFailed();
  auto ntru = kem.Decapsulate(key.ntru(), ntru_ciphertext);
  if (!ntru) return AuthenticationFailed();
  SecretBytes shared(ntru->size() + kX25519Bytes);
  MutableByteView s = shared.mutable_bytes();
  std::copy(ntru->reveal().begin(), ntru->reveal().end(), s.begin());
  if (crypto_scalarmult(s.data() + ntru->size(), key.x25519().reveal().data(),
                        ephemeral_public_key.data()) != 0) {
    return AuthenticationFailed();
  }
  return shared;
}

}  // namespace internal
}  // namespace medmesh::crypto

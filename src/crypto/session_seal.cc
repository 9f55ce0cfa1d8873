#include "crypto/session_seal.h"

#include <algorithm>
#include <string_view>

#include "core/check.h"

namespace medmesh::crypto {

namespace {

constexpr std::array<std::uint8_t, 4> kMagic = {'M', 'M', 'S', 'S'};
constexpr std::uint8_t kVersion = 1;
constexpr std::string_view kKdfSalt = "MedMesh session v1";
// magic | version | algorithm | session id | counter
constexpr std::size_t kBatchHeaderBytes = kMagic.size() + 2 + kSessionIdBytes + 8;

// The extra header of batch 0: set id | recipient key id | NTRU ciphertext | X25519 ephemeral.
std::size_t OpeningBytes(NtruParamSet set) {
  return 1 + kKeyIdBytes + Info(set).ciphertext_bytes + kX25519Bytes;
}

void AppendBatchHeader(Bytes& out, const SessionId& id, std::uint64_t counter) {
  AppendBytes(out, kMagic);
  AppendU8(out, kVersion);
  AppendU8(out, kHybridAlgorithmId);
  AppendBytes(out, id);
  AppendU64Le(out, counter);
}

// The nonce is the session id followed by the counter: unique per batch as long as a session
// never reuses a counter, and the session key is fresh per session anyway.
std::array<std::uint8_t, kAeadNonceBytes> BatchNonce(const SessionId& id, std::uint64_t counter) {
  static_assert(kSessionIdBytes + 8 == kAeadNonceBytes);
  std::array<std::uint8_t, kAeadNonceBytes> nonce{};
  std::copy(id.begin(), id.end(), nonce.begin());
  for (std::size_t i = 0; i < 8; ++i) {
    nonce[kSessionIdBytes + i] = static_cast<std::uint8_t>(counter >> (8 * i));
  }
  return nonce;
}

Result<SecretBytes> DeriveSessionKey(const SecretBytes& shared_secrets, ByteView batch0_header) {
  return HkdfSha256(shared_secrets.reveal(), AsBytes(kKdfSalt), batch0_header, kAeadKeyBytes);
}

}  // namespace

// --- Header parsing ---------------------------------------------------------------------------

Result<SessionBatchHeader> ParseSessionBatchHeader(ByteView batch) {
  ByteReader reader(batch);
  MEDMESH_ASSIGN_OR_RETURN(ByteView magic, reader.ReadBytes(kMagic.size()));
  if (!std::equal(magic.begin(), magic.end(), kMagic.begin())) {
    return InvalidArgument("not a MedMesh session batch (bad magic)");
  }
  MEDMESH_ASSIGN_OR_RETURN(std::uint8_t version, reader.ReadU8());
  if (version != kVersion) return InvalidArgument("unsupported session batch version");
  MEDMESH_ASSIGN_OR_RETURN(std::uint8_t algorithm, reader.ReadU8());
  if (algorithm != kHybridAlgorithmId) {
    return InvalidArgument("unsupported session batch algorithm");
  }
  SessionBatchHeader header{};
  MEDMESH_ASSIGN_OR_RETURN(ByteView id, reader.ReadBytes(kSessionIdBytes));
  std::copy(id.begin(), id.end(), header.session_id.begin());
  MEDMESH_ASSIGN_OR_RETURN(header.counter, reader.ReadU64Le());
  header.opens_session = header.counter == 0;
  if (header.opens_session) {
    MEDMESH_ASSIGN_OR_RETURN(std::uint8_t set_id, reader.ReadU8());
    header.set = NtruParamSetFromId(set_id);
    if (!header.set) return InvalidArgument("unknown NTRU parameter set id");
    MEDMESH_ASSIGN_OR_RETURN(ByteView key_id, reader.ReadBytes(kKeyIdBytes));
    header.recipient_key_id.emplace();
    std::copy(key_id.begin(), key_id.end(), header.recipient_key_id->begin());
    if (reader.remaining() < Info(*header.set).ciphertext_bytes + kX25519Bytes + kAeadTagBytes) {
      return InvalidArgument("session batch truncated");
    }
  } else if (reader.remaining() < kAeadTagBytes) {
    return InvalidArgument("session batch truncated");
  }
  return header;
}

// --- Sealer -----------------------------------------------------------------------------------

SessionSealer::SessionSealer(HybridPublicKey recipient, Random& random, const Clock& clock,
                             SessionSealerOptions options)
    : recipient_(std::move(recipient)),
      kem_(NewNtruKem(recipient_.set())),
      random_(random),
      clock_(clock),
      options_(options) {
  MEDMESH_CHECK(options_.max_batches_per_session >= 1 &&
                    options_.max_batches_per_session <= (std::uint64_t{1} << 32),
                "max_batches_per_session must be in 1..2^32");
  MEDMESH_CHECK(options_.max_session_age.count() > 0, "max_session_age must be positive");
}

void SessionSealer::Rekey() {
  std::lock_guard lock(mu_);
  session_.reset();
}

void SessionSealer::StartSession() {
  Session s;
  random_.Fill(s.id);
  s.started = clock_.Monotonic();
  internal::HybridEncapsulation enc = internal::HybridEncapsulate(*kem_, recipient_, random_);
  AppendU8(s.opening_header, static_cast<std::uint8_t>(recipient_.set()));
  AppendBytes(s.opening_header, recipient_.key_id());
  AppendBytes(s.opening_header, enc.ntru_ciphertext);
  AppendBytes(s.opening_header, enc.ephemeral_public_key);

  Bytes batch0_header;
  AppendBatchHeader(batch0_header, s.id, 0);
  AppendBytes(batch0_header, s.opening_header);
  auto key = DeriveSessionKey(enc.shared_secrets, batch0_header);
  MEDMESH_CHECK(key.has_value(), "HKDF-SHA256 failed in OpenSSL");
  s.key = std::move(key).value();
  session_ = std::move(s);
}

Result<Bytes> SessionSealer::SealBatch(ByteView plaintext, ByteView associated_data) {
  if (plaintext.size() > kMaxPlaintextBytes) {
    return InvalidArgument("plaintext is larger than the session batch limit");
  }
  std::lock_guard lock(mu_);
  if (!session_ || session_->next_counter >= options_.max_batches_per_session ||
      clock_.Monotonic() - session_->started >= options_.max_session_age) {
    StartSession();
  }
  Session& s = *session_;
  const std::uint64_t counter = s.next_counter++;

  Bytes batch;
  batch.reserve(kBatchHeaderBytes + (counter == 0 ? s.opening_header.size() : 0) +
                plaintext.size() + kAeadTagBytes);
  AppendBatchHeader(batch, s.id, counter);
  if (counter == 0) AppendBytes(batch, s.opening_header);
  Bytes ad = Concat(batch, associated_data);
  XChaCha20Poly1305Seal(s.key, BatchNonce(s.id, counter), ad, plaintext, batch);
  return batch;
}

// --- Opener -----------------------------------------------------------------------------------

SessionOpener::SessionOpener(HybridPrivateKey key, const Clock& clock, SessionOpenerOptions options)
    : key_(std::move(key)), kem_(NewNtruKem(key_.set())), clock_(clock), options_(options) {
  MEDMESH_CHECK(options_.max_batches_per_session >= 1, "max_batches_per_session must be >= 1");
  MEDMESH_CHECK(options_.max_sessions >= 1, "max_sessions must be >= 1");
  MEDMESH_CHECK(options_.idle_timeout.count() > 0, "idle_timeout must be positive");
}

bool SessionOpener::KnowsSessionOf(ByteView batch) const {
  auto header = ParseSessionBatchHeader(batch);
  if (!header || header->opens_session) return true;
  std::lock_guard lock(mu_);
  auto it = sessions_.find(header->session_id);
  return it != sessions_.end() && clock_.Monotonic() - it->second.last_used < options_.idle_timeout;
}

std::size_t SessionOpener::session_count() const {
  std::lock_guard lock(mu_);
  return sessions_.size();
}

bool SessionOpener::Seen(const Session& s, std::uint64_t counter) {
  if (counter > s.highest) return false;
  const std::uint64_t behind = s.highest - counter;
  if (behind >= kSessionReplayWindow) return true;  // too old to tell: refuse
  return ((s.window >> behind) & 1) != 0;
}

void SessionOpener::MarkSeen(Session& s, std::uint64_t counter) {
  if (counter > s.highest) {
    const std::uint64_t shift = counter - s.highest;
    s.window = shift >= kSessionReplayWindow ? 0 : s.window << shift;
    s.window |= 1;
    s.highest = counter;
  } else {
    s.window |= std::uint64_t{1} << (s.highest - counter);
  }
}

void SessionOpener::ForgetIdleAndMakeRoom(std::chrono::steady_clock::time_point now) {
  std::erase_if(sessions_, [&](const auto& entry) {
    return now - entry.second.last_used >= options_.idle_timeout;
  });
  while (sessions_.size() >= options_.max_sessions) {
    auto oldest = std::min_element(
        sessions_.begin(), sessions_.end(),
        [](const auto& a, const auto& b) { return a.second.last_used < b.second.last_used; });
    sessions_.erase(oldest);
  }
}

Result<Bytes> SessionOpener::OpenBatch(ByteView batch, ByteView associated_data) {
  auto header = ParseSessionBatchHeader(batch);
  if (!header || header->counter >= options_.max_batches_per_session) {
    return AuthenticationFailed();
  }
  const std::size_t header_bytes =
      kBatchHeaderBytes + (header->opens_session ? OpeningBytes(key_.set()) : 0);
  if (batch.size() < header_bytes + kAeadTagBytes ||
      batch.size() > header_bytes + kMaxPlaintextBytes + kAeadTagBytes) {
    return AuthenticationFailed();
  }
  const ByteView header_view = batch.first(header_bytes);
  const ByteView ciphertext = batch.subspan(header_bytes);
  const auto nonce = BatchNonce(header->session_id, header->counter);
  const Bytes ad = Concat(header_view, associated_data);
  Bytes plaintext(ciphertext.size() - kAeadTagBytes);

  std::lock_guard lock(mu_);
  const auto now = clock_.Monotonic();
  auto it = sessions_.find(header->session_id);
  if (it != sessions_.end() && now - it->second.last_used >= options_.idle_timeout) {
    sessions_.erase(it);
    it = sessions_.end();
  }

  if (!header->opens_session) {
    if (it == sessions_.end() || Seen(it->second, header->counter)) return AuthenticationFailed();
    MEDMESH_RETURN_IF_ERROR(
        XChaCha20Poly1305Open(it->second.key, nonce, ad, ciphertext, plaintext));
    MarkSeen(it->second, header->counter);
    it->second.last_used = now;
    return plaintext;
  }

  // Batch 0: a known session id means a replay (or a forged duplicate); never replace state.
  if (it != sessions_.end() || header->set != key_.set() ||
      header->recipient_key_id != key_.public_key().key_id()) {
    return AuthenticationFailed();
  }
  const std::size_t ct_bytes = Info(key_.set()).ciphertext_bytes;
  const std::size_t kem_start = kBatchHeaderBytes + 1 + kKeyIdBytes;
  auto secrets = internal::HybridDecapsulate(*kem_, key_, batch.subspan(kem_start, ct_bytes),
                                             batch.subspan(kem_start + ct_bytes, kX25519Bytes));
  if (!secrets) return AuthenticationFailed();
  auto key = DeriveSessionKey(*secrets, header_view);
  if (!key) return AuthenticationFailed();
  MEDMESH_RETURN_IF_ERROR(XChaCha20Poly1305Open(*key, nonce, ad, ciphertext, plaintext));

  ForgetIdleAndMakeRoom(now);
  Session s;
  s.key = std::move(key).value();
  s.highest = 0;
  s.window = 1;
  s.last_used = now;
  sessions_.emplace(header->session_id, std::move(s));
  return plaintext;
}

}  // namespace medmesh::crypto

// Session mode for streams of batches (wearable -> cloudlet): one hybrid KEM (NTRU + X25519,
// as in hybrid_seal.h) per session establishes a session key; every batch is then sealed with
// XChaCha20-Poly1305 under a nonce made of the session id and a batch counter, so a batch costs
// 46 bytes of overhead instead of a full KEM. Byte layout: docs/wire_format.md, "Session batch".
//
// The sealer starts a new session (a rekey) after a configurable number of batches or a
// configurable age, whichever comes first. Batch 0 of each session carries the KEM
// ciphertexts; later batches refer to the session by id, so the transport must deliver batch 0
// before the others of its session can be opened (the device outbox resends in order).
// The opener remembers recent sessions and a 64-batch sliding window per session, and refuses
// replays, batches below the window and batches past the session's batch limit.
//
// WARNING: replay protection covers only the sessions the opener still remembers (bounded by
// max_sessions and idle_timeout, and lost on restart); de-duplicate by batch id above this
// layer. Anyone can start a session to a public key, so a flood of new sessions can evict
// legitimate ones: verify the device signature on a batch before opening it.
// Thread safety: SessionSealer and SessionOpener are thread-safe (internally locked). The
// Clock and Random passed in must outlive them and be thread-safe.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>

#include "core/bytes.h"
#include "core/clock.h"
#include "core/random.h"
#include "core/status.h"
#include "crypto/hybrid_seal.h"
#include "crypto/kdf.h"
#include "crypto/ntru.h"

namespace medmesh::crypto {

inline constexpr std::size_t kSessionIdBytes = 16;
using SessionId = std::array<std::uint8_t, kSessionIdBytes>;
// Counters this far behind the highest counter seen are still accepted once.
inline constexpr std::uint64_t kSessionReplayWindow = 64;

struct SessionSealerOptions {
  // Start a new session after this many batches (1 .. 2^32).
  std::uint64_t max_batches_per_session = 1000;
  // Start a new session when the current one is this old (measured on the injected Clock).
  std::chrono::seconds max_session_age = std::chrono::hours(1);
};

struct SessionOpenerOptions {
  // Batches with a counter at or above this are refused; must be >= the sealer's setting.
  std::uint64_t max_batches_per_session = 1000;
  // Sessions remembered at once; the least recently used is forgotten first.
  std::size_t max_sessions = 1024;
  // A session with no batch for this long is forgotten.
  std::chrono::seconds idle_timeout = std::chrono::hours(24);
};

class SessionSealer {
 public:
  // The options must be in range (programming error otherwise). `random` and `clock` must
  // outlive the sealer.
  SessionSealer(HybridPublicKey recipient, Random& random, const Clock& clock,
                SessionSealerOptions options = {});

  // Seals the next batch, starting a new session first when the current one reached its batch
  // or age limit. kInvalidArgument if the plaintext exceeds kMaxPlaintextBytes.
  Result<Bytes> SealBatch(ByteView plaintext, ByteView associated_data);

  // Forces the next batch to start a new session (e.g. after a suspected key compromise).
  void Rekey();

 private:
  struct Session {
    SessionId id;
    SecretBytes key;
    Bytes opening_header;  // the KEM part of batch 0
    std::uint64_t next_counter = 0;
    std::chrono::steady_clock::time_point started;
  };
  void StartSession();

  const HybridPublicKey recipient_;
  const std::unique_ptr<Kem> kem_;
  Random& random_;
  const Clock& clock_;
  const SessionSealerOptions options_;
  std::mutex mu_;
  std::optional<Session> session_;  // guarded by mu_
};

class SessionOpener {
 public:
  // The options must be in range (programming error otherwise). `clock` must outlive the
  // opener.
  SessionOpener(HybridPrivateKey key, const Clock& clock, SessionOpenerOptions options = {});

  // Returns the plaintext of a batch, or AuthenticationFailed() for a batch that is malformed,
  // truncated, oversized, for another key, tampered with, sealed with other associated data,
  // a replay, outside the window, past the batch limit, or of a session not (or no longer)
  // known. A failed batch never changes the opener's state.
  Result<Bytes> OpenBatch(ByteView batch, ByteView associated_data);

  // True unless `batch` is a later batch (counter > 0) of a session this opener does not know
  // (never opened here, or forgotten: a restart, the idle timeout, the session limit). For
  // telling the benign "reseal in a new session" case apart from tampering in diagnostics; a
  // false answer says nothing about authenticity, a true one nothing about the batch opening.
  bool KnowsSessionOf(ByteView batch) const;

  // Number of sessions remembered now (for metrics and tests).
  std::size_t session_count() const;

 private:
  struct Session {
    SecretBytes key;
    std::uint64_t highest = 0;  // highest counter accepted
    std::uint64_t window = 0;   // bit i set: counter (highest - i) was accepted
    std::chrono::steady_clock::time_point last_used;
  };
  static bool Seen(const Session& s, std::uint64_t counter);
  static void MarkSeen(Session& s, std::uint64_t counter);
  void ForgetIdleAndMakeRoom(std::chrono::steady_clock::time_point now);

  const HybridPrivateKey key_;
  const std::unique_ptr<Kem> kem_;
  const Clock& clock_;
  const SessionOpenerOptions options_;
  mutable std::mutex mu_;
  std::map<SessionId, Session> sessions_;  // guarded by mu_
};

// The public fields of a batch header, readable without a key (for diagnostics and routing).
// kInvalidArgument with a specific message if the header is malformed; a successful parse says
// nothing about authenticity.
struct SessionBatchHeader {
  SessionId session_id;
  std::uint64_t counter;
  bool opens_session;                     // counter == 0: carries the KEM ciphertexts
  std::optional<NtruParamSet> set;        // batch 0 only
  std::optional<KeyId> recipient_key_id;  // batch 0 only
};
Result<SessionBatchHeader> ParseSessionBatchHeader(ByteView batch);

}  // namespace medmesh::crypto

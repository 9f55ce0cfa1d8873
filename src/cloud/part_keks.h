// The three-part store's KEKs: one per part (EI, QI, MI), each wrapping only its part's data
// keys, each in its own file, each rotated on its own on the running cloud (ADR 0016;
// procedure: docs/key_hierarchy.md, "Rotation").
//
//   POST /api/v1/admin/keys/{part}/rotation   start rotating the part's KEK (202; 409 if a
//                                             rotation is running); operator token or admin
//   GET  /api/v1/admin/keys/{part}/rotation   how the part's last rotation went
//
// A rotation runs on its own thread (re-wrapping every data key of a part can take longer than
// a request should hold an I/O thread), one at a time, while the store keeps serving: data keys
// unwrap under the old or the new KEK until the old one is retired, and data ciphertexts are
// never rewritten (node/kek_ring.h gives the file steps and their crash safety).
// Thread safety: PartKekRotator is thread-safe; its destructor waits for a running rotation.
#pragma once

#include <array>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "audit/audit_sink.h"
#include "cloud/account_api.h"
#include "cloud/three_part.h"
#include "core/clock.h"
#include "core/env.h"
#include "core/random.h"
#include "core/status.h"
#include "crypto/envelope.h"
#include "net/http_message.h"
#include "net/router.h"
#include "node/kek_ring.h"
#include "store/record_store.h"

namespace medmesh::cloud {

// The KEK rings of the three parts (node::LoadKekRing).
struct CloudPartKeks {
  // One KEK for all three parts, without files: nothing can be rotated (tests, tools).
  CloudPartKeks(crypto::KeyEncryptionKey one_for_all);  // NOLINT(google-explicit-constructor)
  CloudPartKeks(node::KekRing ei_ring, node::KekRing qi_ring, node::KekRing mi_ring);
  node::KekRing ei;
  node::KekRing qi;
  node::KekRing mi;
  node::KekRing& of(store::RecordPart part);
};

// "ei", "qi", "mi". kInvalidArgument otherwise.
Result<store::RecordPart> ParseRecordPart(std::string_view name);

struct PartKekRotationStatus {
  enum class State { kNeverRun, kRunning, kDone, kFailed };
  State state = State::kNeverRun;
  std::optional<node::KekFileRotation> result;  // kDone
  std::optional<Error> error;                   // kFailed
};
std::string_view PartKekRotationStateName(PartKekRotationStatus::State state);

class PartKekRotator {
 public:
  // Adds each part's older KEKs (keks.*.older) to the part's envelope in `records` and keeps
  // the files for rotations. `records`, `random` and `env` must outlive the object; `random`
  // must be thread-safe.
  PartKekRotator(ThreePartStore& records, CloudPartKeks& keks, Random& random, Env& env);
  ~PartKekRotator();  // waits for a running rotation
  PartKekRotator(const PartKekRotator&) = delete;
  PartKekRotator& operator=(const PartKekRotator&) = delete;

  // Rotates the part's KEK now, on this thread (node::RotateKekFile and its errors);
  // kFailedPrecondition if the part has no KEK file; kAlreadyExists if a rotation is running.
  Result<node::KekFileRotation> Rotate(store::RecordPart part);
  // Starts Rotate(part) on a thread of its own. kAlreadyExists if a rotation is running,
  // kFailedPrecondition if the part has no KEK file.
  Status Start(store::RecordPart part);
  PartKekRotationStatus status(store::RecordPart part) const;

 private:
  Status Claim(store::RecordPart part);  // takes running_, sets the part's status to kRunning
  Result<node::KekFileRotation> RunClaimed(store::RecordPart part);

  ThreePartStore& records_;
  Random& random_;
  Env& env_;
  std::array<std::filesystem::path, 3> files_;  // by part: EI, QI, MI
  mutable std::mutex mu_;
  bool running_ = false;                           // guarded by mu_
  std::array<PartKekRotationStatus, 3> statuses_;  // guarded by mu_
  std::thread worker_;                             // guarded by mu_
};

// Who may call the two routes: the holder of the cloud's operator token (what `medmesh keys
// rotate-kek` sends) or an admin's account session (Bearer or cookie + CSRF, through
// AccountApi::PrincipalOf). A request with neither is answered as every session route answers
// (accounts::AuthenticationRefusal: 401, or 403 "reason": "csrf_required") and is an IDS
// auth_failure event when it offered a credential; another role's session is 403. Every POST
// past authentication appends one audit entry "kek.rotate" (action E, entity Kek/<part>, the
// outcome; actor the admin's account, or role "operator" without an account for the token)
// after its outcome is known, refusals included; if that append fails the route answers its
// error, though a rotation it started keeps running. All four must outlive the router.
struct KekRotationAccess {
  const SecretBytes& operator_token;
  AccountApi& accounts;
  audit::AuditSink& audit;
  const Clock& clock;
};

// Registers the two routes above on `router`. Bodies: docs/openapi.yaml (KekRotationStatus).
void AddKekRotationRoutes(net::Router& router, PartKekRotator& rotator, KekRotationAccess access);

}  // namespace medmesh::cloud

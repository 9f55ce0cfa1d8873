// TrustService: sharing between similar patients at the cloudlet, and the cloudlet's trust in its
// peer cloudlets (issue 10; docs/trust_system.md, ADR 0029). The trust model itself is the pure
// library src/trust (docs/trust.md): this file feeds it what the cloudlet holds (sharing
// profiles, vitals from the readings stored here, logged interactions and the ratings tied to
// them, peer events) and serves its answers.
//
// Routes (AddRoutes; docs/openapi.yaml, docs/authorization.md):
//   GET  /api/v1/trust/profile        patient: own sharing profile, vitals profile, the choices
//   PUT  /api/v1/trust/profile        patient: opt in/out, conditions, symptoms, consent
//   GET  /api/v1/trust/similar        patient: other opted-in patients here, by similarity, with
//                                     its explanation and the trust in each
//   GET  /api/v1/trust/messages       patient: own messages (sent and received)
//   POST /api/v1/trust/messages       patient: a message to a handle (a logged interaction)
//   GET  /api/v1/trust/requests       patient: access requests made and received, each received
//                                     pending one with the model's assessment and its reasons
//   POST /api/v1/trust/requests       patient: asks a handle for one data category
//   POST /api/v1/trust/requests/{request_id}/answer   owner: grants or refuses; the model decides
//                                     whether a grant stands (consent, threshold, trust), and
//                                     the decision and its reasons are stored and audited
//   GET  /api/v1/trust/requests/{request_id}/data     requester of a granted request: that
//                                     category's data, re-checked against the owner's consent now
//   POST /api/v1/trust/ratings        patient: rates an interaction they took part in
//   POST /api/v1/trust/attestations   doctor: vouches for (or against) a patient known here; the
//                                     doctor becomes a clinician of the model and the patient
//                                     starts from the clinician-anchored prior
//   GET  /api/v1/trust/peers          operator: trust per peer cloudlet with its evidence by
//                                     kind, partners, the relay choice, whether the forwarder
//                                     relays now and its last relay round
//   POST /api/v1/trust/peers/{peer_id}/events  operator: records what a peer did (forward
//                                     confirmed, shared data verified, report confirmed, or not)
// Patients: a patient's session whose patient is known at this cloudlet (a device of theirs is
// enrolled here; the cloud issues sessions to hospital-approved accounts only): 403 for anyone
// else. An id (request, interaction) of someone else is answered exactly like an unknown one
// (404); so is a handle that does not share. A rating needs an interaction logged here between
// the rater and the rated (else 404, "unbacked"), once per rater and interaction (else 409).
// Sharing needs the caller opted in (409 otherwise). Every read of another patient's data and
// every answer is audited with the decision's reasons; refused probes of others' ids are IDS
// events (kind "other"). An attestation needs a doctor's session (403 otherwise) and a patient
// known here (404 otherwise); it is audited under the patient's id.
//
// The cloudlet cannot see the cloud's access grants: an attestation carries the cloud's signed
// grant assertion (wire/grant_assertion.h, "grant_assertion", hex), which the cloud's relay
// (cloud/attestation_relay.h) attaches after checking the grant. Without one that verifies
// against the pinned root and names this cloudlet, the calling doctor, the patient, a time now
// and an unseen nonce: 403 and an IDS event (kind "other" when none was sent, else
// "forged_signature").
// WARNING: a granted request serves the owner's data to the requester (through the cloudlet's
// TLS); what the requester does with it afterwards is outside this system.
// Thread safety: thread-safe (the store is; no other state).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "audit/audit_sink.h"
#include "cloudlet/device_console.h"
#include "cloudlet/relay.h"
#include "cloudlet/share_federation.h"
#include "cloudlet/trust_store.h"
#include "core/clock.h"
#include "core/status.h"
#include "crypto/signing.h"
#include "net/http_message.h"
#include "net/router.h"
#include "store/ids_event_log.h"
#include "wire/model.h"

namespace medmesh::cloudlet {

// One record of a patient's, as a granted "full_records" request shows it.
struct SharedRecord {
  std::string record_id;
  std::int64_t created_ms = 0;
  std::vector<std::string> symptoms;
  std::optional<int> pulse_bpm;
  std::string ecg_summary;
};

struct TrustContext {
  std::string cloudlet_id;
  TrustStore& store;
  audit::AuditSink& audit;
  const Clock& clock;
  // The caller of a request (the cloudlet's authenticators; as the device console's).
  std::function<Result<ConsoleCaller>(const net::Request&)> identify;
  // Whether the patient is known here (an enrolled, not withdrawn device).
  std::function<bool(std::string_view patient_id)> known_patient;
  // The patient's readings since `from_ms` (newest first, at most a few thousand).
  std::function<Result<std::vector<wire::Reading>>(std::string_view patient_id,
                                                   std::int64_t from_ms)>
      readings;
  // The patient's records kept here, decrypted (newest first).
  std::function<Result<std::vector<SharedRecord>>(std::string_view patient_id)> records;
  // The state of this cloudlet's own link to the cloud ("up", "down", "unknown").
  std::function<std::string()> cloud_link;
  // Whether the forwarder relays through a peer now, and its last relay round (relay.h); empty:
  // never relaying.
  std::function<RelayState()> relay_state;
  // Records an IDS event of this cloudlet (no secrets in `detail`).
  std::function<void(store::IdsEventKind, const net::Request&, std::string detail)> record_ids;
  // Sharing across cloudlets (share_federation.h; docs/trust_system.md "Sharing across
  // cloudlets"): the channel to peer cloudlets (null: this cloudlet shares only inside itself)
  // and the configured peers with their URLs. Only those that are partners (Peers()) are asked.
  const ShareClient* share = nullptr;
  std::function<std::vector<SharePeer>()> share_peers;
  // The pinned root: an attestation must carry the cloud's grant assertion
  // (wire/grant_assertion.h) verified against it. Null: every attestation is refused.
  const crypto::SigningPublicKey* root = nullptr;
};

// Good and bad events of one kind.
struct PeerEvidence {
  std::uint64_t good = 0;
  std::uint64_t bad = 0;
};

// A peer cloudlet as this cloudlet trusts it: one trust from all three kinds of evidence.
struct PeerTrust {
  std::string peer_id;
  double trust = 0;
  double confidence = 0;
  std::uint64_t good = 0;
  std::uint64_t bad = 0;
  bool partner = false;  // trusted enough to share with and relay through
  // The same events by kind: "forward" (relays confirmed by a cloud receipt, or lost),
  // "shared_data" (verified or not), "report" (IDS mesh reports confirmed or refuted).
  PeerEvidence forwards;
  PeerEvidence shared_data;
  PeerEvidence reports;
};

class TrustService {
 public:
  explicit TrustService(TrustContext context);
  ~TrustService();
  TrustService(const TrustService&) = delete;
  TrustService& operator=(const TrustService&) = delete;

  void AddRoutes(net::Router& router);

  // What a peer did, for code that sees it (the forwarder, the mesh): as the operator's route.
  Status RecordPeerEvent(const PeerEvent& event);
  // Answers a verified question of a peer cloudlet (the handler of AddShareRoutes): similar
  // patients for a query profile, a message or an access request to a handle, the data of a
  // granted request, the status of requests. This cloudlet applies its own consent and trust
  // decision and audits; the answer's status is an HTTP status with a JSON body.
  ShareAnswer AnswerPeer(std::string_view origin, std::string_view kind, const std::string& body,
                         const net::Request& r);
  // Every peer with its trust now, most trusted first.
  Result<std::vector<PeerTrust>> Peers() const;
  // The peer to relay through to the cloud while this cloudlet's own link is down: the most
  // trusted partner; nullopt if none is trusted enough.
  Result<std::optional<std::string>> ChooseRelay() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace medmesh::cloudlet

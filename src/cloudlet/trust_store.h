// TrustStore: what the cloudlet keeps for sharing between similar patients (issue 10,
// docs/trust_system.md): each patient's sharing profile, the logged interactions between patients
// (messages, access requests), the messages themselves, access requests and their decisions,
// ratings tied to interactions, and what this cloudlet observed of its peer cloudlets.
//
// Storage: one SQLite database (trust.db in the cloudlet's data folder), like the cloudlet's other
// stores (the cloudlet's stores are SQLite only; PostgreSQL is the cloud's). Medical content is
// encrypted at rest under the patient's "trust" data key (crypto::EnvelopeAead, the KEK's
// envelope like everything else at the cloudlet): a profile's condition codes and symptoms, and
// each message, stored twice, once under the sender's key and once under the recipient's, so
// shredding one patient (DeletePatient) leaves the other's copy readable and destroys theirs.
// In the clear, for queries: ids, the pseudonymous handle, the opt-in and consent flags, times,
// request categories and statuses, decisions' reasons (numbers and codes, no medical content),
// and ratings.
//
// Ids: patients are wire ids; handles, interaction, message and request ids are made here from
// `random` (unguessable, 16 hex digits after a prefix). Every Find/List for a patient only
// returns rows that patient takes part in; the caller maps "not yours" and "unknown" to the same
// kNotFound.
//
// Errors: kInvalidArgument for a bad id or field; kNotFound as documented; kAlreadyExists for a
// second rating of the same interaction by the same rater; envelope errors as they are
// (AuthenticationFailed() for a tampered row); database errors as store::SqliteError.
// Thread safety: thread-safe (one connection behind a mutex; encryption runs outside it where it
// can). The EnvelopeAead, Clock and Random must outlive the store.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/random.h"
#include "core/status.h"
#include "crypto/envelope.h"
#include "store/sqlite_database.h"

namespace SQLite {  // NOLINT(readability-identifier-naming): SQLiteCpp's namespace
class Database;
}

namespace medmesh::cloudlet {

// The data key part of the trust store's ciphertexts.
inline constexpr std::string_view kTrustKeyPart = "trust";

// What a patient allows others to see, per data category.
struct SharingConsent {
  bool vitals_summary = false;
  bool diagnoses = false;
  bool full_records = false;
};

struct SharingProfile {
  std::string patient_id;
  std::string handle;  // pseudonymous, made here; never the patient id or name
  bool opted_in = false;
  std::vector<std::string> conditions;  // ICD-10 codes (checked by the caller)
  std::vector<std::string> symptoms;
  SharingConsent consent;
  std::int64_t updated_ms = 0;
};

// kAttestation: a clinician (a doctor's session) vouched for or against a patient; its
// initiator is the doctor's account id, its responder the patient.
enum class InteractionKind : std::uint8_t { kMessage, kAccess, kAttestation };
// "message", "access", "attestation"
std::string_view InteractionKindName(InteractionKind kind);

struct Interaction {
  std::string interaction_id;
  InteractionKind kind = InteractionKind::kMessage;
  std::string initiator;  // patient ids
  std::string responder;
  std::int64_t time_ms = 0;
  std::string subject_id;  // the message or request id; an attestation's grant nonce
};

struct Message {
  std::string message_id;
  std::string interaction_id;
  std::string from_patient;
  std::string to_patient;
  std::int64_t sent_ms = 0;
  std::string text;  // decrypted with the reader's copy
};

enum class RequestStatus : std::uint8_t { kPending, kGranted, kRefused };
std::string_view RequestStatusName(RequestStatus status);  // "pending", "granted", "refused"

struct AccessRequest {
  std::string request_id;
  std::string requester;
  std::string owner;
  std::string category;  // "vitals_summary", "diagnoses", "full_records"
  RequestStatus status = RequestStatus::kPending;
  std::int64_t created_ms = 0;
  std::int64_t answered_ms = 0;  // 0 while pending
  std::string interaction_id;
  std::string decision_json;  // the decision and its reasons when answered ("" while pending)
};

struct Rating {
  std::string rater;
  std::string ratee;
  std::string interaction_id;
  bool positive = false;
  std::int64_t time_ms = 0;
};

// One thing a peer cloudlet did, as this cloudlet saw it.
struct PeerEvent {
  std::string peer_id;
  std::string kind;  // "forward", "shared_data", "report"
  bool good = false;
  std::int64_t time_ms = 0;
};

class TrustStore {
 public:
  static Result<std::unique_ptr<TrustStore>> Open(const std::string& path,
                                                  crypto::EnvelopeAead& envelope,
                                                  const Clock& clock, Random& random,
                                                  const store::SqliteOpenOptions& sqlite = {});
  ~TrustStore();
  TrustStore(const TrustStore&) = delete;
  TrustStore& operator=(const TrustStore&) = delete;

  // The patient's profile; nullopt if they never saved one.
  Result<std::optional<SharingProfile>> Profile(std::string_view patient_id) const;
  // Saves the profile (handle and updated_ms are set here; a handle stays once made).
  Result<SharingProfile> SaveProfile(const SharingProfile& profile);
  // Every opted-in profile, decrypted (for similarity), ordered by handle.
  Result<std::vector<SharingProfile>> OptedIn() const;
  // The opted-in patient with this handle; kNotFound otherwise.
  Result<SharingProfile> ByHandle(std::string_view handle) const;
  // The handle of a patient ("" if none).
  Result<std::string> HandleOf(std::string_view patient_id) const;

  // Logs a message from one patient to another (one interaction) and stores it twice, encrypted
  // (see above). kInvalidArgument for an empty text or one over 4000 bytes.
  Result<Message> AddMessage(std::string_view from_patient, std::string_view to_patient,
                             std::string_view text);
  // The patient's messages (sent and received), newest first, at most `limit`, decrypted with
  // the patient's own copies.
  Result<std::vector<Message>> Messages(std::string_view patient_id, std::size_t limit) const;

  // Logs an access request (one interaction).
  Result<AccessRequest> AddRequest(std::string_view requester, std::string_view owner,
                                   std::string_view category);
  // The request if `patient_id` is its requester or owner; kNotFound otherwise.
  Result<AccessRequest> Request(std::string_view request_id, std::string_view patient_id) const;
  // Requests the patient made (outgoing) or received (incoming), newest first.
  Result<std::vector<AccessRequest>> Requests(std::string_view patient_id, bool incoming) const;
  // Answers a pending request: kFailedPrecondition if it is not pending any more.
  Status AnswerRequest(std::string_view request_id, RequestStatus status,
                       std::string_view decision_json);

  // Sharing across cloudlets (share_federation.h): the id the owner's cloudlet gave a request
  // this cloudlet made on behalf of its patient (a mirror of the owner's request); "" if none.
  Status LinkRemoteRequest(std::string_view request_id, std::string_view remote_request_id);
  Result<std::string> RemoteRequestOf(std::string_view request_id) const;

  // The interaction if `patient_id` took part in it; kNotFound otherwise.
  Result<Interaction> InteractionOf(std::string_view interaction_id,
                                    std::string_view patient_id) const;
  // The interactions logged at or after `since_ms` (for the reputation computation: which
  // ratings are backed; older ones weigh next to nothing after the library's forgetting).
  Result<std::vector<Interaction>> Interactions(std::int64_t since_ms = 0) const;
  // Logs a clinician's attestation of a patient (one interaction of kind kAttestation) and the
  // clinician's rating of it (positive or not), in one transaction. `grant_nonce` is the nonce
  // of the cloud's grant assertion it came with (lower-case hex), kept as the interaction's
  // subject: an assertion settles one attestation, so a nonce logged before (also before a
  // restart) is kAlreadyExists. kInvalidArgument for a bad id or nonce or a clinician naming
  // themselves.
  Result<Interaction> AddAttestation(std::string_view clinician_account_id,
                                     std::string_view patient_id, bool positive,
                                     std::string_view grant_nonce);
  // Stores a rating: kAlreadyExists if this rater rated this interaction before.
  Status AddRating(const Rating& rating);
  // The ratings given at or after `since_ms`.
  Result<std::vector<Rating>> Ratings(std::int64_t since_ms = 0) const;
  // The ratings `rater` gave (to show which interactions they rated).
  Result<std::vector<Rating>> RatingsBy(std::string_view rater) const;

  Status AddPeerEvent(const PeerEvent& event);
  // The peer events at or after `since_ms`, oldest first.
  Result<std::vector<PeerEvent>> PeerEvents(std::int64_t since_ms = 0) const;

  // Sharing across cloudlets, forgetting (ADR 0048): notes that `peer_id` received something
  // about each of these patients (their handle). Idempotent.
  Status NoteSharedWith(std::span<const std::string> patient_ids, std::string_view peer_id);
  // The peer cloudlets that ever received something about the patient: those noted, and the
  // cloudlets of the remote parties of their messages and requests. Sorted.
  Result<std::vector<std::string>> SharedWith(std::string_view patient_id) const;
  // Deletes everything keyed by a remote party ("handle@cloudlet", which deleted their account
  // at their cloudlet): messages in both directions (this cloudlet's patients' copies too),
  // requests either way and their remote links, interactions, ratings given by, to or about
  // them, their stored query profile (`query_profile_id`), and the data keys of both. Returns
  // the rows removed (0 the second time: idempotent).
  Result<std::uint64_t> ForgetParty(std::string_view address, std::string_view query_profile_id);

  // Deletes everything of the patient this store keeps and destroys their "trust" data key:
  // their profile, their share recipients, whatever they exchanged with remote parties (kept
  // here only for them), their copies of local messages.
  Status DeletePatient(std::string_view patient_id);

 private:
  TrustStore(std::unique_ptr<SQLite::Database> db, crypto::EnvelopeAead& envelope,
             const Clock& clock, Random& random);
  Result<SharingProfile> Decode(std::string patient_id, std::string handle, bool opted_in,
                                SharingConsent consent, std::int64_t updated_ms,
                                ByteView sealed) const;
  std::string NewId(std::string_view prefix) const;

  mutable std::mutex mu_;
  std::unique_ptr<SQLite::Database> db_;  // guarded by mu_
  crypto::EnvelopeAead& envelope_;
  const Clock& clock_;
  Random& random_;
};

}  // namespace medmesh::cloudlet

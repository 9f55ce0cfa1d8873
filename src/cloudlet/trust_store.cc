#include "cloudlet/trust_store.h"

#include <SQLiteCpp/SQLiteCpp.h>

#include <array>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>

#include "core/lower_hex.h"
#include "wire/model.h"

namespace medmesh::cloudlet {
namespace {

using Json = nlohmann::json;
using wire::NowMs;

constexpr char kSchema[] = R"sql(
CREATE TABLE IF NOT EXISTS trust_profiles (
  patient_id        TEXT PRIMARY KEY,
  handle            TEXT NOT NULL UNIQUE,
  opted_in          INTEGER NOT NULL,
  consent_vitals    INTEGER NOT NULL,
  consent_diagnoses INTEGER NOT NULL,
  consent_records   INTEGER NOT NULL,
  updated_ms        INTEGER NOT NULL,
  sealed            BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS trust_interactions (
  interaction_id TEXT PRIMARY KEY,
  kind           TEXT NOT NULL,
  initiator      TEXT NOT NULL,
  responder      TEXT NOT NULL,
  time_ms        INTEGER NOT NULL,
  subject_id     TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS trust_interactions_by_initiator ON trust_interactions (initiator);
CREATE INDEX IF NOT EXISTS trust_interactions_by_responder ON trust_interactions (responder);
CREATE TABLE IF NOT EXISTS trust_messages (
  message_id     TEXT PRIMARY KEY,
  interaction_id TEXT NOT NULL,
  from_patient   TEXT NOT NULL,
  to_patient     TEXT NOT NULL,
  sent_ms        INTEGER NOT NULL,
  from_copy      BLOB,
  to_copy        BLOB
);
CREATE INDEX IF NOT EXISTS trust_messages_by_from ON trust_messages (from_patient);
CREATE INDEX IF NOT EXISTS trust_messages_by_to ON trust_messages (to_patient);
CREATE TABLE IF NOT EXISTS trust_requests (
  request_id     TEXT PRIMARY KEY,
  requester      TEXT NOT NULL,
  owner          TEXT NOT NULL,
  category       TEXT NOT NULL,
  status         TEXT NOT NULL,
  created_ms     INTEGER NOT NULL,
  answered_ms    INTEGER NOT NULL,
  interaction_id TEXT NOT NULL,
  decision       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS trust_requests_by_requester ON trust_requests (requester);
CREATE INDEX IF NOT EXISTS trust_requests_by_owner ON trust_requests (owner);
CREATE TABLE IF NOT EXISTS trust_ratings (
  rater          TEXT NOT NULL,
  interaction_id TEXT NOT NULL,
  ratee          TEXT NOT NULL,
  positive       INTEGER NOT NULL,
  time_ms        INTEGER NOT NULL,
  PRIMARY KEY (rater, interaction_id)
);
CREATE TABLE IF NOT EXISTS trust_peer_events (
  id      INTEGER PRIMARY KEY AUTOINCREMENT,
  peer_id TEXT NOT NULL,
  kind    TEXT NOT NULL,
  good    INTEGER NOT NULL,
  time_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS trust_remote_requests (
  request_id        TEXT PRIMARY KEY,
  remote_request_id TEXT NOT NULL
);
)sql";

// Version 2 (ADR 0048): which partner cloudlets ever received something about a patient here
// (their handle in a message, a request, a data answer or a similar-patients answer), so that
// deleting the patient tells each of them to forget the handle.
constexpr char kSchemaV2[] = R"sql(
CREATE TABLE IF NOT EXISTS trust_share_recipients (
  patient_id TEXT NOT NULL,
  peer_id    TEXT NOT NULL,
  first_ms   INTEGER NOT NULL,
  PRIMARY KEY (patient_id, peer_id)
);
)sql";

// Version 3: an attestation's subject is the nonce of the cloud's grant assertion it came with
// (AddAttestation), and one assertion settles one attestation - also enforced by the file.
// Rows before it have their own interaction id as subject, so they never collide.
constexpr char kSchemaV3[] = R"sql(
CREATE UNIQUE INDEX IF NOT EXISTS trust_attestation_nonce
  ON trust_interactions (subject_id) WHERE kind = 'attestation';
)sql";

constexpr std::size_t kMaxMessageBytes = 4000;

// Names for handles: a word and 4 hex digits ("heron-3f2a"), pseudonymous and easy to read out.
constexpr std::array<std::string_view, 16> kHandleWords = {
    "heron", "otter",  "lynx",  "wren",   "badger", "falcon", "marten", "ibis",
    "finch", "beaver", "crane", "plover", "hare",   "kite",   "stoat",  "swift"};

Bytes ProfileAd(std::string_view patient_id) {
  Bytes ad;
  AppendBytes(ad, AsBytes("cloudlet trust profile v1"));
  AppendU8(ad, static_cast<std::uint8_t>(patient_id.size()));
  AppendBytes(ad, AsBytes(patient_id));
  return ad;
}

// A message copy is bound to the message and to whose copy it is.
Bytes MessageAd(std::string_view message_id, std::string_view holder) {
  Bytes ad;
  AppendBytes(ad, AsBytes("cloudlet trust message v1"));
  AppendU8(ad, static_cast<std::uint8_t>(message_id.size()));
  AppendBytes(ad, AsBytes(message_id));
  AppendU8(ad, static_cast<std::uint8_t>(holder.size()));
  AppendBytes(ad, AsBytes(holder));
  return ad;
}

crypto::DataKeyContext KeyOf(std::string_view patient_id) {
  return {std::string(patient_id), std::string(kTrustKeyPart)};
}

Result<RequestStatus> ParseStatus(std::string_view text) {
  if (text == "pending") return RequestStatus::kPending;
  if (text == "granted") return RequestStatus::kGranted;
  if (text == "refused") return RequestStatus::kRefused;
  return DataLoss("trust store: unknown request status");
}

constexpr char kRequestColumns[] =
    "SELECT request_id, requester, owner, category, status, created_ms, answered_ms,"
    " interaction_id, decision FROM trust_requests";

Result<AccessRequest> RequestFrom(SQLite::Statement& q) {
  AccessRequest r;
  r.request_id = q.getColumn(0).getString();
  r.requester = q.getColumn(1).getString();
  r.owner = q.getColumn(2).getString();
  r.category = q.getColumn(3).getString();
  MEDMESH_ASSIGN_OR_RETURN(r.status, ParseStatus(q.getColumn(4).getString()));
  r.created_ms = q.getColumn(5).getInt64();
  r.answered_ms = q.getColumn(6).getInt64();
  r.interaction_id = q.getColumn(7).getString();
  r.decision_json = q.getColumn(8).getString();
  return r;
}

Interaction InteractionFrom(SQLite::Statement& q) {
  Interaction i;
  i.interaction_id = q.getColumn(0).getString();
  const std::string kind = q.getColumn(1).getString();
  i.kind = kind == "access"        ? InteractionKind::kAccess
           : kind == "attestation" ? InteractionKind::kAttestation
                                   : InteractionKind::kMessage;
  i.initiator = q.getColumn(2).getString();
  i.responder = q.getColumn(3).getString();
  i.time_ms = q.getColumn(4).getInt64();
  i.subject_id = q.getColumn(5).getString();
  return i;
}

void InsertInteraction(SQLite::Database& db, const Interaction& i) {
  SQLite::Statement insert(db,
                           "INSERT INTO trust_interactions (interaction_id, kind, initiator,"
                           " responder, time_ms, subject_id) VALUES (?, ?, ?, ?, ?, ?)");
  insert.bind(1, i.interaction_id);
  insert.bind(2, std::string(InteractionKindName(i.kind)));
  insert.bind(3, i.initiator);
  insert.bind(4, i.responder);
  insert.bind(5, i.time_ms);
  insert.bind(6, i.subject_id);
  insert.exec();
}

void InsertRating(SQLite::Database& db, const Rating& rating) {
  SQLite::Statement insert(db,
                           "INSERT INTO trust_ratings (rater, interaction_id, ratee, positive,"
                           " time_ms) VALUES (?, ?, ?, ?, ?)");
  insert.bind(1, rating.rater);
  insert.bind(2, rating.interaction_id);
  insert.bind(3, rating.ratee);
  insert.bind(4, rating.positive ? 1 : 0);
  insert.bind(5, rating.time_ms);
  insert.exec();
}

}  // namespace

std::string_view InteractionKindName(InteractionKind kind) {
  switch (kind) {
    case InteractionKind::kMessage: return "message";
    case InteractionKind::kAccess: return "access";
    case InteractionKind::kAttestation: return "attestation";
  }
  return "message";
}

std::string_view RequestStatusName(RequestStatus status) {
  switch (status) {
    case RequestStatus::kPending: return "pending";
    case RequestStatus::kGranted: return "granted";
    case RequestStatus::kRefused: return "refused";
  }
  return "pending";
}

TrustStore::TrustStore(std::unique_ptr<SQLite::Database> db, crypto::EnvelopeAead& envelope,
                       const Clock& clock, Random& random)
    : db_(std::move(db)), envelope_(envelope), clock_(clock), random_(random) {}

TrustStore::~TrustStore() = default;

Result<std::unique_ptr<TrustStore>> TrustStore::Open(const std::string& path,
                                                     crypto::EnvelopeAead& envelope,
                                                     const Clock& clock, Random& random,
                                                     const store::SqliteOpenOptions& sqlite) {
  MEDMESH_ASSIGN_OR_RETURN(std::unique_ptr<SQLite::Database> db,
                           store::OpenSqliteDatabase(path, sqlite));
  // One version for the component: a file below version 3 gets every part (each is CREATE ...
  // IF NOT EXISTS, so what it has already is kept), a version-3 file nothing. Checking each
  // version in turn would refuse every file this build had already moved further.
  MEDMESH_RETURN_IF_ERROR(
      store::EnsureSqliteSchema(*db, "cloudlet_trust", 3, [](SQLite::Database& d) {
        d.exec(kSchema);
        d.exec(kSchemaV2);
        d.exec(kSchemaV3);
      }));
  return std::unique_ptr<TrustStore>(new TrustStore(std::move(db), envelope, clock, random));
}

std::string TrustStore::NewId(std::string_view prefix) const {
  return std::string(prefix) + HexEncode(random_.Generate(8));
}

Result<SharingProfile> TrustStore::Decode(std::string patient_id, std::string handle, bool opted_in,
                                          SharingConsent consent, std::int64_t updated_ms,
                                          ByteView sealed) const {
  MEDMESH_ASSIGN_OR_RETURN(Bytes plain,
                           envelope_.Decrypt(KeyOf(patient_id), sealed, ProfileAd(patient_id)));
  const Json body = Json::parse(plain.begin(), plain.end(), nullptr, false);
  if (!body.is_object() || !body.contains("conditions") || !body.contains("symptoms") ||
      !body["conditions"].is_array() || !body["symptoms"].is_array()) {
    return DataLoss("trust store: a profile does not decode");
  }
  SharingProfile p;
  p.patient_id = std::move(patient_id);
  p.handle = std::move(handle);
  p.opted_in = opted_in;
  p.consent = consent;
  p.updated_ms = updated_ms;
  for (const Json& c : body["conditions"]) {
    if (c.is_string()) p.conditions.push_back(c.get<std::string>());
  }
  for (const Json& s : body["symptoms"]) {
    if (s.is_string()) p.symptoms.push_back(s.get<std::string>());
  }
  return p;
}

namespace {
constexpr char kProfileColumns[] =
    "SELECT patient_id, handle, opted_in, consent_vitals, consent_diagnoses, consent_records,"
    " updated_ms, sealed FROM trust_profiles";
}  // namespace

Result<std::optional<SharingProfile>> TrustStore::Profile(std::string_view patient_id) const {
  if (!wire::IsValidId(patient_id)) return InvalidArgument("bad patient id");
  std::string handle;
  bool opted_in = false;
  SharingConsent consent;
  std::int64_t updated_ms = 0;
  Bytes sealed;
  {
    std::lock_guard lock(mu_);
    try {
      SQLite::Statement q(*db_, std::string(kProfileColumns) + " WHERE patient_id = ?");
      q.bind(1, std::string(patient_id));
      if (!q.executeStep()) return std::optional<SharingProfile>();
      handle = q.getColumn(1).getString();
      opted_in = q.getColumn(2).getInt() != 0;
      consent = {q.getColumn(3).getInt() != 0, q.getColumn(4).getInt() != 0,
                 q.getColumn(5).getInt() != 0};
      updated_ms = q.getColumn(6).getInt64();
      sealed = store::ColumnBytes(q.getColumn(7));
    } catch (const std::exception& e) {
      return store::SqliteError(e, "read a sharing profile");
    }
  }
  MEDMESH_ASSIGN_OR_RETURN(SharingProfile p, Decode(std::string(patient_id), std::move(handle),
                                                    opted_in, consent, updated_ms, sealed));
  return std::optional<SharingProfile>(std::move(p));
}

Result<SharingProfile> TrustStore::SaveProfile(const SharingProfile& profile) {
  if (!wire::IsValidId(profile.patient_id)) return InvalidArgument("bad patient id");
  const Json content{{"conditions", profile.conditions}, {"symptoms", profile.symptoms}};
  const std::string text = content.dump();
  MEDMESH_ASSIGN_OR_RETURN(Bytes sealed, envelope_.Encrypt(KeyOf(profile.patient_id), AsBytes(text),
                                                           ProfileAd(profile.patient_id)));
  SharingProfile saved = profile;
  saved.updated_ms = NowMs(clock_);
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement existing(*db_, "SELECT handle FROM trust_profiles WHERE patient_id = ?");
    existing.bind(1, profile.patient_id);
    if (existing.executeStep()) {
      saved.handle = existing.getColumn(0).getString();
    } else {
      // A fresh handle; a clash (1 in 1M per pair) just draws again.
      for (int attempt = 0;; ++attempt) {
        const Bytes r = random_.Generate(3);
        saved.handle = std::string(kHandleWords[r[0] % kHandleWords.size()]) + "-" +
                       HexEncode(ByteView(r.data() + 1, 2));
        SQLite::Statement taken(*db_, "SELECT 1 FROM trust_profiles WHERE handle = ?");
        taken.bind(1, saved.handle);
        if (!taken.executeStep()) break;
        if (attempt > 100) return Internal("trust store: no free handle");
      }
    }
    SQLite::Statement upsert(
        *db_,
        "INSERT INTO trust_profiles (patient_id, handle, opted_in, consent_vitals,"
        " consent_diagnoses, consent_records, updated_ms, sealed) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (patient_id) DO UPDATE SET opted_in = excluded.opted_in,"
        " consent_vitals = excluded.consent_vitals, consent_diagnoses = excluded.consent_diagnoses,"
        " consent_records = excluded.consent_records, updated_ms = excluded.updated_ms,"
        " sealed = excluded.sealed");
    upsert.bind(1, saved.patient_id);
    upsert.bind(2, saved.handle);
    upsert.bind(3, saved.opted_in ? 1 : 0);
    upsert.bind(4, saved.consent.vitals_summary ? 1 : 0);
    upsert.bind(5, saved.consent.diagnoses ? 1 : 0);
    upsert.bind(6, saved.consent.full_records ? 1 : 0);
    upsert.bind(7, saved.updated_ms);
    store::BindBlob(upsert, 8, sealed);
    upsert.exec();
  } catch (const std::exception& e) {
    return store::SqliteError(e, "save a sharing profile");
  }
  return saved;
}

Result<std::vector<SharingProfile>> TrustStore::OptedIn() const {
  struct Row {
    std::string patient_id, handle;
    SharingConsent consent;
    std::int64_t updated_ms;
    Bytes sealed;
  };
  std::vector<Row> rows;
  {
    std::lock_guard lock(mu_);
    try {
      SQLite::Statement q(*db_,
                          std::string(kProfileColumns) + " WHERE opted_in = 1 ORDER BY handle");
      while (q.executeStep()) {
        rows.push_back({q.getColumn(0).getString(),
                        q.getColumn(1).getString(),
                        {q.getColumn(3).getInt() != 0, q.getColumn(4).getInt() != 0,
                         q.getColumn(5).getInt() != 0},
                        q.getColumn(6).getInt64(),
                        store::ColumnBytes(q.getColumn(7))});
      }
    } catch (const std::exception& e) {
      return store::SqliteError(e, "list sharing profiles");
    }
  }
  std::vector<SharingProfile> out;
  out.reserve(rows.size());
  for (Row& row : rows) {
    auto p = Decode(std::move(row.patient_id), std::move(row.handle), true, row.consent,
                    row.updated_ms, row.sealed);
    // A shredded patient (data key destroyed, integrity.h) shares nothing any more.
    if (!p && p.error().code() == ErrorCode::kNotFound) continue;
    if (!p) return p.error();
    out.push_back(std::move(*p));
  }
  return out;
}

Result<SharingProfile> TrustStore::ByHandle(std::string_view handle) const {
  std::string patient_id;
  {
    std::lock_guard lock(mu_);
    try {
      SQLite::Statement q(
          *db_, "SELECT patient_id FROM trust_profiles WHERE handle = ? AND opted_in = 1");
      q.bind(1, std::string(handle));
      if (!q.executeStep()) return NotFound("no patient with that handle shares here");
      patient_id = q.getColumn(0).getString();
    } catch (const std::exception& e) {
      return store::SqliteError(e, "find a handle");
    }
  }
  MEDMESH_ASSIGN_OR_RETURN(std::optional<SharingProfile> p, Profile(patient_id));
  if (!p || !p->opted_in) return NotFound("no patient with that handle shares here");
  return std::move(*p);
}

Result<std::string> TrustStore::HandleOf(std::string_view patient_id) const {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement q(*db_, "SELECT handle FROM trust_profiles WHERE patient_id = ?");
    q.bind(1, std::string(patient_id));
    return q.executeStep() ? q.getColumn(0).getString() : std::string();
  } catch (const std::exception& e) {
    return store::SqliteError(e, "find a handle");
  }
}

Result<Message> TrustStore::AddMessage(std::string_view from_patient, std::string_view to_patient,
                                       std::string_view text) {
  if (text.empty()) return InvalidArgument("text is empty");
  if (text.size() > kMaxMessageBytes) {
    return InvalidArgument("text is longer than " + std::to_string(kMaxMessageBytes) + " bytes");
  }
  Message m;
  m.message_id = NewId("msg-");
  m.interaction_id = NewId("ix-");
  m.from_patient = std::string(from_patient);
  m.to_patient = std::string(to_patient);
  m.sent_ms = NowMs(clock_);
  m.text = std::string(text);
  MEDMESH_ASSIGN_OR_RETURN(
      Bytes from_copy,
      envelope_.Encrypt(KeyOf(from_patient), AsBytes(text), MessageAd(m.message_id, from_patient)));
  MEDMESH_ASSIGN_OR_RETURN(Bytes to_copy, envelope_.Encrypt(KeyOf(to_patient), AsBytes(text),
                                                            MessageAd(m.message_id, to_patient)));
  std::lock_guard lock(mu_);
  try {
    SQLite::Transaction tx(*db_);
    InsertInteraction(*db_, {m.interaction_id, InteractionKind::kMessage, m.from_patient,
                             m.to_patient, m.sent_ms, m.message_id});
    SQLite::Statement insert(
        *db_,
        "INSERT INTO trust_messages (message_id, interaction_id, from_patient,"
        " to_patient, sent_ms, from_copy, to_copy) VALUES (?, ?, ?, ?, ?, ?, ?)");
    insert.bind(1, m.message_id);
    insert.bind(2, m.interaction_id);
    insert.bind(3, m.from_patient);
    insert.bind(4, m.to_patient);
    insert.bind(5, m.sent_ms);
    store::BindBlob(insert, 6, from_copy);
    store::BindBlob(insert, 7, to_copy);
    insert.exec();
    tx.commit();
  } catch (const std::exception& e) {
    return store::SqliteError(e, "store a message");
  }
  return m;
}

Result<std::vector<Message>> TrustStore::Messages(std::string_view patient_id,
                                                  std::size_t limit) const {
  std::vector<std::pair<Message, Bytes>> rows;
  {
    std::lock_guard lock(mu_);
    try {
      SQLite::Statement q(*db_,
                          "SELECT message_id, interaction_id, from_patient, to_patient, sent_ms,"
                          " CASE WHEN from_patient = ?1 THEN from_copy ELSE to_copy END"
                          " FROM trust_messages WHERE (from_patient = ?1 AND from_copy IS NOT NULL)"
                          " OR (to_patient = ?1 AND to_copy IS NOT NULL)"
                          " ORDER BY sent_ms DESC, message_id LIMIT ?2");
      q.bind(1, std::string(patient_id));
      q.bind(2, static_cast<std::int64_t>(limit));
      while (q.executeStep()) {
        Message m;
        m.message_id = q.getColumn(0).getString();
        m.interaction_id = q.getColumn(1).getString();
        m.from_patient = q.getColumn(2).getString();
        m.to_patient = q.getColumn(3).getString();
        m.sent_ms = q.getColumn(4).getInt64();
        rows.emplace_back(std::move(m), store::ColumnBytes(q.getColumn(5)));
      }
    } catch (const std::exception& e) {
      return store::SqliteError(e, "list messages");
    }
  }
  std::vector<Message> out;
  if (rows.empty()) return out;
  MEDMESH_ASSIGN_OR_RETURN(crypto::DataKeyDecryptor key, envelope_.OpenDataKey(KeyOf(patient_id)));
  for (auto& [m, sealed] : rows) {
    MEDMESH_ASSIGN_OR_RETURN(Bytes plain, key.Decrypt(sealed, MessageAd(m.message_id, patient_id)));
    m.text.assign(plain.begin(), plain.end());
    out.push_back(std::move(m));
  }
  return out;
}

Result<AccessRequest> TrustStore::AddRequest(std::string_view requester, std::string_view owner,
                                             std::string_view category) {
  AccessRequest r;
  r.request_id = NewId("req-");
  r.interaction_id = NewId("ix-");
  r.requester = std::string(requester);
  r.owner = std::string(owner);
  r.category = std::string(category);
  r.created_ms = NowMs(clock_);
  std::lock_guard lock(mu_);
  try {
    SQLite::Transaction tx(*db_);
    InsertInteraction(*db_, {r.interaction_id, InteractionKind::kAccess, r.requester, r.owner,
                             r.created_ms, r.request_id});
    SQLite::Statement insert(*db_,
                             "INSERT INTO trust_requests (request_id, requester, owner, category,"
                             " status, created_ms, answered_ms, interaction_id, decision)"
                             " VALUES (?, ?, ?, ?, 'pending', ?, 0, ?, '')");
    insert.bind(1, r.request_id);
    insert.bind(2, r.requester);
    insert.bind(3, r.owner);
    insert.bind(4, r.category);
    insert.bind(5, r.created_ms);
    insert.bind(6, r.interaction_id);
    insert.exec();
    tx.commit();
  } catch (const std::exception& e) {
    return store::SqliteError(e, "store an access request");
  }
  return r;
}

Result<AccessRequest> TrustStore::Request(std::string_view request_id,
                                          std::string_view patient_id) const {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement q(*db_, std::string(kRequestColumns) +
                                  " WHERE request_id = ? AND (requester = ? OR owner = ?)");
    q.bind(1, std::string(request_id));
    q.bind(2, std::string(patient_id));
    q.bind(3, std::string(patient_id));
    if (!q.executeStep()) return NotFound("no such access request");
    return RequestFrom(q);
  } catch (const std::exception& e) {
    return store::SqliteError(e, "read an access request");
  }
}

Result<std::vector<AccessRequest>> TrustStore::Requests(std::string_view patient_id,
                                                        bool incoming) const {
  std::lock_guard lock(mu_);
  std::vector<AccessRequest> out;
  try {
    SQLite::Statement q(*db_, std::string(kRequestColumns) +
                                  (incoming ? " WHERE owner = ?" : " WHERE requester = ?") +
                                  " ORDER BY created_ms DESC, request_id LIMIT 200");
    q.bind(1, std::string(patient_id));
    while (q.executeStep()) {
      MEDMESH_ASSIGN_OR_RETURN(AccessRequest r, RequestFrom(q));
      out.push_back(std::move(r));
    }
  } catch (const std::exception& e) {
    return store::SqliteError(e, "list access requests");
  }
  return out;
}

Status TrustStore::AnswerRequest(std::string_view request_id, RequestStatus status,
                                 std::string_view decision_json) {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement update(*db_,
                             "UPDATE trust_requests SET status = ?, answered_ms = ?, decision = ?"
                             " WHERE request_id = ? AND status = 'pending'");
    update.bind(1, std::string(RequestStatusName(status)));
    update.bind(2, NowMs(clock_));
    update.bind(3, std::string(decision_json));
    update.bind(4, std::string(request_id));
    if (update.exec() == 0) return FailedPrecondition("the request was answered already");
  } catch (const std::exception& e) {
    return store::SqliteError(e, "answer an access request");
  }
  return OkStatus();
}

namespace {
constexpr char kInteractionColumns[] =
    "SELECT interaction_id, kind, initiator, responder, time_ms, subject_id FROM "
    "trust_interactions";
}  // namespace

Result<Interaction> TrustStore::InteractionOf(std::string_view interaction_id,
                                              std::string_view patient_id) const {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement q(*db_, std::string(kInteractionColumns) +
                                  " WHERE interaction_id = ? AND (initiator = ? OR responder = ?)");
    q.bind(1, std::string(interaction_id));
    q.bind(2, std::string(patient_id));
    q.bind(3, std::string(patient_id));
    if (!q.executeStep()) return NotFound("no such interaction of yours");
    return InteractionFrom(q);
  } catch (const std::exception& e) {
    return store::SqliteError(e, "read an interaction");
  }
}

Result<std::vector<Interaction>> TrustStore::Interactions(std::int64_t since_ms) const {
  std::lock_guard lock(mu_);
  std::vector<Interaction> out;
  try {
    SQLite::Statement q(*db_,
                        std::string(kInteractionColumns) + " WHERE time_ms >= ? ORDER BY time_ms");
    q.bind(1, since_ms);
    while (q.executeStep()) out.push_back(InteractionFrom(q));
  } catch (const std::exception& e) {
    return store::SqliteError(e, "list interactions");
  }
  return out;
}

Result<Interaction> TrustStore::AddAttestation(std::string_view clinician_account_id,
                                               std::string_view patient_id, bool positive,
                                               std::string_view grant_nonce) {
  if (!wire::IsValidId(clinician_account_id) || !wire::IsValidId(patient_id)) {
    return InvalidArgument("bad id");
  }
  if (grant_nonce.empty() || grant_nonce.size() > 64 || !IsLowerHex(grant_nonce)) {
    return InvalidArgument("bad grant assertion nonce");
  }
  if (clinician_account_id == patient_id)
    return InvalidArgument("a clinician cannot attest themselves");
  Interaction i;
  i.interaction_id = NewId("ix-");
  i.kind = InteractionKind::kAttestation;
  i.initiator = std::string(clinician_account_id);
  i.responder = std::string(patient_id);
  i.time_ms = NowMs(clock_);
  i.subject_id = std::string(grant_nonce);
  std::lock_guard lock(mu_);
  try {
    SQLite::Transaction tx(*db_);
    SQLite::Statement seen(*db_,
                           "SELECT 1 FROM trust_interactions WHERE kind = 'attestation' AND"
                           " subject_id = ?");
    seen.bind(1, i.subject_id);
    if (seen.executeStep()) return AlreadyExists("this grant assertion settled an attestation");
    InsertInteraction(*db_, i);
    InsertRating(*db_, {i.initiator, i.responder, i.interaction_id, positive, i.time_ms});
    tx.commit();
  } catch (const std::exception& e) {
    return store::SqliteError(e, "store an attestation");
  }
  return i;
}

Status TrustStore::AddRating(const Rating& rating) {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement seen(*db_,
                           "SELECT 1 FROM trust_ratings WHERE rater = ? AND interaction_id = ?");
    seen.bind(1, rating.rater);
    seen.bind(2, rating.interaction_id);
    if (seen.executeStep()) return AlreadyExists("you rated this interaction already");
    InsertRating(*db_, rating);
  } catch (const std::exception& e) {
    return store::SqliteError(e, "store a rating");
  }
  return OkStatus();
}

namespace {
Result<std::vector<Rating>> ReadRatings(SQLite::Database& db, std::string_view rater,
                                        std::int64_t since_ms) {
  std::vector<Rating> out;
  try {
    SQLite::Statement q(db, std::string("SELECT rater, ratee, interaction_id, positive, time_ms"
                                        " FROM trust_ratings") +
                                " WHERE time_ms >= ?" + (rater.empty() ? "" : " AND rater = ?") +
                                " ORDER BY time_ms");
    q.bind(1, since_ms);
    if (!rater.empty()) q.bind(2, std::string(rater));
    while (q.executeStep()) {
      out.push_back({q.getColumn(0).getString(), q.getColumn(1).getString(),
                     q.getColumn(2).getString(), q.getColumn(3).getInt() != 0,
                     q.getColumn(4).getInt64()});
    }
  } catch (const std::exception& e) {
    return store::SqliteError(e, "list ratings");
  }
  return out;
}
}  // namespace

Result<std::vector<Rating>> TrustStore::Ratings(std::int64_t since_ms) const {
  std::lock_guard lock(mu_);
  return ReadRatings(*db_, "", since_ms);
}

Result<std::vector<Rating>> TrustStore::RatingsBy(std::string_view rater) const {
  if (rater.empty()) return std::vector<Rating>{};
  std::lock_guard lock(mu_);
  return ReadRatings(*db_, rater, 0);
}

Status TrustStore::AddPeerEvent(const PeerEvent& event) {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement insert(*db_,
                             "INSERT INTO trust_peer_events (peer_id, kind, good, time_ms)"
                             " VALUES (?, ?, ?, ?)");
    insert.bind(1, event.peer_id);
    insert.bind(2, event.kind);
    insert.bind(3, event.good ? 1 : 0);
    insert.bind(4, event.time_ms);
    insert.exec();
  } catch (const std::exception& e) {
    return store::SqliteError(e, "store a peer event");
  }
  return OkStatus();
}

Result<std::vector<PeerEvent>> TrustStore::PeerEvents(std::int64_t since_ms) const {
  std::lock_guard lock(mu_);
  std::vector<PeerEvent> out;
  try {
    SQLite::Statement q(*db_,
                        "SELECT peer_id, kind, good, time_ms FROM trust_peer_events"
                        " WHERE time_ms >= ? ORDER BY id");
    q.bind(1, since_ms);
    while (q.executeStep()) {
      out.push_back({q.getColumn(0).getString(), q.getColumn(1).getString(),
                     q.getColumn(2).getInt() != 0, q.getColumn(3).getInt64()});
    }
  } catch (const std::exception& e) {
    return store::SqliteError(e, "list peer events");
  }
  return out;
}

Status TrustStore::LinkRemoteRequest(std::string_view request_id,
                                     std::string_view remote_request_id) {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement insert(
        *db_, "INSERT INTO trust_remote_requests (request_id, remote_request_id) VALUES (?, ?)");
    insert.bind(1, std::string(request_id));
    insert.bind(2, std::string(remote_request_id));
    insert.exec();
  } catch (const std::exception& e) {
    return store::SqliteError(e, "link a remote access request");
  }
  return OkStatus();
}

Result<std::string> TrustStore::RemoteRequestOf(std::string_view request_id) const {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement q(*db_,
                        "SELECT remote_request_id FROM trust_remote_requests WHERE request_id = ?");
    q.bind(1, std::string(request_id));
    return q.executeStep() ? q.getColumn(0).getString() : std::string();
  } catch (const std::exception& e) {
    return store::SqliteError(e, "find a remote access request");
  }
}

Status TrustStore::NoteSharedWith(std::span<const std::string> patient_ids,
                                  std::string_view peer_id) {
  if (patient_ids.empty()) return OkStatus();
  const std::int64_t now_ms = NowMs(clock_);
  std::lock_guard lock(mu_);
  try {
    SQLite::Transaction tx(*db_);
    SQLite::Statement insert(*db_,
                             "INSERT OR IGNORE INTO trust_share_recipients (patient_id, peer_id,"
                             " first_ms) VALUES (?, ?, ?)");
    for (const std::string& patient_id : patient_ids) {
      insert.bind(1, patient_id);
      insert.bind(2, std::string(peer_id));
      insert.bind(3, now_ms);
      insert.exec();
      insert.reset();
    }
    tx.commit();
  } catch (const std::exception& e) {
    return store::SqliteError(e, "note a share recipient");
  }
  return OkStatus();
}

Result<std::vector<std::string>> TrustStore::SharedWith(std::string_view patient_id) const {
  std::set<std::string> peers;
  std::lock_guard lock(mu_);
  try {
    // What was noted, and the cloudlets of every remote party the patient exchanged messages or
    // requests with (rows kept before the notes existed name them too).
    SQLite::Statement q(*db_,
                        "SELECT peer_id, 1 FROM trust_share_recipients WHERE patient_id = ?1"
                        " UNION SELECT to_patient, 0 FROM trust_messages WHERE from_patient = ?1"
                        " UNION SELECT from_patient, 0 FROM trust_messages WHERE to_patient = ?1"
                        " UNION SELECT owner, 0 FROM trust_requests WHERE requester = ?1"
                        " UNION SELECT requester, 0 FROM trust_requests WHERE owner = ?1");
    q.bind(1, std::string(patient_id));
    while (q.executeStep()) {
      const std::string party = q.getColumn(0).getString();
      if (q.getColumn(1).getInt() == 1) {
        peers.insert(party);
        continue;
      }
      // A party of another cloudlet is "handle@cloudlet"; a local party is not a peer.
      const std::size_t at = party.find('@');
      if (at != std::string::npos && wire::IsValidId(party.substr(at + 1))) {
        peers.insert(party.substr(at + 1));
      }
    }
  } catch (const std::exception& e) {
    return store::SqliteError(e, "list a patient's share recipients");
  }
  return std::vector<std::string>(peers.begin(), peers.end());
}

Result<std::uint64_t> TrustStore::ForgetParty(std::string_view address,
                                              std::string_view query_profile_id) {
  if (address.find('@') == std::string_view::npos) {
    return InvalidArgument("a remote party is named handle@cloudlet");
  }
  std::uint64_t removed = 0;
  {
    std::lock_guard lock(mu_);
    try {
      SQLite::Transaction tx(*db_);
      // Ratings first (they name the party's interactions), then what hangs off requests, then
      // the rows themselves. Every statement binds ?1 = address, ?2 = the query profile's id.
      for (const char* sql :
           {"DELETE FROM trust_ratings WHERE rater = ?1 OR ratee = ?1 OR interaction_id IN"
            " (SELECT interaction_id FROM trust_interactions WHERE initiator = ?1 OR"
            " responder = ?1)",
            "DELETE FROM trust_remote_requests WHERE request_id IN (SELECT request_id FROM"
            " trust_requests WHERE requester = ?1 OR owner = ?1)",
            "DELETE FROM trust_requests WHERE requester = ?1 OR owner = ?1",
            "DELETE FROM trust_messages WHERE from_patient = ?1 OR to_patient = ?1",
            "DELETE FROM trust_interactions WHERE initiator = ?1 OR responder = ?1",
            "DELETE FROM trust_profiles WHERE patient_id = ?2"}) {
        SQLite::Statement s(*db_, sql);
        s.bind(1, std::string(address));
        if (std::string_view(sql).find("?2") != std::string_view::npos) {
          s.bind(2, std::string(query_profile_id));
        }
        removed += static_cast<std::uint64_t>(s.exec());
      }
      tx.commit();
    } catch (const std::exception& e) {
      return store::SqliteError(e, "forget a remote party");
    }
  }
  // The party's own data key here (it sealed their copies of messages they sent) and their
  // query profile's.
  for (std::string_view key : {address, query_profile_id}) {
    Status destroyed = envelope_.DestroyDataKey(KeyOf(key));
    if (!destroyed && destroyed.error().code() != ErrorCode::kNotFound) return destroyed.error();
  }
  return removed;
}

Status TrustStore::DeletePatient(std::string_view patient_id) {
  {
    std::lock_guard lock(mu_);
    try {
      SQLite::Transaction tx(*db_);
      const std::string id(patient_id);
      for (const char* sql :
           {"DELETE FROM trust_profiles WHERE patient_id = ?1",
            "DELETE FROM trust_share_recipients WHERE patient_id = ?1",
            // What the patient exchanged with parties of other cloudlets is kept here for them
            // alone (the other party's copy lives at their own cloudlet): it goes whole.
            "DELETE FROM trust_messages WHERE (from_patient = ?1 AND to_patient LIKE '%@%') OR"
            " (to_patient = ?1 AND from_patient LIKE '%@%')",
            "DELETE FROM trust_remote_requests WHERE request_id IN (SELECT request_id FROM"
            " trust_requests WHERE (requester = ?1 AND owner LIKE '%@%') OR"
            " (owner = ?1 AND requester LIKE '%@%'))",
            "DELETE FROM trust_requests WHERE (requester = ?1 AND owner LIKE '%@%') OR"
            " (owner = ?1 AND requester LIKE '%@%')",
            "DELETE FROM trust_ratings WHERE interaction_id IN (SELECT interaction_id FROM"
            " trust_interactions WHERE (initiator = ?1 AND responder LIKE '%@%') OR"
            " (responder = ?1 AND initiator LIKE '%@%'))",
            "DELETE FROM trust_interactions WHERE (initiator = ?1 AND responder LIKE '%@%') OR"
            " (responder = ?1 AND initiator LIKE '%@%')",
            "UPDATE trust_messages SET from_copy = NULL WHERE from_patient = ?1",
            "UPDATE trust_messages SET to_copy = NULL WHERE to_patient = ?1",
            "DELETE FROM trust_messages WHERE from_copy IS NULL AND to_copy IS NULL"}) {
        SQLite::Statement s(*db_, sql);
        if (std::string_view(sql).find("?1") != std::string_view::npos) s.bind(1, id);
        s.exec();
      }
      tx.commit();
    } catch (const std::exception& e) {
      return store::SqliteError(e, "delete a patient's trust data");
    }
  }
  Status destroyed = envelope_.DestroyDataKey(KeyOf(patient_id));
  if (!destroyed && destroyed.error().code() != ErrorCode::kNotFound) return destroyed;
  return OkStatus();
}

}  // namespace medmesh::cloudlet

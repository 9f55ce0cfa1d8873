#include "cloud/three_part.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <map>
#include <set>
#include <tuple>
#include <utility>

#include "accounts/encoding.h"
#include "cloud/internal/record_parts.h"
#include "core/check.h"
#include "crypto/kdf.h"
#include "crypto/keyed_hash.h"
#include "wire/record_codec.h"

namespace medmesh::cloud {
namespace {

using store::RecordPart;

constexpr std::size_t kRefBytes = 16;    // record, snapshot and MI references
constexpr std::size_t kTokenBytes = 16;  // blind index tokens
constexpr std::size_t kPageRows = 500;   // rows per page when scanning the store
constexpr std::string_view kHkdfSalt = "MedMesh three-part store v1";

constexpr std::string_view kFieldEmail = "email";
constexpr std::string_view kFieldPhone = "phone";
constexpr std::string_view kFieldNationalId = "national_id";

// Every stored part that fails authentication, is missing or does not match its digest gives
// this one error: which part, and why, is for Verify()'s report, not for API callers.
Error IntegrityFailure() { return DataLoss("stored record failed its integrity check"); }

// Length-prefixed, so that no two different field lists encode alike.
void AppendField(Bytes& out, ByteView value) {
  AppendU32Le(out, static_cast<std::uint32_t>(value.size()));
  AppendBytes(out, value);
}
void AppendField(Bytes& out, std::string_view value) { AppendField(out, AsBytes(value)); }

Bytes Fields(std::initializer_list<std::string_view> fields) {
  Bytes out;
  for (std::string_view f : fields) AppendField(out, f);
  return out;
}

std::string TruncatedHex(const crypto::Digest256& mac, std::size_t bytes) {
  return HexEncode(ByteView(mac.data(), bytes));
}

Bytes KeyedDigest(const crypto::HashKey& key, ByteView data) {
  const crypto::Digest256 digest = crypto::KeyedBlake2b256(key, data);
  return Bytes(digest.begin(), digest.end());
}

// Associated data binds each ciphertext to the row it was written for, so rows cannot be
// swapped or moved without failing authentication.
Bytes EiSnapshotAd(std::string_view patient, std::string_view ref) {
  return Fields({"ei snapshot", patient, ref});
}
Bytes QiSnapshotAd(std::string_view patient, std::string_view ref) {
  return Fields({"qi snapshot", patient, ref});
}
Bytes LinkAd(std::string_view record_ref) { return Fields({"record link", record_ref}); }
Bytes MiAd(std::string_view mi_ref) { return Fields({"mi", mi_ref}); }

// Decryption errors as callers see them: authentication failures become the integrity error,
// a missing data key means the patient was shredded.
Error DecryptError(const Error& e) {
  if (crypto::IsAuthenticationFailure(e)) return IntegrityFailure();
  if (e.code() == ErrorCode::kNotFound) return NotFound("the patient's data keys are destroyed");
  return e;
}

// A stored row the record refers to is missing: an integrity failure, not "not found".
Error MissingRowError(const Error& e) {
  return e.code() == ErrorCode::kNotFound ? IntegrityFailure() : e;
}

char AsciiUpper(char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c; }
bool IsAsciiAlnum(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

std::chrono::year_month_day Today(const Clock& clock) {
  return std::chrono::year_month_day{std::chrono::floor<std::chrono::days>(clock.Now())};
}

// "YYYY-MM-DD" (already validated by wire::ValidatePatientRecord) as a date.
std::optional<std::chrono::year_month_day> ParseDate(std::string_view s) {
  if (s.size() != 10) return std::nullopt;
  int y = 0;
  unsigned m = 0, d = 0;
  const char* b = s.data();
  if (std::from_chars(b, b + 4, y).ec != std::errc{} ||
      std::from_chars(b + 5, b + 7, m).ec != std::errc{} ||
      std::from_chars(b + 8, b + 10, d).ec != std::errc{}) {
    return std::nullopt;
  }
  const std::chrono::year_month_day date{std::chrono::year(y), std::chrono::month(m),
                                         std::chrono::day(d)};
  if (!date.ok()) return std::nullopt;
  return date;
}

std::optional<int> AgeAt(std::string_view birth_date, const std::chrono::year_month_day& today) {
  const auto birth = ParseDate(birth_date);
  if (!birth || *birth > today) return std::nullopt;
  int age = static_cast<int>(today.year()) - static_cast<int>(birth->year());
  if (std::make_pair(today.month(), today.day()) < std::make_pair(birth->month(), birth->day())) {
    --age;
  }
  return age;
}

}  // namespace

// --- Normalisation
// --------------------------------------------------------------------------------

Result<std::string> NormalisePhone(std::string_view phone) {
  std::string digits;
  for (char c : phone) {
    if (c >= '0' && c <= '9') {
      digits += c;
    } else if (c != '+' && c != '(' && c != ')' && c != '-' && c != '.' && c != ' ') {
      return InvalidArgument("phone may hold only digits, spaces and + ( ) - .");
    }
  }
  if (digits.size() < 5 || digits.size() > 15) {
    return InvalidArgument("phone must have 5..15 digits");
  }
  return digits;
}

Result<std::string> NormaliseNationalId(std::string_view national_id) {
  std::string out;
  for (char c : national_id) {
    if (c == ' ' || c == '.' || c == '-' || c == '/') continue;
    if (!IsAsciiAlnum(c)) return InvalidArgument("national id may hold only letters and digits");
    out += AsciiUpper(c);
  }
  if (out.empty() || out.size() > 64) {
    return InvalidArgument("national id must have 1..64 letters and digits");
  }
  return out;
}

Result<std::string> NormalisePostcode(std::string_view postcode) {
  std::string out;
  for (char c : postcode) {
    if (c == ' ' || c == '-') continue;
    if (!IsAsciiAlnum(c)) return InvalidArgument("postcode may hold only letters and digits");
    out += AsciiUpper(c);
  }
  if (out.empty() || postcode.size() > 16) {
    return InvalidArgument("postcode must be 1..16 characters");
  }
  return out;
}

// --- Keys
// ------------------------------------------------------------------------------------------

struct ThreePartStore::Keys {
  using HashKey = crypto::HashKey;
  // From the index key.
  HashKey email_index;
  HashKey phone_index;
  HashKey national_id_index;
  HashKey snapshot_ref;
  HashKey record_ref;
  HashKey digest;
  HashKey chain;
  // From the pseudonym key.
  HashKey pseudonym;
  HashKey mi_ref;

  static Result<std::unique_ptr<Keys>> Derive(const ThreePartKeys& keys) {
    const auto from_index = [&](std::string_view purpose) {
      return HashKey::Derive(keys.index_key, kHkdfSalt, purpose);
    };
    const auto from_pseudonym = [&](std::string_view purpose) {
      return HashKey::Derive(keys.pseudonym_key, kHkdfSalt, purpose);
    };
    MEDMESH_ASSIGN_OR_RETURN(HashKey email, from_index("blind index email"));
    MEDMESH_ASSIGN_OR_RETURN(HashKey phone, from_index("blind index phone"));
    MEDMESH_ASSIGN_OR_RETURN(HashKey national_id, from_index("blind index national_id"));
    MEDMESH_ASSIGN_OR_RETURN(HashKey snapshot, from_index("snapshot reference"));
    MEDMESH_ASSIGN_OR_RETURN(HashKey record, from_index("record reference"));
    MEDMESH_ASSIGN_OR_RETURN(HashKey digest, from_index("record digest"));
    MEDMESH_ASSIGN_OR_RETURN(HashKey chain, from_index("chain"));
    MEDMESH_ASSIGN_OR_RETURN(HashKey pseudonym, from_pseudonym("pseudonym"));
    MEDMESH_ASSIGN_OR_RETURN(HashKey mi, from_pseudonym("mi reference"));
    return std::make_unique<Keys>(Keys{std::move(email), std::move(phone), std::move(national_id),
                                       std::move(snapshot), std::move(record), std::move(digest),
                                       std::move(chain), std::move(pseudonym), std::move(mi)});
  }

  const HashKey& Index(std::string_view field) const {
    if (field == kFieldEmail) return email_index;
    if (field == kFieldPhone) return phone_index;
    MEDMESH_CHECK(field == kFieldNationalId, "unknown blind index field");
    return national_id_index;
  }

  std::string RecordRef(std::string_view device_id, std::string_view record_id) const {
    return TruncatedHex(crypto::HmacSha256(record_ref, Fields({device_id, record_id})), kRefBytes);
  }
  std::string MiRef(std::string_view device_id, std::string_view record_id) const {
    return TruncatedHex(crypto::HmacSha256(mi_ref, Fields({device_id, record_id})), kRefBytes);
  }
  std::string SnapshotRef(std::string_view part, std::string_view patient,
                          ByteView plaintext) const {
    Bytes in = Fields({part, patient});
    AppendField(in, plaintext);
    return TruncatedHex(crypto::HmacSha256(snapshot_ref, in), kRefBytes);
  }
  std::string Pseudonym(std::string_view patient) const {
    return TruncatedHex(crypto::HmacSha256(pseudonym, Fields({patient})), crypto::kDigestBytes);
  }
  Bytes Token(std::string_view field, std::string_view normalised) const {
    const crypto::Digest256 mac = crypto::HmacSha256(Index(field), AsBytes(normalised));
    return Bytes(mac.begin(), mac.begin() + kTokenBytes);
  }
  Bytes Digest(ByteView canonical_record) const { return KeyedDigest(digest, canonical_record); }
};

// The keyed chain: an attacker who can write the database but holds no key cannot produce a
// chain that verifies, even after dropping the append-only triggers.
class ThreePartStore::Hasher final : public store::ChainHasher {
 public:
  explicit Hasher(const crypto::HashKey& key) : key_(key) {}
  Bytes EntryHash(const store::ChainEntry& e) const override {
    Bytes in;
    AppendU64Le(in, e.seq);
    AppendU8(in, static_cast<std::uint8_t>(e.kind));
    AppendField(in, e.record_ref);
    AppendField(in, e.record_digest);
    AppendU64Le(in, static_cast<std::uint64_t>(e.stored_ms));
    AppendField(in, e.prev_hash);
    return KeyedDigest(key_, in);
  }

 private:
  const crypto::HashKey& key_;
};

struct ThreePartStore::SnapshotCache {
  std::map<std::string, Bytes> ei;  // snapshot_ref → plaintext
  std::map<std::string, Bytes> qi;
};

// --- Construction ------------------------------------------------------------------------------

ThreePartStore::ThreePartStore(store::RecordStore& store, ThreePartKeys keys, Random& random,
                               const Clock& clock, ThreePartOptions options)
    : store_(store),
      clock_(clock),
      options_(options),
      ei_(std::move(keys.ei_kek), store.wrapped_keys(RecordPart::kEi), random),
      qi_(std::move(keys.qi_kek), store.wrapped_keys(RecordPart::kQi), random),
      mi_(std::move(keys.mi_kek), store.wrapped_keys(RecordPart::kMi), random) {}

ThreePartStore::~ThreePartStore() = default;

Result<std::unique_ptr<ThreePartStore>> ThreePartStore::Create(store::RecordStore& store,
                                                               ThreePartKeys keys, Random& random,
                                                               const Clock& clock,
                                                               ThreePartOptions options) {
  if (keys.index_key.size() != kThreePartSecretBytes ||
      keys.pseudonym_key.size() != kThreePartSecretBytes) {
    return InvalidArgument("the index and pseudonym keys must be 32 bytes");
  }
  if (keys.index_key == keys.pseudonym_key) {
    return InvalidArgument("the pseudonym key must differ from the index key");
  }
  if (!ValidKAnonymityOptions(options.k_anonymity)) {
    return InvalidArgument("k must be at least 2 and max_suppression in [0, 1]");
  }
  if (options.max_signature_bytes == 0) return InvalidArgument("max_signature_bytes must be > 0");
  MEDMESH_ASSIGN_OR_RETURN(std::unique_ptr<Keys> derived, Keys::Derive(keys));

  std::unique_ptr<ThreePartStore> out(
      new ThreePartStore(store, std::move(keys), random, clock, options));
  out->keys_ = std::move(derived);
  out->hasher_ = std::make_unique<Hasher>(out->keys_->chain);
  return out;
}

std::string ThreePartStore::Pseudonym(std::string_view patient_id) const {
  return keys_->Pseudonym(patient_id);
}

crypto::EnvelopeAead& ThreePartStore::envelope(RecordPart part) {
  switch (part) {
    case RecordPart::kEi: return ei_;
    case RecordPart::kQi: return qi_;
    case RecordPart::kMi: return mi_;
  }
  MEDMESH_CHECK(false, "unknown record part");
}

// --- Writing -----------------------------------------------------------------------------------

Result<PutRecordResult> ThreePartStore::PutRecord(const wire::PatientRecord& record,
                                                  ByteView device_signature) {
  MEDMESH_ASSIGN_OR_RETURN(const store::NewRecord rows, BuildRows(record, device_signature));
  MEDMESH_ASSIGN_OR_RETURN(const store::PutResult put, store_.PutRecord(rows, *hasher_));
  return PutRecordResult{put.outcome, put.seq};
}

Result<store::NewRecord> ThreePartStore::BuildRows(const wire::PatientRecord& record,
                                                   ByteView device_signature) const {
  MEDMESH_RETURN_IF_ERROR(wire::ValidatePatientRecord(record));
  if (device_signature.empty() || device_signature.size() > options_.max_signature_bytes) {
    return InvalidArgument("device signature must be 1.." +
                           std::to_string(options_.max_signature_bytes) + " bytes");
  }
  const std::string& patient = record.patient_id;
  std::vector<store::BlindIndexRow> index;
  auto add_index = [&](std::string_view field, Result<std::string> (*normalise)(std::string_view),
                       const std::string& value) -> Status {
    if (value.empty()) return OkStatus();
    MEDMESH_ASSIGN_OR_RETURN(const std::string normalised, normalise(value));
    index.push_back({std::string(field), keys_->Token(field, normalised), patient});
    return OkStatus();
  };
  MEDMESH_RETURN_IF_ERROR(add_index(kFieldEmail, accounts::NormaliseEmail, record.email));
  MEDMESH_RETURN_IF_ERROR(add_index(kFieldPhone, NormalisePhone, record.phone));
  MEDMESH_RETURN_IF_ERROR(add_index(kFieldNationalId, NormaliseNationalId, record.national_id));
  if (!record.postcode.empty()) MEDMESH_RETURN_IF_ERROR(NormalisePostcode(record.postcode));
  if (!record.birth_date.empty() && !AgeAt(record.birth_date, Today(clock_))) {
    return InvalidArgument("birth_date is after today");
  }

  MEDMESH_ASSIGN_OR_RETURN(const Bytes canonical, wire::EncodePatientRecord(record));
  const std::string pseudonym = keys_->Pseudonym(patient);
  const std::string record_ref = keys_->RecordRef(record.device_id, record.record_id);
  const std::string mi_ref = keys_->MiRef(record.device_id, record.record_id);

  store::NewRecord rows;
  const Bytes ei_plain = internal::EncodeEiPart(record);
  const Bytes qi_plain = internal::EncodeQiPart(record);
  const std::string ei_ref = keys_->SnapshotRef("ei", patient, ei_plain);
  const std::string qi_ref = keys_->SnapshotRef("qi", patient, qi_plain);
  const crypto::DataKeyContext ei_key{patient, "ei"};
  const crypto::DataKeyContext qi_key{patient, "qi"};
  const crypto::DataKeyContext mi_key{pseudonym, "mi"};

  MEDMESH_ASSIGN_OR_RETURN(Bytes ei_ct,
                           ei_.Encrypt(ei_key, ei_plain, EiSnapshotAd(patient, ei_ref)));
  MEDMESH_ASSIGN_OR_RETURN(Bytes qi_ct,
                           qi_.Encrypt(qi_key, qi_plain, QiSnapshotAd(patient, qi_ref)));
  const internal::RecordLink link{record.record_id, record.device_id, ei_ref, qi_ref,
                                  Bytes(device_signature.begin(), device_signature.end())};
  MEDMESH_ASSIGN_OR_RETURN(
      Bytes link_ct, ei_.Encrypt(ei_key, internal::EncodeRecordLink(link), LinkAd(record_ref)));
  MEDMESH_ASSIGN_OR_RETURN(Bytes mi_ct,
                           mi_.Encrypt(mi_key, internal::EncodeMiPart(record), MiAd(mi_ref)));

  rows.link = {record_ref, patient, keys_->Digest(canonical), std::move(link_ct)};
  rows.ei = {patient, ei_ref, std::move(ei_ct)};
  rows.qi = {patient, qi_ref, std::move(qi_ct)};
  rows.mi = {mi_ref, pseudonym, std::move(mi_ct)};
  rows.blind_index = std::move(index);
  rows.stored_ms = wire::ToUnixMs(clock_.Now());
  return rows;
}

Status ThreePartStore::DeletePatient(std::string_view patient_id) {
  if (!wire::IsValidId(patient_id)) return InvalidArgument("patient id is not a valid id");
  const std::string patient(patient_id);
  const std::string pseudonym = keys_->Pseudonym(patient);
  // Rows first, keys second: if we stop in between, the keys still exist and a repeat finishes
  // the job; the other order could leave rows behind that a repeat cannot find.
  MEDMESH_ASSIGN_OR_RETURN(
      const store::DeleteResult rows,
      store_.DeletePatient(patient, pseudonym, wire::ToUnixMs(clock_.Now()), *hasher_));
  int destroyed = 0;
  const std::pair<crypto::EnvelopeAead*, crypto::DataKeyContext> keys[] = {
      {&ei_, {patient, "ei"}},
      {&qi_, {patient, "qi"}},
      {&mi_, {pseudonym, "mi"}},
      // The doctors' answers (clinical_service.h, ADR 0017) are sealed under this EI-ring key:
      // deleting the patient shreds it too, whichever path deletes them.
      {&ei_, {patient, "answers"}}};
  for (const auto& [envelope_of_part, context] : keys) {
    Status st = envelope_of_part->DestroyDataKey(context);
    if (st) {
      ++destroyed;
    } else if (st.error().code() != ErrorCode::kNotFound) {
      return st.error();
    }
  }
  if (!rows.found && destroyed == 0) return NotFound("unknown patient");
  return OkStatus();
}

// --- Reading -----------------------------------------------------------------------------------

Result<StoredRecord> ThreePartStore::Reassemble(const store::RecordLinkRow& row,
                                                SnapshotCache& cache,
                                                IntegrityCheck* failed) const {
  IntegrityCheck ignored{};
  IntegrityCheck& check = failed != nullptr ? *failed : ignored;
  check = IntegrityCheck::kDecrypt;
  const std::string& patient = row.patient_id;
  const crypto::DataKeyContext ei_key{patient, "ei"};
  auto link_plain = ei_.Decrypt(ei_key, row.ciphertext, LinkAd(row.record_ref));
  if (!link_plain) return DecryptError(link_plain.error());
  auto link = internal::DecodeRecordLink(*link_plain);
  if (!link) return IntegrityFailure();

  StoredRecord out;
  out.record.record_id = link->record_id;
  out.record.patient_id = patient;
  out.record.device_id = link->device_id;
  out.device_signature = std::move(link->device_signature);
  out.digest = row.digest;

  auto snapshot = [&](RecordPart part, const std::string& ref,
                      std::map<std::string, Bytes>& seen) -> Result<Bytes> {
    if (auto it = seen.find(ref); it != seen.end()) return it->second;
    auto stored = store_.GetSnapshot(part, patient, ref);
    if (!stored) {
      if (stored.error().code() == ErrorCode::kNotFound) check = IntegrityCheck::kMissing;
      return MissingRowError(stored.error());
    }
    check = IntegrityCheck::kDecrypt;
    auto plain = part == RecordPart::kEi
                     ? ei_.Decrypt(ei_key, stored->ciphertext, EiSnapshotAd(patient, ref))
                     : qi_.Decrypt({patient, "qi"}, stored->ciphertext, QiSnapshotAd(patient, ref));
    if (!plain) return DecryptError(plain.error());
    seen.emplace(ref, *plain);
    return plain;
  };
  MEDMESH_ASSIGN_OR_RETURN(const Bytes ei_plain,
                           snapshot(RecordPart::kEi, link->ei_snapshot_ref, cache.ei));
  MEDMESH_ASSIGN_OR_RETURN(const Bytes qi_plain,
                           snapshot(RecordPart::kQi, link->qi_snapshot_ref, cache.qi));
  if (!internal::DecodeEiPart(ei_plain, out.record) ||
      !internal::DecodeQiPart(qi_plain, out.record)) {
    return IntegrityFailure();
  }

  const std::string pseudonym = keys_->Pseudonym(patient);
  const std::string mi_ref = keys_->MiRef(link->device_id, link->record_id);
  auto mi = store_.GetMi(mi_ref);
  if (!mi) {
    if (mi.error().code() == ErrorCode::kNotFound) check = IntegrityCheck::kMissing;
    return MissingRowError(mi.error());
  }
  check = IntegrityCheck::kDecrypt;
  if (mi->pseudonym != pseudonym) return IntegrityFailure();
  auto mi_plain = mi_.Decrypt({pseudonym, "mi"}, mi->ciphertext, MiAd(mi_ref));
  if (!mi_plain) return DecryptError(mi_plain.error());
  if (!internal::DecodeMiPart(*mi_plain, out.record)) return IntegrityFailure();

  check = IntegrityCheck::kDigest;
  auto canonical = wire::EncodePatientRecord(out.record);
  if (!canonical || keys_->Digest(*canonical) != row.digest) return IntegrityFailure();
  return out;
}

Result<std::vector<StoredRecord>> ThreePartStore::GetPatientRecords(
    std::string_view patient_id) const {
  if (!wire::IsValidId(patient_id)) return InvalidArgument("patient id is not a valid id");
  MEDMESH_ASSIGN_OR_RETURN(const auto links, store_.ListRecordLinks(patient_id));
  if (links.empty()) return NotFound("unknown patient");
  SnapshotCache cache;
  std::vector<StoredRecord> out;
  out.reserve(links.size());
  for (const store::RecordLinkRow& link : links) {
    MEDMESH_ASSIGN_OR_RETURN(StoredRecord r, Reassemble(link, cache));
    out.push_back(std::move(r));
  }
  std::sort(out.begin(), out.end(), [](const StoredRecord& a, const StoredRecord& b) {
    return std::tie(a.record.created_ms, a.record.record_id, a.record.device_id) <
           std::tie(b.record.created_ms, b.record.record_id, b.record.device_id);
  });
  return out;
}

Result<std::vector<PatientRecordEntry>> ThreePartStore::ListPatientRecords(
    std::string_view patient_id) const {
  if (!wire::IsValidId(patient_id)) return InvalidArgument("patient id is not a valid id");
  MEDMESH_ASSIGN_OR_RETURN(const auto links, store_.ListRecordLinks(patient_id));
  SnapshotCache cache;
  std::vector<PatientRecordEntry> out;
  out.reserve(links.size());
  for (const store::RecordLinkRow& link : links) {
    PatientRecordEntry entry;
    IntegrityCheck failed{};
    auto record = Reassemble(link, cache, &failed);
    if (record) {
      entry.device_id = record->record.device_id;
      entry.record_id = record->record.record_id;
      entry.created_ms = record->record.created_ms;
      entry.record = std::move(*record);
      out.push_back(std::move(entry));
      continue;
    }
    const ErrorCode code = record.error().code();
    if (code != ErrorCode::kDataLoss && code != ErrorCode::kNotFound) return record.error();
    // Name it if its link still decrypts.
    auto link_plain =
        ei_.Decrypt({link.patient_id, "ei"}, link.ciphertext, LinkAd(link.record_ref));
    if (!link_plain) continue;
    auto decoded = internal::DecodeRecordLink(*link_plain);
    if (!decoded) continue;
    entry.device_id = decoded->device_id;
    entry.record_id = decoded->record_id;
    entry.failed = failed;
    out.push_back(std::move(entry));
  }
  std::sort(out.begin(), out.end(), [](const PatientRecordEntry& a, const PatientRecordEntry& b) {
    return std::tie(a.created_ms, a.device_id, a.record_id) <
           std::tie(b.created_ms, b.device_id, b.record_id);
  });
  return out;
}

Result<RecordStoredForm> ThreePartStore::GetRecordStoredForm(std::string_view patient_id,
                                                             std::string_view device_id,
                                                             std::string_view record_id) const {
  if (!wire::IsValidId(patient_id) || !wire::IsValidId(device_id) || !wire::IsValidId(record_id)) {
    return InvalidArgument("patient, device and record ids must be valid ids");
  }
  auto link = store_.GetRecordLink(keys_->RecordRef(device_id, record_id));
  if (!link && link.error().code() != ErrorCode::kNotFound) return link.error();
  const bool own_link = link && link->patient_id == patient_id;
  RecordStoredForm out;
  auto mi = store_.GetMi(keys_->MiRef(device_id, record_id));
  if (mi) {
    out.mi_ciphertext = std::move(mi->ciphertext);
  } else if (mi.error().code() != ErrorCode::kNotFound) {
    return mi.error();
  }
  if (!own_link) {
    if (out.mi_ciphertext.empty()) return NotFound("no such record");
    return out;
  }
  out.link_ciphertext = link->ciphertext;
  out.digest = link->digest;
  auto link_plain =
      ei_.Decrypt({link->patient_id, "ei"}, link->ciphertext, LinkAd(link->record_ref));
  if (!link_plain) return out;
  auto decoded = internal::DecodeRecordLink(*link_plain);
  if (!decoded) return out;
  for (const auto& [part, ref, target] :
       {std::tuple{RecordPart::kEi, &decoded->ei_snapshot_ref, &out.ei_ciphertext},
        std::tuple{RecordPart::kQi, &decoded->qi_snapshot_ref, &out.qi_ciphertext}}) {
    auto snapshot = store_.GetSnapshot(part, patient_id, *ref);
    if (snapshot) {
      *target = std::move(snapshot->ciphertext);
    } else if (snapshot.error().code() != ErrorCode::kNotFound) {
      return snapshot.error();
    }
  }
  return out;
}

Result<std::vector<std::string>> ThreePartStore::Lookup(std::string_view field,
                                                        const std::string& normalised) const {
  return store_.FindPatients(field, keys_->Token(field, normalised));
}

Result<std::vector<std::string>> ThreePartStore::LookupByEmail(std::string_view email) const {
  MEDMESH_ASSIGN_OR_RETURN(const std::string normalised, accounts::NormaliseEmail(email));
  return Lookup(kFieldEmail, normalised);
}

Result<std::vector<std::string>> ThreePartStore::LookupByPhone(std::string_view phone) const {
  MEDMESH_ASSIGN_OR_RETURN(const std::string normalised, NormalisePhone(phone));
  return Lookup(kFieldPhone, normalised);
}

Result<std::vector<std::string>> ThreePartStore::LookupByNationalId(
    std::string_view national_id) const {
  MEDMESH_ASSIGN_OR_RETURN(const std::string normalised, NormaliseNationalId(national_id));
  return Lookup(kFieldNationalId, normalised);
}

// --- Statistics --------------------------------------------------------------------------------

Result<std::vector<std::pair<std::string, QuasiIdentifiers>>> ThreePartStore::CurrentQi(
    const std::chrono::year_month_day& today) const {
  std::vector<std::pair<std::string, QuasiIdentifiers>> population;
  std::string after;
  for (;;) {
    MEDMESH_ASSIGN_OR_RETURN(const auto page, store_.ListCurrentQi(after, kPageRows));
    if (page.empty()) break;
    for (const store::SnapshotRow& row : page) {
      auto plain = qi_.Decrypt({row.patient_id, "qi"}, row.ciphertext,
                               QiSnapshotAd(row.patient_id, row.snapshot_ref));
      // A patient whose keys were destroyed between two steps of a deletion has no QI left.
      if (!plain && plain.error().code() == ErrorCode::kNotFound) continue;
      if (!plain) return DecryptError(plain.error());
      wire::PatientRecord qi;
      if (!internal::DecodeQiPart(*plain, qi)) return IntegrityFailure();
      auto postcode =
          qi.postcode.empty() ? Result<std::string>(std::string()) : NormalisePostcode(qi.postcode);
      population.emplace_back(
          row.patient_id,
          QuasiIdentifiers{AgeAt(qi.birth_date, today), qi.sex.empty() ? "unknown" : qi.sex,
                           postcode ? *postcode : std::string()});
    }
    after = page.back().patient_id;
  }
  return population;
}

Result<GeneralisationReport> ThreePartStore::RefreshGeneralisedQi() {
  // Read the generation first: a put that lands while we work bumps it past this value, so the
  // next Cohorts() rebuilds again.
  MEDMESH_ASSIGN_OR_RETURN(const store::QiState state, store_.GetQiState());
  const auto today = Today(clock_);
  MEDMESH_ASSIGN_OR_RETURN(const auto current, CurrentQi(today));
  std::vector<QuasiIdentifiers> population;
  population.reserve(current.size());
  for (const auto& [patient, qi] : current) population.push_back(qi);

  const KAnonymisation anon = Anonymise(population, options_.k_anonymity);
  const auto year = static_cast<std::int32_t>(static_cast<int>(today.year()));
  std::vector<store::GeneralisedQiRow> rows;
  rows.reserve(anon.rows.size());
  for (const GeneralisedQi& g : anon.rows) {
    rows.push_back({g.age_band, g.sex, g.postcode_prefix, year});
  }
  // Sorted by value: row order must not follow patient-id order, or the position of a row
  // would point back to its patient.
  std::sort(rows.begin(), rows.end());
  MEDMESH_RETURN_IF_ERROR(store_.ReplaceGeneralisedQi(rows, state.generation));
  return GeneralisationReport{anon.level, anon.rows.size(), anon.suppressed, year};
}

Result<GeneralisedPatientTable> ThreePartStore::GeneralisedPatients() const {
  // The generation first: a put that lands while we work bumps it past this value, so the next
  // call computes again.
  MEDMESH_ASSIGN_OR_RETURN(const store::QiState state, store_.GetQiState());
  const auto today = Today(clock_);
  const std::int64_t day = std::chrono::sys_days(today).time_since_epoch().count();
  {
    std::lock_guard lock(generalised_mu_);
    if (generalised_ && generalised_generation_ == state.generation && generalised_day_ == day) {
      return *generalised_;
    }
  }
  MEDMESH_ASSIGN_OR_RETURN(const auto current, CurrentQi(today));
  std::vector<QuasiIdentifiers> population;
  population.reserve(current.size());
  for (const auto& [patient, qi] : current) population.push_back(qi);
  // The level the k-anonymous table uses; a patient's row is released at that level exactly
  // when their equivalence class has at least k members (Anonymise's suppression rule).
  const GeneralisationLevel level = Anonymise(population, options_.k_anonymity).level;
  std::map<GeneralisedQi, std::size_t> classes;
  std::vector<GeneralisedQi> generalised;
  generalised.reserve(current.size());
  for (const QuasiIdentifiers& qi : population) {
    generalised.push_back(Generalise(qi, level));
    ++classes[generalised.back()];
  }
  GeneralisedPatientTable out;
  out.level = level;
  out.reference_year = static_cast<std::int32_t>(static_cast<int>(today.year()));
  out.patients.reserve(current.size());
  for (std::size_t i = 0; i < current.size(); ++i) {
    GeneralisedPatient p;
    p.patient_id = current[i].first;
    p.pseudonym = keys_->Pseudonym(p.patient_id);
    p.suppressed = classes[generalised[i]] < options_.k_anonymity.k;
    p.qi = p.suppressed ? GeneralisedQi{"*", "*", "*"} : generalised[i];
    out.patients.push_back(std::move(p));
  }
  std::sort(out.patients.begin(), out.patients.end(),
            [](const GeneralisedPatient& a, const GeneralisedPatient& b) {
              return a.pseudonym < b.pseudonym;
            });
  std::lock_guard lock(generalised_mu_);
  generalised_ = out;
  generalised_generation_ = state.generation;
  generalised_day_ = day;
  return out;
}

Result<std::optional<std::string>> ThreePartStore::PatientOfPseudonym(
    std::string_view pseudonym) const {
  std::string after;
  for (;;) {
    MEDMESH_ASSIGN_OR_RETURN(const auto page, store_.ListCurrentQi(after, kPageRows));
    if (page.empty()) return std::optional<std::string>();
    for (const store::SnapshotRow& row : page) {
      if (keys_->Pseudonym(row.patient_id) == pseudonym) return std::optional(row.patient_id);
    }
    after = page.back().patient_id;
  }
}

Result<PatientRecordActivity> ThreePartStore::RecordActivity(std::string_view patient_id) const {
  if (!wire::IsValidId(patient_id)) return InvalidArgument("patient id is not a valid id");
  MEDMESH_ASSIGN_OR_RETURN(const auto links, store_.ListRecordLinks(patient_id));
  PatientRecordActivity out;
  out.records = links.size();
  for (const store::RecordLinkRow& link : links) {
    MEDMESH_ASSIGN_OR_RETURN(const auto entry, store_.LatestChainEntry(link.record_ref));
    if (entry) out.last_stored_ms = std::max(out.last_stored_ms, entry->stored_ms);
  }
  return out;
}

Result<CohortStatistics> ThreePartStore::Cohorts(const CohortQuery& query) {
  MEDMESH_ASSIGN_OR_RETURN(const store::QiState state, store_.GetQiState());
  if (state.generation != state.generalised_generation) {
    MEDMESH_RETURN_IF_ERROR(RefreshGeneralisedQi());
  }
  MEDMESH_ASSIGN_OR_RETURN(const auto rows, store_.ListGeneralisedQi());
  std::map<std::tuple<std::string, std::string, std::string>, std::uint64_t> groups;
  for (const store::GeneralisedQiRow& r : rows) {
    ++groups[{query.by_age_band ? r.age_band : "*", query.by_sex ? r.sex : "*",
              query.by_postcode_prefix ? r.postcode_prefix : "*"}];
  }
  CohortStatistics out;
  out.reference_year = rows.empty()
                           ? static_cast<std::int32_t>(static_cast<int>(Today(clock_).year()))
                           : rows.front().reference_year;
  for (const auto& [key, count] : groups) {
    if (count < options_.k_anonymity.k) {
      ++out.suppressed_cells;
      continue;
    }
    out.cells.push_back({std::get<0>(key), std::get<1>(key), std::get<2>(key), count});
    out.patients += count;
  }
  return out;
}

Result<MedicalStatistics> ThreePartStore::MedicalCounts() const {
  auto cached = [this](std::uint64_t generation) -> std::optional<MedicalStatistics> {
    std::lock_guard lock(medical_mu_);
    if (medical_ && medical_generation_ == generation) return medical_;
    return std::nullopt;
  };
  // The generation first: a put that lands while we count bumps it past this value, so the
  // next call counts again.
  MEDMESH_ASSIGN_OR_RETURN(const store::QiState before, store_.GetQiState());
  if (auto hit = cached(before.generation)) return std::move(*hit);
  // One at a time: the callers that arrive while one counts get its result.
  std::lock_guard compute(medical_compute_mu_);
  MEDMESH_ASSIGN_OR_RETURN(const store::QiState state, store_.GetQiState());
  if (auto hit = cached(state.generation)) return std::move(*hit);
  MEDMESH_ASSIGN_OR_RETURN(MedicalStatistics out, CountMedical());
  std::lock_guard lock(medical_mu_);
  medical_ = out;
  medical_generation_ = state.generation;
  return out;
}

Result<MedicalStatistics> ThreePartStore::CountMedical() const {
  std::map<std::string, std::set<std::string>> conditions;  // value → pseudonyms
  std::map<std::string, std::set<std::string>> symptoms;
  std::string after;
  for (;;) {
    MEDMESH_ASSIGN_OR_RETURN(const auto page, store_.ListMi(after, kPageRows));
    if (page.empty()) break;
    for (const store::MiRow& row : page) {
      auto plain = mi_.Decrypt({row.pseudonym, "mi"}, row.ciphertext, MiAd(row.mi_ref));
      if (!plain && plain.error().code() == ErrorCode::kNotFound) continue;  // shredded
      if (!plain) return DecryptError(plain.error());
      wire::PatientRecord mi;
      if (!internal::DecodeMiPart(*plain, mi)) return IntegrityFailure();
      for (const std::string& c : mi.conditions) conditions[c].insert(row.pseudonym);
      for (const std::string& s : mi.symptoms) symptoms[s].insert(row.pseudonym);
    }
    after = page.back().mi_ref;
  }
  MedicalStatistics out;
  auto release = [&](const std::map<std::string, std::set<std::string>>& in,
                     std::vector<MedicalCount>& to, std::uint64_t& suppressed) {
    for (const auto& [value, patients] : in) {
      if (patients.size() < options_.k_anonymity.k) {
        ++suppressed;
        ++out.suppressed;
      } else {
        to.push_back({value, patients.size()});
      }
    }
  };
  release(conditions, out.conditions, out.suppressed_conditions);
  release(symptoms, out.symptoms, out.suppressed_symptoms);
  return out;
}

// --- Integrity ---------------------------------------------------------------------------------

Result<VerifyReport> ThreePartStore::Verify() const { return VerifyRecords(std::nullopt); }

Result<VerifyReport> ThreePartStore::VerifyPatient(std::string_view patient_id) const {
  if (!wire::IsValidId(patient_id)) return InvalidArgument("patient id is not a valid id");
  return VerifyRecords(std::string(patient_id));
}

Result<VerifyReport> ThreePartStore::VerifyRecords(
    const std::optional<std::string>& patient_id) const {
  VerifyReport report;
  auto broken = [&](std::uint64_t seq, std::string ref, std::string reason) {
    if (!report.first_broken || seq < report.first_broken->seq) {
      report.first_broken = IntegrityProblem{seq, std::move(ref), std::move(reason)};
    }
  };

  // 1. The chain: gap-free sequence, links, keyed entry hashes, and the head. Along the way,
  //    which records are live (put and not deleted since) and the digest each must have.
  struct Live {
    std::uint64_t seq;
    Bytes digest;
  };
  std::map<std::string, Live> live;  // record_ref →
  Bytes prev;
  std::uint64_t next = 1;
  bool chain_intact = true;
  while (chain_intact) {
    MEDMESH_ASSIGN_OR_RETURN(const auto page, store_.ReadChain(next, kPageRows));
    if (page.empty()) break;
    for (const store::ChainEntry& e : page) {
      store::ChainEntry unsealed = e;
      unsealed.entry_hash.clear();
      if (e.seq != next) {
        broken(next, "", "chain entry missing");
      } else if (e.prev_hash != prev) {
        broken(e.seq, e.record_ref, "chain link broken");
      } else if (hasher_->EntryHash(unsealed) != e.entry_hash) {
        broken(e.seq, e.record_ref, "chain entry altered");
      } else if ((e.kind == store::ChainEntryKind::kPut ||
                  e.kind == store::ChainEntryKind::kRestore) &&
                 e.record_digest.size() == crypto::kDigestBytes) {
        // A restore re-states the digest first put (RestoreRecord checks it).
        live[e.record_ref] = {e.seq, e.record_digest};
      } else if (e.kind == store::ChainEntryKind::kDelete && e.record_digest.empty()) {
        live.erase(e.record_ref);
      } else if ((e.kind == store::ChainEntryKind::kReadingsPut ||
                  e.kind == store::ChainEntryKind::kReadingsRestore) &&
                 !e.record_digest.empty()) {
        // Reading batches: their rows live in the intake store and are checked one by one
        // (IntegrityService); here the entry's hash and link are what counts.
      } else if (e.kind == store::ChainEntryKind::kReadingsDelete && e.record_digest.empty()) {
      } else {
        broken(e.seq, e.record_ref, "chain entry malformed");
      }
      if (report.first_broken) {
        chain_intact = false;
        break;
      }
      prev = e.entry_hash;
      ++next;
      ++report.entries_checked;
    }
  }
  MEDMESH_ASSIGN_OR_RETURN(report.head, store_.GetChainHead());
  if (chain_intact && (report.head.seq != next - 1 || report.head.hash != prev)) {
    broken(report.head.seq, "", "chain head does not match the log");
    chain_intact = false;
  }

  // 2. The records: each live record (of the patient) decrypted, reassembled and re-digested.
  std::set<std::string> wanted;
  if (patient_id) {
    MEDMESH_ASSIGN_OR_RETURN(const auto links, store_.ListRecordLinks(*patient_id));
    if (links.empty()) return NotFound("unknown patient");
    for (const store::RecordLinkRow& l : links) {
      wanted.insert(l.record_ref);
      if (chain_intact && !live.contains(l.record_ref)) ++report.unchained_rows;
    }
  }
  std::vector<std::pair<std::uint64_t, std::string>> order;  // by seq: the first break is lowest
  for (const auto& [ref, entry] : live) {
    if (!patient_id || wanted.contains(ref)) order.emplace_back(entry.seq, ref);
  }
  std::sort(order.begin(), order.end());
  SnapshotCache cache;
  for (const auto& [seq, ref] : order) {
    if (report.first_broken && report.first_broken->seq <= seq) break;
    auto link = store_.GetRecordLink(ref);
    if (!link && link.error().code() != ErrorCode::kNotFound) return link.error();
    if (!link) {
      broken(seq, ref, "record missing");
      break;
    }
    if (link->digest != live.at(ref).digest) {
      broken(seq, ref, "record does not match its chain entry");
      break;
    }
    auto record = Reassemble(*link, cache);
    if (!record && record.error().code() != ErrorCode::kDataLoss &&
        record.error().code() != ErrorCode::kNotFound) {
      return record.error();
    }
    if (!record) {
      broken(seq, ref, "record failed authentication or its digest");
      break;
    }
    ++report.records_checked;
  }

  // 3. Rows that no chain entry accounts for (inserted behind the store's back).
  if (!patient_id && chain_intact) {
    MEDMESH_ASSIGN_OR_RETURN(const store::RowCounts counts, store_.CountRows());
    const std::uint64_t n = live.size();
    report.unchained_rows = (counts.record_links > n ? counts.record_links - n : 0) +
                            (counts.mi > n ? counts.mi - n : 0);
  }
  return report;
}

// --- One item ----------------------------------------------------------------------------------

std::string_view IntegrityCheckName(IntegrityCheck check) {
  switch (check) {
    case IntegrityCheck::kMissing: return "missing";
    case IntegrityCheck::kDecrypt: return "decrypt";
    case IntegrityCheck::kDigest: return "digest";
    case IntegrityCheck::kSignature: return "signature";
    case IntegrityCheck::kChain: return "chain";
  }
  return "unknown";
}

Result<std::optional<store::ChainEntry>> ThreePartStore::LatestChainEntry(
    std::string_view ref) const {
  return store_.LatestChainEntry(ref);
}

Result<std::optional<IntegrityCheck>> ThreePartStore::CheckChainPlace(
    std::string_view ref, ByteView digest, std::optional<std::int64_t> stored_ms) const {
  const std::optional<IntegrityCheck> broken = IntegrityCheck::kChain;
  MEDMESH_ASSIGN_OR_RETURN(const std::optional<store::ChainEntry> entry,
                           store_.LatestChainEntry(ref));
  if (!entry || !store::IsLiveKind(entry->kind)) return broken;
  if (entry->record_digest.size() != digest.size() ||
      !std::equal(digest.begin(), digest.end(), entry->record_digest.begin())) {
    return broken;
  }
  if (stored_ms && entry->stored_ms != *stored_ms) return broken;
  store::ChainEntry unsealed = *entry;
  unsealed.entry_hash.clear();
  if (hasher_->EntryHash(unsealed) != entry->entry_hash) return broken;
  // Its place: the previous entry's hash is its prev_hash, and the next entry points at it.
  if (entry->seq > 1) {
    MEDMESH_ASSIGN_OR_RETURN(const auto before, store_.ReadChain(entry->seq - 1, 1));
    if (before.empty() || before[0].seq != entry->seq - 1 ||
        before[0].entry_hash != entry->prev_hash) {
      return broken;
    }
  } else if (!entry->prev_hash.empty()) {
    return broken;
  }
  // The next entry links to it, or it is the head. Read the head second: an entry appended in
  // between then shows up in the head, and is read again below.
  MEDMESH_ASSIGN_OR_RETURN(auto after, store_.ReadChain(entry->seq + 1, 1));
  if (after.empty()) {
    MEDMESH_ASSIGN_OR_RETURN(const store::ChainHead head, store_.GetChainHead());
    if (head.seq == entry->seq) {
      return head.hash == entry->entry_hash ? std::optional<IntegrityCheck>() : broken;
    }
    if (head.seq < entry->seq) return broken;
    MEDMESH_ASSIGN_OR_RETURN(after, store_.ReadChain(entry->seq + 1, 1));
    if (after.empty()) return broken;
  }
  if (after[0].seq != entry->seq + 1 || after[0].prev_hash != entry->entry_hash) return broken;
  return std::optional<IntegrityCheck>();
}

Result<RecordCheck> ThreePartStore::CheckRecord(std::string_view patient_id,
                                                std::string_view device_id,
                                                std::string_view record_id) const {
  if (!wire::IsValidId(patient_id) || !wire::IsValidId(device_id) || !wire::IsValidId(record_id)) {
    return InvalidArgument("patient, device and record ids must be valid ids");
  }
  const std::string ref = keys_->RecordRef(device_id, record_id);
  MEDMESH_ASSIGN_OR_RETURN(const std::optional<store::ChainEntry> entry,
                           store_.LatestChainEntry(ref));
  auto link = store_.GetRecordLink(ref);
  if (!link && link.error().code() != ErrorCode::kNotFound) return link.error();
  if (!link && (!entry || !store::IsLiveKind(entry->kind))) return NotFound("no such record");
  if (link && entry && entry->kind == store::ChainEntryKind::kDelete) {
    // A row the chain says was deleted: inserted behind the store's back.
    RecordCheck out;
    out.failed = IntegrityCheck::kChain;
    out.chain_seq = entry->seq;
    return out;
  }
  RecordCheck out;
  if (entry) {
    out.chain_seq = entry->seq;
    out.chained_digest = entry->record_digest;
  }
  if (!link) {
    out.failed = IntegrityCheck::kMissing;
    return out;
  }
  if (link->patient_id != patient_id) {
    // Moved to another patient: it is no longer bound where the device put it.
    out.failed = IntegrityCheck::kDecrypt;
    return out;
  }
  SnapshotCache cache;
  IntegrityCheck failed{};
  auto record = Reassemble(*link, cache, &failed);
  if (!record) {
    const ErrorCode code = record.error().code();
    if (code != ErrorCode::kDataLoss && code != ErrorCode::kNotFound) return record.error();
    out.failed = failed;
    return out;
  }
  if (record->record.device_id != device_id || record->record.record_id != record_id) {
    out.failed = IntegrityCheck::kDecrypt;
    return out;
  }
  out.record = std::move(*record);
  MEDMESH_ASSIGN_OR_RETURN(out.failed, CheckChainPlace(ref, link->digest, std::nullopt));
  return out;
}

Result<std::uint64_t> ThreePartStore::RestoreRecord(const wire::PatientRecord& record,
                                                    ByteView device_signature) {
  MEDMESH_ASSIGN_OR_RETURN(store::NewRecord rows, BuildRows(record, device_signature));
  MEDMESH_ASSIGN_OR_RETURN(const std::optional<store::ChainEntry> entry,
                           store_.LatestChainEntry(rows.link.record_ref));
  if (!entry || !store::IsLiveKind(entry->kind)) return NotFound("no such record");
  if (entry->record_digest != rows.link.digest) {
    return FailedPrecondition("the copy is not the content the chain holds for this record");
  }
  // The entry must be intact too: a restore cannot mend the chain, only the rows it vouches for.
  MEDMESH_ASSIGN_OR_RETURN(const std::optional<IntegrityCheck> place,
                           CheckChainPlace(rows.link.record_ref, rows.link.digest, std::nullopt));
  if (place) return FailedPrecondition("the record's chain entry is damaged");
  return store_.RestoreRecord(rows, *hasher_);
}

Result<std::uint64_t> ThreePartStore::ChainReadingBatch(store::ChainEntryKind kind,
                                                        std::string_view batch_ref, ByteView digest,
                                                        std::int64_t stored_ms) {
  MEDMESH_RETURN_IF_ERROR(store::ValidateChainAppend(kind, batch_ref, digest));
  MEDMESH_ASSIGN_OR_RETURN(const std::optional<store::ChainEntry> latest,
                           store_.LatestChainEntry(batch_ref));
  if (latest && latest->kind == kind &&
      std::equal(digest.begin(), digest.end(), latest->record_digest.begin(),
                 latest->record_digest.end())) {
    return latest->seq;
  }
  return store_.AppendChainEntry(kind, batch_ref, digest, stored_ms, *hasher_);
}

}  // namespace medmesh::cloud

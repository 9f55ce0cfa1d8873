#include "store/postgres/postgres_record_store.h"

#include <algorithm>
#include <pqxx/pqxx>
#include <string>
#include <utility>

#include "store/postgres/postgres_connection.h"
#include "store/postgres/schema_prefix.h"

namespace medmesh::store {

namespace {

constexpr const char* kSchemaNames[] = {"ei", "qi", "mi", "audit", "keyring", "meta"};

// --- Schema migrations ---------------------------------------------------------------------------
// Append a step to change the schema; never edit a step that has shipped.
struct Migration {
  int version;
  const char* description;
  const char* sql;
};

constexpr Migration kMigrations[] = {
    {1, "three-part record store: ei, qi, mi, chain log, wrapped keys",
     "CREATE SCHEMA IF NOT EXISTS {ei};"
     "CREATE SCHEMA IF NOT EXISTS {qi};"
     "CREATE SCHEMA IF NOT EXISTS {mi};"
     "CREATE SCHEMA IF NOT EXISTS {audit};"
     "CREATE SCHEMA IF NOT EXISTS {keyring};"
     "CREATE TABLE {ei}.snapshot ("
     "  patient_id text NOT NULL, snapshot_ref text NOT NULL, ciphertext bytea NOT NULL,"
     "  PRIMARY KEY (patient_id, snapshot_ref));"
     "CREATE TABLE {ei}.record_link ("
     "  record_ref text PRIMARY KEY, patient_id text NOT NULL, digest bytea NOT NULL,"
     "  ciphertext bytea NOT NULL);"
     "CREATE INDEX record_link_by_patient ON {ei}.record_link (patient_id);"
     "CREATE TABLE {ei}.blind_index ("
     "  field text NOT NULL, token bytea NOT NULL, patient_id text NOT NULL,"
     "  PRIMARY KEY (field, token, patient_id));"
     "CREATE INDEX blind_index_by_patient ON {ei}.blind_index (patient_id);"
     "CREATE TABLE {qi}.snapshot ("
     "  patient_id text NOT NULL, snapshot_ref text NOT NULL, ciphertext bytea NOT NULL,"
     "  is_current boolean NOT NULL, PRIMARY KEY (patient_id, snapshot_ref));"
     "CREATE UNIQUE INDEX snapshot_one_current ON {qi}.snapshot (patient_id) WHERE is_current;"
     "CREATE TABLE {qi}.generalised ("
     "  row_no bigserial PRIMARY KEY, age_band text NOT NULL, sex text NOT NULL,"
     "  postcode_prefix text NOT NULL, reference_year integer NOT NULL);"
     "CREATE TABLE {qi}.state ("
     "  id integer PRIMARY KEY CHECK (id = 1), generation bigint NOT NULL,"
     "  generalised_generation bigint NOT NULL);"
     "INSERT INTO {qi}.state VALUES (1, 0, 0);"
     "CREATE TABLE {mi}.record ("
     "  mi_ref text PRIMARY KEY, pseudonym text NOT NULL, ciphertext bytea NOT NULL);"
     "CREATE INDEX record_by_pseudonym ON {mi}.record (pseudonym);"
     "CREATE TABLE {audit}.chain_log ("
     "  seq bigint PRIMARY KEY, kind smallint NOT NULL, record_ref text NOT NULL,"
     "  record_digest bytea NOT NULL, stored_ms bigint NOT NULL, prev_hash bytea NOT NULL,"
     "  entry_hash bytea NOT NULL);"
     "CREATE INDEX chain_log_by_record ON {audit}.chain_log (record_ref);"
     // Append-only against our own bugs; an attacker with table rights can drop the trigger,
     // which is why the entries are chained with a keyed hash as well.
     "CREATE FUNCTION {audit}.refuse_change() RETURNS trigger LANGUAGE plpgsql AS"
     "  $$ BEGIN RAISE EXCEPTION 'chain_log is append-only'; END $$;"
     "CREATE TRIGGER chain_log_append_only BEFORE UPDATE OR DELETE ON {audit}.chain_log"
     "  FOR EACH ROW EXECUTE FUNCTION {audit}.refuse_change();"
     "CREATE TRIGGER chain_log_no_truncate BEFORE TRUNCATE ON {audit}.chain_log"
     "  FOR EACH STATEMENT EXECUTE FUNCTION {audit}.refuse_change();"
     "CREATE TABLE {audit}.chain_head ("
     "  id integer PRIMARY KEY CHECK (id = 1), seq bigint NOT NULL, hash bytea NOT NULL);"
     "INSERT INTO {audit}.chain_head VALUES (1, 0, ''::bytea);"
     "CREATE TABLE {keyring}.wrapped_keys ("
     "  ring text NOT NULL, patient_id bytea NOT NULL, part bytea NOT NULL,"
     "  wrapped bytea NOT NULL, PRIMARY KEY (ring, patient_id, part));"},
};
static_assert(std::size(kMigrations) == kRecordStoreSchemaVersion);

std::string ExpandSql(const std::string& prefix, std::string_view sql) {
  std::string out;
  out.reserve(sql.size() + 64);
  for (std::size_t i = 0; i < sql.size();) {
    if (sql[i] == '{') {
      const std::size_t end = sql.find('}', i);
      MEDMESH_CHECK(end != std::string_view::npos, "unterminated schema placeholder");
      // The prefix and names are [a-z0-9_], so quoting cannot be escaped out of.
      out += '"';
      out += prefix;
      out.append(sql.substr(i + 1, end - i - 1));
      out += '"';
      i = end + 1;
    } else {
      out += sql[i++];
    }
  }
  return out;
}

pqxx::binarystring Blob(ByteView b) { return {b.data(), b.size()}; }
pqxx::binarystring Blob(std::string_view s) { return {s.data(), s.size()}; }

Bytes ToBytes(const pqxx::field& f) {
  const pqxx::binarystring b(f);
  return {b.data(), b.data() + b.size()};
}
std::string ToBlobString(const pqxx::field& f) {
  const pqxx::binarystring b(f);
  return b.str();
}
std::int64_t I64(std::uint64_t v) { return static_cast<std::int64_t>(v); }

Status CheckContext(const crypto::DataKeyContext& c) {
  if (c.patient_id.empty() || c.patient_id.size() > crypto::kMaxDataKeyContextFieldBytes ||
      c.part.empty() || c.part.size() > crypto::kMaxDataKeyContextFieldBytes) {
    return InvalidArgument("data key context fields must be 1..255 bytes");
  }
  return OkStatus();
}

// Reads the chain head and locks its row until the transaction ends: appenders queue here.
ChainHead LockChainHead(pqxx::work& w, const std::string& prefix) {
  const pqxx::row r = w.exec1(
      ExpandSql(prefix, "SELECT seq, hash FROM {audit}.chain_head WHERE id = 1 FOR UPDATE"));
  return ChainHead{static_cast<std::uint64_t>(r[0].as<std::int64_t>()), ToBytes(r[1])};
}

// Appends one chain entry after `head` and advances `head`; the caller's transaction holds the
// chain_head row lock.
std::uint64_t AppendChain(pqxx::work& w, const std::string& prefix, ChainEntryKind kind,
                          const std::string& record_ref, ByteView digest, std::int64_t stored_ms,
                          const ChainHasher& hasher, ChainHead& head) {
  ChainEntry e;
  e.seq = head.seq + 1;
  e.kind = kind;
  e.record_ref = record_ref;
  e.record_digest.assign(digest.begin(), digest.end());
  e.stored_ms = stored_ms;
  e.prev_hash = head.hash;
  e.entry_hash = hasher.EntryHash(e);
  w.exec_params0(
      ExpandSql(prefix,
                "INSERT INTO {audit}.chain_log (seq, kind, record_ref, record_digest,"
                " stored_ms, prev_hash, entry_hash) VALUES ($1, $2, $3, $4, $5, $6, $7)"),
      I64(e.seq), static_cast<int>(e.kind), e.record_ref, Blob(e.record_digest), e.stored_ms,
      Blob(e.prev_hash), Blob(e.entry_hash));
  w.exec_params0(
      ExpandSql(prefix, "UPDATE {audit}.chain_head SET seq = $1, hash = $2 WHERE id = 1"),
      I64(e.seq), Blob(e.entry_hash));
  head = ChainHead{e.seq, e.entry_hash};
  return e.seq;
}

// --- Key rings ---------------------------------------------------------------------------------

class PgKeyRing final : public crypto::WrappedKeyStore {
 public:
  PgKeyRing(PgConnectionPool& pool, const std::string& prefix, std::string ring)
      : pool_(pool), ring_(std::move(ring)), table_(ExpandSql(prefix, "{keyring}.wrapped_keys")) {}

  Status Insert(const crypto::DataKeyContext& context, Bytes wrapped) override {
    MEDMESH_RETURN_IF_ERROR(CheckContext(context));
    return pool_.Run("insert wrapped key", [&](pqxx::connection& c) -> Status {
      pqxx::work w(c);
      const pqxx::result r = w.exec_params(
          "INSERT INTO " + table_ +
              " (ring, patient_id, part, wrapped) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
          ring_, Blob(context.patient_id), Blob(context.part), Blob(wrapped));
      w.commit();
      if (r.affected_rows() == 0) return AlreadyExists("data key already exists");
      return OkStatus();
    });
  }

  Result<Bytes> Get(const crypto::DataKeyContext& context) const override {
    MEDMESH_RETURN_IF_ERROR(CheckContext(context));
    return pool_.Run("get wrapped key", [&](pqxx::connection& c) -> Result<Bytes> {
      pqxx::read_transaction w(c);
      const pqxx::result r = w.exec_params(
          "SELECT wrapped FROM " + table_ + " WHERE ring = $1 AND patient_id = $2 AND part = $3",
          ring_, Blob(context.patient_id), Blob(context.part));
      if (r.empty()) return NotFound("no data key for this context");
      return ToBytes(r[0][0]);
    });
  }

  Status Replace(const crypto::DataKeyContext& context, ByteView expected, Bytes wrapped) override {
    MEDMESH_RETURN_IF_ERROR(CheckContext(context));
    return pool_.Run("replace wrapped key", [&](pqxx::connection& c) -> Status {
      pqxx::work w(c);
      const pqxx::result r =
          w.exec_params("SELECT wrapped FROM " + table_ +
                            " WHERE ring = $1 AND patient_id = $2 AND part = $3 FOR UPDATE",
                        ring_, Blob(context.patient_id), Blob(context.part));
      if (r.empty()) return NotFound("no data key for this context");
      const Bytes current = ToBytes(r[0][0]);
      if (!std::equal(current.begin(), current.end(), expected.begin(), expected.end())) {
        return FailedPrecondition("wrapped data key changed concurrently");
      }
      w.exec_params0("UPDATE " + table_ +
                         " SET wrapped = $4 WHERE ring = $1 AND patient_id = $2 AND part = $3",
                     ring_, Blob(context.patient_id), Blob(context.part), Blob(wrapped));
      w.commit();
      return OkStatus();
    });
  }

  Status Delete(const crypto::DataKeyContext& context) override {
    MEDMESH_RETURN_IF_ERROR(CheckContext(context));
    return pool_.Run("delete wrapped key", [&](pqxx::connection& c) -> Status {
      pqxx::work w(c);
      const pqxx::result r = w.exec_params(
          "DELETE FROM " + table_ + " WHERE ring = $1 AND patient_id = $2 AND part = $3", ring_,
          Blob(context.patient_id), Blob(context.part));
      w.commit();
      if (r.affected_rows() == 0) return NotFound("no data key for this context");
      return OkStatus();
    });
  }

  Result<std::vector<crypto::DataKeyContext>> List() const override {
    return pool_.Run("list wrapped keys",
                     [&](pqxx::connection& c) -> Result<std::vector<crypto::DataKeyContext>> {
                       pqxx::read_transaction w(c);
                       const pqxx::result r =
                           w.exec_params("SELECT patient_id, part FROM " + table_ +
                                             " WHERE ring = $1 ORDER BY patient_id, part",
                                         ring_);
                       std::vector<crypto::DataKeyContext> out;
                       out.reserve(r.size());
                       for (const auto& row : r) {
                         out.push_back({ToBlobString(row[0]), ToBlobString(row[1])});
                       }
                       return out;
                     });
  }

 private:
  PgConnectionPool& pool_;
  const std::string ring_;
  const std::string table_;
};

Status Migrate(PgConnectionPool& pool, const std::string& prefix) {
  return pool.Run("migrate record store", [&](pqxx::connection& c) -> Status {
    pqxx::work w(c);
    // Serialises nodes that start together; released at commit or rollback.
    w.exec_params("SELECT pg_advisory_xact_lock(hashtext($1))", "medmesh record store " + prefix);
    w.exec(ExpandSql(prefix,
                     "CREATE SCHEMA IF NOT EXISTS {meta};"
                     "CREATE TABLE IF NOT EXISTS {meta}.migrations ("
                     "  version integer PRIMARY KEY, description text NOT NULL,"
                     "  applied_at timestamptz NOT NULL DEFAULT now())"));
    const int have =
        w.exec1(ExpandSql(prefix, "SELECT COALESCE(MAX(version), 0) FROM {meta}.migrations"))[0]
            .as<int>();
    if (have > kRecordStoreSchemaVersion) {
      return FailedPrecondition("record store schema is version " + std::to_string(have) +
                                ", newer than this build (" +
                                std::to_string(kRecordStoreSchemaVersion) + ")");
    }
    for (const Migration& m : kMigrations) {
      if (m.version <= have) continue;
      w.exec(ExpandSql(prefix, m.sql));
      w.exec_params0(
          ExpandSql(prefix, "INSERT INTO {meta}.migrations (version, description) VALUES ($1, $2)"),
          m.version, std::string(m.description));
    }
    w.commit();
    return OkStatus();
  });
}

}  // namespace

// --- Store -------------------------------------------------------------------------------------

PostgresRecordStore::PostgresRecordStore(std::unique_ptr<PgConnectionPool> pool, std::string prefix)
    : pool_(std::move(pool)), prefix_(std::move(prefix)) {
  rings_[0] = std::make_unique<PgKeyRing>(*pool_, prefix_, "ei");
  rings_[1] = std::make_unique<PgKeyRing>(*pool_, prefix_, "qi");
  rings_[2] = std::make_unique<PgKeyRing>(*pool_, prefix_, "mi");
}

PostgresRecordStore::~PostgresRecordStore() = default;

Result<std::unique_ptr<PostgresRecordStore>> PostgresRecordStore::Open(
    PostgresRecordStoreOptions options) {
  MEDMESH_RETURN_IF_ERROR(CheckSchemaPrefix(options.schema_prefix));
  MEDMESH_ASSIGN_OR_RETURN(
      std::unique_ptr<PgConnectionPool> pool,
      PgConnectionPool::Create(std::move(options.conninfo), options.pool_size,
                               options.acquire_timeout, options.statement_timeout));
  MEDMESH_RETURN_IF_ERROR(Migrate(*pool, options.schema_prefix));
  return std::unique_ptr<PostgresRecordStore>(
      new PostgresRecordStore(std::move(pool), std::move(options.schema_prefix)));
}

std::vector<std::string> PostgresRecordStore::schemas() const {
  std::vector<std::string> out;
  for (const char* name : kSchemaNames) out.push_back(prefix_ + name);
  return out;
}

std::string PostgresRecordStore::Sql(std::string_view sql) const { return ExpandSql(prefix_, sql); }

crypto::WrappedKeyStore& PostgresRecordStore::wrapped_keys(RecordPart part) {
  switch (part) {
    case RecordPart::kEi: return *rings_[0];
    case RecordPart::kQi: return *rings_[1];
    case RecordPart::kMi: return *rings_[2];
  }
  MEDMESH_CHECK(false, "unknown record part");
}

Result<PutResult> PostgresRecordStore::PutRecord(const NewRecord& record,
                                                 const ChainHasher& hasher) {
  MEDMESH_RETURN_IF_ERROR(ValidateNewRecord(record));
  return pool_->Run("put record", [&](pqxx::connection& c) -> Result<PutResult> {
    pqxx::work w(c);
    // Taking the chain lock first serialises writers, so the duplicate check below cannot race
    // with another insert of the same record.
    ChainHead head = LockChainHead(w, prefix_);
    const pqxx::result existing =
        w.exec_params(Sql("SELECT l.digest, (SELECT MAX(seq) FROM {audit}.chain_log c"
                          " WHERE c.record_ref = l.record_ref AND c.kind = 1)"
                          " FROM {ei}.record_link l WHERE l.record_ref = $1"),
                      record.link.record_ref);
    if (!existing.empty()) {
      if (ToBytes(existing[0][0]) != record.link.digest) {
        return AlreadyExists("a different record with this record id is already stored");
      }
      return PutResult{PutOutcome::kDuplicate,
                       static_cast<std::uint64_t>(existing[0][1].as<std::int64_t>())};
    }
    w.exec_params0(Sql("INSERT INTO {ei}.snapshot (patient_id, snapshot_ref, ciphertext)"
                       " VALUES ($1, $2, $3) ON CONFLICT DO NOTHING"),
                   record.ei.patient_id, record.ei.snapshot_ref, Blob(record.ei.ciphertext));
    w.exec_params0(Sql("UPDATE {qi}.snapshot SET is_current = false"
                       " WHERE patient_id = $1 AND is_current AND snapshot_ref <> $2"),
                   record.qi.patient_id, record.qi.snapshot_ref);
    w.exec_params0(
        Sql("INSERT INTO {qi}.snapshot (patient_id, snapshot_ref, ciphertext, is_current)"
            " VALUES ($1, $2, $3, true)"
            " ON CONFLICT (patient_id, snapshot_ref) DO UPDATE SET is_current = true"),
        record.qi.patient_id, record.qi.snapshot_ref, Blob(record.qi.ciphertext));
    w.exec_params0(Sql("INSERT INTO {ei}.record_link (record_ref, patient_id, digest, ciphertext)"
                       " VALUES ($1, $2, $3, $4)"),
                   record.link.record_ref, record.link.patient_id, Blob(record.link.digest),
                   Blob(record.link.ciphertext));
    w.exec_params0(
        Sql("INSERT INTO {mi}.record (mi_ref, pseudonym, ciphertext) VALUES ($1, $2, $3)"),
        record.mi.mi_ref, record.mi.pseudonym, Blob(record.mi.ciphertext));
    for (const BlindIndexRow& row : record.blind_index) {
      w.exec_params0(Sql("INSERT INTO {ei}.blind_index (field, token, patient_id)"
                         " VALUES ($1, $2, $3) ON CONFLICT DO NOTHING"),
                     row.field, Blob(row.token), row.patient_id);
    }
    const std::uint64_t seq = AppendChain(w, prefix_, ChainEntryKind::kPut, record.link.record_ref,
                                          record.link.digest, record.stored_ms, hasher, head);
    w.exec0(Sql("UPDATE {qi}.state SET generation = generation + 1 WHERE id = 1"));
    w.commit();
    return PutResult{PutOutcome::kInserted, seq};
  });
}

Result<DeleteResult> PostgresRecordStore::DeletePatient(std::string_view patient_id,
                                                        std::string_view pseudonym,
                                                        std::int64_t stored_ms,
                                                        const ChainHasher& hasher) {
  MEDMESH_RETURN_IF_ERROR(ValidateStoreString("patient_id", patient_id, kMaxStoreIdBytes));
  MEDMESH_RETURN_IF_ERROR(ValidateStoreString("pseudonym", pseudonym, kMaxStoreIdBytes));
  const std::string patient(patient_id);
  const std::string pseud(pseudonym);
  return pool_->Run("delete patient", [&](pqxx::connection& c) -> Result<DeleteResult> {
    pqxx::work w(c);
    ChainHead head = LockChainHead(w, prefix_);
    const pqxx::result refs = w.exec_params(
        Sql("SELECT record_ref FROM {ei}.record_link WHERE patient_id = $1"), patient);
    std::size_t removed = 0;
    for (const char* sql : {"DELETE FROM {ei}.record_link WHERE patient_id = $1",
                            "DELETE FROM {ei}.snapshot WHERE patient_id = $1",
                            "DELETE FROM {ei}.blind_index WHERE patient_id = $1",
                            "DELETE FROM {qi}.snapshot WHERE patient_id = $1"}) {
      removed += w.exec_params(Sql(sql), patient).affected_rows();
    }
    removed +=
        w.exec_params(Sql("DELETE FROM {mi}.record WHERE pseudonym = $1"), pseud).affected_rows();
    for (const auto& ref : refs) {
      AppendChain(w, prefix_, ChainEntryKind::kDelete, ref[0].as<std::string>(), {}, stored_ms,
                  hasher, head);
    }
    if (removed > 0) w.exec0(Sql("UPDATE {qi}.state SET generation = generation + 1 WHERE id = 1"));
    w.commit();
    return DeleteResult{refs.size(), removed > 0};
  });
}

Status PostgresRecordStore::ReplaceGeneralisedQi(const std::vector<GeneralisedQiRow>& rows,
                                                 std::uint64_t generation) {
  for (const GeneralisedQiRow& r : rows) {
    if (r.age_band.empty() || r.age_band.size() > 16 || r.sex.empty() || r.sex.size() > 16 ||
        r.postcode_prefix.empty() || r.postcode_prefix.size() > 16) {
      return InvalidArgument("generalised QI values must be 1..16 bytes");
    }
  }
  return pool_->Run("replace generalised qi", [&](pqxx::connection& c) -> Status {
    pqxx::work w(c);
    w.exec0(Sql("DELETE FROM {qi}.generalised"));
    for (const GeneralisedQiRow& r : rows) {
      w.exec_params0(Sql("INSERT INTO {qi}.generalised (age_band, sex, postcode_prefix,"
                         " reference_year) VALUES ($1, $2, $3, $4)"),
                     r.age_band, r.sex, r.postcode_prefix, r.reference_year);
    }
    w.exec_params0(Sql("UPDATE {qi}.state SET generalised_generation = $1 WHERE id = 1"),
                   I64(generation));
    w.commit();
    return OkStatus();
  });
}

Result<std::vector<RecordLinkRow>> PostgresRecordStore::ListRecordLinks(
    std::string_view patient_id) const {
  MEDMESH_RETURN_IF_ERROR(ValidateStoreString("patient_id", patient_id, kMaxStoreIdBytes));
  return pool_->Run(
      "list record links", [&](pqxx::connection& c) -> Result<std::vector<RecordLinkRow>> {
        pqxx::read_transaction w(c);
        const pqxx::result r = w.exec_params(
            Sql("SELECT record_ref, patient_id, digest, ciphertext FROM {ei}.record_link"
                " WHERE patient_id = $1 ORDER BY record_ref COLLATE \"C\""),
            std::string(patient_id));
        std::vector<RecordLinkRow> out;
        out.reserve(r.size());
        for (const auto& row : r) {
          out.push_back({row[0].as<std::string>(), row[1].as<std::string>(), ToBytes(row[2]),
                         ToBytes(row[3])});
        }
        return out;
      });
}

Result<RecordLinkRow> PostgresRecordStore::GetRecordLink(std::string_view record_ref) const {
  MEDMESH_RETURN_IF_ERROR(ValidateStoreString("record_ref", record_ref, kMaxStoreRefBytes));
  return pool_->Run("get record link", [&](pqxx::connection& c) -> Result<RecordLinkRow> {
    pqxx::read_transaction w(c);
    const pqxx::result r =
        w.exec_params(Sql("SELECT record_ref, patient_id, digest, ciphertext FROM {ei}.record_link"
                          " WHERE record_ref = $1"),
                      std::string(record_ref));
    if (r.empty()) return NotFound("no such record");
    return RecordLinkRow{r[0][0].as<std::string>(), r[0][1].as<std::string>(), ToBytes(r[0][2]),
                         ToBytes(r[0][3])};
  });
}

Result<SnapshotRow> PostgresRecordStore::GetSnapshot(RecordPart part, std::string_view patient_id,
                                                     std::string_view snapshot_ref) const {
  if (part == RecordPart::kMi) return InvalidArgument("MI has no snapshots");
  MEDMESH_RETURN_IF_ERROR(ValidateStoreString("patient_id", patient_id, kMaxStoreIdBytes));
  MEDMESH_RETURN_IF_ERROR(ValidateStoreString("snapshot_ref", snapshot_ref, kMaxStoreRefBytes));
  return pool_->Run("get snapshot", [&](pqxx::connection& c) -> Result<SnapshotRow> {
    pqxx::read_transaction w(c);
    const pqxx::result r = w.exec_params(
        Sql(part == RecordPart::kEi
                ? "SELECT ciphertext FROM {ei}.snapshot WHERE patient_id = $1 AND snapshot_ref = $2"
                : "SELECT ciphertext FROM {qi}.snapshot WHERE patient_id = $1 AND snapshot_ref = "
                  "$2"),
        std::string(patient_id), std::string(snapshot_ref));
    if (r.empty()) return NotFound("no such snapshot");
    return SnapshotRow{std::string(patient_id), std::string(snapshot_ref), ToBytes(r[0][0])};
  });
}

Result<std::vector<SnapshotRow>> PostgresRecordStore::ListCurrentQi(std::string_view after,
                                                                    std::size_t limit) const {
  MEDMESH_RETURN_IF_ERROR(ValidatePageLimit(limit));
  return pool_->Run(
      "list current qi", [&](pqxx::connection& c) -> Result<std::vector<SnapshotRow>> {
        pqxx::read_transaction w(c);
        // COLLATE "C": byte order, the same as SQLite's, whatever the database locale.
        const pqxx::result r =
            w.exec_params(Sql("SELECT patient_id, snapshot_ref, ciphertext FROM {qi}.snapshot"
                              " WHERE is_current AND patient_id COLLATE \"C\" > $1"
                              " ORDER BY patient_id COLLATE \"C\" LIMIT $2"),
                          std::string(after), I64(limit));
        std::vector<SnapshotRow> out;
        out.reserve(r.size());
        for (const auto& row : r) {
          out.push_back({row[0].as<std::string>(), row[1].as<std::string>(), ToBytes(row[2])});
        }
        return out;
      });
}

Result<MiRow> PostgresRecordStore::GetMi(std::string_view mi_ref) const {
  MEDMESH_RETURN_IF_ERROR(ValidateStoreString("mi_ref", mi_ref, kMaxStoreRefBytes));
  return pool_->Run("get mi", [&](pqxx::connection& c) -> Result<MiRow> {
    pqxx::read_transaction w(c);
    const pqxx::result r = w.exec_params(
        Sql("SELECT mi_ref, pseudonym, ciphertext FROM {mi}.record WHERE mi_ref = $1"),
        std::string(mi_ref));
    if (r.empty()) return NotFound("no such MI row");
    return MiRow{r[0][0].as<std::string>(), r[0][1].as<std::string>(), ToBytes(r[0][2])};
  });
}

Result<std::vector<MiRow>> PostgresRecordStore::ListMi(std::string_view after,
                                                       std::size_t limit) const {
  MEDMESH_RETURN_IF_ERROR(ValidatePageLimit(limit));
  return pool_->Run("list mi", [&](pqxx::connection& c) -> Result<std::vector<MiRow>> {
    pqxx::read_transaction w(c);
    const pqxx::result r = w.exec_params(
        Sql("SELECT mi_ref, pseudonym, ciphertext FROM {mi}.record"
            " WHERE mi_ref COLLATE \"C\" > $1 ORDER BY mi_ref COLLATE \"C\" LIMIT $2"),
        std::string(after), I64(limit));
    std::vector<MiRow> out;
    out.reserve(r.size());
    for (const auto& row : r) {
      out.push_back({row[0].as<std::string>(), row[1].as<std::string>(), ToBytes(row[2])});
    }
    return out;
  });
}

Result<std::vector<std::string>> PostgresRecordStore::FindPatients(std::string_view field,
                                                                   ByteView token) const {
  MEDMESH_RETURN_IF_ERROR(ValidateStoreString("blind index field", field, kMaxStoreRefBytes));
  if (token.empty() || token.size() > 64) {
    return InvalidArgument("blind index token must be 1..64 bytes");
  }
  return pool_->Run("find patients", [&](pqxx::connection& c) -> Result<std::vector<std::string>> {
    pqxx::read_transaction w(c);
    const pqxx::result r =
        w.exec_params(Sql("SELECT patient_id FROM {ei}.blind_index WHERE field = $1 AND token = $2"
                          " ORDER BY patient_id COLLATE \"C\""),
                      std::string(field), Blob(token));
    std::vector<std::string> out;
    out.reserve(r.size());
    for (const auto& row : r) out.push_back(row[0].as<std::string>());
    return out;
  });
}

Result<QiState> PostgresRecordStore::GetQiState() const {
  return pool_->Run("get qi state", [&](pqxx::connection& c) -> Result<QiState> {
    pqxx::read_transaction w(c);
    const pqxx::result r =
        w.exec(Sql("SELECT generation, generalised_generation FROM {qi}.state WHERE id = 1"));
    if (r.empty()) return DataLoss("qi state row is missing");
    return QiState{static_cast<std::uint64_t>(r[0][0].as<std::int64_t>()),
                   static_cast<std::uint64_t>(r[0][1].as<std::int64_t>())};
  });
}

Result<std::vector<GeneralisedQiRow>> PostgresRecordStore::ListGeneralisedQi() const {
  return pool_->Run("list generalised qi",
                    [&](pqxx::connection& c) -> Result<std::vector<GeneralisedQiRow>> {
                      pqxx::read_transaction w(c);
                      const pqxx::result r =
                          w.exec(Sql("SELECT age_band, sex, postcode_prefix, reference_year"
                                     " FROM {qi}.generalised ORDER BY row_no"));
                      std::vector<GeneralisedQiRow> out;
                      out.reserve(r.size());
                      for (const auto& row : r) {
                        out.push_back({row[0].as<std::string>(), row[1].as<std::string>(),
                                       row[2].as<std::string>(), row[3].as<std::int32_t>()});
                      }
                      return out;
                    });
}

Result<std::vector<ChainEntry>> PostgresRecordStore::ReadChain(std::uint64_t from_seq,
                                                               std::size_t limit) const {
  MEDMESH_RETURN_IF_ERROR(ValidatePageLimit(limit));
  return pool_->Run("read chain", [&](pqxx::connection& c) -> Result<std::vector<ChainEntry>> {
    pqxx::read_transaction w(c);
    const pqxx::result r = w.exec_params(
        Sql("SELECT seq, kind, record_ref, record_digest, stored_ms, prev_hash, entry_hash"
            " FROM {audit}.chain_log WHERE seq >= $1 ORDER BY seq LIMIT $2"),
        I64(from_seq), I64(limit));
    std::vector<ChainEntry> out;
    out.reserve(r.size());
    for (const auto& row : r) {
      ChainEntry e;
      e.seq = static_cast<std::uint64_t>(row[0].as<std::int64_t>());
      e.kind = static_cast<ChainEntryKind>(row[1].as<int>());
      e.record_ref = row[2].as<std::string>();
      e.record_digest = ToBytes(row[3]);
      e.stored_ms = row[4].as<std::int64_t>();
      e.prev_hash = ToBytes(row[5]);
      e.entry_hash = ToBytes(row[6]);
      out.push_back(std::move(e));
    }
    return out;
  });
}

Result<ChainHead> PostgresRecordStore::GetChainHead() const {
  return pool_->Run("get chain head", [&](pqxx::connection& c) -> Result<ChainHead> {
    pqxx::read_transaction w(c);
    const pqxx::result r = w.exec(Sql("SELECT seq, hash FROM {audit}.chain_head WHERE id = 1"));
    if (r.empty()) return DataLoss("chain head row is missing");
    return ChainHead{static_cast<std::uint64_t>(r[0][0].as<std::int64_t>()), ToBytes(r[0][1])};
  });
}

Result<RowCounts> PostgresRecordStore::CountRows() const {
  return pool_->Run("count rows", [&](pqxx::connection& c) -> Result<RowCounts> {
    pqxx::read_transaction w(c);
    const pqxx::row r =
        w.exec1(Sql("SELECT (SELECT COUNT(*) FROM {ei}.record_link),"
                    " (SELECT COUNT(*) FROM {mi}.record)"));
    return RowCounts{static_cast<std::uint64_t>(r[0].as<std::int64_t>()),
                     static_cast<std::uint64_t>(r[1].as<std::int64_t>())};
  });
}

Result<int> PostgresRecordStore::SchemaVersion() const {
  return pool_->Run("schema version", [&](pqxx::connection& c) -> Result<int> {
    pqxx::read_transaction w(c);
    return w.exec1(Sql("SELECT COALESCE(MAX(version), 0) FROM {meta}.migrations"))[0].as<int>();
  });
}

Result<std::optional<ChainEntry>> PostgresRecordStore::LatestChainEntry(
    std::string_view ref) const {
  MEDMESH_RETURN_IF_ERROR(ValidateStoreString("chain reference", ref, kMaxStoreRefBytes));
  const std::string key(ref);
  return pool_->Run(
      "latest chain entry", [&](pqxx::connection& c) -> Result<std::optional<ChainEntry>> {
        pqxx::read_transaction w(c);
        const pqxx::result r =
            w.exec_params(Sql("SELECT seq, kind, record_ref, record_digest, stored_ms, prev_hash,"
                              " entry_hash FROM {audit}.chain_log WHERE record_ref = $1"
                              " ORDER BY seq DESC LIMIT 1"),
                          key);
        if (r.empty()) return std::optional<ChainEntry>();
        ChainEntry e;
        e.seq = static_cast<std::uint64_t>(r[0][0].as<std::int64_t>());
        e.kind = static_cast<ChainEntryKind>(r[0][1].as<int>());
        e.record_ref = r[0][2].as<std::string>();
        e.record_digest = ToBytes(r[0][3]);
        e.stored_ms = r[0][4].as<std::int64_t>();
        e.prev_hash = ToBytes(r[0][5]);
        e.entry_hash = ToBytes(r[0][6]);
        return std::optional<ChainEntry>(std::move(e));
      });
}

Result<std::uint64_t> PostgresRecordStore::AppendChainEntry(ChainEntryKind kind,
                                                            std::string_view ref, ByteView digest,
                                                            std::int64_t stored_ms,
                                                            const ChainHasher& hasher) {
  MEDMESH_RETURN_IF_ERROR(ValidateChainAppend(kind, ref, digest));
  const std::string key(ref);
  return pool_->Run("append chain entry", [&](pqxx::connection& c) -> Result<std::uint64_t> {
    pqxx::work w(c);
    ChainHead head = LockChainHead(w, prefix_);
    const std::uint64_t seq = AppendChain(w, prefix_, kind, key, digest, stored_ms, hasher, head);
    w.commit();
    return seq;
  });
}

Result<std::uint64_t> PostgresRecordStore::RestoreRecord(const NewRecord& record,
                                                         const ChainHasher& hasher) {
  MEDMESH_RETURN_IF_ERROR(ValidateNewRecord(record));
  return pool_->Run("restore record", [&](pqxx::connection& c) -> Result<std::uint64_t> {
    pqxx::work w(c);
    ChainHead head = LockChainHead(w, prefix_);
    w.exec_params0(Sql("INSERT INTO {ei}.snapshot (patient_id, snapshot_ref, ciphertext)"
                       " VALUES ($1, $2, $3) ON CONFLICT (patient_id, snapshot_ref) DO UPDATE"
                       " SET ciphertext = excluded.ciphertext"),
                   record.ei.patient_id, record.ei.snapshot_ref, Blob(record.ei.ciphertext));
    // A re-inserted QI snapshot becomes current only if the patient has none.
    w.exec_params0(
        Sql("INSERT INTO {qi}.snapshot (patient_id, snapshot_ref, ciphertext, is_current)"
            " VALUES ($1, $2, $3, NOT EXISTS (SELECT 1 FROM {qi}.snapshot WHERE patient_id = $1"
            " AND is_current))"
            " ON CONFLICT (patient_id, snapshot_ref) DO UPDATE SET ciphertext = "
            "excluded.ciphertext"),
        record.qi.patient_id, record.qi.snapshot_ref, Blob(record.qi.ciphertext));
    w.exec_params0(Sql("INSERT INTO {ei}.record_link (record_ref, patient_id, digest, ciphertext)"
                       " VALUES ($1, $2, $3, $4) ON CONFLICT (record_ref) DO UPDATE SET"
                       " patient_id = excluded.patient_id, digest = excluded.digest,"
                       " ciphertext = excluded.ciphertext"),
                   record.link.record_ref, record.link.patient_id, Blob(record.link.digest),
                   Blob(record.link.ciphertext));
    w.exec_params0(Sql("INSERT INTO {mi}.record (mi_ref, pseudonym, ciphertext) VALUES ($1, $2, $3)"
                       " ON CONFLICT (mi_ref) DO UPDATE SET pseudonym = excluded.pseudonym,"
                       " ciphertext = excluded.ciphertext"),
                   record.mi.mi_ref, record.mi.pseudonym, Blob(record.mi.ciphertext));
    for (const BlindIndexRow& row : record.blind_index) {
      w.exec_params0(Sql("INSERT INTO {ei}.blind_index (field, token, patient_id)"
                         " VALUES ($1, $2, $3) ON CONFLICT DO NOTHING"),
                     row.field, Blob(row.token), row.patient_id);
    }
    const std::uint64_t seq =
        AppendChain(w, prefix_, ChainEntryKind::kRestore, record.link.record_ref,
                    record.link.digest, record.stored_ms, hasher, head);
    w.exec0(Sql("UPDATE {qi}.state SET generation = generation + 1 WHERE id = 1"));
    w.commit();
    return seq;
  });
}

}  // namespace medmesh::store

#include "audit/postgres_audit_store.h"

#include <pqxx/pqxx>
#include <string>
#include <utility>

#include "core/check.h"
#include "store/postgres/postgres_connection.h"
#include "store/postgres/schema_prefix.h"

namespace medmesh::audit {
namespace {

constexpr int kSchemaVersion = 1;

// {s} is the schema. Version 1; a later change appends a step, never edits this one.
constexpr const char* kDdl =
    "CREATE SCHEMA IF NOT EXISTS {s};"
    "CREATE TABLE IF NOT EXISTS {s}.schema_version (version integer PRIMARY KEY);"
    "CREATE TABLE IF NOT EXISTS {s}.entry ("
    "  seq bigint PRIMARY KEY, time_ms bigint NOT NULL, event text NOT NULL,"
    "  action text NOT NULL, outcome integer NOT NULL, actor_account_id text NOT NULL,"
    "  actor_role text NOT NULL, source_address text NOT NULL, patient_id text NOT NULL,"
    "  entity_type text NOT NULL, entity_id text NOT NULL, purpose text NOT NULL,"
    "  detail text NOT NULL, observer text NOT NULL, format integer NOT NULL,"
    "  event_json text NOT NULL, prev_hash bytea NOT NULL, entry_hash bytea NOT NULL);"
    "CREATE INDEX IF NOT EXISTS entry_by_patient ON {s}.entry (patient_id, seq);"
    "CREATE INDEX IF NOT EXISTS entry_by_actor ON {s}.entry (actor_account_id, seq);"
    "CREATE INDEX IF NOT EXISTS entry_by_time ON {s}.entry (time_ms);"
    "CREATE TABLE IF NOT EXISTS {s}.head ("
    "  id integer PRIMARY KEY CHECK (id = 1), seq bigint NOT NULL, hash bytea NOT NULL,"
    "  observer text NOT NULL, signature bytea NOT NULL);"
    // Append-only against our own bugs; the schema's owner can drop the triggers, which is why
    // the entries are chained and the head signed.
    "CREATE OR REPLACE FUNCTION {s}.refuse_change() RETURNS trigger LANGUAGE plpgsql AS"
    "  $$ BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$;"
    "DROP TRIGGER IF EXISTS entry_append_only ON {s}.entry;"
    "CREATE TRIGGER entry_append_only BEFORE UPDATE OR DELETE ON {s}.entry"
    "  FOR EACH ROW EXECUTE FUNCTION {s}.refuse_change();"
    "DROP TRIGGER IF EXISTS entry_no_truncate ON {s}.entry;"
    "CREATE TRIGGER entry_no_truncate BEFORE TRUNCATE ON {s}.entry"
    "  FOR EACH STATEMENT EXECUTE FUNCTION {s}.refuse_change();";

constexpr const char* kEntryColumns =
    "seq, time_ms, event, action, outcome, actor_account_id, actor_role, source_address,"
    " patient_id, entity_type, entity_id, purpose, detail, observer, format, event_json,"
    " prev_hash, entry_hash";

constexpr std::size_t kScanPage = 1000;

std::string Expand(const std::string& schema, std::string_view sql) {
  std::string out;
  for (std::size_t i = 0; i < sql.size();) {
    if (sql.substr(i, 3) == "{s}") {
      // The prefix is [a-z0-9_] (CheckSchemaPrefix), so the quoting cannot be escaped.
      out += '"' + schema + '"';
      i += 3;
    } else {
      out += sql[i++];
    }
  }
  return out;
}

pqxx::binarystring Blob(ByteView b) { return pqxx::binarystring(b.data(), b.size()); }
Bytes ToBytes(const pqxx::field& f) {
  const pqxx::binarystring b(f);
  return Bytes(b.data(), b.data() + b.size());
}
std::int64_t I64(std::uint64_t v) { return static_cast<std::int64_t>(v); }

StoredAuditEntry ReadEntry(const pqxx::row& r) {
  StoredAuditEntry s;
  s.seq = static_cast<std::uint64_t>(r[0].as<std::int64_t>());
  AuditEntry& e = s.entry;
  e.time_ms = r[1].as<std::int64_t>();
  e.event = r[2].as<std::string>();
  const std::string action = r[3].as<std::string>();
  // Kept as read: Verify finds a value outside C/R/U/D/E by re-rendering.
  e.action = static_cast<Action>(action.size() == 1 ? action[0] : '?');
  e.outcome = static_cast<Outcome>(r[4].as<int>());
  e.actor_account_id = r[5].as<std::string>();
  e.actor_role = r[6].as<std::string>();
  e.source_address = r[7].as<std::string>();
  e.patient_id = r[8].as<std::string>();
  e.entity_type = r[9].as<std::string>();
  e.entity_id = r[10].as<std::string>();
  e.purpose = r[11].as<std::string>();
  e.detail = r[12].as<std::string>();
  s.observer = r[13].as<std::string>();
  s.format = r[14].as<int>();
  s.event_json = r[15].as<std::string>();
  s.prev_hash = ToBytes(r[16]);
  s.entry_hash = ToBytes(r[17]);
  return s;
}

SignedAuditHead ReadHead(const pqxx::row& r) {
  return SignedAuditHead{static_cast<std::uint64_t>(r[0].as<std::int64_t>()), ToBytes(r[1]),
                         r[2].as<std::string>(), ToBytes(r[3])};
}

}  // namespace

Result<std::unique_ptr<PostgresAuditStore>> PostgresAuditStore::Open(
    PostgresAuditStoreOptions options) {
  MEDMESH_RETURN_IF_ERROR(store::CheckSchemaPrefix(options.schema_prefix));
  MEDMESH_ASSIGN_OR_RETURN(
      std::unique_ptr<store::PgConnectionPool> pool,
      store::PgConnectionPool::Create(std::move(options.conninfo), options.pool_size,
                                      options.acquire_timeout, options.statement_timeout));
  const std::string schema = options.schema_prefix + "audit_log";
  MEDMESH_RETURN_IF_ERROR(pool->RunInTransaction("migrate audit log", [&](pqxx::work& w) -> Status {
    // Serialises nodes that start together; released at commit or rollback.
    w.exec_params("SELECT pg_advisory_xact_lock(hashtext($1))", "medmesh audit log " + schema);
    const pqxx::result exists = w.exec_params(
        "SELECT 1 FROM information_schema.tables WHERE table_schema = $1 AND"
        " table_name = 'schema_version'",
        schema);
    if (!exists.empty()) {
      const int have = w.exec1(Expand(schema,
                                      "SELECT COALESCE(MAX(version), 0) FROM"
                                      " {s}.schema_version"))[0]
                           .as<int>();
      if (have > kSchemaVersion) {
        return FailedPrecondition("audit log schema is version " + std::to_string(have) +
                                  ", newer than this build (" + std::to_string(kSchemaVersion) +
                                  ")");
      }
      if (have == kSchemaVersion) return OkStatus();
    }
    w.exec(Expand(schema, kDdl));
    w.exec_params0(Expand(schema, "INSERT INTO {s}.schema_version VALUES ($1)"), kSchemaVersion);
    return OkStatus();
  }));
  return std::unique_ptr<PostgresAuditStore>(
      new PostgresAuditStore(std::move(pool), std::move(options.schema_prefix)));
}

PostgresAuditStore::PostgresAuditStore(std::unique_ptr<store::PgConnectionPool> pool,
                                       std::string prefix)
    : pool_(std::move(pool)), prefix_(std::move(prefix)) {}

PostgresAuditStore::~PostgresAuditStore() = default;

std::string PostgresAuditStore::Sql(std::string_view sql) const { return Expand(schema(), sql); }

Status PostgresAuditStore::InitHead(const SignedAuditHead& genesis) {
  return pool_->RunInTransaction("init audit head", [&](pqxx::work& w) -> Status {
    w.exec_params0(Sql("INSERT INTO {s}.head (id, seq, hash, observer, signature)"
                       " VALUES (1, $1, $2, $3, $4) ON CONFLICT (id) DO NOTHING"),
                   I64(genesis.seq), Blob(genesis.hash), genesis.observer, Blob(genesis.signature));
    return OkStatus();
  });
}

Status PostgresAuditStore::Append(const Sealer& seal) {
  return pool_->RunInTransaction("append audit entry", [&](pqxx::work& w) -> Status {
    // Appenders queue on this row lock, whichever process they run in.
    const pqxx::result r =
        w.exec(Sql("SELECT seq, hash, observer, signature FROM {s}.head WHERE id = 1 FOR UPDATE"));
    if (r.empty()) return FailedPrecondition("the audit log has no head");
    MEDMESH_ASSIGN_OR_RETURN(auto sealed, seal(ReadHead(r[0])));
    const std::string insert =
        Sql(std::string("INSERT INTO {s}.entry (") + kEntryColumns +
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14,"
            " $15, $16, $17, $18)");
    for (const StoredAuditEntry& s : sealed.first) {
      const AuditEntry& e = s.entry;
      w.exec_params0(insert, I64(s.seq), e.time_ms, e.event,
                     std::string(1, static_cast<char>(e.action)), static_cast<int>(e.outcome),
                     e.actor_account_id, e.actor_role, e.source_address, e.patient_id,
                     e.entity_type, e.entity_id, e.purpose, e.detail, s.observer, s.format,
                     s.event_json, Blob(s.prev_hash), Blob(s.entry_hash));
    }
    const SignedAuditHead& h = sealed.second;
    w.exec_params0(
        Sql("UPDATE {s}.head SET seq = $1, hash = $2, observer = $3, signature = $4 WHERE id = 1"),
        I64(h.seq), Blob(h.hash), h.observer, Blob(h.signature));
    return OkStatus();
  });
}

Status PostgresAuditStore::Scan(
    const std::function<Status(const std::optional<SignedAuditHead>&)>& on_head,
    const std::function<Status(const StoredAuditEntry&)>& on_entry) const {
  return pool_->Run("scan audit log", [&](pqxx::connection& c) -> Status {
    // One snapshot for the head and every page of entries.
    pqxx::transaction<pqxx::repeatable_read, pqxx::readwrite_policy::read_only> w(c);
    const pqxx::result r =
        w.exec(Sql("SELECT seq, hash, observer, signature FROM {s}.head WHERE id = 1"));
    MEDMESH_RETURN_IF_ERROR(
        on_head(r.empty() ? std::nullopt : std::optional<SignedAuditHead>(ReadHead(r[0]))));
    std::int64_t after = -1;
    while (true) {
      const pqxx::result page =
          w.exec_params(Sql(std::string("SELECT ") + kEntryColumns +
                            " FROM {s}.entry WHERE seq > $1 ORDER BY seq LIMIT $2"),
                        after, static_cast<std::int64_t>(kScanPage));
      for (const auto& row : page) {
        StoredAuditEntry s = ReadEntry(row);
        after = I64(s.seq);
        MEDMESH_RETURN_IF_ERROR(on_entry(s));
      }
      if (page.size() < kScanPage) break;
    }
    return OkStatus();
  });
}

Result<std::vector<StoredAuditEntry>> PostgresAuditStore::Query(const AuditQuery& q) const {
  MEDMESH_RETURN_IF_ERROR(CheckAuditQuery(q));
  return pool_->Run(
      "query audit log", [&](pqxx::connection& c) -> Result<std::vector<StoredAuditEntry>> {
        pqxx::read_transaction w(c);
        // Empty filters match everything; bound parameters only.
        const pqxx::result r =
            w.exec_params(Sql(std::string("SELECT ") + kEntryColumns +
                              " FROM {s}.entry WHERE time_ms >= $1 AND time_ms < $2"
                              " AND ($3::bigint = 0 OR seq < $3::bigint) AND "
                              "($4::text = '' OR patient_id = $4::text)"
                              " AND ($5::text = '' OR actor_account_id = $5::text)"
                              " AND ($7::text = '' OR event = $7::text)"
                              " AND ($8::text = '' OR action = $8::text)"
                              " AND ($9::integer < 0 OR outcome = $9::integer)"
                              " ORDER BY seq DESC LIMIT $6"),
                          q.from_ms, q.to_ms, I64(q.before_seq), q.patient_id, q.actor_account_id,
                          static_cast<std::int64_t>(q.limit), q.event,
                          q.action ? std::string(1, static_cast<char>(*q.action)) : std::string(),
                          q.outcome ? static_cast<int>(*q.outcome) : -1);
        std::vector<StoredAuditEntry> out;
        out.reserve(r.size());
        for (const auto& row : r) out.push_back(ReadEntry(row));
        return out;
      });
}

Result<std::optional<SignedAuditHead>> PostgresAuditStore::Head() const {
  return pool_->Run(
      "read audit head", [&](pqxx::connection& c) -> Result<std::optional<SignedAuditHead>> {
        pqxx::read_transaction w(c);
        const pqxx::result r =
            w.exec(Sql("SELECT seq, hash, observer, signature FROM {s}.head WHERE id = 1"));
        if (r.empty()) return std::optional<SignedAuditHead>();
        return std::optional<SignedAuditHead>(ReadHead(r[0]));
      });
}

}  // namespace medmesh::audit

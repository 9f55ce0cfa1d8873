#include "store/postgres/postgres_test_backend.h"

#include <cstdlib>
#include <exception>
#include <pqxx/pqxx>
#include <random>
#include <string>

#include "core/check.h"

namespace medmesh::store::testing {
namespace {

Error FromException(const std::exception& e) {
  if (dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr) {
    return Unavailable(std::string("postgres: ") + e.what());
  }
  return Internal(std::string("postgres: ") + e.what());
}

std::string RandomPrefix() {
  std::random_device rd;
  std::string out = "t";
  const char* hex = "0123456789abcdef";
  for (int i = 0; i < 12; ++i) out += hex[rd() % 16];
  return out + "_";
}

}  // namespace

Result<std::unique_ptr<PostgresTestBackend>> PostgresTestBackend::Create() {
  const char* conninfo = std::getenv(kTestPostgresEnv);
  if (conninfo == nullptr || *conninfo == '\0') {
    return FailedPrecondition(
        std::string(kTestPostgresEnv) +
        " is not set. The PostgreSQL tests need the test cluster: run them through ctest (its "
        "fixture runs tools/pg_test_cluster.sh start), or start it yourself and export the "
        "variable: eval \"$(tools/pg_test_cluster.sh env)\"");
  }
  try {
    pqxx::connection c(conninfo);
  } catch (const std::exception& e) {
    return Unavailable(std::string("cannot reach the test PostgreSQL cluster named by ") +
                       kTestPostgresEnv + ": " + e.what());
  }
  return std::unique_ptr<PostgresTestBackend>(new PostgresTestBackend(conninfo, RandomPrefix()));
}

PostgresTestBackend::~PostgresTestBackend() {
  if (!own_database_.empty()) {
    (void)ExecuteAdmin("DROP DATABASE IF EXISTS " + own_database_ + " WITH (FORCE)");
  }
  std::string sql;
  for (const char* s : {"ei", "qi", "mi", "audit", "keyring", "meta"}) {
    sql += "DROP SCHEMA IF EXISTS \"" + prefix_ + s + "\" CASCADE;";
  }
  try {
    pqxx::connection c(conninfo_);
    pqxx::nontransaction n(c);
    n.exec(sql);
  } catch (const std::exception&) {
    // Best effort: the cluster is thrown away after the test run anyway.
  }
}

PostgresRecordStoreOptions PostgresTestBackend::options() const {
  PostgresRecordStoreOptions o;
  o.conninfo = conninfo_;
  o.schema_prefix = prefix_;
  o.pool_size = 4;
  return o;
}

Result<std::unique_ptr<RecordStore>> PostgresTestBackend::Open() {
  MEDMESH_ASSIGN_OR_RETURN(auto store, PostgresRecordStore::Open(options()));
  return std::unique_ptr<RecordStore>(std::move(store));
}

std::string PostgresTestBackend::Table(std::string_view logical) const {
  struct Name {
    std::string_view logical, schema, table;
  };
  static constexpr Name kNames[] = {
      {"ei", "ei", "snapshot"},
      {"ei_record_link", "ei", "record_link"},
      {"ei_blind_index", "ei", "blind_index"},
      {"qi", "qi", "snapshot"},
      {"qi_generalised", "qi", "generalised"},
      {"qi_state", "qi", "state"},
      {"mi", "mi", "record"},
      {"chain_log", "audit", "chain_log"},
      {"chain_head", "audit", "chain_head"},
      {"wrapped_keys", "keyring", "wrapped_keys"},
  };
  for (const Name& n : kNames) {
    if (n.logical == logical) {
      return "\"" + prefix_ + std::string(n.schema) + "\"." + std::string(n.table);
    }
  }
  MEDMESH_CHECK(false, "unknown logical table");
}

std::string PostgresTestBackend::Expand(std::string_view sql) const {
  std::string out;
  for (std::size_t i = 0; i < sql.size();) {
    if (sql[i] == '{') {
      const std::size_t end = sql.find('}', i);
      MEDMESH_CHECK(end != std::string_view::npos, "unterminated table placeholder");
      out += Table(sql.substr(i + 1, end - i - 1));
      i = end + 1;
    } else {
      out += sql[i++];
    }
  }
  return out;
}

Status PostgresTestBackend::Execute(std::string_view sql) {
  try {
    pqxx::connection c(conninfo_);
    pqxx::work w(c);
    w.exec(Expand(sql));
    w.commit();
    return OkStatus();
  } catch (const std::exception& e) {
    return FromException(e);
  }
}

Status PostgresTestBackend::FlipByte(std::string_view table, std::string_view column,
                                     std::string_view key_column, std::string_view key,
                                     std::size_t offset) {
  try {
    pqxx::connection c(conninfo_);
    pqxx::work w(c);
    const std::string where = " WHERE " + std::string(key_column) + "::text = $1";
    const pqxx::result r = w.exec_params(
        "SELECT " + std::string(column) + " FROM " + Table(table) + where, std::string(key));
    if (r.empty()) return NotFound("no row matched");
    if (r.size() > 1) return FailedPrecondition("several rows matched");
    const pqxx::binarystring old(r[0][0]);
    if (offset >= old.size()) return NotFound("blob is shorter than the offset");
    std::string blob = old.str();
    blob[offset] = static_cast<char>(blob[offset] ^ 0x01);
    w.exec_params0("UPDATE " + Table(table) + " SET " + std::string(column) + " = $2" + where,
                   std::string(key), pqxx::binarystring(blob));
    w.commit();
    return OkStatus();
  } catch (const std::exception& e) {
    return FromException(e);
  }
}

Result<std::string> PostgresTestBackend::Dump(std::string_view table) {
  try {
    pqxx::connection c(conninfo_);
    pqxx::read_transaction w(c);
    // A row as text shows text columns as they are and bytea as \x followed by hex.
    const pqxx::result r = w.exec("SELECT t::text FROM " + Table(table) + " t");
    std::string out;
    for (const auto& row : r) {
      out += row[0].c_str();
      out += '\n';
    }
    return out;
  } catch (const std::exception& e) {
    return FromException(e);
  }
}

Status PostgresTestBackend::ExecuteAdmin(std::string_view sql) {
  try {
    pqxx::connection c(conninfo_);
    pqxx::nontransaction n(c);
    n.exec(std::string(sql));
    return OkStatus();
  } catch (const std::exception& e) {
    return FromException(e);
  }
}

Result<PostgresRecordStoreOptions> PostgresTestBackend::CreateOwnDatabase() {
  MEDMESH_CHECK(own_database_.empty(), "CreateOwnDatabase called twice");
  // The connection string is the one tools/pg_test_cluster.sh prints; only the database
  // changes.
  const std::string from = "postgresql:///postgres?";
  if (conninfo_.rfind(from, 0) != 0) {
    return FailedPrecondition(std::string(kTestPostgresEnv) + " is not in the expected form " +
                              from + "...");
  }
  const std::string db = prefix_ + "db";
  MEDMESH_RETURN_IF_ERROR(ExecuteAdmin("CREATE DATABASE " + db));
  own_database_ = db;
  PostgresRecordStoreOptions o = options();
  o.conninfo = "postgresql:///" + db + "?" + conninfo_.substr(from.size());
  o.acquire_timeout = std::chrono::milliseconds(200);
  return o;
}

Status PostgresTestBackend::SetOwnDatabaseDown(bool down) {
  MEDMESH_CHECK(!own_database_.empty(), "no own database");
  MEDMESH_RETURN_IF_ERROR(ExecuteAdmin("ALTER DATABASE " + own_database_ + " ALLOW_CONNECTIONS " +
                                       (down ? "false" : "true")));
  if (!down) return OkStatus();
  return ExecuteAdmin("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '" +
                      own_database_ + "'");
}

Status PostgresTestBackend::DropChainProtection() {
  return Execute(
      "DROP TRIGGER chain_log_append_only ON {chain_log};"
      "DROP TRIGGER chain_log_no_truncate ON {chain_log};");
}

}  // namespace medmesh::store::testing

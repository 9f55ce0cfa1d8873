#include "store/postgres/postgres_connection.h"

#include <new>

namespace medmesh::store {

Error PostgresError(const std::exception& e, std::string_view what) {
  const std::string where = "postgres " + std::string(what);
  if (dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr) {
    return Unavailable(where + ": connection to the database server lost or refused");
  }
  if (dynamic_cast<const pqxx::in_doubt_error*>(&e) != nullptr) {
    return Unavailable(where + ": the outcome of the commit is unknown; retry");
  }
  if (const auto* s = dynamic_cast<const pqxx::sql_error*>(&e)) {
    const std::string& state = s->sqlstate();
    const std::string msg = where + ": SQLSTATE " + (state.empty() ? "unknown" : state);
    const std::string cls = state.substr(0, 2);
    if (cls == "08" || cls == "40" || cls == "57" || cls == "55") return Unavailable(msg);
    if (cls == "53") return ResourceExhausted(msg);
    if (cls == "23" || state == "P0001") return FailedPrecondition(msg);
    if (state == "XX001" || state == "XX002") return DataLoss(msg);
    return Internal(msg);
  }
  if (dynamic_cast<const std::bad_alloc*>(&e) != nullptr) {
    return ResourceExhausted(where + ": out of memory");
  }
  return Internal(where + ": unexpected error");
}

Result<std::unique_ptr<PgConnectionPool>> PgConnectionPool::Create(
    std::string conninfo, std::size_t size, std::chrono::milliseconds acquire_timeout,
    std::chrono::milliseconds statement_timeout) {
  if (conninfo.empty()) return InvalidArgument("postgres: the connection string is empty");
  if (size == 0 || size > 64) return InvalidArgument("postgres: pool size must be 1..64");
  if (acquire_timeout.count() < 0 || statement_timeout.count() < 0) {
    return InvalidArgument("postgres: timeouts must be >= 0");
  }
  return std::unique_ptr<PgConnectionPool>(
      new PgConnectionPool(std::move(conninfo), size, acquire_timeout, statement_timeout));
}

PgConnectionPool::PgConnectionPool(std::string conninfo, std::size_t size,
                                   std::chrono::milliseconds timeout,
                                   std::chrono::milliseconds statement_timeout)
    : conninfo_(std::move(conninfo)),
      size_(size),
      timeout_(timeout),
      statement_timeout_(statement_timeout) {}

Result<PgConnectionPool::Lease> PgConnectionPool::Acquire() {
  {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, timeout_, [&] { return !idle_.empty() || open_ < size_; })) {
      return Unavailable("postgres: every pooled connection is busy");
    }
    if (!idle_.empty()) {
      auto c = std::move(idle_.back());
      idle_.pop_back();
      return Lease(*this, std::move(c));
    }
    ++open_;  // reserve a slot, then connect without holding the lock
  }
  try {
    auto c = std::make_unique<pqxx::connection>(conninfo_);
    if (statement_timeout_.count() > 0) {
      pqxx::nontransaction n(*c);
      n.exec("SET statement_timeout = " + std::to_string(statement_timeout_.count()));
    }
    return Lease(*this, std::move(c));
  } catch (const std::exception&) {
    // libpq's message may echo parts of the connection string: it stays out of ours.
    Forget();
    return Unavailable("postgres: cannot connect to the database server");
  }
}

void PgConnectionPool::Return(std::unique_ptr<pqxx::connection> c) {
  {
    std::lock_guard lock(mu_);
    idle_.push_back(std::move(c));
  }
  cv_.notify_one();
}

void PgConnectionPool::Forget() {
  {
    std::lock_guard lock(mu_);
    --open_;
  }
  cv_.notify_one();
}

}  // namespace medmesh::store

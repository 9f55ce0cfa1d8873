// The PostgreSQL plumbing every libpqxx store shares (the record store here, the cloud's intake,
// clinical, account and audit stores): a small connection pool, running an operation on a
// leased connection (Run) or in one transaction on it (RunInTransaction), and mapping libpqxx
// exceptions to Status. Nothing outside these stores uses libpqxx.
//
// Error mapping (PostgresError): a lost or refused connection, an unknown commit outcome, and
// SQLSTATE classes 08 (connection), 40 (serialisation, deadlock), 55 (lock not available) and
// 57 (admin shutdown, statement timeout) → kUnavailable; class 53 (out of disk or memory) and
// std::bad_alloc → kResourceExhausted; class 23 (a violated constraint) and P0001 (raised by a
// trigger, e.g. the chain log's append-only guard) → kFailedPrecondition; XX001/XX002 (corrupt
// data or index) → kDataLoss; anything else → kInternal. Messages carry what failed and the
// SQLSTATE, never the connection string, the query or a value.
// Thread safety: PgConnectionPool is thread-safe; a leased connection is used by one thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <memory>
#include <mutex>
#include <pqxx/pqxx>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace medmesh::store {

Error PostgresError(const std::exception& e, std::string_view what);

// Hands out at most `size` connections, each to one thread at a time. Idle connections are
// reused; broken ones are dropped and replaced on demand.
class PgConnectionPool {
 public:
  // kInvalidArgument for an empty connection string, a size outside 1..64 or a negative
  // timeout. Connects lazily. `statement_timeout` 0 means none (else SET statement_timeout on
  // each new connection); `acquire_timeout` is how long Acquire waits for a free connection.
  static Result<std::unique_ptr<PgConnectionPool>> Create(
      std::string conninfo, std::size_t size, std::chrono::milliseconds acquire_timeout,
      std::chrono::milliseconds statement_timeout = std::chrono::milliseconds(0));
  PgConnectionPool(const PgConnectionPool&) = delete;
  PgConnectionPool& operator=(const PgConnectionPool&) = delete;

  class Lease {
   public:
    Lease(PgConnectionPool& pool, std::unique_ptr<pqxx::connection> c)
        : pool_(&pool), conn_(std::move(c)) {}
    Lease(Lease&& o) noexcept : pool_(o.pool_), conn_(std::move(o.conn_)) {}
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    Lease& operator=(Lease&&) = delete;
    ~Lease() {
      if (conn_ != nullptr) pool_->Return(std::move(conn_));
    }
    pqxx::connection& connection() { return *conn_; }
    // Drops a connection that broke, so the next Acquire opens a fresh one.
    void Discard() {
      conn_.reset();
      pool_->Forget();
    }

   private:
    PgConnectionPool* pool_;
    std::unique_ptr<pqxx::connection> conn_;
  };

  // An idle or new connection. kUnavailable if none is free within the acquire timeout or the
  // server cannot be reached.
  Result<Lease> Acquire();

  // Runs `f(connection)` on a leased connection and converts every exception (PostgresError).
  // A connection that broke before the commit is replaced and `f` runs once more, so `f` must
  // be safe to repeat (every store operation is idempotent or transactional); an unknown commit
  // outcome is not retried.
  template <typename F>
  auto Run(std::string_view what, F&& f) -> decltype(f(std::declval<pqxx::connection&>())) {
    for (int attempt = 0;; ++attempt) {
      auto lease = Acquire();
      if (!lease) return lease.error();
      try {
        return f(lease->connection());
      } catch (const pqxx::in_doubt_error& e) {
        lease->Discard();
        return PostgresError(e, what);
      } catch (const pqxx::broken_connection& e) {
        lease->Discard();
        if (attempt == 0) continue;
        return PostgresError(e, what);
      } catch (const std::exception& e) {
        // The transaction was rolled back by its destructor; the connection is still usable
        // unless it closed.
        if (!lease->connection().is_open()) lease->Discard();
        return PostgresError(e, what);
      }
    }
  }

  // Run, with `body(work)` in one read-write transaction (pqxx::work) that commits when `body`
  // succeeds (a Status or Result<T> that holds a value) and rolls back otherwise, so a store
  // operation is all or nothing. `body` returns Status or Result<T>; the same retry rule as Run.
  template <typename F>
  auto RunInTransaction(std::string_view what, F&& body)
      -> decltype(body(std::declval<pqxx::work&>())) {
    using Out = decltype(body(std::declval<pqxx::work&>()));
    return Run(what, [&](pqxx::connection& c) -> Out {
      pqxx::work work(c);
      Out result = body(work);
      if (result) work.commit();
      return result;
    });
  }

 private:
  PgConnectionPool(std::string conninfo, std::size_t size, std::chrono::milliseconds timeout,
                   std::chrono::milliseconds statement_timeout);
  void Return(std::unique_ptr<pqxx::connection> c);
  void Forget();

  const std::string conninfo_;
  const std::size_t size_;
  const std::chrono::milliseconds timeout_;
  const std::chrono::milliseconds statement_timeout_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<pqxx::connection>> idle_;  // guarded by mu_
  std::size_t open_ = 0;  // connections in idle_ or leased; guarded by mu_
};

}  // namespace medmesh::store

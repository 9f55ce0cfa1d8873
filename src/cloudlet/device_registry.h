// DeviceRegistry: the devices enrolled at (or known to) this cloudlet, persisted in SQLite, with
// every row also held in memory, so the ingest path's lookup is a map read.
//
// A row is a signed enrolment record (wire/enrolment.h) plus a withdrawn flag: records have no
// revocation of their own (docs/enrolment.md), so a withdrawn device is refused here even though
// its record still verifies.
// Thread safety: thread-safe (reads take a shared lock; writes hold the connection's mutex and
// then the map's exclusive lock).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/bytes.h"
#include "core/status.h"
#include "store/sqlite_database.h"
#include "wire/enrolment.h"

namespace SQLite {
class Database;
}

namespace medmesh::cloudlet {

struct DeviceEntry {
  wire::Enrolment enrolment;
  Bytes record;  // the signed enrolment record, exactly as issued
  bool withdrawn = false;
};

enum class EnrolOutcome {
  kEnrolled,         // stored now
  kAlreadyEnrolled,  // the same device, patient and key were enrolled before: unchanged
};

class DeviceRegistry {
 public:
  // Opens (creating) the registry's table in the SQLite database at `path` and loads it.
  // Errors as store::OpenSqliteDatabase; kDataLoss if a stored record no longer parses.
  static Result<std::unique_ptr<DeviceRegistry>> Open(const std::string& path,
                                                      const store::SqliteOpenOptions& sqlite = {});
  ~DeviceRegistry();
  DeviceRegistry(const DeviceRegistry&) = delete;
  DeviceRegistry& operator=(const DeviceRegistry&) = delete;

  // The entry of a device, or nullopt.
  std::optional<DeviceEntry> Find(std::string_view device_id) const;

  // Durably stores an enrolment record (which the caller issued or verified) for
  // `entry.enrolment.device_id`. kAlreadyEnrolled if the device is enrolled with the same
  // patient and key (the stored record is left as is); kAlreadyExists if it is enrolled with
  // another patient or key; kFailedPrecondition if the device was withdrawn.
  Result<EnrolOutcome> Enrol(const wire::Enrolment& enrolment, ByteView record);

  // The ids of the devices enrolled to `patient_id` (withdrawn or not), ordered.
  std::vector<std::string> DevicesOf(std::string_view patient_id) const;

  // Marks a device withdrawn (durable). kNotFound for an unknown device. Idempotent.
  Status Withdraw(std::string_view device_id);

  std::size_t size() const;

  // The entries of the devices enrolled to `patient_id` (withdrawn ones included), by device
  // id; every entry when `patient_id` is empty. A scan of the in-memory map.
  std::vector<DeviceEntry> List(std::string_view patient_id) const;

 private:
  explicit DeviceRegistry(std::unique_ptr<SQLite::Database> db);
  Status Load();

  std::mutex db_mu_;
  std::unique_ptr<SQLite::Database> db_;  // guarded by db_mu_
  mutable std::shared_mutex map_mu_;
  std::map<std::string, DeviceEntry, std::less<>> devices_;  // guarded by map_mu_
};

}  // namespace medmesh::cloudlet

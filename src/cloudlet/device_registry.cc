#include "cloudlet/device_registry.h"

#include <SQLiteCpp/SQLiteCpp.h>

#include "store/sqlite_database.h"

namespace medmesh::cloudlet {
namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS devices (
  device_id   TEXT PRIMARY KEY,
  patient_id  TEXT NOT NULL,
  record      BLOB NOT NULL,
  withdrawn   INTEGER NOT NULL DEFAULT 0,
  enrolled_ms INTEGER NOT NULL
);
)sql";

bool SameBinding(const wire::Enrolment& a, const wire::Enrolment& b) {
  return a.patient_id == b.patient_id && a.device_key == b.device_key;
}

}  // namespace

DeviceRegistry::DeviceRegistry(std::unique_ptr<SQLite::Database> db) : db_(std::move(db)) {}
DeviceRegistry::~DeviceRegistry() = default;

Result<std::unique_ptr<DeviceRegistry>> DeviceRegistry::Open(
    const std::string& path, const store::SqliteOpenOptions& sqlite) {
  MEDMESH_ASSIGN_OR_RETURN(std::unique_ptr<SQLite::Database> db,
                           store::OpenSqliteDatabase(path, sqlite));
  MEDMESH_RETURN_IF_ERROR(store::EnsureSqliteSchema(*db, "cloudlet_devices", 1, kSchema));
  std::unique_ptr<DeviceRegistry> registry(new DeviceRegistry(std::move(db)));
  MEDMESH_RETURN_IF_ERROR(registry->Load());
  return registry;
}

Status DeviceRegistry::Load() {
  std::lock_guard lock(db_mu_);
  std::map<std::string, DeviceEntry, std::less<>> loaded;
  try {
    SQLite::Statement query(*db_, "SELECT device_id, record, withdrawn FROM devices");
    while (query.executeStep()) {
      const SQLite::Column blob = query.getColumn(1);
      const auto* data = static_cast<const std::uint8_t*>(blob.getBlob());
      Bytes record(data, data + blob.getBytes());
      // Records were verified (or issued) before they were stored; parsing again only guards
      // against a damaged file.
      auto parsed = wire::ParseEnrolment(record);
      if (!parsed || parsed->enrolment.device_id != query.getColumn(0).getString()) {
        return DataLoss("device registry: a stored enrolment record does not parse");
      }
      DeviceEntry entry{std::move(parsed->enrolment), std::move(record),
                        query.getColumn(2).getInt() != 0};
      std::string id = entry.enrolment.device_id;
      loaded.emplace(std::move(id), std::move(entry));
    }
  } catch (const std::exception& e) {
    return store::SqliteError(e, "load devices");
  }
  std::unique_lock map_lock(map_mu_);
  devices_ = std::move(loaded);
  return OkStatus();
}

std::optional<DeviceEntry> DeviceRegistry::Find(std::string_view device_id) const {
  std::shared_lock lock(map_mu_);
  const auto it = devices_.find(device_id);
  if (it == devices_.end()) return std::nullopt;
  return it->second;
}

Result<EnrolOutcome> DeviceRegistry::Enrol(const wire::Enrolment& enrolment, ByteView record) {
  std::lock_guard lock(db_mu_);
  if (auto existing = Find(enrolment.device_id)) {
    if (existing->withdrawn) return FailedPrecondition("device was withdrawn");
    if (!SameBinding(existing->enrolment, enrolment)) {
      return AlreadyExists("device is already enrolled with another key or patient");
    }
    return EnrolOutcome::kAlreadyEnrolled;
  }
  try {
    SQLite::Statement insert(*db_,
                             "INSERT INTO devices (device_id, patient_id, record, enrolled_ms)"
                             " VALUES (?, ?, ?, ?)");
    insert.bind(1, enrolment.device_id);
    insert.bind(2, enrolment.patient_id);
    insert.bind(3, record.data(), static_cast<int>(record.size()));
    insert.bind(4, static_cast<std::int64_t>(enrolment.enrolled_at_ms));
    insert.exec();
  } catch (const std::exception& e) {
    return store::SqliteError(e, "enrol device");
  }
  std::unique_lock map_lock(map_mu_);
  devices_.insert_or_assign(enrolment.device_id,
                            DeviceEntry{enrolment, Bytes(record.begin(), record.end()), false});
  return EnrolOutcome::kEnrolled;
}

Status DeviceRegistry::Withdraw(std::string_view device_id) {
  std::lock_guard lock(db_mu_);
  if (!Find(device_id)) return NotFound("unknown device");
  try {
    SQLite::Statement update(*db_, "UPDATE devices SET withdrawn = 1 WHERE device_id = ?");
    update.bind(1, std::string(device_id));
    update.exec();
  } catch (const std::exception& e) {
    return store::SqliteError(e, "withdraw device");
  }
  std::unique_lock map_lock(map_mu_);
  devices_.find(device_id)->second.withdrawn = true;
  return OkStatus();
}

std::vector<std::string> DeviceRegistry::DevicesOf(std::string_view patient_id) const {
  std::shared_lock lock(map_mu_);
  std::vector<std::string> out;
  for (const auto& [id, entry] : devices_) {
    if (entry.enrolment.patient_id == patient_id) out.push_back(id);
  }
  return out;
}

std::size_t DeviceRegistry::size() const {
  std::shared_lock lock(map_mu_);
  return devices_.size();
}

std::vector<DeviceEntry> DeviceRegistry::List(std::string_view patient_id) const {
  std::shared_lock lock(map_mu_);
  std::vector<DeviceEntry> out;
  for (const auto& [id, entry] : devices_) {
    if (patient_id.empty() || entry.enrolment.patient_id == patient_id) out.push_back(entry);
  }
  return out;
}

}  // namespace medmesh::cloudlet

// The SQLite TestBackend (record_store_test_backend.h): a store file in a fresh temporary
// directory, removed with the object. Test-only.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "store/internal/test_temp_dir.h"
#include "store/record_store_test_backend.h"

namespace medmesh::store::testing {

class SqliteTestBackend final : public TestBackend {
 public:
  SqliteTestBackend();
  const std::filesystem::path& path() const { return path_; }

  Result<std::unique_ptr<RecordStore>> Open() override;
  Status Execute(std::string_view sql) override;
  Status FlipByte(std::string_view table, std::string_view column, std::string_view key_column,
                  std::string_view key, std::size_t offset) override;
  Result<std::string> Dump(std::string_view table) override;
  Status DropChainProtection() override;

 private:
  internal::TempDir dir_;
  std::filesystem::path path_;
};

}  // namespace medmesh::store::testing

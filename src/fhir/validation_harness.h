// Test-only: runs the independent FHIR validator (tools/fhir-validate/validate.mjs, node with
// @medplum/core, installed by tools/setup.sh) over resources a test wrote. Every slice that
// emits FHIR (the audit log's AuditEvents, the /fhir/r4 routes) validates its shapes with it:
//
//   testing::TempDir dir;
//   fhir::ShapeWriter writer(dir.path());
//   writer.Write("audit-event-login", event_json);
//   EXPECT_EQ(fhir::RunFhirValidator(dir.path()), 0);
//
// Link medmesh_fhir_validation. The validator prints one line per file (and each issue) to the
// test's output; resources written here must hold only synthetic test data.
// Thread safety: a ShapeWriter is not thread-safe; RunFhirValidator is.
#pragma once

#include <filesystem>
#include <string>

#include "fhir/resources.h"

namespace medmesh::fhir {

// Writes resources as "<NNN>-<name>.json" into a folder, numbered in the order written.
class ShapeWriter {
 public:
  explicit ShapeWriter(std::filesystem::path dir) : dir_(std::move(dir)) {}

  // Adds a gtest failure (and writes nothing) if `resource` is an error or the file cannot be
  // written.
  void Write(const std::string& name, const Json& resource);
  void Write(const std::string& name, const Result<Json>& resource);

  int count() const { return count_; }

 private:
  std::filesystem::path dir_;
  int count_ = 0;
};

// Runs the validator over every *.json file in `dir`. Returns its exit status: 0 when every
// file is valid (with expect_invalid: when every file is rejected), 1 otherwise, 2 when it
// could not read the folder or found no file; -1 when node could not be run (node was not
// found when the build was configured, or the process failed to start).
int RunFhirValidator(const std::filesystem::path& dir, bool expect_invalid = false);

}  // namespace medmesh::fhir

#include "fhir/validation_harness.h"

#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "gtest/gtest.h"

namespace medmesh::fhir {

void ShapeWriter::Write(const std::string& name, const Json& resource) {
  char prefix[16];
  std::snprintf(prefix, sizeof prefix, "%03d-", count_++);
  std::ofstream out(dir_ / (prefix + name + ".json"));
  out << resource.dump(2);
  out.close();
  EXPECT_TRUE(out.good()) << "could not write " << name;
}

void ShapeWriter::Write(const std::string& name, const Result<Json>& resource) {
  if (!resource.has_value()) {
    ADD_FAILURE() << name << ": " << resource.error().ToString();
    return;
  }
  Write(name, *resource);
}

int RunFhirValidator(const std::filesystem::path& dir, bool expect_invalid) {
  const std::string node = MEDMESH_NODE_EXECUTABLE;
  if (node.empty()) return -1;
  // Paths come from the build and mkdtemp: no quote characters to escape.
  const std::string command = "'" + node + "' '" + MEDMESH_FHIR_VALIDATOR + "' " +
                              (expect_invalid ? "--expect-invalid " : "") + "'" + dir.string() +
                              "'";
  std::fflush(stdout);
  // A test runs one validator at a time; the command is built from trusted paths only.
  const int status = std::system(command.c_str());  // NOLINT(cert-env33-c,concurrency-mt-unsafe)
  if (status == -1 || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status);
}

}  // namespace medmesh::fhir

// medmesh: the one binary. Only this folder reads flags and wires objects.
#include <CLI/CLI.hpp>

int main(int argc, char** argv) {
  CLI::App app{"MedMesh: privacy-preserving medical data on a cloudlet mesh"};
  app.require_subcommand(0, 1);
  CLI11_PARSE(app, argc, argv);
  return 0;
}

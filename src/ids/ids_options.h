// IdsOptions: how a node's local intrusion detection is tuned (docs/ids.md); one member of the
// cloud's and each cloudlet's options.
#pragma once

#include <filesystem>

#include "ids/account_gate.h"
#include "ids/decision_table.h"
#include "ids/detector.h"
#include "ids/enforcer.h"
#include "ids/mesh_node.h"
#include "ids/payload_scoring.h"

namespace medmesh::ids {

struct IdsOptions {
  DetectorOptions detectors;
  DecisionPolicy decisions;
  EnforcerOptions enforcer;
  // Account decisions at login (account_gate.h).
  AccountGateOptions account_gate;
  // The IDS mesh (mesh_node.h, docs/ids_mesh.md): peers and fusion. A cloudlet adds its cloud
  // (forwarder cloud_url) as the peer "cloud" unless listed.
  MeshOptions mesh;
  // The request classifier's folder (ml::RequestClassifier::Load; `medmesh ids train` writes
  // it): the node scores its requests' values with it (payload_scoring.h). Empty, or no usable
  // model there: the node starts with payload scoring off (logged, and the metric
  // medmesh_ids_payload_scorer_enabled is 0).
  std::filesystem::path models_dir;
  PayloadScoringOptions payloads;
};

}  // namespace medmesh::ids

// IdsOptions: how a node's local intrusion detection is tuned (docs/ids.md); one member of the
// cloud's and each cloudlet's options.
#pragma once

#include "ids/decision_table.h"
#include "ids/detector.h"
#include "ids/enforcer.h"

namespace medmesh::ids {

struct IdsOptions {
  DetectorOptions detectors;
  DecisionPolicy decisions;
  EnforcerOptions enforcer;
};

}  // namespace medmesh::ids

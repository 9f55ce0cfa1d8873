#include "store/outbox.h"

namespace medmesh::store {

QueueOptions DefaultOutboxOptions() {
  QueueOptions o;
  o.in_order = true;
  return o;
}

Result<std::unique_ptr<Outbox>> Outbox::Open(const std::string& path, const Clock& clock,
                                             Random& random, const QueueOptions& options) {
  MEDMESH_ASSIGN_OR_RETURN(auto queue,
                           SqliteDurableQueue::Open(path, "outbox", clock, random, options));
  return std::unique_ptr<Outbox>(new Outbox(std::move(queue)));
}

}  // namespace medmesh::store

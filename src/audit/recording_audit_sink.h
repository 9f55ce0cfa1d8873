// RecordingAuditSink: an AuditSink for unit tests that keeps every appended entry in memory, so a
// test can assert which entries a domain action appended (DESIGN: every read or write of patient
// data and every administrative action appends one entry after its outcome is known).
//
// `fail` makes every later Append return kUnavailable ("audit log unavailable") without
// recording, to test that a failed append fails the action. `entries` is public for assertions;
// read it only when no other thread appends (after the calls under test returned).
// Thread safety: Append, Count, Of and Take may be called concurrently.
#pragma once

#include <atomic>
#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "audit/audit_sink.h"
#include "core/status.h"

namespace medmesh::audit::testing {

class RecordingAuditSink final : public AuditSink {
 public:
  Status Append(const AuditEntry& entry) override {
    std::lock_guard lock(mu_);
    if (fail) return Unavailable("audit log unavailable");
    entries.push_back(entry);
    return OkStatus();
  }

  // How many entries with this event and outcome were appended.
  std::size_t Count(std::string_view event, Outcome outcome) {
    std::lock_guard lock(mu_);
    std::size_t n = 0;
    for (const AuditEntry& e : entries) n += e.event == event && e.outcome == outcome ? 1 : 0;
    return n;
  }

  // The entries with this event, in append order.
  std::vector<AuditEntry> Of(std::string_view event) {
    std::lock_guard lock(mu_);
    std::vector<AuditEntry> out;
    for (const AuditEntry& e : entries) {
      if (e.event == event) out.push_back(e);
    }
    return out;
  }

  // The entries appended since the last call, as "event/outcome", and forgets them.
  std::vector<std::string> Take() {
    std::lock_guard lock(mu_);
    std::vector<std::string> out;
    for (const AuditEntry& e : entries) {
      out.push_back(e.event + "/" + std::to_string(static_cast<int>(e.outcome)));
    }
    entries.clear();
    return out;
  }

  std::vector<AuditEntry> entries;
  std::atomic<bool> fail{false};

 private:
  std::mutex mu_;
};

}  // namespace medmesh::audit::testing

// AuditSink: where every read and write of patient data and every administrative action is
// recorded (issue 8). The real sink is the hash-chained, append-only audit log of this module;
// each entry is rendered as a FHIR R4 AuditEvent in the IHE BALP style (who, role, what, when,
// from where, outcome).
//
// Callers append one entry per action, after the action's outcome is known (a refused action is
// recorded too, with its failure outcome). An Append that fails must fail the action it records:
// a hospital cannot serve patient data it could not audit.
//
// Nothing secret goes into an entry (no passwords, tokens, keys or medical content); ids are
// allowed, because saying whose data was touched is the audit log's purpose. The log lives apart
// from clinical data and is not encrypted with their keys.
// Thread safety: implementations are thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace medmesh::audit {

// FHIR AuditEvent.action.
enum class Action : char {
  kCreate = 'C',
  kRead = 'R',
  kUpdate = 'U',
  kDelete = 'D',
  kExecute = 'E',
};

// FHIR AuditEvent.outcome.
enum class Outcome : std::uint8_t {
  kSuccess = 0,
  kMinorFailure = 4,    // refused: bad input, not allowed, not found
  kSeriousFailure = 8,  // failed: the action could not be carried out
  kMajorFailure = 12,   // failed and left something broken (e.g. tampering found)
};

struct AuditEntry {
  std::int64_t time_ms = 0;
  // What happened, dotted: "session.login", "session.logout", "account.register",
  // "account.approve", "record.read", "readings.read", "consent.grant", "consent.revoke",
  // "answer.create", "record.verify", "record.restore", "patient.delete", "kek.rotate", ...
  std::string event;
  Action action = Action::kRead;
  Outcome outcome = Outcome::kSuccess;
  std::string actor_account_id;  // "" for an anonymous caller (e.g. a failed login)
  std::string actor_role;        // accounts::RoleName, "system" or "anonymous"
  std::string source_address;    // the caller's network address
  std::string patient_id;        // whose data was touched; "" if nobody's
  std::string entity_type;       // FHIR resource type, or "Account", "Device", "Kek", ...
  std::string entity_id;         // "" if none
  std::string purpose;           // a recorded reason (e.g. why an admin saw identities); "" if none
  std::string detail;            // short, never secret: a count, a refusal code
};

class AuditSink {
 public:
  virtual ~AuditSink() = default;
  // Durable before it returns OK.
  [[nodiscard]] virtual Status Append(const AuditEntry& entry) = 0;
  // The entries of one request that records several actions (an inbox: one per patient shown),
  // in order. The audit log writes them in one transaction (all or none, one commit); this
  // default appends them one by one and stops at the first error. Empty: OK, nothing written.
  [[nodiscard]] virtual Status AppendMany(const std::vector<AuditEntry>& entries) {
    for (const AuditEntry& entry : entries) {
      if (Status appended = Append(entry); !appended) return appended;
    }
    return OkStatus();
  }
};

}  // namespace medmesh::audit

// One AuditEntry as a FHIR R4 AuditEvent in the IHE BALP style (docs/audit.md shows an example):
// the shape the audit log stores and hashes, and that the FHIR API serves.
//
//   type      DCM 110114 "User Authentication" for session.* (subtype DCM 110122 Login / 110123
//             Logout), DCM 110101 "Audit Log Used" for audit.*, DCM 110113 "Security Alert"
//             for kek.* and keys.* (subtype DCM 110129 "Security Configuration"), otherwise
//             audit-event-type "rest" with the restful-interaction subtype of the action
//             (C create, R read or search-type without an entity id, U update, D delete,
//             E operation). Every event also carries its MedMesh event name as a subtype
//             (system kMedMeshEventSystem).
//   action, recorded (UTC, milliseconds), outcome (0/4/8/12), outcomeDesc (the detail)
//   agent[0]  the actor: who (account id, or "anonymous"/"system"), role, requestor = true,
//             network address (type 2, IP address) when known, purposeOfUse (the reason)
//   source    observer = this node's id, type 4 "Application Server"
//   entity    the patient (type 1 Person, role 1 Patient, what Patient/<id>) when the entry
//             names one; the touched object (FHIR resource types as references, others as an
//             identifier) when it names one
//   purposeOfEvent  the recorded reason, as text
//
// The layout is persisted (the log hashes these bytes and re-renders stored columns to check
// them), so it never changes for format version 1; a new shape needs a new format version.
// Thread safety: reentrant.
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "audit/audit_sink.h"
#include "core/status.h"

namespace medmesh::audit {

inline constexpr std::string_view kMedMeshEventSystem = "urn:medmesh:audit-event";
inline constexpr std::string_view kAccountSystem = "urn:medmesh:account";
inline constexpr std::string_view kNodeSystem = "urn:medmesh:node";
inline constexpr std::string_view kRoleSystem = "urn:medmesh:role";

// Limits Append enforces (ValidateAuditEntry).
inline constexpr std::size_t kMaxAuditIdBytes = 255;     // ids, roles, addresses, event, type
inline constexpr std::size_t kMaxAuditTextBytes = 2048;  // purpose, detail

// OK if the entry can be recorded: time_ms > 0; event non-empty, at most kMaxAuditIdBytes of
// [a-z0-9._-]; actor_role non-empty; every field valid UTF-8 within its limit; an entity_id
// only with an entity_type. kInvalidArgument naming the field (never its value) otherwise.
Status ValidateAuditEntry(const AuditEntry& entry);

// The AuditEvent of `entry` observed by node `observer_id`, without "id" (the log adds its
// sequence number as the id when it serves an entry). Invalid UTF-8 is replaced by U+FFFD.
nlohmann::json AuditEventJson(const AuditEntry& entry, std::string_view observer_id);

// AuditEventJson as compact JSON with sorted keys: the canonical bytes the chain hashes.
std::string CanonicalAuditEventJson(const AuditEntry& entry, std::string_view observer_id);

// "2026-12-06T08:05:01.123Z" (RFC 3339, UTC, milliseconds) for Unix time `time_ms`.
std::string FormatInstant(std::int64_t time_ms);

}  // namespace medmesh::audit

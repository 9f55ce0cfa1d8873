// The cloud's audit log over HTTP (issue 8 workflow 8 "the audit log", and a patient's "who saw
// my data"; docs/audit.md section 8; docs/openapi.yaml, tag "audit"):
//
//   GET /api/v1/admin/audit   admin: entries, newest first, filtered and paged, with the chain's
//                             verification (AuditLog::Verify against the node's key) and the
//                             signed head
//       ?from=&to=            recorded in [from, to) (Unix ms)
//       &patient=<pseudonym>  entries about that patient (unknown pseudonym → 404)
//       &account=<account id> entries by that staff account (a patient's account → 400: a
//                             patient is named by pseudonym in this view)
//       &event=&action=C|R|U|D|E&outcome=0|4|8|12
//       &before=<seq>&limit=1..200 (default 50)  → "next_before" for the next page
//       &verify=false         skips the verification (it reads the whole log)
//   GET /api/v1/me/audit      patient: the entries about them (patient_id = theirs), newest
//       ?from=&to=&before=&limit=   first: who (self, or role + account id, and a doctor's
//                             name), what, when, outcome, and the recorded reason
//
// The admin view keeps the partition of workflow 8 (ADR 0022). Entries about accounts (entity
// type "Account": registration, approval, login, ...) are on the identity side: shown with
// account ids, never with a patient or a pseudonym, and left out of a view filtered by patient.
// Every other entry is on the data side: its patient, a patient actor and a patient entity are
// shown as the MI pseudonym, never the patient id or account id, and a patient actor's source
// address is left out. Staff (doctor, operator, admin) are shown by account id. A page filtered
// by patient may therefore hold fewer than `limit` entries; "next_before" still continues it.
// Every read of the log is itself audited ("audit.read", action R; for a patient's own view and
// for an admin's view filtered by patient, with that patient's id), after the read and before
// the data is returned. Refusals: anonymous → 401; another role → 403 (audited); bad filters →
// 400 (audited).
// Thread safety: the handlers are safe to run concurrently.
#pragma once

#include <cstddef>

#include "accounts/account_store.h"
#include "audit/audit_log.h"
#include "audit/audit_sink.h"
#include "cloud/clinical_api.h"
#include "cloud/three_part.h"
#include "core/clock.h"
#include "net/router.h"
#include "node/identity.h"

namespace medmesh::cloud {

// What the routes use; all must outlive the router.
struct AuditApiDeps {
  audit::AuditLog& log;                // queried and verified
  audit::AuditSink& audit;             // where the reads are recorded (normally `log`)
  const node::NodeIdentity& identity;  // its certificate's key verifies the signed head
  accounts::AccountStore& accounts;
  ThreePartStore& records;
  const Clock& clock;
};

// Registers the routes above on `router`.
void AddAuditRoutes(net::Router& router, AuditApiDeps deps, Authenticate authenticate);

}  // namespace medmesh::cloud

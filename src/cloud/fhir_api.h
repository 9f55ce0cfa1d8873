// The cloud's FHIR R4 read-only REST API (issue 8; docs/fhir.md, docs/openapi.yaml tag "fhir"):
//
//   GET /fhir/r4/metadata                      CapabilityStatement (public)
//   GET /fhir/r4/Patient[?_id=]                 patient: themself; doctor: the patients of
//                                               their active grants
//   GET /fhir/r4/Patient/{id}
//   GET /fhir/r4/Patient/{id}/$everything       [start, end, _count, _cursor]: Patient, Consents,
//                                               MedicationRequests, then Observations paged
//   GET /fhir/r4/Observation[?patient, code, date, _count, _cursor]
//   GET /fhir/r4/Observation/{id}
//   GET /fhir/r4/MedicationRequest[?patient, authoredon]
//   GET /fhir/r4/MedicationRequest/{id}
//   GET /fhir/r4/Consent[?patient, date]
//   GET /fhir/r4/Consent/{id}
//   GET /fhir/r4/AuditEvent[?patient, date, _count, _cursor]   admins only
//   GET /fhir/r4/AuditEvent/{id}                                admins only
//
// Who sees what is decided by ClinicalService, exactly as for the JSON API: ReadPatient (a
// patient only themself, once their portal is active; a doctor through an active grant and only
// what the inbox shows), Inbox (a doctor's patients and grants) and ListMyPrescriptions (the
// prescriptions a doctor wrote); operators and admins get 403 for clinical content. The service
// appends the audit entry of every read ("fhir.<type>.read", "fhir.<type>.search",
// "fhir.patient.everything"); AuditEvent reads are recorded here as "audit.read".
//
// Responses are application/fhir+json. Every refusal is an OperationOutcome with the status of
// net/error_mapping.h: 400 bad parameters (unknown parameters too: this server is strict), 401
// no or a bad session (with WWW-Authenticate: Bearer), 403 role or inactive portal, 404 unknown
// and foreign ids alike (one fixed message), 5xx without internals.
// Paging: Observation searches and $everything return at most _count (1..1000, default 100)
// Observations, oldest first, and a `next` link (with an opaque _cursor) while more remain; a
// page may hold fewer than _count and still have a next link.
// WARNING: fullUrl and links are built from the request's Host header (checked to be a host
// name or address with an optional port); behind a proxy that rewrites Host they name the
// address the cloud was reached at.
// Thread safety: the handlers are safe to run concurrently if the dependencies are.
#pragma once

#include <string>

#include "accounts/account_store.h"
#include "audit/audit_log.h"
#include "cloud/clinical_api.h"
#include "cloud/clinical_service.h"
#include "cloud/three_part.h"
#include "core/clock.h"
#include "net/router.h"

namespace medmesh::cloud {

// Everything must outlive the router.
struct FhirApiDeps {
  ClinicalService& clinical;
  const accounts::AccountStore& accounts;  // a patient's own profile (their Patient resource)
  const ThreePartStore& records;           // opens that profile
  const audit::AuditLog& audit_log;        // AuditEvent reads
  audit::AuditSink& audit;                 // where AuditEvent reads are recorded
  const Clock& clock;
  Authenticate authenticate;  // request -> Principal (AccountApi::PrincipalOf)
  bool tls = false;           // https in fullUrl and links
};

void AddFhirRoutes(net::Router& router, FhirApiDeps deps);

}  // namespace medmesh::cloud

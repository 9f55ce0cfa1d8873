// A doctor's attestation of a patient, from the doctor's patient view at the cloud to the
// cloudlets that keep the patient's data (issue 10; docs/trust_system.md "Clinicians'
// attestations", ADR 0047):
//
//   POST /api/v1/patients/{patient_id}/attestations   doctor → 200
//        {"positive": bool, "reason": one of trust::kAttestationReasons fitting the sign}
//
// Doctors work at the cloud, and the attestation route is the cloudlet's
// (POST /api/v1/trust/attestations, cloudlet/trust_service.h), which the browser at the cloud
// cannot call (the UI's connect-src is its own origin; session cookies are per node). So the
// cloud checks what a cloudlet cannot, that the doctor holds an active grant from the patient
// (ClinicalService::RecordsGrantedTo; none: 404, as for an unknown patient), and calls that
// route at every cloudlet of the patient (IntakeStore::CloudletsOfPatient, by the URLs the cloud
// knows) with the doctor's own session token as a bearer token and, in the body, a grant
// assertion for that cloudlet signed with the cloud's node key (wire/grant_assertion.h: doctor,
// patient, two minutes, a fresh nonce): the cloudlet verifies both offline, refuses an
// attestation without the assertion, and decides, stores and audits. The answer lists
// each cloudlet with the status it answered (0: unreachable); 409 if the cloud knows no
// cloudlet URL of the patient, 502 if none accepted.
//
// Errors: 401 no session, 403 not a doctor, 400 bad body, 404 no active grant from the patient.
// Thread safety: the handler is thread-safe if the hooks are.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "accounts/principal.h"
#include "cloud/clinical_service.h"
#include "core/clock.h"
#include "core/random.h"
#include "core/status.h"
#include "crypto/signing.h"
#include "net/http_client.h"
#include "net/router.h"

namespace medmesh::cloud {

struct AttestationRelayContext {
  std::function<Result<accounts::Principal>(const net::Request&)> authenticate;
  ClinicalService& clinical;
  std::function<Result<std::vector<std::string>>(std::string_view patient_id)> cloudlets_of;
  std::function<std::map<std::string, std::string, std::less<>>()> cloudlet_urls;
  net::HttpClient& client;  // to the cloudlets; must outlive the router
  // The cloud's node identity, to sign grant assertions; all must outlive the router.
  std::string cloud_id;
  const crypto::Signer& signer;
  Bytes certificate;  // the cloud's, encoded
  const Clock& clock;
  Random& random;
};

void AddAttestationRelayRoute(net::Router& router, AttestationRelayContext context);

}  // namespace medmesh::cloud

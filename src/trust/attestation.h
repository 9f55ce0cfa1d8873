// The reasons a clinician gives with an attestation of a patient (docs/trust_system.md
// "Clinicians' attestations"): fixed codes, so that an audit entry holds no free text and no
// medical content. The first two go with a positive attestation, the last two with a negative.
// Header only; used by the cloudlet's attestation route and the cloud's relay of it.
#pragma once

#include <algorithm>
#include <array>
#include <string_view>

namespace medmesh::trust {

inline constexpr std::array<std::string_view, 4> kAttestationReasons = {
    "known_in_care", "consistent_reports", "misuse_concern", "identity_concern"};

// Whether `reason` is one of kAttestationReasons and fits the attestation's sign.
inline bool AttestationReasonFits(std::string_view reason, bool positive) {
  const auto it = std::find(kAttestationReasons.begin(), kAttestationReasons.end(), reason);
  if (it == kAttestationReasons.end()) return false;
  return positive == (it - kAttestationReasons.begin() < 2);
}

}  // namespace medmesh::trust

// The cloudlet's bridge to the trust library (src/trust, docs/trust.md): turns what the
// cloudlet holds (sharing profiles, readings, logged interactions, ratings, peer events) into the
// library's inputs, and its answers into what the routes of trust_service.h serve. No trust
// arithmetic lives here: similarity, Beta reputation, reputation, the blend, the decision and
// peer trust are the library's; this file only gathers, maps names and picks constants.
// Thread safety: pure functions of their inputs.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "cloudlet/trust_service.h"
#include "cloudlet/trust_store.h"
#include "wire/model.h"

namespace medmesh::cloudlet::internal {

// One vital sign's summary over the readings the cloudlet holds (the vitals profile).
struct VitalStat {
  wire::VitalKind kind = wire::VitalKind::kHeartRate;
  double mean = 0;
  double sd = 0;
  double min = 0;
  double max = 0;
  std::uint64_t count = 0;
};

// The summaries of the vital signs that describe a condition (heart rate, SpO2, temperature,
// blood pressure, respiratory rate, glucose; not steps or ECG rhythm codes), in kind order.
std::vector<VitalStat> VitalsProfile(const std::vector<wire::Reading>& readings);

struct Member {
  SharingProfile profile;
  std::vector<VitalStat> vitals;
};

// Everything the model looks at, gathered once per request.
struct Population {
  std::vector<Member> patients;  // the opted-in patients
  // The hospital-approved identities: every patient known here (a device enrolled here) among
  // the opted-in patients and the parties of the interactions.
  std::set<std::string, std::less<>> approved;
  // The clinicians: the doctors' accounts that attested a patient here (attestation
  // interactions). The library treats them as pre-trusted and approved; their ratings anchor
  // the credibility chain and weigh as clinicians' opinions.
  std::set<std::string, std::less<>> clinicians;
  std::vector<Interaction> interactions;
  std::vector<Rating> ratings;
  std::int64_t now_ms = 0;
};

struct ExplanationItem {
  std::string kind;  // "condition", "symptom", "vital"
  std::string term;
  double contribution = 0;
};

// How `observer` sees another opted-in patient.
struct Assessment {
  std::string handle;
  double similarity = 0;
  double trust = 0;
  double confidence = 0;
  std::vector<ExplanationItem> explanation;
  std::vector<std::string> shared_conditions;
  std::vector<std::string> shared_symptoms;
};

// The other opted-in patients, most similar first (ties: higher trust, then handle).
std::vector<Assessment> Rank(const Population& population, std::string_view observer);

// One reason of a decision (the library's, plus "owner" when the owner refused).
struct Reason {
  std::string kind;  // "owner", "approval", "consent", "similarity", "trust"
  bool met = false;
  double value = 0;
  double required = 0;
  std::string text;  // one sentence, numbers and category names only
};

struct Decision {
  bool allowed = false;
  std::string category;
  double similarity = 0;
  double reputation = 0;
  double trust = 0;
  double threshold = 0;
  bool consent = false;
  std::vector<Reason> reasons;  // shown and audited
};

// Whether `owner`'s `category` may be shared with `requester` (the library's decision).
Decision Decide(const Population& population, std::string_view owner, std::string_view requester,
                std::string_view category, bool consent, bool requester_approved);

// The trust a category needs.
double CategoryThreshold(std::string_view category);

// The trust a peer needs to be a partner (share with, relay through).
inline constexpr double kPeerPartnerThreshold = 0.6;

// Every peer with events, most trusted first.
std::vector<PeerTrust> RankPeers(const std::vector<PeerEvent>& events, std::int64_t now_ms);

}  // namespace medmesh::cloudlet::internal

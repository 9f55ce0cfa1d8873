#include "trust/peer_trust.h"

#include <algorithm>

namespace medmesh::trust {

namespace {

constexpr PeerEventKind kAllKinds[] = {
    PeerEventKind::kForwardConfirmed, PeerEventKind::kForwardLost,
    PeerEventKind::kDataVerified,     PeerEventKind::kDataFailedVerification,
    PeerEventKind::kReportConfirmed,  PeerEventKind::kReportRefuted,
};

// (score, weight) of one event: a success is one positive unit; failures weigh more because a
// forged share or a false report is deliberate, a success is merely expected.
struct Evidence {
  double score;
  double weight;
};
Evidence EvidenceOf(PeerEventKind kind) {
  switch (kind) {
    case PeerEventKind::kForwardConfirmed: return {1, 1};
    case PeerEventKind::kForwardLost: return {0, 1};
    case PeerEventKind::kDataVerified: return {1, 1};
    case PeerEventKind::kDataFailedVerification: return {0, 3};
    case PeerEventKind::kReportConfirmed: return {1, 1};
    case PeerEventKind::kReportRefuted: return {0, 2};
  }
  return {0, 1};
}

}  // namespace

std::string_view PeerEventKindName(PeerEventKind kind) {
  switch (kind) {
    case PeerEventKind::kForwardConfirmed: return "forward_confirmed";
    case PeerEventKind::kForwardLost: return "forward_lost";
    case PeerEventKind::kDataVerified: return "data_verified";
    case PeerEventKind::kDataFailedVerification: return "data_failed_verification";
    case PeerEventKind::kReportConfirmed: return "report_confirmed";
    case PeerEventKind::kReportRefuted: return "report_refuted";
  }
  return "unknown";
}

bool ParsePeerEventKind(std::string_view name, PeerEventKind& out) {
  for (PeerEventKind kind : kAllKinds) {
    if (PeerEventKindName(kind) == name) {
      out = kind;
      return true;
    }
  }
  return false;
}

PeerTrust::PeerTrust(PeerTrustParams params) : params_(params) {}

void PeerTrust::Record(const PeerEvent& event) {
  const Evidence e = EvidenceOf(event.kind);
  auto it = peers_.find(event.peer);
  if (it == peers_.end()) {
    it = peers_.emplace(event.peer, BetaOpinion{0, 0, event.at_ms}).first;
  }
  it->second.Add(e.score, event.at_ms, params_.forgetting, e.weight);
}

PeerStanding PeerTrust::Standing(std::string_view peer, std::int64_t now_ms) const {
  PeerStanding out;
  out.peer = std::string(peer);
  BetaOpinion opinion;
  if (auto it = peers_.find(peer); it != peers_.end()) {
    opinion = it->second.DecayedTo(now_ms, params_.forgetting);
  }
  out.trust = opinion.Expectation(params_.base_rate, params_.prior_weight);
  out.confidence = opinion.Confidence(params_.prior_weight);
  out.positive = opinion.r;
  out.negative = opinion.s;
  return out;
}

std::vector<PeerStanding> PeerTrust::Ranked(std::int64_t now_ms) const {
  std::vector<PeerStanding> out;
  out.reserve(peers_.size());
  for (const auto& [peer, opinion] : peers_) out.push_back(Standing(peer, now_ms));
  std::stable_sort(out.begin(), out.end(), [](const PeerStanding& a, const PeerStanding& b) {
    if (a.trust != b.trust) return a.trust > b.trust;
    if (a.confidence != b.confidence) return a.confidence > b.confidence;
    return a.peer < b.peer;
  });
  return out;
}

std::vector<PeerStanding> PeerTrust::ChoosePartners(std::int64_t now_ms, double min_trust,
                                                    std::size_t max_partners) const {
  std::vector<PeerStanding> out;
  for (PeerStanding& s : Ranked(now_ms)) {
    if (out.size() >= max_partners) break;
    if (s.trust >= min_trust) out.push_back(std::move(s));
  }
  return out;
}

}  // namespace medmesh::trust

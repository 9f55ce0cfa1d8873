// A cloudlet's trust in each peer cloudlet, from what the peer did (docs/trust.md).
//
// Events, each positive or negative evidence in a Beta opinion per peer with forgetting:
//   forward confirmed (+1) / forward lost (-1)         a relayed upload the cloud acknowledged
//   data verified (+1)     / data failed to verify (-3) shared data whose signature/hash checked
//   report confirmed (+1)  / report refuted (-2)       an IDS report later confirmed or refuted
// Failures weigh more than successes: one forged share undoes three good ones.
// Trust is the Beta expectation with base rate `base_rate`; unknown peers sit at it.
// Partner choice: peers at or above `min_trust`, best first (ties: more evidence, then id).
//
// Times are inputs; nothing reads a clock. Thread safety: const methods may run concurrently;
// Record needs exclusive access. Value type (copyable), so a cloudlet can rebuild it from its
// stored events at start.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "trust/beta.h"

namespace medmesh::trust {

enum class PeerEventKind : std::uint8_t {
  kForwardConfirmed,
  kForwardLost,
  kDataVerified,
  kDataFailedVerification,
  kReportConfirmed,
  kReportRefuted,
};
// "forward_confirmed", "forward_lost", "data_verified", "data_failed_verification",
// "report_confirmed", "report_refuted".
std::string_view PeerEventKindName(PeerEventKind kind);
bool ParsePeerEventKind(std::string_view name, PeerEventKind& out);

struct PeerEvent {
  std::string peer;  // the peer cloudlet's id
  PeerEventKind kind = PeerEventKind::kForwardConfirmed;
  std::int64_t at_ms = 0;
};

struct PeerTrustParams {
  Forgetting forgetting{std::chrono::hours(24 * 7), std::chrono::hours(24 * 14)};
  double base_rate = 0.5;
  double prior_weight = 2.0;
};

struct PeerStanding {
  std::string peer;
  double trust = 0;       // Beta expectation, in [0, 1]
  double confidence = 0;  // grows with evidence
  double positive = 0;    // r after forgetting
  double negative = 0;    // s after forgetting
};

class PeerTrust {
 public:
  explicit PeerTrust(PeerTrustParams params = {});
  void Record(const PeerEvent& event);
  // An unknown peer: base rate, no evidence.
  PeerStanding Standing(std::string_view peer, std::int64_t now_ms) const;
  // Every peer with events, best first.
  std::vector<PeerStanding> Ranked(std::int64_t now_ms) const;
  // Up to `max_partners` of Ranked with trust >= min_trust.
  std::vector<PeerStanding> ChoosePartners(std::int64_t now_ms, double min_trust,
                                           std::size_t max_partners) const;

 private:
  PeerTrustParams params_;
  std::map<std::string, BetaOpinion, std::less<>> peers_;
};

}  // namespace medmesh::trust

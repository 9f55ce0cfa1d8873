// The trust model: who trusts whom, from rated interactions (docs/trust.md, ADR 0028).
//
// Inputs (all from the caller; nothing here reads a clock, a file or the network):
//   Identities    the hospital-approved identities, and among them the pre-trusted clinicians.
//   Interaction   a logged interaction between two parties (a message exchange, a share, a
//                 consultation), with the id the caller's log gave it.
//   Rating        one party's score in [0, 1] of the other, tied to an interaction id.
// A rating counts only if its interaction is known, the rater and ratee are that
// interaction's two parties, both are approved, and it is the rater's first rating of that
// interaction; otherwise AddRating says why it was ignored (RatingVerdict). So unbacked
// ratings, Sybil identities (never approved) and repeated ratings buy nothing.
//
// From the accepted ratings (docs/trust.md has the formulas):
//   opinion O(k, j)   k's Beta opinion of j with forgetting (beta.h).
//   credibility C(k)  how much k's opinions weigh, anchored by the clinicians: a clinician has
//                     1; anyone else the best chain from a clinician, max over raters m of
//                     A(m) * decay * r/(r + s + Wc) with (r, s) = O(m, k), over up to
//                     `credibility_rounds` hops (A: this anchored credibility, 0 without a
//                     chain), floored at `unanchored_credibility`. The floor is only a weight,
//                     it never propagates, and a max of products cannot grow around a loop: a
//                     ring that only rates itself stays at the floor.
//   reputation R_i(j) the opinions of j by holders k (not i, not j), each capped at
//                     `holder_evidence_cap` evidence (repeating interactions cannot stuff the
//                     ballot; less when j returns k's praise, see reciprocity_scale), weighted
//                     by C(k) (times clinician_weight for clinicians, times
//                     the rater honesty h(k) for patients) and by the similarity of the
//                     viewer i to k: floor + (1 - floor) * S(i, k). Unfair raters filtered
//                     (after Whitby, Jøsang & Indulska 2004): a holder is dropped when the
//                     consensus of the others (the weighted mean of their expectations) lies
//                     outside the holder's own Beta(r+1, s+1) [q, 1-q] quantile interval (it is
//                     statistically incompatible with everyone else), the least probable first
//                     (smallest tail of the holder's Beta at the consensus), until
//                     all agree or one is left.
//   honesty h(k)      (Refresh) how well k's opinions agree with everyone else's about the same
//                     subjects: (agree + W_h) / (agree + disagree + W_h), evidence r, s about j
//                     agreeing as r p + s (1 - p) with p the others' expectation of j; 1 without
//                     a judgement and for clinicians (ADR 0040).
//   direct D(i, j)    i's own opinion O(i, j).
//   T(i, j)           (r_D + K' E(R)) / (n + K') = w r_D / n + (1 - w) E(R), w = n / (n + K'),
//                     (r_D, s_D) = D(i, j), n = r_D + s_D, K' = min(K + g n_R, K_max) with n_R the
//                     reputation's weighted evidence: the reputation is the prior of i's own
//                     evidence, as strong as it is attested, and direct evidence outweighs it as
//                     it grows.
//   probation         (Refresh) on-off behaviour (ADR 0056): a burst of bad ratings from
//                     eligible holders (clinicians; anchored patients judged honest) that an
//                     honest party's occasional bad days do not explain (a binomial tail test
//                     over a short window) caps T at probation_cap for probation_duration,
//                     whatever good evidence follows; the estimate says so (TrustEstimate).
//                     So is a patient whose rater honesty shows it rates others unfairly.
// Every expectation uses the base rate `base_rate` as its prior: an identity with no evidence
// (a new or whitewashed one) sits at the base rate, which is below every sharing threshold.
//
// WARNING: does not protect against a majority of credible raters lying about someone, nor
// against an attacker who behaves well until trusted and then misuses one share (forgetting
// and the direct weight limit how long good behaviour is banked, not the first misuse;
// probation acts only after a burst of misuse has been rated).
//
// Thread safety: const methods may run concurrently; AddRating/LogInteraction/Refresh and the
// identity setters need exclusive access. Ids are opaque strings; nothing here logs them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "trust/beta.h"

namespace medmesh::trust {

class Identities {
 public:
  void Approve(const std::string& id) { approved_.insert(id); }
  // A clinician is approved as well.
  void AddClinician(const std::string& id);
  // Revoked identities stop counting at once: their ratings are skipped on every read.
  void Revoke(const std::string& id);
  bool IsApproved(std::string_view id) const { return approved_.contains(id); }
  bool IsClinician(std::string_view id) const { return clinicians_.contains(id); }
  const std::set<std::string, std::less<>>& clinicians() const { return clinicians_; }

 private:
  std::set<std::string, std::less<>> approved_;
  std::set<std::string, std::less<>> clinicians_;
};

struct Interaction {
  std::string id;
  std::string party_a;
  std::string party_b;
  std::int64_t at_ms = 0;
};

struct Rating {
  std::string interaction_id;
  std::string rater;
  std::string ratee;
  double score = 0;  // in [0, 1]; 1 entirely positive
  std::int64_t at_ms = 0;
};

enum class RatingVerdict {
  kAccepted,
  kUnknownInteraction,  // no logged interaction with this id
  kNotAParty,           // rater and ratee are not the interaction's two parties
  kRaterNotApproved,
  kRateeNotApproved,
  kDuplicate,     // the rater already rated this interaction
  kInvalidScore,  // not a number in [0, 1]
};
std::string_view RatingVerdictName(RatingVerdict verdict);  // "accepted", "unknown_interaction"..

struct TrustParams {
  Forgetting forgetting;
  double base_rate = 0.3;           // prior expectation of everyone (and of new identities)
  double prior_weight = 2.0;        // W of the Beta expectations
  double direct_half_weight = 3.0;  // K: direct evidence n weighs n / (n + K) in T
  // Credibility.
  double unanchored_credibility = 0.02;   // weight of an approved patient without a chain
  double credibility_decay = 0.9;         // per hop from a clinician
  double credibility_prior_weight = 2.0;  // Wc
  int credibility_rounds = 4;             // longest chain, in hops
  // A clinician's opinion counts this many times a patient's of equal credibility, before the
  // similarity weighting, which applies to clinicians too: one with no profile (similarity 0)
  // counts clinician_weight * similarity_floor (2.5 by default; docs/trust.md, ADR 0049, 0056).
  double clinician_weight = 5.0;
  double holder_evidence_cap = 5.0;  // most evidence one holder's opinion brings to R
  // Collusion-ring detection (ADR 0054): praise that is returned is not independent. A patient
  // holder k whose opinion of j is returned by j's opinion of k brings at most
  // cap / (1 + max(0, m - free) / scale) evidence to R(j), with m = min(n(k, j), n(j, k)) the
  // evidence both ways (after forgetting). Honest partners rarely hold more than `free` units
  // about each other; a ring that stages interactions soon does. scale <= 0 disables it.
  double reciprocity_free_evidence = 3.0;
  double reciprocity_scale = 0.25;
  // Holder weighting by similarity to the viewer (only when a similarity is given).
  double similarity_floor = 0.5;
  // Unfair-rater filter: the quantile q of the holder's Beta interval; 0 disables the filter.
  double filter_quantile = 0.05;
  // Rater honesty (recomputed by Refresh): a patient holder's weight in R is multiplied by how
  // well its opinions agree with everyone else's about the same subjects, a Beta expectation of
  // agreement with a prior of full honesty of this weight; 0 disables it (every factor 1).
  double honesty_prior_weight = 2.0;
  // Least weighted evidence the others must hold about a subject before a holder's opinion of
  // it is judged.
  double honesty_min_reference = 1.0;
  // The prior strength of the reputation in T: K' = K + growth * n_R, at most max (K itself
  // when max <= K; growth 0 gives the fixed K).
  double reputation_strength_growth = 0.25;
  double reputation_strength_max = 8.0;
  // Probation (ADR 0056), against on-off behaviour: at every bad rating of a subject, the
  // ratings the subject received in the `probation_window` up to it from eligible holders
  // (clinicians; patients with an anchored credibility and rater honesty >= probation_min_honesty;
  // each holder at most holder_evidence_cap) are tested against an honest party's bad days: with
  // n ratings, s of them bad, P(X >= s) for X ~ Binomial(n, probation_honest_bad_rate) (the Beta
  // tail I_p(s, n - s + 1)). Below probation_quantile the subject is on probation for
  // `probation_duration` after that rating: T is at most probation_cap, whatever good evidence
  // follows. probation_quantile 0 disables it (the ablation, `--no-probation`).
  double probation_quantile = 0.003;
  double probation_honest_bad_rate = 0.05;
  std::chrono::milliseconds probation_window = std::chrono::hours(24 * 10);
  std::chrono::milliseconds probation_duration = std::chrono::hours(24 * 60);
  double probation_cap = 0.3;
  double probation_min_honesty = 0.6;
  // The bad ratings of a window must come from at least this many holders (one holder's
  // ratings are not independent trials: a single dispute puts nobody on probation).
  int probation_min_bad_holders = 2;
  // A patient caught rating others unfairly is evidence against that identity as a subject too
  // (ADR 0056): one whose rater honesty (Refresh) is below this is capped at probation_cap.
  // Unjudged raters and clinicians have honesty 1; 0 disables it.
  double lying_rater_honesty = 0.6;
  // ... and only once at least this much of its evidence about others was judged (agreement +
  // disagreement), so a few honest bad ratings of a well-liked attacker are not a liar's record.
  double lying_rater_min_evidence = 5.0;
};

// T(i, j) and its parts, for decisions and explanations.
struct TrustEstimate {
  double value = 0;                // T, in [0, 1]
  double direct = 0;               // E(D), the base rate without direct evidence
  double direct_evidence = 0;      // n = r + s of D (after forgetting)
  double direct_weight = 0;        // w
  double reputation = 0;           // E(R)
  double reputation_evidence = 0;  // weighted r + s of R after filtering
  double confidence = 0;           // 1 - (1 - c_D)(1 - c_R), in [0, 1)
  int holders_used = 0;            // opinions in R
  int holders_filtered = 0;        // opinions dropped as unfair
  // Probation (TrustParams): the value is capped; the ratings and bad ratings of the window
  // that put the subject on probation (the latest such window).
  bool probation = false;
  double probation_ratings = 0;
  double probation_bad = 0;
  // The subject's own rater honesty; below TrustParams::lying_rater_honesty the value is capped
  // as for probation (lying_rater).
  double rater_honesty = 1;
  double rater_judged_evidence = 0;  // the evidence h was judged on
  bool lying_rater = false;
};

// S(viewer, holder) in [0, 1] for the holder weighting; called with holder ids.
using HolderSimilarity = std::function<double(const std::string& holder)>;

class TrustModel {
 public:
  explicit TrustModel(TrustParams params = {}, Identities identities = {});

  Identities& identities() { return identities_; }
  const Identities& identities() const { return identities_; }
  const TrustParams& params() const { return params_; }

  // Records an interaction of the caller's log. A second one with the same id is ignored
  // (returns false).
  bool LogInteraction(Interaction interaction);
  // Checks `rating` as the header explains and, if accepted, adds it to O(rater, ratee).
  RatingVerdict AddRating(const Rating& rating);

  // Recomputes every credibility as of now_ms (call after adding ratings; Trust() uses the
  // credibilities of the last Refresh; before the first, clinicians 1, others the floor), and
  // the probations. now_ms must not go backwards between calls: the ratings kept for the
  // probation test that are older than probation_duration + probation_window are dropped.
  void Refresh(std::int64_t now_ms);
  double Credibility(std::string_view id) const;

  // T(viewer, subject) as of now_ms. `similarity` (optional) weights holders by their
  // similarity to the viewer. An unapproved subject gets value 0 and no evidence.
  TrustEstimate Trust(const std::string& viewer, const std::string& subject, std::int64_t now_ms,
                      const HolderSimilarity& similarity = nullptr) const;
  // k's opinion of j decayed to now_ms (zero evidence if none).
  BetaOpinion Opinion(const std::string& holder, const std::string& subject,
                      std::int64_t now_ms) const;

  std::size_t accepted_ratings() const { return accepted_; }

  // The honesty factor of a rater as of the last Refresh (1 without a judgement, for
  // clinicians, and with the mechanism off).
  double RaterHonesty(std::string_view id) const;

  // Whether `subject` is on probation at now_ms, as of the last Refresh (TrustParams).
  bool OnProbation(std::string_view subject, std::int64_t now_ms) const;

 private:
  struct HolderView {
    const std::string* holder = nullptr;
    double r = 0;  // capped evidence
    double s = 0;
    double weight = 0;
    double expectation = 0.5;  // (r + 1) / (r + s + 2)
    bool kept = true;
  };
  struct Reputation {
    BetaOpinion opinion;  // weighted sums of the kept holders
    std::vector<HolderView> holders;
    int used = 0;
    int filtered = 0;
  };
  // R of `subject` from every holder except `viewer` and the subject (an empty viewer excludes
  // nobody).
  Reputation ComputeReputation(const std::string& viewer, const std::string& subject,
                               std::int64_t now_ms, const HolderSimilarity& similarity) const;
  void RefreshHonesty(std::int64_t now_ms);
  void RefreshProbation(std::int64_t now_ms);

  // One accepted rating, kept for the probation test.
  struct Received {
    std::string holder;
    std::int64_t at_ms = 0;
    double score = 0;
  };
  // The latest window that put a subject on probation.
  struct Probation {
    std::int64_t until_ms = 0;
    double ratings = 0;
    double bad = 0;
  };

  TrustParams params_;
  Identities identities_;
  std::unordered_map<std::string, Interaction> interactions_;
  std::set<std::pair<std::string, std::string>> rated_;  // (interaction id, rater)
  // opinions_[subject][holder]
  std::unordered_map<std::string, std::map<std::string, BetaOpinion>> opinions_;
  std::unordered_map<std::string, double> credibility_;
  // Rater honesty's evidence (Refresh): holder -> (agreement, disagreement) with the others; h
  // and the judged evidence derive from it.
  std::unordered_map<std::string, std::pair<double, double>> agreement_;
  std::unordered_map<std::string, std::vector<Received>> received_;  // by subject
  std::unordered_map<std::string, Probation> probation_;
  std::size_t accepted_ = 0;
};

// The Beta distribution's CDF I_x(alpha, beta) (regularised incomplete beta), alpha, beta > 0,
// and its quantile (the x with I_x = p, p in [0, 1]). Exposed for the filter's tests.
double BetaCdf(double alpha, double beta, double x);
double BetaQuantile(double alpha, double beta, double p);

}  // namespace medmesh::trust

#include "cloudlet/internal/trust_model.h"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <map>
#include <memory>
#include <optional>

#include "trust/decision.h"
#include "trust/peer_trust.h"
#include "trust/similarity.h"
#include "trust/trust_model.h"

namespace medmesh::cloudlet::internal {
namespace {

// The vitals that describe a condition, with the library's names for them (similarity.h).
struct VitalName {
  wire::VitalKind kind;
  std::string_view library_name;
};
constexpr VitalName kProfileVitals[] = {
    {wire::VitalKind::kHeartRate, "heart_rate"},
    {wire::VitalKind::kSpO2, "spo2"},
    {wire::VitalKind::kBodyTemperature, "temperature"},
    {wire::VitalKind::kSystolicBp, "systolic"},
    {wire::VitalKind::kDiastolicBp, "diastolic"},
    {wire::VitalKind::kRespiratoryRate, "respiratory_rate"},
    {wire::VitalKind::kGlucose, "glucose"},
};

std::string_view LibraryName(wire::VitalKind kind) {
  for (const VitalName& v : kProfileVitals) {
    if (v.kind == kind) return v.library_name;
  }
  return {};
}

std::optional<trust::DataCategory> CategoryOf(std::string_view category) {
  if (category == "vitals_summary") return trust::DataCategory::kVitalsSummary;
  if (category == "diagnoses") return trust::DataCategory::kDiagnoses;
  if (category == "full_records") return trust::DataCategory::kFullRecord;
  return std::nullopt;
}

trust::PatientProfile ProfileOf(const Member& m) {
  trust::PatientProfile p;
  p.conditions = m.profile.conditions;
  p.symptoms = m.profile.symptoms;
  for (const VitalStat& v : m.vitals) {
    p.vitals.push_back({std::string(LibraryName(v.kind)), v.mean, v.sd});
  }
  return p;
}

// What every question to the model needs, built once per Population.
class Model {
 public:
  explicit Model(const Population& population) : population_(population) {
    for (const Member& m : population.patients) {
      profiles_.emplace(m.profile.patient_id, ProfileOf(m));
    }
    for (const auto& [id, profile] : profiles_) stats_.Add(profile);
    similarity_ = trust::DefaultSimilarity(stats_);
    for (const std::string& id : population.approved) model_.identities().Approve(id);
    for (const std::string& id : population.clinicians) model_.identities().AddClinician(id);
    for (const Interaction& i : population.interactions) {
      model_.LogInteraction({i.interaction_id, i.initiator, i.responder, i.time_ms});
    }
    // The store keeps only ratings of interactions the rater took part in, once each; the
    // library checks the same again (and that both parties are approved) and drops the rest.
    for (const Rating& r : population.ratings) {
      (void)model_.AddRating(
          {r.interaction_id, r.rater, r.ratee, r.positive ? 1.0 : 0.0, r.time_ms});
    }
    model_.Refresh(population.now_ms);
  }

  // S(a, b); not comparable (0) when either has no sharing profile.
  trust::SimilarityResult Similarity(const std::string& a, const std::string& b) const {
    const auto pa = profiles_.find(a);
    const auto pb = profiles_.find(b);
    if (pa == profiles_.end() || pb == profiles_.end()) return {};
    return similarity_->Compare(pa->second, pb->second);
  }

  trust::TrustEstimate Trust(const std::string& viewer, const std::string& subject) const {
    const trust::HolderSimilarity by_similarity = [this, viewer](const std::string& holder) {
      return Similarity(viewer, holder).score;
    };
    return model_.Trust(viewer, subject, population_.now_ms, by_similarity);
  }

 private:
  const Population& population_;
  std::map<std::string, trust::PatientProfile, std::less<>> profiles_;
  trust::PopulationStats stats_;
  std::shared_ptr<const trust::SimilarityMeasure> similarity_;
  trust::TrustModel model_;
};

std::vector<std::string> Shared(std::vector<std::string> a, std::vector<std::string> b) {
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  std::vector<std::string> out;
  std::set_intersection(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
  return out;
}

const Member* Find(const Population& population, std::string_view id) {
  for (const Member& m : population.patients) {
    if (m.profile.patient_id == id) return &m;
  }
  return nullptr;
}

}  // namespace

std::vector<VitalStat> VitalsProfile(const std::vector<wire::Reading>& readings) {
  std::vector<VitalStat> out;
  for (const VitalName& v : kProfileVitals) {
    double sum = 0;
    double sum_sq = 0;
    VitalStat stat;
    stat.kind = v.kind;
    for (const wire::Reading& r : readings) {
      if (r.kind != v.kind) continue;
      const double value = static_cast<double>(r.value_milli) / 1000.0;
      if (stat.count == 0 || value < stat.min) stat.min = value;
      if (stat.count == 0 || value > stat.max) stat.max = value;
      sum += value;
      sum_sq += value * value;
      ++stat.count;
    }
    if (stat.count == 0) continue;
    const double n = static_cast<double>(stat.count);
    stat.mean = sum / n;
    stat.sd = stat.count > 1 ? std::sqrt(std::max(0.0, (sum_sq - sum * sum / n) / (n - 1))) : 0;
    out.push_back(stat);
  }
  return out;
}

std::vector<Assessment> Rank(const Population& population, std::string_view observer) {
  const Member* me = Find(population, observer);
  if (me == nullptr) return {};
  const Model model(population);
  const std::string viewer(observer);
  std::vector<Assessment> out;
  for (const Member& other : population.patients) {
    if (other.profile.patient_id == viewer) continue;
    const trust::SimilarityResult s = model.Similarity(viewer, other.profile.patient_id);
    const trust::TrustEstimate t = model.Trust(viewer, other.profile.patient_id);
    Assessment a;
    a.handle = other.profile.handle;
    a.similarity = s.score;
    a.trust = t.value;
    a.confidence = t.confidence;
    for (const trust::SimilarityFactor& f : s.factors) {
      a.explanation.push_back({std::string(trust::FactorKindName(f.kind)), f.term, f.contribution});
    }
    a.shared_conditions = Shared(me->profile.conditions, other.profile.conditions);
    a.shared_symptoms = Shared(me->profile.symptoms, other.profile.symptoms);
    out.push_back(std::move(a));
  }
  std::sort(out.begin(), out.end(), [](const Assessment& x, const Assessment& y) {
    if (x.similarity != y.similarity) return x.similarity > y.similarity;
    if (x.trust != y.trust) return x.trust > y.trust;
    return x.handle < y.handle;
  });
  return out;
}

Decision Decide(const Population& population, std::string_view owner, std::string_view requester,
                std::string_view category, bool consent, bool requester_approved) {
  Decision d;
  d.category = std::string(category);
  d.consent = consent;
  const std::optional<trust::DataCategory> c = CategoryOf(category);
  if (!c) {
    d.reasons.push_back({"consent", false, 0, 1, "unknown category"});
    return d;
  }
  const Model model(population);
  trust::DecisionInput input;
  input.category = *c;
  if (consent) input.owner_consents.insert(*c);
  input.requester_approved = requester_approved;
  input.similarity = model.Similarity(std::string(owner), std::string(requester)).score;
  input.trust = model.Trust(std::string(owner), std::string(requester));
  const trust::Decision decided = trust::Decide(input);
  d.allowed = decided.allow;
  d.similarity = input.similarity;
  d.reputation = input.trust.reputation;
  d.trust = input.trust.value;
  d.threshold = input.policy.For(*c).min_trust;
  for (const trust::DecisionReason& r : decided.reasons) {
    d.reasons.push_back(
        {std::string(trust::ReasonKindName(r.kind)), r.met, r.value, r.required, r.text});
  }
  return d;
}

double CategoryThreshold(std::string_view category) {
  const std::optional<trust::DataCategory> c = CategoryOf(category);
  return c ? trust::SharingPolicy{}.For(*c).min_trust : 1.0;
}

std::vector<PeerTrust> RankPeers(const std::vector<PeerEvent>& events, std::int64_t now_ms) {
  trust::PeerTrust peers;
  std::map<std::string, std::pair<std::uint64_t, std::uint64_t>, std::less<>> counts;
  std::map<std::string, PeerTrust, std::less<>> by_kind;  // only the evidence members
  for (const PeerEvent& e : events) {
    trust::PeerEventKind kind = trust::PeerEventKind::kForwardConfirmed;
    if (e.kind == "forward") {
      kind = e.good ? trust::PeerEventKind::kForwardConfirmed : trust::PeerEventKind::kForwardLost;
    } else if (e.kind == "shared_data") {
      kind = e.good ? trust::PeerEventKind::kDataVerified
                    : trust::PeerEventKind::kDataFailedVerification;
    } else if (e.kind == "report") {
      kind = e.good ? trust::PeerEventKind::kReportConfirmed : trust::PeerEventKind::kReportRefuted;
    } else {
      continue;  // written by newer code
    }
    peers.Record({e.peer_id, kind, e.time_ms});
    auto& [good, bad] = counts[e.peer_id];
    ++(e.good ? good : bad);
    PeerEvidence& of_kind = e.kind == "forward"       ? by_kind[e.peer_id].forwards
                            : e.kind == "shared_data" ? by_kind[e.peer_id].shared_data
                                                      : by_kind[e.peer_id].reports;
    ++(e.good ? of_kind.good : of_kind.bad);
  }
  constexpr std::size_t kMaxPartners = 3;
  std::set<std::string, std::less<>> partners;
  for (const trust::PeerStanding& p :
       peers.ChoosePartners(now_ms, kPeerPartnerThreshold, kMaxPartners)) {
    partners.insert(p.peer);
  }
  std::vector<PeerTrust> out;
  for (const trust::PeerStanding& p : peers.Ranked(now_ms)) {
    const auto& [good, bad] = counts[p.peer];
    const PeerTrust& kinds = by_kind[p.peer];
    out.push_back({p.peer, p.trust, p.confidence, good, bad, partners.contains(p.peer),
                   kinds.forwards, kinds.shared_data, kinds.reports});
  }
  return out;
}

}  // namespace medmesh::cloudlet::internal

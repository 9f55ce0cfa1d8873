#include "eval/trust_sim.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>

#include "eval/svg_plot.h"
#include "trust/decision.h"
#include "trust/similarity.h"
#include "trust/trust_model.h"
#include "wearable/internal/prng.h"
#include "wearable/simulator.h"

namespace medmesh::eval {

namespace {

using trust::DataCategory;
using wearable::Profile;
using wearable::internal::Prng;

constexpr std::int64_t kRoundMs = 24LL * 3600 * 1000;  // a round is a day
constexpr int kSimilarPerPatient = 25;                 // candidates a patient talks to
constexpr double kMinSimilarity = 0.15;                // = SharingPolicy's min_similarity
constexpr int kPatientsPerClinician = 40;
constexpr int kRingSize = 5;
constexpr int kSybilsPerMaker = 5;
constexpr int kWhitewashEvery = 15;  // rounds between new identities
constexpr int kOnOffPeriod = 30;     // rounds: 20 behaving, then 10 not
constexpr int kOnOffGood = 20;
// Behaviour: the probability that an interaction with the party goes well.
constexpr double kHonestGood = 0.95;
constexpr double kMaliciousGood = 0.3;
// Per round: the chance a patient acts, and that one sees their clinician.
constexpr double kActivity = 0.6;
constexpr double kConsultation = 0.15;
constexpr double kClinicianDetects = 0.5;  // a clinician notices misbehaviour this often

enum class Role { kHonest, kBadMouther, kColluder, kOnOff, kWhitewasher, kSybilMaker };

// --- the population ----------------------------------------------------------------------------

struct Person {
  trust::PatientProfile profile;
  std::vector<std::pair<int, double>> similar;  // (patient, S), best first
  std::set<DataCategory> consents;
};

const char* Pick(Prng& prng, std::initializer_list<const char*> items) {
  const auto n = static_cast<std::uint64_t>(items.size());
  return items.begin()[prng.Below(n)];
}

Profile DrawProfile(Prng& prng) {
  // A chronic-disease clinic's mix built on the demo's profiles.
  const double u = prng.Uniform();
  if (u < 0.30) return Profile::kHypertension;
  if (u < 0.55) return Profile::kType2Diabetes;
  if (u < 0.68) return Profile::kCopd;
  if (u < 0.81) return Profile::kAtrialFibrillation;
  if (u < 0.91) return Profile::kFeverInfection;
  return Profile::kHealthy;
}

void AddSymptoms(Prng& prng, std::vector<std::string>& out,
                 std::initializer_list<const char*> pool) {
  for (const char* s : pool) {
    if (prng.Bernoulli(0.5)) out.emplace_back(s);
  }
}

trust::PatientProfile DrawPatient(Prng& prng, std::uint64_t seed) {
  trust::PatientProfile p;
  const Profile profile = DrawProfile(prng);
  switch (profile) {
    case Profile::kHypertension:
      p.conditions.push_back("I10");
      if (prng.Bernoulli(0.3)) p.conditions.push_back("E78.5");
      AddSymptoms(prng, p.symptoms, {"headache", "dizziness", "fatigue"});
      break;
    case Profile::kType2Diabetes:
      p.conditions.push_back(prng.Bernoulli(0.6) ? "E11.9" : "E11.65");
      if (prng.Bernoulli(0.5)) p.conditions.push_back("I10");
      if (prng.Bernoulli(0.3)) p.conditions.push_back("E66.9");
      AddSymptoms(prng, p.symptoms, {"thirst", "fatigue", "blurred vision", "frequent urination"});
      break;
    case Profile::kCopd:
      p.conditions.push_back(prng.Bernoulli(0.5) ? "J44.1" : "J44.9");
      if (prng.Bernoulli(0.2)) p.conditions.push_back("I10");
      AddSymptoms(prng, p.symptoms, {"shortness of breath", "cough", "wheeze", "fatigue"});
      break;
    case Profile::kAtrialFibrillation:
      p.conditions.push_back(Pick(prng, {"I48.0", "I48.1", "I48.2"}));
      if (prng.Bernoulli(0.4)) p.conditions.push_back("I10");
      AddSymptoms(prng, p.symptoms, {"palpitations", "dizziness", "shortness of breath"});
      break;
    case Profile::kFeverInfection:
      p.conditions.push_back(Pick(prng, {"J06.9", "J18.9", "A49.9"}));
      AddSymptoms(prng, p.symptoms, {"fever", "cough", "chills", "fatigue"});
      break;
    case Profile::kHealthy: p.conditions.push_back("Z00.0"); break;
  }
  // Vitals: the personal baselines the wearable simulator draws for this profile.
  wearable::SimulatorOptions options;
  options.profile = profile;
  options.seed = seed;
  auto sim = wearable::Simulator::Create(options);
  if (sim) {
    const wearable::PatientTraits& t = sim->traits();
    p.vitals = {{"heart_rate", t.resting_hr_bpm, 0},   {"spo2", t.spo2_pct, 0},
                {"temperature", t.temperature_c, 0},   {"systolic", t.systolic_mmhg, 0},
                {"diastolic", t.diastolic_mmhg, 0},    {"respiratory_rate", t.respiratory_rate, 0},
                {"glucose", t.fasting_glucose_mgdl, 0}};
  }
  return p;
}

std::vector<Person> DrawPopulation(const TrustSimOptions& options) {
  Prng prng(options.seed);
  std::vector<Person> people(static_cast<std::size_t>(options.patients));
  trust::PopulationStats stats;
  for (std::size_t i = 0; i < people.size(); ++i) {
    people[i].profile = DrawPatient(prng, options.seed * 1'000'003ULL + i);
    stats.Add(people[i].profile);
    people[i].consents.insert(DataCategory::kVitalsSummary);
    if (prng.Bernoulli(0.6)) people[i].consents.insert(DataCategory::kDiagnoses);
    if (prng.Bernoulli(0.3)) people[i].consents.insert(DataCategory::kFullRecord);
  }
  const auto measure = trust::DefaultSimilarity(stats);
  std::vector<std::vector<std::pair<int, double>>> all(people.size());
  for (std::size_t i = 0; i < people.size(); ++i) {
    for (std::size_t j = i + 1; j < people.size(); ++j) {
      const double s = measure->Compare(people[i].profile, people[j].profile).score;
      if (s < kMinSimilarity) continue;
      all[i].emplace_back(static_cast<int>(j), s);
      all[j].emplace_back(static_cast<int>(i), s);
    }
  }
  for (std::size_t i = 0; i < people.size(); ++i) {
    auto& list = all[i];
    std::stable_sort(list.begin(), list.end(),
                     [](const auto& a, const auto& b) { return a.second > b.second; });
    if (list.size() > kSimilarPerPatient) list.resize(kSimilarPerPatient);
    people[i].similar = std::move(list);
  }
  return people;
}

// --- the models under test ---------------------------------------------------------------------

class ModelUnderTest {
 public:
  virtual ~ModelUnderTest() = default;
  virtual void Approve(const std::string& id, bool clinician) = 0;
  virtual void LogInteraction(const trust::Interaction& interaction) = 0;
  virtual void Rate(const trust::Rating& rating) = 0;
  virtual void EndRound(std::int64_t now_ms) = 0;
  // The estimate in [0, 1] and the decision of an honest owner.
  virtual double Estimate(const std::string& owner, const std::string& requester,
                          std::int64_t now_ms) = 0;
  virtual bool Allow(const std::string& owner, const std::string& requester, DataCategory category,
                     double similarity, double estimate,
                     const std::set<DataCategory>& consents) = 0;
};

// Ours: src/trust as the cloudlet uses it.
class OurModel final : public ModelUnderTest {
 public:
  OurModel(const trust::TrustParams& params, const trust::SharingPolicy& policy,
           std::function<double(const std::string&, const std::string&)> similarity)
      : model_(params), policy_(policy), similarity_(std::move(similarity)) {}
  void Approve(const std::string& id, bool clinician) override {
    if (clinician) {
      model_.identities().AddClinician(id);
    } else {
      model_.identities().Approve(id);
    }
  }
  void LogInteraction(const trust::Interaction& interaction) override {
    model_.LogInteraction(interaction);
  }
  void Rate(const trust::Rating& rating) override { (void)model_.AddRating(rating); }
  void EndRound(std::int64_t now_ms) override { model_.Refresh(now_ms); }
  double Estimate(const std::string& owner, const std::string& requester,
                  std::int64_t now_ms) override {
    last_ = model_.Trust(owner, requester, now_ms,
                         [&](const std::string& holder) { return similarity_(owner, holder); });
    return last_.value;
  }
  bool Allow(const std::string& owner, const std::string& requester, DataCategory category,
             double similarity, double /*estimate*/,
             const std::set<DataCategory>& consents) override {
    (void)owner;
    trust::DecisionInput in;
    in.category = category;
    in.owner_consents = consents;
    in.requester_approved = model_.identities().IsApproved(requester);
    in.similarity = similarity;
    in.trust = last_;
    in.policy = policy_;
    return trust::Decide(in).allow;
  }

 private:
  trust::TrustModel model_;
  trust::SharingPolicy policy_;
  std::function<double(const std::string&, const std::string&)> similarity_;
  trust::TrustEstimate last_;
};

// Plain Beta reputation (Jøsang & Ismail 2002 without forgetting or filtering): one global
// (r, s) per subject from every rating received, E = (r + 1) / (r + s + 2); no identity or
// interaction checks. Shares when E reaches the category's threshold.
class PlainBetaModel final : public ModelUnderTest {
 public:
  explicit PlainBetaModel(const trust::SharingPolicy& policy) : policy_(policy) {}
  void Approve(const std::string&, bool) override {}
  void LogInteraction(const trust::Interaction&) override {}
  void Rate(const trust::Rating& rating) override {
    auto& [r, s] = evidence_[rating.ratee];
    r += rating.score;
    s += 1.0 - rating.score;
  }
  void EndRound(std::int64_t) override {}
  double Estimate(const std::string&, const std::string& requester, std::int64_t) override {
    auto it = evidence_.find(requester);
    if (it == evidence_.end()) return 0.5;
    return (it->second.first + 1.0) / (it->second.first + it->second.second + 2.0);
  }
  bool Allow(const std::string&, const std::string&, DataCategory category, double, double estimate,
             const std::set<DataCategory>& consents) override {
    return consents.contains(category) && estimate >= policy_.For(category).min_trust;
  }

 private:
  std::unordered_map<std::string, std::pair<double, double>> evidence_;
  trust::SharingPolicy policy_;
};

// EigenTrust (Kamvar, Schlosser & Garcia-Molina 2003): local trust s_ij = sat - unsat of i's
// ratings of j, c_ij = max(s_ij, 0) normalised per rater (the pre-trust vector p for a rater
// with none), t = (1 - a) C^T t + a p with the clinicians as pre-trusted peers, a = 0.15, 30
// iterations per round. The global t_j (summing to 1) is taken relative to the average
// identity outside the pre-trusted set (x = 1 is average) and mapped to [0, 1] by x / (1 + x).
// Shares when x is at least 1 (vitals summary), 1.5 (diagnoses) or 2 (full record) times the
// average; no identity or interaction checks.
class EigenTrustModel final : public ModelUnderTest {
 public:
  explicit EigenTrustModel(const std::array<double, 3>& multiples) : multiples_(multiples) {}
  void Approve(const std::string& id, bool clinician) override {
    const int index = IndexOf(id);
    if (clinician) pretrusted_.insert(index);
  }
  void LogInteraction(const trust::Interaction&) override {}
  void Rate(const trust::Rating& rating) override {
    const int i = IndexOf(rating.rater);
    const int j = IndexOf(rating.ratee);
    local_[i][j] += rating.score >= 0.5 ? 1.0 : -1.0;
  }
  void EndRound(std::int64_t) override {
    const std::size_t n = ids_.size();
    std::vector<double> p(n, 0.0);
    for (int k : pretrusted_)
      p[static_cast<std::size_t>(k)] = 1.0 / static_cast<double>(pretrusted_.size());
    std::vector<double> t = trust_.size() == n ? trust_ : p;
    for (int iter = 0; iter < 30; ++iter) {
      std::vector<double> next(n, 0.0);
      for (std::size_t i = 0; i < n; ++i) {
        if (t[i] == 0) continue;
        double total = 0;
        auto row = local_.find(static_cast<int>(i));
        if (row != local_.end()) {
          for (const auto& [j, s] : row->second) total += std::max(s, 0.0);
        }
        if (total <= 0) {
          for (std::size_t k = 0; k < n; ++k) next[k] += t[i] * p[k];
          continue;
        }
        for (const auto& [j, s] : row->second) {
          if (s > 0) next[static_cast<std::size_t>(j)] += t[i] * s / total;
        }
      }
      for (std::size_t k = 0; k < n; ++k) next[k] = (1 - kAlpha) * next[k] + kAlpha * p[k];
      t = std::move(next);
    }
    trust_ = std::move(t);
  }
  double Estimate(const std::string&, const std::string& requester, std::int64_t) override {
    auto it = index_.find(requester);
    if (it == index_.end() || static_cast<std::size_t>(it->second) >= trust_.size()) return 0;
    // Relative to the average identity outside the pre-trusted set: 1 is average.
    double pretrusted_mass = 0;
    for (int k : pretrusted_) pretrusted_mass += trust_[static_cast<std::size_t>(k)];
    const double others = static_cast<double>(ids_.size() - pretrusted_.size());
    const double relative = pretrusted_mass < 1 ? trust_[static_cast<std::size_t>(it->second)] *
                                                      others / (1.0 - pretrusted_mass)
                                                : 0;
    return relative / (1.0 + relative);
  }
  bool Allow(const std::string&, const std::string&, DataCategory category, double, double estimate,
             const std::set<DataCategory>& consents) override {
    // By default at least the average for a vitals summary, 1.5 times for diagnoses, twice for
    // a record.
    const double times = multiples_[static_cast<std::size_t>(category)];
    return consents.contains(category) && estimate >= times / (1.0 + times) - 1e-12;
  }

 private:
  static constexpr double kAlpha = 0.15;
  std::array<double, 3> multiples_;
  int IndexOf(const std::string& id) {
    auto [it, inserted] = index_.emplace(id, static_cast<int>(ids_.size()));
    if (inserted) ids_.push_back(id);
    return it->second;
  }
  std::unordered_map<std::string, int> index_;
  std::vector<std::string> ids_;
  std::set<int> pretrusted_;
  std::map<int, std::map<int, double>> local_;
  std::vector<double> trust_;
};

std::unique_ptr<ModelUnderTest> NewModel(
    TrustModelKind kind, const TrustSimOptions& options,
    std::function<double(const std::string&, const std::string&)> similarity) {
  switch (kind) {
    case TrustModelKind::kOurs: {
      trust::TrustParams params = options.ours;
      if (!options.probation) params.probation_quantile = 0;
      return std::make_unique<OurModel>(params, options.policy, std::move(similarity));
    }
    case TrustModelKind::kPlainBeta: return std::make_unique<PlainBetaModel>(options.policy);
    case TrustModelKind::kEigenTrust:
      return std::make_unique<EigenTrustModel>(options.eigentrust_multiples);
  }
  return nullptr;
}

// --- one run -----------------------------------------------------------------------------------

struct Counts {
  long requests = 0;
  long malicious_requests = 0;
  long shares = 0;
  long exposures = 0;
  long honest_refused = 0;
  double error_sum = 0;
  long by_attack[5] = {0, 0, 0, 0, 0};
  void Add(const Counts& o) {
    for (int k = 0; k < 5; ++k) by_attack[k] += o.by_attack[k];
    requests += o.requests;
    malicious_requests += o.malicious_requests;
    shares += o.shares;
    exposures += o.exposures;
    honest_refused += o.honest_refused;
    error_sum += o.error_sum;
  }
};

double Ratio(long a, long b) { return static_cast<double>(a) / static_cast<double>(b); }

TrustSimRow RowOf(TrustModelKind model, double fraction, std::string scope, int round,
                  const Counts& c) {
  TrustSimRow row;
  row.model = model;
  row.malicious_fraction = fraction;
  row.scope = std::move(scope);
  row.round = round;
  row.requests = c.requests;
  row.malicious_requests = c.malicious_requests;
  row.shares = c.shares;
  row.exposures = c.exposures;
  row.honest_refused = c.honest_refused;
  for (int k = 0; k < 5; ++k) row.exposures_by_attack[k] = c.by_attack[k];
  const long honest = c.requests - c.malicious_requests;
  row.exposure_rate = c.shares > 0 ? Ratio(c.exposures, c.shares) : 0;
  row.malicious_allowed_rate =
      c.malicious_requests > 0 ? Ratio(c.exposures, c.malicious_requests) : 0;
  row.honest_refusal_rate = honest > 0 ? Ratio(c.honest_refused, honest) : 0;
  row.trust_error = c.requests > 0 ? c.error_sum / static_cast<double>(c.requests) : 0;
  return row;
}

class Run {
 public:
  Run(const std::vector<Person>& people, double fraction, TrustModelKind kind,
      const TrustSimOptions& options, std::uint64_t seed)
      : people_(people),
        prng_(seed),
        onboarding_(options.onboarding_consultation),
        onboarding_prng_(seed ^ 0x0b0a4d1e5ULL) {
    const int n = static_cast<int>(people.size());
    // Roles: the same permutation for every model and fraction of a seed.
    Prng roles_prng(seed ^ 0x5eed0f501e5ULL);
    std::vector<int> order(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) order[static_cast<std::size_t>(i)] = i;
    for (int i = n - 1; i > 0; --i) {
      std::swap(order[static_cast<std::size_t>(i)],
                order[roles_prng.Below(static_cast<std::uint64_t>(i) + 1)]);
    }
    roles_.assign(static_cast<std::size_t>(n), Role::kHonest);
    const int malicious = static_cast<int>(std::lround(fraction * n));
    // Split: bad-mouthing 25 %, collusion rings 25 %, on-off 20 %, whitewashing 15 %, Sybil 15 %.
    for (int k = 0; k < malicious; ++k) {
      const double u = (k + 0.5) / malicious;
      Role role = u < 0.25   ? Role::kBadMouther
                  : u < 0.5  ? Role::kColluder
                  : u < 0.7  ? Role::kOnOff
                  : u < 0.85 ? Role::kWhitewasher
                             : Role::kSybilMaker;
      roles_[static_cast<std::size_t>(order[static_cast<std::size_t>(k)])] = role;
    }
    ring_.assign(static_cast<std::size_t>(n), -1);
    int colluders = 0;
    for (int i = 0; i < n; ++i) {
      if (roles_[static_cast<std::size_t>(i)] != Role::kColluder) continue;
      ring_[static_cast<std::size_t>(i)] = colluders++ / kRingSize;
      rings_.resize(static_cast<std::size_t>(ring_[static_cast<std::size_t>(i)]) + 1);
      rings_[static_cast<std::size_t>(ring_[static_cast<std::size_t>(i)])].push_back(i);
    }
    onoff_offset_.resize(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
      onoff_offset_[static_cast<std::size_t>(i)] = static_cast<int>(roles_prng.Below(kOnOffPeriod));
    }
    identity_.resize(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
      identity_[static_cast<std::size_t>(i)] = "p" + std::to_string(i);
      patient_of_[identity_[static_cast<std::size_t>(i)]] = i;
    }
    clinicians_ = std::max(1, n / kPatientsPerClinician);

    model_ = NewModel(kind, options, [this](const std::string& a, const std::string& b) {
      return Similarity(a, b);
    });
    for (int c = 0; c < clinicians_; ++c) model_->Approve("c" + std::to_string(c), true);
    for (int i = 0; i < n; ++i) model_->Approve(identity_[static_cast<std::size_t>(i)], false);
  }

  // One round; returns its counts.
  Counts Round(int round) {
    const std::int64_t now = (round + 1) * kRoundMs;
    const int n = static_cast<int>(people_.size());
    Counts counts;

    // Consultations: the clinician rates the patient from what they saw.
    for (int i = 0; i < n; ++i) {
      const double u_visit = prng_.Uniform();
      const double u_good = prng_.Uniform();
      const double u_detect = prng_.Uniform();
      // An intake consultation at approval (onboarding) for every patient at the start.
      if (u_visit >= kConsultation && !(onboarding_ && round == 0)) continue;
      const std::string clinician = "c" + std::to_string(i % clinicians_);
      const bool misbehaved = u_good >= GoodProbability(i, round) && u_detect < kClinicianDetects;
      Interact(clinician, Id(i), now, misbehaved ? 0.0 : 1.0, -1.0);
    }

    // Collusion rings stage interactions and praise each other (ballot stuffing).
    for (const std::vector<int>& ring : rings_) {
      if (ring.size() < 2) continue;
      for (int member : ring) {
        for (int k = 0; k < 2; ++k) {
          int other = ring[prng_.Below(ring.size())];
          if (other == member) other = ring[(prng_.Below(ring.size() - 1) + 1) % ring.size()];
          if (other == member) continue;
          Interact(Id(member), Id(other), now, 1.0, 1.0);
        }
      }
    }

    // Sybils: unapproved identities rate their maker and each other with made-up interaction
    // ids (no logged interaction exists for them), and ask for data.
    for (int i = 0; i < n; ++i) {
      if (RoleOf(i) != Role::kSybilMaker) continue;
      for (int k = 0; k < kSybilsPerMaker; ++k) {
        const std::string sybil = SybilId(i, k);
        Unbacked(sybil, Id(i), now);
        Unbacked(sybil, SybilId(i, (k + 1) % kSybilsPerMaker), now);
      }
    }

    // Patients act: message a similar patient, or ask one for data.
    for (int i = 0; i < n; ++i) {
      const Person& me = people_[static_cast<std::size_t>(i)];
      const double u_act = prng_.Uniform();
      const double u_kind = prng_.Uniform();
      const std::uint64_t u_partner = prng_.NextU64();
      const std::uint64_t u_category = prng_.NextU64();
      const double u_me = prng_.Uniform();
      const double u_them = prng_.Uniform();
      const double u_sybil = prng_.Uniform();
      if (u_act >= kActivity || me.similar.empty()) continue;
      const auto& [j, similarity] = me.similar[u_partner % me.similar.size()];
      const bool i_good = u_me < GoodProbability(i, round);
      const bool j_good = u_them < GoodProbability(j, round);
      if (u_kind < 0.5) {
        // A message exchange; each side rates the other.
        const std::string id = NextInteraction();
        model_->LogInteraction({id, Id(i), Id(j), now});
        model_->Rate({id, Id(i), Id(j), RatingBy(i, j, j_good), now});
        model_->Rate({id, Id(j), Id(i), RatingBy(j, i, i_good), now});
        continue;
      }
      // A request from i (or, for a Sybil maker, from one of its Sybils) to the owner j.
      const Person& owner = people_[static_cast<std::size_t>(j)];
      std::vector<DataCategory> offered(owner.consents.begin(), owner.consents.end());
      const DataCategory category = offered[u_category % offered.size()];
      const bool from_sybil = RoleOf(i) == Role::kSybilMaker && u_sybil < 0.5;
      const std::string requester =
          from_sybil ? SybilId(i, static_cast<int>(u_partner % kSybilsPerMaker)) : Id(i);
      if (RoleOf(j) != Role::kHonest) continue;  // only honest owners' decisions are measured
      const bool malicious = RoleOf(i) != Role::kHonest;
      const double estimate = model_->Estimate(Id(j), requester, now);
      const bool allow =
          model_->Allow(Id(j), requester, category, similarity, estimate, owner.consents);
      ++counts.requests;
      if (malicious) ++counts.malicious_requests;
      // A Sybil behaves like its maker; its true trustworthiness is its maker's.
      counts.error_sum += std::fabs(estimate - GoodProbability(i, round));
      if (!allow) {
        if (!malicious) ++counts.honest_refused;
        continue;
      }
      ++counts.shares;
      if (malicious) {
        ++counts.exposures;
        ++counts.by_attack[static_cast<int>(RoleOf(i)) - 1];
      }
      if (from_sybil) continue;  // no interaction can be logged for an unapproved identity
      // The share is a logged interaction; the owner rates how the data was used.
      const std::string id = NextInteraction();
      model_->LogInteraction({id, Id(j), requester, now});
      model_->Rate({id, Id(j), requester, i_good ? 1.0 : 0.0, now});
      model_->Rate({id, requester, Id(j), RatingBy(i, j, j_good), now});
    }

    // Whitewashers take a new (approved) identity every so often.
    for (int i = 0; i < n; ++i) {
      if (RoleOf(i) != Role::kWhitewasher || (round + i) % kWhitewashEvery != 0 || round == 0) {
        continue;
      }
      std::string fresh = "p" + std::to_string(i) + "w" + std::to_string(round);
      patient_of_[fresh] = i;
      identity_[static_cast<std::size_t>(i)] = fresh;
      model_->Approve(fresh, false);
      if (onboarding_) {
        // The new identity's intake consultation, as at the start (drawn for every model alike,
        // from a generator of its own: the other draws of the run stay as without onboarding).
        const double u_good = onboarding_prng_.Uniform();
        const double u_detect = onboarding_prng_.Uniform();
        const bool misbehaved = u_good >= GoodProbability(i, round) && u_detect < kClinicianDetects;
        Interact("c" + std::to_string(i % clinicians_), fresh, now, misbehaved ? 0.0 : 1.0, -1.0);
      }
    }

    model_->EndRound(now);
    return counts;
  }

 private:
  Role RoleOf(int i) const { return roles_[static_cast<std::size_t>(i)]; }
  const std::string& Id(int i) const { return identity_[static_cast<std::size_t>(i)]; }
  static std::string SybilId(int maker, int k) {
    return "s" + std::to_string(maker) + "_" + std::to_string(k);
  }
  std::string NextInteraction() { return "x" + std::to_string(next_interaction_++); }

  double GoodProbability(int i, int round) const {
    switch (RoleOf(i)) {
      case Role::kHonest: return kHonestGood;
      case Role::kOnOff:
        return (round + onoff_offset_[static_cast<std::size_t>(i)]) % kOnOffPeriod < kOnOffGood
                   ? kHonestGood
                   : kMaliciousGood;
      default: return kMaliciousGood;
    }
  }

  // What rater i reports about ratee j, who behaved well (good) or not.
  double RatingBy(int i, int j, bool good) const {
    const bool honest_target = RoleOf(j) == Role::kHonest;
    switch (RoleOf(i)) {
      case Role::kBadMouther: return honest_target ? 0.0 : 1.0;
      case Role::kColluder:
        if (ring_[static_cast<std::size_t>(i)] >= 0 &&
            ring_[static_cast<std::size_t>(i)] == ring_[static_cast<std::size_t>(j)]) {
          return 1.0;
        }
        return honest_target ? 0.0 : 1.0;
      default: return good ? 1.0 : 0.0;
    }
  }

  // A logged interaction between a and b, rated by a (score_ab) and, if >= 0, by b.
  void Interact(const std::string& a, const std::string& b, std::int64_t now, double score_ab,
                double score_ba) {
    const std::string id = NextInteraction();
    model_->LogInteraction({id, a, b, now});
    model_->Rate({id, a, b, score_ab, now});
    if (score_ba >= 0) model_->Rate({id, b, a, score_ba, now});
  }
  void Unbacked(const std::string& rater, const std::string& ratee, std::int64_t now) {
    model_->Rate({"forged" + std::to_string(next_interaction_++), rater, ratee, 1.0, now});
  }

  // S between the patients behind two identities (0 for clinicians, Sybils, strangers).
  double Similarity(const std::string& a, const std::string& b) const {
    auto ia = patient_of_.find(a);
    auto ib = patient_of_.find(b);
    if (ia == patient_of_.end() || ib == patient_of_.end()) return 0;
    for (const auto& [k, s] : people_[static_cast<std::size_t>(ia->second)].similar) {
      if (k == ib->second) return s;
    }
    return 0;
  }

  const std::vector<Person>& people_;
  Prng prng_;
  bool onboarding_ = false;
  Prng onboarding_prng_;
  std::vector<Role> roles_;
  std::vector<int> ring_;
  std::vector<std::vector<int>> rings_;
  std::vector<int> onoff_offset_;
  std::vector<std::string> identity_;
  std::unordered_map<std::string, int> patient_of_;
  int clinicians_ = 1;
  long next_interaction_ = 0;
  std::unique_ptr<ModelUnderTest> model_;
};

std::string Fixed(double v, int decimals) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

}  // namespace

std::string_view TrustModelKindName(TrustModelKind kind) {
  switch (kind) {
    case TrustModelKind::kOurs: return "ours";
    case TrustModelKind::kPlainBeta: return "plain_beta";
    case TrustModelKind::kEigenTrust: return "eigentrust";
  }
  return "unknown";
}

std::vector<TrustSimRow> RunTrustSimulation(
    const TrustSimOptions& options, const std::function<void(long done, long total)>& progress) {
  std::vector<TrustSimRow> rows;
  if (options.patients < 2 || options.rounds < 1) return rows;
  const std::vector<Person> people = DrawPopulation(options);
  constexpr TrustModelKind kModels[] = {TrustModelKind::kOurs, TrustModelKind::kPlainBeta,
                                        TrustModelKind::kEigenTrust};
  const long total = static_cast<long>(options.malicious_fractions.size()) * 3L * options.rounds;
  long done = 0;
  bool convergence_done = false;
  for (double fraction : options.malicious_fractions) {
    const bool convergence =
        !convergence_done && std::fabs(fraction - options.convergence_fraction) < 1e-9;
    convergence_done = convergence_done || convergence;
    for (TrustModelKind kind : kModels) {
      // The same seed for every model: same population, roles and draws.
      Run run(people, fraction, kind, options, options.seed + 17);
      Counts all;
      Counts steady;
      for (int round = 0; round < options.rounds; ++round) {
        const Counts c = run.Round(round);
        all.Add(c);
        if (round >= options.rounds / 2) steady.Add(c);
        if (convergence) rows.push_back(RowOf(kind, fraction, "round", round, c));
        if (progress) progress(++done, total);
      }
      rows.push_back(RowOf(kind, fraction, "all", -1, all));
      rows.push_back(RowOf(kind, fraction, "steady", -1, steady));
    }
  }
  return rows;
}

std::vector<TrustSimSeedSummary> SummariseSeeds(const std::vector<std::vector<TrustSimRow>>& runs) {
  // (model, fraction, scope) -> the whole-run and steady rows of every seed, in the order of the
  // first seed.
  std::vector<TrustSimSeedSummary> out;
  using Key = std::tuple<int, long, std::string>;
  std::map<Key, std::vector<const TrustSimRow*>> by_key;
  auto key_of = [](TrustModelKind model, double fraction, const std::string& scope) {
    return Key{static_cast<int>(model), std::lround(fraction * 1000), scope};
  };
  for (const auto& rows : runs) {
    for (const TrustSimRow& r : rows) {
      if (r.scope != "steady" && r.scope != "all") continue;
      auto [it, inserted] = by_key.try_emplace(key_of(r.model, r.malicious_fraction, r.scope));
      if (inserted && &rows == &runs.front()) {
        TrustSimSeedSummary s;
        s.model = r.model;
        s.malicious_fraction = r.malicious_fraction;
        s.scope = r.scope;
        out.push_back(s);
      }
      it->second.push_back(&r);
    }
  }
  auto stats = [](const std::vector<const TrustSimRow*>& rows, double TrustSimRow::*field) {
    TrustSimStat st;
    if (rows.empty()) return st;
    st.min = st.max = rows.front()->*field;
    double sum = 0;
    for (const TrustSimRow* r : rows) {
      sum += r->*field;
      st.min = std::min(st.min, r->*field);
      st.max = std::max(st.max, r->*field);
    }
    st.mean = sum / static_cast<double>(rows.size());
    double sq = 0;
    for (const TrustSimRow* r : rows) sq += (r->*field - st.mean) * (r->*field - st.mean);
    st.sd = rows.size() > 1 ? std::sqrt(sq / static_cast<double>(rows.size() - 1)) : 0.0;
    return st;
  };
  for (TrustSimSeedSummary& s : out) {
    const auto& rows = by_key[key_of(s.model, s.malicious_fraction, s.scope)];
    s.seeds = static_cast<int>(rows.size());
    s.exposure_rate = stats(rows, &TrustSimRow::exposure_rate);
    s.honest_refusal_rate = stats(rows, &TrustSimRow::honest_refusal_rate);
    s.trust_error = stats(rows, &TrustSimRow::trust_error);
  }
  return out;
}

std::string TrustSimSeedsCsv(const std::vector<TrustSimSeedSummary>& summaries) {
  std::string out = std::string(kTrustSimSeedsCsvHeader) + "\n";
  for (const TrustSimSeedSummary& s : summaries) {
    out += std::string(TrustModelKindName(s.model)) + "," + Fixed(s.malicious_fraction, 2) + "," +
           s.scope + "," + std::to_string(s.seeds);
    for (const TrustSimStat* st : {&s.exposure_rate, &s.honest_refusal_rate, &s.trust_error}) {
      out += "," + Fixed(st->mean, 4) + "," + Fixed(st->sd, 4) + "," + Fixed(st->min, 4) + "," +
             Fixed(st->max, 4);
    }
    out += "\n";
  }
  return out;
}

std::string TrustSimCsv(const std::vector<TrustSimRow>& rows) {
  std::string out = std::string(kTrustSimCsvHeader) + "\n";
  for (const TrustSimRow& r : rows) {
    out += std::string(TrustModelKindName(r.model)) + "," + Fixed(r.malicious_fraction, 2) + "," +
           r.scope + "," + (r.round >= 0 ? std::to_string(r.round) : std::string()) + "," +
           std::to_string(r.requests) + "," + std::to_string(r.malicious_requests) + "," +
           std::to_string(r.shares) + "," + std::to_string(r.exposures) + "," +
           std::to_string(r.honest_refused) + "," + Fixed(r.exposure_rate, 4) + "," +
           Fixed(r.malicious_allowed_rate, 4) + "," + Fixed(r.honest_refusal_rate, 4) + "," +
           Fixed(r.trust_error, 4);
    for (long e : r.exposures_by_attack) out += "," + std::to_string(e);
    out += "\n";
  }
  return out;
}

std::vector<NamedSvg> TrustSimFigures(const std::vector<TrustSimRow>& rows,
                                      double convergence_fraction,
                                      const std::vector<TrustSimSeedSummary>& seeds) {
  struct Metric {
    const char* file;
    const char* title;
    const char* axis;
    double TrustSimRow::*field;
    TrustSimStat TrustSimSeedSummary::*stat;
    double goal;  // < 0: none
  };
  const Metric metrics[] = {
      {"exposure", "Shares that exposed data to a malicious requester", "exposure rate",
       &TrustSimRow::exposure_rate, &TrustSimSeedSummary::exposure_rate, 0.05},
      {"honest_refusal", "Honest requests refused", "refusal rate",
       &TrustSimRow::honest_refusal_rate, &TrustSimSeedSummary::honest_refusal_rate, 0.10},
      {"trust_error", "Trust-estimate error", "mean |estimate - truth|", &TrustSimRow::trust_error,
       &TrustSimSeedSummary::trust_error, -1},
  };
  const std::string sweep_scope =
      seeds.empty() ? std::string(" (whole run)")
                    : " (whole run, mean of " + std::to_string(seeds.front().seeds) + " seeds)";
  constexpr TrustModelKind kModels[] = {TrustModelKind::kOurs, TrustModelKind::kPlainBeta,
                                        TrustModelKind::kEigenTrust};
  std::vector<NamedSvg> out;
  for (const Metric& m : metrics) {
    LineChart sweep;
    sweep.title = std::string(m.title) + sweep_scope;
    sweep.x_label = "malicious fraction of patients";
    sweep.y_label = m.axis;
    LineChart over_time;
    over_time.title =
        std::string(m.title) + " at " + Fixed(convergence_fraction * 100, 0) + " % malicious";
    over_time.x_label = "round (day)";
    over_time.y_label = m.axis;
    if (m.goal >= 0) {
      sweep.goal_y = over_time.goal_y = m.goal;
      sweep.goal_label = over_time.goal_label = "goal " + Fixed(m.goal * 100, 0) + " %";
    }
    for (TrustModelKind kind : kModels) {
      PlotSeries s{std::string(TrustModelKindName(kind)), {}};
      PlotSeries t{std::string(TrustModelKindName(kind)), {}};
      for (const TrustSimRow& r : rows) {
        if (r.model != kind) continue;
        if (r.scope == "all" && seeds.empty()) {
          s.points.emplace_back(r.malicious_fraction, r.*m.field);
        }
        if (r.scope == "round") t.points.emplace_back(r.round, r.*m.field);
      }
      for (const TrustSimSeedSummary& summary : seeds) {
        if (summary.model == kind && summary.scope == "all") {
          s.points.emplace_back(summary.malicious_fraction, (summary.*m.stat).mean);
        }
      }
      sweep.series.push_back(std::move(s));
      over_time.series.push_back(std::move(t));
    }
    out.push_back({std::string(m.file) + "_vs_fraction.svg", RenderSvg(sweep)});
    out.push_back({std::string(m.file) + "_over_time.svg", RenderSvg(over_time)});
  }
  return out;
}

}  // namespace medmesh::eval

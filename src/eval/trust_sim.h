// `medmesh eval trust`: a seeded, reproducible simulation of patients sharing data inside a
// cloudlet, comparing the trust model of src/trust with two baselines written here, plain Beta
// reputation and EigenTrust, on the same runs (docs/trust.md "Evaluation" has the method and
// its assumptions).
//
// Population: `patients` patients with the demo's disease profiles (wearable::Profile) in a
// realistic mix, ICD-10 codes with comorbidities, symptoms, and vitals from the wearable
// simulator's personal baselines (wearable::Simulator traits); one clinician per 40 patients.
// A fraction of the patients is malicious, split over the attacks: bad-mouthing, collusion
// rings (ballot stuffing), on-off, whitewashing and Sybil identities. Every round each patient
// may message a similar patient (a logged, rated interaction), see their clinician (a rated
// consultation) or request a data category from a similar patient, whose owner (if honest)
// decides with the model under test; shared data is misused by malicious requesters in their
// bad phase, and the owner rates accordingly.
//
// Every random draw of a round is made whatever a model decides, so the three models see the
// same population, roles and request sequence; only the consequences of their decisions
// differ. Same options, same rows, same CSV, on a given build.
//
// Pure computation: no I/O, no clock, no threads (the caller writes the files).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "trust/decision.h"
#include "trust/trust_model.h"

namespace medmesh::eval {

enum class TrustModelKind { kOurs, kPlainBeta, kEigenTrust };
std::string_view TrustModelKindName(TrustModelKind kind);  // "ours", "plain_beta", "eigentrust"

struct TrustSimOptions {
  std::uint64_t seed = 1;
  int patients = 1000;
  int rounds = 60;
  // The malicious fractions of the sweep; the first run at `convergence_fraction` also gives the
  // per-round rows.
  std::vector<double> malicious_fractions = {0.0, 0.1, 0.2, 0.3, 0.4, 0.5};
  double convergence_fraction = 0.3;
  // Our model's parameters and thresholds (the library's defaults unless an ablation changes
  // them). The baselines use `policy`'s thresholds on their own estimates.
  trust::TrustParams ours;
  trust::SharingPolicy policy;
  // EigenTrust's thresholds: the multiple of the average non-pre-trusted identity's global trust
  // needed for a vitals summary, diagnoses and a full record.
  std::array<double, 3> eigentrust_multiples = {1.0, 1.5, 2.0};
  // Hospital-approved onboarding as evidence (docs/trust.md "Cold start", ADR 0049): when an
  // identity is approved (at the start, and each whitewasher's new identity), its clinician sees
  // the patient once, an intake consultation rated like every consultation (the clinician
  // notices misbehaviour half the time). Every model gets the same evidence, attackers too. On by
  // default, because approving an identity is what a hospital does; false gives the runs
  // without it (`--no-onboarding`).
  bool onboarding_consultation = true;
  // Our model's probation against on-off behaviour (TrustParams::probation_*, ADR 0056); false
  // runs ours without it (the ablation, `--no-probation`), whatever `ours` says.
  bool probation = true;
};

// One row of the CSV. scope "round": one round of one run; "steady": the second half of a run
// (after the warm-up); "all": the whole run.
struct TrustSimRow {
  TrustModelKind model = TrustModelKind::kOurs;
  double malicious_fraction = 0;
  std::string scope;
  int round = -1;                     // scope "round" only
  long requests = 0;                  // decided by honest owners
  long malicious_requests = 0;        // ... from malicious requesters (Sybils included)
  long shares = 0;                    // allowed
  long exposures = 0;                 // allowed to a malicious requester
  long honest_refused = 0;            // honest requesters refused
  double exposure_rate = 0;           // exposures / shares (0 without shares)
  double malicious_allowed_rate = 0;  // exposures / malicious_requests
  double honest_refusal_rate = 0;     // honest_refused / honest requests
  double trust_error = 0;             // mean |estimate - true trustworthiness| over the decisions
  // Exposures by the requester's attack: bad-mouthing, collusion ring, on-off, whitewashing,
  // Sybil (the maker or one of its Sybils).
  long exposures_by_attack[5] = {0, 0, 0, 0, 0};
};

// Runs the sweep for every model. `progress(done, total)` is called after each simulated round
// (total = fractions x models x rounds). Rows: per fraction and model "all" and "steady", plus
// "round" rows for the convergence fraction.
std::vector<TrustSimRow> RunTrustSimulation(
    const TrustSimOptions& options, const std::function<void(long done, long total)>& progress);

// The CSV: a header line, then one line per row, fixed decimals.
inline constexpr char kTrustSimCsvHeader[] =
    "model,malicious_fraction,scope,round,requests,malicious_requests,shares,exposures,"
    "honest_refused,exposure_rate,malicious_allowed_rate,honest_refusal_rate,trust_error,"
    "exposures_badmouthing,exposures_collusion,exposures_onoff,exposures_whitewashing,"
    "exposures_sybil";
std::string TrustSimCsv(const std::vector<TrustSimRow>& rows);

// Several seeds of the same sweep: for each model, fraction and scope ("all", the whole run,
// and "steady", its second half), the mean, sample standard deviation, minimum and maximum over
// the seeds of the rates.
struct TrustSimStat {
  double mean = 0;
  double sd = 0;
  double min = 0;
  double max = 0;
};
struct TrustSimSeedSummary {
  TrustModelKind model = TrustModelKind::kOurs;
  double malicious_fraction = 0;
  std::string scope;  // "all" or "steady"
  int seeds = 0;
  TrustSimStat exposure_rate;
  TrustSimStat honest_refusal_rate;
  TrustSimStat trust_error;
};
// `runs` holds one RunTrustSimulation result per seed; rows in the first run's order.
std::vector<TrustSimSeedSummary> SummariseSeeds(const std::vector<std::vector<TrustSimRow>>& runs);
inline constexpr char kTrustSimSeedsCsvHeader[] =
    "model,malicious_fraction,scope,seeds,exposure_mean,exposure_sd,exposure_min,exposure_max,"
    "refusal_mean,refusal_sd,refusal_min,refusal_max,error_mean,error_sd,error_min,error_max";
std::string TrustSimSeedsCsv(const std::vector<TrustSimSeedSummary>& summaries);

// The figures, as SVG documents: name -> content ("exposure_vs_fraction.svg", ...).
struct NamedSvg {
  std::string name;
  std::string svg;
};
// The sweeps (rate against malicious fraction) plot the whole runs: `rows`' "all" rows, or, when
// `seeds` is not empty, their mean over the seeds; the convergence figures plot `rows`' per-round
// rows.
std::vector<NamedSvg> TrustSimFigures(const std::vector<TrustSimRow>& rows,
                                      double convergence_fraction,
                                      const std::vector<TrustSimSeedSummary>& seeds = {});

}  // namespace medmesh::eval

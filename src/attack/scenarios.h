// The red-team scenarios of `medmesh attack` (issue 11, docs/attack.md, ADR 0036): attacks on a
// running deployment, each of which prints what it tries, what the system answered (status
// codes), what the attacked node's IDS says it saw (its alerts and decisions, read back from
// GET /api/v1/ids/alerts and /api/v1/ids/decisions with the node's operator token, never
// guessed), and a verdict:
//   BLOCKED   the node holds an active block or throttle decision on the attack's scope (its
//             source address, or the device it abused)
//   DETECTED  the node raised an alert on that scope (or, for database tampering, the integrity
//             check reported the altered record) but imposes no block
//   MISSED    neither
//   SKIPPED   the scenario cannot run here (a secret it needs is not given)
// The lying peer's verdict is DETECTED when the target received its lies and blocked no one,
// MISSED when an innocent address was blocked.
//
// Sources: every scenario sends its attack traffic from its own loopback address,
// `first_source` + its index in Scenarios() (127.0.0.10, .11, ... by default), so that a block
// one scenario earns does not answer for the next, and never from 127.0.0.1, which the IDS
// alerts on but never blocks and which honest traffic on the host uses. Setting-up steps that a
// real attacker would have done elsewhere (enrolling its own device, an operator withdrawing
// it, capturing a batch) and the IDS read-back go from the system's default source.
//
// WARNING: run it only against a demo or test deployment. The scenarios enrol devices for a
// made-up patient (their one stored batch reaches the cloud), fail logins (which the cloud's
// login throttle counts), and the tampering scenario writes to the cloud's records.db while
// the cloud runs (it puts the original bytes back afterwards).
// Thread safety: RunScenario may not run concurrently against the same deployment.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/random.h"
#include "core/status.h"

namespace medmesh::attack {

enum class Verdict { kBlocked, kDetected, kMissed, kSkipped };
std::string_view VerdictName(Verdict verdict);  // "BLOCKED", ...

// What the attacker holds. Only the URLs are required; a scenario whose secret is missing is
// SKIPPED.
struct AttackTarget {
  std::string cloud_url;                // "http://127.0.0.1:8080"
  std::string cloudlet_url;             // "http://127.0.0.1:8081"
  std::string cloudlet_operator_token;  // read-back of the cloudlet's IDS; withdrawal
  std::string cloud_operator_token;     // read-back of the cloud's IDS; GET /api/v1/integrity
  std::string enrol_token;              // the cloudlet's device enrolment token
  std::filesystem::path root_certificate_file;  // to verify the cloudlet's certificate
  std::filesystem::path cloud_data_dir;         // the cloud's data folder (SQLite records.db)
  // A mesh peer of the target cloudlet whose node key was stolen (the lying peer).
  std::string peer_id;
  std::filesystem::path peer_key_file;
  std::filesystem::path peer_certificate_file;
  struct Login {
    std::string login;
    std::string password;
    std::string role;  // "patient", "doctor", "operator", "admin"
  };
  std::vector<Login> logins;  // known accounts (the demo's seeded logins)
  std::string first_source = "127.0.0.10";
  std::chrono::milliseconds timeout{15'000};  // per request
};

// Fills `target` from a demo folder (docs/demo.md "The folder"): the operator and enrol tokens
// of the cloudlet whose config listens on `target.cloudlet_url`'s port (cloudlet-1 if none
// does), the cloud's operator token and data folder, root/root.cert and demo-logins.json.
// the first of the target's mesh peers whose node.key and node.cert are in the folder (the
// lying peer's stolen identity). Missing files leave their member empty. kInvalidArgument for a bad
// cloudlet URL, kNotFound if `dir` has no root/root.cert.
Status LoadDeployment(const std::filesystem::path& dir, AttackTarget& target);

struct ScenarioInfo {
  std::string_view name;
  std::string_view tries;     // one line: what it sends
  std::string_view detector;  // the detector that should fire
  std::string_view node;      // "cloudlet" or "cloud"
};
// Every scenario, in the order `all` runs them (the index fixes each one's source address).
const std::vector<ScenarioInfo>& Scenarios();

struct ScenarioResult {
  std::string name;
  Verdict verdict = Verdict::kMissed;
  std::string source;
};

using PrintLine = std::function<void(const std::string& line)>;

// Runs the scenario called `name`, printing its story line by line through `print`, the last
// line being "verdict: <name> <VERDICT>". kInvalidArgument for an unknown name or a bad
// address; an unreachable node is not an error (the scenario prints it and is MISSED).
Result<ScenarioResult> RunScenario(std::string_view name, const AttackTarget& target,
                                   Random& random, const Clock& clock, const PrintLine& print);

}  // namespace medmesh::attack

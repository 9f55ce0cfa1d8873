// The people and workflows `medmesh demo` seeds into a fresh demo deployment, so that every
// workflow of issue 8 is visible at once (docs/demo.md "Seeded accounts"):
//
//   admin      one; the demo makes it with `medmesh admin create` itself (before SeedAccounts)
//   operators  one per cloudlet (POST /api/v1/admin/operators)
//   patients   one per simulated wearable, registered over HTTP with the simulated person's
//              profile and photo and approved by the admin; the ward's device then uses the
//              patient id the account carries ("linked"); plus one registration left pending
//   doctors    several approved, one left pending
//   workflows  every linked patient asks their ward's cloudlet for portal access and its
//              operator approves (1); most patients send their record to a doctor (3); the
//              doctors answer all grants but one, with diagnosis, medication and most with a
//              prescription (4); one grant is revoked after its answer; one doctor has enough
//              patients that the referral chart shows a bar (7)
//
// Everything goes through the real services: the admin through `medmesh admin create`, the rest
// through the cloud's JSON API (the same routes a person would use). Passwords are
// random per demo folder (never a default), kept with the logins in a 0600 JSON file of the
// demo folder (SaveDemoSeed) so that a restart prints the same logins.
//
// Every step is idempotent: it first asks the API what exists (an e-mail already registered,
// an activation already requested, a patient who already has a grant, a grant already
// answered) and does only what is missing, so seeding that was interrupted resumes and
// seeding twice creates nothing new. DemoSeed::complete marks a finished seeding; the demo
// does not seed again then.
// Calls that do not depend on each other (the logins) run concurrently, at most
// kConcurrentSeedCalls at once; the registrations stay in the plan's order (the cloud lists
// accounts by creation time). Thread safety: one seeding at a time. Nothing here logs ids or
// passwords; errors say which step failed, never whom.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "accounts/principal.h"
#include "core/clock.h"
#include "core/random.h"
#include "core/status.h"
#include "net/http_client.h"
#include "wearable/simulator.h"

namespace medmesh::demo {

// At most this many of the seeding's HTTP calls are in flight at once (the cloud's login pool
// runs one Argon2id verification per core and queues a few more).
inline constexpr std::size_t kConcurrentSeedCalls = 4;

// One simulated wearable of the demo: its ward's cloudlet, device id, profile and seed.
struct DemoDevice {
  std::string device_id;
  wearable::Profile profile = wearable::Profile::kHealthy;
  std::uint64_t seed = 1;
};

struct DemoWard {
  std::string cloudlet_id;  // the cloudlet nearest to the ward
  std::vector<DemoDevice> devices;
};

// The demo's layout: `cloudlets` wards of four wearables each ("wearable-01", ...), one of
// each disease profile per ward, seeds 1, 2, ... (what `medmesh demo` runs).
std::vector<DemoWard> DemoWards(int cloudlets);

// One seeded account and the part it plays.
struct DemoAccount {
  accounts::Role role = accounts::Role::kPatient;
  std::string login;  // e-mail, lower-case
  std::string password;
  std::string display_name;
  bool approved = true;     // false: left pending for the admin to decide
  std::string cloudlet_id;  // operators: their cloudlet; linked patients: their ward's
  // Doctors.
  std::string licence_number;
  std::string speciality;
  std::string hospital;
  // Linked patients (device_id empty for the pending registration).
  std::string device_id;
  wearable::Profile profile = wearable::Profile::kHealthy;
  std::uint64_t seed = 0;
  std::string doctor_login;   // sends their record to this doctor ("" no grant)
  bool answered = false;      // the doctor answers the grant
  bool prescription = false;  // ... with a prescription
  bool revoked = false;       // the patient revokes the grant after the answer
  // Learnt from the first login (empty until then).
  std::string account_id;
  std::string patient_id;
};

struct DemoSeed {
  std::vector<DemoAccount> accounts;  // the admin first
  bool complete = false;
};

// A new plan for `wards` with fresh random passwords (16 base32 characters in four groups).
DemoSeed NewDemoSeed(const std::vector<DemoWard>& wards, Random& random);

// The seed file: JSON, written atomically with mode 0600. Load: nullopt if the file does not
// exist; kDataLoss if it is not a seed file.
[[nodiscard]] Status SaveDemoSeed(const std::filesystem::path& file, const DemoSeed& seed);
[[nodiscard]] Result<std::optional<DemoSeed>> LoadDemoSeed(const std::filesystem::path& file);

// The sessions one seeding opened (bearer tokens, in memory only, never in the seed file),
// shared by the SeedAccounts and SeedWorkflows calls of one SeedContext: the workflows then do
// not log in again whom the accounts step logged in (each login is an Argon2id verification at
// the cloud, with its production cost). A token that ended (after 15 minutes) is replaced by a
// new login. Thread safety: thread-safe.
class SeedSessions {
 public:
  std::optional<std::string> Find(const std::string& login) const;
  void Put(const std::string& login, std::string token);
  void Forget(const std::string& login);

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::string> tokens_;  // guarded by mu_
};

struct SeedContext {
  net::HttpClient& client;
  const Clock& clock;     // the patients' birth dates are ages at registration
  std::string cloud_url;  // "http://127.0.0.1:8080"
  // The record id a device sent (what the patient's device tells them), nullopt until it has.
  std::function<std::optional<std::string>(const std::string& device_id)> record_id_of;
  // Waits about `d` between retries; false means stop now (the demo: a termination signal).
  // Called from several threads at once (the concurrent logins, see the top of the file).
  std::function<bool(std::chrono::milliseconds d)> pause;
  // How long a step waits for data to reach the cloud, or for a busy login gate.
  std::chrono::milliseconds timeout = std::chrono::minutes(2);
  // The seeding's sessions (copies of the context share them).
  std::shared_ptr<SeedSessions> sessions = std::make_shared<SeedSessions>();
};

// Operators, registrations, approvals; then every approved account logs in once, which fills
// account_id and patient_id. Needs the plan's admin account and a running cloud. Errors:
// kUnavailable (cloud unreachable, timed out, stopped) or the API's error of the failing step.
[[nodiscard]] Status SeedAccounts(const SeedContext& context, DemoSeed& seed);

// The workflows above. Needs SeedAccounts done and the linked patients' devices uploading (it
// waits, up to context.timeout per step, for their data and records to reach the cloud).
// Errors as SeedAccounts.
[[nodiscard]] Status SeedWorkflows(const SeedContext& context, const DemoSeed& seed);

// The banner's table: role, login, password and what each account shows, and where to log in.
void PrintDemoLogins(std::ostream& out, const DemoSeed& seed, const std::string& cloud_url);

}  // namespace medmesh::demo

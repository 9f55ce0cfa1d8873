// The demo's seeding (demo_seed.h). The plan is fixed (who exists, who sends what to whom);
// only the passwords are random. Every step asks the API first, so it can run again.
#include "apps/demo_seed.h"

#include <sodium.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdio>
#include <iomanip>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>
#include <utility>

#include "accounts/encoding.h"
#include "core/check.h"
#include "core/env.h"
#include "net/error_mapping.h"
#include "wearable/demo_record.h"
#include "wire/model.h"

namespace medmesh::demo {
namespace {

using Json = nlohmann::json;
using accounts::Role;

constexpr int kSeedFileVersion = 1;
constexpr std::size_t kMaxSeedFileBytes = 1 << 20;
constexpr std::string_view kDomain = "@demo.example.org";  // RFC 2606: never a real mailbox
// Between two looks for data that has not reached the cloud yet (a few cheap GETs each).
constexpr std::chrono::milliseconds kRetryPause{100};

constexpr wearable::Profile kWardProfiles[] = {
    wearable::Profile::kHypertension, wearable::Profile::kType2Diabetes, wearable::Profile::kCopd,
    wearable::Profile::kAtrialFibrillation};

struct DoctorSpec {
  const char* login;
  const char* name;
  const char* speciality;
  const char* licence;
};
// Fictional people; licence numbers marked DEMO.
constexpr DoctorSpec kDoctors[] = {
    {"dr.osei", "Dr Amara Osei", "cardiology", "DEMO-GMC-100231"},
    {"dr.brenner", "Dr Lukas Brenner", "endocrinology", "DEMO-GMC-100417"},
    {"dr.marquez", "Dr Sofia Marquez", "respiratory medicine", "DEMO-GMC-100582"},
    {"dr.whitfield", "Dr Jonah Whitfield", "general practice", "DEMO-GMC-100693"},
};
constexpr DoctorSpec kPendingDoctor = {"dr.raman", "Dr Priya Raman", "dermatology",
                                       "DEMO-GMC-100774"};
constexpr char kHospital[] = "Riverside General Hospital (demo)";

// What a doctor answers for each profile (fictional demo content, ICD-10 codes for realism).
struct AnswerSpec {
  const char* diagnosis;
  const char* medication;
  const char* drug;
  const char* dose;
  const char* frequency;
  const char* duration;
};
AnswerSpec AnswerFor(wearable::Profile profile) {
  switch (profile) {
    case wearable::Profile::kHypertension:
      return {"Essential (primary) hypertension (I10), stage 1 on the home readings.",
              "Take it in the morning. Measure your blood pressure at home twice a week and "
              "report ankle swelling or dizziness.",
              "Amlodipine",
              "5 mg",
              "once daily",
              "90 days"};
    case wearable::Profile::kType2Diabetes:
      return {"Type 2 diabetes mellitus without complications (E11.9).",
              "Take it with meals. Check your glucose before breakfast; HbA1c again in three "
              "months.",
              "Metformin",
              "500 mg",
              "twice daily",
              "90 days"};
    case wearable::Profile::kCopd:
      return {"Chronic obstructive pulmonary disease with acute exacerbation (J44.1).",
              "Inhale once a day at the same time. Keep the rescue inhaler with you; come in if "
              "your oxygen saturation stays under 90 %.",
              "Tiotropium",
              "18 micrograms",
              "once daily (inhaled)",
              "30 days"};
    case wearable::Profile::kAtrialFibrillation:
      return {"Paroxysmal atrial fibrillation (I48.0).",
              "An anticoagulant: do not skip doses, and tell your dentist. Report any unusual "
              "bleeding at once.",
              "Apixaban",
              "5 mg",
              "twice daily",
              "90 days"};
    default:
      return {"No acute findings on the shared record.",
              "Rest and fluids.",
              "Paracetamol",
              "500 mg",
              "up to four times daily",
              "5 days"};
  }
}

std::string TwoDigits(int n) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%02d", n);
  return buf;
}

// 16 base32 characters (80 random bits) in four groups: "k3vq-7xma-p2re-4hbn".
std::string NewPassword(Random& random) {
  const std::string id = accounts::NewId("", random);  // 26 base32 characters of 16 bytes
  return id.substr(0, 4) + "-" + id.substr(4, 4) + "-" + id.substr(8, 4) + "-" + id.substr(12, 4);
}

std::string Base64(ByteView data) {
  std::string out(sodium_base64_encoded_len(data.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), data.data(), data.size(),
                    sodium_base64_VARIANT_ORIGINAL);
  out.resize(out.size() - 1);  // the terminating NUL
  return out;
}

// --- The seed file ------------------------------------------------------------------------------

Json ToJson(const DemoAccount& a) {
  return {{"role", std::string(accounts::RoleName(a.role))},
          {"login", a.login},
          {"password", a.password},
          {"display_name", a.display_name},
          {"approved", a.approved},
          {"cloudlet_id", a.cloudlet_id},
          {"licence_number", a.licence_number},
          {"speciality", a.speciality},
          {"hospital", a.hospital},
          {"device_id", a.device_id},
          {"profile", std::string(wearable::ProfileName(a.profile))},
          {"seed", a.seed},
          {"doctor_login", a.doctor_login},
          {"answered", a.answered},
          {"prescription", a.prescription},
          {"revoked", a.revoked},
          {"account_id", a.account_id},
          {"patient_id", a.patient_id}};
}

Result<DemoAccount> FromJson(const Json& j) {
  if (!j.is_object()) return DataLoss("the demo seed file is not valid");
  DemoAccount a;
  try {
    const auto role = accounts::ParseRole(j.at("role").get<std::string>());
    const auto profile = wearable::ProfileFromName(j.at("profile").get<std::string>());
    if (!role || !profile) return DataLoss("the demo seed file is not valid");
    a.role = *role;
    a.profile = *profile;
    a.login = j.at("login").get<std::string>();
    a.password = j.at("password").get<std::string>();
    a.display_name = j.at("display_name").get<std::string>();
    a.approved = j.at("approved").get<bool>();
    a.cloudlet_id = j.at("cloudlet_id").get<std::string>();
    a.licence_number = j.at("licence_number").get<std::string>();
    a.speciality = j.at("speciality").get<std::string>();
    a.hospital = j.at("hospital").get<std::string>();
    a.device_id = j.at("device_id").get<std::string>();
    a.seed = j.at("seed").get<std::uint64_t>();
    a.doctor_login = j.at("doctor_login").get<std::string>();
    a.answered = j.at("answered").get<bool>();
    a.prescription = j.at("prescription").get<bool>();
    a.revoked = j.at("revoked").get<bool>();
    a.account_id = j.at("account_id").get<std::string>();
    a.patient_id = j.at("patient_id").get<std::string>();
  } catch (const Json::exception&) {
    return DataLoss("the demo seed file is not valid");
  }
  return a;
}

// --- HTTP ---------------------------------------------------------------------------------------

// The cloud's JSON API as the seeding uses it: bearer tokens, retries of a busy login gate.
class Api {
 public:
  explicit Api(const SeedContext& c) : c_(c) {}

  // Sends and returns the answer, whatever its status, except that 429 and 503 are retried
  // (after Retry-After, at most the context's timeout): the login gate is small on purpose.
  Result<net::Response> Call(net::Method method, const std::string& path, const Json* body,
                             const std::string& token = {}) {
    net::ClientRequest request;
    request.method = method;
    request.url = c_.cloud_url + path;
    if (body != nullptr) {
      request.body = body->dump();
      request.content_type = "application/json";
    }
    if (!token.empty()) request.headers.emplace_back("Authorization", "Bearer " + token);
    const auto deadline = std::chrono::steady_clock::now() + c_.timeout;
    while (true) {
      MEDMESH_ASSIGN_OR_RETURN(net::Response response, c_.client.Send(request));
      if (response.status != 429 && response.status != 503) return response;
      const net::Refusal refusal = net::DecodeRefusal(response);
      const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(
          refusal.retry_after.value_or(std::chrono::seconds(1)));
      if (std::chrono::steady_clock::now() + wait > deadline) return response;
      if (!c_.pause(wait)) return Unavailable("demo seeding stopped");
    }
  }
  // As `a`, with their session (logging them in first if the seeding has not yet).
  Result<net::Response> CallAs(const DemoAccount& a, net::Method method, const std::string& path,
                               const Json* body) {
    MEDMESH_ASSIGN_OR_RETURN(std::string token, Token(a));
    MEDMESH_ASSIGN_OR_RETURN(net::Response response, Call(method, path, body, token));
    if (response.status != 401) return response;
    // A session from earlier in the seeding that has ended: log in again, once.
    c_.sessions->Forget(a.login);
    MEDMESH_ASSIGN_OR_RETURN(token, Token(a));
    return Call(method, path, body, token);
  }
  Result<net::Response> Get(const std::string& path, const DemoAccount& as) {
    return CallAs(as, net::Method::kGet, path, nullptr);
  }
  Result<net::Response> Post(const std::string& path, const Json& body, const DemoAccount& as) {
    return CallAs(as, net::Method::kPost, path, &body);
  }
  // Without a session (registrations, logins).
  Result<net::Response> Post(const std::string& path, const Json& body) {
    return Call(net::Method::kPost, path, &body);
  }
  Result<net::Response> PostEmpty(const std::string& path, const DemoAccount& as) {
    return CallAs(as, net::Method::kPost, path, nullptr);
  }

  // The body of a response with one of the `ok` statuses, else its error, prefixed by `what`.
  static Result<Json> Expect(const Result<net::Response>& r, std::initializer_list<int> ok,
                             std::string_view what) {
    if (!r) return Error(r.error().code(), std::string(what) + ": " + r.error().message());
    if (std::find(ok.begin(), ok.end(), r->status) == ok.end()) {
      const Error e = net::ErrorFromResponse(*r);
      return Error(e.code(), std::string(what) + ": " + e.message());
    }
    Json body = Json::parse(r->body, nullptr, /*allow_exceptions=*/false);
    if (body.is_discarded()) body = Json::object();
    return body;
  }

  // Logs `a` in and keeps the session; the session's JSON (token, account_id, patient_id, ...).
  Result<Json> Login(const DemoAccount& a) {
    MEDMESH_ASSIGN_OR_RETURN(
        Json session,
        Expect(Post("/api/v1/session", {{"email", a.login}, {"password", a.password}}), {200},
               "logging in a demo " + std::string(accounts::RoleName(a.role))));
    std::string token = session.value("token", std::string());
    if (token.empty()) return Internal("a login answered no token");
    c_.sessions->Put(a.login, std::move(token));
    return session;
  }
  Result<std::string> Token(const DemoAccount& a) {
    if (std::optional<std::string> token = c_.sessions->Find(a.login)) return *std::move(token);
    MEDMESH_ASSIGN_OR_RETURN(const Json session, Login(a));
    return session.value("token", std::string());  // not empty (Login)
  }

  // Runs `step` until it reports done, pausing between tries, at most the context's timeout.
  Status Until(std::string_view what, const std::function<Result<bool>()>& step) {
    const auto deadline = std::chrono::steady_clock::now() + c_.timeout;
    while (true) {
      MEDMESH_ASSIGN_OR_RETURN(bool done, step());
      if (done) return OkStatus();
      if (std::chrono::steady_clock::now() >= deadline) {
        return Unavailable("demo seeding timed out waiting for " + std::string(what));
      }
      if (!c_.pause(kRetryPause)) return Unavailable("demo seeding stopped");
    }
  }

 private:
  const SeedContext& c_;
};

// Runs job(0) .. job(n - 1), at most kConcurrentSeedCalls at once (this thread is one of the
// workers); returns once all are done, with the first error by index.
Status ForEachConcurrently(std::size_t n, const std::function<Status(std::size_t)>& job) {
  std::vector<Status> outcomes(n, OkStatus());
  std::atomic<std::size_t> next{0};
  auto work = [&] {
    for (std::size_t i = next++; i < n; i = next++) outcomes[i] = job(i);
  };
  {
    std::vector<std::jthread> helpers;
    for (std::size_t t = 1; t < std::min(n, kConcurrentSeedCalls); ++t) helpers.emplace_back(work);
    work();
  }
  for (Status& outcome : outcomes) MEDMESH_RETURN_IF_ERROR(outcome);
  return OkStatus();
}

const DemoAccount* Find(const DemoSeed& seed, std::string_view login) {
  for (const DemoAccount& a : seed.accounts) {
    if (a.login == login) return &a;
  }
  return nullptr;
}

const DemoAccount& Admin(const DemoSeed& seed) {
  for (const DemoAccount& a : seed.accounts) {
    if (a.role == Role::kAdmin) return a;
  }
  MEDMESH_CHECK(false, "a demo seed has an admin (NewDemoSeed, LoadDemoSeed)");
  return seed.accounts.front();
}

bool Linked(const DemoAccount& a) {
  return a.role == Role::kPatient && a.approved && !a.device_id.empty();
}

Json RegistrationBody(const DemoAccount& a, std::int64_t now_ms) {
  if (a.role == Role::kDoctor) {
    return {{"email", a.login},
            {"password", a.password},
            {"display_name", a.display_name},
            {"licence_number", a.licence_number},
            {"speciality", a.speciality},
            {"hospital", a.hospital}};
  }
  // The simulated person behind the device (the same generator the device's record uses).
  const wearable::DemoIdentity id = wearable::GenerateDemoIdentity(a.seed, a.profile, now_ms);
  return {
      {"email", a.login},
      {"password", a.password},
      {"display_name", a.display_name},
      {"full_name", id.name},
      {"phone", id.phone},
      {"address", id.address},
      {"birth_date", id.birth_date},
      {"sex", id.sex},
      {"photo",
       {{"content_type", "image/png"}, {"data", Base64(wearable::GenerateAvatarPng(a.seed, 96))}}}};
}

}  // namespace

std::optional<std::string> SeedSessions::Find(const std::string& login) const {
  std::lock_guard lock(mu_);
  if (auto it = tokens_.find(login); it != tokens_.end()) return it->second;
  return std::nullopt;
}

void SeedSessions::Put(const std::string& login, std::string token) {
  std::lock_guard lock(mu_);
  tokens_[login] = std::move(token);
}

void SeedSessions::Forget(const std::string& login) {
  std::lock_guard lock(mu_);
  tokens_.erase(login);
}

std::vector<DemoWard> DemoWards(int cloudlets) {
  std::vector<DemoWard> wards;
  for (int w = 1; w <= cloudlets; ++w) {
    DemoWard ward;
    ward.cloudlet_id = "cloudlet-" + std::to_string(w);
    for (int d = 0; d < 4; ++d) {
      const int n = (w - 1) * 4 + d + 1;
      ward.devices.push_back(
          {"wearable-" + TwoDigits(n), kWardProfiles[d], static_cast<std::uint64_t>(n)});
    }
    wards.push_back(std::move(ward));
  }
  return wards;
}

DemoSeed NewDemoSeed(const std::vector<DemoWard>& wards, Random& random) {
  DemoSeed seed;
  auto add = [&](Role role, std::string login, std::string name) -> DemoAccount& {
    DemoAccount a;
    a.role = role;
    a.login = std::move(login) + std::string(kDomain);
    a.password = NewPassword(random);
    a.display_name = std::move(name);
    seed.accounts.push_back(std::move(a));
    return seed.accounts.back();
  };
  add(Role::kAdmin, "admin", "Demo Administrator");
  for (const DemoWard& ward : wards) {
    const std::string n = ward.cloudlet_id.substr(ward.cloudlet_id.find_last_of('-') + 1);
    add(Role::kOperator, "operator" + n, "Operator of " + ward.cloudlet_id).cloudlet_id =
        ward.cloudlet_id;
  }
  for (const DoctorSpec& d : kDoctors) {
    DemoAccount& a = add(Role::kDoctor, d.login, d.name);
    a.licence_number = d.licence;
    a.speciality = d.speciality;
    a.hospital = kHospital;
  }
  // Who sends their record to whom: hypertension and atrial fibrillation to the cardiologist
  // (five patients, so the referral chart shows her bar at k = 5), diabetes to the
  // endocrinologist, COPD to the respiratory physician and one to the GP.
  const std::string cardiology = std::string(kDoctors[0].login) + std::string(kDomain);
  const std::string endocrinology = std::string(kDoctors[1].login) + std::string(kDomain);
  const std::string respiratory = std::string(kDoctors[2].login) + std::string(kDomain);
  const std::string general = std::string(kDoctors[3].login) + std::string(kDomain);
  int n = 0;
  for (const DemoWard& ward : wards) {
    for (const DemoDevice& device : ward.devices) {
      ++n;
      const wearable::DemoIdentity id =
          wearable::GenerateDemoIdentity(device.seed, device.profile, 0);
      DemoAccount& a = add(Role::kPatient, "patient" + TwoDigits(n), id.name);
      a.cloudlet_id = ward.cloudlet_id;
      a.device_id = device.device_id;
      a.profile = device.profile;
      a.seed = device.seed;
      switch (device.profile) {
        case wearable::Profile::kHypertension:
        case wearable::Profile::kAtrialFibrillation: a.doctor_login = cardiology; break;
        case wearable::Profile::kType2Diabetes: a.doctor_login = endocrinology; break;
        case wearable::Profile::kCopd: a.doctor_login = n % 11 == 0 ? general : respiratory; break;
        default: a.doctor_login = general;
      }
      a.answered = true;
      a.prescription = true;
    }
  }
  // Variety: the last patient shares nothing; the tenth's grant waits for an answer; the ninth gets
  // advice without a prescription; the seventh revokes the grant after its answer (the prescription
  // stays in the doctor's list).
  std::vector<DemoAccount*> patients;
  for (DemoAccount& a : seed.accounts) {
    if (a.role == Role::kPatient) patients.push_back(&a);
  }
  auto patient = [&](std::size_t number) -> DemoAccount* {
    return number <= patients.size() ? patients[number - 1] : nullptr;
  };
  if (DemoAccount* p = patient(patients.size()); p != nullptr && patients.size() > 1) {
    p->doctor_login.clear();
    p->answered = p->prescription = false;
  }
  if (DemoAccount* p = patient(10)) p->answered = p->prescription = false;
  if (DemoAccount* p = patient(9)) p->prescription = false;
  if (DemoAccount* p = patient(7)) p->revoked = true;

  // Waiting for the admin.
  {
    DemoAccount& a = add(Role::kPatient, "patient.pending", "Robin Pending");
    a.approved = false;
  }
  {
    DemoAccount& a = add(Role::kDoctor, kPendingDoctor.login, kPendingDoctor.name);
    a.approved = false;
    a.licence_number = kPendingDoctor.licence;
    a.speciality = kPendingDoctor.speciality;
    a.hospital = kHospital;
  }
  return seed;
}

Status SaveDemoSeed(const std::filesystem::path& file, const DemoSeed& seed) {
  Json accounts = Json::array();
  for (const DemoAccount& a : seed.accounts) accounts.push_back(ToJson(a));
  const std::string text =
      Json{{"version", kSeedFileVersion}, {"complete", seed.complete}, {"accounts", accounts}}.dump(
          2) +
      "\n";
  return WriteFileAtomically(file, AsBytes(text), 0600);
}

Result<std::optional<DemoSeed>> LoadDemoSeed(const std::filesystem::path& file) {
  Env& env = Env::Default();
  if (!env.FileExists(file)) return std::optional<DemoSeed>();
  MEDMESH_ASSIGN_OR_RETURN(Bytes bytes, env.ReadSmallFile(file, kMaxSeedFileBytes));
  const Json j = Json::parse(AsStringView(bytes), nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || j.value("version", 0) != kSeedFileVersion || !j.contains("accounts") ||
      !j["accounts"].is_array() || !j.contains("complete") || !j["complete"].is_boolean()) {
    return DataLoss("the demo seed file is not valid");
  }
  DemoSeed seed;
  seed.complete = j["complete"].get<bool>();
  for (const Json& a : j["accounts"]) {
    MEDMESH_ASSIGN_OR_RETURN(DemoAccount account, FromJson(a));
    seed.accounts.push_back(std::move(account));
  }
  if (std::none_of(seed.accounts.begin(), seed.accounts.end(),
                   [](const DemoAccount& a) { return a.role == Role::kAdmin; })) {
    return DataLoss("the demo seed file is not valid");
  }
  return std::optional<DemoSeed>(std::move(seed));
}

Status SeedAccounts(const SeedContext& context, DemoSeed& seed) {
  Api api(context);
  const DemoAccount& admin = Admin(seed);
  const std::int64_t now_ms = wire::NowMs(context.clock);

  // Operators (made by the admin) and the self-registrations. 409: there already.
  for (const DemoAccount& a : seed.accounts) {
    if (a.role == Role::kOperator) {
      MEDMESH_RETURN_IF_ERROR(Api::Expect(api.Post("/api/v1/admin/operators",
                                                   {{"email", a.login},
                                                    {"password", a.password},
                                                    {"display_name", a.display_name},
                                                    {"cloudlet_id", a.cloudlet_id}},
                                                   admin),
                                          {201, 409}, "creating a demo operator"));
    } else if (a.role == Role::kPatient || a.role == Role::kDoctor) {
      const std::string path =
          a.role == Role::kPatient ? "/api/v1/accounts/patients" : "/api/v1/accounts/doctors";
      MEDMESH_RETURN_IF_ERROR(Api::Expect(api.Post(path, RegistrationBody(a, now_ms)), {201, 409},
                                          "registering a demo account"));
    }
  }

  // The admin approves the planned ones; the others stay pending.
  MEDMESH_ASSIGN_OR_RETURN(Json pending, Api::Expect(api.Get("/api/v1/admin/registrations", admin),
                                                     {200}, "listing registrations"));
  for (const Json& r : pending.value("registrations", Json::array())) {
    const DemoAccount* a = Find(seed, r.value("email", std::string()));
    if (a == nullptr || !a->approved) continue;
    MEDMESH_RETURN_IF_ERROR(Api::Expect(
        api.PostEmpty(
            "/api/v1/admin/registrations/" + r.value("account_id", std::string()) + "/approval",
            admin),
        {200}, "approving a demo registration"));
  }

  // Every approved account logs in once: the logins work, and the ids are learnt. The logins
  // are independent (each an Argon2id verification at the cloud), so they run concurrently; the
  // sessions are kept for SeedWorkflows.
  std::vector<DemoAccount*> approved;
  for (DemoAccount& a : seed.accounts) {
    if (a.approved) approved.push_back(&a);
  }
  return ForEachConcurrently(approved.size(), [&](std::size_t i) -> Status {
    DemoAccount& a = *approved[i];
    MEDMESH_ASSIGN_OR_RETURN(Json session, api.Login(a));
    a.account_id = session.value("account_id", std::string());
    a.patient_id = session.value("patient_id", std::string());
    if (a.account_id.empty() || (a.role == Role::kPatient && a.patient_id.empty())) {
      return Internal("a demo login answered without its ids");
    }
    return OkStatus();
  });
}

Status SeedWorkflows(const SeedContext& context, const DemoSeed& seed) {
  Api api(context);
  std::vector<const DemoAccount*> patients;
  std::set<std::string> cloudlets;
  std::set<std::string> patient_ids;
  for (const DemoAccount& a : seed.accounts) {
    if (Linked(a)) {
      if (a.patient_id.empty()) return FailedPrecondition("the demo accounts are not seeded");
      patients.push_back(&a);
      patient_ids.insert(a.patient_id);
    }
    if (a.role == Role::kOperator) cloudlets.insert(a.cloudlet_id);
  }

  // --- 1. Portal activation: each patient asks their ward's cloudlet (another one if their
  // data went elsewhere), once their data has reached the cloud.
  const Status activations_asked =
      api.Until("the patients' data to reach the cloud", [&]() -> Result<bool> {
        bool all = true;
        for (const DemoAccount* p : patients) {
          MEDMESH_ASSIGN_OR_RETURN(Json mine, Api::Expect(api.Get("/api/v1/activations", *p), {200},
                                                          "listing activations"));
          bool asked = false;
          for (const Json& a : mine.value("activations", Json::array())) {
            const std::string status = a.value("status", std::string());
            asked = asked || status == "requested" || status == "approved";
          }
          if (asked) continue;
          std::vector<std::string> order = {p->cloudlet_id};
          for (const std::string& c : cloudlets) {
            if (c != p->cloudlet_id) order.push_back(c);
          }
          for (const std::string& cloudlet : order) {
            auto r = api.Post("/api/v1/activations", {{"cloudlet_id", cloudlet}}, *p);
            MEDMESH_RETURN_IF_ERROR(Api::Expect(r, {201, 404, 409}, "asking for portal access"));
            if (r->status != 404) {
              asked = true;
              break;
            }
          }
          all = all && asked;
        }
        return all;
      });
  if (!activations_asked) return activations_asked;
  for (const DemoAccount& op : seed.accounts) {
    if (op.role != Role::kOperator) continue;
    MEDMESH_ASSIGN_OR_RETURN(Json requests,
                             Api::Expect(api.Get("/api/v1/activations?status=requested", op), {200},
                                         "listing activation requests"));
    for (const Json& a : requests.value("activations", Json::array())) {
      if (patient_ids.count(a.value("patient_id", std::string())) == 0) continue;
      MEDMESH_RETURN_IF_ERROR(Api::Expect(
          api.Post("/api/v1/activations/" + a.value("activation_id", std::string()) + "/decision",
                   {{"approve", true}, {"reason", "identity checked at the ward desk"}}, op),
          {200, 409}, "approving portal access"));
    }
  }

  // --- 3. Consent: each planned patient sends their device's record to their doctor, once
  // the record is at the cloud (404 until then).
  const Status granted =
      api.Until("the patients' records to reach the cloud", [&]() -> Result<bool> {
        bool all = true;
        for (const DemoAccount* p : patients) {
          if (p->doctor_login.empty()) continue;
          const DemoAccount* doctor = Find(seed, p->doctor_login);
          if (doctor == nullptr || doctor->account_id.empty()) {
            return FailedPrecondition("the demo accounts are not seeded");
          }
          MEDMESH_ASSIGN_OR_RETURN(
              Json mine, Api::Expect(api.Get("/api/v1/consents", *p), {200}, "listing consents"));
          if (!mine.value("consents", Json::array()).empty()) continue;
          const std::optional<std::string> record = context.record_id_of(p->device_id);
          if (!record) {
            all = false;
            continue;
          }
          auto r = api.Post("/api/v1/consents",
                            {{"doctor_id", doctor->account_id},
                             {"records", {{{"device_id", p->device_id}, {"record_id", *record}}}}},
                            *p);
          MEDMESH_RETURN_IF_ERROR(Api::Expect(r, {201, 404}, "granting consent"));
          all = all && r->status == 201;
        }
        return all;
      });
  if (!granted) return granted;

  // --- 4. Answers: each doctor answers the planned grants in their inbox not answered yet.
  for (const DemoAccount& doctor : seed.accounts) {
    if (doctor.role != Role::kDoctor || !doctor.approved) continue;
    MEDMESH_ASSIGN_OR_RETURN(
        Json inbox, Api::Expect(api.Get("/api/v1/inbox", doctor), {200}, "reading an inbox"));
    for (const Json& entry : inbox.value("patients", Json::array())) {
      const std::string patient_id = entry.value("patient_id", std::string());
      const auto p = std::find_if(patients.begin(), patients.end(), [&](const DemoAccount* a) {
        return a->patient_id == patient_id;
      });
      if (p == patients.end() || !(*p)->answered || (*p)->doctor_login != doctor.login) continue;
      for (const Json& grant : entry.value("grants", Json::array())) {
        if (!grant.value("answer_ids", Json::array()).empty()) continue;
        const AnswerSpec spec = AnswerFor((*p)->profile);
        Json body = {{"diagnosis", spec.diagnosis}, {"medication", spec.medication}};
        if ((*p)->prescription) {
          body["prescription"] = {{"drug", spec.drug},
                                  {"dose", spec.dose},
                                  {"frequency", spec.frequency},
                                  {"duration", spec.duration}};
        } else {
          body["medication"] =
              "No medication for now: lifestyle advice, and a follow-up visit "
              "in four weeks to look at the readings again.";
        }
        const std::string consent = grant["consent"].value("consent_id", std::string());
        MEDMESH_RETURN_IF_ERROR(
            Api::Expect(api.Post("/api/v1/consents/" + consent + "/answers", body, doctor), {201},
                        "answering a grant"));
      }
    }
  }

  // --- One patient revokes their (answered) grant.
  for (const DemoAccount* p : patients) {
    if (!p->revoked) continue;
    MEDMESH_ASSIGN_OR_RETURN(
        Json mine, Api::Expect(api.Get("/api/v1/consents", *p), {200}, "listing consents"));
    for (const Json& c : mine.value("consents", Json::array())) {
      if (!c.value("active", false)) continue;
      MEDMESH_RETURN_IF_ERROR(Api::Expect(
          api.PostEmpty("/api/v1/consents/" + c.value("consent_id", std::string()) + "/revocation",
                        *p),
          {200}, "revoking a grant"));
    }
  }
  return OkStatus();
}

void PrintDemoLogins(std::ostream& out, const DemoSeed& seed, const std::string& cloud_url) {
  out << "Demo logins (passwords are random for this data folder; POST " << cloud_url
      << "/api/v1/session {\"email\",\"password\"}):\n";
  out << "  " << std::left << std::setw(10) << "role" << std::setw(36) << "login" << std::setw(22)
      << "password"
      << "what it shows\n";
  for (const DemoAccount& a : seed.accounts) {
    std::string shows;
    switch (a.role) {
      case Role::kAdmin: shows = "pending registrations, operators, answer counts, charts"; break;
      case Role::kOperator:
        shows = "portal activations of " + a.cloudlet_id + ", answer counts";
        break;
      case Role::kDoctor:
        shows = a.approved ? a.display_name + ", " + a.speciality + ": inbox, prescriptions"
                           : "registration pending (login refused until approved)";
        break;
      case Role::kPatient:
        if (!a.approved) {
          shows = "registration pending (login refused until approved)";
        } else {
          shows = a.display_name + " (" + a.device_id + "): portal active";
          if (a.revoked) {
            shows += ", grant revoked after its answer";
          } else if (!a.doctor_login.empty()) {
            shows += !a.answered      ? ", grant awaiting an answer"
                     : a.prescription ? ", answered with a prescription"
                                      : ", answered (advice, no prescription)";
          } else {
            shows += ", nothing shared";
          }
        }
        break;
    }
    out << "  " << std::left << std::setw(10) << accounts::RoleName(a.role) << std::setw(36)
        << a.login << std::setw(22) << a.password << shows << "\n";
  }
}

}  // namespace medmesh::demo

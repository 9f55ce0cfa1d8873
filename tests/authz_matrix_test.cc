// The authorisation matrix (issue 8, "Authorisation and bad input"): every route of the cloud
// and of a cloudlet, called over HTTP as every kind of caller, against the table in
// docs/authorization.md (path given by MEDMESH_AUTHZ_TABLE). The test fails when a status differs
// from its cell, when a refusal has no machine-readable body, when a foreign id's 404 is not
// byte-identical to an unknown id's, when a route the nodes serve has no row, or when a row names
// a route no node serves or that this test cannot call. Run twice: the cloud on SQLite, and
// (authz_matrix_postgres_test, testing/test_backend.h) on the PostgreSQL test cluster.
// Output names routes, columns and statuses only, never ids or tokens.
#include <gtest/gtest.h>

#include <array>
#include <cctype>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "cloudlet/relay.h"
#include "cloudlet/share_federation.h"
#include "fhir/ids.h"
#include "ids/mesh_report.h"
#include "people_world.h"
#include "wire/model.h"

namespace medmesh::people_testing {
namespace {

// The caller columns of docs/authorization.md, in table order.
enum Column {
  kNobody,
  kPatient,
  kPatientForeign,
  kDoctor,
  kDoctorForeign,
  kOperator,
  kOperatorOther,
  kAdmin,
  kService,
  kColumns
};
constexpr std::array<const char*, kColumns> kColumnNames = {
    "nobody",           "patient",  "patient (foreign)", "doctor",
    "doctor (foreign)", "operator", "operator (other)",  "admin",
    "service"};

struct Row {
  int line = 0;
  std::string node;  // "cloud" or "cloudlet"
  std::string method;
  std::string path;
  std::array<std::string, kColumns> cells;
  std::string credential;  // of the service column
  std::string key() const { return node + " " + method + " " + path; }
};

std::string Trim(std::string s) {
  const auto not_space = [](unsigned char c) { return !std::isspace(c); };
  s.erase(s.begin(), std::find_if(s.begin(), s.end(), not_space));
  s.erase(std::find_if(s.rbegin(), s.rend(), not_space).base(), s.end());
  return s;
}

std::vector<std::string> SplitCells(const std::string& line) {
  std::vector<std::string> cells;
  std::string cell;
  for (std::size_t i = 1; i < line.size(); ++i) {  // line[0] is the leading '|'
    if (line[i] == '|') {
      cells.push_back(Trim(cell));
      cell.clear();
    } else {
      cell += line[i];
    }
  }
  return cells;
}

// The rows of the table (format: docs/authorization.md, "How to read a row").
std::vector<Row> ParseTable(const std::string& file) {
  std::ifstream in(file);
  EXPECT_TRUE(in.good()) << "cannot read " << file;
  const std::vector<std::string> header = {"node",
                                           "method",
                                           "path",
                                           "nobody",
                                           "patient",
                                           "patient (foreign)",
                                           "doctor",
                                           "doctor (foreign)",
                                           "operator",
                                           "operator (other)",
                                           "admin",
                                           "service",
                                           "service credential",
                                           "notes"};
  std::vector<Row> rows;
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.rfind("| node |", 0) == 0) {
      EXPECT_EQ(SplitCells(line), header) << "line " << number << ": the header changed";
      continue;
    }
    if (line.rfind("| cloud |", 0) != 0 && line.rfind("| cloudlet |", 0) != 0) continue;
    const std::vector<std::string> cells = SplitCells(line);
    if (cells.size() != header.size()) {
      ADD_FAILURE() << "line " << number << ": " << cells.size() << " cells, want "
                    << header.size();
      continue;
    }
    Row row;
    row.line = number;
    row.node = cells[0];
    row.method = cells[1];
    row.path = cells[2];
    if (row.path.size() < 2 || row.path.front() != '`' || row.path.back() != '`') {
      ADD_FAILURE() << "line " << number << ": the path must be in backquotes";
      continue;
    }
    row.path = row.path.substr(1, row.path.size() - 2);
    for (int c = 0; c < kColumns; ++c) row.cells[c] = cells[3 + c];
    row.credential = cells[3 + kColumns];
    rows.push_back(std::move(row));
  }
  return rows;
}

// One call of a cell: the concrete path and body; `bearer` replaces the column's own session
// (a fresh one, for a call that ends it); `after` runs once the response is in.
struct Call {
  std::string path;
  std::string body;
  std::string content_type = "application/json";
  std::optional<std::string> bearer;
  std::function<void(const net::Response&)> after;
};
Call At(std::string path, std::string body = {}, std::string content_type = "application/json") {
  Call call;
  call.path = std::move(path);
  call.body = std::move(body);
  call.content_type = std::move(content_type);
  return call;
}
// Builds the call of column `column`; `unknown`: with ids that name nothing instead of A's.
using Builder = std::function<Call(Column column, bool unknown)>;

class AuthzMatrixTest : public PeopleWorld {
 protected:
  const Login* CallerOf(Column c) const {
    switch (c) {
      case kPatient: return &a_;
      case kPatientForeign: return &b_;
      case kDoctor: return &d1_;
      case kDoctorForeign: return &d2_;
      case kOperator: return &op1_;
      case kOperatorOther: return &op2_;
      case kAdmin: return &admin_;
      default: return nullptr;
    }
  }
  static bool IsRole(Column c) { return c != kNobody && c != kService; }

  // The builders, one per route (key: "node METHOD pattern").
  std::map<std::string, Builder> Builders() {
    std::map<std::string, Builder> b;
    const auto plain = [](std::string path) { return [path](Column, bool) { return At(path); }; };
    for (const char* node : {"cloud", "cloudlet"}) {
      for (const char* path : {"/healthz", "/readyz", "/metrics", "/api/v1/certificate"}) {
        b[std::string(node) + " GET " + path] = plain(path);
      }
      // Local intrusion detection (ids/ids_api.h): the same routes at every node.
      for (const char* path :
           {"/api/v1/ids/alerts", "/api/v1/ids/decisions", "/api/v1/ids/allowlist"}) {
        b[std::string(node) + " GET " + path] = plain(path);
      }
      // An operator's own decision: alert only, on an account reference no login has.
      b[std::string(node) + " POST /api/v1/ids/decisions"] = [](Column, bool) {
        return At("/api/v1/ids/decisions", json{{"scope", "account"},
                                                {"value", "acct_authz_matrix"},
                                                {"action", "alert"},
                                                {"reason", "authz"}}
                                               .dump());
      };
      b[std::string(node) + " POST /api/v1/ids/decisions/{id}/revocation"] =
          plain("/api/v1/ids/decisions/00000000000000000000000000000000/revocation");
      b[std::string(node) + " POST /api/v1/ids/allowlist"] = [](Column, bool) {
        return At("/api/v1/ids/allowlist",
                  json{{"scope", "ip"}, {"value", "198.51.100.200"}, {"note", "authz"}}.dump());
      };
      b[std::string(node) + " POST /api/v1/ids/allowlist/removal"] = [](Column, bool) {
        return At("/api/v1/ids/allowlist/removal",
                  json{{"scope", "ip"}, {"value", "198.51.100.200"}}.dump());
      };
      // The IDS mesh (ids/mesh_node.h): the peers and received reports for the IDS's callers;
      // a report is node-signed (the cloud's at a cloudlet, cloudlet-1's at the cloud), each
      // call a new sequence, so every caller's copy is accepted (202): the body decides.
      b[std::string(node) + " GET /api/v1/ids/peers"] = plain("/api/v1/ids/peers");
      b[std::string(node) + " GET /api/v1/ids/mesh"] = plain("/api/v1/ids/mesh");
      const bool at_cloud = std::string_view(node) == "cloud";
      b[std::string(node) + " POST /api/v1/ids/mesh/reports"] = [this, at_cloud](Column, bool) {
        ids::MeshReport report;
        report.origin = at_cloud ? "cloudlet-1" : "cloud";
        report.sequence = ++mesh_sequence_;
        report.sent_ms = wire::NowMs(clock_);
        report.kind = ids::MeshReportKind::kDecision;
        report.decision.id = "0123456789abcdef0123456789abcdef";
        report.decision.origin = report.origin;
        report.decision.detector = "authz";
        report.decision.detector_version = 1;
        report.decision.scope = {ids::ScopeKind::kIp, "198.51.100.201"};
        report.decision.action = ids::Action::kBlock;
        report.decision.created_ms = report.sent_ms;
        report.decision.expires_ms = report.sent_ms + 60'000;
        auto envelope =
            at_cloud ? ids::SignMeshReport(report, *cloudlet1_signer_, cloudlet1_certificate_)
                     : ids::SignMeshReport(report, *cloud_signer_, cloud_certificate_);
        EXPECT_TRUE(envelope);
        return At("/api/v1/ids/mesh/reports",
                  envelope ? std::string(AsStringView(*envelope)) : std::string(),
                  "application/octet-stream");
      };
      b[std::string(node) + " GET /api/v1/stats"] = plain("/api/v1/stats");
      // The web UI (web/web_ui.h): the shell, one embedded file, the public node description.
      b[std::string(node) + " GET /"] = plain("/");
      b[std::string(node) + " GET /ui/{path}"] = plain("/ui/js/app.js");
      b[std::string(node) + " GET /api/v1/node"] = plain("/api/v1/node");
    }

    // --- Cloud: the data path and the operator token ---
    // Demo-only red-team runs (attack/attack_runs.h): these cloudlets are no demo, so 404.
    b["cloudlet POST /api/v1/attack/runs"] = [](Column, bool) {
      return At("/api/v1/attack/runs", json{{"scenario", "lying-peer"}}.dump());
    };
    b["cloudlet GET /api/v1/attack/runs/{id}"] = plain("/api/v1/attack/runs/0011223344556677");
    b["cloudlet GET /api/v1/attack/runs"] = plain("/api/v1/attack/runs");
    // Relaying to the cloud for a peer cloudlet (cloudlet/relay.h): node-signed, the body
    // decides. Here cloudlet-1's own request, and cloudlet-1 is no configured peer of itself:
    // 403 for every caller (tests/relay_test.cc passes a configured peer's on).
    b["cloudlet POST /api/v1/relay/{target}"] = [this](Column, bool) {
      auto envelope = cloudlet::SignRelayRequest(
          {"cloudlet-1", "certificate", wire::NowMs(clock_), {}, std::nullopt}, *cloudlet1_signer_,
          cloudlet1_certificate_);
      EXPECT_TRUE(envelope);
      return At("/api/v1/relay/certificate",
                envelope ? std::string(AsStringView(*envelope)) : std::string(),
                "application/octet-stream");
    };
    // Sharing with a partner cloudlet (cloudlet/share_federation.h): node-signed, the body
    // decides. Here cloudlet-1's own question to itself, and cloudlet-1 is no configured peer of
    // itself: 403 for every caller (tests/share_federation_test.cc answers a peer's).
    b["cloudlet POST /api/v1/share/{kind}"] = [this](Column, bool) {
      auto envelope = cloudlet::SignShareMessage(
          {"cloudlet-1", "cloudlet-1", "similar", wire::NowMs(clock_),
           HexEncode(random_.Generate(16)), "", R"({"conditions":["I48"],"vitals":[]})"},
          *cloudlet1_signer_, cloudlet1_certificate_);
      EXPECT_TRUE(envelope);
      return At("/api/v1/share/similar",
                envelope ? std::string(AsStringView(*envelope)) : std::string(),
                "application/octet-stream");
    };
    b["cloud GET /api/v1/root"] = plain("/api/v1/root");
    b["cloud POST /api/v1/cloudlets"] = [this](Column, bool) {
      return At("/api/v1/cloudlets", std::string(AsStringView(cloudlet1_certificate_)),
                "application/octet-stream");
    };
    b["cloud POST /api/v1/enrolments"] = [this](Column, bool) {
      return At("/api/v1/enrolments", std::string(AsStringView(spare_enrolment_)),
                "application/octet-stream");
    };
    b["cloud POST /api/v1/forward"] = [this](Column, bool) {
      if (forward_a_.empty()) forward_a_ = ForwardOfRecordA();
      return At("/api/v1/forward", std::string(AsStringView(forward_a_)),
                "application/octet-stream");
    };
    b["cloud GET /api/v1/integrity"] = plain("/api/v1/integrity");
    b["cloud POST /api/v1/devices/{device_id}/withdrawal"] =
        plain("/api/v1/devices/watch-s/withdrawal");
    b["cloud POST /api/v1/admin/keys/{part}/rotation"] = plain("/api/v1/admin/keys/ei/rotation");
    b["cloud GET /api/v1/admin/keys/{part}/rotation"] = plain("/api/v1/admin/keys/ei/rotation");

    // --- Cloud: accounts ---
    b["cloud POST /api/v1/accounts/patients"] = [this](Column, bool) {
      return At("/api/v1/accounts/patients", PatientRegistration(NewEmail("pat"), false).dump());
    };
    b["cloud POST /api/v1/accounts/doctors"] = [this](Column, bool) {
      return At("/api/v1/accounts/doctors", DoctorRegistration(NewEmail("doc")).dump());
    };
    // The session routes, the same at the cloud and at a cloudlet (which relays to the cloud).
    for (const std::string node : {"cloud", "cloudlet"}) {
      b[node + " POST /api/v1/session"] = [this](Column, bool) {
        return At("/api/v1/session", json{{"email", a_.email}, {"password", kPassword}}.dump());
      };
      b[node + " GET /api/v1/session"] = plain("/api/v1/session");
      // Logging out ends a session: a fresh one of the same person.
      b[node + " DELETE /api/v1/session"] = [this](Column c, bool) {
        Call call = At("/api/v1/session");
        if (IsRole(c)) call.bearer = LogIn(CallerOf(c)->email).token;
        return call;
      };
    }
    // A password change revokes every session of the account: change it back, log all in again.
    b["cloud POST /api/v1/account/password"] = [this](Column c, bool) {
      Call call =
          At("/api/v1/account/password",
             json{{"current_password", kPassword}, {"new_password", kOtherPassword}}.dump());
      if (!IsRole(c)) return call;
      const std::string email = CallerOf(c)->email;
      call.bearer = LogIn(email).token;
      call.after = [this, email](const net::Response& r) {
        if (r.status != 204) return;
        const Login changed = LogIn(email, kOtherPassword);
        const net::Response back =
            AtCloud(net::Method::kPost, "/api/v1/account/password", changed.token,
                    {{"current_password", kOtherPassword}, {"new_password", kPassword}});
        EXPECT_EQ(back.status, 204) << Why(back);
        RefreshLogins();
      };
      return call;
    };
    b["cloud GET /api/v1/account/profile"] = plain("/api/v1/account/profile");
    b["cloud GET /api/v1/account/photo"] = plain("/api/v1/account/photo");
    b["cloud GET /api/v1/admin/registrations"] = plain("/api/v1/admin/registrations");
    // Deciding a registration needs a pending one: a fresh registration per call.
    for (const char* verb : {"approval", "rejection"}) {
      const std::string v = verb;
      b["cloud POST /api/v1/admin/registrations/{id}/" + v] = [this, v](Column, bool unknown) {
        const std::string id = unknown ? kUnknownAccount : RegisterPatient(NewEmail("pending"));
        Call call = At("/api/v1/admin/registrations/" + id + "/" + v);
        if (v == "rejection") call.body = json{{"reason", "licence not found"}}.dump();
        return call;
      };
    }
    b["cloud GET /api/v1/admin/registrations/{id}/photo"] = [this](Column, bool unknown) {
      const std::string id =
          unknown ? kUnknownAccount : RegisterPatient(NewEmail("photo"), /*photo=*/true);
      return At("/api/v1/admin/registrations/" + id + "/photo");
    };
    b["cloud POST /api/v1/admin/operators"] = [this](Column, bool) {
      return At("/api/v1/admin/operators", json{{"email", NewEmail("op")},
                                                {"password", kPassword},
                                                {"display_name", "Op"},
                                                {"cloudlet_id", "cloudlet-1"}}
                                               .dump());
    };
    b["cloud GET /api/v1/sessions/revocations"] = plain("/api/v1/sessions/revocations");
    b["cloud POST /api/v1/cloudlets/{cloudlet_id}/sessions"] = [this](Column, bool) {
      return At("/api/v1/cloudlets/cloudlet-1/sessions",
                json{{"email", a_.email}, {"password", kPassword}, {"client_address", "10.0.0.7"}}
                    .dump());
    };

    // --- Cloud: clinical workflows ---
    // A has asked cloudlet-1 already (a second request is 409): a patient asks as a fresh one.
    b["cloud POST /api/v1/activations"] = [this](Column c, bool unknown) {
      Call call = At("/api/v1/activations",
                     json{{"cloudlet_id", unknown ? "cloudlet-9" : "cloudlet-1"}}.dump());
      if (c == kPatient && !unknown) call.bearer = NewPatientAtCloudlet1().token;
      return call;
    };
    b["cloud GET /api/v1/activations"] = plain("/api/v1/activations");
    b["cloud POST /api/v1/activations/{activation_id}/decision"] = [this](Column, bool unknown) {
      const std::string id =
          unknown ? kUnknownActivation : RequestActivation(NewPatientAtCloudlet1(), "cloudlet-1");
      return At("/api/v1/activations/" + id + "/decision",
                json{{"approve", true}, {"reason", "identity checked"}}.dump());
    };
    b["cloud POST /api/v1/consents"] = [this](Column, bool unknown) {
      const json key = unknown ? json{{"device_id", kUnknownDevice}, {"record_id", kUnknownRecord}}
                               : json{{"device_id", "watch-a"}, {"record_id", "rec-1"}};
      return At("/api/v1/consents",
                json{{"doctor_id", d1_.account_id}, {"records", json::array({key})}}.dump());
    };
    b["cloud GET /api/v1/consents"] = plain("/api/v1/consents");
    b["cloud POST /api/v1/consents/{consent_id}/revocation"] = [this](Column, bool unknown) {
      const std::string id = unknown ? kUnknownConsent : Grant(a_, d1_, "watch-a", "rec-1");
      return At("/api/v1/consents/" + id + "/revocation");
    };
    b["cloud POST /api/v1/consents/{consent_id}/answers"] = [this](Column, bool unknown) {
      return At("/api/v1/consents/" + (unknown ? kUnknownConsent : consent_a_) + "/answers",
                AnswerBody().dump());
    };
    for (const char* path : {"/api/v1/inbox", "/api/v1/answers", "/api/v1/answers/counts",
                             "/api/v1/prescriptions", "/api/v1/statistics/charts"}) {
      b[std::string("cloud GET ") + path] = plain(path);
    }

    // --- Cloud: verify, restore, delete ---
    for (const char* action : {"verify", "restore"}) {
      const std::string a = action;
      b["cloud POST /api/v1/integrity/records/{device_id}/{record_id}/" + a] = [a](Column,
                                                                                   bool unknown) {
        return At(std::string("/api/v1/integrity/records/") +
                  (unknown ? std::string(kUnknownDevice) + "/" + kUnknownRecord
                           : std::string("watch-a/rec-1")) +
                  "/" + a);
      };
      b["cloud POST /api/v1/integrity/readings/{device_id}/{batch_id}/" + a] =
          [this, a](Column, bool unknown) {
            return At(std::string("/api/v1/integrity/readings/") +
                      (unknown ? std::string(kUnknownDevice) + "/" + kUnknownBatch
                               : "watch-a/" + batch_a_) +
                      "/" + a);
          };
    }
    b["cloud GET /api/v1/integrity/restores"] = plain("/api/v1/integrity/restores");
    // Deleting is the caller's own data: a patient deletes a fresh patient's, made for the call.
    b["cloud POST /api/v1/integrity/deletion"] = [this](Column c, bool) {
      Call call = At("/api/v1/integrity/deletion");
      if (c == kPatient || c == kPatientForeign) {
        call.bearer = NewPatient(NewEmail("leaving")).token;
      }
      return call;
    };
    b["cloud GET /api/v1/cloudlets/{cloudlet_id}/deletions"] =
        plain("/api/v1/cloudlets/cloudlet-1/deletions");

    // --- Cloud: the patient's own data (workflow 2) ---
    b["cloud GET /api/v1/me/readings"] = plain("/api/v1/me/readings?kind=heart_rate");
    b["cloud GET /api/v1/me/records"] = plain("/api/v1/me/records");
    b["cloud GET /api/v1/me/records/{device_id}/{record_id}"] = [](Column, bool unknown) {
      return At(unknown ? std::string("/api/v1/me/records/") + kUnknownDevice + "/" + kUnknownRecord
                        : std::string("/api/v1/me/records/watch-a/rec-1"));
    };

    // --- Cloud: admin views and audit (admin_api.h, audit_api.h) ---
    for (const char* path : {"/api/v1/doctors", "/api/v1/admin/doctors", "/api/v1/admin/patients",
                             "/api/v1/admin/audit", "/api/v1/me/audit"}) {
      b[std::string("cloud GET ") + path] = plain(path);
    }
    b["cloud POST /api/v1/admin/patients/{pseudonym}/identity"] = [this](Column, bool) {
      return At(
          "/api/v1/admin/patients/" + cloud_->records().Pseudonym(a_.patient_id) + "/identity",
          json{{"reason", "court order 17"}}.dump());
    };

    // --- Cloud: FHIR R4 (fhir_api.h); ids are A's in their FHIR form ---
    const auto fhir = [](const std::string& id) {
      auto fhir_id = fhir::ToFhirId(id);
      return fhir_id ? *fhir_id : std::string("x");
    };
    b["cloud GET /fhir/r4/metadata"] = plain("/fhir/r4/metadata");
    for (const char* type : {"Patient", "MedicationRequest", "Consent", "AuditEvent"}) {
      b[std::string("cloud GET /fhir/r4/") + type] = plain(std::string("/fhir/r4/") + type);
    }
    b["cloud GET /fhir/r4/Patient/{id}"] = [this, fhir](Column, bool unknown) {
      return At("/fhir/r4/Patient/" +
                fhir(unknown ? "pat_aaaaaaaaaaaaaaaaaaaaaaaaaa" : a_.patient_id));
    };
    b["cloud GET /fhir/r4/Patient/{id}/$everything"] = [this, fhir](Column, bool unknown) {
      return At("/fhir/r4/Patient/" +
                fhir(unknown ? "pat_aaaaaaaaaaaaaaaaaaaaaaaaaa" : a_.patient_id) + "/$everything");
    };
    b["cloud GET /fhir/r4/Observation"] = [this, fhir](Column, bool unknown) {
      return At("/fhir/r4/Observation?patient=" +
                fhir(unknown ? "pat_aaaaaaaaaaaaaaaaaaaaaaaaaa" : a_.patient_id));
    };
    b["cloud GET /fhir/r4/Observation/{id}"] = [this, fhir](Column, bool unknown) {
      if (unknown) return At("/fhir/r4/Observation/r1-1000-" + fhir(a_.patient_id));
      const net::Response r = AtCloud(
          net::Method::kGet, "/fhir/r4/Observation?patient=" + fhir(a_.patient_id), a_.token);
      const json bundle = Body(r);
      std::string id = "none";
      if (bundle.is_object() && bundle.contains("entry") && !bundle["entry"].empty()) {
        id = bundle["entry"][0]["resource"].value("id", "none");
      }
      EXPECT_NE(id, "none") << "A has no Observation to read";
      return At("/fhir/r4/Observation/" + id);
    };
    b["cloud GET /fhir/r4/MedicationRequest/{id}"] = [this, fhir](Column, bool unknown) {
      std::string id = "ans_aaaaaaaaaaaaaaaaaaaaaaaaaa";
      if (!unknown) {
        const json answers = Body(AtCloud(net::Method::kGet, "/api/v1/answers", a_.token));
        if (answers.is_object() && !answers["answers"].empty()) {
          id = answers["answers"][0].value("answer_id", id);
        }
      }
      return At("/fhir/r4/MedicationRequest/" + fhir(id));
    };
    b["cloud GET /fhir/r4/Consent/{id}"] = [this, fhir](Column, bool unknown) {
      return At("/fhir/r4/Consent/" + fhir(unknown ? kUnknownConsent : consent_a_));
    };
    b["cloud GET /fhir/r4/AuditEvent/{id}"] = plain("/fhir/r4/AuditEvent/1");

    // --- Cloudlet-1 ---
    b["cloudlet POST /api/v1/enrol"] = [this](Column, bool) {
      node::testing::TestDevice device("watch-e" + std::to_string(++devices_), a_.patient_id,
                                       random_, clock_);
      return At("/api/v1/enrol",
                json{{"request", HexEncode(device.EnrolmentRequest("cloudlet-1").value())}}.dump());
    };
    b["cloudlet POST /api/v1/ingest"] = [this](Column, bool) {
      return At("/api/v1/ingest", std::string(AsStringView(NewBatchOfA())),
                "application/octet-stream");
    };
    b["cloudlet GET /api/v1/patients/{id}/readings"] = [this](Column, bool) {
      return At("/api/v1/patients/" + a_.patient_id + "/readings");
    };
    b["cloudlet GET /api/v1/ids/events"] = plain("/api/v1/ids/events");
    b["cloudlet GET /api/v1/patients/{id}/stored"] = [this](Column, bool) {
      return At("/api/v1/patients/" + a_.patient_id + "/stored");
    };
    b["cloudlet GET /api/v1/devices"] = plain("/api/v1/devices");
    // Withdrawing needs an enrolled device of A's: a fresh one per call.
    b["cloudlet POST /api/v1/devices/{device_id}/withdrawal"] = [this](Column, bool unknown) {
      std::string id = kUnknownDevice;
      if (!unknown) {
        id = "watch-w" + std::to_string(++devices_);
        EXPECT_FALSE(EnrolWithToken(id, a_.patient_id, 0).empty());
      }
      return At("/api/v1/devices/" + id + "/withdrawal");
    };
    b["cloudlet GET /api/v1/copies/records/{device_id}/{record_id}"] =
        plain("/api/v1/copies/records/watch-a/rec-1");
    // The device console (cloudlet/device_console.h): one console device of A's, enrolled by
    // the operator token the first time a cell needs it.
    const auto console = [this](std::string suffix) {
      return [this, suffix](Column, bool unknown) {
        return At("/api/v1/console/devices/" +
                  (unknown ? std::string("console-0000000000000000") : ConsoleDeviceOfA()) +
                  suffix);
      };
    };
    b["cloudlet GET /api/v1/console/devices"] = plain("/api/v1/console/devices");
    b["cloudlet POST /api/v1/console/devices"] = [this](Column, bool) {
      return At("/api/v1/console/devices", json{{"patient_id", a_.patient_id}}.dump());
    };
    b["cloudlet POST /api/v1/console/devices/{device_id}/reports"] = [this](Column, bool unknown) {
      return At("/api/v1/console/devices/" +
                    (unknown ? std::string("console-0000000000000000") : ConsoleDeviceOfA()) +
                    "/reports",
                json{{"name", "A"}, {"symptoms", {"cough"}}, {"pulse_bpm", 80}}.dump());
    };
    b["cloudlet GET /api/v1/console/devices/{device_id}/uploads"] = console("/uploads");
    b["cloudlet GET /api/v1/console/devices/{device_id}/stream"] = console("/stream");
    b["cloudlet POST /api/v1/console/devices/{device_id}/stream"] = console("/stream");
    b["cloudlet DELETE /api/v1/console/devices/{device_id}/stream"] = console("/stream");
    // --- Trust (cloudlet/trust_service.h): A and a second patient C of cloudlet-1, both opted
    // in; C's handle is what A's calls name.
    for (const char* path : {"/api/v1/trust/profile", "/api/v1/trust/similar",
                             "/api/v1/trust/messages", "/api/v1/trust/requests"}) {
      b[std::string("cloudlet GET ") + path] = [this, path](Column, bool) {
        TrustPeerOfA();
        return At(path);
      };
    }
    b["cloudlet PUT /api/v1/trust/profile"] = [](Column, bool) {
      return At("/api/v1/trust/profile", TrustProfile().dump());
    };
    b["cloudlet POST /api/v1/trust/messages"] = [this](Column, bool) {
      return At("/api/v1/trust/messages",
                json{{"to", TrustPeerOfA()}, {"text", "how are you?"}}.dump());
    };
    b["cloudlet POST /api/v1/trust/requests"] = [this](Column, bool) {
      return At("/api/v1/trust/requests",
                json{{"handle", TrustPeerOfA()}, {"category", "vitals_summary"}}.dump());
    };
    // A answers a fresh request of C's each call.
    b["cloudlet POST /api/v1/trust/requests/{request_id}/answer"] = [this](Column, bool unknown) {
      const std::string id = unknown ? "req-0000000000000000" : RequestToA();
      return At("/api/v1/trust/requests/" + id + "/answer", json{{"grant", true}}.dump());
    };
    b["cloudlet GET /api/v1/trust/requests/{request_id}/data"] = [this](Column, bool unknown) {
      return At("/api/v1/trust/requests/" +
                (unknown ? std::string("req-0000000000000000") : GrantedRequestOfA()) + "/data");
    };
    // A rates a fresh exchange with C each call.
    b["cloudlet POST /api/v1/trust/ratings"] = [this](Column, bool) {
      return At("/api/v1/trust/ratings",
                json{{"interaction_id", MessageFromC()}, {"positive", true}}.dump());
    };
    // The cloud passes a doctor's attestation on to A's cloudlet (cloud/attestation_relay.h):
    // D1, whom A granted a record, is answered with cloudlet-1's 201; D2 holds no grant of A's.
    b["cloud POST /api/v1/patients/{patient_id}/attestations"] = [this](Column, bool) {
      return At("/api/v1/patients/" + a_.patient_id + "/attestations",
                json{{"positive", true}, {"reason", "known_in_care"}}.dump());
    };
    b["cloudlet POST /api/v1/trust/attestations"] = [this](Column, bool) {
      return At("/api/v1/trust/attestations",
                json{{"patient_id", a_.patient_id}, {"positive", true}}.dump());
    };
    b["cloudlet GET /api/v1/trust/peers"] = plain("/api/v1/trust/peers");
    b["cloudlet POST /api/v1/trust/peers/{peer_id}/events"] = [](Column, bool) {
      return At("/api/v1/trust/peers/cloudlet-2/events",
                json{{"kind", "forward"}, {"good", true}}.dump());
    };
    return b;
  }

  // --- Trust helpers: C, a second patient of cloudlet-1 -----------------------------------------
  static json TrustProfile() {
    return {{"opted_in", true},
            {"conditions", {"I48", "I10"}},
            {"symptoms", {"palpitations"}},
            {"consent", {{"vitals_summary", true}, {"diagnoses", false}, {"full_records", false}}}};
  }
  net::Response AtCloudlet1(net::Method method, const std::string& path, const Login& who,
                            const json& body = nullptr) {
    return Send(cloudlet_urls_[0], method, path, Bearer(who.token),
                body.is_null() ? "" : body.dump());
  }
  // Opts A and a fresh patient C of cloudlet-1 in (once); C's handle.
  std::string TrustPeerOfA() {
    if (trust_c_handle_.empty()) {
      trust_c_ = NewPatientAtCloudlet1();
      EXPECT_EQ(AtCloudlet1(net::Method::kPut, "/api/v1/trust/profile", a_, TrustProfile()).status,
                200);
      const net::Response r =
          AtCloudlet1(net::Method::kPut, "/api/v1/trust/profile", trust_c_, TrustProfile());
      EXPECT_EQ(r.status, 200) << Why(r);
      trust_c_handle_ = Body(r).value("handle", "");
      trust_a_handle_ =
          Body(AtCloudlet1(net::Method::kGet, "/api/v1/trust/profile", a_)).value("handle", "");
    }
    return trust_c_handle_;
  }
  // A fresh message from C to A: its interaction id.
  std::string MessageFromC() {
    TrustPeerOfA();
    const net::Response r = AtCloudlet1(net::Method::kPost, "/api/v1/trust/messages", trust_c_,
                                        {{"to", trust_a_handle_}, {"text", "hello"}});
    EXPECT_EQ(r.status, 201) << Why(r);
    return Body(r).value("interaction_id", "");
  }
  // A fresh request of C's for A's vitals summary.
  std::string RequestToA() {
    TrustPeerOfA();
    const net::Response r =
        AtCloudlet1(net::Method::kPost, "/api/v1/trust/requests", trust_c_,
                    {{"handle", trust_a_handle_}, {"category", "vitals_summary"}});
    EXPECT_EQ(r.status, 201) << Why(r);
    return Body(r).value("request_id", "");
  }
  // A request of A's for C's vitals summary that C granted (once): C first rates enough good
  // exchanges with A that the model lets the grant stand.
  std::string GrantedRequestOfA() {
    if (!trust_granted_.empty()) return trust_granted_;
    const std::string c = TrustPeerOfA();
    for (int i = 0; i < 8; ++i) {
      const net::Response m = AtCloudlet1(net::Method::kPost, "/api/v1/trust/messages", a_,
                                          {{"to", c}, {"text", "hello"}});
      EXPECT_EQ(m.status, 201) << Why(m);
      const net::Response rated = AtCloudlet1(
          net::Method::kPost, "/api/v1/trust/ratings", trust_c_,
          {{"interaction_id", Body(m).value("interaction_id", "")}, {"positive", true}});
      EXPECT_EQ(rated.status, 201) << Why(rated);
    }
    const net::Response asked = AtCloudlet1(net::Method::kPost, "/api/v1/trust/requests", a_,
                                            {{"handle", c}, {"category", "vitals_summary"}});
    EXPECT_EQ(asked.status, 201) << Why(asked);
    const std::string id = Body(asked).value("request_id", "");
    const net::Response granted =
        AtCloudlet1(net::Method::kPost, "/api/v1/trust/requests/" + id + "/answer", trust_c_,
                    {{"grant", true}});
    EXPECT_EQ(Body(granted).value("status", ""), "granted") << Why(granted);
    trust_granted_ = id;
    return id;
  }

  // The Authorization (and other) headers of `column` for `row`.
  Headers CredentialsOf(const Row& row, Column column, const Call& call) {
    if (column == kNobody) return {};
    if (IsRole(column)) return Bearer(call.bearer.value_or(CallerOf(column)->token));
    const bool at_cloud = row.node == "cloud";
    if (row.credential == "op-token") {
      return Bearer(node::testing::TokenText(at_cloud ? cloud_operator_token_
                                                      : cloudlet_operator_tokens_[0]));
    }
    if (row.credential == "enrol-token") {
      return Bearer(node::testing::TokenText(enrol_tokens_[0]));
    }
    if (row.credential == "node-sig") {
      const std::string path = call.path.substr(0, call.path.find('?'));
      return {{"Authorization",
               at_cloud ? NodeSignature(*cloudlet1_signer_, cloudlet1_certificate_, "cloud", path)
                        : NodeSignature(*cloud_signer_, cloud_certificate_, "cloudlet-1", path)}};
    }
    EXPECT_EQ(row.credential, "signed-body") << "line " << row.line << ": unknown credential";
    return {};
  }

  net::Response Run(const Row& row, Column column, const Call& call) {
    const net::Method method = net::ParseMethod(row.method).value_or(net::Method::kGet);
    return Send(row.node == "cloud" ? cloud_url_ : cloudlet_urls_[0], method, call.path,
                CredentialsOf(row, column, call), call.body, call.content_type);
  }

  // A console device of A's at cloudlet-1 (made once, with cloudlet-1's operator token).
  std::string ConsoleDeviceOfA() {
    if (console_a_.empty()) {
      const net::Response r = Send(cloudlet_urls_[0], net::Method::kPost, "/api/v1/console/devices",
                                   Bearer(node::testing::TokenText(cloudlet_operator_tokens_[0])),
                                   json{{"patient_id", a_.patient_id}}.dump(), "application/json");
      EXPECT_EQ(r.status, 201) << Why(r);
      console_a_ = Body(r).value("device_id", "");
    }
    return console_a_;
  }

  Bytes forward_a_;
  std::uint64_t mesh_sequence_ = 0;
  std::string console_a_;
  Login trust_c_;
  std::string trust_c_handle_, trust_a_handle_, trust_granted_;
  int devices_ = 0;
};

// docs/openapi.yaml documents every route of the table (and so, by the test below, every route
// the nodes serve) with its method. The embedded UI files are one row and no API.
TEST(AuthzTableTest, OpenApiDocumentsEveryRouteOfTheTable) {
  std::ifstream in(MEDMESH_OPENAPI);
  ASSERT_TRUE(in.good()) << MEDMESH_OPENAPI;
  std::set<std::string> documented;  // "METHOD path"
  std::string path;
  for (std::string line; std::getline(in, line);) {
    if (line.size() > 3 && line.starts_with("  /") && line.back() == ':') {
      path = line.substr(2, line.size() - 3);
    } else if (!path.empty() && line.starts_with("    ") && !line.starts_with("     ") &&
               line.back() == ':') {
      std::string method = line.substr(4, line.size() - 5);
      for (char& c : method) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      documented.insert(method + " " + path);
    } else if (!line.empty() && !line.starts_with(" ")) {
      path.clear();  // the end of "paths:"
    }
  }
  const std::vector<Row> rows = ParseTable(MEDMESH_AUTHZ_TABLE);
  ASSERT_FALSE(rows.empty());
  for (const Row& row : rows) {
    if (row.path == "/ui/{path}") continue;
    EXPECT_TRUE(documented.contains(row.method + " " + row.path))
        << "line " << row.line << ": " << row.method << " " << row.path
        << " is not in docs/openapi.yaml";
  }
}

TEST_F(AuthzMatrixTest, EveryRouteAnswersEveryCallerAsTheTableSays) {
  const std::vector<Row> rows = ParseTable(MEDMESH_AUTHZ_TABLE);
  ASSERT_FALSE(rows.empty());
  std::map<std::string, Builder> builders = Builders();

  // Coverage: every served route has a row, every row a served route and a builder.
  std::set<std::string> served;
  for (const auto& [node, routes] :
       {std::pair{"cloud", cloud_->routes()}, std::pair{"cloudlet", cloudlets_[0]->routes()}}) {
    for (const auto& [method, pattern] : routes) {
      // The UI's embedded files are one literal route each; one row covers them all.
      const std::string route = pattern.starts_with("/ui/") ? "/ui/{path}" : pattern;
      served.insert(std::string(node) + " " + std::string(net::MethodName(method)) + " " + route);
    }
  }
  std::set<std::string> tabled;
  for (const Row& row : rows) {
    EXPECT_TRUE(tabled.insert(row.key()).second) << "line " << row.line << ": a second row";
    EXPECT_TRUE(served.contains(row.key()))
        << "line " << row.line << ": no node serves " << row.key();
    EXPECT_TRUE(builders.contains(row.key()))
        << "line " << row.line << ": the test cannot call " << row.key();
  }
  for (const std::string& route : served) {
    EXPECT_TRUE(tabled.contains(route)) << route << " has no row in docs/authorization.md";
  }

  int cells = 0;
  for (const Row& row : rows) {
    auto builder = builders.find(row.key());
    if (builder == builders.end() || !served.contains(row.key())) continue;
    for (int c = 0; c < kColumns; ++c) {
      const Column column = static_cast<Column>(c);
      const std::string& cell = row.cells[c];
      SCOPED_TRACE("line " + std::to_string(row.line) + ": " + row.key() + " as " +
                   kColumnNames[c]);
      if (cell == "-") {
        EXPECT_TRUE(column == kService) << "only the service column may be '-'";
        EXPECT_EQ(row.credential, "-") << "a service credential needs a service cell";
        continue;
      }
      if (column == kService && row.credential == "-") {
        ADD_FAILURE() << "a service cell needs a service credential";
        continue;
      }
      const int expected = std::atoi(cell.c_str());
      ASSERT_TRUE(expected >= 200 && expected < 500) << "bad cell '" << cell << "'";
      const Call call = builder->second(column, false);
      const net::Response response = Run(row, column, call);
      ++cells;
      EXPECT_EQ(response.status, expected) << Why(response);
      if (response.status >= 400 && response.status < 500) {
        // The FHIR API refuses with an OperationOutcome, the machine-readable error FHIR has.
        const json body = Body(response);
        const bool outcome = row.path.starts_with("/fhir/") && body.is_object() &&
                             body.value("resourceType", "") == "OperationOutcome" &&
                             body.contains("issue") && !body["issue"].empty();
        EXPECT_TRUE(HasErrorBody(response) || outcome)
            << "a refusal without a machine-readable body";
      }
      if (call.after) call.after(response);
      // Someone else's id and an id that names nothing: the same answer, byte for byte.
      if (expected == 404 && column != kNobody && column != kService) {
        const Call unknown_call = builder->second(column, true);
        const net::Response unknown = Run(row, column, unknown_call);
        EXPECT_EQ(unknown.status, 404) << Why(unknown);
        EXPECT_TRUE(unknown.body == response.body) << "foreign and unknown ids answer differently";
      }
    }
  }
  EXPECT_GT(cells, 400);
}

}  // namespace
}  // namespace medmesh::people_testing

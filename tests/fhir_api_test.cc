// The FHIR R4 API (cloud/fhir_api.h) end to end over HTTP: a real cloud with accounts, a real
// cloudlet and a device whose readings and records reach the cloud through the data path. Every
// resource type and search, $everything and its paging, the consent rules of the JSON API (a
// patient only themself once the portal is active, a doctor only through an active grant and
// only the inbox's recent readings, operators and admins refused, a revoked grant ends access,
// unknown and foreign ids the same 404), the audit entries of the reads, and every body the
// routes sent validated by the independent validator (fhir/validation_harness.h). Run twice:
// the cloud on SQLite, and (fhir_api_postgres_test) on the PostgreSQL test cluster.
// Ids, names and tokens are never printed: failures compare booleans or statuses only.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "cloud/cloud_service.h"
#include "cloudlet/cloudlet_service.h"
#include "core/bytes.h"
#include "fhir/fhir_time.h"
#include "fhir/ids.h"
#include "fhir/validation_harness.h"
#include "net/test_support.h"
#include "node/test_support.h"
#include "testing/test_backend.h"
#include "testing/wait.h"
#include "wire/record_codec.h"

namespace medmesh {
namespace {

using nlohmann::json;
using node::testing::TestDevice;
using wire::Reading;
using wire::VitalKind;

constexpr char kPassword[] = "correct horse battery staple";
constexpr char kFullName[] = "Zoë O'Brien <b>'); DROP TABLE patients;--";
constexpr std::int64_t kHour = 3'600'000;
constexpr std::int64_t kDay = 24 * kHour;

std::int64_t NowMs() { return wire::ToUnixMs(std::chrono::system_clock::now()); }

using Headers = std::vector<std::pair<std::string, std::string>>;

class FhirApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cloud::CloudOptions options;
    options.data_dir = dir_.path() / "cloud";
    options.access_log = false;
    if (const char* pg = medmesh::testing::PostgresTestUrl()) {
      options.store.backend = node::StoreBackend::kPostgres;
      options.store.postgres_url = pg;
      options.store.schema_prefix = "f" + HexEncode(random_.Generate(6)) + "_";
    }
    auto identity = deployment_.Identity(wire::CertificateRole::kCloud, "cloud");
    ASSERT_TRUE(identity) << identity.error().ToString();
    cloud::CloudSecrets secrets{std::move(*identity), kek_.Clone(), index_key_.Clone(),
                                pseudonym_key_.Clone(), SecretBytes()};
    auto cloud =
        cloud::CloudService::Start(std::move(options), std::move(secrets), clock_, random_);
    ASSERT_TRUE(cloud) << cloud.error().ToString();
    cloud_ = std::move(*cloud);
    url_ = "http://127.0.0.1:" + std::to_string(cloud_->port());

    cloudlet::CloudletOptions edge;
    edge.data_dir = dir_.path() / "cloudlet";
    edge.access_log = false;
    edge.forwarder.cloud_url = url_;
    edge.forwarder.poll_interval = std::chrono::milliseconds(50);
    edge.forward_queue.initial_backoff = std::chrono::milliseconds(50);
    edge.forward_queue.max_backoff = std::chrono::milliseconds(200);
    auto edge_identity = deployment_.Identity(wire::CertificateRole::kCloudlet, "cloudlet-1");
    ASSERT_TRUE(edge_identity) << edge_identity.error().ToString();
    cloudlet::CloudletSecrets edge_secrets{std::move(*edge_identity), cloudlet_kek_.Clone(),
                                           enrol_token_.Clone(), SecretBytes()};
    auto cloudlet =
        cloudlet::CloudletService::Start(std::move(edge), std::move(edge_secrets), clock_, random_);
    ASSERT_TRUE(cloudlet) << cloudlet.error().ToString();
    cloudlet_ = std::move(*cloudlet);
    cloudlet_url_ = "http://127.0.0.1:" + std::to_string(cloudlet_->port());
    ASSERT_TRUE(cloud_->accounts().service().CreateAdmin({"admin@hospital.test", kPassword}, "A"));
  }

  net::Response Send(net::Method method, const std::string& path, const std::string& body,
                     Headers headers) {
    net::ClientRequest request;
    request.method = method;
    request.url = url_ + path;
    request.body = body;
    request.content_type = "application/json";
    request.headers = std::move(headers);
    auto r = client_->Send(request);
    EXPECT_TRUE(r) << r.error().ToString();
    return r ? *r : net::Response{};
  }
  static Headers Bearer(const std::string& token) {
    if (token.empty()) return {};
    return {{"Authorization", "Bearer " + token}};
  }
  net::Response Post(const std::string& path, const json& body, const std::string& token = {}) {
    return Send(net::Method::kPost, path, body.dump(), Bearer(token));
  }
  net::Response PostEmpty(const std::string& path, const std::string& token) {
    return Send(net::Method::kPost, path, "", Bearer(token));
  }
  static json Body(const net::Response& r) {
    return json::parse(r.body, nullptr, /*allow_exceptions=*/false);
  }

  // A FHIR GET: checks the content type, and keeps every body for the validator (resources
  // with 200, OperationOutcomes otherwise).
  net::Response Fhir(const std::string& path, const std::string& token) {
    const net::Response r = Send(net::Method::kGet, "/fhir/r4" + path, "", Bearer(token));
    EXPECT_TRUE(r.content_type.starts_with("application/fhir+json")) << r.status;
    const json body = Body(r);
    EXPECT_TRUE(body.is_object() && body.contains("resourceType")) << r.status;
    if (r.status != 200) {
      EXPECT_TRUE(body.value("resourceType", "") == "OperationOutcome");
    }
    shapes_.push_back(body);
    return r;
  }
  int Status(const std::string& path, const std::string& token) { return Fhir(path, token).status; }
  // The resources of a searchset Bundle, following every next link (and checking each page
  // holds at most `page_max` Observations).
  std::vector<json> AllPages(const std::string& path, const std::string& token,
                             std::size_t page_max = 1000, int* pages = nullptr) {
    std::vector<json> out;
    std::string next = path;
    int n = 0;
    while (!next.empty() && n < 1000) {
      const net::Response r = Fhir(next, token);
      EXPECT_EQ(r.status, 200);
      if (r.status != 200) break;
      ++n;
      const json b = Body(r);
      EXPECT_TRUE(b["resourceType"] == "Bundle" && b["type"] == "searchset");
      std::size_t observations = 0;
      for (const json& e : b.value("entry", json::array())) {
        if (e["resource"]["resourceType"] == "Observation") ++observations;
        out.push_back(e["resource"]);
      }
      EXPECT_LE(observations, page_max);
      next.clear();
      for (const json& l : b["link"]) {
        if (l["relation"] != "next") continue;
        const std::string url = l["url"].get<std::string>();
        const std::string base = url_ + "/fhir/r4";
        EXPECT_TRUE(url.starts_with(base));
        if (url.starts_with(base)) next = url.substr(base.size());
      }
    }
    if (pages != nullptr) *pages = n;
    return out;
  }
  std::vector<json> Entries(const std::string& path, const std::string& token) {
    const net::Response r = Fhir(path, token);
    EXPECT_EQ(r.status, 200);
    std::vector<json> out;
    for (const json& e : Body(r).value("entry", json::array())) out.push_back(e["resource"]);
    return out;
  }
  static std::set<std::string> Ids(const std::vector<json>& resources, const std::string& type) {
    std::set<std::string> out;
    for (const json& r : resources) {
      if (r["resourceType"] == type) out.insert(r["id"].get<std::string>());
    }
    return out;
  }

  std::string Token(const std::string& email) {
    const net::Response r = Post("/api/v1/session", {{"email", email}, {"password", kPassword}});
    EXPECT_EQ(r.status, 200);
    return r.status == 200 ? Body(r)["token"].get<std::string>() : "";
  }
  std::string RegisterPatient(const std::string& email) {
    const net::Response r = Post("/api/v1/accounts/patients", {{"email", email},
                                                               {"password", kPassword},
                                                               {"display_name", "P"},
                                                               {"full_name", kFullName},
                                                               {"phone", "+44 20 7946 0000"},
                                                               {"birth_date", "1970-01-02"},
                                                               {"sex", "female"}});
    EXPECT_EQ(r.status, 201);
    return r.status == 201 ? Body(r)["account_id"].get<std::string>() : "";
  }
  std::string RegisterDoctor(const std::string& email) {
    const net::Response r = Post("/api/v1/accounts/doctors", {{"email", email},
                                                              {"password", kPassword},
                                                              {"display_name", "Dr"},
                                                              {"licence_number", "GMC-7"},
                                                              {"speciality", "cardiology"},
                                                              {"hospital", "St Elsewhere"}});
    EXPECT_EQ(r.status, 201);
    return r.status == 201 ? Body(r)["account_id"].get<std::string>() : "";
  }
  net::Response Upload(ByteView upload) {
    auto r = client_->Post(cloudlet_url_ + "/api/v1/ingest", std::string(AsStringView(upload)),
                           "application/octet-stream");
    EXPECT_TRUE(r) << r.error().ToString();
    return r ? *r : net::Response{};
  }

  // Two patients, two doctors, an operator; the first patient's device sends a batch of
  // every kind two hours ago, 30 heart rates three days ago and two records; the second
  // patient has no data.
  void SetUpPeople() {
    const std::string patient_account = RegisterPatient("pat@example.test");
    const std::string patient2_account = RegisterPatient("pat2@example.test");
    doctor_id_ = RegisterDoctor("doc@example.test");
    const std::string other_doctor_id = RegisterDoctor("doc2@example.test");
    admin_ = Token("admin@hospital.test");
    ASSERT_FALSE(admin_.empty());
    for (const std::string& id : {patient_account, patient2_account, doctor_id_, other_doctor_id}) {
      ASSERT_EQ(PostEmpty("/api/v1/admin/registrations/" + id + "/approval", admin_).status, 200);
    }
    ASSERT_EQ(Post("/api/v1/admin/operators",
                   {{"email", "op1@hospital.test"},
                    {"password", kPassword},
                    {"display_name", "Op"},
                    {"cloudlet_id", "cloudlet-1"}},
                   admin_)
                  .status,
              201);
    patient_ = Token("pat@example.test");
    patient2_ = Token("pat2@example.test");
    doctor_ = Token("doc@example.test");
    other_doctor_ = Token("doc2@example.test");
    operator_ = Token("op1@hospital.test");
    ASSERT_FALSE(patient_.empty() || patient2_.empty() || doctor_.empty() ||
                 other_doctor_.empty() || operator_.empty());
    patient_id_ = Body(Send(net::Method::kGet, "/api/v1/session", "", Bearer(patient_)))
                      .value("patient_id", std::string());
    ASSERT_TRUE(patient_id_.starts_with("pat_"));
    patient2_id_ = Body(Send(net::Method::kGet, "/api/v1/session", "", Bearer(patient2_)))
                       .value("patient_id", std::string());
    ASSERT_TRUE(patient2_id_.starts_with("pat_"));
    fhir_patient_ = fhir::ToFhirId(patient_id_).value();

    TestDevice device("watch-1", patient_id_, random_, clock_);
    ASSERT_TRUE(device.Enrol(*client_, cloudlet_url_, enrol_token_, deployment_.Root().key));
    recent_ms_ = NowMs() - 2 * kHour;
    const std::int64_t t = recent_ms_;
    const std::vector<Reading> recent{
        {t, VitalKind::kHeartRate, 72'000},           {t, VitalKind::kSystolicBp, 128'000},
        {t, VitalKind::kDiastolicBp, 82'000},         {t + 1, VitalKind::kSpO2, 97'000},
        {t + 2, VitalKind::kBodyTemperature, 36'600}, {t + 3, VitalKind::kRespiratoryRate, 14'000},
        {t + 4, VitalKind::kGlucose, 95'000},         {t + 5, VitalKind::kSteps, 1'200'000},
        {t + 6, VitalKind::kEcgRhythm, 1'000},        {t + 7, VitalKind::kHeartRate, 75'000}};
    ASSERT_EQ(Upload(device.SealReadings(recent).value()).status, 200);
    old_ms_ = NowMs() - 3 * kDay;
    ASSERT_EQ(Upload(device.SealReadings(node::testing::HeartRate(old_ms_, 30)).value()).status,
              200);
    for (const char* id : {"rec-1", "rec-2"}) {
      const Bytes record = wire::EncodePatientRecord(device.Record(id)).value();
      ASSERT_EQ(Upload(device.Seal(wire::ContentType::kPatientRecord, record).value()).status, 200);
    }
    record_name_ = device.Record("rec-1").name;
    ASSERT_TRUE(testing::WaitUntil([&] {
      auto stats = cloud_->Stats();
      return stats && stats->records == 2 && stats->reading_batches == 2 &&
             cloudlet_->Stats().forward_queue_depth == 0;
    }));
  }

  void ActivatePortal(const std::string& token) {
    const net::Response asked = Post("/api/v1/activations", {{"cloudlet_id", "cloudlet-1"}}, token);
    ASSERT_EQ(asked.status, 201);
    const std::string id = Body(asked)["activation_id"].get<std::string>();
    ASSERT_EQ(
        Post("/api/v1/activations/" + id + "/decision", {{"approve", true}}, operator_).status,
        200);
  }

  void GrantAndAnswer() {
    const net::Response granted =
        Post("/api/v1/consents",
             {{"doctor_id", doctor_id_},
              {"records", {{{"device_id", "watch-1"}, {"record_id", "rec-1"}}}}},
             patient_);
    ASSERT_EQ(granted.status, 201);
    consent_id_ = Body(granted)["consent_id"].get<std::string>();
    const net::Response answered = Post("/api/v1/consents/" + consent_id_ + "/answers",
                                        {{"diagnosis", "Paroxysmal AF'); DROP TABLE answers; --"},
                                         {"medication", "avoid caffeine"},
                                         {"prescription",
                                          {{"drug", "apixaban <script>x</script>"},
                                           {"dose", "5 mg"},
                                           {"frequency", "twice daily"},
                                           {"duration", "3 months"}}}},
                                        doctor_);
    ASSERT_EQ(answered.status, 201);
    answer_id_ = Body(answered)["answer_id"].get<std::string>();
  }

  // Every body collected so far must be valid FHIR R4 for the independent validator.
  void ValidateShapes() {
    testing::TempDir out;
    fhir::ShapeWriter writer(out.path());
    int n = 0;
    for (const json& shape : shapes_) writer.Write("response-" + std::to_string(n++), shape);
    EXPECT_GT(writer.count(), 0);
    EXPECT_EQ(fhir::RunFhirValidator(out.path()), 0)
        << "a response is not valid FHIR R4 (the validator's output above names the file)";
  }

  node::testing::TempDir dir_;
  node::testing::TestDeployment deployment_{dir_.path() / "pki"};
  SystemClock clock_;
  SystemRandom random_;
  crypto::KeyEncryptionKey kek_ = crypto::KeyEncryptionKey::Generate(random_);
  crypto::KeyEncryptionKey cloudlet_kek_ = crypto::KeyEncryptionKey::Generate(random_);
  SecretBytes index_key_ = SecretBytes(random_.Generate(32));
  SecretBytes pseudonym_key_ = SecretBytes(random_.Generate(32));
  SecretBytes enrol_token_ = node::testing::RandomToken(random_);
  std::unique_ptr<net::HttpClient> client_ = net::HttpClient::Create({}).value();
  std::unique_ptr<cloud::CloudService> cloud_;
  std::unique_ptr<cloudlet::CloudletService> cloudlet_;
  std::string url_;
  std::string cloudlet_url_;

  std::string admin_, patient_, patient2_, doctor_, other_doctor_, operator_;
  std::string doctor_id_, patient_id_, patient2_id_, fhir_patient_, consent_id_, answer_id_;
  std::string record_name_;
  std::int64_t recent_ms_ = 0;
  std::int64_t old_ms_ = 0;
  std::vector<json> shapes_;
};

TEST_F(FhirApiTest, EveryResourceUnderTheConsentRulesOfTheJsonApi) {
  ASSERT_NO_FATAL_FAILURE(SetUpPeople());
  const std::string patient_path = "/Patient/" + fhir_patient_;
  const std::string everything = patient_path + "/$everything";
  const std::string unknown_patient = "/Patient/pat.-aaaaaaaaaaaaaaaaaaaaaaaaaa";
  const std::string foreign_patient = "/Patient/" + fhir::ToFhirId(patient2_id_).value();

  // --- Public metadata; everything else needs a session ---
  const net::Response metadata = Fhir("/metadata", "");
  ASSERT_EQ(metadata.status, 200);
  EXPECT_TRUE(Body(metadata)["resourceType"] == "CapabilityStatement");
  EXPECT_TRUE(Body(metadata)["implementation"]["url"] == url_ + "/fhir/r4");
  const net::Response anonymous = Fhir(patient_path, "");
  EXPECT_EQ(anonymous.status, 401);
  EXPECT_TRUE(anonymous.Header("WWW-Authenticate").has_value());
  EXPECT_EQ(Status("/Observation", "not-a-token"), 401);
  EXPECT_EQ(Status("/Observation?foo=1", ""), 401);  // who asks comes before what they ask
  EXPECT_EQ(Status("/AuditEvent", ""), 401);

  // --- A patient before their portal is active sees nothing ---
  EXPECT_EQ(Status(patient_path, patient_), 403);
  EXPECT_EQ(Status("/Observation", patient_), 403);
  EXPECT_EQ(Status(everything, patient_), 403);
  ASSERT_NO_FATAL_FAILURE(ActivatePortal(patient_));
  ASSERT_NO_FATAL_FAILURE(GrantAndAnswer());

  // --- The patient: themself only ---
  const net::Response own = Fhir(patient_path, patient_);
  ASSERT_EQ(own.status, 200);
  const json me = Body(own);
  EXPECT_TRUE(me["id"] == fhir_patient_);
  EXPECT_TRUE(me["name"][0]["text"] == kFullName);  // the profile, verbatim
  EXPECT_TRUE(me["birthDate"] == "1970-01-02");
  EXPECT_TRUE(me.contains("telecom"));
  EXPECT_EQ(Ids(Entries("/Patient", patient_), "Patient"), std::set<std::string>{fhir_patient_});
  EXPECT_TRUE(Entries("/Patient?_id=" + fhir::ToFhirId(patient2_id_).value(), patient_).empty());
  const net::Response unknown = Fhir(unknown_patient, patient_);
  const net::Response foreign = Fhir(foreign_patient, patient_);
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(foreign.status, 404);
  EXPECT_TRUE(unknown.body == foreign.body);
  EXPECT_EQ(Status("/Patient/not_a_fhir_id", patient_), 404);
  EXPECT_EQ(Status("/Observation?patient=" + fhir::ToFhirId(patient2_id_).value(), patient_), 404);

  // Observations: 10 recent readings (the blood pressure pair is one panel: 9 Observations)
  // and 30 old heart rates.
  const std::vector<json> observations = AllPages("/Observation", patient_);
  EXPECT_EQ(Ids(observations, "Observation").size(), 39u);
  EXPECT_EQ(observations.size(), 39u);
  EXPECT_EQ(Ids(AllPages("/Observation?patient=Patient/" + fhir_patient_, patient_), "Observation"),
            Ids(observations, "Observation"));
  // code, with and without its system; the panel code finds the panel.
  EXPECT_EQ(AllPages("/Observation?code=8867-4", patient_).size(), 32u);
  EXPECT_EQ(AllPages("/Observation?code=http://loinc.org%7C8867-4", patient_).size(), 32u);
  const std::vector<json> panels = AllPages("/Observation?code=85354-9", patient_);
  ASSERT_EQ(panels.size(), 1u);
  EXPECT_EQ(panels[0]["component"].size(), 2u);
  EXPECT_EQ(AllPages("/Observation?code=8310-5,2339-0", patient_).size(), 2u);
  EXPECT_TRUE(AllPages("/Observation?code=http://snomed.info/sct%7C1234", patient_).empty());
  for (const json& o : AllPages("/Observation?code=8310-5", patient_)) {
    EXPECT_TRUE(o["valueQuantity"]["system"] == "http://unitsofmeasure.org");
    EXPECT_TRUE(o["valueQuantity"]["code"] == "Cel");
  }
  // date, with prefixes.
  const std::string day_before = fhir::FormatInstant(NowMs() - kDay).value();
  const std::string old_instant = fhir::FormatInstant(old_ms_).value();
  EXPECT_EQ(AllPages("/Observation?date=ge" + day_before, patient_).size(), 9u);
  EXPECT_EQ(AllPages("/Observation?date=lt" + day_before, patient_).size(), 30u);
  EXPECT_EQ(
      AllPages("/Observation?date=gt" + old_instant + "&date=le" + day_before, patient_).size(),
      0u);  // the last old reading is at old_ms_ exactly
  EXPECT_EQ(AllPages("/Observation?date=le" + old_instant, patient_).size(), 30u);
  EXPECT_EQ(AllPages("/Observation?date=" + old_instant, patient_).size(), 1u);
  // Paging: 7 at a time, every Observation once.
  int pages = 0;
  const std::vector<json> paged = AllPages("/Observation?_count=7", patient_, 7, &pages);
  EXPECT_EQ(paged.size(), 39u);
  EXPECT_EQ(Ids(paged, "Observation"), Ids(observations, "Observation"));
  EXPECT_GE(pages, 6);
  // Read by id, single readings and the panel alike.
  for (const json& o : {observations.front(), panels[0], observations.back()}) {
    const net::Response read = Fhir("/Observation/" + o["id"].get<std::string>(), patient_);
    ASSERT_EQ(read.status, 200);
    EXPECT_TRUE(Body(read) == o);
  }
  EXPECT_EQ(Status("/Observation/r1-1-" + fhir_patient_, patient_), 404);
  EXPECT_EQ(Status("/Observation/garbage", patient_), 404);

  // MedicationRequest and Consent.
  const std::vector<json> prescriptions = Entries("/MedicationRequest", patient_);
  ASSERT_EQ(prescriptions.size(), 1u);
  const json& rx = prescriptions[0];
  EXPECT_TRUE(rx["medicationCodeableConcept"]["text"] == "apixaban <script>x</script>");
  EXPECT_TRUE(rx["dosageInstruction"][0]["text"] == "5 mg, twice daily, for 3 months");
  EXPECT_TRUE(rx["requester"]["reference"] == "Practitioner/" + fhir::ToFhirId(doctor_id_).value());
  const std::string rx_path = "/MedicationRequest/" + rx["id"].get<std::string>();
  EXPECT_TRUE(Body(Fhir(rx_path, patient_)) == rx);
  EXPECT_EQ(Entries("/MedicationRequest?authoredon=lt2000", patient_).size(), 0u);
  const std::vector<json> consents = Entries("/Consent?patient=" + fhir_patient_, patient_);
  ASSERT_EQ(consents.size(), 1u);
  EXPECT_TRUE(consents[0]["status"] == "active");
  const std::string consent_path = "/Consent/" + consents[0]["id"].get<std::string>();
  EXPECT_TRUE(Body(Fhir(consent_path, patient_)) == consents[0]);
  EXPECT_EQ(Entries("/Consent?date=lt2000", patient_).size(), 0u);

  // $everything: the Patient, the Consent and the MedicationRequest, then the Observations,
  // paged.
  const std::vector<json> all = AllPages(everything, patient_);
  EXPECT_TRUE(all.front()["resourceType"] == "Patient");
  EXPECT_EQ(Ids(all, "Observation"), Ids(observations, "Observation"));
  EXPECT_EQ(Ids(all, "Consent").size(), 1u);
  EXPECT_EQ(Ids(all, "MedicationRequest").size(), 1u);
  const std::vector<json> all_paged = AllPages(everything + "?_count=5", patient_, 5, &pages);
  EXPECT_GE(pages, 8);
  EXPECT_EQ(Ids(all_paged, "Observation"), Ids(observations, "Observation"));
  EXPECT_EQ(Ids(all_paged, "MedicationRequest").size(), 1u);
  const std::string today = fhir::FormatDate(NowMs() - kDay).value();
  EXPECT_EQ(Ids(AllPages(everything + "?start=" + day_before, patient_), "Observation").size(), 9u);
  EXPECT_EQ(Ids(AllPages(everything + "?end=" + fhir::FormatDate(old_ms_ - kDay).value(), patient_),
                "Observation")
                .size(),
            0u);
  (void)today;

  // Bad parameters are 400 OperationOutcomes.
  for (const char* bad : {"/Observation?date=ne2024", "/Observation?foo=1", "/Observation?_count=0",
                          "/Observation?_count=1001", "/Observation?_cursor=x",
                          "/Observation?code=", "/Consent?date=2024-02-30",
                          "/Observation?_format=xml", "/Patient?_id=a&_id=b"}) {
    SCOPED_TRACE(bad);
    const net::Response r = Fhir(bad, patient_);
    EXPECT_EQ(r.status, 400);
    EXPECT_TRUE(Body(r)["issue"][0]["code"] == "invalid");
  }
  EXPECT_EQ(Status(everything + "?_count=5000", patient_), 400);

  // --- The doctor with the grant: the inbox's view ---
  const json doctors_patient = Body(Fhir(patient_path, doctor_));
  EXPECT_TRUE(doctors_patient["name"][0]["text"] == record_name_);  // from the granted record
  EXPECT_FALSE(doctors_patient.contains("telecom"));
  EXPECT_FALSE(doctors_patient.contains("address"));
  EXPECT_FALSE(doctors_patient.contains("photo"));
  EXPECT_EQ(Ids(Entries("/Patient", doctor_), "Patient"), std::set<std::string>{fhir_patient_});
  EXPECT_EQ(Ids(Entries("/Patient?_id=" + fhir_patient_, doctor_), "Patient"),
            std::set<std::string>{fhir_patient_});
  // Only the recent readings (the inbox shows the last 24 hours).
  const std::vector<json> doctors_observations =
      AllPages("/Observation?patient=" + fhir_patient_, doctor_);
  EXPECT_EQ(doctors_observations.size(), 9u);
  EXPECT_EQ(Ids(AllPages("/Observation?patient=" + fhir_patient_ + "&_count=1", doctor_, 1),
                "Observation"),
            Ids(doctors_observations, "Observation"));
  const std::vector<json> split = AllPages("/Observation?_count=31", patient_, 31, &pages);
  EXPECT_EQ(pages, 2);  // the boundary falls inside a millisecond (heart rate and panel)
  EXPECT_EQ(split.size(), 39u);
  EXPECT_EQ(Ids(split, "Observation"), Ids(observations, "Observation"));
  EXPECT_EQ(Status("/Observation/" + observations.front()["id"].get<std::string>(), doctor_),
            404);  // an old reading
  EXPECT_EQ(Status("/Observation/" + panels[0]["id"].get<std::string>(), doctor_), 200);
  EXPECT_EQ(Status("/Observation", doctor_), 400);  // which patient?
  EXPECT_EQ(Entries("/MedicationRequest", doctor_).size(), 1u);
  EXPECT_EQ(Entries("/MedicationRequest?patient=" + fhir_patient_, doctor_).size(), 1u);
  EXPECT_EQ(Status(rx_path, doctor_), 200);
  EXPECT_EQ(Entries("/Consent", doctor_).size(), 1u);
  EXPECT_EQ(Entries("/Consent?patient=" + fhir_patient_, doctor_).size(), 1u);
  EXPECT_EQ(Status(consent_path, doctor_), 200);
  const std::vector<json> doctors_everything = AllPages(everything, doctor_);
  EXPECT_EQ(Ids(doctors_everything, "Observation").size(), 9u);
  EXPECT_EQ(Ids(doctors_everything, "Consent").size(), 1u);
  const net::Response doctor_unknown = Fhir(unknown_patient, doctor_);
  EXPECT_EQ(doctor_unknown.status, 404);
  EXPECT_TRUE(doctor_unknown.body == unknown.body);

  // --- A doctor without a grant sees nothing, with the same 404 as for an unknown id ---
  const net::Response no_grant = Fhir(patient_path, other_doctor_);
  EXPECT_EQ(no_grant.status, 404);
  EXPECT_TRUE(no_grant.body == unknown.body);
  for (const std::string& path :
       {everything, "/Observation?patient=" + fhir_patient_,
        "/Observation/" + panels[0]["id"].get<std::string>(), rx_path, consent_path,
        "/Consent?patient=" + fhir_patient_, "/MedicationRequest?patient=" + fhir_patient_}) {
    SCOPED_TRACE(path.substr(0, 12));
    const net::Response r = Fhir(path, other_doctor_);
    EXPECT_EQ(r.status, 404);
    EXPECT_EQ(r.body.find(patient_id_), std::string::npos);
  }
  EXPECT_TRUE(Entries("/Patient", other_doctor_).empty());
  EXPECT_TRUE(Entries("/Patient?_id=" + fhir_patient_, other_doctor_).empty());
  EXPECT_TRUE(Entries("/Consent", other_doctor_).empty());
  EXPECT_TRUE(Entries("/MedicationRequest", other_doctor_).empty());

  // --- Operators and admins see no clinical content ---
  for (const std::string* token : {&operator_, &admin_}) {
    for (const std::string& path :
         {patient_path, everything, std::string("/Patient"),
          "/Observation?patient=" + fhir_patient_, std::string("/Observation"),
          "/Observation/" + panels[0]["id"].get<std::string>(), std::string("/MedicationRequest"),
          rx_path, std::string("/Consent"), consent_path}) {
      SCOPED_TRACE(path.substr(0, 12));
      const net::Response r = Fhir(path, *token);
      EXPECT_EQ(r.status, 403);
      EXPECT_TRUE(Body(r)["issue"][0]["code"] == "forbidden");
    }
  }

  // --- AuditEvent: the admin's ---
  const std::vector<json> events = Entries("/AuditEvent?patient=" + fhir_patient_, admin_);
  std::set<std::string> names;
  for (const json& e : events) {
    for (const json& s : e["subtype"]) names.insert(s.value("code", ""));
  }
  for (const char* event : {"fhir.patient.read", "fhir.patient.search", "fhir.observation.search",
                            "fhir.observation.read", "fhir.patient.everything",
                            "fhir.medicationrequest.read", "fhir.consent.search"}) {
    SCOPED_TRACE(event);
    EXPECT_TRUE(names.contains(event));
  }
  const std::vector<json> audit_paged = AllPages("/AuditEvent?_count=50", admin_);
  EXPECT_GT(audit_paged.size(), 50u);
  EXPECT_EQ(Ids(audit_paged, "AuditEvent").size(), audit_paged.size());
  const std::string event_path = "/AuditEvent/" + events.front()["id"].get<std::string>();
  EXPECT_TRUE(Body(Fhir(event_path, admin_)) == events.front());
  EXPECT_EQ(Status("/AuditEvent/999999999", admin_), 404);
  EXPECT_EQ(Status("/AuditEvent/x", admin_), 404);
  EXPECT_EQ(Entries("/AuditEvent?date=lt2000", admin_).size(), 0u);
  for (const std::string* token : {&patient_, &doctor_, &operator_}) {
    EXPECT_EQ(Status("/AuditEvent", *token), 403);
    EXPECT_EQ(Status(event_path, *token), 403);
  }

  // --- Revoking the grant ends the doctor's access at once (their prescriptions stay theirs,
  // as in the JSON API) ---
  ASSERT_EQ(PostEmpty("/api/v1/consents/" + consent_id_ + "/revocation", patient_).status, 200);
  EXPECT_EQ(Status(patient_path, doctor_), 404);
  EXPECT_EQ(Status(everything, doctor_), 404);
  EXPECT_EQ(Status("/Observation?patient=" + fhir_patient_, doctor_), 404);
  EXPECT_EQ(Status(consent_path, doctor_), 404);
  EXPECT_TRUE(Entries("/Patient", doctor_).empty());
  EXPECT_TRUE(Entries("/Consent", doctor_).empty());
  EXPECT_EQ(Entries("/MedicationRequest", doctor_).size(), 1u);
  const std::vector<json> revoked = Entries("/Consent", patient_);
  ASSERT_EQ(revoked.size(), 1u);
  EXPECT_TRUE(revoked[0]["status"] == "inactive");

  // --- The audit log holds the reads and refusals, and still verifies ---
  auto page = cloud_->audit().Query({.patient_id = patient_id_, .limit = 1000});
  ASSERT_TRUE(page) << page.error().ToString();
  int refusals = 0;
  for (const json& e : page->events) {
    if (e.value("outcome", "0") == "4") ++refusals;
  }
  EXPECT_GT(refusals, 0);
  ValidateShapes();
}

}  // namespace
}  // namespace medmesh

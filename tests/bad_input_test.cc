// Bad input over HTTP (issue 8, "Authorisation and bad input"), against a real cloud and two
// cloudlets with people of every role (tests/people_world.h): every route that takes a JSON body
// refuses malformed JSON, bodies that are not objects, duplicate names, missing, extra and
// wrongly typed fields, wrong content types and oversized bodies with a 4xx and the
// machine-readable error body, and writes nothing (the stores' counts are the same after);
// SQL and script injection strings in every free-text field are stored and returned verbatim;
// replayed, forged and expired session tokens and cookie requests without the CSRF header are
// refused with a body. Run twice: the cloud on SQLite, and (bad_input_postgres_test,
// testing/test_backend.h) on the PostgreSQL test cluster. Output names routes, fields and statuses,
// never ids or tokens.
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "accounts/session_token.h"
#include "ids/mesh_report.h"
#include "people_world.h"

namespace medmesh::people_testing {
namespace {

// Strings that break a query built by concatenation or a page that does not escape its output.
const std::vector<std::string> kInjections = {
    "Robert'); DROP TABLE accounts; --",
    "' OR '1'='1' --",
    "1; DELETE FROM consents WHERE 1=1; SELECT pg_sleep(5) --",
    "<script>alert(\"x\")</script><img src=x onerror=alert(1)>",
    "\"}],\"role\":\"admin\",\"x\":[{\"",
    "${7*7} {{7*7}} %s%n \\\\ \\u0000",
};

// A JSON-body route, with what a valid request of its allowed caller is.
struct JsonRoute {
  std::string name;  // "cloud POST /api/v1/consents" (for traces)
  bool at_cloudlet = false;
  std::function<std::string()> path;   // may make a fresh resource to act on
  std::function<std::string()> token;  // the allowed caller's session ("" for none)
  std::function<json()> valid;         // a valid body (fresh e-mails and the like)
  std::vector<std::string> optional;   // the fields that are not required
  int success = 200;
};

// How the state the routes write looks: equal before and after a refused request.
struct Snapshot {
  std::vector<std::size_t> counts;
  std::string profile_a;
  bool operator==(const Snapshot&) const = default;
};

class BadInputTest : public PeopleWorld {
 protected:
  std::vector<JsonRoute> JsonRoutes() {
    std::vector<JsonRoute> routes;
    const auto none = [] { return std::string(); };
    routes.push_back({"cloud POST /api/v1/accounts/patients",
                      false,
                      [] { return std::string("/api/v1/accounts/patients"); },
                      none,
                      [this] { return PatientRegistration(NewEmail("reg"), true); },
                      {"full_name", "phone", "address", "birth_date", "sex", "photo"},
                      201});
    routes.push_back({"cloud POST /api/v1/accounts/doctors",
                      false,
                      [] { return std::string("/api/v1/accounts/doctors"); },
                      none,
                      [this] { return DoctorRegistration(NewEmail("doc")); },
                      {},
                      201});
    routes.push_back({"cloud POST /api/v1/session",
                      false,
                      [] { return std::string("/api/v1/session"); },
                      none,
                      [this] {
                        return json{{"email", a_.email}, {"password", kPassword}};
                      },
                      {},
                      200});
    // A cloudlet's login, relayed to the cloud: refused at the cloudlet before it is relayed.
    routes.push_back({"cloudlet POST /api/v1/session",
                      true,
                      [] { return std::string("/api/v1/session"); },
                      none,
                      [this] {
                        return json{{"email", a_.email}, {"password", kPassword}};
                      },
                      {},
                      200});
    // The valid request changes D2's password; SweepOne changes it back.
    routes.push_back(
        {"cloud POST /api/v1/account/password",
         false,
         [] { return std::string("/api/v1/account/password"); },
         [this] { return LogIn(d2_.email).token; },
         [] {
           return json{{"current_password", kPassword}, {"new_password", kOtherPassword}};
         },
         {},
         204});
    routes.push_back({"cloud POST /api/v1/admin/registrations/{id}/rejection",
                      false,
                      [this] {
                        return "/api/v1/admin/registrations/" +
                               RegisterPatient(NewEmail("pending")) + "/rejection";
                      },
                      [this] { return admin_.token; },
                      [] {
                        return json{{"reason", "licence not found"}};
                      },
                      {},
                      200});
    routes.push_back({"cloud POST /api/v1/admin/operators",
                      false,
                      [] { return std::string("/api/v1/admin/operators"); },
                      [this] { return admin_.token; },
                      [this] {
                        return json{{"email", NewEmail("op")},
                                    {"password", kPassword},
                                    {"display_name", "Op"},
                                    {"cloudlet_id", "cloudlet-1"}};
                      },
                      {},
                      201});
    routes.push_back({"cloud POST /api/v1/activations",
                      false,
                      [] { return std::string("/api/v1/activations"); },
                      [this] { return NewPatientAtCloudlet1().token; },
                      [] {
                        return json{{"cloudlet_id", "cloudlet-1"}};
                      },
                      {},
                      201});
    routes.push_back({"cloud POST /api/v1/activations/{activation_id}/decision",
                      false,
                      [this] {
                        return "/api/v1/activations/" +
                               RequestActivation(NewPatientAtCloudlet1(), "cloudlet-1") +
                               "/decision";
                      },
                      [this] { return op1_.token; },
                      [] {
                        return json{{"approve", false}, {"reason", "not the patient"}};
                      },
                      {"reason"},
                      200});
    routes.push_back({"cloud POST /api/v1/consents",
                      false,
                      [] { return std::string("/api/v1/consents"); },
                      [this] { return a_.token; },
                      [this] {
                        return json{
                            {"doctor_id", d1_.account_id},
                            {"records", {{{"device_id", "watch-a"}, {"record_id", "rec-2"}}}}};
                      },
                      {},
                      201});
    routes.push_back({"cloud POST /api/v1/consents/{consent_id}/answers",
                      false,
                      [this] { return "/api/v1/consents/" + consent_a_ + "/answers"; },
                      [this] { return d1_.token; },
                      [] { return AnswerBody(); },
                      {"medication", "prescription"},
                      201});
    routes.push_back(
        {"cloudlet POST /api/v1/enrol",
         true,
         [] { return std::string("/api/v1/enrol"); },
         [this] { return a_.token; },
         [this] {
           node::testing::TestDevice device("watch-v" + std::to_string(++emails_), a_.patient_id,
                                            random_, clock_);
           return json{{"request", HexEncode(device.EnrolmentRequest("cloudlet-1").value())}};
         },
         {},
         200});
    // Trust (cloudlet/trust_service.h): what an operator records of a peer cloudlet.
    routes.push_back({"cloudlet POST /api/v1/trust/peers/{peer_id}/events",
                      true,
                      [] { return std::string("/api/v1/trust/peers/cloudlet-2/events"); },
                      [this] { return op1_.token; },
                      [] {
                        return json{{"kind", "forward"}, {"good", true}};
                      },
                      {},
                      201});
    return routes;
  }

  // Sends the Content-Type even with an empty body (an empty body is bad JSON, not a bad type).
  net::Response Post(const JsonRoute& route, const std::string& path, const std::string& token,
                     const std::string& body,
                     const std::string& content_type = "application/json") {
    net::ClientRequest request;
    request.method = net::Method::kPost;
    request.url = (route.at_cloudlet ? cloudlet_urls_[0] : cloud_url_) + path;
    request.headers = Bearer(token);
    request.body = body;
    if (!content_type.empty()) request.content_type = content_type;
    // The client sends no Content-Type without a body: as a header of its own then.
    if (body.empty() && !content_type.empty()) {
      request.headers.emplace_back("Content-Type", content_type);
    }
    auto r = client_->Send(request);
    EXPECT_TRUE(r) << r.error().ToString();
    return r ? *r : net::Response{};
  }

  std::size_t ListSize(const std::string& base, const std::string& path, const std::string& token,
                       const std::string& member) {
    const net::Response r = Send(base, net::Method::kGet, path, Bearer(token));
    EXPECT_EQ(r.status, 200) << Why(r);
    const json body = Body(r);
    return body.is_object() && body.contains(member) ? body[member].size() : 0;
  }

  Snapshot Take() {
    Snapshot s;
    for (auto status : {accounts::AccountStatus::kPending, accounts::AccountStatus::kApproved,
                        accounts::AccountStatus::kRejected, accounts::AccountStatus::kDisabled}) {
      auto listed = cloud_->accounts().store().ListByStatus(status, 100000);
      EXPECT_TRUE(listed);
      s.counts.push_back(listed ? listed->size() : 0);
    }
    s.counts.push_back(ListSize(cloud_url_, "/api/v1/activations", op1_.token, "activations"));
    s.counts.push_back(ListSize(cloud_url_, "/api/v1/activations", op2_.token, "activations"));
    s.counts.push_back(ListSize(cloud_url_, "/api/v1/consents", a_.token, "consents"));
    s.counts.push_back(ListSize(cloud_url_, "/api/v1/consents", b_.token, "consents"));
    s.counts.push_back(ListSize(cloud_url_, "/api/v1/prescriptions", d1_.token, "prescriptions"));
    const json counts = Body(AtCloud(net::Method::kGet, "/api/v1/answers/counts", admin_.token));
    s.counts.push_back(counts.value("answers", std::size_t{0}));
    s.counts.push_back(counts.value("prescriptions", std::size_t{0}));
    s.counts.push_back(ListSize(cloudlet_urls_[0], "/api/v1/devices",
                                node::testing::TokenText(cloudlet_operator_tokens_[0]), "devices"));
    auto stats = cloud_->Stats();
    EXPECT_TRUE(stats);
    if (stats) s.counts.push_back(stats->records);
    s.profile_a = AtCloud(net::Method::kGet, "/api/v1/account/profile", a_.token).body;
    return s;
  }

  // Expects a 4xx with the machine-readable body.
  static void ExpectRefusal(const net::Response& r, int status, const std::string& what) {
    SCOPED_TRACE(what);
    EXPECT_EQ(r.status, status) << Why(r);
    EXPECT_TRUE(HasErrorBody(r)) << "no machine-readable error body";
  }

  // Every malformed variant of `route`'s body: each refused, nothing written; then the valid one
  // is accepted on the same path (so the refusals were about the body).
  void SweepOne(const JsonRoute& route) {
    SCOPED_TRACE(route.name);
    const std::string path = route.path();
    const std::string token = route.token();
    const json valid = route.valid();
    ASSERT_TRUE(valid.is_object());
    const Snapshot before = Take();

    const std::string text = valid.dump();
    const std::string first = valid.begin().key();
    std::vector<std::pair<std::string, std::string>> bad = {
        {"empty body", ""},
        {"truncated", text.substr(0, text.size() / 2)},
        {"not JSON", "email=a&password=b"},
        {"an array", "[" + text + "]"},
        {"a string", "\"" + first + "\""},
        {"null", "null"},
        {"trailing garbage", text + "x"},
        {"two values", text + text},
        {"duplicate name", "{\"" + first + "\":" + valid[first].dump() + "," + text.substr(1)},
        {"nested too deep", std::string(200, '[') + std::string(200, ']')},
        {"invalid UTF-8", "{\"" + first + "\":\"\xff\xfe\"}"},
        {"extra field",
         [&] {
           json j = valid;
           j["role"] = "admin";
           return j.dump();
         }()},
    };
    for (const auto& [field, value] : valid.items()) {
      const bool required =
          std::find(route.optional.begin(), route.optional.end(), field) == route.optional.end();
      if (required) {
        json j = valid;
        j.erase(field);
        bad.emplace_back("missing " + field, j.dump());
      }
      json wrong = valid;
      if (value.is_string()) wrong[field] = 42;
      if (value.is_boolean()) wrong[field] = "true";
      if (value.is_array()) wrong[field] = json::object();
      if (value.is_object()) wrong[field] = "x";
      bad.emplace_back("wrong type of " + field, wrong.dump());
      json null_field = valid;
      null_field[field] = nullptr;
      bad.emplace_back("null " + field, null_field.dump());
    }
    for (const auto& [what, body] : bad) {
      ExpectRefusal(Post(route, path, token, body), 400, what);
    }
    ExpectRefusal(Post(route, path, token, text, "text/plain"), 415, "text/plain");
    ExpectRefusal(Post(route, path, token, text, "application/x-www-form-urlencoded"), 415, "form");
    ExpectRefusal(Post(route, path, token, text, "application/json; charset=latin1"), 415,
                  "latin1");
    ExpectRefusal(Post(route, path, token, text, ""), 415, "no content type");
    // Larger than any route's limit: refused from its Content-Length, before it is read.
    ExpectRefusal(Post(route, path, token, std::string(2 << 20, ' ') + text), 413, "2 MiB body");
    EXPECT_TRUE(Take() == before) << "a refused request changed what is stored";

    const net::Response ok = Post(route, path, token, valid.dump());
    EXPECT_EQ(ok.status, route.success) << Why(ok);
    if (route.name == "cloud POST /api/v1/account/password" && ok.status == 204) {
      const Login changed = LogIn(d2_.email, kOtherPassword);
      EXPECT_EQ(AtCloud(net::Method::kPost, "/api/v1/account/password", changed.token,
                        {{"current_password", kOtherPassword}, {"new_password", kPassword}})
                    .status,
                204);
      d2_ = LogIn(d2_.email);
    }
  }
};

TEST_F(BadInputTest, EveryJsonRouteRefusesMalformedBodiesAndWritesNothing) {
  for (const JsonRoute& route : JsonRoutes()) SweepOne(route);
}

// Hostile text in every string field of every JSON route: refused with a 4xx and its body and
// nothing written, or accepted; never a server error (on either backend: PostgreSQL text holds
// no NUL byte, SQLite does).
TEST_F(BadInputTest, HostileTextInEveryStringFieldIsNeverAServerError) {
  const std::vector<std::pair<std::string, std::string>> hostile = {
      {"NUL", std::string("a\0b", 3)},
      {"escape sequence", "\x1b[31mred\x1b[0m"},
      {"CR LF", "line\r\nX-Injected: 1"},
      {"right-to-left override", "\xe2\x80\xaegnp.exe"},
      {"line separator",
       "a\xe2\x80\xa8"
       "b"},
      {"combining and astral", "e\xcc\x81 \xf0\x9f\x98\x80"},
      {"8 KiB", std::string(8 * 1024, 'x')},
  };
  for (const JsonRoute& route : JsonRoutes()) {
    SCOPED_TRACE(route.name);
    const json probe = route.valid();
    for (const auto& [field, value] : probe.items()) {
      if (!value.is_string()) continue;
      for (const auto& [what, text] : hostile) {
        SCOPED_TRACE(field + " with " + what);
        const std::string path = route.path();
        const std::string token = route.token();
        json body = route.valid();
        body[field] = text;
        const Snapshot before = Take();
        const net::Response r = Post(route, path, token, body.dump());
        EXPECT_LT(r.status, 500) << Why(r);
        if (r.status >= 400) {
          EXPECT_TRUE(HasErrorBody(r));
          EXPECT_TRUE(Take() == before) << "a refused request changed what is stored";
        }
        if (route.name == "cloud POST /api/v1/account/password" && r.status == 204) {
          const Login changed = LogIn(d2_.email, field == "new_password" ? text : kOtherPassword);
          EXPECT_EQ(AtCloud(net::Method::kPost, "/api/v1/account/password", changed.token,
                            {{"current_password",
                              field == "new_password" ? text : std::string(kOtherPassword)},
                             {"new_password", kPassword}})
                        .status,
                    204);
          d2_ = LogIn(d2_.email);
        }
      }
    }
  }
}

// Hostile ids in paths and hostile query values: a clear 4xx with the error body, nothing
// written, never a server error.
TEST_F(BadInputTest, HostileIdsInPathsAndQueriesAreClearRefusals) {
  const std::vector<std::string> ids = {
      "%27%20OR%20%271%27%3D%271",          // ' OR '1'='1
      "x%3B%20DROP%20TABLE%20consents%3B",  // x; DROP TABLE consents;
      "%3Cscript%3E",                       // <script>
      "%2E%2E%2F%2E%2E%2Fetc%2Fpasswd",     // ../../etc/passwd, one segment
      "a%00b",                              // NUL
      "%FF%FE",                             // not UTF-8
      std::string(2000, 'a'),
  };
  const std::string op_token = node::testing::TokenText(cloudlet_operator_tokens_[0]);
  struct Probe {
    bool at_cloudlet;
    net::Method method;
    std::string path;  // with ID where the hostile id goes
    std::string token;
  };
  const std::vector<Probe> probes = {
      {false, net::Method::kPost, "/api/v1/consents/ID/revocation", a_.token},
      {false, net::Method::kPost, "/api/v1/activations/ID/decision", op1_.token},
      {false, net::Method::kPost, "/api/v1/admin/registrations/ID/approval", admin_.token},
      {false, net::Method::kPost, "/api/v1/integrity/records/ID/rec-1/verify", a_.token},
      {false, net::Method::kPost, "/api/v1/integrity/records/watch-a/ID/restore", op1_.token},
      {false, net::Method::kPost, "/api/v1/integrity/readings/watch-a/ID/verify", a_.token},
      {false, net::Method::kPost, "/api/v1/admin/keys/ID/rotation",
       node::testing::TokenText(cloud_operator_token_)},
      {false, net::Method::kGet, "/api/v1/activations?status=ID", op1_.token},
      {false, net::Method::kGet, "/api/v1/integrity/restores?limit=ID", admin_.token},
      {false, net::Method::kGet, "/api/v1/sessions/revocations?since=ID", ""},
      {true, net::Method::kPost, "/api/v1/devices/ID/withdrawal", a_.token},
      {true, net::Method::kGet, "/api/v1/devices?patient_id=ID", op_token},
      {true, net::Method::kGet, "/api/v1/patients/ID/readings", op_token},
      {true, net::Method::kGet, "/api/v1/patients/" + a_.patient_id + "/readings?from=ID",
       op_token},
      {true, net::Method::kGet, "/api/v1/patients/" + a_.patient_id + "/readings?cursor=ID",
       op_token},
      {true, net::Method::kGet, "/api/v1/ids/events?since=ID", op_token},
  };
  const Snapshot before = Take();
  for (const Probe& probe : probes) {
    for (std::size_t i = 0; i < ids.size(); ++i) {
      SCOPED_TRACE(probe.path + " with hostile id #" + std::to_string(i));
      std::string path = probe.path;
      path.replace(path.find("ID"), 2, ids[i]);
      const net::Response r = Send(probe.at_cloudlet ? cloudlet_urls_[0] : cloud_url_, probe.method,
                                   path, Bearer(probe.token));
      EXPECT_TRUE(r.status >= 400 && r.status < 500) << Why(r);
      EXPECT_TRUE(HasErrorBody(r));
    }
  }
  // Paths no route has, and methods a route does not take.
  ExpectRefusal(AtCloud(net::Method::kGet, "/api/v1/nothing", a_.token), 404, "unknown path");
  const net::Response put =
      Send(cloud_url_, net::Method::kPut, "/api/v1/consents", Bearer(a_.token), "{}");
  ExpectRefusal(put, 405, "PUT on consents");
  EXPECT_TRUE(put.Header("Allow").has_value());
  ExpectRefusal(Send(cloudlet_urls_[0], net::Method::kDelete, "/api/v1/devices", Bearer(a_.token)),
                405, "DELETE on devices");
  EXPECT_TRUE(Take() == before) << "a refused request changed what is stored";
}

// Registering an e-mail that has an account (A's, in any case) answers as a new registration
// would, so the answer tells no stranger the e-mail is known, and writes nothing.
TEST_F(BadInputTest, ATakenEmailIsAnsweredAsANewRegistrationAndWritesNothing) {
  const Snapshot before = Take();
  json patient = PatientRegistration(a_.email, true);
  patient["password"] = kOtherPassword;
  json doctor = DoctorRegistration(a_.email);
  doctor["email"] = " " + a_.email + " ";
  for (const auto& [path, body] : {std::pair{"/api/v1/accounts/patients", patient},
                                   std::pair{"/api/v1/accounts/doctors", doctor}}) {
    SCOPED_TRACE(path);
    const net::Response r = AtCloud(net::Method::kPost, path, {}, body);
    EXPECT_EQ(r.status, 201) << Why(r);
    EXPECT_EQ(Body(r).value("status", ""), "pending");
  }
  EXPECT_TRUE(Take() == before) << "a registration of a taken e-mail changed what is stored";
  // A's account is as it was: A's password still logs in, the other one does not.
  EXPECT_EQ(LogIn(a_.email).token.empty(), false);
  EXPECT_EQ(AtCloud(net::Method::kPost, "/api/v1/session", {},
                    {{"email", a_.email}, {"password", kOtherPassword}})
                .status,
            401);
}

TEST_F(BadInputTest, NestedObjectsAreCheckedAsStrictly) {
  const std::string answers = "/api/v1/consents/" + consent_a_ + "/answers";
  const Snapshot before = Take();
  for (const char* field : {"drug", "dose", "frequency", "duration"}) {
    json body = AnswerBody();
    body["prescription"].erase(field);
    ExpectRefusal(AtCloud(net::Method::kPost, answers, d1_.token, body), 400,
                  std::string("prescription without ") + field);
    body = AnswerBody();
    body["prescription"][field] = 5;
    ExpectRefusal(AtCloud(net::Method::kPost, answers, d1_.token, body), 400,
                  std::string("prescription with a number ") + field);
  }
  json extra = AnswerBody();
  extra["prescription"]["refills"] = "3";
  ExpectRefusal(AtCloud(net::Method::kPost, answers, d1_.token, extra), 400, "prescription extra");
  json too_long = AnswerBody();
  too_long["diagnosis"] = std::string(5000, 'x');
  ExpectRefusal(AtCloud(net::Method::kPost, answers, d1_.token, too_long), 400, "long diagnosis");

  const json record = {{"device_id", "watch-a"}, {"record_id", "rec-2"}};
  for (const json& records :
       {json::array(), json::array({"rec-2"}), json::array({json{{"device_id", "watch-a"}}}),
        json::array({json{{"device_id", "watch-a"}, {"record_id", "rec-2"}, {"x", 1}}}),
        json::array({json{{"device_id", 1}, {"record_id", "rec-2"}}})}) {
    ExpectRefusal(AtCloud(net::Method::kPost, "/api/v1/consents", a_.token,
                          {{"doctor_id", d1_.account_id}, {"records", records}}),
                  400, "records " + records.dump());
  }
  json many = json::array();
  for (int i = 0; i < 1000; ++i) many.push_back(record);
  ExpectRefusal(AtCloud(net::Method::kPost, "/api/v1/consents", a_.token,
                        {{"doctor_id", d1_.account_id}, {"records", many}}),
                400, "1000 records");
  json photo = PatientRegistration(NewEmail("photo"), false);
  photo["photo"] = {{"content_type", "image/png"}};
  ExpectRefusal(AtCloud(net::Method::kPost, "/api/v1/accounts/patients", {}, photo), 400,
                "photo without data");
  photo["photo"] = {{"content_type", "image/gif"}, {"data", PngBase64(100)}};
  ExpectRefusal(AtCloud(net::Method::kPost, "/api/v1/accounts/patients", {}, photo), 400,
                "gif photo");
  photo["photo"] = {{"content_type", "image/jpeg"}, {"data", PngBase64(100)}};
  ExpectRefusal(AtCloud(net::Method::kPost, "/api/v1/accounts/patients", {}, photo), 400,
                "a PNG said to be a JPEG");
  photo["photo"] = {{"content_type", "image/png"}, {"data", "not base64!"}};
  ExpectRefusal(AtCloud(net::Method::kPost, "/api/v1/accounts/patients", {}, photo), 400,
                "photo not base64");
  // A photo over 512 KiB (decoded) is 413, in a body the route still accepts.
  photo["photo"] = {{"content_type", "image/png"}, {"data", PngBase64(cloud::kMaxPhotoBytes + 1)}};
  ExpectRefusal(AtCloud(net::Method::kPost, "/api/v1/accounts/patients", {}, photo), 413,
                "oversized photo");
  // A body over the registration route's own limit (the photo's and the fields' room).
  photo["photo"] = {{"content_type", "image/png"}, {"data", PngBase64(900 * 1024)}};
  ExpectRefusal(AtCloud(net::Method::kPost, "/api/v1/accounts/patients", {}, photo), 413,
                "oversized registration");
  // Bodies where none is taken.
  ExpectRefusal(Send(cloud_url_, net::Method::kPost,
                     "/api/v1/consents/" + consent_a_ + "/revocation", Bearer(a_.token), "{}"),
                400, "revocation with a body");
  EXPECT_TRUE(Take() == before) << "a refused request changed what is stored";
}

TEST_F(BadInputTest, InjectionStringsAreStoredAndReturnedVerbatim) {
  for (const std::string& evil : kInjections) {
    SCOPED_TRACE("injection #" + std::to_string(&evil - kInjections.data()));
    // Registration: free-text profile and doctor fields come back as they were sent.
    const std::string email = NewEmail("inj");
    json patient = PatientRegistration(email, false);
    patient["display_name"] = evil;
    patient["full_name"] = evil;
    patient["phone"] = evil;
    patient["address"] = evil;
    patient["password"] = evil + " long enough";
    const net::Response registered =
        AtCloud(net::Method::kPost, "/api/v1/accounts/patients", {}, patient);
    ASSERT_EQ(registered.status, 201) << Why(registered);
    EXPECT_TRUE(Body(registered)["display_name"] == evil);
    Approve(Body(registered)["account_id"]);
    const Login login = LogIn(email, evil + " long enough");  // the password too, verbatim
    ASSERT_FALSE(login.token.empty());
    const json profile = Body(AtCloud(net::Method::kGet, "/api/v1/account/profile", login.token));
    EXPECT_TRUE(profile["full_name"] == evil && profile["phone"] == evil &&
                profile["address"] == evil);

    json doctor = DoctorRegistration(NewEmail("injdoc"));
    for (const char* field : {"display_name", "licence_number", "speciality", "hospital"}) {
      doctor[field] = evil;
    }
    const net::Response doc = AtCloud(net::Method::kPost, "/api/v1/accounts/doctors", {}, doctor);
    ASSERT_EQ(doc.status, 201) << Why(doc);
    for (const char* field : {"display_name", "licence_number", "speciality", "hospital"}) {
      EXPECT_TRUE(Body(doc)[field] == evil) << field;
    }
    // A rejection reason, an operator's name, an activation's reason.
    const std::string pending = RegisterPatient(NewEmail("injrej"));
    EXPECT_EQ(AtCloud(net::Method::kPost, "/api/v1/admin/registrations/" + pending + "/rejection",
                      admin_.token, {{"reason", evil}})
                  .status,
              200);
    const net::Response op = AtCloud(net::Method::kPost, "/api/v1/admin/operators", admin_.token,
                                     {{"email", NewEmail("injop")},
                                      {"password", kPassword},
                                      {"display_name", evil},
                                      {"cloudlet_id", "cloudlet-1"}});
    ASSERT_EQ(op.status, 201) << Why(op);
    EXPECT_TRUE(Body(op)["display_name"] == evil);
    const Login fresh = NewPatientAtCloudlet1();
    const std::string activation = RequestActivation(fresh, "cloudlet-1");
    const net::Response denied =
        AtCloud(net::Method::kPost, "/api/v1/activations/" + activation + "/decision", op1_.token,
                {{"approve", false}, {"reason", evil}});
    ASSERT_EQ(denied.status, 200) << Why(denied);
    const json mine = Body(AtCloud(net::Method::kGet, "/api/v1/activations", fresh.token));
    ASSERT_EQ(mine["activations"].size(), 1u);
    EXPECT_TRUE(mine["activations"][0]["reason"] == evil);

    // A doctor's answer: every field back to the patient and to the doctor verbatim.
    json answer = {{"diagnosis", evil},
                   {"medication", evil},
                   {"prescription",
                    {{"drug", evil},
                     {"dose", evil.substr(0, 100)},
                     {"frequency", evil.substr(0, 100)},
                     {"duration", evil.substr(0, 100)}}}};
    const net::Response answered = AtCloud(
        net::Method::kPost, "/api/v1/consents/" + consent_a_ + "/answers", d1_.token, answer);
    ASSERT_EQ(answered.status, 201) << Why(answered);
    const std::string answer_id = Body(answered)["answer_id"];
    bool seen = false;
    const net::Response listed = AtCloud(net::Method::kGet, "/api/v1/answers", a_.token);
    ASSERT_EQ(listed.status, 200) << Why(listed);
    const json answers = Body(listed)["answers"];  // a local: the loop must not outlive it
    for (const json& a : answers) {
      if (a["answer_id"] != answer_id) continue;
      seen = true;
      EXPECT_TRUE(a["diagnosis"] == evil && a["medication"] == evil &&
                  a["prescription"]["drug"] == evil &&
                  a["prescription"]["dose"] == evil.substr(0, 100));
    }
    EXPECT_TRUE(seen);
  }
  // Nothing was executed: every table is still there and still answers.
  const Snapshot after = Take();
  EXPECT_GE(after.counts[1], 7u);  // approved accounts
  EXPECT_EQ(AtCloud(net::Method::kGet, "/api/v1/consents", a_.token).status, 200);
  EXPECT_EQ(AtCloud(net::Method::kGet, "/api/v1/inbox", d1_.token).status, 200);
  EXPECT_EQ(Body(AtCloud(net::Method::kGet, "/api/v1/consents", a_.token))["consents"].size(), 1u);
}

// The IDS mesh's report route (ids/mesh_node.h) takes a node-signed binary body, no session:
// empty, garbage, every truncation and flipped bytes of a real envelope, an oversized body and a
// report of the receiver itself are each refused with a 4xx and an error body, never a 5xx, and
// no decision is adopted; the valid envelope is then accepted (202).
TEST_F(BadInputTest, MeshReportsRefuseEveryMalformedOrForgedEnvelope) {
  ids::MeshReport report;
  report.origin = "cloudlet-1";
  report.sequence = 7;
  report.sent_ms = wire::ToUnixMs(clock_.Now());
  report.decision.id = "00112233445566778899aabbccddeeff";
  report.decision.origin = "cloudlet-1";
  report.decision.detector = "credentials";
  report.decision.detector_version = 1;
  report.decision.scope = {ids::ScopeKind::kIp, "198.51.100.77"};
  report.decision.action = ids::Action::kBlock;
  report.decision.created_ms = report.sent_ms;
  report.decision.expires_ms = report.sent_ms + 600'000;
  auto signed_envelope = ids::SignMeshReport(report, *cloudlet1_signer_, cloudlet1_certificate_);
  ASSERT_TRUE(signed_envelope);
  const std::string good(AsStringView(*signed_envelope));
  const auto post = [&](const std::string& base, const std::string& body) {
    return Send(base, net::Method::kPost, "/api/v1/ids/mesh/reports", {}, body,
                "application/octet-stream");
  };
  ExpectRefusal(post(cloud_url_, ""), 400, "empty");
  ExpectRefusal(post(cloud_url_, "MMIDSE\x01garbage"), 400, "garbage");
  for (std::size_t cut = 1; cut < good.size(); cut += 37) {
    ExpectRefusal(post(cloud_url_, good.substr(0, cut)), 400,
                  "truncated at " + std::to_string(cut));
  }
  for (std::size_t at = 0; at < good.size(); at += 41) {
    std::string flipped = good;
    flipped[at] = static_cast<char>(flipped[at] ^ 0x20);
    const net::Response r = post(cloud_url_, flipped);
    SCOPED_TRACE("flipped at " + std::to_string(at));
    EXPECT_TRUE(r.status == 400 || r.status == 401) << Why(r);
    EXPECT_TRUE(HasErrorBody(r));
  }
  ExpectRefusal(post(cloud_url_, good + std::string(17 * 1024, 'x')), 413, "oversized");
  // cloudlet-1's own report sent to cloudlet-1: not a peer of itself.
  ExpectRefusal(post(cloudlet_urls_[0], good), 403, "its own report");
  const net::Response decisions = Send(cloud_url_, net::Method::kGet, "/api/v1/ids/decisions",
                                       Bearer(node::testing::TokenText(cloud_operator_token_)));
  ASSERT_EQ(decisions.status, 200);
  const auto listed = Body(decisions);  // kept alive: the loop walks into it
  for (const auto& d : listed["decisions"]) {
    EXPECT_NE(d["scope"]["value"], "198.51.100.77") << "a refused report was adopted";
  }
  EXPECT_EQ(post(cloud_url_, good).status, 202);
}

TEST_F(BadInputTest, ReplayedForgedAndExpiredTokensAndCookiesWithoutCsrfAreRefused) {
  // Replayed after logout: at the cloud at once, at the cloudlet after its next poll.
  const Login session = LogIn(a_.email);
  ASSERT_EQ(AtCloud(net::Method::kDelete, "/api/v1/session", session.token).status, 204);
  for (const char* path : {"/api/v1/session", "/api/v1/consents", "/api/v1/answers"}) {
    ExpectRefusal(AtCloud(net::Method::kGet, path, session.token), 401,
                  std::string("replayed at ") + path);
  }
  EXPECT_TRUE(testing::WaitUntil([&] {
    return Send(cloudlet_urls_[0], net::Method::kGet, "/api/v1/devices", Bearer(session.token))
               .status == 401;
  }));
  ExpectRefusal(
      Send(cloudlet_urls_[0], net::Method::kGet, "/api/v1/devices", Bearer(session.token)), 401,
      "replayed at the cloudlet");
  // Replayed after a password change revoked every session of the account.
  const Login before_change = LogIn(d2_.email);
  const Login changer = LogIn(d2_.email);
  ASSERT_EQ(AtCloud(net::Method::kPost, "/api/v1/account/password", changer.token,
                    {{"current_password", kPassword}, {"new_password", kOtherPassword}})
                .status,
            204);
  ExpectRefusal(AtCloud(net::Method::kGet, "/api/v1/inbox", before_change.token), 401,
                "after a password change");

  // Forged: every part of the token altered, and a token signed by another node's key.
  const std::string& token = b_.token;
  for (std::size_t at : {std::size_t{0}, token.find('.') + 1, token.size() / 2, token.size() - 1}) {
    std::string forged = token;
    forged[at] = forged[at] == 'A' ? 'B' : 'A';
    ExpectRefusal(AtCloud(net::Method::kGet, "/api/v1/consents", forged), 401,
                  "forged at " + std::to_string(at));
    ExpectRefusal(Send(cloudlet_urls_[1], net::Method::kGet, "/api/v1/devices", Bearer(forged)),
                  401, "forged at the cloudlet");
  }
  const std::int64_t now_ms = wire::ToUnixMs(clock_.Now());
  accounts::TokenIssuer impostor(crypto::NewEd25519Signer(cloudlet1_key_->Clone()), "cloud");
  auto claims = accounts::TokenClaims{.session_id = "ses_aaaaaaaaaaaaaaaaaaaaaaaaaa",
                                      .account_id = admin_.account_id,
                                      .role = accounts::Role::kAdmin,
                                      .patient_id = "",
                                      .cloudlet_id = "",
                                      .issued_ms = now_ms,
                                      .expires_ms = now_ms + 60'000,
                                      .issuer = "cloud",
                                      .csrf = "AAAAAAAAAAAAAAAAAAAAAA"};
  auto forged = impostor.Issue(claims);
  ASSERT_TRUE(forged);
  ExpectRefusal(AtCloud(net::Method::kGet, "/api/v1/admin/registrations", *forged), 401,
                "signed by a cloudlet's key");
  ExpectRefusal(AtCloud(net::Method::kGet, "/api/v1/admin/registrations", "not-a-token"), 401,
                "garbage");
  ExpectRefusal(Send(cloud_url_, net::Method::kGet, "/api/v1/admin/registrations",
                     {{"Authorization", "Basic YWRtaW46YWRtaW4="}}),
                401, "basic auth");

  // Cookie without (or with a wrong) X-CSRF-Token on a state-changing request: 403, nothing
  // written; reads need no header; the right header is accepted.
  const Snapshot snapshot = Take();
  const Headers cookie = {{"Cookie", a_.cookie}};
  const json grant = {{"doctor_id", d1_.account_id},
                      {"records", {{{"device_id", "watch-a"}, {"record_id", "rec-2"}}}}};
  ExpectRefusal(Send(cloud_url_, net::Method::kPost, "/api/v1/consents", cookie, grant.dump()), 403,
                "cookie without CSRF");
  Headers wrong = cookie;
  wrong.emplace_back("X-CSRF-Token", "AAAAAAAAAAAAAAAAAAAAAA");
  ExpectRefusal(Send(cloud_url_, net::Method::kPost, "/api/v1/consents", wrong, grant.dump()), 403,
                "cookie with a wrong CSRF");
  ExpectRefusal(Send(cloud_url_, net::Method::kDelete, "/api/v1/session", cookie), 403,
                "logout by cookie without CSRF");
  ExpectRefusal(Send(cloud_url_, net::Method::kPost,
                     "/api/v1/integrity/records/watch-a/rec-1/verify", cookie),
                403, "verify by cookie without CSRF");
  ExpectRefusal(
      Send(cloudlet_urls_[0], net::Method::kPost, "/api/v1/devices/watch-a/withdrawal", cookie),
      403, "withdrawal at the cloudlet by cookie without CSRF");
  EXPECT_TRUE(Take() == snapshot) << "a refused request changed what is stored";
  EXPECT_EQ(Send(cloud_url_, net::Method::kGet, "/api/v1/consents", cookie).status, 200);
  Headers right = cookie;
  right.emplace_back("X-CSRF-Token", a_.csrf);
  EXPECT_EQ(Send(cloud_url_, net::Method::kPost, "/api/v1/consents", right, grant.dump()).status,
            201);

  // Expired: the injected clock moves past the 15 minutes of every session.
  clock_.Advance(std::chrono::minutes(16));
  for (const Login* who : {&a_, &d1_, &op1_, &admin_}) {
    const net::Response expired = AtCloud(net::Method::kGet, "/api/v1/session", who->token);
    ExpectRefusal(expired, 401, "expired");
    EXPECT_EQ(Body(expired).value("message", ""), "session expired");
  }
  ExpectRefusal(AtCloud(net::Method::kGet, "/api/v1/inbox", d1_.token), 401, "expired inbox");
}

}  // namespace
}  // namespace medmesh::people_testing

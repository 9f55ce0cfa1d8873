// Sessions at a cloudlet (cloudlet/cloudlet_sessions.h, docs/accounts.md "At a cloudlet"), over
// HTTP against a real cloud and two real cloudlets (tests/people_world.h): logging in at a
// cloudlet (relayed to the cloud, with the cloud's answers and the cloudlet's own cookies), a
// wrong password, who am I, logging out (the revocation reaches the cloud and the other
// cloudlet), and cookie calls that need the CSRF header. Output names statuses and fields only,
// never ids, e-mails or tokens.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "net/test_support.h"
#include "people_world.h"

namespace medmesh::people_testing {
namespace {

// The Set-Cookie values of a response.
std::vector<std::string> SetCookies(const net::Response& r) {
  std::vector<std::string> out;
  for (const auto& [name, value] : r.headers) {
    if (net::EqualsIgnoreCase(name, "Set-Cookie")) out.push_back(value);
  }
  return out;
}

// "mm_session=...; mm_csrf=..." as a browser would send the cookies back.
std::string CookieHeader(const net::Response& r) {
  std::string out;
  for (const std::string& c : SetCookies(r)) {
    if (!out.empty()) out += "; ";
    out += c.substr(0, c.find(';'));
  }
  return out;
}

bool HasHeader(const net::Response& r, const std::string& name) {
  for (const auto& [n, v] : r.headers) {
    if (net::EqualsIgnoreCase(n, name)) return true;
  }
  return false;
}

class CloudletSessionsTest : public PeopleWorld {
 protected:
  net::Response AtCloudlet(int index, net::Method method, const std::string& path,
                           Headers headers = {}, const json& body = nullptr) {
    return Send(cloudlet_urls_[index], method, path, std::move(headers),
                body.is_null() ? "" : body.dump());
  }
  net::Response LogInAtCloudlet(int index, const std::string& email,
                                const std::string& password = kPassword) {
    return AtCloudlet(index, net::Method::kPost, "/api/v1/session", {},
                      {{"email", email}, {"password", password}});
  }
  // The cloudlet's IDS event count (operator token).
  std::uint64_t IdsEvents(int index) {
    const net::Response r =
        AtCloudlet(index, net::Method::kGet, "/api/v1/stats",
                   Bearer(node::testing::TokenText(cloudlet_operator_tokens_[index])));
    EXPECT_EQ(r.status, 200) << Why(r);
    return Body(r).value("ids_events", std::uint64_t{0});
  }
};

TEST_F(CloudletSessionsTest, LogsInThroughTheCloudWithItsAnswerAndOwnCookies) {
  const net::Response at_cloud = AtCloud(net::Method::kPost, "/api/v1/session", {},
                                         {{"email", a_.email}, {"password", kPassword}});
  const net::Response r = LogInAtCloudlet(0, a_.email);
  ASSERT_EQ(r.status, 200) << Why(r);
  const json body = Body(r);
  // The same members as the cloud's own login answer, nothing more.
  std::vector<std::string> members, cloud_members;
  for (const auto& [k, v] : body.items()) members.push_back(k);
  const json cloud_body = Body(at_cloud);
  for (const auto& [k, v] : cloud_body.items()) cloud_members.push_back(k);
  EXPECT_EQ(members, cloud_members);
  EXPECT_EQ(body["role"], "patient");
  EXPECT_TRUE(body["account_id"] == a_.account_id);
  EXPECT_TRUE(body["patient_id"] == a_.patient_id);

  // The cookies: mm_session HttpOnly, mm_csrf readable, both SameSite=Strict, not Secure (HTTP).
  const std::vector<std::string> cookies = SetCookies(r);
  ASSERT_EQ(cookies.size(), 2u);
  EXPECT_TRUE(cookies[0].starts_with("mm_session=" + body["token"].get<std::string>() + ";"));
  EXPECT_NE(cookies[0].find("HttpOnly"), std::string::npos);
  EXPECT_TRUE(cookies[1].starts_with("mm_csrf=" + body["csrf"].get<std::string>() + ";"));
  EXPECT_EQ(cookies[1].find("HttpOnly"), std::string::npos);
  for (const std::string& c : cookies) {
    EXPECT_NE(c.find("SameSite=Strict"), std::string::npos);
    EXPECT_EQ(c.find("Secure"), std::string::npos);
  }

  // The session is the cloud's: it works there, and at the other cloudlet.
  const std::string token = body["token"];
  EXPECT_EQ(AtCloud(net::Method::kGet, "/api/v1/session", token).status, 200);
  EXPECT_EQ(AtCloudlet(1, net::Method::kGet, "/api/v1/session", Bearer(token)).status, 200);

  // Who am I, with the cookie: the token's claims and the names the cloud gave at login.
  const net::Response me =
      AtCloudlet(0, net::Method::kGet, "/api/v1/session", {{"Cookie", CookieHeader(r)}});
  ASSERT_EQ(me.status, 200) << Why(me);
  const json who = Body(me);
  EXPECT_EQ(who["role"], "patient");
  EXPECT_TRUE(who["account_id"] == a_.account_id);
  EXPECT_TRUE(who["patient_id"] == a_.patient_id);
  EXPECT_EQ(who["display_name"], "Pat");
  EXPECT_TRUE(who["email"] == a_.email);
  EXPECT_EQ(who["via_cookie"], true);
  EXPECT_TRUE(who["csrf"] == body["csrf"]);
  EXPECT_TRUE(who["expires_ms"] == body["expires_ms"]);
  EXPECT_TRUE(HasHeader(me, "Cache-Control"));
}

TEST_F(CloudletSessionsTest, WhoAmIOfASessionMadeAtTheCloudAsksTheCloudForTheNames) {
  // op1 logged in at the cloud (PeopleWorld): cloudlet-1 has never seen this session.
  const net::Response me = AtCloudlet(0, net::Method::kGet, "/api/v1/session", Bearer(op1_.token));
  ASSERT_EQ(me.status, 200) << Why(me);
  const json who = Body(me);
  EXPECT_EQ(who["role"], "operator");
  EXPECT_EQ(who["cloudlet_id"], "cloudlet-1");
  EXPECT_EQ(who["display_name"], "Op");
  EXPECT_TRUE(who["email"] == op1_.email);
  EXPECT_EQ(who["via_cookie"], false);
  EXPECT_FALSE(who.contains("patient_id"));

  // Nobody, a forged token and a cookie that is not a session: 401 with the error body.
  for (const Headers& h : std::vector<Headers>{
           {}, Bearer("mm1.e30.AAAA"), {{"Cookie", "mm_session=mm1.e30.AAAA; mm_csrf=x"}}}) {
    const net::Response r = AtCloudlet(0, net::Method::kGet, "/api/v1/session", h);
    EXPECT_EQ(r.status, 401) << Why(r);
    EXPECT_TRUE(HasErrorBody(r));
  }
}

TEST_F(CloudletSessionsTest, AWrongPasswordIsTheCloudsRefusalAndAnIdsEventHere) {
  const std::uint64_t events = IdsEvents(0);
  const net::Response at_cloud = AtCloud(net::Method::kPost, "/api/v1/session", {},
                                         {{"email", d1_.email}, {"password", kOtherPassword}});
  const net::Response r = LogInAtCloudlet(0, d1_.email, kOtherPassword);
  ASSERT_EQ(r.status, 401) << Why(r);
  EXPECT_TRUE(r.body == at_cloud.body) << "the cloudlet's refusal differs from the cloud's";
  EXPECT_EQ(Body(r)["reason"], "invalid_credentials");
  EXPECT_TRUE(SetCookies(r).empty());
  EXPECT_TRUE(HasHeader(r, "WWW-Authenticate"));
  // An unknown e-mail is the same refusal.
  const net::Response unknown = LogInAtCloudlet(0, "nobody@example.test", kOtherPassword);
  EXPECT_EQ(unknown.status, 401);
  EXPECT_TRUE(unknown.body == r.body);
  EXPECT_TRUE(testing::WaitUntil([&] { return IdsEvents(0) >= events + 2; }));

  // Malformed bodies never reach the cloud.
  for (const std::string& bad :
       {std::string("{"), std::string("[]"), json{{"email", d1_.email}}.dump(),
        json{{"email", d1_.email}, {"password", 7}}.dump(),
        json{{"email", "x"}, {"password", "y"}, {"role", "admin"}}.dump()}) {
    const net::Response b = Send(cloudlet_urls_[0], net::Method::kPost, "/api/v1/session", {}, bad);
    EXPECT_EQ(b.status, 400) << Why(b);
    EXPECT_TRUE(HasErrorBody(b));
  }
}

// Account references at the cloudlet (docs/ids.md "Accounts", ADR 0042): its relayed-login
// failures name the login by the cloudlet's own reference, so its credentials detector sees
// credential stuffing across accounts from one address and blocks the address there.
TEST_F(CloudletSessionsTest, StuffingThroughTheCloudletIsBlockedTherePerSource) {
  const auto login_from = [&](const std::string& from, const std::string& email) {
    net::testing::RawConnection c(cloudlets_[0]->port(), std::chrono::seconds(10), from);
    if (!c.connected()) return 0;
    const std::string body = json{{"email", email}, {"password", kOtherPassword}}.dump();
    if (!c.Send("POST /api/v1/session HTTP/1.1\r\nHost: cloudlet\r\n"
                "Content-Type: application/json\r\nConnection: close\r\nContent-Length: " +
                std::to_string(body.size()) + "\r\n\r\n" + body)) {
      return 0;
    }
    const auto reply = c.Read();
    return reply ? reply->status : 0;
  };
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(login_from("127.0.0.41", NewEmail("stuffed")), 401);
  }
  const std::string op = node::testing::TokenText(cloudlet_operator_tokens_[0]);
  const json decisions =
      Body(AtCloudlet(0, net::Method::kGet, "/api/v1/ids/decisions", Bearer(op)))["decisions"];
  const auto blocked = std::find_if(decisions.begin(), decisions.end(), [](const json& d) {
    return d["scope"]["value"] == "127.0.0.41";
  });
  ASSERT_NE(blocked, decisions.end()) << "the cloudlet decided on the address";
  EXPECT_EQ((*blocked)["action"], "block");
  EXPECT_EQ((*blocked)["origin"], "cloudlet-1");
  EXPECT_NE((*blocked)["reason"].get<std::string>().find("stuffing"), std::string::npos);
  const int next = login_from("127.0.0.41", NewEmail("stuffed"));
  EXPECT_TRUE(next == 403 || next == 0) << next;
}

// A cloudlet's own account decision is asked before it relays: with the cloud's decision on the
// same account revoked, the cloudlet still refuses (429 account_throttled) until its operator
// revokes its own; its reference of the account is not the cloud's (per-node keys).
TEST_F(CloudletSessionsTest, ACloudletsAccountDecisionIsEnforcedBeforeTheRelay) {
  const std::string email = NewEmail("hammered");
  Approve(RegisterPatient(email));
  // 20 wrong passwords through the cloudlet: 5 failures, then the cloud's lock (429 locked_out);
  // both count at both nodes, whose credentials detectors throttle the account.
  for (int i = 0; i < 20; ++i) {
    const int status = LogInAtCloudlet(0, email, kOtherPassword).status;
    EXPECT_TRUE(status == 401 || status == 429) << status;
  }
  const std::string op = node::testing::TokenText(cloudlet_operator_tokens_[0]);
  const std::string cloud_op = node::testing::TokenText(cloud_operator_token_);
  const auto account_decision = [](const net::Response& r) {
    const json listed = Body(r);
    for (const json& d : listed["decisions"]) {
      if (d["scope"]["kind"] == "account") return d;
    }
    return json();
  };
  const json here =
      account_decision(AtCloudlet(0, net::Method::kGet, "/api/v1/ids/decisions", Bearer(op)));
  const json there =
      account_decision(AtCloud(net::Method::kGet, "/api/v1/ids/decisions", cloud_op));
  ASSERT_TRUE(here.is_object()) << "the cloudlet throttles the account";
  ASSERT_TRUE(there.is_object()) << "the cloud throttles the account";
  EXPECT_EQ(here["action"], "throttle");
  EXPECT_NE(here["scope"]["value"], there["scope"]["value"]) << "each node keys its references";
  EXPECT_EQ(here["scope"]["value"].get<std::string>().find("example"), std::string::npos);
  ASSERT_EQ(
      AtCloud(net::Method::kPost,
              "/api/v1/ids/decisions/" + there["id"].get<std::string>() + "/revocation", cloud_op)
          .status,
      200);
  // The cloudlet's throttle lets one attempt per 20 s through; within two tries one is its own
  // refusal (the cloud's decision is gone).
  net::Response refused;
  for (int i = 0; i < 2 && refused.status != 429; ++i) {
    refused = LogInAtCloudlet(0, email, kPassword);
    if (refused.status == 429 && Body(refused)["reason"] != "account_throttled") refused = {};
  }
  ASSERT_EQ(refused.status, 429) << Why(refused);
  EXPECT_EQ(Body(refused)["reason"], "account_throttled");
  EXPECT_TRUE(HasHeader(refused, "Retry-After"));
  // Its operator's revoke lifts it: what answers now is the cloud's own account lock.
  ASSERT_EQ(AtCloudlet(0, net::Method::kPost,
                       "/api/v1/ids/decisions/" + here["id"].get<std::string>() + "/revocation",
                       Bearer(op))
                .status,
            200);
  const net::Response after = LogInAtCloudlet(0, email, kPassword);
  EXPECT_EQ(after.status, 429) << Why(after);
  EXPECT_EQ(Body(after)["reason"], "locked_out");
}

TEST_F(CloudletSessionsTest, TheCloudsThrottleLocksAnAccountThroughTheCloudlet) {
  const std::string email = NewEmail("locked");
  Approve(RegisterPatient(email));
  // The account's throttle (5 failures) is the cloud's, and applies to relayed logins.
  int failures = 0;
  net::Response r;
  for (int i = 0; i < 10; ++i) {
    r = LogInAtCloudlet(0, email, kOtherPassword);
    if (r.status != 401) break;
    ++failures;
  }
  EXPECT_EQ(failures, 5);
  ASSERT_EQ(r.status, 429) << Why(r);
  EXPECT_EQ(Body(r)["reason"], "locked_out");
  EXPECT_TRUE(HasHeader(r, "Retry-After"));
  // Locked at the cloud too, even with the right password.
  const net::Response at_cloud = AtCloud(net::Method::kPost, "/api/v1/session", {},
                                         {{"email", email}, {"password", kPassword}});
  EXPECT_EQ(at_cloud.status, 429);
}

TEST_F(CloudletSessionsTest, LogoutNeedsCsrfAndRevokesAtTheCloudAndEveryCloudlet) {
  const net::Response login = LogInAtCloudlet(0, b_.email);
  ASSERT_EQ(login.status, 200) << Why(login);
  const std::string token = Body(login)["token"];
  const std::string csrf = Body(login)["csrf"];
  const std::string cookie = CookieHeader(login);
  ASSERT_EQ(AtCloudlet(1, net::Method::kGet, "/api/v1/session", Bearer(token)).status, 200);

  // A cookie request that may change state needs the CSRF header, and the right one.
  for (const Headers& h : std::vector<Headers>{{{"Cookie", cookie}},
                                               {{"Cookie", cookie}, {"X-CSRF-Token", "wrong"}}}) {
    const net::Response r = AtCloudlet(0, net::Method::kDelete, "/api/v1/session", h);
    EXPECT_EQ(r.status, 403) << Why(r);
    EXPECT_EQ(Body(r)["reason"], "csrf_required");
  }
  EXPECT_EQ(AtCloud(net::Method::kGet, "/api/v1/session", token).status, 200);

  const net::Response out = AtCloudlet(0, net::Method::kDelete, "/api/v1/session",
                                       {{"Cookie", cookie}, {"X-CSRF-Token", csrf}});
  ASSERT_EQ(out.status, 204) << Why(out);
  const std::vector<std::string> cleared = SetCookies(out);
  ASSERT_EQ(cleared.size(), 2u);
  for (const std::string& c : cleared) EXPECT_NE(c.find("Max-Age=0"), std::string::npos);

  // Revoked at the cloud, refused here at once, and at the other cloudlet from its next poll.
  EXPECT_EQ(AtCloud(net::Method::kGet, "/api/v1/session", token).status, 401);
  EXPECT_EQ(AtCloudlet(0, net::Method::kGet, "/api/v1/session", {{"Cookie", cookie}}).status, 401);
  EXPECT_EQ(AtCloudlet(0, net::Method::kGet, "/api/v1/devices", Bearer(token)).status, 401);
  EXPECT_TRUE(testing::WaitUntil([&] {
    return AtCloudlet(1, net::Method::kGet, "/api/v1/session", Bearer(token)).status == 401;
  }));
  // Logging out again: the session is over (401), and the cookies are cleared again.
  const net::Response again = AtCloudlet(0, net::Method::kDelete, "/api/v1/session", Bearer(token));
  EXPECT_EQ(again.status, 401) << Why(again);
}

TEST_F(CloudletSessionsTest, ALogoutAtTheCloudEndsTheSessionAtTheCloudlet) {
  const net::Response login = LogInAtCloudlet(0, d2_.email);
  ASSERT_EQ(login.status, 200) << Why(login);
  const std::string token = Body(login)["token"];
  ASSERT_EQ(AtCloud(net::Method::kDelete, "/api/v1/session", token).status, 204);
  EXPECT_TRUE(testing::WaitUntil([&] {
    return AtCloudlet(0, net::Method::kGet, "/api/v1/session", Bearer(token)).status == 401;
  }));
}

TEST_F(CloudletSessionsTest, CookieCallsAtTheCloudletNeedCsrfToChangeState) {
  const net::Response login = LogInAtCloudlet(0, op1_.email);
  ASSERT_EQ(login.status, 200) << Why(login);
  const std::string cookie = CookieHeader(login);
  const std::string csrf = Body(login)["csrf"];

  // Reading needs no CSRF header: the operator's devices and the full stats.
  EXPECT_EQ(AtCloudlet(0, net::Method::kGet, "/api/v1/devices", {{"Cookie", cookie}}).status, 200);
  const net::Response stats =
      AtCloudlet(0, net::Method::kGet, "/api/v1/stats", {{"Cookie", cookie}});
  ASSERT_EQ(stats.status, 200) << Why(stats);
  EXPECT_TRUE(Body(stats).contains("ids_events"));
  EXPECT_FALSE(Body(AtCloudlet(0, net::Method::kGet, "/api/v1/stats")).contains("ids_events"));
  // An operator of another cloudlet, by cookie, is refused the full stats here.
  const net::Response other = LogInAtCloudlet(0, op2_.email);
  ASSERT_EQ(other.status, 200) << Why(other);
  EXPECT_EQ(
      AtCloudlet(0, net::Method::kGet, "/api/v1/stats", {{"Cookie", CookieHeader(other)}}).status,
      403);

  // Withdrawing a device changes state: 403 csrf_required without the header, 200 with it.
  const std::string device = "watch-c1";
  ASSERT_FALSE(EnrolWithToken(device, a_.patient_id, 0).empty());
  const std::string path = "/api/v1/devices/" + device + "/withdrawal";
  const net::Response refused = AtCloudlet(0, net::Method::kPost, path, {{"Cookie", cookie}});
  EXPECT_EQ(refused.status, 403) << Why(refused);
  EXPECT_EQ(Body(refused)["reason"], "csrf_required");
  const net::Response done =
      AtCloudlet(0, net::Method::kPost, path, {{"Cookie", cookie}, {"X-CSRF-Token", csrf}});
  EXPECT_EQ(done.status, 200) << Why(done);
  EXPECT_EQ(Body(done)["status"], "withdrawn");
}

TEST_F(CloudletSessionsTest, TheRelayRouteAtTheCloudTakesOnlyThatCloudletsSignature) {
  const json body{{"email", a_.email}, {"password", kPassword}, {"client_address", "10.0.0.7"}};
  // cloudlet-1's signature on cloudlet-2's route, and a cloud's signature: 401, no session.
  const std::string other = "/api/v1/cloudlets/cloudlet-2/sessions";
  const net::Response wrong =
      Send(cloud_url_, net::Method::kPost, other,
           {{"Authorization",
             NodeSignature(*cloudlet1_signer_, cloudlet1_certificate_, "cloud", other)}},
           body.dump());
  EXPECT_EQ(wrong.status, 401) << Why(wrong);
  EXPECT_FALSE(Body(wrong).contains("token"));
  const std::string own = "/api/v1/cloudlets/cloudlet-1/sessions";
  const net::Response cloud_signed =
      Send(cloud_url_, net::Method::kPost, own,
           {{"Authorization", NodeSignature(*cloud_signer_, cloud_certificate_, "cloud", own)}},
           body.dump());
  EXPECT_EQ(cloud_signed.status, 401) << Why(cloud_signed);

  // Signed by cloudlet-1: the cloud's login answer plus the names, and no cookies.
  const Headers signed_by_1 = {
      {"Authorization", NodeSignature(*cloudlet1_signer_, cloudlet1_certificate_, "cloud", own)}};
  const net::Response ok = Send(cloud_url_, net::Method::kPost, own, signed_by_1, body.dump());
  ASSERT_EQ(ok.status, 200) << Why(ok);
  EXPECT_TRUE(Body(ok).contains("token"));
  EXPECT_EQ(Body(ok)["display_name"], "Pat");
  EXPECT_TRUE(SetCookies(ok).empty());
  // The person's address must look like one.
  json bad = body;
  bad["client_address"] = "10.0.0.7\r\nX: y";
  EXPECT_EQ(Send(cloud_url_, net::Method::kPost, own, signed_by_1, bad.dump()).status, 400);
}

// A newly registered patient has no device anywhere: they log in at a cloudlet and enrol a
// console device for themselves (never for anyone else), drive it, and can then ask that
// cloudlet for portal access; another patient cannot see or drive it.
TEST_F(CloudletSessionsTest, ANewPatientEnrolsAConsoleDeviceForThemselvesThenAsksForAccess) {
  const Login fresh = NewPatient(NewEmail("self"));
  const json ask{{"cloudlet_id", "cloudlet-1"}};
  EXPECT_EQ(AtCloud(net::Method::kPost, "/api/v1/activations", fresh.token, ask).status, 404)
      << "no data at cloudlet-1 yet";

  const std::string devices = "/api/v1/console/devices";
  EXPECT_EQ(AtCloudlet(0, net::Method::kPost, devices, Bearer(fresh.token),
                       {{"patient_id", a_.patient_id}})
                .status,
            403)
      << "a patient enrols only for themselves";
  const net::Response enrolled = AtCloudlet(0, net::Method::kPost, devices, Bearer(fresh.token),
                                            {{"profile", "hypertension"}});
  ASSERT_EQ(enrolled.status, 201) << Why(enrolled);
  EXPECT_TRUE(Body(enrolled).value("patient_id", "") == fresh.patient_id);
  const std::string device = Body(enrolled).value("device_id", "");
  const std::string base = devices + "/" + device;

  // The patient drives their device; another patient gets what an unknown device gets.
  const json report{{"name", "Fresh Patient"}, {"symptoms", {"headache"}}, {"pulse_bpm", 72}};
  EXPECT_EQ(
      AtCloudlet(0, net::Method::kPost, base + "/reports", Bearer(fresh.token), report).status,
      201);
  EXPECT_EQ(AtCloudlet(0, net::Method::kPost, base + "/stream", Bearer(fresh.token)).status, 200);
  EXPECT_EQ(AtCloudlet(0, net::Method::kDelete, base + "/stream", Bearer(fresh.token)).status, 200);
  const net::Response foreign =
      AtCloudlet(0, net::Method::kPost, base + "/stream", Bearer(a_.token));
  const net::Response unknown = AtCloudlet(
      0, net::Method::kPost, devices + "/console-0000000000000000/stream", Bearer(a_.token));
  EXPECT_EQ(foreign.status, 404);
  EXPECT_EQ(foreign.body, unknown.body);
  const json listed = Body(AtCloudlet(0, net::Method::kGet, devices, Bearer(a_.token)));
  for (const json& d : listed.value("devices", json::array())) {
    EXPECT_FALSE(d.value("device_id", "") == device) << "another patient's list holds it";
  }

  // The cloud learns the enrolment: now the patient may ask cloudlet-1.
  EXPECT_TRUE(testing::WaitUntil([&] {
    auto cloudlets = cloud_->intake_store().CloudletsOfPatient(fresh.patient_id);
    return cloudlets && !cloudlets->empty();
  }));
  EXPECT_EQ(AtCloud(net::Method::kPost, "/api/v1/activations", fresh.token, ask).status, 201);
}

}  // namespace
}  // namespace medmesh::people_testing

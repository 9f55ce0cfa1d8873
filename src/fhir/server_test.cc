#include "fhir/server.h"

#include <set>

#include "gtest/gtest.h"

namespace medmesh::fhir {
namespace {

constexpr std::int64_t kT0 = 1'709'622'489'010;
const ServerInfo kServer{"https://cloud.test/fhir/r4", "MedMesh", "1.2.3"};

Json Obs(const std::string& id) { return Json{{"resourceType", "Observation"}, {"id", id}}; }

TEST(BundleTest, SearchSetHasFullUrlsModesAndTotal) {
  const Json b = *SearchSetBundle(
      kServer, "https://cloud.test/fhir/r4/Observation?code=x",
      {{Obs("a"), SearchMode::kMatch},
       {Obs("b"), SearchMode::kMatch},
       {Json{{"resourceType", "Practitioner"}, {"id", "d"}}, SearchMode::kInclude}},
      kT0);
  EXPECT_EQ(b["type"], "searchset");
  EXPECT_EQ(b["total"], 2);  // matches only
  EXPECT_EQ(b["timestamp"], "2024-03-05T07:08:09.010Z");
  EXPECT_EQ(b["link"][0]["relation"], "self");
  ASSERT_EQ(b["entry"].size(), 3u);
  EXPECT_EQ(b["entry"][0]["fullUrl"], "https://cloud.test/fhir/r4/Observation/a");
  EXPECT_EQ(b["entry"][0]["search"]["mode"], "match");
  EXPECT_EQ(b["entry"][2]["fullUrl"], "https://cloud.test/fhir/r4/Practitioner/d");
  EXPECT_EQ(b["entry"][2]["search"]["mode"], "include");
  EXPECT_EQ(b["entry"][1]["resource"], Obs("b"));
}

TEST(BundleTest, EmptySearchHasNoEntryAndAnExplicitTotalWins) {
  const Json empty = *SearchSetBundle(kServer, "http://h/x", {}, kT0);
  EXPECT_EQ(empty["total"], 0);
  EXPECT_FALSE(empty.contains("entry"));
  EXPECT_EQ((*SearchSetBundle(kServer, "http://h/x", {{Obs("a")}}, kT0, 50))["total"], 50);
}

TEST(BundleTest, RejectsBadUrlsAndEntries) {
  EXPECT_FALSE(SearchSetBundle({"cloud.test/fhir", "", ""}, "http://h/x", {}, kT0).has_value());
  EXPECT_FALSE(SearchSetBundle({"https://h/fhir/", "", ""}, "http://h/x", {}, kT0).has_value());
  EXPECT_FALSE(SearchSetBundle({"https://", "", ""}, "http://h/x", {}, kT0).has_value());
  EXPECT_FALSE(SearchSetBundle({"https://h/a b", "", ""}, "http://h/x", {}, kT0).has_value());
  EXPECT_FALSE(SearchSetBundle(kServer, "/relative", {}, kT0).has_value());
  EXPECT_TRUE(
      SearchSetBundle(kServer, "https://h/Observation?code=http://loinc.org|8867-4", {}, kT0)
          .has_value());  // a raw '|' from a token parameter is fine in a FHIR uri
  EXPECT_FALSE(SearchSetBundle(kServer, "http://h/x", {{Json{{"id", "a"}}}}, kT0).has_value());
  EXPECT_FALSE(SearchSetBundle(kServer, "http://h/x", {{Obs("a_b")}}, kT0).has_value());
  EXPECT_FALSE(SearchSetBundle(kServer, "http://h/x", {}, -1).has_value());
}

TEST(BundleTest, EverythingStartsWithThePatient) {
  const Json patient{{"resourceType", "Patient"}, {"id", "p"}};
  const Json b = *EverythingBundle(kServer, "https://cloud.test/fhir/r4/Patient/p/$everything",
                                   patient, {Obs("a"), Obs("b")}, kT0);
  EXPECT_EQ(b["total"], 3);
  EXPECT_EQ(b["entry"][0]["resource"], patient);
  EXPECT_EQ(b["entry"][2]["search"]["mode"], "match");
  EXPECT_FALSE(EverythingBundle(kServer, "http://h/x", Obs("a"), {}, kT0).has_value());
}

TEST(CapabilityStatementTest, DescribesTheReadOnlyServer) {
  const Json c = *CapabilityStatementResource(kServer, kT0);
  EXPECT_EQ(c["fhirVersion"], "4.0.1");
  EXPECT_EQ(c["kind"], "instance");
  EXPECT_EQ(c["implementation"]["url"], kServer.base_url);
  EXPECT_EQ(c["software"]["version"], "1.2.3");
  const Json& rest = c["rest"][0];
  EXPECT_EQ(rest["mode"], "server");
  std::vector<std::string> types;
  for (const Json& r : rest["resource"]) {
    types.push_back(r["type"]);
    std::set<std::string> interactions;
    for (const Json& i : r["interaction"]) interactions.insert(i["code"]);
    EXPECT_EQ(interactions, (std::set<std::string>{"read", "search-type"}));  // nothing writes
  }
  EXPECT_EQ(types,
            std::vector<std::string>(ServedResourceTypes().begin(), ServedResourceTypes().end()));
  std::set<std::string> observation_params;
  for (const Json& p : rest["resource"][1]["searchParam"]) observation_params.insert(p["name"]);
  EXPECT_EQ(observation_params, (std::set<std::string>{"patient", "code", "date", "_count"}));
  EXPECT_EQ(rest["resource"][0]["operation"][0]["name"], "everything");
  EXPECT_FALSE(CapabilityStatementResource({"ftp://x", "", ""}, kT0).has_value());
}

TEST(BundleTest, AddNextLinkAppendsANextLink) {
  const ServerInfo server{"https://cloud.test/fhir/r4", "MedMesh", "1"};
  Json b = *SearchSetBundle(server, server.base_url + "/Observation", {}, kT0);
  ASSERT_TRUE(AddNextLink(b, server.base_url + "/Observation?_cursor=1-0"));
  ASSERT_EQ(b["link"].size(), 2u);
  EXPECT_EQ(b["link"][1]["relation"], "next");
  EXPECT_EQ(b["link"][1]["url"], "https://cloud.test/fhir/r4/Observation?_cursor=1-0");
  EXPECT_FALSE(AddNextLink(b, "/relative"));
  Json not_bundle = Json::object();
  EXPECT_FALSE(AddNextLink(not_bundle, server.base_url));
}

TEST(OperationOutcomeTest, MapsCodesAndHidesInternalMessages) {
  const Json nf = OperationOutcomeResource(NotFound("no such resource"));
  EXPECT_EQ(nf["issue"][0]["severity"], "error");
  EXPECT_EQ(nf["issue"][0]["code"], "not-found");
  EXPECT_EQ(nf["issue"][0]["diagnostics"], "no such resource");
  EXPECT_EQ(OperationOutcomeResource(InvalidArgument("x"))["issue"][0]["code"], "invalid");
  EXPECT_EQ(OperationOutcomeResource(PermissionDenied("x"))["issue"][0]["code"], "forbidden");
  EXPECT_EQ(OperationOutcomeResource(Unauthenticated("x"))["issue"][0]["code"], "login");
  EXPECT_EQ(OperationOutcomeResource(ResourceExhausted("x"))["issue"][0]["code"], "throttled");
  for (const Error& e : {Internal("/var/lib/medmesh/keys/kek.bin missing"),
                         DataLoss("row 7 of table secrets"), Unavailable("pg at 10.0.0.5")}) {
    const std::string body = OperationOutcomeResource(e).dump();
    EXPECT_EQ(body.find(e.message()), std::string::npos);
  }
  EXPECT_EQ(OperationOutcomeResource(Internal("x"))["issue"][0]["diagnostics"], "internal error");
  EXPECT_EQ(OperationOutcomeResource(NotFound(""))["issue"][0].contains("diagnostics"), false);
}

}  // namespace
}  // namespace medmesh::fhir

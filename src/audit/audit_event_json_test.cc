// The AuditEvent rendering: BALP-style codes per kind of event, agents, entities, and the
// canonical bytes the chain hashes (pinned: they are persisted).
#include "audit/audit_event_json.h"

#include <gtest/gtest.h>

#include "audit/audit_log.h"
#include "core/bytes.h"

namespace medmesh::audit {
namespace {

using Json = nlohmann::json;

AuditEntry DoctorReadsRecord() {
  AuditEntry e;
  e.time_ms = 1'800'000'000'123;
  e.event = "record.read";
  e.action = Action::kRead;
  e.actor_account_id = "acc_doc";
  e.actor_role = "doctor";
  e.source_address = "192.0.2.7";
  e.patient_id = "pat_1";
  e.entity_type = "DocumentReference";
  e.entity_id = "rec_9";
  return e;
}

TEST(FormatInstantTest, RendersUtcWithMilliseconds) {
  EXPECT_EQ(FormatInstant(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatInstant(1'800'000'000'123), "2027-01-15T08:00:00.123Z");
  EXPECT_EQ(FormatInstant(951'782'400'000 + 86'399'999), "2000-02-29T23:59:59.999Z");
}

TEST(AuditEventJsonTest, AReadOfPatientDataIsARestReadWithThePatientAndTheResource) {
  const Json j = AuditEventJson(DoctorReadsRecord(), "cloud-1");
  EXPECT_EQ(j["resourceType"], "AuditEvent");
  EXPECT_EQ(j["type"]["system"], "http://terminology.hl7.org/CodeSystem/audit-event-type");
  EXPECT_EQ(j["type"]["code"], "rest");
  EXPECT_EQ(j["subtype"][0]["system"], "http://hl7.org/fhir/restful-interaction");
  EXPECT_EQ(j["subtype"][0]["code"], "read");
  EXPECT_EQ(j["subtype"][1]["system"], std::string(kMedMeshEventSystem));
  EXPECT_EQ(j["subtype"][1]["code"], "record.read");
  EXPECT_EQ(j["action"], "R");
  EXPECT_EQ(j["recorded"], "2027-01-15T08:00:00.123Z");
  EXPECT_EQ(j["outcome"], "0");
  EXPECT_FALSE(j.contains("outcomeDesc"));
  EXPECT_FALSE(j.contains("purposeOfEvent"));
  EXPECT_FALSE(j.contains("id"));

  const Json& agent = j["agent"][0];
  EXPECT_EQ(agent["requestor"], true);
  EXPECT_EQ(agent["who"]["identifier"]["system"], std::string(kAccountSystem));
  EXPECT_EQ(agent["who"]["identifier"]["value"], "acc_doc");
  EXPECT_EQ(agent["role"][0]["coding"][0]["code"], "doctor");
  EXPECT_EQ(agent["network"]["address"], "192.0.2.7");
  EXPECT_EQ(agent["network"]["type"], "2");

  EXPECT_EQ(j["source"]["observer"]["identifier"]["value"], "cloud-1");
  EXPECT_EQ(j["source"]["type"][0]["code"], "4");

  ASSERT_EQ(j["entity"].size(), 2u);
  EXPECT_EQ(j["entity"][0]["what"]["reference"], "Patient/pat_1");
  EXPECT_EQ(j["entity"][0]["type"]["code"], "1");
  EXPECT_EQ(j["entity"][0]["role"]["code"], "1");
  EXPECT_EQ(j["entity"][1]["what"]["reference"], "DocumentReference/rec_9");
  EXPECT_EQ(j["entity"][1]["type"]["system"], "http://hl7.org/fhir/resource-types");
}

TEST(AuditEventJsonTest, ActionsMapToRestfulInteractions) {
  AuditEntry e = DoctorReadsRecord();
  const std::pair<Action, const char*> cases[] = {{Action::kCreate, "create"},
                                                  {Action::kUpdate, "update"},
                                                  {Action::kDelete, "delete"},
                                                  {Action::kExecute, "operation"}};
  for (const auto& [action, code] : cases) {
    e.action = action;
    const Json j = AuditEventJson(e, "cloud-1");
    EXPECT_EQ(j["subtype"][0]["code"], code);
    EXPECT_EQ(j["action"], std::string(1, static_cast<char>(action)));
  }
  e.action = Action::kRead;
  e.entity_id.clear();  // a list: search
  EXPECT_EQ(AuditEventJson(e, "cloud-1")["subtype"][0]["code"], "search-type");
}

TEST(AuditEventJsonTest, ALoginIsAUserAuthenticationAndAFailedOneNamesNobody) {
  AuditEntry e;
  e.time_ms = 1;
  e.event = "session.login";
  e.action = Action::kExecute;
  e.outcome = Outcome::kMinorFailure;
  e.actor_role = "anonymous";
  e.source_address = "2001:db8::1";
  e.detail = "wrong_password";
  const Json j = AuditEventJson(e, "cloud-1");
  EXPECT_EQ(j["type"]["system"], "http://dicom.nema.org/resources/ontology/DCM");
  EXPECT_EQ(j["type"]["code"], "110114");
  EXPECT_EQ(j["subtype"][0]["code"], "110122");
  EXPECT_EQ(j["outcome"], "4");
  EXPECT_EQ(j["outcomeDesc"], "wrong_password");
  EXPECT_EQ(j["agent"][0]["who"]["display"], "anonymous");
  EXPECT_FALSE(j.contains("entity"));

  e.event = "session.logout";
  EXPECT_EQ(AuditEventJson(e, "cloud-1")["subtype"][0]["code"], "110123");
}

TEST(AuditEventJsonTest, KeyRotationIsSecurityConfigurationBySystem) {
  AuditEntry e;
  e.time_ms = 1;
  e.event = "kek.rotate";
  e.action = Action::kExecute;
  e.actor_role = "system";
  e.entity_type = "Kek";
  e.entity_id = "mi";
  const Json j = AuditEventJson(e, "cloud-1");
  EXPECT_EQ(j["type"]["code"], "110113");
  EXPECT_EQ(j["subtype"][0]["code"], "110129");
  EXPECT_EQ(j["agent"][0]["who"]["identifier"]["system"], std::string(kNodeSystem));
  EXPECT_EQ(j["agent"][0]["who"]["identifier"]["value"], "cloud-1");
  EXPECT_EQ(j["entity"][0]["what"]["identifier"]["system"], "urn:medmesh:Kek");
  EXPECT_EQ(j["entity"][0]["description"], "Kek");
}

TEST(AuditEventJsonTest, AReasonBecomesThePurposeOfUse) {
  AuditEntry e = DoctorReadsRecord();
  e.event = "audit.read";
  e.purpose = "complaint #12 from the patient";
  const Json j = AuditEventJson(e, "cloud-1");
  EXPECT_EQ(j["type"]["code"], "110101");
  EXPECT_EQ(j["purposeOfEvent"][0]["text"], e.purpose);
  EXPECT_EQ(j["agent"][0]["purposeOfUse"][0]["text"], e.purpose);
}

// Pinned: the chain hashes these bytes, so the layout of format 1 must never change.
TEST(AuditEventJsonTest, TheCanonicalFormIsCompactSortedAndStable) {
  const std::string canonical = CanonicalAuditEventJson(DoctorReadsRecord(), "cloud-1");
  EXPECT_EQ(
      canonical,
      R"({"action":"R","agent":[{"network":{"address":"192.0.2.7","type":"2"},"requestor":true,)"
      R"("role":[{"coding":[{"code":"doctor","system":"urn:medmesh:role"}]}],"who":{"identifier":)"
      R"({"system":"urn:medmesh:account","value":"acc_doc"}}}],"entity":[{"role":{"code":"1",)"
      R"("display":"Patient","system":"http://terminology.hl7.org/CodeSystem/object-role"},)"
      R"("type":{"code":"1","display":"Person","system":)"
      R"("http://terminology.hl7.org/CodeSystem/audit-entity-type"},"what":{"reference":)"
      R"("Patient/pat_1"}},{"role":{"code":"4","display":"Domain Resource","system":)"
      R"("http://terminology.hl7.org/CodeSystem/object-role"},"type":{"code":)"
      R"("DocumentReference","system":"http://hl7.org/fhir/resource-types"},"what":)"
      R"({"reference":"DocumentReference/rec_9"}}],"outcome":"0","recorded":)"
      R"("2027-01-15T08:00:00.123Z","resourceType":"AuditEvent","source":{"observer":)"
      R"({"display":"cloud-1","identifier":{"system":"urn:medmesh:node","value":"cloud-1"}},)"
      R"("type":[{"code":"4","display":"Application Server","system":)"
      R"("http://terminology.hl7.org/CodeSystem/security-source-type"}]},"subtype":[{"code":)"
      R"("read","system":"http://hl7.org/fhir/restful-interaction"},{"code":"record.read",)"
      R"("system":"urn:medmesh:audit-event"}],"type":{"code":"rest","display":)"
      R"("RESTful Operation","system":)"
      R"("http://terminology.hl7.org/CodeSystem/audit-event-type"}})");
  // The same entry always renders to the same bytes, and parses back to the same JSON.
  EXPECT_EQ(canonical, CanonicalAuditEventJson(DoctorReadsRecord(), "cloud-1"));
  EXPECT_TRUE(Json::parse(canonical) == AuditEventJson(DoctorReadsRecord(), "cloud-1"));
}

TEST(AuditEventJsonTest, ValidationNamesTheFieldNotTheValue) {
  AuditEntry e = DoctorReadsRecord();
  EXPECT_TRUE(ValidateAuditEntry(e));
  e.entity_type.clear();
  const Status st = ValidateAuditEntry(e);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(st.error().message().find("rec_9"), std::string::npos);
  e = DoctorReadsRecord();
  e.actor_role.clear();
  EXPECT_FALSE(ValidateAuditEntry(e));
  e = DoctorReadsRecord();
  e.action = static_cast<Action>('X');
  EXPECT_FALSE(ValidateAuditEntry(e));
  e = DoctorReadsRecord();
  e.outcome = static_cast<Outcome>(3);
  EXPECT_FALSE(ValidateAuditEntry(e));
  e = DoctorReadsRecord();
  e.patient_id = std::string(kMaxAuditIdBytes + 1, 'p');
  EXPECT_FALSE(ValidateAuditEntry(e));
}

// Pinned known answers of the persisted hash and head message layouts, computed independently
// with Python's hashlib.blake2b(digest_size=32) over the length-prefixed parts (docs/audit.md).
TEST(AuditChainTest, EntryHashAndHeadMessageAreStable) {
  const Bytes zero(32, 0);
  const Bytes h1 = AuditEntryHash(zero, "{}");
  EXPECT_EQ(h1.size(), 32u);
  EXPECT_NE(h1, AuditEntryHash(zero, "{ }"));
  EXPECT_NE(h1, AuditEntryHash(Bytes(32, 1), "{}"));
  EXPECT_EQ(HexEncode(h1), "58cb49060f19b0dc416f3f2fa05b9a1b168c2986f53fb95366d822f4b73e03cd");
  const Bytes m = AuditHeadMessage("cloud-1", 1, h1);
  EXPECT_NE(m, AuditHeadMessage("cloud-2", 1, h1));
  EXPECT_NE(m, AuditHeadMessage("cloud-1", 2, h1));
  EXPECT_EQ(HexEncode(m),
            "4d65644d65736820617564697420686561642076310020a6e2ae54cbfa43cae454fff4eb127c94e4c8c45d"
            "f3744c73b1916243d98f45");
}

}  // namespace
}  // namespace medmesh::audit

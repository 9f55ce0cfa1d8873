// Mesh report wire format (mesh_report.h): round trip, strict decoding, and verification
// against the pinned root (every flipped byte refused, another root, another origin).
#include "ids/mesh_report.h"

#include <gtest/gtest.h>

#include "node/test_support.h"
#include "wire/model.h"

namespace medmesh::ids {
namespace {

using node::testing::TempDir;
using node::testing::TestDeployment;

Decision Sample(std::string origin) {
  Decision d;
  d.id = "0123456789abcdef0123456789abcdef";
  d.origin = std::move(origin);
  d.detector = "credentials";
  d.detector_version = 1;
  d.scope = {ScopeKind::kIp, "203.0.113.9"};
  d.action = Action::kBlock;
  d.created_ms = 1'800'000'000'000;
  d.expires_ms = d.created_ms + 600'000;
  d.reason = "10 failures in 5 min";
  return d;
}

class MeshReportTest : public ::testing::Test {
 protected:
  MeshReportTest() : deployment_(dir_.path()) {
    auto id = deployment_.Identity(wire::CertificateRole::kCloudlet, "cloudlet-1");
    EXPECT_TRUE(id) << id.error().ToString();
    identity_.emplace(std::move(*id));
    signer_ = crypto::NewEd25519Signer(identity_->signing_key.Clone());
    report_.origin = "cloudlet-1";
    report_.sequence = 42;
    report_.sent_ms = now_;
    report_.kind = MeshReportKind::kDecision;
    report_.decision = Sample("cloudlet-1");
  }
  Bytes Envelope() {
    auto e = SignMeshReport(report_, *signer_, identity_->certificate.encoded());
    EXPECT_TRUE(e) << e.error().ToString();
    return e ? *e : Bytes{};
  }

  TempDir dir_;
  TestDeployment deployment_;
  std::optional<node::NodeIdentity> identity_;
  std::unique_ptr<crypto::Signer> signer_;
  std::int64_t now_ = wire::ToUnixMs(std::chrono::system_clock::now());
  MeshReport report_;
};

TEST_F(MeshReportTest, RoundTripsAndVerifies) {
  auto opened = OpenMeshReport(Envelope(), identity_->root.key, now_);
  ASSERT_TRUE(opened) << opened.error().ToString();
  EXPECT_EQ(opened->report.origin, "cloudlet-1");
  EXPECT_EQ(opened->report.sequence, 42u);
  EXPECT_EQ(opened->report.sent_ms, now_);
  EXPECT_EQ(EncodeDecision(opened->report.decision), EncodeDecision(report_.decision));
  EXPECT_EQ(opened->certificate.certificate().subject_id, "cloudlet-1");

  report_.kind = MeshReportKind::kRevocation;
  report_.revoked_id = "0123456789abcdef0123456789abcdef";
  auto revocation = OpenMeshReport(Envelope(), identity_->root.key, now_);
  ASSERT_TRUE(revocation);
  EXPECT_EQ(revocation->report.revoked_id, report_.revoked_id);
}

TEST_F(MeshReportTest, EveryFlippedByteIsRefused) {
  const Bytes envelope = Envelope();
  for (std::size_t i = 0; i < envelope.size(); ++i) {
    Bytes flipped = envelope;
    flipped[i] ^= 0x01;
    auto opened = OpenMeshReport(flipped, identity_->root.key, now_);
    ASSERT_FALSE(opened) << "byte " << i;
  }
  // Truncated and extended.
  EXPECT_FALSE(
      OpenMeshReport(ByteView(envelope).first(envelope.size() - 1), identity_->root.key, now_));
  Bytes longer = envelope;
  longer.push_back(0);
  EXPECT_FALSE(OpenMeshReport(longer, identity_->root.key, now_));
}

TEST_F(MeshReportTest, AnotherRootOrAnotherOriginIsUnauthenticated) {
  TempDir other_dir;
  TestDeployment other(other_dir.path());
  auto other_id = other.Identity(wire::CertificateRole::kCloudlet, "cloudlet-1");
  ASSERT_TRUE(other_id);
  auto foreign = OpenMeshReport(Envelope(), other_id->root.key, now_);
  ASSERT_FALSE(foreign);
  EXPECT_EQ(foreign.error().code(), ErrorCode::kUnauthenticated);

  // cloudlet-1's key signing a report that claims to come from cloudlet-2.
  report_.origin = "cloudlet-2";
  report_.decision.origin = "cloudlet-2";
  auto impostor = OpenMeshReport(Envelope(), identity_->root.key, now_);
  ASSERT_FALSE(impostor);
  EXPECT_EQ(impostor.error().code(), ErrorCode::kUnauthenticated);
}

TEST_F(MeshReportTest, EncodingRefusesInconsistentReports) {
  MeshReport r = report_;
  r.decision.origin = "cloudlet-9";
  EXPECT_FALSE(EncodeMeshReport(r));
  r = report_;
  r.decision.action = Action::kAlertOnly;  // a kDecision must enforce
  EXPECT_FALSE(EncodeMeshReport(r));
  r.kind = MeshReportKind::kAlert;
  EXPECT_TRUE(EncodeMeshReport(r));
  r.kind = MeshReportKind::kRevocation;
  r.revoked_id.clear();
  EXPECT_FALSE(EncodeMeshReport(r));
  auto good = EncodeMeshReport(report_);
  ASSERT_TRUE(good);
  auto decoded = DecodeMeshReport(*good);
  ASSERT_TRUE(decoded);
  EXPECT_EQ(*EncodeMeshReport(*decoded), *good);
  Bytes bad = *good;
  bad.push_back(0);
  EXPECT_EQ(DecodeMeshReport(bad).error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(OpenMeshReport(AsBytes(std::string_view("garbage")), identity_->root.key, now_)
                .error()
                .code(),
            ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace medmesh::ids

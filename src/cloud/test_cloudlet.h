// TestCloudlet: a cloudlet for the cloud's tests (integrity_service_test.cc, my_data_test.cc):
// its identity and one enrolled device, whose uploads it opens and forwards with
// wire::OpenUpload and wire::SealForward as the real cloudlet does. Header-only test support.
#pragma once

#include <memory>
#include <string>
#include <utility>

#include "core/clock.h"
#include "core/random.h"
#include "crypto/hybrid_seal.h"
#include "crypto/session_seal.h"
#include "crypto/signing.h"
#include "node/identity.h"
#include "node/test_support.h"
#include "wire/certificate.h"
#include "wire/enrolment.h"
#include "wire/envelope.h"

namespace medmesh::cloud::testing {

class TestCloudlet {
 public:
  TestCloudlet(node::NodeIdentity identity, std::string device, std::string patient, Random& random,
               const Clock& clock)
      : identity_(std::move(identity)),
        random_(random),
        clock_(clock),
        signer_(crypto::NewEd25519Signer(identity_.signing_key.Clone())),
        opener_(identity_.kem_key.Clone(), clock),
        device_signer_(crypto::NewEd25519Signer(crypto::SigningSecretKey::Generate(random))),
        device_sealer_(identity_.kem_key.public_key(), random, clock),
        enrolment_{std::move(device), std::move(patient), device_signer_->public_key(),
                   identity_.id(), wire::NowMs(clock)} {}

  const std::string& id() const { return identity_.id(); }
  ByteView certificate() const { return identity_.certificate.encoded(); }
  Bytes EnrolmentRecord() const { return wire::IssueEnrolment(enrolment_, *signer_).value(); }
  const wire::Enrolment& enrolment() const { return enrolment_; }
  // The device's signing key (e.g. for cloud::SeedReadings).
  const crypto::Signer& device_key() const { return *device_signer_; }

  wire::OpenedUpload Upload(wire::ContentType type, const Bytes& payload) {
    const wire::UploadHeader header{.content_type = type,
                                    .device_id = enrolment_.device_id,
                                    .patient_id = enrolment_.patient_id,
                                    .sequence = ++sequence_,
                                    .batch_id = wire::NewBatchId(random_),
                                    .created_ms = wire::NowMs(clock_)};
    const Bytes upload =
        wire::SealUpload(header, payload, device_sealer_, *device_signer_, random_).value();
    return wire::OpenUpload(wire::ParseUpload(upload).value(), enrolment_, opener_).value();
  }

  wire::PatientRecord Record(std::string record_id) const {
    node::testing::TestDevice shape(enrolment_.device_id, enrolment_.patient_id, random_, clock_);
    return shape.Record(std::move(record_id));
  }

  Bytes Forward(const wire::OpenedUpload& opened, const wire::VerifiedCertificate& cloud) {
    auto sealer = crypto::NewHybridSealer(*cloud.certificate().kem_key, random_);
    return wire::SealForward(
               {opened.header.content_type, identity_.id(), wire::NewBatchId(random_)}, opened,
               *sealer, *signer_)
        .value();
  }

 private:
  node::NodeIdentity identity_;
  Random& random_;
  const Clock& clock_;
  std::unique_ptr<crypto::Signer> signer_;
  crypto::SessionOpener opener_;
  std::unique_ptr<crypto::Signer> device_signer_;
  crypto::SessionSealer device_sealer_;
  wire::Enrolment enrolment_;
  std::uint64_t sequence_ = 0;
};

}  // namespace medmesh::cloud::testing

#include "cloud/attestation_relay.h"

#include <memory>
#include <nlohmann/json.hpp>
#include <utility>

#include "accounts/authenticator.h"
#include "core/log.h"
#include "net/error_mapping.h"
#include "net/json_body.h"
#include "trust/attestation.h"
#include "wire/grant_assertion.h"
#include "wire/model.h"

namespace medmesh::cloud {

using Json = nlohmann::json;

void AddAttestationRelayRoute(net::Router& router, AttestationRelayContext context) {
  auto ctx = std::make_shared<AttestationRelayContext>(std::move(context));
  router.Post(
      "/api/v1/patients/{patient_id}/attestations",
      [ctx](const net::Request& r) -> Result<net::Response> {
        Result<accounts::Principal> who = ctx->authenticate(r);
        if (!who) return accounts::AuthenticationRefusal(who.error());
        if (!who->is(accounts::Role::kDoctor)) {
          return PermissionDenied("only a doctor attests a patient");
        }
        static constexpr net::JsonField kFields[] = {{"positive", net::JsonType::kBoolean},
                                                     {"reason", net::JsonType::kString}};
        net::JsonBody parsed = net::ParseJsonBody(r, kFields);
        if (auto* refusal = std::get_if<net::Response>(&parsed)) return std::move(*refusal);
        const Json& body = std::get<Json>(parsed);
        const bool positive = body.at("positive").get<bool>();
        const std::string reason = body.at("reason").get<std::string>();
        if (!trust::AttestationReasonFits(reason, positive)) {
          return InvalidArgument(
              "reason must be known_in_care or consistent_reports (positive), misuse_concern or "
              "identity_concern (negative)");
        }
        const std::string patient_id(r.PathParam("patient_id").value_or(""));
        if (!wire::IsValidId(patient_id)) return NotFound("no such patient");
        // Only a doctor the patient granted records to (now) may vouch for them.
        if (auto granted = ctx->clinical.RecordsGrantedTo(*who, patient_id); !granted) {
          if (granted.error().code() == ErrorCode::kNotFound) return NotFound("no such patient");
          return granted.error();
        }
        MEDMESH_ASSIGN_OR_RETURN(std::vector<std::string> cloudlets, ctx->cloudlets_of(patient_id));
        const auto urls = ctx->cloudlet_urls();
        auto token = accounts::PresentedTokenOf(r);
        if (!token) return accounts::AuthenticationRefusal(token.error());
        const std::int64_t now_ms = wire::NowMs(ctx->clock);
        Json answered = Json::array();
        int accepted = 0;
        int asked = 0;
        for (const std::string& cloudlet : cloudlets) {
          const auto url = urls.find(cloudlet);
          if (url == urls.end()) continue;
          ++asked;
          // Proof for this cloudlet alone that the grant was checked now.
          MEDMESH_ASSIGN_OR_RETURN(
              const Bytes assertion,
              wire::SignGrantAssertion({ctx->cloud_id, cloudlet, who->account_id, patient_id,
                                        now_ms, now_ms + wire::kMaxGrantAssertionLifetimeMs,
                                        HexEncode(ctx->random.Generate(16))},
                                       ctx->signer, ctx->certificate));
          const std::string payload = Json{
              {"patient_id", patient_id},
              {"positive", positive},
              {"reason", reason},
              {"grant_assertion",
               HexEncode(assertion)}}.dump();
          net::ClientRequest request;
          request.method = net::Method::kPost;
          request.url = url->second + "/api/v1/trust/attestations";
          request.headers.emplace_back("Authorization", "Bearer " + std::string(token->token));
          request.body = payload;
          request.content_type = "application/json";
          auto response = ctx->client.Send(request);
          const int status = response ? response->status : 0;
          if (status == 201) ++accepted;
          log::Info("cloud_attestation_relayed", {{"cloudlet", cloudlet}, {"status", status}});
          answered.push_back({{"cloudlet_id", cloudlet}, {"status", status}});
        }
        if (asked == 0) {
          return FailedPrecondition("no cloudlet keeping this patient's data is reachable");
        }
        Json out{{"positive", positive}, {"reason", reason}, {"cloudlets", std::move(answered)}};
        if (accepted == 0) {
          return net::Response::Json(
              Json{{"error", "bad_gateway"},
                   {"message", "no cloudlet of the patient accepted the attestation"},
                   {"cloudlets", out["cloudlets"]}}
                  .dump(),
              502);
        }
        return net::Response::Json(out.dump());
      },
      {.body_limit_bytes = 1024});
}

}  // namespace medmesh::cloud

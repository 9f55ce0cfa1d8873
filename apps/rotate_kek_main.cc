// medmesh keys rotate-kek: rotates one part's KEK on the running cloud.
//
//   medmesh keys rotate-kek --part ei|qi|mi --config FILE [--url URL] [--timeout-s N]
//                           [--session-file FILE]
//
// Reads the cloud's config (docs/node_config.md) for its address, TLS trust anchor and operator
// token file (or, with --session-file, sends an admin's session token from that 0600 file
// instead), asks the cloud to start the rotation (POST /api/v1/admin/keys/{part}/rotation)
// and follows it (GET on the same path) until it is done or failed. The cloud keeps serving
// throughout; the steps and their crash safety: docs/adr/0016-per-part-keks-and-live-rotation.md.
// Exit codes: 0 rotated; 1 the rotation failed or the cloud could not be reached; 2 bad usage
// or config.
#include "apps/rotate_kek_main.h"

#include <CLI/CLI.hpp>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "cloud/part_keks.h"
#include "net/error_mapping.h"
#include "net/http_client.h"
#include "node/identity.h"
#include "node/node_config.h"

namespace {

namespace node = medmesh::node;
namespace net = medmesh::net;
using Json = nlohmann::json;

struct RotateKekFlags {
  std::string part;
  std::string config;
  std::string url;
  std::string session_file;  // an admin's session token, instead of the operator token
  int timeout_s = 600;
};

int Usage(std::string_view message) {
  std::cerr << "medmesh keys rotate-kek: " << message << "\n";
  return 2;
}

int Failed(std::string_view what, const medmesh::Error& error) {
  std::cerr << "medmesh keys rotate-kek: " << what << ": " << error.ToString() << "\n";
  return 1;
}

// The cloud's base URL from its config: its listen address (a wildcard becomes loopback).
medmesh::Result<std::string> CloudUrl(const node::NodeConfig& config) {
  if (config.listen.port == 0) {
    return medmesh::InvalidArgument("the config listens on port 0 (any free port); pass --url");
  }
  node::ListenAddress target = config.listen;
  if (target.address == "0.0.0.0") target.address = "127.0.0.1";
  if (target.address == "::") target.address = "::1";
  const bool tls = config.tls && !config.tls->cert_file.empty();
  return std::string(tls ? "https://" : "http://") + node::FormatListenAddress(target);
}

int RunRotateKek(const RotateKekFlags& flags) {
  auto part = medmesh::cloud::ParseRecordPart(flags.part);
  if (!part) return Usage("--part must be ei, qi or mi");
  auto config = node::LoadNodeConfig(flags.config);
  if (!config) {
    std::cerr << "medmesh keys rotate-kek: config: " << config.error().ToString() << "\n";
    return 2;
  }
  std::string base = flags.url;
  if (base.empty()) {
    auto url = CloudUrl(*config);
    if (!url) return Usage(url.error().message());
    base = *url;
  }
  while (!base.empty() && base.back() == '/') base.pop_back();
  const bool as_admin = !flags.session_file.empty();
  auto token = node::ReadTokenFile(as_admin ? std::filesystem::path(flags.session_file)
                                            : config->operator_token_file);
  if (!token) return Failed(as_admin ? "session file" : "operator token", token.error());

  net::ClientOptions options;
  if (config->tls) options.ca_file = config->tls->ca_file.string();
  auto client = net::HttpClient::Create(options);
  if (!client) return Failed("client", client.error());

  const std::string path = base + "/api/v1/admin/keys/" + flags.part + "/rotation";
  const std::string authorization = "Bearer " + std::string(medmesh::AsStringView(token->reveal()));
  const auto send = [&](net::Method method) {
    net::ClientRequest request;
    request.method = method;
    request.url = path;
    request.headers.emplace_back("Authorization", authorization);
    return (*client)->Send(request);
  };

  auto started = send(net::Method::kPost);
  if (!started) return Failed("cannot reach the cloud at " + base, started.error());
  if (started->status == 409 &&
      net::ErrorFromResponse(*started).code() == medmesh::ErrorCode::kAlreadyExists) {
    std::cout << "a KEK rotation is already running; following it\n";
  } else if (started->status != 202) {
    return Failed("the cloud refused", net::ErrorFromResponse(*started));
  }

  // Polled: a rotation re-wraps every data key of the part and may take a while.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(flags.timeout_s);
  while (true) {
    auto polled = send(net::Method::kGet);
    if (!polled) return Failed("lost the cloud at " + base, polled.error());
    if (polled->status != 200) return Failed("the cloud refused", net::ErrorFromResponse(*polled));
    const Json status = Json::parse(polled->body, nullptr, false);
    const std::string state = status.is_object() ? status.value("state", "") : "";
    if (state == "done") {
      std::cout << "rotated the " << flags.part << " KEK: new KEK id " << status.value("kek_id", "")
                << "\n"
                << "  data keys re-wrapped: " << status.value("rewrapped", 0)
                << ", already under the new KEK: " << status.value("already_current", 0) << "\n";
      for (const auto& id : status.value("retired", Json::array())) {
        std::cout << "  retired KEK " << id.get<std::string>() << "\n";
      }
      if (status.value("resumed", false)) std::cout << "  (finished an unfinished rotation)\n";
      return 0;
    }
    if (state == "failed") {
      const Json error = status.value("error", Json::object());
      std::cerr << "medmesh keys rotate-kek: the rotation failed: "
                << error.value("error", std::string("unknown")) << ": "
                << error.value("message", std::string()) << "\n"
                << "The old KEK is still in use; run the command again to resume.\n";
      return 1;
    }
    if (state != "running") {
      return Failed("unexpected answer", medmesh::Internal("rotation state '" + state + "'"));
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      std::cerr << "medmesh keys rotate-kek: still running after " << flags.timeout_s
                << " s; it goes on in the cloud (GET " << path << ")\n";
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

}  // namespace

void RegisterRotateKekCommand(CLI::App& keys, const std::function<void(int)>& done) {
  auto flags = std::make_shared<RotateKekFlags>();
  CLI::App* cmd = keys.add_subcommand(
      "rotate-kek",
      "Rotate one part's key-encryption key on the running cloud (no data is rewritten)");
  cmd->add_option("--part", flags->part, "The part whose KEK to rotate: ei, qi or mi")->required();
  cmd->add_option("--config", flags->config, "The cloud's config file")->required();
  cmd->add_option("--url", flags->url, "The cloud's base URL (default: from the config's listen)");
  cmd->add_option("--session-file", flags->session_file,
                  "A file (mode 0600) holding an admin's session token, sent instead of the "
                  "operator token");
  cmd->add_option("--timeout-s", flags->timeout_s, "How long to follow the rotation")
      ->check(CLI::Range(1, 86400));
  cmd->callback([flags, done] { done(RunRotateKek(*flags)); });
}

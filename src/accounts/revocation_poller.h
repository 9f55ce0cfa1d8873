// RevocationPoller: how a node other than the cloud (a cloudlet) keeps its RevocationSet
// (revocation.h) up to date: GET {cloud}/api/v1/sessions/revocations?since=N, verify the page
// against the pinned cloud certificate, apply it, and fetch further pages until the set reaches
// the head. The owner calls PollOnce on its own schedule (its poll interval is part of the
// revocation bound, docs/accounts.md "Revocation").
// Thread safety: PollOnce from one thread at a time; the set it fills is thread-safe.
#pragma once

#include <chrono>
#include <string>

#include "accounts/revocation.h"
#include "core/clock.h"
#include "core/status.h"
#include "net/http_client.h"
#include "wire/certificate.h"

namespace medmesh::accounts {

inline constexpr std::size_t kMaxRevocationPagesPerPoll = 100;

class RevocationPoller {
 public:
  // All references must outlive the poller. `cloud_url` is the cloud's base URL
  // ("https://cloud:8443"); `cloud` its verified certificate; pages issued more than
  // `max_page_age` ago are refused (a replayed old page would hide revocations).
  RevocationPoller(net::HttpClient& client, std::string cloud_url,
                   const wire::VerifiedCertificate& cloud, RevocationSet& set, const Clock& clock,
                   std::chrono::milliseconds max_page_age = std::chrono::minutes(1));

  // Fetches and applies pages until the set is at the cloud's head (at most
  // kMaxRevocationPagesPerPoll pages), then forgets expired entries. Errors: the cloud's refusal
  // or kUnavailable when it cannot be reached; kUnauthenticated for a page that does not verify
  // (nothing of it is applied).
  Status PollOnce();

 private:
  net::HttpClient& client_;
  const std::string cloud_url_;
  const wire::VerifiedCertificate& cloud_;
  RevocationSet& set_;
  const Clock& clock_;
  const std::chrono::milliseconds max_page_age_;
};

}  // namespace medmesh::accounts

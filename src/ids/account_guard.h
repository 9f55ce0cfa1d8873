// The login paths' AccountGuard (accounts/account_reference.h) asking this node's AccountGate
// (account_gate.h): the glue the cloud and every cloudlet share (ADR 0042). Header-only:
// medmesh_ids does not link the accounts library; the nodes that use this link both.
#pragma once

#include <chrono>
#include <memory>
#include <string_view>
#include <utility>

#include "accounts/account_reference.h"
#include "ids/account_gate.h"

namespace medmesh::ids {

// An AccountGuard whose references are keyed with `reference_key` and whose verdicts are
// `gate`'s: block and throttle decisions refuse, anything else lets the login go on. `gate` must
// outlive the guard.
inline std::unique_ptr<accounts::AccountGuard> GuardWithGate(crypto::HashKey reference_key,
                                                             AccountGate& gate) {
  return std::make_unique<accounts::AccountGuard>(accounts::AccountGuard{
      std::move(reference_key), [gate = &gate](std::string_view ref) {
        const AccountGate::Verdict v = gate->Check(ref);
        using Kind = accounts::AccountVerdict::Kind;
        return accounts::AccountVerdict{v.action == Action::kBlock      ? Kind::kBlocked
                                        : v.action == Action::kThrottle ? Kind::kThrottled
                                                                        : Kind::kPass,
                                        std::chrono::ceil<std::chrono::seconds>(v.retry_after),
                                        v.decision_id};
      }});
}

}  // namespace medmesh::ids

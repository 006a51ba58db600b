// What this machine knows of other machines' pending approvals (SDK 1.6
// set_remote_approvals, fed by the router plugin): machine -> {id -> approval}. Each update
// replaces one machine's set and says what changed, as the approval_requested /
// approval_resolved messages watching clients get. Only clients see these: escalation
// channels (Telegram) belong to the machine that owns the approval. Loop thread only.
#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <string>
#include <vector>

namespace ccmux {

class RemoteApprovals {
 public:
  // Replaces `machine`'s pending approvals with `approvals` (an array; entries that are not
  // objects with a non-empty string `id` are skipped, and so is an entry whose `state` says
  // it is no longer pending). Returns the messages for watching clients, as JSON text:
  // approval_requested for ids that are new, approval_resolved for ids that are gone — the
  // approval as last known with "state":"resolved", "decision":"unknown" and a "reason"
  // saying the owner no longer lists it (the owner decided it, or it timed out; this machine
  // does not know which), unless the update carries the entry with a state and decision of
  // its own, which are sent instead.
  std::vector<std::string> replace(const std::string& machine, const nlohmann::json& approvals);
  // Every machine's pending approvals: machines by name, each in its own order.
  nlohmann::json pending() const;
  size_t size() const;
  std::vector<std::string> machines() const;

 private:
  struct Known {
    std::vector<std::string> order;              // ids as the machine listed them
    std::map<std::string, nlohmann::json> by_id;
  };
  std::map<std::string, Known> machines_;
};

}  // namespace ccmux

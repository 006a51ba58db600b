// Every can_use_tool becomes an approval: Lua policies in order (in the policy worker,
// asynchronously), then plugin providers, then "ask" — published to every client and
// escalation channel until the first valid answer or the timeout (deny). Every approval,
// however decided, is stored (audit) and ends in exactly one approval_resolved event.
#pragma once

#include "approvals/policy_engine.h"
#include "runtime/event_loop.h"
#include "storage/event_bus.h"
#include "storage/store.h"

#include <nlohmann/json.hpp>

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace ccmux {

struct ApprovalContext {
  std::string session_id, cwd, model;
};

struct ProviderVerdict {
  std::string decision;  // allow | deny | ask | ""
  std::string reason;
  nlohmann::json updated_input;  // null: unchanged
};

class ApprovalChain {
 public:
  using Provider = std::function<std::optional<ProviderVerdict>(const std::string& request_json)>;
  using Channel = std::function<void(const std::string& message_json)>;
  // Called once per approval when it is decided: the supervisor answers claude.
  using Responder = std::function<void(const ApprovalRow& row, const nlohmann::json& input_for_claude)>;
  // Called when an approval is published for humans (nobody decided it automatically).
  using Asked = std::function<void(const ApprovalRow& row)>;

  enum class Outcome { resolved, already_resolved, not_found, invalid };
  struct AnswerResult {
    Outcome outcome;
    std::string message;
    ApprovalRow row;
  };

  ApprovalChain(EventLoop& loop, Store& store, EventBus& bus, PolicyEngine& policies, double timeout_s);

  void set_responder(Responder r) { responder_ = std::move(r); }
  void set_on_asked(Asked a) { on_asked_ = std::move(a); }
  // Approvals whose claude_request_id starts with `prefix` are answered by `r` instead
  // (hooks: the answer goes back to a waiting `ccmux hook`, not to a claude we run).
  void set_responder_for(const std::string& prefix, Responder r) { prefixed_.emplace_back(prefix, std::move(r)); }
  void add_provider(const std::string& name, Provider p) { providers_.emplace_back(name, std::move(p)); }
  void add_channel(const std::string& name, Channel c) { channels_.emplace_back(name, std::move(c)); }
  // Drops the providers and channels named `owner` or `owner/...` (a plugin that failed or stopped).
  void remove_owned_by(const std::string& owner);
  void set_timeout(double s) { timeout_s_ = s; }

  // Opens an approval for a can_use_tool request and returns its id at once; policies and
  // providers decide it later (or at once when there are no policies). With `unasked` given,
  // an approval nobody decides is not published for humans: `unasked` is called instead and
  // nothing is stored (hooks that let claude ask on its own terminal use that).
  std::string open(const ApprovalContext& ctx, const std::string& claude_request_id, const nlohmann::json& request,
                   std::function<void()> unasked = {});
  AnswerResult answer(const std::string& id, const std::string& decision, const std::string& reason,
                      const nlohmann::json& updated_input, const nlohmann::json& answers, const std::string& who,
                      bool interrupt = false);
  // Ends pending approvals of a session (all when claude_request_id is empty), including
  // those the policies are still deciding, without answering claude.
  void cancel(const std::string& session, const std::string& claude_request_id, const std::string& why,
              const std::string& by = "claude");

  // At startup, approvals a previous daemon left open. Those of `live` sessions (their claude
  // is still running, held: issue 13) are asked again (approval_requested once more, the
  // timeout counted from their creation) or, when the policies had not answered, decided
  // again. The others can no longer reach their claude: closed as cancelled (with an event).
  void restore_after_restart(const std::map<std::string, ApprovalContext>& live);

  // Pending for a human, or still being decided by the policies.
  bool has_pending(const std::string& session) const;
  size_t pending_count() const { return pending_.size(); }  // waiting for a human
  nlohmann::json pending_json() const;
  static nlohmann::json row_json(const ApprovalRow& row);

 private:
  struct Pending {
    ApprovalRow row;
    nlohmann::json input;
    EventLoop::TimerId timer = 0;
  };
  struct Deciding {  // a tool call the policies are evaluating
    ApprovalRow row;
    nlohmann::json request;  // what clients and providers see
    nlohmann::json input;
    std::function<void()> unasked;
  };
  void after_policies(const std::string& id, PolicyEngine::Decision d);
  void ask_humans(ApprovalRow row, const nlohmann::json& input, double timeout_s = -1);  // -1: the configured one
  void resolve(ApprovalRow row, const nlohmann::json& input_for_claude, bool answer_claude);
  void notify(const std::string& type, const nlohmann::json& approval);

  EventLoop& loop_;
  Store& store_;
  EventBus& bus_;
  PolicyEngine& policies_;
  double timeout_s_;
  Responder responder_;
  Asked on_asked_;
  std::vector<std::pair<std::string, Responder>> prefixed_;
  std::vector<std::pair<std::string, Provider>> providers_;
  std::vector<std::pair<std::string, Channel>> channels_;
  std::map<std::string, Pending> pending_;
  std::map<std::string, Deciding> deciding_;
};

}  // namespace ccmux

// Claude Code hooks of hand-started sessions (`ccmux hook`, protocol method hook.event):
// the session appears as "observed" with every hook as an event; PreToolUse runs the Lua
// policies and providers (no human: claude asks on its terminal when they do not decide);
// PermissionRequest also asks the humans (page, Telegram, CLI) and waits up to the hook's
// wait time, then gives no decision so claude's own prompt appears.
#pragma once

#include "approvals/approval_chain.h"
#include "runtime/event_loop.h"
#include "sessions/supervisor.h"

#include <nlohmann/json.hpp>

#include <functional>
#include <map>
#include <string>

namespace ccmux {

class HookBroker {
 public:
  using Done = std::function<void(bool ok, const nlohmann::json& result_or_error)>;
  HookBroker(EventLoop& loop, ApprovalChain& approvals, Supervisor& supervisor);

  // params: {input: <hook JSON from claude>, wait_s?: seconds PermissionRequest may wait for a human}
  // result: {session, output: <hook output JSON for claude> | null}
  void handle(const nlohmann::json& params, Done done);

 private:
  struct Waiter {
    std::string session;
    std::string event;
    Done done;
    EventLoop::TimerId timer = 0;
  };
  void answered(const ApprovalRow& row, const nlohmann::json& input);
  void finish_without_decision(const std::string& rid, const std::string& session);
  static nlohmann::json output_for(const std::string& event, const ApprovalRow& row, const nlohmann::json& input);

  EventLoop& loop_;
  ApprovalChain& approvals_;
  Supervisor& supervisor_;
  uint64_t next_ = 1;
  std::map<std::string, Waiter> waiting_;  // by claude_request_id ("hook:N")
};

}  // namespace ccmux

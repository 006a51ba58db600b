#include "sessions/hooks.h"

#include "json_fields.h"

#include <spdlog/spdlog.h>

namespace ccmux {

using nlohmann::json;

HookBroker::HookBroker(EventLoop& loop, ApprovalChain& approvals, Supervisor& supervisor)
    : loop_(loop), approvals_(approvals), supervisor_(supervisor) {
  approvals_.set_responder_for("hook:", [this](const ApprovalRow& row, const json& input) { answered(row, input); });
}

json HookBroker::output_for(const std::string& event, const ApprovalRow& row, const json& input) {
  bool allow = row.decision == "allow";
  std::string reason = row.reason.empty() ? row.decision + " by " + row.decided_by : row.reason;
  if (event == "PreToolUse") {
    json h = {{"hookEventName", "PreToolUse"},
              {"permissionDecision", allow ? "allow" : "deny"},
              {"permissionDecisionReason", "ccmux: " + reason}};
    if (allow && !row.updated_input.empty()) h["updatedInput"] = input;
    return {{"hookSpecificOutput", h}};
  }
  json decision = allow ? json{{"behavior", "allow"}} : json{{"behavior", "deny"}, {"message", "ccmux: " + reason}};
  if (allow && !row.updated_input.empty()) decision["updatedInput"] = input;
  if (!allow && row.interrupt) decision["interrupt"] = true;
  return {{"hookSpecificOutput", {{"hookEventName", "PermissionRequest"}, {"decision", decision}}}};
}

void HookBroker::handle(const json& params, Done done) {
  const json& in = params.contains("input") ? params["input"] : json();
  if (!in.is_object() || !in.contains("session_id") || !in["session_id"].is_string() ||
      !in.contains("hook_event_name") || !in["hook_event_name"].is_string())
    throw CommandError("bad_params", "input must be the hook's JSON (session_id, hook_event_name, …)");
  // Every field is checked before anything is recorded: a bad hook input changes nothing.
  Fields f(in, "hook input field");
  std::string event = in["hook_event_name"], cwd = f.str("cwd"), mode = f.str("permission_mode");
  std::string end_reason = event == "SessionEnd" ? f.str("reason") : "";
  bool tool_event = event == "PreToolUse" || event == "PermissionRequest";
  json request;
  if (tool_event) {
    request = {{"tool_name", f.str("tool_name")}, {"input", f.object("tool_input")}};
    if (f.has("tool_use_id")) request["tool_use_id"] = f.str("tool_use_id");
    if (f.has("permission_suggestions")) request["permission_suggestions"] = f.array("permission_suggestions");
  }
  // A day at most: the hook's own timeout is wait_s + 15 s, and a timer needs a finite delay.
  double wait_s = Fields(params).number("wait_s", 0.0, 0.0, 86400.0);

  std::string session = supervisor_.observe(in["session_id"], cwd, mode);
  supervisor_.observed_event(session, in);

  if (event == "SessionEnd") supervisor_.observed_end(session, "ended in its terminal (" + end_reason + ")");
  if (!tool_event) return done(true, {{"session", session}, {"output", nullptr}});

  std::string rid = "hook:" + std::to_string(next_++);
  bool ask_human = event == "PermissionRequest" && wait_s > 0;
  // Registered first: the policies' decision may come at once, inside open().
  waiting_[rid] = Waiter{session, event, done, 0};
  std::function<void()> unasked;
  if (!ask_human)  // nobody decided and no human is asked: claude asks on its terminal
    unasked = [this, rid, session] { finish_without_decision(rid, session); };
  approvals_.open(ApprovalContext{session, cwd, ""}, rid, request, std::move(unasked));
  auto it = waiting_.find(rid);
  if (it == waiting_.end() || !ask_human) return;  // decided already, or the policies will answer
  // The wait covers the policies too (a slow policy must not hold claude past it).
  it->second.timer = loop_.add_timer(wait_s, [this, rid, session] {
    auto w = waiting_.find(rid);
    if (w == waiting_.end()) return;
    w->second.timer = 0;
    // Nobody answered in time: claude's own terminal prompt takes over.
    approvals_.cancel(session, rid, "no answer in time; claude asks in its terminal", "timeout");
    finish_without_decision(rid, session);
  });
}

void HookBroker::finish_without_decision(const std::string& rid, const std::string& session) {
  auto w = waiting_.find(rid);
  if (w == waiting_.end()) return;
  Done d = std::move(w->second.done);
  if (w->second.timer) loop_.cancel_timer(w->second.timer);
  waiting_.erase(w);
  d(true, {{"session", session}, {"output", nullptr}});
}

void HookBroker::answered(const ApprovalRow& row, const json& input) {
  auto it = waiting_.find(row.claude_request_id);
  if (it == waiting_.end()) return;
  Waiter w = std::move(it->second);
  waiting_.erase(it);
  if (w.timer) loop_.cancel_timer(w.timer);
  w.done(true, {{"session", w.session}, {"output", output_for(w.event, row, input)}});
}

}  // namespace ccmux

#include "approvals/approval_chain.h"

#include <algorithm>

#include "json_fields.h"
#include "util.h"

#include <spdlog/spdlog.h>

namespace ccmux {

using nlohmann::json;

ApprovalChain::ApprovalChain(EventLoop& loop, Store& store, EventBus& bus, PolicyEngine& policies, double timeout_s)
    : loop_(loop), store_(store), bus_(bus), policies_(policies), timeout_s_(timeout_s) {}

json ApprovalChain::row_json(const ApprovalRow& row) {
  json j = json::parse(row.request, nullptr, false);
  if (j.is_discarded()) j = json::object();
  j["state"] = row.state;
  if (row.state == "resolved") {
    j["decision"] = row.decision;
    j["decided_by"] = row.decided_by;
    j["reason"] = row.reason;
    j["resolved_ms"] = row.resolved_ms;
    j["latency_ms"] = row.resolved_ms - row.created_ms;
  }
  return j;
}

std::string ApprovalChain::open(const ApprovalContext& ctx, const std::string& claude_request_id,
                                const json& request, std::function<void()> unasked) {
  ApprovalRow row;
  row.id = unique_id("a-", [this](const std::string& id) {
    return pending_.count(id) > 0 || deciding_.count(id) > 0 || store_.approval_exists(id);  // deciding: not stored yet
  });
  row.session = ctx.session_id;
  row.claude_request_id = claude_request_id;
  // Read leniently: callers check the types (supervisor, hooks) and nothing here may throw.
  row.tool = str_or(request, "tool_name");
  row.kind = row.tool == "AskUserQuestion" ? "question" : "tool";
  row.created_ms = now_ms();
  json input = object_or(request, "input");

  json req = {{"id", row.id},
              {"session", ctx.session_id},
              {"kind", row.kind},
              {"tool", row.tool},
              {"input", input},
              {"cwd", ctx.cwd},
              {"created_ms", row.created_ms},
              {"expires_ms", row.created_ms + static_cast<int64_t>(timeout_s_ * 1000)}};
  for (const char* k : {"description", "tool_use_id", "blocked_path", "decision_reason", "title"})
    if (request.contains(k)) req[k] = request[k];
  req["suggestions"] = array_or(request, "permission_suggestions");
  if (row.kind == "question") req["questions"] = array_or(input, "questions");
  std::string id = row.id;

  // Questions are for a human; tool calls go through policies and providers first.
  if (row.kind == "question") {
    if (unasked) {
      unasked();
      return id;
    }
    row.request = req.dump();
    ask_humans(std::move(row), input);
    return id;
  }
  PolicyRequest preq{row.tool, input, ctx.session_id, ctx.cwd, ctx.model, req["suggestions"]};
  if (!unasked) {
    // Stored while the policies decide, in the transaction of the line that asked: a ccmuxd
    // that dies before they answer finds it at start and decides it again (issue 13).
    row.state = "deciding";
    row.request = req.dump();
    store_.upsert_approval(row);
  }
  deciding_[id] = Deciding{std::move(row), std::move(req), std::move(input), std::move(unasked)};
  // The answer may come at once (no policies) or from the policy worker later.
  policies_.evaluate(preq, [this, id](PolicyEngine::Decision d) { after_policies(id, std::move(d)); });
  return id;
}

void ApprovalChain::after_policies(const std::string& id, PolicyEngine::Decision d) {
  auto it = deciding_.find(id);
  if (it == deciding_.end()) return;  // cancelled while the policies ran (claude withdrew it, or ended)
  Deciding dc = std::move(it->second);
  deciding_.erase(it);
  ApprovalRow row = std::move(dc.row);
  json& req = dc.request;
  if (!d.verdict.decision.empty()) {
    req["policy"] = {{"decision", d.verdict.decision}, {"by", d.decided_by}, {"reason", d.verdict.reason}};
    if (!d.verdict.error.empty()) req["policy"]["error"] = d.verdict.error;
  }
  std::string decision = d.verdict.decision, reason = d.verdict.reason, by = d.decided_by;
  json updated = d.verdict.updated_input;
  // A Lua deny is final; providers (learned approval, autonomy) may decide the rest — but
  // when a policy failed they may only deny: a script that errors must not open the gate.
  if (decision != "allow" && decision != "deny") {
    std::string req_text = req.dump();
    json hints = json::array();
    for (auto& [name, provider] : providers_) {
      auto v = provider(req_text);
      if (v && v->decision == "allow" && d.fail_closed) {
        hints.push_back({{"by", "provider:" + name},
                         {"reason", "would allow (" + v->reason + "), but a policy failed; a human decides"}});
        continue;
      }
      if (v && (v->decision == "allow" || v->decision == "deny")) {
        decision = v->decision;
        reason = v->reason;
        updated = v->updated_input;
        by = "provider:" + name;
        break;
      }
      // "ask" with a reason is advice for the human (e.g. autonomy level 1 suggestions).
      if (v && v->decision == "ask" && !v->reason.empty()) hints.push_back({{"by", "provider:" + name}, {"reason", v->reason}});
    }
    if (!hints.empty()) req["hints"] = hints;
  }
  if (decision == "allow" || decision == "deny") {
    row.request = req.dump();
    row.state = "pending";
    row.decision = decision;
    row.decided_by = by;
    row.reason = reason;
    if (!updated.is_null()) row.updated_input = updated.dump();
    resolve(std::move(row), updated.is_null() ? dc.input : updated, true);
    return;
  }
  if (dc.unasked) {  // undecided, and the caller has its own way to ask
    dc.unasked();
    return;
  }
  row.request = req.dump();
  ask_humans(std::move(row), dc.input);
}

void ApprovalChain::ask_humans(ApprovalRow row, const json& input, double timeout_s) {
  row.state = "pending";
  store_.upsert_approval(row);
  bus_.publish(row.session, "approval_requested", row.request);
  std::string id = row.id;
  Pending p{row, input, 0};
  p.timer = loop_.add_timer(timeout_s < 0 ? timeout_s_ : timeout_s, [this, id] {
    auto it = pending_.find(id);
    if (it == pending_.end()) return;
    it->second.timer = 0;
    ApprovalRow r = it->second.row;
    r.decision = "deny";
    r.decided_by = "timeout";
    r.reason = "No answer within " + std::to_string(static_cast<long>(timeout_s_)) +
               " s; denied by ccmux (approval.timeout). Ask again later if it is still needed.";
    json in = it->second.input;
    resolve(std::move(r), in, true);
  });
  pending_.emplace(id, std::move(p));
  if (on_asked_) on_asked_(row);
  notify("approval_requested", row_json(row));
}

void ApprovalChain::resolve(ApprovalRow row, const json& input_for_claude, bool answer_claude) {
  auto it = pending_.find(row.id);
  if (it != pending_.end()) {
    if (it->second.timer) loop_.cancel_timer(it->second.timer);
    pending_.erase(it);
  }
  row.state = "resolved";
  row.resolved_ms = now_ms();
  store_.upsert_approval(row);
  json ev = {{"id", row.id},         {"decision", row.decision},          {"decided_by", row.decided_by},
             {"reason", row.reason}, {"latency_ms", row.resolved_ms - row.created_ms}, {"kind", row.kind},
             {"tool", row.tool}};
  if (!row.updated_input.empty()) ev["updated_input"] = json::parse(row.updated_input, nullptr, false);
  if (row.decided_by.rfind("policy:", 0) == 0 || row.decided_by.rfind("provider:", 0) == 0)
    ev["request"] = json::parse(row.request, nullptr, false);
  // Replace, not throw: a name in decided_by (a client's, a plugin's) may hold broken UTF-8, and
  // a throw here would leave the approval stored resolved with claude never answered.
  bus_.publish(row.session, "approval_resolved", ev.dump(-1, ' ', false, json::error_handler_t::replace));
  bus_.flush();  // the decision is stored before claude or any client hears of it
  spdlog::debug("approval {} ({} {}) -> {} by {}", row.id, row.session, row.tool, row.decision, row.decided_by);
  if (answer_claude) {
    bool routed = false;
    for (auto& [prefix, r] : prefixed_)
      if (!routed && row.claude_request_id.rfind(prefix, 0) == 0) {
        r(row, input_for_claude);
        routed = true;
      }
    if (!routed && responder_) responder_(row, input_for_claude);
  }
  notify("approval_resolved", row_json(row));
}

ApprovalChain::AnswerResult ApprovalChain::answer(const std::string& id, const std::string& decision,
                                                  const std::string& reason, const json& updated_input,
                                                  const json& answers, const std::string& who, bool interrupt) {
  auto it = pending_.find(id);
  if (it == pending_.end()) {
    auto stored = store_.get_approval(id);
    if (!stored) return {Outcome::not_found, "no approval with id " + id, {}};
    return {Outcome::already_resolved,
            "already resolved: " + stored->decision + " by " + stored->decided_by, *stored};
  }
  if (decision != "allow" && decision != "deny")
    return {Outcome::invalid, "decision must be 'allow' or 'deny'", it->second.row};
  ApprovalRow row = it->second.row;
  json input = it->second.input;
  if (decision == "allow") {
    if (row.kind == "question") {
      if (!answers.is_object() || answers.empty())
        return {Outcome::invalid, "a question needs 'answers': {question text: chosen label}", row};
      input["answers"] = answers;
      row.updated_input = input.dump();
    } else if (updated_input.is_object()) {
      input = updated_input;
      row.updated_input = input.dump();
    }
  }
  row.decision = decision;
  row.decided_by = who;
  row.interrupt = interrupt && decision == "deny";
  row.reason = reason.empty() && decision == "deny" ? "Denied by " + who : reason;
  resolve(row, input, true);
  row.state = "resolved";
  return {Outcome::resolved, "resolved", row};
}

void ApprovalChain::cancel(const std::string& session, const std::string& claude_request_id, const std::string& why,
                           const std::string& by) {
  std::vector<std::string> ids;
  for (auto& [id, p] : pending_)
    if (p.row.session == session && (claude_request_id.empty() || p.row.claude_request_id == claude_request_id))
      ids.push_back(id);
  for (auto& id : ids) {
    auto it = pending_.find(id);
    if (it == pending_.end()) continue;  // resolved meanwhile by a channel reacting to an earlier one
    ApprovalRow row = it->second.row;
    row.decision = "cancelled";
    row.decided_by = by;
    row.reason = why;
    resolve(std::move(row), json(), false);
  }
  // Still with the policies: recorded as cancelled too (unless nobody was to be asked);
  // the policies' answer, when it comes, finds nothing to decide.
  ids.clear();
  for (auto& [id, dc] : deciding_)
    if (dc.row.session == session && (claude_request_id.empty() || dc.row.claude_request_id == claude_request_id))
      ids.push_back(id);
  for (auto& id : ids) {
    auto it = deciding_.find(id);
    if (it == deciding_.end()) continue;
    Deciding dc = std::move(it->second);
    deciding_.erase(it);
    if (dc.unasked) continue;
    ApprovalRow row = std::move(dc.row);
    row.request = dc.request.dump();
    row.state = "pending";
    row.decision = "cancelled";
    row.decided_by = by;
    row.reason = why;
    resolve(std::move(row), json(), false);
  }
}

void ApprovalChain::restore_after_restart(const std::map<std::string, ApprovalContext>& live) {
  for (auto& row : store_.unresolved_approvals()) {
    auto ctx = live.find(row.session);
    if (ctx == live.end()) {
      row.decision = "cancelled";
      row.decided_by = "ccmuxd";
      row.reason = "ccmuxd restarted while this was pending; the claude process that asked has ended";
      resolve(std::move(row), json(), false);
      continue;
    }
    json req = json::parse(row.request, nullptr, false);
    if (!req.is_object()) req = json::object();
    json input = object_or(req, "input");
    std::string id = row.id;
    if (row.state == "deciding") {  // the policies had not answered: they decide again
      PolicyRequest preq{row.tool, input, row.session, ctx->second.cwd, ctx->second.model, array_or(req, "suggestions")};
      deciding_[id] = Deciding{std::move(row), std::move(req), std::move(input), {}};
      policies_.evaluate(preq, [this, id](PolicyEngine::Decision d) { after_policies(id, std::move(d)); });
      continue;
    }
    // Asked again: approval_requested once more for every client; the timeout counts from its creation.
    double left = timeout_s_ - static_cast<double>(now_ms() - row.created_ms) / 1000;
    ask_humans(std::move(row), input, std::max(0.0, left));
  }
}

bool ApprovalChain::has_pending(const std::string& session) const {
  for (auto& [id, p] : pending_)
    if (p.row.session == session) return true;
  for (auto& [id, dc] : deciding_)
    if (dc.row.session == session) return true;
  return false;
}

json ApprovalChain::pending_json() const {
  json arr = json::array();
  for (auto& [id, p] : pending_) arr.push_back(row_json(p.row));
  return arr;
}

void ApprovalChain::notify(const std::string& type, const json& approval) {
  if (channels_.empty()) return;
  std::string msg = json{{"type", type}, {"approval", approval}}.dump(-1, ' ', false, json::error_handler_t::replace);
  for (auto& [name, ch] : channels_) ch(msg);
}

void ApprovalChain::remove_owned_by(const std::string& owner) {
  auto owned = [&](const auto& entry) { return entry.first == owner || entry.first.rfind(owner + "/", 0) == 0; };
  providers_.erase(std::remove_if(providers_.begin(), providers_.end(), owned), providers_.end());
  channels_.erase(std::remove_if(channels_.begin(), channels_.end(), owned), channels_.end());
}

}  // namespace ccmux

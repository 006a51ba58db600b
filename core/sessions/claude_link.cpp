#include "sessions/claude_link.h"

#include "json_bounds.h"
#include "json_fields.h"

namespace ccmux {

using nlohmann::json;

namespace {
std::string dump_lossy(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// What makes a can_use_tool unreadable for policies and people ("" when it is fine).
std::string can_use_tool_problem(const json& rid, const json& req) {
  if (!rid.is_string() || rid.get_ref<const std::string&>().empty()) return "'request_id' must be a non-empty string";
  auto tool = req.find("tool_name");
  if (tool == req.end() || !tool->is_string() || tool->get_ref<const std::string&>().empty())
    return "'tool_name' must be a non-empty string";
  if (req.contains("input") && !req["input"].is_null() && !req["input"].is_object()) return "'input' must be an object";
  if (req.contains("permission_suggestions") && !req["permission_suggestions"].is_null() &&
      !req["permission_suggestions"].is_array())
    return "'permission_suggestions' must be an array";
  return "";
}
}  // namespace

const char* ClaudeLine::why(std::string_view line) const {
  return line.size() > Process::kMaxLine ? "line over 256 MiB from claude: cut there, the rest of it dropped"
         : !parsed                       ? "malformed JSON from claude"
         : !doc.is_object()              ? "line is not a JSON object"
                                         : "line has no 'type' field (a non-empty string)";
}

void ClaudeLink::send_prompt(const json& content, const std::string& tag) {
  json msg = {{"type", "user"},
              {"message", {{"role", "user"}, {"content", content}}},
              {"parent_tool_use_id", nullptr},
              {"session_id", ""}};
  proc_->write_after_commit(tag, msg.dump() + "\n");
}

void ClaudeLink::send_control(const std::string& subtype, json fields, Done done) {
  if (!running()) {
    if (done) done(false, {{"error", "session has no running claude process"}});
    return;
  }
  std::string rid = "ccmux-" + std::to_string(next_id_++);
  fields["subtype"] = subtype;
  json msg = {{"type", "control_request"}, {"request_id", rid}, {"request", fields}};
  if (done) pending_[rid] = std::move(done);
  proc_->write(msg.dump() + "\n");
}

void ClaudeLink::answer_permission(const std::string& request_id, const json& response) {
  json msg = {{"type", "control_response"},
              {"response", {{"subtype", "success"}, {"request_id", request_id}, {"response", response}}}};
  if (running()) proc_->write(msg.dump() + "\n");
}

void ClaudeLink::fail_pending(const std::string& why) {
  auto pending = std::move(pending_);
  pending_.clear();
  for (auto& [rid, done] : pending) done(false, {{"error", why}});
}

std::string ClaudeLink::initialize_line(const std::string& request_id) {
  return json{{"type", "control_request"}, {"request_id", request_id}, {"request", {{"subtype", "initialize"}}}}.dump() +
         "\n";
}

bool ClaudeLink::answers(const json& msg, const std::string& request_id) {
  return str_or(msg, "type") == "control_response" && str_or(object_or(msg, "response"), "request_id") == request_id;
}

std::string ClaudeLink::handle_control(std::string_view raw, const ClaudeLine& line) {
  // simdjson took it (up to 1024 levels), but copies and dumps of the nlohmann value
  // recurse per level: deeper than the protocol allows is unreadable, and still answered.
  std::string why;
  json msg = parse_json_bounded(raw, &why);
  return msg.is_discarded()                 ? unreadable(line.type, line.doc, why)
         : line.type == "control_request"  ? on_request(msg)
         : line.type == "control_response" ? on_response(msg)
                                           : on_cancel(msg);
}

void ClaudeLink::write_response(const json& request_id, json response) {
  response["request_id"] = request_id;
  if (proc_) proc_->write(json{{"type", "control_response"}, {"response", response}}.dump() + "\n");
}

std::string ClaudeLink::on_request(const json& msg) {
  json rid = msg.contains("request_id") ? msg["request_id"] : json();  // echoed as sent, whatever it is
  std::string id_problem =
      rid.is_string() && !rid.get_ref<const std::string&>().empty() ? "" : "'request_id' must be a non-empty string";
  static const json kNone;
  const json& req = msg.contains("request") ? msg["request"] : kNone;  // no copy: a Write's input can be megabytes
  std::string subtype = str_or(req, "subtype");
  if (!req.is_object() || subtype.empty()) {
    std::string problem = !req.is_object() ? "'request' must be an object" : "'subtype' must be a non-empty string";
    write_response(rid, {{"subtype", "error"}, {"error", "ccmux could not read this control request: " + problem}});
    return problem;
  }
  if (subtype == "can_use_tool") {
    // One we cannot read is denied, not shown to a human: neither a person nor a policy can
    // judge a tool call whose name or input is unreadable, and a deny lets the model retry.
    std::string problem = can_use_tool_problem(rid, req);
    if (!problem.empty()) {
      write_response(rid, {{"subtype", "success"},
                           {"response", {{"behavior", "deny"},
                                         {"message", "ccmux could not read this permission request (" + problem +
                                                         "), so it is denied"}}}});
      return "can_use_tool: " + problem + " (denied)";
    }
    if (handlers_.can_use_tool) handlers_.can_use_tool(rid.get<std::string>(), req);
    return "";
  }
  if (subtype == "hook_callback") {
    // We register no hooks, but an unanswered callback kills claude after ~30 s: say "no opinion".
    write_response(rid, {{"subtype", "success"}, {"response", json::object()}});
  } else {
    write_response(rid, {{"subtype", "error"}, {"error", "ccmux does not support " + subtype}});
  }
  return id_problem;
}

std::string ClaudeLink::unreadable(std::string_view type, simdjson::dom::element doc, const std::string& why) {
  // What little is needed to answer, read from simdjson's view of the line.
  std::string_view rid, subtype;
  if (type == "control_request") {
    if (doc["request_id"].get(rid) != simdjson::SUCCESS || rid.empty()) return why + " (unanswerable: no 'request_id')";
    if (doc["request"]["subtype"].get(subtype) != simdjson::SUCCESS) subtype = {};
    json response =
        subtype == "can_use_tool"
            ? json{{"subtype", "success"},
                   {"response",
                    {{"behavior", "deny"},
                     {"message", "ccmux could not read this permission request (" + why + "), so it is denied"}}}}
            : json{{"subtype", "error"}, {"error", "ccmux could not read this control request: " + why}};
    write_response(std::string(rid), std::move(response));
    return why + (subtype == "can_use_tool" ? " (denied)" : "");
  }
  if (type == "control_response" && doc["response"]["request_id"].get(rid) == simdjson::SUCCESS) {
    auto it = pending_.find(std::string(rid));
    if (it != pending_.end()) {  // whoever waits for this answer hears why there is none
      Done done = std::move(it->second);
      pending_.erase(it);
      done(false, {{"error", "claude's answer was unreadable (" + why + ")"}});
    }
  }
  if (type == "control_cancel_request" && doc["request_id"].get(rid) == simdjson::SUCCESS && !rid.empty() &&
      handlers_.cancel)
    handlers_.cancel(std::string(rid));
  return why;
}

std::string ClaudeLink::on_response(const json& msg) {
  if (!msg.contains("response") || !msg["response"].is_object()) return "'response' must be an object";
  const json& r = msg["response"];
  if (!r.contains("request_id") || !r["request_id"].is_string()) return "'request_id' must be a string";
  auto it = pending_.find(r["request_id"].get<std::string>());
  if (it == pending_.end()) return "";
  Done done = std::move(it->second);
  pending_.erase(it);
  if (!r.contains("subtype") || !r["subtype"].is_string()) {
    done(false, {{"error", "claude's answer was malformed ('subtype' must be a string)"}});
    return "'subtype' must be a string";
  }
  bool ok = r["subtype"] == "success";
  if (ok) {
    done(true, r.contains("response") ? r["response"] : json::object());
  } else {
    const json& e = r.contains("error") ? r["error"] : json();
    done(false, {{"error", e.is_string() ? e.get<std::string>() : e.is_null() ? "error" : dump_lossy(e)}});
  }
  return "";
}

std::string ClaudeLink::on_cancel(const json& msg) {
  // An empty id would cancel every pending approval of the session: only a named one goes.
  std::string rid = str_or(msg, "request_id");
  if (rid.empty()) return "'request_id' must be a non-empty string";
  if (handlers_.cancel) handlers_.cancel(rid);
  return "";
}

}  // namespace ccmux

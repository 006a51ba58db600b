#include "render.h"

namespace ccmux {

using nlohmann::json;

std::string one_line(const std::string& s, size_t max) {
  std::string out;
  for (char c : s) {
    if (out.size() >= max) {
      out += "…";
      break;
    }
    out += (c == '\n' || c == '\r' || c == '\t') ? ' ' : c;
  }
  return out;
}

std::string Renderer::approval_line(const json& a) {
  std::string what = a.value("tool", "");
  const json& in = a.contains("input") ? a["input"] : json::object();
  if (a.value("kind", "") == "question") {
    std::string qs;
    for (auto& q : a.value("questions", json::array())) {
      qs += "\n    " + q.value("question", "");
      int i = 1;
      for (auto& o : q.value("options", json::array())) qs += "\n      " + std::to_string(i++) + ". " + o.value("label", "");
    }
    return "? question " + a.value("id", "") + " [" + a.value("session", "") + "]" + qs;
  }
  std::string detail = in.contains("command") && in["command"].is_string() ? in["command"].get<std::string>()
                       : in.contains("file_path") && in["file_path"].is_string() ? in["file_path"].get<std::string>()
                                                                                 : in.dump();
  return "? approval " + a.value("id", "") + " [" + a.value("session", "") + "] " + what + ": " + one_line(detail);
}

void Renderer::end_text() {
  if (in_text_) out_ << "\n";
  in_text_ = false;
}

void Renderer::line(const std::string& text) {
  end_text();
  out_ << text << "\n" << std::flush;
}

void Renderer::event(const json& msg) {
  // Payloads are claude's own JSON: one of an unexpected shape is noted, never fatal.
  std::string kind = msg.contains("kind") && msg["kind"].is_string() ? msg["kind"].get<std::string>() : "";
  try {
    event_body(kind, msg);
    const json& p = msg.contains("payload") ? msg["payload"] : msg;
    if (p.is_object() && p.contains("ccmux_truncated") && p["ccmux_truncated"].is_object())
      line("  (" + kind + " event of " + p["ccmux_truncated"].value("bytes", json(0)).dump() +
           " bytes, shown cut; the whole of it: ccmux payload " + msg.value("session", "") + " " +
           msg.value("seq", json(0)).dump() + ")");
  } catch (const json::exception& e) {
    line("· " + kind + " event " + (msg.contains("seq") ? msg["seq"].dump() : "") + " (unexpected shape: " + e.what() + ")");
  }
}

void Renderer::event_body(const std::string& kind, const json& msg) {
  static const json kNone = json::object();
  const json& p = msg.contains("payload") ? msg["payload"] : kNone;
  if (kind == "stream_event") {
    const json& ev = p.value("event", json::object());
    if (ev.value("type", "") == "content_block_delta") {
      const json& d = ev.value("delta", json::object());
      if (d.value("type", "") == "text_delta") {
        out_ << d.value("text", "") << std::flush;
        in_text_ = true;
      }
    }
    return;
  }
  if (kind == "assistant") {
    for (auto& block : p.value("message", json::object()).value("content", json::array())) {
      if (block.value("type", "") != "tool_use") continue;
      const json& in = block.value("input", json::object());
      std::string arg = in.contains("command") && in["command"].is_string()     ? in["command"].get<std::string>()
                        : in.contains("file_path") && in["file_path"].is_string() ? in["file_path"].get<std::string>()
                                                                                 : in.dump();
      line("⏺ " + block.value("name", "") + "(" + one_line(arg, 120) + ")");
    }
    return;
  }
  if (kind == "user") {
    const json content = p.value("message", json::object()).value("content", json::array());
    if (!content.is_array()) return;
    for (auto& block : content) {
      if (block.value("type", "") != "tool_result") continue;
      std::string text;
      const json bc = block.value("content", json());
      if (bc.is_string()) text = bc.get<std::string>();
      else if (bc.is_array())
        for (auto& c : bc) text += c.value("text", "");
      line(std::string("  ⎿ ") + (block.value("is_error", false) ? "error: " : "") + one_line(text, 200));
    }
    return;
  }
  if (kind == "result") {
    char cost[32];
    snprintf(cost, sizeof cost, "%.4f", p.value("total_cost_usd", 0.0));
    if (p.value("is_error", false)) {
      std::string why = p.value("result", "");
      if (why.empty() && p.contains("errors")) why = p["errors"].dump();
      line("✗ turn ended in error (" + p.value("subtype", "") + "): " + one_line(why, 300));
    } else {
      line("— done (" + std::to_string(p.value("num_turns", 0)) + " turns, $" + cost + ")");
    }
    return;
  }
  if (kind == "approval_requested") {
    line(approval_line(p));
    return;
  }
  if (kind == "approval_resolved") {
    std::string d = p.value("decision", "");
    std::string mark = d == "allow" ? "✓" : d == "deny" ? "✗" : "·";
    std::string reason = p.value("reason", "");
    line("  " + mark + " " + p.value("tool", "") + " " + (d == "allow" ? "allowed" : d == "deny" ? "denied" : d) + " by " +
         p.value("decided_by", "") + (reason.empty() ? "" : ": " + one_line(reason)));
    return;
  }
  if (kind == "session_failed" || kind == "session_exited") {
    line(std::string(kind == "session_failed" ? "✗ session failed: " : "· session exited: ") + p.value("reason", ""));
    return;
  }
  if (kind == "session_crashed") {
    char delay[32];
    snprintf(delay, sizeof delay, "%g", p.value("restart_in_s", 0.0));
    line("✗ claude crashed: " + p.value("reason", "") + "; restarting in " + delay + " s");
    return;
  }
  if (kind == "session_parked") return line("· parked: " + p.value("reason", ""));
  if (kind == "session_queued")
    return line("· waiting for a free claude slot (#" + std::to_string(p.value("position", 0)) + ", " +
                std::to_string(p.value("live", 0)) + "/" + std::to_string(p.value("max_live", 0)) + " live)");
  if (kind == "prompt_queued") {
    const json& c = p.value("content", json());
    line("> " + one_line(c.is_string() ? c.get<std::string>() : c.dump(), 200));
    return;
  }
  if (kind == "parse_error") {
    if (p.contains("seq"))  // the line is stored as event `seq`; a field of it was unusable
      line("! claude's line " + p["seq"].dump() + ": " + one_line(p.value("error", ""), 200));
    else
      line("! unparsable output from claude (" + p.value("error", "") + "): " + one_line(p.value("raw", ""), 120));
    return;
  }
  if (kind == "mode_changed") line("· permission mode: " + p.value("mode", ""));
}

}  // namespace ccmux

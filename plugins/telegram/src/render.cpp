#include "render.h"

#include <cstdio>

namespace ccmux::telegram {

using nlohmann::json;

namespace {
std::string cut(const std::string& s, size_t n) { return s.size() <= n ? s : s.substr(0, n) + "…"; }
}  // namespace

std::string approval_text(const json& a) {
  std::string head = "🔐 " + a.value("id", "") + " · session " + a.value("session", "");
  if (a.value("kind", "") == "question") {
    std::string t = head + "\nClaude asks:";
    for (auto& q : a.value("questions", json::array())) t += "\n• " + cut(q.value("question", ""), 300);
    return t;
  }
  const json in = a.value("input", json::object());
  std::string tool = a.value("tool", ""), what;
  if (in.contains("command") && in["command"].is_string()) what = "$ " + in["command"].get<std::string>();
  else if (in.contains("file_path") && in["file_path"].is_string()) what = in["file_path"];
  else what = in.dump();
  std::string t = head + "\n" + tool + ": " + cut(what, 600);
  if (a.contains("description") && a["description"].is_string()) t += "\n" + cut(a["description"], 200);
  if (a.contains("cwd") && a["cwd"].is_string()) t += "\nin " + a["cwd"].get<std::string>();
  for (auto& h : a.value("hints", json::array())) t += "\n💡 " + cut(h.value("reason", ""), 200);
  return t;
}

json approval_keyboard(const json& a) {
  std::string id = a.value("id", "");
  json rows = json::array();
  if (a.value("kind", "") == "question") {
    auto qs = a.value("questions", json::array());
    for (size_t qi = 0; qi < qs.size() && qi < 4; ++qi) {
      auto opts = qs[qi].value("options", json::array());
      for (size_t oi = 0; oi < opts.size() && oi < 8; ++oi)
        rows.push_back({{{"text", cut(opts[oi].value("label", "?"), 60)},
                         {"callback_data", "q|" + id + "|" + std::to_string(qi) + "|" + std::to_string(oi)}}});
    }
    rows.push_back({{{"text", "Dismiss"}, {"callback_data", "a|" + id + "|deny"}}});
  } else {
    rows.push_back({{{"text", "✅ Allow"}, {"callback_data", "a|" + id + "|allow"}},
                    {{"text", "❌ Deny"}, {"callback_data", "a|" + id + "|deny"}}});
    rows.push_back({{{"text", "Always allow this pattern"}, {"callback_data", "a|" + id + "|always"}}});
  }
  return {{"inline_keyboard", rows}};
}

std::string outcome_text(const json& a, const std::string& original) {
  std::string d = a.value("decision", "");
  std::string mark = d == "allow" ? "✅ Allowed" : d == "deny" ? "❌ Denied" : "⏹ " + d;
  std::string t = original + "\n\n" + mark + " by " + a.value("decided_by", "?");
  if (a.contains("reason") && a["reason"].is_string() && !a["reason"].get<std::string>().empty())
    t += " — " + cut(a["reason"], 200);
  return t;
}

std::string sessions_text(const json& sessions) {
  if (sessions.empty()) return "No sessions.";
  std::string t;
  for (auto& s : sessions) {
    char cost[32];
    std::snprintf(cost, sizeof cost, "$%.4f", s.value("cost_usd", 0.0));
    t += s.value("id", "") + "  " + s.value("state", "") + "  " + cost + "  " + s.value("cwd", "") + "\n";
  }
  return t;
}

}  // namespace ccmux::telegram

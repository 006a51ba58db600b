#include "flow_config.h"

#include <cctype>
#include <stdexcept>

namespace ccmux::gitlab {

using nlohmann::json;

namespace {

std::string map_value(const json& cfg, const char* key, const std::string& project) {
  if (!cfg.contains(key) || !cfg[key].is_object()) return "";
  return cfg[key].value(project, "");
}

bool is_word_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.'; }

}  // namespace

FlowConfig FlowConfig::from_json(const json& cfg) {
  FlowConfig c;
  if (!cfg.contains("projects") || !cfg["projects"].is_object() || cfg["projects"].empty())
    throw std::invalid_argument("gitlab: `projects` must map at least one project (id or path) to its local clone");
  std::set<std::string> fix;
  if (cfg.contains("pipeline_fix"))
    for (auto& p : cfg["pipeline_fix"]) fix.insert(p.get<std::string>());
  for (auto& [key, clone] : cfg["projects"].items()) {
    ProjectConfig p;
    p.key = key;
    p.clone = clone.get<std::string>();
    if (p.clone.empty() || p.clone[0] != '/')
      throw std::invalid_argument("gitlab: projects." + key + ": the clone must be an absolute path");
    p.model = map_value(cfg, "models", key);
    if (p.model.empty()) p.model = cfg.value("model", "");
    p.permission_mode = map_value(cfg, "permission_modes", key);
    if (p.permission_mode.empty()) p.permission_mode = cfg.value("permission_mode", "");
    p.pipeline_fix = fix.count(key) > 0;
    fix.erase(key);
    bool numeric = !key.empty() && key.find_first_not_of("0123456789") == std::string::npos;
    if (numeric) p.id = std::stoll(key);
    else p.path = key;
    c.projects.push_back(std::move(p));
  }
  if (!fix.empty()) throw std::invalid_argument("gitlab: pipeline_fix names " + *fix.begin() + ", which is not in `projects`");
  for (const char* per : {"models", "permission_modes"})
    if (cfg.contains(per))
      for (auto& [key, _] : cfg[per].items())
        if (!cfg["projects"].contains(key))
          throw std::invalid_argument(std::string("gitlab: ") + per + " names " + key + ", which is not in `projects`");
  c.trigger = cfg.value("trigger", "@ccmux");
  if (c.trigger.empty() || c.trigger.find_first_of(" \t\n") != std::string::npos)
    throw std::invalid_argument("gitlab: `trigger` must be one word (e.g. @ccmux)");
  if (cfg.contains("allowed_users"))
    for (auto& u : cfg["allowed_users"]) c.allowed_users.insert(u.get<std::string>());
  if (cfg.contains("allowed_groups"))
    for (auto& g : cfg["allowed_groups"]) c.allowed_groups.push_back(g.get<std::string>());
  if (c.allowed_users.empty() && c.allowed_groups.empty())
    throw std::invalid_argument("gitlab: set allowed_users and/or allowed_groups: nobody may trigger a session otherwise");
  c.refuse_with_note = cfg.value("on_refused", "note") == "note";
  c.min_access_level = cfg.value("min_access_level", 30);
  c.push = cfg.value("push", false);
  c.open_mr_for_issues = cfg.value("open_mr_for_issues", false);
  c.page_url = cfg.value("page_url", "");
  while (!c.page_url.empty() && c.page_url.back() == '/') c.page_url.pop_back();
  c.commit_author = cfg.value("commit_author", "");
  c.log_tail_lines = cfg.value("log_tail_lines", 80);
  return c;
}

const ProjectConfig* FlowConfig::find(long long id, const std::string& path) const {
  for (auto& p : projects)
    if ((p.id && p.id == id) || (!p.path.empty() && p.path == path)) return &p;
  return nullptr;
}

std::optional<std::string> request_after_trigger(const std::string& note, const std::string& trigger) {
  for (size_t at = note.find(trigger); at != std::string::npos; at = note.find(trigger, at + 1)) {
    bool starts = at == 0 || !is_word_char(note[at - 1]);
    size_t end = at + trigger.size();
    bool ends = end == note.size() || !is_word_char(note[end]);
    if (!starts || !ends) continue;
    // A Markdown quote ("> @ccmux …", a reply quoting an earlier request) is not a new request.
    size_t line = note.rfind('\n', at);
    line = line == std::string::npos ? 0 : line + 1;
    size_t first = note.find_first_not_of(" \t", line);
    if (first < at && note[first] == '>') continue;
    std::string rest = note.substr(end);
    size_t b = rest.find_first_not_of(" \t\r\n:,");
    if (b == std::string::npos) return std::string();
    size_t e = rest.find_last_not_of(" \t\r\n");
    return rest.substr(b, e - b + 1);
  }
  return std::nullopt;
}

}  // namespace ccmux::gitlab

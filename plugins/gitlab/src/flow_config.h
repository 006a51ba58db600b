// The behaviour part of the plugin's config: which projects are watched (and where their
// clones are), who may trigger a session, and what happens to a session's work. Read from
// the config JSON the host checked against the declared keys (gitlab_plugin.cpp).
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <set>
#include <string>
#include <vector>

namespace ccmux::gitlab {

struct ProjectConfig {
  std::string key;              // as written in `projects`: a numeric id or a path "group/app"
  std::string clone;            // the local clone (its `origin` is the GitLab project)
  std::string model;            // empty: the daemon's default
  std::string permission_mode;  // empty: the daemon's default
  bool pipeline_fix = false;
  // Learned from the first hook of this project (hooks carry both).
  long long id = 0;
  std::string path;
};

struct FlowConfig {
  std::vector<ProjectConfig> projects;
  std::string trigger = "@ccmux";
  std::set<std::string> allowed_users;   // GitLab usernames
  std::vector<std::string> allowed_groups;  // group ids or paths: their members may trigger
  bool refuse_with_note = true;          // on_refused: note | ignore
  bool push = false;
  bool open_mr_for_issues = false;
  std::string page_url;                  // the web page, for links to sessions
  std::string commit_author;             // used when a clone has no git identity
  int log_tail_lines = 80;
  int min_access_level = 30;             // a group member below it (Guest, Reporter) may not trigger

  // Throws std::invalid_argument with a message naming the key.
  static FlowConfig from_json(const nlohmann::json& cfg);
  // The project a hook names (by id, or by path_with_namespace), or nullptr.
  const ProjectConfig* find(long long id, const std::string& path) const;
};

// The request in a comment: the text after the trigger word (which must stand alone: "@ccmuxx"
// is not "@ccmux"; in a quoted line "> …" it does not count), or nullopt when the comment does not
// call the trigger.
std::optional<std::string> request_after_trigger(const std::string& note, const std::string& trigger);

}  // namespace ccmux::gitlab

// What the plugin remembers about each session it started, persisted in the plugin's kv
// store (SDK kv_set/kv_get) so a daemon restart loses nothing: which MR or issue it works
// for, its worktree and branch, which trigger each of its prompts came from, and the last
// event whose consequences (commit, push, note) were carried out.
#pragma once

#include "gitlab_api.h"

#include <ccmux/plugin.hpp>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace ccmux::gitlab {

// What a GitLab note goes on: an MR or an issue of a project.
struct Target {
  int64_t project_id = 0;
  std::string project_key;  // the key in `projects` (config)
  Noteable on = Noteable::merge_request;
  int64_t iid = 0;
  std::string api_project() const { return std::to_string(project_id); }
  // "p42/mr/7": the kv key part naming this MR or issue.
  std::string key() const;
  std::string label() const;  // "MR !7" or "issue #7"
};

// Why a prompt was sent: a comment (note id) or a failed pipeline.
struct Trigger {
  std::string kind = "note";  // "note" | "pipeline"
  int64_t id = 0;             // the note id or the pipeline id
  std::string request;        // the comment's request, or "fix pipeline #N"
  std::string author;         // GitLab username ("" for a pipeline)
  int64_t prompt_id = 0;      // the session's prompt it became (0: the first prompt, not yet seen)
  std::string marker() const;  // "ccmux:note=123" / "ccmux:pipeline=45" (idempotency markers)
};

struct Tracked {
  std::string session;
  Target target;
  std::string branch, worktree, worktree_name;
  std::string base_branch;  // issues: the branch an MR would target
  std::string title;        // issues: for the MR opened
  std::string opened_mr;    // issues: the MR opened for it (web_url), "" before
  uint64_t last_seq = 0;    // events up to here are done
  int64_t current_prompt = 0;  // the prompt of the turn running now
  std::vector<Trigger> triggers;

  const Trigger* trigger_of(int64_t prompt_id) const;
  nlohmann::json to_json() const;
  static Tracked from_json(const nlohmann::json& j);  // throws on a malformed record
};

// The kv layout: "session/<id>" → Tracked, "target/<p42/mr/7>" → session id, "sessions" →
// [ids], "seen/<delivery>" → "1" (redelivered webhooks). Loop thread only.
class TrackedStore {
 public:
  explicit TrackedStore(Host& host) : host_(host) {}
  // Every record (bad ones are logged and skipped).
  std::vector<Tracked> load_all();
  void save(const Tracked& t);
  std::optional<std::string> session_for(const Target& target);
  void map_target(const Target& target, const std::string& session);
  void forget_target(const Target& target);
  // True the first time `delivery` is seen (and remembers it); false for a redelivery.
  bool first_delivery(const std::string& delivery);

 private:
  Host& host_;
};

}  // namespace ccmux::gitlab

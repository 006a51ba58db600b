// GitLab webhook payloads (Note Hook, Pipeline Hook) read into plain structs. The reader is
// defensive: a wrong type, a missing required field, a too-deep or too-big document gives a
// clear error string naming the field ("object_attributes.id: expected an integer, got
// string"); it never throws and never crashes. Optional fields that are absent or null are
// left empty. Shapes: docs.gitlab.com/ee/user/project/integrations/webhook_events.html.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace ccmux::gitlab {

struct HookUser {
  int64_t id = 0;          // required in Note Hook; 0 when absent elsewhere
  std::string username;    // required in Note Hook
  std::string name;
};

struct HookProject {
  int64_t id = 0;                    // required
  std::string path_with_namespace;   // required
  std::string web_url, default_branch, git_http_url, git_ssh_url;
};

struct HookMergeRequest {
  int64_t id = 0, iid = 0;           // iid required
  int64_t source_project_id = 0, target_project_id = 0;
  std::string title, description, state, source_branch, target_branch, url, last_commit_sha;
};

struct HookIssue {
  int64_t id = 0, iid = 0;           // iid required
  std::string title, description, state, url;
};

// object_kind "note": a comment on an MR, an issue, a commit or a snippet.
struct NoteEvent {
  HookUser user;
  HookProject project;
  int64_t note_id = 0;          // object_attributes.id (required): the redelivery key
  std::string note;             // object_attributes.note (required), the comment's text
  std::string noteable_type;    // "MergeRequest", "Issue", "Commit", "Snippet" (required)
  std::string url;              // object_attributes.url
  std::string created_at;
  bool system = false;          // object_attributes.system: GitLab's own notes
  std::optional<HookMergeRequest> merge_request;  // required when noteable_type is MergeRequest
  std::optional<HookIssue> issue;                 // required when noteable_type is Issue
};

struct HookBuild {
  int64_t id = 0;
  std::string name, stage, status, failure_reason;
  bool allow_failure = false;
};

// object_kind "pipeline".
struct PipelineEvent {
  HookUser user;
  HookProject project;
  int64_t pipeline_id = 0;      // object_attributes.id (required)
  std::string status;           // object_attributes.status (required): "failed", "success" …
  std::string ref, sha, source, url;
  bool tag = false;
  std::optional<HookMergeRequest> merge_request;  // present for merge request pipelines
  std::vector<HookBuild> builds;
};

using HookEvent = std::variant<NoteEvent, PipelineEvent>;

template <class T>
struct Parsed {
  std::optional<T> value;
  std::string error;  // set when !value
  explicit operator bool() const { return value.has_value(); }
};

// Limits on a payload's strings and lists: a longer string is cut there (a description
// pasted with a log in it should not lose the event), a longer build list is refused.
inline constexpr size_t kMaxHookString = 256u << 10;  // 256 KiB per string
inline constexpr size_t kMaxHookBuilds = 1000;

Parsed<NoteEvent> parse_note_hook(const nlohmann::json& payload) noexcept;
Parsed<PipelineEvent> parse_pipeline_hook(const nlohmann::json& payload) noexcept;
// By object_kind ("note" / "pipeline"); other kinds are an error ("unsupported object_kind 'push'").
Parsed<HookEvent> parse_hook(const nlohmann::json& payload) noexcept;
// Parses the text first (bounded depth, at most max_bytes).
Parsed<HookEvent> parse_hook_text(std::string_view body, size_t max_bytes = 1u << 20) noexcept;

}  // namespace ccmux::gitlab

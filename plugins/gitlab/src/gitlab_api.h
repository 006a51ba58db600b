// A GitLab REST v4 client (libcurl) for the gitlab plugin: one object per GitLab instance.
//
// Blocking: every call does network I/O (and may sleep between retries), so the plugin runs
// them on a worker thread of its own, never on the daemon's loop thread (Host::post/timers).
// Thread-safe: calls may run on several threads at once (each takes its own curl handle from
// a small pool); stop() from any thread ends every call in flight and every retry sleep at
// once (they throw ApiError{ErrorKind::stopped}).
//
// The token travels only in the PRIVATE-TOKEN header: it is never part of a URL, a log line
// or an error message (curl's error text is scrubbed of it, and verbose mode is never on).
//
// Errors are ApiError (kind + status + a message naming the method and path, e.g.
// "GET /projects/group%2Fapp/merge_requests/7: 404 no such project, merge request or issue").
// Retries: GETs on 429 (after Retry-After), 5xx and network errors (bounded exponential
// backoff); POSTs only when the request surely was not processed (429, connection refused)
// — and, for notes/MRs created with an idempotency marker, also after an ambiguous failure
// (5xx, timeout) once a look at the existing notes/MRs shows the first attempt did not land.
#pragma once

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace ccmux::gitlab {

enum class ErrorKind {
  unauthorized,  // 401: token refused (wrong, expired or revoked)
  forbidden,     // 403: the token's user may not do this
  not_found,     // 404: no such project / MR / issue / pipeline / job (or not visible to the token)
  conflict,      // 409 (e.g. another open MR for this source branch)
  rate_limited,  // 429 still after the retries
  client,        // other 4xx (400, 422 …): GitLab's message is in what()
  server,        // 5xx still after the retries
  network,       // connection refused, timeout, DNS, TLS …
  bad_response,  // the answer was not the JSON expected (wrong types, too big, too deep)
  stopped,       // stop() was called
  invalid_argument,  // a bad argument from the caller (e.g. a marker with "--" in it)
};
const char* kind_name(ErrorKind kind);  // "unauthorized", "not_found", …

class ApiError : public std::runtime_error {
 public:
  ApiError(ErrorKind kind, int http_status, const std::string& message, int retry_after_s = 0)
      : std::runtime_error(message), kind_(kind), status_(http_status), retry_after_s_(retry_after_s) {}
  ErrorKind kind() const { return kind_; }
  int http_status() const { return status_; }  // 0 when no HTTP answer
  int retry_after_s() const { return retry_after_s_; }

 private:
  ErrorKind kind_;
  int status_;
  int retry_after_s_;
};

// Log levels match CCMUX_LOG_* (0 debug, 1 info, 2 warn, 3 error); lines never hold the token.
using LogFn = std::function<void(int level, const std::string& line)>;

struct ApiConfig {
  std::string base_url;  // e.g. https://gitlab.example.com or http://127.0.0.1:PORT ("/api/v4" is added)
  std::string token;     // personal/project access token
  long timeout_s = 30;          // one HTTP exchange
  long connect_timeout_s = 10;
  int max_attempts = 4;         // per call, first try included
  std::chrono::milliseconds backoff_initial{500};  // 5xx/network: 0.5 s, 1 s, 2 s … capped
  std::chrono::milliseconds backoff_max{8000};
  int max_retry_after_s = 120;  // a longer Retry-After is not waited for: rate_limited at once
  size_t max_response_bytes = 8u << 20;  // larger answers are refused (bad_response)
  LogFn log;                    // optional: retries and refusals
};

struct User {
  int64_t id = 0;
  std::string username, name;
};

struct Project {
  int64_t id = 0;
  std::string path_with_namespace, web_url, default_branch, http_url_to_repo, ssh_url_to_repo;
};

struct MergeRequest {
  int64_t id = 0, iid = 0, project_id = 0, source_project_id = 0, target_project_id = 0;
  std::string title, description, state, source_branch, target_branch, web_url, sha;
  User author;
};

struct FileChange {
  std::string old_path, new_path, diff;  // diff: the unified hunk text GitLab gives (may be cut)
  bool new_file = false, deleted_file = false, renamed_file = false;
  bool diff_truncated = false;  // cut here to keep the total under max_diff_bytes
};

struct MrChanges {
  MergeRequest mr;
  std::vector<FileChange> files;
  bool truncated = false;  // some diffs were cut or left out (max_diff_bytes), or GitLab said overflow
};

struct Note {
  int64_t id = 0;
  std::string body;
  User author;
  bool system = false;
};

struct Issue {
  int64_t id = 0, iid = 0, project_id = 0;
  std::string title, description, state, web_url;
  User author;
};

struct Pipeline {
  int64_t id = 0, project_id = 0;
  std::string status, ref, sha, source, web_url, created_at;
};

struct Job {
  int64_t id = 0;
  std::string name, stage, status, web_url;
  bool allow_failure = false;
};

// What kind of thing a note goes on.
enum class Noteable { merge_request, issue };

class GitLabApi {
 public:
  explicit GitLabApi(ApiConfig config);
  ~GitLabApi();
  GitLabApi(const GitLabApi&) = delete;
  GitLabApi& operator=(const GitLabApi&) = delete;

  // Any thread: every call in flight and every retry sleep ends at once (ErrorKind::stopped),
  // and every later call throws stopped. Not undone.
  void stop();
  bool stopped() const { return stop_.load(); }

  // `project` is a numeric id ("42") or a path ("group/sub/app"); the client URL-encodes it.
  Project get_project(const std::string& project);
  std::vector<MergeRequest> list_open_mrs(const std::string& project, int limit = 20);
  MergeRequest get_mr(const std::string& project, int64_t iid);
  // The MR with its changed files; diffs are kept until their total reaches max_diff_bytes,
  // then cut (FileChange::diff_truncated) and the rest listed without a diff. Uses
  // /merge_requests/:iid/diffs (paginated, up to 2000 files) and, on GitLab older than 15.7
  // (404 there), the deprecated /changes.
  MrChanges get_mr_changes(const std::string& project, int64_t iid, size_t max_diff_bytes = 64u << 10);
  std::vector<Issue> list_open_issues(const std::string& project, int limit = 20);
  Issue get_issue(const std::string& project, int64_t iid);
  // Recent pipelines, newest first; `ref` filters by branch when not empty.
  std::vector<Pipeline> list_pipelines(const std::string& project, int limit = 20, const std::string& ref = "");
  std::vector<Job> list_pipeline_jobs(const std::string& project, int64_t pipeline_id, bool failed_only = true);
  // The last `tail_bytes` of a job's log (starting at a line start when one is near, never
  // inside a character), as valid UTF-8: bytes that are not become U+FFFD.
  std::string job_trace_tail(const std::string& project, int64_t job_id, size_t tail_bytes = 16u << 10);

  // The newest notes first (up to `limit`), system notes included.
  std::vector<Note> list_notes(const std::string& project, Noteable on, int64_t iid, int limit = 100);
  // Posts a note. With a non-empty `marker` (e.g. "ccmux:note=12345:start": letters, digits
  // and ":=._/-", no "--", at most 200 chars) the body ends with "<!-- marker -->", and the
  // post is idempotent: after an ambiguous failure (5xx, timeout) the notes are listed and the
  // existing note is returned instead of posting again. Call it again with the same marker
  // after any failure: a note already there is returned, not doubled. Only a note written by
  // the token's own user (current_user()) counts: anyone may comment the predictable marker.
  Note create_note(const std::string& project, Noteable on, int64_t iid, const std::string& body,
                   const std::string& marker = "");
  // Opens an MR. Idempotent per (source, target): when an ambiguous failure or a 409 leaves an
  // open MR for the same branches, that MR is returned.
  MergeRequest create_mr(const std::string& project, const std::string& source_branch,
                         const std::string& target_branch, const std::string& title, const std::string& description);

  // The token's own user (GET /user), asked once and remembered.
  User current_user();
  // The user with this username (exact), or nullopt.
  std::optional<User> find_user(const std::string& username);
  // Members, inherited ones included (/members/all/:user_id), with at least this access level
  // (default Developer: a Guest may not make the bot work); false on 404 (not a member).
  static constexpr int kDeveloperAccess = 30;
  bool is_group_member(const std::string& group, int64_t user_id, int min_access_level = kDeveloperAccess);
  bool is_project_member(const std::string& project, int64_t user_id, int min_access_level = kDeveloperAccess);

  // The raw calls behind the above, for calls not wrapped here. `path` starts with "/"
  // and is under /api/v4 (e.g. "/projects/42/repository/branches"); query values are
  // URL-encoded by the client. The answer is parsed (bounded depth) JSON.
  using Query = std::vector<std::pair<std::string, std::string>>;
  nlohmann::json get(const std::string& path, const Query& query = {});
  nlohmann::json post(const std::string& path, const nlohmann::json& body);

  // A job log as plain text: ANSI colour/cursor escapes and GitLab's section markers
  // ("section_start:1700000000:name\r\x1b[0K") removed, "\r\n" made "\n". For prompts.
  static std::string plain_text(std::string trace);
  // "group%2Fapp" for "group/app"; exposed for tests and callers building paths.
  static std::string encode(const std::string& s);
  static bool valid_marker(const std::string& marker);
  // The text a marked body carries: "<!-- marker -->".
  static std::string marker_comment(const std::string& marker);

 public:
  struct Response;  // one HTTP exchange (defined in the .cpp)

 private:
  struct Handle;
  Response perform(const std::string& method, const std::string& path, const Query& query, const std::string* body,
                   size_t max_bytes, bool keep_tail = false);
  // `already_done` (POSTs that can check): after an ambiguous failure, the thing the first
  // attempt created when it landed after all; nullopt to post again.
  nlohmann::json request(const std::string& method, const std::string& path, const Query& query,
                         const nlohmann::json* body, const std::function<std::optional<nlohmann::json>()>& already_done);
  std::string text_request(const std::string& path, size_t max_bytes);
  bool sleep_for(std::chrono::milliseconds d);  // false when stopped
  std::chrono::milliseconds backoff(int attempt) const;
  std::string redact(std::string s) const;
  void log(int level, const std::string& line) const;
  std::unique_ptr<Handle> take_handle();
  void give_back(std::unique_ptr<Handle> h);

  ApiConfig cfg_;
  std::string api_root_;  // base_url + "/api/v4"
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::vector<std::unique_ptr<Handle>> pool_;
  std::optional<User> me_;  // current_user(), under mu_
};

}  // namespace ccmux::gitlab

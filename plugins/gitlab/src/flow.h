// The plugin's behaviour: webhook events become sessions, and sessions' turns become commits,
// pushes and notes.
//
//   Note Hook "@ccmux <request>" on an MR or issue, by an allowed user
//     → git fetch, session.new in worktree mr-<iid> (issue-<iid>) on the MR's source branch
//       (ccmux/issue-<iid>), a start note; a later comment → session.send to the same session.
//   Pipeline Hook "failed" on a watched MR (pipeline_fix) → the failed job's log tail as a
//     prompt, in the MR's session (a new one when it has none).
//   Each turn's result → git add -A / commit / push (push: true) → a result note.
//
// Threads: webhook deliveries arrive on the webhook server's dispatch thread and are handed
// to the loop thread (Host::post); the loop thread owns all state, the protocol client and
// the kv store; GitLab API calls and git run on the Worker and come back by Host::post.
// Sessions are started through the protocol (an in-daemon client), exactly like any client:
// their tool calls go through the normal approval chain.
#pragma once

#include "flow_config.h"
#include "git_ops.h"
#include "gitlab_api.h"
#include "hook_payload.h"
#include "tracked.h"
#include "webhook_server.h"
#include "worker.h"

#include <ccmux/plugin.hpp>
#include <nlohmann/json.hpp>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace ccmux::gitlab {

class Flow {
 public:
  Flow(Host& host, FlowConfig config, std::shared_ptr<GitLabApi> api);
  ~Flow();
  // Loop thread: opens the protocol client and picks up the sessions of a previous run.
  void start();
  // Loop thread: stops the worker (the API client is stopped by the caller first).
  void stop();
  // Any thread (the webhook dispatch thread): parses the delivery, then handles it on the loop.
  void on_delivery(WebhookDelivery&& delivery);

 private:
  using Blocks = nlohmann::json;  // a prompt: an array of content blocks
  struct Pending {                // a prompt for a session still being started
    Trigger trigger;
    std::string prompt;
  };

  // ---- triggers (loop thread): flow_triggers.cpp ----
  void on_note(const NoteEvent& e);
  void on_pipeline(const PipelineEvent& e);
  void with_permission(const NoteEvent& e, const Target& t, std::function<void()> allowed);
  void refuse(const NoteEvent& e, const Target& t);
  void on_request(const Target& t, const ProjectConfig& p, const Trigger& trig, const NoteEvent& e);
  void on_failed_pipeline(const Target& t, const ProjectConfig& p, const PipelineEvent& e);

  // ---- sessions and turns (loop thread): flow_sessions.cpp ----
  // Sends `prompt` to the target's session, or (none yet) runs `prepare` on the worker to
  // build the first prompt and start one.
  struct Start {
    std::string worktree_name, branch, from, base_branch, title;
    Blocks prompt;
    std::string error;  // set by prepare: nothing is started, the error is posted
  };
  void deliver(const Target& t, const ProjectConfig& p, const Trigger& trig, const std::string& prompt,
               std::function<Start()> prepare);
  void begin_session(const Target& t, const ProjectConfig& p, const Trigger& trig, Start s);
  void send_to(const std::string& session, const Target& t, const ProjectConfig& p, const Trigger& trig,
               const std::string& prompt);
  void track(Tracked t, uint64_t from_seq);
  void on_event(const std::string& session, const Event& ev);
  void finish_turn(Tracked& t, uint64_t seq, const nlohmann::json& result);
  void post_note(const Target& t, const std::string& body, const std::string& marker);
  void request(const std::string& method, const nlohmann::json& params,
               std::function<void(bool ok, const nlohmann::json& r)> done);
  void on_client_message(std::string_view text);
  const ProjectConfig* project_of(const Target& t) const;

  Host& host_;
  FlowConfig cfg_;
  std::shared_ptr<GitLabApi> api_;
  std::atomic<bool> stopping_{false};
  Git git_;
  TrackedStore store_;
  uint64_t client_ = 0;
  int64_t next_request_ = 1;
  std::map<int64_t, std::function<void(bool, const nlohmann::json&)>> waiting_;
  std::map<std::string, Tracked> sessions_;                // by session id
  std::map<std::string, std::vector<Pending>> starting_;   // by Target::key(): a start in flight
  Worker worker_;  // last: its thread goes first
};

}  // namespace ccmux::gitlab

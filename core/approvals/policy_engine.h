// All configured policy scripts, in order, run in the policy worker process
// (policy_worker.h) without ever blocking the event loop: each load or decide() has a wall
// clock (approval.lua_timeout_ms); a worker that overruns it is killed, one that dies is
// replaced, and the scripts that had loaded are loaded again in the new one. Whatever goes
// wrong, the answer is "ask" with the reason, and the approval then waits for a human.
#pragma once

#include "approvals/lua_policy.h"
#include "runtime/child_process.h"
#include "runtime/event_loop.h"

#include <nlohmann/json.hpp>

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace ccmux {

class PolicyEngine {
 public:
  struct Options {
    LuaLimits limits;
    double timeout_s = 1.0;  // per load or decide() call, measured in the daemon
    std::string worker_exe = "/proc/self/exe";  // an executable whose main() calls maybe_run_policy_worker
  };
  struct Decision {
    PolicyVerdict verdict;
    std::string decided_by;  // "policy:<spec>" when a script decided or asked
    // A script failed (error, budget, timeout, crash) or the input could not be given to the
    // scripts: a provider may not allow in their place; only a human (or a deny) decides.
    bool fail_closed = false;
  };
  using Decided = std::function<void(Decision)>;
  using Loaded = std::function<void(std::vector<std::string> errors)>;

  PolicyEngine(EventLoop& loop, Options opts);
  ~PolicyEngine();
  PolicyEngine(const PolicyEngine&) = delete;
  PolicyEngine& operator=(const PolicyEngine&) = delete;

  // (Re)loads the scripts; `done` gets the errors ("file:line: error"). A script that fails
  // keeps its previous version. Evaluations asked for meanwhile use the scripts as they were.
  void load(const std::vector<std::string>& specs, Loaded done = {});
  // First allow/deny wins; "ask" or nil goes on to the next script. `done` runs later (or at
  // once when there are no scripts), on the loop thread.
  void evaluate(const PolicyRequest& req, Decided done);

  size_t size() const { return specs_.size(); }
  bool idle() const { return !inflight_ && queue_.empty(); }
  int worker_pid() const { return worker_ && worker_->running() ? worker_->pid() : 0; }
  uint64_t worker_starts() const { return starts_; }

  // Blocking forms for callers that own the loop and are not running it (ccmux policy test,
  // ccmuxd --check-config, tests).
  std::vector<std::string> load_sync(const std::vector<std::string>& specs);
  Decision evaluate_sync(const PolicyRequest& req);

 private:
  using OpDone = std::function<void(const nlohmann::json* reply, const std::string& failure)>;
  struct Op {
    nlohmann::json head;      // op, name (and source for a load)
    std::string raw_request;  // decide: the request's JSON text, serialised once per evaluation
    OpDone done;
    bool reload = false;      // reloading a script into a new worker (not asked for by anyone)
  };
  struct Evaluation;

  void enqueue(Op op, bool front = false);
  void pump();
  bool start_worker();
  void on_worker_line(std::string_view line);
  void on_worker_exit(int status);
  void on_deadline();
  void fail_inflight(const std::string& why);
  void fail_queued(const std::string& why);
  void kill_worker(const std::string& why);
  void step(const std::shared_ptr<Evaluation>& ev);

  EventLoop& loop_;
  Options opts_;
  std::vector<std::string> specs_;                 // active scripts, in order
  std::map<std::string, std::string> sources_;     // spec -> source the worker has loaded
  std::map<std::string, std::string> broken_;      // spec -> why it is not loaded any more
  std::unique_ptr<ChildProcess> worker_;
  bool worker_ready_ = false;
  bool worker_killed_ = false;  // killed by us; its exit is on the way
  std::deque<Op> queue_;
  std::optional<Op> inflight_;
  uint64_t inflight_id_ = 0, next_id_ = 1, starts_ = 0;
  EventLoop::TimerId deadline_ = 0;
};

// The script text for a spec: "builtin:default" or a file path.
bool read_policy_source(const std::string& spec, std::string& source, std::string& error);
extern const char* const kBuiltinDefaultPolicy;  // scripts/default.lua, embedded at build time

}  // namespace ccmux

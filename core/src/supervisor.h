// Owns the sessions: spawns claude in stream-json mode, turns each stdout line into
// an event, drives turns from the persisted prompt queue, routes can_use_tool into
// the approval chain, and notices exits, crashes and hangs.
#pragma once

#include "approval_chain.h"
#include "child_process.h"
#include "event_bus.h"
#include "event_loop.h"
#include "store.h"

#include <nlohmann/json.hpp>
#include <simdjson.h>

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace ccmux {

// A command that cannot be carried out; `code` goes into the protocol error.
struct CommandError : std::runtime_error {
  std::string code;
  CommandError(std::string c, const std::string& msg) : std::runtime_error(msg), code(std::move(c)) {}
};

struct SupervisorOptions {
  std::string claude_path;
  std::vector<std::string> extra_args;
  std::map<std::string, std::string> env;
  std::string default_model;
  double idle_timeout_s = 600;
  double stop_grace_s = 5;
  std::vector<std::string> project_roots;
};

class Supervisor {
 public:
  using ControlDone = std::function<void(bool ok, const nlohmann::json& response_or_error)>;

  Supervisor(EventLoop& loop, Store& store, EventBus& bus, ApprovalChain& approvals, SupervisorOptions opts);
  ~Supervisor();

  // Startup: loads sessions, closes what the previous daemon left open, resumes queued prompts.
  void recover();

  std::string create(const std::string& cwd, const nlohmann::json& prompt, const std::string& model,
                     const std::string& permission_mode);
  int64_t send(const std::string& id, const nlohmann::json& content);
  void stop(const std::string& id);
  void interrupt(const std::string& id, ControlDone done);
  void set_mode(const std::string& id, const std::string& mode, ControlDone done);

  // Hand-started claude sessions seen through `ccmux hook`: state "observed" while they run
  // in their terminal (no process of ours; prompts are refused), "exited" after SessionEnd
  // (a prompt then resumes them here, like any exited session).
  std::string observe(const std::string& claude_session_id, const std::string& cwd, const std::string& mode);
  void observed_event(const std::string& id, const nlohmann::json& hook_input);
  void observed_end(const std::string& id, const std::string& reason);
  nlohmann::json list() const;
  nlohmann::json info(const std::string& id) const;
  bool exists(const std::string& id) const { return sessions_.count(id) > 0; }
  size_t live_count() const;
  std::map<std::string, size_t> count_by_state() const;

  // Graceful stop of every child (stdin EOF, then signals); calls done when all are gone.
  void shutdown(std::function<void()> done);

 private:
  struct Session {
    SessionRow row;
    std::unique_ptr<ChildProcess> proc;
    bool initialized = false;
    bool turn_running = false;
    int64_t current_prompt = 0;
    double last_output = 0;
    double cost_base = 0;  // cost of earlier processes (claude's total is per process)
    bool stop_requested = false;
    std::string fail_reason;  // set before we kill it (hang)
    EventLoop::TimerId term_timer = 0, kill_timer = 0;
    std::map<std::string, ControlDone> controls;  // our control requests awaiting a reply
    std::deque<std::string> stderr_tail;
  };

  Session& get(const std::string& id);
  void spawn(Session& s);
  void on_line(const std::string& id, std::string_view line, size_t capacity);
  void on_control_request(Session& s, const nlohmann::json& msg);
  void on_control_response(Session& s, const nlohmann::json& msg);
  void on_exit(std::string id, int status);  // by value: the caller's copy dies with the process object
  void deliver_next_prompt(Session& s);
  void send_control(Session& s, const std::string& subtype, nlohmann::json fields, ControlDone done);
  void set_state(Session& s, const std::string& state, const std::string& reason = "");
  void save(Session& s);
  void check_hangs();
  void answer_claude(const ApprovalRow& row, const nlohmann::json& input);
  nlohmann::json session_json(const Session& s) const;
  void host_event(Session& s, const std::string& kind, const nlohmann::json& payload);

  EventLoop& loop_;
  Store& store_;
  EventBus& bus_;
  ApprovalChain& approvals_;
  SupervisorOptions opts_;
  std::map<std::string, std::unique_ptr<Session>> sessions_;
  simdjson::dom::parser parser_;
  EventLoop::TimerId hang_timer_ = 0;
  std::function<void()> shutdown_done_;
  uint64_t next_control_ = 1;
};

}  // namespace ccmux

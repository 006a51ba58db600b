// Owns the sessions: spawns claude in stream-json mode, turns each stdout line into
// an event, drives turns from the persisted prompt queue, routes can_use_tool into
// the approval chain, and notices exits, crashes and hangs.
#pragma once

#include "approval_chain.h"
#include "child_process.h"
#include "event_bus.h"
#include "event_loop.h"
#include "store.h"
#include "warm_pool.h"

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
  double start_timeout_s = 120;  // 0: never
  double stop_grace_s = 5;
  std::vector<std::string> project_roots;
  // Session economy (issue 5): see config.h for what each one means.
  double park_after_s = 600;  // 0: never park
  size_t max_live = 0;        // 0: from the machine's RAM
  size_t warm_pool = 0;
  double warm_pool_idle_s = 3600;
  int64_t memory_reserve = 1LL << 30;
  int64_t claude_rss_estimate = 350LL << 20;
  double restart_backoff_s = 0.5;
  double restart_backoff_max_s = 30;
  size_t crash_limit = 5;
  double crash_window_s = 300;
};

// claude.max_live when not configured: what RAM holds after the reserve, at least 1.
size_t default_max_live(int64_t mem_total, int64_t reserve, int64_t per_process);

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
  // Starts the claude process of a parked, exited or failed session without a prompt.
  void resume(const std::string& id);
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
  // Live limit, slot queue and warm pool, for status and metrics.
  nlohmann::json economy() const;

  // Graceful stop of every child (stdin EOF, then signals); calls done when all are gone.
  void shutdown(std::function<void()> done);

  // One stdout line as if session's claude had written it (fuzz/ and tests drive the
  // line handling without a process).
  void handle_line_for_test(const std::string& session, std::string_view line) { on_line(session, line, 0); }

 private:
  struct Session {
    SessionRow row;
    std::unique_ptr<ChildProcess> proc;
    bool initialized = false;
    bool turn_running = false;
    int64_t current_prompt = 0;
    double last_activity = 0;  // monotonic: output, prompts, answers; for hangs, parking and LRU
    double cost_base = 0;  // cost of earlier processes (claude's total is per process)
    bool stop_requested = false;
    bool park_requested = false;
    std::string park_reason;
    std::string fail_reason;  // set before we kill it (hang, start timeout)
    double started_at = 0;    // monotonic: when its process started (start timeout)
    bool start_after_exit = false;  // a prompt or resume came while a stop or park was under way
    std::deque<double> crashes;  // monotonic times of recent abnormal exits
    EventLoop::TimerId term_timer = 0, kill_timer = 0, restart_timer = 0;
    std::map<std::string, ControlDone> controls;  // our control requests awaiting a reply
    std::deque<std::string> stderr_tail;
  };

  Session& get(const std::string& id);
  // Gives `row` an id, stores it and announces it (`session_created` with `created` + the claude session id).
  Session& add_session(SessionRow row, nlohmann::json created);
  // A process for `s` now if a live slot is free, else a place in the visible slot queue.
  void start_process(Session& s);
  void spawn(Session& s);  // a cold claude (--resume once it has a transcript)
  void adopt(Session& s, WarmPool::Taken warm);
  std::vector<std::string> claude_args(const std::string& model, const std::string& mode, const std::string& session_flag,
                                       const std::string& claude_session_id) const;
  ChildProcess::Callbacks session_callbacks(const std::string& id);
  void after_start(Session& s, const nlohmann::json& started_payload);
  void close_gracefully(Session& s);  // stdin EOF, then SIGTERM, then SIGKILL
  void terminate(Session& s);         // SIGTERM now, SIGKILL 2 s later
  void park(Session& s, const std::string& reason);
  bool parkable(const Session& s) const;
  void park_idle();
  void make_room();
  void admit_waiters();
  size_t processes() const;  // sessions holding a process, exiting ones included
  void on_crash(Session& s, nlohmann::json info, const std::string& reason);
  bool has_queued_prompts(const std::string& id) const;
  void tick();
  void on_line(const std::string& id, std::string_view line, size_t capacity);  // never throws
  void process_line(const std::string& id, std::string_view line, size_t capacity);
  // Each returns what was wrong with claude's message ("" when nothing); a request we
  // cannot read is still answered, so claude never waits for it.
  std::string on_control_request(Session& s, const nlohmann::json& msg);
  std::string on_control_response(Session& s, const nlohmann::json& msg);
  // A control line too deep to use as nlohmann JSON: answered from simdjson's view of it.
  std::string unreadable_control(Session& s, std::string_view type, simdjson::dom::element doc, const std::string& why);
  std::string on_control_cancel(Session& s, const nlohmann::json& msg);
  void on_exit(std::string id, int status);  // by value: the caller's copy dies with the process object
  void deliver_next_prompt(Session& s);
  void send_control(Session& s, const std::string& subtype, nlohmann::json fields, ControlDone done);
  void set_state(Session& s, const std::string& state, const std::string& reason = "");
  void save(Session& s);
  void check_hangs();
  void maybe_finish_shutdown();
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
  EventLoop::TimerId tick_timer_ = 0;
  std::deque<std::string> slot_waiters_;  // sessions waiting for a live slot, first come first served
  std::unique_ptr<WarmPool> pool_;
  std::function<void()> shutdown_done_;
  uint64_t next_control_ = 1;
};

}  // namespace ccmux

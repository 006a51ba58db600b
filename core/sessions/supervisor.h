// Owns the sessions: spawns claude in stream-json mode, turns each stdout line into
// an event, drives turns from the persisted prompt queue, routes can_use_tool into
// the approval chain, and notices exits, crashes and hangs.
// Owns: each session's row, process, link and state (changed only through the table in
// session_state.h); the process lifecycle (graceful close, SIGTERM, SIGKILL, start timeout, hangs).
// May call: ClaudeLink (talking to claude), SessionEconomy (who may have a process, parking,
// backoff, warm pool), Store, EventBus, ApprovalChain, Clock, the process factory.
#pragma once

#include "approvals/approval_chain.h"
#include "errors.h"
#include "runtime/child_process.h"
#include "runtime/clock.h"
#include "runtime/event_loop.h"
#include "sessions/claude_link.h"
#include "sessions/held_process.h"
#include "sessions/session_economy.h"
#include "sessions/session_state.h"
#include "sessions/warm_pool.h"
#include "storage/event_bus.h"
#include "storage/store.h"

#include <nlohmann/json.hpp>

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace ccmux {

struct SupervisorOptions {
  std::string claude_path;
  std::vector<std::string> extra_args;
  std::map<std::string, std::string> env;
  std::string default_model;
  double idle_timeout_s = 600;
  double start_timeout_s = 120;  // 0: never (warm processes too: the pool gets it)
  double stop_grace_s = 5;
  std::vector<std::string> project_roots;
  // Session economy (issue 5): live limit, parking, crash backoff, warm pool (see config.h for
  // what each one means). max_live 0: from the machine's RAM; no warm pool unless asked.
  EconomyOptions economy{.max_live = 0, .pool = {}};
  // Issue 13: claude runs under a holder (ccmux-shim) and outlives ccmuxd; false: ccmuxd's child.
  bool hold = true;
  HolderOptions holder;
};

class Supervisor : private EconomyHost {
 public:
  using ControlDone = ClaudeLink::Done;

  // Real processes and the loop's time.
  Supervisor(EventLoop& loop, Store& store, EventBus& bus, ApprovalChain& approvals, SupervisorOptions opts);
  // Time and processes given (tests of the economy: a hand-driven clock, scripted processes).
  Supervisor(Clock& clock, ProcessFactory processes, Store& store, EventBus& bus, ApprovalChain& approvals,
             SupervisorOptions opts);
  ~Supervisor() override;

  // Startup: loads sessions, closes what the previous daemon left open, resumes queued prompts.
  void recover();

  // Where a session runs when it is in a git worktree ccmux made (issue 15).
  struct Worktree {
    std::string repo, path, name, branch;
  };
  // `worktree.path` non-empty: the session starts there; the caller checked that the repository's
  // folder it was asked for is under a project root (allowed_cwd), so the worktree is allowed too.
  std::string create(const std::string& cwd, const nlohmann::json& prompt, const std::string& model,
                     const std::string& permission_mode, const Worktree& worktree = {});
  // `cwd` (default ~) as an existing folder with symlinks and ".." resolved, under a project
  // root; throws bad_cwd or cwd_not_allowed.
  std::string allowed_cwd(const std::string& cwd) const;
  // What create() refuses before it changes anything (bad_mode, bad_prompt): checked first by
  // callers that do work of their own before create() (a worktree to make).
  static void check_new_session(const std::string& permission_mode, const nlohmann::json& prompt);
  static void check_prompt(const nlohmann::json& content);
  // A session that still uses the worktree at `path` (any state but exited and failed: a parked or
  // queued one resumes there), or "".
  std::string worktree_user(const std::string& path) const;
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

  // ccmuxd stops. `stop_sessions`: every claude is stopped gracefully (stdin EOF, then
  // signals). Otherwise held sessions go on (the next ccmuxd adopts them) and only claudes
  // that are ccmuxd's children are stopped. The warm pool is emptied either way. Calls done
  // when what is to end has ended.
  void shutdown(std::function<void()> done, bool stop_sessions = true);

  // One stdout line as if session's claude had written it (fuzz/ and tests drive the
  // line handling without a process).
  void handle_line_for_test(const std::string& session, std::string_view line) { on_line(session, line, 0); }
  // The periodic check (hangs, start timeouts, the economy's tick), for tests with their own clock.
  void tick_for_test() { tick(); }

 private:
  struct Session {
    explicit Session(ClaudeLink::Handlers h, uint64_t& next_control) : link(std::move(h), next_control) {}
    SessionRow row;                             // row.state is to_string(state)
    SessionState state = SessionState::exited;  // changed only by transition()
    std::unique_ptr<Process> proc;
    ClaudeLink link;  // writes to proc while it is there
    bool initialized = false;
    bool turn_running = false;
    int64_t current_prompt = 0;
    double last_activity = 0;  // clock time: output, prompts, answers; for hangs, parking and LRU
    double cost_base = 0;  // cost of earlier processes (claude's total is per process)
    bool stop_requested = false;
    bool park_requested = false;
    std::string park_reason;
    std::string fail_reason;  // set before we kill it (hang, start timeout)
    double started_at = 0;    // clock time: when its process started (start timeout)
    bool start_after_exit = false;  // a prompt or resume came while a stop or park was under way
    Clock::TimerId term_timer = 0, kill_timer = 0;
    std::deque<std::string> stderr_tail;
  };

  Session& get(const std::string& id);
  std::unique_ptr<Session> new_session(const std::string& id);
  void init();
  static ProcessFactory real_processes(EventLoop& loop, HolderHub* hub);
  // recover(): a held claude of a previous ccmuxd goes on in this one (false: it cannot).
  bool adopt_held(Session& s, const HolderRow& holder);
  // Gives `row` an id, stores it and announces it (`session_created` with `created` + the claude session id).
  Session& add_session(SessionRow row, nlohmann::json created);
  // A process for `s` now if a live slot is free, else a place in the visible slot queue.
  void start_process(Session& s);
  void spawn(Session& s);  // a cold claude (--resume once it has a transcript)
  void adopt(Session& s, WarmPool::Taken warm);
  std::vector<std::string> claude_args(const std::string& model, const std::string& mode, const std::string& session_flag,
                                       const std::string& claude_session_id) const;
  Process::Callbacks session_callbacks(const std::string& id);
  void after_start(Session& s, const nlohmann::json& started_payload);
  void on_initialized(const std::string& id, bool ok, const nlohmann::json& resp);
  void close_gracefully(Session& s);  // stdin EOF, then SIGTERM, then SIGKILL
  void terminate(Session& s);         // SIGTERM now, SIGKILL 2 s later
  bool parkable(const Session& s) const;
  void on_crash(Session& s, nlohmann::json info, const std::string& reason);
  bool has_queued_prompts(const std::string& id) const;
  void tick();
  void on_line(const std::string& id, std::string_view line, size_t capacity);  // never throws
  void process_line(const std::string& id, std::string_view line, size_t capacity);
  void on_exit(std::string id, int status);  // by value: the caller's copy dies with the process object
  void deliver_next_prompt(Session& s);
  // Moves `s` as the transition table says for `event` (state + reason stored, `session_state`
  // published). A change the table does not allow is refused: logged as an error, state kept;
  // returns false then.
  bool transition(Session& s, SessionEvent event, const std::string& reason = "");
  void save(Session& s);
  void check_hangs();
  void maybe_finish_shutdown();
  void answer_claude(const ApprovalRow& row, const nlohmann::json& input);
  // What claude is told for a decided approval (behavior allow + updatedInput, or deny + message).
  static nlohmann::json permission_response(const ApprovalRow& row, const nlohmann::json& input);
  // A running process that this shutdown waits for (all of them, or those not held when held ones go on).
  bool ends_with_daemon(const Session& s) const;
  nlohmann::json session_json(const Session& s) const;
  void host_event(Session& s, const std::string& kind, const nlohmann::json& payload);

  // EconomyHost: what the economy asks of the sessions.
  size_t processes() const override;
  size_t exiting() const override;
  std::vector<Candidate> parkable() const override;
  void park(const std::string& id, const std::string& reason) override;
  void queued(const std::string& id, size_t position, size_t live) override;
  void admit(const std::string& id) override;
  void restart_due(const std::string& id) override;

  std::unique_ptr<LoopClock> own_clock_;  // when the loop's time is used
  std::unique_ptr<HolderHub> hub_;        // held processes (opts.hold); before the processes it holds
  Clock& clock_;
  ProcessFactory processes_;
  Store& store_;
  EventBus& bus_;
  ApprovalChain& approvals_;
  SupervisorOptions opts_;
  std::map<std::string, std::unique_ptr<Session>> sessions_;
  ClaudeLineReader reader_;
  Clock::TimerId tick_timer_ = 0;
  std::function<void()> shutdown_done_;
  bool keep_held_ = false;  // a shutdown that leaves held sessions running
  uint64_t next_control_ = 1;
  std::unique_ptr<SessionEconomy> economy_;  // last: its pool's processes call back into the sessions
};

}  // namespace ccmux

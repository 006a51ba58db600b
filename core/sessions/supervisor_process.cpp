// The Supervisor's side of a claude process's life: its command line, starting it cold or
// taking a warm one, the initialize exchange, and its end (what an exit means: stopped,
// parked, exited, failed or crashed), with the graceful close (stdin EOF, SIGTERM, SIGKILL).
// May call: Process (through the factory), ClaudeLink, SessionEconomy (slots, crashes),
// the state table (through transition), ApprovalChain (cancel on exit), Store, spdlog.
#include "sessions/supervisor.h"

#include "json_fields.h"

#include <spdlog/spdlog.h>

#include <csignal>
#include <sys/wait.h>

namespace ccmux {

using nlohmann::json;

std::vector<std::string> Supervisor::claude_args(const std::string& model, const std::string& mode,
                                                const std::string& session_flag, const std::string& claude_session_id) const {
  std::vector<std::string> args = {"-p", "--input-format", "stream-json", "--output-format", "stream-json", "--verbose",
                                   "--include-partial-messages", "--permission-prompt-tool", "stdio",
                                   session_flag, claude_session_id};
  if (!model.empty()) args.insert(args.end(), {"--model", model});
  if (mode != "default") args.insert(args.end(), {"--permission-mode", mode});
  args.insert(args.end(), opts_.extra_args.begin(), opts_.extra_args.end());
  return args;
}

Process::Callbacks Supervisor::session_callbacks(const std::string& id) {
  Process::Callbacks cb;
  cb.on_stdout_line = [this, id](std::string_view line, size_t cap) { on_line(id, line, cap); };
  cb.on_stderr_line = [this, id](std::string_view line) {
    auto it = sessions_.find(id);
    if (it == sessions_.end()) return;
    spdlog::info("claude[{}] stderr: {}", id, line);
    auto& tail = it->second->stderr_tail;
    tail.emplace_back(line.substr(0, 2000));
    if (tail.size() > 20) tail.pop_front();
  };
  cb.on_exit = [this, id](int status) { on_exit(id, status); };
  return cb;
}

void Supervisor::spawn(Session& s) {
  if (s.proc) return;
  bool resume = s.row.claude_started;
  auto args = claude_args(s.row.model, s.row.permission_mode, resume ? "--resume" : "--session-id", s.row.claude_session_id);
  auto proc = processes_(session_callbacks(s.row.id));
  std::string err;
  if (!proc->spawn(opts_.claude_path, args, s.row.cwd, opts_.env, err)) {
    transition(s, SessionEvent::spawn_failed, err);
    host_event(s, "session_failed", {{"reason", err}});
    return;
  }
  s.proc = std::move(proc);
  s.link.attach(s.proc.get());
  s.stderr_tail.clear();
  if (s.proc->outlives_daemon()) store_.holder_set_session(s.proc->holder_instance(), s.row.id, s.row.cost_usd);
  after_start(s, {{"pid", s.proc->pid()}, {"resume", resume}, {"args", args}});
  spdlog::info("session {}: started claude pid {} in {}{}", s.row.id, s.proc->pid(), s.row.cwd, resume ? " (resume)" : "");
  std::string id = s.row.id;
  s.link.send_control("initialize", json::object(),
                      [this, id](bool ok, const json& resp) { on_initialized(id, ok, resp); });
}

void Supervisor::on_initialized(const std::string& id, bool ok, const json& resp) {
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return;
  Session& s = *it->second;
  if (!ok && !(s.proc && s.proc->running())) return;  // it ended first: on_exit reports that
  if (!ok) spdlog::warn("session {}: initialize failed: {}", id, resp.dump());
  s.initialized = true;
  if (!s.turn_running) transition(s, SessionEvent::initialized);
  deliver_next_prompt(s);
}

void Supervisor::adopt(Session& s, WarmPool::Taken warm) {
  s.proc = std::move(warm.proc);
  s.proc->set_callbacks(session_callbacks(s.row.id));
  if (s.proc->outlives_daemon()) store_.holder_set_session(s.proc->holder_instance(), s.row.id, s.row.cost_usd);
  s.link.attach(s.proc.get());
  s.stderr_tail = std::move(warm.stderr_tail);
  after_start(s, {{"pid", s.proc->pid()}, {"resume", false}, {"args", warm.args}, {"warm", true}, {"warm_age_s", warm.age_s}});
  s.started_at -= warm.age_s;  // the start timeout counts from its spawn
  spdlog::info("session {}: took warm claude pid {} in {} (ready for {:.1f} s)", s.row.id, s.proc->pid(), s.row.cwd, warm.age_s);
  for (auto& line : warm.early_stdout) on_line(s.row.id, line, 0);
  if (warm.init_request_id.empty()) {
    s.initialized = true;
    transition(s, SessionEvent::initialized);
    return;
  }
  std::string id = s.row.id;
  s.link.expect_response(warm.init_request_id, [this, id](bool ok, const json&) {  // the reply is on its way
    auto it = sessions_.find(id);
    if (it == sessions_.end()) return;
    if (!ok && !(it->second->proc && it->second->proc->running())) return;  // it ended first
    it->second->initialized = true;
    if (!it->second->turn_running) transition(*it->second, SessionEvent::initialized);
    deliver_next_prompt(*it->second);
  });
}

bool Supervisor::adopt_held(Session& s, const HolderRow& holder) {
  std::string why;
  bool unadoptable = false;
  std::unique_ptr<HeldProcess> proc = hub_->adopt(holder, session_callbacks(s.row.id), why, unadoptable);
  if (!proc) {
    if (unadoptable) {
      spdlog::error("session {}: cannot adopt: {}", s.row.id, why);
      transition(s, SessionEvent::holder_unadoptable, why);
      host_event(s, "session_unadoptable", {{"reason", why}, {"holder", holder.instance}});
    } else {
      spdlog::warn("session {}: its holder {} is gone ({})", s.row.id, holder.instance, why);
    }
    return false;
  }
  if (!is_live(s.state)) {  // stored as ended, yet its claude runs: the end was never committed
    spdlog::warn("session {}: stored {} but its claude (pid {}) still runs: adopted", s.row.id, s.row.state, proc->pid());
  }
  const pid_t claude_pid = proc->pid(), holder_pid = proc->holder_pid();
  s.proc = std::move(proc);
  s.link.attach(s.proc.get());
  s.cost_base = holder.cost_base;
  s.started_at = clock_.now();
  s.last_activity = clock_.now();
  if (!is_live(s.state)) transition(s, SessionEvent::spawned, "adopted after a ccmuxd restart");
  s.initialized = s.state != SessionState::starting;
  for (auto& p : store_.open_prompts(s.row.id))
    if (p.state == "sent") {
      s.current_prompt = p.id;
      s.turn_running = true;
      // Maybe never written before the crash: sent again under its tag, dropped if claude has it.
      s.link.send_prompt(json::parse(p.content, nullptr, false), "prompt-" + std::to_string(p.id));
    }
  // Answers decided before the crash may not have reached claude: written again, the holder
  // drops those claude already has (by request id).
  for (auto& a : store_.session_approvals(s.row.id, holder.started_ms)) {
    if (a.state != "resolved" || (a.decision != "allow" && a.decision != "deny")) continue;
    json input = json::parse(a.updated_input.empty() ? "null" : a.updated_input, nullptr, false);
    if (!input.is_object()) input = object_or(json::parse(a.request, nullptr, false), "input");
    s.link.answer_permission(a.claude_request_id, permission_response(a, input));
  }
  host_event(s, "session_adopted", {{"pid", claude_pid}, {"holder_pid", holder_pid}, {"holder", holder.instance}});
  spdlog::info("session {}: adopted claude pid {} (holder {} pid {}), spool at {}:{}", s.row.id, claude_pid,
               holder.instance, holder_pid, holder.segment, holder.offset);
  if (!s.initialized) {  // the previous ccmuxd's initialize may be answered already: asked again
    std::string id = s.row.id;
    s.link.send_control("initialize", json::object(),
                        [this, id](bool ok, const json& resp) { on_initialized(id, ok, resp); });
  }
  return true;
}

void Supervisor::after_start(Session& s, const json& started_payload) {
  s.initialized = false;
  s.turn_running = false;
  s.stop_requested = false;
  s.park_requested = false;
  s.start_after_exit = false;
  s.fail_reason.clear();
  s.started_at = clock_.now();
  s.cost_base = s.row.cost_usd;
  s.last_activity = clock_.now();
  transition(s, SessionEvent::spawned);
  host_event(s, "session_started", started_payload);
}

void Supervisor::on_exit(std::string id, int status) {
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return;
  Session& s = *it->second;
  if (s.term_timer) clock_.cancel_timer(s.term_timer);
  if (s.kill_timer) clock_.cancel_timer(s.kill_timer);
  s.term_timer = s.kill_timer = 0;
  bool was_ready = s.initialized, in_turn = s.turn_running;
  approvals_.cancel(id, "", "claude process ended");
  s.link.fail_pending("claude process ended");
  if (s.current_prompt) store_.set_prompt_state(s.current_prompt, "interrupted");
  s.current_prompt = 0;
  s.turn_running = false;
  s.initialized = false;

  // Only an exit we asked for (stop, park) is normal; so is exit 0 of an idle claude. Exit 0
  // before it was ready or in the middle of a turn is a crash: counted, backed off, given up.
  json info = {{"pid", s.proc ? s.proc->pid() : 0}};
  std::string reason;
  bool failed = false;
  if (WIFSIGNALED(status)) {
    info["signal"] = WTERMSIG(status);
    failed = !s.stop_requested;
    reason = "killed by signal " + std::to_string(WTERMSIG(status));
  } else {
    int code = WEXITSTATUS(status);
    info["exit_code"] = code;
    failed = !s.stop_requested && (code != 0 || !was_ready || in_turn);
    reason = "claude exited with code " + std::to_string(code);
    if (failed && code == 0) reason += was_ready ? " during a turn" : " before answering initialize";
  }
  if (s.park_requested) {
    reason = s.park_reason;
  } else if (s.stop_requested) {
    reason = "stopped";  // stop wins, even over a hang or start timeout kill under way
  } else {
    if (!s.fail_reason.empty()) {
      failed = true;
      reason = s.fail_reason;
    }
    // claude says why on stderr (e.g. the root/bypass refusal)
    if (failed && !s.stderr_tail.empty()) reason += ": " + s.stderr_tail.back();
  }
  json tail = json::array();
  for (auto& l : s.stderr_tail) tail.push_back(l);
  info["reason"] = reason;
  info["stderr_tail"] = tail;
  s.link.attach(nullptr);
  s.proc.reset();
  bool parked = s.park_requested && !failed && !shutdown_done_;
  if (failed && !shutdown_done_) {
    on_crash(s, info, reason);
  } else if (parked) {
    host_event(s, "session_parked", info);
    transition(s, SessionEvent::process_parked, reason);
    spdlog::info("session {}: parked ({})", id, reason);
  } else {
    host_event(s, failed ? "session_failed" : "session_exited", info);
    transition(s, failed ? SessionEvent::process_failed : SessionEvent::process_exited, reason);
    spdlog::info("session {}: {} ({})", id, failed ? "failed" : "exited", reason);
  }
  bool again = s.start_after_exit;
  s.start_after_exit = false;
  if (shutdown_done_) return maybe_finish_shutdown();
  economy_->admit_waiters();  // a slot is free
  // A prompt or resume that came while a stop or park was under way gets a new process; prompts
  // queued before a stop wait for the next send or resume (stop wins).
  if (!failed && again) start_process(s);
}

void Supervisor::close_gracefully(Session& s) {
  s.stop_requested = true;
  s.proc->close_stdin();  // graceful: claude finishes and exits
  std::string id = s.row.id;
  s.term_timer = clock_.add_timer(opts_.stop_grace_s, [this, id] {
    auto it = sessions_.find(id);
    if (it == sessions_.end() || !it->second->proc) return;
    it->second->term_timer = 0;
    terminate(*it->second);
  });
}

void Supervisor::terminate(Session& s) {
  // SIGTERM first: claude then ends its hooks and tools, which run in sessions of their own
  // (out of reach of a signal to its group); a SIGKILL would leave them running.
  s.proc->kill_group(SIGTERM);
  if (s.kill_timer) return;
  std::string id = s.row.id;
  s.kill_timer = clock_.add_timer(2.0, [this, id] {
    auto it = sessions_.find(id);
    if (it == sessions_.end() || !it->second->proc) return;
    it->second->kill_timer = 0;
    it->second->proc->kill_group(SIGKILL);
  });
}

}  // namespace ccmux

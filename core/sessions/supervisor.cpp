#include "sessions/supervisor.h"

#include "json_fields.h"
#include "util.h"

#include <spdlog/spdlog.h>

#include <csignal>
#include <filesystem>
#include <set>
#include <sys/wait.h>

namespace ccmux {

using nlohmann::json;

namespace {
const std::vector<std::string> kModes = {"default", "acceptEdits", "plan", "bypassPermissions", "dontAsk", "auto"};
std::string dump_lossy(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }
}  // namespace

Supervisor::Supervisor(EventLoop& loop, Store& store, EventBus& bus, ApprovalChain& approvals, SupervisorOptions opts)
    : own_clock_(std::make_unique<LoopClock>(loop)),
      hub_(opts.hold ? std::make_unique<HolderHub>(loop, store, opts.holder) : nullptr),
      clock_(*own_clock_),
      processes_(hub_ ? hub_->factory() : ChildProcess::factory(loop)),
      store_(store),
      bus_(bus),
      approvals_(approvals),
      opts_(std::move(opts)) {
  init();
}

Supervisor::Supervisor(Clock& clock, ProcessFactory processes, Store& store, EventBus& bus, ApprovalChain& approvals,
                       SupervisorOptions opts)
    : clock_(clock), processes_(std::move(processes)), store_(store), bus_(bus), approvals_(approvals),
      opts_(std::move(opts)) {
  init();
}

void Supervisor::init() {
  // Our control requests' ids must not repeat those of a previous ccmuxd: an adopted claude may
  // still answer one of those.
  next_control_ = static_cast<uint64_t>(now_ms()) * 1000;
  approvals_.set_responder([this](const ApprovalRow& row, const json& input) { answer_claude(row, input); });
  approvals_.set_on_asked([this](const ApprovalRow& row) {
    auto it = sessions_.find(row.session);
    // Sessions observed through hooks have no process of ours: their state stays "observed".
    if (it != sessions_.end() && it->second->proc && it->second->proc->running())
      transition(*it->second, SessionEvent::approval_asked);
  });
  EconomyOptions& eo = opts_.economy;
  if (eo.max_live == 0) eo.max_live = default_max_live(read_meminfo().total, eo.pool.memory_reserve, eo.pool.per_process);
  eo.pool.start_timeout_s = opts_.start_timeout_s;
  economy_ = std::make_unique<SessionEconomy>(
      clock_, eo, static_cast<EconomyHost&>(*this), processes_,
      [this](Process& proc, const WarmKey& key, const std::string& sid, std::vector<std::string>& args,
             std::string& err) {
        args = claude_args(key.model, key.permission_mode, "--session-id", sid);
        return proc.spawn(opts_.claude_path, args, key.cwd, opts_.env, err);
      },
      [this] { maybe_finish_shutdown(); });
  // The tick notices hangs and idle sessions; it must run several times within either limit.
  double shortest = opts_.idle_timeout_s;
  if (eo.park_after_s > 0) shortest = std::min(shortest, eo.park_after_s);
  if (opts_.start_timeout_s > 0) shortest = std::min(shortest, opts_.start_timeout_s);
  tick_timer_ = clock_.every(std::max(0.2, std::min(1.0, shortest / 4)), [this] { tick(); });
  spdlog::info("sessions: at most {} live claude processes, parked after {} s idle, warm pool {}", eo.max_live,
               eo.park_after_s, eo.pool.capacity);
}

Supervisor::~Supervisor() {
  if (tick_timer_) clock_.cancel_timer(tick_timer_);
  for (auto& [id, s] : sessions_)
    for (auto t : {s->term_timer, s->kill_timer})
      if (t) clock_.cancel_timer(t);
}

Supervisor::Session& Supervisor::get(const std::string& id) {
  auto it = sessions_.find(id);
  if (it == sessions_.end()) throw CommandError("not_found", "no session " + id);
  return *it->second;
}

void Supervisor::host_event(Session& s, const std::string& kind, const json& payload) {
  s.row.last_seq = bus_.publish(s.row.id, kind, dump_lossy(payload));
}

void Supervisor::save(Session& s) {
  s.row.updated_ms = now_ms();
  s.row.last_seq = bus_.head(s.row.id);
  store_.upsert_session(s.row);
}

std::unique_ptr<Supervisor::Session> Supervisor::new_session(const std::string& id) {
  ClaudeLink::Handlers h;
  h.can_use_tool = [this, id](const std::string& request_id, const json& request) {
    // Policies and providers usually decide; only a request left to a human moves the
    // session to waiting_approval (the on_asked listener set in init()).
    Session& s = *sessions_.at(id);
    approvals_.open({s.row.id, s.row.cwd, s.row.model}, request_id, request);
  };
  h.cancel = [this, id](const std::string& request_id) { approvals_.cancel(id, request_id, "claude withdrew the request"); };
  return std::make_unique<Session>(std::move(h), next_control_);
}

bool Supervisor::transition(Session& s, SessionEvent event, const std::string& reason) {
  auto to = next_state(s.state, event);
  if (!to) {
    spdlog::error("session {}: refused state change on {} from {} (not in the transition table); reason was: {}",
                  s.row.id, to_string(event), to_string(s.state), reason);
    return false;
  }
  if (*to == s.state && s.row.state_reason == reason) return true;
  s.state = *to;
  s.row.state = to_string(*to);
  s.row.state_reason = reason;
  save(s);
  json p = {{"state", s.row.state}};
  if (!reason.empty()) p["reason"] = reason;
  host_event(s, "session_state", p);
  return true;
}

void Supervisor::recover() {
  for (auto& row : store_.load_sessions()) {
    auto s = new_session(row.id);
    s->row = row;
    if (auto st = parse_session_state(row.state)) {
      s->state = *st;
    } else {  // not a name ccmuxd writes: treated as ended, which the next prompt resumes
      spdlog::warn("session {}: unknown stored state '{}', taken as exited", row.id, row.state);
      s->state = SessionState::exited;
    }
    s->cost_base = row.cost_usd;
    bus_.set_head(row.id, row.last_seq);
    sessions_[row.id] = std::move(s);
  }
  // Held claudes of the previous ccmuxd go on here: adopted before anything else looks at states.
  std::map<std::string, ApprovalContext> adopted;
  if (hub_) {
    std::set<std::string> known;
    for (auto& h : store_.load_holders()) {
      auto it = h.session.empty() ? sessions_.end() : sessions_.find(h.session);
      if (it != sessions_.end() && adopt_held(*it->second, h)) {
        adopted[h.session] = {h.session, it->second->row.cwd, it->second->row.model};
        known.insert(h.instance);
      } else if (it != sessions_.end() && it->second->state == SessionState::unadoptable) {
        known.insert(h.instance);  // left alone: another ccmuxd may still finish it
      } else {
        store_.holder_delete(h.instance);  // gone, or a warm process nobody took (stopped below)
      }
    }
    size_t stopped = hub_->stop_unknown(known);
    if (stopped) spdlog::info("stopped {} holder(s) of no session (warm processes, unrecorded starts)", stopped);
  }
  approvals_.restore_after_restart(adopted);
  for (auto& [id, s] : sessions_) {
    bool held = adopted.count(id) > 0;
    if (!held && (is_live(s->state) || (s->state == SessionState::unadoptable && !hub_))) {
      // Our children saw stdin EOF when the previous daemon died and have finished.
      transition(*s, SessionEvent::daemon_restarted, "ccmuxd restarted; the next prompt resumes the claude session");
      host_event(*s, "session_exited", {{"reason", "ccmuxd restarted"}});
    }
    bool has_queued = false;
    for (auto& p : store_.open_prompts(id)) {
      if (p.state == "sent" && !held) store_.set_prompt_state(p.id, "interrupted");  // its turn died with the old process
      else if (p.state == "queued") has_queued = true;
    }
    if (s->state == SessionState::queued || s->state == SessionState::restarting)
      transition(*s, SessionEvent::daemon_restarted, "ccmuxd restarted; the next prompt resumes the claude session");
    if (held) deliver_next_prompt(*s);
    else if (has_queued && s->state != SessionState::unadoptable) start_process(*s);
  }
  // The pool warms the projects used last (a restart should not make the next session cold).
  std::vector<const SessionRow*> recent;
  for (auto& [id, s] : sessions_)
    if (s->state != SessionState::observed) recent.push_back(&s->row);
  std::sort(recent.begin(), recent.end(), [](auto* a, auto* b) { return a->created_ms > b->created_ms; });
  for (size_t i = std::min(recent.size(), opts_.economy.pool.capacity); i-- > 0;)
    if (std::filesystem::is_directory(recent[i]->cwd))
      economy_->pool().note_used({recent[i]->cwd, recent[i]->model, recent[i]->permission_mode},
                       static_cast<double>(now_ms() - recent[i]->created_ms) / 1000);
  bus_.flush();
}

std::string Supervisor::allowed_cwd(const std::string& cwd_in) const {
  namespace fs = std::filesystem;
  std::string cwd = expand_home(cwd_in.empty() ? "~" : cwd_in);
  std::error_code ec;
  if (!fs::is_directory(cwd, ec)) throw CommandError("bad_cwd", "not a directory: " + cwd);
  cwd = fs::canonical(cwd, ec).string();
  bool allowed = false;
  for (auto& root : opts_.project_roots) allowed = allowed || path_inside(cwd, root);
  if (!allowed) {
    std::string roots;
    for (auto& r : opts_.project_roots) roots += (roots.empty() ? "" : ", ") + r;
    throw CommandError("cwd_not_allowed", cwd + " is outside the project roots (" + roots + ")");
  }
  return cwd;
}

void Supervisor::check_prompt(const json& content) {
  if (!(content.is_string() && !content.get_ref<const std::string&>().empty()) && !(content.is_array() && !content.empty()))
    throw CommandError("bad_prompt", "a prompt is a non-empty string or a non-empty array of content blocks");
}

void Supervisor::check_new_session(const std::string& mode, const json& prompt) {
  std::string pm = mode.empty() ? "default" : mode;
  if (std::find(kModes.begin(), kModes.end(), pm) == kModes.end())
    throw CommandError("bad_mode", "unknown permission mode " + pm);
  if (!prompt.is_null()) check_prompt(prompt);
}

std::string Supervisor::worktree_user(const std::string& path) const {
  for (auto& [id, s] : sessions_) {
    if (s->state == SessionState::exited || s->state == SessionState::failed) continue;
    // A hand-started claude (observed) in that folder counts too: it has no worktree field.
    if (s->row.worktree == path || path_inside(s->row.cwd, path)) return id;
  }
  return "";
}

std::string Supervisor::create(const std::string& cwd_in, const json& prompt, const std::string& model,
                               const std::string& mode, const Worktree& worktree) {
  namespace fs = std::filesystem;
  std::string cwd;
  if (worktree.path.empty()) {
    cwd = allowed_cwd(cwd_in);
  } else {
    std::error_code ec;
    if (!fs::is_directory(worktree.path, ec)) throw CommandError("bad_cwd", "not a directory: " + worktree.path);
    cwd = fs::canonical(worktree.path, ec).string();
  }
  check_new_session(mode, prompt);
  std::string pm = mode.empty() ? "default" : mode;

  SessionRow row;
  row.cwd = cwd;
  row.model = model.empty() ? opts_.default_model : model;
  row.permission_mode = pm;
  row.repo = worktree.repo;
  row.worktree = worktree.path.empty() ? "" : cwd;
  row.worktree_name = worktree.name;
  row.branch = worktree.branch;
  WarmKey key{cwd, row.model, pm};
  std::optional<WarmPool::Taken> warm;
  if (processes() < opts_.economy.max_live) warm = economy_->pool().take(key);  // a warm process is used only within the limit
  economy_->pool().note_used(key);
  row.claude_session_id = warm ? warm->claude_session_id : new_uuid_v4();
  row.state = to_string(SessionState::starting);
  json created = {{"cwd", cwd}, {"model", row.model}, {"permission_mode", pm}};
  if (!row.worktree.empty())
    created.update({{"repo", row.repo}, {"worktree", row.worktree}, {"worktree_name", row.worktree_name}, {"branch", row.branch}});
  Session& s = add_session(std::move(row), std::move(created));
  if (warm) adopt(s, std::move(*warm));
  if (!prompt.is_null()) send(s.row.id, prompt);
  else start_process(s);
  return s.row.id;
}

Supervisor::Session& Supervisor::add_session(SessionRow row, json created) {
  row.created_ms = now_ms();
  row.updated_ms = row.created_ms;
  // The insert is the check: it never replaces a row, and a taken id is drawn again.
  row.id = unique_id("s-", [&](const std::string& id) {
    if (sessions_.count(id)) return true;
    row.id = id;
    return !store_.insert_session(row);
  });
  auto owned = new_session(row.id);
  owned->state = *parse_session_state(row.state);  // created in starting or observed
  owned->row = std::move(row);
  Session& s = *owned;
  sessions_[s.row.id] = std::move(owned);
  save(s);
  created["claude_session_id"] = s.row.claude_session_id;
  host_event(s, "session_created", created);
  return s;
}

std::string Supervisor::observe(const std::string& claude_session_id, const std::string& cwd, const std::string& mode) {
  for (auto& [id, s] : sessions_)
    if (s->row.claude_session_id == claude_session_id) {
      if (s->state != SessionState::observed && !(s->proc && s->proc->running())) {
        transition(*s, SessionEvent::observed_start, "running in a terminal (hooks)");  // resumed by hand after it ended
        save(*s);
      }
      return id;
    }
  SessionRow row;
  row.cwd = cwd;
  row.permission_mode = mode.empty() ? "default" : mode;
  row.claude_session_id = claude_session_id;
  row.claude_started = true;  // its transcript exists: a later prompt here resumes it
  row.state = to_string(SessionState::observed);
  row.state_reason = "running in a terminal (hooks)";
  json created = {{"cwd", cwd}, {"permission_mode", row.permission_mode}, {"observed", true}};
  return add_session(std::move(row), std::move(created)).row.id;
}

void Supervisor::observed_event(const std::string& id, const json& hook_input) {
  Session& s = get(id);
  host_event(s, "hook", hook_input);
  save(s);
}

void Supervisor::observed_end(const std::string& id, const std::string& reason) {
  Session& s = get(id);
  if (s.state != SessionState::observed) return;
  transition(s, SessionEvent::observed_end, reason);
  save(s);
}

bool Supervisor::has_queued_prompts(const std::string& id) const {
  for (auto& p : store_.open_prompts(id))
    if (p.state == "queued") return true;
  return false;
}

void Supervisor::resume(const std::string& id) {
  Session& s = get(id);
  if (s.state == SessionState::observed) throw CommandError("observed", id + " runs in a terminal (started by hand)");
  if (s.state == SessionState::unadoptable) throw CommandError("unadoptable", s.row.state_reason);
  if (s.state == SessionState::failed) economy_->reset_crashes(id);  // a person asked: the crash budget starts over
  if (s.proc && s.stop_requested) s.start_after_exit = true;  // stopping: start again once it has exited
  else start_process(s);
}

int64_t Supervisor::send(const std::string& id, const json& content) {
  Session& s = get(id);
  if (s.state == SessionState::unadoptable) throw CommandError("unadoptable", s.row.state_reason);
  if (s.state == SessionState::observed)
    throw CommandError("observed", id + " runs in a terminal (started by hand); ccmux watches it and answers its "
                                        "approvals, and can take prompts once it ends");
  check_prompt(content);
  int64_t pid = store_.add_prompt(id, content.dump(), now_ms());
  host_event(s, "prompt_queued", {{"prompt_id", pid}, {"content", content}});
  s.last_activity = clock_.now();
  if (s.state == SessionState::failed) economy_->reset_crashes(id);  // a person asked: the crash budget starts over
  if (!s.proc) start_process(s);  // parked, exited, failed or restarted: continue the claude session
  else if (s.stop_requested) s.start_after_exit = true;  // stopping or parking: a new process delivers it
  else deliver_next_prompt(s);
  return pid;
}

void Supervisor::deliver_next_prompt(Session& s) {
  if (!s.proc || !s.proc->running() || !s.initialized || s.turn_running || s.stop_requested) return;
  for (auto& p : store_.open_prompts(s.row.id)) {
    if (p.state != "queued") continue;
    s.link.send_prompt(json::parse(p.content, nullptr, false), "prompt-" + std::to_string(p.id));
    store_.set_prompt_state(p.id, "sent");
    s.current_prompt = p.id;
    s.turn_running = true;
    s.last_activity = clock_.now();
    host_event(s, "prompt_sent", {{"prompt_id", p.id}});
    transition(s, SessionEvent::prompt_sent);
    return;
  }
}

void Supervisor::on_line(const std::string& id, std::string_view line, size_t capacity) {
  // Nothing commits while a line is handled: its event, its effects (an approval row, the
  // prompt it ends) and, for a held claude, the spool position after it commit together.
  EventBus::Defer defer(bus_);
  // A last resort: whatever a line does to the code below, the other sessions go on.
  try {
    process_line(id, line, capacity);
  } catch (const std::exception& e) {
    spdlog::error("session {}: a line from claude ({} bytes) could not be processed: {}", id, line.size(), e.what());
    try {
      auto it = sessions_.find(id);
      if (it != sessions_.end())
        host_event(*it->second, "parse_error",
                   {{"error", std::string("ccmuxd could not process this line: ") + e.what()}, {"bytes", line.size()}});
    } catch (const std::exception&) {
    }
  }
}

void Supervisor::process_line(const std::string& id, std::string_view line, size_t capacity) {
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return;
  Session& s = *it->second;
  s.last_activity = clock_.now();
  if (line.empty()) return;

  ClaudeLineReader::Release release{reader_, line.size()};
  ClaudeLine l = reader_.read(line, capacity);
  if (l.type.empty()) {  // not JSON, or no type: keep the bytes, go on
    json p = {{"error", l.why(line)}, {"raw", std::string(line)}};
    host_event(s, "parse_error", p);
    spdlog::warn("session {}: unparsable line from claude ({} bytes)", id, line.size());
    return;
  }
  std::string kind(l.type);
  // Stored and forwarded byte for byte; only what routing needs is read.
  s.row.last_seq = bus_.publish(id, kind, std::string(line));

  if (l.type == "system" && l.subtype == "init") {
    std::string_view sid;
    if (l.doc["session_id"].get(sid) == simdjson::SUCCESS && !sid.empty()) s.row.claude_session_id = std::string(sid);
    if (!s.row.claude_started) {
      s.row.claude_started = true;
      save(s);
    }
  } else if (l.type == "result") {
    bool is_error = false;
    if (l.doc["is_error"].get(is_error) != simdjson::SUCCESS) is_error = false;
    double cost = 0;
    if (l.doc["total_cost_usd"].get(cost) == simdjson::SUCCESS) s.row.cost_usd = s.cost_base + cost;
    int64_t in = 0, out = 0;
    if (l.doc["usage"]["input_tokens"].get(in) == simdjson::SUCCESS) s.row.input_tokens += in;
    if (l.doc["usage"]["output_tokens"].get(out) == simdjson::SUCCESS) s.row.output_tokens += out;
    s.row.turns += 1;
    if (s.current_prompt) store_.set_prompt_state(s.current_prompt, "done");
    s.current_prompt = 0;
    s.turn_running = false;
    transition(s, SessionEvent::turn_ended, is_error ? "last turn ended in error" : "");
    save(s);
    deliver_next_prompt(s);
    if (economy_->waiting()) economy_->make_room();  // an idle session may now give its slot to a waiting one
  } else if (ClaudeLink::is_control(l.type)) {
    uint64_t seq = s.row.last_seq;
    std::string problem = s.link.handle_control(line, l);
    if (!problem.empty()) {
      // The line itself is stored above as what it is; this says what ccmuxd could not use.
      spdlog::warn("session {}: claude's {} (seq {}): {}", id, kind, seq, problem);
      host_event(s, "parse_error", {{"error", kind + ": " + problem}, {"seq", seq}});
    }
  }
}

json Supervisor::permission_response(const ApprovalRow& row, const json& input) {
  if (row.decision == "allow") return {{"behavior", "allow"}, {"updatedInput", input.is_object() ? input : json::object()}};
  json response = {{"behavior", "deny"}, {"message", row.reason.empty() ? "Denied by " + row.decided_by : row.reason}};
  if (row.interrupt) response["interrupt"] = true;
  return response;
}

void Supervisor::answer_claude(const ApprovalRow& row, const json& input) {
  auto it = sessions_.find(row.session);
  if (it == sessions_.end()) return;
  Session& s = *it->second;
  s.link.answer_permission(row.claude_request_id, permission_response(row, input));
  s.last_activity = clock_.now();
  if (!approvals_.has_pending(s.row.id) && s.state == SessionState::waiting_approval)
    transition(s, s.turn_running ? SessionEvent::approval_settled_in_turn : SessionEvent::approval_settled);
}

void Supervisor::stop(const std::string& id) {
  Session& s = get(id);
  economy_->cancel_restart(id);
  economy_->leave_queue(id);
  s.start_after_exit = false;  // stop wins over a prompt or resume sent while it was exiting
  if (!s.proc || !s.proc->running()) {
    if (is_live(s.state) || s.state == SessionState::queued || s.state == SessionState::restarting)
      transition(s, SessionEvent::stopped, "stopped");
    return;
  }
  s.park_requested = false;  // an explicit stop wins over a park under way
  if (!s.stop_requested) close_gracefully(s);
}

void Supervisor::interrupt(const std::string& id, ControlDone done) {
  Session& s = get(id);
  s.link.send_control("interrupt", json::object(), std::move(done));
}

void Supervisor::set_mode(const std::string& id, const std::string& mode, ControlDone done) {
  Session& s = get(id);
  if (std::find(kModes.begin(), kModes.end(), mode) == kModes.end())
    throw CommandError("bad_mode", "unknown permission mode " + mode + " (default, acceptEdits, plan, bypassPermissions)");
  if (!s.proc || !s.proc->running()) {  // applied at the next start
    s.row.permission_mode = mode;
    save(s);
    host_event(s, "mode_changed", {{"mode", mode}, {"applied", "next start"}});
    done(true, {{"mode", mode}});
    return;
  }
  s.link.send_control("set_permission_mode", {{"mode", mode}}, [this, id, mode, done](bool ok, const json& resp) {
    auto it = sessions_.find(id);
    if (ok && it != sessions_.end()) {
      it->second->row.permission_mode = mode;
      save(*it->second);
      host_event(*it->second, "mode_changed", {{"mode", mode}});
    }
    done(ok, resp);
  });
}

size_t Supervisor::live_count() const {
  size_t n = 0;
  for (auto& [id, s] : sessions_)
    if (s->proc && s->proc->running()) ++n;
  return n;
}

std::map<std::string, size_t> Supervisor::count_by_state() const {
  std::map<std::string, size_t> m;
  for (auto& [id, s] : sessions_) m[s->row.state]++;
  return m;
}

json Supervisor::session_json(const Session& s) const {
  size_t queued = 0;
  for (auto& p : store_.open_prompts(s.row.id))
    if (p.state == "queued") ++queued;
  return {{"id", s.row.id},
          {"state", s.row.state},
          {"reason", s.row.state_reason},
          {"cwd", s.row.cwd},
          {"model", s.row.model},
          {"permission_mode", s.row.permission_mode},
          {"claude_session_id", s.row.claude_session_id},
          {"created_ms", s.row.created_ms},
          {"updated_ms", s.row.updated_ms},
          {"last_seq", bus_.head(s.row.id)},
          {"cost_usd", s.row.cost_usd},
          {"input_tokens", s.row.input_tokens},
          {"output_tokens", s.row.output_tokens},
          {"turns", s.row.turns},
          {"pid", s.proc && s.proc->running() ? s.proc->pid() : 0},
          // What its claude costs in memory right now (one process is ~300 MB): accounting.
          {"rss_bytes", s.proc && s.proc->running() ? process_rss_bytes(s.proc->pid()) : 0},
          {"queued_prompts", queued},
          {"slot_queue_position", economy_->queue_position(s.row.id)},
          {"pending_approvals", approvals_.has_pending(s.row.id)},
          {"repo", s.row.repo},
          {"worktree", s.row.worktree},
          {"worktree_name", s.row.worktree_name},
          {"branch", s.row.branch}};
}

json Supervisor::list() const {
  json arr = json::array();
  for (auto& [id, s] : sessions_) arr.push_back(session_json(*s));
  return arr;
}

json Supervisor::info(const std::string& id) const {
  auto it = sessions_.find(id);
  if (it == sessions_.end()) throw CommandError("not_found", "no session " + id);
  return session_json(*it->second);
}

void Supervisor::shutdown(std::function<void()> done, bool stop_sessions) {
  shutdown_done_ = std::move(done);
  keep_held_ = !stop_sessions;
  economy_->clear_queue();
  economy_->cancel_all_restarts();
  for (auto& [id, s] : sessions_)
    if (ends_with_daemon(*s)) stop(id);  // recorded as exited ("stopped"); the next prompt resumes it
  economy_->pool().close_all();  // may finish the shutdown at once
  maybe_finish_shutdown();
}

bool Supervisor::ends_with_daemon(const Session& s) const {
  return s.proc && s.proc->running() && !(keep_held_ && s.proc->outlives_daemon());
}

void Supervisor::maybe_finish_shutdown() {
  if (!shutdown_done_ || !economy_->pool().empty()) return;
  for (auto& [id, s] : sessions_)
    if (ends_with_daemon(*s)) return;
  auto done = std::move(shutdown_done_);
  shutdown_done_ = nullptr;
  done();
}

}  // namespace ccmux

#include "approvals/policy_engine.h"

#include "approvals/lua_json.h"
#include "approvals/policy_worker.h"
#include "json_bounds.h"
#include "util.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <csignal>
#include <fstream>
#include <sstream>
#include <sys/wait.h>
#include <unistd.h>

namespace ccmux {

using nlohmann::json;

namespace {

// A new worker needs a moment to start (exec, dynamic linking; more under sanitizers).
constexpr double kStartupTimeoutS = 10;

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

std::string ms(double s) { return std::to_string(static_cast<long long>(s * 1000 + 0.5)) + " ms"; }

std::string describe_exit(int status) {
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return "exit code " + std::to_string(WEXITSTATUS(status));
}

std::string text(const json& reply, const char* key) {
  auto it = reply.find(key);
  return it != reply.end() && it->is_string() ? it->get<std::string>() : std::string();
}

PolicyVerdict verdict_from(const json& reply, const std::string& spec) {
  PolicyVerdict v;
  v.decision = text(reply, "decision");
  v.reason = text(reply, "reason");
  v.error = text(reply, "error");
  if (auto u = reply.find("updated_input"); u != reply.end() && !u->is_null()) {
    if (u->is_object()) v.updated_input = *u;
    else if (v.error.empty()) v.error = spec + ": updated_input must be a table of the tool's fields";
  }
  if (v.decision != "" && v.decision != "allow" && v.decision != "deny" && v.decision != "ask" && v.error.empty())
    v.error = spec + ": the policy worker answered '" + v.decision + "'";
  if (!v.error.empty()) {
    v.decision = "ask";
    v.updated_input = nullptr;
  }
  return v;
}

}  // namespace

struct PolicyEngine::Evaluation {
  std::vector<std::string> specs;
  size_t next = 0;
  std::string request;  // JSON text, sent once per script
  std::string failure;  // the first script error: later allows are not trusted
  Decision d;
  Decided done;
};

PolicyEngine::PolicyEngine(EventLoop& loop, Options opts) : loop_(loop), opts_(std::move(opts)) {
  opts_.timeout_s = std::max(0.01, opts_.timeout_s);
}

PolicyEngine::~PolicyEngine() {
  if (deadline_) loop_.cancel_timer(deadline_);
  worker_.reset();  // SIGKILLs the worker's group; pending callbacks are dropped with the engine
}

bool read_policy_source(const std::string& spec, std::string& source, std::string& error) {
  if (spec == "builtin:default") {
    source = kBuiltinDefaultPolicy;
    return true;
  }
  std::ifstream in(expand_home(spec));
  if (!in) {
    error = spec + ":0: cannot read the policy file";
    return false;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  source = ss.str();
  return true;
}

// --- the worker and its queue: one request in flight, each with a wall clock

void PolicyEngine::enqueue(Op op, bool front) {
  if (front) queue_.push_front(std::move(op));
  else queue_.push_back(std::move(op));
  pump();
}

bool PolicyEngine::start_worker() {
  worker_ready_ = false;
  worker_killed_ = false;
  ChildProcess::Callbacks cb;
  cb.on_stdout_line = [this](std::string_view line, size_t) { on_worker_line(line); };
  cb.on_stderr_line = [](std::string_view line) { spdlog::info("policy worker: {}", line); };
  cb.on_exit = [this](int status) { on_worker_exit(status); };
  auto proc = std::make_unique<ChildProcess>(loop_, std::move(cb));
  std::vector<std::string> args = {kPolicyWorkerFlag, std::to_string(getpid()), std::to_string(opts_.limits.memory_bytes),
                                   std::to_string(opts_.limits.instructions)};
  std::string err;
  if (!proc->spawn(opts_.worker_exe, args, "/", {}, err)) {
    spdlog::error("policy worker: {}", err);
    fail_queued("cannot start the policy worker: " + err);
    return false;
  }
  worker_ = std::move(proc);
  ++starts_;
  // A new worker knows no script: load again what the last one had, before anything else.
  for (auto it = sources_.rbegin(); it != sources_.rend(); ++it) {
    std::string spec = it->first;
    Op op;
    op.head = {{"op", "load"}, {"name", spec}, {"source", it->second}};
    op.reload = true;
    op.done = [this, spec](const json* reply, const std::string& failure) {
      std::string why = reply ? text(*reply, "error") : failure;
      if (reply && why.empty()) return;
      // It loaded before; if it cannot load again it stays out (and every decision asks).
      spdlog::error("policy {}: could not be loaded again in a new policy worker: {}", spec, why);
      sources_.erase(spec);
      broken_[spec] = "could not be loaded again after the policy worker restarted: " + why;
    };
    queue_.push_front(std::move(op));
  }
  deadline_ = loop_.add_timer(std::max(kStartupTimeoutS, opts_.timeout_s), [this] {
    deadline_ = 0;
    on_deadline();
  });
  return true;
}

void PolicyEngine::pump() {
  if (inflight_ || queue_.empty()) return;
  if (!worker_ && !start_worker()) return;
  if (!worker_ready_) return;  // its "ready" line (or the startup deadline) comes later
  Op op = std::move(queue_.front());
  queue_.pop_front();
  inflight_id_ = next_id_++;
  op.head["id"] = inflight_id_;
  std::string line = dump(op.head);
  if (!op.raw_request.empty()) {
    line.pop_back();  // the closing brace: the request goes in as the text it already is
    line += ",\"request\":";
    line += op.raw_request;
    line += '}';
  }
  line += '\n';
  inflight_ = std::move(op);
  worker_->write(std::move(line));
  deadline_ = loop_.add_timer(opts_.timeout_s, [this] {
    deadline_ = 0;
    on_deadline();
  });
}

void PolicyEngine::on_worker_line(std::string_view line) {
  json msg = parse_json_bounded(line);
  if (!msg.is_object()) {
    spdlog::warn("policy worker: unexpected output ({} bytes)", line.size());
    return;
  }
  if (auto r = msg.find("ready"); r != msg.end() && r->is_boolean()) {
    if (!worker_ready_ && !worker_killed_) {
      worker_ready_ = true;
      if (deadline_) loop_.cancel_timer(deadline_);
      deadline_ = 0;
      pump();
    }
    return;
  }
  auto id = msg.find("id");
  if (!inflight_ || id == msg.end() || !id->is_number_unsigned() || id->get<uint64_t>() != inflight_id_) {
    spdlog::warn("policy worker: an answer to no question; ignored");
    return;
  }
  if (deadline_) loop_.cancel_timer(deadline_);
  deadline_ = 0;
  Op op = std::move(*inflight_);
  inflight_.reset();
  op.done(&msg, "");
  pump();
}

void PolicyEngine::fail_inflight(const std::string& why) {
  if (!inflight_) return;
  Op op = std::move(*inflight_);
  inflight_.reset();
  op.done(nullptr, why);
}

void PolicyEngine::fail_queued(const std::string& why) {
  std::deque<Op> ops;
  ops.swap(queue_);
  for (auto& op : ops)
    if (!op.reload) op.done(nullptr, why);  // a reload is queued again by the next start
}

void PolicyEngine::kill_worker(const std::string& why) {
  spdlog::warn("policy worker pid {}: {}; killing it (a new one starts for the next call)", worker_->pid(), why);
  worker_killed_ = true;
  worker_ready_ = false;
  worker_->kill_group(SIGKILL);  // its exit (pidfd) lets the next worker start
}

void PolicyEngine::on_deadline() {
  if (!worker_ || worker_killed_) return;
  if (!worker_ready_) {
    kill_worker("it did not start within " + ms(std::max(kStartupTimeoutS, opts_.timeout_s)));
    fail_queued("the policy worker did not start");
    return;
  }
  std::string script = inflight_ ? inflight_->head.value("name", std::string()) : std::string();
  kill_worker(script + " ran longer than " + ms(opts_.timeout_s) + " (approval.lua_timeout_ms)");
  fail_inflight("ran longer than " + ms(opts_.timeout_s) + " (approval.lua_timeout_ms); stopped");
}

void PolicyEngine::on_worker_exit(int status) {
  bool was_ready = worker_ready_, killed = worker_killed_;
  worker_ready_ = false;
  if (deadline_) loop_.cancel_timer(deadline_);
  deadline_ = 0;
  std::string how = describe_exit(status);
  if (!killed) spdlog::error("policy worker pid {} ended ({})", worker_->pid(), how);
  worker_.reset();  // allowed from its own exit callback (child_process.h)
  fail_inflight("the policy worker crashed (" + how + ")");
  if (!was_ready && !killed) fail_queued("the policy worker ended at start-up (" + how + ")");
  pump();  // the next request starts a new worker
}

// --- loading and evaluating

void PolicyEngine::load(const std::vector<std::string>& specs_in, Loaded done) {
  struct LoadState {
    std::vector<std::string> specs, errors;
    std::map<std::string, std::string> failed;
    size_t remaining = 1;  // one for the loop below
    Loaded done;
  };
  auto st = std::make_shared<LoadState>();
  for (auto& s : specs_in)
    if (std::find(st->specs.begin(), st->specs.end(), s) == st->specs.end()) st->specs.push_back(s);
  st->done = std::move(done);
  auto finish = [this, st] {
    if (--st->remaining > 0) return;
    // Every configured script is in the list: one that never loaded fails closed (every
    // decision asks, with its error) rather than silently dropping a rule.
    for (auto& [spec, src] : std::map<std::string, std::string>(sources_))
      if (std::find(st->specs.begin(), st->specs.end(), spec) == st->specs.end()) {
        sources_.erase(spec);
        Op op;
        op.head = {{"op", "drop"}, {"name", spec}};
        op.done = [](const json*, const std::string&) {};
        enqueue(std::move(op));
      }
    for (auto it = broken_.begin(); it != broken_.end();)
      it = std::find(st->specs.begin(), st->specs.end(), it->first) == st->specs.end() ? broken_.erase(it) : std::next(it);
    for (auto& spec : st->specs)
      if (!sources_.count(spec)) broken_[spec] = "not loaded: " + st->failed[spec];
    specs_ = st->specs;
    if (st->done) st->done(st->errors);
  };
  for (auto& spec : st->specs) {
    std::string source, err;
    if (!read_policy_source(spec, source, err)) {
      st->errors.push_back(err);
      st->failed[spec] = err;
      continue;
    }
    ++st->remaining;
    Op op;
    op.head = {{"op", "load"}, {"name", spec}, {"source", source}};
    op.done = [this, st, spec, source, finish](const json* reply, const std::string& failure) {
      std::string err = reply ? text(*reply, "error") : spec + ": " + failure;
      if (err.empty()) {
        sources_[spec] = source;
        broken_.erase(spec);
      } else {
        st->errors.push_back(err);
        st->failed[spec] = err;
      }
      finish();
    };
    enqueue(std::move(op));
  }
  finish();
}

void PolicyEngine::evaluate(const PolicyRequest& req, Decided done) {
  if (specs_.empty()) return done(Decision{});
  for (const json* part : {&req.input, &req.suggestions})
    if (json_depth(*part, kMaxPolicyDepth) > kMaxPolicyDepth) {
      Decision d;
      d.verdict.decision = "ask";
      d.verdict.reason = d.verdict.error = "tool input nested deeper than " + std::to_string(kMaxPolicyDepth) +
                                           " levels: the policies were not run on it";
      d.decided_by = "ccmux";
      d.fail_closed = true;
      return done(std::move(d));
    }
  auto ev = std::make_shared<Evaluation>();
  ev->specs = specs_;
  ev->done = std::move(done);
  ev->request = dump({{"tool", req.tool},
                      {"input", req.input},
                      {"suggestions", req.suggestions},
                      {"session", {{"id", req.session_id}, {"cwd", req.cwd}, {"model", req.model}}}});
  step(ev);
}

void PolicyEngine::step(const std::shared_ptr<Evaluation>& ev) {
  auto apply = [](const std::shared_ptr<Evaluation>& e, const std::string& spec, PolicyVerdict v) {
    if (!v.error.empty()) {
      spdlog::warn("policy {}: {} (treated as ask)", spec, v.error);
      v.decision = "ask";
      if (v.reason.empty()) v.reason = v.error;
      if (e->failure.empty()) e->failure = v.error;
      e->d.fail_closed = true;
    } else if (v.decision == "allow" && e->d.fail_closed) {
      // An earlier script failed, perhaps the one that would have denied: no allow after it.
      v.decision = "ask";
      v.reason = "would allow, but an earlier policy failed: " + e->failure;
    }
    if (v.decision == "allow" || v.decision == "deny") {
      bool fail_closed = e->d.fail_closed;
      e->d.verdict = std::move(v);
      e->d.decided_by = "policy:" + spec;
      e->d.fail_closed = fail_closed;
      return true;
    }
    if (v.decision == "ask" && e->d.verdict.decision.empty()) {
      e->d.verdict = std::move(v);  // remembered for the record; later scripts may still decide
      e->d.decided_by = "policy:" + spec;
    }
    return false;
  };
  while (ev->next < ev->specs.size()) {
    const std::string spec = ev->specs[ev->next++];
    if (auto b = broken_.find(spec); b != broken_.end()) {
      if (apply(ev, spec, PolicyVerdict{"ask", "", nullptr, spec + ": " + b->second})) break;
      continue;
    }
    Op op;
    op.head = {{"op", "decide"}, {"name", spec}};
    op.raw_request = ev->request;
    op.done = [this, ev, spec, apply](const json* reply, const std::string& failure) {
      PolicyVerdict v = reply ? verdict_from(*reply, spec) : PolicyVerdict{"ask", "", nullptr, spec + ": " + failure};
      if (apply(ev, spec, std::move(v))) ev->next = ev->specs.size();
      step(ev);
    };
    enqueue(std::move(op));
    return;
  }
  if (!ev->done) return;
  Decided done = std::move(ev->done);
  ev->done = nullptr;
  done(std::move(ev->d));
}

// --- blocking forms

std::vector<std::string> PolicyEngine::load_sync(const std::vector<std::string>& specs) {
  std::optional<std::vector<std::string>> out;
  bool waiting = false;
  load(specs, [&](std::vector<std::string> errors) {
    out = std::move(errors);
    if (waiting) loop_.stop();
  });
  if (!out) {
    waiting = true;
    loop_.run();
  }
  return *out;
}

PolicyEngine::Decision PolicyEngine::evaluate_sync(const PolicyRequest& req) {
  std::optional<Decision> out;
  bool waiting = false;
  evaluate(req, [&](Decision d) {
    out = std::move(d);
    if (waiting) loop_.stop();
  });
  if (!out) {
    waiting = true;
    loop_.run();
  }
  return *out;
}

}  // namespace ccmux

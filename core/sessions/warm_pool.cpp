#include "sessions/warm_pool.h"

#include "json_bounds.h"
#include "sessions/claude_link.h"
#include "util.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <csignal>

namespace ccmux {

using nlohmann::json;

size_t warm_pool_target(size_t capacity, size_t current, int64_t mem_available, int64_t reserve, int64_t per_process) {
  if (capacity == 0) return 0;
  if (mem_available <= 0) return capacity;  // no /proc/meminfo: trust the configuration
  if (mem_available < reserve) return 0;
  if (mem_available >= reserve + per_process) return capacity;
  return std::min(capacity, current);
}

WarmPool::WarmPool(Clock& clock, ProcessFactory processes, Options opts, Spawner spawner,
                   std::function<void()> on_emptied)
    : clock_(clock), processes_(std::move(processes)), opts_(std::move(opts)), spawner_(std::move(spawner)), on_emptied_(std::move(on_emptied)) {}

WarmPool::~WarmPool() = default;  // ChildProcess kills what is still running

void WarmPool::note_used(const WarmKey& key, double age_s) {
  if (opts_.capacity == 0) return;
  if (opts_.idle_ttl_s > 0 && age_s >= opts_.idle_ttl_s) return;  // too long ago to be worth a process
  last_used_ = std::max(last_used_, clock_.now() - age_s);
  recent_.erase(std::remove(recent_.begin(), recent_.end(), key), recent_.end());
  recent_.push_front(key);
  if (recent_.size() > opts_.capacity) recent_.pop_back();
}

std::optional<WarmPool::Taken> WarmPool::take(const WarmKey& key) {
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    Entry& e = **it;
    if (e.closing || e.start_timed_out || !(e.key == key) || !e.proc->running()) continue;
    Taken t;
    t.proc = std::move(e.proc);
    t.claude_session_id = e.claude_session_id;
    t.args = std::move(e.args);
    if (!e.initialized) t.init_request_id = e.init_request_id;
    t.early_stdout = std::move(e.early_stdout);
    t.stderr_tail = std::move(e.stderr_tail);
    t.age_s = clock_.now() - e.spawned_at;
    t.proc->set_callbacks({});  // the new owner sets its own before the loop runs again
    entries_.erase(it);
    refill_not_before_ = clock_.now() + opts_.refill_delay_s;
    return t;
  }
  return std::nullopt;
}

void WarmPool::spawn_for(const WarmKey& key) {
  auto e = std::make_unique<Entry>();
  Entry* raw = e.get();
  e->key = key;
  e->claude_session_id = new_uuid_v4();
  Process::Callbacks cb;
  cb.on_stdout_line = [raw](std::string_view line, size_t) {
    // Any line, whatever its shape (`[1,2,3]` too, or nested too deep to copy), is either
    // our initialize's answer or kept: the session's supervisor reports what it cannot read.
    json msg = parse_json_bounded(line);
    if (ClaudeLink::answers(msg, raw->init_request_id)) {
      raw->initialized = true;
      return;
    }
    if (raw->early_stdout.size() < 100) raw->early_stdout.emplace_back(line);
  };
  cb.on_stderr_line = [raw](std::string_view line) {
    raw->stderr_tail.emplace_back(line.substr(0, 2000));
    if (raw->stderr_tail.size() > 20) raw->stderr_tail.pop_front();
  };
  cb.on_exit = [this, raw](int status) { on_exit(raw, status); };
  e->proc = processes_(std::move(cb));
  std::string err;
  if (!spawner_(*e->proc, key, e->claude_session_id, e->args, err)) {
    spdlog::warn("warm pool: cannot start claude for {}: {}", key.cwd, err);
    pause_refills();
    return;
  }
  e->spawned_at = clock_.now();
  e->init_request_id = "ccmux-warm-" + std::to_string(next_request_++);
  e->proc->write(ClaudeLink::initialize_line(e->init_request_id));
  spdlog::info("warm pool: claude pid {} ready for {} ({}, {})", e->proc->pid(), key.cwd,
               key.model.empty() ? "default model" : key.model, key.permission_mode);
  entries_.push_back(std::move(e));
}

void WarmPool::on_exit(Entry* raw, int status) {
  auto it = std::find_if(entries_.begin(), entries_.end(), [raw](auto& e) { return e.get() == raw; });
  if (it == entries_.end()) return;
  if (!raw->closing && !raw->start_timed_out) {
    // It died with no input: something is wrong with this combination (or claude); a
    // respawn right away would loop, so refills wait.
    std::string last = raw->stderr_tail.empty() ? "" : ": " + raw->stderr_tail.back();
    spdlog::warn("warm pool: idle claude pid {} for {} ended by itself (status {}){}", raw->proc->pid(), raw->key.cwd,
                 status, last);
    pause_refills();
  }
  entries_.erase(it);  // destroys the ChildProcess: allowed from its exit callback
  if (entries_.empty() && on_emptied_) on_emptied_();
}

void WarmPool::pause_refills() {
  failures_ = std::min(failures_ + 1, 7);
  key_failed_until_ = clock_.now() + std::min(3600.0, 60.0 * (1 << (failures_ - 1)));
}

void WarmPool::close_entry(Entry& e, const char* why) {
  if (e.closing) return;
  spdlog::info("warm pool: closing claude pid {} for {} ({})", e.proc->pid(), e.key.cwd, why);
  e.closing = true;
  e.proc->close_stdin();  // no turn ever ran: it exits at once
}

void WarmPool::maintain(bool may_grow) {
  // Nobody has started a session for a long while: ~300 MB per warm claude is not worth it.
  if (opts_.idle_ttl_s > 0 && !recent_.empty() && clock_.now() - last_used_ > opts_.idle_ttl_s) recent_.clear();
  if (entries_.empty() && recent_.empty()) return;  // off or idle: no need to read /proc/meminfo each tick
  MemInfo mem = opts_.meminfo ? opts_.meminfo() : read_meminfo();
  size_t open = 0;
  for (auto& e : entries_) open += e->closing || e->start_timed_out ? 0 : 1;
  size_t target = warm_pool_target(opts_.capacity, open, mem.available, opts_.memory_reserve, opts_.per_process);
  double now = clock_.now();
  for (auto& e : entries_) {
    if (e->start_timed_out && now - e->timed_out_at >= 2) e->proc->kill_group(SIGKILL);  // SIGTERM was not enough
    if (e->closing || e->start_timed_out) continue;
    if (e->initialized) failures_ = 0;  // this combination works after all
    if (!e->initialized && opts_.start_timeout_s > 0 && now - e->spawned_at >= opts_.start_timeout_s) {
      spdlog::warn("warm pool: claude pid {} for {} did not answer initialize within {} s; ending it", e->proc->pid(),
                   e->key.cwd, opts_.start_timeout_s);
      e->start_timed_out = true;
      e->timed_out_at = now;
      e->proc->kill_group(SIGTERM);  // claude ends its hooks (own sessions); a SIGKILL would leave them
      pause_refills();  // now: a refill in this very round would replace it with another of its kind
      --open;
      continue;
    }
    bool still_wanted = std::find(recent_.begin(), recent_.end(), e->key) != recent_.end();
    if (!still_wanted) {
      close_entry(*e, "no longer among the recent projects");
      --open;
    } else if (open > target) {
      close_entry(*e, "memory is short");
      --open;
    }
  }
  if (!may_grow || open >= target || now < refill_not_before_ || now < key_failed_until_) return;
  for (auto& key : recent_) {
    bool have = std::any_of(entries_.begin(), entries_.end(),
                            [&](auto& e) { return !e->closing && !e->start_timed_out && e->key == key; });
    if (have) continue;
    spawn_for(key);
    return;  // one start per round: claude's start-up is CPU-heavy
  }
}

void WarmPool::close_all() {
  opts_.capacity = 0;
  recent_.clear();
  for (auto& e : entries_) close_entry(*e, "shutting down");
  if (entries_.empty() && on_emptied_) on_emptied_();
}

json WarmPool::status() const {
  json arr = json::array();
  double now = clock_.now();
  for (auto& e : entries_)
    arr.push_back({{"pid", e->proc ? e->proc->pid() : 0},
                   {"cwd", e->key.cwd},
                   {"model", e->key.model},
                   {"permission_mode", e->key.permission_mode},
                   {"ready", e->initialized},
                   {"closing", e->closing},
                   {"age_s", now - e->spawned_at},
                   {"rss_bytes", e->proc ? process_rss_bytes(e->proc->pid()) : 0}});
  return {{"capacity", opts_.capacity}, {"processes", arr}};
}

}  // namespace ccmux

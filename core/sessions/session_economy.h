// The session economy: how many claude processes may live at once and who gets a slot (the
// slot queue), parking idle sessions (after park_after, or the least recently used one to make
// room), restarting crashed ones with a doubling backoff until the crash limit, and the warm
// pool (warm_pool.h).
// Owns: the slot queue, each session's recent crashes and pending restart, the warm pool.
// May call: Clock (time, timers), the process factory (through the warm pool) and its host (the
// Supervisor) for what a session is and does; it never touches a session's state or process.
#pragma once

#include "runtime/clock.h"
#include "sessions/warm_pool.h"

#include <nlohmann/json.hpp>

#include <deque>
#include <map>
#include <string>
#include <vector>

namespace ccmux {

// claude.max_live when not configured: what RAM holds after the reserve, at least 1.
size_t default_max_live(int64_t mem_total, int64_t reserve, int64_t per_process);
// Seconds as the economy writes them in reasons ("0.5", "60").
std::string seconds_text(double s);

struct EconomyOptions {
  size_t max_live = 1;
  double park_after_s = 600;  // 0: never park
  double restart_backoff_s = 0.5;
  double restart_backoff_max_s = 30;
  size_t crash_limit = 5;  // at least 1
  double crash_window_s = 300;
  WarmPool::Options pool;
};

// What the economy needs of the sessions (the Supervisor).
class EconomyHost {
 public:
  struct Candidate {
    std::string id;
    double last_activity;  // clock time of its last output, prompt or answer
  };
  virtual ~EconomyHost() = default;
  virtual size_t processes() const = 0;  // sessions holding a process, exiting ones included
  virtual size_t exiting() const = 0;    // of those, the ones already on their way out
  // Sessions that could be parked now (idle, nothing pending), in a stable order.
  virtual std::vector<Candidate> parkable() const = 0;
  virtual void park(const std::string& id, const std::string& reason) = 0;
  // `id` waits for a slot at `position` (1-based) with `live` processes held.
  virtual void queued(const std::string& id, size_t position, size_t live) = 0;
  // `id` has a slot: start its process now (if it still has none).
  virtual void admit(const std::string& id) = 0;
  // The backoff after a crash of `id` is over.
  virtual void restart_due(const std::string& id) = 0;
};

class SessionEconomy {
 public:
  SessionEconomy(Clock& clock, EconomyOptions opts, EconomyHost& host, ProcessFactory processes,
                 WarmPool::Spawner warm_spawner, std::function<void()> pool_emptied);
  ~SessionEconomy();

  const EconomyOptions& options() const { return opts_; }

  // A session without a process wants one: admitted now if a slot is free and nobody waits,
  // else queued (and room made). Nothing when it already waits or a restart is due.
  void request_start(const std::string& id);
  size_t queue_position(const std::string& id) const;  // 1-based; 0: not waiting
  size_t waiting() const { return waiters_.size(); }
  void leave_queue(const std::string& id);
  void clear_queue() { waiters_.clear(); }
  // Admits waiters while slots are free (after a process ended).
  void admit_waiters();
  // Parks the least recently used parkable sessions until the waiters will have slots.
  void make_room();
  // Parks every parkable session idle for park_after or longer.
  void park_idle();
  // Periodic: park idle ones, make room, admit, keep the warm pool (it grows only when nobody waits).
  void tick();

  struct CrashVerdict {
    size_t crashes = 0;   // within the window, this one included
    bool give_up = false;
    double restart_in_s = 0;  // when not giving up: restart_due comes after this long
  };
  // `id`'s process ended abnormally: counts it, and either gives up or schedules the restart.
  CrashVerdict crashed(const std::string& id);
  bool restart_pending(const std::string& id) const { return restarts_.count(id) > 0; }
  void cancel_restart(const std::string& id);
  void cancel_all_restarts();
  // A person asked for it (send or resume of a failed session): the crash budget starts over.
  void reset_crashes(const std::string& id) { crashes_.erase(id); }

  WarmPool& pool() { return *pool_; }
  const WarmPool& pool() const { return *pool_; }
  nlohmann::json status() const;

 private:
  Clock& clock_;
  EconomyOptions opts_;
  EconomyHost& host_;
  std::deque<std::string> waiters_;  // sessions waiting for a live slot, first come first served
  std::map<std::string, std::deque<double>> crashes_;  // clock times of recent abnormal exits
  std::map<std::string, Clock::TimerId> restarts_;      // restarts due after a backoff
  std::unique_ptr<WarmPool> pool_;
};

}  // namespace ccmux

// Pre-spawned claude processes for the most recently used (cwd, model, permission mode)
// combinations, so a new session there skips claude's cold start (~0.3 s of node start-up
// before its first output). A warm process has been sent `initialize` and nothing else; it
// belongs to no session until a session takes it. The pool never holds more than its
// capacity, drops combinations that fell out of recent use, and shrinks (and stops refilling)
// when the machine's available memory falls under the reserve.
// Part of the session economy (session_economy.h), which owns it.
// May call: Clock, the process factory, ClaudeLink (the initialize line), util (meminfo).
#pragma once

#include "runtime/child_process.h"
#include "runtime/clock.h"
#include "util.h"

#include <nlohmann/json.hpp>

#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace ccmux {

struct WarmKey {
  std::string cwd, model, permission_mode;
  bool operator==(const WarmKey& o) const {
    return cwd == o.cwd && model == o.model && permission_mode == o.permission_mode;
  }
};

// How many warm processes the pool may hold, given the machine's memory right now: full
// capacity above reserve + one more claude, none under the reserve, and in between keep what
// there is (hysteresis, so one process starting or ending does not make the pool flap).
size_t warm_pool_target(size_t capacity, size_t current, int64_t mem_available, int64_t reserve, int64_t per_process);

class WarmPool {
 public:
  struct Options {
    size_t capacity = 0;             // 0: off
    int64_t memory_reserve = 1LL << 30;
    int64_t per_process = 350LL << 20;  // what one claude is expected to cost
    double refill_delay_s = 2;       // after a take: let the new session's first turn have the CPU
    double idle_ttl_s = 3600;        // no new session for this long: the pool empties (0 = never)
    double start_timeout_s = 0;      // not ready (no initialize reply) this long: killed (0 = never)
    std::function<MemInfo()> meminfo = read_meminfo;  // the machine's memory (tests give their own)
  };
  // Starts a claude for `key` with a fresh session id (--session-id); false + error when it cannot.
  using Spawner = std::function<bool(Process& proc, const WarmKey& key, const std::string& claude_session_id,
                                     std::vector<std::string>& args, std::string& error)>;

  // A process handed over to a session. `init_request_id` is set when its initialize reply
  // has not come yet: it will arrive on the new owner's callbacks under that request id.
  struct Taken {
    std::unique_ptr<Process> proc;
    std::string claude_session_id;
    std::vector<std::string> args;
    std::string init_request_id;
    std::vector<std::string> early_stdout;  // lines it wrote before being taken (normally none)
    std::deque<std::string> stderr_tail;
    double age_s = 0;
  };

  WarmPool(Clock& clock, ProcessFactory processes, Options opts, Spawner spawner, std::function<void()> on_emptied);
  ~WarmPool();

  // A session was started for `key` `age_s` seconds ago: it becomes the most recent combination.
  void note_used(const WarmKey& key, double age_s = 0);
  std::optional<Taken> take(const WarmKey& key);
  // Brings the pool toward its target: spawns for recent keys without a process (only when
  // `may_grow`), closes processes for keys no longer wanted or when memory is short. Periodic.
  void maintain(bool may_grow);
  // Closes every warm process (stdin EOF); on_emptied runs when the last one has exited.
  void close_all();
  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  nlohmann::json status() const;

 private:
  struct Entry {
    WarmKey key;
    std::unique_ptr<Process> proc;
    std::string claude_session_id;
    std::vector<std::string> args;
    std::string init_request_id;
    bool initialized = false;
    bool closing = false;
    bool start_timed_out = false;  // being ended for not answering initialize (SIGTERM, then SIGKILL)
    double timed_out_at = 0;
    double spawned_at = 0;
    std::vector<std::string> early_stdout;
    std::deque<std::string> stderr_tail;
  };

  void spawn_for(const WarmKey& key);
  void on_exit(Entry* e, int status);
  void close_entry(Entry& e, const char* why);
  void pause_refills();

  Clock& clock_;
  ProcessFactory processes_;
  Options opts_;
  Spawner spawner_;
  std::function<void()> on_emptied_;
  std::deque<WarmKey> recent_;  // most recent first, distinct
  std::vector<std::unique_ptr<Entry>> entries_;
  double refill_not_before_ = 0;
  double last_used_ = 0;  // monotonic time of the newest note_used
  double key_failed_until_ = 0;  // a warm spawn that dies on its own pauses refills for a while
  int failures_ = 0;              // such deaths in a row: the pause doubles with each (60 s .. 1 h)
  uint64_t next_request_ = 1;
};

}  // namespace ccmux

// The daemon's parts as ccmuxd wires them (Core: store, bus, policies, approvals,
// supervisor, hooks, tokens; optionally the plugin host), in a private temp dir, driven
// from a fuzz target on the fuzzer's thread. Real SQLite, real Lua, real child processes
// (a silent stand-in for claude); nothing is mocked.
#pragma once

#include "daemon/core.h"

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace ccmux {
class PluginHost;
}

namespace ccmux::fuzz {

struct DaemonSetup {
  std::string extra_yaml;  // appended to the generated config (e.g. a plugins: section)
  bool start_plugins = false;
  // A fresh Core after this many inputs: state a long run piles up (sessions, pending
  // approvals, rows) stays bounded. CCMUX_FUZZ_ROTATE overrides it.
  size_t rotate_every = 2000;
};

class FuzzDaemon {
 public:
  explicit FuzzDaemon(DaemonSetup setup);
  ~FuzzDaemon();

  // Call at the start of each input: opens a Core the first time and after rotate_every inputs.
  Core& begin_input();
  Core& core() { return *core_; }
  // Runs the loop until what is ready now (posted tasks, fds, due timers) has run, then
  // `extra_s` more seconds when given.
  void pump(double extra_s = 0);
  // Ends an input: pumps until the policy worker has answered every evaluation (bounded),
  // and aborts when the worker died or was killed meanwhile (the built-in policy must
  // neither crash nor overrun its wall clock on any input).
  void end_input();
  // A session whose claude is the silent stand-in (reads stdin, never answers): it stays
  // "starting", so prompts queue and control requests wait, as with a slow claude.
  const std::string& session() const { return session_; }
  const std::string& token() const { return token_; }
  const std::string& dir() const { return dir_; }
  // `text` with @SESSION@ and @TOKEN@ replaced by the live ones (the fuzzer cannot guess them).
  std::string substitute(std::string_view text) const;

 private:
  void open();
  void close();

  DaemonSetup setup_;
  std::string root_;  // one temp dir for the fuzz process
  std::string dir_;   // the current Core's dir (a new one per rotation: the store lock stays held)
  std::unique_ptr<Core> core_;
  std::unique_ptr<PluginHost> plugins_;
  std::string session_, token_;
  size_t inputs_ = 0, generation_ = 0;
  uint64_t worker_starts_ = 0;
};

// Splits on '\n' (a final line without one counts).
std::vector<std::string_view> lines_of(std::string_view data);
// Quiet logs: a fuzz run prints only libFuzzer's lines and findings.
void quiet_logs();
// The silent stand-in claude (fuzz/silent_claude.sh in the source tree).
std::string silent_claude_path();

}  // namespace ccmux::fuzz

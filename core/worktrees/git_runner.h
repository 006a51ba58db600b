// Runs the git CLI: argv only (no shell), stdin /dev/null, stdout and stderr captured up to a
// bound, a wall-clock timeout after which git's process group is killed. Blocking: call it off
// the event loop (git_worker.h). Thread-safe (no shared state).
#pragma once

#include <atomic>

#include <string>
#include <vector>

namespace ccmux::worktrees {

struct GitOptions {
  double timeout_s = 120;            // a checkout of a big repository takes seconds; a hung one is killed
  size_t max_stdout = 4 << 20;       // the rest is read and dropped (stdout_cut set)
  size_t max_stderr = 64 << 10;
};

// Git started from this thread is killed (its whole process group) once *flag turns true:
// GitWorker sets it for its thread, so a stopping daemon never waits out a hung git's timeout.
void set_thread_cancel_flag(const std::atomic<bool>* flag);

struct GitResult {
  std::string command;  // as a person would type it: git -C /repo worktree add ...
  int exit_code = -1;   // -1: killed by a signal, timed out, or never started
  bool timed_out = false;
  bool cancelled = false;  // killed because the thread's cancel flag was set (daemon stopping)
  std::string spawn_error;  // set when git could not be started (not installed)
  std::string out, err;
  bool stdout_cut = false;
  bool ok() const { return exit_code == 0; }
  // git's own reason: its last "fatal:"/"error:" line, else its last stderr line.
  std::string reason() const;
};

// `git -C dir args...`. Never throws for git's failures (they are in the result).
GitResult run_git(const std::string& dir, const std::vector<std::string>& args, const GitOptions& opts = {});

// The command line for messages (arguments with spaces or quotes are single-quoted).
std::string git_command_text(const std::string& dir, const std::vector<std::string>& args);

// "`git -C /r worktree add ...` failed (exit 128): fatal: invalid reference: nope"
std::string git_failure(const GitResult& r);

// run_git that throws CommandError{code, git_failure(r)} unless git exits 0.
GitResult git_checked(const std::string& dir, const std::vector<std::string>& args, const char* code = "git_error",
                      const GitOptions& opts = {});

}  // namespace ccmux::worktrees

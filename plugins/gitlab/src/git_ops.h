// The git CLI run on the plugin's worker thread (never on the loop): fetch in a project's
// clone; look at, commit and push what a session changed in its worktree. Every command is
// an argv (no shell), with a timeout, and its error names the command.
#pragma once

#include <atomic>
#include <string>
#include <vector>

namespace ccmux::gitlab {

struct CommandResult {
  int exit_code = -1;   // -1: could not run, or killed by the timeout
  std::string output;   // stdout and stderr together (cut at 64 KiB)
  bool ok() const { return exit_code == 0; }
};

// Runs argv in `cwd`; kills it after `timeout_s`, or as soon as `*abort` turns true (the
// plugin is stopping). Never throws.
CommandResult run_command(const std::vector<std::string>& argv, const std::string& cwd, int timeout_s = 120,
                          const std::atomic<bool>* abort = nullptr);

// What a turn left in a worktree, and what became of it.
struct Publication {
  bool changed = false;                // the worktree had changes: they were committed
  std::vector<std::string> commits;    // "abc1234 subject", the commits pushed (or made, without push)
  bool pushed = false;
  std::string error;                   // the git step that failed, with git's message
};

class Git {
 public:
  explicit Git(std::string commit_author = "", const std::atomic<bool>* abort = nullptr)
      : author_(std::move(commit_author)), abort_(abort) {}
  // `git fetch --prune origin` in the clone. Empty on success, else the error.
  std::string fetch(const std::string& clone) const;
  // True when the clone has origin/<branch> (after a fetch).
  bool remote_branch_exists(const std::string& clone, const std::string& branch) const;
  // Commits every change of the worktree (git add -A; git commit -m message) when there is
  // one, and with `push` pushes HEAD to origin's `branch`, listing the commits origin did not
  // have yet (those made by the session itself included).
  Publication publish(const std::string& worktree, const std::string& message, const std::string& branch, bool push) const;

 private:
  std::vector<std::string> git(const std::string& dir, std::vector<std::string> args) const;
  CommandResult run(const std::string& dir, std::vector<std::string> args, int timeout_s) const;
  std::string author_;  // "Name <email>": used when the clone has no identity of its own
  const std::atomic<bool>* abort_;
};

}  // namespace ccmux::gitlab

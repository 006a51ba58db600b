// Where git runs for the daemon: one thread of its own, so a `git worktree add` that checks out
// a big repository (seconds) never holds up the event loop, which goes on serving clients and
// sessions meanwhile.
//
// Why a thread and not the policy worker's way (a process driven by the loop): git is already
// a process of its own, and the work is a sequence of git calls (rev-parse, worktree list,
// status per worktree ...) where each next call depends on the last; as one blocking function
// per request (worktree_manager.h, which tests call directly) it reads top to bottom. The
// thread shares nothing with the loop: a job gets copies of its inputs and hands back a
// continuation that runs on the loop (through `post`), where the store and the sessions live.
// One thread, so git operations run one at a time, in order: two requests never race on one
// repository's worktrees.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace ccmux::worktrees {

class GitWorker {
 public:
  using Task = std::function<void()>;
  // `post` runs a task on the loop thread (EventLoop::post).
  explicit GitWorker(std::function<void(Task)> post) : post_(std::move(post)) {}
  ~GitWorker();  // kills the git under way and waits for its job to end; jobs not started are dropped
  GitWorker(const GitWorker&) = delete;
  GitWorker& operator=(const GitWorker&) = delete;

  // `job` runs on the worker thread and must not throw; the task it returns (if any) runs on the loop.
  void submit(std::function<Task()> job);

 private:
  void run();

  std::function<void(Task)> post_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<Task()>> jobs_;
  bool stopping_ = false;
  std::atomic<bool> cancel_{false};  // the running job's git is killed (git_runner's thread cancel flag)
  std::thread thread_;  // started by the first job
};

}  // namespace ccmux::worktrees

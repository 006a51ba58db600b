#include "worktrees/git_worker.h"

#include "worktrees/git_runner.h"

namespace ccmux::worktrees {

GitWorker::~GitWorker() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    jobs_.clear();
  }
  cancel_ = true;
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void GitWorker::submit(std::function<Task()> job) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_) return;
  jobs_.push_back(std::move(job));
  if (!thread_.joinable()) thread_ = std::thread(&GitWorker::run, this);
  cv_.notify_one();
}

void GitWorker::run() {
  set_thread_cancel_flag(&cancel_);
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
    if (stopping_) return;
    auto job = std::move(jobs_.front());
    jobs_.pop_front();
    lock.unlock();
    Task then = job();
    if (then) post_(std::move(then));
    lock.lock();
  }
}

}  // namespace ccmux::worktrees

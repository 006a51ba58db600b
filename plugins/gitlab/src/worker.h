// One thread that runs the plugin's blocking jobs (GitLab API calls, git) in order, so the
// daemon's loop thread never waits on the network or a git process. A job reports back by
// Host::post. Stopping drops the jobs not started and waits for the one running (the API
// client and git are told to abort first, so it ends at once).
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace ccmux::gitlab {

class Worker {
 public:
  using Job = std::function<void()>;
  using OnError = std::function<void(const char* what)>;  // a job threw: log it
  explicit Worker(OnError on_error);
  ~Worker();  // stop()
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;
  void enqueue(Job job);
  void stop();

 private:
  void loop();
  OnError on_error_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> jobs_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace ccmux::gitlab

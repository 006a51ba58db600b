// The core's single event loop: epoll for fds, a timer heap, a thread-safe post queue,
// and "before sleep" hooks (where the event bus commits its batch: group commit).
#pragma once

#include "unique_fd.h"

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

namespace ccmux {

class EventLoop {
 public:
  using FdHandler = std::function<void(uint32_t events)>;
  using Task = std::function<void()>;
  using TimerId = uint64_t;

  EventLoop();
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  void add_fd(int fd, uint32_t events, FdHandler handler);
  void modify_fd(int fd, uint32_t events);
  void remove_fd(int fd);

  TimerId add_timer(double delay_s, Task task);
  // Runs `task` every `period_s` until cancel_timer(returned id).
  TimerId every(double period_s, Task task);
  void cancel_timer(TimerId id);

  // Thread-safe: runs `task` on the loop thread.
  void post(Task task);
  // Runs after each batch of ready fds, before the loop sleeps again.
  void add_before_sleep(Task task);

  void run();
  void stop();  // thread-safe
  bool in_loop_thread() const { return std::this_thread::get_id() == loop_thread_; }

 private:
  void drain_posted();
  int next_timeout_ms() const;
  void run_due_timers();
  void arm_periodic(TimerId handle, double period_s, std::shared_ptr<Task> task);

  UniqueFd epfd_;
  UniqueFd wakefd_;
  bool running_ = false;
  std::thread::id loop_thread_;
  // Events carry the registration's token, not the fd: an fd number closed and reused within
  // one epoll batch must not receive its previous owner's stale events (e.g. a hang-up).
  std::unordered_map<int, uint64_t> fd_tokens_;                     // fd -> its current registration
  std::unordered_map<uint64_t, std::shared_ptr<FdHandler>> handlers_;  // registration -> handler
  uint64_t next_token_ = 1;
  std::map<std::pair<double, TimerId>, Task> timers_;
  std::unordered_map<TimerId, double> timer_deadlines_;
  std::unordered_map<TimerId, TimerId> periodic_;  // every() handle -> its next one-shot timer
  TimerId next_timer_ = 1;
  std::mutex post_mu_;
  std::vector<Task> posted_;
  std::vector<Task> before_sleep_;
};

}  // namespace ccmux

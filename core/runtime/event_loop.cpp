#include "runtime/event_loop.h"

#include "util.h"

#include <cerrno>
#include <cmath>
#include <system_error>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

namespace ccmux {

EventLoop::EventLoop() {
  epfd_.reset(epoll_create1(EPOLL_CLOEXEC));
  if (!epfd_) throw std::system_error(errno, std::generic_category(), "epoll_create1");
  wakefd_.reset(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!wakefd_) throw std::system_error(errno, std::generic_category(), "eventfd");
  loop_thread_ = std::this_thread::get_id();
  add_fd(wakefd_.get(), EPOLLIN, [this](uint32_t) {
    uint64_t v;
    while (read(wakefd_.get(), &v, sizeof v) > 0) {
    }
    drain_posted();
  });
}

EventLoop::~EventLoop() = default;  // the fds close themselves

void EventLoop::add_fd(int fd, uint32_t events, FdHandler handler) {
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = next_token_;
  if (epoll_ctl(epfd_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) throw std::system_error(errno, std::generic_category(), "epoll_ctl ADD");
  if (auto old = fd_tokens_.find(fd); old != fd_tokens_.end()) handlers_.erase(old->second);
  fd_tokens_[fd] = next_token_;
  handlers_[next_token_++] = std::make_shared<FdHandler>(std::move(handler));
}

void EventLoop::modify_fd(int fd, uint32_t events) {
  auto it = fd_tokens_.find(fd);
  if (it == fd_tokens_.end()) return;
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = it->second;
  epoll_ctl(epfd_.get(), EPOLL_CTL_MOD, fd, &ev);
}

void EventLoop::remove_fd(int fd) {
  epoll_ctl(epfd_.get(), EPOLL_CTL_DEL, fd, nullptr);
  auto it = fd_tokens_.find(fd);
  if (it == fd_tokens_.end()) return;
  handlers_.erase(it->second);
  fd_tokens_.erase(it);
}

EventLoop::TimerId EventLoop::add_timer(double delay_s, Task task) {
  TimerId id = next_timer_++;
  double at = monotonic_s() + delay_s;
  timers_.emplace(std::make_pair(at, id), std::move(task));
  timer_deadlines_[id] = at;
  return id;
}

EventLoop::TimerId EventLoop::every(double period_s, Task task) {
  TimerId handle = next_timer_++;
  arm_periodic(handle, period_s, std::make_shared<Task>(std::move(task)));
  return handle;
}

void EventLoop::arm_periodic(TimerId handle, double period_s, std::shared_ptr<Task> task) {
  periodic_[handle] = add_timer(period_s, [this, handle, period_s, task] {
    (*task)();
    if (periodic_.count(handle)) arm_periodic(handle, period_s, task);  // the task may have cancelled it
  });
}

void EventLoop::cancel_timer(TimerId id) {
  if (auto p = periodic_.find(id); p != periodic_.end()) {
    TimerId current = p->second;
    periodic_.erase(p);
    id = current;
  }
  auto it = timer_deadlines_.find(id);
  if (it == timer_deadlines_.end()) return;
  timers_.erase({it->second, id});
  timer_deadlines_.erase(it);
}

void EventLoop::post(Task task) {
  {
    std::lock_guard<std::mutex> lock(post_mu_);
    posted_.push_back(std::move(task));
  }
  uint64_t one = 1;
  (void)!write(wakefd_.get(), &one, sizeof one);
}

void EventLoop::add_before_sleep(Task task) { before_sleep_.push_back(std::move(task)); }

void EventLoop::drain_posted() {
  std::vector<Task> batch;
  {
    std::lock_guard<std::mutex> lock(post_mu_);
    batch.swap(posted_);
  }
  for (auto& t : batch) t();
}

int EventLoop::next_timeout_ms() const {
  if (timers_.empty()) return -1;
  double wait = timers_.begin()->first.first - monotonic_s();
  if (wait <= 0) return 0;
  return static_cast<int>(std::ceil(wait * 1000));
}

void EventLoop::run_due_timers() {
  double now = monotonic_s();
  while (!timers_.empty() && timers_.begin()->first.first <= now) {
    auto node = timers_.extract(timers_.begin());
    timer_deadlines_.erase(node.key().second);
    node.mapped()();
  }
}

void EventLoop::run() {
  loop_thread_ = std::this_thread::get_id();
  running_ = true;
  epoll_event events[64];
  while (running_) {
    for (auto& hook : before_sleep_) hook();
    int n = epoll_wait(epfd_.get(), events, 64, next_timeout_ms());
    if (n < 0 && errno != EINTR) throw std::system_error(errno, std::generic_category(), "epoll_wait");
    for (int i = 0; i < n; ++i) {
      // A copy: epoll_event is packed on x86-64, so data.u64 is misaligned and find()'s
      // const reference to it would be undefined behaviour (UBSan stops there).
      const uint64_t token = events[i].data.u64;
      auto it = handlers_.find(token);
      if (it == handlers_.end()) continue;  // removed earlier in this batch (its fd number may be reused)
      auto handler = it->second;  // keeps it alive if the handler removes its own fd
      (*handler)(events[i].events);
    }
    run_due_timers();
  }
  for (auto& hook : before_sleep_) hook();
}

void EventLoop::stop() {
  post([this] { running_ = false; });
}

}  // namespace ccmux

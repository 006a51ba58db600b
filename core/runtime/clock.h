// Time as the session economy and the supervisor see it: now, one-shot and periodic timers.
// Owns: nothing but the interface and its event-loop implementation (LoopClock); tests drive
// a hand-advanced one, so parking, backoff and timeouts are tested without sleeping.
// May call: EventLoop (timers), util (monotonic_s).
#pragma once

#include "runtime/event_loop.h"
#include "util.h"

#include <cstdint>
#include <functional>

namespace ccmux {

class Clock {
 public:
  using TimerId = uint64_t;  // 0: none
  using Task = std::function<void()>;
  virtual ~Clock() = default;
  virtual double now() const = 0;  // monotonic seconds
  virtual TimerId add_timer(double delay_s, Task task) = 0;
  virtual TimerId every(double period_s, Task task) = 0;
  virtual void cancel_timer(TimerId id) = 0;
};

class LoopClock final : public Clock {
 public:
  explicit LoopClock(EventLoop& loop) : loop_(loop) {}
  double now() const override { return monotonic_s(); }
  TimerId add_timer(double delay_s, Task task) override { return loop_.add_timer(delay_s, std::move(task)); }
  TimerId every(double period_s, Task task) override { return loop_.every(period_s, std::move(task)); }
  void cancel_timer(TimerId id) override { loop_.cancel_timer(id); }

 private:
  EventLoop& loop_;
};

}  // namespace ccmux

// The event loop's fd dispatch: an event belongs to the registration it was reported for,
// not to whatever handler holds that fd number when the event is dispatched.
#include "runtime/event_loop.h"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/epoll.h>
#include <unistd.h>

using namespace ccmux;

// Two pipes hang up in the same epoll batch. Whichever handler runs first closes the other
// pipe and puts a fresh pipe, still open at both ends, under the closed read end's number
// (as a respawned claude's pipe can be). The stale hang-up of the closed pipe is still in the
// batch: it must not reach the new pipe's handler.
TEST(EventLoop, AStaleEventOfAClosedFdDoesNotReachTheFdNumbersNextOwner) {
  EventLoop loop;
  int a[2], b[2], fresh[2];
  ASSERT_EQ(pipe2(a, O_CLOEXEC | O_NONBLOCK), 0);
  ASSERT_EQ(pipe2(b, O_CLOEXEC | O_NONBLOCK), 0);
  ASSERT_EQ(pipe2(fresh, O_CLOEXEC | O_NONBLOCK), 0);
  int first_called = -1;
  int new_owner_events = 0;
  uint32_t new_owner_mask = 0;
  auto take_over = [&](int me, int other) {
    if (first_called >= 0) return;  // only the first handler of the batch acts
    first_called = me;
    loop.remove_fd(me);  // its hang-up would fire again at every wait
    loop.remove_fd(other);
    close(other);
    ASSERT_EQ(dup3(fresh[0], other, O_CLOEXEC), other);  // the fresh pipe takes the freed number
    loop.add_fd(other, EPOLLIN, [&](uint32_t ev) {
      ++new_owner_events;
      new_owner_mask |= ev;
    });
  };
  loop.add_fd(a[0], EPOLLIN, [&](uint32_t) { take_over(a[0], b[0]); });
  loop.add_fd(b[0], EPOLLIN, [&](uint32_t) { take_over(b[0], a[0]); });
  close(a[1]);  // both read ends now report EPOLLHUP: one batch
  close(b[1]);
  loop.add_timer(0.3, [&] { loop.stop(); });
  loop.run();
  ASSERT_GE(first_called, 0);
  EXPECT_EQ(new_owner_events, 0) << "the new pipe got the old one's events (mask " << new_owner_mask << ")";
  int replaced = first_called == a[0] ? b[0] : a[0];
  loop.remove_fd(replaced);
  close(a[0]);
  close(b[0]);
  close(fresh[0]);
  close(fresh[1]);
}

// Removing a registration and adding another for the same fd inside one handler leaves the
// new handler working for events that come later.
TEST(EventLoop, AReRegisteredFdGetsItsLaterEvents) {
  EventLoop loop;
  int p[2];
  ASSERT_EQ(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
  int old_calls = 0, new_calls = 0;
  loop.add_fd(p[0], EPOLLIN, [&](uint32_t) {
    ++old_calls;
    char c;
    while (read(p[0], &c, 1) > 0) {
    }
    loop.remove_fd(p[0]);
    loop.add_fd(p[0], EPOLLIN, [&](uint32_t) {
      ++new_calls;
      char d;
      while (read(p[0], &d, 1) > 0) {
      }
      loop.stop();
    });
    loop.add_timer(0.05, [&] { (void)!write(p[1], "y", 1); });
  });
  (void)!write(p[1], "x", 1);
  loop.add_timer(5, [&] { loop.stop(); });  // bound: a regression fails instead of hanging
  loop.run();
  EXPECT_EQ(old_calls, 1);
  EXPECT_EQ(new_calls, 1);
  loop.remove_fd(p[0]);
  close(p[0]);
  close(p[1]);
}

// `ccmux attach` through a daemon restart: the stream reconnects and resumes at the next seq,
// so every event shows once, in order (the real CLI binary, a real ccmuxd killed and started).
#include "harness.h"

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <regex>
#include <sstream>
#include <thread>

using namespace ccmux;
using namespace ccmux::test;

namespace {
// Waits until ccmuxd counts `n` clients (bounded).
bool wait_clients(Client& c, int64_t n) {
  for (int i = 0; i < 400; ++i) {
    if (c.request("status").value("clients", int64_t{0}) >= n) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  return false;
}
}  // namespace

TEST(CliStream, AttachResumesAtTheNextSeqAfterTheDaemonRestartsNothingMissedNothingTwice) {
  DaemonOptions unheld;  // the restart ends the session (session_exited): claude is ccmuxd's child
  unheld.claude_keys = {"hold: false"};
  FakeDaemon f(unheld);
  std::string id;
  {
    auto c = f.d->connect();
    id = c->request("session.new", {{"cwd", f.d->project()}, {"prompt", "hello"}})["id"];
    EventLog log(*c, id);
    ASSERT_TRUE(log.wait_kind("result", 30000));
  }
  // Follows until the session ends: after the restart ccmuxd says the session exited.
  auto attach = std::async(std::launch::async, [&] {
    std::string out;
    int rc = run_command({"/usr/bin/timeout", "60", ccmux_bin(), "--socket", f.d->socket(), "attach", "--json", id}, &out);
    return std::make_pair(rc, out);
  });
  {
    auto c = f.d->connect();
    ASSERT_TRUE(wait_clients(*c, 2)) << "ccmux attach never connected";
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // let it print the stored events
  f.d->kill9();
  f.d->start();
  ASSERT_EQ(attach.wait_for(std::chrono::seconds(70)), std::future_status::ready);
  auto [rc, out] = attach.get();
  EXPECT_EQ(rc, 0) << out;

  std::istringstream lines(out);
  std::string line;
  uint64_t last = 0;
  int reconnects = 0;
  bool exited_after_restart = false;
  std::regex resume(R"(^· connection to ccmuxd lost; reconnecting \(resumes at seq (\d+)\)$)");
  while (std::getline(lines, line)) {
    std::smatch m;
    if (std::regex_match(line, m, resume)) {
      ++reconnects;
      EXPECT_EQ(std::stoull(m[1]), last + 1) << out;  // resumes right after the last event shown
      continue;
    }
    json ev = json::parse(line, nullptr, false);
    ASSERT_TRUE(ev.is_object()) << "not an event: " << line;
    EXPECT_EQ(ev["seq"].get<uint64_t>(), last + 1) << "gap or repeat at " << line;
    last = ev["seq"].get<uint64_t>();
    if (reconnects > 0 && ev.value("kind", "") == "session_exited") exited_after_restart = true;
  }
  EXPECT_EQ(reconnects, 1) << out;
  EXPECT_TRUE(exited_after_restart) << out;
  // Everything the store holds was shown: the last seq is the session's head.
  auto c = f.d->connect();
  EXPECT_EQ(c->request("subscribe", {{"session", id}, {"from_seq", last + 1}}).value("head", uint64_t{0}), last);
}

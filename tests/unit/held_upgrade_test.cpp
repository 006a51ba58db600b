// Issue 13, part 4: a ccmuxd meets a holder that speaks another protocol (a test build of
// ccmux-shim announcing protocol 99, standing for a release this ccmuxd does not know). It
// does not adopt it, leaves it and its claude running, and shows the session as unadoptable
// with the reason; prompts to it are refused with that reason.
#include "approvals/approval_chain.h"
#include "harness.h"
#include "sessions/supervisor.h"
#include "util.h"

#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace ccmux;
using nlohmann::json;

namespace {

// Starts the proto-99 holder around /bin/cat (a claude that waits) and reads its ready line.
pid_t start_future_holder(const std::string& instance, const std::string& holders, const std::string& spool) {
  int p[2];
  if (pipe(p) != 0) return -1;
  pid_t pid = fork();
  if (pid == 0) {
    dup2(p[1], 1);
    close(p[0]);
    execl(CCMUX_SHIM_PROTO99_BIN, "ccmux-shim", "--session", instance.c_str(), "--spool-dir", spool.c_str(), "--socket",
          (holders + "/" + instance + ".sock").c_str(), "--", "/bin/cat", static_cast<char*>(nullptr));
    _exit(127);
  }
  close(p[1]);
  std::string line;
  char c;
  while (read(p[0], &c, 1) == 1 && c != '\n') line += c;
  close(p[0]);
  return line.rfind("ready ", 0) == 0 ? pid : -1;
}

}  // namespace

TEST(HeldUpgrade, AHolderOfAnotherProtocolIsLeftAloneAndItsSessionShownUnadoptable) {
  test::TempDir dir;
  std::string holders = dir.path + "/holders", spools = dir.path + "/spool";
  ASSERT_EQ(mkdir(holders.c_str(), 0700), 0);
  ASSERT_EQ(mkdir(spools.c_str(), 0700), 0);
  pid_t holder = start_future_holder("h-future", holders, spools + "/h-future");
  ASSERT_GT(holder, 0) << "the proto-99 holder did not start";

  EventLoop loop;
  Store store(dir.path + "/db");
  EventBus bus(store);
  PolicyEngine policies(loop, PolicyEngine::Options{});
  ApprovalChain chain(loop, store, bus, policies, 3600);
  // What the ccmuxd that started it left in the store: a running session held by h-future.
  SessionRow row;
  row.id = "s-0000abcd";
  row.created_ms = row.updated_ms = now_ms();
  row.cwd = dir.path;
  row.claude_session_id = "c-1";
  row.state = "running";
  ASSERT_TRUE(store.insert_session(row));
  store.holder_insert({"h-future", row.id, spools + "/h-future", 1, 0, now_ms()});
  store.commit();

  SupervisorOptions o;
  o.claude_path = "/bin/false";
  o.project_roots = {dir.path};
  o.holder.holders_dir = holders;
  o.holder.spool_dir = spools;
  {
    Supervisor sup(loop, store, bus, chain, o);
    sup.recover();
    bus.flush();
    json info = sup.info(row.id);
    EXPECT_EQ(info["state"], "unadoptable");
    std::string reason = info["reason"];
    EXPECT_NE(reason.find("protocol 99"), std::string::npos) << reason;
    EXPECT_NE(reason.find("speaks 1..1"), std::string::npos) << reason;
    EXPECT_EQ(info["pid"], 0);
    bool announced = false;
    store.read_events(row.id, 1, 1000, 1000, [&](uint64_t, int64_t, std::string_view kind, std::string_view payload) {
      announced = announced || (kind == "session_unadoptable" && payload.find("protocol 99") != std::string_view::npos);
    });
    EXPECT_TRUE(announced) << "no session_unadoptable event";
    try {
      sup.send(row.id, "hello");
      ADD_FAILURE() << "a prompt to an unadoptable session was taken";
    } catch (const CommandError& e) {
      EXPECT_EQ(e.code, "unadoptable");
    }
  }
  // Left alone: the holder and its socket are still there for the ccmuxd that speaks its protocol.
  EXPECT_EQ(kill(holder, 0), 0) << "the holder was stopped";
  EXPECT_TRUE(std::filesystem::exists(holders + "/h-future.sock"));
  kill(holder, SIGTERM);  // = stop: it ends its claude (/bin/cat), then itself
  int status = 0;
  for (int i = 0; i < 200 && waitpid(holder, &status, WNOHANG) == 0; ++i) usleep(25000);
}

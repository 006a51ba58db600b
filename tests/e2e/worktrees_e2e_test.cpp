// Issue 15 end to end: ccmuxd + the real claude CLI + the fake Messages API, a real git
// repository (with a local bare one as its remote). `ccmux new --worktree` starts a session in
// its own worktree on its own branch; the model's Write lands there, not in the repository;
// `ccmux ls` shows the branch; `ccmux worktrees rm` refuses while the session is live and while
// the worktree is dirty; the session keeps repo, worktree and branch across a daemon restart.
#include "e2e.h"

#include <chrono>
#include <filesystem>
#include <thread>

using namespace ccmux;
using namespace ccmux::test;
namespace fs = std::filesystem;

namespace {

std::string git(const std::string& dir, std::vector<std::string> args) {
  std::vector<std::string> argv = {"/usr/bin/git", "-C", dir, "-c", "user.name=t", "-c", "user.email=t@example.com"};
  argv.insert(argv.end(), args.begin(), args.end());
  std::string out;
  EXPECT_EQ(run_command(argv, &out), 0) << dir << ": git " << args.at(0) << ": " << out;
  return out;
}

// Waits for the turn's result, answering (on `answerer`, not the subscribed client) any
// approval it asks for on the way.
bool finish_turn(Client& answerer, EventLog& log) {
  return log.wait_for([&](const json& e) {
    if (e["kind"] == "approval_requested")
      answerer.request("approval.answer", {{"id", e["payload"]["id"]}, {"decision", "allow"}});
    return e["kind"] == "result";
  });
}

// Polls with a deadline until the session is in `state`.
bool wait_state(Client& c, const std::string& id, const std::string& state) {
  for (int i = 0; i < 600; ++i) {
    if (c.request("session.get", {{"session", id}})["state"] == state) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

}  // namespace

class WorktreesE2E : public E2E {
 protected:
  std::string repo, remote;
  void SetUp() override {
    E2E::SetUp();
    repo = daemon->project() + "/app";
    remote = dir.path + "/remote.git";
    fs::create_directories(repo);
    git(dir.path, {"init", "-q", "--bare", remote});
    git(repo, {"init", "-q", "-b", "main"});
    write_file(repo + "/README", "app\n");
    git(repo, {"add", "README"});
    git(repo, {"commit", "-q", "-m", "first"});
    git(repo, {"remote", "add", "origin", remote});
    git(repo, {"push", "-q", "-u", "origin", "main"});
    repo = fs::canonical(repo).string();
  }
  int ccmux(const std::vector<std::string>& args, std::string* out) {
    std::vector<std::string> argv = {ccmux_bin(), "--socket", daemon->socket()};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_command(argv, out);
  }
};

TEST_F(WorktreesE2E, ASessionRunsInItsOwnWorktreeOnItsBranchAndKeepsItAcrossARestart) {
  fs::create_directories(repo + "/src");
  std::string out;
  // Any folder of the repository will do as --cwd.
  ASSERT_EQ(ccmux({"new", "--cwd", repo + "/src", "--worktree", "wt-e2e", "--mode", "acceptEdits"}, &out), 0) << out;
  std::string id = out.substr(0, out.find('\n'));
  ASSERT_EQ(id.rfind("s-", 0), 0u) << out;
  std::string wt = fs::canonical(daemon->project()).string() + "/.ccmux-worktrees/app/wt-e2e";
  EXPECT_NE(out.find("in worktree " + wt + " (branch ccmux/wt-e2e)"), std::string::npos) << out;

  auto c = daemon->connect();
  json s = c->request("session.get", {{"session", id}});
  EXPECT_EQ(s["repo"], repo);
  EXPECT_EQ(s["worktree"], wt);
  EXPECT_EQ(s["worktree_name"], "wt-e2e");
  EXPECT_EQ(s["branch"], "ccmux/wt-e2e");
  EXPECT_EQ(s["cwd"], wt);
  EXPECT_EQ(git(wt, {"rev-parse", "--abbrev-ref", "HEAD"}), "ccmux/wt-e2e\n");

  // The model writes a file: it lands in the worktree, not in the repository's work tree.
  auto answerer = daemon->connect();
  EventLog log(*c, id);
  c->request("session.send", {{"session", id},
                              {"prompt", "tool: Write " + json{{"file_path", wt + "/note.txt"}, {"content", "from claude\n"}}.dump()}});
  ASSERT_TRUE(finish_turn(*answerer, log));
  EXPECT_EQ(read_file(wt + "/note.txt"), "from claude\n");
  EXPECT_FALSE(fs::exists(repo + "/note.txt"));
  // claude itself ran there: its init line names the worktree as its cwd.
  bool init_in_worktree = false;
  for (auto& e : log.of_kind("system"))
    if (e["payload"].value("subtype", "") == "init") init_in_worktree = e["payload"].value("cwd", "") == wt;
  EXPECT_TRUE(init_in_worktree);

  ASSERT_EQ(ccmux({"ls"}, &out), 0) << out;
  EXPECT_NE(out.find("BRANCH"), std::string::npos) << out;
  EXPECT_NE(out.find("ccmux/wt-e2e"), std::string::npos) << out;

  ASSERT_EQ(ccmux({"worktrees", "ls"}, &out), 0) << out;
  EXPECT_NE(out.find("wt-e2e"), std::string::npos) << out;
  EXPECT_NE(out.find("dirty"), std::string::npos) << out;  // note.txt is not committed
  EXPECT_NE(out.find(id), std::string::npos) << "the session using it is named:\n" << out;

  // Live session: refused, even with --force; nothing is removed.
  EXPECT_EQ(ccmux({"worktrees", "rm", "wt-e2e", "--force"}, &out), 1) << out;
  EXPECT_NE(out.find("worktree_in_use: worktree wt-e2e (" + wt + ") is used by session " + id), std::string::npos) << out;
  EXPECT_TRUE(fs::exists(wt + "/note.txt"));
  // A second session cannot take the same worktree while this one lives.
  try {
    c->request("session.new", {{"cwd", repo}, {"worktree", "wt-e2e"}});
    ADD_FAILURE() << "a worktree in use was given to a second session";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("is used by session " + id), std::string::npos) << e.what();
  }

  // A restart of ccmuxd: the record of repo, worktree and branch is still there.
  c.reset();
  answerer.reset();
  daemon->terminate();
  daemon->start();
  c = daemon->connect();
  s = c->request("session.get", {{"session", id}});
  EXPECT_EQ(s["repo"], repo);
  EXPECT_EQ(s["worktree"], wt);
  EXPECT_EQ(s["worktree_name"], "wt-e2e");
  EXPECT_EQ(s["branch"], "ccmux/wt-e2e");
  ASSERT_EQ(ccmux({"ls"}, &out), 0) << out;
  EXPECT_NE(out.find("ccmux/wt-e2e"), std::string::npos) << out;

  // Stopped, the worktree may go, but its uncommitted file needs --force.
  c->request("session.stop", {{"session", id}});
  ASSERT_TRUE(wait_state(*c, id, "exited"));
  EXPECT_EQ(ccmux({"worktrees", "rm", "wt-e2e"}, &out), 1) << out;
  EXPECT_NE(out.find("worktree_dirty: worktree wt-e2e (" + wt + ") has uncommitted changes"), std::string::npos) << out;
  EXPECT_NE(out.find("?? note.txt"), std::string::npos) << out;
  ASSERT_EQ(ccmux({"worktrees", "rm", "wt-e2e", "--force"}, &out), 0) << out;
  EXPECT_FALSE(fs::exists(wt));
  EXPECT_EQ(git(repo, {"branch", "--list", "ccmux/wt-e2e"}), "  ccmux/wt-e2e\n") << "the branch stays";
  ASSERT_EQ(ccmux({"worktrees", "ls"}, &out), 0) << out;
  EXPECT_EQ(out.find("wt-e2e"), std::string::npos) << out;
}

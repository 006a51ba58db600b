// core/worktrees against real git repositories made in a temp dir (a bare one as the remote):
// the git runner (argv, bounds, timeout), and the worktree manager: create, reuse, list with
// dirty/unpushed flags, remove (refused when dirty or unpushed unless forced), prune, and every
// git error coming back with the command and git's own line.
#include "errors.h"
#include "harness.h"
#include "storage/store.h"
#include "worktrees/git_runner.h"
#include "worktrees/git_worker.h"
#include "worktrees/worktree_manager.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <atomic>
#include <iostream>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <thread>

using namespace ccmux;
using namespace ccmux::worktrees;
namespace fs = std::filesystem;

namespace {

// git as a person would run it in the test's repositories (commits need a name).
std::string git(const std::string& dir, std::vector<std::string> args) {
  std::vector<std::string> argv = {"/usr/bin/git", "-C", dir, "-c", "user.name=t", "-c", "user.email=t@example.com",
                                   "-c", "init.defaultBranch=main", "-c", "advice.detachedHead=false"};
  argv.insert(argv.end(), args.begin(), args.end());
  std::string out;
  int rc = test::run_command(argv, &out);
  EXPECT_EQ(rc, 0) << git_command_text(dir, args) << ": " << out;
  return out;
}

// <tmp>/src/app: a repository with one commit on main, pushed to <tmp>/remote.git (origin).
struct Repo {
  test::TempDir tmp;
  std::string root, remote;
  Repo() {
    root = tmp.path + "/src/app";
    remote = tmp.path + "/remote.git";
    fs::create_directories(root);
    git(tmp.path, {"init", "-q", "--bare", remote});
    git(root, {"init", "-q", "-b", "main"});
    test::write_file(root + "/README", "hello\n");
    git(root, {"add", "README"});
    git(root, {"commit", "-q", "-m", "first"});
    git(root, {"remote", "add", "origin", remote});
    git(root, {"push", "-q", "-u", "origin", "main"});
    root = fs::canonical(root).string();
  }
  std::string home() const { return fs::canonical(tmp.path).string() + "/src/.ccmux-worktrees/app"; }
  EnsureResult ensure(const std::string& name, const std::string& branch = "", const std::string& from = "",
                      const std::string& cwd = "") {
    return ensure_worktree({cwd.empty() ? root : cwd, name, branch, from, ""});
  }
};

// Runs `f`, expecting a CommandError; returns "code: message".
template <class F>
std::string error_of(F f) {
  try {
    f();
  } catch (const CommandError& e) {
    return e.code + ": " + e.what();
  }
  return "no error";
}

const WorktreeStatus* find(const std::vector<WorktreeStatus>& v, const std::string& name) {
  for (auto& s : v)
    if (s.name == name) return &s;
  return nullptr;
}

}  // namespace

TEST(GitRunner, RunsGitWithAnArgvCapturesBothStreamsAndNamesTheCommand) {
  test::TempDir t;
  // A shell would run the $(...) and the ';': git gets them as one literal argument.
  GitResult r = run_git(t.path, {"check-ref-format", "--branch", "x;$(touch " + t.path + "/pwned)"});
  EXPECT_FALSE(r.ok());
  EXPECT_FALSE(fs::exists(t.path + "/pwned"));
  EXPECT_EQ(r.exit_code, 128);
  EXPECT_NE(r.reason().find("fatal:"), std::string::npos) << r.err;
  EXPECT_EQ(r.command, "git -C " + t.path + " check-ref-format --branch 'x;$(touch " + t.path + "/pwned)'");
  EXPECT_NE(git_failure(r).find("`git -C " + t.path + " check-ref-format"), std::string::npos) << git_failure(r);
  EXPECT_NE(git_failure(r).find("failed (exit 128): fatal:"), std::string::npos) << git_failure(r);
  GitResult v = run_git(t.path, {"--version"});
  EXPECT_TRUE(v.ok());
  EXPECT_EQ(v.out.rfind("git version ", 0), 0u) << v.out;
}

TEST(GitRunner, OutputIsBoundedAndAHungGitIsKilledAtTheTimeout) {
  Repo repo;
  GitOptions small;
  small.max_stdout = 10;
  GitResult r = run_git(repo.root, {"log", "-p"}, small);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.out.size(), 10u);
  EXPECT_TRUE(r.stdout_cut);

  GitOptions quick;
  quick.timeout_s = 0.5;
  auto start = std::chrono::steady_clock::now();
  // An alias that runs a shell command is git's own feature: here a git that hangs.
  // The shell writes its own pid first: the test can see that it is gone, not only git.
  std::string pid_file = repo.root + "/../hang.pid";
  GitResult slow = run_git(repo.root, {"-c", "alias.hang=!echo $$ > " + pid_file + "; exec sleep 30", "hang"}, quick);
  double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_TRUE(slow.timed_out);
  EXPECT_FALSE(slow.ok());
  EXPECT_LT(took, 10) << "killed at the timeout";
  pid_t hung = std::atoi(test::read_file(pid_file).c_str());
  ASSERT_GT(hung, 0);
  auto gone_by = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (kill(hung, 0) == 0 && std::chrono::steady_clock::now() < gone_by)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_NE(kill(hung, 0), 0) << "the process group (git and its sleep) is killed, not only git";
  EXPECT_NE(git_failure(slow).find("took too long and was killed"), std::string::npos);
}

TEST(GitWorker, AStoppingWorkerKillsTheGitUnderWayInsteadOfWaitingOutItsTimeout) {
  Repo repo;
  std::atomic<bool> started{false};
  GitResult seen;
  auto t0 = std::chrono::steady_clock::now();
  {
    GitWorker w([](GitWorker::Task) {});
    w.submit([&]() -> GitWorker::Task {
      started = true;
      seen = run_git(repo.root, {"-c", "alias.hang=!sleep 60", "hang"});  // the default 120 s timeout
      return nullptr;
    });
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!started && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    ASSERT_TRUE(started);
  }  // ~GitWorker: the daemon stopping
  double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(took, 10) << "a stopping daemon does not wait for a hung git's 120 s timeout";
  EXPECT_TRUE(seen.cancelled);
  EXPECT_NE(git_failure(seen).find("ccmuxd is shutting down"), std::string::npos) << git_failure(seen);
}

TEST(GitWorker, RunsJobsOffTheCallingThreadInOrderAndPostsTheirContinuations) {
  std::mutex mu;
  std::vector<std::function<void()>> posted;
  std::atomic<int> ran{0};
  std::thread::id caller = std::this_thread::get_id(), worker_thread;
  std::vector<int> order;
  {
    GitWorker w([&](GitWorker::Task t) {
      std::lock_guard<std::mutex> lock(mu);
      posted.push_back(std::move(t));
    });
    for (int i = 0; i < 3; ++i)
      w.submit([&, i]() -> GitWorker::Task {
        worker_thread = std::this_thread::get_id();
        ++ran;
        return [&, i] { order.push_back(i); };
      });
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      std::lock_guard<std::mutex> lock(mu);
      if (posted.size() == 3) break;
    }
  }
  EXPECT_EQ(ran, 3);
  EXPECT_NE(worker_thread, caller);
  for (auto& t : posted) t();  // the loop runs them
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2}));
}

TEST(Worktrees, NotARepositoryNamesTheCommandAndGitsLine) {
  test::TempDir t;
  std::string e = error_of([&] { repo_root(t.path); });
  EXPECT_EQ(e.rfind("not_a_repository: ", 0), 0u) << e;
  EXPECT_NE(e.find("`git -C " + t.path + " rev-parse --show-toplevel`"), std::string::npos) << e;
  EXPECT_NE(e.find("fatal: not a git repository"), std::string::npos) << e;
  EXPECT_NE(error_of([&] { ensure_worktree({t.path, "x", "", "", ""}); }).find("not_a_repository"), std::string::npos);
  EXPECT_EQ(error_of([&] { repo_root(t.path + "/missing"); }).rfind("not_a_repository: not a directory", 0), 0u);
}

TEST(Worktrees, CreatesOnANewBranchOutsideTheWorkTreeFromAnyFolderOfTheRepo) {
  Repo repo;
  fs::create_directories(repo.root + "/sub/dir");
  EnsureResult r = repo.ensure("feat-1", "", "", repo.root + "/sub/dir");
  EXPECT_TRUE(r.created);
  EXPECT_EQ(r.repo, repo.root);
  EXPECT_EQ(r.path, repo.home() + "/feat-1");
  EXPECT_EQ(r.branch, "ccmux/feat-1");
  EXPECT_TRUE(fs::exists(r.path + "/README"));
  EXPECT_EQ(git(r.path, {"rev-parse", "--abbrev-ref", "HEAD"}), "ccmux/feat-1\n");
  // A file written there is in the worktree, not the repository's work tree.
  test::write_file(r.path + "/new.txt", "x");
  EXPECT_FALSE(fs::exists(repo.root + "/new.txt"));
  // From inside the worktree, the repository is still the main work tree.
  EXPECT_EQ(repo_root(r.path), repo.root);

  // Again with the same name: reused, not made twice.
  EnsureResult again = repo.ensure("feat-1");
  EXPECT_FALSE(again.created);
  EXPECT_EQ(again.path, r.path);
  EXPECT_EQ(again.branch, "ccmux/feat-1");
  EXPECT_FALSE(repo.ensure("feat-1", "ccmux/feat-1").created);
  std::string e = error_of([&] { repo.ensure("feat-1", "other"); });
  EXPECT_EQ(e.rfind("worktree_conflict: ", 0), 0u) << e;
  EXPECT_NE(e.find("has branch ccmux/feat-1 checked out, not other"), std::string::npos) << e;
}

TEST(Worktrees, BranchLocalRemoteOnlyOrNewFromARef) {
  Repo repo;
  git(repo.root, {"branch", "local-b"});
  EnsureResult local = repo.ensure("l", "local-b");
  EXPECT_EQ(local.branch, "local-b");
  EXPECT_EQ(git(local.path, {"rev-parse", "--abbrev-ref", "HEAD"}), "local-b\n");

  // A branch that exists only on the remote (an MR's source branch after `git fetch`).
  std::string other = repo.tmp.path + "/other";
  git(repo.tmp.path, {"clone", "-q", repo.remote, other});
  git(other, {"checkout", "-q", "-b", "mr-src"});
  test::write_file(other + "/mr.txt", "mr\n");
  git(other, {"add", "mr.txt"});
  git(other, {"commit", "-q", "-m", "mr"});
  git(other, {"push", "-q", "origin", "mr-src"});
  git(repo.root, {"fetch", "-q", "origin"});
  EnsureResult mr = repo.ensure("mr-12", "mr-src");
  EXPECT_TRUE(mr.created);
  EXPECT_EQ(mr.branch, "mr-src");
  EXPECT_TRUE(fs::exists(mr.path + "/mr.txt"));
  EXPECT_EQ(git(mr.path, {"rev-parse", "--abbrev-ref", "--symbolic-full-name", "@{u}"}), "origin/mr-src\n");

  // A new branch from a given ref.
  std::string first = git(repo.root, {"rev-parse", "HEAD"});
  test::write_file(repo.root + "/second", "2");
  git(repo.root, {"add", "second"});
  git(repo.root, {"commit", "-q", "-m", "second"});
  EnsureResult n = repo.ensure("n", "new-b", first.substr(0, 40));
  EXPECT_EQ(n.branch, "new-b");
  EXPECT_EQ(git(n.path, {"rev-parse", "HEAD"}), first);
  EXPECT_FALSE(fs::exists(n.path + "/second"));
}

TEST(Worktrees, GitErrorsComeBackWithTheCommandAndGitsOwnLine) {
  Repo repo;
  // The branch checked out in the main work tree.
  std::string e = error_of([&] { repo.ensure("x", "main"); });
  EXPECT_EQ(e.rfind("git_error: `git -C " + repo.root + " worktree add " + repo.home() + "/x main` failed (exit", 0), 0u) << e;
  EXPECT_NE(e.find("fatal: 'main' is already checked out at '" + repo.root + "'"), std::string::npos) << e;
  EXPECT_FALSE(fs::exists(repo.home() + "/x")) << "no folder is left behind";

  // An unknown ref: nothing is made (no folder, no branch).
  e = error_of([&] { repo.ensure("y", "", "no-such-ref"); });
  EXPECT_EQ(e.rfind("git_error: `git -C " + repo.root + " worktree add -b ccmux/y " + repo.home() + "/y no-such-ref`", 0), 0u) << e;
  EXPECT_NE(e.find("fatal: "), std::string::npos) << e;
  EXPECT_NE(e.find("no-such-ref"), std::string::npos) << e;
  EXPECT_FALSE(fs::exists(repo.home() + "/y"));
  EXPECT_FALSE(run_git(repo.root, {"rev-parse", "--verify", "--quiet", "refs/heads/ccmux/y"}).ok());

  // A worktree whose HEAD is detached, asked for a branch.
  EnsureResult d = repo.ensure("det");
  git(d.path, {"checkout", "-q", "--detach"});
  e = error_of([&] { repo.ensure("det", "ccmux/det"); });
  EXPECT_EQ(e.rfind("worktree_conflict: worktree det (" + d.path + ") has a detached HEAD (at ", 0), 0u) << e;
  EXPECT_FALSE(repo.ensure("det").created) << "without a branch it is reused as it is";

  // A path that is taken by something that is no worktree.
  fs::create_directories(repo.home() + "/taken");
  e = error_of([&] { repo.ensure("taken"); });
  EXPECT_EQ(e.rfind("worktree_conflict: " + repo.home() + "/taken exists and is not a worktree", 0), 0u) << e;

  // A branch name git refuses, in git's words.
  e = error_of([&] { repo.ensure("z", "a..b"); });
  EXPECT_EQ(e.rfind("bad_params: `git -C " + repo.root + " check-ref-format --branch a..b` failed", 0), 0u) << e;
  EXPECT_NE(e.find("fatal: 'a..b' is not a valid branch name"), std::string::npos) << e;
}

TEST(Worktrees, HostileNamesBranchesAndRefsAreRefusedBeforeGitRuns) {
  Repo repo;
  for (const std::string& name : std::vector<std::string>{"", "..", ".", "../x", "a/b", "-rf", "a..b", "x y", "a\nb", "ä", std::string(65, 'a'),
                           std::string("a\0b", 3)}) {
    std::string e = error_of([&] { repo.ensure(name); });
    EXPECT_EQ(e.rfind("bad_params: bad worktree name", 0), 0u) << "name '" << name << "': " << e;
  }
  EXPECT_EQ(error_of([&] { repo.ensure(std::string(64, 'a')); }), "no error");
  // "@" is HEAD and "@{-1}" the previous branch to git: both pass check-ref-format --branch.
  for (const std::string& b : std::vector<std::string>{"-b", "--track", "a b", "x\ny", std::string(300, 'b'), "@", "@{-1}", "x@{u}"})
    EXPECT_EQ(error_of([&] { repo.ensure("ok2", b); }).rfind("bad_params: bad branch", 0), 0u) << b;
  EXPECT_EQ(error_of([&] { repo.ensure("ok3", "", "--upload-pack=touch x"); }).rfind("bad_params: bad ref", 0), 0u);
  EXPECT_FALSE(fs::exists(repo.home() + "/ok2"));
  EXPECT_FALSE(fs::exists(repo.root + "/x"));
}

TEST(Worktrees, ListShowsDirtyAndUnpushedAndRemoveRefusesThemWithoutForce) {
  Repo repo;
  EnsureResult clean = repo.ensure("clean");
  EnsureResult dirty = repo.ensure("dirty");
  EnsureResult ahead = repo.ensure("ahead");
  EnsureResult tracked = repo.ensure("tracked", "tracked-b");
  test::write_file(dirty.path + "/scratch.txt", "not committed");
  test::write_file(ahead.path + "/work.txt", "committed, not pushed");
  git(ahead.path, {"add", "work.txt"});
  git(ahead.path, {"commit", "-q", "-m", "work"});
  git(tracked.path, {"push", "-q", "-u", "origin", "tracked-b"});
  test::write_file(tracked.path + "/t.txt", "t");
  git(tracked.path, {"add", "t.txt"});
  git(tracked.path, {"commit", "-q", "-m", "t"});

  auto list = list_worktrees(repo.root, "");
  ASSERT_EQ(list.size(), 4u);
  const WorktreeStatus* c = find(list, "clean");
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->managed);
  EXPECT_FALSE(c->dirty);
  EXPECT_EQ(c->unpushed, 0) << "a new branch at a pushed commit has nothing of its own";
  EXPECT_EQ(c->git.branch, "ccmux/clean");
  EXPECT_EQ(c->git.path, clean.path);
  EXPECT_TRUE(find(list, "dirty")->dirty);
  EXPECT_EQ(find(list, "dirty")->changes, 1);
  EXPECT_FALSE(find(list, "ahead")->dirty);
  EXPECT_EQ(find(list, "ahead")->unpushed, 1);
  EXPECT_EQ(find(list, "ahead")->upstream, "");
  EXPECT_EQ(find(list, "tracked")->upstream, "origin/tracked-b");
  EXPECT_EQ(find(list, "tracked")->unpushed, 1);

  std::string e = error_of([&] { remove_worktree(repo.root, dirty.path, false, ""); });
  EXPECT_EQ(e.rfind("worktree_dirty: worktree dirty (" + dirty.path + ") has uncommitted changes (`git -C " + dirty.path +
                        " status --porcelain`: 1 entries, first '?? scratch.txt')",
                    0),
            0u)
      << e;
  e = error_of([&] { remove_worktree(repo.root, ahead.path, false, ""); });
  EXPECT_EQ(e.rfind("worktree_unpushed: worktree ahead (" + ahead.path + ") has 1 commit(s) on no remote branch", 0), 0u) << e;
  e = error_of([&] { remove_worktree(repo.root, tracked.path, false, ""); });
  EXPECT_NE(e.find("has 1 commit(s) not pushed to origin/tracked-b"), std::string::npos) << e;
  EXPECT_TRUE(fs::exists(dirty.path + "/scratch.txt")) << "a refused remove changes nothing";

  // A worktree whose status git cannot read (its .git link broken) may hold anything: refused.
  EnsureResult broken = repo.ensure("broken");
  test::write_file(broken.path + "/notes.txt", "work nobody can see");
  test::write_file(broken.path + "/.git", "gitdir: /nonexistent\n");
  e = error_of([&] { remove_worktree(repo.root, broken.path, false, ""); });
  EXPECT_EQ(e.rfind("git_error: cannot tell whether worktree broken", 0), 0u) << e;
  EXPECT_TRUE(fs::exists(broken.path + "/notes.txt"));
  test::write_file(broken.path + "/.git", "gitdir: " + repo.root + "/.git/worktrees/broken\n");

  remove_worktree(repo.root, clean.path, false, "");
  EXPECT_FALSE(fs::exists(clean.path));
  remove_worktree(repo.root, dirty.path, true, "");
  remove_worktree(repo.root, ahead.path, true, "");
  remove_worktree(repo.root, broken.path, true, "");  // repaired above: with force it goes
  EXPECT_FALSE(fs::exists(dirty.path));
  EXPECT_FALSE(fs::exists(ahead.path));
  // The branch and its commit stay in the repository.
  EXPECT_TRUE(run_git(repo.root, {"rev-parse", "--verify", "--quiet", "refs/heads/ccmux/ahead"}).ok());
  EXPECT_EQ(list_worktrees(repo.root, "").size(), 1u);

  // Not ccmux's to remove: the main work tree, a worktree made elsewhere, one that does not exist.
  EXPECT_EQ(error_of([&] { remove_worktree(repo.root, repo.root, true, ""); }).rfind("bad_params: " + repo.root + " is the main work tree", 0), 0u);
  git(repo.root, {"worktree", "add", "-q", "-b", "mine", repo.tmp.path + "/mine"});
  EXPECT_NE(error_of([&] { remove_worktree(repo.root, repo.tmp.path + "/mine", true, ""); }).find("was not made by ccmux"),
            std::string::npos);
  EXPECT_EQ(error_of([&] { remove_worktree(repo.root, repo.home() + "/nope", true, ""); }).rfind("not_found: ", 0), 0u);
}

TEST(Worktrees, PruneForgetsWorktreesWhoseFolderIsGone) {
  Repo repo;
  EnsureResult a = repo.ensure("gone");
  EnsureResult b = repo.ensure("kept");
  fs::remove_all(a.path);
  auto list = list_worktrees(repo.root, "");
  ASSERT_TRUE(find(list, "gone"));
  EXPECT_TRUE(find(list, "gone")->git.prunable);
  EXPECT_NE(find(list, "gone")->error, "");
  auto lines = prune_worktrees(repo.root);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("Removing worktrees/gone"), std::string::npos) << lines[0];
  list = list_worktrees(repo.root, "");
  EXPECT_FALSE(find(list, "gone"));
  EXPECT_TRUE(find(list, "kept"));
  // The name can be used again, on the branch it had.
  EnsureResult again = repo.ensure("gone");
  EXPECT_TRUE(again.created);
  EXPECT_EQ(again.branch, "ccmux/gone");
  (void)b;
}

TEST(Worktrees, TheConfiguredFolderHoldsOneFolderPerRepository) {
  Repo repo;
  std::string dir = repo.tmp.path + "/wts";
  EnsureResult r = ensure_worktree({repo.root, "n1", "", "", dir});
  EXPECT_EQ(r.path, fs::canonical(repo.tmp.path).string() + "/wts/app/n1");
  EXPECT_TRUE(fs::exists(r.path + "/README"));
  EXPECT_TRUE(find(list_worktrees(repo.root, dir), "n1")->managed);
  EXPECT_FALSE(find(list_worktrees(repo.root, ""), "n1")->managed);
  EXPECT_EQ(worktree_path("/srv/app", "x", ""), "/srv/.ccmux-worktrees/app/x");
}

// ---- over the protocol (ccmuxd with the scripted fake claude) ----

namespace {

// "code: message" of a request that must fail.
std::string request_error(Client& c, const std::string& method, const test::json& params) {
  try {
    c.request(method, params);
  } catch (const RequestFailed& e) {
    return e.code + ": " + e.what();
  }
  return "no error";
}

bool wait_state(Client& c, const std::string& id, const std::string& state) {
  for (int i = 0; i < 400; ++i) {
    if (c.request("session.get", {{"session", id}})["state"] == state) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

}  // namespace

TEST(WorktreeMethods, HostileRequestsGetClearErrorsAndTheDaemonGoesOn) {
  test::FakeDaemon f;
  std::string repo = f.d->project() + "/app";
  fs::create_directories(repo);
  git(repo, {"init", "-q", "-b", "main"});
  test::write_file(repo + "/README", "x");
  git(repo, {"add", "README"});
  git(repo, {"commit", "-q", "-m", "first"});
  fs::create_directories(f.d->project() + "/plain");
  auto c = f.d->connect();
  auto starts_with = [](const std::string& s, const std::string& p) { return s.rfind(p, 0) == 0; };
  using test::json;
  EXPECT_PRED2(starts_with, request_error(*c, "session.new", {{"cwd", repo}, {"worktree", "../x"}}), "bad_params: bad worktree name");
  EXPECT_PRED2(starts_with, request_error(*c, "session.new", {{"cwd", repo}, {"worktree", 5}}),
               "bad_params: parameter 'worktree' must be a string");
  EXPECT_PRED2(starts_with, request_error(*c, "session.new", {{"cwd", repo}, {"branch", "b"}}),
               "bad_params: branch and from go with worktree");
  EXPECT_PRED2(starts_with, request_error(*c, "session.new", {{"cwd", repo}, {"worktree", "a"}, {"from", "--upload-pack=x"}}),
               "bad_params: bad ref");
  EXPECT_PRED2(starts_with, request_error(*c, "session.new", {{"cwd", "/"}, {"worktree", "a"}}), "cwd_not_allowed: ");
  EXPECT_PRED2(starts_with, request_error(*c, "session.new", {{"cwd", repo}, {"worktree", "a"}, {"permission_mode", "yolo"}}),
               "bad_mode: ");
  EXPECT_PRED2(starts_with, request_error(*c, "session.new", {{"cwd", repo}, {"worktree", "a"}, {"prompt", ""}}), "bad_prompt: ");
  EXPECT_FALSE(fs::exists(f.d->project() + "/.ccmux-worktrees")) << "nothing is made for a refused request";
  EXPECT_PRED2(starts_with, request_error(*c, "session.new", {{"cwd", f.d->project() + "/plain"}, {"worktree", "a"}}),
               "not_a_repository: ");
  std::string e = request_error(*c, "session.new", {{"cwd", repo}, {"worktree", "a"}, {"branch", "main"}});
  EXPECT_PRED2(starts_with, e, "git_error: `git -C ");
  EXPECT_NE(e.find("fatal: 'main' is already checked out at"), std::string::npos) << e;
  e = request_error(*c, "session.new", {{"cwd", repo}, {"worktree", "a"}, {"from", "no-such-ref"}});
  EXPECT_PRED2(starts_with, e, "git_error: `git -C ");
  EXPECT_PRED2(starts_with, request_error(*c, "worktree.remove", json::object()), "bad_params: give the worktree's name or its path");
  EXPECT_PRED2(starts_with, request_error(*c, "worktree.remove", {{"name", "a"}, {"path", "/x"}}), "bad_params: give");
  EXPECT_PRED2(starts_with, request_error(*c, "worktree.remove", {{"name", "../../etc"}}), "bad_params: bad worktree name");
  EXPECT_PRED2(starts_with, request_error(*c, "worktree.remove", {{"name", "nope"}}), "not_found: ");
  EXPECT_PRED2(starts_with, request_error(*c, "worktree.list", {{"repo", "/etc"}}), "cwd_not_allowed: ");
  EXPECT_EQ(c->request("worktree.list", json::object())["worktrees"].size(), 0u);
  EXPECT_EQ(c->request("ping")["pong"], true);
  EXPECT_EQ(c->request("session.list")["sessions"].size(), 0u) << "no session was made by a refused request";

  // The working case: made, listed with its session, refused while used, removed once stopped.
  json s = c->request("session.new", {{"cwd", repo}, {"worktree", "ok"}});
  std::string wt = fs::canonical(f.d->project()).string() + "/.ccmux-worktrees/app/ok";
  EXPECT_EQ(s["worktree"], wt);
  EXPECT_EQ(s["cwd"], wt);
  EXPECT_EQ(s["branch"], "ccmux/ok");
  EXPECT_EQ(s["worktree_name"], "ok");
  EXPECT_EQ(s["repo"], fs::canonical(repo).string());
  json l = c->request("worktree.list", json::object());
  ASSERT_EQ(l["worktrees"].size(), 1u) << l.dump();
  EXPECT_EQ(l["worktrees"][0]["session"], s["id"]);
  EXPECT_EQ(l["worktrees"][0]["managed"], true);
  EXPECT_EQ(l["worktrees"][0]["dirty"], false);
  e = request_error(*c, "worktree.remove", {{"name", "ok"}, {"force", true}});
  EXPECT_PRED2(starts_with, e, "worktree_in_use: worktree ok (" + wt + ") is used by session " + s["id"].get<std::string>());
  c->request("session.stop", {{"session", s["id"]}});
  ASSERT_TRUE(wait_state(*c, s["id"], "exited"));
  // Stopped: the same NAME is reused by a new session.
  json s2 = c->request("session.new", {{"cwd", repo}, {"worktree", "ok"}, {"branch", "ccmux/ok"}});
  EXPECT_EQ(s2["worktree"], wt);
  c->request("session.stop", {{"session", s2["id"]}});
  ASSERT_TRUE(wait_state(*c, s2["id"], "exited"));
  json r = c->request("worktree.remove", {{"name", "ok"}});
  EXPECT_EQ(r["path"], wt);
  EXPECT_FALSE(fs::exists(wt));
  EXPECT_EQ(c->request("worktree.list", json::object())["worktrees"].size(), 0u);
  // A worktree whose folder went: prune forgets it (git and the record).
  c->request("session.new", {{"cwd", repo}, {"worktree", "gone"}, {"permission_mode", "plan"}});
  fs::remove_all(fs::canonical(f.d->project()).string() + "/.ccmux-worktrees/app/gone");
  json pruned = c->request("worktree.prune", json::object());
  EXPECT_EQ(pruned["pruned"].size(), 1u) << pruned.dump();
}

TEST(WorktreeStore, AStoreOfSchema4GetsTheWorktreeColumnsAndKeepsItsSessions) {
  test::TempDir t;
  std::string db = t.path + "/db";
  {
    Store s(db);
    SessionRow row;
    row.id = "s-00000001";
    row.cwd = "/old";
    row.claude_session_id = "c";
    row.state = "exited";
    ASSERT_TRUE(s.insert_session(row));
    s.commit();
  }
  // Back to schema 4 as it was: no worktree columns, no worktrees table.
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(db.c_str(), &raw), SQLITE_OK);
  for (const char* sql : {"ALTER TABLE sessions DROP COLUMN repo", "ALTER TABLE sessions DROP COLUMN worktree",
                          "ALTER TABLE sessions DROP COLUMN worktree_name", "ALTER TABLE sessions DROP COLUMN branch",
                          "DROP TABLE worktrees", "PRAGMA user_version=4"})
    ASSERT_EQ(sqlite3_exec(raw, sql, nullptr, nullptr, nullptr), SQLITE_OK) << sql << ": " << sqlite3_errmsg(raw);
  sqlite3_close(raw);

  Store s(db);
  EXPECT_EQ(s.schema_version(), 5);
  auto rows = s.load_sessions();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].cwd, "/old");
  EXPECT_EQ(rows[0].repo, "");
  EXPECT_EQ(rows[0].branch, "");
  rows[0].repo = "/r";
  rows[0].worktree = "/w";
  rows[0].worktree_name = "w";
  rows[0].branch = "b";
  s.upsert_session(rows[0]);
  s.worktree_upsert({"/w", "/r", "w", "b", 1});
  s.commit();
  auto again = s.load_sessions();
  EXPECT_EQ(again[0].worktree, "/w");
  EXPECT_EQ(again[0].branch, "b");
  ASSERT_EQ(s.worktree_list().size(), 1u);
  EXPECT_EQ(s.worktree_list()[0].repo, "/r");
  EXPECT_TRUE(s.worktree_delete("/w"));
  EXPECT_TRUE(s.worktree_list().empty());
}

TEST(WorktreeMethods, ASlowGitDoesNotHoldUpTheDaemon) {
  test::FakeDaemon f;
  std::string repo = f.d->project() + "/slow";
  fs::create_directories(repo);
  git(repo, {"init", "-q", "-b", "main"});
  git(repo, {"commit", "-q", "--allow-empty", "-m", "first"});
  // git runs the post-checkout hook inside `git worktree add`: here a checkout that takes 2 s.
  test::write_file(repo + "/.git/hooks/post-checkout", "#!/bin/sh\nsleep 2\n");
  fs::permissions(repo + "/.git/hooks/post-checkout", fs::perms::owner_all);
  auto a = f.d->connect();
  auto b = f.d->connect();
  std::atomic<bool> made{false};
  double took_new = 0;
  std::thread slow([&] {
    auto t0 = std::chrono::steady_clock::now();
    a->request("session.new", {{"cwd", repo}, {"worktree", "slow-1"}});
    took_new = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    made = true;
  });
  // While git checks out, the daemon answers others at once.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  int answered_meanwhile = 0;
  double slowest = 0;
  while (!made) {
    auto t0 = std::chrono::steady_clock::now();
    b->request("session.list");
    slowest = std::max(slowest, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    if (!made) ++answered_meanwhile;
  }
  slow.join();
  EXPECT_GE(took_new, 2.0) << "the hook ran inside session.new";
  EXPECT_GT(answered_meanwhile, 5);
  EXPECT_LT(slowest, 0.5) << "a request waited for git";
  std::cout << "session.new with a 2 s checkout took " << took_new << " s; " << answered_meanwhile
            << " session.list answered meanwhile, slowest " << slowest * 1000 << " ms\n";
}

// The gitlab plugin's flow parts without a daemon: the trigger word, the config, the texts
// (prompts and notes, bounded), and the git publication against a real local bare repository.
#include "flow_config.h"
#include "git_ops.h"
#include "render.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

using namespace ccmux::gitlab;
using nlohmann::json;
namespace fs = std::filesystem;

TEST(GitLabTrigger, FindsTheRequestAfterAStandaloneTriggerWord) {
  EXPECT_EQ(*request_after_trigger("@ccmux fix the typo", "@ccmux"), "fix the typo");
  EXPECT_EQ(*request_after_trigger("Hi! @ccmux: please add tests\n\nthanks", "@ccmux"), "please add tests\n\nthanks");
  EXPECT_EQ(*request_after_trigger("@ccmux", "@ccmux"), "");
  EXPECT_FALSE(request_after_trigger("@ccmuxbot fix it", "@ccmux"));
  EXPECT_FALSE(request_after_trigger("mail me@ccmux fix", "@ccmux"));
  EXPECT_FALSE(request_after_trigger("no mention here", "@ccmux"));
  EXPECT_EQ(*request_after_trigger("ask @ccmuxbot, or @ccmux do it", "@ccmux"), "do it");
  EXPECT_FALSE(request_after_trigger("> @ccmux fix the typo\n\nI agree", "@ccmux")) << "a quoted request is not a new one";
  EXPECT_EQ(*request_after_trigger("> @ccmux fix the typo\n@ccmux and the other one", "@ccmux"), "and the other one");
}

TEST(GitLabConfig, ReadsProjectsWithTheirOverrides) {
  json cfg = {{"projects", {{"group/app", "/src/app"}, {"42", "/src/other"}}},
              {"models", {{"group/app", "opus"}}},
              {"model", "sonnet"},
              {"permission_modes", {{"42", "plan"}}},
              {"pipeline_fix", {"42"}},
              {"allowed_users", {"alice"}},
              {"on_refused", "ignore"},
              {"push", true},
              {"page_url", "https://box:8420/"}};
  FlowConfig c = FlowConfig::from_json(cfg);
  ASSERT_EQ(c.projects.size(), 2u);
  const ProjectConfig* app = c.find(0, "group/app");
  ASSERT_TRUE(app);
  EXPECT_EQ(app->clone, "/src/app");
  EXPECT_EQ(app->model, "opus");
  EXPECT_FALSE(app->pipeline_fix);
  const ProjectConfig* other = c.find(42, "someone/else");
  ASSERT_TRUE(other);
  EXPECT_EQ(other->model, "sonnet");
  EXPECT_EQ(other->permission_mode, "plan");
  EXPECT_TRUE(other->pipeline_fix);
  EXPECT_FALSE(c.find(7, "x/y"));
  EXPECT_FALSE(c.refuse_with_note);
  EXPECT_TRUE(c.push);
  EXPECT_EQ(c.page_url, "https://box:8420");
  EXPECT_EQ(c.trigger, "@ccmux");
}

TEST(GitLabConfig, RefusesWhatWouldMisbehave) {
  auto error_of = [](const json& cfg) {
    try {
      FlowConfig::from_json(cfg);
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  json ok = {{"projects", {{"g/a", "/src/a"}}}, {"allowed_users", {"alice"}}};
  EXPECT_EQ(error_of(ok), "");
  json none = ok;
  none.erase("allowed_users");
  EXPECT_NE(error_of(none).find("allowed_users"), std::string::npos) << "nobody allowed must be a start error";
  json relative = ok;
  relative["projects"]["g/a"] = "src/a";
  EXPECT_NE(error_of(relative).find("absolute"), std::string::npos);
  json stray = ok;
  stray["pipeline_fix"] = {"g/b"};
  EXPECT_NE(error_of(stray).find("g/b"), std::string::npos);
  json empty = ok;
  empty["projects"] = json::object();
  EXPECT_NE(error_of(empty).find("projects"), std::string::npos);
  json spaced = ok;
  spaced["trigger"] = "hey you";
  EXPECT_NE(error_of(spaced).find("trigger"), std::string::npos);
}

TEST(GitLabRender, MrContextIsBoundedAndNamesTheFiles) {
  MrChanges ch;
  ch.mr.iid = 7;
  ch.mr.title = "Add a parser";
  ch.mr.source_branch = "feature/parser";
  ch.mr.target_branch = "main";
  ch.mr.description = std::string(50000, 'd');
  FileChange f;
  f.new_path = "src/parser.cpp";
  f.new_file = true;
  f.diff = "@@ -0,0 +1,2 @@\n+int a;\n+int b;\n";
  ch.files.push_back(f);
  FileChange big;
  big.old_path = big.new_path = "huge.txt";
  for (int i = 0; i < 5000; ++i) big.diff += "-old line " + std::to_string(i) + "\n+new ```line``` " + std::to_string(i) + "\n";
  ch.files.push_back(big);
  std::string c = mr_context(ch);
  EXPECT_NE(c.find("merge request !7 \"Add a parser\""), std::string::npos);
  EXPECT_NE(c.find("`feature/parser` into `main`"), std::string::npos);
  EXPECT_NE(c.find("- src/parser.cpp (new) +2 -0"), std::string::npos) << c.substr(0, 6000);
  EXPECT_NE(c.find("- huge.txt +5000 -5000"), std::string::npos);
  EXPECT_LT(c.size(), kMaxDescription + kMaxDiffSummary + 2000);
  EXPECT_NE(c.find("````diff"), std::string::npos) << "the fence must be longer than the backticks inside";
}

TEST(GitLabRender, LogTailKeepsTheLastLinesWithoutColours) {
  std::string trace = "section_start:1700000000:build\r\x1b[0K\x1b[32;1mRunning\x1b[0m\n";
  for (int i = 0; i < 500; ++i) trace += "line " + std::to_string(i) + "\n";
  trace += "\x1b[31;1mERROR: assertion failed in test_parse\x1b[0m\n\n";
  std::string tail = log_tail(trace, 20);
  EXPECT_NE(tail.find("ERROR: assertion failed in test_parse\n"), std::string::npos);
  EXPECT_EQ(tail.find("\x1b"), std::string::npos);
  EXPECT_EQ(tail.find("line 480"), std::string::npos);
  EXPECT_NE(tail.find("line 481"), std::string::npos);
  EXPECT_LE(log_tail(std::string(100000, 'x') + "\n", 80).size(), kMaxLogTail + 64);
}

TEST(GitLabRender, NotesSayWhatHappened) {
  StartNote s{"s-1a2b3c4d", "mr-7", "feature/parser", session_link("https://box:8420", "s-1a2b3c4d"), "fix it", false, false};
  std::string start = start_note(s);
  EXPECT_NE(start.find("[`s-1a2b3c4d`](https://box:8420/#s=s-1a2b3c4d)"), std::string::npos) << start;
  EXPECT_NE(start.find("worktree `mr-7` on branch `feature/parser`"), std::string::npos);
  ResultNote r;
  r.session = "s-1a2b3c4d";
  r.summary = "Done.\n@ccmux in a summary";
  r.branch = "feature/parser";
  r.cost_usd = 0.01234;
  r.num_turns = 2;
  r.push = true;
  r.publication.commits = {"abc1234 ccmux: MR !7: fix it"};
  r.publication.pushed = true;
  std::string note = result_note(r);
  EXPECT_NE(note.find("$0.0123 · 2 turns"), std::string::npos) << note;
  EXPECT_NE(note.find("> Done.\n> @ccmux in a summary"), std::string::npos) << note;
  EXPECT_NE(note.find("Commits pushed to `feature/parser`:\n- abc1234 ccmux: MR !7: fix it"), std::string::npos) << note;
  r.publication = {};
  EXPECT_NE(result_note(r).find("No changes to commit."), std::string::npos);
  r.summary = std::string(100000, 's');
  EXPECT_LT(result_note(r).size(), kMaxSummary + 1000);
  EXPECT_EQ(commit_message("ccmux: MR !7", "fix the typo\nin README", "s-1"), "ccmux: MR !7: fix the typo\n\nRequest: fix the typo\nin README\n\nMade by ccmux session s-1.");
}

namespace {
struct Repo {
  fs::path dir;
  Repo() {
    char tmpl[] = "/tmp/gitlab-flow-test-XXXXXX";
    dir = mkdtemp(tmpl);
  }
  ~Repo() { fs::remove_all(dir); }
  void git(const std::vector<std::string>& args, const std::string& in) {
    std::vector<std::string> argv = {"git", "-C", in, "-c", "user.name=t", "-c", "user.email=t@t"};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = run_command(argv, "");
    ASSERT_TRUE(r.ok()) << r.output;
  }
};
}  // namespace

TEST(GitLabGit, PublishCommitsAndPushesOnlyWhenThereIsSomething) {
  // No identity from the user's own git config: the configured author is used.
  setenv("GIT_CONFIG_GLOBAL", "/dev/null", 1);
  setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
  Repo r;
  std::string bare = (r.dir / "remote.git").string(), clone = (r.dir / "clone").string();
  ASSERT_TRUE(run_command({"git", "init", "-q", "--bare", "-b", "main", bare}, "").ok());
  ASSERT_TRUE(run_command({"git", "clone", "-q", bare, clone}, "").ok());
  std::ofstream(clone + "/README") << "hi\n";
  r.git({"add", "-A"}, clone);
  r.git({"commit", "-qm", "first"}, clone);
  r.git({"push", "-q", "origin", "HEAD:refs/heads/feature"}, clone);
  r.git({"checkout", "-q", "-b", "feature", "--track", "origin/feature"}, clone);
  Git git("Bot <bot@example.org>");
  Publication none = git.publish(clone, "nothing", "feature", true);
  EXPECT_TRUE(none.error.empty()) << none.error;
  EXPECT_FALSE(none.changed);
  EXPECT_TRUE(none.commits.empty());
  std::ofstream(clone + "/fix.txt") << "fixed\n";
  Publication p = git.publish(clone, "ccmux: MR !1: fix\n\nbody", "feature", true);
  ASSERT_TRUE(p.error.empty()) << p.error;
  EXPECT_TRUE(p.changed);
  EXPECT_TRUE(p.pushed);
  ASSERT_EQ(p.commits.size(), 1u);
  EXPECT_NE(p.commits[0].find("ccmux: MR !1: fix"), std::string::npos);
  auto log = run_command({"git", "-C", bare, "log", "--format=%an <%ae>|%s", "-n", "1", "feature"}, "");
  EXPECT_EQ(log.output, "Bot <bot@example.org>|ccmux: MR !1: fix\n") << "the clone had no identity: the configured one";
  // Without push the commit stays local and is still listed.
  std::ofstream(clone + "/more.txt") << "more\n";
  Publication local = git.publish(clone, "more", "feature", false);
  EXPECT_TRUE(local.changed);
  EXPECT_FALSE(local.pushed);
  EXPECT_EQ(local.commits.size(), 1u);
  // A push git refuses comes back naming the command.
  r.git({"commit", "-q", "--allow-empty", "-m", "diverge"}, clone);
  fs::remove_all(bare);
  Publication broken = git.publish(clone, "x", "feature", true);
  EXPECT_FALSE(broken.pushed);
  EXPECT_NE(broken.error.find("git push origin HEAD:refs/heads/feature failed"), std::string::npos) << broken.error;
}

TEST(GitLabGit, FetchErrorsNameTheCommandAndTheClone) {
  Git git;
  std::string e = git.fetch("/nonexistent/clone");
  EXPECT_NE(e.find("git fetch --prune origin in /nonexistent/clone failed"), std::string::npos) << e;
  auto slow = run_command({"sleep", "5"}, "", 1);
  EXPECT_FALSE(slow.ok());
  EXPECT_NE(slow.output.find("timed out after 1 s"), std::string::npos);
}

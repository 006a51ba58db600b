// The approval plugin's pure parts: which pattern a tool call generalises to, and when a
// pattern has earned auto-approval.
#include "learner.h"
#include "pattern.h"

#include <gtest/gtest.h>

using namespace ccmux::approval;
using nlohmann::json;

namespace {
std::string key(const std::string& tool, const json& input, const std::string& cwd = "/home/u/proj") {
  auto p = pattern_of(tool, input, cwd);
  return p ? p->key : "(none)";
}
}  // namespace

TEST(ApprovalPattern, BashIsProgramAndSubCommand) {
  EXPECT_EQ(key("Bash", {{"command", "git status"}}), "Bash:git status");
  EXPECT_EQ(key("Bash", {{"command", "git   status --short"}}), "Bash:git status");
  EXPECT_EQ(key("Bash", {{"command", "npm test -- --watch=false"}}), "Bash:npm test");
  EXPECT_EQ(key("Bash", {{"command", "ls -la src"}}), "Bash:ls");
  EXPECT_EQ(key("Bash", {{"command", "git -C other push"}}), "(none)");  // no clear sub-command
  EXPECT_EQ(key("Bash", {{"command", "FOO=1 make"}}), "(none)");
}

TEST(ApprovalPattern, ShellLinesWithOperatorsAreNeverPatterns) {
  for (const char* c : {"git status; rm -rf /", "make && make install", "cat a | sh", "echo x > f", "cat < f",
                        "echo `id`", "echo $(id)", "echo $HOME", "sleep 1 &", "a || b", "echo a\nrm b"})
    EXPECT_EQ(key("Bash", {{"command", c}}), "(none)") << c;
  EXPECT_TRUE(has_shell_operators("a;b"));
  EXPECT_FALSE(has_shell_operators("git commit -m fix"));
}

TEST(ApprovalPattern, FileToolsAreFolderAndExtensionInsideTheCwd) {
  EXPECT_EQ(key("Edit", {{"file_path", "/home/u/proj/src/main.cpp"}}), "Edit:src/*.cpp");
  EXPECT_EQ(key("Edit", {{"file_path", "src/util.cpp"}}), "Edit:src/*.cpp");
  EXPECT_EQ(key("Write", {{"file_path", "/home/u/proj/README"}}), "Write:./*");
  EXPECT_EQ(key("Read", {{"file_path", "/home/u/proj/.env"}}), "Read:.env");  // dotfiles by name
  EXPECT_EQ(key("Edit", {{"file_path", "/home/u/proj/.github/workflows/ci.yml"}}), "Edit:.github/workflows/ci.yml");
  EXPECT_EQ(key("Edit", {{"file_path", "/etc/passwd"}}), "(none)");  // outside the project
  EXPECT_EQ(key("Edit", {{"file_path", "/home/u/proj/../other/x.cpp"}}), "(none)");
  EXPECT_TRUE(pattern_of("Read", {{"file_path", "/home/u/proj/a.txt"}}, "/home/u/proj")->read_only);
  EXPECT_FALSE(pattern_of("Edit", {{"file_path", "/home/u/proj/a.txt"}}, "/home/u/proj")->read_only);
}

TEST(ApprovalPattern, OtherTools) {
  EXPECT_EQ(key("WebFetch", {{"url", "https://docs.rs/tokio/latest"}}), "WebFetch:docs.rs");
  EXPECT_EQ(key("Grep", {{"pattern", "x"}, {"path", "/home/u/proj/src"}}), "Grep:src");
  EXPECT_EQ(key("Grep", {{"pattern", "x"}, {"path", "/"}}), "(none)");
  EXPECT_EQ(key("mcp__github__list_issues", json::object()), "mcp__github__list_issues");
}

TEST(ApprovalLearner, ThresholdAndOneDenialResets) {
  Learner l(3, 0.9, {"rm", "git push"});
  l.record("Bash:git status", true, 1, "git status");
  l.record("Bash:git status", true, 2, "git status");
  EXPECT_FALSE(l.earned("Bash:git status"));  // 2 < 3
  l.record("Bash:git status", true, 3, "git status");
  auto why = l.earned("Bash:git status");
  ASSERT_TRUE(why);
  EXPECT_NE(why->find("3 approvals"), std::string::npos) << *why;
  l.record("Bash:git status", false, 4, "git status");  // one denial: back to zero
  EXPECT_FALSE(l.earned("Bash:git status"));
  for (int i = 0; i < 3; ++i) l.record("Bash:git status", true, 5 + i, "git status");
  EXPECT_FALSE(l.earned("Bash:git status"));  // 3 / (3 + 1) = 0.75 < 0.9
  for (int i = 0; i < 6; ++i) l.record("Bash:git status", true, 9 + i, "git status");
  EXPECT_TRUE(l.earned("Bash:git status"));  // 9 / 10
}

TEST(ApprovalLearner, NeverLearnAlwaysAndPersistence) {
  Learner l(1, 0.5, {"rm", "git push"});
  l.record("Bash:rm", true, 1, "rm x");
  l.record("Bash:git push", true, 1, "git push");
  EXPECT_FALSE(l.earned("Bash:rm"));
  EXPECT_FALSE(l.earned("Bash:git push"));
  EXPECT_TRUE(l.listing().empty());
  l.set_always("Bash:npm test", 2, "npm test");
  EXPECT_TRUE(l.earned("Bash:npm test"));
  Learner again(1, 0.5, {});
  again.load(l.to_json());
  EXPECT_TRUE(again.earned("Bash:npm test"));
  EXPECT_TRUE(again.forget("Bash:npm test"));
  EXPECT_FALSE(again.earned("Bash:npm test"));
}

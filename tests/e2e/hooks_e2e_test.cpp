// Claude Code hooks for sessions started by hand: `ccmux hooks install|uninstall` on a
// settings file that already has hooks, and a real hand-started claude whose tool calls go
// through `ccmux hook` to the Lua policies and to a human on another client.
#include "e2e.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <set>
#include <thread>

using namespace ccmux;
using namespace ccmux::test;
namespace fs = std::filesystem;

namespace {

const char* kUserSettings = R"JSON({
    "model": "opus",
    "hooks": {
        "PreToolUse": [
            {"matcher": "Bash", "hooks": [{"type": "command", "command": "/usr/local/bin/audit.sh"}]}
        ],
        "Stop": [{"hooks": [{"type": "command", "command": "notify-send done"}]}]
    },
    "permissions": {"allow": ["Bash(git status)"]}
}
)JSON";

int hooks_cli(const std::string& home, const std::vector<std::string>& args, std::string* out) {
  std::vector<std::string> argv = {ccmux_bin(), "hooks"};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command(argv, out, {"HOME=" + home});
}

// The ~/.claude/settings.json of a user who already has hooks of their own; returns its path.
std::string user_settings(const TempDir& home) {
  std::string path = home.path + "/.claude/settings.json";
  write_file(path, kUserSettings);  // creates ~/.claude
  return path;
}

unsigned mode_of(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 ? st.st_mode & 07777 : 0xffff;
}

// Files left behind in `dir` by an interrupted write.
std::vector<std::string> temporaries(const std::string& dir) {
  std::vector<std::string> left;
  for (auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().find("ccmux-tmp") != std::string::npos) left.push_back(e.path().string());
  return left;
}

// Makes writes to `path` (a file or a folder) fail: `chattr +i` where we may (root), else
// mode 0555 (which root ignores). Undone when it goes out of scope, so TempDir can clean up.
struct Unwritable {
  std::string path, how;
  fs::perms before{};
  explicit Unwritable(const std::string& p) : path(p) {
    std::string out;
    if (run_command({"/bin/sh", "-c", "chattr +i \"$0\" 2>&1", path}, &out) == 0) {
      how = "chattr +i";
      return;
    }
    before = fs::status(path).permissions();
    fs::permissions(path, fs::perms::owner_read | fs::perms::owner_exec | fs::perms::group_read |
                              fs::perms::group_exec | fs::perms::others_read | fs::perms::others_exec);
    if (access(path.c_str(), W_OK) != 0) how = "mode 0555";
  }
  ~Unwritable() {
    std::string out;
    if (how == "chattr +i") run_command({"/bin/sh", "-c", "chattr -i \"$0\"", path}, &out);
    else fs::permissions(path, before);
  }
  bool works() const { return !how.empty(); }
};

// A settings file `hooks install` and `uninstall` must both refuse, leaving everything as it was.
void expect_refused(const TempDir& home, const std::string& settings, const std::string& error_part) {
  std::string before = read_file(settings), out;
  for (const char* cmd : {"install", "uninstall", "status"}) {
    EXPECT_NE(hooks_cli(home.path, {cmd}, &out), 0) << cmd << ": " << out;
    EXPECT_NE(out.find(error_part), std::string::npos) << cmd << ": " << out;
    EXPECT_NE(out.find(settings), std::string::npos) << cmd << " names the file: " << out;
    EXPECT_EQ(read_file(settings), before) << cmd;
  }
  EXPECT_FALSE(fs::exists(settings + ".ccmux-backup"));
  EXPECT_FALSE(fs::exists(settings + ".ccmux-state"));
  EXPECT_TRUE(temporaries(fs::path(settings).parent_path()).empty());
}

}  // namespace

TEST(Hooks, InstallIsIdempotentAndUninstallRestoresTheFileByteForByte) {
  TempDir t;
  std::string settings = user_settings(t);
  std::string out;
  ASSERT_EQ(hooks_cli(t.path, {"install"}, &out), 0) << out;
  json s = json::parse(read_file(settings));
  EXPECT_EQ(s["model"], "opus");
  EXPECT_EQ(s["permissions"]["allow"][0], "Bash(git status)");
  EXPECT_EQ(s["hooks"]["PreToolUse"][0]["hooks"][0]["command"], "/usr/local/bin/audit.sh");  // theirs first, untouched
  // The lean ccmux-hook installed beside ccmux is what claude will start.
  EXPECT_EQ(s["hooks"]["PreToolUse"][1]["hooks"][0]["command"],
            fs::canonical(fs::path(ccmux_bin()).parent_path() / "ccmux-hook").string());
  EXPECT_NE(s["hooks"]["PermissionRequest"][0]["hooks"][0]["command"].get<std::string>().find("hook --wait 30"), std::string::npos);
  for (const char* ev : {"UserPromptSubmit", "Notification", "Stop", "SessionStart", "SessionEnd"})
    EXPECT_TRUE(s["hooks"].contains(ev)) << ev;
  EXPECT_EQ(s["hooks"]["Stop"][0]["hooks"][0]["command"], "notify-send done");
  EXPECT_TRUE(fs::exists(settings + ".ccmux-backup"));
  std::string installed = read_file(settings);
  ASSERT_EQ(hooks_cli(t.path, {"install"}, &out), 0);
  EXPECT_NE(out.find("already installed"), std::string::npos) << out;
  EXPECT_EQ(read_file(settings), installed);  // idempotent
  EXPECT_EQ(hooks_cli(t.path, {"status"}, &out), 0) << out;
  EXPECT_NE(out.find("7/7 hooks"), std::string::npos) << out;
  ASSERT_EQ(hooks_cli(t.path, {"uninstall"}, &out), 0) << out;
  EXPECT_EQ(read_file(settings), kUserSettings);  // byte for byte
  EXPECT_FALSE(fs::exists(settings + ".ccmux-backup"));
}

TEST(Hooks, StatusNamesACcmuxHookUnderAnUnknownEventAndUninstallRemovesIt) {
  TempDir t;
  std::string settings = t.path + "/.claude/settings.json";
  write_file(settings, R"({"model":"opus","hooks":{"PreT.oolUse":[{"hooks":[{"type":"command","command":"/usr/bin/ccmux-hook"}]}]}})");
  std::string out;
  EXPECT_EQ(hooks_cli(t.path, {"status"}, &out), 1) << out;
  EXPECT_NE(out.find("stray      PreT.oolUse"), std::string::npos) << out;
  ASSERT_EQ(hooks_cli(t.path, {"uninstall"}, &out), 0) << out;
  EXPECT_EQ(json::parse(read_file(settings)), json::parse(R"({"model":"opus"})"));
  EXPECT_EQ(hooks_cli(t.path, {"status"}, &out), 1) << out;
  EXPECT_EQ(out.find("stray"), std::string::npos) << out;
}

TEST(Hooks, UninstallKeepsChangesMadeSinceInstallAndRemovesOnlyOurs) {
  TempDir t;
  std::string settings = user_settings(t);
  std::string out;
  ASSERT_EQ(hooks_cli(t.path, {"install"}, &out), 0) << out;
  json s = json::parse(read_file(settings));
  s["theme"] = "dark";  // the user (or claude) changed something meanwhile
  s["hooks"]["PreToolUse"].push_back({{"matcher", "Edit"}, {"hooks", {{{"type", "command"}, {"command", "lint.sh"}}}}});
  write_file(settings, s.dump(2));
  ASSERT_EQ(hooks_cli(t.path, {"uninstall"}, &out), 0) << out;
  json after = json::parse(read_file(settings));
  EXPECT_EQ(after["theme"], "dark");
  EXPECT_EQ(after["model"], "opus");
  ASSERT_EQ(after["hooks"]["PreToolUse"].size(), 2u);
  EXPECT_EQ(after["hooks"]["PreToolUse"][0]["hooks"][0]["command"], "/usr/local/bin/audit.sh");
  EXPECT_EQ(after["hooks"]["PreToolUse"][1]["hooks"][0]["command"], "lint.sh");
  EXPECT_FALSE(after["hooks"].contains("PermissionRequest"));
  EXPECT_FALSE(after["hooks"].contains("SessionEnd"));
  EXPECT_EQ(read_file(settings).find("ccmux-hook"), std::string::npos);
  // No settings file at all before: install creates it, uninstall removes it again.
  TempDir fresh;
  ASSERT_EQ(hooks_cli(fresh.path, {"install", "--project", fresh.path + "/proj"}, &out), 0) << out;
  EXPECT_TRUE(fs::exists(fresh.path + "/proj/.claude/settings.json"));
  ASSERT_EQ(hooks_cli(fresh.path, {"uninstall", "--project", fresh.path + "/proj"}, &out), 0) << out;
  EXPECT_FALSE(fs::exists(fresh.path + "/proj/.claude/settings.json"));
}

TEST(Hooks, HookStaysOutOfTheWayWhenCcmuxdIsNotRunning) {
  std::string lean = (fs::path(ccmux_bin()).parent_path() / "ccmux-hook").string();
  for (const std::string& hook : {ccmux_bin() + " hook", lean, lean + " --bad-flag"}) {
    std::string out;
    auto t0 = std::chrono::steady_clock::now();
    int rc = run_command({"/bin/sh", "-c",
                          "echo '{\"session_id\":\"x\",\"hook_event_name\":\"PreToolUse\",\"tool_name\":\"Bash\"}' | " +
                              hook + " 2>/dev/null"},
                         &out, {"CCMUX_DAEMON_SOCKET=/nonexistent/ccmuxd.sock"});
    EXPECT_EQ(rc, 0) << hook;
    EXPECT_EQ(out, "") << hook;  // no decision: claude goes on as without hooks
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(1)) << hook;
  }
}

TEST(Hooks, WithoutCcmuxHookBesideItInstallWritesCcmuxHookAndUninstallFindsBoth) {
  TempDir t;
  fs::copy_file(ccmux_bin(), t.path + "/ccmux");  // a ccmux alone in its folder
  fs::permissions(t.path + "/ccmux", fs::perms::owner_all);
  std::string settings = t.path + "/.claude/settings.json";
  std::string out;
  ASSERT_EQ(run_command({t.path + "/ccmux", "hooks", "install"}, &out, {"HOME=" + t.path}), 0) << out;
  json s = json::parse(read_file(settings));
  EXPECT_EQ(s["hooks"]["PreToolUse"][0]["hooks"][0]["command"], t.path + "/ccmux hook");
  EXPECT_EQ(s["hooks"]["PermissionRequest"][0]["hooks"][0]["command"], t.path + "/ccmux hook --wait 30");
  // Installing with ccmux-hook available replaces those entries instead of adding more.
  ASSERT_EQ(hooks_cli(t.path, {"install"}, &out), 0) << out;
  s = json::parse(read_file(settings));
  ASSERT_EQ(s["hooks"]["PreToolUse"].size(), 1u) << s.dump(2);
  EXPECT_NE(s["hooks"]["PreToolUse"][0]["hooks"][0]["command"].get<std::string>().find("ccmux-hook"), std::string::npos);
  ASSERT_EQ(hooks_cli(t.path, {"uninstall"}, &out), 0) << out;
  EXPECT_FALSE(fs::exists(settings)) << read_file(settings);
}

// ---- the user's settings file: never exposed, emptied, half-written or crashed on ----

TEST(HooksSettingsFile, ASymlinkedSettingsFileIsWrittenThroughAndKeepsItsMode) {
  TempDir t;
  std::string target = t.path + "/dotfiles/claude-settings.json", link = t.path + "/.claude/settings.json";
  write_file(target, kUserSettings);
  fs::permissions(target, fs::perms::owner_read | fs::perms::owner_write);  // 0600: it holds secrets
  fs::create_directories(t.path + "/.claude");
  fs::create_symlink("../dotfiles/claude-settings.json", link);
  std::string out;
  ASSERT_EQ(hooks_cli(t.path, {"install"}, &out), 0) << out;
  ASSERT_TRUE(fs::is_symlink(link)) << "the link was replaced by a copy";
  EXPECT_EQ(fs::read_symlink(link), "../dotfiles/claude-settings.json");
  EXPECT_NE(read_file(target).find("ccmux-hook"), std::string::npos);
  EXPECT_EQ(mode_of(target), 0600u);
  EXPECT_EQ(read_file(link + ".ccmux-backup"), kUserSettings);
  EXPECT_EQ(mode_of(link + ".ccmux-backup"), 0600u) << "the backup is as private as the original";
  EXPECT_EQ(mode_of(link + ".ccmux-state") & 077, 0u);
  EXPECT_TRUE(temporaries(t.path + "/.claude").empty());
  EXPECT_TRUE(temporaries(t.path + "/dotfiles").empty());
  ASSERT_EQ(hooks_cli(t.path, {"uninstall"}, &out), 0) << out;
  ASSERT_TRUE(fs::is_symlink(link));
  EXPECT_EQ(read_file(target), kUserSettings);
  EXPECT_EQ(mode_of(target), 0600u);
  EXPECT_FALSE(fs::exists(link + ".ccmux-backup"));
}

TEST(HooksSettingsFile, AReadOnlySettingsFileKeepsItsModeAndOwner) {
  TempDir t;
  std::string settings = user_settings(t);
  fs::permissions(settings, fs::perms::owner_read);  // 0400
  bool root = geteuid() == 0;
  if (root) {
    ASSERT_EQ(chown(settings.c_str(), 4242, 4343), 0);  // someone else's file, edited by root
  }
  std::string out;
  ASSERT_EQ(hooks_cli(t.path, {"install"}, &out), 0) << out;
  struct stat st {}, bst {};
  ASSERT_EQ(stat(settings.c_str(), &st), 0);
  ASSERT_EQ(stat((settings + ".ccmux-backup").c_str(), &bst), 0);
  EXPECT_EQ(st.st_mode & 07777, 0400u);
  EXPECT_EQ(bst.st_mode & 07777, 0400u);
  if (root) {
    EXPECT_EQ(st.st_uid, 4242u);
    EXPECT_EQ(st.st_gid, 4343u);
    EXPECT_EQ(bst.st_uid, 4242u);
    EXPECT_EQ(bst.st_gid, 4343u);
  }
  ASSERT_EQ(hooks_cli(t.path, {"uninstall"}, &out), 0) << out;
  ASSERT_EQ(stat(settings.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0400u);
  if (root) {
    EXPECT_EQ(st.st_uid, 4242u);
  }
  EXPECT_EQ(read_file(settings), kUserSettings);
}

TEST(HooksSettingsFile, UninstallWithoutTheBackupRemovesOnlyOurEntriesAndNeverEmptiesTheFile) {
  for (std::string damage : {"deleted", "emptied", "edited"}) {
    TempDir t;
    std::string settings = user_settings(t), out;
    ASSERT_EQ(hooks_cli(t.path, {"install"}, &out), 0) << out;
    if (damage == "deleted") fs::remove(settings + ".ccmux-backup");
    if (damage == "emptied") write_file(settings + ".ccmux-backup", "");
    if (damage == "edited") write_file(settings + ".ccmux-backup", "{\"model\": \"haiku\"}");
    ASSERT_EQ(hooks_cli(t.path, {"uninstall"}, &out), 0) << damage << ": " << out;
    EXPECT_NE(out.find("only ccmux's entries"), std::string::npos) << damage << ": " << out;
    std::string text = read_file(settings);
    ASSERT_FALSE(text.empty()) << damage;
    EXPECT_EQ(json::parse(text), json::parse(kUserSettings)) << damage << ": " << text;
  }
}

TEST(HooksSettingsFile, AFailedReplaceLeavesTheOriginalAndNoTemporaryBehind) {
  TempDir t;
  std::string settings = user_settings(t), out;
  // An immutable settings.json (root can chattr); else a read-only ~/.claude (non-root).
  Unwritable lock(geteuid() == 0 ? settings : t.path + "/.claude");
  if (!lock.works()) GTEST_SKIP() << "cannot make a file unwritable here";
  EXPECT_NE(hooks_cli(t.path, {"install"}, &out), 0) << lock.how << ": " << out;
  EXPECT_NE(out.find(settings), std::string::npos) << out;
  EXPECT_NE(out.find(geteuid() == 0 ? "Operation not permitted" : "Permission denied"), std::string::npos) << out;
  EXPECT_EQ(read_file(settings), kUserSettings);
  EXPECT_TRUE(temporaries(t.path + "/.claude").empty()) << lock.how;
  EXPECT_FALSE(fs::exists(settings + ".ccmux-backup")) << "a failed install leaves nothing of its own";
  EXPECT_FALSE(fs::exists(settings + ".ccmux-state"));
}

TEST(HooksSettingsFile, ASymlinkIntoAReadOnlyFolderFailsCleanlyAndUndoesTheBackup) {
  TempDir t;
  std::string target = t.path + "/ro/settings.json", link = t.path + "/.claude/settings.json", out;
  write_file(target, kUserSettings);
  fs::create_directories(t.path + "/.claude");
  fs::create_symlink(target, link);
  Unwritable lock(t.path + "/ro");  // the temp file goes beside the target: it cannot be made
  if (!lock.works()) GTEST_SKIP() << "cannot make a folder unwritable here";
  EXPECT_NE(hooks_cli(t.path, {"install"}, &out), 0) << lock.how << ": " << out;
  EXPECT_NE(out.find(t.path + "/ro"), std::string::npos) << out;
  EXPECT_EQ(read_file(target), kUserSettings);
  EXPECT_TRUE(fs::is_symlink(link));
  EXPECT_FALSE(fs::exists(link + ".ccmux-backup"));
  EXPECT_FALSE(fs::exists(link + ".ccmux-state"));
  EXPECT_TRUE(temporaries(t.path + "/.claude").empty());
  EXPECT_TRUE(temporaries(t.path + "/ro").empty());
}

TEST(HooksSettingsFile, InvalidJsonIsNeverOverwrittenAndTheErrorGivesThePosition) {
  TempDir t;
  std::string settings = t.path + "/.claude/settings.json";
  write_file(settings, "{\n  \"model\": \"opus\",\n  \"hooks\": {,}\n}\n");
  expect_refused(t, settings, "line 3, column 13");
  write_file(settings, "{\"model\": \"op\xff\xfe us\"}");  // not UTF-8
  expect_refused(t, settings, "UTF-8");
  write_file(settings, "[1, 2]");
  expect_refused(t, settings, "not a JSON object");
}

TEST(HooksSettingsFile, UnexpectedTypesInHooksGetAClearErrorNotARewrite) {
  TempDir t;
  std::string settings = t.path + "/.claude/settings.json";
  write_file(settings, R"({"model": "opus", "hooks": 5})");
  expect_refused(t, settings, "\"hooks\" is a number, expected an object");
  write_file(settings, R"({"hooks": {"PreToolUse": {}}})");
  expect_refused(t, settings, "\"hooks.PreToolUse\" is an object, expected a list");
  write_file(settings, R"({"hooks": {"Stop": ["notify-send"]}})");
  expect_refused(t, settings, "\"hooks.Stop[0]\" is a string, expected an object");
  write_file(settings, R"({"hooks": {"Stop": [{"hooks": {"command": "x"}}]}})");
  expect_refused(t, settings, "\"hooks.Stop[0].hooks\" is an object, expected a list");
}

TEST(HooksSettingsFile, DeeplyNestedJsonIsRefusedInsteadOfOverflowingTheStack) {
  TempDir t;
  std::string settings = t.path + "/.claude/settings.json";
  write_file(settings, "{\"x\": " + std::string(100000, '[') + std::string(100000, ']') + "}");
  expect_refused(t, settings, "nested deeper than 128 levels at line 1, column 134");
  // Deep but sane nesting is the user's business: kept as it was.
  std::string deep = "{\"x\": " + std::string(100, '[') + std::string(100, ']') + "}\n", out;
  write_file(settings, deep);
  ASSERT_EQ(hooks_cli(t.path, {"install"}, &out), 0) << out;
  EXPECT_EQ(json::parse(read_file(settings))["x"], json::parse(deep)["x"]);
  ASSERT_EQ(hooks_cli(t.path, {"uninstall"}, &out), 0) << out;
  EXPECT_EQ(read_file(settings), deep);
}

TEST(HooksSettingsFile, AHugeFileIsRefusedAndALargeOneRoundTrips) {
  TempDir t;
  std::string settings = t.path + "/.claude/settings.json", out;
  write_file(settings, "{\"x\": \"" + std::string(17 << 20, 'a') + "\"}");
  expect_refused(t, settings, "ccmux edits settings files up to 16 MiB");
  json big = json::parse(kUserSettings);
  for (int i = 0; i < 40000; ++i) big["permissions"]["allow"].push_back("Bash(tool-" + std::to_string(i) + " *)");
  std::string text = big.dump(4) + "\n";  // ~1.8 MB
  write_file(settings, text);
  ASSERT_EQ(hooks_cli(t.path, {"install"}, &out), 0) << out;
  ASSERT_EQ(hooks_cli(t.path, {"uninstall"}, &out), 0) << out;
  EXPECT_TRUE(read_file(settings) == text);
}

TEST(HooksSettingsFile, AFolderOrAFifoNamedSettingsJsonIsRefusedWithoutHanging) {
  TempDir t;
  std::string settings = t.path + "/.claude/settings.json", out;
  fs::create_directories(settings);
  EXPECT_NE(hooks_cli(t.path, {"install"}, &out), 0) << out;
  EXPECT_NE(out.find(settings + " is a directory"), std::string::npos) << out;
  EXPECT_TRUE(fs::is_directory(settings));
  EXPECT_TRUE(temporaries(t.path + "/.claude").empty());
  EXPECT_FALSE(fs::exists(settings + ".ccmux-state"));
  fs::remove(settings);
  ASSERT_EQ(mkfifo(settings.c_str(), 0600), 0);
  for (const char* cmd : {"install", "uninstall"}) {
    // Bounded: reading a FIFO nobody writes blocks forever.
    int rc = run_command({"/usr/bin/timeout", "10", ccmux_bin(), "hooks", cmd}, &out, {"HOME=" + t.path});
    EXPECT_EQ(rc, 1) << cmd << " (124: it hung): " << out;
    EXPECT_NE(out.find("not a regular file"), std::string::npos) << out;
  }
  EXPECT_TRUE(fs::is_fifo(settings));
}

TEST(HooksSettingsFile, ADanglingSymlinkOrALoopIsReportedAndLeftAlone) {
  TempDir t;
  std::string settings = t.path + "/.claude/settings.json", out;
  fs::create_directories(t.path + "/.claude");
  fs::create_symlink(t.path + "/gone/settings.json", settings);
  EXPECT_NE(hooks_cli(t.path, {"install"}, &out), 0) << out;
  EXPECT_NE(out.find("which does not exist"), std::string::npos) << out;
  EXPECT_TRUE(fs::is_symlink(settings));
  EXPECT_FALSE(fs::exists(t.path + "/gone"));
  fs::remove(settings);
  fs::create_symlink("settings.json", settings);
  EXPECT_NE(hooks_cli(t.path, {"install"}, &out), 0) << out;
  EXPECT_NE(out.find("symlink loop"), std::string::npos) << out;
  EXPECT_TRUE(fs::is_symlink(settings));
  EXPECT_TRUE(temporaries(t.path + "/.claude").empty());
}

TEST(HooksSettingsFile, ACcmuxInAFolderWithASpaceRecognisesItsOwnHooks) {
  TempDir t;
  std::string bin = t.path + "/my tools";
  fs::create_directories(bin);
  fs::copy_file(ccmux_bin(), bin + "/ccmux");  // alone: it writes `'…/my tools/ccmux' hook`
  std::string settings = user_settings(t), out;
  auto ccmux = [&](const std::string& cmd) { return run_command({bin + "/ccmux", "hooks", cmd}, &out, {"HOME=" + t.path}); };
  ASSERT_EQ(ccmux("install"), 0) << out;
  EXPECT_NE(read_file(settings).find("'" + bin + "/ccmux' hook"), std::string::npos);
  ASSERT_EQ(ccmux("install"), 0) << out;
  EXPECT_NE(out.find("already installed"), std::string::npos) << out;
  EXPECT_EQ(ccmux("status"), 0) << out;
  EXPECT_NE(out.find("7/7 hooks"), std::string::npos) << out;
  json s = json::parse(read_file(settings));
  s["theme"] = "dark";  // not byte-for-byte any more: uninstall must find our entries
  write_file(settings, s.dump(2));
  ASSERT_EQ(ccmux("uninstall"), 0) << out;
  EXPECT_EQ(read_file(settings).find("ccmux"), std::string::npos) << read_file(settings);
}

class HandStartedE2E : public E2E {
 protected:
  void SetUp() override {
    DaemonOptions o;
    o.policies = {policy_file(dir, "hand.lua",
                              "function decide(r)\n"
                              "  if r.tool == 'Bash' and ccmux.glob(r.input.command, 'touch forbidden*') then\n"
                              "    return 'deny', 'forbidden by hand.lua' end\n"
                              "  if r.tool == 'Bash' and ccmux.glob(r.input.command, 'touch allowed*') then\n"
                              "    return 'allow', 'allowed by hand.lua' end\n"
                              "end\n")};
    start(o);
    home = dir.path + "/userhome";
    fs::create_directories(home);
    std::string out;
    EXPECT_EQ(hooks_cli(home, {"install", "--wait", "20"}, &out), 0) << out;
  }
  // `claude -p PROMPT` started by hand in the project, with the user's hooks installed.
  int claude(const std::string& prompt, std::string* out) {
    return run_command({"/bin/sh", "-c", "cd '" + daemon->project() + "' && exec claude -p \"$PROMPT\" --output-format json"},
                       out,
                       {"HOME=" + home, "PROMPT=" + prompt, "ANTHROPIC_BASE_URL=" + api.base_url(),
                        "ANTHROPIC_API_KEY=dummy-test-key", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1",
                        "DISABLE_AUTOUPDATER=1", "CCMUX_DAEMON_SOCKET=" + daemon->socket()});
  }
  json observed_session() {
    auto c = daemon->connect();
    json list = c->request("session.list");  // kept alive: the loop below refers into it
    for (auto& s : list["sessions"])
      if (s.value("state", "") == "observed" || s.value("reason", "").find("terminal") != std::string::npos) return s;
    return json();
  }
  // The resolved approval (audit row) of the Bash call `command`; null when there is none.
  json resolved_approval(const std::string& command) {
    json all = daemon->connect()->request("approvals.list", {{"all", true}});
    for (auto& a : all["approvals"])
      if (a.value("tool", "") == "Bash" && a.value("state", "") == "resolved" &&
          a.dump().find(command) != std::string::npos)
        return a;
    ADD_FAILURE() << "no resolved approval for " << command << ": " << all.dump();
    return json::object();
  }
  std::string home;
};

TEST_F(HandStartedE2E, ToolCallDeniedByALuaPolicyThroughTheHookAndTheSessionIsObserved) {
  std::string out;
  claude(bash("touch forbidden.txt"), &out);
  EXPECT_FALSE(fs::exists(daemon->project() + "/forbidden.txt")) << out;
  json s = observed_session();
  ASSERT_FALSE(s.is_null()) << daemon->connect()->request("session.list").dump();
  auto c = daemon->connect();
  EventLog log(*c, s["id"]);
  ASSERT_TRUE(log.wait_for([](const json& e) { return e["kind"] == "approval_resolved"; }, 10000));
  auto r = log.of_kind("approval_resolved")[0]["payload"];
  EXPECT_EQ(r["decision"], "deny");
  EXPECT_EQ(r["decided_by"], "policy:" + dir.path + "/hand.lua");
  std::set<std::string> hooks;
  for (auto& e : log.of_kind("hook")) hooks.insert(e["payload"]["hook_event_name"].get<std::string>());
  EXPECT_TRUE(hooks.count("PreToolUse") && hooks.count("UserPromptSubmit")) << out;
  // claude was told why: the fake API echoes the tool result it got.
  EXPECT_NE(out.find("forbidden by hand.lua"), std::string::npos) << out;
  // `ccmux ls` shows it.
  std::string ls;
  run_command({ccmux_bin(), "--socket", daemon->socket(), "ls"}, &ls);
  EXPECT_NE(ls.find(s["id"].get<std::string>()), std::string::npos) << ls;
}

TEST_F(HandStartedE2E, ToolCallAllowedByAPolicyRunsWithoutAPrompt) {
  std::string out;
  claude(bash("touch allowed.txt"), &out);
  EXPECT_TRUE(fs::exists(daemon->project() + "/allowed.txt")) << out;
  // The policy decided it (not claude's own settings, not a human): the audit row says so.
  json r = resolved_approval("touch allowed.txt");
  EXPECT_EQ(r.value("decision", ""), "allow") << r.dump();
  EXPECT_EQ(r.value("decided_by", ""), "policy:" + dir.path + "/hand.lua") << r.dump();
  EXPECT_EQ(r.value("reason", ""), "allowed by hand.lua") << r.dump();
}

TEST_F(HandStartedE2E, PermissionPromptIsAnsweredFromAnotherClient) {
  // Undecided by policy: claude would ask on its terminal; the hook asks the phone first.
  auto watcher = daemon->connect(true);
  std::string out;
  std::thread human([&] {
    for (int i = 0; i < 200; ++i) {
      auto m = watcher->next(30000);
      if (!m) return;
      if ((*m)["type"] == "approval_requested") {
        watcher->request("approval.answer", {{"id", (*m)["approval"]["id"]}, {"decision", "allow"}, {"by", "phone"}});
        return;
      }
    }
  });
  claude(bash("touch asked-on-the-phone.txt"), &out);
  human.join();
  EXPECT_TRUE(fs::exists(daemon->project() + "/asked-on-the-phone.txt")) << out;
  // Answered by that client (client:<connection>:phone), not by a policy or a timeout.
  json r = resolved_approval("touch asked-on-the-phone.txt");
  EXPECT_EQ(r.value("decision", ""), "allow") << r.dump();
  std::string by = r.value("decided_by", "");
  EXPECT_EQ(by.rfind("client:", 0), 0u) << r.dump();
  EXPECT_TRUE(by.size() > 6 && by.substr(by.size() - 6) == ":phone") << r.dump();
}

TEST_F(HandStartedE2E, UnansweredPermissionPromptFallsBackToClaudesOwnAfterTheWait) {
  std::string out;
  ASSERT_EQ(hooks_cli(home, {"install", "--wait", "2"}, &out), 0) << out;  // re-install: new options, same entries
  json settings = json::parse(read_file(home + "/.claude/settings.json"));
  EXPECT_EQ(settings["hooks"]["PermissionRequest"].size(), 1u) << "install must not duplicate entries";
  auto t0 = std::chrono::steady_clock::now();
  claude(bash("touch nobody-answered.txt"), &out);
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(took, std::chrono::seconds(2));   // it waited for the phone…
  EXPECT_LT(took, std::chrono::seconds(30));  // …then let claude decide (print mode: no prompt, so not run)
  EXPECT_FALSE(fs::exists(daemon->project() + "/nobody-answered.txt"));
  auto c = daemon->connect();
  bool cancelled = false;
  json all = c->request("approvals.list", {{"all", true}});
  for (auto& a : all["approvals"])
    cancelled = cancelled || (a.value("decision", "") == "cancelled" && a.value("decided_by", "") == "timeout");
  EXPECT_TRUE(cancelled) << all.dump();
}

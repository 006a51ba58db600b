// Claude Code hooks for sessions started by hand: `ccmux hooks install|uninstall` on a
// settings file that already has hooks, and a real hand-started claude whose tool calls go
// through `ccmux hook` to the Lua policies and to a human on another client.
#include "e2e.h"

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

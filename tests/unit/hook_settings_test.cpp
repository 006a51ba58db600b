// The pure settings.json edits behind `ccmux hooks` (hook_settings.h) on a ccmux hook under
// an event ccmux does not install (a misspelt "PreT.oolUse" that Claude Code never runs):
// found and named, removed by install and by uninstall, leaving nothing of it behind.
#include "hook_settings.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

using namespace ccmux::cli;
using json = nlohmann::json;

namespace {
const char* kStray =
    R"({"model":"opus","hooks":{"PreT.oolUse":[{"matcher":"*","hooks":[{"type":"command","command":"/usr/bin/ccmux-hook"}]}]}})";
const HookCommands kCmds{"/usr/local/bin/ccmux-hook", 30};
}  // namespace

TEST(HookSettings, AHookUnderAnEventCcmuxDoesNotInstallIsReportedAsStray) {
  HooksFound f = find_ccmux_hooks(kStray);
  ASSERT_TRUE(f.ok) << f.error;
  EXPECT_TRUE(f.events.empty());
  EXPECT_EQ(f.stray, std::vector<std::string>{"PreT.oolUse"});
  // A user's own hook under an unknown event is theirs, not stray.
  HooksFound theirs = find_ccmux_hooks(R"({"hooks":{"Custom":[{"hooks":[{"command":"audit.sh"}]}]}})");
  ASSERT_TRUE(theirs.ok);
  EXPECT_TRUE(theirs.stray.empty());
}

TEST(HookSettings, InstallDropsTheStrayHookAndTheEventItLeavesEmpty) {
  SettingsEdit added = add_ccmux_hooks(kStray, kCmds);
  ASSERT_TRUE(added.ok) << added.error;
  ASSERT_TRUE(added.changed);
  json s = json::parse(added.text);
  EXPECT_FALSE(s["hooks"].contains("PreT.oolUse")) << added.text;
  HooksFound f = find_ccmux_hooks(added.text);
  EXPECT_EQ(f.events.size(), std::size(kHookEvents));
  EXPECT_TRUE(f.stray.empty());
}

TEST(HookSettings, InstallThenUninstallEqualsUninstallOfTheOriginal) {
  SettingsEdit added = add_ccmux_hooks(kStray, kCmds);
  ASSERT_TRUE(added.ok && added.changed) << added.error;
  SettingsEdit removed = remove_ccmux_hooks(added.text);
  ASSERT_TRUE(removed.ok && removed.changed) << removed.error;
  SettingsEdit direct = remove_ccmux_hooks(kStray);
  ASSERT_TRUE(direct.ok && direct.changed) << direct.error;
  EXPECT_EQ(json::parse(removed.text), json::parse(direct.text));
  EXPECT_EQ(json::parse(direct.text), json::parse(R"({"model":"opus"})"));
  HooksFound left = find_ccmux_hooks(removed.text);
  EXPECT_TRUE(left.events.empty());
  EXPECT_TRUE(left.stray.empty());
}

TEST(HookSettings, TheUsersOwnHooksUnderTheStrayEventStay) {
  const char* mixed =
      R"({"hooks":{"PreT.oolUse":[{"hooks":[{"command":"audit.sh"},{"command":"/usr/bin/ccmux-hook"}]}]}})";
  for (const SettingsEdit& e : {add_ccmux_hooks(mixed, kCmds), remove_ccmux_hooks(mixed)}) {
    ASSERT_TRUE(e.ok && e.changed) << e.error;
    json s = json::parse(e.text);
    ASSERT_EQ(s["hooks"]["PreT.oolUse"][0]["hooks"].size(), 1u) << e.text;
    EXPECT_EQ(s["hooks"]["PreT.oolUse"][0]["hooks"][0]["command"], "audit.sh");
  }
}

TEST(HookSettings, TheProgramOfAHookCommandIsItsFirstWordUnquoted) {
  EXPECT_EQ(hook_program("/usr/local/bin/ccmux-hook --wait 30"), "/usr/local/bin/ccmux-hook");
  EXPECT_EQ(hook_program("'/opt/my tools/ccmux' hook"), "/opt/my tools/ccmux");
  EXPECT_EQ(hook_program("'/opt/it'\\''s/ccmux-hook'"), "/opt/it's/ccmux-hook");
  EXPECT_EQ(hook_program("ccmux-hook"), "ccmux-hook");
  EXPECT_EQ(hook_program("'unclosed"), "unclosed");
  HooksFound f = find_ccmux_hooks(add_ccmux_hooks("", {"'/a b/ccmux' hook", 30}).text);
  ASSERT_EQ(f.commands.size(), 2u);  // PermissionRequest's has --wait
  for (auto& c : f.commands) EXPECT_EQ(hook_program(c), "/a b/ccmux") << c;
}

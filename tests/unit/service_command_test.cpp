// `ccmux service install|uninstall|status` (core/cli/service.cpp), run as the real ccmux binary.
// --root DIR writes under DIR and prints the systemctl commands instead of running them, so
// these tests need no running systemd; tests/systemd_verify.sh checks the units it writes with
// systemd-analyze, tests/install_tree.sh the installed-unit case.
#include "harness.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <unistd.h>

using namespace ccmux::test;
namespace fs = std::filesystem;

namespace {

struct ServiceCli : ::testing::Test {
  TempDir tmp;
  std::string root = tmp.path + "/root", home = tmp.path + "/home";
  std::string user_unit = root + home + "/.config/systemd/user/ccmuxd.service";
  std::string system_unit = root + "/etc/systemd/system/ccmuxd.service";
  std::string ccmuxd = fs::canonical(ccmuxd_bin()).string();

  int service(std::vector<std::string> args, std::string* out, std::vector<std::string> env = {}) {
    std::vector<std::string> argv = {ccmux_bin(), "service"};
    argv.insert(argv.end(), args.begin(), args.end());
    env.push_back("HOME=" + home);
    return run_command(argv, out, env);
  }
};

bool has_line(const std::string& text, const std::string& line) {
  return ("\n" + text).find("\n" + line + "\n") != std::string::npos;
}

TEST_F(ServiceCli, UserInstallWritesAUnitForTheCcmuxdBesideItAndPrintsTheCommands) {
  std::string out;
  ASSERT_EQ(service({"install", "--root", root}, &out), 0) << out;  // --user is the default
  std::string unit = read_file(user_unit);
  EXPECT_TRUE(has_line(unit, "ExecStart=" + ccmuxd)) << unit;
  EXPECT_TRUE(has_line(unit, "Environment=PATH=%h/.local/bin:/usr/local/bin:" + fs::path(ccmuxd).parent_path().string() +
                                 ":/usr/bin:/bin"))
      << unit;
  EXPECT_TRUE(has_line(unit, "WantedBy=default.target")) << unit;
  EXPECT_EQ(unit.find("CCMUX_SYSTEM"), std::string::npos) << "a user unit uses the user's XDG paths";
  size_t reload = out.find("would run: systemctl --user daemon-reload\n");
  size_t enable = out.find("would run: systemctl --user enable --now ccmuxd.service\n");
  ASSERT_NE(reload, std::string::npos) << out;
  ASSERT_NE(enable, std::string::npos) << out;
  EXPECT_LT(reload, enable) << "the new unit must be loaded before it is enabled";
  EXPECT_NE(out.find("loginctl enable-linger"), std::string::npos) << out;
}

TEST_F(ServiceCli, UserInstallFollowsXdgConfigHome) {
  std::string out;
  ASSERT_EQ(service({"install", "--user", "--root", root}, &out, {"XDG_CONFIG_HOME=" + tmp.path + "/cfg"}), 0) << out;
  EXPECT_TRUE(fs::exists(root + tmp.path + "/cfg/systemd/user/ccmuxd.service")) << out;
  EXPECT_FALSE(fs::exists(user_unit));
}

TEST_F(ServiceCli, SystemInstallWritesTheSystemUnit) {
  std::string out;
  ASSERT_EQ(service({"install", "--system", "--root", root}, &out), 0) << out;
  std::string unit = read_file(system_unit);
  EXPECT_TRUE(has_line(unit, "ExecStart=" + ccmuxd)) << unit;
  EXPECT_TRUE(has_line(unit, "Environment=CCMUX_SYSTEM=1")) << unit;
  EXPECT_TRUE(has_line(unit, "WantedBy=multi-user.target")) << unit;
  EXPECT_NE(out.find("would run: systemctl daemon-reload\n"), std::string::npos) << out;
  EXPECT_NE(out.find("would run: systemctl enable --now ccmuxd.service\n"), std::string::npos) << out;
  EXPECT_EQ(out.find("--user"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(user_unit));
}

TEST_F(ServiceCli, UserAndSystemTogetherIsAUsageError) {
  std::string out;
  EXPECT_NE(service({"install", "--user", "--system", "--root", root}, &out), 0);
  EXPECT_FALSE(fs::exists(user_unit));
  EXPECT_FALSE(fs::exists(system_unit));
}

TEST_F(ServiceCli, InstallTwiceReplacesItsOwnUnit) {
  std::string out;
  ASSERT_EQ(service({"install", "--root", root}, &out), 0) << out;
  write_file(user_unit, read_file(user_unit) + "# stale line\n");
  ASSERT_EQ(service({"install", "--root", root}, &out), 0) << out;
  EXPECT_EQ(read_file(user_unit).find("# stale line"), std::string::npos);
}

TEST_F(ServiceCli, InstallLeavesAUnitItDidNotWriteAlone) {
  fs::create_directories(fs::path(user_unit).parent_path());
  write_file(user_unit, "[Service]\nExecStart=/opt/mine/ccmuxd\n");
  std::string out;
  EXPECT_EQ(service({"install", "--root", root}, &out), 1) << out;
  EXPECT_NE(out.find(user_unit + " exists and was not written by ccmux"), std::string::npos) << out;
  EXPECT_EQ(out.find("would run"), std::string::npos) << "nothing is enabled: " << out;
  EXPECT_EQ(read_file(user_unit), "[Service]\nExecStart=/opt/mine/ccmuxd\n");
}

TEST_F(ServiceCli, UninstallDisablesAndRemovesOnlyItsOwnUnit) {
  std::string out;
  ASSERT_EQ(service({"install", "--root", root}, &out), 0) << out;
  ASSERT_EQ(service({"uninstall", "--root", root}, &out), 0) << out;
  EXPECT_NE(out.find("would run: systemctl --user disable --now ccmuxd.service\n"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(user_unit)) << out;

  write_file(user_unit, "[Service]\nExecStart=/opt/mine/ccmuxd\n");
  ASSERT_EQ(service({"uninstall", "--root", root}, &out), 0) << out;
  EXPECT_TRUE(fs::exists(user_unit)) << "not ours: " << out;
}

TEST_F(ServiceCli, StatusNamesTheUnitInUse) {
  std::string out;
  ASSERT_EQ(service({"install", "--root", root}, &out), 0) << out;
  ASSERT_EQ(service({"status", "--root", root}, &out), 0) << out;
  EXPECT_NE(out.find("unit: " + user_unit + " (written by ccmux)"), std::string::npos) << out;
  EXPECT_NE(out.find("would run: systemctl --user is-active ccmuxd.service"), std::string::npos) << out;
}

TEST_F(ServiceCli, SystemInstallNeedsRoot) {
  std::vector<std::string> argv = {ccmux_bin(), "service", "install", "--system"};
  if (geteuid() == 0) {  // as root here: run it as nobody
    if (access("/usr/bin/setpriv", X_OK) != 0) GTEST_SKIP() << "setpriv (util-linux) is needed to drop root";
    argv.insert(argv.begin(), {"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"});
  }
  std::string out;
  EXPECT_EQ(run_command(argv, &out, {"HOME=" + home}), 1) << out;
  EXPECT_NE(out.find("needs root: sudo ccmux service install --system"), std::string::npos) << out;
}

// The real thing where no systemd runs (containers, CI): the unit is written, systemctl fails,
// and the error says what to do instead of leaving the user with systemctl's bus error.
TEST_F(ServiceCli, UserInstallWithoutSystemdExplainsWhatToDo) {
  if (fs::exists("/run/systemd/system"))
    GTEST_SKIP() << "systemd runs here: this would really enable ccmuxd (the --root tests cover the commands)";
  std::string out;
  EXPECT_EQ(service({"install"}, &out, {"XDG_CONFIG_HOME=" + tmp.path + "/cfg"}), 1) << out;
  EXPECT_TRUE(fs::exists(tmp.path + "/cfg/systemd/user/ccmuxd.service")) << out;
  EXPECT_NE(out.find("'systemctl --user daemon-reload' failed"), std::string::npos) << out;
  EXPECT_TRUE(out.find("start ccmuxd by hand") != std::string::npos) << out;
}

}  // namespace

// `ccmux doctor` run as a user runs it: a subprocess with its own HOME, against a real ccmuxd
// (the harness's), the real pinned claude on PATH, real config, certificate, settings and store
// files. A healthy setup exits 0; each broken part is named as a problem with its fix, exit 1.
#include "certs.h"
#include "harness.h"

#include <gtest/gtest.h>

#include <ctime>
#include <filesystem>
#include <fstream>
#include <regex>

using namespace ccmux;
using namespace ccmux::test;
namespace fs = std::filesystem;

namespace {

std::string plugin(const std::string& name) { return std::string(CCMUX_TEST_PLUGIN_DIR) + "/lib" + name + ".so"; }

class Doctor : public ::testing::Test {
 protected:
  // A daemon as the harness starts it (real claude from PATH), with the hello plugin.
  void start_daemon(const std::string& plugins_yaml = "") {
    DaemonOptions o;
    o.extra_yaml = plugins_yaml.empty() ? "plugins:\n  - name: hello\n    path: " + plugin("hello") + "\n    greeting: hi\n"
                                        : plugins_yaml;
    daemon = std::make_unique<Daemon>(dir.path, "http://127.0.0.1:9", o);
  }
  std::string home() const { return dir.path + "/home"; }
  std::string tls() const { return dir.path + "/tls"; }  // beside the config, where `ccmux certs init` writes
  std::string socket() const { return dir.path + "/run/ccmuxd.sock"; }
  std::string config() const { return dir.path + "/config.yaml"; }

  // Points doctor at a copy of the daemon's config (FILE in the test dir) whose claude.path is
  // CLAUDE_PATH.
  void use_config_with_claude_path(const std::string& file, const std::string& claude_path) {
    config_file = dir.path + "/" + file;
    std::string text = read_file(config());
    text.replace(text.find("claude:\n"), 8, "claude:\n  path: " + claude_path + "\n");
    write_file(config_file, text);
  }

  // `ccmux doctor` with this test's HOME; extra args after "doctor".
  int doctor(std::string* out, const std::vector<std::string>& args = {}, const std::vector<std::string>& env = {}) {
    std::vector<std::string> argv = {ccmux_bin(), "--socket", socket(), "doctor", "--config", config_file};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<std::string> e = {"HOME=" + home()};
    e.insert(e.end(), env.begin(), env.end());
    return run_command(argv, out, e);
  }
  // The --json findings: check -> level for the problems (and the whole object).
  json doctor_json(int* rc, const std::vector<std::string>& env = {}) {
    std::string out;
    *rc = doctor(&out, {"--json"}, env);
    json j = json::parse(out, nullptr, false);
    EXPECT_TRUE(j.is_object()) << out;
    return j;
  }
  static std::vector<std::string> with_level(const json& j, const std::string& level) {
    std::vector<std::string> checks;
    for (auto& c : j.value("checks", json::array()))
      if (c.value("level", "") == level) checks.push_back(c.value("check", ""));
    return checks;
  }
  static json finding(const json& j, const std::string& check, const std::string& level) {
    for (auto& c : j.value("checks", json::array()))
      if (c.value("check", "") == check && c.value("level", "") == level) return c;
    return nullptr;
  }
  void install_hooks() {
    std::string out;
    ASSERT_EQ(run_command({ccmux_bin(), "hooks", "install"}, &out, {"HOME=" + home()}), 0) << out;
  }
  void make_certs(time_t issued_at = 0) {
    CertRequest req{tls(), {"localhost", "box.lan"}, {"127.0.0.1"}, true};
    req.issued_at = issued_at;
    make_local_ca_and_server_cert(req);
  }
  void TearDown() override {
    if (HasFailure() && daemon) std::cerr << "---- ccmuxd log ----\n" << daemon->log().substr(0, 8000) << "\n";
  }

  TempDir dir;
  std::string config_file = dir.path + "/config.yaml";
  std::unique_ptr<Daemon> daemon;
};

const time_t kDay = 86400;

}  // namespace

TEST_F(Doctor, AHealthySetupHasNoProblemAndExitsZero) {
  start_daemon();
  make_certs();
  install_hooks();
  daemon->connect()->request("token.create", {{"name", "my-phone"}});
  std::string out;
  EXPECT_EQ(doctor(&out), 0) << out;
  EXPECT_EQ(out.find("PROBLEM"), std::string::npos) << out;
  EXPECT_NE(out.find("ok       claude   " CCMUX_PINNED_CLAUDE_VERSION " at "), std::string::npos) << out;
  EXPECT_NE(out.find("is a native executable"), std::string::npos) << out;
  EXPECT_NE(out.find("ok       daemon   ccmuxd 0.1.0 (protocol 1)"), std::string::npos) << out;
  EXPECT_NE(out.find(config() + " is valid, with its policies and plugin keys"), std::string::npos) << out;
  EXPECT_NE(out.find("1 loaded: hello"), std::string::npos) << out;
  EXPECT_NE(out.find(tls() + "/server.crt (ccmux certs init) valid until"), std::string::npos) << out;
  EXPECT_NE(out.find(tls() + "/ca.crt (CA, ccmux certs init) valid until"), std::string::npos) << out;
  EXPECT_NE(out.find("ok       tokens   1: my-phone"), std::string::npos) << out;
  EXPECT_NE(out.find("7/7 installed in " + home() + "/.claude/settings.json, running " + build_dir() + "/core/ccmux-hook"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find(dir.path + "/state/ccmux.db: "), std::string::npos) << out;
  EXPECT_NE(out.find("quick_check ok"), std::string::npos) << out;
  EXPECT_NE(out.find("memory   MemAvailable"), std::string::npos) << out;
  int rc = 0;
  json j = doctor_json(&rc);
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(j["ok"], true) << j.dump(2);
  EXPECT_EQ(j["problems"], 0) << j.dump(2);
  // Every check answered, once or more.
  for (const char* c : {"claude", "node", "daemon", "config", "plugins", "certs", "tokens", "hooks", "service", "store", "memory"})
    EXPECT_TRUE(std::any_of(j["checks"].begin(), j["checks"].end(), [&](const json& f) { return f["check"] == c; })) << c;
}

TEST_F(Doctor, ClaudeMissingFromPathIsAProblemFixedByTheInstaller) {
  start_daemon();
  int rc = 0;
  json j = doctor_json(&rc, {"PATH=" + dir.path + "/empty-bin"});
  EXPECT_EQ(rc, 1);
  EXPECT_EQ(with_level(j, "problem"), std::vector<std::string>{"claude"}) << j.dump(2);
  json f = finding(j, "claude", "problem");
  EXPECT_NE(f.value("message", "").find("no claude on PATH"), std::string::npos) << f;
  EXPECT_NE(f.value("fix", "").find("ccmux-install-claude"), std::string::npos) << f;
  std::string out;
  EXPECT_EQ(doctor(&out, {}, {"PATH=" + dir.path + "/empty-bin"}), 1);
  EXPECT_NE(out.find("PROBLEM  claude   no claude on PATH"), std::string::npos) << out;
}

TEST_F(Doctor, ClaudePathPointingNowhereIsAProblemNamingTheConfig) {
  start_daemon();
  // The daemon's config plus a claude.path that leads nowhere.
  use_config_with_claude_path("nowhere.yaml", dir.path + "/gone/claude");
  int rc = 0;
  json j = doctor_json(&rc);
  EXPECT_EQ(rc, 1);
  EXPECT_EQ(with_level(j, "problem"), std::vector<std::string>{"claude"}) << j.dump(2);
  json f = finding(j, "claude", "problem");
  EXPECT_EQ(f.value("message", ""), "claude.path " + dir.path + "/gone/claude (from " + config_file + ") is not an executable file");
  EXPECT_NE(f.value("fix", "").find("ccmux-install-claude"), std::string::npos) << f;
  EXPECT_NE(f.value("fix", "").find("claude.path"), std::string::npos) << f;
}

TEST_F(Doctor, DaemonDownIsAProblemFixedByStartingItAndTokensComeFromTheStore) {
  start_daemon();
  daemon->connect()->request("token.create", {{"name", "laptop"}});
  daemon->terminate();
  std::string out;
  EXPECT_EQ(doctor(&out), 1) << out;
  EXPECT_NE(out.find("PROBLEM  daemon   not reachable: cannot reach ccmuxd at " + socket()), std::string::npos) << out;
  EXPECT_NE(out.find("fix: "), std::string::npos) << out;
  EXPECT_NE(out.find("ccmuxd &"), std::string::npos) << out;
  EXPECT_NE(out.find("ok       tokens   1: laptop"), std::string::npos) << out;  // read-only from the store
  int rc = 0;
  json j = doctor_json(&rc);
  EXPECT_EQ(with_level(j, "problem"), std::vector<std::string>{"daemon"}) << j.dump(2);
}

TEST_F(Doctor, BadConfigIsAProblemWithFileLineAndColumn) {
  start_daemon();
  config_file = dir.path + "/bad.yaml";
  write_file(config_file, "daemon:\n  log_level: loud\n");
  std::string out;
  EXPECT_EQ(doctor(&out), 1) << out;
  EXPECT_NE(out.find("PROBLEM  config   " + config_file + ":2:14: key 'daemon.log_level': bad value 'loud'"), std::string::npos)
      << out;
  EXPECT_NE(out.find("fix: correct " + config_file + " there, then check it with: ccmuxd --check-config " + config_file),
            std::string::npos)
      << out;
  // A policy that does not load is found too (ccmuxd --check-config loads it).
  write_file(dir.path + "/broken.lua", "function decide(req)\n  return (\nend\n");
  write_file(config_file, "approval:\n  policies: [" + dir.path + "/broken.lua]\n");
  int rc = 0;
  json j = doctor_json(&rc);
  EXPECT_EQ(rc, 1);
  json f = finding(j, "config", "problem");
  EXPECT_NE(f.value("message", "").find("broken.lua:"), std::string::npos) << j.dump(2);
  EXPECT_NE(f.value("fix", "").find("ccmuxd --check-config " + config_file), std::string::npos) << f;
}

TEST_F(Doctor, ExpiredCertificateIsAProblemAndOneThatExpiresSoonAWarning) {
  start_daemon();
  make_certs(time(nullptr) - 900 * kDay);  // the server certificate lasts 825 days
  std::string out;
  EXPECT_EQ(doctor(&out), 1) << out;
  EXPECT_TRUE(std::regex_search(out, std::regex("PROBLEM  certs    " + tls() + "/server\\.crt \\(ccmux certs init\\) expired on 20[0-9]{2}-")))
      << out;
  EXPECT_NE(out.find("fix: ccmux certs init --force --dir " + tls() + " --host localhost --host box.lan"), std::string::npos) << out;
  int rc = 0;
  json j = doctor_json(&rc);
  EXPECT_EQ(with_level(j, "problem"), std::vector<std::string>{"certs"}) << j.dump(2);  // the CA is still valid

  make_certs(time(nullptr) - 810 * kDay - 3600);  // 14 days and 23 hours left
  EXPECT_EQ(doctor(&out), 0) << out;  // warnings do not fail
  EXPECT_NE(out.find("warning  certs    " + tls() + "/server.crt (ccmux certs init) expires on "), std::string::npos) << out;
  EXPECT_NE(out.find(", in 14 days"), std::string::npos) << out;
}

TEST_F(Doctor, HookPointingNowhereIsAProblemFixedByInstallingAgain) {
  start_daemon();
  // Hooks installed by a ccmux that has since gone (moved, uninstalled).
  std::string old = dir.path + "/old-bin/ccmux";
  fs::create_directories(dir.path + "/old-bin");
  fs::copy_file(ccmux_bin(), old);
  std::string out;
  ASSERT_EQ(run_command({old, "hooks", "install"}, &out, {"HOME=" + home()}), 0) << out;
  fs::remove(old);
  EXPECT_EQ(doctor(&out), 1) << out;
  EXPECT_NE(out.find("PROBLEM  hooks    the hooks in " + home() + "/.claude/settings.json run " + old +
                     ", which is not an executable file"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("fix: ccmux hooks install"), std::string::npos) << out;
  int rc = 0;
  json j = doctor_json(&rc);
  EXPECT_EQ(with_level(j, "problem"), std::vector<std::string>{"hooks"}) << j.dump(2);
  install_hooks();  // the fix it names, by the ccmux that is there
  EXPECT_EQ(doctor(&out), 0) << out;
}

TEST_F(Doctor, CorruptedStoreIsAProblem) {
  start_daemon();
  daemon->connect()->request("token.create", {{"name", "t"}});
  daemon->terminate();
  std::string db = dir.path + "/state/ccmux.db";
  ASSERT_GT(fs::file_size(db), 8192u);
  {
    // Garbage over every page but the first (the header stays: SQLite opens it and must find the damage).
    std::fstream f(db, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(4096);
    std::string garbage(fs::file_size(db) - 4096, '\0');
    for (size_t i = 0; i < garbage.size(); ++i) garbage[i] = static_cast<char>((i * 131 + 7) & 0xff);
    f.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
  }
  std::string before = read_file(db);
  std::string out;
  EXPECT_EQ(doctor(&out), 1) << out;
  EXPECT_NE(out.find("PROBLEM  store    " + db + " ("), std::string::npos) << out;
  EXPECT_NE(out.find(") is damaged: "), std::string::npos) << out;
  EXPECT_NE(out.find("fix: stop ccmuxd; mv " + db + " " + db + ".damaged"), std::string::npos) << out;
  EXPECT_EQ(read_file(db), before);  // looked at, not touched
}

TEST_F(Doctor, AConfiguredPluginThatDidNotLoadIsAProblem) {
  start_daemon("plugins:\n  - name: failing_start\n    path: " + plugin("failing_start") + "\n");
  int rc = 0;
  json j = doctor_json(&rc);
  EXPECT_EQ(rc, 1);
  EXPECT_EQ(with_level(j, "problem"), std::vector<std::string>{"plugins"}) << j.dump(2);
  json f = finding(j, "plugins", "problem");
  EXPECT_NE(f.value("message", "").find("failing_start is not loaded (failed)"), std::string::npos) << f;
  EXPECT_NE(f.value("fix", "").find("ccmuxd --check-config " + config()), std::string::npos) << f;
}

TEST_F(Doctor, AnNpmClaudeScriptIsCheckedAgainstItsEnginesNode) {
  start_daemon();
  // An older npm-installed claude: a Node script beside its package.json.
  std::string pkg = dir.path + "/npm/node_modules/@anthropic-ai/claude-code";
  write_file(pkg + "/package.json", R"({"name":"@anthropic-ai/claude-code","engines":{"node":">=99.0.0"}})");
  write_file(pkg + "/cli.js", "#!/usr/bin/env node\nconsole.log('" CCMUX_PINNED_CLAUDE_VERSION " (Claude Code)')\n");
  fs::permissions(pkg + "/cli.js", fs::perms::owner_all);
  fs::create_directories(dir.path + "/npm/bin");
  fs::create_symlink(pkg + "/cli.js", dir.path + "/npm/bin/claude");
  use_config_with_claude_path("npm.yaml", dir.path + "/npm/bin/claude");
  int rc = 0;
  json j = doctor_json(&rc);
  EXPECT_EQ(rc, 1);
  json f = finding(j, "node", "problem");
  ASSERT_TRUE(f.is_object()) << j.dump(2);
  // Older than 99, or no node at all: either way claude cannot run, and the native one needs none.
  EXPECT_NE(f.value("message", "").find("engines.node \">=99.0.0\""), std::string::npos) << f;
  EXPECT_NE(f.value("fix", "").find("ccmux-install-claude"), std::string::npos) << f;
}

TEST_F(Doctor, AnotherClaudeVersionIsAWarningNamingThePinnedOne) {
  start_daemon();
  write_file(dir.path + "/other-bin/claude", "#!/bin/sh\necho '9.9.9 (Claude Code)'\n");
  fs::permissions(dir.path + "/other-bin/claude", fs::perms::owner_all);
  std::string out;
  EXPECT_EQ(doctor(&out, {}, {"PATH=" + dir.path + "/other-bin:/usr/bin:/bin"}), 0) << out;
  EXPECT_NE(out.find("warning  claude   9.9.9 at " + dir.path + "/other-bin/claude; ccmux is tested with " CCMUX_PINNED_CLAUDE_VERSION),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("(installs claude " CCMUX_PINNED_CLAUDE_VERSION ")"), std::string::npos) << out;
}

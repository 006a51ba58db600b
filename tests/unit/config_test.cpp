#include "config/config.h"
#include "harness.h"
#include "util.h"

#include <gtest/gtest.h>

#include <cstdlib>

using namespace ccmux;
using namespace ccmux::test;

namespace {
std::string error_of(const std::string& yaml) {
  try {
    parse_config(yaml, "test.yaml");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}
struct EnvGuard {
  std::string name;
  EnvGuard(const std::string& n, const std::string& v) : name(n) { setenv(n.c_str(), v.c_str(), 1); }
  ~EnvGuard() { unsetenv(name.c_str()); }
};
}  // namespace

TEST(Config, BuiltInDefaultsWhenFileAbsent) {
  TempDir t;
  EnvGuard a("XDG_CONFIG_HOME", t.path + "/cfg"), b("XDG_STATE_HOME", t.path + "/state"),
      c("XDG_RUNTIME_DIR", t.path + "/run");
  Config cfg = load_config("", false);
  EXPECT_EQ(cfg.source, "");
  EXPECT_EQ(cfg.state_dir, t.path + "/state/ccmux");
  EXPECT_EQ(cfg.socket_path, t.path + "/run/ccmux/ccmuxd.sock");
  EXPECT_EQ(cfg.approval_timeout_s, 3600);
  EXPECT_EQ(cfg.on_timeout, "deny");
  ASSERT_EQ(cfg.policies.size(), 1u);
  EXPECT_EQ(cfg.policies[0], "builtin:default");
  ASSERT_EQ(cfg.project_roots.size(), 1u);
  EXPECT_EQ(cfg.project_roots[0], expand_home("~"));
  EXPECT_NE(cfg.project_roots[0][0], '~');
}

TEST(Config, ReadsEverySection) {
  Config c = parse_config(R"(
daemon: {state_dir: /tmp/s, socket: /tmp/s.sock, log_level: debug}
claude: {path: /bin/true, extra_args: [--foo], env: {A: b}, model: sonnet, idle_timeout: 12.5}
projects: {roots: [/srv/a, /srv/b]}
approval: {timeout: 60, policies: [a.lua, b.lua], lua_memory_mb: 8}
plugins:
  - name: hello
    path: /x/libhello.so
    required: true
    greeting: hi
)",
                          "t.yaml");
  EXPECT_EQ(c.socket_path, "/tmp/s.sock");
  EXPECT_EQ(c.log_level, "debug");
  EXPECT_EQ(c.claude_extra_args, std::vector<std::string>{"--foo"});
  EXPECT_EQ(c.claude_env.at("A"), "b");
  EXPECT_DOUBLE_EQ(c.idle_timeout_s, 12.5);
  EXPECT_EQ(c.project_roots.size(), 2u);
  EXPECT_EQ(c.approval_timeout_s, 60);
  EXPECT_EQ(c.lua_memory_mb, 8);
  ASSERT_EQ(c.plugins.size(), 1u);
  EXPECT_TRUE(c.plugins[0].required);
  EXPECT_EQ(c.plugins[0].node["greeting"].Scalar(), "hi");
}

TEST(Config, UnknownKeyNamesFileLineColumnAndKey) {
  EXPECT_EQ(error_of("daemon:\n  sockt: /x\n"),
            "test.yaml:2:3: key 'daemon.sockt': unknown key (known: log_level, socket, state_dir)");
}

TEST(Config, UnknownSection) {
  EXPECT_NE(error_of("demon: {}\n").find("test.yaml:1:1: key 'demon': unknown section"), std::string::npos);
}

TEST(Config, WrongTypeNamesTheValuePosition) {
  EXPECT_EQ(error_of("approval:\n  timeout: soon\n"),
            "test.yaml:2:12: key 'approval.timeout': expected a non-negative number, got 'soon'");
  EXPECT_EQ(error_of("projects:\n  roots: /only/one\n"), "test.yaml:2:10: key 'projects.roots': expected a list of strings");
}

TEST(Config, BadEnumListsChoices) {
  EXPECT_EQ(error_of("daemon:\n  log_level: loud\n"),
            "test.yaml:2:14: key 'daemon.log_level': bad value 'loud' (expected one of: trace, debug, info, warn, error)");
}

TEST(Config, SyntaxErrorHasPosition) {
  std::string e = error_of("daemon:\n  socket: [unclosed\n");
  EXPECT_EQ(e.rfind("test.yaml:", 0), 0u) << e;
  EXPECT_NE(e.find("YAML syntax error"), std::string::npos) << e;
}

TEST(Config, MissingExplicitFile) {
  try {
    load_config("/nonexistent/ccmux.yaml", true);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(), "/nonexistent/ccmux.yaml:0:0: cannot read the file (missing or unreadable)");
  }
}

TEST(Config, PluginWithoutName) {
  EXPECT_EQ(error_of("plugins:\n  - path: /x.so\n"), "test.yaml:2:5: key 'plugins[0].name': missing required key");
}

TEST(Config, EnvironmentOverridesSingleKeys) {
  EnvGuard a("CCMUX_DAEMON_SOCKET", "/tmp/env.sock"), b("CCMUX_APPROVAL_TIMEOUT", "42"),
      c("CCMUX_PROJECTS_ROOTS", "/a:/b"), d("CCMUX_CLAUDE_PATH", "/opt/claude");
  Config cfg = parse_config("daemon:\n  socket: /tmp/file.sock\n", "t.yaml");
  EXPECT_EQ(cfg.socket_path, "/tmp/env.sock");
  EXPECT_EQ(cfg.approval_timeout_s, 42);
  EXPECT_EQ(cfg.project_roots, (std::vector<std::string>{"/a", "/b"}));
  EXPECT_EQ(cfg.claude_path, "/opt/claude");
}

TEST(Config, BadEnvironmentValueNamesTheVariable) {
  EnvGuard a("CCMUX_APPROVAL_TIMEOUT", "never");
  std::string e = error_of("");
  EXPECT_NE(e.find("environment CCMUX_APPROVAL_TIMEOUT"), std::string::npos) << e;
}

TEST(Config, ClaudeNotFoundNamesAllThreePlaces) {
  EnvGuard p("PATH", "/nonexistent");
  Config cfg = parse_config("", "t.yaml");
  try {
    resolve_claude_path(cfg);
    FAIL();
  } catch (const ConfigError& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("claude.path"), std::string::npos);
    EXPECT_NE(m.find("CCMUX_CLAUDE_PATH"), std::string::npos);
    EXPECT_NE(m.find("PATH"), std::string::npos);
  }
}

TEST(Config, ClaudeFoundOnPath) {
  TempDir t;
  write_file(t.path + "/bin/claude", "#!/bin/sh\n");
  chmod((t.path + "/bin/claude").c_str(), 0755);
  EnvGuard p("PATH", "/nonexistent:" + t.path + "/bin");
  EXPECT_EQ(resolve_claude_path(parse_config("", "t.yaml")), t.path + "/bin/claude");
}

TEST(Config, SessionEconomyKeysAndTheirDefaults) {
  Config d = parse_config("{}", "test.yaml");
  EXPECT_EQ(d.park_after_s, 600);
  EXPECT_EQ(d.max_live, 0);  // from RAM
  EXPECT_EQ(d.warm_pool, 1);
  EXPECT_EQ(d.warm_pool_idle_s, 3600);
  EXPECT_EQ(d.crash_limit, 5);
  EXPECT_EQ(d.restart_backoff_s, 0.5);
  EXPECT_EQ(d.restart_backoff_max_s, 30);
  Config c = parse_config(
      "claude:\n  park_after: 0\n  max_live: 8\n  warm_pool: 0\n  warm_pool_idle: 60\n  memory_reserve_mb: 2048\n  restart_backoff: 1\n"
      "  restart_backoff_max: 60\n  crash_limit: 3\n  crash_window: 120\n",
      "test.yaml");
  EXPECT_EQ(c.park_after_s, 0);
  EXPECT_EQ(c.max_live, 8);
  EXPECT_EQ(c.warm_pool, 0);
  EXPECT_EQ(c.warm_pool_idle_s, 60);
  EXPECT_EQ(c.memory_reserve_mb, 2048);
  EXPECT_EQ(c.restart_backoff_s, 1);
  EXPECT_EQ(c.restart_backoff_max_s, 60);
  EXPECT_EQ(c.crash_limit, 3);
  EXPECT_EQ(c.crash_window_s, 120);
  EXPECT_EQ(error_of("claude:\n  crash_limit: 0\n"),
            "test.yaml:2:16: key 'claude.crash_limit': must be at least 1 (give up at the first crash)");
  EXPECT_EQ(error_of("claude:\n  max_live: -2\n"),
            "test.yaml:2:13: key 'claude.max_live': expected a non-negative integer, got '-2'");
}

TEST(Config, MaxEventBytesHasADefaultAndBounds) {
  EXPECT_EQ(parse_config("", "t.yaml").max_event_bytes, 8 << 20);
  EXPECT_EQ(parse_config("claude:\n  max_event_bytes: 65536\n", "t.yaml").max_event_bytes, 65536);
  EXPECT_EQ(error_of("claude:\n  max_event_bytes: 1000\n"),
            "test.yaml:2:20: key 'claude.max_event_bytes': must be from 16384 (16 KiB) to 67108864 (64 MiB), got 1000");
  EXPECT_NE(error_of("claude:\n  max_event_bytes: 1000000000\n").find("to 67108864 (64 MiB)"), std::string::npos);
  EXPECT_NE(error_of("claude:\n  max_event_bytes: lots\n").find("expected a non-negative integer"), std::string::npos);
  EnvGuard e("CCMUX_CLAUDE_MAX_EVENT_BYTES", "100");
  EXPECT_NE(error_of("").find("CCMUX_CLAUDE_MAX_EVENT_BYTES"), std::string::npos) << error_of("");
}

TEST(Config, StartTimeoutKeyItsDefaultAndItsErrors) {
  EXPECT_EQ(parse_config("{}", "test.yaml").start_timeout_s, 120);
  EXPECT_EQ(parse_config("claude:\n  start_timeout: 7.5\n", "test.yaml").start_timeout_s, 7.5);
  EXPECT_EQ(parse_config("claude:\n  start_timeout: 0\n", "test.yaml").start_timeout_s, 0);  // never
  EXPECT_EQ(error_of("claude:\n  start_timeout: -1\n"),
            "test.yaml:2:18: key 'claude.start_timeout': expected a non-negative number, got '-1'");
  EXPECT_EQ(error_of("claude:\n  start_timeout: [1]\n"),
            "test.yaml:2:18: key 'claude.start_timeout': expected a number");
  EnvGuard e("CCMUX_CLAUDE_START_TIMEOUT", "45");
  EXPECT_EQ(parse_config("claude:\n  start_timeout: 7.5\n", "test.yaml").start_timeout_s, 45);
}

TEST(Config, HoldAndShimKeysTheirDefaultsAndTheirErrors) {
  Config d = parse_config("{}", "test.yaml");
  EXPECT_TRUE(d.hold);  // sessions outlive ccmuxd unless told otherwise
  EXPECT_EQ(d.shim_path, "");
  Config c = parse_config("claude:\n  hold: false\n  shim: /opt/ccmux/ccmux-shim\n", "test.yaml");
  EXPECT_FALSE(c.hold);
  EXPECT_EQ(c.shim_path, "/opt/ccmux/ccmux-shim");
  EXPECT_EQ(error_of("claude:\n  hold: maybe\n"), "test.yaml:2:9: key 'claude.hold': expected true or false, got 'maybe'");
  EXPECT_EQ(error_of("claude:\n  shim: [a]\n"), "test.yaml:2:9: key 'claude.shim': expected a string");
}

TEST(Config, WorktreesDirIsAbsoluteOrHomeAndEmptyByDefault) {
  EXPECT_EQ(parse_config("", "t.yaml").worktrees_dir, "");
  EXPECT_EQ(parse_config("worktrees:\n  dir: /srv/wt\n", "t.yaml").worktrees_dir, "/srv/wt");
  EXPECT_EQ(parse_config("worktrees:\n  dir: ~/wt\n", "t.yaml").worktrees_dir, expand_home("~/wt"));
  EXPECT_EQ(error_of("worktrees:\n  dir: rel/wt\n"),
            "test.yaml:2:8: key 'worktrees.dir': must be an absolute path (or start with ~), got 'rel/wt'");
  EXPECT_EQ(error_of("worktrees:\n  dirs: /x\n"), "test.yaml:2:3: key 'worktrees.dirs': unknown key (known: dir)");
  EnvGuard a("CCMUX_WORKTREES_DIR", "/env/wt");
  EXPECT_EQ(parse_config("worktrees:\n  dir: /file/wt\n", "t.yaml").worktrees_dir, "/env/wt");
}

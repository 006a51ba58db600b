// `ccmux hook` (run by Claude Code) and `ccmux hooks install|uninstall|status`.
#include "commands.h"
#include "hook_command.h"

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <unistd.h>

namespace ccmux::cli {

namespace {

struct Options {
  double hook_wait = 0;
  std::string project;
  double wait = 30;
};

HooksOptions hooks_options(const Options& o) {
  HooksOptions ho;
  const char* home = std::getenv("HOME");
  ho.settings_path = o.project.empty() ? std::string(home ? home : "") + "/.claude/settings.json"
                                       : std::filesystem::absolute(o.project).string() + "/.claude/settings.json";
  ho.ccmux_path = std::filesystem::canonical("/proc/self/exe").string();
  std::string lean = std::filesystem::path(ho.ccmux_path).parent_path().string() + "/ccmux-hook";
  if (access(lean.c_str(), X_OK) == 0) ho.hook_path = lean;
  ho.wait_s = o.wait;
  return ho;
}

// Errors of the settings edits (a file that is not JSON, a symlink, ...) end as one line.
int guarded(const std::function<int()>& f) {
  try {
    return f();
  } catch (const std::exception& e) {
    std::cerr << "ccmux hooks: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace

void add_hook_commands(Commands& c) {
  const Context& ctx = c.ctx();
  auto o = std::make_shared<Options>();
  auto* hook = c.add(nullptr, "hook", "run by Claude Code as a hook: reads its JSON on stdin, asks ccmuxd, prints the decision",
                     [o, &ctx] { return hook_command(ctx.socket_path, o->hook_wait); });
  hook->add_option("--wait", o->hook_wait, "PermissionRequest: seconds to wait for an answer from another client (0: none)");

  auto* hooks = c.group("hooks", "Claude Code hooks for sessions started by hand");
  c.local_only(hook, "Claude Code runs the hook on its own machine, against that machine's ccmuxd");
  c.local_only(hooks, "hooks go into this machine's Claude Code settings, for its own ccmuxd; run it on the other machine");
  auto* install = c.add(hooks, "install", "add ccmux's hooks to ~/.claude/settings.json (idempotent, keeps a backup)",
                        [o] { return guarded([&] { return hooks_install(hooks_options(*o)); }); });
  auto* uninstall = c.add(hooks, "uninstall", "remove only ccmux's hooks (restores the file when nothing else changed)",
                          [o] { return guarded([&] { return hooks_uninstall(hooks_options(*o)); }); });
  auto* status = c.add(hooks, "status", "which hooks are installed, and whether ccmuxd is up",
                       [o, &ctx] { return guarded([&] { return hooks_status(hooks_options(*o), ctx.socket_path); }); });
  for (auto* sc : {install, uninstall, status})
    sc->add_option("--project", o->project, "a project folder: edit its .claude/settings.json instead");
  install->add_option("--wait", o->wait, "seconds a permission prompt waits for the phone/Telegram (default 30)");
}

}  // namespace ccmux::cli

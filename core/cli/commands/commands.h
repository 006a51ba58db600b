// The subcommands of ccmux, one group per file in this folder, each on the client library.
// A group adds its subcommands (and their options) to the parser; main() runs the action of
// the one the command line chose.
#pragma once

#include <ccmux/client/connection.h>

#include <CLI/CLI.hpp>

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace ccmux::cli {

// What every command may use: the global options, final once the command line is parsed.
struct Context {
  std::string socket_path;  // --socket, else $CCMUX_DAEMON_SOCKET, else the XDG/system path
  // A connection to ccmuxd (hello done). Throws client::Unreachable (exit code 2).
  std::unique_ptr<client::Connection> connect(bool watch_approvals = false) const {
    return std::make_unique<client::Connection>(socket_path, watch_approvals);
  }
};

// An action returns the process exit code (see main.cpp).
using Action = std::function<int()>;

class Commands {
 public:
  Commands(CLI::App& app, Context& ctx) : app_(app), ctx_(ctx) {}
  CLI::App& app() { return app_; }
  const Context& ctx() const { return ctx_; }
  // Adds subcommand `name` under `parent` (the app when null); `action` runs when chosen.
  CLI::App* add(CLI::App* parent, const std::string& name, const std::string& description, Action action) {
    CLI::App* sc = (parent ? parent : &app_)->add_subcommand(name, description);
    actions_.emplace_back(sc, std::move(action));
    return sc;
  }
  // Runs `action` when `sc`, added by someone else (ServiceCommand), was chosen.
  void on(CLI::App* sc, Action action) { actions_.emplace_back(sc, std::move(action)); }
  // A subcommand that only groups others (`hooks`, `token`, ...): one of them is required.
  CLI::App* group(const std::string& name, const std::string& description) {
    CLI::App* sc = app_.add_subcommand(name, description);
    sc->require_subcommand(1);
    return sc;
  }
  // The chosen command's exit code; -1 when none of these was chosen.
  int run() const {
    for (auto& [sc, action] : actions_)
      if (sc->parsed()) return action();
    return -1;
  }

 private:
  CLI::App& app_;
  Context& ctx_;
  std::vector<std::pair<CLI::App*, Action>> actions_;
};

// Option values live as long as the parser: each group keeps them in a shared struct that
// its actions capture.
void add_run_attach_commands(Commands& c);  // run, attach
void add_session_commands(Commands& c);     // new, ls, send, stop, resume, interrupt, mode, payload
void add_approval_commands(Commands& c);    // approvals, approve, deny, answer, forget, autonomy
void add_hook_commands(Commands& c);        // hook, hooks install|uninstall|status
void add_policy_commands(Commands& c);      // policy test
void add_token_commands(Commands& c);       // token create|list|revoke
void add_cert_commands(Commands& c);        // certs init
void add_status_commands(Commands& c);      // plugins, status
void add_service_commands(Commands& c);     // service install|uninstall|status
void add_doctor_commands(Commands& c);      // doctor

}  // namespace ccmux::cli

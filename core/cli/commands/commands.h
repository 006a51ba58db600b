// The subcommands of ccmux, one group per file in this folder, each on the client library.
// A group adds its subcommands (and their options) to the parser; main() runs the action of
// the one the command line chose.
#pragma once

#include "hosts.h"

#include <ccmux/client/connection.h>

#include <CLI/CLI.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ccmux::cli {

// What every command may use: the global options, final once the command line is parsed.
struct Context {
  std::string socket_path;  // --socket, else $CCMUX_DAEMON_SOCKET, else the XDG/system path
  std::string host_name;    // --host NAME: a machine of hosts.yaml instead of the local socket
  std::optional<Host> host;  // that entry, once main() has read hosts.yaml
  // A connection to ccmuxd (hello done): the host's transport with --host, else the local
  // socket. Throws client::Unreachable (exit code 2), ConfigError (a refused token file).
  std::unique_ptr<client::Connection> connect(bool watch_approvals = false) const;
  bool remote() const { return host.has_value(); }
  // For a command about one session or approval: `id` "MACHINE/s-…" where MACHINE is a host
  // of hosts.yaml (and no --host was given) gives a context connecting to MACHINE, and `id`
  // loses its prefix; any other id is left as it is, for this context's daemon (and its
  // fleet) to route. Throws ConfigError for a bad hosts.yaml when there is a prefix to look up.
  Context routed(std::string& id) const;
};

// The cwd of `run`/`new`: --cwd, else the current folder; "" (said on stderr) when --host
// is given without --cwd.
std::string session_cwd(const Context& ctx, const std::string& cwd);

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
  // `sc` (a command or a whole group) acts on this machine itself: with --host it is refused
  // with `why` instead of run.
  void local_only(CLI::App* sc, std::string why) { local_only_.emplace_back(sc, std::move(why)); }
  // The chosen command's exit code; -1 when none of these was chosen.
  int run() const;

 private:
  CLI::App& app_;
  Context& ctx_;
  std::vector<std::pair<CLI::App*, Action>> actions_;
  std::vector<std::pair<CLI::App*, std::string>> local_only_;
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
void add_worktree_commands(Commands& c);    // worktrees [ls | rm | prune]
void add_gitlab_commands(Commands& c);      // gitlab mrs|pipelines|issues (the gitlab plugin's methods)

}  // namespace ccmux::cli

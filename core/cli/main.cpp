// ccmux: the command-line client of ccmuxd. The subcommands live in commands/, one group per
// file, on the client library (client/); this file only puts them together.
//
// Exit codes: 0 success; 1 the turn ended in error (is_error), was stopped by a deny,
// or the daemon refused the request; 2 the daemon is unreachable or speaks another
// protocol; 1 also for a bad hosts.yaml or token file (--host); 3 the session failed or exited before its turn finished; parser usage
// errors keep CLI11's codes (non-zero).
#include "commands/commands.h"
#include "config/config_schema.h"
#include "hook_command.h"
#include "paths.h"

#include <CLI/CLI.hpp>

#include <cstdlib>
#include <iostream>
#include <string_view>

using namespace ccmux;

int main(int argc, char** argv) {
  // `ccmux hook` runs on every tool call of a hand-started claude: skip building the whole
  // command line parser (`ccmux hook [--wait S]` is all it takes).
  if (argc >= 2 && std::string_view(argv[1]) == "hook" && (argc == 2 || (argc == 4 && std::string_view(argv[2]) == "--wait"))) {
    double wait = argc == 4 ? std::atof(argv[3]) : 0;
    return cli::hook_command(find_daemon_socket(), wait);
  }
  CLI::App app{"ccmux: drive Claude Code sessions hosted by ccmuxd"};
  app.require_subcommand(1);
  cli::Context ctx;
  auto* socket = app.add_option("--socket", ctx.socket_path, "ccmuxd socket (default: $CCMUX_DAEMON_SOCKET, then the XDG/system path)");
  app.add_option("--host", ctx.host_name,
                 "another machine of ~/.config/ccmux/hosts.yaml: the command goes there, connecting directly (no fleet "
                 "needed). Not `new|run --host NAME|auto` (after the command), which asks the fleet plugin to start the "
                 "session there")
      ->excludes(socket);

  cli::Commands commands(app, ctx);
  cli::add_run_attach_commands(commands);
  cli::add_session_commands(commands);
  cli::add_approval_commands(commands);
  cli::add_hook_commands(commands);
  cli::add_policy_commands(commands);
  cli::add_token_commands(commands);
  cli::add_cert_commands(commands);
  cli::add_status_commands(commands);
  cli::add_service_commands(commands);
  cli::add_doctor_commands(commands);
  cli::add_worktree_commands(commands);
  cli::add_gitlab_commands(commands);

  CLI11_PARSE(app, argc, argv);
  if (ctx.socket_path.empty()) ctx.socket_path = find_daemon_socket();
  try {
    if (!ctx.host_name.empty()) {
      cli::HostsFile hosts = cli::load_hosts(cli::default_hosts_path());
      const cli::Host* h = hosts.find(ctx.host_name);
      if (!h) {
        std::cerr << "ccmux: no host '" << ctx.host_name << "' in " << hosts.path
                  << (hosts.hosts.empty() ? std::string(" (it lists none)") : " (it lists: " + hosts.names() + ")") << "\n";
        return 1;
      }
      ctx.host = *h;
    }
    int rc = commands.run();
    return rc < 0 ? 0 : rc;
  } catch (const client::Unreachable& e) {
    std::cerr << "ccmux: " << e.what() << "\n";
    return 2;
  } catch (const client::RequestFailed& e) {
    std::cerr << "ccmux: " << e.code << ": " << e.what() << "\n";
    return 1;
  } catch (const ConfigError& e) {  // hosts.yaml, or a token file it names
    std::cerr << "ccmux: " << e.what() << "\n";
    return 1;
  }
}

// ccmux: the command-line client of ccmuxd. The subcommands live in commands/, one group per
// file, on the client library (client/); this file only puts them together.
//
// Exit codes: 0 success; 1 the turn ended in error (is_error), was stopped by a deny,
// or the daemon refused the request; 2 the daemon is unreachable or speaks another
// protocol; 3 the session failed or exited before its turn finished; parser usage
// errors keep CLI11's codes (non-zero).
#include "commands/commands.h"
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
  app.add_option("--socket", ctx.socket_path, "ccmuxd socket (default: $CCMUX_DAEMON_SOCKET, then the XDG/system path)");

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

  CLI11_PARSE(app, argc, argv);
  if (ctx.socket_path.empty()) ctx.socket_path = find_daemon_socket();
  try {
    int rc = commands.run();
    return rc < 0 ? 0 : rc;
  } catch (const client::Unreachable& e) {
    std::cerr << "ccmux: " << e.what() << "\n";
    return 2;
  } catch (const client::RequestFailed& e) {
    std::cerr << "ccmux: " << e.code << ": " << e.what() << "\n";
    return 1;
  }
}

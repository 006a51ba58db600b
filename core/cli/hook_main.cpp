// ccmux-hook: what `ccmux hooks install` writes into Claude Code's settings. The same as
// `ccmux hook [--wait S]`, in a binary that links only the protocol client: claude starts it
// on every tool call, and the full CLI spends ~2 ms more loading SQLite, Lua and mbedTLS.
#include "hook_command.h"
#include "paths.h"

#include <cstdlib>
#include <iostream>
#include <string_view>

int main(int argc, char** argv) {
  double wait = 0;
  if (argc == 3 && std::string_view(argv[1]) == "--wait") {
    wait = std::atof(argv[2]);
  } else if (argc != 1) {
    // Never in claude's way: a usage mistake gives no decision (exit 2 would block the tool).
    std::cerr << "usage: ccmux-hook [--wait SECONDS] < hook-input.json\n";
    return 0;
  }
  return ccmux::cli::hook_command(ccmux::find_daemon_socket(), wait);
}

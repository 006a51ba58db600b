// The hook itself: what Claude Code runs on each hook event. Shared by `ccmux hook` and the
// lean `ccmux-hook` binary, so it depends on the client library only.
#include "hook_command.h"

#include "json_bounds.h"

#include <ccmux/client/connection.h>

#include <iostream>
#include <iterator>

namespace ccmux::cli {

using nlohmann::json;

int hook_command(const std::string& socket_path, double wait_s) {
  std::string text((std::istreambuf_iterator<char>(std::cin)), {});
  // Bounded: a tool input nested 100k deep parses, but copying it into the request overflowed the stack.
  std::string why;
  json input = parse_json_bounded(text, &why);
  if (!input.is_object()) {
    if (!why.empty()) std::cerr << "ccmux hook: unreadable hook input: " << why << " (no decision)\n";
    return 0;
  }
  try {
    client::Connection c(socket_path);
    json r = c.request("hook.event", {{"input", input}, {"wait_s", wait_s}});
    if (r.contains("output") && !r["output"].is_null()) std::cout << r["output"].dump() << "\n";
  } catch (const std::exception& e) {
    // ccmuxd is not running, or refused: claude goes on as if there were no hook.
    std::cerr << "ccmux hook: " << e.what() << " (no decision)\n";
  }
  return 0;
}

}  // namespace ccmux::cli

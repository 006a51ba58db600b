// How the core reports failure: one style, written down once.
//
// - Inside the core, a failure is an exception; its type says who is told:
//   * CommandError{code, message}: a request that cannot be carried out (bad params, unknown
//     session, not allowed). The method registry / protocol client answer it to the caller as
//     {"error": {"code", "message"}}; nothing is logged above debug, nothing else changes.
//   * ConfigError (config/config_schema.h): a config that cannot be used, with file:line:col;
//     ccmuxd --check-config and start-up print it and exit 2.
//   * PluginError (plugins/plugin_host.h): a plugin that cannot be loaded or started; logged
//     with the plugin's name; a `required` plugin stops start-up.
//   * std::system_error (errno) and std::runtime_error from the OS and SQLite: the machine
//     is in trouble (disk full, no fds). A client's request that hits one is answered
//     {"code": "internal"} and logged (protocol_client.cpp: nothing a client sends may end
//     the daemon); a plugin's host call that hits one returns CCMUX_ERR, logged with the
//     plugin's name. Anywhere else (claude's output, timers) they are not caught: escaping
//     the event loop ends ccmuxd with the message logged and systemd restarts it, since
//     catching them halfway would leave a session or the store in a state nobody checked.
// - Input from outside (claude's lines, clients' JSON, hook input, Lua results, plugin calls)
//   is checked where it is parsed (json_bounds, Fields) and turned into one of the above or
//   into a logged, dropped line; it never reaches the loop as an exception of its own.
// - At the C ABI (plugins), nothing is thrown across: every entry point catches, logs with
//   the plugin's name and returns a CCMUX_ERR_* code (sdk/include/ccmux/plugin_abi.h).
// - "Not found" that is a normal answer is std::optional / an empty result, not an error.
#pragma once

#include <stdexcept>
#include <string>

namespace ccmux {

// A command that cannot be carried out; `code` goes into the protocol error.
struct CommandError : std::runtime_error {
  std::string code;
  CommandError(std::string c, const std::string& msg) : std::runtime_error(msg), code(std::move(c)) {}
};

}  // namespace ccmux

// Requests addressed to other machines (SDK 1.6, docs/fleet.md "Addressing"): the decision
// whether a request is served here or handed to the router plugin (a pure function, so it is
// tested alone), and the router as the protocol sees it once a plugin registered one.
#pragma once

#include "protocol/method_registry.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace ccmux {

class ProtocolClient;

struct RouteDecision {
  enum class Kind { local, remote, refused };
  Kind kind = Kind::local;
  std::string target;       // remote: the machine as the request named it ("auto" included)
  nlohmann::json params;    // local: the params to serve when rewritten; null: serve them unchanged
  std::string code;         // refused: the error code and message
  std::string message;
};

// A machine's name as docs/fleet.md defines it: 1-64 of letters, digits, '-' and '_'.
bool is_machine_name(std::string_view s);

// Where `params` sends a request. `local_name`: this machine's name when a router is
// registered; nullptr without one. The rules (docs/protocol.md "Other machines"):
//  - `host` (a string; another type is bad_params): "", "local" or local_name is removed and
//    the request served here; another machine's name or "auto" routes it (without a router:
//    unknown_host); a value that is not a machine name is bad_params.
//  - `session`, then `id` (strings): "NAME/rest" with NAME a machine name routes to NAME
//    (without a router: not_found); "local_name/rest" becomes "rest", served here; "NAME/"
//    with nothing after the '/' is bad_params. A value whose part before the first '/' is not
//    a machine name (empty, too long, other characters) is no address: served here unchanged.
//  - `host` naming another machine wins over prefixes; else the first prefix found routes.
RouteDecision decide_route(const nlohmann::json& params, const std::string* local_name);

// How a client a router was given ends up (SDK 1.6 ccmux_client_note_fn's `what`).
enum class ClientNote { gone = 0, ready = 1 };

// The router a plugin registered (SDK 1.6 register_router). The plugin host fills it in;
// ProtocolClient hands it the requests decide_route sends away. Loop thread only.
struct MachineRouter {
  uint64_t serial = 0;     // which registration: a client notes only to the router it was given to
  std::string plugin;      // who registered it
  std::string local_name;  // this machine's name
  // Hands one request to the plugin; `done` gets its answer (call_respond), or an error when
  // the plugin stops first. `params` as the client sent them.
  std::function<void(ProtocolClient& client, const std::string& target, const std::string& method,
                     const nlohmann::json& params, const MethodDone& done)>
      route;
  // News of a client the router was given (queued to the plugin; dropped once it stopped).
  std::function<void(uint64_t client, ClientNote what)> note;
};

}  // namespace ccmux

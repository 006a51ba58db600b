// The protocol's method registry: every request method (docs/protocol.md) is here once, as
// {name, trust, params, result, handler} — the built-ins (builtin_methods.h), subscribe and
// unsubscribe, and the methods plugins register (SDK register_method). ProtocolClient
// dispatches requests only through it; `methods.list` describes it to clients and transports.
// It owns: lookup (one hash-map find per request), the trust check, the params check (typed
// reads of json_fields.h, so errors read as they always have) and the reserved name
// prefixes. It calls only the handlers it was given. Loop thread only.
#pragma once

#include "json_fields.h"

#include <nlohmann/json.hpp>

#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace ccmux {

struct Core;
class ProtocolClient;

// Who may call a method. The core knows two kinds of caller: the owner-only local socket
// (`trusted`), and the in-daemon clients plugins open, through which remote transports'
// users (WebSocket, Telegram) and plugins themselves speak.
enum class Trust {
  local,  // the local socket only; anyone else gets `forbidden`
  any,    // every client: local socket, remote transports, plugins
};

enum class ParamType { string, integer, number, boolean, object, array, any };

// One parameter. Checked in declaration order before the handler runs, with Fields' wording
// ("parameter 'limit' must be an integer from 1 to 10000"); null counts as absent. A
// required string must be non-empty. Parameters nobody declared are ignored, as always.
struct Param {
  std::string name{};
  ParamType type = ParamType::string;
  bool required = false;
  std::string meaning{};
  // integer/number bounds (inclusive); the defaults mean "no bound".
  double min = -std::numeric_limits<double>::infinity();
  double max = std::numeric_limits<double>::infinity();
  // When set, the bad_params message for a value that fails the check, instead of Fields'.
  std::string refuse{};
};

using MethodDone = std::function<void(bool ok, const nlohmann::json& result_or_error)>;

// One request, as its handler sees it. `params` passed the method's check.
struct Call {
  Core& core;
  ProtocolClient& client;
  const std::string& who;  // the client's name
  bool trusted;            // the local socket
  const std::string& method;
  const nlohmann::json& params;
  Fields p;  // typed reads of params
};

// Calls done exactly once (now, or later for methods that wait on claude); throws
// CommandError for a bad request.
using MethodHandler = std::function<void(Call& call, const MethodDone& done)>;

struct Method {
  std::string name{};
  Trust trust = Trust::any;
  std::vector<Param> params{};
  bool params_declared = true;  // false: the plugin checks its own (described as null)
  std::string result{};         // the result's shape, in a few words
  std::string forbidden{};      // the `forbidden` message for a caller trust excludes
  std::string plugin{};         // the plugin that registered it; empty for built-ins
  MethodHandler handler{};
};

class MethodRegistry {
 public:
  // False when the name is empty or taken, or is a plugin's under a reserved prefix.
  bool add(Method m);
  // Names starting with `prefix` belong to the daemon: plugins may not take them, and a
  // caller trust excludes gets `forbidden` (`message`) even for one that does not exist.
  void reserve_prefix(std::string prefix, Trust trust, std::string message);
  // Drops every method `plugin` registered.
  void remove_plugin(const std::string& plugin);
  std::vector<std::string> names_of(const std::string& plugin) const;

  // Runs `method` for `client`: trust, then params, then the handler. Throws CommandError
  // (unknown_method, forbidden, bad_params, or the handler's own).
  void call(Core& core, ProtocolClient& client, const std::string& who, bool trusted, const std::string& method,
            const nlohmann::json& params, const MethodDone& done) const;

  // What methods.list answers: every method, by name.
  nlohmann::json describe() const;
  static nlohmann::json describe(const Method& m);

 private:
  struct Reserved {
    std::string prefix;
    Trust trust;
    std::string message;
  };
  const Reserved* reserved(const std::string& name) const;
  // Shared: a handler may register or drop methods (a plugin's) while it runs.
  std::unordered_map<std::string, std::shared_ptr<const Method>> methods_;
  std::vector<Reserved> reserved_;
};

const char* to_string(Trust t);
const char* to_string(ParamType t);

}  // namespace ccmux

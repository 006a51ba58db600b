// Loads plugins (Boost.DLL), checks SDK version and ABI fingerprint, validates their
// config keys with file:line:col (plugin_schema.h), hands them the C host API table, runs
// their timers and stops them.
#pragma once

#include "daemon/core.h"
#include "plugins/pending_calls.h"

#include <ccmux/plugin_abi.h>

#include <boost/dll/shared_library.hpp>
#include <nlohmann/json.hpp>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace ccmux {

class ProtocolClient;

struct PluginError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class PluginHost {
 public:
  explicit PluginHost(Core& core);
  ~PluginHost();

  // Loads and starts every enabled plugin. A failing `required` plugin throws PluginError;
  // others are logged and skipped (the daemon goes on).
  void start_all();
  // Loads each enabled plugin's descriptor and validates its keys, without starting it
  // (ccmuxd --check-config). Returns the error messages.
  std::vector<std::string> check_all();
  // The daemon is stopping (SIGTERM): from now on a blocking host call made off the loop
  // thread fails at once (CCMUX_ERR_STOPPING) instead of waiting. Plugins keep running.
  void begin_stopping();
  // Stops every plugin (last started first) and unloads it. ccmuxd calls it on the loop
  // thread while the loop still runs; again from the destructor, where it does nothing more.
  void stop_all();
  nlohmann::json list() const;

  // A protocol method served by a plugin (SDK 1.3), added to core.methods; false when taken.
  bool add_method(const std::string& method, const std::string& plugin, ccmux_method_fn fn, void* user);

  // SDK 1.6: a method answered later through call_respond (calls_), listed like add_method's.
  bool add_async_method(const std::string& method, const std::string& plugin, ccmux_async_method_fn fn, void* user);

  struct Instance;
  // SDK 1.6: makes `p` the daemon's router to other machines (core.router); false when one is set.
  bool set_router(Instance& p, const std::string& local_name, ccmux_route_fn route, ccmux_client_note_fn note,
                  void* user);

 private:
  std::unique_ptr<Instance> load(const PluginEntry& entry);  // throws PluginError
  // Drops the methods, approval providers, channels and revocation listeners `plugin` registered,
  // its router (with the remote approvals it fed), and answers its open calls with plugin_stopped.
  void forget(const std::string& plugin);
  // After stop() or a failed start(): closes the plugin to its threads and queued work and
  // drops its subscriptions and clients too.
  void teardown(Instance& p);
  Core& core_;
  std::vector<std::unique_ptr<Instance>> plugins_;
  std::vector<nlohmann::json> failed_;
  PendingCalls calls_;  // SDK 1.6: async methods' and routed requests' calls, answered by call_respond
  std::atomic<bool> stopping_{false};  // read by plugin threads (Instance::daemon_stopping)
};

// The library file for an entry: `path`, else `search_dir` (or the default plugin dir)
// holding lib<name>.so, ccmux-<name>.so or <name>.so.
std::string plugin_library_path(const PluginEntry& entry);
// Where plugins named without path or search_dir are looked for: <prefix of ccmuxd>/lib/ccmux/plugins
// when it exists, else the folder compiled in (the configured install prefix's).
std::string default_plugin_dir();

}  // namespace ccmux

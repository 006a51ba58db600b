// The daemon's parts, wired once in ccmuxd and shared by the local API, the plugin
// host and the command handlers. Everything here lives on the loop thread.
#pragma once

#include "approval_chain.h"
#include "config.h"
#include "event_bus.h"
#include "event_loop.h"
#include "hooks.h"
#include "method_registry.h"
#include "policy_engine.h"
#include "store.h"
#include "supervisor.h"
#include "tokens.h"
#include "version.h"

#include <functional>
#include <memory>
#include <set>
#include <string>

namespace ccmux {

class ProtocolClient;
class PluginHost;

struct Core {
  Config config;
  EventLoop loop;
  std::unique_ptr<Store> store;
  std::unique_ptr<EventBus> bus;
  std::unique_ptr<PolicyEngine> policies;
  std::unique_ptr<ApprovalChain> approvals;
  std::unique_ptr<Supervisor> supervisor;
  std::unique_ptr<HookBroker> hooks;
  std::unique_ptr<TokenStore> tokens;
  PluginHost* plugins = nullptr;
  MethodRegistry methods;  // every protocol method: the built-ins (from open()) and plugins'
  std::set<ProtocolClient*> clients;  // every connected protocol client (socket or plugin)
  int64_t started_ms = 0;

  // Builds store, bus, policies, approvals and supervisor from `config`. Throws on failure.
  void open(const std::string& claude_path);
  // Re-reads the policy scripts (SIGHUP); a broken script keeps its previous version.
  void reload_policies();
};

// The policy engine's settings from the config (approval.lua_*).
PolicyEngine::Options policy_options(const Config& config);

}  // namespace ccmux

// The daemon's parts, wired once in ccmuxd and shared by the local API, the plugin
// host and the command handlers. Everything here lives on the loop thread.
#pragma once

#include "approvals/approval_chain.h"
#include "approvals/policy_engine.h"
#include "approvals/remote_approvals.h"
#include "auth/client_certs.h"
#include "auth/tokens.h"
#include "config/config.h"
#include "protocol/method_registry.h"
#include "protocol/router.h"
#include "unique_fd.h"
#include "runtime/event_loop.h"
#include "sessions/hooks.h"
#include "sessions/supervisor.h"
#include "storage/event_bus.h"
#include "storage/store.h"
#include "version.h"
#include "worktrees/git_worker.h"

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>

namespace ccmux {

class ProtocolClient;
class PluginHost;

struct Core {
  UniqueFd state_lock;  // flock on <state_dir>/ccmuxd.lock; first member, so released last
  Config config;
  EventLoop loop;
  std::unique_ptr<Store> store;
  std::unique_ptr<EventBus> bus;
  std::unique_ptr<PolicyEngine> policies;
  std::unique_ptr<ApprovalChain> approvals;
  std::unique_ptr<Supervisor> supervisor;
  std::unique_ptr<HookBroker> hooks;
  std::unique_ptr<TokenStore> tokens;
  std::unique_ptr<ClientCertStore> certs;  // device certificates signed by the machine's CA (cert.*)
  PluginHost* plugins = nullptr;
  // ccmuxd's main: stop the daemon (daemon.shutdown); `stop_sessions` ends every claude too.
  std::function<void(bool stop_sessions)> request_shutdown;
  MethodRegistry methods;  // every protocol method: the built-ins (from open()) and plugins'
  std::set<ProtocolClient*> clients;  // every connected protocol client (socket or plugin)
  std::map<uint64_t, ProtocolClient*> clients_by_id;  // the same, by ProtocolClient::id()
  uint64_t next_client_id = 1;                        // unique in this daemon run
  // SDK 1.6: the plugin that routes requests to other machines (register_router); null: none.
  std::unique_ptr<MachineRouter> router;
  uint64_t next_router_serial = 1;
  RemoteApprovals remote_approvals;  // other machines' pending approvals, from the router
  // Git runs here, off the loop (worktree.*, session.new with a worktree); before `loop` is gone.
  std::unique_ptr<worktrees::GitWorker> git;
  std::set<std::string> worktrees_removing;  // paths a worktree.remove is removing: no session may start there
  int64_t started_ms = 0;

  // Builds store, bus, policies, approvals and supervisor from `config`. Throws on failure.
  void open(const std::string& claude_path);
  // Pending approvals as clients see them (the hello snapshot, approvals.list): this
  // machine's, then other machines' (remote_approvals).
  nlohmann::json pending_approvals_json() const;
  // Replaces `machine`'s remote approvals and tells the clients watching approvals what
  // changed (never the escalation channels: those belong to the owning machine).
  void set_remote_approvals(const std::string& machine, const nlohmann::json& approvals);
  // Re-reads the policy scripts (SIGHUP); a broken script keeps its previous version.
  void reload_policies();
};

// Where `ccmux certs init` put the machine's CA: tls/ beside the config file read (or the
// default config path when none was). `ccmux doctor` looks in the same place.
std::string machine_ca_dir(const Config& config);

// The policy engine's settings from the config (approval.lua_*).
PolicyEngine::Options policy_options(const Config& config);

}  // namespace ccmux

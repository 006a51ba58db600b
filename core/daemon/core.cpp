#include "daemon/core.h"

#include "protocol/builtin_methods.h"
#include "paths.h"
#include "sessions/hooks.h"

#include "protocol/protocol_client.h"
#include "util.h"

#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <filesystem>
#include <sys/file.h>
#include <unistd.h>

namespace ccmux {

void Core::open(const std::string& claude_path) {
  std::filesystem::create_directories(config.state_dir);
  std::filesystem::permissions(config.state_dir, std::filesystem::perms::owner_all, std::filesystem::perm_options::replace);
  // One daemon per store: a second one would number events twice. The lock is held as long
  // as the Core (for ccmuxd: the life of the process) and released by the kernel at exit.
  std::string lock_path = config.state_dir + "/ccmuxd.lock";
  UniqueFd lock(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!lock || flock(lock.get(), LOCK_EX | LOCK_NB) != 0) {
    std::string holder;
    char buf[32] = {0};
    if (lock && pread(lock.get(), buf, sizeof buf - 1, 0) > 0) holder = " (pid " + std::string(buf) + ")";
    throw std::runtime_error("another ccmuxd" + holder + " is using " + config.state_dir);
  }
  std::string pid = std::to_string(getpid());
  if (ftruncate(lock.get(), 0) == 0) (void)!pwrite(lock.get(), pid.data(), pid.size(), 0);
  state_lock = std::move(lock);
  store = std::make_unique<Store>(config.state_dir + "/ccmux.db");
  bus = std::make_unique<EventBus>(*store);
  bus->set_cap(std::make_unique<EventCap>(static_cast<size_t>(config.max_event_bytes), config.state_dir + "/large-events"));
  policies = std::make_unique<PolicyEngine>(loop, policy_options(config));
  // Loaded in the policy worker once the loop runs; approvals asked before wait behind it.
  policies->load(config.policies, [](const std::vector<std::string>& errors) {
    for (auto& e : errors) spdlog::error("policy: {} (every decision asks a human until it loads)", e);
  });
  approvals = std::make_unique<ApprovalChain>(loop, *store, *bus, *policies, config.approval_timeout_s);
  // Connected clients that asked to watch approvals hear of every request and resolution.
  approvals->add_channel("clients", [this](const std::string& msg) {
    for (auto* c : std::set<ProtocolClient*>(clients)) c->on_approval_message(msg);
  });
  SupervisorOptions so;
  so.claude_path = claude_path;
  so.extra_args = config.claude_extra_args;
  so.env = config.claude_env;
  so.default_model = config.model;
  so.idle_timeout_s = config.idle_timeout_s;
  so.start_timeout_s = config.start_timeout_s;
  so.stop_grace_s = config.stop_grace_s;
  so.project_roots = config.project_roots;
  so.economy.park_after_s = config.park_after_s;
  so.economy.max_live = static_cast<size_t>(config.max_live);
  so.economy.pool.capacity = static_cast<size_t>(config.warm_pool);
  so.economy.pool.idle_ttl_s = config.warm_pool_idle_s;
  so.economy.pool.memory_reserve = config.memory_reserve_mb << 20;
  so.economy.restart_backoff_s = config.restart_backoff_s;
  so.economy.restart_backoff_max_s = config.restart_backoff_max_s;
  so.economy.crash_limit = static_cast<size_t>(config.crash_limit);
  so.economy.crash_window_s = config.crash_window_s;
  so.hold = config.hold;
  so.holder.shim_path = config.shim_path.empty() ? beside_self("ccmux-shim") : config.shim_path;
  so.holder.holders_dir = config.state_dir + "/holders";
  so.holder.spool_dir = config.state_dir + "/spool";
  so.holder.stop_grace_s = config.stop_grace_s;
  supervisor = std::make_unique<Supervisor>(loop, *store, *bus, *approvals, so);
  hooks = std::make_unique<HookBroker>(loop, *approvals, *supervisor);
  tokens = std::make_unique<TokenStore>(*store);
  certs = std::make_unique<ClientCertStore>(*store, machine_ca_dir(config));
  git = std::make_unique<worktrees::GitWorker>([this](worktrees::GitWorker::Task t) { loop.post(std::move(t)); });
  add_builtin_methods(methods);
  loop.add_before_sleep([this] { bus->flush(); });
  started_ms = now_ms();
}

nlohmann::json Core::pending_approvals_json() const {
  nlohmann::json all = approvals->pending_json();
  for (auto& a : remote_approvals.pending()) all.push_back(a);
  return all;
}

void Core::set_remote_approvals(const std::string& machine, const nlohmann::json& list) {
  for (auto& msg : remote_approvals.replace(machine, list))
    for (auto* c : std::set<ProtocolClient*>(clients)) c->on_approval_message(msg);
}

void Core::reload_policies() {
  policies->load(config.policies, [this](const std::vector<std::string>& errors) {
    for (auto& e : errors) spdlog::error("policy reload: {} (keeping the previous version)", e);
    spdlog::info("policies reloaded: {} configured, {} errors", policies->size(), errors.size());
  });
}

std::string machine_ca_dir(const Config& config) {
  std::string file = config.source.empty() ? default_config_path() : config.source;
  return std::filesystem::absolute(file).parent_path().string() + "/tls";
}

PolicyEngine::Options policy_options(const Config& config) {
  PolicyEngine::Options o;
  o.limits = LuaLimits{static_cast<size_t>(config.lua_memory_mb) << 20, config.lua_instructions};
  o.timeout_s = static_cast<double>(config.lua_timeout_ms) / 1000;
  return o;
}

}  // namespace ccmux

// A loaded plugin as the host keeps it (PluginHost::Instance): its library, descriptor, host
// table, and what it registered, with the gate that keeps queued work and blocking calls from
// outliving it. Shared by the host table's implementations (plugin_host.cpp, host_api_fleet.cpp).
#pragma once

#include "plugins/plugin_host.h"
#include "storage/event_bus.h"

#include <ccmux/plugin_abi.h>

#include <spdlog/spdlog.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace ccmux {

// A plugin's subscription, as the bus sees it.
class PluginSink : public EventSink {
 public:
  PluginSink(ccmux_event_fn fn, void* user) : fn_(fn), user_(user) {}
  void deliver(const EventView& ev) override {
    std::string session(ev.session), kind(ev.kind);
    ccmux_event e{sizeof(ccmux_event), session.c_str(), ev.seq, ev.ts_ms, kind.c_str(), ev.payload.data(), ev.payload.size()};
    fn_(user_, &e);
  }

 private:
  ccmux_event_fn fn_;
  void* user_;
};

struct PluginHost::Instance {
  Core* core = nullptr;
  std::string name;
  std::string path;
  boost::dll::shared_library lib;
  const ccmux_plugin_descriptor* desc = nullptr;
  nlohmann::json config;
  void* state = nullptr;
  bool running = false;
  ccmux_host_api api{};
  // Set from SIGTERM on (PluginHost::begin_stopping): blocking calls from the plugin's threads
  // are refused at once instead of queueing behind a loop that is winding down.
  const std::atomic<bool>* daemon_stopping = nullptr;
  // What a refused blocking call returns: CCMUX_ERR_STOPPING for SDK 1.4 plugins, and -1 for
  // older ones, whose header promised 0 or -1.
  int refused = CCMUX_ERR;
  std::map<uint64_t, EventLoop::TimerId> timers;  // the plugin's timer id -> the loop's current one
  std::atomic<uint64_t> next_id{1};
  std::map<uint64_t, std::pair<uint64_t, std::unique_ptr<PluginSink>>> subs;  // our id -> (bus id, sink)
  std::map<uint64_t, std::unique_ptr<ProtocolClient>> clients;
  std::map<uint64_t, bool> client_ready;  // flow control set by the plugin (default ready)
  // Closed clients live until the loop's next turn: client_close may come from inside one of
  // that client's own callbacks, which goes on using it after the plugin returns.
  std::vector<std::unique_ptr<ProtocolClient>> closed_clients;
  std::mutex open_mu;
  std::set<uint64_t> open_clients;  // ids client_send accepts, kept by the calling thread
  PendingCalls* calls = nullptr;     // SDK 1.6: the host's open calls (call_respond)
  std::atomic<bool> router{false};   // SDK 1.6: this plugin is core.router (set_remote_approvals)

  // Shared with the work a plugin queues on the loop and with its threads' waiting calls.
  // Once closed (the plugin failed to start, or is being stopped), queued work is dropped
  // and waiting calls fail at once: nothing runs against a freed Instance or an unloaded
  // library, and a stop() joining a thread blocked in a host call cannot deadlock with the
  // loop (which is busy in that very stop(), or no longer running).
  struct Gate {
    std::mutex mu;
    std::condition_variable cv;
    bool closed = false;
  };
  std::shared_ptr<Gate> gate = std::make_shared<Gate>();

  void close() {
    {
      std::lock_guard lock(gate->mu);
      gate->closed = true;
    }
    gate->cv.notify_all();
  }

  // Queues fn on the loop, to run only if the plugin is still there then. False once closed.
  template <class F>
  bool post(F fn) {
    auto g = gate;
    {
      std::lock_guard lock(g->mu);
      if (g->closed) return false;
    }
    core->loop.post([this, g, fn = std::move(fn)]() mutable {
      {
        std::lock_guard lock(g->mu);
        if (g->closed) return;  // `this` is gone only after the gate closed
      }
      guarded("a host call on the loop thread", fn);  // the loop thread is the only one that closes the gate
    });
    return true;
  }

  // A host call's work: an exception (disk full, I/O error, bad_alloc) is logged with the
  // plugin's name and becomes `false` (CCMUX_ERR for the plugin), never thrown through the
  // loop or across the C boundary (core/base/errors.h). Nothing in the event loop catches: one
  // plugin's failed call would end the daemon with every session and pending approval in it.
  template <class F>
  bool guarded(const char* call, F&& fn) noexcept {
    try {
      fn();
      return true;
    } catch (const std::exception& e) {
      spdlog::error("plugin {}: {} failed: {}", name, call, e.what());
    } catch (...) {
      spdlog::error("plugin {}: {} failed (not a std::exception)", name, call);
    }
    return false;
  }

  // Runs fn on the loop thread: at once from it; else queued, and with `wait` the caller
  // blocks until it ran. False when it will not run: the plugin is closed, or (a waiting
  // call that may be refused) the daemon is stopping.
  template <class F>
  bool on_loop(F fn, bool wait, bool may_refuse = true) {
    if (core->loop.in_loop_thread()) return guarded("a host call", fn);
    if (!wait) return post(std::move(fn));
    if (may_refuse && daemon_stopping && daemon_stopping->load()) return false;
    struct Call {
      bool started = false, done = false;
    };
    auto call = std::make_shared<Call>();
    auto g = gate;
    std::unique_lock lock(g->mu);
    if (g->closed) return false;
    core->loop.post([this, g, call, &fn] {
      {
        std::lock_guard l(g->mu);
        if (g->closed) return;  // the caller has given up: fn and its captures are gone
        call->started = true;
      }
      guarded("a host call on the loop thread", fn);  // `this` outlives the call: the caller waits for it below
      {
        std::lock_guard l(g->mu);
        call->done = true;
      }
      g->cv.notify_all();
    });
    g->cv.wait(lock, [&] { return call->done || (g->closed && !call->started); });
    return call->done;
  }

  bool is_open_client(uint64_t id) {
    std::lock_guard lock(open_mu);
    return open_clients.count(id) > 0;
  }
};

// The SDK 1.6 functions of the host table (host_api_fleet.cpp).
void add_fleet_functions(ccmux_host_api& api);

}  // namespace ccmux

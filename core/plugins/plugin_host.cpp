#include "plugins/plugin_host.h"

#include "json_bounds.h"
#include "paths.h"
#include "plugins/plugin_schema.h"
#include "protocol/protocol_client.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <condition_variable>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <set>

#ifndef CCMUX_PLUGIN_DIR
#define CCMUX_PLUGIN_DIR "/usr/local/lib/ccmux/plugins"
#endif
#ifndef CCMUX_PLUGIN_REL_DIR
#define CCMUX_PLUGIN_REL_DIR "lib/ccmux/plugins"
#endif

namespace ccmux {

using nlohmann::json;

namespace {
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
}  // namespace

struct PluginHost::Instance {
  Core* core = nullptr;
  std::string name;
  std::string path;
  boost::dll::shared_library lib;
  const ccmux_plugin_descriptor* desc = nullptr;
  json config;
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

namespace {
using Instance = PluginHost::Instance;
Instance* self(void* host) { return static_cast<Instance*>(host); }

void api_log(void* host, int level, const char* msg) {
  auto* p = self(host);
  switch (level) {
    case CCMUX_LOG_DEBUG: spdlog::debug("plugin {}: {}", p->name, msg); break;
    case CCMUX_LOG_WARN: spdlog::warn("plugin {}: {}", p->name, msg); break;
    case CCMUX_LOG_ERROR: spdlog::error("plugin {}: {}", p->name, msg); break;
    default: spdlog::info("plugin {}: {}", p->name, msg);
  }
}

uint64_t api_subscribe(void* host, const char* session, uint64_t from_seq, ccmux_event_fn fn, void* user) {
  auto* p = self(host);
  if (!fn) return 0;
  std::string s = session && *session ? session : "*";
  uint64_t id = p->next_id++;
  bool ok = false;
  // Waits for the loop (from another thread) so that an unknown session is the 0 the ABI
  // promises, not an id that never delivers.
  p->on_loop([&] {
    if (s != "*" && !p->core->supervisor->exists(s)) {
      spdlog::warn("plugin {}: subscribe to unknown session {}", p->name, s);
      return;
    }
    ok = true;
    auto sink = std::make_unique<PluginSink>(fn, user);
    PluginSink* raw = sink.get();
    p->subs[id] = {0, std::move(sink)};  // first: the replay below may already call unsubscribe
    uint64_t bus_id = p->core->bus->subscribe(s, from_seq, raw);
    auto it = p->subs.find(id);
    if (it != p->subs.end() && it->second.second.get() == raw) it->second.first = bus_id;
    else p->core->bus->unsubscribe(bus_id);  // the plugin unsubscribed during the replay
  }, true);
  return ok ? id : 0;
}

void api_unsubscribe(void* host, uint64_t id) {
  auto* p = self(host);
  p->on_loop([p, id] {
    auto it = p->subs.find(id);
    if (it == p->subs.end()) return;
    p->core->bus->unsubscribe(it->second.first);
    p->subs.erase(it);  // may be inside this sink's own delivery: the bus no longer uses it
  }, true, false);  // waits while the loop serves: fn must not be called after it returns
}

uint64_t api_client_open(void* host, const char* name, ccmux_message_fn fn, void* user) {
  auto* p = self(host);
  if (!fn) return 0;
  uint64_t id = p->next_id++;
  std::string cname = "plugin:" + p->name + (name && *name ? ":" + std::string(name) : "");
  {
    std::lock_guard lock(p->open_mu);  // known to client_send at once, though made on the loop
    p->open_clients.insert(id);
  }
  bool queued = p->on_loop([p, id, cname, fn, user] {
    p->client_ready[id] = true;
    p->clients[id] = std::make_unique<ProtocolClient>(
        *p->core, cname,
        [p, id, fn, user](const std::string& msg) {
          if (p->clients.count(id)) fn(user, msg.data(), msg.size());  // nothing after client_close
        },
        [p, id] {
          auto it = p->client_ready.find(id);
          return it != p->client_ready.end() && it->second;  // a closed client takes nothing
        });
  }, false);
  if (queued) return id;
  std::lock_guard lock(p->open_mu);
  p->open_clients.erase(id);
  return 0;
}

int api_client_send(void* host, uint64_t client, const char* json_text, size_t len) {
  auto* p = self(host);
  if (!p->is_open_client(client) || (!json_text && len)) return -1;
  std::string msg(json_text ? json_text : "", len);
  bool queued = p->on_loop([p, client, msg] {
    auto it = p->clients.find(client);
    if (it != p->clients.end()) it->second->handle(msg);
  }, false);
  return queued ? 0 : -1;
}

void api_client_close(void* host, uint64_t client) {
  auto* p = self(host);
  {
    std::lock_guard lock(p->open_mu);
    p->open_clients.erase(client);
  }
  p->on_loop([p, client] {
    p->client_ready.erase(client);
    auto it = p->clients.find(client);
    if (it == p->clients.end()) return;
    // Quiet from now on (no message, no event: it is not ready); freed on the loop's next turn.
    p->closed_clients.push_back(std::move(it->second));
    p->clients.erase(it);
    p->post([p] { p->closed_clients.clear(); });
  }, true, false);  // like unsubscribe: on_message must not be called after it returns
}

void api_client_set_ready(void* host, uint64_t client, int ready) {
  auto* p = self(host);
  p->on_loop([p, client, ready] {
    auto it = p->clients.find(client);
    if (it == p->clients.end()) return;
    p->client_ready[client] = ready != 0;
    if (ready) it->second->resume();  // replays what it missed, in order
  }, false);
}

int api_register_provider(void* host, const char* name, ccmux_provider_fn fn, void* user) {
  auto* p = self(host);
  if (!fn) return -1;
  std::string pname = p->name + (name && *name ? "/" + std::string(name) : "");
  bool ran = p->on_loop([p, pname, fn, user] {
    p->core->approvals->add_provider(pname, [fn, user](const std::string& req) -> std::optional<ProviderVerdict> {
      std::optional<ProviderVerdict> out;
      struct Ctx {
        std::optional<ProviderVerdict>* out;
      } ctx{&out};
      fn(user, req.data(), req.size(),
         [](void* c, int decision, const char* reason, const char* updated) {
           auto* o = static_cast<Ctx*>(c)->out;
           ProviderVerdict v;
           v.decision = decision == CCMUX_DECISION_ALLOW ? "allow"
                        : decision == CCMUX_DECISION_DENY ? "deny"
                        : decision == CCMUX_DECISION_ASK  ? "ask"
                                                          : "";
           v.reason = reason ? reason : "";
           if (updated) v.updated_input = parse_json_bounded(updated);  // too deep: no updated input
           if (v.updated_input.is_discarded()) v.updated_input = nullptr;
           *o = v;
         },
         &ctx);
      return out;
    });
  }, true);
  return ran ? 0 : p->refused;
}

int api_register_channel(void* host, const char* name, ccmux_message_fn fn, void* user) {
  auto* p = self(host);
  if (!fn) return -1;
  std::string cname = p->name + (name && *name ? "/" + std::string(name) : "");
  bool ran = p->on_loop([p, cname, fn, user] {
    p->core->approvals->add_channel(cname, [fn, user](const std::string& msg) { fn(user, msg.data(), msg.size()); });
  }, true);
  return ran ? 0 : p->refused;
}

int api_kv_set(void* host, const char* key, const char* value, size_t len) {
  auto* p = self(host);
  if (!key || (!value && len)) return -1;
  std::string k(key), v(value ? value : "", len);
  bool stored = false;
  bool ran = p->on_loop([&] { stored = p->guarded("kv_set", [&] { p->core->store->kv_set(p->name, k, v); }); }, true);
  return !ran ? p->refused : stored ? 0 : -1;
}

int api_kv_get(void* host, const char* key, ccmux_value_fn fn, void* user) {
  auto* p = self(host);
  if (!key || !fn) return -1;
  std::optional<std::string> v;
  std::string k(key);
  bool read = false;
  if (!p->on_loop([&] { read = p->guarded("kv_get", [&] { v = p->core->store->kv_get(p->name, k); }); }, true))
    return p->refused;  // fn not called
  if (!read) return -1;  // fn not called
  if (v) fn(user, v->data(), v->size());
  else fn(user, nullptr, 0);
  return v ? 0 : 1;
}

int api_kv_delete(void* host, const char* key) {
  auto* p = self(host);
  if (!key) return -1;
  std::string k(key);
  bool deleted = false;
  bool ran = p->on_loop([&] { deleted = p->guarded("kv_delete", [&] { p->core->store->kv_delete(p->name, k); }); }, true);
  return !ran ? p->refused : deleted ? 0 : -1;
}

int api_post(void* host, ccmux_task_fn fn, void* user) {
  if (!fn) return -1;
  // Dropped if the plugin stops first: fn lives in its library.
  return self(host)->post([fn, user] { fn(user); }) ? 0 : -1;
}

int api_authenticate(void* host, const char* token, size_t len, char* name, size_t name_len) {
  auto* p = self(host);
  std::optional<std::string> who;
  std::string tok(token ? token : "", token ? len : 0);
  bool checked = false;
  if (!p->on_loop([&] { checked = p->guarded("authenticate", [&] { who = p->core->tokens->authenticate(tok); }); }, true))
    return p->refused;
  if (!checked) return -1;
  if (!who) return -1;
  if (name && name_len) {
    size_t n = std::min(name_len - 1, who->size());
    std::memcpy(name, who->data(), n);
    name[n] = 0;
  }
  return 0;
}

int api_register_revocation_listener(void* host, ccmux_value_fn fn, void* user) {
  auto* p = self(host);
  if (!fn) return -1;
  bool ran = p->on_loop([p, fn, user] {
    p->core->tokens->on_revoked([fn, user](const std::string& name) { fn(user, name.data(), name.size()); }, p->name);
  }, true);
  return ran ? 0 : p->refused;
}

int api_authenticate_certificate(void* host, const char* fingerprint, size_t len, char* name, size_t name_len) {
  auto* p = self(host);
  std::optional<std::string> who;
  std::string fp(fingerprint ? fingerprint : "", fingerprint ? len : 0);
  bool checked = false;
  if (!p->on_loop([&] { checked = p->guarded("authenticate_certificate", [&] { who = p->core->certs->authenticate(fp); }); },
                  true))
    return p->refused;
  if (!checked || !who) return -1;
  if (name && name_len) {
    size_t n = std::min(name_len - 1, who->size());
    std::memcpy(name, who->data(), n);
    name[n] = 0;
  }
  return 0;
}

int api_register_certificate_revocation_listener(void* host, ccmux_value_fn fn, void* user) {
  auto* p = self(host);
  if (!fn) return -1;
  bool ran = p->on_loop([p, fn, user] {
    p->core->certs->revocation_listeners().add([fn, user](const std::string& name) { fn(user, name.data(), name.size()); },
                                               p->name);
  }, true);
  return ran ? 0 : p->refused;
}

int api_register_method(void* host, const char* method, ccmux_method_fn fn, void* user) {
  auto* p = self(host);
  if (!fn || !method || !*method) return -1;
  bool ok = false;
  std::string m(method);
  if (!p->on_loop([&] { ok = p->core->plugins->add_method(m, p->name, fn, user); }, true)) return p->refused;
  return ok ? 0 : -1;
}

// ---- SDK 1.6 ----

// A plugin's answer (`text`, JSON) as the client gets it: invalid JSON is the plugin's fault.
std::pair<bool, json> read_answer(const std::string& plugin, bool ok, const std::string& text) {
  std::string why;
  json body = parse_json_bounded(text, &why);
  if (body.is_discarded())
    return {false, {{"code", "internal"}, {"message", "plugin " + plugin + " answered with invalid JSON (" + why + ")"}}};
  return {ok, std::move(body)};
}

int api_register_async_method(void* host, const char* method, ccmux_async_method_fn fn, void* user) {
  auto* p = self(host);
  if (!fn || !method || !*method) return CCMUX_ERR;
  bool ok = false;
  std::string m(method);
  if (!p->on_loop([&] { ok = p->core->plugins->add_async_method(m, p->name, fn, user); }, true)) return CCMUX_ERR_STOPPING;
  return ok ? CCMUX_OK : CCMUX_ERR;
}

int api_call_respond(void* host, uint64_t call, int ok, const char* js, size_t len) {
  auto* p = self(host);
  if (!js && len) return CCMUX_ERR;
  // Claimed here, on the calling thread: a second answer is refused at once, not on the loop.
  if (!p->calls->claim(call, p->name)) return CCMUX_ERR;
  std::string text(js ? js : "", js ? len : 0);
  // At once on the loop thread (stop() included: its answers still reach the clients); else
  // queued. Refused once the plugin is closed: the host answers the call itself (teardown).
  bool queued = p->on_loop([p, call, ok, text] {
    auto [good, body] = read_answer(p->name, ok != 0, text);
    p->calls->answer(call, good, body);  // a client that went away: its done drops it
  }, false);
  return queued ? CCMUX_OK : CCMUX_ERR_STOPPING;
}

int api_register_router(void* host, const char* local_name, ccmux_route_fn route, ccmux_client_note_fn note,
                        void* user) {
  auto* p = self(host);
  if (!route || !local_name || !is_machine_name(local_name)) return CCMUX_ERR;
  bool ok = false;
  std::string name(local_name);
  if (!p->on_loop([&] { ok = p->core->plugins->set_router(*p, name, route, note, user); }, true))
    return CCMUX_ERR_STOPPING;
  return ok ? CCMUX_OK : CCMUX_ERR;
}

int api_client_push(void* host, uint64_t client, const char* js, size_t len) {
  auto* p = self(host);
  Core& core = *p->core;
  if (!core.loop.in_loop_thread() || !js || !core.router || core.router->plugin != p->name) return CCMUX_ERR;
  auto it = core.clients_by_id.find(client);
  if (it == core.clients_by_id.end()) return CCMUX_ERR;
  // The transports frame messages by line (NDJSON): a message with a line break would be two.
  std::string_view msg(js, len);
  size_t first = msg.find_first_not_of(" \t"), last = msg.find_last_not_of(" \t");
  if (first == std::string_view::npos || msg[first] != '{' || msg[last] != '}' ||
      msg.find_first_of("\r\n") != std::string_view::npos) {
    spdlog::error("plugin {}: client_push: not one JSON object on one line; not sent", p->name);
    return CCMUX_ERR;
  }
  ProtocolClient* c = it->second;
  bool ready = false;
  bool sent = p->guarded("client_push", [&] {
    c->push(std::string(msg));
    ready = c->ready();
    c->routed(!ready);  // full: the router hears CCMUX_CLIENT_READY when it drains
  });
  return !sent ? CCMUX_ERR : ready ? 1 : 0;
}

int api_set_remote_approvals(void* host, const char* machine, const char* js, size_t len) {
  auto* p = self(host);
  if (!machine || !is_machine_name(machine) || (!js && len) || !p->router) return CCMUX_ERR;
  json list = parse_json_bounded(std::string_view(js ? js : "", js ? len : 0));
  if (!list.is_array()) return CCMUX_ERR;
  std::string m(machine);
  bool queued = p->on_loop([p, m, list] {
    if (p->core->router && p->core->router->plugin == p->name) p->core->set_remote_approvals(m, list);
  }, false);
  return queued ? CCMUX_OK : CCMUX_ERR_STOPPING;
}

// A timer's loop timer; periodic ones re-arm before fn runs, so fn may cancel its own timer.
void arm_timer(Instance* p, uint64_t id, double delay_s, double period_s, ccmux_task_fn fn, void* user) {
  p->timers[id] = p->core->loop.add_timer(delay_s, [p, g = p->gate, id, period_s, fn, user] {
    {
      std::lock_guard lock(g->mu);
      if (g->closed) return;  // stopped: the library may be gone (teardown cancels these anyway)
    }
    auto it = p->timers.find(id);
    if (it == p->timers.end()) return;
    if (period_s > 0) arm_timer(p, id, period_s, period_s, fn, user);
    else p->timers.erase(it);
    fn(user);
  });
}

uint64_t api_timer_start(void* host, uint64_t delay_ms, uint64_t period_ms, ccmux_task_fn fn, void* user) {
  auto* p = self(host);
  if (!fn) return 0;
  uint64_t id = p->next_id++;
  double delay_s = static_cast<double>(delay_ms) / 1000, period_s = static_cast<double>(period_ms) / 1000;
  bool queued = p->on_loop([p, id, delay_s, period_s, fn, user] { arm_timer(p, id, delay_s, period_s, fn, user); }, false);
  return queued ? id : 0;
}

void api_timer_cancel(void* host, uint64_t id) {
  auto* p = self(host);
  p->on_loop([p, id] {
    auto it = p->timers.find(id);
    if (it == p->timers.end()) return;
    p->core->loop.cancel_timer(it->second);
    p->timers.erase(it);
  }, false);
}

}  // namespace

std::string default_plugin_dir() {
  // Beside ccmuxd's own prefix first: the .deb installs under /usr what was built for /usr/local.
  std::string prefix = self_install_prefix();
  if (!prefix.empty() && std::filesystem::is_directory(prefix + "/" CCMUX_PLUGIN_REL_DIR))
    return prefix + "/" CCMUX_PLUGIN_REL_DIR;
  return CCMUX_PLUGIN_DIR;
}

std::string plugin_library_path(const PluginEntry& e) {
  if (!e.path.empty()) return e.path;
  std::string dir = e.search_dir.empty() ? default_plugin_dir() : e.search_dir;
  for (const std::string& file : {"lib" + e.name + ".so", "ccmux-" + e.name + ".so", e.name + ".so"})
    if (std::filesystem::exists(dir + "/" + file)) return dir + "/" + file;
  return dir + "/lib" + e.name + ".so";
}

PluginHost::PluginHost(Core& core) : core_(core) {}

void PluginHost::forget(const std::string& plugin) {
  core_.methods.remove_plugin(plugin);
  core_.approvals->remove_owned_by(plugin);
  core_.tokens->remove_listeners(plugin);
  core_.certs->revocation_listeners().remove(plugin);
  if (core_.router && core_.router->plugin == plugin) {
    core_.router.reset();
    // What it told of other machines' approvals can no longer change: clients see them end.
    for (auto& machine : core_.remote_approvals.machines()) core_.set_remote_approvals(machine, json::array());
  }
  // No client waits forever for a plugin that is gone.
  calls_.fail_all(plugin, {{"code", "plugin_stopped"}, {"message", "plugin " + plugin + " stopped before answering"}});
}

namespace {
// Runs a plugin's handler; `done` gets its answer (an error when it never answered).
void call_plugin_method(const std::string& plugin, ccmux_method_fn fn, void* user, const std::string& method,
                        const json& params, const std::string& caller, bool trusted, const MethodDone& done) {
  struct Reply {
    bool answered = false;
    bool ok = false;
    std::string text;
  } reply;
  std::string text = params.is_null() ? "{}" : params.dump();
  fn(user, text.data(), text.size(), caller.c_str(), trusted ? 1 : 0,
     [](void* ctx, int ok, const char* js, size_t len) {
       auto* r = static_cast<Reply*>(ctx);
       if (r->answered) return;  // exactly once: later calls are ignored
       r->answered = true;
       r->ok = ok != 0;
       r->text.assign(js ? js : "", js ? len : 0);
     },
     &reply);
  if (!reply.answered) return done(false, {{"code", "internal"}, {"message", "plugin " + plugin + " did not answer " + method}});
  std::string why;
  json body = parse_json_bounded(reply.text, &why);
  if (body.is_discarded())
    return done(false, {{"code", "internal"}, {"message", "plugin " + plugin + " answered " + method + " with invalid JSON (" + why + ")"}});
  done(reply.ok, body);
}
}  // namespace

bool PluginHost::add_method(const std::string& method, const std::string& plugin, ccmux_method_fn fn, void* user) {
  // The one registry refuses a built-in's name, a reserved one (token.*) and another plugin's.
  // The plugin checks its own params and trust (it is told whether the caller is trusted).
  bool added = core_.methods.add({.name = method,
                                  .trust = Trust::any,
                                  .params_declared = false,
                                  .result = "declared by the plugin",
                                  .plugin = plugin,
                                  .handler = [plugin, fn, user](Call& c, const MethodDone& done) {
                                    call_plugin_method(plugin, fn, user, c.method, c.params, c.who, c.trusted, done);
                                  }});
  if (!added) spdlog::warn("plugin {}: method '{}' is taken", plugin, method);
  return added;
}

bool PluginHost::add_async_method(const std::string& method, const std::string& plugin, ccmux_async_method_fn fn,
                                  void* user) {
  bool added = core_.methods.add({.name = method,
                                  .trust = Trust::any,
                                  .params_declared = false,
                                  .result = "declared by the plugin",
                                  .plugin = plugin,
                                  .handler = [this, plugin, fn, user](Call& c, const MethodDone& done) {
                                    uint64_t call = calls_.open(plugin, done);
                                    std::string text = c.params.is_null() ? "{}" : c.params.dump();
                                    fn(user, call, text.data(), text.size(), c.who.c_str(), c.trusted ? 1 : 0);
                                  }});
  if (!added) spdlog::warn("plugin {}: method '{}' is taken", plugin, method);
  return added;
}

bool PluginHost::set_router(Instance& p, const std::string& local_name, ccmux_route_fn route, ccmux_client_note_fn note,
                            void* user) {
  if (core_.router) {
    spdlog::warn("plugin {}: register_router refused: plugin {} routes to other machines already", p.name,
                 core_.router->plugin);
    return false;
  }
  auto r = std::make_unique<MachineRouter>();
  r->serial = core_.next_router_serial++;
  r->plugin = p.name;
  r->local_name = local_name;
  Instance* ip = &p;  // the router is dropped (forget) before the Instance goes
  r->route = [this, ip, route, user](ProtocolClient& c, const std::string& target, const std::string& method,
                                     const json& params, const MethodDone& done) {
    uint64_t call = calls_.open(ip->name, done);
    std::string text = params.dump(-1, ' ', false, json::error_handler_t::replace);
    route(user, call, c.id(), target.c_str(), method.c_str(), text.data(), text.size(), c.name().c_str(),
          c.trusted() ? 1 : 0);
  };
  if (note)
    r->note = [ip, note, user](uint64_t client, ClientNote what) {
      // Queued (a client's destructor must not run plugin code); dropped once the plugin stopped.
      int code = what == ClientNote::gone ? CCMUX_CLIENT_GONE : CCMUX_CLIENT_READY;
      ip->guarded("a client note", [&] { ip->post([note, user, client, code] { note(user, client, code); }); });
    };
  core_.router = std::move(r);
  p.router = true;
  spdlog::info("plugin {}: routes requests to other machines (this machine is {})", p.name, local_name);
  return true;
}

PluginHost::~PluginHost() { stop_all(); }

std::unique_ptr<PluginHost::Instance> PluginHost::load(const PluginEntry& e) {
  auto inst = std::make_unique<Instance>();
  inst->core = &core_;
  inst->name = e.name;
  inst->path = plugin_library_path(e);
  try {
    inst->lib.load(inst->path, boost::dll::load_mode::rtld_local | boost::dll::load_mode::rtld_now);
  } catch (const std::exception& ex) {
    throw PluginError("plugin " + e.name + ": cannot load " + inst->path + ": " + ex.what());
  }
  if (!inst->lib.has(CCMUX_PLUGIN_ENTRY_NAME))
    throw PluginError("plugin " + e.name + ": " + inst->path + " exports no " CCMUX_PLUGIN_ENTRY_NAME
                      " (not a ccmux plugin, or built for SDK major > 1: rebuild it against this SDK)");
  auto entry = inst->lib.get_alias<const ccmux_plugin_descriptor*()>(CCMUX_PLUGIN_ENTRY_NAME);
  const ccmux_plugin_descriptor* d = entry();
  if (!d || d->struct_size < offsetof(ccmux_plugin_descriptor, sdk_minor) + sizeof d->sdk_minor)
    throw PluginError("plugin " + e.name + ": invalid descriptor");
  std::string theirs = std::to_string(d->sdk_major) + "." + std::to_string(d->sdk_minor);
  std::string ours = std::to_string(CCMUX_SDK_VERSION_MAJOR) + "." + std::to_string(CCMUX_SDK_VERSION_MINOR);
  if (d->sdk_major != CCMUX_SDK_VERSION_MAJOR)
    throw PluginError("plugin " + e.name + " was built for SDK " + theirs + ", ccmuxd has SDK " + ours + ": " +
                      (d->sdk_major > CCMUX_SDK_VERSION_MAJOR ? "upgrade ccmuxd" : "rebuild the plugin against SDK " + ours));
  if (d->sdk_minor > CCMUX_SDK_VERSION_MINOR)
    throw PluginError("plugin " + e.name + " was built for SDK " + theirs + ", newer than ccmuxd's " + ours +
                      ": upgrade ccmuxd or rebuild the plugin against SDK " + ours);
  if (d->struct_size < sizeof(ccmux_plugin_descriptor) && d->sdk_minor == CCMUX_SDK_VERSION_MINOR)
    throw PluginError("plugin " + e.name + ": descriptor smaller than SDK " + ours + " defines: rebuild the plugin");
  if (d->sdk_minor == CCMUX_SDK_VERSION_MINOR && d->abi_fingerprint != CCMUX_ABI_FINGERPRINT)
    throw PluginError("plugin " + e.name + " was built against a modified SDK " + ours +
                      " header (ABI fingerprint differs): rebuild the plugin against the installed SDK");
  if (!d->start || !d->name) throw PluginError("plugin " + e.name + ": descriptor has no start function or name");
  inst->desc = d;
  inst->refused = d->sdk_minor >= 4 ? CCMUX_ERR_STOPPING : CCMUX_ERR;
  SectionSchema schema;
  try {
    schema = plugin_schema(e.name, *d);
  } catch (const std::invalid_argument& ex) {
    throw PluginError("plugin " + e.name + " declares its config keys wrongly: " + ex.what() + " (a bug in the plugin)");
  }
  try {
    inst->config = validate_section(schema, e.node, e.file);
  } catch (const ConfigError& ex) {
    throw PluginError(ex.what());
  }
  return inst;
}

std::vector<std::string> PluginHost::check_all() {
  std::vector<std::string> errors;
  for (auto& e : core_.config.plugins) {
    if (!e.enabled) continue;
    try {
      load(e);
    } catch (const std::exception& ex) {
      errors.push_back(ex.what());
    }
  }
  return errors;
}

void PluginHost::start_all() {
  for (auto& e : core_.config.plugins) {
    if (!e.enabled) {
      failed_.push_back({{"name", e.name}, {"state", "disabled"}});
      continue;
    }
    std::unique_ptr<Instance> inst;
    try {
      inst = load(e);
      Instance* p = inst.get();
      p->api.struct_size = sizeof(ccmux_host_api);
      p->api.sdk_major = CCMUX_SDK_VERSION_MAJOR;
      p->api.sdk_minor = CCMUX_SDK_VERSION_MINOR;
      p->api.host = p;
      p->api.log = api_log;
      p->api.subscribe = api_subscribe;
      p->api.unsubscribe = api_unsubscribe;
      p->api.client_open = api_client_open;
      p->api.client_send = api_client_send;
      p->api.client_close = api_client_close;
      p->api.register_approval_provider = api_register_provider;
      p->api.register_escalation_channel = api_register_channel;
      p->api.kv_set = api_kv_set;
      p->api.kv_get = api_kv_get;
      p->api.kv_delete = api_kv_delete;
      p->api.post = api_post;
      p->api.authenticate = api_authenticate;
      p->api.register_revocation_listener = api_register_revocation_listener;
      p->api.client_set_ready = api_client_set_ready;
      p->api.register_method = api_register_method;
      p->api.timer_start = api_timer_start;
      p->api.timer_cancel = api_timer_cancel;
      p->api.authenticate_certificate = api_authenticate_certificate;
      p->api.register_certificate_revocation_listener = api_register_certificate_revocation_listener;
      p->api.register_async_method = api_register_async_method;
      p->api.call_respond = api_call_respond;
      p->api.register_router = api_register_router;
      p->api.client_push = api_client_push;
      p->api.set_remote_approvals = api_set_remote_approvals;
      p->calls = &calls_;
      p->daemon_stopping = &stopping_;
      std::string cfg = p->config.dump();
      char err[1024] = {0};
      if (p->desc->start(&p->api, cfg.data(), cfg.size(), &p->state, err, sizeof err) != 0)
        throw PluginError("plugin " + e.name + " failed to start: " + (err[0] ? err : "no reason given"));
      p->running = true;
      spdlog::info("plugin {} {} started from {}", p->desc->name, p->desc->version ? p->desc->version : "", p->path);
      plugins_.push_back(std::move(inst));
    } catch (const std::exception& ex) {
      // What it made before failing points into a library about to be unloaded: a plain C
      // plugin has no wrapper that undoes its subscriptions, clients or queued work.
      if (inst) teardown(*inst);
      inst.reset();
      forget(e.name);
      if (e.required) throw PluginError(std::string(ex.what()) + " (the plugin is required)");
      spdlog::error("{} (not required: ccmuxd goes on without it)", ex.what());
      failed_.push_back({{"name", e.name}, {"state", "failed"}, {"error", ex.what()}});
    }
  }
}

void PluginHost::teardown(Instance& p) {
  p.close();
  p.router = false;
  for (auto& [id, timer] : p.timers) core_.loop.cancel_timer(timer);
  p.timers.clear();
  for (auto& [id, sub] : p.subs) core_.bus->unsubscribe(sub.first);
  p.subs.clear();
  // Its clients go before forget() answers its open calls: no answer reaches its on_message
  // after stop() returned.
  p.clients.clear();
  p.client_ready.clear();
  p.closed_clients.clear();
  forget(p.name);
}

void PluginHost::begin_stopping() {
  if (!stopping_.exchange(true) && !plugins_.empty())
    spdlog::info("plugins: the daemon is stopping; blocking calls from plugin threads now fail with CCMUX_ERR_STOPPING");
}

void PluginHost::stop_all() {
  begin_stopping();
  // The loop serves no plugin call while stop() runs on it (nor at all once it has exited):
  // every plugin's waiting calls fail from now on instead of blocking the threads stop() joins.
  for (auto& p : plugins_) p->close();
  for (auto it = plugins_.rbegin(); it != plugins_.rend(); ++it) {
    Instance& p = **it;
    if (p.running && p.desc->stop) p.desc->stop(p.state);
    p.running = false;
    teardown(p);
  }
  // Libraries are unloaded last, after everything they created is gone.
  plugins_.clear();
}

json PluginHost::list() const {
  json arr = json::array();
  for (auto& p : plugins_) {
    json methods = core_.methods.names_of(p->name);
    arr.push_back({{"name", p->name},
                   {"state", p->running ? "running" : "stopped"},
                   {"version", p->desc->version ? p->desc->version : ""},
                   {"description", p->desc->description ? p->desc->description : ""},
                   {"sdk", std::to_string(p->desc->sdk_major) + "." + std::to_string(p->desc->sdk_minor)},
                   {"path", p->path},
                   {"methods", methods}});
  }
  for (auto& f : failed_) arr.push_back(f);
  return arr;
}

}  // namespace ccmux

#include "plugins/plugin_host.h"

#include "json_bounds.h"
#include "paths.h"
#include "plugins/plugin_instance.h"
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
      add_fleet_functions(p->api);  // SDK 1.6
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

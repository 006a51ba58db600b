// The SDK 1.6 part of the host table: async methods and call_respond (PendingCalls), the
// router to other machines (core/protocol/router.h), client_push and remote approvals.
#include "json_bounds.h"
#include "plugins/plugin_instance.h"
#include "protocol/protocol_client.h"

#include <string>
#include <string_view>
#include <utility>

namespace ccmux {

using nlohmann::json;

namespace {
using Instance = PluginHost::Instance;
Instance* self(void* host) { return static_cast<Instance*>(host); }

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
}  // namespace

void add_fleet_functions(ccmux_host_api& api) {
  api.register_async_method = api_register_async_method;
  api.call_respond = api_call_respond;
  api.register_router = api_register_router;
  api.client_push = api_client_push;
  api.set_remote_approvals = api_set_remote_approvals;
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

}  // namespace ccmux

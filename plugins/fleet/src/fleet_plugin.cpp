// fleet: many ccmuxd machines joined through NATS (docs/fleet.md). One NATS connection
// (nats_link), the owner's side (owner: what others ask of this machine), the requester's
// side (remote: the core's router, remote subscriptions, other machines' approvals), and the
// heartbeat that tells the others this machine is up and how much room it has. Everything
// but libnats' own threads runs on the daemon's loop thread.
#include "fleet_config.h"
#include "machines.h"
#include "nats_link.h"
#include "owner.h"
#include "remote.h"
#include "wire.h"

#include <ccmux/json_bounds.hpp>
#include <ccmux/plugin.hpp>
#include <nats/nats.h>

#include <algorithm>
#include <cstdio>
#include <dlfcn.h>
#include <fstream>
#include <random>
#include <memory>

namespace {

using namespace ccmux::fleet;
using K = ccmux::ConfigKey;

const ccmux_config_spec kKeys[] = {
    K::list("servers", "NATS URLs (nats://host:4222, tls://…); several for a cluster").required(),
    K::string("machine", "this machine's name in the fleet (default: the host name)"),
    K::string("fleet", "the fleet's name: subjects start with ccmux.<fleet>.").def("default"),
    K::string("credentials_file", "user:password, an NKey seed or a .creds file; mode 0600"),
    K::string("nkey", "the public NKey (U…) when credentials_file holds its seed"),
    K::string("tls_ca", "CA certificate(s) that sign the NATS servers' certificates (turns TLS on)"),
    K::string("tls_cert", "client certificate for NATS (with tls_key)"),
    K::string("tls_key", "client key for NATS (with tls_cert)"),
    K::boolean("insecure", "allow plain text to a NATS server that is not on this machine").def("false"),
    K::integer("heartbeat_ms", "how often this machine says it is up").def("2000").range(200, 5000),
    K::integer("down_after_ms", "a machine silent this long is shown down").def("6000").range(1000, 9500),
    K::integer("request_timeout_ms", "how long a request to another machine may take").def("30000").range(1000, 600000),
    K::integer("window_bytes", "event bytes a remote subscription may have unacknowledged").def("4194304").range(65536, 268435456),
};

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// MemTotal and MemAvailable from /proc/meminfo, in bytes.
std::pair<int64_t, int64_t> memory() {
  std::ifstream in("/proc/meminfo");
  std::string key, unit;
  int64_t kb = 0, total = 0, avail = 0;
  while (in >> key >> kb >> unit) {
    if (key == "MemTotal:") total = kb * 1024;
    if (key == "MemAvailable:") avail = kb * 1024;
  }
  return {total, avail};
}

class FleetPlugin : public ccmux::Plugin {
 public:
  void start(ccmux::Host& host, std::string_view config_json) override {
    host_ = &host;
    pin_libraries();
    cfg_ = parse_fleet_config(config_json);
    status_.started_ms = now_ms();
    std::random_device rd;
    char hex[17];
    std::snprintf(hex, sizeof hex, "%08x%08x", rd(), rd());
    status_.instance = hex;
    machines_ = std::make_unique<MachineTable>(cfg_.machine);
    link_ = std::make_unique<NatsLink>(
        cfg_.link, [&host](std::function<void()> task) { host.post(std::move(task)); },
        [this](const std::string& what) { on_notice(what); });
    link_->start();
    refuse_a_taken_name();
    owner_ = std::make_unique<Owner>(host, *link_, cfg_, status_);
    remote_ = std::make_unique<Remote>(host, *link_, cfg_, *machines_, status_.instance,
                                       [this](const json& hb) { on_name_conflict(hb); });
    owner_->start();
    remote_->start();
    if (!host.register_router(cfg_.machine, [this](const ccmux::Host::Route& r) { remote_->route(r); },
                              [this](uint64_t client, bool gone) { remote_->client_note(client, gone); }))
      throw std::runtime_error("fleet: cannot route requests to other machines (another plugin routes, or ccmuxd is older than SDK 1.6)");
    host.register_method("fleet.machines", [this](const ccmux::Host::Call&) {
      json list = json::array();
      for (auto& [name, m] : machines_->all()) list.push_back(machines_->describe(m));
      return json({{"machines", list}, {"machine", cfg_.machine}, {"fleet", cfg_.fleet}}).dump();
    });
    host.register_async_method("fleet.sessions", [this](const ccmux::Host::AsyncCall& c) { remote_->fleet_sessions(c); });

    self_ = host.open_client("fleet:self", [this](std::string_view m) { on_self_message(m); });
    host.client_send(self_, R"({"type":"hello","protocol":1,"client":"fleet"})");
    refresh();
    host.every(std::chrono::milliseconds(cfg_.heartbeat_ms), [this] { refresh(); });
    host.every(std::chrono::milliseconds(250), [this] {
      link_->sweep();
      remote_->sweep();
    });
    host.every(std::chrono::milliseconds(1000), [this] { owner_->sweep(); });
    host.info("machine " + cfg_.machine + " of fleet " + cfg_.fleet + ", NATS " + join(cfg_.link.servers));
  }

  void stop() override { shutdown(); }
  ~FleetPlugin() override { shutdown(); }  // also when start() failed half-way

 private:
  void shutdown() {
    if (shut_) return;
    shut_ = true;
    remote_.reset();  // tells owners to end our subscriptions while the link is up
    owner_.reset();
    link_.reset();
    // Not nats_Close(): it tears down OpenSSL state the daemon's other users of OpenSSL still
    // hold (a crash at exit under ASan). libnats stays loaded instead (pin_libraries).
  }

  // libnats keeps threads of its own (timers, callbacks) for the life of the process: unloading
  // it (and this plugin, whose code they call back) with the plugin would leave them running in
  // unmapped memory. Both stay loaded until the daemon exits.
  static void pin_libraries() {
    for (void* symbol : {reinterpret_cast<void*>(&natsConnection_Connect), reinterpret_cast<void*>(&pin_libraries)}) {
      Dl_info info{};
      if (dladdr(symbol, &info) && info.dli_fname) dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
    }
  }
  bool shut_ = false;

 public:

 private:
  static std::string join(const std::vector<std::string>& v) {
    std::string out;
    for (auto& s : v) out += (out.empty() ? "" : ", ") + s;
    return out;
  }

  void on_notice(const std::string& what) {
    if (what.rfind("error", 0) == 0 || what == "disconnected") host_->warn("NATS " + what);
    else host_->info("NATS " + what);
    if (what.rfind("reconnected", 0) == 0 || what.rfind("connected", 0) == 0) heartbeat();  // say at once we are here
  }

  // Two daemons with one name would both serve every request to it (the default name is the
  // host name: cloned machines share it). Whoever holds the name answers `whoami`.
  void refuse_a_taken_name() {
    auto reply = link_->request_now(cfg_.subject(cfg_.machine, "rpc"),
                                    envelope({{"op", "whoami"}, {"from", cfg_.machine}}).dump(), 1000);
    if (!reply) return;  // nobody answers as this name (or NATS is not reachable yet: the heartbeats tell)
    json r = ccmux::sdk::parse_json_bounded(*reply);
    json who = r.is_object() && r.contains("result") ? r["result"] : json::object();
    throw std::runtime_error("fleet: machine name " + cfg_.machine + " is taken: another ccmuxd of fleet " + cfg_.fleet +
                             " runs with the same name (instance " + get_str(who, "instance") +
                             "); give this one another `machine:`");
  }

  // A heartbeat with this machine's name from another daemon (both started at once, or NATS was
  // split): the later one gives way — it stops serving and says so; the earlier one warns.
  void on_name_conflict(const json& hb) {
    int64_t theirs = get_int(hb, "started_ms");
    std::string other = get_str(hb, "instance");
    bool yield = std::make_pair(theirs, other) < std::make_pair(status_.started_ms, status_.instance);
    auto now = std::chrono::steady_clock::now();
    if (!yielded_ && now - warned_ < std::chrono::seconds(30) && !yield) return;
    warned_ = now;
    if (!yield) {
      host_->error("machine name " + cfg_.machine + " is taken twice: another ccmuxd (instance " + other +
                   ") runs with the same name; it gives way, as it started later");
      return;
    }
    if (yielded_) return;
    yielded_ = true;
    owner_->stop_serving();
    host_->error("machine name " + cfg_.machine + " is taken: another ccmuxd of fleet " + cfg_.fleet +
                 " runs with the same name (started earlier, instance " + other +
                 "): this one stops serving the fleet; give it another `machine:`");
  }

  // Asks this daemon for its numbers; the heartbeat goes out with the answer.
  void refresh() {
    host_->client_send(self_, R"({"type":"request","id":1,"method":"status"})");
    // The roots (what probes need) come from the config; projects.list also reads up to 500
    // folders of each: asked at start and about once a minute, not with every heartbeat.
    if (refreshes_++ % std::max(1, 60000 / cfg_.heartbeat_ms) == 0)
      host_->client_send(self_, R"({"type":"request","id":2,"method":"projects.list"})");
  }

  void on_self_message(std::string_view text) {
    json m = ccmux::sdk::parse_json_bounded(text);
    if (!m.is_object() || get_str(m, "type") != "response" || !m.contains("result")) return;
    const json& r = m["result"];
    if (m["id"] == 2) {
      json roots = json::array();
      if (r.contains("roots") && r["roots"].is_array())
        for (auto& root : r["roots"])
          if (root.is_object() && root.contains("root")) roots.push_back(root["root"]);
      status_.roots = roots;
      return;
    }
    if (r.contains("economy") && r["economy"].is_object()) {
      status_.live = get_int(r["economy"], "live");
      status_.max_live = get_int(r["economy"], "max_live");
    }
    int64_t sessions = 0;
    if (r.contains("sessions") && r["sessions"].is_object())
      for (auto& [state, n] : r["sessions"].items())
        if (n.is_number_integer()) sessions += n.get<int64_t>();
    status_.sessions = sessions;
    version_ = get_str(r, "version");
    heartbeat();
  }

  void heartbeat() {
    if (yielded_) return;
    auto [total, avail] = memory();
    json hb = envelope({{"machine", cfg_.machine},
                        {"version", version_},
                        {"protocol", 1},
                        {"started_ms", status_.started_ms},
                        {"instance", status_.instance},
                        {"live", status_.live},
                        {"max_live", status_.max_live},
                        {"mem_total", total},
                        {"mem_available", avail},
                        {"sessions", status_.sessions},
                        {"pending", owner_->pending_approvals()},
                        {"approvals_rev", owner_->approvals_rev()}});
    link_->publish(cfg_.subject(cfg_.machine, "hb"), hb.dump());
  }

  ccmux::Host* host_ = nullptr;
  FleetConfig cfg_;
  LocalStatus status_;
  std::string version_;
  std::unique_ptr<MachineTable> machines_;
  std::unique_ptr<NatsLink> link_;
  std::unique_ptr<Owner> owner_;
  std::unique_ptr<Remote> remote_;
  uint64_t self_ = 0;
  bool yielded_ = false;  // another daemon holds this name: not serving
  uint64_t refreshes_ = 0;
  std::chrono::steady_clock::time_point warned_{};
};

}  // namespace

CCMUX_PLUGIN(FleetPlugin, "fleet", "0.1.0", "many machines joined through NATS: one view, sessions where there is room", kKeys,
             sizeof(kKeys) / sizeof(kKeys[0]))

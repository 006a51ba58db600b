// Test plugin for SDK 1.6: the daemon's router to other machines (this one is "here"), an
// async method answered later from a thread, client_push and its notes, and remote
// approvals. What it learns goes to the daemon's log as "router-probe: …"; routed requests
// are answered by method:
//   probe.hold     never (the call stays open: the client leaves, or the plugin stops)
//   probe.push     pushes {"type":"pushed"} to the client first, then answers
//   probe.thread   from a thread after params.delay_ms
//   probe.fail     with the error machine_down
//   anything else  at once, with what the router was given
#include <ccmux/plugin.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

using nlohmann::json;

class RouterProbe : public ccmux::Plugin {
 public:
  void start(ccmux::Host& host, std::string_view) override {
    host_ = &host;
    // Only the router may tell of other machines' approvals.
    say(std::string("remote approvals before the router -> ") + (host.set_remote_approvals("m1", "[]") ? "ok" : "refused"));
    bool ok = host.register_router(
        "here", [this](const ccmux::Host::Route& r) { route(r); },
        [this](uint64_t client, bool gone) { note(client, gone); });
    say(std::string("register_router -> ") + (ok ? "ok" : "refused"));
    // One router per daemon: a second registration (raw, to keep the first's callbacks) is refused.
    const ccmux_host_api* api = host.raw();
    int second = api->register_router(api->host, "here", [](void*, uint64_t, uint64_t, const char*, const char*,
                                                             const char*, size_t, const char*, int) {},
                                      nullptr, nullptr);
    say(std::string("second register_router -> ") + (second == CCMUX_ERR ? "refused" : "accepted"));
    say(std::string("bad local name -> ") + (api->register_router(api->host, "no/slash", [](void*, uint64_t, uint64_t,
        const char*, const char*, const char*, size_t, const char*, int) {}, nullptr, nullptr) == CCMUX_ERR ? "refused"
                                                                                                         : "accepted"));
    say(std::string("answer an unknown call -> ") + (host.respond(987654, true, "{}") ? "accepted" : "refused"));

    // Escalation channels hear this machine's approvals only: logs what reaches one.
    host.register_escalation_channel("watch", [this](std::string_view msg) {
      auto m = json::parse(msg, nullptr, false);
      if (m.is_object()) say("channel got " + m.value("type", "?") + " " + m["approval"].value("id", "?"));
    });
    host.register_method("probe.echo", [](const ccmux::Host::Call& c) {
      return json{{"params", json::parse(c.params_json)}, {"caller", c.caller}}.dump();
    });
    host.register_method("probe.remote_approvals", [this](const ccmux::Host::Call& c) {
      json p = json::parse(c.params_json);
      std::string raw = p.contains("raw") ? p["raw"].get<std::string>() : p["approvals"].dump();
      return json{{"ok", host_->set_remote_approvals(p.value("machine", ""), raw)}}.dump();
    });
    // Answers from a thread after delay_ms; with `twice`, answers again and logs what that got.
    host.register_async_method("probe.later", [this](const ccmux::Host::AsyncCall& c) {
      json p = json::parse(c.params_json);
      int delay = p.value("delay_ms", 0);
      bool twice = p.value("twice", false);
      uint64_t call = c.id;
      std::string caller = c.caller;
      spawn([this, call, delay, twice, p, caller] {
        std::this_thread::sleep_for(std::chrono::milliseconds(delay));
        bool first = host_->respond(call, true, json{{"answered", "later"}, {"params", p}, {"caller", caller}}.dump());
        say("answer call " + std::to_string(call) + " -> " + (first ? "accepted" : "refused"));
        if (twice) say(std::string("second answer -> ") + (host_->respond(call, true, "{}") ? "accepted" : "refused"));
      });
    });
    host.register_async_method("probe.never", [](const ccmux::Host::AsyncCall&) {});
    host.register_async_method("probe.bad_json", [this](const ccmux::Host::AsyncCall& c) {
      host_->respond(c.id, true, "{not json");
    });
    // A paused in-daemon client sends a routed probe.push: the push answers 0, then the
    // client resumes (READY note) and is closed from that note (GONE note).
    host.register_method("probe.flow", [this](const ccmux::Host::Call&) {
      flow_ = host_->open_client("flow", [this](std::string_view msg) {
        auto m = json::parse(msg, nullptr, false);
        if (m.is_object() && m.value("type", "") != "hello") say("flow client got " + m.value("type", "?"));
      });
      host_->client_send(flow_, R"({"type":"hello","protocol":1})");
      host_->client_set_ready(flow_, false);
      host_->client_send(flow_, R"({"type":"request","id":"f1","method":"probe.push","params":{"host":"elsewhere"}})");
      return json{{"started", true}}.dump();
    });
  }

  void stop() override {
    std::vector<std::thread> threads;
    {
      std::lock_guard lock(mu_);
      threads.swap(threads_);
    }
    for (auto& t : threads) t.join();
  }

 private:
  void say(const std::string& what) { host_->info("router-probe: " + what); }

  void spawn(std::function<void()> fn) {
    std::lock_guard lock(mu_);
    threads_.emplace_back(std::move(fn));
  }

  void route(const ccmux::Host::Route& r) {
    std::string c = std::to_string(r.client);
    say("route " + r.method + " for client " + c + " to " + r.target);
    if (r.method == "probe.hold") return;
    if (r.method == "probe.fail")
      return void(host_->respond(r.call, false, ccmux::MethodError("machine_down", r.target + " is down").json()));
    if (r.method == "probe.push") {
      int got = host_->client_push(r.client, R"({"type":"pushed","target":")" + r.target + "\"}");
      say("push to client " + c + " -> " + std::to_string(got));
      if (got == 0) flow_client_ = r.client;
    }
    json answer = {{"routed", true},         {"target", r.target}, {"method", r.method},
                   {"params", json::parse(r.params_json)}, {"caller", r.caller}, {"trusted", r.trusted},
                   {"client", r.client}};
    if (r.method == "probe.thread") {
      int delay = answer["params"].value("delay_ms", 0);
      uint64_t call = r.call;
      spawn([this, call, delay, answer] {
        std::this_thread::sleep_for(std::chrono::milliseconds(delay));
        host_->respond(call, true, answer.dump());
      });
      return;
    }
    host_->respond(r.call, true, answer.dump());
    if (r.method == "probe.push" && flow_client_ == r.client) host_->client_set_ready(flow_, true);  // drains: READY
  }

  void note(uint64_t client, bool gone) {
    say(std::string("note ") + (gone ? "gone " : "ready ") + std::to_string(client));
    if (!gone && client == flow_client_ && flow_) {
      host_->close_client(flow_);  // from inside the note: GONE follows
      flow_ = 0;
    }
  }

  ccmux::Host* host_ = nullptr;
  uint64_t flow_ = 0;         // the in-daemon client probe.flow opened
  uint64_t flow_client_ = 0;  // its id as the router knows it
  std::mutex mu_;
  std::vector<std::thread> threads_;
};
CCMUX_PLUGIN(RouterProbe, "router_probe", "1.0.0", "test plugin for SDK 1.6 routing", nullptr, 0)

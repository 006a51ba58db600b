// hello: the smallest useful ccmux plugin.
//  - logs every event of every session (with the configured greeting) and keeps the
//    last one it saw in its key-value storage
//  - registers an approval provider that allows Bash commands "touch hello<something>"
//  - registers an escalation channel that logs approvals waiting for a human
//  - asks the daemon for its status through an in-daemon protocol client
//  - posts work back to the loop from a thread of its own
//  - says how many events it saw a minute after it started, on a host timer (SDK 1.4)
//  - declares its config key with its default: the host checks it and fills it in
#include <ccmux/plugin.hpp>

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

namespace {

class Hello : public ccmux::Plugin {
 public:
  void start(ccmux::Host& host, std::string_view config_json) override {
    auto cfg = nlohmann::json::parse(config_json);
    greeting_ = cfg.at("greeting");  // checked and defaulted by the host (kKeys below)
    // Called on the core loop thread: keep it short.
    host.subscribe("*", 0, [this, &host](const ccmux::Event& ev) {
      ++seen_;
      std::string where = std::string(ev.session) + " #" + std::to_string(ev.seq);
      host.info(greeting_ + ": " + where + " " + std::string(ev.kind));
      host.kv_set("last_event", where);  // per-plugin storage, kept in the daemon's store
    });
    host.register_approval_provider("echo-hello", [](std::string_view request) {
      ccmux::Verdict v;
      auto req = nlohmann::json::parse(request, nullptr, false);
      if (req.is_object() && req.value("tool", "") == "Bash") {
        std::string cmd = req["input"].value("command", "");
        if (cmd.rfind("touch hello", 0) == 0 && cmd.find_first_of(";&|><`$\n") == std::string::npos) {
          v.decision = ccmux::Decision::allow;
          v.reason = "hello plugin allows plain 'touch hello*'";
        }
      }
      return v;
    });
    // Escalation channel: hears of every approval that waits for a human, and its end.
    host.register_escalation_channel("log", [&host](std::string_view msg) {
      auto m = nlohmann::json::parse(msg, nullptr, false);
      if (m.is_object()) host.info("escalation: " + m.value("type", "") + " " + m["approval"].value("id", ""));
    });
    // An in-daemon protocol client: the same messages a socket client exchanges.
    client_ = host.open_client("probe", [&host](std::string_view msg) {
      auto m = nlohmann::json::parse(msg, nullptr, false);
      if (m.is_object() && m.value("type", "") == "response" && m.contains("result"))
        host.info("client: daemon " + m["result"].value("version", "?") + " speaks protocol " +
                  std::to_string(m["result"].value("protocol", 0)));
    });
    host.client_send(client_, R"({"type":"hello","protocol":1})");
    host.client_send(client_, R"({"type":"request","id":1,"method":"status"})");
    // Work done on a thread of the plugin's own comes back to the loop with post().
    worker_ = std::thread([&host] { host.post([&host] { host.info("posted from the plugin's thread"); }); });
    // Waiting needs no thread: the host runs timers on its loop and ends them when we stop.
    host.after(std::chrono::minutes(1), [this, &host] { host.info("events in the first minute: " + std::to_string(seen_)); });
    host.info("hello plugin started, greeting '" + greeting_ + "'");
  }
  void stop() override {
    if (worker_.joinable()) worker_.join();
  }

 private:
  std::string greeting_;
  uint64_t client_ = 0;
  std::thread worker_;
  std::atomic<uint64_t> seen_{0};
};

const ccmux_config_spec kKeys[] = {
    ccmux::ConfigKey::string("greeting", "word logged with each event").def("hello"),
};

}  // namespace

CCMUX_PLUGIN(Hello, "hello", "1.0.0", "logs every event; allows 'touch hello*' commands", kKeys, 1)

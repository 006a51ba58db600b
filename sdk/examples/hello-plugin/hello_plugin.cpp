// hello: the smallest useful ccmux plugin.
//  - logs every event of every session (with the configured greeting) and keeps the
//    last one it saw in its key-value storage
//  - registers an approval provider that allows Bash commands "touch hello<something>"
#include <ccmux/plugin.hpp>

#include <nlohmann/json.hpp>

#include <atomic>
#include <string>

namespace {

class Hello : public ccmux::Plugin {
 public:
  void start(ccmux::Host& host, std::string_view config_json) override {
    auto cfg = nlohmann::json::parse(config_json);
    greeting_ = cfg.value("greeting", "hello");
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
    host.info("hello plugin started, greeting '" + greeting_ + "'");
  }
  void stop() override {}

 private:
  std::string greeting_;
  std::atomic<uint64_t> seen_{0};
};

const ccmux_config_key kKeys[] = {
    {"greeting", CCMUX_CFG_STRING, 0, "word logged with each event (default: hello)"},
};

}  // namespace

CCMUX_PLUGIN(Hello, "hello", "1.0.0", "logs every event; allows 'touch hello*' commands", kKeys, 1)

// A plugin that throws from every kind of callback the C++ wrapper catches: events, client
// messages, the escalation channel, the approval provider, token revocations, a method, a
// posted task, a timer and stop(). Each must become a log line naming the plugin; the daemon
// goes on.
#include <ccmux/plugin.hpp>

#include <chrono>
#include <stdexcept>

class Thrower : public ccmux::Plugin {
 public:
  void start(ccmux::Host& host, std::string_view) override {
    host.subscribe("*", 0, [](const ccmux::Event&) { throw std::runtime_error("boom from an event"); });
    client_ = host.open_client("probe", [](std::string_view) { throw std::runtime_error("boom from a client message"); });
    host.client_send(client_, R"({"type":"hello","protocol":1})");
    host.register_escalation_channel("pager", [](std::string_view) { throw std::runtime_error("boom from the channel"); });
    host.register_approval_provider("gate", [](std::string_view) -> ccmux::Verdict {
      throw std::runtime_error("boom from the provider");
    });
    host.on_token_revoked([](const std::string&) { throw std::runtime_error("boom from a revocation"); });
    host.register_method("thrower.fail", [](const ccmux::Host::Call&) -> std::string {
      throw std::runtime_error("boom from a method");
    });
    host.post([] { throw std::runtime_error("boom from a posted task"); });
    host.after(std::chrono::milliseconds(20), [] { throw 42; });  // not even a std::exception
  }
  void stop() override { throw std::runtime_error("boom from stop"); }

 private:
  uint64_t client_ = 0;
};
CCMUX_PLUGIN(Thrower, "thrower", "0.0.1", "throws from every callback", nullptr, 0)

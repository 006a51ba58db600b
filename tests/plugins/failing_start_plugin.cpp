// A plugin whose start() throws after registering a method, an approval provider, an
// escalation channel and a revocation listener: the host reports it, forgets all four (they
// point into a library it unloads) and goes on (unless the plugin is required).
#include <ccmux/plugin.hpp>

#include <stdexcept>

class FailingStart : public ccmux::Plugin {
 public:
  void start(ccmux::Host& host, std::string_view) override {
    host.register_method("failing.echo", [](const ccmux::Host::Call&) { return std::string("{}"); });
    host.register_approval_provider("gate", [](std::string_view) { return ccmux::Verdict{ccmux::Decision::deny, "stale", ""}; });
    host.register_escalation_channel("pager", [](std::string_view) {});
    host.on_token_revoked([](const std::string&) {});
    throw std::runtime_error("cannot reach its backend");
  }
};
CCMUX_PLUGIN(FailingStart, "failing_start", "0.0.1", "always fails to start", nullptr, 0)

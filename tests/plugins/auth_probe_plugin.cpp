// Test plugin for the SDK 1.1 token calls: a prompt "auth-check <token>" makes it call
// authenticate() and log the answer; revocations are logged too.
#include <ccmux/plugin.hpp>

#include <nlohmann/json.hpp>

class AuthProbe : public ccmux::Plugin {
 public:
  void start(ccmux::Host& host, std::string_view) override {
    host.subscribe("*", 0, [&host](const ccmux::Event& ev) {
      if (ev.kind != "prompt_queued") return;
      auto p = nlohmann::json::parse(ev.json, nullptr, false);
      std::string text = p.value("content", "");
      if (text.rfind("auth-check ", 0) != 0) return;
      auto who = host.authenticate(text.substr(11));
      host.info("auth-probe: " + (who ? "accepted " + *who : std::string("rejected")));
    });
    // Remote clients come through in-daemon clients: they must not be able to mint tokens.
    client_ = host.open_client("probe", [&host](std::string_view msg) {
      auto m = nlohmann::json::parse(msg, nullptr, false);
      if (m.is_object() && m.value("type", "") == "response" && m.contains("error"))
        host.info("auth-probe: token.list -> " + m["error"].value("code", ""));
    });
    host.client_send(client_, R"({"type":"hello","protocol":1})");
    host.client_send(client_, R"({"type":"request","id":1,"method":"token.list"})");
    if (!host.on_token_revoked([&host](const std::string& name) { host.info("auth-probe: revoked " + name); }))
      throw std::runtime_error("host has no revocation listener");
  }

 private:
  uint64_t client_ = 0;
};
CCMUX_PLUGIN(AuthProbe, "auth_probe", "1.0.0", "test plugin for token calls", nullptr, 0)

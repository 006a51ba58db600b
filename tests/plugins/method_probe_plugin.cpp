// Test plugin for the method registry: serves probe.echo, tries names that are taken (a
// built-in, a reserved token.* name, its own again), and from its in-daemon client (what a
// remote transport uses) asks methods.list and methods only the local socket may call.
// Everything it learns goes to the daemon's log as "method-probe: …".
#include <ccmux/plugin.hpp>

#include <nlohmann/json.hpp>

using nlohmann::json;

class MethodProbe : public ccmux::Plugin {
 public:
  void start(ccmux::Host& host, std::string_view) override {
    for (const char* name : {"probe.echo", "probe.echo", "session.list", "methods.list", "subscribe", "token.mint"}) {
      bool ok = host.register_method(name, [](const ccmux::Host::Call& c) {
        return json{{"params", json::parse(c.params_json)}, {"caller", c.caller}, {"trusted", c.trusted}}.dump();
      });
      host.info(std::string("method-probe: register ") + name + " -> " + (ok ? "ok" : "refused"));
    }
    client_ = host.open_client("probe", [&host](std::string_view msg) {
      auto m = json::parse(msg, nullptr, false);
      if (!m.is_object() || m.value("type", "") != "response") return;
      std::string id = m["id"].get<std::string>();
      if (m.contains("error"))
        host.info("method-probe: " + id + " -> " + m["error"].value("code", "") + ": " + m["error"].value("message", ""));
      else
        host.info("method-probe: " + id + " -> ok " + m["result"].dump());
    });
    host.client_send(client_, R"({"type":"hello","protocol":1})");
    for (const char* req : {R"({"type":"request","id":"list","method":"methods.list"})",
                            R"({"type":"request","id":"hook","method":"hook.event","params":{}})",
                            R"({"type":"request","id":"token-create","method":"token.create","params":{}})",
                            R"({"type":"request","id":"token-unknown","method":"token.nope"})",
                            R"({"type":"request","id":"echo","method":"probe.echo","params":{"x":1}})",
                            R"({"type":"request","id":"builtin","method":"session.list"})"})
      host.client_send(client_, req);
  }

 private:
  uint64_t client_ = 0;
};
CCMUX_PLUGIN(MethodProbe, "method_probe", "1.0.0", "test plugin for the method registry", nullptr, 0)

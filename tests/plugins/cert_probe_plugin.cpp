// Test plugin for the SDK 1.5 certificate calls, driven over the local socket through the
// methods it serves: certprobe.check {fingerprint} -> {name: string|null} (authenticate_certificate),
// certprobe.revoked -> {names} (what on_certificate_revoked heard), certprobe.remote -> {codes}
// (what its in-daemon client, i.e. a remote transport's user, got for cert.* requests).
#include <ccmux/plugin.hpp>

#include <nlohmann/json.hpp>

#include <map>
#include <stdexcept>
#include <vector>

using nlohmann::json;

class CertProbe : public ccmux::Plugin {
 public:
  void start(ccmux::Host& host, std::string_view) override {
    host.register_method("certprobe.check", [&host](const ccmux::Host::Call& c) {
      std::string fp = json::parse(c.params_json).value("fingerprint", "");
      auto who = host.authenticate_certificate(fp);
      return json{{"name", who ? json(*who) : json(nullptr)}}.dump();
    });
    host.register_method("certprobe.revoked", [this](const ccmux::Host::Call&) { return json{{"names", revoked_}}.dump(); });
    host.register_method("certprobe.remote", [this](const ccmux::Host::Call&) { return json{{"codes", codes_}}.dump(); });
    if (!host.on_certificate_revoked([this](const std::string& name) { revoked_.push_back(name); }))
      throw std::runtime_error("host has no certificate revocation listener");
    client_ = host.open_client("cert-probe", [this](std::string_view msg) {
      auto m = json::parse(msg, nullptr, false);
      if (!m.is_object() || m.value("type", "") != "response") return;
      codes_[m["id"].get<std::string>()] = m.contains("error") ? m["error"].value("code", "") : "ok";
    });
    host.client_send(client_, R"({"type":"hello","protocol":1})");
    for (const char* req : {R"({"type":"request","id":"cert.issue","method":"cert.issue","params":{"name":"sneaky"}})",
                            R"({"type":"request","id":"cert.list","method":"cert.list"})",
                            R"({"type":"request","id":"cert.revoke","method":"cert.revoke","params":{"name":"laptop"}})",
                            R"({"type":"request","id":"cert.unknown","method":"cert.nope"})"})
      host.client_send(client_, req);
  }

 private:
  uint64_t client_ = 0;
  std::vector<std::string> revoked_;
  std::map<std::string, std::string> codes_;
};
CCMUX_PLUGIN(CertProbe, "cert_probe", "1.0.0", "test plugin for client certificate calls", nullptr, 0)

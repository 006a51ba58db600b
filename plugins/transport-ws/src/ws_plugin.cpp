// transport-ws: the WebSocket API and the mobile web page (plugin entry point).
#include "ws_config.h"
#include "ws_server.h"

#include <ccmux/plugin.hpp>

#include <filesystem>
#include <memory>

namespace {

// The page installed with the plugin, or the source tree's copy when run from a build tree.
std::string default_static_root() {
  for (const char* dir : {CCMUX_WS_WEB_INSTALL_DIR, CCMUX_WS_WEB_SOURCE_DIR})
    if (std::filesystem::exists(std::string(dir) + "/index.html")) return dir;
  return CCMUX_WS_WEB_INSTALL_DIR;
}

class TransportWs : public ccmux::Plugin {
 public:
  void start(ccmux::Host& host, std::string_view config_json) override {
    auto cfg = ccmux::ws::parse_config(config_json, default_static_root());
    if (!std::filesystem::exists(cfg.static_root + "/index.html"))
      host.warn("static_root " + cfg.static_root + " has no index.html: the page will 404");
    server_ = std::make_unique<ccmux::ws::WsServer>(host, std::move(cfg));
    server_->run();
  }
  void stop() override {
    if (server_) server_->stop();
    server_.reset();
  }

 private:
  std::unique_ptr<ccmux::ws::WsServer> server_;
};

}  // namespace

CCMUX_PLUGIN(TransportWs, "transport-ws", "0.1.0", "WebSocket API and mobile web page", ccmux::ws::kConfigKeys,
             ccmux::ws::kConfigKeyCount)

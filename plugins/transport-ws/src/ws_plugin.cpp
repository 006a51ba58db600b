// transport-ws: the WebSocket API and the mobile web page (plugin entry point).
#include "ws_config.h"
#include "ws_server.h"

#include <ccmux/plugin.hpp>

#include <dlfcn.h>

#include <filesystem>
#include <memory>
#include <vector>

namespace {

// The page installed with this plugin: under the prefix the plugin itself lies in
// (<prefix>/lib/ccmux/plugins/libtransport-ws.so -> <prefix>/share/ccmux/web), so a tree built
// for /usr/local and packaged under /usr finds its own page; then the configured install dir;
// then the source tree's copy (run from a build tree).
std::string default_static_root() {
  std::vector<std::string> dirs;
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&default_static_root), &info) != 0 && info.dli_fname) {
    std::error_code ec;
    std::filesystem::path so = std::filesystem::canonical(info.dli_fname, ec);
    std::filesystem::path plugin_dir = so.parent_path(), rel = CCMUX_PLUGIN_REL_DIR;
    std::filesystem::path prefix = plugin_dir;
    for (auto r = rel; !r.empty() && !ec && r.filename() == prefix.filename() && r != r.parent_path(); r = r.parent_path())
      prefix = prefix.parent_path();
    if (!ec && prefix / rel == plugin_dir) dirs.push_back((prefix / CCMUX_WS_WEB_REL_DIR).string());
  }
  dirs.push_back(CCMUX_WS_WEB_INSTALL_DIR);
  dirs.push_back(CCMUX_WS_WEB_SOURCE_DIR);
  for (const auto& dir : dirs)
    if (std::filesystem::exists(dir + "/index.html")) return dir;
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

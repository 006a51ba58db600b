// A plugin whose thread calls a host function that waits for the loop (kv_get), over and
// over, until stop() tells it to end and joins it. At shutdown the loop no longer serves such
// calls: they must fail rather than block, or stop() never returns and ccmuxd hangs.
// `stop_delay_s` makes stop() itself take that long: ccmuxd must exit anyway, in bounded time.
#include <ccmux/plugin.hpp>

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <thread>

namespace {
const ccmux_config_key kKeys[] = {{"stop_delay_s", CCMUX_CFG_INT, 0, "seconds stop() sleeps before joining (default 0)"}};
}

class KvSpinner : public ccmux::Plugin {
 public:
  void start(ccmux::Host& host, std::string_view config_json) override {
    host_ = &host;
    stop_delay_s_ = nlohmann::json::parse(config_json).value("stop_delay_s", 0);
    host.kv_set("key", "value");
    thread_ = std::thread([this] {
      uint64_t calls = 0;
      while (!stopping_) {
        host_->kv_get("key");
        if (++calls == 100) host_->info("spinner: 100 kv_get calls done");
      }
    });
  }
  void stop() override {
    stopping_ = true;
    std::this_thread::sleep_for(std::chrono::seconds(stop_delay_s_));
    thread_.join();
    host_->info("spinner: stopped");
  }

 private:
  ccmux::Host* host_ = nullptr;
  int stop_delay_s_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};
CCMUX_PLUGIN(KvSpinner, "kv_spinner", "0.0.1", "calls kv_get from its own thread until stopped", kKeys, 1)

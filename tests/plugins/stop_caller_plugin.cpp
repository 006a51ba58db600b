// Calls blocking host functions while ccmuxd stops: a thread of its own calls kv_get until
// stop() ends it (once the daemon is stopping, and while stop() runs on the loop, those calls
// must fail at once with CCMUX_ERR_STOPPING, not wait), and stop() itself, on the loop thread,
// saves a key (which must still work: the loop still runs). A periodic host timer ticks meanwhile (ended by the host).
#include <ccmux/plugin.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>

class StopCaller : public ccmux::Plugin {
 public:
  void start(ccmux::Host& host, std::string_view) override {
    host_ = &host;
    host.kv_set("key", "value");
    ticks_timer_ = host.every(std::chrono::milliseconds(20), [this] {
      if (++ticks_ == 3) host_->info("stop_caller: timer ticked 3 times");
    });
    thread_ = std::thread([this] {
      const ccmux_host_api* api = host_->raw();
      while (!stopping_) {
        auto t0 = std::chrono::steady_clock::now();
        int rc = api->kv_get(api->host, "key", [](void*, const char*, size_t) {}, nullptr);
        auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
        if (rc == CCMUX_ERR_STOPPING) {
          ++refused_;
          slowest_refusal_ms_ = std::max<int64_t>(slowest_refusal_ms_, ms);
          std::this_thread::sleep_for(std::chrono::milliseconds(1));
        } else if (rc != CCMUX_OK) {
          ++other_errors_;
        } else if (++served_ == 50) {
          host_->info("stop_caller: 50 kv_get calls served");
        }
      }
    });
  }
  void stop() override {
    // Lets the thread call the host during stop() itself (up to 3 s): those calls are refused.
    for (int i = 0; i < 300 && refused_ == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    stopping_ = true;
    thread_.join();
    char line[200];
    std::snprintf(line, sizeof line, "stop_caller: thread refused %s with CCMUX_ERR_STOPPING, slowest %lld ms, other errors %d",
                  refused_ > 0 ? "yes" : "no", static_cast<long long>(slowest_refusal_ms_), other_errors_.load());
    host_->info(line);
    const ccmux_host_api* api = host_->raw();
    int rc = api->kv_set(api->host, "saved_in_stop", "yes", 3);
    host_->info("stop_caller: kv_set from stop() -> " + std::to_string(rc));
  }

 private:
  ccmux::Host* host_ = nullptr;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> refused_{0}, other_errors_{0}, served_{0};
  std::atomic<int64_t> slowest_refusal_ms_{0};
  uint64_t ticks_timer_ = 0;
  int ticks_ = 0;
};
CCMUX_PLUGIN(StopCaller, "stop_caller", "0.0.1", "calls blocking host functions while ccmuxd stops", nullptr, 0)

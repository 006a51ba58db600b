// Test plugin for SDK 1.2 flow control: an in-daemon client subscribes to each new
// session, pauses itself after a few events, resumes when the session's turn ends, and
// logs whether it got every event in order and none while paused.
#include <ccmux/plugin.hpp>

#include <nlohmann/json.hpp>

#include <string>

class SlowReader : public ccmux::Plugin {
 public:
  void start(ccmux::Host& host, std::string_view) override {
    host_ = &host;
    client_ = host.open_client("slow", [this](std::string_view msg) { on_client_message(msg); });
    host.client_send(client_, R"({"type":"hello","protocol":1})");
    host.subscribe("*", 0, [this](const ccmux::Event& ev) {
      if (ev.kind == "session_created" && session_.empty()) {
        session_ = std::string(ev.session);
        host_->client_send(client_, nlohmann::json{{"type", "request"}, {"id", 1}, {"method", "subscribe"},
                                                   {"params", {{"session", session_}, {"from_seq", 1}}}}
                                        .dump());
      }
      if (ev.kind == "result" && std::string(ev.session) == session_ && paused_) {
        end_seq_ = ev.seq;
        paused_ = false;
        host_->info("slow: resuming, " + std::to_string(got_while_paused_) + " events arrived while paused");
        host_->client_set_ready(client_, true);
      }
    });
  }

 private:
  void on_client_message(std::string_view msg) {
    auto m = nlohmann::json::parse(msg, nullptr, false);
    if (!m.is_object() || m.value("type", "") != "event") return;
    uint64_t seq = m.value("seq", uint64_t{0});
    if (paused_) ++got_while_paused_;
    if (seq != next_) in_order_ = false;
    next_ = seq + 1;
    if (seq == 3 && !paused_) {
      paused_ = true;
      host_->client_set_ready(client_, false);
      host_->info("slow: paused at seq 3");
    }
    if (end_seq_ && seq == end_seq_)
      host_->info(std::string("slow: reached seq ") + std::to_string(seq) + (in_order_ ? " in order" : " OUT OF ORDER"));
  }

  ccmux::Host* host_ = nullptr;
  uint64_t client_ = 0;
  std::string session_;
  bool paused_ = false;
  uint64_t got_while_paused_ = 0, next_ = 1, end_seq_ = 0;
  bool in_order_ = true;
};
CCMUX_PLUGIN(SlowReader, "slow_reader", "1.0.0", "test plugin for client flow control", nullptr, 0)

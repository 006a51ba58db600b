// telegram: approvals, questions and notifications in Telegram, answered with buttons.
// Threads: a sender (one FIFO of Bot API calls, each retried until it succeeds or Telegram
// rejects it, so a pending approval's message is never dropped by a network hiccup) and a
// long poller (getUpdates). Everything that touches the daemon runs on the loop thread.
#include "bot_api.h"
#include "render.h"

#include <ccmux/plugin.hpp>
#include <nlohmann/json.hpp>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <thread>

namespace {

using nlohmann::json;
using ccmux::telegram::ApiResult;
using ccmux::telegram::BotApi;

using K = ccmux::ConfigKey;
const ccmux_config_spec kKeys[] = {
    K::list("chats", "chat ids that get approvals and notifications, and may answer").required(),
    K::list("users", "user ids allowed to press buttons and send commands (default: anyone in `chats`)"),
    K::string("bot_token", "the bot token (prefer bot_token_env)"),
    K::string("bot_token_env", "environment variable holding the token").def("CCMUX_TELEGRAM_BOT_TOKEN"),
    K::string("api_base", "Bot API base URL").def("https://api.telegram.org"),
    // 0 would be short polling: a getUpdates call after another, without a pause.
    K::integer("poll_timeout_s", "getUpdates long-poll timeout").def("25").range(1, 600),
    K::boolean("notify", "send a message when a turn finishes or a session fails").def("true"),
};

class TelegramPlugin : public ccmux::Plugin {
 public:
  void start(ccmux::Host& host, std::string_view config_json) override {
    host_ = &host;
    auto cfg = json::parse(config_json);
    for (auto& c : cfg["chats"]) chats_.insert(std::stoll(c.get<std::string>()));
    if (cfg.contains("users"))
      for (auto& u : cfg["users"]) users_.insert(std::stoll(u.get<std::string>()));
    std::string token = cfg.value("bot_token", "");
    std::string env = cfg.at("bot_token_env");
    if (token.empty() && std::getenv(env.c_str())) token = std::getenv(env.c_str());
    if (token.empty()) throw std::runtime_error("telegram: no bot token: set bot_token, or the environment variable " + env);
    std::string base = cfg.at("api_base");
    poll_timeout_ = cfg.at("poll_timeout_s");
    notify_ = cfg.at("notify");
    sender_api_ = std::make_unique<BotApi>(base, token);
    poll_api_ = std::make_unique<BotApi>(base, token);

    client_ = host.open_client("bot", [this](std::string_view m) { on_client_message(m); });
    host.client_send(client_, R"({"type":"hello","protocol":1,"client":"telegram"})");
    host.register_escalation_channel("chats", [this](std::string_view m) { on_approval_message(m); });
    if (notify_) host.subscribe("*", 0, [this](const ccmux::Event& ev) { on_event(ev); });
    sender_ = std::thread([this] { send_loop(); });
    poller_ = std::thread([this] { poll_loop(); });
    host.info("telegram: " + std::to_string(chats_.size()) + " chat(s), " +
              (users_.empty() ? std::string("any user in them") : std::to_string(users_.size()) + " allowed user(s)"));
  }

  void stop() override {
    {
      // Under the mutex: set between a waiter's check of `stopping_` and its wait, the
      // notify would be lost and the sender would sleep forever, hanging this join.
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    if (sender_.joinable()) sender_.join();
    if (poller_.joinable()) poller_.join();
  }

 private:
  // ---- sender thread ----
  using Job = std::function<void()>;
  void enqueue(Job job) {
    {
      std::lock_guard lock(mu_);
      jobs_.push_back(std::move(job));
    }
    cv_.notify_all();
  }
  void send_loop() {
    for (;;) {
      Job job;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
        if (stopping_) return;
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      job();
    }
  }
  bool sleep_for(double s) {  // false when stopping
    std::unique_lock lock(mu_);
    return !cv_.wait_for(lock, std::chrono::duration<double>(s), [this] { return stopping_.load(); });
  }
  // One call, retried until Telegram takes it or rejects it: network errors back off
  // 0.5 s doubling to 30 s; 429 waits exactly its retry_after.
  std::optional<json> call(BotApi& api, const std::string& method, const json& body) {
    double backoff = 0.5;
    while (!stopping_) {
      ApiResult r = api.call(method, body, 15, &stopping_);
      if (r.kind == ApiResult::Kind::ok) return r.result;
      if (r.kind == ApiResult::Kind::rejected) {
        host_->warn("telegram: " + r.error);
        return std::nullopt;
      }
      double wait = r.kind == ApiResult::Kind::retry_after ? r.retry_after_s : backoff;
      host_->warn("telegram: " + r.error + "; retrying in " + std::to_string(wait).substr(0, 4) + " s");
      if (!sleep_for(wait)) break;
      if (r.kind != ApiResult::Kind::retry_after) backoff = std::min(backoff * 2, 30.0);
    }
    return std::nullopt;
  }
  void send_text(int64_t chat, const std::string& text, const json& keyboard = nullptr,
                 std::function<void(int64_t message_id)> sent = nullptr) {
    json body = {{"chat_id", chat}, {"text", text}, {"disable_web_page_preview", true}};
    if (!keyboard.is_null()) body["reply_markup"] = keyboard;
    enqueue([this, body, sent] {
      auto r = call(*sender_api_, "sendMessage", body);
      if (r && sent) sent(r->value("message_id", int64_t{0}));
    });
  }

  // ---- poller thread ----
  void poll_loop() {
    int64_t offset = 0;
    double backoff = 0.5;
    while (!stopping_) {
      json body = {{"offset", offset}, {"timeout", poll_timeout_}, {"allowed_updates", {"message", "callback_query"}}};
      ApiResult r = poll_api_->call("getUpdates", body, poll_timeout_ + 10, &stopping_);
      if (stopping_) return;
      if (r.kind != ApiResult::Kind::ok) {
        double wait = r.kind == ApiResult::Kind::retry_after ? r.retry_after_s : backoff;
        host_->warn("telegram: " + r.error + "; polling again in " + std::to_string(wait).substr(0, 4) + " s");
        if (!sleep_for(wait)) return;
        backoff = std::min(backoff * 2, 30.0);
        continue;
      }
      backoff = 0.5;
      for (auto& u : r.result) {
        offset = std::max(offset, u.value("update_id", int64_t{0}) + 1);
        host_->post([this, u] { on_update(u); });
      }
    }
  }

  // ---- loop thread ----
  void on_approval_message(std::string_view text) {
    json m = json::parse(text, nullptr, false);
    if (!m.is_object() || !m.contains("approval")) return;
    const json& a = m["approval"];
    std::string id = a.value("id", "");
    if (m.value("type", "") == "approval_requested") {
      pending_[id] = a;
      std::string body = ccmux::telegram::approval_text(a);
      for (int64_t chat : chats_)
        send_text(chat, body, ccmux::telegram::approval_keyboard(a), [this, id, chat](int64_t mid) {
          std::lock_guard lock(sent_mu_);
          sent_[id].push_back({chat, mid});
        });
      return;
    }
    if (m.value("type", "") != "approval_resolved") return;
    json original = pending_.count(id) ? pending_[id] : a;
    pending_.erase(id);
    std::string text_after = ccmux::telegram::outcome_text(a, ccmux::telegram::approval_text(original));
    // Queued after the sendMessage calls, so their message ids are known when this runs.
    enqueue([this, id, text_after] {
      std::vector<std::pair<int64_t, int64_t>> msgs;
      {
        std::lock_guard lock(sent_mu_);
        msgs = sent_[id];
        sent_.erase(id);
      }
      for (auto& [chat, mid] : msgs)
        call(*sender_api_, "editMessageText", {{"chat_id", chat}, {"message_id", mid}, {"text", text_after}});
    });
  }

  void on_event(const ccmux::Event& ev) {
    if (ev.kind != "result" && ev.kind != "session_failed") return;
    json p = json::parse(ev.json, nullptr, false);
    if (!p.is_object()) return;
    std::string text;
    if (ev.kind == "result") {
      char cost[48];
      std::snprintf(cost, sizeof cost, "$%.4f", p.value("total_cost_usd", 0.0));
      text = (p.value("is_error", false) ? "⚠️ " : "✅ ") + std::string(ev.session) + " turn " +
             (p.value("is_error", false) ? "ended in error" : "finished") + " · " + cost + " · " +
             std::to_string(p.value("num_turns", 0)) + " turns";
    } else {
      text = "❌ " + std::string(ev.session) + " failed: " + p.value("reason", "");
    }
    for (int64_t chat : chats_) send_text(chat, text);
  }

  bool allowed(int64_t chat, int64_t user) const {
    return chats_.count(chat) && (users_.empty() || users_.count(user));
  }

  void on_update(const json& u) {
    if (u.contains("callback_query")) return on_callback(u["callback_query"]);
    if (!u.contains("message")) return;
    const json& m = u["message"];
    int64_t chat = m.value("chat", json::object()).value("id", int64_t{0});
    int64_t user = m.value("from", json::object()).value("id", int64_t{0});
    std::string text = m.value("text", "");
    if (!allowed(chat, user)) {
      host_->warn("telegram: ignored a message from user " + std::to_string(user) + " in chat " + std::to_string(chat) +
                  " (not allow-listed)");
      return;
    }
    std::string who = "telegram:" + m.value("from", json::object()).value("username", std::to_string(user));
    if (text.rfind("/sessions", 0) == 0) {
      request("session.list", json::object(), [this, chat](bool ok, const json& r) {
        send_text(chat, ok ? ccmux::telegram::sessions_text(r.value("sessions", json::array())) : r.dump());
      });
    } else if (text.rfind("/approve ", 0) == 0 || text.rfind("/deny ", 0) == 0) {
      bool allow = text.rfind("/approve ", 0) == 0;
      std::string rest = text.substr(allow ? 9 : 6);
      std::string id = rest.substr(0, rest.find(' '));
      answer(id, allow ? "allow" : "deny", who, json(), [this, chat, id](const std::string& outcome) {
        send_text(chat, id + ": " + outcome);
      });
    } else if (text.rfind("/", 0) == 0) {
      send_text(chat, "Commands: /sessions, /approve ID, /deny ID");
    }
  }

  void on_callback(const json& q) {
    int64_t user = q.value("from", json::object()).value("id", int64_t{0});
    int64_t chat = q.value("message", json::object()).value("chat", json::object()).value("id", int64_t{0});
    std::string cb = q.value("id", ""), data = q.value("data", "");
    if (!allowed(chat, user)) {
      host_->warn("telegram: ignored a button press by user " + std::to_string(user) + " in chat " + std::to_string(chat) +
                  " (not allow-listed)");
      return;
    }
    std::string who = "telegram:" + q.value("from", json::object()).value("username", std::to_string(user));
    std::vector<std::string> part;
    for (size_t s = 0, e; s <= data.size(); s = e + 1) {
      e = data.find('|', s);
      if (e == std::string::npos) e = data.size();
      part.push_back(data.substr(s, e - s));
    }
    auto ack = [this, cb](const std::string& text) {
      enqueue([this, cb, text] { call(*sender_api_, "answerCallbackQuery", {{"callback_query_id", cb}, {"text", text}}); });
    };
    if (part.size() == 3 && part[0] == "a" && part[2] == "always") {
      request("approval.always", {{"id", part[1]}}, [ack](bool ok, const json& r) {
        ack(ok ? "Always allowing " + r.value("pattern", "") : r.value("message", "could not"));
      });
    } else if (part.size() == 3 && part[0] == "a") {
      answer(part[1], part[2] == "allow" ? "allow" : "deny", who, json(), ack);
    } else if (part.size() == 4 && part[0] == "q" && pending_.count(part[1])) {
      const json& a = pending_[part[1]];
      size_t qi = std::stoul(part[2]), oi = std::stoul(part[3]);
      auto qs = a.value("questions", json::array());
      if (qi >= qs.size() || oi >= qs[qi].value("options", json::array()).size()) return ack("unknown option");
      std::string label = qs[qi]["options"][oi].value("label", "");
      answer(part[1], "allow", who, json{{qs[qi].value("question", ""), label}}, ack);
    } else {
      ack("This approval is no longer pending");
    }
  }

  void answer(const std::string& id, const std::string& decision, const std::string& who, const json& answers,
              std::function<void(const std::string&)> done) {
    json params = {{"id", id}, {"decision", decision}, {"by", who}};
    if (!answers.is_null()) params["answers"] = answers;
    request("approval.answer", params, [done, decision](bool ok, const json& r) {
      if (!ok) return done(r.value("message", "failed"));
      done(r.value("status", "") == "resolved" ? (decision == "allow" ? "Allowed" : "Denied") : r.value("message", "already resolved"));
    });
  }

  void request(const std::string& method, const json& params, std::function<void(bool, const json&)> done) {
    int64_t id = next_request_++;
    waiting_[id] = std::move(done);
    host_->client_send(client_, json{{"type", "request"}, {"id", id}, {"method", method}, {"params", params}}.dump());
  }
  void on_client_message(std::string_view text) {
    json m = json::parse(text, nullptr, false);
    if (!m.is_object() || !m.contains("type") || m["type"] != "response" || !m.contains("id") || !m["id"].is_number_integer())
      return;
    auto it = waiting_.find(m["id"].get<int64_t>());
    if (it == waiting_.end()) return;
    auto done = std::move(it->second);
    waiting_.erase(it);
    if (m.contains("error")) done(false, m["error"]);
    else done(true, m.value("result", json::object()));
  }

  ccmux::Host* host_ = nullptr;
  std::set<int64_t> chats_, users_;
  int poll_timeout_ = 25;
  bool notify_ = true;
  std::unique_ptr<BotApi> sender_api_, poll_api_;
  uint64_t client_ = 0;
  std::map<std::string, json> pending_;                                       // loop thread
  std::map<int64_t, std::function<void(bool, const json&)>> waiting_;       // loop thread
  int64_t next_request_ = 1;
  std::mutex sent_mu_;
  std::map<std::string, std::vector<std::pair<int64_t, int64_t>>> sent_;   // approval -> (chat, message)
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> jobs_;
  std::atomic<bool> stopping_{false};
  std::thread sender_, poller_;
};

}  // namespace

CCMUX_PLUGIN(TelegramPlugin, "telegram", "0.1.0", "approvals and notifications in Telegram", kKeys,
             sizeof(kKeys) / sizeof(kKeys[0]))

// The C++ wrapper (ccmux/plugin.hpp) against a fake host table: recording fakes in every slot
// of ccmux_host_api, the wrapper's C callbacks driven by hand. No daemon, no loop.
#include <ccmux/plugin.hpp>

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

struct FakeHost {
  template <class Fn>
  struct Reg {
    Fn fn;
    void* user;
  };
  std::vector<std::string> logs;  // "<level> <message>"
  std::map<uint64_t, Reg<ccmux_event_fn>> subs;
  std::map<uint64_t, Reg<ccmux_message_fn>> clients;
  std::vector<std::string> sent;
  std::vector<Reg<ccmux_provider_fn>> providers;
  std::vector<Reg<ccmux_message_fn>> channels;
  std::vector<Reg<ccmux_value_fn>> revocation_listeners;
  std::vector<Reg<ccmux_value_fn>> cert_revocation_listeners;
  std::vector<std::string> fingerprints_asked;
  std::map<std::string, Reg<ccmux_method_fn>> methods;
  std::vector<Reg<ccmux_task_fn>> posted;
  struct Timer {
    uint64_t delay_ms, period_ms;
    ccmux_task_fn fn;
    void* user;
  };
  std::map<uint64_t, Timer> timers;
  std::vector<uint64_t> unsubscribed, closed, cancelled;
  std::map<std::string, std::string> kv;
  bool refuse_post = false;
  uint64_t next_id = 1;
  ccmux_host_api api{};

  static FakeHost& of(void* h) { return *static_cast<FakeHost*>(h); }

  // `table_size`: what an older host passes (a 1.3 host's table ends before timer_start).
  explicit FakeHost(size_t table_size = sizeof(ccmux_host_api)) {
    api.struct_size = static_cast<uint32_t>(table_size);
    api.sdk_major = CCMUX_SDK_VERSION_MAJOR;
    api.sdk_minor = CCMUX_SDK_VERSION_MINOR;
    api.host = this;
    api.log = [](void* h, int level, const char* msg) { of(h).logs.push_back(std::to_string(level) + " " + msg); };
    api.subscribe = [](void* h, const char*, uint64_t, ccmux_event_fn fn, void* user) -> uint64_t {
      uint64_t id = of(h).next_id++;
      of(h).subs[id] = {fn, user};
      return id;
    };
    api.unsubscribe = [](void* h, uint64_t id) {
      of(h).unsubscribed.push_back(id);
      of(h).subs.erase(id);
    };
    api.client_open = [](void* h, const char*, ccmux_message_fn fn, void* user) -> uint64_t {
      uint64_t id = of(h).next_id++;
      of(h).clients[id] = {fn, user};
      return id;
    };
    api.client_send = [](void* h, uint64_t, const char* json, size_t len) {
      of(h).sent.emplace_back(json, len);
      return 0;
    };
    api.client_close = [](void* h, uint64_t id) {
      of(h).closed.push_back(id);
      of(h).clients.erase(id);
    };
    api.register_approval_provider = [](void* h, const char*, ccmux_provider_fn fn, void* user) {
      of(h).providers.push_back({fn, user});
      return 0;
    };
    api.register_escalation_channel = [](void* h, const char*, ccmux_message_fn fn, void* user) {
      of(h).channels.push_back({fn, user});
      return 0;
    };
    api.kv_set = [](void* h, const char* k, const char* v, size_t len) {
      of(h).kv[k] = std::string(v, len);
      return 0;
    };
    api.kv_get = [](void* h, const char* k, ccmux_value_fn fn, void* user) {
      auto it = of(h).kv.find(k);
      if (it == of(h).kv.end()) return fn(user, nullptr, 0), 1;
      return fn(user, it->second.data(), it->second.size()), 0;
    };
    api.kv_delete = [](void* h, const char* k) { return of(h).kv.erase(k) ? 0 : -1; };
    api.post = [](void* h, ccmux_task_fn fn, void* user) {
      if (of(h).refuse_post) return CCMUX_ERR;
      of(h).posted.push_back({fn, user});
      return CCMUX_OK;
    };
    api.authenticate = [](void*, const char* token, size_t len, char* name, size_t name_len) {
      if (std::string(token, len) != "good") return CCMUX_ERR;
      std::snprintf(name, name_len, "phone");
      return CCMUX_OK;
    };
    api.register_revocation_listener = [](void* h, ccmux_value_fn fn, void* user) {
      of(h).revocation_listeners.push_back({fn, user});
      return 0;
    };
    api.client_set_ready = [](void*, uint64_t, int) {};
    api.register_method = [](void* h, const char* m, ccmux_method_fn fn, void* user) {
      of(h).methods[m] = {fn, user};
      return 0;
    };
    api.timer_start = [](void* h, uint64_t delay, uint64_t period, ccmux_task_fn fn, void* user) -> uint64_t {
      uint64_t id = of(h).next_id++;
      of(h).timers[id] = {delay, period, fn, user};
      return id;
    };
    api.timer_cancel = [](void* h, uint64_t id) {
      of(h).cancelled.push_back(id);
      of(h).timers.erase(id);
    };
    api.authenticate_certificate = [](void* h, const char* fp, size_t len, char* name, size_t name_len) {
      of(h).fingerprints_asked.emplace_back(fp, len);
      if (std::string(fp, len) != std::string(64, 'a')) return CCMUX_ERR;
      std::snprintf(name, name_len, "laptop");
      return CCMUX_OK;
    };
    api.register_certificate_revocation_listener = [](void* h, ccmux_value_fn fn, void* user) {
      of(h).cert_revocation_listeners.push_back({fn, user});
      return 0;
    };
    // An older host's table has nothing past its size: make any use of those slots crash.
    auto* raw = reinterpret_cast<char*>(&api);
    for (size_t off = table_size; off + sizeof(void*) <= sizeof api; off += sizeof(void*))
      std::memset(raw + off, 0, sizeof(void*));
  }

  void run_posted() {
    auto batch = std::move(posted);
    posted.clear();
    for (auto& t : batch) t.fn(t.user);
  }
  void fire(uint64_t timer) {
    Timer t = timers.at(timer);
    if (!t.period_ms) timers.erase(timer);  // a one-shot timer ends as it fires
    t.fn(t.user);
  }
  bool logged(const std::string& text) const {
    for (auto& l : logs)
      if (l.find(text) != std::string::npos) return true;
    return false;
  }
};

// What the tests' plugins registered and saw (the wrapper makes the plugin with `new P()`).
struct Seen {
  uint64_t timer = 0, periodic = 0;
  int one_shot_runs = 0, periodic_runs = 0;
  std::shared_ptr<int> token = std::make_shared<int>(0);  // held by queued tasks: freed = use_count 1
};
Seen* seen = nullptr;

class ThrowsEverywhere : public ccmux::Plugin {
 public:
  void start(ccmux::Host& host, std::string_view) override {
    host.subscribe("*", 0, [](const ccmux::Event& ev) { throw std::runtime_error("event " + std::string(ev.kind)); });
    host.open_client("c", [](std::string_view m) { throw std::runtime_error("message " + std::string(m)); });
    host.register_escalation_channel("ch", [](std::string_view) { throw std::runtime_error("channel"); });
    host.register_approval_provider("pr", [](std::string_view) -> ccmux::Verdict { throw std::runtime_error("provider"); });
    host.on_token_revoked([](const std::string& name) { throw std::runtime_error("revoked " + name); });
    host.on_certificate_revoked([](const std::string& name) { throw std::runtime_error("cert revoked " + name); });
    host.register_method("x.fail", [](const ccmux::Host::Call&) -> std::string { throw std::runtime_error("method"); });
    host.register_method("x.refuse", [](const ccmux::Host::Call&) -> std::string {
      throw ccmux::MethodError("forbidden", "no");
    });
    host.post([] { throw std::runtime_error("task"); });
    seen->timer = host.after(std::chrono::milliseconds(5), [] { throw 7; });
  }
  void stop() override { throw std::runtime_error("stopping"); }
};

struct Answer {
  int calls = 0, ok = -1;
  std::string json;
};
void respond(void* ctx, int ok, const char* json, size_t len) {
  auto* a = static_cast<Answer*>(ctx);
  ++a->calls;
  a->ok = ok;
  a->json.assign(json, len);
}

struct Decided {
  int calls = 0;
};
void decide(void* ctx, int, const char*, const char*) { ++static_cast<Decided*>(ctx)->calls; }

}  // namespace

TEST(PluginWrapper, AnExceptionFromEveryCallbackIsLoggedThroughTheHostNotSwallowed) {
  Seen s;
  seen = &s;
  FakeHost h;
  void* state = nullptr;
  char err[128] = {0};
  ASSERT_EQ(ccmux::detail::start<ThrowsEverywhere>(&h.api, "{}", 2, &state, err, sizeof err), 0) << err;

  ccmux_event ev{sizeof(ccmux_event), "s-1", 1, 0, "result", "{}", 2};
  h.subs.begin()->second.fn(h.subs.begin()->second.user, &ev);
  h.clients.begin()->second.fn(h.clients.begin()->second.user, "{\"x\":1}", 7);
  h.channels[0].fn(h.channels[0].user, "{}", 2);
  Decided d;
  h.providers[0].fn(h.providers[0].user, "{}", 2, decide, &d);
  h.revocation_listeners[0].fn(h.revocation_listeners[0].user, "phone", 5);
  h.cert_revocation_listeners[0].fn(h.cert_revocation_listeners[0].user, "laptop", 6);
  Answer a;
  h.methods["x.fail"].fn(h.methods["x.fail"].user, "{}", 2, "client:1", 1, respond, &a);
  h.run_posted();
  h.fire(s.timer);

  const std::string e = std::to_string(CCMUX_LOG_ERROR) + " uncaught exception in ";
  EXPECT_TRUE(h.logged(e + "event handler: event result"));
  EXPECT_TRUE(h.logged(e + "client message handler: message {\"x\":1}"));
  EXPECT_TRUE(h.logged(e + "escalation channel: channel"));
  EXPECT_TRUE(h.logged(e + "approval provider: provider"));
  EXPECT_EQ(d.calls, 0);  // no verdict: no opinion
  EXPECT_TRUE(h.logged(e + "token revocation handler: revoked phone"));
  EXPECT_TRUE(h.logged(e + "certificate revocation handler: cert revoked laptop"));
  EXPECT_TRUE(h.logged(e + "method handler: method"));
  EXPECT_EQ(a.calls, 1);
  EXPECT_EQ(a.ok, 0);
  EXPECT_EQ(a.json, R"({"code":"internal","message":"method"})");
  EXPECT_TRUE(h.logged(e + "posted task: task"));
  EXPECT_TRUE(h.logged(e + "timer (not a std::exception)"));

  // A MethodError is an answer, not a fault: replied, not logged.
  size_t before = h.logs.size();
  Answer refused;
  h.methods["x.refuse"].fn(h.methods["x.refuse"].user, "{}", 2, "client:1", 0, respond, &refused);
  EXPECT_EQ(refused.ok, 0);
  EXPECT_EQ(refused.json, R"({"code":"forbidden","message":"no"})");
  EXPECT_EQ(h.logs.size(), before);

  ccmux::detail::stop<ThrowsEverywhere>(state);
  EXPECT_TRUE(h.logged(e + "stop: stopping"));
  for (auto& l : h.logs) {
    if (l.find("uncaught") != std::string::npos) {
      EXPECT_EQ(l.rfind(std::to_string(CCMUX_LOG_ERROR), 0), 0u) << l;
    }
  }
}

namespace {
class Timers : public ccmux::Plugin {
 public:
  void start(ccmux::Host& host, std::string_view) override {
    host_ = &host;
    seen->timer = host.after(std::chrono::milliseconds(250), [] { ++seen->one_shot_runs; });
    seen->periodic = host.every(std::chrono::seconds(2), [this] {
      if (++seen->periodic_runs == 3) host_->cancel_timer(seen->periodic);  // from inside its own task
    });
    // Never run: still queued when the plugin stops. Their captures must be freed then.
    auto token = seen->token;
    host.post([token] {});
    host.every(std::chrono::hours(1), [token] {});
  }

 private:
  ccmux::Host* host_ = nullptr;
};
}  // namespace

TEST(PluginWrapper, TimersRunOnTheHostAndEndWithThePlugin) {
  Seen s;
  seen = &s;
  FakeHost h;
  void* state = nullptr;
  char err[128] = {0};
  ASSERT_EQ(ccmux::detail::start<Timers>(&h.api, "{}", 2, &state, err, sizeof err), 0) << err;
  ASSERT_EQ(h.timers.size(), 3u);
  EXPECT_EQ(h.timers.at(s.timer).delay_ms, 250u);
  EXPECT_EQ(h.timers.at(s.timer).period_ms, 0u);
  EXPECT_EQ(h.timers.at(s.periodic).delay_ms, 2000u);
  EXPECT_EQ(h.timers.at(s.periodic).period_ms, 2000u);

  h.fire(s.timer);
  EXPECT_EQ(s.one_shot_runs, 1);
  for (int i = 0; i < 3; ++i) h.fire(s.periodic);
  EXPECT_EQ(s.periodic_runs, 3);
  EXPECT_EQ(h.cancelled, std::vector<uint64_t>{s.periodic});  // cancelled from inside its own task
  EXPECT_EQ(h.timers.count(s.periodic), 0u);
  size_t queued = h.posted.size();  // the cancelled record is freed on a later turn, through post
  EXPECT_GE(queued, 1u);

  EXPECT_GT(s.token.use_count(), 1);
  ccmux::detail::stop<Timers>(state);  // nothing queued runs any more: the host drops it
  EXPECT_EQ(h.timers.size(), 0u) << "the plugin's timers outlive it";
  EXPECT_EQ(h.cancelled.size(), 2u);
  EXPECT_EQ(s.token.use_count(), 1) << "a queued task or a timer was not freed with the plugin";
}

TEST(PluginWrapper, APostTheHostRefusesIsFreedAtOnce) {
  FakeHost h;
  ccmux::Host host(&h.api);
  auto token = std::make_shared<int>(0);
  h.refuse_post = true;
  bool ran = false;
  host.post([token, &ran] { ran = true; });
  EXPECT_EQ(token.use_count(), 1);
  h.refuse_post = false;
  host.post([token, &ran] { ran = true; });
  EXPECT_EQ(token.use_count(), 2);
  h.run_posted();
  EXPECT_TRUE(ran);
  EXPECT_EQ(token.use_count(), 1);
}

TEST(PluginWrapper, AnOlderHostTableHidesWhatItLacks) {
  FakeHost v14(offsetof(ccmux_host_api, authenticate_certificate));  // ends before the 1.5 functions
  ccmux::Host h14(&v14.api);
  EXPECT_EQ(h14.authenticate_certificate(std::string(64, 'a')), std::nullopt);
  EXPECT_FALSE(h14.on_certificate_revoked([](const std::string&) {}));
  EXPECT_TRUE(v14.fingerprints_asked.empty());
  EXPECT_NE(h14.after(std::chrono::milliseconds(1), [] {}), 0u);

  FakeHost v13(offsetof(ccmux_host_api, timer_start));  // ends before the 1.4 functions
  ccmux::Host h13(&v13.api);
  EXPECT_EQ(h13.after(std::chrono::milliseconds(1), [] {}), 0u);
  h13.cancel_timer(5);  // a no-op, not a call through a NULL slot
  EXPECT_TRUE(h13.register_method("a.b", [](const ccmux::Host::Call&) { return std::string("{}"); }));

  FakeHost v10(offsetof(ccmux_host_api, authenticate));
  ccmux::Host h10(&v10.api);
  EXPECT_EQ(h10.authenticate("good"), std::nullopt);
  EXPECT_FALSE(h10.on_token_revoked([](const std::string&) {}));
  EXPECT_FALSE(h10.client_set_ready(1, true));
  EXPECT_FALSE(h10.register_method("a.b", [](const ccmux::Host::Call&) { return std::string("{}"); }));
  EXPECT_EQ(h10.authenticate_certificate(std::string(64, 'a')), std::nullopt);
  EXPECT_FALSE(h10.on_certificate_revoked([](const std::string&) {}));

  FakeHost now;
  ccmux::Host h(&now.api);
  EXPECT_EQ(h.authenticate("good"), "phone");
  EXPECT_EQ(h.authenticate("bad"), std::nullopt);
}

TEST(PluginWrapper, CertificateCallsPassTheFingerprintAndDeliverRevokedNames) {
  FakeHost fake;
  ccmux::Host h(&fake.api);
  const std::string fp(64, 'a');
  EXPECT_EQ(h.authenticate_certificate(fp), "laptop");
  EXPECT_EQ(h.authenticate_certificate(std::string(64, 'b')), std::nullopt);
  EXPECT_EQ(fake.fingerprints_asked, (std::vector<std::string>{fp, std::string(64, 'b')}));
  std::vector<std::string> heard;
  ASSERT_TRUE(h.on_certificate_revoked([&](const std::string& n) { heard.push_back(n); }));
  ASSERT_EQ(fake.cert_revocation_listeners.size(), 1u);
  EXPECT_TRUE(fake.revocation_listeners.empty()) << "certificate revocations have their own listener";
  fake.cert_revocation_listeners[0].fn(fake.cert_revocation_listeners[0].user, "laptop-x", 6);
  EXPECT_EQ(heard, std::vector<std::string>{"laptop"});
}

TEST(PluginWrapper, HostHandleUndoesSubscriptionsAndClientsWhenDestroyed) {
  FakeHost fake;
  uint64_t sub = 0, client = 0;
  {
    ccmux::Host h(&fake.api);
    sub = h.subscribe("*", 0, [](const ccmux::Event&) {});
    client = h.open_client("c", [](std::string_view) {});
    EXPECT_TRUE(h.client_send(client, "{}"));
    EXPECT_TRUE(h.kv_set("k", "v"));
    EXPECT_EQ(h.kv_get("k"), "v");
    EXPECT_EQ(h.kv_get("absent"), std::nullopt);
  }
  EXPECT_EQ(fake.unsubscribed, std::vector<uint64_t>{sub});
  EXPECT_EQ(fake.closed, std::vector<uint64_t>{client});
}

TEST(PluginWrapper, ConfigKeyFillsTheSizedSpec) {
  static const char* const kChoices[] = {"a", "b"};
  ccmux_config_spec s = ccmux::ConfigKey::integer("port", "TCP port").def("8420").range(1, 65535);
  EXPECT_EQ(s.struct_size, sizeof(ccmux_config_spec));
  EXPECT_STREQ(s.name, "port");
  EXPECT_EQ(s.type, CCMUX_CFG_INT);
  EXPECT_STREQ(s.default_value, "8420");
  EXPECT_EQ(s.has_min, 1);
  EXPECT_EQ(s.min, 1);
  EXPECT_EQ(s.has_max, 1);
  EXPECT_EQ(s.max, 65535);
  EXPECT_EQ(s.required, 0);
  ccmux_config_spec c = ccmux::ConfigKey::string("mode", "").choices(kChoices).required();
  EXPECT_EQ(c.choice_count, 2u);
  EXPECT_EQ(c.choices, kChoices);
  EXPECT_EQ(c.required, 1);
  EXPECT_EQ(c.has_min, 0);
  // CCMUX_PLUGIN puts specs and 1.0 keys where each belongs.
  static const ccmux_config_key old[] = {{"k", CCMUX_CFG_STRING, 0, ""}};
  static const ccmux_config_spec specs[] = {ccmux::ConfigKey::string("k", "")};
  EXPECT_EQ(ccmux::detail::old_keys(old), old);
  EXPECT_EQ(ccmux::detail::specs(old), nullptr);
  EXPECT_EQ(ccmux::detail::old_keys(specs), nullptr);
  EXPECT_EQ(ccmux::detail::specs(specs), specs);
  EXPECT_EQ(ccmux::detail::specs(nullptr), nullptr);
  EXPECT_EQ(ccmux::detail::old_keys(0), nullptr);  // a 1.0 plugin's CCMUX_PLUGIN(…, 0, 0) still compiles
  EXPECT_EQ(ccmux::detail::specs(0), nullptr);
}

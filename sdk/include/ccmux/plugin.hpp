// Header-only C++ wrapper over plugin_abi.h: what plugin authors actually use.
//
//   class Hello : public ccmux::Plugin {
//     void start(ccmux::Host& host, std::string_view config_json) override { ... }
//   };
//   const ccmux_config_spec kKeys[] = {ccmux::ConfigKey::string("greeting", "word to log").def("hello")};
//   CCMUX_PLUGIN(Hello, "hello", "1.0.0", "says hello", kKeys, 1)
//
// Exceptions thrown by start() become a start failure with the message; exceptions thrown
// from stop() and from callbacks (events, messages, providers, methods, posted tasks, timers,
// revocations) are caught here and logged through the host, which names the plugin
// ("plugin hello: uncaught exception in event handler: …"); they never cross into the host.
// A method handler's exception also answers the call (MethodError: its code; else "internal").
#pragma once

#include <ccmux/plugin_abi.h>

#include <boost/dll/alias.hpp>

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace ccmux {

// SDK 1.4: one config key with its default, range and choices, for a plugin's descriptor:
//   static const char* const kModes[] = {"fast", "careful"};
//   const ccmux_config_spec kKeys[] = {
//       ccmux::ConfigKey::integer("port", "TCP port").def("8420").range(1, 65535),
//       ccmux::ConfigKey::string("mode", "how").def("fast").choices(kModes),
//   };
// Defaults are YAML as written in the config file; the host checks them like values.
struct ConfigKey {
  ccmux_config_spec spec{};
  constexpr ConfigKey(const char* name, int type, const char* help) {
    spec.struct_size = sizeof(ccmux_config_spec);
    spec.name = name;
    spec.type = type;
    spec.help = help;
  }
  static constexpr ConfigKey string(const char* name, const char* help) { return {name, CCMUX_CFG_STRING, help}; }
  static constexpr ConfigKey integer(const char* name, const char* help) { return {name, CCMUX_CFG_INT, help}; }
  static constexpr ConfigKey number(const char* name, const char* help) { return {name, CCMUX_CFG_FLOAT, help}; }
  static constexpr ConfigKey boolean(const char* name, const char* help) { return {name, CCMUX_CFG_BOOL, help}; }
  static constexpr ConfigKey list(const char* name, const char* help) { return {name, CCMUX_CFG_STRING_LIST, help}; }
  static constexpr ConfigKey map(const char* name, const char* help) { return {name, CCMUX_CFG_MAP, help}; }
  constexpr ConfigKey& def(const char* yaml) {
    spec.default_value = yaml;
    return *this;
  }
  constexpr ConfigKey& required() {
    spec.required = 1;
    return *this;
  }
  constexpr ConfigKey& min(double v) {
    spec.has_min = 1;
    spec.min = v;
    return *this;
  }
  constexpr ConfigKey& max(double v) {
    spec.has_max = 1;
    spec.max = v;
    return *this;
  }
  constexpr ConfigKey& range(double lo, double hi) { return min(lo).max(hi); }
  template <size_t N>
  constexpr ConfigKey& choices(const char* const (&values)[N]) {
    spec.choices = values;
    spec.choice_count = N;
    return *this;
  }
  constexpr operator ccmux_config_spec() const { return spec; }
};

struct Event {
  std::string_view session;
  uint64_t seq;
  int64_t ts_ms;
  std::string_view kind;
  std::string_view json;
};

enum class Decision { none = CCMUX_DECISION_NONE, allow = CCMUX_DECISION_ALLOW, deny = CCMUX_DECISION_DENY, ask = CCMUX_DECISION_ASK };

struct Verdict {
  Decision decision = Decision::none;
  std::string reason;
  std::string updated_input_json;  // empty: unchanged
};

// Thrown by a method handler: the client gets {"code": code, "message": message}.
class MethodError : public std::exception {
 public:
  MethodError(std::string code, std::string message) : code_(std::move(code)), message_(std::move(message)) {}
  const char* what() const noexcept override { return message_.c_str(); }
  // The error object as JSON text (escaped by hand: the SDK does not depend on a JSON library).
  std::string json() const { return "{\"code\":" + quote(code_) + ",\"message\":" + quote(message_) + "}"; }

 private:
  static std::string quote(const std::string& s) {
    std::string o = "\"";
    for (char c : s) {
      if (c == '"' || c == '\\') o += '\\', o += c;
      else if (static_cast<unsigned char>(c) < 0x20) {
        char b[8];
        std::snprintf(b, sizeof b, "\\u%04x", c);
        o += b;
      } else o += c;
    }
    return o + "\"";
  }
  std::string code_, message_;
};

class Host {
 public:
  explicit Host(const ccmux_host_api* api) : api_(api) {}
  ~Host() {
    for (auto& [id, _] : subscriptions_) api_->unsubscribe(api_->host, id);
    for (auto& [id, _] : clients_) api_->client_close(api_->host, id);
    std::lock_guard lock(mu_);
    for (auto& [_, rec] : timers_)
      if (rec->id) api_->timer_cancel(api_->host, rec->id);
    // Tasks still queued will not run (the host drops them when the plugin stops): free them.
    for (Task* t : pending_tasks_) delete t;
  }
  Host(const Host&) = delete;
  Host& operator=(const Host&) = delete;

  const ccmux_host_api* raw() const { return api_; }
  void log(int level, const std::string& msg) const { api_->log(api_->host, level, msg.c_str()); }
  void info(const std::string& msg) const { log(CCMUX_LOG_INFO, msg); }
  void warn(const std::string& msg) const { log(CCMUX_LOG_WARN, msg); }
  void error(const std::string& msg) const { log(CCMUX_LOG_ERROR, msg); }

  // Logs the exception being handled (call inside a catch block); never throws.
  void log_exception(const char* where) const noexcept {
    try {
      try {
        throw;
      } catch (const std::exception& e) {
        error(std::string("uncaught exception in ") + where + ": " + e.what());
      } catch (...) {
        error(std::string("uncaught exception in ") + where + " (not a std::exception)");
      }
    } catch (...) {  // out of memory while logging: nothing more to do
    }
  }

  using EventHandler = std::function<void(const Event&)>;
  // Returns the subscription id (0 on failure). The handler lives in this Host.
  uint64_t subscribe(const std::string& session, uint64_t from_seq, EventHandler handler) {
    auto owned = std::make_unique<Callback<EventHandler>>(Callback<EventHandler>{this, std::move(handler)});
    uint64_t id = api_->subscribe(api_->host, session.c_str(), from_seq, &Host::on_event, owned.get());
    if (id) subscriptions_[id] = std::move(owned);
    return id;
  }
  void unsubscribe(uint64_t id) {
    api_->unsubscribe(api_->host, id);
    subscriptions_.erase(id);
  }

  using MessageHandler = std::function<void(std::string_view json)>;
  // Opens an in-daemon protocol client; `on_message` gets every message sent to it.
  uint64_t open_client(const std::string& name, MessageHandler on_message) {
    auto owned = std::make_unique<Callback<MessageHandler>>(Callback<MessageHandler>{this, std::move(on_message)});
    uint64_t id = api_->client_open(api_->host, name.c_str(), &Host::on_message, owned.get());
    if (id) clients_[id] = std::move(owned);
    return id;
  }
  bool client_send(uint64_t client, std::string_view json) {
    return api_->client_send(api_->host, client, json.data(), json.size()) == 0;
  }
  // SDK 1.2: pause (false) or resume (true) subscription events for a client whose
  // transport queue is full / drained. Returns false on a host older than 1.2.
  bool client_set_ready(uint64_t client, bool ready) {
    if (!has(offsetof(ccmux_host_api, client_set_ready))) return false;
    api_->client_set_ready(api_->host, client, ready ? 1 : 0);
    return true;
  }
  void close_client(uint64_t id) {
    api_->client_close(api_->host, id);
    clients_.erase(id);
  }

  using Provider = std::function<Verdict(std::string_view request_json)>;
  bool register_approval_provider(const std::string& name, Provider provider) {
    providers_.push_back(std::make_unique<Callback<Provider>>(Callback<Provider>{this, std::move(provider)}));
    return api_->register_approval_provider(api_->host, name.c_str(), &Host::on_provider, providers_.back().get()) == 0;
  }
  bool register_escalation_channel(const std::string& name, MessageHandler handler) {
    channels_.push_back(std::make_unique<Callback<MessageHandler>>(Callback<MessageHandler>{this, std::move(handler)}));
    return api_->register_escalation_channel(api_->host, name.c_str(), &Host::on_channel, channels_.back().get()) == 0;
  }

  bool kv_set(const std::string& key, std::string_view value) {
    return api_->kv_set(api_->host, key.c_str(), value.data(), value.size()) == 0;
  }
  // The stored value; nullopt when absent, and when the call failed (e.g. the daemon is stopping).
  std::optional<std::string> kv_get(const std::string& key) {
    std::optional<std::string> out;
    api_->kv_get(api_->host, key.c_str(), &Host::on_value, &out);
    return out;
  }
  bool kv_delete(const std::string& key) { return api_->kv_delete(api_->host, key.c_str()) == 0; }

  // SDK 1.1: the name of a valid client token (`ccmux token create`), or nullopt. Also
  // nullopt on a host older than 1.1.
  std::optional<std::string> authenticate(std::string_view token) {
    if (!has(offsetof(ccmux_host_api, authenticate))) return std::nullopt;
    char name[128];
    if (api_->authenticate(api_->host, token.data(), token.size(), name, sizeof name) != 0) return std::nullopt;
    return std::string(name);
  }
  // SDK 1.1: `handler` gets the name of each revoked token. False on a host older than 1.1.
  using RevocationHandler = std::function<void(const std::string& name)>;
  bool on_token_revoked(RevocationHandler handler) {
    if (!has(offsetof(ccmux_host_api, register_revocation_listener))) return false;
    revocation_handlers_.push_back(
        std::make_unique<Callback<RevocationHandler>>(Callback<RevocationHandler>{this, std::move(handler)}));
    return api_->register_revocation_listener(api_->host, &Host::on_revoked, revocation_handlers_.back().get()) == 0;
  }

  // SDK 1.5: the name of a client certificate issued by `ccmux certs issue` that is neither
  // revoked nor expired, found by its fingerprint: SHA-256 over the certificate's DER as 64
  // hex digits (lowercase canonical; case ignored). nullopt otherwise, and on a host older
  // than 1.5. Check the TLS chain to the machine's CA yourself; this adds "still honoured".
  std::optional<std::string> authenticate_certificate(std::string_view der_sha256_hex) {
    if (!has(offsetof(ccmux_host_api, authenticate_certificate))) return std::nullopt;
    char name[128];
    if (api_->authenticate_certificate(api_->host, der_sha256_hex.data(), der_sha256_hex.size(), name, sizeof name) != 0)
      return std::nullopt;
    return std::string(name);
  }
  // SDK 1.5: `handler` gets the name of each revoked client certificate. False on a host
  // older than 1.5.
  bool on_certificate_revoked(RevocationHandler handler) {
    if (!has(offsetof(ccmux_host_api, register_certificate_revocation_listener))) return false;
    revocation_handlers_.push_back(
        std::make_unique<Callback<RevocationHandler>>(Callback<RevocationHandler>{this, std::move(handler)}));
    return api_->register_certificate_revocation_listener(api_->host, &Host::on_cert_revoked,
                                                          revocation_handlers_.back().get()) == 0;
  }

  // SDK 1.3: serves the protocol method `name`. The handler gets the params (a JSON object
  // as text) and the caller, and returns the result; throw MethodError for an error reply.
  struct Call {
    std::string_view params_json;
    std::string_view caller;
    bool trusted;  // the local socket (the daemon's owner)
  };
  using Method = std::function<std::string(const Call& call)>;  // returns the result object as JSON text
  bool register_method(const std::string& name, Method method) {
    if (!has(offsetof(ccmux_host_api, register_method))) return false;
    methods_.push_back(std::make_unique<Callback<Method>>(Callback<Method>{this, std::move(method)}));
    return api_->register_method(api_->host, name.c_str(), &Host::on_method, methods_.back().get()) == 0;
  }

  // SDK 1.6: a method that answers later. The handler keeps `call.id` and answers it once with
  // respond() (from any thread). Throwing from the handler answers the call with the error
  // (MethodError: its code; else "internal"): do not throw after having answered.
  struct AsyncCall {
    uint64_t id;
    std::string params_json;
    std::string caller;
    bool trusted;
  };
  using AsyncMethod = std::function<void(const AsyncCall& call)>;
  bool register_async_method(const std::string& name, AsyncMethod method) {
    if (!has(offsetof(ccmux_host_api, register_async_method))) return false;
    async_methods_.push_back(std::make_unique<Callback<AsyncMethod>>(Callback<AsyncMethod>{this, std::move(method)}));
    return api_->register_async_method(api_->host, name.c_str(), &Host::on_async_method,
                                       async_methods_.back().get()) == 0;
  }
  // SDK 1.6: answers an async method's call or a routed request. `json`: the result object
  // (ok) or {"code","message"} (use MethodError(...).json()). Any thread.
  bool respond(uint64_t call, bool ok, std::string_view json) {
    if (!has(offsetof(ccmux_host_api, call_respond))) return false;
    return api_->call_respond(api_->host, call, ok ? 1 : 0, json.data(), json.size()) == 0;
  }

  // SDK 1.6: requests addressed to other machines ("host" parameter, "NAME/s-…" sessions,
  // "NAME/a-…" approval ids) come to `route`; answer each with respond(route.call, …).
  // `note(client, gone)`: the client closed (gone) or drained after client_push said 0.
  struct Route {
    uint64_t call;
    uint64_t client;
    std::string target;
    std::string method;
    std::string params_json;
    std::string caller;
    bool trusted;
  };
  using Router = std::function<void(const Route& route)>;
  using ClientNote = std::function<void(uint64_t client, bool gone)>;
  bool register_router(const std::string& local_name, Router route, ClientNote note) {
    if (!has(offsetof(ccmux_host_api, register_router))) return false;
    // Kept only once the host took it: a refused second call must not free the first router's.
    auto rec = std::make_unique<RouterRec>(RouterRec{this, std::move(route), std::move(note)});
    if (api_->register_router(api_->host, local_name.c_str(), &Host::on_route, &Host::on_client_note, rec.get()) != 0)
      return false;
    router_ = std::move(rec);
    return true;
  }
  // SDK 1.6, loop thread: 1 delivered (more welcome), 0 delivered but the client is full
  // (wait for its note), -1 gone (also on a host older than 1.6).
  int client_push(uint64_t client, std::string_view json) {
    if (!has(offsetof(ccmux_host_api, client_push))) return -1;
    return api_->client_push(api_->host, client, json.data(), json.size());
  }
  // SDK 1.6: what this machine shows of `machine`'s pending approvals (a JSON array of
  // approval objects with "machine/" prefixed ids and sessions). Any thread.
  bool set_remote_approvals(const std::string& machine, std::string_view json_array) {
    if (!has(offsetof(ccmux_host_api, set_remote_approvals))) return false;
    return api_->set_remote_approvals(api_->host, machine.c_str(), json_array.data(), json_array.size()) == 0;
  }

  // Runs `task` on the core loop thread. Safe from any thread. A task still queued when the
  // plugin stops does not run (and is freed with this Host).
  using Task = std::function<void()>;
  void post(Task task) {
    auto* heap = new Task(std::move(task));
    {
      std::lock_guard lock(mu_);
      pending_tasks_.insert(heap);
    }
    auto posted = std::make_unique<PostedTask>(PostedTask{this, heap});
    if (api_->post(api_->host, &Host::on_task, posted.get()) == 0) {
      posted.release();  // on_task frees it
      return;
    }
    std::lock_guard lock(mu_);  // not queued (the plugin is stopping): nothing will run it
    pending_tasks_.erase(heap);
    delete heap;
  }

  // SDK 1.4: runs `task` on the loop thread after `delay`, then every `period` unless it is
  // zero, until cancel_timer() or the plugin stops. Safe from any thread. Returns the timer id,
  // 0 when the host is older than 1.4 or the plugin is stopping.
  using ms = std::chrono::milliseconds;
  uint64_t set_timer(ms delay, ms period, Task task) {
    if (!has(offsetof(ccmux_host_api, timer_cancel))) return 0;
    std::lock_guard lock(mu_);
    // Held across timer_start (which never blocks nor calls back): a timer that fires on the
    // loop at once cannot free its record before its id is stored.
    uint64_t serial = ++timer_serial_;
    auto rec = std::make_unique<Timer>(Timer{this, std::move(task), 0, serial, period.count() > 0});
    Timer* raw = rec.get();
    raw->id = api_->timer_start(api_->host, static_cast<uint64_t>(delay.count() < 0 ? 0 : delay.count()),
                                static_cast<uint64_t>(period.count() < 0 ? 0 : period.count()), &Host::on_timer, raw);
    if (!raw->id) return 0;
    timers_[serial] = std::move(rec);
    return raw->id;
  }
  uint64_t after(ms delay, Task task) { return set_timer(delay, ms(0), std::move(task)); }
  uint64_t every(ms period, Task task) { return set_timer(period, period, std::move(task)); }
  // Ends a timer: on the loop thread (inside its own task too) the task does not run again;
  // from another thread it may run once more before the host takes the cancel.
  void cancel_timer(uint64_t id) {
    if (!id || !has(offsetof(ccmux_host_api, timer_cancel))) return;
    uint64_t serial = 0;
    {
      std::lock_guard lock(mu_);
      for (auto& [s, rec] : timers_)
        if (rec->id == id) {
          serial = s;
          rec->id = 0;  // cancelled: not again from ~Host
        }
      if (!serial) return;
    }
    api_->timer_cancel(api_->host, id);
    // Freed after the host took the cancel (post shares its queue), never under its running task.
    post([this, serial] { forget_timer(serial); });
  }

 private:
  template <class F>
  struct Callback {
    Host* host;
    F fn;
  };
  struct PostedTask {
    Host* host;
    Task* task;
  };
  struct Timer {
    Host* host;
    Task fn;
    uint64_t id;      // the host's; 0 once cancelled
    uint64_t serial;  // ours: the key of timers_, never reused
    bool periodic;
  };

  // True when the host's table reaches the field at `offset` (older hosts pass smaller tables).
  bool has(size_t offset) const { return api_->struct_size >= offset + sizeof(void*); }

  void forget_timer(uint64_t serial) {
    std::unique_ptr<Timer> gone;  // freed after the lock is released
    std::lock_guard lock(mu_);
    auto it = timers_.find(serial);
    if (it != timers_.end()) {
      gone = std::move(it->second);
      timers_.erase(it);
    }
  }

  static void on_event(void* user, const ccmux_event* ev) noexcept {
    auto* cb = static_cast<Callback<EventHandler>*>(user);
    try {
      cb->fn(Event{ev->session, ev->seq, ev->ts_ms, ev->kind, {ev->json, ev->json_len}});
    } catch (...) {
      cb->host->log_exception("event handler");
    }
  }
  static void on_message(void* user, const char* json, size_t len) noexcept {
    auto* cb = static_cast<Callback<MessageHandler>*>(user);
    try {
      cb->fn(std::string_view(json, len));
    } catch (...) {
      cb->host->log_exception("client message handler");
    }
  }
  static void on_channel(void* user, const char* json, size_t len) noexcept {
    auto* cb = static_cast<Callback<MessageHandler>*>(user);
    try {
      cb->fn(std::string_view(json, len));
    } catch (...) {
      cb->host->log_exception("escalation channel");
    }
  }
  static void on_provider(void* user, const char* req, size_t len, ccmux_decide_fn decide, void* ctx) noexcept {
    auto* cb = static_cast<Callback<Provider>*>(user);
    try {
      Verdict v = cb->fn(std::string_view(req, len));
      if (v.decision != Decision::none)
        decide(ctx, static_cast<int>(v.decision), v.reason.c_str(),
               v.updated_input_json.empty() ? nullptr : v.updated_input_json.c_str());
    } catch (...) {
      cb->host->log_exception("approval provider");  // no verdict: no opinion
    }
  }
  static void on_revoked(void* user, const char* name, size_t len) noexcept {
    auto* cb = static_cast<Callback<RevocationHandler>*>(user);
    try {
      cb->fn(std::string(name, len));
    } catch (...) {
      cb->host->log_exception("token revocation handler");
    }
  }
  static void on_cert_revoked(void* user, const char* name, size_t len) noexcept {
    auto* cb = static_cast<Callback<RevocationHandler>*>(user);
    try {
      cb->fn(std::string(name, len));
    } catch (...) {
      cb->host->log_exception("certificate revocation handler");
    }
  }
  static void on_method(void* user, const char* params, size_t len, const char* caller, int trusted,
                        ccmux_respond_fn respond, void* ctx) noexcept {
    auto* cb = static_cast<Callback<Method>*>(user);
    std::string out;
    bool ok = true;
    try {
      out = cb->fn(Call{std::string_view(params, len), caller ? caller : "", trusted != 0});
    } catch (const MethodError& e) {  // an answer, not a fault
      ok = false;
      out = e.json();
    } catch (const std::exception& e) {
      cb->host->log_exception("method handler");
      ok = false;
      out = MethodError("internal", e.what()).json();
    } catch (...) {
      cb->host->log_exception("method handler");
      ok = false;
      out = MethodError("internal", "unknown exception").json();
    }
    respond(ctx, ok ? 1 : 0, out.data(), out.size());
  }
  static void on_async_method(void* user, uint64_t call, const char* params, size_t len, const char* caller,
                              int trusted) noexcept {
    auto* cb = static_cast<Callback<AsyncMethod>*>(user);
    try {
      cb->fn(AsyncCall{call, std::string(params, len), caller ? caller : "", trusted != 0});
    } catch (const MethodError& e) {
      cb->host->respond(call, false, e.json());
    } catch (const std::exception& e) {
      cb->host->log_exception("async method handler");
      cb->host->respond(call, false, MethodError("internal", e.what()).json());
    } catch (...) {
      cb->host->log_exception("async method handler");
      cb->host->respond(call, false, MethodError("internal", "unknown exception").json());
    }
  }
  struct RouterRec {
    Host* host;
    Router route;
    ClientNote note;
  };
  static void on_route(void* user, uint64_t call, uint64_t client, const char* target, const char* method,
                       const char* params, size_t len, const char* caller, int trusted) noexcept {
    auto* rec = static_cast<RouterRec*>(user);
    try {
      rec->route(Route{call, client, target ? target : "", method ? method : "", std::string(params, len),
                       caller ? caller : "", trusted != 0});
    } catch (const MethodError& e) {
      rec->host->respond(call, false, e.json());
    } catch (...) {
      rec->host->log_exception("router");
      rec->host->respond(call, false, MethodError("internal", "the router failed").json());
    }
  }
  static void on_client_note(void* user, uint64_t client, int what) noexcept {
    auto* rec = static_cast<RouterRec*>(user);
    try {
      if (rec->note) rec->note(client, what == CCMUX_CLIENT_GONE);
    } catch (...) {
      rec->host->log_exception("router client note");
    }
  }
  static void on_value(void* user, const char* value, size_t len) noexcept {
    if (value) *static_cast<std::optional<std::string>*>(user) = std::string(value, len);
  }
  static void on_task(void* user) noexcept {
    std::unique_ptr<PostedTask> posted(static_cast<PostedTask*>(user));
    Host* host = posted->host;
    {
      std::lock_guard lock(host->mu_);
      host->pending_tasks_.erase(posted->task);
    }
    std::unique_ptr<Task> task(posted->task);
    try {
      (*task)();
    } catch (...) {
      host->log_exception("posted task");
    }
  }
  static void on_timer(void* user) noexcept {
    auto* rec = static_cast<Timer*>(user);
    Host* host = rec->host;
    try {
      rec->fn();  // the record outlives this: a cancel from inside frees it on a later turn
    } catch (...) {
      host->log_exception("timer");
    }
    if (!rec->periodic) host->forget_timer(rec->serial);  // a one-shot timer has ended
  }

  const ccmux_host_api* api_;
  std::map<uint64_t, std::unique_ptr<Callback<EventHandler>>> subscriptions_;
  std::map<uint64_t, std::unique_ptr<Callback<MessageHandler>>> clients_;
  std::vector<std::unique_ptr<Callback<Provider>>> providers_;
  std::vector<std::unique_ptr<Callback<MessageHandler>>> channels_;
  std::vector<std::unique_ptr<Callback<RevocationHandler>>> revocation_handlers_;
  std::vector<std::unique_ptr<Callback<Method>>> methods_;
  std::vector<std::unique_ptr<Callback<AsyncMethod>>> async_methods_;
  std::unique_ptr<RouterRec> router_;
  // Touched from any thread (post, timers), so under a mutex.
  std::mutex mu_;
  std::set<Task*> pending_tasks_;
  std::map<uint64_t, std::unique_ptr<Timer>> timers_;  // by serial
  uint64_t timer_serial_ = 0;
};

class Plugin {
 public:
  virtual ~Plugin() = default;
  // Throw to refuse to start; the message is reported by the host.
  virtual void start(Host& host, std::string_view config_json) = 0;
  virtual void stop() {}
};

namespace detail {
template <class P>
struct Instance {
  std::unique_ptr<Host> host;
  std::unique_ptr<P> plugin;
};

template <class P>
int start(const ccmux_host_api* api, const char* cfg, size_t len, void** state, char* err, size_t errlen) noexcept {
  auto fail = [&](const char* msg) {
    if (err && errlen) {
      std::strncpy(err, msg, errlen - 1);
      err[errlen - 1] = 0;
    }
    return 1;
  };
  try {
    auto inst = std::make_unique<Instance<P>>();
    inst->host = std::make_unique<Host>(api);
    inst->plugin = std::make_unique<P>();
    inst->plugin->start(*inst->host, std::string_view(cfg, len));
    *state = inst.release();
    return 0;
  } catch (const std::exception& e) {
    return fail(e.what());
  } catch (...) {
    return fail("unknown exception in plugin start");
  }
}

template <class P>
void stop(void* state) noexcept {
  std::unique_ptr<Instance<P>> inst(static_cast<Instance<P>*>(state));
  if (!inst) return;
  try {
    if (inst->plugin) inst->plugin->stop();
  } catch (...) {
    inst->host->log_exception("stop");
  }
  try {
    inst->plugin.reset();  // the plugin goes before the host handle it uses
  } catch (...) {          // a destructor that throws ends up here only if declared noexcept(false)
    inst->host->log_exception("the plugin's destructor");
  }
}

// CCMUX_PLUGIN takes either declaration: SDK 1.4 ccmux_config_spec[] or 1.0 ccmux_config_key[].
constexpr const ccmux_config_key* old_keys(const ccmux_config_key* k) { return k; }
constexpr const ccmux_config_key* old_keys(const ccmux_config_spec*) { return nullptr; }
constexpr const ccmux_config_key* old_keys(std::nullptr_t) { return nullptr; }
constexpr const ccmux_config_spec* specs(const ccmux_config_key*) { return nullptr; }
constexpr const ccmux_config_spec* specs(const ccmux_config_spec* s) { return s; }
constexpr const ccmux_config_spec* specs(std::nullptr_t) { return nullptr; }
constexpr const ccmux_config_key* old_keys(int) { return nullptr; }  // CCMUX_PLUGIN(…, 0, 0), as 1.0 allowed
constexpr const ccmux_config_spec* specs(int) { return nullptr; }
}  // namespace detail
}  // namespace ccmux

// Declares the plugin's descriptor and exports it under CCMUX_PLUGIN_ENTRY_NAME. `Keys` is a
// static array of ccmux_config_spec (SDK 1.4: defaults, ranges, choices) or ccmux_config_key.
#define CCMUX_PLUGIN(Class, Name, Version, Description, Keys, KeyCount)                      \
  namespace ccmux_plugin_export {                                                              \
  const ccmux_plugin_descriptor* get_descriptor() {                                            \
    static const ccmux_plugin_descriptor d = {                                                 \
        sizeof(ccmux_plugin_descriptor),                                                       \
        CCMUX_SDK_VERSION_MAJOR,                                                               \
        CCMUX_SDK_VERSION_MINOR,                                                               \
        CCMUX_ABI_FINGERPRINT,                                                                 \
        Name,                                                                                  \
        Version,                                                                               \
        Description,                                                                           \
        ::ccmux::detail::old_keys(Keys),                                                       \
        ::ccmux::detail::old_keys(Keys) ? static_cast<size_t>(KeyCount) : 0,                   \
        &::ccmux::detail::start<Class>,                                                        \
        &::ccmux::detail::stop<Class>,                                                         \
        ::ccmux::detail::specs(Keys),                                                          \
        ::ccmux::detail::specs(Keys) ? static_cast<size_t>(KeyCount) : 0};                     \
    return &d;                                                                                 \
  }                                                                                            \
  }                                                                                            \
  BOOST_DLL_ALIAS(ccmux_plugin_export::get_descriptor, ccmux_plugin_entry_v1)

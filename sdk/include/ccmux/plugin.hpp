// Header-only C++ wrapper over plugin_abi.h: what plugin authors actually use.
//
//   class Hello : public ccmux::Plugin {
//     void start(ccmux::Host& host, std::string_view config_json) override { ... }
//   };
//   CCMUX_PLUGIN(Hello, "hello", "1.0.0", "says hello", nullptr, 0)
//
// Exceptions thrown by start() become a start failure with the message; exceptions
// thrown from callbacks are caught here and logged, never crossing into the host.
#pragma once

#include <ccmux/plugin_abi.h>

#include <boost/dll/alias.hpp>

#include <cstddef>
#include <cstdio>
#include <cstring>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace ccmux {

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
  }
  Host(const Host&) = delete;
  Host& operator=(const Host&) = delete;

  const ccmux_host_api* raw() const { return api_; }
  void log(int level, const std::string& msg) const { api_->log(api_->host, level, msg.c_str()); }
  void info(const std::string& msg) const { log(CCMUX_LOG_INFO, msg); }
  void warn(const std::string& msg) const { log(CCMUX_LOG_WARN, msg); }

  using EventHandler = std::function<void(const Event&)>;
  // Returns the subscription id (0 on failure). The handler lives in this Host.
  uint64_t subscribe(const std::string& session, uint64_t from_seq, EventHandler handler) {
    auto owned = std::make_unique<EventHandler>(std::move(handler));
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
    auto owned = std::make_unique<MessageHandler>(std::move(on_message));
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
    providers_.push_back(std::make_unique<Provider>(std::move(provider)));
    return api_->register_approval_provider(api_->host, name.c_str(), &Host::on_provider, providers_.back().get()) == 0;
  }
  bool register_escalation_channel(const std::string& name, MessageHandler handler) {
    channels_.push_back(std::make_unique<MessageHandler>(std::move(handler)));
    return api_->register_escalation_channel(api_->host, name.c_str(), &Host::on_message, channels_.back().get()) == 0;
  }

  bool kv_set(const std::string& key, std::string_view value) {
    return api_->kv_set(api_->host, key.c_str(), value.data(), value.size()) == 0;
  }
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
  bool on_token_revoked(std::function<void(const std::string& name)> handler) {
    if (!has(offsetof(ccmux_host_api, register_revocation_listener))) return false;
    revocation_handlers_.push_back(std::make_unique<std::function<void(const std::string&)>>(std::move(handler)));
    return api_->register_revocation_listener(api_->host, &Host::on_revoked, revocation_handlers_.back().get()) == 0;
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
    methods_.push_back(std::make_unique<Method>(std::move(method)));
    return api_->register_method(api_->host, name.c_str(), &Host::on_method, methods_.back().get()) == 0;
  }

  // Runs `task` on the core loop thread. Safe from any thread.
  void post(std::function<void()> task) {
    auto* heap = new std::function<void()>(std::move(task));
    if (api_->post(api_->host, &Host::on_task, heap) != 0) delete heap;
  }

 private:
  // True when the host's table reaches the field at `offset` (older hosts pass smaller tables).
  bool has(size_t offset) const { return api_->struct_size >= offset + sizeof(void*); }

  static void on_event(void* user, const ccmux_event* ev) noexcept {
    try {
      (*static_cast<EventHandler*>(user))(Event{ev->session, ev->seq, ev->ts_ms, ev->kind, {ev->json, ev->json_len}});
    } catch (...) {
    }
  }
  static void on_message(void* user, const char* json, size_t len) noexcept {
    try {
      (*static_cast<MessageHandler*>(user))(std::string_view(json, len));
    } catch (...) {
    }
  }
  static void on_provider(void* user, const char* req, size_t len, ccmux_decide_fn decide, void* ctx) noexcept {
    try {
      Verdict v = (*static_cast<Provider*>(user))(std::string_view(req, len));
      if (v.decision != Decision::none)
        decide(ctx, static_cast<int>(v.decision), v.reason.c_str(),
               v.updated_input_json.empty() ? nullptr : v.updated_input_json.c_str());
    } catch (...) {
    }
  }
  static void on_revoked(void* user, const char* name, size_t len) noexcept {
    try {
      (*static_cast<std::function<void(const std::string&)>*>(user))(std::string(name, len));
    } catch (...) {
    }
  }
  static void on_method(void* user, const char* params, size_t len, const char* caller, int trusted,
                        ccmux_respond_fn respond, void* ctx) noexcept {
    std::string out;
    bool ok = true;
    try {
      out = (*static_cast<Method*>(user))(Call{std::string_view(params, len), caller ? caller : "", trusted != 0});
    } catch (const MethodError& e) {
      ok = false;
      out = e.json();
    } catch (const std::exception& e) {
      ok = false;
      out = MethodError("internal", e.what()).json();
    } catch (...) {
      ok = false;
      out = MethodError("internal", "unknown exception").json();
    }
    respond(ctx, ok ? 1 : 0, out.data(), out.size());
  }
  static void on_value(void* user, const char* value, size_t len) noexcept {
    if (value) *static_cast<std::optional<std::string>*>(user) = std::string(value, len);
  }
  static void on_task(void* user) noexcept {
    std::unique_ptr<std::function<void()>> task(static_cast<std::function<void()>*>(user));
    try {
      (*task)();
    } catch (...) {
    }
  }

  const ccmux_host_api* api_;
  std::map<uint64_t, std::unique_ptr<EventHandler>> subscriptions_;
  std::map<uint64_t, std::unique_ptr<MessageHandler>> clients_;
  std::vector<std::unique_ptr<Provider>> providers_;
  std::vector<std::unique_ptr<MessageHandler>> channels_;
  std::vector<std::unique_ptr<std::function<void(const std::string&)>>> revocation_handlers_;
  std::vector<std::unique_ptr<Method>> methods_;
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
  try {
    if (inst && inst->plugin) inst->plugin->stop();
  } catch (...) {
  }
  if (inst) inst->plugin.reset();  // the plugin goes before the host handle it uses
}
}  // namespace detail
}  // namespace ccmux

// Declares the plugin's descriptor and exports it under CCMUX_PLUGIN_ENTRY_NAME.
#define CCMUX_PLUGIN(Class, Name, Version, Description, Keys, KeyCount)                      \
  namespace ccmux_plugin_export {                                                              \
  const ccmux_plugin_descriptor* get_descriptor() {                                            \
    static const ccmux_plugin_descriptor d = {sizeof(ccmux_plugin_descriptor),                \
                                              CCMUX_SDK_VERSION_MAJOR,                         \
                                              CCMUX_SDK_VERSION_MINOR,                         \
                                              CCMUX_ABI_FINGERPRINT,                           \
                                              Name,                                            \
                                              Version,                                         \
                                              Description,                                     \
                                              Keys,                                            \
                                              KeyCount,                                        \
                                              &::ccmux::detail::start<Class>,                  \
                                              &::ccmux::detail::stop<Class>};                  \
    return &d;                                                                                 \
  }                                                                                            \
  }                                                                                            \
  BOOST_DLL_ALIAS(ccmux_plugin_export::get_descriptor, ccmux_plugin_entry_v1)

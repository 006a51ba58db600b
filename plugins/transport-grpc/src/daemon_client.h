// An in-daemon protocol client (SDK client_open) as gRPC calls use it: requests with ids
// whose replies come back to a callback, and everything else (events, approvals) handed to
// a sink. The daemon calls on_message on its loop thread; call() may be used from any thread.
#pragma once

#include <ccmux/json_bounds.hpp>
#include <ccmux/plugin.hpp>
#include <nlohmann/json.hpp>

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace ccmux::grpcx {

// The daemon's own messages embed claude's tool inputs (up to 256 levels, checked by the
// daemon) a few levels down: parsed with room to spare, still bounded.
inline constexpr int kDaemonJsonDepth = 1024;

struct ProtocolError {
  std::string code;
  std::string message;
};

// Opens and closes in-daemon clients. The SDK's Host keeps its clients in a map that is not
// thread-safe, and gRPC calls arrive on many threads: every open/close goes through here.
class ClientFactory {
 public:
  explicit ClientFactory(ccmux::Host& host) : host_(host) {}
  uint64_t open(const std::string& name, ccmux::Host::MessageHandler on_message);
  // On the loop, later: a client may be dropped from inside its own on_message, where the
  // Host must not free the handler that is running.
  void close_later(uint64_t id);
  ccmux::Host& host() { return host_; }

 private:
  ccmux::Host& host_;
  std::mutex mu_;
};

class DaemonClient : public std::enable_shared_from_this<DaemonClient> {
 public:
  // The result object, or the error. Runs on the loop thread (or on the closing thread with
  // `unavailable` for replies that will never come).
  using Reply = std::function<void(const nlohmann::json* result, const ProtocolError* error)>;
  // Any message that is not a response, as the daemon wrote it.
  using Sink = std::function<void(std::string_view message)>;

  static std::shared_ptr<DaemonClient> open(ClientFactory& factory, const std::string& name, bool watch_approvals,
                                            Sink sink);
  ~DaemonClient();

  // False when the client is closed (the reply is not called then).
  bool call(const std::string& method, const nlohmann::json& params, Reply reply);
  void set_ready(bool ready);
  // Closes the client; pending replies get `unavailable`. Idempotent. Not from on_message.
  void close(const std::string& why = "the stream ended");
  bool closed() const;

 private:
  DaemonClient(ClientFactory& factory, Sink sink) : factory_(factory), sink_(std::move(sink)) {}
  void on_message(std::string_view message);

  ClientFactory& factory_;
  Sink sink_;
  mutable std::mutex mu_;
  uint64_t id_ = 0;
  uint64_t next_request_ = 1;
  bool closed_ = false;
  std::unordered_map<uint64_t, Reply> pending_;
};

}  // namespace ccmux::grpcx

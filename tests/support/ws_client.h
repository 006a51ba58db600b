// A WebSocket test client (Boost.Beast): plain or TLS, one JSON message per text frame.
// Reads only when asked (recv), so a test can play a client that stops reading.
#pragma once

#include <nlohmann/json.hpp>

#include <deque>
#include <memory>
#include <optional>
#include <string>

namespace ccmux::test {

struct WsOptions {
  bool tls = false;
  std::string ca_file;      // TLS: verify the server with this CA
  std::string origin;       // sent as Origin when not empty
  int recv_buffer = 0;      // SO_RCVBUF before connecting (0: system default)
};

class WsClient {
 public:
  // Connects to 127.0.0.1:port and completes the WebSocket handshake; throws on failure.
  WsClient(int port, WsOptions opts = {});
  ~WsClient();

  void send(const std::string& text);
  void send_json(const nlohmann::json& msg) { send(msg.dump()); }
  // Next message, or nullopt after timeout_ms or once the server closed the socket.
  std::optional<std::string> recv(int timeout_ms = 10000);
  std::optional<nlohmann::json> recv_json(int timeout_ms = 10000);
  // Sends {"type":"auth"} then the hello; true when both were accepted.
  bool login(const std::string& token);
  // Sends a request and returns its response (other messages are kept for recv()).
  nlohmann::json request(const std::string& method, const nlohmann::json& params = nlohmann::json::object(),
                         int timeout_ms = 30000);

  bool closed() const;
  int close_code() const;          // the server's close code (0 before a close)
  std::string close_reason() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::deque<nlohmann::json> backlog_;  // messages received while waiting for a response
  int next_id_ = 1;
};

struct HttpReply {
  int status = 0;
  std::string content_type, cache_control, body;
};
// GET with the target sent exactly as given (no normalisation: traversal tests need that).
HttpReply http_get(int port, const std::string& target, const std::string& bearer = "");
// POST of a JSON body; returns the response body (test servers' control endpoints).
std::string http_post(int port, const std::string& target, const std::string& body);
// A TCP port nothing listens on right now.
int free_tcp_port();

}  // namespace ccmux::test

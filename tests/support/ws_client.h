// A WebSocket test client: the client library's WsTransport (plain or TLS, one JSON message
// per text frame) with the raw calls a test needs, below any hello. Reads only when asked
// (recv), so a test can play a client that stops reading.
#pragma once

#include <ccmux/client/ws_transport.h>
#include <nlohmann/json.hpp>

#include <deque>
#include <memory>
#include <optional>
#include <string>

namespace ccmux::test {

// tls, ca_file, origin, recv_buffer, bind_address (127.0.0.2: "another machine"); the host
// is 127.0.0.1, the port WsClient's.
using WsOptions = client::WsOptions;

class WsClient {
 public:
  // Connects to 127.0.0.1:port and completes the WebSocket handshake; throws on failure.
  WsClient(int port, WsOptions opts = {});
  ~WsClient();
  WsClient(WsClient&&) = default;

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
  std::unique_ptr<client::WsTransport> ws_;
  std::deque<nlohmann::json> backlog_;  // messages received while waiting for a response
  int next_id_ = 1;
};

// A WebSocket over a plain POSIX socket, for what a well-behaved client never sends: frames
// left unfinished, payload pushed without reading. Masking key 0, so payload goes as is.
class RawWs {
 public:
  // Connects and sends the upgrade request; throws unless the answer is 101.
  explicit RawWs(int port, const std::string& bind_address = "");
  ~RawWs();
  RawWs(const RawWs&) = delete;
  RawWs& operator=(const RawWs&) = delete;

  // The header of a masked frame (FIN set, opcode 1: text) announcing `payload_len` bytes.
  void send_frame_header(uint64_t payload_len, bool fin = true, int opcode = 1);
  // Pushes up to `n` payload bytes ('x'); returns how many the kernel took before the peer
  // closed or `timeout_ms` passed.
  size_t send_payload(size_t n, int timeout_ms);
  // True once the server closed the socket (EOF or reset), reading and dropping what it sent.
  bool wait_closed(int timeout_ms);

 private:
  int fd_ = -1;
};

// The status line of a WebSocket upgrade attempt (101 when accepted; 503 when refused).
int ws_upgrade_status(int port, const std::string& bind_address = "");

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

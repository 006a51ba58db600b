// ccmuxd's WebSocket transport (the transport-ws plugin): one JSON message per text frame,
// plain or TLS, with the plugin's token step ({"type":"auth"}) before anything else.
// Boost.Beast and OpenSSL: in its own target (ccmux_client_ws), so the local CLI and the
// hook do not load them.
#pragma once

#include "ccmux/client/transport.h"

#include <memory>
#include <string>

namespace ccmux::client {

struct WsOptions {
  std::string host = "127.0.0.1";
  int port = 0;
  std::string path = "/ws";
  bool tls = false;
  std::string ca_file;       // TLS: verify the server with this CA (and its name against `host`)
  std::string token;         // sent as {"type":"auth"} at connect when not empty
  std::string origin;        // sent as Origin when not empty
  int recv_buffer = 0;       // SO_RCVBUF before connecting (0: system default)
  std::string bind_address;  // local address to connect from (empty: any)
  int timeout_ms = 10000;    // for the token's answer
  // For the TCP connect and the TLS and WebSocket handshakes together (negative: none).
  int connect_timeout_ms = 10000;
};

class WsTransport : public Transport {
 public:
  // Connects, completes the (TLS and) WebSocket handshake and, with a token, its auth step.
  // Throws ConnectError (not_running: nothing listens; handshake: TLS, upgrade or token refused;
  // no_answer: the connect or a handshake took over connect_timeout_ms).
  static std::unique_ptr<WsTransport> connect(const WsOptions& o);
  ~WsTransport() override;

  void send(std::string_view message) override;
  std::optional<std::string> receive(Deadline deadline) override;
  void close() override;
  bool has_buffered() override;
  int wait_fd() const override;
  std::string endpoint() const override;

  bool closed() const;  // the server closed (or the link broke)
  int close_code() const;  // the server's close code (0 before a close)
  std::string close_reason() const;

 private:
  struct Impl;
  explicit WsTransport(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ccmux::client

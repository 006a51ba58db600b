// ccmuxd's gRPC transport (the transport-grpc plugin): one ccmux.v1.Events/Connect stream,
// mapped back onto the JSON messages of docs/protocol.md, so Connection and Subscription work
// over it unchanged. hello is answered here (after Machine.Info's protocol check); requests
// travel as ClientMessage.call and their replies, events and approval messages come back as
// the text the daemon would have written on its local socket.
// gRPC and protobuf: in its own target (ccmux_client_grpc), so who does not use it does not
// load them.
#pragma once

#include "ccmux/client/transport.h"

#include <memory>
#include <string>

namespace ccmux::client {

struct GrpcOptions {
  std::string address;      // "host:port" (or any gRPC target: "unix:/path", "dns:///host:port")
  bool tls = true;          // false: plain text (the plugin allows it only on loopback, with a token)
  std::string ca_file;      // TLS: PEM CA to verify the server with (empty: the system's roots)
  std::string cert_file;    // mTLS: PEM client certificate (`ccmux certs issue NAME`) ...
  std::string key_file;     // ... and its key
  std::string token;        // sent as `authorization: Bearer <token>` when not empty
  std::string server_name;  // TLS: the name to check the server's certificate against instead
                            // of the address's host (a certificate made for "localhost")
  int timeout_ms = 10000;   // for Machine.Info at connect
  // Messages received but not yet taken by receive() are held up to this many bytes (plus one
  // message); then reading stops, and the daemon pauses the stream and replays from its store
  // what it held back once we read again (transport-grpc's send_queue_bytes): nothing is lost.
  size_t inbox_bytes = 64u << 20;
};

class GrpcTransport : public Transport {
 public:
  // Calls Machine.Info (checks reachability, TLS and credentials) and opens the Connect
  // stream. Throws ConnectError: not_running (nothing listens), handshake (TLS or certificate
  // refused, UNAUTHENTICATED with the server's message, rate limited), no_answer (no answer
  // within timeout_ms), other (unreadable key files, ...).
  static std::unique_ptr<GrpcTransport> connect(const GrpcOptions& o);
  ~GrpcTransport() override;

  void send(std::string_view message) override;
  std::optional<std::string> receive(Deadline deadline) override;
  // Cancels the stream and joins its reader thread.
  void close() override;
  bool has_buffered() override;
  int wait_fd() const override;  // an eventfd, readable while a message is queued or the stream ended
  std::string endpoint() const override;  // "grpcs://host:port" (TLS) or "grpc://host:port"

  size_t buffered_bytes() const;       // held for receive() now (bounded by inbox_bytes)
  std::string server_version() const;  // Machine.Info's version
  std::string identity() const;        // who the server authenticated us as (Machine.Info)

 private:
  struct Impl;
  explicit GrpcTransport(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ccmux::client

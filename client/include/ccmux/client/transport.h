// How messages reach ccmuxd. A transport moves whole JSON messages in order, both ways, and
// knows nothing of requests, hello or events (Connection does): the Unix socket
// (unix_transport.h), WebSocket (ws_transport.h), a gRPC stream (grpc_transport.h); a
// multi-host router would implement the same interface.
#pragma once

#include "ccmux/client/errors.h"

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace ccmux::client {

using Clock = std::chrono::steady_clock;
using Deadline = Clock::time_point;
inline constexpr Deadline kForever = Deadline::max();
// A deadline `ms` from now; negative: none.
inline Deadline deadline_in(int ms) { return ms < 0 ? kForever : Clock::now() + std::chrono::milliseconds(ms); }

class Transport {
 public:
  virtual ~Transport() = default;
  // Sends one message: a serialised JSON value (no framing; the transport adds its own).
  // Throws Disconnected.
  virtual void send(std::string_view message) = 0;
  // The next message, byte for byte as the daemon sent it; nullopt once `deadline` passed.
  // Throws Disconnected when the link broke or the peer closed it.
  virtual std::optional<std::string> receive(Deadline deadline) = 0;
  // Closes the link; later calls throw Disconnected. Safe to call more than once.
  virtual void close() = 0;
  // A message can be received without waiting for the descriptor.
  virtual bool has_buffered() = 0;
  // A descriptor that turns readable when receive() may have more (to poll() it with stdin);
  // -1 when there is none.
  virtual int wait_fd() const = 0;
  // Where the link leads, for messages: "/run/ccmux/ccmuxd.sock", "wss://host:8765/ws".
  virtual std::string endpoint() const = 0;
};

}  // namespace ccmux::client

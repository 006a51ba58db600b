// One conversation with ccmuxd over any Transport: hello and the protocol version check,
// requests matched to their responses by id (errors typed), and the other messages (events,
// approvals) kept in order for next(). Blocking, for one thread.
#pragma once

#include "ccmux/client/errors.h"
#include "ccmux/client/transport.h"

#include <nlohmann/json.hpp>

#include <deque>
#include <memory>
#include <optional>
#include <string>

namespace ccmux::client {

struct HelloOptions {
  bool watch_approvals = false;  // the daemon sends pending approvals now and new ones as they come
  std::string client;            // how the daemon's log names us; empty: "ccmux/<version>"
  int timeout_ms = 10000;        // for the daemon's hello
};

class Connection {
 public:
  // Says hello over `transport` and checks the answer. Throws ConnectError (refused: another
  // protocol version; no_answer: nothing within timeout_ms).
  explicit Connection(std::unique_ptr<Transport> transport, const HelloOptions& hello = {});
  // The local API: a UnixTransport to `socket_path`, then hello.
  explicit Connection(const std::string& socket_path, bool watch_approvals = false);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Sends a request and waits for its response (`timeout_ms` < 0: as long as it takes);
  // messages that arrive meanwhile are kept for next(). Returns the result. Throws
  // RequestFailed (an error response, or a connection-level error message), Timeout,
  // Disconnected.
  nlohmann::json request(const std::string& method, const nlohmann::json& params = nlohmann::json::object(),
                         int timeout_ms = -1);
  // The next message that is not a response; nullopt once the deadline passed. Throws
  // Disconnected when the daemon goes away.
  std::optional<nlohmann::json> next(Deadline deadline);
  std::optional<nlohmann::json> next(int timeout_ms = -1) { return next(deadline_in(timeout_ms)); }
  // The same, as the daemon sent it (for --json output, byte for byte).
  std::optional<std::string> next_raw(Deadline deadline);
  std::optional<std::string> next_raw(int timeout_ms = -1) { return next_raw(deadline_in(timeout_ms)); }

  // For poll(): readable when next() may have more; has_buffered() when it has without waiting.
  int fd() const { return transport_->wait_fd(); }
  bool has_buffered() { return !queued_.empty() || transport_->has_buffered(); }
  const nlohmann::json& server_hello() const { return hello_; }
  Transport& transport() { return *transport_; }

 private:
  std::unique_ptr<Transport> transport_;
  nlohmann::json hello_;
  std::deque<std::string> queued_;
  int64_t next_id_ = 1;
};

}  // namespace ccmux::client

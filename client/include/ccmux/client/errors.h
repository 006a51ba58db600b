// What the client library throws. Every error is a client::Error; the CLI maps Unreachable
// (and its kinds) to exit code 2 and RequestFailed to 1.
#pragma once

#include <stdexcept>
#include <string>

namespace ccmux::client {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The daemon cannot be talked to: not reached, gone, or speaking another protocol.
struct Unreachable : Error {
  using Error::Error;
};

// Why a connection was not made, for callers that act on it (doctor names the fix, a
// reconnect loop retries only what may heal).
enum class ConnectFailure {
  not_running,   // nothing listens there (no socket, connection refused)
  denied,        // the socket or port exists but we may not connect (permissions)
  foreign_peer,  // the socket is served by another user: never talked to
  handshake,     // the transport's own handshake failed (WebSocket upgrade, TLS, token)
  refused,       // the daemon answered hello with an error (protocol version, ...)
  no_answer,     // no hello within the deadline
  other,
};

struct ConnectError : Unreachable {
  ConnectFailure reason;
  ConnectError(ConnectFailure r, const std::string& message) : Unreachable(message), reason(r) {}
};

// An established connection broke (the daemon stopped or restarted, or closed us).
struct Disconnected : Unreachable {
  using Unreachable::Unreachable;
};

// The daemon answered a request with an error; `code` is its machine-readable code.
struct RequestFailed : Error {
  std::string code;
  RequestFailed(std::string c, const std::string& message) : Error(message), code(std::move(c)) {}
};

// No response within the deadline given to Connection::request.
struct Timeout : Error {
  using Error::Error;
};

}  // namespace ccmux::client

// A blocking client of the local control API, for the ccmux CLI and tests.
#pragma once

#include <nlohmann/json.hpp>

#include <deque>
#include <optional>
#include <stdexcept>
#include <string>

namespace ccmux {

// The daemon could not be reached, or speaks another protocol (exit code 2).
struct Unreachable : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// The daemon answered a request with an error.
struct RequestFailed : std::runtime_error {
  std::string code;
  RequestFailed(std::string c, const std::string& m) : std::runtime_error(m), code(std::move(c)) {}
};

class Client {
 public:
  // Connects and says hello. Throws Unreachable.
  explicit Client(const std::string& socket_path, bool watch_approvals = false);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Sends a request and waits for its response; messages that arrive meanwhile are kept
  // for next(). Throws RequestFailed on an error response.
  nlohmann::json request(const std::string& method, const nlohmann::json& params = nlohmann::json::object());
  // The next message that is not a response (events, approvals). Waits up to timeout_ms
  // (-1: forever); nullopt on timeout. Throws Unreachable when the daemon goes away.
  std::optional<nlohmann::json> next(int timeout_ms = -1);
  // The same, as the raw line (for --json output, byte for byte).
  std::optional<std::string> next_raw(int timeout_ms = -1);
  int fd() const { return fd_; }
  bool has_buffered() const { return !queued_.empty() || in_.find('\n', in_off_) != std::string::npos; }

 private:
  void write_line(const std::string& line);
  std::optional<std::string> read_line(int timeout_ms);
  int fd_ = -1;
  std::string in_;
  size_t in_off_ = 0;  // start of the unread part of in_
  size_t scanned_ = 0;  // in_ is searched for a newline from here (a big event: one pass)
  std::deque<std::string> queued_;
  int64_t next_id_ = 1;
};

}  // namespace ccmux
